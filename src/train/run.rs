//! Drives one training run: check the program, plan the rounds, then per round compile (once
//! per distinct circuit), keygen (once per circuit), encrypt, serve, decrypt; finally evaluate
//! both models on the test set.

use std::collections::HashMap;
use std::time::Instant;

use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::SourceFile;
use hel_runtime::exec::RunOptions;
use hel_runtime::schedule::{Schedule, Shape, Tensor};

use super::client::Client;
use super::cost;
use super::domain::DomainScale;
use super::history::History;
use super::plaintext::{self, in_plaintext};
use super::plan::Tuning;
use super::program::{self, Interface};
use super::progress::{Phase, Progress};
use super::report::{human_bytes, CircuitReport, KeySetReport, RoundReport, TrainReport};
use super::rounds::{self, RoundPlan, RoundTemplate};
use super::server::{Server, ServerOptions};
use super::{Refresh, TrainError, TrainOptions};
use crate::data::{batch_index, Matrix};
use crate::metrics::evaluate;
use crate::reference::Trained;
use hel_compiler::driver::far_too_deep;
use hel_compiler::lower::bounds::output_bounds_for;
use hel_compiler::{compile, Code};

mod bootstrapped;
mod choose;
mod plan_only;

pub use plan_only::plan_on;

/// Relative difference allowed between the round programs run one after the other and the
/// original program run once, in plaintext (only the order of floating-point operations could
/// differ, and it does not).
const ROUNDS_TOLERANCE: f64 = 1e-9;

/// Trains on prepared minibatches (all of the same shape) and scores both models on `z_test`
/// (the test design matrix, labels folded in). The report's `data` and `train_rows` are left
/// for the caller to fill in.
pub fn train_on(
    batches: &[Matrix],
    z_test: &Matrix,
    src: &SourceFile,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<TrainReport, TrainError> {
    let ways = choose::Ways::of(opts);
    let (pt, planned) = prepare(batches, z_test, src, opts, progress, &ways)?;
    let (batches, z_test) = (pt.batches.as_ref(), pt.z_test.as_ref());
    let choose::Planned {
        mut run,
        plan,
        template,
    } = planned;
    if let Some(t) = &template {
        let composed = rounds::plaintext_rounds(t, &plan, &pt.iface, batches, run.tuning.as_ref())?;
        let diff = program::max_abs_diff(&composed, &pt.program_weights);
        let scale = pt
            .program_weights
            .iter()
            .fold(1.0f64, |a, x| a.max(x.abs()));
        if diff > ROUNDS_TOLERANCE * scale {
            return Err(TrainError::Internal(format!(
                "the round programs differ from {} by {diff:e} in plaintext",
                src.name()
            )));
        }
    }
    let weights = run.rounds(&plan, template.as_ref(), &pt.iface, batches)?;
    let mut report = run.report(&plan, pt.method, weights, &pt.plain, pt.domain, z_test)?;
    report.history = History::new(batches, z_test, &pt.plain, &report.round_details);
    report.plan = pt.plan;
    Ok(report)
}

/// What training and planning alike start with: the plaintext run (the algorithm, the plan's
/// constants, the reference model) and the rounds planned the way `opts.refresh` asks.
fn prepare<'a>(
    batches: &'a [Matrix],
    z_test: &'a Matrix,
    src: &'a SourceFile,
    opts: &'a TrainOptions,
    progress: &'a dyn Progress,
    ways: &'a choose::Ways,
) -> Result<(plaintext::Plaintext<'a>, choose::Planned<'a>), TrainError> {
    let (m, f) = shapes(batches, z_test, opts)?;
    let pt = in_plaintext(src, batches, z_test, opts, progress)?;
    let planned = Run::new(src, opts, (m, f), pt.k, pt.tuning(), progress).planned(ways)?;
    Ok((pt, planned))
}

/// m and f of the minibatches, after checking the options and the data agree.
fn shapes(
    batches: &[Matrix],
    z_test: &Matrix,
    opts: &TrainOptions,
) -> Result<(usize, usize), TrainError> {
    if opts.minibatches == Some(0) || opts.max_minibatches == 0 {
        return Err(TrainError::Config(
            "--minibatches must be at least 1".into(),
        ));
    }
    let first = batches
        .first()
        .ok_or_else(|| TrainError::Config("there are no minibatches to train on".into()))?;
    let (m, f) = (first.rows(), first.cols());
    if z_test.cols() != f {
        return Err(TrainError::Config(format!(
            "the test data has {} columns, the minibatches {f}",
            z_test.cols()
        )));
    }
    Ok((m, f))
}

/// The round size [`Run::fastest_round_size`] picked, with the estimated server seconds per
/// minibatch at that size and at the largest size that fits.
struct FastestRound {
    size: usize,
    seconds: f64,
    largest_seconds: f64,
}

