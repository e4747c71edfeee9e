//! Cost model: a table of measured per-operation times ([`CostTable`], with [`calibrate`] to
//! measure one), and the [`CostEvaluator`] that runs a schedule "dry" — tracking only each
//! value's level, degree and scale — to count operations, check the recorded levels and scales,
//! and estimate the run time and memory without computing anything.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ckks::{plain_key, plain_operand};
use super::scheduler::{critical_path_seconds, list_schedule_seconds};
use super::{exec_level, scales_match, Evaluator, ExecError};
use crate::ckks::{CkksError, CkksParams, Context, Sampler};
use crate::schedule::{Instr, Node, Schedule, ValueId};

/// Pseudo-operation: encoding one plaintext operand (done once per distinct plaintext).
pub const ENCODE: &str = "encode";
/// Pseudo-operation: each rotation after the first in a hoisting group (they share the first
/// one's key-switching decomposition).
pub const ROTATE_HOISTED: &str = "rotate_hoisted";

/// Worker counts of [`CostEvaluator::projection`]: this machine class and wider ones (the
/// published logistic-regression timings ran on many-core servers).
pub const PROJECTED_WORKERS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Key switching costs ~dnum·(limbs + special primes) NTTs with dnum growing with the limbs at a
/// fixed digit size: quadratic in the limbs, where everything else is linear.
fn is_key_switching(op: &str) -> bool {
    matches!(op, "relinearize" | "rotate" | "conjugate" | ROTATE_HOISTED)
}

/// Measured seconds of one operation at one ring degree, at several limb counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostCurve {
    pub log_n: u32,
    /// [`Instr::name`], [`ENCODE`] or [`ROTATE_HOISTED`].
    pub op: String,
    /// (data limbs = level + 1, seconds), sorted by limbs.
    pub points: Vec<(u32, f64)>,
}

/// Seconds per operation as a function of the ring degree and the number of limbs.
///
/// Between measured limb counts the time is interpolated linearly; beyond them it is
/// extrapolated linearly in the limbs, or quadratically for key-switching operations. A ring
/// degree that was not measured is scaled from the nearest one by N·log N. The curves are
/// measured on the standard chain of each ring degree ([`CkksParams::standard`]); other chains
/// at the same N differ mainly in the key-switching digit count, which this ignores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// Threads the measurements ran on. [`calibrate`] uses 1: the numbers are work
    /// (CPU-seconds), which parallel execution divides among threads.
    pub threads: usize,
    pub curves: Vec<CostCurve>,
}

impl Default for CostTable {
    /// Measured on the development machine with [`calibrate`] (see `cost_default.rs`).
    fn default() -> Self {
        CostTable {
            threads: 1,
            curves: super::cost_default::MEASURED
                .iter()
                .map(|(log_n, op, points)| CostCurve {
                    log_n: *log_n,
                    op: op.to_string(),
                    points: points.to_vec(),
                })
                .collect(),
        }
    }
}

impl CostTable {
    /// Estimated seconds of `op` at ring degree 2^log_n on `limbs` data limbs; 0 for
    /// operations the table has no curve for (e.g. `input`).
    pub fn seconds(&self, log_n: u32, op: &str, limbs: usize) -> f64 {
        let Some(curve) = self
            .curves
            .iter()
            .filter(|c| c.op == op && !c.points.is_empty())
            .min_by_key(|c| (c.log_n.abs_diff(log_n), c.log_n))
        else {
            return 0.0;
        };
        let power = if is_key_switching(op) { 2 } else { 1 };
        let t = interpolate(&curve.points, limbs.max(1) as f64, power);
        let ratio =
            2f64.powi(log_n as i32 - curve.log_n as i32) * log_n as f64 / curve.log_n.max(1) as f64;
        t * ratio
    }

    /// Estimated seconds of `k` rotations of one ciphertext on `limbs` limbs, and whether
    /// hoisting them (one shared decomposition, [`ROTATE_HOISTED`] per extra rotation) is the
    /// faster way. It is not always: the engine's hoisted path permutes every decomposed digit,
    /// and with many digits (one prime per digit at 2^15) that costs more than it saves.
    pub fn rotations_seconds(&self, log_n: u32, limbs: usize, k: usize) -> (f64, bool) {
        let rotate = self.seconds(log_n, "rotate", limbs);
        let separate = k as f64 * rotate;
        if k < 2 {
            return (separate, false);
        }
        let hoisted = rotate + (k - 1) as f64 * self.seconds(log_n, ROTATE_HOISTED, limbs);
        if hoisted < separate {
            (hoisted, true)
        } else {
            (separate, false)
        }
    }

