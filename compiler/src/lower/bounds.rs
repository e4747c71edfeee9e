//! Predicted error bounds: for every node, a bound on the absolute error of its slots (encrypted
//! vs exact), from a standard CKKS noise model.
//!
//! Noise sources (canonical embedding; uniform ternary secret of Hamming weight ≈ 2N/3, error
//! σ = 3.2), as standard deviations of a slot:
//! - fresh secret-key encryption + encoding rounding: `sqrt(N·(σ² + 1/12)) / S`;
//! - rescale rounding and key switching (relinearize, rotate): `sqrt(N/12·(1 + 2N/3)) / S` at
//!   the result's scale `S`;
//! - plaintext/constant encoding: relative `sqrt(N/12) / S_pt`.
//!
//! Two estimates, and the bound is the smaller:
//! - **Worst case**: 6 standard deviations per source, propagated with
//!   `|x·y - x'·y'| ≤ |x|·e_y + |y|·e_x + e_x·e_y` and additions summing errors. Its magnitudes
//!   are the larger of the slot-level simulation's (times a margin of 4) and [`magnitudes`]
//!   (the range analysis carried to the slots, the same numbers the parameter selection makes
//!   room for). It is sound for that data but very loose for deep circuits: it assumes every
//!   error adds up with the same sign, through every reduction.
//! - **Simulated**: the schedule run on plaintext slots with Gaussian noise of the model's size
//!   injected at every source ([`hel_schedule::simulate_noise`]), which propagates errors
//!   exactly as the circuit does (cancellation included); the bound is [`SIMULATION_MARGIN`]
//!   times the largest deviation seen plus the node's own 6σ. This is the "simulation with encoding noise
//!   modelled" the precision target refers to.
//!
//! The inputs of both are random, drawn from the declared ranges with a random sign per row
//! (so products sum coherently, as real data such as `y·x` with `x ≥ 0` do, instead of
//! cancelling like independent signs). The bounds are therefore heuristic; the debug evaluator
//! checks them against the real encrypted run.

use hel_schedule::{
    simulate_magnitudes_prepared, simulate_noise_prepared, Instr, Plain, Prepared, Schedule,
    Source, Tensor,
};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::analysis::ranges::{Ranges, Samples, OBSERVED_MARGIN, TIGHT, TYPICAL};
use crate::ir::interp::Value;

/// The magnitude bound of every schedule node's slots: the largest |slot| the slot-level
/// simulation reaches on the range analysis's sample inputs
/// ([`crate::analysis::ranges::sample_inputs`]), times how far the range analysis's bound of
/// the node's tensor value lies above what the same samples give it ([`Ranges::inflation`]: 1
/// where interval arithmetic is exact, up to
/// [`OBSERVED_MARGIN`]). Slots hold the tensor values times packing factors, partial sums of
/// reductions and masked copies, so they are observed rather than derived from the tensor
/// bound; the inflation carries the analysis's margin over. Infinite where a sample
/// overflows.
pub fn magnitudes(s: &Schedule, ranges: &Ranges, samples: &ScheduleSamples) -> Vec<f64> {
    let per_sample: Vec<Vec<f64>> = samples
        .0
        .par_iter()
        .map(|inputs| {
            inputs
                .as_ref()
                .and_then(|inputs| simulate_magnitudes_prepared(s, inputs).ok())
                .unwrap_or_else(|| vec![f64::INFINITY; s.nodes.len()])
        })
        .collect();
    s.nodes
        .iter()
        .enumerate()
        .map(|(k, node)| {
            let t = node.origin.tensor_node as usize;
            let known = t < ranges.bound.len();
            let counted = if known && ranges.extremes[t] {
                per_sample.len()
            } else {
                TYPICAL.min(per_sample.len())
            };
            let observed = per_sample[..counted]
                .iter()
                .map(|m| m[k])
                .fold(
                    0.0,
                    |a: f64, b| if b.is_nan() { f64::INFINITY } else { a.max(b) },
                );
            let inflation = if known {
                ranges.inflation(t)
            } else {
                OBSERVED_MARGIN
            };
            observed * inflation
        })
        .collect()
}

/// [`magnitudes`] for a schedule whose nodes have no tensor of one program to take the range
/// analysis's margin from (rounds joined by bootstraps: their nodes come from several round
/// programs): the typical samples' observed magnitude times [`OBSERVED_MARGIN`].
pub fn observed_magnitudes(s: &Schedule, samples: &ScheduleSamples) -> Vec<f64> {
    let none = Ranges {
        interval: Vec::new(),
        observed: Vec::new(),
        extremes: Vec::new(),
        bound: Vec::new(),
    };
    magnitudes(s, &none, samples)
}

