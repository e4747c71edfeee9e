//! CKKS bootstrapping: refreshes a ciphertext at level 0 to a ciphertext of the same message
//! and scale with `program_levels` levels to spend, without the secret key.
//!
//! 1. **Encapsulation + ModRaise**: the level-0 ciphertext is switched to a sparse secret s'
//!    modulo q_0 (see [`keys`]), its coefficients are lifted to the whole chain (it now
//!    decrypts to `m + q_0·I` with a small integer polynomial I), and it is switched back to s.
//! 2. **CoeffToSlot** ([`linear`]): the homomorphic inverse DFT puts the coefficients
//!    `(m + q_0·I)/q_0` into the slots (real and imaginary halves separated by a conjugation).
//! 3. **EvalMod** ([`evalmod`]): `sin(2πx)/(2π) ≈ x mod 1` on both halves.
//! 4. **SlotToCoeff** ([`linear`]): the homomorphic DFT puts them back into the coefficients,
//!    scaled by `q_0/Δ` so the output carries the input's scale exactly.
//!
//! **Sparse slots** (n = 2^log_slots < N/2 values, each repeated N/(2n) times, i.e. a message
//! polynomial in Y = X^{N/(2n)}): after ModRaise, a trace (the sum of the ciphertext's
//! rotations by n, 2n, 4n, ..., log2(N/(2n)) of them) keeps the coefficients at multiples of
//! N/(2n) times N/(2n) and cancels the rest of `q_0·I`; the DFTs are those of n slots, their
//! diagonals repeated with period n, fewer stages and rotations than the full-slot ones.
//!
//! The parameter rule is in [`params`]; docs/bootstrapping.md explains the choices.

pub mod bench;
pub mod evalmod;
pub mod keys;
pub mod linear;
/// The parameter rule lives in the schedule crate: a schedule that bootstraps records its
/// chain, and the compiler compiles for the chain's bottom without the CKKS engine.
pub use hel_schedule::bootstrap as params;

use num_complex::Complex64;

use crate::ckks::{Ciphertext, CkksError, Context, Plaintext, Result, Sampler, SecretKey};

pub use keys::BootstrapKeys;
pub use params::BootstrapParams;

use evalmod::EvalMod;
use linear::BsgsLevel;

/// A bootstrapping circuit with its contexts; build once, share (`&Bootstrapper` is `Sync`).
pub struct Bootstrapper {
    params: BootstrapParams,
    ctx: Context,
    /// Two-prime context (q_0, p) of the encapsulation key.
    enc: Context,
    cts: Vec<BsgsLevel>,
    stc: Vec<BsgsLevel>,
    /// Sparse slots (2n ≤ N/2): CoeffToSlot's last level leaves the real parts in the first
    /// half of every 2n slots and the imaginary parts in the second, SlotToCoeff's first level
    /// reads them so (`linear::split_halves`, `linear::join_halves`): one EvalMod.
    halves: bool,
    evalmod: EvalMod,
    /// EvalMod's interval half-width K + 1/2.
    k_norm: f64,
}

