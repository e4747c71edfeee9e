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
    use hel_runtime::{client, exec};
    let ctx = client::context(schedule).map_err(|e| format!("context: {e}"))?;
    let (sk, keys) = client::keygen(schedule, &ctx, rng).map_err(|e| format!("keygen: {e}"))?;
    let upload = client::encrypt_inputs(schedule, &ctx, &sk, inputs, rng)
        .map_err(|e| format!("encrypt: {e}"))?;
    let key_id = upload.key_id;
    let evaluator = exec::CkksEvaluator::new_seeded(
        &ctx,
        schedule,
        &keys.relin,
        &keys.galois,
        upload.ciphertexts,
        upload.public,
    )
    .map_err(|e| format!("evaluator: {e}"))?;
    let result = exec::execute(schedule, &evaluator, &exec::RunOptions::default())
        .map_err(|e| format!("execute: {e}"))?;
    let download = client::EncryptedOutputs::new(schedule, key_id, result.outputs);
    client::decrypt_outputs(schedule, &ctx, &sk, &download).map_err(|e| format!("decrypt: {e}"))
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

/// `hel run PROGRAM` on `in.hct` with the evaluation keys in `keys/`, writing `out.hct`.
pub fn server_run_args(program: &str) -> Vec<&str> {
    vec![
        "run",
        program,
        "--eval-keys",
        "keys/eval.keys",
        "--inputs",
        "in.hct",
        "-o",
        "out.hct",
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
