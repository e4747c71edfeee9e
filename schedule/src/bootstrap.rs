//! The bootstrapping parameter rule: which primes the chain needs for the program and for each
//! bootstrapping phase, how wide the EvalMod interval is, and the failure probability of the
//! modular reduction that follows from the sparse secret's Hamming weight.
//!
//! Chain layout, bottom to top (a rescale removes the last prime):
//! `q_0 | program levels (2^log_scale) | SlotToCoeff | EvalMod | CoeffToSlot`.
//! A ciphertext is bootstrapped from level 0, raised to the top, and comes out at the top
//! program level: `program_levels` levels are left for the program.
//!
//! Precision is set by the scales the phases run at: a rescale adds noise of about
//! `sqrt(N/18)` integer units whatever the scale (the dense secret's rounding term), which the
//! slot map amplifies by `sqrt(N)`, and the output error is that of the coefficients `x`
//! times `sqrt(N)·q_0/Δ`. So CoeffToSlot runs at a working scale of 2^`cts_log_scale` (its
//! last level divides by two primes to come down to EvalMod's scale), and each EvalMod level
//! divides by `evalmod_primes` primes so that its scale, the product of those primes, can be
//! larger than one 50-bit prime.

use serde::{Deserialize, Serialize};

use crate::params::{CkksParams, ParamsError, Security};
use crate::program::{Layout, OutputTile, Schedule};

/// Everything that fixes a bootstrapping circuit and its modulus chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapParams {
    /// log2 of the ring degree N.
    pub log_n: u32,
    /// log2 of the number of slots bootstrapped; only `log_n - 1` (full slots) is supported.
    pub log_slots: u32,
    /// Bits of q_0, the modulus a ciphertext is bootstrapped from. `q_0 / Δ` trades the
    /// sine's distortion (small ratio) against the amplification of the EvalMod error (large).
    pub log_q0: u32,
    /// log2 of the program's scale Δ (the output scale is the input's exactly).
    pub log_scale: u32,
    /// Levels at scale 2^log_scale left to the program after a bootstrap.
    pub program_levels: usize,
    /// Prime sizes of the CoeffToSlot, EvalMod and SlotToCoeff levels.
    pub cts_bits: u32,
    /// log2 of the working scale of CoeffToSlot.
    pub cts_log_scale: u32,
    /// Primes per EvalMod level (its scale is their product).
    pub evalmod_primes: usize,
    /// See [`BootstrapParams::cts_bits`].
    pub evalmod_bits: u32,
    /// See [`BootstrapParams::cts_bits`].
    pub stc_bits: u32,
    /// Levels (merged FFT stages) of CoeffToSlot and SlotToCoeff.
    pub cts_levels: usize,
    /// See [`BootstrapParams::cts_levels`].
    pub stc_levels: usize,
    /// Hamming weight h of the sparse secret the ciphertext is encapsulated under for ModRaise.
    pub hamming_weight: usize,
    /// EvalMod is accurate for integer parts |I| ≤ k.
    pub k: u32,
    /// Degree of the Chebyshev interpolant of the scaled cosine.
    pub cheb_degree: usize,
    /// Number of double-angle steps after the cosine.
    pub double_angle: u32,
    /// Bits of the special prime of the encapsulation key (the only key under the sparse secret).
    pub enc_p_bits: u32,
    /// Bits below `log_scale` of the program's bottom scale, the scale a ciphertext is
    /// bootstrapped from (the levels above climb back towards `2^log_scale`, each scale the
    /// mean of the one below and its prime). EvalMod's sine distorts a message coefficient
    /// `c` by `(2π·c·S_0/q_0)²/6` relative ([`crate::distortion`]): each bit down divides the
    /// distortion by 4 and multiplies the bootstrap's noise, relative to the message, by 2
    /// (and costs the bottom level a bit of precision). 0 in the rule; the compiler lowers
    /// it for states whose coefficients are large (a constant state of 4 at N = 2^12: 2^-1.3
    /// of error at 0, 2^-17 at 8).
    pub input_drop: u32,
    /// Security level of the whole chain.
    pub security: Security,
}

