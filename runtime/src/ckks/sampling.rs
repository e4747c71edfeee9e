//! Randomness: uniform ternary secrets, rounded Gaussian errors (σ = 3.2, cut at 6σ) and
//! uniform ring elements, all from ChaCha20. The default sampler is seeded from the OS; the
//! seeded constructor exists for reproducible tests only.
//!
//! The samplers are not constant-time (rejection loops and a table scan); the secret key is
//! sampled on the key owner's machine, where timing side channels are out of scope (see
//! docs/security.md).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::context::Context;
use super::ring::RnsPoly;

/// The error distribution's standard deviation and tail cut (|e| ≤ 19), shared with the
/// compiler's error analysis.
pub use hel_schedule::rules::{NOISE_SIGMA as SIGMA, NOISE_TAIL_SIGMAS as TAIL_SIGMAS};

/// A ChaCha20-based source of all the randomness the scheme needs.
pub struct Sampler {
    rng: ChaCha20Rng,
    /// Cumulative distribution of |e| for the rounded Gaussian, scaled to 2^64.
    cdt: Vec<u64>,
}

impl Sampler {
    /// A sampler seeded from the operating system. Use this for anything real.
    pub fn from_os() -> Self {
        Self::with_rng(ChaCha20Rng::from_os_rng())
    }

    /// A deterministic sampler. **Insecure**: only for reproducible tests and benchmarks.
    pub fn seeded_for_testing_only(seed: u64) -> Self {
        Self::with_rng(ChaCha20Rng::seed_from_u64(seed))
    }

    fn with_rng(rng: ChaCha20Rng) -> Self {
        let bound = (SIGMA * TAIL_SIGMAS).floor() as i64;
        let rho = |x: i64| (-((x * x) as f64) / (2.0 * SIGMA * SIGMA)).exp();
        // P(|e| = 0) = ρ(0)/S, P(|e| = k) = 2ρ(k)/S for k ≥ 1; the sign is drawn separately.
        let weights: Vec<f64> = (0..=bound)
            .map(|k| if k == 0 { rho(0) } else { 2.0 * rho(k) })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdt = weights
            .iter()
            .map(|w| {
                acc += w / total;
                if acc >= 1.0 {
                    u64::MAX
                } else {
                    (acc * 18_446_744_073_709_551_616.0) as u64
                }
            })
            .collect();
        Sampler { rng, cdt }
    }

    /// An independent sampler keyed with 32 bytes drawn from this one, so that work can be
    /// split across threads: as strong as the parent (a full ChaCha20 key from its stream),
    /// and reproducible when the parent is seeded.
    pub fn fork(&mut self) -> Sampler {
        Self::with_rng(ChaCha20Rng::from_seed(self.seed()))
    }

    /// 32 fresh random bytes (seeds for compressed ciphertexts).
    pub fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.rng.fill_bytes(&mut s);
        s
    }

    /// `n` coefficients uniform in {-1, 0, 1}.
    pub fn ternary(&mut self, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let b: u8 = self.rng.random();
            if b < 255 {
                out.push((b % 3) as i64 - 1);
            }
        }
        out
    }

    /// `n` ternary coefficients with exactly `h` nonzero entries (uniform positions, uniform
    /// signs): the sparse secret of bootstrapping's encapsulation (see `bootstrap::keys`).
    pub fn sparse_ternary(&mut self, n: usize, h: usize) -> Vec<i64> {
        let h = h.min(n);
        let mut out = vec![0i64; n];
        let mut placed = 0;
        while placed < h {
            let i = self.rng.random_range(0..n);
            if out[i] == 0 {
                out[i] = if self.rng.random::<bool>() { 1 } else { -1 };
                placed += 1;
            }
        }
        out
    }

    /// `n` rounded Gaussian coefficients with σ = [`SIGMA`], |e| ≤ 6σ.
    pub fn gaussian(&mut self, n: usize) -> Vec<i64> {
        (0..n)
            .map(|_| {
                let r = self.rng.next_u64();
                let sign = self.rng.random::<bool>();
                // r beyond the last threshold (probability < 2^-60) is the tail bound itself.
                let mag = self
                    .cdt
                    .iter()
                    .position(|&c| r < c)
                    .unwrap_or(self.cdt.len() - 1) as i64;
                if sign {
                    -mag
                } else {
                    mag
                }
            })
            .collect()
    }

    /// `n` rounded Gaussian coefficients with a large standard deviation (noise flooding).
    pub fn wide_gaussian(&mut self, n: usize, sigma: f64) -> Vec<i64> {
        (0..n)
            .map(|_| {
                // Box–Muller; u1 in (0, 1] so the logarithm is finite.
                let u1 = 1.0 - self.rng.random::<f64>();
                let u2 = self.rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (z * sigma).round() as i64
            })
            .collect()
    }
}

/// A uniformly random polynomial over `basis`, directly in NTT form (the NTT is a bijection,
/// so uniform evaluations are a uniform polynomial), generated from a 32-byte seed: the same
/// seed regenerates the same polynomial, which is what seed-compressed ciphertexts rely on.
pub(crate) fn uniform_from_seed(ctx: &Context, seed: [u8; 32], basis: &[usize]) -> RnsPoly {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut poly = RnsPoly::zero(ctx.n, basis.len());
    for (i, &j) in basis.iter().enumerate() {
        let p = ctx.moduli[j];
        let mask = u64::MAX >> p.leading_zeros();
        for x in poly.limb_mut(i).iter_mut() {
            *x = loop {
                let v = rng.next_u64() & mask;
                if v < p {
                    break v;
                }
            };
        }
    }
    poly
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_has_the_right_spread_and_tail() {
        let mut s = Sampler::seeded_for_testing_only(7);
        let e = s.gaussian(200_000);
        let bound = (SIGMA * TAIL_SIGMAS) as i64;
        assert!(e.iter().all(|x| x.abs() <= bound));
        let mean = e.iter().sum::<i64>() as f64 / e.len() as f64;
        let var = e.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / e.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        // Rounding adds 1/12 to the variance.
        let want = SIGMA * SIGMA + 1.0 / 12.0;
        assert!((var / want - 1.0).abs() < 0.02, "variance {var} vs {want}");
    }

    #[test]
    fn ternary_is_balanced_and_seeds_reproduce() {
        let mut s = Sampler::seeded_for_testing_only(8);
        let t = s.ternary(30_000);
        for v in [-1, 0, 1] {
            let share = t.iter().filter(|&&x| x == v).count() as f64 / t.len() as f64;
            assert!((share - 1.0 / 3.0).abs() < 0.02, "{v}: {share}");
        }
        assert_ne!(s.seed(), s.seed());
    }
}
