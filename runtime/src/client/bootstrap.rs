//! The bootstrapping keys of a schedule that bootstraps ([`Schedule::bootstrap`]).
//!
//! The client makes them with the program's key set: one secret key, drawn in the
//! bootstrapping chain's context and adopted by the program's (its bottom), so that the
//! program's ciphertexts move into the chain and back exactly. They travel in a file of their
//! own (gigabytes at N = 2^16, against megabytes of evaluation keys), in the client-file
//! envelope: bound to the program's parameters and to the key set, so the server refuses
//! bootstrapping keys of another key set than the evaluation keys it runs with (they would
//! bootstrap into noise).

use super::container::{FileKind, Reader, Writer};
use super::keys::{eval_keys_for, EvalKeys, KeyId};
use super::{check_context, ClientError, Result};
use crate::ckks::bootstrap::{BootstrapKeys, Bootstrapper};
use crate::ckks::{Context, Sampler, SecretKey};
use crate::schedule::Schedule;

/// The bootstrapping circuit of `schedule`'s chain; `None` for a schedule that never
/// bootstraps.
pub fn bootstrapper(schedule: &Schedule) -> Result<Option<Bootstrapper>> {
    schedule
        .bootstrap
        .as_ref()
        .map(|b| Bootstrapper::new(b).map_err(ClientError::from))
        .transpose()
}

/// A fresh key set for a schedule that bootstraps: the secret key (of the program's context
/// `ctx`), the evaluation keys and the bootstrapping keys (of `boot`, the schedule's chain).
pub fn keygen_bootstrapped(
    schedule: &Schedule,
    ctx: &Context,
    boot: &Bootstrapper,
    sampler: &mut Sampler,
) -> Result<(SecretKey, EvalKeys, BootstrapKeys)> {
    check_context(schedule, ctx)?;
    check_chain(schedule, boot)?;
    let master = boot.context().gen_secret_key(sampler);
    let sk = ctx.adopt_secret_key(&master)?;
    let eval = eval_keys_for(schedule, ctx, &sk, sampler)?;
    let keys = boot.gen_keys(&master, sampler)?;
    Ok((sk, eval, keys))
}

fn check_chain(schedule: &Schedule, boot: &Bootstrapper) -> Result<()> {
    if schedule.bootstrap.as_ref() != Some(boot.params()) {
        return Err(ClientError::ContextMismatch);
    }
    Ok(())
}

/// The bootstrapping-keys file of key set `key_id` for `schedule` (under its context `ctx`).
pub fn bootstrap_keys_to_bytes(
    schedule: &Schedule,
    ctx: &Context,
    boot: &Bootstrapper,
    keys: &BootstrapKeys,
    key_id: KeyId,
) -> Result<Vec<u8>> {
    let fp = check_context(schedule, ctx)?;
    check_chain(schedule, boot)?;
    let body = boot.keys_to_bytes(keys)?;
    let mut w = Writer::new(
        FileKind::BootstrapKeys,
        &fp,
        key_id,
        &schedule.name,
        &schedule.program_hash,
    );
    w.section(&body);
    Ok(w.finish())
}

/// Loads a bootstrapping-keys file for `schedule`: refuses a file of another kind, for other
/// parameters or another chain, truncated or corrupted. Returns the keys and their key set,
/// which the caller checks against the evaluation keys' ([`super::check_key_set`]).
pub fn bootstrap_keys_from_bytes(
    schedule: &Schedule,
    ctx: &Context,
    boot: &Bootstrapper,
    bytes: &[u8],
) -> Result<(BootstrapKeys, KeyId)> {
    let fp = check_context(schedule, ctx)?;
    check_chain(schedule, boot)?;
    let mut r = Reader::open(bytes, FileKind::BootstrapKeys, schedule, &fp)?;
    let key_id = r.key_id();
    let keys = boot.keys_from_bytes(r.section()?)?;
    r.finish()?;
    Ok((keys, key_id))
}