    /// Checks that every curve has sorted, positive limb counts and finite non-negative times.
    pub fn validate(&self) -> Result<(), ExecError> {
        for c in &self.curves {
            let sorted = c.points.windows(2).all(|w| w[0].0 < w[1].0);
            let sane = c
                .points
                .iter()
                .all(|(l, t)| *l > 0 && t.is_finite() && *t >= 0.0);
            if !sorted || !sane {
                return Err(ExecError::CostTable(format!(
                    "curve `{}` at N = 2^{} needs increasing limb counts and finite, \
                     non-negative times",
                    c.op, c.log_n
                )));
            }
        }
        Ok(())
    }

    /// The table as RON text (for `hel calibrate` to save).
    pub fn to_ron(&self) -> Result<String, ExecError> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new())
            .map_err(|e| ExecError::CostTable(e.to_string()))
    }

    /// Parses and validates a table written by [`CostTable::to_ron`].
    pub fn from_ron(text: &str) -> Result<Self, ExecError> {
        let table: CostTable =
            ron::from_str(text).map_err(|e| ExecError::CostTable(e.to_string()))?;
        table.validate()?;
        Ok(table)
    }
}

/// Piecewise-linear interpolation through sorted `points`, extrapolated as `limbs^power`
/// outside them.
fn interpolate(points: &[(u32, f64)], limbs: f64, power: i32) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    let edge = |(l, t): (u32, f64)| t * (limbs / l as f64).powi(power);
    if limbs <= first.0 as f64 {
        return edge(*first);
    }
    if limbs >= last.0 as f64 {
        return edge(*last);
    }
    for w in points.windows(2) {
        let ((l0, t0), (l1, t1)) = (w[0], w[1]);
        if limbs <= l1 as f64 {
            let f = (limbs - l0 as f64) / (l1 - l0) as f64;
            return t0 + f * (t1 - t0);
        }
    }
    edge(*last)
}

/// Measures a [`CostTable`] for the standard chain of each ring degree in `log_ns`, on one
/// thread, at up to three limb counts (1, half, all), taking the median of `reps` timings per
/// point (see `time_op`). `progress` receives a line per phase. Run it on an optimized
/// build and an otherwise idle machine: about 10 s for 2^13..2^15 with `reps = 3`.
pub fn calibrate(
    log_ns: &[u32],
    reps: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<CostTable, CkksError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| CkksError::InvalidParams(format!("thread pool: {e}")))?;
    let mut curves: BTreeMap<(u32, String), Vec<(u32, f64)>> = BTreeMap::new();
    for &log_n in log_ns {
        pool.install(|| calibrate_ring(log_n, reps.max(1), progress, &mut curves))?;
    }
    Ok(CostTable {
        threads: 1,
        curves: curves
            .into_iter()
            .map(|((log_n, op), points)| CostCurve { log_n, op, points })
            .collect(),
    })
}

