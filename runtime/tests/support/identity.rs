//! A hand-built schedule whose server program does nothing: every input ciphertext is an
//! `Instr::Input` node and an output reads it back. Decrypting the encrypted inputs as outputs
//! therefore returns the inputs, which makes a client round trip testable without an executor.
//! Shared by `runtime/tests/client.rs` and the CLI tests (`tests/client_cli.rs`, via `#[path]`).
#![allow(dead_code)]

use hel_runtime::ckks::CkksParams;
use hel_runtime::schedule::{
    level_scales, ClientOp, CtInput, DerivedTensor, Instr, Layout, Node, Origin, OutputTile, Pack,
    Schedule, Shape, Source, Tensor, TensorInput, TensorOutput, Unit,
};

/// Input indices of [`identity_schedule`].
pub const X: u32 = 0; // enc vector[5], range [-4, 4]
pub const W: u32 = 1; // enc matrix[3, 4]
pub const Z: u32 = 2; // enc matrix[2, 3] sequence of 2
pub const B: u32 = 3; // plain vector[3]
pub const S: u32 = 4; // enc scalar

/// The identity schedule at N = 2^log_n (standard chain) for program `hash`.
///
/// Encrypted inputs (ct index: what, level, factor):
/// 0: x as a row vector, top level, factor 1;
/// 1: W as a matrix tile, level 1, factor 0.5 (unpacking must divide it out);
/// 2, 3: Z[0], Z[1] as matrix tiles, top level;
/// 4: the derived tensor D = Z[1] @ transpose(Z[0]) (matrix[2, 2], client precomputation);
/// 5: s as a scalar, level 0.
/// Outputs, in order: x, W, Z0, Z1, D, s. `b` is a plain input no node reads.
pub fn identity_schedule(log_n: u32, hash: &str) -> Schedule {
    let params = CkksParams::standard(log_n).unwrap();
    let q = params.primes().unwrap().q;
    let scales = level_scales(&q, params.log_scale);
    let top = params.max_level() as u32;
    let slots = params.slots();
    let w = 1usize << (slots.trailing_zeros() / 2);
    let unit = Unit { h: slots / w, w };
    let tile = Layout::MatrixTile {
        transposed: false,
        row0: 0,
        col0: 0,
    };
    let input = |name: &str, shape, seq, encrypted, range| TensorInput {
        name: name.into(),
        shape,
        seq,
        encrypted,
        range,
        refreshed_from: None,
    };
    let inputs = vec![
        input("x", Shape::Vector(5), None, true, Some((-4.0, 4.0))),
        input("W", Shape::Matrix(3, 4), None, true, None),
        input("Z", Shape::Matrix(2, 3), Some(2), true, None),
        input("b", Shape::Vector(3), None, false, None),
        input("s", Shape::Scalar, None, true, None),
    ];
    let derived = vec![DerivedTensor {
        name: "D".into(),
        description: "Z[1] @ transpose(Z[0])".into(),
        shape: Shape::Matrix(2, 2),
        ops: vec![
            ClientOp::Input {
                input: Z,
                element: 1,
            },
            ClientOp::Input {
                input: Z,
                element: 0,
            },
            ClientOp::Transpose(1),
            ClientOp::MatMul(0, 2),
        ],
    }];
    let ct = |source, layout, factor, level: u32| CtInput {
        pack: Pack {
            source,
            layout,
            factor,
        },
        level,
        scale: scales[level as usize],
    };
    let src = |input, element| Source::Input { input, element };
    let ct_inputs = vec![
        ct(src(X, 0), Layout::RowVector { offset: 0 }, 1.0, top),
        ct(src(W, 0), tile, 0.5, 1),
        ct(src(Z, 0), tile, 1.0, top),
        ct(src(Z, 1), tile, 1.0, top),
        ct(Source::Derived { index: 0 }, tile, 1.0, top),
        ct(src(S, 0), Layout::Scalar, 1.0, 0),
    ];
    let nodes = ct_inputs
        .iter()
        .enumerate()
        .map(|(i, c)| Node {
            instr: Instr::Input { index: i as u32 },
            level: c.level,
            scale: c.scale,
            degree: 1,
            bound: 1e-6,
            origin: Origin::default(),
            last_use: None,
        })
        .collect();
    let out = |name: &str, shape, value, layout, factor| TensorOutput {
        name: name.into(),
        shape,
        tiles: vec![OutputTile {
            value,
            layout,
            factor,
        }],
        bound: 1e-6,
        range: 4.0,
    };
    let outputs = vec![
        out(
            "x",
            Shape::Vector(5),
            0,
            Layout::RowVector { offset: 0 },
            1.0,
        ),
        out("W", Shape::Matrix(3, 4), 1, tile, 0.5),
        out("Z0", Shape::Matrix(2, 3), 2, tile, 1.0),
        out("Z1", Shape::Matrix(2, 3), 3, tile, 1.0),
        out("D", Shape::Matrix(2, 2), 4, tile, 1.0),
        out("s", Shape::Scalar, 5, Layout::Scalar, 1.0),
    ];
    let schedule = Schedule {
        name: "identity.hel".into(),
        program_hash: hash.into(),
        params,
        level_scales: scales,
        unit,
        inputs,
        derived,
        ct_inputs,
        nodes,
        outputs,
        rotation_steps: vec![-1, 1, 4],
        needs_conjugation: true,
        hoist_groups: vec![],
        bootstrap: None,
    };
    schedule.validate().unwrap();
    schedule
}

