//! The server: evaluation keys and encrypted inputs in, encrypted outputs out.
//!
//! It is handed bytes only — the files a real server would receive — and never sees a secret
//! key: the types it works with cannot decrypt.

use std::time::Instant;

use hel_runtime::ckks::bootstrap::{BootstrapKeys, BootstrapParams, Bootstrapper};
use hel_runtime::ckks::{Ciphertext, Context};
use hel_runtime::client::{self, EncryptedInputs, EncryptedOutputs, EvalKeys, KeyId};
use hel_runtime::exec::{execute, CkksEvaluator, Refreshed, Refresher, RunOptions, RunStats};
use hel_runtime::schedule::{Schedule, ValueId};

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
    /// Wall-clock time including loading the inputs and writing the outputs (the keys are
    /// parsed once per key set, when received: [`Server::receive_keys`]).
    pub total_seconds: f64,
}

/// The server across the rounds of one training: it keeps the evaluation keys it was sent,
/// parsed, per key set (as a real server keeps a client's keys between requests), so rounds
/// that share a key set do not parse the same keys again.
#[derive(Default)]
pub struct Server {
    /// Indexed by key set; `None` once forgotten.
    held: Vec<Option<HeldKeys>>,
    /// The bootstrapping circuit, the client's bootstrapping keys and the key set they
    /// belong to, when the state is refreshed on the server (`--refresh bootstrap`).
    boot: Option<(Bootstrapper, BootstrapKeys, KeyId)>,
}

/// A round run whose outputs stay on the server (the state is refreshed there).
pub struct HeldRun {
    /// The output ciphertexts, by schedule value.
    pub outputs: Vec<(ValueId, Ciphertext)>,
    pub stats: RunStats,
    pub total_seconds: f64,
}

/// A key set as the server holds it: the keys and the CKKS context they were parsed for.
struct HeldKeys {
    ctx: Context,
    keys: EvalKeys,
}

