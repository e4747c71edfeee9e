//! Encryption (public-key and secret-key, the latter optionally seed-compressed) and
//! decryption, including a noise-flooding decryption for results that will be shared.

use super::bitpack::PackedPoly;
use super::context::Context;
use super::encoding::Plaintext;
use super::error::{CkksError, Result};
use super::keys::{PublicKey, SecretKey};
use super::ring::RnsPoly;
use super::sampling::{uniform_from_seed, Sampler};

/// A ciphertext: `degree + 1` polynomials in NTT form over the data primes up to `level`,
/// decrypting to `c0 + c1·s (+ c2·s²)` ≈ message · scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) c: Vec<RnsPoly>,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) ctx_id: u64,
}

impl Ciphertext {
    /// Level (index of the last data prime).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Exact scale of the encrypted values.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// 1 for a normal ciphertext, 2 after a multiplication before relinearization.
    pub fn degree(&self) -> usize {
        self.c.len() - 1
    }
}

/// A secret-key ciphertext whose uniform half `c1` is replaced by the 32-byte seed it was
/// generated from: half the size, for uploads. Expand with [`Context::expand_seeded`].
#[derive(Clone, Debug, PartialEq)]
pub struct SeededCiphertext {
    /// Kept bit-packed (as uploaded) until expanded: see [`PackedPoly`].
    pub(crate) c0: PackedPoly,
    pub(crate) seed: [u8; 32],
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) ctx_id: u64,
}

impl SeededCiphertext {
    /// Level of the ciphertext.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Scale of the encrypted plaintext.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl Context {
    /// Public-key encryption at the plaintext's level: `(v·b + e0 + m, v·a + e1)`.
    pub fn encrypt_pk(
        &self,
        pt: &Plaintext,
        pk: &PublicKey,
        sampler: &mut Sampler,
    ) -> Result<Ciphertext> {
        self.check_id(pt.ctx_id)?;
        self.check_id(pk.ctx_id)?;
        let basis = self.basis_q(pt.level);
        let v = self.poly_from_signed(&sampler.ternary(self.n), &basis);
        let mut c0 = self.poly_from_signed(&sampler.gaussian(self.n), &basis);
        let mut c1 = self.poly_from_signed(&sampler.gaussian(self.n), &basis);
        self.mul_acc(&mut c0, &v, &pk.b, &basis);
        self.mul_acc(&mut c1, &v, &pk.a, &basis);
        self.poly_add_assign(&mut c0, &pt.poly, &basis);
        Ok(Ciphertext {
            c: vec![c0, c1],
            level: pt.level,
            scale: pt.scale,
            ctx_id: self.id,
        })
    }

    /// The noiseless ciphertext `(p, 0)` of a plaintext: it decrypts to `p` under any key and
    /// hides nothing, for public values that must take part in a computation as ciphertexts.
    pub fn trivial(&self, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_id(pt.ctx_id)?;
        let limbs = pt.poly.num_limbs();
        Ok(Ciphertext {
            c: vec![pt.poly.clone(), RnsPoly::zero(self.n, limbs)],
            level: pt.level,
            scale: pt.scale,
            ctx_id: self.id,
        })
    }

    /// Secret-key encryption, kept in seed-compressed form.
    pub fn encrypt_sk_seeded(
        &self,
        pt: &Plaintext,
        sk: &SecretKey,
        sampler: &mut Sampler,
    ) -> Result<SeededCiphertext> {
        self.check_id(pt.ctx_id)?;
        self.check_id(sk.ctx_id)?;
        let basis = self.basis_q(pt.level);
        let seed = sampler.seed();
        let a = uniform_from_seed(self, seed, &basis);
        let mut c0 = self.poly_from_signed(&sampler.gaussian(self.n), &basis);
        let mut a_s = self.mul(&a, &sk.ntt, &basis);
        self.poly_neg_assign(&mut a_s, &basis);
        self.poly_add_assign(&mut c0, &a_s, &basis);
        self.poly_add_assign(&mut c0, &pt.poly, &basis);
        Ok(SeededCiphertext {
            c0: PackedPoly::pack(self, &c0, &basis),
            seed,
            level: pt.level,
            scale: pt.scale,
            ctx_id: self.id,
        })
    }

    /// Secret-key encryption: `(-a·s + e + m, a)`.
    pub fn encrypt_sk(
        &self,
        pt: &Plaintext,
        sk: &SecretKey,
        sampler: &mut Sampler,
    ) -> Result<Ciphertext> {
        let seeded = self.encrypt_sk_seeded(pt, sk, sampler)?;
        self.expand_seeded(&seeded)
    }

    /// Regenerates the uniform half of a seed-compressed ciphertext.
    pub fn expand_seeded(&self, ct: &SeededCiphertext) -> Result<Ciphertext> {
        self.check_id(ct.ctx_id)?;
        self.check_level(ct.level)?;
        let basis = self.basis_q(ct.level);
        let a = uniform_from_seed(self, ct.seed, &basis);
        Ok(Ciphertext {
            c: vec![ct.c0.unpack(self, &basis), a],
            level: ct.level,
            scale: ct.scale,
            ctx_id: self.id,
        })
    }

    /// Decrypts to a plaintext (decode it with [`Context::decode`]). Accepts degree-2
    /// ciphertexts too.
    pub fn decrypt(&self, ct: &Ciphertext, sk: &SecretKey) -> Result<Plaintext> {
        self.check_id(ct.ctx_id)?;
        self.check_id(sk.ctx_id)?;
        let basis = self.basis_q(ct.level);
        let s = sk.ntt.prefix(basis.len());
        let mut m = ct.c[0].clone();
        let mut s_pow = s.clone();
        for (i, c) in ct.c.iter().enumerate().skip(1) {
            if i > 1 {
                s_pow = self.mul(&s_pow, &s, &basis);
            }
            self.mul_acc(&mut m, c, &s_pow, &basis);
        }
        Ok(Plaintext {
            poly: m,
            level: ct.level,
            scale: ct.scale,
            ctx_id: self.id,
        })
    }

    /// Decrypts and adds fresh Gaussian noise of standard deviation `flood_sigma` (in units of
    /// the plaintext polynomial's coefficients, i.e. before dividing by the scale). Use this for
    /// results that leave the key owner: it hides the ciphertext noise, which otherwise leaks
    /// information about the secret key (Li–Micciancio). A σ of 2^20..2^30 against Δ = 2^40
    /// trades 20..30 bits of precision for that protection.
    pub fn decrypt_flooded(
        &self,
        ct: &Ciphertext,
        sk: &SecretKey,
        flood_sigma: f64,
        sampler: &mut Sampler,
    ) -> Result<Plaintext> {
        if !flood_sigma.is_finite() || flood_sigma < 0.0 || flood_sigma > 2f64.powi(60) {
            return Err(CkksError::Encoding(format!(
                "flooding sigma {flood_sigma} outside [0, 2^60]"
            )));
        }
        let mut pt = self.decrypt(ct, sk)?;
        let basis = self.basis_q(pt.level);
        let noise = self.poly_from_signed(&sampler.wide_gaussian(self.n, flood_sigma), &basis);
        self.poly_add_assign(&mut pt.poly, &noise, &basis);
        Ok(pt)
    }
}
