//! The server's results and their decryption.
//!
//! [`decrypt_outputs`] decrypts exactly: right when the results stay with the key owner, which
//! is the normal case (the data owner trains on their data and keeps the model). When results
//! are handed back to the party that ran the computation (or to anyone who knows the
//! ciphertexts), an exact decryption leaks the ciphertext noise, and with it information about
//! the secret key (Li–Micciancio, see docs/security.md): use [`decrypt_outputs_flooded`], which
//! adds Gaussian noise `2^flood_bits` times the program's predicted error bound before decoding.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::check_context;
use super::container::{program_label, FileKind, Reader, Writer};
use super::error::{ClientError, Result};
use super::keys::{check_key_set, KeyId};
use crate::ckks::{sampling, Ciphertext, Context, Sampler, SecretKey};
use crate::schedule::rules::scales_match;
use crate::schedule::{unpack_outputs, Schedule, Tensor, ValueId};

/// The output ciphertexts of one run: one per value the schedule's outputs read.
#[derive(Clone, Debug, PartialEq)]
pub struct EncryptedOutputs {
    /// The program that produced them.
    pub program_name: String,
    pub program_hash: String,
    /// The key set of the inputs and evaluation keys they were computed from.
    pub key_id: KeyId,
    /// `(node, ciphertext)`, one per [`Schedule::output_values`] entry.
    pub values: Vec<(ValueId, Ciphertext)>,
}

impl EncryptedOutputs {
    /// Wraps an executor's output ciphertexts for `schedule`, computed under key set `key_id`.
    pub fn new(schedule: &Schedule, key_id: KeyId, values: Vec<(ValueId, Ciphertext)>) -> Self {
        EncryptedOutputs {
            program_name: schedule.name.clone(),
            program_hash: schedule.program_hash.clone(),
            key_id,
            values,
        }
    }