impl Server {
    /// Receives key set `key_set` (the evaluation-keys file, made for `schedule`'s parameters)
    /// and parses it. Returns the seconds that took.
    pub fn receive_keys(
        &mut self,
        key_set: usize,
        schedule: &Schedule,
        eval_keys: &[u8],
    ) -> Result<f64, TrainError> {
        let t0 = Instant::now();
        let ctx = client::context(schedule)?;
        let keys = EvalKeys::from_bytes(schedule, &ctx, eval_keys)?;
        if self.held.len() <= key_set {
            self.held.resize_with(key_set + 1, || None);
        }
        self.held[key_set] = Some(HeldKeys { ctx, keys });
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Receives the bootstrapping keys of key set `key_id` (the file the client made for
    /// `params`) and builds the bootstrapping circuit. Returns the seconds that took.
    pub fn receive_bootstrap_keys(
        &mut self,
        params: &BootstrapParams,
        bytes: &[u8],
        key_id: KeyId,
    ) -> Result<f64, TrainError> {
        let t0 = Instant::now();
        let boot = Bootstrapper::new(params)?;
        let keys = boot.keys_from_bytes(bytes)?;
        self.boot = Some((boot, keys, key_id));
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Runs `schedule` under key set `key_set` on the client's upload and the refreshed `state`
    /// (see [`CkksEvaluator::new_seeded_with_state`]; none for a schedule without refreshed
    /// inputs), keeping the outputs on the server. Takes the upload by value, like
    /// [`Server::run`].
    pub fn run_held(
        &self,
        key_set: usize,
        schedule: &Schedule,
        inputs: Vec<u8>,
        state: Vec<Ciphertext>,
        opts: ServerOptions,
        progress: Option<&(dyn Fn(usize, usize) + Sync)>,
    ) -> Result<HeldRun, TrainError> {
        let t0 = Instant::now();
        let HeldKeys { ctx, keys } = self.held(key_set)?;
        keys.check(schedule, ctx)?;
        let enc = EncryptedInputs::from_bytes(schedule, ctx, &inputs)?;
        enc.check_keys(keys)?;
        drop(inputs);
        let evaluator = CkksEvaluator::new_seeded_with_state(
            ctx,
            schedule,
            &keys.relin,
            &keys.galois,
            enc.ciphertexts,
            state,
            enc.public,
        )?;
        let result = execute(
            schedule,
            &evaluator,
            &RunOptions {
                threads: opts.threads,
                progress,
                memory_limit: opts.memory_limit,
            },
        )?;
        Ok(HeldRun {
            outputs: result.outputs,
            stats: result.stats,
            total_seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// The first round's state: zeros, made by the server.
    pub fn initial_state(
        &self,
        key_set: usize,
        schedule: &Schedule,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        Ok(Refresher::initial_state(
            &self.held(key_set)?.ctx,
            schedule,
        )?)
    }

    /// Bootstraps the state outputs of a round (`prev`, run under key set `prev_set`) into the
    /// state inputs of the next (`next`, under `next_set`).
    pub fn refresh(
        &self,
        (prev_set, prev, outputs): (usize, &Schedule, &[(ValueId, Ciphertext)]),
        (next_set, next): (usize, &Schedule),
    ) -> Result<Refreshed, TrainError> {
        let (boot, keys, key_id) = self
            .boot
            .as_ref()
            .ok_or_else(|| TrainError::Internal("the server has no bootstrapping keys".into()))?;
        let (from, to) = (self.held(prev_set)?, self.held(next_set)?);
        // Keys of another secret key would bootstrap the state into noise.
        for held in [from, to] {
            client::check_key_set(
                "bootstrapping keys",
                *key_id,
                "evaluation keys",
                held.keys.key_id,
            )?;
        }
        let refresher = Refresher::new(boot, keys);
        Ok(refresher.refresh(&from.ctx, prev, outputs, &to.ctx, next)?)
    }

    /// The encrypted-outputs file of a held run (the download).
    pub fn outputs_file(
        &self,
        key_set: usize,
        schedule: &Schedule,
        outputs: Vec<(ValueId, Ciphertext)>,
    ) -> Result<Vec<u8>, TrainError> {
        let HeldKeys { ctx, keys } = self.held(key_set)?;
        Ok(EncryptedOutputs::new(schedule, keys.key_id, outputs).to_bytes(ctx)?)
    }

    fn held(&self, key_set: usize) -> Result<&HeldKeys, TrainError> {
        self.held
            .get(key_set)
            .and_then(Option::as_ref)
            .ok_or_else(|| TrainError::Internal(format!("the server has no key set {key_set}")))
    }

    /// Whether the server still holds key set `key_set`.
    pub fn holds(&self, key_set: usize) -> bool {
        self.held.get(key_set).is_some_and(Option::is_some)
    }

    /// Drops key set `key_set` (no remaining circuit uses it).
    pub fn forget(&mut self, key_set: usize) {
        if let Some(slot) = self.held.get_mut(key_set) {
            *slot = None;
        }
    }

    /// Evaluates `schedule` on the uploaded inputs under key set `key_set`. `progress` sees
    /// (nodes done, total nodes).
    ///
    /// Takes the upload by value: it can be gigabytes, and the file and its parsed form must
    /// not both be alive next to the run. Each input ciphertext stays bit-packed until its
    /// first use and is dropped after its last ([`CkksEvaluator::new_seeded`]).
    pub fn run(
        &self,
        key_set: usize,
        schedule: &Schedule,
        inputs: Vec<u8>,
        opts: ServerOptions,
        progress: Option<&(dyn Fn(usize, usize) + Sync)>,
    ) -> Result<ServerRun, TrainError> {
        let t0 = Instant::now();
        let held = self.run_held(key_set, schedule, inputs, Vec::new(), opts, progress)?;
        let outputs = self.outputs_file(key_set, schedule, held.outputs)?;
        Ok(ServerRun {
            outputs,
            stats: held.stats,
            total_seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

/// The soft limit on live ciphertexts `hel train` uses when none is given: an eighth of the
/// physical memory (`None` where it cannot be read).
///
/// Why so little: the limit counts only the intermediate values. Next to them live the
/// input ciphertexts not used yet (seed-compressed), the evaluation keys (twice: the
/// file and the loaded keys) and the allocator's retained memory, and the limit is soft (the
/// scheduler only reorders, so the peak overshoots it: 6.3 GiB live under a 2 GiB limit on
/// that configuration). Without a limit that run needs more than 24 GiB.
pub fn default_memory_limit() -> Option<usize> {
    crate::memory::total().map(|t| (t / 8) as usize)
}