/// A compiled circuit, alive while rounds still need it. Only the schedule is kept of the
/// compilation: the optimized tensor IR is not needed after the plaintext check.
struct Circuit {
    schedule: Schedule,
    report: CircuitReport,
    /// The key set it runs under (an index into [`Run::key_sets`]), once keys exist.
    key_set: Option<usize>,
    /// The predicted output error on the data of the rounds run so far.
    data_bound: Option<f64>,
}

impl Circuit {
    /// The inputs of round `r` (global iterations `start..start + len`) on this circuit, with
    /// `state` the carried state by program variable; records the round and the precision to
    /// expect on this data (client side; see `output_bounds_for`), the worst over the rounds
    /// that share the circuit.
    fn round_inputs(
        &mut self,
        r: usize,
        iface: &Interface,
        template: Option<&RoundTemplate>,
        state: &HashMap<String, Vec<f64>>,
        batches: &[Matrix],
        (start, len): (usize, usize),
    ) -> Result<Vec<Vec<Tensor>>, TrainError> {
        self.report.rounds.push(r);
        let tensors = input_tensors(&self.schedule, iface, template, state, batches, start, len)?;
        let bound = output_bounds_for(&self.schedule, &tensors)
            .into_iter()
            .fold(0.0, f64::max);
        let bound = self.data_bound.map_or(bound, |b| b.max(bound));
        self.data_bound = Some(bound);
        self.report.predicted_error = bound;
        Ok(tensors)
    }
}

/// What a circuit compiles: the user's program, or the round program of
/// [`RoundTemplate::program_key`] (rounds whose programs have the same key are the same program).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ProgramKey {
    Whole,
    Round(usize),
}

/// A compiled circuit's identity: its program and its number of minibatches. Rounds of equal
/// length whose program does not depend on their start share one key, so one circuit and one
/// key set.
type CircuitKey = (ProgramKey, usize);

/// A program to compile: the user's, or the round program of a template for a round's start.
#[derive(Clone, Copy)]
enum Prog<'t> {
    Whole,
    Round(&'t RoundTemplate, usize),
}

impl Prog<'_> {
    fn key(&self, k: usize) -> CircuitKey {
        match self {
            Prog::Whole => (ProgramKey::Whole, k),
            Prog::Round(t, start) => (ProgramKey::Round(t.program_key(*start)), k),
        }
    }

    /// The program as progress lines name it.
    fn label(&self, src: &SourceFile) -> String {
        match self {
            Prog::Whole => src.short_name().to_string(),
            Prog::Round(t, start) if t.shifts() => {
                format!("{} (round from minibatch {start})", src.short_name())
            }
            Prog::Round(..) => format!("{} (round)", src.short_name()),
        }
    }
}

/// State of one run across its phases.
struct Run<'a> {
    src: &'a SourceFile,
    opts: &'a TrainOptions,
    m: usize,
    f: usize,
    /// K: minibatches to train on.
    k_total: usize,
    /// A tunable program's learning rate and sigmoid.
    tuning: Option<Tuning>,
    progress: &'a dyn Progress,
    /// Compiled circuits by program and minibatches.
    circuits: HashMap<CircuitKey, Circuit>,
    /// Reports of circuits no longer needed, in order of first use.
    done: Vec<CircuitReport>,
    order: Vec<CircuitKey>,
    rounds: Vec<RoundReport>,
    client: Client,
    /// The server, holding the evaluation keys of the key sets still in use.
    server: Server,
    /// Every key set generated, in order: their sizes for the report.
    key_sets: Vec<KeySetReport>,
    compile_seconds: f64,
    keygen_seconds: f64,
    encrypt_seconds: f64,
    decrypt_seconds: f64,
    server_total_seconds: f64,
    threads: usize,
    /// With the state refreshed on the server: the bootstrapping chain, its program
    /// parameters, the grid and the pairs the rounds are compiled with.
    boot: Option<BootRun>,
    /// With `--refresh bootstrap` or `auto`: what each way to refresh would cost.
    choice: Option<super::report::RefreshChoice>,
}

/// What `--refresh bootstrap` adds to a run.
struct BootRun {
    /// The chain: full slots until the grid is known, then sparse slots of its width.
    chain: hel_runtime::ckks::bootstrap::BootstrapParams,
    /// Its bottom, every round's parameters.
    program_params: hel_runtime::schedule::CkksParams,
    /// The slot grid every round lays its state out on (fixed by the first compilation).
    unit: Option<hel_runtime::schedule::Unit>,
    /// `(input, output)` of every state variable.
    pairs: Vec<(String, String)>,
    bootstraps: usize,
    bootstrap_seconds: f64,
    key_bytes: usize,
    /// What bootstrapping keeps once it has begun (`Bootstrapper::run_memory_bytes`): the
    /// rounds' memory checks add it.
    run_bytes: u64,
}

impl BootRun {
    fn new(
        chain: hel_runtime::ckks::bootstrap::BootstrapParams,
        unit: Option<hel_runtime::schedule::Unit>,
        pairs: Vec<(String, String)>,
    ) -> Result<Self, TrainError> {
        let program_params = chain
            .program_params()
            .map_err(|e| TrainError::Config(format!("the bootstrapping chain: {e}")))?;
        Ok(BootRun {
            chain,
            program_params,
            unit,
            pairs,
            bootstraps: 0,
            bootstrap_seconds: 0.0,
            key_bytes: 0,
            run_bytes: 0,
        })
    }
}

