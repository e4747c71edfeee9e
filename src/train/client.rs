//! The client (data owner): keys, encryption of the minibatches and weights, decryption.
//!
//! Everything that leaves the client is bytes in the same formats `hel keygen` and
//! `hel encrypt` write, so the in-process run exercises exactly what a real split would send.
//! The secret keys never leave this struct.

use std::collections::HashMap;

use hel_runtime::ckks::{Context, Sampler, SecretKey};
use hel_runtime::client::{
    self, decrypt_outputs, encrypt_inputs, secret_key_to_bytes, EncryptedOutputs, KeyBytes,
};
use hel_runtime::schedule::{Schedule, Tensor};

use super::TrainError;

/// What the client sends the server once per compiled program.
pub struct KeyUpload {
    /// The evaluation-keys file (public, relinearization and Galois keys).
    pub eval_keys: Vec<u8>,
    pub sizes: KeyBytes,
    /// Size of the secret-key file the client keeps (for the report; never sent).
    pub secret_key_bytes: usize,
}

/// The key owner. Holds one secret key per compiled program (keys and ciphertexts are bound
/// to their program, see `hel_runtime::client`).
pub struct Client {
    sampler: Sampler,
    keys: HashMap<String, (Context, SecretKey)>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client drawing its randomness from the operating system.
    pub fn new() -> Self {
        Client {
            sampler: Sampler::from_os(),
            keys: HashMap::new(),
        }
    }

    /// Generates the keys for `schedule` and returns the evaluation keys to send.
    pub fn keygen(&mut self, schedule: &Schedule) -> Result<KeyUpload, TrainError> {
        let ctx = client::context(schedule)?;
        let (sk, eval) = client::keygen(schedule, &ctx, &mut self.sampler)?;
        let secret_key_bytes = secret_key_to_bytes(schedule, &ctx, &sk)?.len();
        let (eval_keys, sizes) = eval.to_bytes_sized(&ctx)?;
        self.keys.insert(schedule.program_hash.clone(), (ctx, sk));
        Ok(KeyUpload {
            eval_keys,
            sizes,
            secret_key_bytes,
        })
    }

    fn key(&self, schedule: &Schedule) -> Result<&(Context, SecretKey), TrainError> {
        self.keys.get(&schedule.program_hash).ok_or_else(|| {
            TrainError::Internal(format!("no keys were generated for {}", schedule.name))
        })
    }

    /// Encrypts the program's inputs (`inputs[i]` holds the elements of `schedule.inputs[i]`),
    /// including the client-side precomputation the schedule asks for; returns the upload.
    pub fn encrypt(
        &mut self,
        schedule: &Schedule,
        inputs: &[Vec<Tensor>],
    ) -> Result<Vec<u8>, TrainError> {
        let (ctx, sk) = self.keys.get(&schedule.program_hash).ok_or_else(|| {
            TrainError::Internal(format!("no keys were generated for {}", schedule.name))
        })?;
        let enc = encrypt_inputs(schedule, ctx, sk, inputs, &mut self.sampler)?;
        Ok(enc.to_bytes(ctx)?)
    }

    /// Decrypts the server's answer: one tensor per `schedule.outputs` entry.
    pub fn decrypt(&self, schedule: &Schedule, bytes: &[u8]) -> Result<Vec<Tensor>, TrainError> {
        let (ctx, sk) = self.key(schedule)?;
        let outs = EncryptedOutputs::from_bytes(schedule, ctx, bytes)?;
        Ok(decrypt_outputs(schedule, ctx, sk, &outs)?)
    }
}
