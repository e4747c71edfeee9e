//! `hel bench ckks`: times the CKKS engine's main operations at a standard parameter set,
//! like `openssl speed`. Progress goes to stderr; `--json` prints exactly one JSON object.

use clap::{Args, Subcommand};
use miette::{miette, IntoDiagnostic};

use super::errors::usage_error;
use super::flags::ThreadsArgs;
use super::CmdResult;

/// Arguments of `hel bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
}

/// What to benchmark.
#[derive(Subcommand)]
pub enum BenchTarget {
    /// The RNS-CKKS engine at the standard chain for N = 2^log_n (ciphertexts at the top level).
    Ckks(CkksBenchArgs),
    /// One CKKS bootstrap at 128-bit security: time, levels, precision, key size.
    Bootstrap(BootstrapBenchArgs),
    /// Encrypted logistic-regression training on MNIST: -O1 vs -O2 and 1 vs N threads.
    Logreg(super::bench_logreg::LogregBenchArgs),
    /// Every example program at -O0, -O1 and -O2, run encrypted: measured server time and
    /// the ratios between the levels.
    Zoo(super::bench_zoo::ZooBenchArgs),
}

/// Options of `hel bench ckks`.
#[derive(Args)]
pub struct CkksBenchArgs {
    /// log2 of the ring degree (standard chains: 13 = 3 limbs, 14 = 8, 15 = 20, 16 = 40).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(12..=16))]
    pub log_n: u32,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `hel bench bootstrap`.
#[derive(Args)]
pub struct BootstrapBenchArgs {
    /// log2 of the ring degree (the 128-bit bootstrapping chain needs 16).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(12..=16))]
    pub log_n: u32,
    /// Number of slots: a power of two from 16 to N/2 (the default); below N/2 the values are
    /// packed sparsely (each repeated) and the circuit is the sparse-slot one
    #[arg(long)]
    pub slots: Option<u64>,
    /// The chain `hel train --refresh bootstrap` uses for a state of `--slots` slots: its DFTs
    /// in as few levels as their stages need and the freed bits as program levels
    /// (`BootstrapParams::for_program`).
    #[arg(long)]
    pub for_training: bool,
    /// Timed bootstraps after the first; the time reported is their median (with the fastest
    /// and slowest), the precision that of the last
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> CmdResult {
    match args.target {
        BenchTarget::Ckks(a) => run_ckks(a),
        BenchTarget::Bootstrap(a) => run_bootstrap(a),
        BenchTarget::Logreg(a) => super::bench_logreg::run(a),
        BenchTarget::Zoo(a) => super::bench_zoo::run(a),
    }
}

fn run_ckks(args: CkksBenchArgs) -> CmdResult {
    let report =
        hel_runtime::ckks::bench::run_with_progress(args.log_n, args.threads.threads, &mut |op| {
            eprintln!("bench ckks 2^{}: {op}", args.log_n)
        })
        .map_err(|e| miette!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&report).into_diagnostic()?);
        return Ok(());
    }
    println!(
        "CKKS N = 2^{}, {} data limbs, log2(PQ) = {} bits, dnum = {}, {} thread(s)",
        report.log_n, report.limbs, report.log_q, report.dnum, report.threads
    );
    println!("{:<16} {:>14}", "operation", "median");
    for (op, us) in &report.median_us {
        let shown = if *us >= 1000.0 {
            format!("{:.2} ms", us / 1000.0)
        } else {
            format!("{us:.1} µs")
        };
        println!("{op:<16} {shown:>14}");
    }
    Ok(())
}

fn run_bootstrap(args: BootstrapBenchArgs) -> CmdResult {
    use hel_runtime::ckks::bootstrap::bench;
    let slots = args.slots.unwrap_or(1 << (args.log_n - 1));
    if !slots.is_power_of_two() {
        return Err(usage_error(format!(
            "--slots {slots} is not a power of two"
        )));
    }
    // Flags the implementation cannot honour are usage errors, refused before any work.
    let params = bench::secure_params(args.log_n, slots.trailing_zeros())
        .map_err(|e| usage_error(format!("{e}")))?;
    let params = if args.for_training {
        params.for_program(params.log_slots)
    } else {
        params
    };
    let report = bench::run(
        &params,
        args.threads.threads,
        args.repeat as usize,
        &mut |phase| eprintln!("bench bootstrap 2^{}: {phase}", args.log_n),
    )
    .map_err(|e| miette!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&report).into_diagnostic()?);
        return Ok(());
    }
    println!(
        "CKKS bootstrap N = 2^{}, {} slots, log2(PQ) = {} bits, dnum = {}, {} thread(s)",
        report.log_n, report.slots, report.log_qp, report.dnum, report.threads
    );
    let spread = if report.repeat > 1 {
        format!(
            ", median of {}: {:.2}-{:.2} s",
            report.repeat, report.seconds_min, report.seconds_max
        )
    } else {
        String::new()
    };
    match report.cpu_seconds {
        Some(cpu) => println!(
            "time               {:.2} s ({cpu:.2} s of CPU{spread})",
            report.seconds
        ),
        None => println!("time               {:.2} s{spread}", report.seconds),
    }
    println!(
        "first bootstrap    {:.2} s (encodes the DFT diagonals, kept for the next ones)",
        report.first_seconds
    );
    println!(
        "levels             {} consumed, {} left at 2^{}",
        report.levels_consumed, report.levels_left, report.log_scale
    );
    println!(
        "precision          {:.2} bits mean, {:.2} bits min",
        report.precision_bits_mean, report.precision_bits_min
    );
    println!("failure bound      2^{:.1}", report.failure_log2);
    println!(
        "keys               {:.2} GiB ({} rotations), generated in {:.1} s",
        report.key_bytes as f64 / (1u64 << 30) as f64,
        report.rotation_keys,
        report.keygen_seconds
    );
    Ok(())
}
