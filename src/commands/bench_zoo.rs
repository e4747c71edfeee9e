//! `hel bench zoo`: every example program compiled at -O0, -O1 and -O2 (as `hel compile`
//! compiles it) and run encrypted on random inputs from its declared ranges, with the server's
//! measured time side by side and the ratios issue 20 sets targets on (-O2 at most 1.05x -O1,
//! and lower where the depth drops). Each run's decrypted outputs are checked against the
//! plaintext simulation of its schedule, within the compiler's predicted bound.

use std::path::PathBuf;

use clap::Args;
use hel_compiler::ir::interp::random_inputs;
use hel_compiler::lower::verify::schedule_inputs;
use hel_compiler::passes::pipeline::OptLevel;
use hel_runtime::ckks::Sampler;
use hel_runtime::exec::RunOptions;
use hel_runtime::local::Local;
use hel_runtime::schedule::{simulate, Schedule, Tensor};
use serde::Serialize;

use super::common::{frontend, read_source, user_error};
use super::errors::usage_error;
use super::flags::ThreadsArgs;
use super::CmdResult;

/// Options of `hel bench zoo`.
#[derive(Args)]
#[command(after_help = "Examples:
  hel bench zoo                                   # every examples/*.hel, -O0/-O1/-O2
  hel bench zoo examples/ridge.hel examples/pca_power.hel --repeat 3
  hel bench zoo --levels 1,2 --threads 1 --json")]
pub struct ZooBenchArgs {
    /// The programs (default: every `examples/*.hel` under the current directory).
    pub files: Vec<PathBuf>,
    /// Optimization levels to compare.
    #[arg(long, value_delimiter = ',', default_values_t = [0u8, 1, 2],
          value_parser = clap::value_parser!(u8).range(0..=2))]
    pub levels: Vec<u8>,
    /// Server runs per program and level (the median is reported).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One program at one level.
#[derive(Serialize)]
struct Run {
    opt_level: u8,
    /// The level whose schedule `hel compile` keeps at this level.
    schedule_level: u8,
    depth: u32,
    log_n: u32,
    /// Median measured server seconds (the schedule's execution, keys and inputs loaded).
    server_seconds: f64,
    /// Largest decrypted error against the plaintext simulation, and the compiler's bound.
    max_error: f64,
    predicted_error: f64,
    within_bound: bool,
}

/// One program: its runs, or why it did not compile.
#[derive(Serialize)]
struct Program {
    file: String,
    runs: Vec<Run>,
    refused: Option<String>,
    /// Levels whose keys and working set do not fit the memory available (as `hel keygen`
    /// and `hel run` refuse them), with the figures.
    skipped: Vec<String>,
    /// Measured server time of -O2 over -O1, and of -O1 over -O0, where both ran.
    o2_over_o1: Option<f64>,
    o1_over_o0: Option<f64>,
}

pub fn run(args: ZooBenchArgs) -> CmdResult {
    let files = if args.files.is_empty() {
        examples()?
    } else {
        args.files.clone()
    };
    let threads = RunOptions {
        threads: args.threads.threads,
        ..RunOptions::default()
    };
    let mut programs = Vec::new();
    for file in &files {
        programs.push(bench_program(file, &args, &threads)?);
    }
    if args.json {
        let threads = threads.thread_count();
        println!(
            "{}",
            serde_json::json!({"threads": threads, "repeat": args.repeat, "programs": programs})
        );
    } else {
        print!("{}", render(&programs));
    }
    Ok(())
}

/// Every `examples/*.hel` under the current directory, sorted.
fn examples() -> miette::Result<Vec<PathBuf>> {
    let dir = std::fs::read_dir("examples").map_err(|e| {
        usage_error(format!(
            "no examples/ here ({e}): name the programs, or run from a checkout"
        ))
    })?;
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hel"))
        .collect();
    files.sort();
    Ok(files)
}

