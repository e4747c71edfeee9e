//! The cost table: measured seconds per CKKS operation as a function of the ring degree and
//! the number of limbs. The compiler's layout choice prices candidate plans with it and the
//! runtime's cost evaluator estimates run times with it; the runtime measures a table for the
//! machine at hand (`hel calibrate`).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A cost table that cannot be read or is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cost table: {0}")]
pub struct CostTableError(pub String);

/// Pseudo-operation: encoding one plaintext operand (done once per distinct plaintext).
pub const ENCODE: &str = "encode";
/// Pseudo-operation: each rotation after the first in a hoisting group (they share the first
/// one's key-switching decomposition).
pub const ROTATE_HOISTED: &str = "rotate_hoisted";

/// Key switching costs ~dnum·(limbs + special primes) NTTs with dnum growing with the limbs at a
/// fixed digit size: quadratic in the limbs, where everything else is linear.
fn is_key_switching(op: &str) -> bool {
    matches!(op, "relinearize" | "rotate" | "conjugate" | ROTATE_HOISTED)
}

/// The fraction of a bootstrap's single-thread time that more threads divide (Amdahl's law):
/// `hel bench bootstrap --for-training --slots 256 --repeat 3` measured medians of 7.17 s on
/// one thread and 5.50 s on two (2026-12-06, the 2-core development VM), a speedup of 1.30.
pub const BOOTSTRAP_PARALLEL_FRACTION: f64 = 0.46;

/// Measured seconds of one operation at one ring degree, at several limb counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostCurve {
    pub log_n: u32,
    /// [`crate::Instr::name`], [`ENCODE`] or [`ROTATE_HOISTED`].
    pub op: String,
    /// (data limbs = level + 1, seconds), sorted by limbs.
    pub points: Vec<(u32, f64)>,
}

/// Seconds per operation as a function of the ring degree and the number of limbs.
///
/// Between measured limb counts the time is interpolated linearly; beyond them it is
/// extrapolated linearly in the limbs, or quadratically for key-switching operations. A ring
/// degree that was not measured is scaled from the nearest one by N·log N. The curves are
/// measured on the standard chain of each ring degree ([`crate::CkksParams::standard`]); other chains
/// at the same N differ mainly in the key-switching digit count, which this ignores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// Threads the measurements ran on. The runtime's calibration uses 1: the numbers are work
    /// (CPU-seconds), which parallel execution divides among threads.
    pub threads: usize,
    pub curves: Vec<CostCurve>,
    /// Measured bootstraps (`hel calibrate --bootstrap`); a table without them (older files,
    /// a calibration that skipped them) borrows the default table's.
    #[serde(default)]
    pub bootstraps: Vec<BootstrapCost>,
}

/// Measured seconds of one bootstrap, on one thread, of the chain `hel train --refresh
/// bootstrap` refreshes a state of 2^`log_slots` slots with (the runtime's
/// `BootstrapParams::for_program`). A bootstrap is one indivisible circuit of a few thousand
/// key switches on a chain of its own, so it is priced whole rather than by its operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCost {
    pub log_n: u32,
    pub log_slots: u32,
    pub seconds: f64,
}