impl<'a> Run<'a> {
    fn new(
        src: &'a SourceFile,
        opts: &'a TrainOptions,
        (m, f): (usize, usize),
        k_total: usize,
        tuning: Option<Tuning>,
        progress: &'a dyn Progress,
    ) -> Self {
        Run {
            src,
            opts,
            m,
            f,
            k_total,
            tuning,
            progress,
            circuits: HashMap::new(),
            done: Vec::new(),
            order: Vec::new(),
            rounds: Vec::new(),
            client: Client::new(),
            server: Server::default(),
            key_sets: Vec::new(),
            compile_seconds: 0.0,
            keygen_seconds: 0.0,
            encrypt_seconds: 0.0,
            decrypt_seconds: 0.0,
            server_total_seconds: 0.0,
            threads: 0,
            boot: None,
            choice: None,
        }
    }

    /// The request that compiles a program for `k` minibatches.
    fn request(&self, k: usize) -> hel_compiler::Options {
        hel_compiler::Options {
            sets: program::sets_tuned(k, self.m, self.f, self.tuning.as_ref()),
            passes: self.opts.compile,
            precision_bits: self.opts.precision_bits,
            max_log_n: self.opts.max_log_n,
            // Every round must run under the one key set of the first.
            raise_scale: false,
            // The rounds keep the plan of the level asked for.
            keep_best: false,
            limits: hel_compiler::Limits::DEFAULT,
            // With the state refreshed on the server, the rounds run under the bootstrapping
            // chain's bottom, their state pinned to the packing the bootstrap refreshes.
            refresh: self.boot.as_ref().map_or(Vec::new(), |b| b.pairs.clone()),
            refresh_outputs: Vec::new(),
            refresh_forms: None,
            // A round program's template marks its own state inputs.
            state: Vec::new(),
            unit: self.boot.as_ref().and_then(|b| b.unit),
            params: self.boot.as_ref().map(|b| b.program_params.clone()),
            // Keys for the levels the rounds use, not for the whole bottom of the chain.
            fit_special_primes: self.boot.is_some(),
            // The rounds' state sampled from the declared range, as every round's data.
            samples: None,
            server_threads: self.server_threads(),
        }
    }

    /// The threads the server runs on (`--threads`, 0 for all cores): what the round-size
    /// choices divide the cost model's work by.
    fn server_threads(&self) -> usize {
        RunOptions {
            threads: self.opts.threads,
            ..RunOptions::default()
        }
        .thread_count()
    }

    /// Whether `src` at `k` minibatches is too deep to be worth lowering at all
    /// ([`far_too_deep`]): NAG at k = 32 under `--max-log-n 15` (tensor depth 62, at most 19
    /// levels) took 11 s of lowering to be refused.
    fn far_too_deep(&mut self, src: &SourceFile, k: usize) -> Result<bool, TrainError> {
        let Some((depth, max)) = far_too_deep(src, &self.request(k))? else {
            return Ok(false);
        };
        self.progress.start(
            Phase::Compile,
            None,
            &format!("{} with k = {k}", src.short_name()),
        );
        self.progress.finish(&format!(
            "k = {k}: too deep for one circuit (depth {depth} before lowering; the 128-bit \
             budget admits at most {max} levels with N <= 2^{}): not lowered",
            self.opts.max_log_n
        ));
        Ok(true)
    }

    /// Compiles `prog` for `k` minibatches. `Ok(false)` when it is too deep for the 128-bit
    /// budget; other compile errors are the user's.
    fn try_compile(&mut self, prog: Prog, k: usize) -> Result<bool, TrainError> {
        let key = prog.key(k);
        if self.circuits.contains_key(&key) {
            return Ok(true);
        }
        let label = prog.label(self.src);
        self.progress
            .start(Phase::Compile, None, &format!("{label} with k = {k}"));
        let t0 = Instant::now();
        let compiled = match prog {
            Prog::Whole => compile(self.src, &self.request(k)),
            Prog::Round(t, start) => t.compile(start, &self.request(k)),
        };
        // Under the bootstrapping chain's bottom, a round deeper than its levels is refused
        // as parameters too small: for the rounds, that is too deep. A circuit over the
        // lowering's operation budget (NAG at k = 32, m = 1024) is too large for one circuit
        // in the same sense: smaller rounds hold it.
        // A value beyond the chain's base (the state's range estimate grows with the
        // iterations of a round) is the same: a smaller round may hold it.
        let too_deep = |c: Code| {
            c == Code::TooDeep
                || c == Code::Budget
                || (self.boot.is_some() && matches!(c, Code::Params | Code::Range))
        };
        let compiled = match compiled {
            Ok(c) => c,
            Err(d) if too_deep(d.code) => {
                self.compile_seconds += t0.elapsed().as_secs_f64();
                self.progress.finish(&format!(
                    "k = {k}: too deep for one circuit ({})",
                    d.message
                ));
                return Ok(false);
            }
            Err(d) => return Err(d.into()),
        };
        let seconds = t0.elapsed().as_secs_f64();
        self.compile_seconds += seconds;
        let r = compiled.report();
        let s = &compiled.lowered.schedule;
        self.progress.finish(&format!(
            "{label} with k = {k}: depth {}, N = 2^{}, log2 PQ = {}, {} ciphertext nodes, {} input \
             ciphertexts ({:.1} s)",
            r.depth,
            r.params.log_n,
            r.params.log_q,
            s.nodes.len(),
            r.input_ciphertexts,
            seconds
        ));
        let report = CircuitReport {
            rounds: Vec::new(),
            minibatches: k,
            depth: r.depth,
            log_n: r.params.log_n,
            log_pq: r.params.log_q,
            log_scale: r.params.log_scale,
            dnum: r.params.dnum,
            nodes: s.nodes.len(),
            input_ciphertexts: r.input_ciphertexts,
            key_set: 0,
            predicted_error: r.predicted_error,
            compile_seconds: seconds,
            cost_model: cost::estimate(s, &self.opts.cost_table)?,
        };
        self.circuits.insert(
            key,
            Circuit {
                schedule: compiled.lowered.schedule,
                report,
                key_set: None,
                data_bound: None,
            },
        );
        Ok(true)
    }

