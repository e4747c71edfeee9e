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

/// Names one key set (one `hel keygen` run): a one-way hash of its secret key, stamped into
/// every file made with that key set. Two key sets for the same program share the program hash
/// and the parameters, so without it evaluation keys of one run and inputs of another (or
/// outputs and the wrong secret key) would be accepted and decrypt to noise. A keyed hash
/// (blake3 in key-derivation mode) reveals nothing about the key it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The id of the key set whose secret key is `sk` (a key of `ctx`). It depends on the
    /// secret polynomial only, not on the context: the programs of a training refreshed by
    /// bootstrapping run under contexts of their own that share one secret key
    /// ([`crate::ckks::Context::adopt_secret_key`]), and their files and the bootstrapping
    /// keys belong to one key set.
    pub fn of(ctx: &Context, sk: &SecretKey) -> Result<KeyId> {
        ctx.check_id(sk.ctx_id)?;
        let coeffs: Vec<u8> = sk.coeffs.iter().map(|&c| c as i8 as u8).collect();
        let hash = blake3::derive_key("hel 2026-12-06 key-set id", &coeffs);
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash[..16]);
        Ok(KeyId(id))
    }
}

impl std::fmt::Display for KeyId {
    /// The first 8 bytes in hex: enough to tell key sets apart in a message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Checks that a file of key set `found` (`what`) may meet one of key set `expected` (`with`):
/// refused with both ids named otherwise.
pub fn check_key_set(
    what: &'static str,
    found: KeyId,
    with: &'static str,
    expected: KeyId,
) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(ClientError::KeySetMismatch {
        what,
        found: found.to_string(),
        with,
        expected: expected.to_string(),
    })
}

/// What the server needs to evaluate a program: the public key, the relinearization key and
/// Galois keys. [`keygen`] makes them for exactly the schedule's rotation steps (plus
/// conjugation if it needs it), which keeps the file as small as the program allows and reveals
/// nothing beyond the rotation set the schedule already names. Any program compiled to the same
/// parameters whose rotations they cover can use them (see [`EvalKeys::check`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EvalKeys {
    /// The program these keys were made for (for messages: they serve any program with the same
    /// parameters whose rotations they cover).
    pub program_name: String,
    pub program_hash: String,
    /// The key set (the secret key's [`KeyId`]).
    pub key_id: KeyId,
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
    let keys = eval_keys_for(schedule, ctx, &sk, sampler)?;
    Ok((sk, keys))
}

/// The evaluation keys the schedule needs for an existing secret key: the round programs of a
/// training refreshed by bootstrapping run under contexts of their own, all sharing the
/// secret key of the bootstrapping keys ([`crate::ckks::Context::adopt_secret_key`]).
pub fn eval_keys_for(
    schedule: &Schedule,
    ctx: &Context,
    sk: &SecretKey,
    sampler: &mut Sampler,
) -> Result<EvalKeys> {
    check_context(schedule, ctx)?;
    let key_id = KeyId::of(ctx, sk)?;
    let public = ctx.gen_public_key(sk, sampler)?;
    let relin = ctx.gen_relin_key(sk, sampler)?;
    let galois = ctx.gen_galois_keys(
        sk,
        &schedule.rotation_steps,
        schedule.needs_conjugation,
        sampler,
    )?;
    Ok(EvalKeys {
        program_name: schedule.name.clone(),
        program_hash: schedule.program_hash.clone(),
        key_id,
        public,
        relin,
        galois,
    })
}

/// The Galois elements a schedule's keys must cover (rotation by 0 needs no key), sorted.
pub fn needed_galois_elements(schedule: &Schedule, ctx: &Context) -> Vec<usize> {
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
            self.key_id,
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

    /// Loads an evaluation-keys file for `schedule`, refusing keys of another parameter set and
    /// a key set that lacks a rotation the schedule needs.
    pub fn from_bytes(schedule: &Schedule, ctx: &Context, bytes: &[u8]) -> Result<EvalKeys> {
        let fp = check_context(schedule, ctx)?;
        let mut r = Reader::open(bytes, FileKind::EvalKeys, schedule, &fp)?;
        let key_id = r.key_id();
        let (program_name, program_hash) =
            (r.program_name().to_string(), r.program_hash().to_string());
        let public = PublicKey::from_bytes(ctx, r.section()?)?;
        let relin = RelinKey::from_bytes(ctx, r.section()?)?;
        let galois = GaloisKeys::from_bytes(ctx, r.section()?)?;
        r.finish()?;
        let keys = EvalKeys {
            program_name,
            program_hash,
            key_id,
            public,
            relin,
            galois,
        };
        keys.check(schedule, ctx)?;
        Ok(keys)
    }

    /// Checks that `sk` is the secret key of this key set.
    pub fn check_secret_key(&self, ctx: &Context, sk: &SecretKey) -> Result<()> {
        check_key_set(
            "secret key",
            KeyId::of(ctx, sk)?,
            "evaluation keys",
            self.key_id,
        )
    }

    /// Checks that the Galois keys cover every rotation the schedule needs. Keys it does not
    /// need are allowed: a key set made for one program serves another with the same parameters
    /// (the rounds of `hel train`, whose programs differ only in constants).
    pub fn check(&self, schedule: &Schedule, ctx: &Context) -> Result<()> {
        let need = needed_galois_elements(schedule, ctx);
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
            return Err(ClientError::KeySet(format!(
                "no key for {what} (the keys were made for {})",
                super::container::program_label(&self.program_name, &self.program_hash)
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
        KeyId::of(ctx, sk)?,
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
    if KeyId::of(ctx, &sk)? != r.key_id() {
        return Err(r.malformed("the key-set id in the header is not this key's"));
    }
    r.finish()?;
    Ok(sk)
}
