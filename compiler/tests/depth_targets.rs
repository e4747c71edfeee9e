//! Issue 3's tensor-depth targets for logistic regression, across the number of minibatches:
//! `-O1` at least as shallow as Han et al. (4k + 1), `-O2` at most 2k + 1 (Crockett-level and
//! below). The depth model is `analysis::depth`.

mod common;

use common::load;
use hel_compiler::analysis::analyze;
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};

fn depth(name: &str, level: OptLevel, k: u32) -> u32 {
    let p = load(name, &[("k", f64::from(k))]);
    let p = Pipeline::new(level)
        .run(p, None, &mut |_, _| {})
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    analyze(&p).tensor_depth
}

#[test]
fn gradient_descent_meets_both_targets_for_k_1_to_32() {
    for k in 1..=32 {
        let (o1, o2) = (
            depth("logreg_gd", OptLevel::O1, k),
            depth("logreg_gd", OptLevel::O2, k),
        );
        assert!(o1 <= 4 * k + 1, "GD k={k}: -O1 depth {o1} > {}", 4 * k + 1);
        assert!(o2 <= 2 * k + 1, "GD k={k}: -O2 depth {o2} > {}", 2 * k + 1);
        assert!(o2 <= o1, "GD k={k}: -O2 ({o2}) deeper than -O1 ({o1})");
    }
}

#[test]
fn nesterov_meets_the_o1_target_for_k_1_to_32() {
    for k in (1..=32).step_by(3) {
        let o1 = depth("logreg_nag", OptLevel::O1, k);
        assert!(o1 <= 4 * k + 1, "NAG k={k}: -O1 depth {o1} > {}", 4 * k + 1);
    }
}

#[test]
fn nesterov_meets_the_o2_target_for_k_1_to_32() {
    // Every k up to 12, then spot checks (k = 32 alone takes a few seconds in a test build).
    for k in (1..=12).chain([16, 20, 25, 29, 32]) {
        let o2 = depth("logreg_nag", OptLevel::O2, k);
        assert!(o2 <= 2 * k + 1, "NAG k={k}: -O2 depth {o2} > {}", 2 * k + 1);
    }
}

#[test]
fn o0_keeps_the_naive_depth() {
    // Nothing but unrolling and folding: each GD iteration pays for both products, the cube and
    // the constants.
    let o0 = depth("logreg_gd", OptLevel::O0, 3);
    let o1 = depth("logreg_gd", OptLevel::O1, 3);
    assert!(o0 > o1, "-O0 ({o0}) should be deeper than -O1 ({o1})");
}
