//! `hel calibrate`: measures the CKKS operations on this machine and saves the cost table that
//! `hel run --evaluator cost` estimates from and the ckks evaluator decides hoisting with.

use std::path::PathBuf;

use clap::Args;
use hel_runtime::exec::{calibrate, calibrate_bootstraps};
use serde_json::json;

use super::common::user_error;
use super::cost_table::default_path;
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};

#[derive(Args)]
#[command(
    after_help = "Times every operation on one thread at up to three limb counts per ring \
degree (median of --repeats samples) and writes a small RON file. Run it on an optimized build \
(`cargo run --release -- calibrate`) on an otherwise idle machine; 2^13..2^15 take about ten \
seconds, 2^16 about a minute more.

`--bootstrap` also times one bootstrap per slot count (N = 2^16, the chains `hel train \
--refresh bootstrap` uses, 3-4 GB of keys each, about 20 s each); `hel train` chooses its round \
size by them. Without it, the bootstraps measured on hel's development machine are used.

The default file is $HEL_COST_TABLE, else $XDG_CONFIG_HOME/hel/cost-table.ron, else \
~/.config/hel/cost-table.ron; `hel run` reads it from there. Without it, hel uses the table \
measured on its development machine.

Examples:
  hel calibrate
  hel calibrate --log-n 13,14,15,16 --repeats 5 --force
  hel calibrate --bootstrap 6,8,10,12,15
  hel calibrate -o cost.ron --json"
)]
pub struct CalibrateArgs {
    /// Ring degrees to measure (log2 N, comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [13u32, 14, 15],
          value_parser = clap::value_parser!(u32).range(12..=16))]
    pub log_n: Vec<u32>,
    /// Also time one bootstrap of each of these slot counts (log2, comma-separated, 4..=15).
    #[arg(long, value_name = "LOG_SLOTS", value_delimiter = ',', num_args = 1..,
          value_parser = clap::value_parser!(u32).range(4..=15))]
    pub bootstrap: Vec<u32>,
    /// Samples per measurement (the median is kept).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeats: u32,
    /// Where to write the table (default: see below).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing table.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object (the path and the number of curves) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CalibrateArgs) -> CmdResult {
    let out = match args.out.clone().or_else(default_path) {
        Some(p) => p,
        None => return Err(user_error("no home directory: pass -o FILE")),
    };
    check_writable(&out, args.force, &[]).map_err(user_error)?;
    let mut progress = |line: &str| eprintln!("calibrate: {line}");
    let mut table = calibrate(&args.log_n, args.repeats as usize, &mut progress)
        .map_err(|e| user_error(format!("calibration failed: {e}")))?;
    table.bootstraps = calibrate_bootstraps(&args.bootstrap, &mut progress)
        .map_err(|e| user_error(format!("bootstrap calibration failed: {e}")))?;
    let text = table.to_ron().map_err(user_error)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| user_error(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_new(&out, text.as_bytes(), args.force, &[]).map_err(user_error)?;
    if args.json {
        println!(
            "{}",
            json!({
                "path": out.display().to_string(),
                "curves": table.curves.len(),
                "log_n": args.log_n,
                "bootstraps": table.bootstraps,
            })
        );
    } else {
        println!(
            "wrote {} ({} curves for N = 2^{})",
            out.display(),
            table.curves.len(),
            args.log_n
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", 2^")
        );
    }
    Ok(())
}
