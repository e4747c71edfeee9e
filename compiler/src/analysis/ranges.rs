//! Range analysis: a bound on the largest magnitude `max |value|` of every node of the
//! (optimized, loop-free) tensor IR, from the declared input ranges (`[-1, 1]` where none is
//! declared, as everywhere else in the compiler).
//!
//! Two estimates per node:
//! - **interval**: interval arithmetic from the declared ranges. Sound, and exact for
//!   programs such as column statistics (`sum_rows(X) / m` on `[0, 300]` is `[0, 300]`), but
//!   it explodes on iterative programs: gradient descent's weights grow by the vector length at
//!   every product and iteration, and the interval of a difference of correlated values ignores
//!   the correlation (`x - x` is `[-2, 2]`).
//! - **observed**: the largest magnitude the reference interpreter computes on [`SAMPLES`]
//!   inputs drawn from the declared ranges. Two are *typical*: uniform. Six are *structured*:
//!   uniform in magnitude with one random sign per matrix row (so sums over rows add up
//!   coherently, as labelled data such as `y·x` with `x ≥ 0` do), and the range's corners
//!   (every entry at a random end, every row at one end, all entries at the low end, all at the
//!   high end). A structured sample counts for a node where it stays within [`TIGHT`] of the
//!   typical ones, which a sum of a million coherent terms does, or, outside loops, where the
//!   interval bound is within [`TIGHT`] of it (see [`combine`]); beyond that it is an iteration
//!   diverging on degenerate data (logistic regression on all-ones rows overflows f64 by the
//!   sixth step; NAG on dense rows of one sign per row reaches 10^4 where uniform data keeps it
//!   below 2), whose result is meaningless however it is held, and which real data for such a
//!   program does not look like.
//!
//! The rule: **the interval where it is tight (at most [`TIGHT`] = 2^10 times the observed
//! magnitude), else [`OBSERVED_MARGIN`] = 8 times the observed magnitude**. Where interval
//! arithmetic is tight it is sound, and using it costs at most 10 bits over what the samples
//! reach (a sum of 1000 entries of `[-1, 1]`: the samples' uniform values reach about 30, the
//! all-high corner and the interval 1000). Where it is not (loop-carried growth, cancellation),
//! the bound is heuristic: three bits above the largest magnitude any counted sample reached.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::ir::interp::{self, Tensor, Value};
use crate::ir::{Graph, NodeId, Op, Program, Shape};

/// Factor between the largest magnitude observed on the samples and the bound, where interval
/// arithmetic is looser than that.
pub const OBSERVED_MARGIN: f64 = 8.0;

/// Number of sample inputs the interpreter runs on (see [`sample_inputs`]): the first
/// [`TYPICAL`] are typical, the others structured.
pub const SAMPLES: usize = 8;

/// Number of typical samples (uniform; the others are structured).
pub const TYPICAL: usize = 2;

/// An interval at most this many times the observed magnitude is tight (and used); a
/// structured sample at most this many times the typical ones counts.
pub const TIGHT: f64 = 1024.0;

/// Per node (indexed by `NodeId::index()`), the magnitudes of the analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    /// `max |value|` by interval arithmetic (infinite where it overflows or is unknown).
    pub interval: Vec<f64>,
    /// The largest `|value|` over the samples that count (the typical ones, and the
    /// structured ones within [`TIGHT`] of them).
    pub observed: Vec<f64>,
    /// Whether the structured samples count for the node.
    pub extremes: Vec<bool>,
    /// The bound: `interval` where it is at most `TIGHT · observed`, else
    /// `OBSERVED_MARGIN · observed`.
    pub bound: Vec<f64>,
}

impl Ranges {
    /// The bound on `max |value|` of node `id`.
    pub fn of(&self, id: NodeId) -> f64 {
        self.bound.get(id.index()).copied().unwrap_or(f64::INFINITY)
    }

    /// How far the bound of node `index` lies above its observed magnitude, at most
    /// [`OBSERVED_MARGIN`]: 1 where the interval is exact, 8 where it is loose (or nothing was
    /// observed). Applied to the slot-level values the lowering computes for the node (partial
    /// sums, products with packing factors), observed on the same samples.
    pub fn inflation(&self, index: usize) -> f64 {
        match (self.bound.get(index), self.observed.get(index)) {
            (Some(&b), Some(&o)) if o > 0.0 && b.is_finite() => (b / o).clamp(1.0, OBSERVED_MARGIN),
            _ => OBSERVED_MARGIN,
        }
    }
}

