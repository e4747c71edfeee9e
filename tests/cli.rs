//! The CLI's conventions: exit codes (0 ok, 1 user error, 2 usage error), summaries, `--set`,
//! pass listing, and Graphviz output that Graphviz accepts.

use std::path::PathBuf;
use std::process::{Command, Output};

fn hel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hel")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_the_examples() {
    for ex in ["poly", "logreg_gd", "logreg_nag"] {
        let o = hel(&["check", &format!("examples/{ex}.hel")]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{ex}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = stdout(&o);
        assert!(
            out.starts_with("ok: ") && out.lines().count() == 1,
            "{ex}: {out}"
        );
    }
}

#[test]
fn exit_codes() {
    assert_eq!(
        hel(&["check"]).status.code(),
        Some(2),
        "missing argument is a usage error"
    );
    assert_eq!(
        hel(&["frobnicate"]).status.code(),
        Some(2),
        "unknown subcommand"
    );
    assert_eq!(
        hel(&["check", "examples/poly.hel", "--set", "n"])
            .status
            .code(),
        Some(2),
        "malformed --set"
    );
    assert_eq!(
        hel(&["check", "no/such/file.hel"]).status.code(),
        Some(1),
        "missing file is a user error"
    );
    let o = hel(&["check", "examples/poly.hel", "--set", "nn=3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no `const nn`"));
    assert_eq!(
        hel(&["ir", "examples/poly.hel", "--after", "nonsense"])
            .status
            .code(),
        Some(2),
        "an unknown pass is a bad flag value"
    );
    assert_eq!(hel(&["--help"]).status.code(), Some(0));
}

#[test]
fn set_overrides_constants() {
    let o = hel(&["check", "examples/poly.hel", "--set", "n=8"]);
    assert!(stdout(&o).contains("enc vector[8]"), "{}", stdout(&o));
    // Two values for one constant: neither is taken silently.
    let o = hel(&[
        "check",
        "examples/poly.hel",
        "--set",
        "n=8",
        "--set",
        "n=16",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`--set n` is given twice (n=8 and n=16)"),
        "{err}"
    );
    assert!(err.contains("poly.hel:"), "located at the constant: {err}");
}

#[test]
fn ir_after_unroll_prints_three_iterations() {
    let o = hel(&[
        "ir",
        "examples/logreg_gd.hel",
        "--after",
        "unroll",
        "--set",
        "k=3",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for i in 0..3 {
        assert!(
            text.contains(&format!("[iter {i}]")),
            "iteration {i} missing"
        );
    }
    assert!(!text.contains("[iter 3]"));
}

#[test]
fn list_passes_starts_with_parse_and_unroll() {
    let text = stdout(&hel(&["ir", "--list-passes"]));
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(&names[..2], &["parse", "unroll"]);
}

/// The `dot` program if it is installed (or can be installed with apt as root, as on CI).
fn graphviz() -> Option<PathBuf> {
    let found = || {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("dot"))
                .find(|d| d.is_file())
        })
    };
    if let Some(d) = found() {
        return Some(d);
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "graphviz"])
        .output();
    found()
}

#[test]
fn dot_output_is_valid_graphviz() {
    for (ex, after) in [
        ("poly", "parse"),
        ("logreg_gd", "parse"),
        ("logreg_nag", "unroll"),
    ] {
        let file = format!("examples/{ex}.hel");
        let mut args = vec!["ir", file.as_str(), "--after", after, "--format", "dot"];
        if ex != "poly" {
            args.extend(["--set", "k=2"]);
        }
        let o = hel(&args);
        assert_eq!(o.status.code(), Some(0));
        let dot = stdout(&o);
        // A real DOT parser, always available.
        graphviz_rust::parse(&dot)
            .unwrap_or_else(|e| panic!("{ex}: DOT does not parse: {e}\n{dot}"));
        // And Graphviz itself where it can be had.
        if let Some(bin) = graphviz() {
            let tmp = tempfile::Builder::new()
                .prefix("hel-dot-")
                .tempdir()
                .expect("tmp");
            let dir = tmp.path();
            let file = dir.join("g.dot");
            std::fs::write(&file, &dot).expect("write");
            let r = Command::new(bin)
                .args(["-Tsvg", "-o"])
                .arg(dir.join("g.svg"))
                .arg(&file)
                .output()
                .expect("dot");
            assert!(
                r.status.success(),
                "{ex}: dot -Tsvg failed: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            assert!(dir.join("g.svg").exists());
        } else {
            eprintln!(
                "note: Graphviz `dot` not available; checked with the graphviz-rust parser only"
            );
        }
    }
}

/// `hel compile --format text` writes the line-per-node listing; no other command loads it.
#[test]
fn compile_format_text_writes_a_listing_that_keygen_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("poly.txt");
    let out = out.to_str().expect("utf-8");
    let o = hel(&[
        "compile",
        "examples/poly.hel",
        "--set",
        "n=16",
        "--format",
        "text",
        "-o",
        out,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(out).expect("listing written");
    assert!(
        text.starts_with("schedule poly.hel\nprogram_hash "),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("  %0 = input ct0  ; level ")));
    assert!(text.contains("\noutputs\n  y: vector[16] <- %"), "{text}");
    let keys = dir.path().join("keys");
    let o = hel(&["keygen", out, "--out", keys.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--format text"), "{stderr}");
}
