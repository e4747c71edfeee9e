//! Encoding: the canonical embedding of N/2 complex slots into `R = Z[X]/(X^N+1)` through the
//! O(N log N) "special FFT" (evaluation at ζ^{5^j}, so rotating slots by k is the Galois
//! automorphism X -> X^{5^k}), and decoding with exact centered CRT reconstruction.
//!
//! Decoding uses Garner's mixed-radix conversion with *balanced* digits: the digits of the
//! centered representative x ∈ (-Q/2, Q/2) are computed exactly in word arithmetic, and
//! x = Σ v_i·(q_0⋯q_{i-1}) is then summed in f64 from the most significant digit down. The
//! lower digits are less than half a unit of the leading term, so there is no cancellation and
//! the result is correct to f64 precision whatever the size of Q — no multiprecision needed.

use num_complex::Complex64;
use rayon::prelude::*;

use super::context::Context;
use super::error::{CkksError, Result};
use super::modarith::{from_signed, mul_mod, pow_mod, Shoup};
use super::ring::RnsPoly;

/// An encoded message: a polynomial in NTT form over the data primes up to `level`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) ctx_id: u64,
}

impl Plaintext {
    /// Level (index of the last data prime).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Exact scale of the encoded values.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// Roots of unity and slot permutation of the special FFT.
pub(crate) struct EncoderTables {
    /// 5^j mod 2N for j < N/2.
    rot_group: Vec<usize>,
    /// exp(2πi k / 2N) for k ≤ 2N.
    ksi: Vec<Complex64>,
    /// Constants of the exact CRT reconstruction.
    garner: GarnerTables,
}

impl EncoderTables {
    pub fn new(n: usize, q: &[u64]) -> Self {
        let m = 2 * n;
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1usize;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m;
        }
        let ksi = (0..=m)
            .map(|k| Complex64::from_polar(1.0, std::f64::consts::TAU * k as f64 / m as f64))
            .collect();
        EncoderTables {
            rot_group,
            ksi,
            garner: GarnerTables::new(q),
        }
    }

    /// Slots from "coefficient pairs": evaluation at the roots ζ^{5^j}.
    fn fft_special(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let m = self.ksi.len() - 1;
        bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len / 2;
            let lenq = len * 4;
            for chunk in vals.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(lenh);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let idx = (self.rot_group[j] % lenq) * (m / lenq);
                    let t = *v * self.ksi[idx];
                    *v = *u - t;
                    *u += t;
                }
            }
            len *= 2;
        }
    }

    /// Inverse of [`Self::fft_special`], including the 1/size normalization.
    fn fft_special_inv(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let m = self.ksi.len() - 1;
        let mut len = size;
        while len >= 2 {
            let lenh = len / 2;
            let lenq = len * 4;
            for chunk in vals.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(lenh);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let idx = (lenq - self.rot_group[j] % lenq) * (m / lenq);
                    let s = *u + *v;
                    let d = (*u - *v) * self.ksi[idx];
                    *u = s;
                    *v = d;
                }
            }
            len /= 2;
        }
        bit_reverse(vals);
        let inv = 1.0 / size as f64;
        for v in vals.iter_mut() {
            *v *= inv;
        }
    }
}

fn bit_reverse<T>(vals: &mut [T]) {
    let n = vals.len();
    let bits = n.trailing_zeros();
    if bits == 0 {
        return;
    }
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            vals.swap(i, j);
        }
    }
}

/// Below this magnitude an integral f64 converts to i64 exactly.
const F64_SMALL: f64 = 9.2e18;

/// Reduces an integral f64 of any magnitude modulo `p` exactly (f64 integers above 2^53 are
/// m·2^e with |m| < 2^53).
pub(crate) fn f64_mod(v: f64, p: u64) -> u64 {
    if v.abs() < F64_SMALL {
        return from_signed(v as i64, p);
    }
    let bits = v.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
    let r = mul_mod(mant % p, pow_mod(2, exp as u64, p), p);
    if v < 0.0 && r != 0 {
        p - r
    } else {
        r
    }
}