/// The [`SAMPLES`] sample inputs of a program ([`sample_inputs`]) with its derived inputs
/// computed on each, once. The range analysis and the lowering's simulations (magnitudes,
/// noise) all run these samples, and the derived inputs, the client's products, are the
/// expensive part of each run: the flagship's four 1024 x 197 x 1024 Grams were computed 110
/// times per compilation before they were shared.
#[derive(Clone, Debug)]
pub struct Samples(Vec<HashMap<String, Value>>);

impl Samples {
    /// The samples of `p`, derived inputs included (a sample whose derived inputs the
    /// interpreter refuses keeps only the declared ones: its runs fail as they would anyway).
    pub fn of(p: &Program) -> Samples {
        Self::of_given(p, &[])
    }

    /// [`Samples::of`] with the values `given[k]` holds for sample `k` (by input name, where
    /// the type matches the declaration) in place of the ones drawn from the declared ranges:
    /// a round of a training loop takes its state from the whole program's samples run to the
    /// round's start, with the same data, instead of an arbitrary state (Newton's iteration
    /// for 1/x diverges from most points of a box, converges from the points it reaches).
    pub fn of_given(p: &Program, given: &[HashMap<String, Value>]) -> Samples {
        let mut samples = sample_inputs(p);
        for (sample, given) in samples.iter_mut().zip(given) {
            for decl in p.inputs.iter().filter(|d| !p.is_derived(&d.name)) {
                if let Some(v) = given.get(&decl.name).filter(|v| v.fits(&decl.ty)) {
                    sample.insert(decl.name.clone(), v.clone());
                }
            }
        }
        Samples(
            samples
                .into_par_iter()
                .map(|s| interp::with_derived(p, &s).unwrap_or(s))
                .collect(),
        )
    }

    /// Each sample's value of every input, declared and derived, by name.
    pub fn inputs(&self) -> &[HashMap<String, Value>] {
        &self.0
    }
}

/// The range analysis of `p` (see the module documentation).
pub fn ranges(p: &Program) -> Ranges {
    ranges_on(p, &Samples::of(p))
}

/// [`ranges`] on samples already computed for `p`.
pub fn ranges_on(p: &Program, samples: &Samples) -> Ranges {
    let interval: Vec<f64> = intervals(p)
        .into_iter()
        .map(|(lo, hi)| magnitude(lo, hi))
        .collect();
    let per_sample = observe(p, samples.inputs());
    let in_loop: Vec<bool> = p.graph.nodes().map(|(_, n)| !n.iter.is_empty()).collect();
    let (observed, extremes) = combine(&per_sample, &interval, &in_loop);
    let bound = interval
        .iter()
        .zip(&observed)
        .map(|(&i, &o)| rule(i, o))
        .collect();
    Ranges {
        interval,
        observed,
        extremes,
        bound,
    }
}

/// The bound from the interval and the observed magnitude (see the module documentation).
pub fn rule(interval: f64, observed: f64) -> f64 {
    if interval <= TIGHT * observed {
        interval.max(observed)
    } else {
        OBSERVED_MARGIN * observed
    }
}

/// Per node, from the largest magnitudes per sample (typical ones first), the interval bound
/// and whether the node is computed by a loop iteration: the observed magnitude over the
/// samples that count, and whether the structured ones do. They count within [`TIGHT`] of the
/// typical ones; and outside loops, wherever the (sound) interval bound is within [`TIGHT`] of
/// them: no iteration can diverge there, so they are the range's real extremes (`u^64 *
/// 100000` on `[-1, 1]` reaches 10^5 at `u = ±1` and about 60 on uniform samples; sized for 8x
/// the latter, `hel encrypt` refused inputs at the ends of the declared range, and the
/// compiled bound was exceeded 2x at `u = -0.999`). In a loop they stay out: logistic
/// regression's first steps on all-ones rows reach their interval bound too, and diverge.
pub fn combine(
    per_sample: &[Vec<f64>],
    interval: &[f64],
    in_loop: &[bool],
) -> (Vec<f64>, Vec<bool>) {
    let n = per_sample.first().map_or(0, Vec::len);
    (0..n)
        .map(|k| {
            let max = |s: &[Vec<f64>]| s.iter().map(|x| x[k]).fold(0.0, f64::max);
            let (typical, extreme) = per_sample.split_at(TYPICAL.min(per_sample.len()));
            let (t, e) = (max(typical), max(extreme));
            let confirmed = !in_loop.get(k).copied().unwrap_or(true)
                && interval.get(k).is_some_and(|&i| e <= i && i <= TIGHT * e);
            if e.is_finite() && (e <= TIGHT * t || t == 0.0 || confirmed) {
                (t.max(e), true)
            } else {
                (t, false)
            }
        })
        .unzip()
}