/// Whether the refreshed tile `b` (the scale it leaves its round at, the level and scale the
/// next round wants it at) shares the bootstrap of the tile `a` before it (scale leaving,
/// scale wanted), as the imaginary part of one message: where they leave at one scale and
/// the second either wants the first's scale or a level below the bootstrap's output `top`,
/// where one product by 1/2 lands it on its own. The compiler pairs a schedule's bootstraps
/// by it and the runtime's refresh between `hel train`'s rounds alike.
pub fn shares_bootstrap(a: (f64, f64), b: (f64, usize, f64), top: usize) -> bool {
    use crate::rules::scales_match;
    scales_match(b.0, a.0) && (scales_match(b.2, a.1) || b.1 < top)
}

/// Whether a state tile that leaves its round at `leaves` (level, scale) reaches the next
/// round's input wanted at `want` without a bootstrap: at a level no lower and at the same
/// scale, it only drops primes. A value the round does not change (a statistic of the data
/// that the first round computed and every round hands on) leaves exactly as it came.
pub fn passes_through(leaves: (usize, f64), want: (usize, f64)) -> bool {
    leaves.0 >= want.0 && crate::rules::scales_match(leaves.1, want.1)
}

/// The refreshed input ciphertexts of `next`, in order: their `ct_inputs` index, the name of
/// the output they come from and the tile's layout.
pub fn refreshed_inputs(next: &Schedule) -> Vec<(usize, String, Layout)> {
    (0..next.ct_inputs.len())
        .filter(|&i| next.is_refreshed_ct(i))
        .filter_map(|i| {
            let ct = &next.ct_inputs[i];
            let crate::Source::Input { input, .. } = ct.pack.source else {
                return None;
            };
            let from = next.inputs.get(input as usize)?.refreshed_from.clone()?;
            Some((i, from, ct.pack.layout))
        })
        .collect()
}

/// The tile of `prev`'s output `from` in `layout`: what a refreshed input of that packing is
/// the refresh of.
pub fn leaving_tile<'s>(prev: &'s Schedule, from: &str, layout: Layout) -> Option<&'s OutputTile> {
    prev.outputs
        .iter()
        .find(|o| o.name == from)
        .and_then(|o| o.tiles.iter().find(|t| t.layout == layout))
}

/// Bootstraps the refresh of `prev`'s state into `next`'s inputs takes, before running
/// anything: the count the runtime's refresh reports, from the scales the schedules record
/// and the level `top` a bootstrap leaves its output at. For a planner weighing rounds
/// against refreshes.
pub fn bootstraps_between(prev: &Schedule, next: &Schedule, top: usize) -> usize {
    let jobs: Vec<(f64, usize, f64)> = refreshed_inputs(next)
        .into_iter()
        .filter_map(|(i, from, layout)| {
            let want = &next.ct_inputs[i];
            let leaves = leaving_tile(prev, &from, layout)
                .and_then(|t| prev.nodes.get(t.value as usize))
                .map_or((0, f64::NAN), |n| (n.level as usize, n.scale));
            let want = (want.level as usize, want.scale);
            (!passes_through(leaves, want)).then_some((leaves.1, want.0, want.1))
        })
        .collect();
    let mut bootstraps = 0;
    let mut k = 0;
    while k < jobs.len() {
        let (a, b) = (jobs[k], jobs.get(k + 1));
        let paired = b.is_some_and(|&b| shares_bootstrap((a.0, a.2), b, top));
        k += if paired { 2 } else { 1 };
        bootstraps += 1;
    }
    bootstraps
}

/// The smallest ring a chain may have (test rings are N = 2^12; 128-bit chains need 2^16).
const MIN_CHAIN_LOG_N: u32 = 10;
/// The most program levels or double-angle steps a chain may have: far beyond any chain
/// within the 128-bit bound (1772 bits), a guard for chains read from files.
const MAX_CHAIN_LEVELS: usize = 128;

