//! Data that drives a value beyond what the compiled parameters hold is refused when it is
//! encrypted, naming the value, instead of decrypting to garbage.
//!
//! The compiler sizes the modulus chain from the declared ranges where interval arithmetic is
//! tight, and from sample data times a margin where it is not: `((s·q)^3)^3` on `[-0.5, 2]`
//! spans nine orders of magnitude between typical and extreme inputs, so its chain holds the
//! typical ones. Found by the random encrypted programs (a seed whose inputs sat near the top
//! of both ranges decrypted 49146 for 1053815, with a predicted bound of 2e-4).

mod common;
use hel_compiler::{compile, Options, SourceFile};
use hel_runtime::ckks::Sampler;
use hel_runtime::schedule::{Shape, Tensor};

const PROGRAM: &str = "\
input s: enc scalar range [-0.5, 2];
input q: plain scalar range [-0.5, 2];
input A: enc matrix[7, 7] range [-1000, 1000];
let v = (A / 1000) @ (((s * q)^3)^3 * A);
output v;
";

fn inputs(s: f64, q: f64, a: f64) -> Vec<Vec<Tensor>> {
    let scalar = |v| Tensor {
        shape: Shape::Scalar,
        data: vec![v],
    };
    let a = Tensor {
        shape: Shape::Matrix(7, 7),
        data: (0..49)
            .map(|i| if i % 2 == 0 { a } else { -a / 3.0 })
            .collect(),
    };
    vec![vec![scalar(s)], vec![scalar(q)], vec![a]]
}

fn reference(s: f64, q: f64, a: f64) -> f64 {
    // Row 0 of A/1000 times column 0 of c·A, with c = (s q)^9: entries alternate a, -a/3.
    let c = (s * q).powi(9);
    let row: Vec<f64> = (0..7)
        .map(|j| if j % 2 == 0 { a } else { -a / 3.0 })
        .collect();
    let col: Vec<f64> = (0..7)
        .map(|i| if (i * 7) % 2 == 0 { a } else { -a / 3.0 })
        .collect();
    row.iter()
        .zip(&col)
        .map(|(r, c2)| r / 1000.0 * c * c2)
        .sum()
}

#[test]
fn extreme_data_is_refused_at_encryption_typical_data_runs() {
    let src = SourceFile::new("headroom.hel", PROGRAM);
    let compiled = compile(&src, &Options::default()).unwrap();
    let schedule = compiled.schedule();
    let mut rng = Sampler::seeded_for_testing_only(7);

    // Typical data: encrypted, within the predicted bound of an f64 reference.
    let (s, q, a) = (0.9, 0.8, 300.0);
    let got = common::round_trip(schedule, &inputs(s, q, a), &mut rng).unwrap();
    let want = reference(s, q, a);
    let err = (got[0].data[0] - want).abs();
    assert!(
        err <= schedule.outputs[0].bound,
        "{} vs {want}: error {err:e}, bound {:e}",
        got[0].data[0],
        schedule.outputs[0].bound
    );

    // Both scalars at the top of their ranges, A at its extremes: (s q)^9 = 262144.
    let e = common::round_trip(schedule, &inputs(2.0, 2.0, 1000.0), &mut rng).unwrap_err();
    assert!(
        e.starts_with("encrypt:") && e.contains("beyond") && e.contains("headroom.hel:4"),
        "{e}"
    );
}