/// Deterministic test values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Inputs for [`identity_schedule`] (x, W, Z[0..2], b, s).
pub fn sample_inputs(seed: u64) -> Vec<Vec<Tensor>> {
    let t = |shape: Shape, k: u64| Tensor {
        shape,
        data: values(shape.len(), seed * 10 + k),
    };
    let mut x = t(Shape::Vector(5), 0);
    x.data[0] = 3.5; // inside the declared range [-4, 4], outside [-1, 1]
    vec![
        vec![x],
        vec![t(Shape::Matrix(3, 4), 1)],
        vec![t(Shape::Matrix(2, 3), 2), t(Shape::Matrix(2, 3), 3)],
        vec![t(Shape::Vector(3), 4)],
        vec![t(Shape::Scalar, 5)],
    ]
}

/// What the outputs of [`identity_schedule`] should decrypt to.
pub fn expected_outputs(inputs: &[Vec<Tensor>]) -> Vec<Tensor> {
    let z0 = &inputs[Z as usize][0];
    let z1 = &inputs[Z as usize][1];
    let mut d = vec![0.0; 4];
    for i in 0..2 {
        for j in 0..2 {
            d[i * 2 + j] = (0..3)
                .map(|k| z1.data[i * 3 + k] * z0.data[j * 3 + k])
                .sum();
        }
    }
    vec![
        inputs[X as usize][0].clone(),
        inputs[W as usize][0].clone(),
        z0.clone(),
        z1.clone(),
        Tensor {
            shape: Shape::Matrix(2, 2),
            data: d,
        },
        inputs[S as usize][0].clone(),
    ]
}

/// Worst-case decryption error of a fresh secret-key encryption at `scale`, divided by the
/// packing factor: the slot error is the canonical embedding of the noise `e + r` (encryption
/// error `|e_i| ≤ 6σ`, encoding rounding `|r_i| ≤ 1/2`), and `|Σ_i c_i ζ^i| ≤ N · max|c_i|`.
/// Far above the typical error (≈ sqrt(N)·σ/scale) but never exceeded.
pub fn fresh_tolerance(n: usize, scale: f64, factor: f64) -> f64 {
    let per_coeff =
        hel_runtime::ckks::sampling::SIGMA * hel_runtime::ckks::sampling::TAIL_SIGMAS + 0.5;
    n as f64 * per_coeff / scale / factor.abs() + 1e-12
}
