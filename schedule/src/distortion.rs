//! What a bootstrap does to a message besides its noise: EvalMod reduces the coefficients of
//! the raised plaintext modulo q_0 with a sine, `x -> q_0/(2π) · sin(2π x / q_0)`, which is the
//! identity only up to a cubic term. The term is a property of the message's **coefficients**,
//! not of its slots: a coefficient `c` (in slot units, at the input's scale Δ) comes back as
//! `sin(t·c)/t` with `t = 2π·Δ/q_0`, off by about `t²·c³/6`.
//!
//! The slots and the coefficients differ most for structured messages. A slot vector of
//! independent values has coefficients about `1/sqrt(slots)` its size, so its distortion is
//! small; a constant vector (a scalar replicated over the slots, a bias, weights sharing a
//! mean) is the single coefficient `c_0 = m`, and errs by the full `t²·m³/6` in every slot: at
//! N = 2^12 with q_0/Δ = 2^5, 2^-7.3 at m = 1 where random slots of the same size err by
//! 2^-18 (measured, `runtime/tests/bootstrap.rs`). A bound on slot magnitudes alone therefore
//! cannot price a bootstrap; [`SineDistortion`] computes the coefficients and the slots the
//! bootstrap returns for them, so the noise simulation propagates the real distortion.
//!
//! The slots are the ring's evaluations at `ζ^{5^k}` (ζ a primitive 2N-th root of unity, the
//! CKKS encoder's order, in which rotating slots is `X -> X^{5^r}`); the coefficients are a
//! DFT of length 2N over all 2N-th roots, the conjugate roots carrying the conjugate slots.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::program::{Schedule, ValueId};

/// EvalMod's sine applied to messages of `slots` slots (the ring's N/2).
pub struct SineDistortion {
    slots: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// `5^k mod 2N` for k < N/2: the root each slot is the evaluation at.
    roots: Vec<usize>,
}

impl SineDistortion {
    /// For messages of `slots` slots; `None` unless `slots` is a power of two.
    pub fn new(slots: usize) -> Option<Self> {
        if !slots.is_power_of_two() {
            return None;
        }
        let m = 4 * slots;
        let mut planner = FftPlanner::new();
        let mut roots = Vec::with_capacity(slots);
        let mut g = 1usize;
        for _ in 0..slots {
            roots.push(g);
            g = g * 5 % m;
        }
        Some(SineDistortion {
            slots,
            forward: planner.plan_fft_forward(m),
            inverse: planner.plan_fft_inverse(m),
            roots,
        })
    }

    /// `2π·scale/q_0`: the angle per unit of a coefficient bootstrapped at `scale` from q_0.
    pub fn angle(scale: f64, q0: f64) -> f64 {
        2.0 * std::f64::consts::PI * scale / q0
    }

    /// The angle of a bootstrap of value `a` of `schedule`: `a`'s scale (kept down to level 0)
    /// over the schedule's q_0 (its bottom prime, within a hundredth of a bit of 2^bits).
    pub fn angle_of(schedule: &Schedule, a: ValueId) -> f64 {
        let q0 = schedule
            .params
            .q_bits
            .first()
            .map_or(f64::INFINITY, |&b| f64::from(b).exp2());
        let scale = schedule.nodes.get(a as usize).map_or(0.0, |n| n.scale);
        Self::angle(scale, q0)
    }

