//! `hel bench logreg`: the flagship benchmark. Trains logistic regression on the bundled MNIST
//! with the prior-work circuit (-O1) and the low-depth one (-O2), each on several threads and on
//! one, each configuration in its own `hel train --json` process (so each one's peak memory is
//! its own), and prints the server times and their ratios.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::Args;
use miette::IntoDiagnostic;
use serde_json::{json, Value};

use super::common::user_error;
use super::errors::usage_error;
use super::flags::ThreadsArgs;
use super::keyfiles::human_bytes;
use super::CmdResult;

/// Options of `hel bench logreg`.
#[derive(Args)]
#[command(
    after_help = "Runs four trainings (about 10 minutes at the defaults on 2 cores): \
-O1 and -O2 with --threads (all cores by default, at least 2; 1 is refused), and both on one \
thread. Prints a table and the ratios the project \
tracks: -O1 / -O2 server time (target >= 6) and the parallel speedup (target >= 1.7 on 2 \
threads), with each run's peak resident memory (target < 8 GiB). With --repeat N each \
configuration runs N times, interleaved, and the table reports the median server time and \
the range.

Examples:
  cargo run --release -- bench logreg
  cargo run --release -- bench logreg --repeat 3
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
    #[arg(long, value_name = "K", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub minibatches: u32,
    /// Rows per minibatch m.
    #[arg(long, value_name = "M", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
    pub batch_size: u32,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Skip the -O1 runs (only the thread scaling of -O2).
    #[arg(long)]
    pub skip_o1: bool,
    /// Run every configuration this many times (interleaved) and report the median server
    /// time, with the range: a shared VM's noise moves a single run by 10-20%.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One run's result: the train report and the process's peak resident bytes.
struct Measured {
    report: Value,
    max_rss: u64,
}

/// One configuration's runs ([`LogregBenchArgs::repeat`] of them).
struct Config {
    label: String,
    extra: Vec<String>,
    runs: Vec<Measured>,
}

impl Config {
    fn server_seconds(&self) -> Vec<f64> {
        self.runs
            .iter()
            .map(|r| num(&r.report, "server_seconds"))
            .collect()
    }

    /// The run with the median server time (the lower middle one for an even count): its
    /// report stands for the configuration.
    fn median(&self) -> &Measured {
        let mut order: Vec<usize> = (0..self.runs.len()).collect();
        let secs = self.server_seconds();
        order.sort_by(|&a, &b| secs[a].total_cmp(&secs[b]));
        &self.runs[order[(order.len() - 1) / 2]]
    }

    fn max_rss(&self) -> u64 {
        self.runs.iter().map(|r| r.max_rss).max().unwrap_or(0)
    }
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
        // `hel train --json` prints its error as JSON too (and as text on stderr, above).
        let why = serde_json::from_str::<Value>(out.trim())
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| "see above".into());
        return Err(user_error(format!("{label}: hel train failed: {why}")));
    }
    let report: Value = serde_json::from_str(out.trim())
        .map_err(|e| user_error(format!("{label}: hel train printed no JSON report: {e}")))?;
    Ok(Measured { report, max_rss })
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
    if args.threads.threads == 1 {
        return Err(usage_error(
            "bench logreg compares --threads N with one thread: N must be at least 2 (or 0, \
             all cores)",
        ));
    }
    // All cores, but at least two: the parallel runs must differ from the serial ones.
    let threads = args.threads.count().max(2);
    let t = threads.to_string();
    let config = |label: String, opt: &str, threads: &str| Config {
        label,
        extra: vec![opt.into(), "--threads".into(), threads.into()],
        runs: Vec::new(),
    };
    let mut configs = Vec::new();
    // Adds a configuration; returns its position in `configs`.
    let mut add = |c: Config| {
        configs.push(c);
        configs.len() - 1
    };
    let o1_par = (!args.skip_o1).then(|| add(config(format!("-O1, {t} threads"), "-O1", &t)));
    let o2_at = add(config(format!("-O2, {t} threads"), "-O2", &t));
    let serial_at = add(config("-O2, 1 thread".into(), "-O2", "1"));
    let o1_at = o1_par.map(|par| (par, add(config("-O1, 1 thread".into(), "-O1", "1"))));
    // Interleaved, so that a slow stretch of the machine does not fall on one configuration.
    for rep in 0..args.repeat {
        for c in &mut configs {
            let label = if args.repeat > 1 {
                format!("{} (run {} of {})", c.label, rep + 1, args.repeat)
            } else {
                c.label.clone()
            };
            c.runs.push(run_train(&label, &args, &c.extra)?);
        }
    }
    let secs = |i: usize| num(&configs[i].median().report, "server_seconds");
    let speedup = secs(serial_at) / secs(o2_at);
    let o1_over_o2 = o1_at.map(|(par, _)| secs(par) / secs(o2_at));
    let o1_over_o2_serial = o1_at.map(|(_, one)| secs(one) / secs(serial_at));
    let max_rss = configs.iter().map(Config::max_rss).max().unwrap_or(0);
    if args.json {
        let rows: Vec<Value> = configs
            .iter()
            .map(|c| {
                json!({
                    "label": c.label,
                    "max_rss_bytes": c.max_rss(),
                    "server_seconds_runs": c.server_seconds(),
                    "report": c.median().report,
                })
            })
            .collect();
        let v = json!({
            "program": args.program.display().to_string(),
            "minibatches": args.minibatches,
            "batch_size": args.batch_size,
            "threads": threads,
            "repeat": args.repeat,
            "runs": rows,
            "o1_over_o2": o1_over_o2,
            "o1_over_o2_one_thread": o1_over_o2_serial,
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
    if args.repeat > 1 {
        println!(
            "server s: the median of {} runs per configuration (range after it); the other \
             columns are the median run's",
            args.repeat
        );
    }
    println!(
        "{:<18} {:>6} {:>6} {:>10} {:>14} {:>10} {:>10} {:>9} {:>22}",
        "run",
        "depth",
        "log N",
        "server s",
        "range",
        "accuracy",
        "plain acc",
        "max |dw|",
        "peak memory (RSS)"
    );
    for c in &configs {
        let v = &c.median().report;
        let all = c.server_seconds();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{:<18} {:>6} {:>6} {:>10.2} {:>14} {:>10.4} {:>10.4} {:>9.1e} {:>22}",
            c.label,
            v["depth"].to_string(),
            v["log_n"].to_string(),
            num(v, "server_seconds"),
            format!("{lo:.2}-{hi:.2}"),
            num(v, "accuracy"),
            num(v, "plaintext_accuracy"),
            num(v, "max_weight_error"),
            human_bytes(c.max_rss() as usize)
        );
    }
    if let (Some(r), Some(r1)) = (o1_over_o2, o1_over_o2_serial) {
        println!("-O1 / -O2 server time ({t} threads, medians): {r:.2}x (on 1 thread: {r1:.2}x)");
    }
    println!("-O2 speedup, {t} threads vs 1 (medians): {speedup:.2}x");
    println!("largest peak memory: {}", human_bytes(max_rss as usize));
    Ok(())
}