impl Default for CostTable {
    /// Measured on the development machine with the runtime's calibration (see
    /// `cost_default.rs`).
    fn default() -> Self {
        CostTable {
            threads: 1,
            curves: crate::cost_default::MEASURED
                .iter()
                .map(|(log_n, op, points)| CostCurve {
                    log_n: *log_n,
                    op: op.to_string(),
                    points: points.to_vec(),
                })
                .collect(),
            bootstraps: crate::cost_default::BOOTSTRAPS
                .iter()
                .map(|&(log_n, log_slots, seconds)| BootstrapCost {
                    log_n,
                    log_slots,
                    seconds,
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

    /// Estimated single-thread seconds of running `schedule`: every node priced at the level
    /// it executes at. Rotation groups are charged as separate rotations and plaintext
    /// encodings are left out (the runtime's cost evaluator counts both); good enough to
    /// compare two schedules of one program, which is what the compiler uses it for.
    pub fn schedule_work_seconds(&self, schedule: &crate::Schedule) -> f64 {
        schedule
            .nodes
            .iter()
            .map(|n| self.node_seconds(schedule, n))
            .sum()
    }

    /// Estimated single-thread seconds of `node` of `schedule`, at the level it executes at;
    /// a bootstrap is priced whole by [`CostTable::bootstrap_seconds`] for the schedule's
    /// chain (0 where no table has a figure for its ring: only test rings).
    pub fn node_seconds(&self, schedule: &crate::Schedule, node: &crate::Node) -> f64 {
        if let (crate::Instr::Bootstrap { .. }, Some(b)) = (&node.instr, &schedule.bootstrap) {
            return self.bootstrap_seconds(b.log_n, b.log_slots).unwrap_or(0.0);
        }
        let limbs = crate::rules::exec_level(&schedule.nodes, node) as usize + 1;
        self.seconds(schedule.params.log_n, node.instr.name(), limbs)
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

    /// Estimated single-thread seconds of one bootstrap of 2^`log_slots` slots at ring degree
    /// 2^`log_n` ([`BootstrapCost`]): interpolated linearly in `log_slots` between the measured
    /// slot counts, the nearest one's outside them, from the default table where this one has
    /// no figure for that ring. `None` where neither has (hel bootstraps only at N = 2^16).
    pub fn bootstrap_seconds(&self, log_n: u32, log_slots: u32) -> Option<f64> {
        let measured = |table: &CostTable| -> Vec<(u32, f64)> {
            let mut points: Vec<(u32, f64)> = table
                .bootstraps
                .iter()
                .filter(|b| b.log_n == log_n)
                .map(|b| (b.log_slots, b.seconds))
                .collect();
            points.sort_by_key(|p| p.0);
            points.dedup_by_key(|p| p.0);
            points
        };
        let mut points = measured(self);
        if points.is_empty() {
            points = measured(&CostTable::default());
        }
        let (first, last) = (*points.first()?, *points.last()?);
        if log_slots <= first.0 {
            return Some(first.1);
        }
        if log_slots >= last.0 {
            return Some(last.1);
        }
        points.windows(2).find_map(|w| {
            let ((a, ta), (b, tb)) = (w[0], w[1]);
            (a..=b)
                .contains(&log_slots)
                .then(|| ta + (tb - ta) * (log_slots - a) as f64 / (b - a) as f64)
        })
    }

    /// [`CostTable::bootstrap_seconds`] on `threads` threads. A bootstrap is a chain of key
    /// switches, each waiting for the one before; only the limbs inside each operation are
    /// shared among threads, and that part is memory-bound. Amdahl's law with the parallel
    /// fraction [`BOOTSTRAP_PARALLEL_FRACTION`] measured on the development machine; dividing
    /// by the threads as for a round's many independent operations priced 31 bootstraps of a
    /// `hel train` run at 2.6 s each on two threads where they took 4.3 s.
    pub fn bootstrap_seconds_on(&self, log_n: u32, log_slots: u32, threads: usize) -> Option<f64> {
        let p = BOOTSTRAP_PARALLEL_FRACTION;
        let speedup = 1.0 / ((1.0 - p) + p / threads.max(1) as f64);
        Some(self.bootstrap_seconds(log_n, log_slots)? / speedup)
    }

    /// Checks that every curve is for a ring degree hel uses and has sorted, positive limb
    /// counts and finite non-negative times (a table is a file: [`CostTable::seconds`]
    /// subtracts ring degrees in `i32`, which a degree of 2^(2^31) would overflow).
    pub fn validate(&self) -> Result<(), CostTableError> {
        use crate::params::{MAX_LOG_N, MIN_LOG_N};
        for c in &self.curves {
            if !(MIN_LOG_N..=MAX_LOG_N).contains(&c.log_n) {
                return Err(CostTableError(format!(
                    "curve `{}` at N = 2^{}: hel uses N = 2^{MIN_LOG_N} to 2^{MAX_LOG_N}",
                    c.op, c.log_n
                )));
            }
            let sorted = c.points.windows(2).all(|w| w[0].0 < w[1].0);
            let sane = c
                .points
                .iter()
                .all(|(l, t)| *l > 0 && t.is_finite() && *t >= 0.0);
            if !sorted || !sane {
                return Err(CostTableError(format!(
                    "curve `{}` at N = 2^{} needs increasing limb counts and finite, \
                     non-negative times",
                    c.op, c.log_n
                )));
            }
        }
        for b in &self.bootstraps {
            if !(MIN_LOG_N..=MAX_LOG_N).contains(&b.log_n)
                || b.log_slots >= b.log_n
                || !(b.seconds.is_finite() && b.seconds > 0.0)
            {
                return Err(CostTableError(format!(
                    "bootstrap of 2^{} slots at N = 2^{}: needs a ring hel uses, at most N/2 slots \
                     and a finite, positive time",
                    b.log_slots, b.log_n
                )));
            }
        }
        Ok(())
    }

    /// The table as RON text (for `hel calibrate` to save).
    pub fn to_ron(&self) -> Result<String, CostTableError> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new())
            .map_err(|e| CostTableError(e.to_string()))
    }

    /// Parses and validates a table written by [`CostTable::to_ron`].
    pub fn from_ron(text: &str) -> Result<Self, CostTableError> {
        let table: CostTable = ron::from_str(text).map_err(|e| CostTableError(e.to_string()))?;
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