/// Median seconds of `f` over up to `reps` samples, batched so that one sample takes about a
/// millisecond. A first run above 10 ms counts as a sample (no warm-up needed at that size),
/// and sampling stops once half a second has been spent, so that the slowest operations
/// (key switching at 2^15) do not dominate the calibration time.
fn time_op(
    reps: usize,
    mut f: impl FnMut() -> crate::ckks::Result<()>,
) -> crate::ckks::Result<f64> {
    let t0 = Instant::now();
    f()?;
    let first = t0.elapsed().as_secs_f64().max(1e-9);
    let batch = ((1e-3 / first).ceil() as usize).clamp(1, 1000);
    let mut samples = Vec::with_capacity(reps);
    if first > 1e-2 {
        samples.push(first);
    }
    let mut spent = first;
    while samples.len() < reps && (samples.is_empty() || spent < 0.5) {
        let t = Instant::now();
        for _ in 0..batch {
            f()?;
        }
        let elapsed = t.elapsed().as_secs_f64();
        spent += elapsed;
        samples.push(elapsed / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

fn calibrate_ring(
    log_n: u32,
    reps: usize,
    progress: &mut (dyn FnMut(&str) + Send),
    curves: &mut BTreeMap<(u32, String), Vec<(u32, f64)>>,
) -> crate::ckks::Result<()> {
    progress(&format!("N = 2^{log_n}: keys"));
    let params = CkksParams::standard(log_n)?;
    let ctx = Context::new(&params)?;
    let mut s = Sampler::from_os();
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s)?;
    let hoist_steps = [1, 2, 3];
    let gk = ctx.gen_galois_keys(&sk, &hoist_steps, true, &mut s)?;
    let scale = ctx.default_scale();
    let values: Vec<f64> = (0..ctx.slots())
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let total = ctx.max_level() + 1;
    let mut limb_counts = vec![1, total.div_ceil(2), total];
    limb_counts.dedup();
    for limbs in limb_counts {
        progress(&format!("N = 2^{log_n}: {limbs} limbs"));
        let level = limbs - 1;
        let pt = ctx.encode(&values, level, scale)?;
        let x = ctx.encrypt_sk(&pt, &sk, &mut s)?;
        let y = ctx.encrypt_sk(&pt, &sk, &mut s)?;
        let prod = ctx.multiply(&x, &y)?;
        let relin = ctx.relinearize(&prod, &rlk)?;
        let mut put = |op: &str, t: f64| {
            curves
                .entry((log_n, op.to_string()))
                .or_default()
                .push((limbs as u32, t));
        };
        put("add", time_op(reps, || ctx.add(&x, &y).map(drop))?);
        put("sub", time_op(reps, || ctx.sub(&x, &y).map(drop))?);
        put("neg", time_op(reps, || ctx.negate(&x).map(drop))?);
        put(
            "add_plain",
            time_op(reps, || ctx.add_plain(&x, &pt).map(drop))?,
        );
        put(
            "mul_plain",
            time_op(reps, || ctx.multiply_plain(&x, &pt).map(drop))?,
        );
        put(
            "add_const",
            time_op(reps, || ctx.add_scalar(&x, 0.5).map(drop))?,
        );
        put(
            "mul_const",
            time_op(reps, || ctx.multiply_scalar(&x, 0.5, scale).map(drop))?,
        );
        put(
            "mul_int",
            time_op(reps, || ctx.multiply_int(&x, 3).map(drop))?,
        );
        put("ct_mul", time_op(reps, || ctx.multiply(&x, &y).map(drop))?);
        put(
            "relinearize",
            time_op(reps, || ctx.relinearize(&prod, &rlk).map(drop))?,
        );
        if level > 0 {
            put("rescale", time_op(reps, || ctx.rescale(&relin).map(drop))?);
        }
        put(
            "mod_down",
            time_op(reps, || {
                ctx.drop_level(&x, level.saturating_sub(1)).map(drop)
            })?,
        );
        let rotate = time_op(reps, || ctx.rotate(&x, 1, &gk).map(drop))?;
        put("rotate", rotate);
        put(
            "conjugate",
            time_op(reps, || ctx.conjugate(&x, &gk).map(drop))?,
        );
        let hoisted = time_op(reps, || ctx.rotate_hoisted(&x, &hoist_steps, &gk).map(drop))?;
        put(
            ROTATE_HOISTED,
            ((hoisted - rotate) / (hoist_steps.len() - 1) as f64).max(0.0),
        );
        put(
            ENCODE,
            time_op(reps, || ctx.encode(&values, level, scale).map(drop))?,
        );
    }
    Ok(())
}

/// What the cost evaluator knows about a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueShape {
    pub level: u32,
    pub degree: u8,
    pub scale: f64,
}

/// Operation counts and time estimates of a dry run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub log_n: u32,
    /// Operation name -> execution level -> count.
    pub ops: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Distinct plaintext encodings (what the CKKS evaluator's cache computes).
    pub plaintext_encodings: u64,
    /// Estimated single-thread seconds per operation name ([`ENCODE`] included).
    pub seconds_by_op: BTreeMap<String, f64>,
    /// Estimated single-thread seconds of the whole run.
    pub work_seconds: f64,
    /// Estimated single-thread seconds of the longest dependency chain.
    pub critical_path_seconds: f64,
}

impl CostReport {
    /// Total count of one operation over all levels.
    pub fn count(&self, op: &str) -> u64 {
        self.ops.get(op).map_or(0, |l| l.values().sum())
    }

    /// Estimated wall-clock seconds on `threads` threads, assuming the work divides evenly
    /// (independent nodes run side by side, and a lone node's limbs are split among threads).
    /// Optimistic for low-level chains, where one or two limbs leave threads idle.
    pub fn estimated_seconds(&self, threads: usize) -> f64 {
        self.work_seconds / threads.max(1) as f64
    }
}

#[derive(Default)]
struct Tally {
    ops: BTreeMap<String, BTreeMap<u32, u64>>,
    seconds_by_op: BTreeMap<String, f64>,
    plaintexts: HashSet<String>,
}

/// Dry-run evaluator: values are [`ValueShape`]s. Every node's level, degree and scale are
/// derived from its operands by the CKKS rules and checked against the schedule (so a dry run
/// catches what a real run would refuse, in microseconds); operations are counted by kind and
/// level and priced with a [`CostTable`]. [`Evaluator::value_bytes`] is the size the real
/// ciphertext would have, so the run's peak bytes estimate the real run's memory.
pub struct CostEvaluator<'a> {
    schedule: &'a Schedule,
    table: CostTable,
    /// Data primes, for the scale after a rescale.
    q: Vec<u64>,
    tally: Mutex<Tally>,
}