impl std::fmt::Debug for Bootstrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrapper")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Bootstrapper {
    /// Builds the contexts and plans the linear transforms and the EvalMod polynomial.
    pub fn new(params: &BootstrapParams) -> Result<Self> {
        let ctx = Context::new(&params.ckks_params()?)?;
        let enc = Context::new(&params.encapsulation_params()?)?;
        if enc.moduli[0] != ctx.moduli[0] {
            return Err(CkksError::InvalidParams(
                "encapsulation context does not share q_0 with the chain".into(),
            ));
        }
        let slots = 1usize << params.log_slots;
        let mut cts_maps = linear::coeff_to_slot_maps(slots, params.cts_levels);
        let mut stc_maps = linear::slot_to_coeff_maps(slots, params.stc_levels);
        // Sparse slots leave room for both halves in one ciphertext: one EvalMod, not two.
        let halves = 2 * slots <= ctx.slots();
        if halves {
            if let Some(last) = cts_maps.last_mut() {
                *last = linear::split_halves(last);
            }
            if let Some(first) = stc_maps.first_mut() {
                *first = linear::join_halves(first);
            }
        }
        let cts = cts_maps.iter().map(BsgsLevel::new).collect();
        let stc = stc_maps.iter().map(BsgsLevel::new).collect();
        let k_norm = params.k as f64 + 0.5;
        Ok(Bootstrapper {
            params: params.clone(),
            evalmod: EvalMod::new(
                k_norm,
                params.cheb_degree,
                params.double_angle,
                params.evalmod_primes,
            ),
            ctx,
            enc,
            cts,
            stc,
            halves,
            k_norm,
        })
    }

    /// The parameter rule this bootstrapper was built from.
    pub fn params(&self) -> &BootstrapParams {
        &self.params
    }

    /// The context of the whole chain: encrypt and evaluate with it.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Level a bootstrapped ciphertext comes out at (the levels left to the program).
    pub fn output_level(&self) -> usize {
        self.ctx.max_level() - self.params.primes_consumed()
    }

    /// Largest error of the EvalMod interpolant on its interval, before the double angles.
    pub fn evalmod_interpolation_error(&self) -> f64 {
        self.evalmod.interpolation_error(self.k_norm)
    }

    /// Rotation steps the DFTs need keys for.
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = self
            .cts
            .iter()
            .chain(&self.stc)
            .flat_map(|l| l.rotations())
            .collect();
        r.extend(self.trace_steps());
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Number of message slots n.
    pub fn slots(&self) -> usize {
        1 << self.params.log_slots
    }

    /// `values` (n of them) laid out as sparse packing holds them: repeated over the N/2
    /// slots of the ring (what a sparse-slot ciphertext decodes to).
    pub fn repeat(&self, values: &[Complex64]) -> Vec<Complex64> {
        (0..self.ctx.slots())
            .map(|q| values[q % values.len().max(1)])
            .collect()
    }

    /// How often each of the n slots repeats in the N/2 slots of the ring: N/(2n).
    fn repeats(&self) -> usize {
        self.ctx.slots() / self.slots()
    }

    /// Rotation steps of the trace that sparse packing needs after ModRaise: n, 2n, 4n, ...
    /// below N/2 (none for full slots).
    fn trace_steps(&self) -> Vec<i64> {
        let n = self.slots();
        (0..self.repeats().trailing_zeros())
            .map(|i| (n << i) as i64)
            .collect()
    }

    /// Generates the bootstrapping keys on the client (see [`keys`]).
    pub fn gen_keys(&self, sk: &SecretKey, sampler: &mut Sampler) -> Result<BootstrapKeys> {
        keys::generate(
            &self.ctx,
            &self.enc,
            sk,
            &self.rotations(),
            self.params.hamming_weight,
            sampler,
        )
    }

    /// The key set's size in memory, before it exists (to refuse a key generation or a run
    /// the machine cannot hold): the rotation, conjugation, relinearization and
    /// encapsulation keys, each `dnum` digits of two polynomials over every prime of the
    /// chain in 64-bit words.
    pub fn key_memory_bytes(&self) -> usize {
        let p = self.ctx.params();
        let key = p.dnum * 2 * self.ctx.n() * (p.q_bits.len() + p.p_bits.len()) * 8;
        (self.rotations().len() + 3) * key
    }

    /// The memory the DFT diagonals take once bootstrapping has begun: each CoeffToSlot and
    /// SlotToCoeff level keeps its diagonals encoded over the extended basis at the level it
    /// is applied at (CoeffToSlot from the top of the chain down, SlotToCoeff down to the
    /// output level), so that later bootstraps skip the encoding. About 3.7 GB for the
    /// full-slot chain at N = 2^16.
    pub fn diagonal_memory_bytes(&self) -> usize {
        let special = self.ctx.params().p_bits.len();
        let top = self.ctx.max_level();
        let cts = self
            .cts
            .iter()
            .enumerate()
            .map(|(i, l)| l.terms() * (top - i + 1 + special));
        let (out, last) = (self.output_level(), self.stc.len());
        let stc = self
            .stc
            .iter()
            .enumerate()
            .map(|(i, l)| l.terms() * (out + last - i + 1 + special));
        cts.chain(stc).sum::<usize>() * self.ctx.n() * 8
    }

    /// What a process that bootstraps holds beyond its program's working set and its keys:
    /// the kept diagonals ([`Self::diagonal_memory_bytes`]) and the idle buffers of the ring's
    /// pool, which a bootstrap's temporaries fill to its cap. Memory checks before a run add
    /// it, so that a run the machine cannot hold is refused rather than killed.
    pub fn run_memory_bytes(&self) -> usize {
        self.diagonal_memory_bytes() + crate::ckks::ring::POOL_MAX_BYTES
    }

    /// The number of data primes of the chain.
    pub fn chain_primes(&self) -> usize {
        self.ctx.params().q_bits.len()
    }

    /// Bit-packed size of a key set (see [`BootstrapKeys::size_bytes`]).
    pub fn key_bytes(&self, keys: &BootstrapKeys) -> usize {
        keys.size_bytes(&self.ctx, &self.enc)
    }

    /// Serializes a key set as one versioned file (the format of `serialize.rs`, kind
    /// "bootstrapping key set"), bound to this chain and its encapsulation context.
    pub fn keys_to_bytes(&self, keys: &BootstrapKeys) -> Result<Vec<u8>> {
        crate::ckks::serialize::bootstrap_keys_to_bytes(&self.ctx, &self.enc, keys)
    }

    /// Loads a key set written by [`Bootstrapper::keys_to_bytes`]; a file for other
    /// parameters, of another kind, truncated or corrupted is refused.
    pub fn keys_from_bytes(&self, bytes: &[u8]) -> Result<BootstrapKeys> {
        crate::ckks::serialize::bootstrap_keys_from_bytes(&self.ctx, &self.enc, bytes)
    }

    fn check_keys(&self, keys: &BootstrapKeys) -> Result<()> {
        self.ctx.check_id(keys.ctx_id)?;
        self.enc.check_id(keys.enc_id)?;
        self.ctx.check_id(keys.relin.ctx_id)?;
        self.ctx.check_id(keys.galois.ctx_id)?;
        for s in self.rotations() {
            keys.galois.get(self.ctx.galois_element(s))?;
        }
        keys.galois.get(self.ctx.conjugation_element())?;
        let digits = self.ctx.ks.num_digits(self.ctx.num_q);
        if keys.from_sparse.digits.len() != digits || keys.to_sparse.digits.len() != 1 {
            return Err(CkksError::InvalidParams(
                "bootstrapping keys do not match the parameters".into(),
            ));
        }
        Ok(())
    }

    /// Refreshes `ct` (degree 1, any level, |slots| ≲ 1 at a scale Δ well below q_0: the
    /// standard rule has q_0/Δ = 2^5) to the same message at the same scale, at
    /// [`Bootstrapper::output_level`].
    pub fn bootstrap(&self, ct: &Ciphertext, keys: &BootstrapKeys) -> Result<Ciphertext> {
        self.bootstrap_to(ct, keys, ct.scale())
    }

    /// [`Bootstrapper::bootstrap`], landing on scale `out_scale` instead of the input's (the
    /// scale a program expects its input at: SlotToCoeff's last level is encoded for it, at
    /// no cost). `out_scale` must be within a factor 2^10 of the input's scale, where
    /// SlotToCoeff's diagonals keep their precision.
    pub fn bootstrap_to(
        &self,
        ct: &Ciphertext,
        keys: &BootstrapKeys,
        out_scale: f64,
    ) -> Result<Ciphertext> {
        self.check_keys(keys)?;
        if !(out_scale.is_finite() && (out_scale / ct.scale()).log2().abs() <= 10.0) {
            return Err(CkksError::InvalidParams(format!(
                "a bootstrap from scale 2^{:.2} cannot land on scale 2^{:.2}",
                ct.scale().log2(),
                out_scale.log2()
            )));
        }
        let ctx = &self.ctx;
        if ct.degree() != 1 {
            return Err(CkksError::DegreeMismatch {
                expected: 1,
                found: ct.degree(),
            });
        }
        let input_scale = ct.scale();
        let mut raised = self.mod_raise(&ctx.drop_level(ct, 0)?, keys)?;
        // Sparse slots: the trace keeps the coefficients at multiples of N/(2n), times N/(2n).
        for step in self.trace_steps() {
            let moved = ctx.rotate(&raised, step, &keys.galois)?;
            ctx.add_assign(&mut raised, &moved)?;
        }
        // CoeffToSlot, with 1/(2K) (and the trace's 2n/N) folded in: w' = BR(u)/(2K); then
        // Re = w' + conj(w') and Im = -i·(w' - conj(w')), each holding x/K.
        let mut w = raised;
        let first = 0.5 / self.k_norm / self.repeats() as f64;
        for (i, level) in self.cts.iter().enumerate() {
            let factor = if i == 0 { first } else { 1.0 };
            let primes = if i + 1 == self.cts.len() { 2 } else { 1 };
            w = level.apply(
                ctx,
                &w,
                &keys.galois,
                self.cts_target(i, &w),
                factor,
                primes,
            )?;
        }
        let conj = ctx.conjugate(&w, &keys.galois)?;
        let mut z = if self.halves {
            // Both halves in one real ciphertext (x/K each), one EvalMod; SlotToCoeff's first
            // level puts them back together.
            self.evalmod.apply(ctx, &ctx.add(&w, &conj)?, &keys.relin)?
        } else {
            let re = ctx.add(&w, &conj)?;
            let diff = ctx.sub(&w, &conj)?;
            let im = ctx.multiply_plain(&diff, &self.monomial_i(diff.level(), -1.0))?;
            let (re, im) = rayon::join(
                || self.evalmod.apply(ctx, &re, &keys.relin),
                || self.evalmod.apply(ctx, &im, &keys.relin),
            );
            let (re, im) = (re?, im?);
            let mut z = ctx.multiply_plain(&im, &self.monomial_i(im.level(), 1.0))?;
            ctx.add_assign(&mut z, &re)?;
            z
        };
        // SlotToCoeff, with q_0/(2π·Δ) folded in: sin(2πx) = 2π·m·Δ/q_0 back to m. The scale
        // steps down geometrically from EvalMod's to the input's, so that every level's
        // diagonals are encoded at a scale of at least ~2^40.
        let q0 = ctx.moduli[0] as f64;
        let from = z.scale().log2();
        let to = out_scale.log2();
        let last = self.stc.len();
        for (i, level) in self.stc.iter().enumerate() {
            let factor = if i == 0 {
                q0 / (std::f64::consts::TAU * input_scale)
            } else {
                1.0
            };
            let target = if i + 1 == last {
                out_scale
            } else {
                (from + (to - from) * (i + 1) as f64 / last as f64).exp2()
            };
            z = level.apply(ctx, &z, &keys.galois, target, factor, 1)?;
        }
        // The last level was encoded to land on `out_scale`; what is left is f64 rounding
        // (~1e-16 relative), far inside the scale tolerance. Returning it bit for bit lets the
        // caller's bookkeeping treat the bootstrap as the identity.
        if !crate::ckks::ops::scales_match(z.scale, out_scale) {
            return Err(CkksError::ScaleMismatch {
                lhs: z.scale,
                rhs: out_scale,
            });
        }
        z.scale = out_scale;
        Ok(z)
    }

    /// Scale after CoeffToSlot level `i`: the working scale 2^cts_log_scale (the rescale noise
    /// is then negligible next to the coefficients), except after the last level, which divides
    /// by two primes to land on the scale of EvalMod's levels (the product of the primes its
    /// first product divides by), so that EvalMod's squarings keep the scale where it is.
    fn cts_target(&self, i: usize, w: &Ciphertext) -> f64 {
        if i + 1 == self.cts.len() {
            let below = w.level() - 2;
            (0..self.params.evalmod_primes)
                .map(|j| self.ctx.moduli[below - j] as f64)
                .product()
        } else {
            (self.params.cts_log_scale as f64).exp2()
        }
    }

    /// `±X^{N/2}` as a plaintext at scale 1: it multiplies every slot by ±i exactly (each
    /// evaluation point ζ^{5^j} raised to N/2 is i, since 5^j ≡ 1 mod 4).
    fn monomial_i(&self, level: usize, sign: f64) -> Plaintext {
        let mut coeffs = vec![0.0; self.ctx.n];
        coeffs[self.ctx.n / 2] = sign;
        self.ctx.plaintext_from_coeffs(&coeffs, level, 1.0)
    }

    /// Encapsulation under the sparse secret modulo q_0, the lift of the coefficients to the
    /// top of the chain, and the switch back to s. The result decrypts to `m + q_0·I` and is
    /// given the scale q_0, so that its slots read `(m + q_0·I)/q_0`.
    pub(crate) fn mod_raise(&self, ct: &Ciphertext, keys: &BootstrapKeys) -> Result<Ciphertext> {
        let (ctx, enc) = (&self.ctx, &self.enc);
        let c0 = ct.c[0].prefix(1);
        let c1 = ct.c[1].prefix(1);
        let (mut s0, s1) = enc.key_switch(&c1, &keys.to_sparse, 0);
        enc.poly_add_assign(&mut s0, &c0, &[0]);
        let top = ctx.max_level();
        let basis = ctx.basis_q(top);
        let q0 = ctx.moduli[0];
        let lift = |mut p: crate::ckks::ring::RnsPoly| {
            enc.intt(&mut p, &[0]);
            let centered: Vec<i64> = p
                .limb(0)
                .iter()
                .map(|&c| {
                    if c > q0 / 2 {
                        c as i64 - q0 as i64
                    } else {
                        c as i64
                    }
                })
                .collect();
            ctx.poly_from_signed(&centered, &basis)
        };
        let (mut r0, r1) = (lift(s0), lift(s1));
        let (u0, u1) = ctx.key_switch(&r1, &keys.from_sparse, top);
        ctx.poly_add_assign(&mut r0, &u0, &basis);
        Ok(Ciphertext {
            c: vec![r0, u1],
            level: top,
            scale: q0 as f64,
            ctx_id: ctx.id,
        })
    }
}

/// Precision of `got` against `want` in bits: `-log2` of the mean absolute error over the
/// slots, and `-log2` of the largest one (the convention of Lattigo's precision statistics).
pub fn precision_bits(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    let errs: Vec<f64> = got.iter().zip(want).map(|(g, w)| (g - w).norm()).collect();
    let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    let max = errs.iter().copied().fold(0.0, f64::max);
    (-mean.max(1e-300).log2(), -max.max(1e-300).log2())
}

#[cfg(test)]
mod tests;
