//! The compiler's per-node error bounds hold on a real encrypted run, node by node (the debug
//! evaluator decrypts every node and compares it with the slot-level reference), for a program
//! whose intermediate values are far from order one.
//!
//! Regression: `X^T X` over 300 rows sums to about 100 before it is scaled down, and the
//! product with the scaling mask errs by the mask's rounding times that magnitude. The noise
//! model counted that rounding as an absolute error, and the debug evaluator found the
//! encrypted product 1.2-1.3x beyond its bound on every data set tried.

mod common;
use common::{debug_run_args, encrypt_args, hel};
use rand::{Rng, SeedableRng};

const PROGRAM: &str = "\
const m = 300;
const f = 40;
input X: enc matrix[m, f] range [-1, 1];
input y: enc vector[m] range [-1, 1];
let g = transpose(X) @ y / m;
let H = transpose(X) @ X / m;
let b = g - 0.1 * H @ g;
output b;
";

fn csv(rows: usize, cols: usize, rng: &mut rand_chacha::ChaCha8Rng) -> String {
    (0..rows)
        .map(|_| {
            (0..cols)
                .map(|_| format!("{:.6}", rng.random_range(-1.0..=1.0)))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect()
}

#[test]
fn every_node_within_its_bound_on_sums_of_many_products() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("p.hel"), PROGRAM).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    std::fs::write(d.join("x.csv"), csv(300, 40, &mut rng)).unwrap();
    std::fs::write(d.join("y.csv"), csv(300, 1, &mut rng)).unwrap();
    let ok = |args: &[&str]| {
        let out = hel(d, args);
        assert!(
            out.status.success(),
            "hel {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    ok(&["compile", "p.hel", "-O0", "-o", "p.helc"]);
    ok(&["keygen", "p.helc", "--out", "keys"]);
    let inputs = ["X=x.csv", "y=y.csv"];
    ok(&encrypt_args("p.helc", &inputs, "in.hct"));
    let report = ok(&debug_run_args("p.helc", &inputs));
    assert!(
        report.contains("within the compiler's error bounds"),
        "{report}"
    );
}
