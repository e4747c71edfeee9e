//! Compile time of the flagship program: `logreg_nag.hel` at k = 32, -O2, m = 1024, f = 197
//! (target: under a second, growing linearly in k). Run with `cargo bench -p hel-compiler`.

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

criterion_group!(benches, bench);
criterion_main!(benches);
