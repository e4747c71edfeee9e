//! `hel compile --refresh bootstrap` / `hel depth --refresh bootstrap` (issue 21: the compiler
//! places the bootstraps): the report's keys, a schedule the other commands take (the plain
//! evaluator runs it and agrees with the single circuit of the same program, the cost
//! evaluator prices its bootstraps), and the refusals, all before any key exists (keys at
//! the 128-bit N = 2^16 are gigabytes; `tests/refresh_bootstrap.rs` runs the bootstraps
//! encrypted at a small insecure ring).

use std::path::Path;
use std::process::{Command, Output};

fn hel(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    assert_eq!(text.trim_end().lines().count(), 1, "--json prints one line");
    serde_json::from_str(&text).expect("one JSON object")
}

/// `hel compile PROGRAM -o OUT --refresh bootstrap --json` in `dir`, which must be refused
/// (exit code 1): its JSON object.
fn refused_bootstrapped(program: &str, out: &str, dir: &Path) -> serde_json::Value {
    let o = hel(
        &[
            "compile",
            program,
            "-o",
            out,
            "--refresh",
            "bootstrap",
            "--json",
        ],
        dir,
    );
    assert_eq!(o.status.code(), Some(1));
    serde_json::from_slice(&o.stdout).expect("an error object")
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// NAG over 6 minibatches of 16 x 8: small data, the 128-bit chain.
const SETS: [&str; 6] = ["--set", "k=6", "--set", "m=16", "--set", "f=8"];

#[test]
fn compile_places_bootstraps_and_the_schedule_runs_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nag = example("logreg_nag.hel");
    let mut args = vec!["compile", nag.as_str(), "-o", "nag.helc", "--json"];
    args.extend(SETS);
    args.extend(["--refresh", "bootstrap", "--round-size", "2"]);
    let v = ok_json(&hel(&args, d));
    // The report: three rounds, two refreshes of NAG's two vectors, one bootstrap each.
    assert_eq!(v["refresh"], "bootstrap");
    assert_eq!(v["round_sizes"], serde_json::json!([2, 2, 2]));
    assert_eq!(v["bootstraps"], 2);
    let depths = v["segment_depths"].as_array().unwrap();
    assert_eq!(depths.len(), 3);
    let levels = v["chain"]["program_levels"].as_u64().unwrap();
    assert!(depths.iter().all(|d| d.as_u64().unwrap() <= levels));
    assert_eq!(v["chain"]["log_n"], 16);
    assert_eq!(v["chain"]["security_bits"], 128);
    assert!(v["chain"]["failure_log2"].as_f64().unwrap() <= -15.0);
    assert_eq!(v["params"]["log_n"], 16);
    // The keys are for the levels the rounds use: the special modulus covers the schedule's
    // data primes plus the 30-bit margin of `CkksParams::with_largest_digits`, not the
    // chain's whole bottom (whose special primes every key switch would lift to).
    let bits = |k: &str| -> Vec<u64> {
        v["params"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap())
            .collect()
    };
    let (q, p) = (bits("primes"), bits("special_primes"));
    assert!((q.len() as u64) <= levels, "{v}");
    assert_eq!(v["params"]["dnum"], 1, "{v}");
    let (qs, ps): (u64, u64) = (q.iter().sum(), p.iter().sum());
    assert!(ps >= qs && ps <= qs + 30, "{q:?} {p:?}");
    let est = v["estimated_server_seconds"].as_f64().unwrap();
    let boot = v["estimated_bootstrap_seconds"].as_f64().unwrap();
    assert!(boot > 0.0 && est > boot, "{est} {boot}");
    assert!(v["plaintext_check"].as_f64().unwrap() <= 1e-9);
    // The server's memory counts the bootstrapping keys (gigabytes at N = 2^16).
    let keys = v["bootstrap_key_memory_bytes"].as_u64().unwrap();
    assert!(
        keys > 1 << 30 && v["server_memory_bytes"].as_u64().unwrap() > keys,
        "{v}"
    );

    // The text listing shows the chain and each bootstrap.
    let mut text = vec!["compile", nag.as_str(), "-o", "nag.txt", "--format", "text"];
    text.extend(SETS);
    text.extend(["--refresh", "bootstrap", "--round-size", "2"]);
    assert!(hel(&text, d).status.success());
    let listing = std::fs::read_to_string(d.join("nag.txt")).unwrap();
    assert!(listing.contains("bootstrap log_n 16"), "chain line");
    assert_eq!(listing.matches("= bootstrap %").count(), 2);
    assert_eq!(listing.matches("= bootstrap_paired %").count(), 2);

    // The plain evaluator runs it (a bootstrap is the identity there) and agrees with the
    // same program compiled as one circuit, which fits at these sizes.
    let z: String = (0..6 * 16)
        .map(|r| {
            (0..8)
                .map(|c| format!("{:.4}", (((r * 7 + c * 13) % 19) as f64 / 9.5 - 1.0) / 2.0))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(d.join("z.csv"), z).unwrap();
    let mut one = vec!["compile", nag.as_str(), "-o", "one.helc"];
    one.extend(SETS);
    assert!(hel(&one, d).status.success());
    let plain = |prog: &str| {
        let v = ok_json(&hel(
            &[
                "run",
                prog,
                "--evaluator",
                "plain",
                "--input",
                "Z=z.csv",
                "--json",
            ],
            d,
        ));
        let data = |name: &str| -> Vec<f64> {
            v["outputs"][name]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        // The program's one output: the momentum the rounds carry stays on the server.
        let names: Vec<&String> = v["outputs"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["v"]);
        data("v")
    };
    let (joined, single) = (plain("nag.helc"), plain("one.helc"));
    assert_eq!(joined.len(), 8);
    let diff = joined
        .iter()
        .zip(&single)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(diff <= 1e-9, "{diff}");

    // The cost evaluator prices the bootstraps.
    let cost = ok_json(&hel(
        &["run", "nag.helc", "--evaluator", "cost", "--json"],
        d,
    ));
    assert_eq!(cost["bootstraps"], 2, "{cost}");
    assert!(
        cost["seconds_by_op"]["bootstrap"].as_f64().unwrap() > 1.0,
        "{cost}"
    );
    // and counts the bootstrapping keys the server holds (gigabytes at N = 2^16).
    assert!(
        cost["bootstrap_key_memory_bytes"].as_u64().unwrap() > 1 << 30,
        "{cost}"
    );

    // The server needs the bootstrapping keys: a usage error before any key is read.
    let out = hel(
        &[
            "run",
            "nag.helc",
            "--eval-keys",
            "none.keys",
            "--inputs",
            "none.hct",
            "-o",
            "o.hct",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bootstrap-keys"));
    // And a program without bootstraps takes none.
    let out = hel(
        &[
            "run",
            "one.helc",
            "--eval-keys",
            "none.keys",
            "--bootstrap-keys",
            "none.keys",
            "--inputs",
            "none.hct",
            "-o",
            "o.hct",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    // Key generation for it is refused, before anything is generated, under a memory limit
    // below its bootstrapping keys (gigabytes at N = 2^16).
    let out = hel(
        &[
            "keygen",
            "nag.helc",
            "--out",
            "keys",
            "--memory-limit",
            "1G",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!d.join("keys").join("boot.keys").exists());
}

#[test]
fn depth_reports_bootstraps_and_refusals_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gd = example("logreg_gd.hel");
    let mut args = vec!["depth", gd.as_str(), "--json", "--refresh", "bootstrap"];
    args.extend(SETS);
    let v = ok_json(&hel(&args, d));
    assert_eq!(v["refresh"], "bootstrap");
    assert_eq!(
        v["round_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .sum::<u64>(),
        6
    );
    assert!(v["depth"].as_u64().unwrap() >= 1);

    // --refresh auto: one circuit where the program fits one, bootstraps where it is too deep.
    let auto = |k: &str, out: &str| {
        ok_json(&hel(
            &[
                "compile",
                gd.as_str(),
                "-o",
                out,
                "--json",
                "--refresh",
                "auto",
                "--set",
                k,
                "--set",
                "m=8",
                "--set",
                "f=3",
            ],
            d,
        ))
    };
    let fits = auto("k=3", "fits.helc");
    assert!(
        fits.get("refresh").is_none() && fits["depth"].as_u64().is_some(),
        "{fits}"
    );
    let deep = auto("k=24", "deep.helc");
    assert_eq!(deep["refresh"], "bootstrap", "{deep}");
    assert!(deep["bootstraps"].as_u64().unwrap() >= 1);

    // --round-size without --refresh bootstrap, and --compare with it: usage errors.
    let mut bad = vec!["depth", gd.as_str(), "--round-size", "2"];
    bad.extend(SETS);
    assert_eq!(hel(&bad, d).status.code(), Some(2));
    let mut bad = vec!["depth", gd.as_str(), "--compare", "--refresh", "bootstrap"];
    bad.extend(SETS);
    assert_eq!(hel(&bad, d).status.code(), Some(2));
    // A program with no loop-carried zeros(n) has no state to refresh: a located error.
    let cov = example("covariance.hel");
    let e = refused_bootstrapped(&cov, "c.helc", d);
    assert!(e["error"].is_object(), "{e}");
    assert!(!d.join("c.helc").exists());
}

/// The round size is chosen for the server's threads (`--server-threads`): the rounds' work
/// divides among them and a bootstrap gains little, so more threads take longer rounds and
/// fewer bootstraps (regression with a decaying step and a quadratic term, a product of the
/// state a step, over 12 passes: rounds of 4 priced on one thread, of 7 and 5 on sixteen; the
/// plain ridge step now collects into one public product a step and fits one round).
#[test]
fn round_sizes_are_chosen_for_the_servers_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let program = "const m = 24;\nconst f = 5;\ninput X: plain matrix[m, f] range [-1, 1];\n\
                   input y: enc vector[m] range [-1, 1];\nlet w = zeros(f);\n\
                   for i in 0..12 {\n    let g = transpose(X) @ (X @ w - y) / m + 0.1 * w * w;\n\
                   \x20   w = w - (0.5 / (i + 1)) * g;\n}\noutput w;\n";
    std::fs::write(d.join("ridge.hel"), program).unwrap();
    let rounds = |threads: &str| {
        let v = ok_json(&hel(
            &[
                "compile",
                "ridge.hel",
                "-o",
                "ridge.helc",
                "--force",
                "--json",
                "--refresh",
                "bootstrap",
                "--server-threads",
                threads,
            ],
            d,
        ));
        let sizes: Vec<u64> = v["round_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert_eq!(sizes.iter().sum::<u64>(), 12);
        (sizes.len(), v["reason"].as_str().unwrap().to_string())
    };
    let (one, why_one) = rounds("1");
    let (many, why_many) = rounds("16");
    assert!(many < one, "{one} rounds ({why_one}), {many} ({why_many})");
    assert!(why_one.contains("on 1 thread(s)"), "{why_one}");
    // Without bootstraps there is no round size to choose: a usage error.
    let out = hel(
        &[
            "compile",
            "ridge.hel",
            "-o",
            "x.helc",
            "--server-threads",
            "2",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// A state whose entries share a large mean (about 5.5 at the refresh) is bootstrapped from
/// below the scale at 128-bit: the report's chain says how far (`input_drop`), the schedule's
/// program scale is that far below 2^40, and the reason says why; NAG's weights stay at the
/// scale (`compile_places_bootstraps_and_the_schedule_runs_in_plaintext` runs it).
#[test]
fn a_state_with_a_large_mean_is_bootstrapped_from_below_the_scale() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mean.hel"),
        "const k = 4;\n\
         input y: enc vector[32][k] range [0.5, 1];\n\
         let v = zeros(32);\n\
         for i in 0..k { v = 0.9 * v + 3.2 * y[i]; }\n\
         output v;\n",
    )
    .unwrap();
    let args = [
        "compile",
        "mean.hel",
        "--refresh",
        "bootstrap",
        "--round-size",
        "2",
        "-o",
        "mean.helc",
        "--json",
    ];
    let v = ok_json(&hel(&args, dir.path()));
    let drop = v["chain"]["input_drop"].as_u64().expect("input_drop");
    assert!(drop >= 1, "{v}");
    assert_eq!(v["params"]["log_scale"].as_u64(), Some(40 - drop), "{v}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("bits below the scale")),
        "{v}"
    );
    let nag = [
        "compile",
        &example("logreg_nag.hel"),
        "--refresh",
        "bootstrap",
        "-o",
        "nag.helc",
        "--json",
    ];
    let mut nag: Vec<&str> = nag.to_vec();
    nag.extend(SETS);
    let v = ok_json(&hel(&nag, dir.path()));
    assert_eq!(v["chain"]["input_drop"], 0, "{v}");
}

/// A loop that one circuit holds needs no bootstrap: `--refresh bootstrap` compiled it on the
/// chain's N = 2^16 with zero bootstraps and then demanded gigabytes of bootstrapping keys;
/// it now compiles the ordinary circuit and says why.
#[test]
fn a_loop_one_circuit_holds_is_compiled_without_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "compile",
        &example("logreg_nag.hel"),
        "--set",
        "k=4",
        "--set",
        "m=16",
        "--set",
        "f=8",
        "--refresh",
        "bootstrap",
        "-o",
        "nag.helc",
        "--json",
    ];
    let v = ok_json(&hel(&args, dir.path()));
    assert!(v["params"]["log_n"].as_u64().unwrap() < 16, "{v}");
    assert!(v.get("bootstraps").is_none(), "{v}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("no bootstrap"), "{v}");
    let o = hel(
        &["run", "nag.helc", "--evaluator", "cost", "--json"],
        dir.path(),
    );
    let cost = ok_json(&o);
    assert_eq!(cost["bootstraps"], 0, "{cost}");
    // `hel depth` reports the same ordinary circuit (it reported a chain of zero bootstraps
    // and 10 GiB of server memory).
    let mut depth = vec!["depth"];
    depth.extend(args[1..10].iter().copied());
    depth.push("--json");
    let o = hel(&depth, dir.path());
    let d = ok_json(&o);
    assert!(d.get("bootstraps").is_none(), "{d}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("fits one circuit"));
}

/// Rounds sized for a state that does not start at zeros were probed past the loop's end (a
/// round of 4 of 6 iterations started at 4): with sequences of as many elements as the loop
/// has iterations, the planner reported "index 6 is out of range" at a `Z[i]` the program
/// never reads out of range. Any round size now plans, the default included.
#[test]
fn rounds_of_a_state_with_a_nonzero_start_stay_within_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let program = "const k = 6;
fn sig(t) = 0.5 + 0.15012 * t - 0.001593 * t^3;
input Z: enc matrix[8, 3][6] range [-1, 1];
input y: enc vector[8][6] range [0, 1];
let w = sum_rows(Z[0]) / 8;
for i in 0..k {
    w = w - 0.5 / 8 * (transpose(Z[i]) @ (sig(Z[i] @ w) - y[i]));
}
output w;
";
    std::fs::write(dir.path().join("gd.hel"), program).unwrap();
    for size in [None, Some("4")] {
        let mut args = vec![
            "compile",
            "gd.hel",
            "--refresh",
            "bootstrap",
            "-o",
            "gd.helc",
        ];
        args.extend(["--json", "--force"]);
        if let Some(s) = size {
            args.extend(["--round-size", s]);
        }
        let v = ok_json(&hel(&args, dir.path()));
        assert!(v["bootstraps"].as_u64().unwrap() >= 1, "{size:?}: {v}");
    }
}

/// A value the outer loop's body declares from a constant and an inner loop then changes
/// (Newton steps for 1/|u| in a power iteration) is not carried by the outer loop: it was
/// refused as "a public value the outer loop carries". The rounds compile and compute the
/// power iteration (checked in plaintext against a direct evaluation).
#[test]
fn an_inner_loop_may_change_a_value_the_body_declares() {
    let dir = tempfile::tempdir().unwrap();
    let program = "const k = 8;
input C: enc matrix[4, 4] range [-0.5, 0.5];
let v = ones(4) / 2;
for i in 0..k {
    let u = C @ v;
    let n2 = dot(u, u);
    let s = 1.0;
    for j in 0..2 {
        s = s * (1.5 - 0.5 * n2 * s * s);
    }
    v = u * s;
}
output v;
";
    let c = [
        [0.1, -0.2, 0.3, 0.05],
        [-0.2, 0.4, 0.1, 0.0],
        [0.3, 0.1, -0.1, 0.2],
        [0.05, 0.0, 0.2, 0.3],
    ];
    let csv: String = c
        .iter()
        .map(|r| r.map(|x| x.to_string()).join(",") + "\n")
        .collect();
    std::fs::write(dir.path().join("p.hel"), program).unwrap();
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let args = [
        "compile",
        "p.hel",
        "--refresh",
        "bootstrap",
        "-o",
        "p.helc",
        "--json",
    ];
    let v = ok_json(&hel(&args, dir.path()));
    assert!(v["bootstraps"].as_u64().unwrap() >= 1, "{v}");
    let args = [
        "run",
        "p.helc",
        "--evaluator",
        "plain",
        "--input",
        "C=c.csv",
        "--json",
    ];
    let out = ok_json(&hel(&args, dir.path()));
    let got: Vec<f64> = out["outputs"]["v"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let mut want = [0.5; 4];
    for _ in 0..8 {
        let u: Vec<f64> = c
            .iter()
            .map(|r| r.iter().zip(&want).map(|(a, b)| a * b).sum())
            .collect();
        let n2: f64 = u.iter().map(|x| x * x).sum();
        let mut s = 1.0;
        for _ in 0..2 {
            s *= 1.5 - 0.5 * n2 * s * s;
        }
        for (w, x) in want.iter_mut().zip(&u) {
            *w = x * s;
        }
    }
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
}

/// A network step whose loop carries a weight matrix deeper than a full-slot bootstrap leaves:
/// refused, located at the loop, saying that the matrix is what takes the full-slot chain and
/// its fewer levels (a vector state's sparse chain leaves more).
#[test]
fn a_matrix_state_too_deep_for_the_full_slot_chain_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("mlp.hel"),
        "const k = 4; const m = 16; const f = 4; const h = 3; const eta = 0.1 / m;
fn act(t) = t - t^3 / 3;
fn dact(t) = 1 - t^2;
input X: enc matrix[m, f][k] range [-1, 1];
input y: enc vector[m][k] range [-1, 1];
input W0: plain matrix[f, h] range [-0.5, 0.5];
let A = W0;
let b = ones(h) * 0.3;
for i in 0..k {
    let H = X[i] @ A;
    let Hs = act(H);
    let r = Hs @ b - y[i];
    let D = outer(r, b) * dact(H);
    b = b - eta * (transpose(Hs) @ r);
    A = A - eta * (transpose(X[i]) @ D);
}
output A, b;
",
    )
    .unwrap();
    let e = refused_bootstrapped("mlp.hel", "mlp.helc", d);
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("even a round of one iteration does not fit")
            && message.contains("the loop carries the matrix `A`"),
        "{e}"
    );
    assert_eq!(e["error"]["labels"][0]["line"], 9, "{e}");
    assert!(!d.join("mlp.helc").exists());
}
