//! Moving ciphertexts and secret keys between two contexts whose chains share a prefix.
//!
//! A program compiled for the bottom of the bootstrapping chain (`q_0` and the program levels)
//! runs under its own, small context: its evaluation keys span only its primes. The
//! bootstrapper's context holds the whole chain. A ciphertext at level `l` is the same residues
//! in both as long as the primes `q_0..q_l`, the ring degree and the NTT evaluation order
//! agree, so moving it is a check and a relabelling, exact, with no noise added. The secret key
//! is the same ternary polynomial in both; only its NTT form over the other primes differs.

use super::context::Context;
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::keys::SecretKey;

impl Context {
    /// Whether this context and `from` share the ring, the NTT evaluation order and the data
    /// primes `q_0..q_level`.
    pub fn shares_chain(&self, from: &Context, level: usize) -> bool {
        self.n == from.n
            && level < self.num_q
            && level < from.num_q
            && self.moduli[..=level] == from.moduli[..=level]
            && self.ntt_exp == from.ntt_exp
    }

    /// `ct`, a ciphertext of `from`, as a ciphertext of this context: refused unless both share
    /// the primes up to its level ([`Context::shares_chain`]).
    pub fn adopt(&self, ct: &Ciphertext, from: &Context) -> Result<Ciphertext> {
        from.check_id(ct.ctx_id)?;
        if !self.shares_chain(from, ct.level) {
            return Err(CkksError::InvalidParams(format!(
                "a ciphertext at level {} cannot move between these contexts: their rings or \
                 primes up to that level differ",
                ct.level
            )));
        }
        Ok(Ciphertext {
            c: ct.c.clone(),
            level: ct.level,
            scale: ct.scale,
            ctx_id: self.id,
        })
    }

    /// The secret key `sk` of a context of the same ring degree, for this context's primes.
    pub fn adopt_secret_key(&self, sk: &SecretKey) -> Result<SecretKey> {
        if sk.coeffs.len() != self.n {
            return Err(CkksError::InvalidParams(format!(
                "a secret key of degree {} cannot serve a ring of degree {}",
                sk.coeffs.len(),
                self.n
            )));
        }
        Ok(self.secret_key_from_coeffs(sk.coeffs.clone()))
    }
}
