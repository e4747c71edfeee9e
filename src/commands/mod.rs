//! The subcommands. Each file holds one subcommand's arguments (clap) and its `run` function.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod bench_logreg;
pub mod bench_zoo;
pub mod bootstrapped;
pub mod calibrate;
pub mod check;
pub mod common;
pub mod compile;
pub mod cost_table;
pub mod data;
pub mod decrypt;
pub mod depth;
pub mod depth_compare;
pub mod encrypt;
pub mod errors;
pub mod flags;
pub mod ir;
pub mod keyfiles;
pub mod keygen;
pub mod run;
pub mod train;

/// Errors reach `main` as a miette report: exit code 2 for an [`errors::UsageError`], else 1.
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
    /// Parse and check a .hel program; print a one-line summary.
    Check(check::CheckArgs),
    /// Print the IR of a program after any pass (text, Graphviz DOT or RON).
    Ir(ir::IrArgs),
    /// Report multiplicative depth: per output, per iteration, critical path, per pass.
    Depth(depth::DepthArgs),
    /// Compile a .hel program to a CKKS schedule (.helc) for keygen, encrypt, run and decrypt.
    Compile(compile::CompileArgs),
    /// Generate a secret key and the evaluation keys for a compiled program.
    Keygen(keygen::KeygenArgs),
    /// Encrypt a program's inputs (CSV files) for the server.
    Encrypt(encrypt::EncryptArgs),
    /// Run a compiled program: encrypted (the server side), in plaintext, in lockstep debug
    /// mode, or as a cost estimate.
    Run(run::RunArgs),
    /// Decrypt a program's outputs to CSV or JSON.
    Decrypt(decrypt::DecryptArgs),
    /// Measure the CKKS operations on this machine for the cost estimates.
    Calibrate(calibrate::CalibrateArgs),
    /// Build the data sets bundled with hel.
    Data(data::DataArgs),
    /// Measure the speed of the CKKS engine (like `openssl speed`).
    ///
    /// Examples:
    ///   hel bench ckks                       # N = 2^14, all cores, table
    ///   hel bench ckks --log-n 15 --threads 1
    ///   hel bench ckks --log-n 13 --json     # one JSON object on stdout
    ///   hel bench bootstrap --threads 1      # one bootstrap at N = 2^16, 128-bit secure
    #[command(verbatim_doc_comment)]
    Bench(bench::BenchArgs),
    /// Train logistic regression on encrypted data end to end (client and server in one
    /// process) and compare with the same training in plaintext.
    Train(train::TrainArgs),
}

impl Cli {
    /// Whether the command was given `--json` (its errors are then JSON on stdout too).
    pub fn json(&self) -> bool {
        match &self.command {
            Command::Depth(a) => a.json,
            Command::Compile(a) => a.json,
            Command::Keygen(a) => a.json,
            Command::Encrypt(a) => a.json,
            Command::Run(a) => a.json,
            Command::Calibrate(a) => a.json,
            Command::Train(a) => a.json,
            Command::Bench(b) => match &b.target {
                bench::BenchTarget::Ckks(a) => a.json,
                bench::BenchTarget::Bootstrap(a) => a.json,
                bench::BenchTarget::Logreg(a) => a.json,
                bench::BenchTarget::Zoo(a) => a.json,
            },
            Command::Decrypt(a) => a.json,
            Command::Check(a) => a.json,
            Command::Ir(_) | Command::Data(_) => false,
        }
    }
}

pub fn dispatch(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Ir(a) => ir::run(a),
        Command::Depth(a) => depth::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::Encrypt(a) => encrypt::run(a),
        Command::Run(a) => run::run(a),
        Command::Decrypt(a) => decrypt::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Data(args) => data::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(args),
    }
}
