//! The client only prepares data (issue 20): a client-precomputed input is a product of at
//! most two data tensors (`plain` and `enc` inputs alike), and the server keeps the source's
//! multiplications on encrypted data.

use hel_compiler::analysis::client_work::{encrypted_products, ClientWork};
use hel_compiler::ir::{Op, Secrecy};
use hel_compiler::passes::depth_search::PRECOMPUTE_MAX_DEGREE;
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::{compile, Options, SourceFile};
use hel_schedule::Source;

fn options(level: OptLevel, sets: &[(&str, f64)]) -> Options {
    let mut o = Options {
        sets: sets.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..Options::default()
    };
    o.passes.level = level;
    o
}

fn example(name: &str) -> SourceFile {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    SourceFile::new(name, text)
}

/// Public features with encrypted labels: -O2 once turned the whole gradient-descent loop into
/// client-computed inputs (plain inputs counted as degree 0) and left the server subtractions.
/// Now the client computes at most `transpose(X) @ y`, and the server multiplies the encrypted
/// labels by the public matrix the iterations make.
#[test]
fn public_features_are_trained_by_the_server() {
    let sets = [("k", 3.0), ("m", 16.0), ("f", 4.0), ("alpha", 0.5)];
    let c = compile(
        &example("public_features.hel"),
        &options(OptLevel::O2, &sets),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    for d in &c.program.derived {
        assert!(
            d.degree <= PRECOMPUTE_MAX_DEGREE,
            "`{}` = {} has degree {}",
            d.name,
            d.description,
            d.degree
        );
    }
    assert!(encrypted_products(&c.program) >= 1, "{:?}", c.passes.last());
    assert!(c.report().depth >= 1, "depth {}", c.report().depth);
    let work = ClientWork::of(&c.program);
    assert!(work.extra_values <= 4, "{work:?}");
}

/// Public features make the iteration matrix public: re-association builds `Xᵀ @ X` and its
/// products (the server computes them in the clear), distributing them down to the labels,
/// and `combine-products` sums the public matrices that meet the same ciphertext: the trained
/// weights are one public matrix times the encrypted labels, one level whatever k (it was 93
/// levels at k = 32 when products of public matrices were never built, then 24 when the search
/// reached one iteration across).
#[test]
fn public_features_train_in_one_level() {
    let k = 32;
    let sets = [("k", k as f64), ("m", 16.0), ("f", 4.0), ("alpha", 0.5)];
    for level in [OptLevel::O1, OptLevel::O2] {
        let c = compile(&example("public_features.hel"), &options(level, &sets))
            .unwrap_or_else(|d| panic!("{}", d.render_plain()));
        let depth = c.report().depth;
        assert_eq!(depth, 1, "{level:?}: depth {depth} at k = {k}");
        assert_eq!(encrypted_products(&c.program), 1, "{level:?}");
        let gram = c.program.graph.nodes().any(|(_, n)| {
            n.op == Op::MatMul
                && n.ty.secrecy == Secrecy::Plain
                && n.args
                    .iter()
                    .all(|a| c.program.graph.node(*a).ty.secrecy == Secrecy::Plain)
        });
        assert!(gram, "no public product in {:?}", c.passes.last());
        let work = ClientWork::of(&c.program);
        assert!(work.extra_values <= 4, "{work:?}");
    }
}

/// A matrix state moved by public matrices on both sides (`M <- P M Pᵀ + E`, a discrete
/// Lyapunov iteration): distributing the public factors over the sum and re-associating the
/// chains into public products (`(P @ P) @ E @ (Pᵀ @ Pᵀ)`) keeps each term two plaintext
/// products deep. Before matrix products had those rewrites, -O1 and -O2 were 34 and 31 levels
/// at k = 6 (N = 2^16, 77 and 60 s of estimated work); now 19 and 13 (N = 2^15).
#[test]
fn public_matrix_chains_are_reassociated_on_both_sides() {
    let src = SourceFile::new(
        "lyapunov.hel",
        "const d = 6;\nconst k = 6;\ninput P: plain matrix[d, d] range [-0.3, 0.3];\n\
         input E: enc matrix[d, d] range [-0.1, 0.1];\nlet M = E;\n\
         for i in 0..k {\n    M = P @ M @ transpose(P) + E;\n}\noutput M;\n",
    );
    let depth = |level| {
        compile(&src, &options(level, &[]))
            .unwrap_or_else(|d| panic!("{level:?}: {}", d.render_plain()))
            .report()
            .depth
    };
    let (o0, o1, o2) = (
        depth(OptLevel::O0),
        depth(OptLevel::O1),
        depth(OptLevel::O2),
    );
    assert!(o1 <= 20 && o2 <= 14, "-O0 {o0}, -O1 {o1}, -O2 {o2}");
    assert!(o2 < o1 && o1 < o0, "-O0 {o0}, -O1 {o1}, -O2 {o2}");
}

/// A program that is one data product: precomputing it would leave the server nothing, so the
/// server computes it and the compiler says why.
#[test]
fn a_program_that_is_one_data_product_stays_on_the_server() {
    let src = SourceFile::new(
        "xty.hel",
        "input X: plain matrix[8, 3] range [-1, 1];\ninput y: enc vector[8] range [-1, 1];\n\
         let g = transpose(X) @ y;\noutput g;\n",
    );
    let c = compile(&src, &options(OptLevel::O2, &[]))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert!(c.program.derived.is_empty(), "{:?}", c.program.derived);
    assert_eq!(encrypted_products(&c.program), 1);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("client-side precomputation is off")),
        "{:?}",
        c.notes
    );
}