    /// One circuit if K minibatches fit, else rounds of the largest k that does (or of
    /// `--round-size`).
    fn plan(&mut self) -> Result<(RoundPlan, Option<RoundTemplate>), TrainError> {
        let k_total = self.k_total;
        let forced = self.opts.round_size.filter(|&r| r < k_total);
        if let Refresh::Bootstrap(chain) = &self.opts.refresh {
            return self.plan_bootstrapped(chain.clone(), forced);
        }
        if forced.is_none() {
            if !self.far_too_deep(self.src, k_total)? && self.try_compile(Prog::Whole, k_total)? {
                return Ok((RoundPlan::single(k_total), None));
            }
            if k_total == 1 {
                return Err(too_deep_for_one(self.src, self.m, self.f));
            }
        }
        let sets = program::sets_tuned(k_total, self.m, self.f, self.tuning.as_ref());
        let template = super::rounds::template(self.src, &sets)?;
        let first_round = Prog::Round(&template, 0);
        let (per_round, reason) = match forced {
            Some(r) => {
                let r = r.max(1);
                if !self.try_compile(first_round, r)? {
                    return Err(TrainError::Config(format!(
                        "--round-size {r}: a round of {r} minibatches is too deep for the \
                         128-bit parameter budget; use a smaller --round-size"
                    )));
                }
                (r, format!("--round-size {r}"))
            }
            None => {
                let largest =
                    rounds::largest_fitting(k_total - 1, |k| self.try_compile(first_round, k))?
                        .ok_or_else(|| too_deep_for_one(self.src, self.m, self.f))?;
                let fastest = self.fastest_round_size(first_round, largest)?;
                let best = fastest.size;
                let choice = if best == largest {
                    String::new()
                } else {
                    format!(
                        "; {best} per round is the fastest by the cost model ({:.2} s per \
                         minibatch, {:.2} s at {largest}: a deeper circuit needs more limbs and \
                         key-switching digits)",
                        fastest.seconds, fastest.largest_seconds
                    )
                };
                (
                    best,
                    format!(
                        "{k_total} minibatches exceed the 128-bit parameter budget \
                         (N <= 2^{}) in one circuit; a round circuit holds at most \
                         {largest}{choice}",
                        self.opts.max_log_n
                    ),
                )
            }
        };
        Ok((RoundPlan::split(k_total, per_round, reason), Some(template)))
    }

    /// Warns that the training runs in rounds, and how the state crosses between them.
    fn announce(&self, plan: &RoundPlan) {
        if plan.sizes.len() < 2 {
            return;
        }
        let how = if self.boot.is_some() {
            "the server bootstraps the state between rounds"
        } else {
            "the client decrypts and re-encrypts the weights between rounds"
        };
        self.progress.warn(&rounds_warning(plan, how));
    }

