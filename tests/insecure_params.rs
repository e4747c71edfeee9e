//! Security is not a file field: a compiled program, or a `--params` file, that asks for
//! parameters below 128-bit security is refused by every command that loads it (exit 1, the
//! file and the bound named), whether it names the test-only level or just carries a chain
//! too long for its ring. (`hel train` compiles its own programs and reads no parameters.)

mod common;
use common::{encrypt_args, hel, server_run_args};

use std::path::Path;

fn ok(dir: &Path, args: &[&str]) {
    let o = hel(dir, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "hel {args:?}:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs a command that must fail with exit code 1; returns its stderr with miette's line
/// wrapping undone (box-drawing margins dropped, whitespace collapsed).
fn refused(dir: &Path, args: &[&str]) -> String {
    let o = hel(dir, args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "hel {args:?} should fail:\n{err}");
    err.replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A secure poly.hel (RON, so that tests can edit it) with keys, inputs and outputs.
fn setup(dir: &Path) -> String {
    let example = format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"));
    ok(
        dir,
        &["compile", &example, "--format", "ron", "-o", "poly.helc"],
    );
    ok(dir, &["keygen", "poly.helc", "--out", "keys"]);
    let x: String = (0..4096)
        .map(|i| format!("{}\n", (i % 7) as f64 / 7.0))
        .collect();
    std::fs::write(dir.join("x.csv"), x).unwrap();
    ok(dir, &encrypt_args("poly.helc", &["x=x.csv"], "in.hct"));
    ok(dir, &server_run_args("poly.helc", "out.hct"));
    std::fs::read_to_string(dir.join("poly.helc")).unwrap()
}

/// Every command that loads `program` refuses it; each message must contain `expect`.
fn every_command_refuses(dir: &Path, program: &str, expect: &[&str]) {
    let commands: Vec<Vec<&str>> = vec![
        vec!["keygen", program, "--out", "new_keys"],
        vec![
            "encrypt", program, "--keys", "keys", "--input", "x=x.csv", "-o", "new.hct",
        ],
        server_run_args(program, "new.hct"),
        vec!["run", program, "--evaluator", "plain", "--input", "x=x.csv"],
        vec![
            "decrypt",
            program,
            "--secret-key",
            "keys/secret.key",
            "out.hct",
        ],
    ];
    for args in commands {
        let err = refused(dir, &args);
        assert!(
            err.contains(program),
            "{args:?} does not name the file: {err}"
        );
        for e in expect {
            assert!(err.contains(e), "{args:?} does not say {e:?}: {err}");
        }
        assert!(!dir.join("new_keys").exists() && !dir.join("new.hct").exists());
    }
    // With --json the error is one JSON object naming the bound too.
    let o = hel(dir, &["keygen", program, "--out", "new_keys", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(expect[0]), "{message}");
}

#[test]
fn programs_with_insecure_parameters_are_refused_by_every_command() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let ron = setup(dir);
    // The test-only level, named in the file.
    let named = ron.replace("security: Classical128", "security: InsecureForTestingOnly");
    assert_ne!(named, ron);
    std::fs::write(dir.join("named.helc"), named).unwrap();
    every_command_refuses(
        dir,
        "named.helc",
        &["128-bit security bound", "InsecureForTestingOnly"],
    );
    // The secure level, but poly's chain (210 bits) on the ring of 2^12 (109 bits).
    let small_ring = ron.replace("log_n: 13,", "log_n: 12,");
    assert_ne!(small_ring, ron);
    std::fs::write(dir.join("small.helc"), small_ring).unwrap();
    every_command_refuses(
        dir,
        "small.helc",
        &[
            "log2(PQ) = 210 bits exceeds",
            "128-bit bound of 109 bits for N = 2^12",
        ],
    );
}

#[test]
fn compile_refuses_insecure_params_files() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let example = format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"));
    let cases = [
        (
            "(log_n: 12, q_bits: [50, 40, 40], p_bits: [50], dnum: 3, log_scale: 40, \
             security: InsecureForTestingOnly)",
            "128-bit security bound",
        ),
        (
            "(log_n: 12, q_bits: [50, 40, 40], p_bits: [50], dnum: 3, log_scale: 40, \
             security: Classical128)",
            "log2(PQ) = 180 bits exceeds the HomomorphicEncryption.org 128-bit bound of 109 bits",
        ),
    ];
    for (text, expect) in cases {
        std::fs::write(dir.join("p.ron"), text).unwrap();
        let err = refused(
            dir,
            &["compile", &example, "--params", "p.ron", "-o", "out.helc"],
        );
        assert!(err.contains("p.ron") && err.contains(expect), "{err}");
        assert!(!dir.join("out.helc").exists());
    }
}