    /// Serializes into an encrypted-outputs file bound to the program.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        let mut w = Writer::new(
            FileKind::EncryptedOutputs,
            &ctx.fingerprint(),
            self.key_id,
            &self.program_name,
            &self.program_hash,
        );
        w.u32(self.values.len() as u32);
        for (v, ct) in &self.values {
            w.u32(*v);
            w.section(&ct.to_bytes(ctx)?);
        }
        Ok(w.finish())
    }

    /// Loads an encrypted-outputs file for `schedule`; it must hold exactly one ciphertext per
    /// value the outputs read.
    pub fn from_bytes(schedule: &Schedule, ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let fp = check_context(schedule, ctx)?;
        let mut r = Reader::open(bytes, FileKind::EncryptedOutputs, schedule, &fp)?;
        let n = r.u32()? as usize;
        let expected = schedule.output_values().len();
        if n != expected {
            return Err(r.malformed(format!(
                "{n} output ciphertexts, the schedule's outputs read {expected}"
            )));
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let v = r.u32()?;
            values.push((v, Ciphertext::from_bytes(ctx, r.section()?)?));
        }
        let key_id = r.key_id();
        r.finish()?;
        let outs = EncryptedOutputs::new(schedule, key_id, values);
        outs.check(schedule)?;
        Ok(outs)
    }

    /// Checks the program, that the values are exactly those the outputs read, and that each
    /// ciphertext is at the level, scale and degree the schedule records for its value (a
    /// server, or anyone editing the file, cannot make the client decode with a wrong scale).
    pub fn check(&self, schedule: &Schedule) -> Result<()> {
        if self.program_hash != schedule.program_hash {
            return Err(ClientError::WrongProgram {
                what: "encrypted outputs",
                expected: program_label(&schedule.name, &schedule.program_hash),
                found: program_label(&self.program_name, &self.program_hash),
            });
        }
        let needed = schedule.output_values();
        let mut seen: Vec<ValueId> = Vec::with_capacity(self.values.len());
        for (v, _) in &self.values {
            if needed.binary_search(v).is_err() {
                return Err(ClientError::ExtraOutput {
                    value: *v,
                    reason: "no output reads it",
                });
            }
            if seen.contains(v) {
                return Err(ClientError::ExtraOutput {
                    value: *v,
                    reason: "given twice",
                });
            }
            seen.push(*v);
        }
        for (v, ct) in &self.values {
            let Some(node) = schedule.nodes.get(*v as usize) else {
                return Err(ClientError::ExtraOutput {
                    value: *v,
                    reason: "the schedule has no such value",
                });
            };
            if ct.level() != node.level as usize
                || !scales_match(ct.scale(), node.scale)
                || ct.degree() != usize::from(node.degree)
            {
                return Err(ClientError::OutputLevel {
                    value: *v,
                    level: ct.level(),
                    log_scale: ct.scale().log2(),
                    degree: ct.degree(),
                    expected_level: node.level,
                    expected_log_scale: node.scale.log2(),
                    expected_degree: node.degree,
                });
            }
        }
        for o in &schedule.outputs {
            if let Some(t) = o.tiles.iter().find(|t| !seen.contains(&t.value)) {
                return Err(ClientError::MissingOutput {
                    value: t.value,
                    output: o.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Decrypts and unpacks the outputs, exactly (see the module documentation for when to flood
/// instead). Returns one tensor per [`Schedule::outputs`] entry.
pub fn decrypt_outputs(
    schedule: &Schedule,
    ctx: &Context,
    sk: &SecretKey,
    outputs: &EncryptedOutputs,
) -> Result<Vec<Tensor>> {
    decrypt_with(schedule, ctx, sk, outputs, None)
}

/// The flooding standard deviation (in plaintext-coefficient units) for value `v`:
/// `2^flood_bits` times a bound on the coefficient-domain noise. The program predicts an
/// absolute error bound `B` per output entry; a tile holds entries times its factor, so its
/// slot error is at most `B·|factor|`, and as the coefficient vector is the normalized inverse
/// of the canonical embedding, no coefficient exceeds `B·|factor|·scale`. Never less than the
/// noise of a fresh encryption (6σ plus rounding), which a schedule that computes nothing has.
pub fn flood_sigma(schedule: &Schedule, v: ValueId, scale: f64, flood_bits: u32) -> f64 {
    let slot_bound = schedule
        .outputs
        .iter()
        .flat_map(|o| {
            o.tiles
                .iter()
                .filter(move |t| t.value == v)
                .map(move |t| o.bound * t.factor.abs())
        })
        .fold(0.0f64, f64::max);
    let fresh = sampling::SIGMA * sampling::TAIL_SIGMAS + 0.5;
    let coeff_bound = (slot_bound * scale).max(fresh);
    coeff_bound * (flood_bits as f64).exp2()
}

/// Decrypts with noise flooding, for results that will be shared with the party that computed
/// them. The added noise has standard deviation [`flood_sigma`] per coefficient; in the slots
/// that is about `2^flood_bits · B · sqrt(N/2)`, so precision drops by roughly
/// `flood_bits + log2(N)/2` bits below the predicted bound B. The conservative rule is
/// `flood_bits` ≥ the statistical security parameter (e.g. 30–40); smaller values give
/// weaker, heuristic protection. The flooding noise must stay below 2^60 coefficient units,
/// which caps `flood_bits` for large scales.
pub fn decrypt_outputs_flooded(
    schedule: &Schedule,
    ctx: &Context,
    sk: &SecretKey,
    outputs: &EncryptedOutputs,
    flood_bits: u32,
    sampler: &mut Sampler,
) -> Result<Vec<Tensor>> {
    decrypt_with(schedule, ctx, sk, outputs, Some((flood_bits, sampler)))
}

fn decrypt_with(
    schedule: &Schedule,
    ctx: &Context,
    sk: &SecretKey,
    outputs: &EncryptedOutputs,
    flood: Option<(u32, &mut Sampler)>,
) -> Result<Vec<Tensor>> {
    check_context(schedule, ctx)?;
    outputs.check(schedule)?;
    check_key_set(
        "encrypted outputs",
        outputs.key_id,
        "secret key",
        KeyId::of(ctx, sk)?,
    )?;
    let (bits, forks): (Option<u32>, Vec<Option<Sampler>>) = match flood {
        Some((bits, s)) => (
            Some(bits),
            outputs.values.iter().map(|_| Some(s.fork())).collect(),
        ),
        None => (None, outputs.values.iter().map(|_| None).collect()),
    };
    let slots: BTreeMap<ValueId, Vec<f64>> = outputs
        .values
        .par_iter()
        .zip(forks)
        .map(|((v, ct), rng)| {
            let pt = match (bits, rng) {
                (Some(bits), Some(mut rng)) => {
                    let sigma = flood_sigma(schedule, *v, ct.scale(), bits);
                    ctx.decrypt_flooded(ct, sk, sigma, &mut rng)?
                }
                _ => ctx.decrypt(ct, sk)?,
            };
            Ok((*v, ctx.decode_real(&pt)?))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let by_id: HashMap<ValueId, &[f64]> = slots.iter().map(|(v, s)| (*v, s.as_slice())).collect();
    Ok(unpack_outputs(schedule, |v| by_id.get(&v).copied()))
}