    /// [`Run::plan`] with the state refreshed on the server: always round programs (their
    /// state is what the server refreshes), rounds as large as the chain's program levels
    /// hold (or `forced`). The first round is compiled once on the full-slot chain to fix the
    /// grid; every round then runs on that grid under the chain of sparse slots of its width
    /// (the state's tiles repeat every `w` slots: one EvalMod instead of two).
    fn plan_bootstrapped(
        &mut self,
        chain: hel_runtime::ckks::bootstrap::BootstrapParams,
        forced: Option<usize>,
    ) -> Result<(RoundPlan, Option<RoundTemplate>), TrainError> {
        let k_total = self.k_total;
        let sets = program::sets_tuned(k_total, self.m, self.f, self.tuning.as_ref());
        let template = super::rounds::template(self.src, &sets)?;
        let pairs: Vec<(String, String)> = template
            .state()
            .iter()
            .map(|s| (s.input.clone(), s.name.clone()))
            .collect();
        // The probe: the chain of the fewest slots it supports, whose q_0 is the widest, so
        // that the values at the bottom fit whatever grid comes out.
        self.boot = Some(BootRun::new(sparse_chain(&chain, 1)?, None, pairs.clone())?);
        let first_round = Prog::Round(&template, 0);
        if !self.try_compile(first_round, 1)? {
            return Err(TrainError::Config(format!(
                "{}: one minibatch of {} x {} is deeper than the {} levels a bootstrap leaves",
                self.src.short_name(),
                self.m,
                self.f,
                chain.program_levels
            )));
        }
        let unit = self
            .circuits
            .get(&first_round.key(1))
            .map(|c| c.schedule.unit)
            .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?;
        // The probe's chain was for another slot count: compile again on the grid's.
        self.circuits.clear();
        let sparse = sparse_chain(&chain, unit.w.trailing_zeros())?;
        let levels = sparse.program_levels;
        self.boot = Some(BootRun::new(sparse, Some(unit), pairs)?);
        let (per_round, reason) = match forced {
            Some(r) => {
                let r = r.max(1);
                if !self.try_compile(first_round, r)? {
                    return Err(TrainError::Config(format!(
                        "--round-size {r}: a round of {r} minibatches is deeper than the \
                         {levels} levels a bootstrap leaves; use a smaller --round-size"
                    )));
                }
                (r, format!("--round-size {r}"))
            }
            None => {
                let largest =
                    rounds::largest_fitting(k_total, |k| self.try_compile(first_round, k))?
                        .ok_or_else(|| too_deep_for_one(self.src, self.m, self.f))?;
                let reason = if largest == k_total {
                    format!(
                        "all {k_total} minibatches fit one round within the {levels} levels a \
                         bootstrap leaves"
                    )
                } else {
                    format!(
                        "a round holds at most {largest} minibatch(es) within the {levels} \
                         levels a bootstrap leaves"
                    )
                };
                match self.fastest_bootstrapped_size(&template, largest)? {
                    Some(fastest) if fastest.size != largest => {
                        let reason = format!("{reason}; {}", fastest.why(largest));
                        (fastest.size, reason)
                    }
                    _ => (largest, reason),
                }
            }
        };
        // Every round must compile on the chain, not only the first: their constants differ
        // (NAG's momentum), and with them the ranges the compiler estimates. A round that
        // does not fit is made shorter where it starts (the others keep their size: shorter
        // rounds everywhere would cost more bootstraps); everything compiled here is kept for
        // the run.
        let mut sizes = Vec::new();
        let mut shortened = Vec::new();
        let mut start = 0;
        while start < k_total {
            let full = per_round.min(k_total - start);
            let mut len = full;
            while !self.try_compile(Prog::Round(&template, start), len)? {
                if len == 1 || forced.is_some() {
                    return Err(TrainError::Config(format!(
                        "{}: with --refresh bootstrap, the round of {len} minibatch(es) from \
                         minibatch {start} does not fit the bootstrapping chain (its {levels} \
                         levels, or its base for the weights' estimated range); train with \
                         --refresh client",
                        self.src.short_name()
                    )));
                }
                len -= 1;
            }
            if len < full {
                shortened.push(start);
            }
            sizes.push(len);
            start += len;
        }
        let reason = if shortened.is_empty() {
            reason
        } else {
            format!(
                "{reason}; shorter rounds from minibatch(es) {shortened:?}, where a round of \
                 {per_round} does not fit the {levels} levels a bootstrap leaves and its base"
            )
        };
        Ok((RoundPlan { sizes, reason }, Some(template)))
    }

