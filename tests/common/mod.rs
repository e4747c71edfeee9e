//! Helpers shared by the command-line tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `hel` binary built for the tests in `dir`.
pub fn hel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}

/// The whole encrypted chain through the libraries, as client and server run it: keygen,
/// encryption of `inputs`, the server's run on the evaluation keys alone, decryption.
/// Errors say which step failed.
pub fn round_trip(
    schedule: &hel_runtime::schedule::Schedule,
    inputs: &[Vec<hel_runtime::schedule::Tensor>],
    rng: &mut hel_runtime::ckks::Sampler,
) -> Result<Vec<hel_runtime::schedule::Tensor>, String> {
    let local = hel_runtime::local::Local::new(schedule, rng)?;
    let run = local.run(inputs, &hel_runtime::exec::RunOptions::default(), rng)?;
    Ok(run.outputs)
}

/// `hel encrypt PROGRAM --keys keys --input NAME=FILE ... -o OUT` (keys in `keys/`).
pub fn encrypt_args<'a>(program: &'a str, inputs: &[&'a str], out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["encrypt", program, "--keys", "keys"];
    for i in inputs {
        args.extend(["--input", i]);
    }
    args.extend(["-o", out]);
    args
}

/// `hel run PROGRAM` on `in.hct` with the evaluation keys in `keys/`, writing `out`.
pub fn server_run_args<'a>(program: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        program,
        "--eval-keys",
        "keys/eval.keys",
        "--inputs",
        "in.hct",
        "-o",
        out,
    ]
}

/// `hel run PROGRAM --evaluator debug` on `in.hct` with the keys in `keys/` and the plaintext
/// inputs `NAME=FILE`.
pub fn debug_run_args<'a>(program: &'a str, inputs: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        program,
        "--evaluator",
        "debug",
        "--eval-keys",
        "keys/eval.keys",
        "--inputs",
        "in.hct",
        "--secret-key",
        "keys/secret.key",
    ];
    for i in inputs {
        args.extend(["--input", i]);
    }
    args
}
