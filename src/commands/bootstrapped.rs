//! `--refresh bootstrap` for `hel compile` and `hel depth`: a training loop deeper than one
//! parameter set holds, compiled as rounds joined by bootstraps of the model's state in one
//! schedule ([`hel_compiler::rounds::compile_bootstrapped`]), and the report of where the
//! bootstraps went and what they cost.

use clap::{Args, ValueEnum};
use hel_compiler::lower::report::ParamsReport;
use hel_compiler::rounds::{compile_bootstrapped, Bootstrapped};
use hel_compiler::{Options, SourceFile};
use hel_runtime::ckks::bootstrap::BootstrapParams;
use hel_runtime::schedule::cost::CostTable;
use serde::Serialize;

use super::common::diagnostic;
use super::errors::usage_error;

/// How a loop deeper than one parameter set is refreshed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RefreshArg {
    /// One circuit: a program too deep for the 128-bit budget is an error.
    #[default]
    None,
    /// Rounds joined by bootstraps of the model's state, in one schedule (N = 2^16, 128-bit).
    Bootstrap,
    /// One circuit where the program fits one, else bootstraps (a training loop too deep for
    /// one circuit that the rounds can split).
    Auto,
}

/// `--refresh` and `--round-size` (compile, depth).
#[derive(Args, Clone, Debug)]
pub struct RefreshArgs {
    /// How a training loop deeper than one parameter set is refreshed: `none` (one circuit),
    /// `bootstrap`: the compiler cuts the loop over the minibatches (`for i in 0..k`, the
    /// weights starting as zeros(n)) into rounds and places a bootstrap of each state vector
    /// between them, in one schedule; the client uploads once and downloads once (the
    /// parameters are the bottom of the 128-bit bootstrapping chain, N = 2^16); `auto`: one
    /// circuit where it fits, else bootstraps.
    #[arg(long, value_enum, default_value = "none")]
    pub refresh: RefreshArg,
    /// With `--refresh bootstrap`: minibatches per round (default: the most that fit the
    /// levels a bootstrap leaves, which needs the fewest bootstraps).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub round_size: Option<u64>,
}

impl RefreshArgs {
    /// Whether the bootstrapped path is asked for outright; `--round-size` without
    /// `bootstrap` or `auto` is a usage error.
    pub fn bootstrap(&self) -> miette::Result<bool> {
        if self.round_size.is_some() && self.refresh == RefreshArg::None {
            return Err(usage_error(
                "--round-size needs --refresh bootstrap or auto",
            ));
        }
        Ok(self.refresh == RefreshArg::Bootstrap)
    }

    /// With `auto`, whether a compile error `d` of the single circuit means bootstraps: the
    /// program is too deep for one parameter set and is a loop the rounds split.
    pub fn falls_back(
        &self,
        d: &hel_compiler::Diagnostic,
        src: &SourceFile,
        sets: &[(String, f64)],
    ) -> bool {
        self.refresh == RefreshArg::Auto
            && d.code == hel_compiler::diagnostics::Code::TooDeep
            && hel_compiler::rounds::RoundTemplate::with_sets(src, sets).is_ok()
    }
}

/// What the bootstrapped compilation did.
#[derive(Serialize)]
pub struct BootstrapReport {
    pub refresh: &'static str,
    /// Minibatches of every round, in order.
    pub round_sizes: Vec<usize>,
    /// Why rounds of this size.
    pub reason: String,
    /// Bootstrap instructions in the schedule (one per state tile per refresh).
    pub bootstraps: usize,
    /// The most levels a stretch between refreshes consumes.
    pub depth: u32,
    /// Levels each stretch consumes: the first round's, then one per refresh.
    pub segment_depths: Vec<u32>,
    /// The program's parameters: the bottom of the chain.
    pub params: ParamsReport,
    pub chain: ChainReport,
    /// Input ciphertexts the client encrypts (one upload), and the upload's bytes.
    pub input_ciphertexts: usize,
    pub upload_bytes: u64,
    /// The one download: the model's ciphertexts.
    pub download_bytes: u64,
    pub rotation_keys: usize,
    /// Single-thread estimate of the server's work (default cost table): the rounds'
    /// operations and the bootstraps.
    pub estimated_server_seconds: f64,
    /// Of which bootstraps (`bootstraps` × one bootstrap of the chain).
    pub estimated_bootstrap_seconds: f64,
    /// Every output's predicted error bound (bootstraps included) and magnitude.
    pub outputs: Vec<OutputReport>,
    /// Largest relative difference of the schedule's slot simulation from the whole program
    /// in plaintext.
    pub plaintext_check: f64,
    /// The first round's compiler notes.
    pub notes: Vec<String>,
}

/// The bootstrapping chain.
#[derive(Serialize)]
pub struct ChainReport {
    pub log_n: u32,
    /// Slots a bootstrap refreshes (the state's rows repeat with this period or a divisor).
    pub log_slots: u32,
    pub log_q0: u32,
    /// Levels at the program's scale left after a bootstrap.
    pub program_levels: usize,
    /// Levels one bootstrap consumes.
    pub levels_consumed: usize,
    /// The whole chain's modulus (data and special primes) and key-switching digits.
    pub log_pq: u32,
    pub dnum: usize,
    pub security_bits: u32,
    /// The modular reduction's failure probability per bootstrap, log2.
    pub failure_log2: f64,
    /// One standard deviation of a bootstrap's error the bounds charge, log2.
    pub error_sd_log2: f64,
}