    /// Runs every round through the client and the server; returns the decrypted weights.
    fn rounds(
        &mut self,
        plan: &RoundPlan,
        template: Option<&RoundTemplate>,
        iface: &Interface,
        batches: &[Matrix],
    ) -> Result<Vec<f64>, TrainError> {
        if let (Some(_), Some(t)) = (&self.boot, template) {
            return self.rounds_on_server(plan, t, iface, batches);
        }
        let rounds = plan.rounds();
        // Weights and momentum between rounds, by program variable.
        let mut state: HashMap<String, Vec<f64>> = template
            .map(|t| {
                t.state()
                    .iter()
                    .map(|s| (s.name.clone(), vec![0.0; self.f]))
                    .collect()
            })
            .unwrap_or_default();
        let n = rounds.len();
        let progs: Vec<Prog> = rounds
            .iter()
            .map(|&(start, _)| match template {
                Some(t) => Prog::Round(t, start),
                None => Prog::Whole,
            })
            .collect();
        let keys: Vec<CircuitKey> = rounds
            .iter()
            .zip(&progs)
            .map(|(&(_, len), p)| p.key(len))
            .collect();
        for (r, ((start, len), prog)) in rounds.iter().copied().zip(progs).enumerate() {
            let key = &keys[r];
            let detail = if n > 1 {
                format!("round {} of {n}", r + 1)
            } else {
                String::new()
            };
            if !self.try_compile(prog, len)? {
                return Err(TrainError::Internal(format!(
                    "round {} ({len} minibatches) no longer fits the parameter budget",
                    r + 1
                )));
            }
            if !self.order.contains(key) {
                self.order.push(*key);
            }
            // Neither keys nor an upload for a circuit the server cannot run.
            if let Some(c) = self.circuits.get(key) {
                let need = c.schedule.resources().server_peak_bytes;
                fits(self.opts, "the server's run", &c.schedule, need)?;
            }
            self.ensure_keys(key, &detail)?;
            let circuit = self
                .circuits
                .get_mut(key)
                .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?;
            let tensors =
                circuit.round_inputs(r, iface, template, &state, batches, (start, len))?;
            let schedule = &circuit.schedule;

            self.progress.start(Phase::Encrypt, None, &detail);
            let t0 = Instant::now();
            let upload = self.client.encrypt(schedule, &tensors)?;
            drop(tensors);
            let upload_bytes = upload.len();
            let secs = t0.elapsed().as_secs_f64();
            self.encrypt_seconds += secs;
            self.progress.finish(&format!(
                "encrypted {len} minibatch(es): upload {} ({secs:.1} s)",
                human_bytes(upload_bytes)
            ));

            let total = schedule.nodes.len() as u64;
            self.progress.start(Phase::Server, Some(total), &detail);
            let progress = self.progress;
            let tick = move |done: usize, _total: usize| progress.advance(done as u64);
            let key_set = circuit
                .key_set
                .ok_or_else(|| TrainError::Internal("keys vanished".into()))?;
            let served = self.server.run(
                key_set,
                schedule,
                upload,
                ServerOptions {
                    threads: self.opts.threads,
                    memory_limit: self.opts.memory_limit,
                },
                Some(&tick),
            )?;
            self.server_total_seconds += served.total_seconds;
            self.threads = served.stats.threads;
            self.progress.finish(&format!(
                "server: {:.2} s on {} thread(s), peak {} of live ciphertexts{}",
                served.stats.seconds,
                served.stats.threads,
                human_bytes(served.stats.peak_bytes),
                self.opts
                    .memory_limit
                    .map(|l| format!(" (soft limit {})", human_bytes(l)))
                    .unwrap_or_default()
            ));

            self.progress.start(Phase::Decrypt, None, &detail);
            let t0 = Instant::now();
            let outputs = self.client.decrypt(schedule, &served.outputs)?;
            self.decrypt_seconds += t0.elapsed().as_secs_f64();
            for (o, t) in schedule.outputs.iter().zip(outputs) {
                state.insert(o.name.clone(), t.data);
            }
            self.progress.finish("decrypted the weights");
            self.rounds.push(RoundReport {
                first_minibatch: start,
                minibatches: len,
                upload_bytes,
                download_bytes: served.outputs.len(),
                server_seconds: served.stats.seconds,
                peak_memory_bytes: served.stats.peak_bytes,
                weights: state.get(&iface.output).cloned().unwrap_or_default(),
            });
            // A circuit no later round uses is dropped now, with its keys.
            if !keys[r + 1..].contains(key) {
                if let Some(c) = self.circuits.remove(key) {
                    self.done.push(c.report);
                }
            }
        }
        state
            .remove(&iface.output)
            .ok_or_else(|| TrainError::Internal("the weights were not among the outputs".into()))
    }

    /// Among the round sizes up to the largest that fits, the one with the least estimated
    /// server time per minibatch (the run's cost table, on this run's thread count); ties go
    /// to the larger size (fewer refreshes). The largest round is seldom the fastest: a
    /// deeper circuit needs a larger ring and more limbs. NAG on MNIST at K = 32 holds 16
    /// minibatches per circuit at N = 2^16, but rounds of four fit N = 2^15 (depth 10) and
    /// ran 34 s against 152 s for rounds of eight at N = 2^16 (when only sizes from half the
    /// largest up were compared); rounds of 7 need depth 19 at N = 2^15, where the special
    /// modulus is one 70-bit prime and key switching goes digit by digit. The sizes the search
    /// for the largest compiled are cached; the others cost a compilation each.
    fn fastest_round_size(
        &mut self,
        prog: Prog,
        largest: usize,
    ) -> Result<FastestRound, TrainError> {
        let threads = self.server_threads();
        let mut best = FastestRound {
            size: largest,
            seconds: f64::INFINITY,
            largest_seconds: f64::INFINITY,
        };
        for k in (1..=largest).rev() {
            if !self.try_compile(prog, k)? {
                continue;
            }
            let circuit = self
                .circuits
                .get(&prog.key(k))
                .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?;
            let seconds = circuit.report.cost_model.seconds_on(threads) / k as f64;
            if k == largest {
                best.largest_seconds = seconds;
            }
            if seconds < best.seconds {
                best.size = k;
                best.seconds = seconds;
            }
        }
        Ok(best)
    }

