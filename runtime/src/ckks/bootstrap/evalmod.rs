//! EvalMod: the modular reduction `x -> x mod 1` of the slots after CoeffToSlot, as
//! `sin(2πx)/(2π)` (exact up to the cubic term, which the small ratio Δ/q_0 keeps below the
//! noise).
//!
//! The sine is `cos(2π(x - 1/4))`, computed as a Chebyshev interpolant of
//! `cos(2π(K·t - 1/4)/2^r)` on t = x/K ∈ [-1, 1] followed by r double-angle steps
//! `cos 2θ = 2cos²θ - 1`: dividing the angle by 2^r makes the interpolant's degree small.
//!
//! The polynomial is evaluated in the Chebyshev basis by baby-step giant-step: T_1..T_{B-1}
//! and T_B, T_2B, T_4B, ... are computed once, and `p = q·T_G + r` is split recursively.
//! Every term is combined at an exactly matching scale: constants are encoded at the scale
//! that makes the product's scale after the rescale equal the target, so sums never add
//! ciphertexts whose scales differ (which would cost ~20 bits of precision).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::ckks::{Ciphertext, CkksError, Context, RelinKey, Result};

/// Chebyshev coefficients of the interpolant of `f` at the `degree + 1` Chebyshev nodes of
/// [-1, 1]: `p(t) = Σ_j c_j T_j(t)`.
pub(crate) fn chebyshev_interpolant(f: impl Fn(f64) -> f64, degree: usize) -> Vec<f64> {
    let m = degree + 1;
    let nodes: Vec<f64> = (0..m)
        .map(|k| (std::f64::consts::PI * (k as f64 + 0.5) / m as f64).cos())
        .collect();
    let values: Vec<f64> = nodes.iter().map(|&x| f(x)).collect();
    (0..m)
        .map(|j| {
            let s: f64 = (0..m)
                .map(|k| {
                    values[k]
                        * (std::f64::consts::PI * j as f64 * (k as f64 + 0.5) / m as f64).cos()
                })
                .sum();
            s * if j == 0 { 1.0 } else { 2.0 } / m as f64
        })
        .collect()
}

/// `Σ c_j T_j(t)` in f64 (Clenshaw), for checking the interpolant.
pub(crate) fn chebyshev_eval(c: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &cj in c.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + cj;
        b2 = b1;
        b1 = b0;
    }
    t * b1 - b2 + c.first().copied().unwrap_or(0.0)
}

/// The EvalMod circuit of one parameter set.
#[derive(Clone, Debug)]
pub(crate) struct EvalMod {
    /// Chebyshev coefficients of the scaled cosine on [-1, 1].
    coeffs: Vec<f64>,
    double_angle: u32,
    /// Primes per level: each product is divided by this many primes.
    step: usize,
}

/// Divides by the next `step` primes.
fn rescale_by(ctx: &Context, mut ct: Ciphertext, step: usize) -> Result<Ciphertext> {
    ctx.rescale_many_assign(&mut ct, step)?;
    Ok(ct)
}

/// `ct` at `level`: itself when it is there, else a copy of its first limbs.
fn at_level<'c>(ctx: &Context, ct: &'c Ciphertext, level: usize) -> Result<Cow<'c, Ciphertext>> {
    if ct.level() == level {
        Ok(Cow::Borrowed(ct))
    } else {
        ctx.drop_level(ct, level).map(Cow::Owned)
    }
}

/// Product of the `step` primes a rescale from `level` divides by.
fn divisor(ctx: &Context, level: usize, step: usize) -> f64 {
    (0..step)
        .map(|i| ctx.q_primes()[level - i] as f64)
        .product()
}

impl EvalMod {
    /// For inputs t = x/`k_norm` with |x| ≤ `k_norm`, with levels of `step` primes.
    pub fn new(k_norm: f64, degree: usize, double_angle: u32, step: usize) -> Self {
        let div = (1u64 << double_angle) as f64;
        let f = |t: f64| (std::f64::consts::TAU * (k_norm * t - 0.25) / div).cos();
        EvalMod {
            coeffs: chebyshev_interpolant(f, degree),
            double_angle,
            step,
        }
    }

