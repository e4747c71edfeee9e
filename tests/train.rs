//! `hel train`: the encrypted model matches the plaintext reference within the compiler's
//! predicted error bound, with one circuit and in rounds, for GD and NAG; the CLI's JSON and
//! its user errors.
//!
//! Configurations are small (a synthetic CSV with 6 features, minibatches of 32 rows, 1-3
//! minibatches) so every encrypted run takes seconds in the dev profile.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use hel::data::csv::CsvOptions;
use hel::data::prepare::{prepare_csv, TestSource};
use hel::data::{minibatches, prepare::prepare_mnist_3v8, Matrix};
use hel::metrics::{accuracy, auc};
use hel::reference::{self, Config, Method, H_DOMAIN};
use hel::train::program::{self, Interface};
use hel::train::rounds::{self, RoundPlan, RoundTemplate};
use hel::train::{model, train, DataSource, Model, Quiet, TrainError, TrainOptions, TrainReport};
use hel_compiler::driver::{deepest_admissible, far_too_deep, least_depth};
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::SourceFile;
use hel_compiler::{compile, Code, Options as CompileRequest};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> SourceFile {
    let path = root().join("examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    SourceFile::new(path.display().to_string(), text)
}

/// A fresh file per call (tests run in parallel threads of one process, and a shared name
/// let one test read the file while another was rewriting it), removed when dropped.
fn scratch_file(name: &str, text: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("hel-train-test-")
        .suffix(&format!("-{name}"))
        .tempfile()
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.into_temp_path()
}

/// A fresh directory, removed when dropped.
fn scratch_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hel-train-{name}-"))
        .tempdir()
        .unwrap()
}

/// A deterministic, nearly separable data set: 6 features, label 1 when a fixed linear score
/// plus noise is positive, header row, label last. The score's weights sum to zero and the
/// features are symmetric around the middle of their range, so the few small steps of the test
/// configurations already separate the classes well.
fn synthetic_csv() -> tempfile::TempPath {
    let mut rand = uniform(0x5eed);
    let w = [2.0, -2.0, 1.0, -1.0, 0.5, -0.5];
    let mut text = String::from("f1,f2,f3,f4,f5,f6,label\n");
    for _ in 0..300 {
        let x: Vec<f64> = (0..6).map(|_| rand() * 10.0).collect();
        let score: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + (rand() - 0.5) * 2.0;
        let row: Vec<String> = x.iter().map(|v| format!("{v:.3}")).collect();
        text.push_str(&format!("{},{}\n", row.join(","), u8::from(score > 0.0)));
    }
    scratch_file("synthetic.csv", &text)
}

/// A deterministic stream of uniform numbers in [0, 1).
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `features` columns, `rows` rows: every column but the first two is one common factor per row
/// (skewed towards 0) plus a little noise, and the label is whether that factor plus a little
/// of x0 is large. The common direction gives the standardised Z^T Z / m a large eigenvalue and
/// the label is correlated with it, so gradient descent at alpha = 1 overshoots along it and
/// leaves the cubic's domain.
fn correlated_csv(features: usize, rows: usize) -> tempfile::TempPath {
    let mut rand = uniform(0xc0de);
    let header: Vec<String> = (0..features).map(|j| format!("x{j}")).collect();
    let mut text = format!("{},label\n", header.join(","));
    for _ in 0..rows {
        let (common, a, b) = (rand().powi(4), rand(), rand());
        let mut x = vec![format!("{a:.3}"), format!("{b:.3}")];
        x.extend((2..features).map(|_| format!("{:.3}", common + 0.1 * rand())));
        let label = u8::from(common + 0.05 * a > 0.1);
        text.push_str(&format!("{},{}\n", x.join(","), label));
    }
    scratch_file("correlated.csv", &text)
}

fn csv(path: &Path) -> DataSource {
    DataSource::Csv {
        path: path.to_path_buf(),
        test: TestSource::Fraction(0.2),
        options: CsvOptions::default(),
        seed: 7,
    }
}