/// The most bits [`BootstrapParams::input_drop`] may take the bottom scale down: a bootstrap
/// lands on a scale within 2^10 of its input's.
pub const MAX_INPUT_DROP: u32 = 10;

/// The most program levels [`BootstrapParams::for_program`] adds to the rule's.
const MAX_EXTRA_PROGRAM_LEVELS: usize = 16;

impl BootstrapParams {
    /// The documented 128-bit rule at N = 2^16, full slots (see docs/bootstrapping.md).
    pub fn standard_n16() -> Self {
        BootstrapParams {
            log_n: 16,
            log_slots: 15,
            log_q0: 45,
            log_scale: 40,
            program_levels: 9,
            cts_bits: 50,
            cts_log_scale: 80,
            evalmod_primes: 2,
            evalmod_bits: 30,
            stc_bits: 45,
            cts_levels: 4,
            stc_levels: 3,
            hamming_weight: 32,
            k: 11,
            cheb_degree: 47,
            double_angle: 2,
            enc_p_bits: 50,
            input_drop: 0,
            security: Security::Classical128,
        }
    }

    /// The documented circuit shape at N = 2^`log_n`, full slots, `program_levels` levels for
    /// the program, with the security check switched off: **insecure**, for the workspace's
    /// tests only (small rings keep bootstrapping fast; no file can carry it, see
    /// [`Security`]).
    #[cfg(feature = "insecure-test-params")]
    pub fn insecure_for_testing_only(log_n: u32, program_levels: usize) -> Self {
        BootstrapParams {
            log_n,
            log_slots: log_n - 1,
            program_levels,
            cts_levels: 3,
            stc_levels: 2,
            security: Security::InsecureForTestingOnly,
            ..BootstrapParams::standard_n16()
        }
    }

    /// The same circuit for 2^`log_slots` slots (sparse packing below N/2): q_0 grows by
    /// half a bit per halving of the slots. A message of n slots repeated over the ring is a
    /// polynomial with N/(2n) times fewer, sqrt(N/(2n)) times larger coefficients; EvalMod's
    /// sine departs from the identity by a relative (2π·m/q_0)²/6, so keeping m/q_0 where the
    /// full-slot rule has it keeps that term (at N = 2^12 and 8 slots it cost 8 bits
    /// otherwise). The larger q_0 amplifies EvalMod's own absolute error by as much, which sits
    /// far below. At N = 2^16 the chain has 7 bits of the 128-bit bound to spare: down to
    /// 2^2 slots.
    pub fn with_slots(&self, log_slots: u32) -> Self {
        // Relative to this chain's own slot count, so that chains compose:
        // `with_slots(a).with_slots(b)` is `with_slots(b)`.
        let full = self.log_n.saturating_sub(1);
        let extra = |ls: u32| full.saturating_sub(ls).div_ceil(2);
        BootstrapParams {
            log_slots,
            log_q0: (self.log_q0 + extra(log_slots)).saturating_sub(extra(self.log_slots)),
            ..self.clone()
        }
    }

    /// The chain that refreshes a program's state of 2^`log_slots` slots between rounds:
    /// [`BootstrapParams::with_slots`], with the DFTs in as few levels as their stages need
    /// (an n-slot DFT has log2 n butterfly stages; the full-slot rule merges about four per
    /// CoeffToSlot level and five per SlotToCoeff level, and so does this one), and the bits
    /// that frees given to the program: as many more program levels as the 128-bit bound
    /// admits with no more key-switching digits than the rule's chain. A chain without a
    /// security bound (test parameters) keeps its program levels.
    pub fn for_program(&self, log_slots: u32) -> Self {
        let stages = log_slots as usize;
        let mut p = BootstrapParams {
            cts_levels: stages.div_ceil(4).clamp(1, self.cts_levels),
            stc_levels: stages.div_ceil(5).clamp(1, self.stc_levels),
            ..self.with_slots(log_slots)
        };
        if p.security != Security::Classical128 {
            return p;
        }
        // More levels, but not more key-switching digits than the rule's chain has: each
        // digit is another ModUp and inner product in every key switch of the bootstrap.
        let Ok(digits) = self.with_slots(log_slots).ckks_params().map(|c| c.dnum) else {
            return p;
        };
        for _ in 0..MAX_EXTRA_PROGRAM_LEVELS {
            let more = BootstrapParams {
                program_levels: p.program_levels + 1,
                ..p.clone()
            };
            let fits = more.ckks_params().is_ok_and(|c| c.dnum <= digits);
            if !fits || more.program_params().is_err() {
                break;
            }
            p = more;
        }
        p
    }

