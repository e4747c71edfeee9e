//! The subcommands. Each file holds one subcommand's arguments (clap) and its `run` function.

use clap::{Parser, Subcommand};

pub mod bench;

/// Errors reach `main` as a rendered miette report; every user-facing failure is exit code 1.
pub type CmdResult = miette::Result<()>;

#[derive(Parser)]
#[command(
    name = "hel",
    version,
    about = "hel: compile and run machine-learning training on CKKS-encrypted data",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Measure the speed of the CKKS engine (like `openssl speed`).
    ///
    /// Examples:
    ///   hel bench ckks                       # N = 2^14, one thread, table
    ///   hel bench ckks --log-n 15 --threads 2
    ///   hel bench ckks --log-n 13 --json     # one JSON object on stdout
    #[command(verbatim_doc_comment)]
    Bench(bench::BenchArgs),
}

pub fn dispatch(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Bench(args) => bench::run(args),
    }
}
