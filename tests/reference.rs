//! The plaintext reference reproduces the numbers of notes Appendix A (numpy) on the bundled
//! MNIST 3-vs-8, and the pipelined u-recurrence agrees with the baseline.

use hel::data::{minibatches, prepare::prepare_mnist_3v8, Matrix};
use hel::metrics::{evaluate, Evaluation};
use hel::reference::{train, train_pipelined, Config, Method, H_DOMAIN};

struct Fixture {
    batches: Vec<Matrix>,
    z_test: Matrix,
}

fn fixture() -> Fixture {
    let p = prepare_mnist_3v8().expect("bundled MNIST loads");
    let z = p.z_train().unwrap();
    assert_eq!((z.rows(), z.cols()), (11_982, 197));
    let batches = minibatches(&z, 1024).unwrap();
    assert_eq!(batches.len(), 11);
    Fixture {
        batches,
        z_test: p.z_test().unwrap(),
    }
}

/// Trains, checks the pipelined variant agrees to 1e-12, and returns the test metrics.
fn run(fx: &Fixture, method: Method, k: usize) -> Evaluation {
    let cfg = Config::new(method, k);
    let base = train(&fx.batches, &cfg).unwrap();
    let pipe = train_pipelined(&fx.batches, &cfg).unwrap();
    let diff = base
        .beta
        .iter()
        .zip(&pipe.beta)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        diff <= 1e-12,
        "{method:?} k={k}: |pipelined - baseline| = {diff:e}"
    );
    assert!(
        base.max_abs_inner <= H_DOMAIN,
        "{method:?} k={k}: max |Z v| = {} leaves the polynomial's domain",
        base.max_abs_inner
    );
    let e = evaluate(&fx.z_test, &base.beta);
    println!(
        "{method:?} k={k:2}: acc={:.6} auc={:.6} |pipelined-baseline|={diff:.1e} max|Zv|={:.2}",
        e.accuracy,
        e.auc.unwrap(),
        base.max_abs_inner
    );
    e
}

fn assert_close(what: &str, got: f64, want: f64) {
    // Appendix A prints 4 decimals; anything beyond rounding means a different algorithm.
    assert!(
        (got - want).abs() <= 5e-5 + 1e-12,
        "{what}: got {got:.6}, reference {want:.4}"
    );
}

#[test]
fn reproduces_appendix_a_numbers() {
    let fx = fixture();
    for (method, k, acc, auc) in [
        (Method::Gd, 6, 0.9118, 0.9735),
        (Method::Gd, 32, 0.9491, 0.9865),
        (Method::Nag, 6, 0.9113, 0.9737),
        (Method::Nag, 32, 0.9637, 0.9925),
    ] {
        let e = run(&fx, method, k);
        assert_close(&format!("{method:?} k={k} accuracy"), e.accuracy, acc);
        assert_close(&format!("{method:?} k={k} AUC"), e.auc.unwrap(), auc);
    }
}

/// User CSV data goes through the same path: standardisation keeps |Z v| inside the cubic's
/// domain here and the model separates the classes (breast-cancer fixture, 60 rows, m = 16).
/// Note: this is "in practice", not a guarantee. On the full breast-cancer file (m = 128) NAG
/// reaches max |Z v| ≈ 16.8 at k = 32, which is why `Trained::max_abs_inner` is reported.
#[test]
fn csv_data_trains_inside_the_polynomial_domain() {
    use hel::data::csv::CsvOptions;
    use hel::data::prepare::{prepare_csv, TestSource};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/breast_cancer_head.csv");
    let prep = prepare_csv(&path, &TestSource::default(), &CsvOptions::default(), 1).unwrap();
    let batches = minibatches(&prep.z_train().unwrap(), 16).unwrap();
    assert_eq!(batches.len(), 3);
    for method in [Method::Gd, Method::Nag] {
        let t = train(&batches, &Config::new(method, 32)).unwrap();
        let e = evaluate(&prep.z_test().unwrap(), &t.beta);
        assert!(
            t.max_abs_inner <= H_DOMAIN,
            "{method:?}: {}",
            t.max_abs_inner
        );
        assert!(
            e.accuracy >= 0.9 && e.auc.unwrap() >= 0.99,
            "{method:?}: {e:?}"
        );
    }
}