    /// Gives a circuit a key set: one the server already holds if it serves the circuit (same
    /// parameters, its rotations covered: the rounds of a run differ only in constants), else a
    /// new one. A new key set replaces the ones no remaining circuit uses.
    fn ensure_keys(&mut self, key: &CircuitKey, detail: &str) -> Result<(), TrainError> {
        let circuit = self
            .circuits
            .get_mut(key)
            .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?;
        if circuit.key_set.is_some() {
            return Ok(());
        }
        let server = &self.server;
        if let Some(i) = self
            .client
            .reuse(&circuit.schedule)
            .filter(|&i| server.holds(i))
        {
            circuit.key_set = Some(i);
            circuit.report.key_set = i;
            return Ok(());
        }
        let need = circuit.schedule.resources().keygen_peak_bytes;
        fits(self.opts, "key generation", &circuit.schedule, need)?;
        self.progress.start(Phase::Keygen, None, detail);
        let t0 = Instant::now();
        let upload = self.client.keygen(&circuit.schedule)?;
        let secs = t0.elapsed().as_secs_f64();
        self.keygen_seconds += secs;
        self.progress.finish(&format!(
            "keys: evaluation keys {} ({} Galois keys), secret key {} ({secs:.1} s)",
            human_bytes(upload.eval_keys.len()),
            upload.sizes.galois_count,
            human_bytes(upload.secret_key_bytes)
        ));
        if upload.key_set != self.key_sets.len() {
            return Err(TrainError::Internal("key sets out of step".into()));
        }
        circuit.key_set = Some(upload.key_set);
        circuit.report.key_set = upload.key_set;
        let info = KeySetReport {
            galois_keys: upload.sizes.galois_count,
            eval_key_bytes: upload.eval_keys.len(),
            secret_key_bytes: upload.secret_key_bytes,
        };
        let live: Vec<usize> = self.circuits.values().filter_map(|c| c.key_set).collect();
        for i in 0..self.key_sets.len() {
            if self.server.holds(i) && !live.contains(&i) {
                self.server.forget(i);
                self.client.forget(i);
            }
        }
        self.key_sets.push(info);
        // The upload: the server parses the keys once, for every round that uses them.
        let schedule = &self
            .circuits
            .get(key)
            .ok_or_else(|| TrainError::Internal("circuit vanished".into()))?
            .schedule;
        self.server_total_seconds +=
            self.server
                .receive_keys(upload.key_set, schedule, &upload.eval_keys)?;
        Ok(())
    }

    fn report(
        mut self,
        plan: &RoundPlan,
        method: crate::reference::Method,
        weights: Vec<f64>,
        plain: &Trained,
        domain: DomainScale,
        z_test: &Matrix,
    ) -> Result<TrainReport, TrainError> {
        self.progress.start(Phase::Evaluate, None, "");
        let enc = evaluate(z_test, &weights);
        let pt = evaluate(z_test, &plain.beta);
        let max_weight_error = program::max_abs_diff(&weights, &plain.beta);
        self.progress.finish(&format!(
            "test accuracy {:.4} encrypted vs {:.4} plaintext; max weight error {max_weight_error:.2e}",
            enc.accuracy, pt.accuracy
        ));
        // Circuits still cached (none after a normal run) count too, in order of first use.
        for key in &self.order {
            if let Some(c) = self.circuits.remove(key) {
                self.done.push(c.report);
            }
        }
        let circuits = self.done;
        let key_sets = self.key_sets;
        let first = circuits
            .first()
            .ok_or_else(|| TrainError::Internal("no circuit ran".into()))?;
        let predicted_error_bound = plan
            .sizes
            .iter()
            .enumerate()
            .map(|(r, _)| {
                circuits
                    .iter()
                    .find(|c| c.rounds.contains(&r))
                    .map_or(0.0, |c| c.predicted_error)
            })
            .sum();
        let deepest = circuits.iter().max_by_key(|c| c.depth).unwrap_or(first);
        Ok(TrainReport {
            data: String::new(),
            program: self.src.short_name().to_string(),
            method: program::method_name(method).to_string(),
            opt_level: match self.opts.compile.level {
                OptLevel::O0 => "O0",
                OptLevel::O1 => "O1",
                OptLevel::O2 => "O2",
            }
            .to_string(),
            minibatches: self.k_total,
            batch_size: self.m,
            features: self.f,
            train_rows: 0,
            test_rows: z_test.rows(),
            rounds: plan.sizes.len(),
            round_sizes: plan.sizes.clone(),
            rounds_reason: plan.reason.clone(),
            refresh: self.opts.refresh.name().to_string(),
            bootstraps: self.boot.as_ref().map_or(0, |b| b.bootstraps),
            bootstrap_seconds: self.boot.as_ref().map_or(0.0, |b| b.bootstrap_seconds),
            bootstrap_key_bytes: self.boot.as_ref().map_or(0, |b| b.key_bytes),
            refresh_choice: self.choice.take(),
            depth: deepest.depth,
            log_n: deepest.log_n,
            log_pq: deepest.log_pq,
            log_scale: deepest.log_scale,
            dnum: deepest.dnum,
            eval_key_bytes: key_sets.iter().map(|k| k.eval_key_bytes).sum(),
            secret_key_bytes: key_sets.first().map_or(0, |k| k.secret_key_bytes),
            key_sets,
            upload_bytes: self.rounds.iter().map(|r| r.upload_bytes).sum(),
            download_bytes: self.rounds.iter().map(|r| r.download_bytes).sum(),
            server_seconds: self.rounds.iter().map(|r| r.server_seconds).sum(),
            server_total_seconds: self.server_total_seconds,
            peak_memory_bytes: self
                .rounds
                .iter()
                .map(|r| r.peak_memory_bytes)
                .max()
                .unwrap_or(0),
            threads: self.threads,
            memory_limit_bytes: self.opts.memory_limit,
            compile_seconds: self.compile_seconds,
            keygen_seconds: self.keygen_seconds,
            encrypt_seconds: self.encrypt_seconds,
            decrypt_seconds: self.decrypt_seconds,
            round_details: self.rounds,
            accuracy: enc.accuracy,
            auc: enc.auc,
            plaintext_accuracy: pt.accuracy,
            plaintext_auc: pt.auc,
            max_weight_error,
            predicted_error_bound,
            max_abs_inner: plain.max_abs_inner,
            design_scale: domain.factor,
            unscaled_max_abs_inner: domain.unscaled_max_abs_inner,
            feature_scaling: None,
            plan: None,
            history: History::default(),
            weights,
            plaintext_weights: plain.beta.clone(),
            circuits,
        })
    }
}

