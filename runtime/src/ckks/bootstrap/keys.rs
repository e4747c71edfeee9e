//! Bootstrapping keys, made by the client like the other evaluation keys.
//!
//! Besides the relinearization key and the rotation keys of the two DFTs (plus conjugation),
//! bootstrapping needs the pair of sparse-secret encapsulation keys (Bossuat–Troncoso-Pastoriza–
//! Hubaux, ACNS 2022): a fresh ternary secret s' of small Hamming weight h is drawn on the
//! client and immediately forgotten; the server gets
//!
//! - `to_sparse`: switches s -> s', **only modulo q_0·p** (its own two-prime context), so that
//!   the one RLWE instance under the sparse secret has a ~100-bit modulus, far below what the
//!   hybrid attacks on sparse secrets need at N = 2^16 (docs/bootstrapping.md);
//! - `from_sparse`: switches s' -> s over the whole chain. Its secret is the dense s, so it is
//!   as secure as any other key of the set; s' is only what it encrypts.
//!
//! With s' sparse, the integer part I of the ModRaised coefficients is a sum of h + 1 small
//! uniforms instead of ~2N/3, which is what lets EvalMod work on a narrow interval.

use crate::ckks::keyswitch::SwitchKey;
use crate::ckks::{Context, GaloisKeys, RelinKey, Sampler, SecretKey};

/// Everything the server needs to bootstrap; holds no secret.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapKeys {
    pub(crate) relin: RelinKey,
    pub(crate) galois: GaloisKeys,
    /// s -> s' in the encapsulation context.
    pub(crate) to_sparse: SwitchKey,
    /// s' -> s in the main context.
    pub(crate) from_sparse: SwitchKey,
    /// Identifier of the main context.
    pub(crate) ctx_id: u64,
    /// Identifier of the encapsulation context.
    pub(crate) enc_id: u64,
}

/// Bit-packed size of a switch key over `moduli` (as the key files store it).
fn switch_key_bytes(key: &SwitchKey, moduli: &[u64], n: usize) -> usize {
    let bits: usize = moduli
        .iter()
        .map(|&q| (u64::BITS - q.leading_zeros()) as usize)
        .sum();
    key.digits.len() * 2 * bits * n / 8
}

impl BootstrapKeys {
    /// The relinearization key of the set (the program may use it too).
    pub fn relin_key(&self) -> &RelinKey {
        &self.relin
    }

    /// The Galois keys of the set (DFT rotations and conjugation).
    pub fn galois_keys(&self) -> &GaloisKeys {
        &self.galois
    }

    /// Size in bytes of the keys' payload, every polynomial bit-packed at the width of its
    /// primes as the key files store it (file headers and checksums aside). Computed, not
    /// serialized: serializing 4 GB of keys to measure them took longer than a bootstrap.
    pub fn size_bytes(&self, ctx: &Context, enc: &Context) -> usize {
        std::iter::once(&self.relin.key)
            .chain(self.galois.keys.values())
            .chain(std::iter::once(&self.from_sparse))
            .map(|k| switch_key_bytes(k, &ctx.moduli, ctx.n))
            .sum::<usize>()
            + switch_key_bytes(&self.to_sparse, &enc.moduli, enc.n)
    }
}

/// Generates the key set on the client. `rotations` are the DFT steps.
pub(crate) fn generate(
    ctx: &Context,
    enc: &Context,
    sk: &SecretKey,
    rotations: &[i64],
    hamming_weight: usize,
    sampler: &mut Sampler,
) -> crate::ckks::Result<BootstrapKeys> {
    ctx.check_id(sk.ctx_id)?;
    let relin = ctx.gen_relin_key(sk, sampler)?;
    let galois = ctx.gen_galois_keys(sk, rotations, true, sampler)?;
    let sparse = sampler.sparse_ternary(ctx.n, hamming_weight);
    let dense_enc = enc.secret_key_from_coeffs(sk.coeffs.clone());
    let sparse_enc = enc.secret_key_from_coeffs(sparse.clone());
    let to_sparse = enc.gen_switch_key(&dense_enc.ntt, &sparse_enc, sampler);
    let sparse_main = ctx.secret_key_from_coeffs(sparse);
    let from_sparse = ctx.gen_switch_key(&sparse_main.ntt, sk, sampler);
    Ok(BootstrapKeys {
        relin,
        galois,
        to_sparse,
        from_sparse,
        ctx_id: ctx.id,
        enc_id: enc.id,
    })
}
