//! The resource guard: `hel compile` reports what a program will cost in bytes, and the
//! commands that allocate refuse, before allocating, a program that does not fit the memory
//! they may use, naming the figure.

use std::path::Path;
use std::process::{Command, Output};

fn hel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}

fn poly() -> String {
    format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"))
}

/// Compiles poly.hel into `dir`; returns the report's `resources` object.
fn compiled(dir: &Path) -> serde_json::Value {
    let o = hel(dir, &["compile", &poly(), "-o", "p.helc", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    v["resources"].clone()
}

#[test]
fn compile_reports_keys_upload_and_peak_memory() {
    let dir = tempfile::tempdir().unwrap();
    let r = compiled(dir.path());
    let get = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    // Keys in memory are 64-bit words, in the file bit-packed to the primes' widths.
    assert!(get("eval_key_memory") > get("eval_key_bytes"), "{r}");
    assert!(
        get("server_peak_bytes") > get("eval_key_memory") + get("upload_bytes"),
        "{r}"
    );
    assert!(get("keygen_peak_bytes") == get("eval_key_memory") + get("eval_key_bytes"));
    // The keys file that keygen writes has the predicted size (headers aside).
    let o = hel(dir.path(), &["keygen", "p.helc", "--out", "keys", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let k: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let real = k["eval_keys"]["bytes"].as_u64().unwrap() as f64;
    let predicted = get("eval_key_bytes") as f64;
    assert!(
        (real - predicted).abs() < 0.01 * real + 4096.0,
        "{real} vs {predicted}"
    );
}

#[test]
fn keygen_and_run_refuse_what_does_not_fit_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = compiled(d);
    let need = r["keygen_peak_bytes"].as_u64().unwrap();
    let o = hel(
        d,
        &["keygen", "p.helc", "--out", "keys", "--memory-limit", "1M"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("needs at least {need} bytes")),
        "{err}"
    );
    assert!(err.contains("--memory-limit"), "{err}");
    assert!(
        !d.join("keys").exists(),
        "nothing is written when keygen is refused"
    );

    let o = hel(d, &["keygen", "p.helc", "--out", "keys"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = hel(
        d,
        &[
            "run",
            "p.helc",
            "--eval-keys",
            "keys/eval.keys",
            "--inputs",
            "missing.hct",
            "-o",
            "o.hct",
            "--memory-limit",
            "1M",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let need = r["server_peak_bytes"].as_u64().unwrap();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("needs at least {need} bytes")),
        "refused before the inputs are read: {err}"
    );
    assert!(!d.join("o.hct").exists());
}
