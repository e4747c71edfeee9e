//! Hybrid key switching (Han–Ki): the data primes are split into `dnum` digits of `alpha`
//! primes; each digit is lifted (ModUp, fast base conversion) to the data primes plus the
//! special primes P, multiplied with the key's digit, summed, and divided by P (ModDown).
//!
//! The key for digit j encrypts `P·s'` on the primes of digit j and 0 elsewhere: the gadget
//! `P·Q̂_j·[Q̂_j^{-1}]_{Q_j}` reduces to exactly that modulo every prime, at every level, so one
//! key serves all levels. P is at least about as large as each digit's modulus, which keeps
//! the added noise at a few bits.

use std::ops::Range;

use rayon::prelude::*;

use super::context::Context;
use super::modarith::{self, inv_mod, mul_mod, Shoup};
use super::params::CkksParams;
use super::ring::RnsPoly;

/// Fast base conversion constants for one digit at one level.
pub(crate) struct ModUpTable {
    /// Data-prime indices of the digit (restricted to the level).
    src: Range<usize>,
    /// `(Q'/q_s)^{-1} mod q_s` per source prime.
    hat_inv: Vec<Shoup>,
    /// Per position in the extended basis: `(Q'/q_s) mod t` per source prime (empty inside
    /// the digit, where the input limb is copied).
    hat_mod: Vec<Vec<Shoup>>,
    /// Per position in the extended basis: `-Q' mod t`, to subtract the multiple of Q' that
    /// fast base conversion adds.
    neg_q_mod: Vec<Shoup>,
}

/// All key-switching constants.
pub(crate) struct KsTables {
    /// Data primes per digit.
    pub alpha: usize,
    /// `modup[level][digit]`.
    modup: Vec<Vec<ModUpTable>>,
    /// `(P/p_k)^{-1} mod p_k`.
    p_hat_inv: Vec<Shoup>,
    /// `p_hat_mod_q[i][k] = (P/p_k) mod q_i`.
    p_hat_mod_q: Vec<Vec<Shoup>>,
    /// `-P^{-1} mod q_i`.
    neg_p_inv_mod_q: Vec<Shoup>,
    /// `P mod q_i`, the gadget factor used at key generation.
    pub p_mod_q: Vec<u64>,
    /// `1 / p_k` as f64: ModDown uses it to find the multiple of P that fast base conversion
    /// adds, so the division by P is an unbiased rounding (a floor would bias every coefficient
    /// alike, and a constant bias is amplified ~N-fold by the slot transform).
    inv_p_f64: Vec<f64>,
    /// `-P mod q_i`.
    neg_p_mod_q: Vec<Shoup>,
}

fn prod_mod(primes: impl Iterator<Item = u64>, t: u64) -> u64 {
    primes.fold(1 % t, |acc, q| mul_mod(acc, q % t, t))
}

impl KsTables {
    pub fn new(params: &CkksParams, moduli: &[u64], num_q: usize) -> Self {
        let alpha = params.digit_size();
        let q = &moduli[..num_q];
        let p = &moduli[num_q..];
        let modup = (0..num_q)
            .map(|level| {
                let ext: Vec<usize> = (0..=level).chain(num_q..moduli.len()).collect();
                (0..=level)
                    .step_by(alpha)
                    .map(|start| {
                        let src = start..(start + alpha).min(level + 1);
                        let hat = |s: usize, t: u64| {
                            prod_mod(src.clone().filter(|&o| o != s).map(|o| q[o]), t)
                        };
                        let hat_inv = src
                            .clone()
                            .map(|s| Shoup::new(inv_mod(hat(s, q[s]), q[s]), q[s]))
                            .collect();
                        let hat_mod = ext
                            .iter()
                            .map(|&j| {
                                if src.contains(&j) {
                                    Vec::new()
                                } else {
                                    let t = moduli[j];
                                    src.clone().map(|s| Shoup::new(hat(s, t), t)).collect()
                                }
                            })
                            .collect();
                        let neg_q_mod = ext
                            .iter()
                            .map(|&j| {
                                let t = moduli[j];
                                let qd = prod_mod(src.clone().map(|o| q[o]), t);
                                Shoup::new((t - qd) % t, t)
                            })
                            .collect();
                        ModUpTable {
                            src,
                            hat_inv,
                            hat_mod,
                            neg_q_mod,
                        }
                    })
                    .collect()
            })
            .collect();
        let p_hat = |k: usize, t: u64| {
            prod_mod(
                p.iter()
                    .enumerate()
                    .filter(|&(o, _)| o != k)
                    .map(|(_, &x)| x),
                t,
            )
        };
        KsTables {
            alpha,
            modup,
            p_hat_inv: (0..p.len())
                .map(|k| Shoup::new(inv_mod(p_hat(k, p[k]), p[k]), p[k]))
                .collect(),
            p_hat_mod_q: q
                .iter()
                .map(|&qi| (0..p.len()).map(|k| Shoup::new(p_hat(k, qi), qi)).collect())
                .collect(),
            neg_p_inv_mod_q: q
                .iter()
                .map(|&qi| {
                    let inv = inv_mod(prod_mod(p.iter().copied(), qi), qi);
                    Shoup::new(qi - inv, qi)
                })
                .collect(),
            p_mod_q: q
                .iter()
                .map(|&qi| prod_mod(p.iter().copied(), qi))
                .collect(),
            inv_p_f64: p.iter().map(|&pk| 1.0 / pk as f64).collect(),
            neg_p_mod_q: q
                .iter()
                .map(|&qi| Shoup::new(qi - prod_mod(p.iter().copied(), qi), qi))
                .collect(),
        }
    }

