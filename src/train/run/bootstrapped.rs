//! The rounds with the state refreshed on the server (`--refresh bootstrap`): the client
//! makes its keys and uploads every round's minibatches once, the server runs the rounds one
//! after the other and bootstraps the weights (and NAG's momentum) between them, and the
//! client downloads and decrypts the model once.

use std::time::Instant;

use hel_runtime::ckks::bootstrap::Bootstrapper;
use hel_runtime::exec::bootstraps_between;

use super::super::program::Interface;
use super::super::progress::Phase;
use super::super::report::{human_bytes, RoundReport};
use super::super::rounds::{self, RoundPlan, RoundTemplate};
use super::super::server::ServerOptions;
use super::super::TrainError;
use super::{fits, CircuitKey, Prog, Run};
use crate::data::Matrix;

/// The round size of least estimated server work with the state refreshed on the server.
pub(super) struct FastestBootstrapped {
    pub(super) size: usize,
    /// Estimated seconds of all K minibatches at `size` on the server's threads: rounds and
    /// bootstraps.
    seconds: f64,
    threads: usize,
    /// The same at the largest size that fits.
    largest_seconds: f64,
    /// Bootstraps between the rounds at `size`, and the estimated seconds of one.
    bootstraps: usize,
    one_bootstrap: f64,
}

impl FastestBootstrapped {
    /// Why the plan takes `size` rather than `largest`, for the report.
    pub(super) fn why(&self, largest: usize) -> String {
        format!(
            "{} per round is the fastest by the cost model ({:.0} s of estimated server time \
             on {} thread(s) with {} bootstraps of {:.1} s each, against {:.0} s at {largest}: \
             a deeper round runs every operation on more limbs, a bootstrap gains little from \
             threads)",
            self.size,
            self.seconds,
            self.threads,
            self.bootstraps,
            self.one_bootstrap,
            self.largest_seconds
        )
    }
}

