//! Data that drives a value beyond what the compiled parameters hold is refused when it is
//! encrypted, naming the value, instead of decrypting to garbage.
//!
//! The compiler sizes the modulus chain from the declared ranges where interval arithmetic is
//! tight, and from sample data times a margin where it is not. Inside a loop, where a range's
//! extremes may be an iteration diverging on degenerate data, `t = t * t * t` from a mean of
//! 256 entries of `[-1, 1]` (times 16) spans twenty orders of magnitude between typical
//! and extreme inputs, so its chain holds the typical ones. (Outside loops the extremes are
//! held where the interval bound confirms them: `((s·q)^3)^3` on `[-0.5, 2]`, which this test
//! used before, now runs at the top of both ranges; tests/ranges.rs.) Found by the random
//! encrypted programs (a seed whose inputs sat near the top of both ranges decrypted 49146 for
//! 1053815, with a predicted bound of 2e-4).

mod common;
use hel_compiler::{compile, Options, SourceFile};
use hel_runtime::ckks::Sampler;
use hel_runtime::schedule::{Shape, Tensor};

const PROGRAM: &str = "\
input x: enc vector[256] range [-1, 1];
let t = dot(x, ones(256)) / 16;
for i in 0..2 {
  t = t * t * t;
}
output t;
";

fn inputs(x: &[f64]) -> Vec<Vec<Tensor>> {
    vec![vec![Tensor {
        shape: Shape::Vector(256),
        data: x.to_vec(),
    }]]
}

fn reference(x: &[f64]) -> f64 {
    (x.iter().sum::<f64>() / 16.0).powi(9)
}

#[test]
fn extreme_data_is_refused_at_encryption_typical_data_runs() {
    let src = SourceFile::new("headroom.hel", PROGRAM);
    let compiled = compile(&src, &Options::default()).unwrap();
    let schedule = compiled.schedule();
    let mut rng = Sampler::seeded_for_testing_only(7);

    // Typical data: encrypted, within the predicted bound of an f64 reference.
    let x: Vec<f64> = (0..256)
        .map(|i| ((i * 37 % 101) as f64 - 50.0) / 50.0)
        .collect();
    let got = common::round_trip(schedule, &inputs(&x), &mut rng).unwrap();
    let want = reference(&x);
    let err = (got[0].data[0] - want).abs();
    assert!(
        err <= schedule.outputs[0].bound,
        "{} vs {want}: error {err:e}, bound {:e}",
        got[0].data[0],
        schedule.outputs[0].bound
    );

    // Every entry at the top of the range: t = 16^9 = 6.9e10.
    let e = common::round_trip(schedule, &inputs(&[1.0; 256]), &mut rng).unwrap_err();
    assert!(
        e.starts_with("encrypt:") && e.contains("beyond") && e.contains("headroom.hel:4"),
        "{e}"
    );
}
