//! The client/server workflow end to end through the real commands: `hel compile`, `keygen`,
//! `encrypt`, `run` (each evaluator), `decrypt`. Decrypted results are compared with an
//! independent f64 computation of the program, within the error bound the compiler predicts
//! for each output; every mismatch and corruption case must be a clear error (exit 1) that
//! leaves no partial output behind.

mod common;
use common::{debug_run_args, encrypt_args, hel, server_run_args};

use std::path::Path;

use hel_runtime::schedule::Schedule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A fresh scratch directory per test, removed when the test ends (the logreg one holds
/// 150 MB of keys and ciphertexts).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hel-workflow-{name}-"))
        .tempdir()
        .expect("create scratch dir")
}

/// Runs `hel` and requires success; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = hel(dir, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "hel {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `hel`, requires exit code 1 (user error); returns stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let o = hel(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "hel {args:?} should fail:\n{err}");
    err
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn schedule(path: &Path) -> Schedule {
    Schedule::from_bytes(&std::fs::read(path).expect("read schedule")).expect("valid schedule")
}

fn write_csv(path: &Path, rows: &[Vec<f64>]) {
    let text: String = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().map(|v| format!("{v:e}")).collect();
            cells.join(",") + "\n"
        })
        .collect();
    std::fs::write(path, text).expect("write csv");
}

/// The `outputs` object of `hel decrypt --format json`, as name -> flat values.
fn decrypted(json: &str, name: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(json).expect("decrypt prints JSON");
    fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
            x => out.push(x.as_f64().expect("a number")),
        }
    }
    let mut out = Vec::new();
    flat(&v["outputs"][name], &mut out);
    out
}

fn max_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Writes `n` values uniform in [-1, 1) (seeded), one per line; returns them.
fn random_vector_csv(path: &Path, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    write_csv(path, &x.iter().map(|v| vec![*v]).collect::<Vec<_>>());
    x
}

/// Compiles poly.hel and makes keys and encrypted inputs for it; returns x.
fn poly_setup(dir: &Path) -> Vec<f64> {
    ok(dir, &["compile", &example("poly.hel"), "-o", "poly.helc"]);
    ok(dir, &["keygen", "poly.helc", "--out", "keys"]);
    let x = random_vector_csv(&dir.join("x.csv"), 4096, 7);
    ok(dir, &encrypt_args("poly.helc", &["x=x.csv"], "in.hct"));
    x
}

/// `hel decrypt` of out.hct for poly.helc with keys/secret.key, as JSON.
fn decrypt_poly(dir: &Path) -> String {
    ok(
        dir,
        &[
            "decrypt",
            "poly.helc",
            "--secret-key",
            "keys/secret.key",
            "out.hct",
            "--format",
            "json",
        ],
    )
}

/// The server's `hel run` of `program` on keys/eval.keys and in.hct (as [`poly_setup`] makes
/// them), writing out.hct.
fn server_run<'a>(program: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = server_run_args(program, "out.hct");
    args.extend_from_slice(extra);
    args
}

