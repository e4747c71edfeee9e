//! The server: evaluation keys and encrypted inputs in, encrypted outputs out.
//!
//! It is handed bytes only — the files a real server would receive — and never sees a secret
//! key: the types it works with cannot decrypt.

use std::time::Instant;

use hel_runtime::client::{self, EncryptedInputs, EncryptedOutputs, EvalKeys};
use hel_runtime::exec::{execute, CkksEvaluator, RunOptions, RunStats};
use hel_runtime::schedule::Schedule;

use super::TrainError;

/// How the server runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerOptions {
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    /// Soft limit on live ciphertext bytes (see [`RunOptions::memory_limit`]).
    pub memory_limit: Option<usize>,
}

/// One server run.
pub struct ServerRun {
    /// The encrypted-outputs file sent back.
    pub outputs: Vec<u8>,
    /// The executor's measurements: `seconds` is the circuit evaluation alone.
    pub stats: RunStats,
    /// Wall-clock time including loading the keys and inputs and writing the outputs.
    pub total_seconds: f64,
}

/// Evaluates `schedule` on the uploaded inputs. `progress` sees (nodes done, total nodes).
pub fn run(
    schedule: &Schedule,
    eval_keys: &[u8],
    inputs: &[u8],
    opts: ServerOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<ServerRun, TrainError> {
    let t0 = Instant::now();
    let ctx = client::context(schedule)?;
    let keys = EvalKeys::from_bytes(schedule, &ctx, eval_keys)?;
    let (cts, public) = {
        let enc = EncryptedInputs::from_bytes(schedule, &ctx, inputs)?;
        // The seeded form is dropped as soon as it is expanded: at N = 2^15 the inputs are
        // gigabytes, and three copies of them would not fit next to the run.
        (enc.expand(&ctx)?, enc.public)
    };
    let evaluator = CkksEvaluator::new(&ctx, schedule, &keys.relin, &keys.galois, cts, public)?;
    let result = execute(
        schedule,
        &evaluator,
        &RunOptions {
            threads: opts.threads,
            progress,
            memory_limit: opts.memory_limit,
        },
    )?;
    drop(evaluator);
    let outputs = EncryptedOutputs::new(schedule, result.outputs).to_bytes(&ctx)?;
    Ok(ServerRun {
        outputs,
        stats: result.stats,
        total_seconds: t0.elapsed().as_secs_f64(),
    })
}
