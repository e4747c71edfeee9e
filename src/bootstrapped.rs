//! What the compiler's placement of bootstraps did (`hel compile --refresh bootstrap`, and
//! `hel.compile(refresh=...)` in Python): the rounds, the bootstraps, the chain and the
//! estimated work, as a report both front ends print.

use hel_compiler::lower::report::ParamsReport;
use hel_compiler::rounds::{compile_bootstrapped, Bootstrapped};
use hel_compiler::{Diagnostic, Options, SourceFile};
use hel_runtime::ckks::bootstrap::BootstrapParams;
use hel_runtime::schedule::cost::CostTable;
use serde::Serialize;

/// The chain the front ends bootstrap with: the documented 128-bit rule at N = 2^16.
pub fn rule() -> BootstrapParams {
    BootstrapParams::standard_n16()
}

/// Compiles `src`'s training loop with bootstraps between rounds of the rule's chain
/// ([`compile_bootstrapped`], round sizes by the default cost table on
/// `options.server_threads`, 0 for this machine's cores, unless `round_size`), and its report.
pub fn compile(
    src: &SourceFile,
    options: &Options,
    round_size: Option<usize>,
) -> Result<(Bootstrapped, BootstrapReport), Diagnostic> {
    let options = Options {
        server_threads: match options.server_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        ..options.clone()
    };
    let b = compile_bootstrapped(src, &options, &rule(), round_size, &CostTable::default())?;
    let report = report(&b);
    Ok((b, report))
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
    /// The server's memory at the least: the schedule's own figure (keys, upload, working
    /// set) plus the bootstrapping keys in memory and what bootstrapping keeps
    /// (`bootstrap_run_memory_bytes`); `hel run` refuses beyond the machine's.
    pub server_memory_bytes: u64,
    /// The bootstrapping keys: in memory (64-bit words) and as `boot.keys` (about 0.6 of it).
    pub bootstrap_key_memory_bytes: u64,
    /// The kept DFT diagonals and the ring's buffer pool (`Bootstrapper::run_memory_bytes`).
    pub bootstrap_run_memory_bytes: u64,
    pub rotation_keys: usize,
    /// Single-thread estimate of the server's work (default cost table): the rounds'
    /// operations and the bootstraps.
    pub estimated_server_seconds: f64,
    /// Of which bootstraps (`bootstraps` × one bootstrap of the chain).
    pub estimated_bootstrap_seconds: f64,
    /// Every output's predicted error bound (bootstraps included; infinite, `null` in JSON,
    /// where the compile-time samples give none) and magnitude.
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
    /// Bits below the scale the rounds' bottom level runs at, where the state is
    /// bootstrapped from (`BootstrapParams::input_drop`: 0 unless EvalMod's sine dominates).
    pub input_drop: u32,
}

/// One output of the joined schedule.
#[derive(Serialize)]
pub struct OutputReport {
    pub name: String,
    pub bound: f64,
    pub range: f64,
}

pub fn report(b: &Bootstrapped) -> BootstrapReport {
    let s = &b.schedule;
    let table = CostTable::default();
    let c = &b.chain;
    let one = table.bootstrap_seconds(c.log_n, c.log_slots).unwrap_or(0.0);
    let bootstraps = s.bootstraps().count();
    let resources = s.resources();
    // The circuit is built for its key count only (cheap: the DFT diagonals are encoded at
    // the first bootstrap); a chain the rule admits always builds.
    let (boot_keys, boot_run) = hel_runtime::ckks::bootstrap::Bootstrapper::new(c)
        .map_or((0, 0), |b| {
            (b.key_memory_bytes() as u64, b.run_memory_bytes() as u64)
        });
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
        input_drop: c.input_drop,
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
        server_memory_bytes: resources
            .server_peak_bytes
            .saturating_add(boot_keys)
            .saturating_add(boot_run),
        bootstrap_run_memory_bytes: boot_run,
        bootstrap_key_memory_bytes: boot_keys,
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
                "{} round(s) of {} iteration(s) ({}): {} bootstrap(s) between them",
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
                 bootstrap{}",
                c.log_slots,
                c.log_q0,
                c.program_levels,
                c.levels_consumed,
                c.log_pq,
                c.dnum,
                c.security_bits,
                c.failure_log2,
                if c.input_drop > 0 {
                    format!(", bootstrapped from {} bits below the scale", c.input_drop)
                } else {
                    String::new()
                }
            ),
            format!(
                "estimated server work {:.1} s single-threaded, of which {:.1} s in bootstraps; \
                 one upload of {} input ciphertext(s) ({}), one download ({})",
                self.estimated_server_seconds,
                self.estimated_bootstrap_seconds,
                self.input_ciphertexts,
                crate::memory::human_bytes(self.upload_bytes),
                crate::memory::human_bytes(self.download_bytes)
            ),
            format!(
                "server memory at least {} (of which bootstrapping keys {}, kept DFT \
                 diagonals and buffers {})",
                crate::memory::human_bytes(self.server_memory_bytes),
                crate::memory::human_bytes(self.bootstrap_key_memory_bytes),
                crate::memory::human_bytes(self.bootstrap_run_memory_bytes)
            ),
        ];
        for o in &self.outputs {
            out.push(if o.bound.is_finite() {
                format!(
                    "output `{}`: predicted error <= {:.2e} (bootstraps included), magnitude \
                     {:.3}",
                    o.name, o.bound, o.range
                )
            } else {
                // NAG over 32 random minibatches: its sigmoid polynomial leaves its domain.
                format!(
                    "output `{}`: no error bound from the compile-time samples (on random \
                     inputs from the declared ranges the noise simulation overflows); `hel \
                     encrypt` predicts it on the data",
                    o.name
                )
            });
        }
        out
    }
}
