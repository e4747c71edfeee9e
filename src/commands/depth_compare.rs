//! `hel depth --compare`: the program compiled at -O0, -O1 and -O2 side by side, so a user
//! sees what each level buys (ciphertext depth, ring, estimated server work, keys, upload) and
//! what the client pays for it. Each level is compiled as `hel compile -O<n>` compiles it: a
//! level never loses to the ones below it (the driver keeps a lower level's schedule where it is
//! shallower, or as deep and faster), and the row says when it did.

use hel::train::report::human_bytes;
use hel_compiler::analysis::client_work::ClientWork;
use hel_compiler::passes::pipeline::OptLevel;
use hel_runtime::exec::CostTable;
use serde::Serialize;

use super::common::read_source;
use super::depth::{DepthArgs, ErrorReport};
use super::CmdResult;

/// One level's compilation, or why it did not compile.
#[derive(Serialize)]
struct Row {
    opt_level: u8,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Compiled {
        /// The level whose schedule `hel compile` keeps at this level: this one, or a lower
        /// one that is shallower or as deep and faster.
        schedule_level: u8,
        depth: u32,
        log_n: u32,
        log_pq: u32,
        /// Single-thread seconds by the default cost table (`hel calibrate` for this machine).
        estimated_server_seconds: f64,
        eval_key_bytes: u64,
        upload_bytes: u64,
        client: ClientWork,
    },
    Refused {
        error: ErrorReport,
    },
}

pub fn run(args: &DepthArgs) -> CmdResult {
    let src = read_source(&args.file)?;
    let table = CostTable::default();
    let mut rows = Vec::new();
    for (n, level) in [OptLevel::O0, OptLevel::O1, OptLevel::O2]
        .into_iter()
        .enumerate()
    {
        let mut passes = args.opt.options();
        passes.level = level;
        let options = hel_compiler::Options {
            sets: args.set.sets.clone(),
            passes,
            precision_bits: args.precision.precision,
            max_log_n: args.max_log_n.max_log_n,
            ..hel_compiler::Options::default()
        };
        eprintln!("[compare] compiling at -O{n}");
        let outcome = match hel_compiler::compile(&src, &options) {
            Ok(c) => {
                let r = c.report();
                Outcome::Compiled {
                    schedule_level: level_number(c.level),
                    depth: r.depth,
                    log_n: r.params.log_n,
                    log_pq: r.params.log_q,
                    estimated_server_seconds: table.schedule_work_seconds(c.schedule()),
                    eval_key_bytes: r.resources.eval_key_bytes,
                    upload_bytes: r.resources.upload_bytes,
                    client: c.client,
                }
            }
            Err(d) => Outcome::Refused {
                error: ErrorReport::new(&d),
            },
        };
        rows.push(Row {
            opt_level: n as u8,
            outcome,
        });
    }
    if args.json {
        let json = serde_json::json!({
            "file": src.short_name(),
            "compare": rows,
        });
        println!("{json}");
    } else {
        print!("{}", render(src.short_name(), &rows));
    }
    Ok(())
}

fn level_number(level: OptLevel) -> u8 {
    match level {
        OptLevel::O0 => 0,
        OptLevel::O1 => 1,
        OptLevel::O2 => 2,
    }
}

fn render(file: &str, rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{file}: what each level buys (server work: one thread, default cost table)\n\n{:<6} {:>6} {:>7} {:>12} {:>10} {:>10} {:>14} {:>12}\n",
        "level", "depth", "N", "server work", "keys", "upload", "client flops", "extra upload"
    );
    for r in rows {
        let level = format!("-O{}", r.opt_level);
        match &r.outcome {
            Outcome::Compiled {
                schedule_level,
                depth,
                log_n,
                estimated_server_seconds,
                eval_key_bytes,
                upload_bytes,
                client,
                ..
            } => {
                let _ = writeln!(
                    s,
                    "{level:<6} {depth:>6} {:>7} {:>10.2} s {:>10} {:>10} {:>14} {:>12}",
                    format!("2^{log_n}"),
                    estimated_server_seconds,
                    human_bytes(*eval_key_bytes as usize),
                    human_bytes(*upload_bytes as usize),
                    client.flops,
                    extra_upload(client),
                );
                if *schedule_level != r.opt_level {
                    s.pop();
                    let _ = writeln!(s, "  (-O{schedule_level}'s schedule: it does better)");
                }
            }
            Outcome::Refused { error } => {
                let _ = writeln!(
                    s,
                    "{level:<6} not compiled: {} ({})",
                    error.message, error.code
                );
            }
        }
    }
    s
}

/// The "extra upload" column: the derived inputs' upload as a multiple of the data's own,
/// `0.00x` without derived inputs, `all` where only derived inputs are uploaded.
fn extra_upload(client: &ClientWork) -> String {
    match client.upload_ratio() {
        Some(ratio) => format!("{ratio:.2}x"),
        None if client.extra_upload_bytes.unwrap_or(0) > 0 => "all".into(),
        None => "0.00x".into(),
    }
}
