//! The client (data owner): keys, encryption of the minibatches and weights, decryption.
//!
//! Everything that leaves the client is bytes in the same formats `hel keygen` and
//! `hel encrypt` write, so the in-process run exercises exactly what a real split would send.
//! The secret keys never leave this struct.

use std::collections::HashMap;

use hel_runtime::ckks::bootstrap::Bootstrapper;
use hel_runtime::ckks::{Context, Sampler, SecretKey};
use hel_runtime::client::{
    self, decrypt_outputs, encrypt_inputs, needed_galois_elements, secret_key_to_bytes,
    EncryptedOutputs, KeyBytes, KeyId,
};
use hel_runtime::schedule::{Schedule, Tensor};

use super::TrainError;

/// What the client sends the server once per key set.
pub struct KeyUpload {
    /// Which key set (numbered in order of generation).
    pub key_set: usize,
    /// The evaluation-keys file (public, relinearization and Galois keys).
    pub eval_keys: Vec<u8>,
    pub sizes: KeyBytes,
    /// Size of the secret-key file the client keeps (for the report; never sent).
    pub secret_key_bytes: usize,
}

/// One `keygen`: the secret key and which Galois keys the server got with it.
struct KeySet {
    ctx: Context,
    sk: SecretKey,
    /// Sorted Galois elements of the evaluation keys.
    galois: Vec<usize>,
}

/// The key owner. Holds the secret key of every key set some program still uses: a key set
/// serves every program compiled to its parameters whose rotations it covers (the rounds of a
/// run differ only in constants), and ciphertexts are bound to their program.
pub struct Client {
    sampler: Sampler,
    /// By key-set number; `None` once forgotten.
    sets: Vec<Option<KeySet>>,
    /// Key set of each program, by program hash.
    by_program: HashMap<String, usize>,
    /// With the state refreshed on the server: the one secret key of the bootstrapping chain,
    /// which every key set then shares (its programs run under the chain's bottom).
    master: Option<SecretKey>,
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
            sets: Vec::new(),
            by_program: HashMap::new(),
            master: None,
        }
    }

    /// Draws the secret key of the bootstrapping chain `boot` and makes the bootstrapping
    /// keys; returns the file sent to the server. Every key set generated afterwards shares
    /// this secret key, so that ciphertexts move between the programs' contexts and the
    /// bootstrapping context.
    pub fn bootstrap_keygen(
        &mut self,
        boot: &Bootstrapper,
    ) -> Result<(Vec<u8>, KeyId), TrainError> {
        let sk = boot.context().gen_secret_key(&mut self.sampler);
        let keys = boot.gen_keys(&sk, &mut self.sampler)?;
        let bytes = boot.keys_to_bytes(&keys)?;
        let key_id = KeyId::of(boot.context(), &sk)?;
        self.master = Some(sk);
        Ok((bytes, key_id))
    }

    /// Generates a key set for `schedule` and returns the evaluation keys to send.
    pub fn keygen(&mut self, schedule: &Schedule) -> Result<KeyUpload, TrainError> {
        let ctx = client::context(schedule)?;
        let (sk, eval) = match &self.master {
            Some(master) => {
                let sk = ctx.adopt_secret_key(master)?;
                let eval = client::eval_keys_for(schedule, &ctx, &sk, &mut self.sampler)?;
                (sk, eval)
            }
            None => client::keygen(schedule, &ctx, &mut self.sampler)?,
        };
        let secret_key_bytes = secret_key_to_bytes(schedule, &ctx, &sk)?.len();
        let (eval_keys, sizes) = eval.to_bytes_sized(&ctx)?;
        let galois = needed_galois_elements(schedule, &ctx);
        let key_set = self.sets.len();
        self.sets.push(Some(KeySet { ctx, sk, galois }));
        self.by_program
            .insert(schedule.program_hash.clone(), key_set);
        Ok(KeyUpload {
            key_set,
            eval_keys,
            sizes,
            secret_key_bytes,
        })
    }

    /// A key set the server already has that serves `schedule` (same parameters, every
    /// rotation covered), the latest first; `schedule` is then encrypted and decrypted with it.
    pub fn reuse(&mut self, schedule: &Schedule) -> Option<usize> {
        let (i, _) = self.sets.iter().enumerate().rev().find(|(_, s)| {
            s.as_ref().is_some_and(|s| {
                s.ctx.params() == &schedule.params
                    && needed_galois_elements(schedule, &s.ctx)
                        .iter()
                        .all(|g| s.galois.binary_search(g).is_ok())
            })
        })?;
        self.by_program.insert(schedule.program_hash.clone(), i);
        Some(i)
    }

    /// Drops the secret key of a key set no program will use any more.
    pub fn forget(&mut self, key_set: usize) {
        if let Some(s) = self.sets.get_mut(key_set) {
            *s = None;
        }
        self.by_program.retain(|_, &mut i| i != key_set);
    }

    fn key(&self, schedule: &Schedule) -> Result<&KeySet, TrainError> {
        self.by_program
            .get(&schedule.program_hash)
            .and_then(|&i| self.sets.get(i)?.as_ref())
            .ok_or_else(|| {
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
        let i = *self.by_program.get(&schedule.program_hash).ok_or_else(|| {
            TrainError::Internal(format!("no keys were generated for {}", schedule.name))
        })?;
        let set = self.sets.get(i).and_then(Option::as_ref).ok_or_else(|| {
            TrainError::Internal(format!("the key set of {} was dropped", schedule.name))
        })?;
        let enc = encrypt_inputs(schedule, &set.ctx, &set.sk, inputs, &mut self.sampler)?;
        Ok(enc.to_bytes(&set.ctx)?)
    }

    /// Decrypts the server's answer: one tensor per `schedule.outputs` entry.
    pub fn decrypt(&self, schedule: &Schedule, bytes: &[u8]) -> Result<Vec<Tensor>, TrainError> {
        let set = self.key(schedule)?;
        let outs = EncryptedOutputs::from_bytes(schedule, &set.ctx, bytes)?;
        Ok(decrypt_outputs(schedule, &set.ctx, &set.sk, &outs)?)
    }
}