    /// Largest error of the interpolant over a fine grid of [-1, 1] (before the double angles).
    pub fn interpolation_error(&self, k_norm: f64) -> f64 {
        let div = (1u64 << self.double_angle) as f64;
        (0..=20_000)
            .map(|i| -1.0 + i as f64 / 10_000.0)
            .map(|t| {
                let want = (std::f64::consts::TAU * (k_norm * t - 0.25) / div).cos();
                (chebyshev_eval(&self.coeffs, t) - want).abs()
            })
            .fold(0.0, f64::max)
    }

    /// `sin(2πx)` for slots holding t = x/K (see the module docs).
    pub fn apply(&self, ctx: &Context, ct: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        let mut c = PolyEval::new(ctx, rlk, ct.clone(), self.coeffs.len() - 1, self.step)?
            .evaluate(&self.coeffs, ct.scale())?;
        for _ in 0..self.double_angle {
            let mut sq = ctx.relinearize(&ctx.square(&c)?, rlk)?;
            ctx.multiply_int_assign(&mut sq, 2)?;
            ctx.add_scalar_assign(&mut sq, -1.0)?;
            c = rescale_by(ctx, sq, self.step)?;
        }
        Ok(c)
    }
}

/// Chebyshev-basis evaluation of one polynomial on one ciphertext.
struct PolyEval<'a> {
    ctx: &'a Context,
    rlk: &'a RelinKey,
    /// T_i by index (T_1 is the input).
    t: BTreeMap<usize, Ciphertext>,
    /// Baby-step size B (a power of two).
    baby: usize,
    /// Primes per level.
    step: usize,
}

/// The largest power of two strictly below `i` (i ≥ 2).
fn half_power(i: usize) -> usize {
    1 << (usize::BITS - 1 - (i - 1).leading_zeros())
}

impl<'a> PolyEval<'a> {
    fn new(
        ctx: &'a Context,
        rlk: &'a RelinKey,
        x: Ciphertext,
        degree: usize,
        step: usize,
    ) -> Result<Self> {
        let bits = (usize::BITS - degree.leading_zeros()) as usize;
        let baby = 1usize << bits.div_ceil(2);
        let mut e = PolyEval {
            ctx,
            rlk,
            t: BTreeMap::from([(1, x)]),
            baby,
            step,
        };
        for i in 2..baby.min(degree + 1) {
            e.power(i)?;
        }
        let mut g = baby;
        while g <= degree {
            e.power(g)?;
            g *= 2;
        }
        Ok(e)
    }

    /// T_i, computed from T_a and T_b with a the largest power of two below i:
    /// `T_{a+b} = 2·T_a·T_b - T_{a-b}` (depth ceil(log2 i)). `T_{a-b}` is brought to the
    /// product's scale by a constant at the ratio of scales, before the shared rescale.
    fn power(&mut self, i: usize) -> Result<&Ciphertext> {
        if !self.t.contains_key(&i) {
            let a = half_power(i);
            let b = i - a;
            self.power(a)?;
            self.power(b)?;
            let ctx = self.ctx;
            let (ta, tb) = (&self.t[&a], &self.t[&b]);
            let level = ta.level().min(tb.level());
            let ta = at_level(ctx, ta, level)?;
            let tb = at_level(ctx, tb, level)?;
            let mut prod = ctx.multiply_relin(&ta, &tb, self.rlk)?;
            ctx.multiply_int_assign(&mut prod, 2)?;
            if a == b {
                ctx.add_scalar_assign(&mut prod, -1.0)?;
            } else {
                self.power(a - b)?;
                let low = &self.t[&(a - b)];
                let low =
                    ctx.linear_combination(&[low], &[1.0], &[prod.scale() / low.scale()], level)?;
                ctx.sub_assign(&mut prod, &low)?;
            }
            let out = rescale_by(ctx, prod, self.step)?;
            self.t.insert(i, out);
        }
        self.t
            .get(&i)
            .ok_or_else(|| CkksError::InvalidParams(format!("Chebyshev power {i} missing")))
    }

    fn level_of(&self, i: usize) -> usize {
        self.t.get(&i).map_or(0, |c| c.level())
    }