    /// The message `re + i·im` (one slot vector, or two refreshed by one bootstrap as its
    /// real and imaginary parts) replaced by what the bootstrap's sine makes of it at angle
    /// `t` ([`SineDistortion::angle`]). Vectors of another length than the slots are left
    /// alone (a schedule whose unit is not the ring's slots is refused elsewhere).
    pub fn apply(&self, t: f64, re: &mut [f64], mut im: Option<&mut [f64]>) {
        let n = self.slots;
        if re.len() != n || im.as_ref().is_some_and(|v| v.len() != n) || t <= 0.0 {
            return;
        }
        let m = 4 * n;
        let zero = Complex::new(0.0, 0.0);
        let mut a = vec![zero; m];
        for (k, &p) in self.roots.iter().enumerate() {
            let z = Complex::new(re[k], im.as_ref().map_or(0.0, |v| v[k]));
            a[p] = z;
            a[m - p] = z.conj();
        }
        self.forward.process(&mut a);
        // c_j = (1/2N) Σ_p m(ζ^p) ζ^{-pj} over the 2N odd p; the polynomial has N = 2·slots
        // coefficients, real since the conjugate roots hold the conjugate slots.
        let mut d = vec![zero; m];
        let two_n = (2 * n) as f64;
        for (dj, aj) in d.iter_mut().zip(&a).take(2 * n) {
            let c = aj.re / two_n;
            *dj = Complex::new((t * c).sin() / t - c, 0.0);
        }
        // Back to the slots: the error of slot k is Σ_j δ_j ζ^{5^k·j}.
        self.inverse.process(&mut d);
        for (k, &p) in self.roots.iter().enumerate() {
            re[k] += d[p].re;
            if let Some(v) = im.as_deref_mut() {
                v[k] += d[p].im;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constant is the coefficient c_0 alone: every slot comes back as sin(t·m)/t.
    #[test]
    fn a_constant_vector_is_distorted_by_the_full_sine() {
        let s = SineDistortion::new(64).expect("a power of two");
        let t = SineDistortion::angle(2f64.powi(40), 2f64.powi(45));
        let mut v = vec![4.0; 64];
        s.apply(t, &mut v, None);
        let want = (t * 4.0).sin() / t;
        assert!(
            v.iter().all(|x| (x - want).abs() < 1e-12),
            "{v:?} vs {want}"
        );
        assert!(
            (want - 4.0).abs() > 0.3,
            "the sine's cubic term at m = 4: {want}"
        );
    }

    /// Independent slots have small coefficients: the same magnitude errs far less, and the
    /// error is the sine's cubic term of each coefficient (checked against a direct DFT).
    #[test]
    fn independent_slots_err_by_their_coefficients() {
        let n = 32;
        let s = SineDistortion::new(n).expect("a power of two");
        let t = 0.2;
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) * 8.0 - 4.0
        };
        let re: Vec<f64> = (0..n).map(|_| next()).collect();
        let im: Vec<f64> = (0..n).map(|_| next()).collect();
        let (mut r, mut i) = (re.clone(), im.clone());
        s.apply(t, &mut r, Some(&mut i));
        // Direct: c_j = (1/2N) Σ over the slots and their conjugates, then the sine, then
        // evaluation at ζ^{5^k}.
        let m = 4 * n;
        let zeta = |e: usize| {
            let a = 2.0 * std::f64::consts::PI * (e % m) as f64 / m as f64;
            Complex::new(a.cos(), a.sin())
        };
        let roots: Vec<usize> = (0..n)
            .scan(1usize, |g, _| {
                let r = *g;
                *g = *g * 5 % m;
                Some(r)
            })
            .collect();
        let coeffs: Vec<f64> = (0..2 * n)
            .map(|j| {
                let mut acc = Complex::new(0.0, 0.0);
                for (k, &p) in roots.iter().enumerate() {
                    let z = Complex::new(re[k], im[k]);
                    acc += z * zeta(m - p * j % m) + z.conj() * zeta(p * j % m);
                }
                acc.re / (2 * n) as f64
            })
            .collect();
        for (k, &p) in roots.iter().enumerate() {
            let mut back = Complex::new(0.0, 0.0);
            for (j, c) in coeffs.iter().enumerate() {
                back += zeta(p * j) * ((t * c).sin() / t);
            }
            assert!((back.re - r[k]).abs() < 1e-9 && (back.im - i[k]).abs() < 1e-9);
            // Without the sine the coefficients give the slots back.
            let mut same = Complex::new(0.0, 0.0);
            for (j, c) in coeffs.iter().enumerate() {
                same += zeta(p * j) * *c;
            }
            assert!((same.re - re[k]).abs() < 1e-9 && (same.im - im[k]).abs() < 1e-9);
        }
        let worst = r
            .iter()
            .zip(&re)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let constant = 4.0 - (t * 4.0).sin() / t;
        assert!(
            worst > 0.0 && worst < constant / 10.0,
            "{worst} vs {constant}"
        );
    }
}