    /// Number of digits of a full-level key.
    pub fn num_digits(&self, num_q: usize) -> usize {
        num_q.div_ceil(self.alpha)
    }
}

/// A key-switching key from some s' to s: per digit, `(b_j, a_j)` over all primes (Q and P)
/// in NTT form with `b_j = -a_j·s + e_j + P·s'` on the digit's primes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SwitchKey {
    pub digits: Vec<(RnsPoly, RnsPoly)>,
}

/// ModUp inputs of one digit, shared by all target primes: the digit's limbs multiplied by
/// `(Q'/q_s)^{-1}` (coefficient form) and the multiple `v` of Q' to remove.
struct DigitInputs {
    ys: RnsPoly,
    v: Vec<u64>,
}

impl Context {
    /// Scaled coefficient limbs and centering multiple of one digit. `coef` holds the
    /// coefficient form of the whole polynomial.
    fn digit_inputs(&self, coef: &RnsPoly, table: &ModUpTable) -> DigitInputs {
        let mut ys = RnsPoly::scratch(self.n, table.src.len());
        for ((i, s), w) in table.src.clone().enumerate().zip(&table.hat_inv) {
            let y = ys.limb_mut(i);
            y.copy_from_slice(coef.limb(s));
            // One-prime digits have Q'/q_s = 1: nothing to scale.
            if w.w != 1 {
                modarith::mul_shoup_assign(y, *w, self.moduli[s]);
            }
        }
        let mut acc = vec![0.0f64; self.n];
        for (y, s) in ys.limbs().zip(table.src.clone()) {
            modarith::accumulate_ratio(&mut acc, y, 1.0 / self.moduli[s] as f64);
        }
        let mut v = vec![0u64; self.n];
        modarith::round_to_u64(&mut v, &acc);
        DigitInputs { ys, v }
    }

    /// The digit's centered residue `[x]_{Q'}` on extended-basis position `pos` (prime `j`),
    /// written to `out` in NTT form.
    fn mod_up_limb(
        &self,
        inputs: &DigitInputs,
        table: &ModUpTable,
        pos: usize,
        j: usize,
        out: &mut [u64],
    ) {
        let mut srcs: Vec<&[u64]> = inputs.ys.limbs().collect();
        let t = self.moduli[j];
        if table.src.len() == 1 {
            // v = round(y / q_s) is a single bit.
            modarith::lincomb_plus_bit(
                out,
                &srcs,
                &table.hat_mod[pos],
                &inputs.v,
                table.neg_q_mod[pos],
                t,
            );
        } else {
            srcs.push(&inputs.v);
            let mut ws = table.hat_mod[pos].clone();
            ws.push(table.neg_q_mod[pos]);
            modarith::lincomb(out, &srcs, &ws, t);
        }
        self.plans[j].fwd(out);
    }

    fn coefficient_form(&self, x: &RnsPoly, level: usize) -> RnsPoly {
        let basis = self.basis_q(level);
        let mut coef = x.prefix(basis.len());
        self.intt(&mut coef, &basis);
        coef
    }