/// The largest `|value|` of every top-level node of `p` on each of `samples` (infinite where
/// a value overflows; nodes a sample does not reach, and samples the interpreter refuses,
/// count as infinite).
pub fn observe(p: &Program, samples: &[HashMap<String, Value>]) -> Vec<Vec<f64>> {
    let n = p.graph.len();
    let per_sample: Vec<Vec<f64>> = samples
        .par_iter()
        .map(|inputs| {
            let mut seen = vec![f64::NAN; n];
            let mut record = |id: NodeId, ts: &[Tensor]| {
                let m = ts.iter().map(max_abs).fold(0.0, f64::max);
                if let Some(s) = seen.get_mut(id.index()) {
                    *s = m;
                }
            };
            match interp::eval_observed(p, inputs, &mut record) {
                Ok(_) => seen,
                Err(_) => vec![f64::INFINITY; n],
            }
        })
        .collect();
    per_sample
        .into_iter()
        .map(|s| {
            s.into_iter()
                .map(|x| if x.is_nan() { f64::INFINITY } else { x })
                .collect()
        })
        .collect()
}

/// `max |x|`, infinite if any entry is not finite.
fn max_abs(t: &Tensor) -> f64 {
    hel_schedule::max_abs(&t.data)
}

fn magnitude(lo: f64, hi: f64) -> f64 {
    let m = lo.abs().max(hi.abs());
    if m.is_nan() {
        f64::INFINITY
    } else {
        m
    }
}

/// The declared range of an input (`[-1, 1]` where none is declared).
pub fn declared_range(range: Option<(f64, f64)>) -> (f64, f64) {
    range.unwrap_or((-1.0, 1.0))
}

/// How the entries of sample `kind` are drawn (see [`sample_inputs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Uniform,
    RowSigns,
    Corners,
    RowCorners,
    Low,
    High,
}

const KINDS: [Kind; SAMPLES] = [
    Kind::Uniform,
    Kind::Uniform,
    Kind::RowSigns,
    Kind::RowSigns,
    Kind::Corners,
    Kind::RowCorners,
    Kind::Low,
    Kind::High,
];

/// The [`SAMPLES`] inputs the analysis runs the program on, each input within its declared
/// range. Typical: two uniform. Structured: two uniform in magnitude with one random sign per
/// matrix row (where the range has both signs), every entry at a random end of the range,
/// every row at a random end, all entries at the low end, all at the high end. Deterministic. Derived inputs are left out
/// (the interpreter computes them from the declared ones, as the client does).
pub fn sample_inputs(p: &Program) -> Vec<HashMap<String, Value>> {
    KINDS
        .iter()
        .enumerate()
        .map(|(k, &kind)| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x72_616e_6765 + k as u64);
            let mut out = HashMap::new();
            for decl in p.inputs.iter().filter(|d| !p.is_derived(&d.name)) {
                let (lo, hi) = declared_range(decl.range);
                let shape = decl.ty.shape;
                let mut tensor = || sample_tensor(shape, lo, hi, kind, &mut rng);
                let v = match decl.ty.seq {
                    Some(n) => Value::Seq((0..n).map(|_| tensor()).collect()),
                    None => Value::Tensor(tensor()),
                };
                out.insert(decl.name.clone(), v);
            }
            out
        })
        .collect()
}