    /// The chain of [`BootstrapParams::for_program`] for the fewest slots, at least
    /// 2^`min_log_slots`, that the rule supports: q_0 grows half a bit per halving of the
    /// slots and is one prime of at most 50 bits, and each DFT level needs a butterfly stage.
    /// A state vector repeating every `w` slots is refreshed by any bootstrap of `n >= w`
    /// slots (n a multiple of w). `None` where no slot count from there on is supported.
    pub fn fewest_slots(&self, min_log_slots: u32) -> Option<Self> {
        (min_log_slots.max(1)..self.log_n)
            .map(|ls| self.for_program(ls))
            .find(|c| c.program_params().is_ok() && c.ckks_params().is_ok())
    }

    /// One standard deviation of a bootstrap's noise, in slot units: what the compiler's error
    /// bounds charge a bootstrap (6 of them) besides EvalMod's sine, which the noise
    /// simulation applies to the message's coefficients exactly
    /// ([`crate::distortion::SineDistortion`]). Measured (docs/bootstrapping.md): at N = 2^16
    /// 20.5-22.9 bits minimum precision over all slots on random messages, so 2^-21 puts the
    /// bound (2^-18.4) 4x above the worst slot seen; on the insecure test rings (N ≤ 2^14)
    /// the error left once the predicted sine is taken off is at most 2^-26.4 over all slots
    /// (N = 2^12, 2^8 and 2^11 slots, messages up to 8), and 2^-24 leaves 2^5 for the larger
    /// test rings' noise.
    /// The noise is an absolute error in the coefficients' units, so relative to a message
    /// bootstrapped from `input_drop` bits below the scale it is `2^input_drop` times larger.
    pub fn error_sd(&self) -> f64 {
        let at_scale = if self.log_n >= 15 {
            2f64.powi(-21)
        } else {
            2f64.powi(-24)
        };
        at_scale * 2f64.powi(self.input_drop.min(MAX_INPUT_DROP) as i32)
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        1 << self.log_n
    }

    /// Depth of the Chebyshev evaluation (baby-step giant-step with scale-exact combination,
    /// see `evalmod`): `ceil(log2(degree + 1))`, plus one when the degree fills its power of two.
    pub fn cheb_depth(&self) -> usize {
        cheb_depth(self.cheb_degree)
    }

    /// Levels EvalMod consumes: the polynomial and the double-angle steps.
    pub fn evalmod_levels(&self) -> usize {
        self.cheb_depth() + self.double_angle as usize
    }

    /// Levels one bootstrap consumes (an EvalMod level and the last CoeffToSlot level count
    /// once though they divide by several primes).
    pub fn levels_consumed(&self) -> usize {
        self.cts_levels + self.evalmod_levels() + self.stc_levels
    }

    /// Primes one bootstrap consumes: the ciphertext comes out at prime index
    /// `max_level - primes_consumed`.
    pub fn primes_consumed(&self) -> usize {
        self.cts_levels + 1 + self.evalmod_levels() * self.evalmod_primes + self.stc_levels
    }