impl Run<'_> {
    /// The cost table's estimate of one bootstrap of the run's chain on the server's threads
    /// (`CostTable::bootstrap_seconds_on`: a bootstrap gains far less from more threads than
    /// a round does); `None` without one.
    pub(super) fn one_bootstrap_seconds(&self) -> Option<f64> {
        let chain = &self.boot.as_ref()?.chain;
        self.opts.cost_table.bootstrap_seconds_on(
            chain.log_n,
            chain.log_slots,
            self.server_threads(),
        )
    }

    /// Among the round sizes up to the largest that fits, the one with
    /// the least estimated server time for all K minibatches on the server's threads: the
    /// rounds, each priced by the cost model with its work divided among the threads, plus
    /// the bootstraps between them ([`bootstraps_between`]), priced by the cost table's
    /// measured bootstrap of the chain with the little that threads gain it. Fewer, deeper
    /// rounds save bootstraps but run on more limbs: NAG on MNIST measured 147 s in rounds of
    /// two against 168 s in rounds of four; priced as work (one thread), rounds of one with
    /// 31 bootstraps looked faster, and their bootstraps alone took 144 s. Ties go to the
    /// larger size. `None` without a bootstrap figure for the
    /// chain's ring. Every round size is priced by the first round's program (the rounds
    /// differ only in constants).
    pub(super) fn fastest_bootstrapped_size(
        &mut self,
        template: &RoundTemplate,
        largest: usize,
    ) -> Result<Option<FastestBootstrapped>, TrainError> {
        let (Some(chain), Some(one)) = (
            self.boot.as_ref().map(|b| b.chain.clone()),
            self.one_bootstrap_seconds(),
        ) else {
            return Ok(None);
        };
        // A bootstrap leaves its output at the chain's program levels.
        let top = chain.program_levels;
        let threads = self.server_threads();
        let first = Prog::Round(template, 0);
        let mut best: Option<FastestBootstrapped> = None;
        let mut at_largest = f64::INFINITY;
        for k in (1..=largest).rev() {
            let plan = RoundPlan::split(self.k_total, k, String::new());
            let mut work = 0.0;
            let mut fits = true;
            for &len in &plan.sizes {
                fits = self.try_compile(first, len)?;
                if !fits {
                    break;
                }
                work += self
                    .circuit(&first.key(len))?
                    .report
                    .cost_model
                    .work_seconds;
            }
            if !fits {
                continue;
            }
            let round = &self.circuit(&first.key(k))?.schedule;
            let bootstraps = bootstraps_between(round, round, top) * (plan.sizes.len() - 1);
            let seconds = work / threads as f64 + bootstraps as f64 * one;
            if k == largest {
                at_largest = seconds;
            }
            if best.as_ref().is_none_or(|b| seconds < b.seconds) {
                best = Some(FastestBootstrapped {
                    size: k,
                    seconds,
                    threads,
                    largest_seconds: f64::INFINITY,
                    bootstraps,
                    one_bootstrap: one,
                });
            }
        }
        Ok(best.map(|b| FastestBootstrapped {
            largest_seconds: at_largest,
            ..b
        }))
    }

    /// [`Run::rounds`] with the state refreshed on the server; returns the decrypted weights.
    pub(super) fn rounds_on_server(
        &mut self,
        plan: &RoundPlan,
        template: &RoundTemplate,
        iface: &Interface,
        batches: &[Matrix],
    ) -> Result<Vec<f64>, TrainError> {
        let rounds = plan.rounds();
        let n = rounds.len();
        let keys: Vec<CircuitKey> = rounds
            .iter()
            .map(|&(start, len)| Prog::Round(template, start).key(len))
            .collect();
        // The client's plaintext estimate of the state at each round's start: the headroom
        // check of inputs it never sees encrypted.
        let estimates =
            rounds::plaintext_states(template, plan, iface, batches, self.tuning.as_ref())?;

        // Keys: the bootstrapping keys first (their secret key is every key set's); none
        // when one round holds all the minibatches.
        if n > 1 {
            self.bootstrap_keys()?;
        }
        for (r, &(start, len)) in rounds.iter().enumerate() {
            if !self.try_compile(Prog::Round(template, start), len)? {
                return Err(TrainError::Internal(format!(
                    "round {} ({len} minibatches) no longer fits the bootstrapping chain",
                    r + 1
                )));
            }
            if !self.order.contains(&keys[r]) {
                self.order.push(keys[r]);
            }
            let c = self.circuit(&keys[r])?;
            // The bootstrapping keys are in memory by now; the kept diagonals and buffers
            // come with the first bootstrap.
            let boot_run = self.boot.as_ref().map_or(0, |b| b.run_bytes);
            let need = c.schedule.resources().server_peak_bytes + boot_run;
            fits(self.opts, "the server's run", &c.schedule, need)?;
            self.ensure_keys(&keys[r], &format!("round {} of {n}", r + 1))?;
        }

        // The upload: every round's minibatches, encrypted at once.
        self.progress
            .start(Phase::Encrypt, None, &format!("{n} round(s)"));
        let t0 = Instant::now();
        let mut uploads = Vec::with_capacity(n);
        for (r, &(start, len)) in rounds.iter().enumerate() {
            let circuit = self
                .circuits
                .get_mut(&keys[r])
                .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?;
            let tensors = circuit.round_inputs(
                r,
                iface,
                Some(template),
                &estimates[r],
                batches,
                (start, len),
            )?;
            uploads.push(self.client.encrypt(&circuit.schedule, &tensors)?);
        }
        let secs = t0.elapsed().as_secs_f64();
        self.encrypt_seconds += secs;
        let upload_total: usize = uploads.iter().map(Vec::len).sum();
        self.progress.finish(&format!(
            "encrypted {} minibatch(es): one upload of {} ({secs:.1} s)",
            plan.sizes.iter().sum::<usize>(),
            human_bytes(upload_total)
        ));

        // The server: the rounds, bootstrapping the state between them.
        let opts = ServerOptions {
            threads: self.opts.threads,
            memory_limit: self.opts.memory_limit,
        };
        let key_set = |run: &Self, key: &CircuitKey| {
            run.circuit(key)?
                .key_set
                .ok_or_else(|| TrainError::Internal("keys vanished".into()))
        };
        let first = self.circuit(&keys[0])?;
        let mut state = self
            .server
            .initial_state(key_set(self, &keys[0])?, &first.schedule)?;
        let mut last = None;
        // Accumulated here, added to the run after the loop (which borrows the circuits).
        let (mut served_total, mut threads) = (0.0, self.threads);
        let (mut bootstraps, mut bootstrap_seconds) = (0, 0.0);
        let mut reports = Vec::with_capacity(n);
        let progress = self.progress;
        for (r, upload) in uploads.into_iter().enumerate() {
            let detail = format!("round {} of {n}", r + 1);
            let set = key_set(self, &keys[r])?;
            let schedule = &self.circuit(&keys[r])?.schedule;
            progress.start(Phase::Server, Some(schedule.nodes.len() as u64), &detail);
            let tick = move |done: usize, _total: usize| progress.advance(done as u64);
            let upload_bytes = upload.len();
            let held = self.server.run_held(
                set,
                schedule,
                upload,
                std::mem::take(&mut state),
                opts,
                Some(&tick),
            )?;
            served_total += held.total_seconds;
            threads = held.stats.threads;
            let mut seconds = held.stats.seconds;
            let mut refreshed = String::new();
            if r + 1 < n {
                let t0 = Instant::now();
                let next = self.circuit(&keys[r + 1])?;
                let fresh = self.server.refresh(
                    (set, schedule, &held.outputs),
                    (key_set(self, &keys[r + 1])?, &next.schedule),
                )?;
                let boot_secs = t0.elapsed().as_secs_f64();
                seconds += boot_secs;
                served_total += boot_secs;
                bootstraps += fresh.bootstraps;
                bootstrap_seconds += boot_secs;
                refreshed = format!(
                    "; {} state ciphertext(s) refreshed by {} bootstrap(s) in {boot_secs:.2} s",
                    fresh.state.len(),
                    fresh.bootstraps
                );
                state = fresh.state;
            }
            progress.finish(&format!(
                "server: {:.2} s on {} thread(s), peak {} of live ciphertexts{refreshed}",
                held.stats.seconds,
                held.stats.threads,
                human_bytes(held.stats.peak_bytes),
            ));
            let (start, len) = rounds[r];
            reports.push(RoundReport {
                first_minibatch: start,
                minibatches: len,
                upload_bytes,
                download_bytes: 0,
                server_seconds: seconds,
                peak_memory_bytes: held.stats.peak_bytes,
                weights: Vec::new(),
            });
            if r + 1 == n {
                last = Some(held.outputs);
            }
        }

        self.server_total_seconds += served_total;
        self.threads = threads;
        self.rounds.extend(reports);
        if let Some(b) = self.boot.as_mut() {
            b.bootstraps += bootstraps;
            b.bootstrap_seconds += bootstrap_seconds;
        }

        // The download: the last round's outputs, once.
        let outputs = last.ok_or_else(|| TrainError::Internal("no round ran".into()))?;
        let last_key = keys[n - 1];
        let set = key_set(self, &last_key)?;
        let schedule = &self.circuit(&last_key)?.schedule;
        let download = self.server.outputs_file(set, schedule, outputs)?;
        self.progress.start(Phase::Decrypt, None, "");
        let t0 = Instant::now();
        let tensors = self.client.decrypt(schedule, &download)?;
        let decrypt_seconds = t0.elapsed().as_secs_f64();
        let weights = schedule
            .outputs
            .iter()
            .zip(tensors)
            .find(|(o, _)| o.name == iface.output)
            .map(|(_, t)| t.data)
            .ok_or_else(|| TrainError::Internal("the weights were not among the outputs".into()))?;
        self.decrypt_seconds += decrypt_seconds;
        self.progress.finish("decrypted the weights");
        if let Some(r) = self.rounds.last_mut() {
            r.download_bytes = download.len();
            r.weights = weights.clone();
        }
        for key in keys {
            if let Some(c) = self.circuits.remove(&key) {
                self.done.push(c.report);
            }
        }
        Ok(weights)
    }

    /// The client makes the bootstrapping keys for the run's chain and sends them; the server
    /// builds its bootstrapping circuit with them.
    fn bootstrap_keys(&mut self) -> Result<(), TrainError> {
        let chain = self
            .boot
            .as_ref()
            .map(|b| b.chain.clone())
            .ok_or_else(|| TrainError::Internal("no bootstrapping chain".into()))?;
        self.progress
            .start(Phase::Keygen, None, "bootstrapping keys");
        let t0 = Instant::now();
        let boot = Bootstrapper::new(&chain)?;
        let (bytes, key_id) = self.client.bootstrap_keygen(&boot)?;
        let run_bytes = boot.run_memory_bytes() as u64;
        drop(boot);
        let secs = t0.elapsed().as_secs_f64();
        self.keygen_seconds += secs;
        self.progress.finish(&format!(
            "bootstrapping keys: {} for 2^{} slots ({secs:.1} s)",
            human_bytes(bytes.len()),
            chain.log_slots
        ));
        self.server_total_seconds += self.server.receive_bootstrap_keys(&chain, &bytes, key_id)?;
        if let Some(b) = self.boot.as_mut() {
            b.key_bytes = bytes.len();
            b.run_bytes = run_bytes;
        }
        Ok(())
    }

    pub(super) fn circuit(&self, key: &CircuitKey) -> Result<&super::Circuit, TrainError> {
        self.circuits
            .get(key)
            .ok_or_else(|| TrainError::Internal("circuit vanished".into()))
    }
}
