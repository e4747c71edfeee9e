//! Key generation for one compiled program, and the key files.
//!
//! The secret key and the evaluation keys live in separate files of separate kinds: the
//! evaluation keys go to the server, the secret key never leaves the client, and neither file
//! can be loaded as the other.

use serde::Serialize;

use super::check_context;
use super::container::{FileKind, Reader, Writer};
use super::error::{ClientError, Result};
use crate::ckks::{Context, GaloisKeys, PublicKey, RelinKey, Sampler, SecretKey};
use crate::schedule::Schedule;

/// What the server needs to evaluate one program: the public key, the relinearization key and
/// Galois keys for exactly the schedule's rotation steps (plus conjugation if it needs it).
/// Generating only those keeps the file as small as the program allows and reveals nothing
/// beyond the rotation set the schedule already names.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalKeys {
    /// The program these keys were made for.
    pub program_name: String,
    pub program_hash: String,
    pub public: PublicKey,
    pub relin: RelinKey,
    pub galois: GaloisKeys,
}

/// Serialized sizes of a key set, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyBytes {
    pub public_key: usize,
    pub relin_key: usize,
    pub galois_keys: usize,
    /// Number of Galois keys (rotations, plus one for conjugation).
    pub galois_count: usize,
    /// The whole evaluation-keys file (envelope included).
    pub eval_total: usize,
}

/// Generates a fresh secret key and the evaluation keys the schedule needs.
pub fn keygen(
    schedule: &Schedule,
    ctx: &Context,
    sampler: &mut Sampler,
) -> Result<(SecretKey, EvalKeys)> {
    check_context(schedule, ctx)?;
    let sk = ctx.gen_secret_key(sampler);
    let public = ctx.gen_public_key(&sk, sampler)?;
    let relin = ctx.gen_relin_key(&sk, sampler)?;
    let galois = ctx.gen_galois_keys(
        &sk,
        &schedule.rotation_steps,
        schedule.needs_conjugation,
        sampler,
    )?;
    Ok((
        sk,
        EvalKeys {
            program_name: schedule.name.clone(),
            program_hash: schedule.program_hash.clone(),
            public,
            relin,
            galois,
        },
    ))
}

/// The Galois elements a schedule's keys must cover (rotation by 0 needs no key).
fn needed_elements(schedule: &Schedule, ctx: &Context) -> Vec<usize> {
    let mut g: Vec<usize> = schedule
        .rotation_steps
        .iter()
        .map(|&s| ctx.galois_element(s))
        .filter(|&g| g != 1)
        .collect();
    if schedule.needs_conjugation {
        g.push(ctx.conjugation_element());
    }
    g.sort_unstable();
    g.dedup();
    g
}

impl EvalKeys {
    /// Serializes the key set into an evaluation-keys file bound to its program.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        Ok(self.to_bytes_sized(ctx)?.0)
    }

    /// Serializes and reports the size of each part (the CLI prints both without serializing
    /// twice; Galois keys are the bulk of the file and can reach gigabytes at N = 2^16).
    pub fn to_bytes_sized(&self, ctx: &Context) -> Result<(Vec<u8>, KeyBytes)> {
        let pk = self.public.to_bytes(ctx)?;
        let rlk = self.relin.to_bytes(ctx)?;
        let gk = self.galois.to_bytes(ctx)?;
        let mut w = Writer::new(
            FileKind::EvalKeys,
            &ctx.fingerprint(),
            &self.program_name,
            &self.program_hash,
        );
        w.section(&pk);
        w.section(&rlk);
        w.section(&gk);
        let bytes = w.finish();
        let sizes = KeyBytes {
            public_key: pk.len(),
            relin_key: rlk.len(),
            galois_keys: gk.len(),
            galois_count: self.galois.elements().len(),
            eval_total: bytes.len(),
        };
        Ok((bytes, sizes))
    }

    /// Serialized sizes (serializes once; prefer [`EvalKeys::to_bytes_sized`] when the bytes
    /// are needed too).
    pub fn key_bytes(&self, ctx: &Context) -> Result<KeyBytes> {
        Ok(self.to_bytes_sized(ctx)?.1)
    }

    /// Loads an evaluation-keys file for `schedule`, refusing keys of another program or
    /// parameter set, and a key set that does not cover exactly the schedule's rotations.
    pub fn from_bytes(schedule: &Schedule, ctx: &Context, bytes: &[u8]) -> Result<EvalKeys> {
        let fp = check_context(schedule, ctx)?;
        let mut r = Reader::open(bytes, FileKind::EvalKeys, schedule, &fp)?;
        let public = PublicKey::from_bytes(ctx, r.section()?)?;
        let relin = RelinKey::from_bytes(ctx, r.section()?)?;
        let galois = GaloisKeys::from_bytes(ctx, r.section()?)?;
        r.finish()?;
        let keys = EvalKeys {
            program_name: schedule.name.clone(),
            program_hash: schedule.program_hash.clone(),
            public,
            relin,
            galois,
        };
        keys.check(schedule, ctx)?;
        Ok(keys)
    }

    /// Checks that the Galois keys are exactly those the schedule needs.
    pub fn check(&self, schedule: &Schedule, ctx: &Context) -> Result<()> {
        let need = needed_elements(schedule, ctx);
        let have = self.galois.elements();
        if let Some(g) = need.iter().find(|g| !have.contains(g)) {
            let what = if *g == ctx.conjugation_element() {
                "conjugation".to_string()
            } else {
                let steps: Vec<i64> = schedule
                    .rotation_steps
                    .iter()
                    .copied()
                    .filter(|&s| ctx.galois_element(s) == *g)
                    .collect();
                format!("rotation by {steps:?}")
            };
            return Err(ClientError::KeySet(format!("no key for {what}")));
        }
        if let Some(g) = have.iter().find(|g| !need.contains(g)) {
            return Err(ClientError::KeySet(format!(
                "a key for Galois element {g}, which the schedule never uses"
            )));
        }
        Ok(())
    }
}

/// Serializes the secret key into a secret-key file bound to the schedule's program. Keep it
/// private (the CLI writes it with mode 0600).
pub fn secret_key_to_bytes(schedule: &Schedule, ctx: &Context, sk: &SecretKey) -> Result<Vec<u8>> {
    let fp = check_context(schedule, ctx)?;
    let mut w = Writer::new(
        FileKind::SecretKey,
        &fp,
        &schedule.name,
        &schedule.program_hash,
    );
    w.section(&sk.to_bytes(ctx)?);
    Ok(w.finish())
}

/// Loads a secret-key file made for `schedule`'s program.
pub fn secret_key_from_bytes(
    schedule: &Schedule,
    ctx: &Context,
    bytes: &[u8],
) -> Result<SecretKey> {
    let fp = check_context(schedule, ctx)?;
    let mut r = Reader::open(bytes, FileKind::SecretKey, schedule, &fp)?;
    let sk = SecretKey::from_bytes(ctx, r.section()?)?;
    r.finish()?;
    Ok(sk)
}
