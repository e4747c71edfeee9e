//! Client and server in one process: keygen, encryption, the server's run on the evaluation
//! keys alone, decryption. What benchmarks and tests that run a whole schedule encrypted share
//! (`hel bench zoo`, the CLI tests); the real flow keeps the two sides apart (`client`, `exec`).

use std::time::Instant;

use crate::ckks::{Context, Sampler, SecretKey};
use crate::client::{self, EvalKeys};
use crate::exec::{self, CkksEvaluator, RunOptions};
use crate::schedule::{Schedule, Tensor};

/// One schedule's keys, made once for any number of runs.
pub struct Local<'s> {
    schedule: &'s Schedule,
    ctx: Context,
    sk: SecretKey,
    keys: EvalKeys,
}

/// What one run returned.
pub struct LocalRun {
    /// The decrypted outputs, in the schedule's output order.
    pub outputs: Vec<Tensor>,
    /// Wall-clock seconds of the server's run (keys and inputs already loaded).
    pub server_seconds: f64,
}

impl<'s> Local<'s> {
    /// The context and a fresh key set for `schedule`. Errors say which step failed.
    pub fn new(schedule: &'s Schedule, sampler: &mut Sampler) -> Result<Self, String> {
        let ctx = client::context(schedule).map_err(|e| format!("context: {e}"))?;
        let (sk, keys) =
            client::keygen(schedule, &ctx, sampler).map_err(|e| format!("keygen: {e}"))?;
        Ok(Local {
            schedule,
            ctx,
            sk,
            keys,
        })
    }

    /// Encrypts `inputs`, runs the schedule as the server would and decrypts its outputs.
    pub fn run(
        &self,
        inputs: &[Vec<Tensor>],
        options: &RunOptions,
        sampler: &mut Sampler,
    ) -> Result<LocalRun, String> {
        let (s, ctx) = (self.schedule, &self.ctx);
        let upload = client::encrypt_inputs(s, ctx, &self.sk, inputs, sampler)
            .map_err(|e| format!("encrypt: {e}"))?;
        let key_id = upload.key_id;
        let evaluator = CkksEvaluator::new_seeded(
            ctx,
            s,
            &self.keys.relin,
            &self.keys.galois,
            upload.ciphertexts,
            upload.public,
        )
        .map_err(|e| format!("evaluator: {e}"))?;
        let t0 = Instant::now();
        let result = exec::execute(s, &evaluator, options).map_err(|e| format!("execute: {e}"))?;
        let server_seconds = t0.elapsed().as_secs_f64();
        let download = client::EncryptedOutputs::new(s, key_id, result.outputs);
        let outputs = client::decrypt_outputs(s, ctx, &self.sk, &download)
            .map_err(|e| format!("decrypt: {e}"))?;
        Ok(LocalRun {
            outputs,
            server_seconds,
        })
    }
}
