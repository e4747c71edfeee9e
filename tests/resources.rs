//! The resource guard: `hel compile` reports what a program will cost in bytes, and the
//! commands that allocate refuse, before allocating, a program that does not fit the memory
//! they may use, naming the figure.

mod common;
use common::{encrypt_args, hel, server_run_args};

use std::path::Path;

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
    // So do the upload and the server's outputs (the download).
    let x: String = (0..4096)
        .map(|i| format!("{}\n", (i % 17) as f64 / 17.0))
        .collect();
    std::fs::write(dir.path().join("x.csv"), x).unwrap();
    let steps = [
        encrypt_args("p.helc", &["x=x.csv"], "in.hct"),
        server_run_args("p.helc", "out.hct"),
    ];
    for args in steps {
        let o = hel(dir.path(), &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for (file, key) in [("in.hct", "upload_bytes"), ("out.hct", "download_bytes")] {
        let real = std::fs::metadata(dir.path().join(file)).unwrap().len() as f64;
        let predicted = get(key) as f64;
        assert!(
            (real - predicted).abs() < 0.01 * real + 4096.0,
            "{file}: {real} vs {key} {predicted}"
        );
    }
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

/// miette's report as one line: its frame (`×`, `│`) and line breaks taken out.
fn unwrapped(report: &str) -> String {
    let mut out = String::new();
    for line in report.lines() {
        let line = line.trim().trim_start_matches(['×', '│']).trim();
        if !(out.is_empty() || out.ends_with('-')) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// A small CSV: 40 rows, 3 features and a 0/1 label (f = 4 with the bias).
fn tiny_csv(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("a,b,c,label\n");
    for i in 0..40 {
        let x = [
            (i % 7) as f64 / 7.0,
            (i % 5) as f64 / 5.0,
            (i % 3) as f64 / 3.0,
        ];
        let label = u8::from(x[0] > x[1]);
        text.push_str(&format!("{},{},{},{label}\n", x[0], x[1], x[2]));
    }
    let path = dir.join("tiny.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// `hel train` checks each circuit's figures like `hel keygen` and `hel run` do: with
/// `--memory-limit 1M` it is refused before any key or upload exists, naming the figure, and
/// writes nothing (issue 18, item 4).
#[test]
fn train_refuses_a_circuit_that_does_not_fit_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tiny_csv(d);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let program = "examples/logreg_gd.hel";
    // The circuit `hel train` compiles: k = 2 minibatches of m = 16 rows, f = 4 columns (at
    // k = 1 the client precomputes the whole gradient: depth 0, under 1 MiB).
    let out = d.join("c.helc");
    let o = hel(
        root,
        &[
            "compile",
            program,
            "--set",
            "k=2",
            "--set",
            "m=16",
            "--set",
            "f=4",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let need = r["resources"]["server_peak_bytes"].as_u64().unwrap();

    let keygen = r["resources"]["keygen_peak_bytes"].as_u64().unwrap();
    let log_n = r["params"]["log_n"].as_u64().unwrap();
    let model = d.join("model.json");
    let train = |limit: &str| {
        let t0 = std::time::Instant::now();
        let o = hel(
            root,
            &[
                "train",
                "--data",
                data.to_str().unwrap(),
                "--program",
                program,
                "--minibatches",
                "2",
                "--batch-size",
                "16",
                "--memory-limit",
                limit,
                "--save-model",
                model.to_str().unwrap(),
            ],
        );
        let err = unwrapped(&String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("(--memory-limit)"), "{err}");
        assert!(
            err.contains("--batch-size") && err.contains("--round-size"),
            "{err}"
        );
        // Refused before keys: no keygen, encryption or server phase ever started.
        for phase in ["[keygen]", "[encrypt]", "[server]"] {
            assert!(!err.contains(phase), "{phase}: {err}");
        }
        assert!(
            !model.exists(),
            "nothing is written when training is refused"
        );
        assert!(
            t0.elapsed().as_secs() < 120,
            "refused quickly: {:?}",
            t0.elapsed()
        );
        err
    };
    let err = train("1M");
    assert!(
        err.contains(&format!(
            "the server's run of logreg_gd.hel (N = 2^{log_n}) needs at least {need} bytes"
        )),
        "{err}"
    );
    assert!(err.contains("more than 1048576 bytes (1.0 MiB)"), "{err}");
    // Room for the server's run but not for key generation (its keys in memory and the file).
    assert!(need < keygen, "{r}");
    let limit = (need + keygen) / 2;
    let err = train(&limit.to_string());
    assert!(
        err.contains(&format!(
            "key generation of logreg_gd.hel (N = 2^{log_n}) needs at least {keygen} bytes"
        )),
        "{err}"
    );
}