fn opts(k: usize, m: usize) -> TrainOptions {
    TrainOptions {
        threads: 2,
        ..TrainOptions::new(k, m)
    }
}

/// The checks every encrypted run must pass: weights within the compiler's predicted error
/// bound of the plaintext reference (and the bound below `loosest`, so that it means
/// something), the same test accuracy, AUC within a hair.
fn check_matches_plaintext(r: &TrainReport, loosest: f64) {
    assert!(
        r.max_weight_error <= r.predicted_error_bound,
        "weights differ by {:e}, more than the predicted bound {:e}",
        r.max_weight_error,
        r.predicted_error_bound
    );
    assert!(
        r.predicted_error_bound < loosest,
        "the bound {:e} is too loose to test anything",
        r.predicted_error_bound
    );
    let direct = program::max_abs_diff(&r.weights, &r.plaintext_weights);
    assert_eq!(direct, r.max_weight_error);
    assert_eq!(r.accuracy, r.plaintext_accuracy);
    let (a, b) = (r.auc.unwrap(), r.plaintext_auc.unwrap());
    assert!((a - b).abs() <= 1e-3, "AUC {a} vs {b}");
    // A few small steps from zero rank the test rows well long before the bias settles, so
    // the ranking (AUC) is what shows that training happened.
    assert!(a > 0.85, "AUC {a} on a nearly separable set");
    assert!(r.server_seconds > 0.0 && r.upload_bytes > 0 && r.eval_key_bytes > 0);
    assert!(r.peak_memory_bytes > 0 && r.depth > 0 && r.log_n >= 13);
    assert_eq!(r.round_sizes.iter().sum::<usize>(), r.minibatches);
    assert_eq!(r.round_details.len(), r.rounds);
}

#[test]
fn gd_in_one_circuit_matches_the_plaintext_reference() {
    let r = train(
        &csv(&synthetic_csv()),
        &example("logreg_gd.hel"),
        &opts(2, 32),
        &Quiet,
    )
    .unwrap()
    .report;
    assert_eq!((r.method.as_str(), r.rounds), ("gd", 1));
    assert_eq!((r.batch_size, r.features, r.train_rows), (32, 7, 240));
    check_matches_plaintext(&r, 1e-2);
}