/// The flagship keeps its cross-minibatch Grams (products of two minibatches, degree 2) and the
/// report counts what the client pays for them.
#[test]
fn the_flagship_client_work_is_reported() {
    let sets = [("k", 3.0), ("m", 8.0), ("f", 5.0)];
    let c = compile(&example("logreg_gd.hel"), &options(OptLevel::O2, &sets))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let w = c.client;
    assert!(w.derived_inputs >= 1, "{w:?}");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    // Z[i+1] @ transpose(Z[i]) is 8 x 8 from two 8 x 5 minibatches: 2 * 8 * 5 flops a value.
    assert!(w.flops >= 2 * 5 * w.extra_values / 2, "{w:?}");
    assert_eq!(w.data_values, 3 * 8 * 5, "{w:?}");
    for d in &c.program.derived {
        assert!(d.degree <= PRECOMPUTE_MAX_DEGREE, "{}", d.description);
    }
    // The upload they add, counted from the schedule's input ciphertexts by their source.
    let s = c.schedule();
    let bytes = |derived: bool| -> u64 {
        let n = 1u64 << s.params.log_n;
        s.ct_inputs
            .iter()
            .filter(|ct| matches!(ct.pack.source, Source::Derived { .. }) == derived)
            .map(|ct| {
                let bits: u64 = s.params.q_bits[..=ct.level as usize]
                    .iter()
                    .map(|&b| u64::from(b))
                    .sum();
                bits * n / 8 + 32
            })
            .sum()
    };
    assert_eq!(w.extra_upload_bytes, Some(bytes(true)), "{w:?}");
    assert_eq!(w.data_upload_bytes, Some(bytes(false)), "{w:?}");
    assert!(bytes(true) > 0 && bytes(false) > 0, "{w:?}");
    let ratio = w.upload_ratio().expect("the data is uploaded");
    assert!((ratio - bytes(true) as f64 / bytes(false) as f64).abs() < 1e-12);
}

/// Where the schedule uploads no ciphertext of the data itself (ridge regression at -O2 sends
/// only `Xᵀ X` and `Xᵀ y`), the extra upload has no ratio to it.
#[test]
fn an_upload_of_derived_inputs_only_has_no_ratio() {
    let c = compile(&example("ridge.hel"), &options(OptLevel::O2, &[]))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let w = c.client;
    assert_eq!(w.data_upload_bytes, Some(0), "{w:?}");
    assert!(w.extra_upload_bytes.is_some_and(|b| b > 0), "{w:?}");
    assert_eq!(w.upload_ratio(), None);
}

/// The depth search knows the client's budget: under `--client-precompute 2x`, PCA by power
/// iteration (X 32 x 6) keeps -O2's depth with the features-by-features `Xᵀ X` on the client
/// (36 values) instead of planning the samples-by-samples `X Xᵀ` (1,024 values, more than
/// twice the 192 of the data), which the budget then refused, leaving -O1's depth 7.
#[test]
fn the_depth_search_plans_within_the_client_budget() {
    let mut o = options(OptLevel::O2, &[]);
    o.passes.client_precompute = "2x".parse().expect("a budget");
    let c =
        compile(&example("pca_power.hel"), &o).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let work = ClientWork::of(&c.program);
    assert!(
        work.extra_values <= 2 * work.data_values,
        "{work:?} over the budget"
    );
    assert!(work.derived_inputs > 0, "{work:?}: nothing precomputed");
    assert!(c.report().depth <= 5, "depth {}", c.report().depth);
    assert_eq!(c.level, OptLevel::O2, "{:?}", c.notes);
}

/// The client's budget holds for all its products together, and no expanding product of data
/// (samples by samples out of two minibatches) is left to the server. GD with minibatches of
/// 64 x 8 under `2x`: each cross-minibatch Gram (64 x 64) is 0.7 of the data, so two fit of the
/// four the unbounded plan uses; the search once planned all four (each fits alone) and left
/// the two the budget refused to the server as encrypted matrix products.
#[test]
fn the_client_budget_holds_for_all_products_together() {
    let sets = [("k", 6.0), ("m", 64.0), ("f", 8.0)];
    let mut o = options(OptLevel::O2, &sets);
    o.passes.client_precompute = "2x".parse().expect("a budget");
    let c =
        compile(&example("logreg_gd.hel"), &o).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let work = ClientWork::of(&c.program);
    assert!(
        work.extra_values <= 2 * work.data_values,
        "{work:?} over the budget"
    );
    let g = &c.program.graph;
    for (id, n) in g.nodes() {
        let encrypted = |k: usize| g.node(n.args[k]).ty.secrecy == Secrecy::Enc;
        if n.op == Op::MatMul && encrypted(0) && encrypted(1) {
            let larger = n
                .args
                .iter()
                .map(|a| g.node(*a).ty.shape.len())
                .max()
                .unwrap_or(0);
            assert!(
                n.ty.shape.len() <= larger,
                "{id:?}: the server multiplies two encrypted matrices into a larger one ({})",
                n.ty.shape
            );
        }
    }
    // The budget still buys depth: shallower than -O1, which precomputes nothing.
    let o1 = compile(&example("logreg_gd.hel"), &options(OptLevel::O1, &sets))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert_eq!(c.level, OptLevel::O2, "{:?}", c.notes);
    assert!(work.derived_inputs > 0, "{work:?}: nothing precomputed");
    assert!(
        c.report().depth < o1.report().depth,
        "-O2 under 2x: depth {}, -O1: {}",
        c.report().depth,
        o1.report().depth
    );
}
