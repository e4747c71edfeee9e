//! `hel bench logreg`: the flagship benchmark. Trains logistic regression on the bundled MNIST
//! with the prior-work circuit (-O1) and the low-depth one (-O2), and -O2 on one thread and on
//! several, each configuration in its own `hel train --json` process (so each one's peak memory
//! is its own), and prints the server times and their ratios.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::Args;
use miette::IntoDiagnostic;
use serde_json::{json, Value};

use super::common::user_error;
use super::keyfiles::human_bytes;
use super::CmdResult;

/// Options of `hel bench logreg`.
#[derive(Args)]
#[command(
    after_help = "Runs three trainings (about 10 minutes at the defaults on 2 cores): \
-O1 and -O2 with --threads, and -O2 on one thread. Prints a table and the ratios the project \
tracks: -O1 / -O2 server time (target >= 6) and the parallel speedup (target >= 1.7 on 2 \
threads), with each run's peak resident memory (target < 8 GiB).

Examples:
  cargo run --release -- bench logreg
  cargo run --release -- bench logreg --program examples/logreg_gd.hel --json"
)]
pub struct LogregBenchArgs {
    /// The training program.
    #[arg(
        long,
        value_name = "FILE.hel",
        default_value = "examples/logreg_nag.hel"
    )]
    pub program: PathBuf,
    /// Minibatches K.
    #[arg(long, default_value_t = 6)]
    pub minibatches: u32,
    /// Rows per minibatch m.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: u32,
    /// Threads of the parallel runs (the serial run uses 1).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub threads: u32,
    /// Skip the -O1 run (only the thread scaling of -O2).
    #[arg(long)]
    pub skip_o1: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One configuration's result: the train report and the process's peak resident bytes.
struct Measured {
    label: String,
    report: Value,
    max_rss: u64,
}

/// Runs `hel train --json` with `extra` arguments as a child process; returns its report and
/// peak resident memory (from `wait4`, so it is this child's alone).
fn run_train(label: &str, args: &LogregBenchArgs, extra: &[String]) -> miette::Result<Measured> {
    let exe = std::env::current_exe().into_diagnostic()?;
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .arg("--json")
        .arg("--program")
        .arg(&args.program)
        .arg("--minibatches")
        .arg(args.minibatches.to_string())
        .arg("--batch-size")
        .arg(args.batch_size.to_string())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("bench logreg: {label}: hel train {}", extra.join(" "));
    let mut child = cmd.spawn().into_diagnostic()?;
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out).into_diagnostic()?;
    }
    let (status, max_rss) = wait_with_rss(child)?;
    if !status {
        return Err(user_error(format!("{label}: hel train failed (see above)")));
    }
    let report: Value = serde_json::from_str(out.trim())
        .map_err(|e| user_error(format!("{label}: hel train printed no JSON report: {e}")))?;
    Ok(Measured {
        label: label.to_string(),
        report,
        max_rss,
    })
}

/// Waits for `child`; returns (success, peak resident bytes; 0 where unavailable).
#[cfg(unix)]
fn wait_with_rss(child: std::process::Child) -> miette::Result<(bool, u64)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(user_error(format!(
            "waiting for hel train failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux reports ru_maxrss in KiB.
    Ok((ok, usage.ru_maxrss.max(0) as u64 * 1024))
}

#[cfg(not(unix))]
fn wait_with_rss(mut child: std::process::Child) -> miette::Result<(bool, u64)> {
    let status = child.wait().into_diagnostic()?;
    Ok((status.success(), 0))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

pub fn run(args: LogregBenchArgs) -> CmdResult {
    let t = args.threads.to_string();
    let mut runs = Vec::new();
    if !args.skip_o1 {
        runs.push(run_train(
            &format!("-O1, {t} threads"),
            &args,
            &["-O1".into(), "--threads".into(), t.clone()],
        )?);
    }
    runs.push(run_train(
        &format!("-O2, {t} threads"),
        &args,
        &["-O2".into(), "--threads".into(), t.clone()],
    )?);
    runs.push(run_train(
        "-O2, 1 thread",
        &args,
        &["-O2".into(), "--threads".into(), "1".into()],
    )?);
    let o2 = &runs[runs.len() - 2];
    let serial = &runs[runs.len() - 1];
    let speedup = num(&serial.report, "server_seconds") / num(&o2.report, "server_seconds");
    let o1_over_o2 = (!args.skip_o1)
        .then(|| num(&runs[0].report, "server_seconds") / num(&o2.report, "server_seconds"));
    let max_rss = runs.iter().map(|r| r.max_rss).max().unwrap_or(0);
    if args.json {
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({
                    "label": r.label,
                    "max_rss_bytes": r.max_rss,
                    "report": r.report,
                })
            })
            .collect();
        let v = json!({
            "program": args.program,
            "minibatches": args.minibatches,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "runs": rows,
            "o1_over_o2": o1_over_o2,
            "speedup": speedup,
            "max_rss_bytes": max_rss,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "logistic regression, {}, K = {}, m = {}",
        args.program.display(),
        args.minibatches,
        args.batch_size
    );
    println!(
        "{:<18} {:>6} {:>6} {:>10} {:>10} {:>10} {:>9} {:>22}",
        "run",
        "depth",
        "log N",
        "server s",
        "accuracy",
        "plain acc",
        "max |dw|",
        "peak memory (RSS)"
    );
    for r in &runs {
        let v = &r.report;
        println!(
            "{:<18} {:>6} {:>6} {:>10.2} {:>10.4} {:>10.4} {:>9.1e} {:>22}",
            r.label,
            v["depth"].to_string(),
            v["log_n"].to_string(),
            num(v, "server_seconds"),
            num(v, "accuracy"),
            num(v, "plaintext_accuracy"),
            num(v, "max_weight_error"),
            human_bytes(r.max_rss as usize)
        );
    }
    if let Some(r) = o1_over_o2 {
        println!("-O1 / -O2 server time ({t} threads): {r:.2}x");
    }
    println!("-O2 speedup, {t} threads vs 1: {speedup:.2}x");
    println!("largest peak memory: {}", human_bytes(max_rss as usize));
    Ok(())
}