/// Strongly correlated features make the unscaled run leave the sigmoid polynomial's domain:
/// the client scales Z by the grid factor of least training loss (the choice itself is tested
/// in `train::domain`), and the encrypted model still matches the plaintext one trained on the
/// same scaled Z. With `--no-domain-scaling` Z stays as built.
#[test]
fn training_outside_the_domain_is_scaled_back() {
    let file = correlated_csv(200, 80);
    let out = train(&csv(&file), &example("logreg_gd.hel"), &opts(3, 32), &Quiet).unwrap();
    let r = &out.report;
    assert!(
        r.unscaled_max_abs_inner > H_DOMAIN,
        "{}",
        r.unscaled_max_abs_inner
    );
    assert!(r.design_scale < 1.0, "{}", r.design_scale);
    assert!(
        r.max_abs_inner < r.unscaled_max_abs_inner,
        "{} {}",
        r.max_abs_inner,
        r.unscaled_max_abs_inner
    );
    // The compiler's bound (about 40 times the error seen, with 101 features) must still say
    // something about weights of this size.
    let largest = r
        .plaintext_weights
        .iter()
        .fold(0.0f64, |a, w| a.max(w.abs()));
    assert!(
        r.max_weight_error <= r.predicted_error_bound && r.predicted_error_bound < 0.1 * largest,
        "weights (up to {largest}) differ by {:e}, bound {:e}",
        r.max_weight_error,
        r.predicted_error_bound
    );
    assert_eq!(r.accuracy, r.plaintext_accuracy);
    // The saved model scores raw test rows by itself (feature scaling and c included).
    let test = prepare_csv(&file, &TestSource::Fraction(0.2), &CsvOptions::default(), 7)
        .unwrap()
        .test;
    let scores: Vec<f64> = test
        .features
        .iter_rows()
        .map(|x| out.model.score(x))
        .collect();
    assert_eq!(accuracy(&scores, &test.labels), r.accuracy);
    assert_eq!(auc(&scores, &test.labels), r.auc);
    assert_eq!(out.model.design_scale, r.design_scale);

    let data = file.to_str().unwrap();
    let o = hel(&[
        "train",
        "--data",
        data,
        "--program",
        "examples/logreg_gd.hel",
        "--minibatches",
        "3",
        "--batch-size",
        "32",
        "--no-domain-scaling",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("outside [-16, 16]"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["design_scale"], 1.0);
    assert_eq!(v["max_abs_inner"], v["unscaled_max_abs_inner"]);
    assert!(v["max_abs_inner"].as_f64().unwrap() > H_DOMAIN, "{v}");
}

/// Without `--batch-size`, a data set smaller than the default minibatch trains full-batch
/// instead of being refused; a given size is kept.
#[test]
fn small_data_sets_default_to_one_full_batch() {
    let file = synthetic_csv();
    let data = csv(&file);
    let b = hel::train::load(&data, None).unwrap();
    assert_eq!((b.batch_size, b.batches.len(), b.train_rows), (240, 1, 240));
    assert_eq!(b.batches[0].rows(), 240);
    let b = hel::train::load(&data, Some(32)).unwrap();
    assert_eq!((b.batch_size, b.batches.len()), (32, 7));
}

#[test]
fn nag_in_one_circuit_matches_the_plaintext_reference() {
    let r = train(
        &csv(&synthetic_csv()),
        &example("logreg_nag.hel"),
        &opts(2, 32),
        &Quiet,
    )
    .unwrap()
    .report;
    assert_eq!((r.method.as_str(), r.rounds), ("nag", 1));
    check_matches_plaintext(&r, 1e-2);
}

/// Rounds (forced small) still give the weights of one plaintext run of K iterations: NAG's
/// momentum and its compile-time constants cross the round boundaries.
#[test]
fn rounds_match_the_single_run_reference() {
    for (program, k, round_size, rounds) in
        [("logreg_gd.hel", 3, 2, 2), ("logreg_nag.hel", 3, 1, 3)]
    {
        let o = TrainOptions {
            round_size: Some(round_size),
            ..opts(k, 32)
        };
        let r = train(&csv(&synthetic_csv()), &example(program), &o, &Quiet)
            .unwrap()
            .report;
        assert_eq!(r.rounds, rounds, "{program}");
        assert_eq!(r.rounds_reason, format!("--round-size {round_size}"));
        // The round programs declare no range for the weights (it would reveal their size to
        // the server), so the compiler assumes [-1, 1] and its bound is loose; the measured
        // error must still be as small as in one circuit.
        check_matches_plaintext(&r, 1.0);
        assert!(
            r.max_weight_error < 1e-5,
            "{program}: {:e}",
            r.max_weight_error
        );
        // The reference is one run of K iterations, not K/round_size runs.
        let method = if program.contains("nag") {
            Method::Nag
        } else {
            Method::Gd
        };
        assert_eq!(r.method, program::method_name(method));
        if method == Method::Nag {
            // Each NAG round is its own circuit (its momentum constants differ), but they have
            // the same parameters and rotations, so one key set (sent once) serves them all.
            assert_eq!(r.circuits.len(), 3);
            assert_eq!(r.key_sets.len(), 1);
            assert!(r.circuits.iter().all(|c| c.key_set == 0));
            assert_eq!(r.eval_key_bytes, r.key_sets[0].eval_key_bytes);
        }
    }
}

/// Without `--round-size`, a K that does not fit the ring cap is split automatically: the round
/// size is one that fits (at least half the largest that does), chosen by estimated server time,
/// and the report says why.
#[test]
fn automatic_rounds_fit_the_ring_cap() {
    let o = TrainOptions {
        max_log_n: 14,
        ..opts(6, 32)
    };
    let r = train(
        &csv(&synthetic_csv()),
        &example("logreg_gd.hel"),
        &o,
        &Quiet,
    )
    .unwrap()
    .report;
    assert!(r.rounds > 1, "{} rounds", r.rounds);
    assert!(r.log_n <= 14);
    assert!(
        r.rounds_reason.contains("a round circuit holds at most"),
        "{}",
        r.rounds_reason
    );
    let largest: usize = r
        .rounds_reason
        .split("holds at most ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let first = r.round_sizes[0];
    assert!(
        2 * first >= largest && first <= largest,
        "rounds of {first}, largest {largest}"
    );
    check_matches_plaintext(&r, 1.0);
    assert!(r.max_weight_error < 1e-5, "{:e}", r.max_weight_error);
}

/// The round programs, run one after the other in plaintext, reproduce the reference trainer
/// (one run of K iterations) on real MNIST minibatches.
#[test]
fn round_programs_compose_to_the_reference_in_plaintext() {
    let p = prepare_mnist_3v8().unwrap();
    let batches: Vec<Matrix> = minibatches(&p.z_train().unwrap(), 128).unwrap();
    let iface = |output: &str| Interface {
        data_input: "Z".into(),
        output: output.into(),
        tunable: false,
    };
    for (file, method, output) in [
        ("logreg_gd.hel", Method::Gd, "beta"),
        ("logreg_nag.hel", Method::Nag, "v"),
    ] {
        let t = RoundTemplate::new(&example(file)).unwrap();
        let want = reference::train(&batches, &Config::new(method, 7)).unwrap();
        for per_round in [1, 2, 3, 7] {
            let plan = RoundPlan::split(7, per_round, String::new());
            let got = rounds::plaintext_rounds(&t, &plan, &iface(output), &batches, None).unwrap();
            let d = program::max_abs_diff(&got, &want.beta);
            assert!(d < 1e-12, "{file}, rounds of {per_round}: differs by {d:e}");
        }
    }
}

/// The parameter selection's error for a too-deep circuit is what the trainer takes as "use
/// rounds".
#[test]
fn too_deep_circuits_are_recognized() {
    let req = CompileRequest {
        sets: program::sets(24, 8, 3),
        passes: Default::default(),
        precision_bits: 20,
        params: None,
        fit_special_primes: false,
        max_log_n: 16,
        ..Default::default()
    };
    let err = compile(&example("logreg_gd.hel"), &req)
        .expect_err("24 minibatches do not fit one circuit");
    assert_eq!(err.code, Code::TooDeep, "{}", err.message);
}

/// A program far beyond the parameter budget is refused from its tensor depth, without being
/// lowered; one near the limit is still lowered (it may fit).
#[test]
fn far_too_deep_programs_are_not_lowered() {
    let req = |k: usize| CompileRequest {
        sets: program::sets(k, 1024, 197),
        passes: Default::default(),
        precision_bits: 20,
        params: None,
        fit_special_primes: false,
        max_log_n: 15,
        ..Default::default()
    };
    let nag = example("logreg_nag.hel");
    // N <= 2^15 at scale 2^40 holds 19 levels (NAG k = 7 compiles to exactly 19).
    assert_eq!(deepest_admissible(&req(32)), 19);
    let (depth, max) = far_too_deep(&nag, &req(32))
        .unwrap()
        .expect("k = 32: depth 62");
    assert_eq!((depth, max), (62, 19));
    // k = 8 is just too deep (depth 20 after lowering): close enough to be tried.
    assert_eq!(far_too_deep(&nag, &req(8)).unwrap(), None);
    assert_eq!(far_too_deep(&nag, &req(4)).unwrap(), None);
}

/// The deepest admissible circuit is found by a binary search: it is the last depth of the
/// scan from 1 up, for every ring cap and precision (the selection is monotone in the depth).
#[test]
fn deepest_admissible_is_the_last_depth_that_fits() {
    for max_log_n in 13..=16 {
        for precision_bits in [10, 20, 30, 40] {
            let req = CompileRequest {
                precision_bits,
                max_log_n,
                ..Default::default()
            };
            let params = req.param_request();
            let scanned = (1..=200)
                .take_while(|&d| hel_compiler::lower::params::select(d, &params, 0).is_ok())
                .last()
                .unwrap_or(0);
            assert!(scanned < 200);
            assert_eq!(
                deepest_admissible(&req),
                scanned,
                "N <= 2^{max_log_n}, {precision_bits} bits"
            );
        }
    }
}

/// What the early refusals rely on: the depth in products of two encrypted values
/// ([`least_depth`]) never exceeds the ciphertext depth, so nothing that fits is refused; and
/// on the training programs the lowering tracks the tensor depth within a level. (Small
/// minibatches, every level.)
#[test]
fn ciphertext_depth_is_at_least_the_encrypted_product_depth() {
    for name in ["logreg_gd.hel", "logreg_nag.hel"] {
        for level in [0, 1, 2] {
            for k in [1, 2, 3, 5] {
                let req = CompileRequest {
                    sets: program::sets(k, 16, 5),
                    passes: hel_compiler::passes::pipeline::Options {
                        level: [OptLevel::O0, OptLevel::O1, OptLevel::O2][level],
                        ..Default::default()
                    },
                    precision_bits: 20,
                    params: None,
                    fit_special_primes: false,
                    max_log_n: 16,
                    ..Default::default()
                };
                let c = compile(&example(name), &req).unwrap();
                let tensor = c.passes.last().unwrap().tensor_depth;
                let ct = c.report().depth;
                let least = least_depth(&c.program);
                assert!(
                    least <= ct && ct + 1 >= tensor,
                    "{name} -O{level} k = {k}: ciphertext depth {ct}, tensor depth {tensor}, \
                     encrypted products {least}"
                );
            }
        }
    }
}

#[test]
fn programs_that_are_not_the_reference_algorithm_are_refused() {
    let text = std::fs::read_to_string(root().join("examples/logreg_gd.hel"))
        .unwrap()
        .replace("const alpha = 1.0;", "const alpha = 2.0;");
    let src = SourceFile::new("doubled.hel", text);
    let e = train(&csv(&synthetic_csv()), &src, &opts(2, 32), &Quiet).unwrap_err();
    assert!(matches!(e, TrainError::Program(_)), "{e}");
    assert!(e.to_string().contains("does not compute"), "{e}");

    let src = SourceFile::new(
        "no_f.hel",
        "const k = 1; const m = 2; input Z: enc matrix[m, 3][k]; let b = zeros(3); \
         for i in 0..k { b = b + sum_rows(Z[i]); } output b;",
    );
    let e = train(&csv(&synthetic_csv()), &src, &opts(1, 32), &Quiet).unwrap_err();
    assert!(e.to_string().contains("no `const f`"), "{e}");
}

fn hel(args: &[&str]) -> Output {
    hel_in(root(), args)
}

fn hel_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}

/// `hel train` of the GD example on `data`, one minibatch of 32 rows, then `extra`.
fn small_gd_train<'a>(data: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", data.to_str().unwrap()];
    args.extend_from_slice(&SMALL_GD);
    args.extend_from_slice(extra);
    args
}

/// The GD example on one minibatch of 32 rows: the smallest real training.
const SMALL_GD: [&str; 6] = [
    "--program",
    "examples/logreg_gd.hel",
    "--minibatches",
    "1",
    "--batch-size",
    "32",
];

/// Outside a checkout the documented program paths still work (the examples are bundled),
/// and a file the user has at that path wins over the bundled copy.
#[test]
fn documented_programs_work_from_any_directory() {
    let data = synthetic_csv();
    let cwd = scratch_dir("cwd");
    let dir = cwd.path();
    let args = small_gd_train(&data, &["--json"]);
    let o = hel_in(dir, &args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("bundled with hel"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["program"], "logreg_gd.hel");

    // A local file of that name is read instead (here: one that does not compile).
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    std::fs::write(dir.join("examples/logreg_gd.hel"), "output nothing;").unwrap();
    let o = hel_in(dir, &args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("bundled with hel"), "{stderr}");
}

/// `--save-model` writes a model that reproduces the run's test metrics, refuses to replace a
/// file without `--force` (before training) and never replaces an input.
#[test]
fn save_model_writes_the_model_and_keeps_existing_files() {
    let data = synthetic_csv();
    let dir = scratch_dir("model");
    let path = dir.path().join("model.json");
    let file = path.to_str().unwrap();
    let o = hel(&small_gd_train(&data, &["--save-model", file, "--json"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let saved = std::fs::read(&path).unwrap();
    let m: Model = serde_json::from_slice(&saved).unwrap();
    assert_eq!(m.format, model::FORMAT);
    assert_eq!(m.method, "gd");
    assert_eq!(Some(m.weights.len() as u64), v["features"].as_u64());
    assert_eq!(m.scaling.n_features() + 1, m.weights.len());
    assert_eq!(m.feature_names.as_ref().map(Vec::len), Some(6));
    assert_eq!(Some(m.test_accuracy), v["accuracy"].as_f64());

    let o = hel(&small_gd_train(&data, &["--save-model", file]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(
        !stderr.contains("[server]"),
        "refused after training: {stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), saved);

    let input = data.to_str().unwrap();
    let o = hel(&small_gd_train(&data, &["--save-model", input, "--force"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to overwrite input"), "{stderr}");
}

/// `--plan-only` prints the plan as one JSON object (rounds, the estimate, each circuit, the
/// plaintext model) from the run's own planning, stops before any key, upload or server run,
/// and refuses the flags that need a trained model.
#[test]
fn plan_only_plans_without_running() {
    let data = synthetic_csv();
    // Three minibatches: with one, the client's first gradient is the whole (depth-0) run.
    let gd = |extra: &[&'static str]| {
        let mut args = vec!["train", "--data", data.to_str().unwrap()];
        args.extend_from_slice(&["--program", "examples/logreg_gd.hel", "--minibatches", "3"]);
        args.extend_from_slice(&["--batch-size", "32"]);
        args.extend_from_slice(extra);
        args
    };
    let o = hel(&gd(&["--plan-only", "--json"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for phase in ["[keygen]", "[encrypt]", "[server]", "[decrypt]"] {
        assert!(!stderr.contains(phase), "{phase} ran: {stderr}");
    }
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["round_sizes"], serde_json::json!([3]), "{v}");
    assert_eq!(v["refresh"]["chosen"]["refresh"], "client", "{v}");
    assert!(v["refresh"]["chosen"]["server_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["refresh"]["chosen"]["upload_bytes"].as_u64().unwrap() > 0);
    let circuit = &v["circuits"][0];
    assert_eq!(circuit["minibatches"], 3, "{v}");
    assert!(circuit["depth"].as_u64().unwrap() >= 2, "{v}");
    assert!(circuit["cost_model"]["work_seconds"].as_f64().unwrap() > 0.0);
    let accuracy = v["plaintext_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{v}");

    // The same run trained: the circuit it compiles is the planned one.
    let o = hel(&gd(&["--json"]));
    assert_eq!(o.status.code(), Some(0));
    let t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(t["depth"], circuit["depth"]);
    assert_eq!(t["log_n"], circuit["log_n"]);
    assert_eq!(t["plaintext_accuracy"], v["plaintext_accuracy"]);

    let o = hel(&small_gd_train(
        &data,
        &["--plan-only", "--save-model", "m.json"],
    ));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn json_is_exactly_one_object() {
    let data = synthetic_csv();
    let o = hel(&small_gd_train(&data, &["--threads", "2", "--json"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let obj = v.as_object().expect("a JSON object");
    for key in [
        "accuracy",
        "auc",
        "plaintext_accuracy",
        "plaintext_auc",
        "max_weight_error",
        "server_seconds",
        "depth",
        "log_n",
        "upload_bytes",
        "peak_memory_bytes",
        "rounds",
        "eval_key_bytes",
        "log_pq",
        "log_scale",
        "max_abs_inner",
        "design_scale",
    ] {
        assert!(obj.contains_key(key), "missing `{key}` in {stdout}");
    }
    assert_eq!(obj["rounds"], 1);
    assert_eq!(obj["accuracy"], obj["plaintext_accuracy"]);
    let cost = &v["circuits"][0]["cost_model"];
    assert!(cost["critical_path_seconds"].is_f64(), "{stdout}");
    assert!(cost.get("projected_seconds").is_none(), "{stdout}");
    // Progress and logs go to stderr, never into the JSON.
    assert!(stderr.contains("[server]"), "{stderr}");
}

/// `hel bench logreg --repeat`: every configuration runs that many times, and the ratios come
/// from the median runs. (One MNIST minibatch of 32 rows keeps the six trainings short.)
#[test]
fn bench_logreg_repeats_and_reports_medians() {
    let mut args = vec!["bench", "logreg"];
    args.extend_from_slice(&SMALL_GD);
    args.extend_from_slice(&["--skip-o1", "--repeat", "3", "--json"]);
    let o = hel(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "-O2 on 2 threads and on 1");
    let mut medians = Vec::new();
    for r in runs {
        let mut all: Vec<f64> = r["server_seconds_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(all.len(), 3, "{r}");
        all.sort_by(f64::total_cmp);
        assert_eq!(
            r["report"]["server_seconds"].as_f64().unwrap(),
            all[1],
            "{r}"
        );
        medians.push(all[1]);
    }
    let speedup = v["speedup"].as_f64().unwrap();
    assert!((speedup - medians[1] / medians[0]).abs() < 1e-12, "{v}");
    assert!(v["o1_over_o2"].is_null());
}

/// `hel bench logreg` with -O1: both circuits also run on one thread, and the one-thread ratio
/// is those runs' server times divided. No projection to wider machines is reported: the
/// one-operation-per-worker model it used was contradicted by a 16-core measurement
/// (docs/performance.md).
#[test]
fn bench_logreg_runs_both_circuits_on_one_thread_too() {
    let o = hel(&[
        "bench",
        "logreg",
        "--program",
        "examples/logreg_gd.hel",
        "--minibatches",
        "2",
        "--batch-size",
        "32",
        "--threads",
        "2",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let labels: Vec<&str> = runs.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "-O1, 2 threads",
            "-O2, 2 threads",
            "-O2, 1 thread",
            "-O1, 1 thread"
        ]
    );
    let report = |i: usize| &runs[i]["report"];
    for i in 0..4 {
        assert_eq!(
            report(i)["opt_level"],
            ["O1", "O2", "O2", "O1"][i],
            "{labels:?}"
        );
        assert!(report(i).get("server_projection").is_none(), "{i}");
    }
    let secs = |i: usize| report(i)["server_seconds"].as_f64().unwrap();
    let r = v["o1_over_o2"].as_f64().unwrap();
    assert!((r - secs(0) / secs(1)).abs() < 1e-12, "{v}");
    let r1 = v["o1_over_o2_one_thread"].as_f64().unwrap();
    assert!((r1 - secs(3) / secs(2)).abs() < 1e-12, "{v}");
    assert!(v.get("projected").is_none(), "{v}");
}

#[test]
fn user_errors_exit_with_1_and_say_what_is_wrong() {
    let bad = scratch_file("bad.csv", "a,b,label\n1,2,1\n3,x,0\n5,6,1\n");
    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec!["--data", bad.to_str().unwrap()],
            "bad.csv:3: column 2 (b): `x` is not a finite number",
        ),
        (
            vec![
                "--data",
                "tests/data/breast_cancer_head.csv",
                "--label-column",
                "diagnosis",
            ],
            "label column `diagnosis`",
        ),
        (
            vec!["--program", "no/such/program.hel"],
            "cannot read no/such/program.hel",
        ),
    ];
    for (args, msg) in cases {
        let mut all = vec!["train"];
        all.extend(&args);
        let o = hel(&all);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?}");
        // miette wraps long messages behind a `│` gutter.
        let flat = stderr
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(msg), "{args:?}: expected `{msg}` in {stderr}");
    }
}
