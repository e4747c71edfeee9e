//! Homomorphic operations. Every operation checks that its operands come from this context
//! and agree on level, scale and degree, and returns a [`CkksError`] otherwise.
//!
//! Scales: each ciphertext carries its exact scale as f64. Addition and subtraction require
//! scales equal within a relative [`SCALE_TOLERANCE`] (1e-9): values that went through
//! different rescaling paths (Δ vs Δ²/q) differ by ~2^-20 relatively and are refused, because
//! silently adding them would cost ~20 bits of precision. Multiplication multiplies scales.

use rayon::prelude::*;

use super::context::Context;
use super::encoding::{check_scale, Plaintext};
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::keys::{GaloisKeys, RelinKey};
use super::modarith::{self, from_signed, inv_mod, mul_mod, Shoup};
use super::ring::RnsPoly;

/// Largest relative difference between two scales that still counts as equal (the schedule's
/// bookkeeping rule, so that the engine refuses exactly what the compiler's checker refuses).
pub use hel_schedule::rules::{scales_match, SCALE_TOLERANCE};

impl Context {
    fn check_ct(&self, ct: &Ciphertext) -> Result<()> {
        self.check_id(ct.ctx_id)?;
        self.check_level(ct.level)
    }

    fn check_same(&self, a: &Ciphertext, b: &Ciphertext) -> Result<()> {
        self.check_ct(a)?;
        self.check_ct(b)?;
        if a.level != b.level {
            return Err(CkksError::LevelMismatch {
                lhs: a.level,
                rhs: b.level,
            });
        }
        if !scales_match(a.scale, b.scale) {
            return Err(CkksError::ScaleMismatch {
                lhs: a.scale,
                rhs: b.scale,
            });
        }
        Ok(())
    }

    fn check_plain(&self, ct: &Ciphertext, pt: &Plaintext, same_scale: bool) -> Result<()> {
        self.check_ct(ct)?;
        self.check_id(pt.ctx_id)?;
        if pt.level < ct.level {
            return Err(CkksError::LevelMismatch {
                lhs: ct.level,
                rhs: pt.level,
            });
        }
        if same_scale && !scales_match(ct.scale, pt.scale) {
            return Err(CkksError::ScaleMismatch {
                lhs: ct.scale,
                rhs: pt.scale,
            });
        }
        Ok(())
    }

    fn check_degree(ct: &Ciphertext, expected: usize) -> Result<()> {
        if ct.degree() == expected {
            Ok(())
        } else {
            Err(CkksError::DegreeMismatch {
                expected,
                found: ct.degree(),
            })
        }
    }

