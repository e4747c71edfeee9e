//! Predicted error bounds: for every node, a bound on the absolute error of its slots (encrypted
//! vs exact), from a standard CKKS noise model propagated through the schedule.
//!
//! Noise sources (canonical embedding, 6 standard deviations, uniform ternary secret of
//! Hamming weight ≈ 2N/3, error σ = 3.2):
//! - fresh secret-key encryption + encoding rounding: `6·sqrt(N·(σ² + 1/12)) / S`;
//! - rescale rounding and key switching (relinearize, rotate): `6·sqrt(N/12·(1 + 2N/3)) / S`
//!   at the result's scale `S`;
//! - plaintext/constant encoding: relative `6·sqrt(N/12) / S_pt`.
//!
//! Propagation needs magnitudes: `|x·y - x'·y'| ≤ |x|·e_y + |y|·e_x + e_x·e_y`. Interval
//! arithmetic from the declared input ranges is far too loose for deep circuits (it grows by
//! the vector length at every product), so the magnitudes come from a slot-level simulation on
//! random inputs drawn from the declared ranges (seeded), times a margin of 4. The bounds are
//! therefore heuristic; the debug evaluator checks them against the real encrypted run.

use hel_runtime::schedule::{simulate_values, Instr, Plain, Schedule, Source, Tensor};
use rand::{Rng, SeedableRng};

use crate::ir::Program;

const SIGMA: f64 = 3.2;
const MAGNITUDE_MARGIN: f64 = 4.0;

/// Random inputs within the declared ranges (`[-1, 1]` when none is declared).
pub fn random_inputs(s: &Schedule, seed: u64) -> Vec<Vec<Tensor>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    s.inputs
        .iter()
        .map(|i| {
            let (lo, hi) = i.range.unwrap_or((-1.0, 1.0));
            (0..i.elements())
                .map(|_| Tensor {
                    shape: i.shape,
                    data: (0..i.shape.len())
                        .map(|_| {
                            if hi > lo {
                                rng.random_range(lo..=hi)
                            } else {
                                lo
                            }
                        })
                        .collect(),
                })
                .collect()
        })
        .collect()
}

/// Fills in `Node::bound` and `TensorOutput::bound`.
pub fn annotate(s: &mut Schedule, _p: &Program) {
    let n = s.params.n() as f64;
    let fresh = |scale: f64| 6.0 * (n * (SIGMA * SIGMA + 1.0 / 12.0)).sqrt() / scale;
    let round = |scale: f64| 6.0 * (n / 12.0 * (1.0 + 2.0 * n / 3.0)).sqrt() / scale;
    let encode = |scale: f64| 6.0 * (n / 12.0).sqrt() / scale;
    let mags: Vec<f64> = match simulate_values(s, &random_inputs(s, 0x68_656c)) {
        Ok(vals) => vals
            .iter()
            .map(|v| v.iter().fold(0.0f64, |m, x| m.max(x.abs())) * MAGNITUDE_MARGIN)
            .collect(),
        Err(_) => vec![1.0; s.nodes.len()],
    };
    let plain_mag = |p: &Plain| -> f64 {
        match p {
            Plain::Rect { value, .. } | Plain::Diagonal { value, .. } => value.abs(),
            Plain::Public { pack } => {
                let r = match pack.source {
                    Source::Input { input, .. } => {
                        s.inputs.get(input as usize).and_then(|i| i.range)
                    }
                    Source::Derived { .. } => None,
                };
                r.map_or(1.0, |(lo, hi)| lo.abs().max(hi.abs())) * pack.factor.abs()
            }
        }
    };
    let mut bounds: Vec<f64> = Vec::with_capacity(s.nodes.len());
    for node in &s.nodes {
        let e = |k: u32| bounds.get(k as usize).copied().unwrap_or(0.0);
        let m = |k: u32| mags.get(k as usize).copied().unwrap_or(1.0);
        let b = match &node.instr {
            Instr::Input { .. } => fresh(node.scale),
            Instr::Add { a, b } | Instr::Sub { a, b } => e(*a) + e(*b),
            Instr::Neg { a } | Instr::ModDown { a, .. } | Instr::MulInt { a, .. } => {
                let k = match node.instr {
                    Instr::MulInt { k, .. } => k.unsigned_abs() as f64,
                    _ => 1.0,
                };
                e(*a) * k
            }
            Instr::AddPlain { a, plain } => e(*a) + plain_mag(plain) * encode(node.scale),
            Instr::AddConst { a, .. } => e(*a) + 1.0 / node.scale,
            Instr::MulPlain { a, plain, scale } => {
                let pm = plain_mag(plain);
                pm * e(*a) + m(*a) * pm * encode(*scale) + m(*a) * encode(*scale)
            }
            Instr::MulConst { a, value, scale } => value.abs() * e(*a) + m(*a) * 0.5 / scale,
            Instr::Mul { a, b } => m(*a) * e(*b) + m(*b) * e(*a) + e(*a) * e(*b),
            Instr::Relinearize { a } | Instr::Rotate { a, .. } | Instr::Conjugate { a } => {
                e(*a) + round(node.scale)
            }
            Instr::Rescale { a } => e(*a) + round(node.scale),
        };
        bounds.push(b);
    }
    for (node, b) in s.nodes.iter_mut().zip(&bounds) {
        node.bound = *b;
    }
    for o in &mut s.outputs {
        o.bound = o
            .tiles
            .iter()
            .map(|t| bounds.get(t.value as usize).copied().unwrap_or(0.0) / t.factor.abs())
            .fold(0.0, f64::max);
    }
}
