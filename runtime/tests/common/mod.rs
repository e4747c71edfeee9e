//! Shared helpers for the CKKS integration tests: parameter sets, random messages, error
//! measurement and noise bounds derived from the parameters.
#![allow(dead_code)]

use hel_runtime::ckks::sampling::SIGMA;
use hel_runtime::ckks::{Ciphertext, CkksParams, Complex64, Context, Sampler, SecretKey, Security};

/// Standard secure 2^13 set: 3 data limbs, Δ = 2^40.
pub fn ctx13() -> Context {
    Context::new(&CkksParams::standard(13).unwrap()).unwrap()
}

/// A deep chain at small N (insecure, tests only) with dnum = 3 digits of two primes.
pub fn deep12() -> Context {
    let params = CkksParams {
        log_n: 12,
        q_bits: vec![50, 40, 40, 40, 40],
        p_bits: vec![46, 46],
        dnum: 3,
        log_scale: 40,
        security: Security::InsecureForTestingOnly,
    };
    Context::new(&params).unwrap()
}

pub fn sampler(seed: u64) -> Sampler {
    Sampler::seeded_for_testing_only(seed)
}

/// Deterministic pseudo-random complex values in the unit square.
pub fn values(n: usize, seed: u64) -> Vec<Complex64> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    (0..n).map(|_| Complex64::new(next(), next())).collect()
}

pub fn real_values(n: usize, seed: u64) -> Vec<Complex64> {
    values(n, seed)
        .into_iter()
        .map(|c| Complex64::new(c.re, 0.0))
        .collect()
}

pub fn max_err(got: &[Complex64], want: &[Complex64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).norm())
        // `f64::max` would skip a NaN slot: a NaN must fail every bound.
        .fold(
            0.0,
            |m: f64, e| if e.is_nan() { f64::NAN } else { m.max(e) },
        )
}

/// Bits of precision: -log2 of the largest slot error.
pub fn bits(err: f64) -> f64 {
    -err.log2()
}

/// High-probability bound on the largest slot error caused by coefficient noise of standard
/// deviation `coeff_sigma`: each slot is a sum of N such terms (std √N·σ), and the maximum over
/// N/2 slots stays below 6 standard deviations.
pub fn slot_bound(ctx: &Context, coeff_sigma: f64) -> f64 {
    6.0 * (ctx.n() as f64).sqrt() * coeff_sigma
}

/// Coefficient noise std of a fresh secret-key encryption (Gaussian error + encoding rounding).
pub fn sk_sigma() -> f64 {
    (SIGMA * SIGMA + 1.0 / 12.0).sqrt()
}

/// Coefficient noise std of a fresh public-key encryption: v·e + e1·s + e0 + rounding.
pub fn pk_sigma(ctx: &Context) -> f64 {
    let n = ctx.n() as f64;
    (SIGMA * SIGMA * (4.0 * n / 3.0 + 1.0) + 1.0 / 12.0).sqrt()
}

/// Coefficient std of the rescale rounding error τ0 + τ1·s (τ uniform in ±1/2).
pub fn rescale_sigma(ctx: &Context) -> f64 {
    ((1.0 + 2.0 * ctx.n() as f64 / 3.0) / 12.0).sqrt()
}

/// Coefficient std of the key-switching error: the ModDown rounding (like a rescale) plus
/// Σ_j d_j·e_j / P with centered digits d_j uniform in ±D_j/2.
pub fn ks_sigma(ctx: &Context) -> f64 {
    let alpha = ctx.params().digit_size();
    let log = |ps: &[u64]| ps.iter().map(|&p| (p as f64).log2()).sum::<f64>();
    let log_d = ctx.q_primes().chunks(alpha).map(log).fold(0.0, f64::max);
    let dnum = ctx.q_primes().len().div_ceil(alpha) as f64;
    let digit =
        (dnum * ctx.n() as f64 / 12.0).sqrt() * SIGMA * (log_d - log(ctx.p_primes())).exp2();
    (rescale_sigma(ctx).powi(2) + digit * digit).sqrt()
}

/// `values` encoded at `level` and `scale` and encrypted under the secret key.
pub fn encrypt_at(
    ctx: &Context,
    sk: &SecretKey,
    values: &[Complex64],
    level: usize,
    scale: f64,
    s: &mut Sampler,
) -> Ciphertext {
    ctx.encrypt_sk(&ctx.encode_complex(values, level, scale).unwrap(), sk, s)
        .unwrap()
}