/// [`f64_mod`] with the powers of two looked up in `pow2` (`pow2[e] = 2^e mod p`).
fn f64_mod_table(v: f64, p: u64, pow2: &[u64]) -> u64 {
    if v.abs() < F64_SMALL {
        return from_signed(v as i64, p);
    }
    let bits = v.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as usize - 1075;
    let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
    let r = mul_mod(mant % p, pow2[exp], p);
    if v < 0.0 && r != 0 {
        p - r
    } else {
        r
    }
}

impl Context {
    /// [`Context::poly_from_coeffs`] for coefficients beyond 2^63 (plaintexts at scales like
    /// bootstrapping's 2^80): the powers of two are tabulated once per prime instead of one
    /// modular exponentiation per coefficient and prime.
    fn poly_from_large_coeffs(&self, coeffs: &[f64], basis: &[usize]) -> RnsPoly {
        let mut poly = RnsPoly::scratch(self.n, basis.len());
        poly.par_limbs_mut()
            .zip(basis.par_iter())
            .for_each(|(limb, &j)| {
                let p = self.moduli[j];
                let mut pow2 = Vec::with_capacity(1024);
                let mut acc = 1 % p;
                for _ in 0..1024 {
                    pow2.push(acc);
                    acc = mul_mod(acc, 2, p);
                }
                for (k, x) in limb.iter_mut().enumerate() {
                    *x = coeffs.get(k).map_or(0, |&c| f64_mod_table(c, p, &pow2));
                }
                self.plans[j].fwd(limb);
            });
        poly
    }

    /// Encodes up to N/2 real values (the rest of the slots are zero) at `level` and `scale`.
    pub fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let c: Vec<Complex64> = values.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        self.encode_complex(&c, level, scale)
    }

    /// Encodes up to N/2 complex values at `level` and `scale`.
    pub fn encode_complex(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        let coeffs = self.slot_coeffs(values, level, scale)?;
        Ok(self.plaintext_from_coeffs(&coeffs, level, scale))
    }

    /// [`Context::encode_complex`] over the data primes up to `level` *and* the special
    /// primes (the basis of [`Context::basis_qp`]), for products taken before a ModDown
    /// (double-hoisted linear transforms, `bootstrap::linear`).
    pub(crate) fn encode_complex_ext(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<RnsPoly> {
        let coeffs = self.slot_coeffs(values, level, scale)?;
        Ok(self.poly_from_f64_coeffs(&coeffs, &self.basis_qp(level)))
    }

    /// The integral coefficients that encode `values` at `scale`, refused beyond Q_level / 2.
    fn slot_coeffs(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Vec<f64>> {
        self.check_level(level)?;
        let slots = self.slots();
        if values.len() > slots {
            return Err(CkksError::TooManyValues {
                got: values.len(),
                slots,
            });
        }
        check_scale(scale)?;
        if values
            .iter()
            .any(|v| !v.re.is_finite() || !v.im.is_finite())
        {
            return Err(CkksError::Encoding("non-finite value".into()));
        }
        let mut u = vec![Complex64::new(0.0, 0.0); slots];
        u[..values.len()].copy_from_slice(values);
        self.encoder.fft_special_inv(&mut u);
        let coeffs: Vec<f64> = u
            .iter()
            .map(|c| (c.re * scale).round())
            .chain(u.iter().map(|c| (c.im * scale).round()))
            .collect();
        let max = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        if !max.is_finite() || max.log2() >= self.log_q(level) - 1.0 {
            return Err(CkksError::Encoding(format!(
                "scaled values reach 2^{:.1}, beyond Q/2 at level {level} (2^{:.1})",
                max.log2(),
                self.log_q(level) - 1.0
            )));
        }
        Ok(coeffs)
    }

    /// Builds an NTT-form plaintext from integral f64 coefficients (|c| < Q_level / 2).
    pub(crate) fn plaintext_from_coeffs(
        &self,
        coeffs: &[f64],
        level: usize,
        scale: f64,
    ) -> Plaintext {
        Plaintext {
            poly: self.poly_from_f64_coeffs(coeffs, &self.basis_q(level)),
            level,
            scale,
            ctx_id: self.id,
        }
    }

    /// Integral f64 coefficients reduced into every prime of `basis` (NTT form).
    fn poly_from_f64_coeffs(&self, coeffs: &[f64], basis: &[usize]) -> RnsPoly {
        if coeffs.iter().any(|c| c.abs() >= F64_SMALL) {
            self.poly_from_large_coeffs(coeffs, basis)
        } else {
            self.poly_from_coeffs(coeffs, basis, f64_mod)
        }
    }

    /// Decodes all N/2 slots.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<Complex64>> {
        self.check_id(pt.ctx_id)?;
        let coeffs = self.centered_coeffs(&pt.poly, pt.level);
        let nh = self.slots();
        let inv_scale = 1.0 / pt.scale;
        let mut vals: Vec<Complex64> = (0..nh)
            .map(|i| Complex64::new(coeffs[i] * inv_scale, coeffs[i + nh] * inv_scale))
            .collect();
        self.encoder.fft_special(&mut vals);
        Ok(vals)
    }

    /// Decodes the real parts of all N/2 slots.
    pub fn decode_real(&self, pt: &Plaintext) -> Result<Vec<f64>> {
        Ok(self.decode(pt)?.into_iter().map(|c| c.re).collect())
    }

    /// Exact centered coefficients (as f64) of an NTT-form polynomial at `level`.
    pub(crate) fn centered_coeffs(&self, poly: &RnsPoly, level: usize) -> Vec<f64> {
        let basis = self.basis_q(level);
        let mut coef = poly.prefix(basis.len());
        self.intt(&mut coef, &basis);
        let q = &self.moduli[..=level];
        let g = &self.encoder.garner;
        let mut out = vec![0.0f64; self.n];
        out.par_chunks_mut(1024).enumerate().for_each(|(c, chunk)| {
            let mut v = vec![0i64; level + 1];
            for (k, o) in chunk.iter_mut().enumerate() {
                let idx = c * 1024 + k;
                for i in 0..=level {
                    let qi = q[i];
                    let mut t = coef.limb(i)[idx];
                    for (&vj, inv) in v[..i].iter().zip(&g.inv[i]) {
                        let d = if vj >= 0 {
                            t + g.offset[i] - vj as u64
                        } else {
                            t + vj.unsigned_abs()
                        };
                        t = inv.mul(d, qi);
                    }
                    v[i] = if t > qi / 2 {
                        t as i64 - qi as i64
                    } else {
                        t as i64
                    };
                }
                // Centered digits of a value far below Q are zero above the limbs it needs;
                // skipping them keeps `0 · radix` from reading NaN where the radix has
                // overflowed f64 (chains beyond 2^1023: N = 2^16 at depth 24 and more).
                *o = (0..=level)
                    .rev()
                    .filter(|&i| v[i] != 0)
                    .fold(0.0, |acc, i| acc + v[i] as f64 * g.radix[i]);
            }
        });
        out
    }
}

