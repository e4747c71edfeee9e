//! The architecture's seams hold (`docs/lowering.md`, README "Layout"): data flows one way,
//! source -> IR -> passes -> lowering -> schedule -> runtime, and each crate and file has one job.
//!
//! - the compiler and the contract crate never link the CKKS engine;
//! - the lowering never calls back into the middle end;
//! - the trainer decides on diagnostic codes, never on message text;
//! - no source file of the libraries grows beyond ~900 lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The normal (non-dev) dependency closure of workspace package `name`, by package name.
fn closure(meta: &Value, name: &str) -> BTreeSet<String> {
    let pkg_name = |id: &str| {
        meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id))
            .and_then(|p| p["name"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve.nodes");
    let start = nodes
        .iter()
        .find(|n| pkg_name(n["id"].as_str().unwrap_or("")) == name)
        .unwrap_or_else(|| panic!("no package {name}"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        for dep in n["deps"].as_array().expect("deps") {
            let built = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            let id = dep["pkg"].as_str().expect("pkg");
            if built && seen.insert(pkg_name(id)) {
                if let Some(next) = nodes.iter().find(|x| x["id"] == id) {
                    stack.push(next);
                }
            }
        }
    }
    seen
}

#[test]
fn the_compiler_never_links_the_ckks_engine() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let compiler = closure(&meta, "hel-compiler");
    assert!(compiler.contains("hel-schedule"), "{compiler:?}");
    assert!(
        !compiler.contains("hel-runtime"),
        "hel-compiler links hel-runtime"
    );
    assert!(!compiler.contains("tfhe-ntt"), "hel-compiler links the NTT");
    let contract = closure(&meta, "hel-schedule");
    for crate_ in ["hel-runtime", "hel-compiler", "tfhe-ntt"] {
        assert!(
            !contract.contains(crate_),
            "hel-schedule depends on {crate_}"
        );
    }
    assert!(closure(&meta, "hel-runtime").contains("hel-schedule"));
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn library_files_have_one_job_and_stay_small() {
    let mut long = Vec::new();
    for dir in ["compiler/src", "runtime/src", "schedule/src", "python/src"] {
        for f in rust_files(&root().join(dir)) {
            let lines = std::fs::read_to_string(&f).expect("read").lines().count();
            if lines > 900 {
                long.push(format!("{}: {lines} lines", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

#[test]
fn the_lowering_never_calls_back_into_the_middle_end() {
    for f in rust_files(&root().join("compiler/src/lower")) {
        let text = std::fs::read_to_string(&f).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("passes::"),
                "{}:{}: the lowering uses the middle end: {line}",
                f.display(),
                i + 1
            );
        }
    }
}

#[test]
fn the_trainer_decides_on_codes_not_on_message_text() {
    for f in rust_files(&root().join("src/train")) {
        let text = std::fs::read_to_string(&f).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let on_text = code.contains(".message")
                || (code.contains("to_string()") && code.contains(".contains("));
            assert!(
                !(on_text && code.contains("contains(")),
                "{}:{}: decides on an error's text: {line}",
                f.display(),
                i + 1
            );
        }
    }
}