    /// ModUp: splits an NTT-form polynomial at `level` into digits, each extended to the
    /// data primes up to `level` plus the special primes (NTT form), for hoisted rotations.
    ///
    /// Each digit is the *centered* residue `[x]_{Q_j}`: the multiple `v·Q_j` that fast base
    /// conversion adds is found as `v = round(Σ y_s / q_s)` in f64 and removed. Uncentered
    /// digits have a mean of ~Q_j/2 whose product with the key error is nearly the same in every
    /// coefficient, and such a common offset grows ~N-fold in the slots.
    pub(crate) fn decompose(&self, x: &RnsPoly, level: usize) -> Vec<RnsPoly> {
        let coef = self.coefficient_form(x, level);
        let ext = self.basis_qp(level);
        self.ks.modup[level]
            .par_iter()
            .map(|table| {
                let inputs = self.digit_inputs(&coef, table);
                let mut out = RnsPoly::scratch(self.n, ext.len());
                out.par_limbs_mut().enumerate().for_each(|(pos, limb)| {
                    let j = ext[pos];
                    if table.src.contains(&j) {
                        limb.copy_from_slice(x.limb(pos));
                    } else {
                        self.mod_up_limb(&inputs, table, pos, j, limb);
                    }
                });
                out
            })
            .collect()
    }

    /// Inner product of decomposed digits with a key, over the extended basis at `level`.
    /// With `perm`, the digits are first permuted by a Galois automorphism (hoisted rotation).
    pub(crate) fn key_inner_product(
        &self,
        digits: &[RnsPoly],
        key: &SwitchKey,
        level: usize,
        perm: Option<&[u32]>,
    ) -> (RnsPoly, RnsPoly) {
        let ext = self.basis_qp(level);
        let mut acc0 = RnsPoly::zero(self.n, ext.len());
        let mut acc1 = RnsPoly::zero(self.n, ext.len());
        acc0.par_limbs_mut()
            .zip(acc1.par_limbs_mut())
            .enumerate()
            .for_each(|(pos, (z0, z1))| {
                let j = ext[pos];
                let plan = &self.plans[j];
                let mut scratch = RnsPoly::scratch(self.n, 1);
                for (d, (b, a)) in digits.iter().zip(&key.digits) {
                    let dl = match perm {
                        Some(perm) => {
                            modarith::gather(scratch.limb_mut(0), d.limb(pos), perm);
                            scratch.limb(0)
                        }
                        None => d.limb(pos),
                    };
                    plan.mul_accumulate(z0, dl, b.limb(j));
                    plan.mul_accumulate(z1, dl, a.limb(j));
                }
            });
        (acc0, acc1)
    }

    /// ModDown: divides an extended-basis NTT polynomial by P with rounding, returning the
    /// data-prime limbs at `level`. The P part is converted exactly to its centered residue
    /// `[x]_P` on the data primes (fast base conversion `Σ y_k·P/p_k` minus `v·P`, with
    /// `v = round(Σ y_k / p_k)` computed in f64, as in Halevi–Polyakov–Shoup), so
    /// `(x - [x]_P) · P^{-1} = round(x / P)`.
    pub(crate) fn mod_down(&self, acc: &RnsPoly, level: usize) -> RnsPoly {
        let nq = level + 1;
        let p_basis: Vec<usize> = (self.num_q..self.num_q + self.num_p).collect();
        let mut ys = RnsPoly::from_flat(self.n, &acc.flat()[nq * self.n..]);
        self.intt(&mut ys, &p_basis);
        ys.par_limbs_mut()
            .zip(p_basis.par_iter().zip(&self.ks.p_hat_inv))
            .for_each(|(y, (&j, w))| modarith::mul_shoup_assign(y, *w, self.moduli[j]));
        let mut ratio = vec![0.0f64; self.n];
        for (y, inv) in ys.limbs().zip(&self.ks.inv_p_f64) {
            modarith::accumulate_ratio(&mut ratio, y, *inv);
        }
        let mut v = vec![0u64; self.n];
        modarith::round_to_u64(&mut v, &ratio);
        // Written straight into a fresh buffer: `(x - [x]_P)·P^{-1} = ([x]_P - x)·(-P^{-1})`,
        // so the data limbs of `acc` are read once and never copied.
        let mut out = RnsPoly::scratch(self.n, nq);
        out.par_limbs_mut().enumerate().for_each(|(i, c)| {
            let qi = self.moduli[i];
            let mut srcs: Vec<&[u64]> = ys.limbs().collect();
            srcs.push(&v);
            let mut ws = self.ks.p_hat_mod_q[i].clone();
            ws.push(self.ks.neg_p_mod_q[i]);
            modarith::lincomb(c, &srcs, &ws, qi);
            self.plans[i].fwd(c);
            modarith::sub_assign(c, acc.limb(i), qi);
            modarith::mul_shoup_assign(c, self.ks.neg_p_inv_mod_q[i], qi);
        });
        out
    }