fn sample_tensor(
    shape: Shape,
    lo: f64,
    hi: f64,
    kind: Kind,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Tensor {
    let cols = match shape {
        Shape::Matrix(_, c) => c.max(1),
        _ => 1,
    };
    let mut row_flag = false;
    let data = (0..shape.len())
        .map(|k| {
            if k % cols == 0 {
                row_flag = rng.random_bool(0.5);
            }
            if hi <= lo {
                return lo;
            }
            match kind {
                Kind::Uniform => draw(rng, lo, hi),
                Kind::RowSigns if lo < 0.0 && hi > 0.0 => {
                    if row_flag {
                        rng.random_range(0.0..=hi)
                    } else {
                        -rng.random_range(0.0..=-lo)
                    }
                }
                Kind::RowSigns => draw(rng, lo, hi),
                Kind::Corners => {
                    if rng.random_bool(0.5) {
                        hi
                    } else {
                        lo
                    }
                }
                Kind::RowCorners => {
                    if row_flag {
                        hi
                    } else {
                        lo
                    }
                }
                Kind::Low => lo,
                Kind::High => hi,
            }
        })
        .collect();
    Tensor { shape, data }
}

/// Interval arithmetic over the top-level graph of `p`: `(lo, hi)` per node, from the
/// declared input ranges (derived inputs: the interval of the graph that computes them).
pub fn intervals(p: &Program) -> Vec<(f64, f64)> {
    let declared = |name: &str| -> (f64, f64) {
        let range = p.input(name).and_then(|d| d.range);
        if let Some(d) = p.derived.iter().find(|d| d.name == name) {
            let inner = graph_intervals(&d.graph, &|n: &str| {
                declared_range(p.input(n).and_then(|d| d.range))
            });
            return inner
                .get(d.node.index())
                .copied()
                .unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        }
        declared_range(range)
    };
    graph_intervals(&p.graph, &declared)
}

const UNKNOWN: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);

/// Interval arithmetic over one graph; `input(name)` gives an input's interval. Loops (absent
/// after unrolling) and their parameters are unknown.
fn graph_intervals(g: &Graph, input: &dyn Fn(&str) -> (f64, f64)) -> Vec<(f64, f64)> {
    let mut iv: Vec<(f64, f64)> = Vec::with_capacity(g.len());
    for (_, n) in g.nodes() {
        let a = |k: usize| -> (f64, f64) {
            n.args
                .get(k)
                .and_then(|x| iv.get(x.index()))
                .copied()
                .unwrap_or(UNKNOWN)
        };
        let len = |k: usize| -> f64 {
            n.args
                .get(k)
                .map(|x| g.node(*x).ty.shape)
                .map_or(f64::INFINITY, |s| match s {
                    Shape::Matrix(r, c) => match n.op {
                        Op::SumRows => r as f64,
                        Op::SumCols | Op::MatVec | Op::MatMul => c as f64,
                        _ => 1.0,
                    },
                    Shape::Vector(l) => l as f64,
                    Shape::Scalar => 1.0,
                })
        };
        let r = match &n.op {
            Op::Input { name } => input(name),
            Op::Const { value } => (*value, *value),
            Op::Add => add(a(0), a(1)),
            Op::Sub => add(a(0), neg(a(1))),
            Op::Mul | Op::ScaleCols | Op::ScaleRows => mul(a(0), a(1)),
            Op::Div => div(a(0), a(1)),
            Op::Neg => neg(a(0)),
            Op::Pow { exp } => pow(a(0), *exp),
            Op::Sqrt => {
                let (lo, hi) = a(0);
                (lo.max(0.0).sqrt(), hi.max(0.0).sqrt())
            }
            // Compile-time scalars: exact once both are known (after unrolling).
            Op::PowScalar => match (a(0), a(1)) {
                ((b, b2), (e, e2)) if b == b2 && e == e2 => (b.powf(e), b.powf(e)),
                _ => UNKNOWN,
            },
            Op::Transpose | Op::Index | Op::Element { .. } => a(0),
            Op::SumRows | Op::SumCols => times(len(0), a(0)),
            Op::MatVec | Op::MatMul => times(len(0), mul(a(0), a(1))),
            Op::Dot => times(len(0), mul(a(0), a(1))),
            Op::Loop(_) | Op::LoopResult { .. } | Op::Param { .. } | Op::LoopIndex => UNKNOWN,
        };
        iv.push(clean(r));
    }
    iv
}