impl<'a> CostEvaluator<'a> {
    pub fn new(schedule: &'a Schedule, table: CostTable) -> Result<Self, ExecError> {
        let q = schedule
            .params
            .primes()
            .map_err(|e| ExecError::Invalid(format!("parameters: {e}")))?
            .q;
        Ok(CostEvaluator {
            schedule,
            table,
            q,
            tally: Mutex::new(Tally::default()),
        })
    }

    /// Counts and estimates of what has been evaluated so far (all of it after a run).
    pub fn report(&self) -> Result<CostReport, ExecError> {
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        Ok(CostReport {
            log_n: self.schedule.params.log_n,
            ops: tally.ops.clone(),
            plaintext_encodings: tally.plaintexts.len() as u64,
            seconds_by_op: tally.seconds_by_op.clone(),
            work_seconds: tally.seconds_by_op.values().sum(),
            critical_path_seconds: critical_path_seconds(self.schedule, &self.table)?,
        })
    }

    /// The schedule's list-scheduled seconds on each of [`PROJECTED_WORKERS`] one-task-at-a-time
    /// workers, from this evaluator's table (see [`list_schedule_seconds`]).
    pub fn projection(&self) -> Result<Vec<(usize, f64)>, ExecError> {
        list_schedule_seconds(self.schedule, &self.table, &PROJECTED_WORKERS)
    }