    /// Full key switch of `x` (NTT, at `level`): returns `(u0, u1)` with `u0 + u1·s ≈ x·s'`.
    /// ModUp and the inner product are fused per target prime, so each lifted digit limb is
    /// consumed while still in cache and the digits are never materialized.
    pub(crate) fn key_switch(
        &self,
        x: &RnsPoly,
        key: &SwitchKey,
        level: usize,
    ) -> (RnsPoly, RnsPoly) {
        let coef = self.coefficient_form(x, level);
        let tables = &self.ks.modup[level];
        let inputs: Vec<DigitInputs> = tables
            .par_iter()
            .map(|t| self.digit_inputs(&coef, t))
            .collect();
        let ext = self.basis_qp(level);
        let mut acc0 = RnsPoly::zero(self.n, ext.len());
        let mut acc1 = RnsPoly::zero(self.n, ext.len());
        acc0.par_limbs_mut()
            .zip(acc1.par_limbs_mut())
            .enumerate()
            .for_each(|(pos, (z0, z1))| {
                let j = ext[pos];
                let plan = &self.plans[j];
                let mut scratch = RnsPoly::scratch(self.n, 1);
                for ((table, inp), (b, a)) in tables.iter().zip(&inputs).zip(&key.digits) {
                    let d = if table.src.contains(&j) {
                        x.limb(pos)
                    } else {
                        self.mod_up_limb(inp, table, pos, j, scratch.limb_mut(0));
                        scratch.limb(0)
                    };
                    plan.mul_accumulate(z0, d, b.limb(j));
                    plan.mul_accumulate(z1, d, a.limb(j));
                }
            });
        rayon::join(
            || self.mod_down(&acc0, level),
            || self.mod_down(&acc1, level),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::params::{CkksParams, Security};
    use crate::ckks::sampling::{uniform_from_seed, Sampler};

    /// The key-switching error `u0 + u1·s - c·s'` must be the ModDown rounding (τ0 + τ1·s, τ
    /// uniform in ±1/2) plus a negligible digit term, and unbiased: a common offset in every
    /// coefficient would be amplified ~N-fold by decoding.
    #[test]
    fn key_switch_error_is_small_and_unbiased() {
        let params = CkksParams {
            log_n: 12,
            q_bits: vec![50, 40, 40, 40, 40],
            p_bits: vec![46, 46],
            dnum: 3,
            log_scale: 40,
            security: Security::InsecureForTestingOnly,
        };
        let ctx = Context::new(&params).unwrap();
        let mut s = Sampler::seeded_for_testing_only(1);
        let sk = ctx.gen_secret_key(&mut s);
        let sk2 = ctx.gen_secret_key(&mut s);
        let key = ctx.gen_switch_key(&sk2.ntt, &sk, &mut s);
        let n = ctx.n as f64;
        let rounding_sigma = ((1.0 + 2.0 * n / 3.0) / 12.0).sqrt();
        for level in 0..=ctx.max_level() {
            let basis = ctx.basis_q(level);
            let c = uniform_from_seed(&ctx, [7; 32], &basis);
            let (u0, u1) = ctx.key_switch(&c, &key, level);
            let mut m = u0.clone();
            ctx.mul_acc(&mut m, &u1, &sk.ntt, &basis);
            let mut cs = ctx.mul(&c, &sk2.ntt, &basis);
            ctx.poly_neg_assign(&mut cs, &basis);
            ctx.poly_add_assign(&mut m, &cs, &basis);
            let co = ctx.centered_coeffs(&m, level);
            let max = co.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            let mean = co.iter().sum::<f64>() / n;
            assert!(max < 6.0 * rounding_sigma + 4.0, "level {level}: max {max}");
            assert!(
                mean.abs() < 6.0 * rounding_sigma / n.sqrt(),
                "level {level}: mean {mean}"
            );
        }
    }
}