    /// Data prime sizes, q_0 first.
    pub fn q_bits(&self) -> Vec<u32> {
        std::iter::once(self.log_q0)
            .chain(std::iter::repeat_n(self.log_scale, self.program_levels))
            .chain(std::iter::repeat_n(self.stc_bits, self.stc_levels))
            .chain(std::iter::repeat_n(
                self.evalmod_bits,
                self.evalmod_levels() * self.evalmod_primes,
            ))
            .chain(std::iter::repeat_n(self.cts_bits, self.cts_levels + 1))
            .collect()
    }

    /// The CKKS parameters of the whole chain (program and bootstrapping levels), with the
    /// smallest number of key-switching digits whose special modulus fits the security bound.
    pub fn ckks_params(&self) -> Result<CkksParams, ParamsError> {
        self.check()?;
        CkksParams::with_largest_digits(self.log_n, self.q_bits(), self.log_scale, self.security)
    }

    /// The parameters of a program that runs between bootstraps: `q_0` and the
    /// `program_levels` levels, the bottom of [`BootstrapParams::ckks_params`]'s chain (the
    /// same primes), with special primes of their own. Its ciphertexts move to and from the
    /// bootstrapping context by `Context::adopt` (the runtime's), and its evaluation keys span
    /// only these primes (a fraction of the size of keys over the whole chain).
    pub fn program_params(&self) -> Result<CkksParams, ParamsError> {
        self.check()?;
        let q_bits = self.q_bits()[..=self.program_levels].to_vec();
        CkksParams::with_largest_digits(self.log_n, q_bits, self.program_log_scale(), self.security)
    }

    /// log2 of the program's bottom scale: `log_scale - input_drop`.
    pub fn program_log_scale(&self) -> u32 {
        self.log_scale.saturating_sub(self.input_drop)
    }

    /// The same chain with the program's bottom scale `drop` bits below `log_scale`
    /// ([`BootstrapParams::input_drop`]).
    pub fn with_input_drop(&self, drop: u32) -> Self {
        BootstrapParams {
            input_drop: drop,
            ..self.clone()
        }
    }

    /// The parameters of the encapsulation context: q_0 and one special prime, nothing else,
    /// so that the key under the sparse secret lives only modulo `q_0·p` (about 100 bits).
    pub fn encapsulation_params(&self) -> Result<CkksParams, ParamsError> {
        let p = CkksParams {
            log_n: self.log_n,
            q_bits: vec![self.log_q0],
            p_bits: vec![self.enc_p_bits],
            dnum: 1,
            log_scale: self.log_scale,
            security: self.security,
        };
        p.validate()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), ParamsError> {
        let bad = |m: String| Err(ParamsError::Invalid(m));
        // Sizes first, before anything is derived from them: a chain read from a file must
        // not shift past the word or build a list of billions of primes.
        if !(MIN_CHAIN_LOG_N..=crate::params::MAX_LOG_N).contains(&self.log_n) {
            return bad(format!(
                "log_n = {} outside {MIN_CHAIN_LOG_N}..={}",
                self.log_n,
                crate::params::MAX_LOG_N
            ));
        }
        if self.program_levels > MAX_CHAIN_LEVELS || self.double_angle as usize > MAX_CHAIN_LEVELS {
            return bad(format!(
                "{} program levels and {} double-angle steps: at most {MAX_CHAIN_LEVELS} each",
                self.program_levels, self.double_angle
            ));
        }
        let bits = [
            self.log_q0,
            self.log_scale,
            self.cts_bits,
            self.cts_log_scale,
            self.evalmod_bits,
            self.stc_bits,
            self.enc_p_bits,
        ];
        if bits.iter().any(|&b| b == 0 || b > 120) {
            return bad(format!(
                "prime or scale sizes {bits:?} outside 1..=120 bits"
            ));
        }
        if self.log_slots == 0 || self.log_slots >= self.log_n {
            return bad(format!(
                "log_slots = {} outside 1..={} for N = 2^{}",
                self.log_slots,
                self.log_n - 1,
                self.log_n
            ));
        }
        let stages = self.log_slots as usize;
        if self.cts_levels == 0 || self.cts_levels > stages {
            return bad(format!(
                "cts_levels = {} outside 1..={stages}",
                self.cts_levels
            ));
        }
        if self.stc_levels == 0 || self.stc_levels > stages {
            return bad(format!(
                "stc_levels = {} outside 1..={stages}",
                self.stc_levels
            ));
        }
        if self.hamming_weight == 0 || self.hamming_weight > self.n() {
            return bad(format!("hamming_weight = {}", self.hamming_weight));
        }
        if self.evalmod_primes == 0 || self.evalmod_primes > 3 {
            return bad(format!(
                "evalmod_primes = {} outside 1..=3",
                self.evalmod_primes
            ));
        }
        if self.k == 0 || self.cheb_degree < 2 || self.cheb_degree > 255 {
            return bad(format!(
                "EvalMod needs k ≥ 1 and a degree in 2..=255 (k = {}, degree = {})",
                self.k, self.cheb_degree
            ));
        }
        // The bootstrap lands on a scale within 2^10 of its input's.
        if self.input_drop > MAX_INPUT_DROP || self.input_drop >= self.log_scale {
            return bad(format!(
                "input_drop = {} outside 0..={MAX_INPUT_DROP} (below the scale 2^{})",
                self.input_drop, self.log_scale
            ));
        }
        if self.log_q0 <= self.log_scale {
            return bad(format!(
                "q_0 (2^{}) must exceed the scale (2^{})",
                self.log_q0, self.log_scale
            ));
        }
        Ok(())
    }