/// The range analysis's samples (typical ones first, then structured ones) as a schedule's
/// inputs, with the derived tensors the samples already hold; `None` for a sample that lacks
/// one of the inputs. Made once per schedule for [`magnitudes`] and [`annotate`].
pub struct ScheduleSamples(Vec<Option<Prepared>>);

impl ScheduleSamples {
    pub fn new(s: &Schedule, samples: &Samples) -> Self {
        ScheduleSamples(schedule_samples(s, samples))
    }
}

fn schedule_samples(s: &Schedule, samples: &Samples) -> Vec<Option<Prepared>> {
    samples
        .inputs()
        .par_iter()
        .map(|sample| {
            let user = s
                .inputs
                .iter()
                .map(|i| match sample.get(&i.name)? {
                    Value::Tensor(t) => Some(vec![t.clone()]),
                    Value::Seq(ts) => Some(ts.clone()),
                })
                .collect::<Option<Vec<_>>>()?;
            let known = |name: &str| match sample.get(name) {
                Some(Value::Tensor(t)) => Some(t.clone()),
                _ => None,
            };
            Prepared::with_known(s, user, known).ok()
        })
        .collect()
}

use hel_schedule::rules::NOISE_SIGMA as SIGMA;
/// Factor on every modelled standard deviation. The textbook formulas above underestimate this
/// engine's rescale/key-switching noise: the debug evaluator on MNIST (GD, k = 3, N = 2^14)
/// measured a fresh rescale's error at 6.8 model deviations over 8192 slots, where the
/// model's own max would be about 4.5, i.e. about 1.5x the model.
const NOISE_MODEL_FACTOR: f64 = 2.0;
const MAGNITUDE_MARGIN: f64 = 4.0;
/// Factor between the largest simulated deviation and the bound: covers another noise draw,
/// data whose products amplify errors more than the random inputs', and model error.
pub const SIMULATION_MARGIN: f64 = 16.0;

/// Standard deviation of the f64 encoding and decoding error of a value, relative to its
/// magnitude: the FFTs and the products with the scale round at 2^-53 each; 2^-50 covers
/// what a 2^60 scale measured on values of 10^6 (7e-10, 6 units of 2^-53) five times over
/// at six deviations.
const F64_REL_SD: f64 = 4.0 * f64::EPSILON;

/// Random inputs within the declared ranges (`[-1, 1]` when none is declared): magnitudes
/// uniform in the range, signs shared by each row where the range allows both (coherent sums).
pub fn random_inputs(s: &Schedule, seed: u64) -> Vec<Vec<Tensor>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    s.inputs
        .iter()
        .map(|i| {
            let (lo, hi) = i.range.unwrap_or((-1.0, 1.0));
            let cols = match i.shape {
                hel_schedule::Shape::Matrix(_, c) => c.max(1),
                _ => 1,
            };
            (0..i.elements())
                .map(|_| {
                    let mut sign = 1.0;
                    let data = (0..i.shape.len())
                        .map(|k| {
                            if k % cols == 0 {
                                sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                            }
                            if hi <= lo {
                                return lo;
                            }
                            if lo < 0.0 && hi > 0.0 {
                                let top = if sign > 0.0 { hi } else { -lo };
                                sign * rng.random_range(0.0..=top)
                            } else {
                                crate::analysis::ranges::draw(&mut rng, lo, hi)
                            }
                        })
                        .collect();
                    Tensor {
                        shape: i.shape,
                        data,
                    }
                })
                .collect()
        })
        .collect()
}