/// Refuses, before anything is allocated, a key generation or server run of `schedule` that
/// needs `need` bytes, more than `--memory-limit` or (without it) the memory available.
fn fits(opts: &TrainOptions, what: &str, schedule: &Schedule, need: u64) -> Result<(), TrainError> {
    let hint = format!(
        "train on smaller minibatches (--batch-size), fewer minibatches per circuit \
         (--round-size) or with a smaller --max-log-n{}",
        if opts.memory_cap.is_some() {
            ", or give a larger --memory-limit"
        } else {
            ""
        }
    );
    let what = format!(
        "{what} of {} (N = 2^{})",
        schedule.name, schedule.params.log_n
    );
    Ok(crate::memory::check(&what, need, opts.memory_cap, &hint)?)
}

/// The warning that training runs in rounds: how many, their sizes, why, and `how` the state
/// crosses between them.
fn rounds_warning(plan: &RoundPlan, how: &str) -> String {
    format!(
        "training in {} rounds ({}): {}; {how}",
        plan.sizes.len(),
        plan.sizes
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        plan.reason
    )
}

/// [`BootstrapParams::fewest_slots`](hel_runtime::ckks::bootstrap::BootstrapParams::fewest_slots),
/// or why there is none.
fn sparse_chain(
    chain: &hel_runtime::ckks::bootstrap::BootstrapParams,
    min_log_slots: u32,
) -> Result<hel_runtime::ckks::bootstrap::BootstrapParams, TrainError> {
    chain.fewest_slots(min_log_slots).ok_or_else(|| {
        TrainError::Config(format!(
            "no bootstrapping chain of the rule at N = 2^{} refreshes 2^{min_log_slots} slots",
            chain.log_n
        ))
    })
}

fn too_deep_for_one(src: &SourceFile, m: usize, f: usize) -> TrainError {
    TrainError::Config(format!(
        "{}: even one minibatch of {m} x {f} per circuit is too deep for the 128-bit parameter \
         budget; lower --precision",
        src.short_name()
    ))
}

/// The tensors of one round's inputs, in the schedule's input order: the minibatches of
/// global iterations `start..start + len` and the carried state.
fn input_tensors(
    schedule: &Schedule,
    iface: &Interface,
    template: Option<&RoundTemplate>,
    state: &HashMap<String, Vec<f64>>,
    batches: &[Matrix],
    start: usize,
    len: usize,
) -> Result<Vec<Vec<Tensor>>, TrainError> {
    schedule
        .inputs
        .iter()
        .map(|decl| {
            if decl.name == iface.data_input {
                return Ok((start..start + len)
                    .map(|i| {
                        let b = &batches[batch_index(i, batches.len())];
                        Tensor {
                            shape: Shape::Matrix(b.rows(), b.cols()),
                            data: b.as_slice().to_vec(),
                        }
                    })
                    .collect());
            }
            let var = template
                .and_then(|t| t.state().iter().find(|s| s.input == decl.name))
                .ok_or_else(|| {
                    TrainError::Internal(format!("no data for input `{}`", decl.name))
                })?;
            let v = state.get(&var.name).ok_or_else(|| {
                TrainError::Internal(format!("no value for state `{}`", var.name))
            })?;
            Ok(vec![Tensor {
                shape: Shape::Vector(v.len()),
                data: v.clone(),
            }])
        })
        .collect()
}