    /// log2 of an upper bound on the probability that some coefficient's integer part after
    /// ModRaise exceeds `k`, for one bootstrap.
    ///
    /// After encapsulation the ciphertext `(c_0, c_1)` modulo q_0 is uniform, so each
    /// coefficient of `(c_0 + c_1·s')/q_0` is a sum of `h + 1` independent uniforms on
    /// [-1/2, 1/2] (c_0 and the h nonzero terms of the sparse secret), plus the message's tiny
    /// share; its integer part I exceeds k only if that sum exceeds k + 1/2. The Chernoff bound
    /// for the sum, `P(S ≥ a) ≤ min_λ e^{-λa}·(sinh(λ/2)/(λ/2))^{h+1}`, doubled for both tails and
    /// multiplied by N coefficients (union bound), is returned as a log2.
    pub fn failure_log2(&self) -> f64 {
        failure_log2(self.hamming_weight, self.k, self.n())
    }
}

/// Depth of `PolyEval` for degree `d`, mirroring its recursion: T_i costs ceil(log2 i);
/// a baby polynomial adds one level for its constants; `q·T_G + r` adds one to q and T_G.
pub(crate) fn cheb_depth(degree: usize) -> usize {
    let bits = |x: usize| (usize::BITS - x.leading_zeros()) as usize;
    let baby = 1usize << bits(degree).div_ceil(2);
    let t_depth = |i: usize| bits(i.saturating_sub(1));
    fn eval(d: usize, baby: usize, t_depth: &dyn Fn(usize) -> usize) -> usize {
        if d < baby {
            return t_depth(d.max(1)) + 1;
        }
        let mut g = baby;
        while 2 * g <= d {
            g *= 2;
        }
        (eval(d - g, baby, t_depth) + 1)
            .max(t_depth(g) + 1)
            .max(eval(g - 1, baby, t_depth))
    }
    eval(degree, baby, &t_depth)
}