/// Fills in `Node::bound` and `TensorOutput::bound` from random inputs in the declared ranges,
/// with magnitudes at least `mags` (see [`magnitudes`]).
///
/// The noise is simulated on those random inputs and on the range analysis's two uniform
/// corners (every input at the low end of its range, every input at the high end): a
/// high-degree expression errs most at the ends of its inputs' ranges (`x^9` at the top of
/// `[0, 2.5]` errs 60 times more than at a typical point). A corner counts for a node whose
/// magnitude there stays within `mags`, the magnitude the parameters were sized for (beyond
/// it, the corner is an iteration diverging on degenerate data, which the range analysis left
/// out: see [`crate::analysis::ranges`]). The other structured samples are left out for
/// compile time (all eight cost the flagship 65% more).
pub fn annotate(s: &mut Schedule, mags: &[f64], samples: &ScheduleSamples) {
    let Ok(random) = Prepared::new(s, &random_inputs(s, 0x68_656c)) else {
        return annotate_inner(s, &[], 1, Some(mags));
    };
    let mut chosen = vec![&random];
    let all = &samples.0;
    let corners = all.len().saturating_sub(CORNERS);
    chosen.extend(all[corners..].iter().flatten());
    annotate_inner(s, &chosen, 1, Some(mags));
}

/// The last samples of [`sample_inputs`]: all inputs at the low end, all at the high end.
const CORNERS: usize = 2;

/// The output bounds for the client's actual inputs (`inputs[i]`: the elements of user input
/// `i`), computed on a copy of the schedule. Random inputs from the declared ranges can behave
/// very differently from real data in deep circuits (logistic regression on random data leaves
/// the sigmoid polynomial's domain and diverges), so the client, who has the data, predicts
/// the precision of its own run with it. The result stays with the client: bounds computed from
/// the data would tell the server something about it.
pub fn output_bounds_for(s: &Schedule, inputs: &[Vec<Tensor>]) -> Vec<f64> {
    let mut copy = s.clone();
    annotate_with(&mut copy, inputs);
    copy.outputs.iter().map(|o| o.bound).collect()
}

/// `s` with every node's and output's bound the larger of the compiled one and the one
/// predicted on `inputs` (the client's own data, see [`output_bounds_for`]): what the debug
/// evaluator checks a run on these inputs against. The compiled bounds come from random
/// samples; real data can reach larger magnitudes (NAG's first round on structured
/// minibatches: a product of two values 8x larger than the samples', its error 7.5e-15
/// against a compiled bound of 4.8e-15), and a node's error grows with its operands'
/// magnitudes. Stays with the client, like the output bounds.
pub fn with_bounds_for(s: &Schedule, inputs: &[Vec<Tensor>]) -> Schedule {
    let mut copy = s.clone();
    annotate_with(&mut copy, inputs);
    for (c, n) in copy.nodes.iter_mut().zip(&s.nodes) {
        c.bound = c.bound.max(n.bound);
    }
    for (c, o) in copy.outputs.iter_mut().zip(&s.outputs) {
        c.bound = c.bound.max(o.bound);
    }
    copy
}

/// Fills in the bounds, simulating on `inputs`.
pub fn annotate_with(s: &mut Schedule, inputs: &[Vec<Tensor>]) {
    let prepared: Option<Prepared> = Prepared::new(s, inputs).ok();
    let chosen: Vec<&Prepared> = prepared.iter().collect();
    annotate_inner(s, &chosen, 1, None);
}