    /// The result shape by the CKKS rules, refusing what the engine would refuse.
    fn predict(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&ValueShape],
    ) -> Result<ValueShape, ExecError> {
        let bad = |detail: String| ExecError::mismatch(id, node, detail);
        let arg = |i: usize| {
            args.get(i)
                .copied()
                .copied()
                .ok_or_else(|| ExecError::missing(id, node, format!("operand {i}")))
        };
        let same = |a: ValueShape, b: ValueShape| {
            if a.level != b.level {
                Err(bad(format!(
                    "operands at levels {} and {}",
                    a.level, b.level
                )))
            } else if !scales_match(a.scale, b.scale) {
                Err(bad(format!(
                    "operand scales 2^{:.6} and 2^{:.6} differ",
                    a.scale.log2(),
                    b.scale.log2()
                )))
            } else {
                Ok(())
            }
        };
        let degree1 = |a: ValueShape| {
            if a.degree == 1 {
                Ok(())
            } else {
                Err(bad(format!("operand has degree {}, needs 1", a.degree)))
            }
        };
        Ok(match &node.instr {
            Instr::Input { index } => {
                let ct = self
                    .schedule
                    .ct_inputs
                    .get(*index as usize)
                    .ok_or_else(|| ExecError::missing(id, node, format!("input {index}")))?;
                ValueShape {
                    level: ct.level,
                    degree: 1,
                    scale: ct.scale,
                }
            }
            Instr::Add { .. } | Instr::Sub { .. } => {
                let (a, b) = (arg(0)?, arg(1)?);
                same(a, b)?;
                ValueShape {
                    degree: a.degree.max(b.degree),
                    ..a
                }
            }
            Instr::Neg { .. }
            | Instr::MulInt { .. }
            | Instr::AddConst { .. }
            | Instr::AddPlain { .. } => arg(0)?,
            Instr::MulPlain { scale, .. } | Instr::MulConst { scale, .. } => {
                let a = arg(0)?;
                ValueShape {
                    scale: a.scale * scale,
                    ..a
                }
            }
            Instr::Mul { .. } => {
                let (a, b) = (arg(0)?, arg(1)?);
                degree1(a)?;
                degree1(b)?;
                if a.level != b.level {
                    return Err(bad(format!(
                        "operands at levels {} and {}",
                        a.level, b.level
                    )));
                }
                ValueShape {
                    level: a.level,
                    degree: 2,
                    scale: a.scale * b.scale,
                }
            }
            Instr::Relinearize { .. } => {
                let a = arg(0)?;
                if a.degree != 2 {
                    return Err(bad(format!("operand has degree {}, needs 2", a.degree)));
                }
                ValueShape { degree: 1, ..a }
            }
            Instr::Rescale { .. } => {
                let a = arg(0)?;
                let q = self
                    .q
                    .get(a.level as usize)
                    .filter(|_| a.level > 0)
                    .ok_or_else(|| bad(format!("cannot rescale at level {}", a.level)))?;
                ValueShape {
                    level: a.level - 1,
                    scale: a.scale / *q as f64,
                    ..a
                }
            }
            Instr::ModDown { level, .. } => {
                let a = arg(0)?;
                if *level > a.level {
                    return Err(bad(format!(
                        "cannot go up from level {} to {level}",
                        a.level
                    )));
                }
                ValueShape { level: *level, ..a }
            }
            Instr::Rotate { .. } | Instr::Conjugate { .. } => {
                let a = arg(0)?;
                degree1(a)?;
                a
            }
        })
    }

    /// Checks a predicted shape against the node's record.
    fn check(&self, id: ValueId, node: &Node, v: &ValueShape) -> Result<(), ExecError> {
        if v.level != node.level || v.degree != node.degree || !scales_match(v.scale, node.scale) {
            return Err(ExecError::mismatch(
                id,
                node,
                format!(
                    "the operands give level {}, degree {}, scale 2^{:.6}; the schedule \
                     records level {}, degree {}, scale 2^{:.6}",
                    v.level,
                    v.degree,
                    v.scale.log2(),
                    node.level,
                    node.degree,
                    node.scale.log2()
                ),
            ));
        }
        Ok(())
    }

    /// Counts one node, charging it `seconds`, and its plaintext encoding if new.
    fn count(&self, node: &Node, seconds: f64) {
        let log_n = self.schedule.params.log_n;
        let level = exec_level(&self.schedule.nodes, node);
        let name = node.instr.name();
        let plain = plain_operand(self.schedule, node);
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        *tally
            .ops
            .entry(name.to_string())
            .or_default()
            .entry(level)
            .or_default() += 1;
        *tally.seconds_by_op.entry(name.to_string()).or_default() += seconds;
        if let Some((plain, plain_level, scale)) = plain {
            if tally
                .plaintexts
                .insert(plain_key(&plain, plain_level, scale))
            {
                let t = self.table.seconds(log_n, ENCODE, plain_level as usize + 1);
                *tally.seconds_by_op.entry(ENCODE.to_string()).or_default() += t;
            }
        }
    }
}

impl Evaluator for CostEvaluator<'_> {
    type Value = ValueShape;

    fn eval(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&ValueShape],
    ) -> Result<ValueShape, ExecError> {
        let v = self.predict(id, node, args)?;
        self.check(id, node, &v)?;
        let limbs = exec_level(&self.schedule.nodes, node) as usize + 1;
        let t = self
            .table
            .seconds(self.schedule.params.log_n, node.instr.name(), limbs);
        self.count(node, t);
        Ok(v)
    }

    fn value_bytes(&self, v: &ValueShape) -> usize {
        (v.degree as usize + 1) * (v.level as usize + 1) * self.schedule.params.n() * 8
    }

    /// Charges the group as the CKKS evaluator runs it: hoisted (the first rotation fully,
    /// the others as [`ROTATE_HOISTED`]) when that is cheaper, else as separate rotations.
    fn eval_hoisted(
        &self,
        group: &[(ValueId, &Node)],
        operand: &ValueShape,
    ) -> Result<Vec<ValueShape>, ExecError> {
        let log_n = self.schedule.params.log_n;
        let limbs = operand.level as usize + 1;
        let (_, hoist) = self.table.rotations_seconds(log_n, limbs, group.len());
        group
            .iter()
            .enumerate()
            .map(|(i, (id, node))| {
                let v = self.predict(*id, node, &[operand])?;
                self.check(*id, node, &v)?;
                let op = if hoist && i > 0 {
                    ROTATE_HOISTED
                } else {
                    "rotate"
                };
                self.count(node, self.table.seconds(log_n, op, limbs));
                Ok(v)
            })
            .collect()
    }
}