fn bench_program(
    file: &std::path::Path,
    args: &ZooBenchArgs,
    threads: &RunOptions,
) -> miette::Result<Program> {
    let src = read_source(file)?;
    // A program the language refuses is the user's error, not a level's result.
    frontend(&src, &[])?;
    let mut runs = Vec::new();
    let mut refused = None;
    let mut skipped = Vec::new();
    for &n in &args.levels {
        let level = [OptLevel::O0, OptLevel::O1, OptLevel::O2][n as usize];
        let mut options = hel_compiler::Options::default();
        options.passes.level = level;
        eprintln!("[bench zoo] {} -O{n}: compiling", src.short_name());
        let compiled = match hel_compiler::compile(&src, &options) {
            Ok(c) => c,
            Err(d) => {
                refused = Some(format!("-O{n}: {}", d.message));
                continue;
            }
        };
        // Keys, inputs and working set are all held at once here: refused, as `hel run` would
        // refuse them, rather than left to the kernel's out-of-memory killer (logreg_gd at
        // -O0, N = 2^16, depth 41, on a 24 GiB machine).
        let r = compiled.schedule().resources();
        let what = format!("{} -O{n}", src.short_name());
        let need = r.keygen_peak_bytes.max(r.server_peak_bytes);
        if let Err(e) = hel::memory::check(&what, need, None, "run it on a larger machine") {
            eprintln!("[bench zoo] {e}");
            skipped.push(e.to_string());
            continue;
        }
        let values = random_inputs(&compiled.program, 0x7a6f6f);
        let inputs = schedule_inputs(&compiled.program, &values);
        let report = compiled.report();
        let schedule = compiled.schedule();
        let (seconds, max_error) = time_runs(schedule, &inputs, args.repeat, threads)
            .map_err(|e| user_error(format!("{} -O{n}: {e}", src.short_name())))?;
        eprintln!(
            "[bench zoo] {} -O{n}: depth {}, N = 2^{}, server {seconds:.3} s, error {max_error:.1e} \
             (bound {:.1e})",
            src.short_name(),
            report.depth,
            report.params.log_n,
            report.predicted_error
        );
        runs.push(Run {
            opt_level: n,
            schedule_level: match compiled.level {
                OptLevel::O0 => 0,
                OptLevel::O1 => 1,
                OptLevel::O2 => 2,
            },
            depth: report.depth,
            log_n: report.params.log_n,
            server_seconds: seconds,
            max_error,
            predicted_error: report.predicted_error,
            within_bound: max_error <= report.predicted_error,
        });
    }
    let seconds = |level: u8| {
        runs.iter()
            .find(|r| r.opt_level == level)
            .map(|r| r.server_seconds)
    };
    let ratio = |a: u8, b: u8| Some(seconds(a)? / seconds(b)?);
    Ok(Program {
        file: src.short_name().to_string(),
        o2_over_o1: ratio(2, 1),
        o1_over_o0: ratio(1, 0),
        runs,
        refused,
        skipped,
    })
}

/// Keys once, then `repeat` runs (encryption, the server's run, decryption); the median
/// server seconds and the largest decrypted error against the plaintext simulation.
fn time_runs(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
    repeat: u32,
    threads: &RunOptions,
) -> Result<(f64, f64), String> {
    let mut rng = Sampler::from_os();
    let local = Local::new(schedule, &mut rng)?;
    let want = simulate(schedule, inputs).map_err(|e| format!("simulation: {e}"))?;
    let mut times = Vec::new();
    let mut max_error = 0.0f64;
    for _ in 0..repeat {
        let run = local.run(inputs, threads, &mut rng)?;
        times.push(run.server_seconds);
        for (g, w) in run.outputs.iter().zip(&want) {
            for (a, b) in g.data.iter().zip(&w.data) {
                max_error = max_error.max((a - b).abs());
            }
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], max_error))
}

fn render(programs: &[Program]) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{:<22} {:>18} {:>18} {:>18} {:>8} {:>8}\n",
        "program", "-O0 depth/N/s", "-O1 depth/N/s", "-O2 depth/N/s", "O2/O1", "O1/O0"
    );
    for p in programs {
        let cell = |level: u8| {
            p.runs
                .iter()
                .find(|r| r.opt_level == level)
                .map_or("-".to_string(), |r| {
                    let flag = if r.within_bound { "" } else { "!" };
                    format!("{} 2^{} {:.3}{flag}", r.depth, r.log_n, r.server_seconds)
                })
        };
        let ratio = |r: Option<f64>| r.map_or("-".into(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "{:<22} {:>18} {:>18} {:>18} {:>8} {:>8}",
            p.file,
            cell(0),
            cell(1),
            cell(2),
            ratio(p.o2_over_o1),
            ratio(p.o1_over_o0)
        );
        if let Some(why) = &p.refused {
            let _ = writeln!(s, "  refused {why}");
        }
        for why in &p.skipped {
            let _ = writeln!(s, "  skipped: {why}");
        }
    }
    s.push_str(
        "\ncolumns: ciphertext depth, ring, median measured server seconds (! = a decrypted error \
         beyond the compiler's bound)\n",
    );
    s
}