/// The bounds from the noise simulated on every one of `samples` (`samples[0]` gives the
/// magnitudes of the worst-case estimate; those from `structured_from` on count for a node
/// where their magnitude stays within `floor`, or within [`TIGHT`] of the others' without one).
fn annotate_inner(
    s: &mut Schedule,
    samples: &[&Prepared],
    structured_from: usize,
    floor: Option<&[f64]>,
) {
    let inputs = samples.first();
    let n = s.params.n() as f64;
    // One standard deviation of each source, in slot units.
    let f = NOISE_MODEL_FACTOR;
    let fresh_sd = |scale: f64| f * (n * (SIGMA * SIGMA + 1.0 / 12.0)).sqrt() / scale;
    let round_sd = |scale: f64| f * (n / 12.0 * (1.0 + 2.0 * n / 3.0)).sqrt() / scale;
    let encode_sd = |scale: f64| f * (n / 12.0).sqrt() / scale;
    let fresh = |scale: f64| 6.0 * fresh_sd(scale);
    let round = |scale: f64| 6.0 * round_sd(scale);
    let encode = |scale: f64| 6.0 * encode_sd(scale);
    // A bootstrap adds its chain's noise, and EvalMod's sine distorts its message by the
    // cube of each coefficient (`hel_schedule::distortion`): the noise simulation applies the
    // sine itself; the worst case charges `t²·m³/6` for a message of magnitude m (a constant
    // vector, whose one coefficient is m, reaches it).
    let boot_sd = s.bootstrap.as_ref().map_or(0.0, |b| b.error_sd());
    let sine_worst = |k: usize, mag: &dyn Fn(u32) -> f64| -> f64 {
        // A paired refresh shares its bootstrap's message.
        let boot = match s.nodes[k].instr {
            Instr::BootstrapPaired { x, .. } => x as usize,
            _ => k,
        };
        let Some(&Instr::Bootstrap { a, with, .. }) = s.nodes.get(boot).map(|n| &n.instr) else {
            return 0.0;
        };
        let m = with.map_or(mag(a), |b| mag(a).hypot(mag(b)));
        let t = hel_schedule::SineDistortion::angle_of(s, a);
        t * t * m.powi(3) / 6.0
    };
    // Encoding in f64 (the client's and the server's FFTs and roundings) errs relative to the
    // value's magnitude, whatever the scale: it bounds the precision of large values.
    let f64_sd = |k: usize| -> f64 {
        let m = floor.and_then(|f| f.get(k)).copied().unwrap_or(0.0);
        match &s.nodes[k].instr {
            Instr::Input { .. }
            | Instr::MulPlain { .. }
            | Instr::MulConst { .. }
            | Instr::AddPlain { .. } => F64_REL_SD * m,
            _ => 0.0,
        }
    };
    // Magnitude of every node's slots, for the encoding errors of products with plaintexts:
    // the floor where the caller has one, else observed on these inputs.
    let operand_mag: Vec<f64> = match floor {
        Some(f) => f.to_vec(),
        None => inputs
            .and_then(|i| simulate_magnitudes_prepared(s, i).ok())
            .unwrap_or_else(|| vec![1.0; s.nodes.len()]),
    };
    // The noise each node adds itself. A plaintext or constant is rounded to its scale, an
    // absolute error in the multiplier: the product errs by that times the operand's
    // magnitude (`X^T X` over 300 rows reaches 100; counting the rounding as absolute
    // under-predicted such a product's error 1.3x).
    let own_sd = |k: usize| -> f64 {
        let node = &s.nodes[k];
        let times_operand = |a: u32| operand_mag.get(a as usize).copied().unwrap_or(1.0).max(1.0);
        f64_sd(k)
            + match &node.instr {
                Instr::Input { .. } => fresh_sd(node.scale),
                Instr::Relinearize { .. }
                | Instr::Rotate { .. }
                | Instr::Conjugate { .. }
                | Instr::Rescale { .. } => round_sd(node.scale),
                Instr::MulPlain { a, scale, .. } | Instr::MulConst { a, scale, .. } => {
                    encode_sd(*scale) * times_operand(*a)
                }
                Instr::AddPlain { .. } => encode_sd(node.scale),
                // A public value made a ciphertext: its encoding's rounding, as for AddPlain.
                Instr::Trivial { scale, .. } => encode_sd(*scale),
                // The constant is rounded to a whole multiple of 1/scale.
                Instr::AddConst { .. } => f * (1.0f64 / 12.0).sqrt() / node.scale,
                Instr::Bootstrap { .. } | Instr::BootstrapPaired { .. } => boot_sd,
                _ => 0.0,
            }
    };
    let per_sample: Vec<Option<Vec<hel_schedule::NoiseStats>>> = samples
        .par_iter()
        .map(|inputs| simulate_noise_prepared(s, inputs, &own_sd, 0x6e_6f69_7365).ok())
        .collect();
    let stats = per_sample.first().and_then(|st| st.as_deref());
    // Per node, the largest deviation over the samples that count (see [`annotate`]).
    let deviation: Option<Vec<f64>> = stats.map(|first| {
        (0..first.len())
            .map(|k| {
                let typical: Vec<hel_schedule::NoiseStats> = per_sample[..structured_from]
                    .iter()
                    .flatten()
                    .map(|st| st[k])
                    .filter(|x| x.magnitude.is_finite() && x.deviation.is_finite())
                    .collect();
                // No typical sample stayed finite here (the values overflow on them): the
                // simulation says nothing, and the formula's bound stands.
                if typical.is_empty() {
                    return f64::INFINITY;
                }
                let (typical_mag, typical_dev) =
                    typical.iter().fold((0.0f64, 0.0f64), |(m, d), x| {
                        (m.max(x.magnitude), d.max(x.deviation))
                    });
                per_sample[structured_from..]
                    .iter()
                    .flatten()
                    .map(|st| st[k])
                    .filter(|x| {
                        // Within the magnitude the parameters were sized for, where the caller
                        // has it; else within TIGHT of the typical samples.
                        let within = match floor.and_then(|f| f.get(k)) {
                            Some(&f) => x.magnitude <= f,
                            None => x.magnitude <= TIGHT * typical_mag || typical_mag == 0.0,
                        };
                        x.magnitude.is_finite() && x.deviation.is_finite() && within
                    })
                    .fold(typical_dev, |d, x| d.max(x.deviation))
            })
            .collect()
    });
    let mut mags: Vec<f64> = match stats {
        Some(st) => st.iter().map(|x| x.magnitude * MAGNITUDE_MARGIN).collect(),
        None => vec![1.0; s.nodes.len()],
    };
    if let Some(floor) = floor {
        for (m, f) in mags.iter_mut().zip(floor) {
            *m = m.max(*f);
        }
    }
    // Public values the server computes (derived tensors over `plain` inputs): their largest
    // entry on these inputs.
    let derived_max: Vec<f64> = inputs
        .map(|i| {
            i.derived
                .iter()
                .map(|t| t.data.iter().fold(0.0f64, |a, x| a.max(x.abs())))
                .collect()
        })
        .unwrap_or_default();
    let plain_mag = |p: &Plain| -> f64 {
        match p {
            Plain::Rect { value, .. } | Plain::Diagonal { value, .. } => value.abs(),
            Plain::Public { pack } => {
                let m = match pack.source {
                    Source::Input { input, .. } => s
                        .inputs
                        .get(input as usize)
                        .and_then(|i| i.range)
                        .map(|(lo, hi)| lo.abs().max(hi.abs())),
                    Source::Derived { index } => derived_max.get(index as usize).copied(),
                };
                m.unwrap_or(1.0) * pack.factor.abs()
            }
        }
    };
    let mut bounds: Vec<f64> = Vec::with_capacity(s.nodes.len());
    for node in &s.nodes {
        let e = |k: u32| bounds.get(k as usize).copied().unwrap_or(0.0);
        let m = |k: u32| mags.get(k as usize).copied().unwrap_or(1.0);
        let k = bounds.len();
        let b = 6.0 * f64_sd(k)
            + match &node.instr {
                Instr::Input { .. } => fresh(node.scale),
                Instr::Add { a, b } | Instr::Sub { a, b } => e(*a) + e(*b),
                Instr::Neg { a } | Instr::ModDown { a, .. } | Instr::MulInt { a, .. } => {
                    let k = match node.instr {
                        Instr::MulInt { k, .. } => k.unsigned_abs() as f64,
                        _ => 1.0,
                    };
                    e(*a) * k
                }
                // An encoding's rounding is absolute (whole coefficients at the scale): a
                // plaintext of small entries errs as much as one of magnitude 1 (`b * 1e-4`
                // as a public output was 3e-12 off against a bound of 2.9e-14).
                Instr::AddPlain { a, plain } => {
                    e(*a) + plain_mag(plain).max(1.0) * encode(node.scale)
                }
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
                Instr::Trivial { plain, scale, .. } => plain_mag(plain).max(1.0) * encode(*scale),
                // The value's own error carries through; the bootstrap adds its own.
                Instr::Bootstrap { a, .. } | Instr::BootstrapPaired { b: a, .. } => {
                    e(*a) + 6.0 * boot_sd + sine_worst(k, &m)
                }
            };
        // The simulated estimate, where it is tighter (see the module comment).
        let b = match &deviation {
            Some(dev) => b.min(SIMULATION_MARGIN * dev[k] + 6.0 * own_sd(k)),
            None => b,
        };
        // An overflow (inf · 0, inf - inf) must not read as a small error downstream, where
        // `f64::max` skips NaN.
        let b = if b.is_nan() { f64::INFINITY } else { b };
        bounds.push(b);
    }
    for (node, b) in s.nodes.iter_mut().zip(&bounds) {
        node.bound = *b;
    }
    // Decoding in f64 errs relative to the magnitude too.
    let decode = |v: u32| {
        6.0 * F64_REL_SD
            * floor
                .and_then(|f| f.get(v as usize))
                .copied()
                .unwrap_or(0.0)
    };
    for o in &mut s.outputs {
        o.bound = o
            .tiles
            .iter()
            .map(|t| {
                (bounds.get(t.value as usize).copied().unwrap_or(0.0) + decode(t.value))
                    / t.factor.abs()
            })
            .fold(0.0, f64::max);
    }
}