#[test]
fn poly_through_compile_keygen_encrypt_run_decrypt() {
    let scratch = scratch("poly");
    let dir = scratch.path();
    let x = poly_setup(dir);
    let run = ok(dir, &server_run("poly.helc", &["--threads", "2", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&run).expect("run --json is one object");
    assert_eq!(stats["stats"]["ops"]["ct_mul"], 2);
    assert!(stats["stats"]["peak_bytes"].as_u64().unwrap_or(0) > 0);
    let out = decrypt_poly(dir);
    let y = decrypted(&out, "y");
    let expected: Vec<f64> = x.iter().map(|v| v.powi(4) + 2.0).collect();
    let bound = schedule(&dir.join("poly.helc")).outputs[0].bound;
    let err = max_error(&y, &expected);
    assert!(
        err <= bound,
        "error {err:e} exceeds the predicted bound {bound:e}"
    );
    // The bound is a real precision claim, not a loose constant.
    assert!(bound < 1e-4, "bound {bound:e}");
    // `--json`, as in every command: the same one object on stdout; with -o, one object
    // that says what was written, and the file holds the CSV.
    let dec = [
        "decrypt",
        "poly.helc",
        "--secret-key",
        "keys/secret.key",
        "out.hct",
    ];
    let json = ok(dir, &[&dec[..], &["--json"]].concat());
    assert_eq!(json, out);
    let wrote = ok(dir, &[&dec[..], &["--json", "-o", "y.csv"]].concat());
    let v: serde_json::Value = serde_json::from_str(&wrote).expect("one JSON object");
    assert_eq!(v["path"], "y.csv");
    assert_eq!(v["format"], "csv");
    assert_eq!(v["outputs"], serde_json::json!(["y"]));
    let csv = std::fs::read_to_string(dir.join("y.csv")).unwrap();
    let from_csv: Vec<f64> = csv.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(from_csv.len(), y.len());
    // The plain evaluator gives the slot-level reference of the same schedule.
    let plain = ok(
        dir,
        &[
            "run",
            "poly.helc",
            "--evaluator",
            "plain",
            "--input",
            "x=x.csv",
            "--json",
        ],
    );
    let p = decrypted(&plain, "y");
    assert!(max_error(&p, &expected) < 1e-12);
}

/// `hel encrypt --json` predicts each output's error on the inputs it encrypts, next to the
/// bound the program was compiled with, and the decrypted result keeps to it.
#[test]
fn encrypt_reports_the_error_bound_on_its_inputs() {
    let scratch = scratch("bound-on-data");
    let dir = scratch.path();
    let x = poly_setup(dir);
    let mut args = encrypt_args("poly.helc", &["x=x.csv"], "in2.hct");
    args.push("--json");
    let report = ok(dir, &args);
    let v: serde_json::Value = serde_json::from_str(&report).expect("one JSON object");
    let on_data = v["output_error_bounds"]["y"]["on_these_inputs"]
        .as_f64()
        .expect("a bound on the data");
    let compiled = v["output_error_bounds"]["y"]["compiled"].as_f64().unwrap();
    assert_eq!(compiled, schedule(&dir.join("poly.helc")).outputs[0].bound);
    assert!(on_data > 0.0 && on_data < 1e-4, "{on_data:e}");
    ok(dir, &server_run("poly.helc", &[]));
    let out = decrypt_poly(dir);
    let expected: Vec<f64> = x.iter().map(|v| v.powi(4) + 2.0).collect();
    let err = max_error(&decrypted(&out, "y"), &expected);
    assert!(
        err <= on_data,
        "error {err:e} beyond the bound on the data {on_data:e}"
    );
}

#[test]
fn debug_evaluator_names_the_node_with_an_injected_error() {
    let scratch = scratch("debug");
    let dir = scratch.path();
    poly_setup(dir);
    let base = debug_run_args("poly.helc", &["x=x.csv"]);
    ok(dir, &base);
    let s = schedule(&dir.join("poly.helc"));
    let (node, _) = s
        .nodes
        .iter()
        .enumerate()
        .find(|(_, n)| n.instr.name() == "relinearize")
        .expect("poly has a relinearization");
    let inject = format!("{node}=0.001");
    let mut args = base.to_vec();
    args.extend(["--inject-error", &inject]);
    // Undo the report's line wrapping before searching it.
    let err: String = fails(dir, &args)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(err.contains(&format!("node {node} (relinearize)")), "{err}");
    assert!(err.contains("poly.hel:6:"), "names the source line: {err}");
    assert!(err.contains("exceeds the predicted bound"), "{err}");
}

#[test]
fn cost_evaluator_counts_without_keys() {
    let scratch = scratch("cost");
    let dir = scratch.path();
    ok(dir, &["compile", &example("poly.hel"), "-o", "poly.helc"]);
    let out = ok(dir, &["run", "poly.helc", "--evaluator", "cost", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["ops"]["ct_mul"]["2"], 1);
    assert_eq!(v["ops"]["ct_mul"]["1"], 1);
    assert!(v["estimated_seconds"].as_f64().unwrap_or(0.0) > 0.0);
}

/// Plain minibatch gradient descent, the semantics of examples/logreg_gd.hel.
fn gd_reference(z: &[Vec<Vec<f64>>], alpha: f64) -> Vec<f64> {
    let f = z[0][0].len();
    let h = |t: f64| 0.5 - 0.0843 * t + 0.0002 * t.powi(3);
    let mut beta = vec![0.0; f];
    for zi in z {
        let gamma = alpha / zi.len() as f64;
        let s: Vec<f64> = zi
            .iter()
            .map(|row| h(row.iter().zip(&beta).map(|(a, b)| a * b).sum()))
            .collect();
        for (j, b) in beta.iter_mut().enumerate() {
            *b += gamma * zi.iter().zip(&s).map(|(row, sv)| row[j] * sv).sum::<f64>();
        }
    }
    beta
}

#[test]
fn small_logistic_regression_trains_encrypted_like_in_plaintext() {
    let scratch = scratch("logreg");
    let dir = scratch.path();
    let (m, f, k) = (64usize, 16usize, 3usize);
    let sets = [
        "--set".to_string(),
        format!("m={m}"),
        "--set".into(),
        format!("f={f}"),
        "--set".into(),
        format!("k={k}"),
    ];
    let mut args: Vec<&str> = vec!["compile", "-O2", "-o", "gd.helc"];
    let ex = example("logreg_gd.hel");
    args.push(&ex);
    args.extend(sets.iter().map(String::as_str));
    ok(dir, &args);
    ok(dir, &["keygen", "gd.helc", "--out", "keys"]);
    // Samples y * (1, x) with features in [-1, 1] and labels from a noisy linear rule.
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let truth: Vec<f64> = (0..f).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z: Vec<Vec<Vec<f64>>> = (0..k)
        .map(|_| {
            (0..m)
                .map(|_| {
                    let mut x: Vec<f64> = (0..f).map(|_| rng.random_range(-1.0..1.0)).collect();
                    x[0] = 1.0;
                    let score: f64 = x.iter().zip(&truth).map(|(a, b)| a * b).sum();
                    let y = if score + rng.random_range(-0.3..0.3) > 0.0 {
                        1.0
                    } else {
                        -1.0
                    };
                    x.iter().map(|v| y * v).collect()
                })
                .collect()
        })
        .collect();
    // The k blocks stacked row-wise in one file.
    write_csv(&dir.join("z.csv"), &z.concat());
    ok(
        dir,
        &[
            "encrypt", "gd.helc", "--keys", "keys", "--input", "Z=z.csv", "-o", "in.hct",
        ],
    );
    ok(dir, &server_run("gd.helc", &[]));
    let out = ok(
        dir,
        &[
            "decrypt",
            "gd.helc",
            "--secret-key",
            "keys/secret.key",
            "out.hct",
            "--format",
            "json",
        ],
    );
    let beta = decrypted(&out, "beta");
    let expected = gd_reference(&z, 1.0);
    let bound = schedule(&dir.join("gd.helc")).outputs[0].bound;
    let err = max_error(&beta, &expected);
    eprintln!("logreg: error {err:e}, predicted bound {bound:e}");
    assert!(err <= bound, "error {err:e} > predicted bound {bound:e}");
    assert!(
        bound < 1e-3,
        "bound {bound:e} is too loose to mean anything"
    );
    // Training did something: the weights moved towards the rule.
    let cos: f64 = beta.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>()
        / (beta.iter().map(|a| a * a).sum::<f64>().sqrt()
            * truth.iter().map(|b| b * b).sum::<f64>().sqrt());
    assert!(cos > 0.5, "cosine to the true rule {cos}");
}

#[test]
fn mismatched_corrupt_and_misplaced_files_are_clear_errors() {
    let scratch = scratch("errors");
    let dir = scratch.path();
    poly_setup(dir);
    let run = |inputs: &str, keys: &str, out: &str| {
        vec![
            "run".to_string(),
            "poly.helc".into(),
            "--eval-keys".into(),
            keys.into(),
            "--inputs".into(),
            inputs.into(),
            "-o".into(),
            out.into(),
        ]
    };
    let fails_s = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(dir, &a)
    };
    // Keys of another program (same source, another size).
    ok(
        dir,
        &[
            "compile",
            &example("poly.hel"),
            "--set",
            "n=2048",
            "-o",
            "other.helc",
        ],
    );
    ok(dir, &["keygen", "other.helc", "--out", "other"]);
    // Its keys are of the same parameters, but another key set than the inputs.
    let e = fails_s(run("in.hct", "other/eval.keys", "o1.hct"));
    assert!(e.contains("in.hct") && e.contains("key sets"), "{e}");
    // Inputs of another program are refused naming both programs.
    let mut args = run("in.hct", "other/eval.keys", "o7.hct");
    args[1] = "other.helc".into();
    let e = fails_s(args);
    assert!(e.contains("in.hct") && e.contains("another program"), "{e}");
    // One key set serves both programs (same parameters, rotations covered): the other
    // program runs on poly.helc's keys and decrypts correctly.
    let x2 = random_vector_csv(&dir.join("x2.csv"), 2048, 8);
    ok(dir, &encrypt_args("other.helc", &["x=x2.csv"], "in2.hct"));
    let mut args = run("in2.hct", "keys/eval.keys", "out2.hct");
    args[1] = "other.helc".into();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(dir, &a);
    let json = ok(
        dir,
        &[
            "decrypt",
            "other.helc",
            "out2.hct",
            "--secret-key",
            "keys/secret.key",
            "--format",
            "json",
        ],
    );
    let want: Vec<f64> = x2.iter().map(|v| v.powi(4) + 2.0).collect();
    let got = decrypted(&json, "y");
    let bound = schedule(&dir.join("other.helc")).outputs[0].bound;
    let err = max_error(&got, &want);
    assert!(
        err <= bound,
        "error {err:e} exceeds the predicted bound {bound:e}"
    );
    // Keys of a second keygen run for the same program: the server refuses the inputs, and
    // the client refuses to decrypt the first key set's outputs with the second secret key.
    ok(dir, &["keygen", "poly.helc", "--out", "keys2"]);
    let e = fails_s(run("in.hct", "keys2/eval.keys", "o6.hct"));
    assert!(e.contains("in.hct") && e.contains("key sets"), "{e}");
    ok(
        dir,
        &run("in.hct", "keys/eval.keys", "ok.hct")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let e = fails(
        dir,
        &[
            "decrypt",
            "poly.helc",
            "ok.hct",
            "--secret-key",
            "keys2/secret.key",
        ],
    );
    assert!(e.contains("ok.hct") && e.contains("key sets"), "{e}");
    // The secret key where the evaluation keys belong.
    let e = fails_s(run("in.hct", "keys/secret.key", "o2.hct"));
    assert!(
        e.contains("keys/secret.key") && e.contains("expected"),
        "{e}"
    );
    // Truncated and corrupted inputs.
    let bytes = std::fs::read(dir.join("in.hct")).expect("read inputs");
    std::fs::write(dir.join("short.hct"), &bytes[..bytes.len() / 2]).expect("write");
    let e = fails_s(run("short.hct", "keys/eval.keys", "o3.hct"));
    assert!(e.contains("short.hct") && e.contains("truncated"), "{e}");
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(dir.join("bad.hct"), &bad).expect("write");
    let e = fails_s(run("bad.hct", "keys/eval.keys", "o4.hct"));
    assert!(e.contains("bad.hct") && e.contains("corrupt"), "{e}");
    // Failed runs leave no output and no temporary file.
    for name in ["o1.hct", "o2.hct", "o3.hct", "o4.hct", "o6.hct", "o7.hct"] {
        assert!(!dir.join(name).exists(), "{name} was written");
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Never clobber: an existing output, or an input given as the output.
    ok(
        dir,
        &run("in.hct", "keys/eval.keys", "out.hct")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let e = fails_s(run("in.hct", "keys/eval.keys", "out.hct"));
    assert!(e.contains("--force"), "{e}");
    let e = fails_s(run("in.hct", "keys/eval.keys", "in.hct"));
    assert!(e.contains("refusing to overwrite input"), "{e}");
    // Keygen refuses to replace keys.
    let e = fails(dir, &["keygen", "poly.helc", "--out", "keys"]);
    assert!(e.contains("--force"), "{e}");
    // The source program where its compilation belongs: compile it first, say so.
    std::fs::copy(example("poly.hel"), dir.join("poly.src")).expect("copy");
    for source in [example("poly.hel"), "poly.src".to_string()] {
        let e = fails(dir, &encrypt_args(&source, &["x=x.csv"], "i3.hct"));
        let flat = e
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains("source program, not a compiled one"), "{e}");
    }
    // A CSV of the wrong shape names the file.
    write_csv(&dir.join("short.csv"), &[vec![1.0], vec![2.0]]);
    let e = fails(dir, &encrypt_args("poly.helc", &["x=short.csv"], "i2.hct"));
    assert!(e.contains("short.csv"), "{e}");
    // Usage errors are exit code 2: the server never takes the secret key (a flag the
    // evaluator refuses), and an evaluator that does not exist.
    let mut args = run("in.hct", "keys/eval.keys", "o5.hct");
    args.extend(["--secret-key".to_string(), "keys/secret.key".to_string()]);
    let o = hel(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("never reads it"));
    assert!(!dir.join("o5.hct").exists());
    let o = hel(dir, &["run", "poly.helc", "--evaluator", "magic"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Any 32-byte window of the secret key's payload, searched in a public file.
fn shares_secret_bytes(secret: &[u8], public: &[u8]) -> bool {
    secret
        .windows(32)
        .step_by(16)
        .any(|w| public.windows(32).any(|p| p == w))
}

#[test]
fn no_secret_key_material_in_server_files() {
    let scratch = scratch("secret");
    let dir = scratch.path();
    poly_setup(dir);
    ok(dir, &server_run("poly.helc", &[]));
    let secret = std::fs::read(dir.join("keys/secret.key")).expect("read secret key");
    // Skip the envelope (program name and hash are in every file).
    let payload = &secret[secret.len().saturating_sub(2048)..];
    for f in ["keys/eval.keys", "in.hct", "out.hct"] {
        let public = std::fs::read(dir.join(f)).expect("read public file");
        assert!(
            !shares_secret_bytes(payload, &public),
            "{f} contains secret-key bytes"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys/secret.key"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secret.key mode {mode:o}");
    }
}

/// A program without inputs (constants only) runs in the plain evaluator without `--input`,
/// as it does encrypted; it had been refused as a usage error.
#[test]
fn a_program_without_inputs_runs_in_the_plain_evaluator() {
    let scratch = scratch("no-inputs");
    let dir = scratch.path();
    std::fs::write(
        dir.join("c.hel"),
        "let z = ones(3) * 2;\nlet s = 0.5;\nlet w = z * s + 1;\noutput w;\n",
    )
    .unwrap();
    ok(dir, &["compile", "c.hel", "-o", "c.helc"]);
    let plain = ok(dir, &["run", "c.helc", "--evaluator", "plain", "--json"]);
    let w = decrypted(&plain, "w");
    assert_eq!(w.len(), 3);
    assert!(max_error(&w, &[2.0, 2.0, 2.0]) < 1e-9, "{w:?}");
}
