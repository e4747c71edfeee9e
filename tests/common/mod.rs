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
