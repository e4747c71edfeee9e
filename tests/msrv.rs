//! The minimum supported Rust versions are true: every package a workspace member builds with
//! (its normal and build dependencies, transitively, as locked in Cargo.lock) declares a
//! `rust-version` no newer than the member's own (packages that declare none are not checked),
//! and README.md states the same minimum. Clippy's `incompatible_msrv` lint (denied in CI)
//! checks our own code against the declared versions; `.ci/run` builds the compiler crates with
//! the oldest toolchain when it is installed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// `"1.88"` or `"1.91.1"` as (major, minor, patch).
fn version(s: &str) -> (u64, u64, u64) {
    let mut parts = s.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("rust-version {s:?} is not a version"))
    });
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata --locked failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Workspace members by name: (package id, declared rust-version).
fn members(meta: &Value) -> BTreeMap<String, (String, String)> {
    let ids: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|v| v.as_str().expect("package id"))
        .collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| ids.contains(p["id"].as_str().expect("id")))
        .map(|p| {
            let name = p["name"].as_str().expect("name").to_string();
            let rv = p["rust_version"]
                .as_str()
                .unwrap_or_else(|| panic!("workspace member {name} declares no rust-version"))
                .to_string();
            (name, (p["id"].as_str().expect("id").to_string(), rv))
        })
        .collect()
}

#[test]
fn every_dependency_builds_with_the_declared_minimum() {
    let meta = metadata();
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let members = members(&meta);
    assert!(members.len() >= 4, "{members:?}");
    let mut problems = Vec::new();
    for (name, (id, rv)) in &members {
        let min = version(rv);
        // The dependency closure without dev-dependencies (build-dependencies are compiled too).
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.as_str()];
        while let Some(id) = stack.pop() {
            for dep in nodes[id]["deps"].as_array().expect("deps") {
                let built = dep["dep_kinds"]
                    .as_array()
                    .expect("dep_kinds")
                    .iter()
                    .any(|k| k["kind"].as_str() != Some("dev"));
                let dep_id = dep["pkg"].as_str().expect("pkg");
                if built && seen.insert(dep_id) {
                    stack.push(dep_id);
                }
            }
        }
        assert!(!seen.is_empty(), "{name} has no dependencies?");
        for dep in seen {
            let p = packages[dep];
            if let Some(dep_rv) = p["rust_version"].as_str() {
                if version(dep_rv) > min {
                    problems.push(format!(
                        "{name} (rust-version {rv}) builds {} {}, which needs Rust {dep_rv}",
                        p["name"].as_str().unwrap_or("?"),
                        p["version"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn readme_states_the_declared_minimum() {
    let members = members(&metadata());
    let newest = members
        .values()
        .map(|(_, rv)| rv.as_str())
        .max_by_key(|rv| version(rv))
        .expect("members");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    // The paragraph that starts with `Requirements:`, as one line.
    let start = readme
        .find("Requirements:")
        .expect("README.md has a `Requirements:` paragraph");
    let paragraph = &readme[start..];
    let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        line.contains(&format!("Rust {newest} or newer")),
        "README.md must say `Rust {newest} or newer` (the newest member rust-version): {line}"
    );
    for (name, (_, rv)) in &members {
        assert!(
            line.contains(rv.as_str()),
            "README.md's requirements omit {name}'s rust-version {rv}: {line}"
        );
    }
}
