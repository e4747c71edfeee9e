//! Compile time. The flagship program's passes: `logreg_nag.hel` at k = 32, -O2, m = 1024,
//! f = 197 (target: under a second, growing linearly in k). The examples zoo, whole (front end,
//! passes at -O2 with the lower levels the driver compares, lowering, plaintext check) at the
//! sizes the files declare (target: each under 2 s). Run with `cargo bench -p hel-compiler`.

use criterion::{criterion_group, criterion_main, Criterion};
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};
use hel_compiler::SourceFile;

fn compile(text: &str, k: u32) -> usize {
    let src = SourceFile::new("logreg_nag.hel", text);
    let p =
        hel_compiler::frontend(&src, &[("k".to_string(), f64::from(k))]).expect("valid example");
    let p = Pipeline::new(OptLevel::O2)
        .run(p, None, &mut |_, _| {})
        .expect("compiles");
    p.graph.len()
}

fn bench(c: &mut Criterion) {
    let text = include_str!("../../examples/logreg_nag.hel");
    let mut group = c.benchmark_group("compile logreg_nag -O2");
    group.sample_size(10);
    for k in [8u32, 16, 32] {
        group.bench_function(format!("k={k}"), |b| b.iter(|| compile(text, k)));
    }
    group.finish();
}

/// The zoo programs of `docs/examples.md`, compiled whole at -O2.
fn bench_zoo(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut group = c.benchmark_group("compile zoo -O2");
    group.sample_size(10);
    for name in [
        "linreg_gd",
        "ridge",
        "pca_power",
        "column_stats",
        "public_features",
        "ovr_logreg",
        "covariance",
        "mlp_step",
        "kmeans_step",
        "newton_schulz",
        "logreg_gd",
        "logreg_nag",
    ] {
        let path = format!("{dir}/{name}.hel");
        let text = std::fs::read_to_string(&path).expect("example");
        let src = SourceFile::new(format!("{name}.hel"), text);
        let options = hel_compiler::Options::default();
        group.bench_function(name, |b| {
            b.iter(|| {
                hel_compiler::compile(&src, &options)
                    .expect("compiles")
                    .schedule()
                    .nodes
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_zoo);
criterion_main!(benches);
