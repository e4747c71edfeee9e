//! The cost model's view of a compiled circuit: a dry run of its schedule priced with the run's
//! cost table (hel's built-in one, the lowering chooses layouts by, unless `hel calibrate`
//! measured this machine), before anything is encrypted.
//! The round-size search compares circuits by it, and the report carries it next to the
//! measured server time.

use hel_runtime::exec::{execute, CostEvaluator, CostTable, RunOptions};
use hel_runtime::schedule::Schedule;
use serde::Serialize;

use super::TrainError;

/// Estimated seconds of one circuit's server run.
#[derive(Clone, Debug, Serialize)]
pub struct CostEstimate {
    /// Every operation, one after the other, on one thread.
    pub work_seconds: f64,
    /// The longest dependency chain, every operation on one thread.
    pub critical_path_seconds: f64,
}

impl CostEstimate {
    /// Estimated seconds on `threads` threads with the work divided evenly (the runtime also
    /// splits a lone operation's limbs among threads).
    pub fn seconds_on(&self, threads: usize) -> f64 {
        self.work_seconds / threads.max(1) as f64
    }
}

/// Dry-runs `schedule` with `table`.
pub fn estimate(schedule: &Schedule, table: &CostTable) -> Result<CostEstimate, TrainError> {
    let internal = |e: hel_runtime::exec::ExecError| TrainError::Internal(e.to_string());
    let evaluator = CostEvaluator::new(schedule, table.clone()).map_err(internal)?;
    let options = RunOptions {
        threads: 1,
        ..RunOptions::default()
    };
    execute(schedule, &evaluator, &options).map_err(internal)?;
    let report = evaluator.report().map_err(internal)?;
    Ok(CostEstimate {
        work_seconds: report.work_seconds,
        critical_path_seconds: report.critical_path_seconds,
    })
}
