//! The largest file of each kind that can belong to a schedule, computed from its parameters
//! before a file is read: a loader reads no more than this (see `hel::bounded`), so a
//! hand-made file cannot make the client or the server read gigabytes before the envelope is
//! even checked. The bounds are generous (every residue counted at 64 bits, the envelope's
//! labels at their maximum); the decoders check the exact layout afterwards.

use super::container::FileKind;
use crate::schedule::limits::MAX_ROTATION_STEPS;
use crate::schedule::Schedule;

/// Envelope, CKKS headers and labels: a megabyte covers them all.
const SLACK: u64 = 1 << 20;

/// The largest `kind` file for `schedule` (a validated schedule; saturating arithmetic).
pub fn max_file_bytes(schedule: &Schedule, kind: FileKind) -> u64 {
    let p = &schedule.params;
    let n = 1u64 << p.log_n.min(32);
    let q = p.q_bits.len() as u64;
    let all = q + p.p_bits.len() as u64;
    // One polynomial over every data prime, 8 bytes a residue.
    let poly = n.saturating_mul(q).saturating_mul(8);
    let ciphertext = poly.saturating_mul(3).saturating_add(1 << 10);
    let switch_key = (p.dnum as u64)
        .saturating_mul(2)
        .saturating_mul(n)
        .saturating_mul(all)
        .saturating_mul(8);
    let body = match kind {
        FileKind::SecretKey => n.saturating_mul(all).saturating_mul(8),
        // Public key, relinearization and conjugation keys, and at most one key per rotation
        // step a schedule may name (keys serve every program of the same parameters).
        FileKind::EvalKeys => switch_key.saturating_mul(MAX_ROTATION_STEPS as u64 + 3),
        FileKind::EncryptedInputs => {
            let public: u64 = schedule
                .inputs
                .iter()
                .filter(|i| !i.encrypted)
                .map(|i| {
                    (i.shape.len() as u64)
                        .saturating_mul(8)
                        .saturating_add(32)
                        .saturating_mul(i.elements() as u64)
                })
                .fold(0, u64::saturating_add);
            ciphertext
                .saturating_mul(schedule.client_ct_inputs().count() as u64)
                .saturating_add(public)
        }
        FileKind::EncryptedOutputs => {
            ciphertext.saturating_mul(schedule.output_values().len() as u64)
        }
        // Key-switching keys over the whole chain: the rotations, conjugation,
        // relinearization and the two encapsulation keys, at most one per step a schedule may
        // name and a few more.
        FileKind::BootstrapKeys => match schedule.bootstrap.as_ref().map(|b| b.ckks_params()) {
            Some(Ok(c)) => {
                let all = (c.q_bits.len() + c.p_bits.len()) as u64;
                (c.dnum as u64)
                    .saturating_mul(2)
                    .saturating_mul(1u64 << c.log_n.min(32))
                    .saturating_mul(all)
                    .saturating_mul(8)
                    .saturating_mul(MAX_ROTATION_STEPS as u64 + 4)
            }
            _ => 0,
        },
    };
    body.saturating_add(SLACK)
}