/// See [`BootstrapParams::failure_log2`].
pub fn failure_log2(h: usize, k: u32, n: usize) -> f64 {
    let terms = (h + 1) as f64;
    let a = k as f64 + 0.5;
    let log_mgf = |lambda: f64| {
        let x = lambda / 2.0;
        (x.sinh() / x).ln()
    };
    let best = (1..4000)
        .map(|i| i as f64 * 0.005)
        .map(|lambda| -lambda * a + terms * log_mgf(lambda))
        .fold(0.0f64, f64::min);
    (best + (2.0 * n as f64).ln()) / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_rule_is_secure_and_leaves_nine_levels() {
        let b = BootstrapParams::standard_n16();
        let p = b
            .ckks_params()
            .expect("the documented chain fits the 128-bit bound");
        assert_eq!(p.security, Security::Classical128);
        assert_eq!(p.max_level(), b.program_levels + b.primes_consumed());
        assert!(b.program_levels >= 9);
        assert!(b.failure_log2() <= -15.0, "{}", b.failure_log2());
        // Three key-switching digits: a fourth costs a ModUp more per key switch and a third
        // more key material.
        assert_eq!(p.dnum, 3);
        b.encapsulation_params().expect("encapsulation context");
    }

    /// The chain for a training's state (`for_program`): secure, the same key-switching
    /// digits as the sparse rule, more program levels (14 at 2^8 slots), DFT levels as the
    /// stages need; slot counts compose.
    #[test]
    fn the_training_chain_trades_dft_levels_for_program_levels() {
        let b = BootstrapParams::standard_n16();
        assert_eq!(b.with_slots(8).with_slots(8), b.with_slots(8));
        assert_eq!(b.with_slots(8).with_slots(15), b);
        let t = b.for_program(8);
        let (sparse, p) = (
            b.with_slots(8).ckks_params().unwrap(),
            t.ckks_params().unwrap(),
        );
        assert_eq!(p.security, Security::Classical128);
        assert_eq!(p.dnum, sparse.dnum);
        assert_eq!((t.cts_levels, t.stc_levels), (2, 2));
        assert_eq!(t.program_levels, 14);
        assert_eq!(t.log_q0, b.with_slots(8).log_q0);
        t.program_params().expect("the round programs' parameters");
        // Full slots keep the full-slot DFT levels.
        let full = b.for_program(15);
        assert_eq!(
            (full.cts_levels, full.stc_levels),
            (b.cts_levels, b.stc_levels)
        );
    }

    #[test]
    fn chebyshev_depth_is_log_degree_plus_at_most_one() {
        assert_eq!(cheb_depth(47), 6);
        assert_eq!(cheb_depth(63), 7);
        assert_eq!(cheb_depth(119), 7);
    }

    #[test]
    fn failure_bound_tracks_a_gaussian_tail() {
        // The sum has variance (h + 1)/12 and lighter tails than a Gaussian: its Chernoff bound
        // is at most the Gaussian one, and within a few bits of it for 33 terms.
        let (h, k, n) = (32usize, 8u32, 1usize << 12);
        let sigma = ((h + 1) as f64 / 12.0).sqrt();
        let z = (k as f64 + 0.5) / sigma;
        let gauss = (2.0 * n as f64 * (-z * z / 2.0).exp()).log2();
        let bound = failure_log2(h, k, n);
        assert!(
            bound <= gauss + 0.01 && bound >= gauss - 4.0,
            "{bound} vs {gauss}"
        );
        assert!(failure_log2(h, k + 2, n) < bound - 3.0);
    }

    /// The program of a chain with an input drop runs that many bits below the scale at its
    /// bottom on the same primes, and the bootstrap's noise, relative to a message from
    /// there, grows by as much; a drop beyond what the bootstrap can land back from is refused.
    #[test]
    fn the_program_runs_input_drop_bits_below_the_scale() {
        let rule = BootstrapParams::standard_n16();
        let b = rule.with_input_drop(6);
        let p = b.program_params().expect("a valid chain");
        assert_eq!(p.log_scale, 34);
        assert_eq!(p.q_bits, rule.program_params().expect("the rule").q_bits);
        assert_eq!(b.error_sd() / rule.error_sd(), 64.0);
        assert!(rule
            .with_input_drop(MAX_INPUT_DROP + 1)
            .program_params()
            .is_err());
        assert_eq!(b.with_slots(8).input_drop, 6, "the sparse chains keep it");
    }
}
