//! The tensor depths of logistic-regression training that README.md states ("Results so far"),
//! asserted exactly for many numbers of minibatches k:
//!
//! | program | -O0    | -O1    | -O2    |
//! |---------|--------|--------|--------|
//! | GD      | 6k - 1 | 3k - 2 | 2k - 2 |
//! | NAG     |        | 3k - 2 | 2k - 2 |
//!
//! -O2 was 2k - 1 until the depth model counted a constant times a view of an input (an
//! element, a transpose) as packed by the client, as the lowering does: the step size then
//! rides on the data for free, and the first iteration's level goes.
//!
//! At k = 1 the formula's 0 has its own reason: the single iteration starts from zero weights,
//! so its gradient `gamma * Z^T h(0)` is a product of data and constants that
//! `client-precompute` hands to the client: no ciphertext multiplication is left. (-O1 does
//! not precompute and keeps depth 1.) The README's -O0 column is empty for NAG;
//! the test pins the measured 7k - 1 so that a change shows. The depth model is
//! `analysis::depth`.

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

/// README: -O1 has depth 3k - 2 (GD and NAG).
fn o1_formula(k: u32) -> u32 {
    3 * k - 2
}

/// README: -O2 has depth 2k - 2 (GD and NAG); 0 at k = 1 (module docs).
fn o2_formula(k: u32) -> u32 {
    2 * k - 2
}

#[test]
fn gradient_descent_depth_is_6k_1_at_o0() {
    for k in 1..=12 {
        assert_eq!(
            depth("logreg_gd", OptLevel::O0, k),
            6 * k - 1,
            "GD -O0, k = {k}"
        );
    }
}

#[test]
fn gradient_descent_depth_is_3k_2_at_o1_and_2k_2_at_o2() {
    for k in 1..=32 {
        assert_eq!(
            depth("logreg_gd", OptLevel::O1, k),
            o1_formula(k),
            "GD -O1, k = {k}"
        );
        assert_eq!(
            depth("logreg_gd", OptLevel::O2, k),
            o2_formula(k),
            "GD -O2, k = {k}"
        );
    }
}

#[test]
fn nesterov_depth_is_3k_2_at_o1() {
    for k in (1..=12).chain([16, 20, 25, 29, 32]) {
        assert_eq!(
            depth("logreg_nag", OptLevel::O1, k),
            o1_formula(k),
            "NAG -O1, k = {k}"
        );
    }
}

#[test]
fn nesterov_depth_is_2k_2_at_o2() {
    // Every k up to 12, then spot checks (k = 32 alone takes a few seconds in a test build).
    for k in (1..=12).chain([16, 20, 25, 29, 32]) {
        assert_eq!(
            depth("logreg_nag", OptLevel::O2, k),
            o2_formula(k),
            "NAG -O2, k = {k}"
        );
    }
}

#[test]
fn nesterov_depth_at_o0_is_7k_1() {
    // Not in the README (its -O0 cell for NAG is empty): one level per iteration more than GD.
    for k in 1..=8 {
        assert_eq!(
            depth("logreg_nag", OptLevel::O0, k),
            7 * k - 1,
            "NAG -O0, k = {k}"
        );
    }
}

/// A decaying average `s = 0.99 s + 0.01 Z[i]` is a sum of constants times inputs, each
/// packed by the client: depth 0 however long, one input ciphertext per minibatch. The
/// pipeline's `collect-terms` makes it one scaling per term; before, the scalings were merged
/// through the chain by the driver's variant (`Rules::merge_scales`; priced one merge at a
/// time, each engine pass halved the depth: k = 1000: 62 after the passes, 94 at k = 1500,
/// refused as too deep), which is kept only where it is shallower: the flagship's NAG, the
/// same depth either way, keeps its unmerged program (15% less upload).
#[test]
fn a_decaying_average_is_depth_0_at_any_length() {
    use hel_compiler::driver::compile;
    use hel_compiler::{Options, SourceFile};
    let text = "const k = 8;\ninput Z: enc vector[8][k] range [-1, 1];\nlet s = zeros(8);\n\
                for i in 0..k { s = 0.99 * s + 0.01 * Z[i]; }\noutput s;\n";
    let src = SourceFile::new("ema.hel", text);
    for k in [8.0, 60.0, 200.0] {
        let o = Options {
            sets: vec![("k".into(), k)],
            ..Options::default()
        };
        let c = compile(&src, &o).unwrap_or_else(|d| panic!("{}", d.render_plain()));
        assert_eq!(c.report().depth, 0, "k = {k}: {:?}", c.notes);
        assert_eq!(c.report().input_ciphertexts, k as usize, "k = {k}");
    }
    let mut merged = hel_compiler::passes::pipeline::Options {
        level: OptLevel::O2,
        ..Default::default()
    };
    let nag = load("logreg_nag", &[("k", 6.0)]);
    let plain = Pipeline::with_options(merged).run(nag.clone(), None, &mut |_, _| {});
    merged.merge_scales = true;
    let with = Pipeline::with_options(merged).run(nag, None, &mut |_, _| {});
    let (plain, with) = (plain.unwrap(), with.unwrap());
    assert_eq!(analyze(&plain).tensor_depth, analyze(&with).tensor_depth);
}