    /// The giant step for a polynomial of degree `d ≥ B`: the largest B·2^j ≤ d.
    fn giant(&self, d: usize) -> usize {
        let mut g = self.baby;
        while 2 * g <= d {
            g *= 2;
        }
        g
    }

    /// Chebyshev division by T_G: `p = q·T_G + r`, using T_G·T_k = (T_{G+k} + T_{G-k})/2.
    fn split(c: &[f64], g: usize) -> (Vec<f64>, Vec<f64>) {
        let d = c.len() - 1;
        let mut q = vec![0.0; d - g + 1];
        q[0] = c[g];
        for k in 1..=d - g {
            q[k] = 2.0 * c[g + k];
        }
        let mut r = c[..g].to_vec();
        for (k, &qk) in q.iter().enumerate().skip(1) {
            r[g - k] -= qk / 2.0;
        }
        (q, r)
    }

    /// The highest level the evaluation of `c` can end at.
    fn natural_level(&self, c: &[f64]) -> usize {
        let d = c.len() - 1;
        let s = self.step;
        if d < self.baby {
            (1..=d.max(1))
                .map(|i| self.level_of(i))
                .min()
                .unwrap_or(0)
                .saturating_sub(s)
        } else {
            let g = self.giant(d);
            let (q, r) = Self::split(c, g);
            (self.natural_level(&q).saturating_sub(s))
                .min(self.level_of(g).saturating_sub(s))
                .min(self.natural_level(&r))
        }
    }

    /// Evaluates `Σ c_j T_j` with the result at exactly `scale`, at the highest level possible.
    fn evaluate(&mut self, c: &[f64], scale: f64) -> Result<Ciphertext> {
        let level = self.natural_level(c);
        self.eval_at(c, scale, level)
    }

    fn eval_at(&mut self, c: &[f64], scale: f64, level: usize) -> Result<Ciphertext> {
        let ctx = self.ctx;
        let d = c.len() - 1;
        let up = level + self.step;
        let q_up = divisor(ctx, up, self.step);
        if d < self.baby {
            // Σ_{i≥1} c_i·T_i in one pass, each term at the scale that makes the sum's
            // `scale·q_up` (T_1 times 0 when the polynomial is a constant).
            let last = d.max(1);
            for i in 1..=last {
                self.power(i)?;
            }
            let ts: Vec<&Ciphertext> = (1..=last).map(|i| &self.t[&i]).collect();
            let values: Vec<f64> = (1..=last)
                .map(|i| c.get(i).copied().unwrap_or(0.0))
                .collect();
            let scales: Vec<f64> = ts.iter().map(|t| scale * q_up / t.scale()).collect();
            let acc = ctx.linear_combination(&ts, &values, &scales, up)?;
            let mut out = rescale_by(ctx, acc, self.step)?;
            ctx.add_scalar_assign(&mut out, c[0])?;
            return Ok(out);
        }
        let g = self.giant(d);
        let (q, r) = Self::split(c, g);
        self.power(g)?;
        let tg_scale = self.t[&g].scale();
        let qct = self.eval_at(&q, scale * q_up / tg_scale, up)?;
        let tg = at_level(ctx, &self.t[&g], up)?;
        let prod = ctx.multiply_relin(&qct, &tg, self.rlk)?;
        let mut out = rescale_by(ctx, prod, self.step)?;
        let rct = self.eval_at(&r, out.scale(), level)?;
        ctx.add_assign(&mut out, &rct)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_by_a_giant_step_is_exact() {
        let c: Vec<f64> = (0..=23).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
        let (q, r) = PolyEval::split(&c, 16);
        for t in [-0.9, -0.3, 0.1, 0.77] {
            let tg = (16.0 * f64::acos(t)).cos();
            let want = chebyshev_eval(&c, t);
            let got = chebyshev_eval(&q, t) * tg + chebyshev_eval(&r, t);
            assert!((want - got).abs() < 1e-9, "{want} vs {got}");
        }
    }

    #[test]
    fn the_standard_interpolant_is_accurate() {
        let b = super::super::params::BootstrapParams::standard_n16();
        let k_norm = b.k as f64 + 0.5;
        let e = EvalMod::new(k_norm, b.cheb_degree, b.double_angle, b.evalmod_primes);
        assert!(e.interpolation_error(k_norm) < 2f64.powi(-40));
    }
}
