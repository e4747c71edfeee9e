//! Key generation: ternary secret key, public key, relinearization key and Galois keys
//! (rotations by chosen steps and conjugation), all as hybrid key-switching keys.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::context::Context;
use super::error::{CkksError, Result};
use super::keyswitch::SwitchKey;
use super::ring::RnsPoly;
use super::sampling::{uniform_from_seed, Sampler};

/// The secret key: a uniform ternary polynomial. Never serialized together with evaluation
/// keys (it has its own serialization kind).
#[derive(Clone, PartialEq)]
pub struct SecretKey {
    /// Coefficients in {-1, 0, 1}.
    pub(crate) coeffs: Vec<i64>,
    /// NTT form over all primes (data and special).
    pub(crate) ntt: RnsPoly,
    pub(crate) ctx_id: u64,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Public encryption key `(b, a) = (-a·s + e, a)` over the data primes.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) ctx_id: u64,
}

/// Relinearization key: switches `s²` to `s`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelinKey {
    pub(crate) key: SwitchKey,
    pub(crate) ctx_id: u64,
}

/// Galois keys, by Galois element `g` (automorphism X -> X^g).
#[derive(Clone, Debug, PartialEq)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<usize, SwitchKey>,
    pub(crate) ctx_id: u64,
}

impl GaloisKeys {
    /// Whether a key for Galois element `g` is present.
    pub fn contains(&self, g: usize) -> bool {
        self.keys.contains_key(&g)
    }

    /// The Galois elements with a key.
    pub fn elements(&self) -> Vec<usize> {
        self.keys.keys().copied().collect()
    }

    pub(crate) fn get(&self, g: usize) -> Result<&SwitchKey> {
        self.keys
            .get(&g)
            .ok_or(CkksError::MissingGaloisKey { galois_element: g })
    }
}

impl Context {
    /// Samples a fresh uniform ternary secret key.
    pub fn gen_secret_key(&self, sampler: &mut Sampler) -> SecretKey {
        let coeffs = sampler.ternary(self.n);
        self.secret_key_from_coeffs(coeffs)
    }

    pub(crate) fn secret_key_from_coeffs(&self, coeffs: Vec<i64>) -> SecretKey {
        let all: Vec<usize> = (0..self.moduli.len()).collect();
        SecretKey {
            ntt: self.poly_from_signed(&coeffs, &all),
            coeffs,
            ctx_id: self.id,
        }
    }

    /// Public key at the top level.
    pub fn gen_public_key(&self, sk: &SecretKey, sampler: &mut Sampler) -> Result<PublicKey> {
        self.check_id(sk.ctx_id)?;
        let basis = self.basis_q(self.max_level());
        let a = uniform_from_seed(self, sampler.seed(), &basis);
        let mut b = self.poly_from_signed(&sampler.gaussian(self.n), &basis);
        let s = sk.ntt.prefix(basis.len());
        let mut a_s = self.mul(&a, &s, &basis);
        self.poly_neg_assign(&mut a_s, &basis);
        self.poly_add_assign(&mut b, &a_s, &basis);
        Ok(PublicKey {
            b,
            a,
            ctx_id: self.id,
        })
    }

    /// Key-switching key from `from` (NTT over all primes) to `sk`.
    pub(crate) fn gen_switch_key(
        &self,
        from: &RnsPoly,
        sk: &SecretKey,
        sampler: &mut Sampler,
    ) -> SwitchKey {
        let all: Vec<usize> = (0..self.moduli.len()).collect();
        let digits = (0..self.ks.num_digits(self.num_q))
            .map(|d| {
                let a = uniform_from_seed(self, sampler.seed(), &all);
                let mut b = self.poly_from_signed(&sampler.gaussian(self.n), &all);
                let mut a_s = self.mul(&a, &sk.ntt, &all);
                self.poly_neg_assign(&mut a_s, &all);
                self.poly_add_assign(&mut b, &a_s, &all);
                let start = d * self.ks.alpha;
                let end = (start + self.ks.alpha).min(self.num_q);
                b.par_limbs_mut()
                    .enumerate()
                    .filter(|(i, _)| (start..end).contains(i))
                    .for_each(|(i, limb)| {
                        let q = self.moduli[i];
                        let mut t = from.limb(i).to_vec();
                        super::modarith::mul_shoup_assign(
                            &mut t,
                            super::modarith::Shoup::new(self.ks.p_mod_q[i], q),
                            q,
                        );
                        super::modarith::add_assign(limb, &t, q);
                    });
                (b, a)
            })
            .collect();
        SwitchKey { digits }
    }

    /// Relinearization key (s² -> s).
    pub fn gen_relin_key(&self, sk: &SecretKey, sampler: &mut Sampler) -> Result<RelinKey> {
        self.check_id(sk.ctx_id)?;
        let all: Vec<usize> = (0..self.moduli.len()).collect();
        let s2 = self.mul(&sk.ntt, &sk.ntt, &all);
        Ok(RelinKey {
            key: self.gen_switch_key(&s2, sk, sampler),
            ctx_id: self.id,
        })
    }

    /// Galois element for a left rotation by `step` slots (negative: right): 5^step mod 2N.
    pub fn galois_element(&self, step: i64) -> usize {
        let slots = self.slots() as i64;
        let k = step.rem_euclid(slots) as u64;
        super::modarith::pow_mod(5, k, 2 * self.n as u64) as usize
    }

    /// Galois element of complex conjugation (X -> X^{-1}).
    pub fn conjugation_element(&self) -> usize {
        2 * self.n - 1
    }

    /// Galois keys for the given rotation steps (left rotation by `step` slots; negative steps
    /// rotate right) and, if `conjugate`, for complex conjugation.
    pub fn gen_galois_keys(
        &self,
        sk: &SecretKey,
        steps: &[i64],
        conjugate: bool,
        sampler: &mut Sampler,
    ) -> Result<GaloisKeys> {
        self.check_id(sk.ctx_id)?;
        let mut elements: Vec<usize> = steps.iter().map(|&s| self.galois_element(s)).collect();
        if conjugate {
            elements.push(self.conjugation_element());
        }
        elements.sort_unstable();
        elements.dedup();
        let mut keys = BTreeMap::new();
        for g in elements {
            if g == 1 {
                continue;
            }
            // The key switches σ_g(s) back to s.
            let from = self.permute(&sk.ntt, &self.galois_permutation(g));
            keys.insert(g, self.gen_switch_key(&from, sk, sampler));
        }
        Ok(GaloisKeys {
            keys,
            ctx_id: self.id,
        })
    }
}