/// Garner constants for exact centered CRT reconstruction.
pub(crate) struct GarnerTables {
    /// `inv[i][j] = q_j^{-1} mod q_i` for j < i.
    pub inv: Vec<Vec<Shoup>>,
    /// A multiple of q_i that is at least 2^50, to subtract digits without underflow.
    pub offset: Vec<u64>,
    /// `radix[i] = q_0 ⋯ q_{i-1}` as f64.
    pub radix: Vec<f64>,
}

impl GarnerTables {
    pub fn new(q: &[u64]) -> Self {
        let inv = (0..q.len())
            .map(|i| {
                (0..i)
                    .map(|j| Shoup::new(super::modarith::inv_mod(q[j] % q[i], q[i]), q[i]))
                    .collect()
            })
            .collect();
        let offset = q
            .iter()
            .map(|&qi| qi << (51 - (64 - qi.leading_zeros())).min(63))
            .collect();
        let mut radix = Vec::with_capacity(q.len());
        let mut acc = 1.0f64;
        for &qi in q {
            radix.push(acc);
            acc *= qi as f64;
        }
        GarnerTables { inv, offset, radix }
    }
}

/// A scale must be a positive finite number of at most 2^120 (beyond that, no chain holds it).
pub(crate) fn check_scale(scale: f64) -> Result<()> {
    if scale.is_finite() && scale >= 1.0 && scale <= 2f64.powi(120) {
        Ok(())
    } else {
        Err(CkksError::Encoding(format!("invalid scale {scale}")))
    }
}