/// A NaN end (from `inf - inf` or `0 · inf`) is unbounded.
fn clean((lo, hi): (f64, f64)) -> (f64, f64) {
    (
        if lo.is_nan() { f64::NEG_INFINITY } else { lo },
        if hi.is_nan() { f64::INFINITY } else { hi },
    )
}

fn add(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 + b.0, a.1 + b.1)
}

fn neg(a: (f64, f64)) -> (f64, f64) {
    (-a.1, -a.0)
}

fn mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let ps = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
    if ps.iter().any(|x| x.is_nan()) {
        return UNKNOWN;
    }
    (
        ps.iter().copied().fold(f64::INFINITY, f64::min),
        ps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

fn div(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    if b.0 <= 0.0 && b.1 >= 0.0 {
        return UNKNOWN;
    }
    mul(a, (1.0 / b.1, 1.0 / b.0))
}

fn pow(a: (f64, f64), e: u32) -> (f64, f64) {
    let p = |x: f64| x.powi(e as i32);
    if e == 0 {
        (1.0, 1.0)
    } else if e % 2 == 1 || a.0 >= 0.0 {
        (p(a.0), p(a.1))
    } else if a.1 <= 0.0 {
        (p(a.1), p(a.0))
    } else {
        (0.0, p(a.0.abs().max(a.1.abs())))
    }
}

/// `n` summed copies of a value in `a`.
fn times(n: f64, a: (f64, f64)) -> (f64, f64) {
    clean((n * a.0, n * a.1))
}

/// A uniform draw from `[lo, hi]` (`lo < hi`, both finite), also where `hi - lo` overflows
/// (a declared range of `[-1e308, 1e308]`: the lowering refuses it as too large for the
/// parameters, with its location, but the samples come first).
pub(crate) fn draw(rng: &mut impl rand::Rng, lo: f64, hi: f64) -> f64 {
    if (hi - lo).is_finite() {
        rng.random_range(lo..=hi)
    } else {
        let u: f64 = rng.random();
        lo * (1.0 - u) + hi * u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceFile;

    fn program(text: &str) -> Program {
        let src = SourceFile::new("t.hel", text.to_string());
        crate::frontend(&src, &[]).unwrap_or_else(|d| panic!("{}", d.render_plain()))
    }

    fn output_range(r: &Ranges, p: &Program, k: usize) -> (f64, f64, f64) {
        let i = p.outputs[k].node.index();
        (r.interval[i], r.observed[i], r.bound[i])
    }

    #[test]
    fn column_statistics_are_exact_by_intervals() {
        let p = program(
            "input X: enc matrix[64, 8] range [0, 300];\n\
             let mean = sum_rows(X) / 64;\n\
             let var = sum_rows(X * X) / 64 - mean * mean;\n\
             output mean;\noutput var;\n",
        );
        let r = ranges(&p);
        let (i, o, b) = output_range(&r, &p, 0);
        assert_eq!(i, 300.0);
        assert_eq!(o, 300.0, "the all-high sample reaches the interval");
        assert_eq!(b, 300.0);
        // sum(X^2)/m - mean^2 by intervals: [0 - 90000, 90000 - 0]; the corners reach a
        // variance of 150^2 = 22500 at most (half the rows at 0, half at 300), and
        // 8 x that is looser than the interval.
        let (i, o, b) = output_range(&r, &p, 1);
        assert_eq!(i, 90_000.0);
        assert!(o > 15_000.0 && o <= 22_500.0 + 1e-6, "{o}");
        assert_eq!(b, 90_000.0);
    }

    #[test]
    fn undeclared_inputs_are_unit_range_and_powers_are_tight() {
        let p = program("input x: enc vector[16];\nlet y = 3 * x^3 - x^2;\noutput y;\n");
        let r = ranges(&p);
        let (i, o, b) = output_range(&r, &p, 0);
        // [-3, 3] - [0, 1] = [-4, 3]; the low corner reaches |-3 - 1| = 4.
        assert_eq!(i, 4.0);
        assert_eq!(o, 4.0);
        assert_eq!(b, 4.0);
        assert_eq!(r.inflation(p.outputs[0].node.index()), 1.0);
    }

    #[test]
    fn loop_carried_growth_falls_back_to_observed_times_margin() {
        // x in [0.5, 1]: y_{i+1} = y_i * x - y_i^2 / 2 stays below 1 on every sample, but its
        // interval grows at every step (the correlation of `y * y` is lost).
        let p = program(
            "input x: enc vector[8] range [0.5, 1];\nlet y = x;\n\
             for i in 0..8 {\n    y = y * x - y * y / 2;\n}\noutput y;\n",
        );
        let p = crate::passes::pipeline::Pipeline::new(crate::passes::pipeline::OptLevel::O0)
            .run(p, None, &mut |_, _| {})
            .unwrap();
        let r = ranges(&p);
        let (i, o, b) = output_range(&r, &p, 0);
        assert!(i > 1e3, "interval {i}");
        assert!(o < 1.0, "observed {o}");
        assert_eq!(b, OBSERVED_MARGIN * o);
        assert_eq!(r.inflation(p.outputs[0].node.index()), OBSERVED_MARGIN);
    }

    #[test]
    fn corners_that_diverge_do_not_count() {
        // t = dot(x, x) / 16 is about 1.3 on uniform data and 4 on the corners: y = x t^10
        // reaches 1e6 there, 6e4 times the typical samples.
        let p = program(
            "input x: enc vector[64] range [-1, 1];\nlet t = dot(x, x) / 16;\nlet y = x;\n\
             for i in 0..10 {\n    y = y * t;\n}\noutput y;\n",
        );
        let p = crate::passes::pipeline::Pipeline::new(crate::passes::pipeline::OptLevel::O0)
            .run(p, None, &mut |_, _| {})
            .unwrap();
        let r = ranges(&p);
        let out = p.outputs[0].node.index();
        assert!(!r.extremes[out]);
        assert!(
            r.observed[out] > 1.0 && r.observed[out] < 1e3,
            "{}",
            r.observed[out]
        );
        assert_eq!(r.bound[out], OBSERVED_MARGIN * r.observed[out]);
        // t itself is tight: the interval [-4, 4] holds the corners.
        let t = p
            .graph
            .ids()
            .find(|&id| p.graph.node(id).op == Op::Dot)
            .unwrap();
        assert!(r.extremes[t.index()]);
        assert_eq!(r.bound[t.index()], 64.0);
    }

    #[test]
    fn products_and_reductions_scale_by_the_length() {
        let p = program(
            "input A: enc matrix[4, 6] range [-2, 1];\ninput v: enc vector[6] range [0, 3];\n\
             let u = A @ v;\nlet d = dot(u, u);\noutput u;\noutput d;\n",
        );
        let r = ranges(&p);
        // A @ v: 6 terms in [-6, 3].
        assert_eq!(output_range(&r, &p, 0).0, 36.0);
        let (_, o, b) = output_range(&r, &p, 0);
        assert!(o <= 36.0 && b <= 36.0 && b >= o, "{o} {b}");
        // dot(u, u) over 4 entries of [-36, 18]: at most 4 * 36^2.
        let (i, o, b) = output_range(&r, &p, 1);
        assert_eq!(i, 4.0 * 36.0 * 36.0);
        assert!(b <= i && b >= o, "{o} {b}");
    }

    #[test]
    fn overflow_is_infinite() {
        let p = program("input x: enc vector[4] range [0, 1e200];\nlet y = x * x;\noutput y;\n");
        let r = ranges(&p);
        let (i, o, b) = output_range(&r, &p, 0);
        assert!(i.is_infinite() && o.is_infinite() && b.is_infinite());
    }

    #[test]
    fn samples_stay_in_the_declared_ranges() {
        let p = program(
            "input Z: enc matrix[5, 3][2] range [-2, 7];\ninput w: enc vector[3];\n\
             output w;\n",
        );
        for s in sample_inputs(&p) {
            let Value::Seq(z) = &s["Z"] else { panic!() };
            assert_eq!(z.len(), 2);
            assert!(z
                .iter()
                .flat_map(|t| &t.data)
                .all(|x| (-2.0..=7.0).contains(x)));
            let Value::Tensor(w) = &s["w"] else { panic!() };
            assert!(w.data.iter().all(|x| (-1.0..=1.0).contains(x)));
        }
    }
}