/// One output of the joined schedule.
#[derive(Serialize)]
pub struct OutputReport {
    pub name: String,
    pub bound: f64,
    pub range: f64,
}

/// Compiles `src` with bootstraps between rounds (see the module comment); errors are the
/// compiler's located diagnostics.
pub fn compile(
    src: &SourceFile,
    options: &Options,
    args: &RefreshArgs,
) -> miette::Result<(Bootstrapped, BootstrapReport)> {
    let rule = BootstrapParams::standard_n16();
    if options.max_log_n < rule.log_n {
        return Err(usage_error(format!(
            "--refresh bootstrap runs at N = 2^{} (the 128-bit bootstrapping chain); \
             --max-log-n {} excludes it",
            rule.log_n, options.max_log_n
        )));
    }
    let round_size = args.round_size.map(|r| r as usize);
    let b = compile_bootstrapped(src, options, &rule, round_size, &CostTable::default())
        .map_err(diagnostic)?;
    let report = report(&b);
    Ok((b, report))
}

fn report(b: &Bootstrapped) -> BootstrapReport {
    let s = &b.schedule;
    let table = CostTable::default();
    let c = &b.chain;
    let one = table.bootstrap_seconds(c.log_n, c.log_slots).unwrap_or(0.0);
    let bootstraps = s.bootstraps().count();
    let resources = s.resources();
    let full = c.ckks_params().ok();
    let chain = ChainReport {
        log_n: c.log_n,
        log_slots: c.log_slots,
        log_q0: c.log_q0,
        program_levels: c.program_levels,
        levels_consumed: c.levels_consumed(),
        log_pq: full.as_ref().map_or(0, |p| p.log_qp()),
        dnum: full.as_ref().map_or(0, |p| p.dnum),
        security_bits: c.security.bits(),
        failure_log2: c.failure_log2(),
        error_sd_log2: c.error_sd().log2(),
    };
    BootstrapReport {
        refresh: "bootstrap",
        round_sizes: b.rounds.iter().map(|r| r.1).collect(),
        reason: b.reason.clone(),
        bootstraps,
        depth: s.depth(),
        segment_depths: s.segment_depths(),
        params: ParamsReport::of(&s.params),
        chain,
        input_ciphertexts: s.client_ct_inputs().count(),
        upload_bytes: resources.upload_bytes,
        download_bytes: resources.download_bytes,
        rotation_keys: s.rotation_steps.len() + usize::from(s.needs_conjugation),
        estimated_server_seconds: table.schedule_work_seconds(s),
        estimated_bootstrap_seconds: one * bootstraps as f64,
        outputs: s
            .outputs
            .iter()
            .map(|o| OutputReport {
                name: o.name.clone(),
                bound: o.bound,
                range: o.range,
            })
            .collect(),
        plaintext_check: b.plaintext_check,
        notes: b.first.notes.clone(),
    }
}

impl BootstrapReport {
    /// The report as lines for a terminal (stderr).
    pub fn lines(&self) -> Vec<String> {
        let c = &self.chain;
        let sizes: Vec<String> = self.round_sizes.iter().map(|k| k.to_string()).collect();
        let mut out = vec![
            format!(
                "{} round(s) of {} minibatch(es) ({}): {} bootstrap(s) between them",
                self.round_sizes.len(),
                sizes.join(" + "),
                self.reason,
                self.bootstraps
            ),
            format!(
                "depth {} per stretch between refreshes (stretches: {:?}); program at N = 2^{}, \
                 {} level(s) at 2^{}",
                self.depth,
                self.segment_depths,
                self.params.log_n,
                self.params.primes.len().saturating_sub(1),
                self.params.log_scale
            ),
            format!(
                "bootstrapping chain: 2^{} slots, q_0 {} bits, {} program levels, {} levels per \
                 bootstrap, log2 PQ = {} (dnum {}), {}-bit secure, failure <= 2^{:.1} per \
                 bootstrap",
                c.log_slots,
                c.log_q0,
                c.program_levels,
                c.levels_consumed,
                c.log_pq,
                c.dnum,
                c.security_bits,
                c.failure_log2
            ),
            format!(
                "estimated server work {:.1} s single-threaded, of which {:.1} s in bootstraps; \
                 one upload of {} input ciphertext(s) ({}), one download ({})",
                self.estimated_server_seconds,
                self.estimated_bootstrap_seconds,
                self.input_ciphertexts,
                hel::memory::human_bytes(self.upload_bytes),
                hel::memory::human_bytes(self.download_bytes)
            ),
        ];
        for o in &self.outputs {
            out.push(format!(
                "output `{}`: predicted error <= {:.2e} (bootstraps included), magnitude {:.3}",
                o.name, o.bound, o.range
            ));
        }
        out
    }
}