    /// `a += b` (any degrees; the result has the larger degree).
    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.check_same(a, b)?;
        let basis = self.basis_q(a.level);
        for (i, y) in b.c.iter().enumerate() {
            match a.c.get_mut(i) {
                Some(x) => self.poly_add_assign(x, y, &basis),
                None => a.c.push(y.clone()),
            }
        }
        Ok(())
    }

    /// `a + b`.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.check_same(a, b)?;
        let basis = self.basis_q(a.level);
        for (i, y) in b.c.iter().enumerate() {
            match a.c.get_mut(i) {
                Some(x) => self.poly_sub_assign(x, y, &basis),
                None => {
                    let mut t = y.clone();
                    self.poly_neg_assign(&mut t, &basis);
                    a.c.push(t);
                }
            }
        }
        Ok(())
    }

    /// `a - b`.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.sub_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a = -a`.
    pub fn negate_assign(&self, a: &mut Ciphertext) -> Result<()> {
        self.check_ct(a)?;
        let basis = self.basis_q(a.level);
        for x in &mut a.c {
            self.poly_neg_assign(x, &basis);
        }
        Ok(())
    }

    /// `-a`.
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.negate_assign(&mut out)?;
        Ok(out)
    }

    /// `ct += pt` (the plaintext may be at a higher level; its extra limbs are ignored).
    pub fn add_plain_assign(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<()> {
        self.check_plain(ct, pt, true)?;
        let basis = self.basis_q(ct.level);
        self.poly_add_assign(&mut ct.c[0], &pt.poly, &basis);
        Ok(())
    }

    /// `ct + pt` (the plaintext may be at a higher level; its extra limbs are ignored).
    pub fn add_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.add_plain_assign(&mut out, pt)?;
        Ok(out)
    }

    /// `ct - pt`.
    pub fn sub_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_plain(ct, pt, true)?;
        let mut out = ct.clone();
        self.poly_sub_assign(&mut out.c[0], &pt.poly, &self.basis_q(ct.level));
        Ok(out)
    }

    /// `ct ⊙ pt` slot-wise; the result's scale is the product of the scales.
    pub fn multiply_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_plain(ct, pt, false)?;
        let basis = self.basis_q(ct.level);
        let c = ct.c.iter().map(|x| self.mul(x, &pt.poly, &basis)).collect();
        Ok(Ciphertext {
            c,
            level: ct.level,
            scale: ct.scale * pt.scale,
            ctx_id: self.id,
        })
    }

    /// Residues of `round(value)` for every data prime up to `level`; refuses values at or
    /// beyond Q_level / 2.
    fn constant_residues(&self, value: f64, level: usize) -> Result<Vec<u64>> {
        let v = value.round();
        if !v.is_finite() || (v != 0.0 && v.abs().log2() >= self.log_q(level) - 1.0) {
            return Err(CkksError::Encoding(format!(
                "constant {value} does not fit the modulus at level {level}"
            )));
        }
        // The NTT of a constant polynomial is the constant itself at every evaluation point:
        // its residues are all there is to compute.
        Ok(self.moduli[..=level]
            .iter()
            .map(|&p| crate::ckks::encoding::f64_mod(v, p))
            .collect())
    }

    /// Adds the real constant `value` to every slot, in place.
    pub fn add_scalar_assign(&self, ct: &mut Ciphertext, value: f64) -> Result<()> {
        self.check_ct(ct)?;
        let consts = self.constant_residues(value * ct.scale, ct.level)?;
        let basis = self.basis_q(ct.level);
        self.add_const_assign(&mut ct.c[0], &consts, &basis);
        Ok(())
    }

    /// Adds the real constant `value` to every slot.
    pub fn add_scalar(&self, ct: &Ciphertext, value: f64) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.add_scalar_assign(&mut out, value)?;
        Ok(out)
    }

    /// `Σ_i round(values[i]·scales[i])·cts[i]`, dropped to `level`, in one pass over the
    /// limbs (no copy of any input: each is read at its first `level + 1` limbs). Every term's
    /// scale `cts[i].scale·scales[i]` must be the same, the result's. A polynomial's terms in
    /// a basis of powers (bootstrapping's EvalMod) cost one fused kernel instead of a copy, a
    /// multiplication and an addition each.
    pub fn linear_combination(
        &self,
        cts: &[&Ciphertext],
        values: &[f64],
        scales: &[f64],
        level: usize,
    ) -> Result<Ciphertext> {
        let (Some(first), true) = (
            cts.first(),
            cts.len() == values.len() && cts.len() == scales.len(),
        ) else {
            return Err(CkksError::InvalidParams(
                "a linear combination needs as many values and scales as ciphertexts (at least one)"
                    .into(),
            ));
        };
        let scale = first.scale * scales[0];
        for (ct, &s) in cts.iter().zip(scales) {
            self.check_ct(ct)?;
            check_scale(s)?;
            if ct.level < level {
                return Err(CkksError::LevelExhausted {
                    level: ct.level,
                    target: level,
                });
            }
            Self::check_degree(ct, first.degree())?;
            if !scales_match(ct.scale * s, scale) {
                return Err(CkksError::ScaleMismatch {
                    lhs: ct.scale * s,
                    rhs: scale,
                });
            }
        }
        let weights = values
            .iter()
            .zip(scales)
            .map(|(&v, &s)| self.constant_residues(v * s, level))
            .collect::<Result<Vec<_>>>()?;
        let c = (0..=first.degree())
            .map(|k| {
                let mut out = RnsPoly::scratch(self.n, level + 1);
                out.par_limbs_mut().enumerate().for_each(|(j, limb)| {
                    let qj = self.moduli[j];
                    let srcs: Vec<&[u64]> = cts.iter().map(|ct| ct.c[k].limb(j)).collect();
                    let ws: Vec<Shoup> = weights.iter().map(|w| Shoup::new(w[j], qj)).collect();
                    modarith::lincomb(limb, &srcs, &ws, qj);
                });
                out
            })
            .collect();
        Ok(Ciphertext {
            c,
            level,
            scale,
            ctx_id: self.id,
        })
    }

    /// [`Context::multiply_scalar`] in place.
    pub fn multiply_scalar_assign(
        &self,
        ct: &mut Ciphertext,
        value: f64,
        scale: f64,
    ) -> Result<()> {
        self.check_ct(ct)?;
        check_scale(scale)?;
        let consts = self.constant_residues(value * scale, ct.level)?;
        let basis = self.basis_q(ct.level);
        for x in &mut ct.c {
            self.mul_const_assign(x, &consts, &basis);
        }
        ct.scale *= scale;
        Ok(())
    }

    /// Multiplies every slot by the real constant `value`, encoded at `scale`: the result's
    /// scale is `ct.scale * scale` (rescale afterwards).
    pub fn multiply_scalar(&self, ct: &Ciphertext, value: f64, scale: f64) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.multiply_scalar_assign(&mut out, value, scale)?;
        Ok(out)
    }

    /// [`Context::multiply_int`] in place.
    pub fn multiply_int_assign(&self, ct: &mut Ciphertext, k: i64) -> Result<()> {
        self.check_ct(ct)?;
        let basis = self.basis_q(ct.level);
        let consts: Vec<u64> = basis
            .iter()
            .map(|&j| from_signed(k, self.moduli[j]))
            .collect();
        for x in &mut ct.c {
            self.mul_const_assign(x, &consts, &basis);
        }
        Ok(())
    }

    /// Multiplies every slot by a small integer without consuming a level or changing the scale.
    pub fn multiply_int(&self, ct: &Ciphertext, k: i64) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.multiply_int_assign(&mut out, k)?;
        Ok(out)
    }

    /// Tensor product of two degree-1 ciphertexts at the same level: a degree-2 ciphertext
    /// with the product of the scales. Relinearize (possibly after summing several products).
    pub fn multiply(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        self.check_ct(b)?;
        Self::check_degree(a, 1)?;
        Self::check_degree(b, 1)?;
        if a.level != b.level {
            return Err(CkksError::LevelMismatch {
                lhs: a.level,
                rhs: b.level,
            });
        }
        let basis = self.basis_q(a.level);
        let (c0, (c1, c2)) = rayon::join(
            || self.mul(&a.c[0], &b.c[0], &basis),
            || {
                rayon::join(
                    || {
                        let mut c1 = self.mul(&a.c[0], &b.c[1], &basis);
                        self.mul_acc(&mut c1, &a.c[1], &b.c[0], &basis);
                        c1
                    },
                    || self.mul(&a.c[1], &b.c[1], &basis),
                )
            },
        );
        Ok(Ciphertext {
            c: vec![c0, c1, c2],
            level: a.level,
            scale: a.scale * b.scale,
            ctx_id: self.id,
        })
    }

    /// `a²` (three products instead of four).
    pub fn square(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        Self::check_degree(a, 1)?;
        let basis = self.basis_q(a.level);
        let c0 = self.mul(&a.c[0], &a.c[0], &basis);
        let mut c1 = self.mul(&a.c[0], &a.c[1], &basis);
        let c1b = c1.clone();
        self.poly_add_assign(&mut c1, &c1b, &basis);
        let c2 = self.mul(&a.c[1], &a.c[1], &basis);
        Ok(Ciphertext {
            c: vec![c0, c1, c2],
            level: a.level,
            scale: a.scale * a.scale,
            ctx_id: self.id,
        })
    }

    /// Degree 2 -> degree 1 by key switching `c2` from s² to s.
    pub fn relinearize(&self, ct: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        self.check_id(rlk.ctx_id)?;
        Self::check_degree(ct, 2)?;
        let basis = self.basis_q(ct.level);
        let (mut c0, mut c1) = self.key_switch(&ct.c[2], &rlk.key, ct.level);
        self.poly_add_assign(&mut c0, &ct.c[0], &basis);
        self.poly_add_assign(&mut c1, &ct.c[1], &basis);
        Ok(Ciphertext {
            c: vec![c0, c1],
            level: ct.level,
            scale: ct.scale,
            ctx_id: self.id,
        })
    }

    /// `relinearize(multiply(a, b))`.
    pub fn multiply_relin(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinKey,
    ) -> Result<Ciphertext> {
        self.relinearize(&self.multiply(a, b)?, rlk)
    }

    /// Divides by the last prime q_l with exact rounding and drops it: level - 1, scale / q_l.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        let l = Self::check_rescalable(ct)?;
        let c =
            ct.c.iter()
                .map(|x| {
                    let mut out = x.prefix(l);
                    self.rescale_limbs(&mut out, x.limb(l), l);
                    out
                })
                .collect();
        Ok(Ciphertext {
            c,
            level: l - 1,
            scale: ct.scale / self.moduli[l] as f64,
            ctx_id: self.id,
        })
    }

    /// [`Context::rescale`] in place: the limbs below l are divided where they are.
    pub fn rescale_assign(&self, ct: &mut Ciphertext) -> Result<()> {
        self.check_ct(ct)?;
        let l = Self::check_rescalable(ct)?;
        for x in &mut ct.c {
            let last = RnsPoly::from_flat(self.n, x.limb(l));
            x.truncate(l);
            self.rescale_limbs(x, last.limb(0), l);
        }
        ct.level = l - 1;
        ct.scale /= self.moduli[l] as f64;
        Ok(())
    }

    /// Divides by the last `k` primes at once, with rounding, and drops them: level - k, scale
    /// divided by their product. The same as `k` rescales up to the rounding (one rounding of
    /// the whole quotient instead of k), at about 1/k of their NTTs: the top limbs' centered
    /// residue modulo their product is converted to the other primes in coefficient form
    /// (fast base conversion with the multiple of the product found in f64, as ModDown does for
    /// P) and transformed once per remaining prime, where k rescales transform once per prime
    /// per rescale. Bootstrapping's EvalMod divides every product by two primes.
    pub fn rescale_many_assign(&self, ct: &mut Ciphertext, k: usize) -> Result<()> {
        self.check_ct(ct)?;
        if k <= 1 {
            return if k == 1 {
                self.rescale_assign(ct)
            } else {
                Ok(())
            };
        }
        if k > ct.level {
            return Err(CkksError::LevelExhausted {
                level: ct.level,
                target: 0,
            });
        }
        let keep = ct.level + 1 - k;
        let top: Vec<usize> = (keep..=ct.level).collect();
        let hat = |j: usize, t: u64| {
            top.iter()
                .filter(|&&o| o != j)
                .fold(1 % t, |acc, &o| mul_mod(acc, self.moduli[o] % t, t))
        };
        let hat_inv: Vec<Shoup> = top
            .iter()
            .map(|&j| {
                Shoup::new(
                    inv_mod(hat(j, self.moduli[j]), self.moduli[j]),
                    self.moduli[j],
                )
            })
            .collect();
        let per_limb: Vec<(Vec<Shoup>, Shoup)> = (0..keep)
            .map(|i| {
                let qi = self.moduli[i];
                let mut ws: Vec<Shoup> = top.iter().map(|&j| Shoup::new(hat(j, qi), qi)).collect();
                let prod = top
                    .iter()
                    .fold(1 % qi, |acc, &o| mul_mod(acc, self.moduli[o] % qi, qi));
                ws.push(Shoup::new((qi - prod) % qi, qi));
                (ws, Shoup::new(qi - inv_mod(prod, qi), qi))
            })
            .collect();
        for x in &mut ct.c {
            let mut ys = RnsPoly::from_flat(self.n, &x.flat()[keep * self.n..]);
            self.intt(&mut ys, &top);
            ys.par_limbs_mut()
                .zip(top.par_iter().zip(&hat_inv))
                .for_each(|(y, (&j, w))| modarith::mul_shoup_assign(y, *w, self.moduli[j]));
            let mut ratio = vec![0.0f64; self.n];
            for (y, &j) in ys.limbs().zip(&top) {
                modarith::accumulate_ratio(&mut ratio, y, 1.0 / self.moduli[j] as f64);
            }
            let mut v = vec![0u64; self.n];
            modarith::round_to_u64(&mut v, &ratio);
            let mut srcs: Vec<&[u64]> = ys.limbs().collect();
            srcs.push(&v);
            let mut out = RnsPoly::scratch(self.n, keep);
            out.par_limbs_mut().enumerate().for_each(|(i, c)| {
                let qi = self.moduli[i];
                let (ws, neg_inv) = &per_limb[i];
                // [x]_Q on q_i, then (x - [x]_Q)·Q^{-1} = ([x]_Q - x)·(-Q^{-1}).
                modarith::lincomb(c, &srcs, ws, qi);
                self.plans[i].fwd(c);
                modarith::sub_assign(c, x.limb(i), qi);
                modarith::mul_shoup_assign(c, *neg_inv, qi);
            });
            *x = out;
        }
        ct.level = keep - 1;
        // In the order k rescales divide, so the scale is the same to the last bit.
        for &j in top.iter().rev() {
            ct.scale /= self.moduli[j] as f64;
        }
        Ok(())
    }

    fn check_rescalable(ct: &Ciphertext) -> Result<usize> {
        match ct.level {
            0 => Err(CkksError::LevelExhausted {
                level: 0,
                target: 0,
            }),
            l => Ok(l),
        }
    }

    /// `round(x / q_l)` on `out`, the limbs below l of x, given x's limb l (NTT form): with
    /// r = [x + h]_{q_l} and v = r - h (h = (q_l-1)/2), `(x - v) / q_l = floor((x + h) / q_l)`
    /// exactly.
    fn rescale_limbs(&self, out: &mut RnsPoly, x_l: &[u64], l: usize) {
        let ql = self.moduli[l];
        let h = ql / 2;
        let mut last = RnsPoly::from_flat(self.n, x_l);
        self.plans[l].inv(last.limb_mut(0));
        self.plans[l].normalize(last.limb_mut(0));
        let last = last.limb(0);
        // r = [x_l + h]_{q_l}; per limb, v = (r mod q_i) - (h mod q_i).
        let r: Vec<u64> = last
            .iter()
            .map(|&c| {
                let r = c + h;
                r.min(r.wrapping_sub(ql))
            })
            .collect();
        out.par_limbs_mut().enumerate().for_each(|(i, limb)| {
            let qi = self.moduli[i];
            let mut v = RnsPoly::scratch(self.n, 1);
            let vl = v.limb_mut(0);
            modarith::lincomb(vl, &[&r], &[Shoup::new(1, qi)], qi);
            modarith::add_scalar_assign(vl, (qi - h % qi) % qi, qi);
            self.plans[i].fwd(vl);
            modarith::sub_assign(limb, vl, qi);
            modarith::mul_shoup_assign(limb, self.rescale_inv[l][i], qi);
        });
    }

    /// [`Context::drop_level`] in place.
    pub fn drop_level_assign(&self, ct: &mut Ciphertext, target: usize) -> Result<()> {
        self.check_ct(ct)?;
        if target > ct.level {
            return Err(CkksError::LevelExhausted {
                level: ct.level,
                target,
            });
        }
        for x in &mut ct.c {
            x.truncate(target + 1);
        }
        ct.level = target;
        Ok(())
    }

    /// Drops limbs down to `target` without dividing (the value and scale are unchanged).
    pub fn drop_level(&self, ct: &Ciphertext, target: usize) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        if target > ct.level {
            return Err(CkksError::LevelExhausted {
                level: ct.level,
                target,
            });
        }
        Ok(Ciphertext {
            c: ct.c.iter().map(|x| x.prefix(target + 1)).collect(),
            level: target,
            scale: ct.scale,
            ctx_id: ct.ctx_id,
        })
    }

    /// Rotates the slots left by `step` (negative: right).
    pub fn rotate(&self, ct: &Ciphertext, step: i64, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.apply_galois(ct, self.galois_element(step), gk)
    }

    /// Complex conjugation of every slot.
    pub fn conjugate(&self, ct: &Ciphertext, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.apply_galois(ct, self.conjugation_element(), gk)
    }

    /// Applies X -> X^g and switches the key σ_g(s) back to s.
    pub fn apply_galois(&self, ct: &Ciphertext, g: usize, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        self.check_id(gk.ctx_id)?;
        Self::check_degree(ct, 1)?;
        if g == 1 {
            return Ok(ct.clone());
        }
        let key = gk.get(g)?;
        let perm = self.galois_permutation(g);
        let basis = self.basis_q(ct.level);
        let mut c0 = self.permute(&ct.c[0], &perm);
        let c1 = self.permute(&ct.c[1], &perm);
        let (u0, u1) = self.key_switch(&c1, key, ct.level);
        self.poly_add_assign(&mut c0, &u0, &basis);
        Ok(Ciphertext {
            c: vec![c0, u1],
            level: ct.level,
            scale: ct.scale,
            ctx_id: self.id,
        })
    }

    /// Several rotations of one ciphertext sharing a single decomposition (ModUp) of `c1`:
    /// each extra rotation costs one inner product and one ModDown instead of a full key switch.
    pub fn rotate_hoisted(
        &self,
        ct: &Ciphertext,
        steps: &[i64],
        gk: &GaloisKeys,
    ) -> Result<Vec<Ciphertext>> {
        self.check_ct(ct)?;
        self.rotate_hoisted_each(ct, steps, gk)
    }
}
