//! The server's refresh of a training round's state by bootstrapping.
//!
//! A program deeper than one parameter set runs in rounds (see `hel train`); with
//! `--refresh bootstrap` the state a round hands to the next (the weights, NAG's momentum)
//! never leaves the server. The compiler pins each such pair to one packing
//! ([`crate::schedule::TensorInput::refreshed_from`]): the output leaves as row-replicated
//! tiles of factor 1, clean, and the next round's input takes exactly those tiles. Here each
//! tile is bootstrapped (its slots repeat with period `w`, the grid's width, so a sparse-slot
//! bootstrap of `w` slots refreshes it, with one EvalMod), landing on the scale and dropped
//! to the level the next round's input ciphertext is expected at. Tiles are real, so two of
//! them share a bootstrap as the real and imaginary parts of one message.
//!
//! The round programs run under the bottom of the bootstrapping chain
//! ([`crate::ckks::bootstrap::BootstrapParams::program_params`]), so their ciphertexts move
//! to the bootstrapping context and back exactly ([`Context::adopt`]).

use crate::ckks::bootstrap::{BootstrapKeys, Bootstrapper};
use crate::ckks::{Ciphertext, Context};
use crate::schedule::{Schedule, ValueId};

use super::ExecError;

/// A round's state, refreshed for the next round.
pub struct Refreshed {
    /// The next round's refreshed input ciphertexts, in `ct_inputs` order.
    pub state: Vec<Ciphertext>,
    /// Bootstraps that took (two tiles share one where their scales agree).
    pub bootstraps: usize,
}

/// Bootstraps round outputs into the next round's state inputs.
pub struct Refresher<'a> {
    boot: &'a Bootstrapper,
    keys: &'a BootstrapKeys,
}

fn fail(e: impl std::fmt::Display) -> ExecError {
    ExecError::Refresh(e.to_string())
}

use crate::schedule::bootstrap::{
    leaving_tile, passes_through, refreshed_inputs, shares_bootstrap,
};

impl<'a> Refresher<'a> {
    /// A refresher with the bootstrapping circuit and the client's bootstrapping keys.
    pub fn new(boot: &'a Bootstrapper, keys: &'a BootstrapKeys) -> Self {
        Refresher { boot, keys }
    }

    /// Checks that `schedule` runs under a context `ctx` that shares the bootstrapping chain's
    /// bottom, and that its grid's rows repeat with a period the bootstrap refreshes.
    fn check(&self, ctx: &Context, schedule: &Schedule) -> Result<(), ExecError> {
        let big = self.boot.context();
        if !big.shares_chain(ctx, ctx.max_level()) {
            return Err(fail(
                "the round program's parameters are not the bottom of the bootstrapping chain",
            ));
        }
        let w = schedule.unit.w;
        if self.boot.slots() < w || !self.boot.slots().is_multiple_of(w) {
            return Err(fail(format!(
                "the bootstrap refreshes {} slots, the state's tiles repeat every {w}",
                self.boot.slots()
            )));
        }
        Ok(())
    }

    /// The first round's state: zeros (the rounds start their state at `zeros(n)`), as
    /// noiseless ciphertexts at the level and scale each refreshed input is expected at.
    pub fn initial_state(ctx: &Context, next: &Schedule) -> Result<Vec<Ciphertext>, ExecError> {
        refreshed_inputs(next)
            .into_iter()
            .map(|(i, ..)| {
                let want = &next.ct_inputs[i];
                let zeros = vec![0.0; ctx.slots()];
                let pt = ctx
                    .encode(&zeros, want.level as usize, want.scale)
                    .map_err(fail)?;
                ctx.trivial(&pt).map_err(fail)
            })
            .collect()
    }

    /// The state outputs of `prev` (`outputs`, as the executor returned them under
    /// `prev_ctx`) bootstrapped into the refreshed inputs of `next` (which runs under
    /// `next_ctx`), in the order [`super::CkksEvaluator::new_seeded_with_state`] takes them.
    pub fn refresh(
        &self,
        prev_ctx: &Context,
        prev: &Schedule,
        outputs: &[(ValueId, Ciphertext)],
        next_ctx: &Context,
        next: &Schedule,
    ) -> Result<Refreshed, ExecError> {
        self.check(prev_ctx, prev)?;
        self.check(next_ctx, next)?;
        if prev.unit != next.unit {
            return Err(fail(format!(
                "the rounds lay their state out on different grids ({}x{} and {}x{})",
                prev.unit.h, prev.unit.w, next.unit.h, next.unit.w
            )));
        }
        // Each refreshed input with the output ciphertext it is the refresh of.
        let wanted = refreshed_inputs(next)
            .into_iter()
            .map(|(i, from, layout)| {
                let want = &next.ct_inputs[i];
                let tile = leaving_tile(prev, &from, layout)
                    .filter(|t| t.factor == 1.0 && want.pack.factor == 1.0)
                    .ok_or_else(|| {
                        fail(format!(
                            "the previous round has no output `{from}` in the packing of the \
                             next round's input"
                        ))
                    })?;
                let ct = outputs
                    .iter()
                    .find(|(v, _)| *v == tile.value)
                    .map(|(_, c)| c)
                    .ok_or_else(|| fail(format!("output `{from}` was not computed")))?;
                Ok((ct, want.level as usize, want.scale))
            })
            .collect::<Result<Vec<_>, ExecError>>()?;
        // A tile the round left where the next round wants it (a value it does not change)
        // only drops primes; the others are bootstrapped from the bottom of the chain.
        let mut state: Vec<Option<Ciphertext>> = Vec::with_capacity(wanted.len());
        let mut jobs = Vec::new();
        for (j, &(ct, level, scale)) in wanted.iter().enumerate() {
            if passes_through((ct.level(), ct.scale()), (level, scale)) {
                let placed = prev_ctx.drop_level(ct, level).map_err(fail)?;
                state.push(Some(next_ctx.adopt(&placed, prev_ctx).map_err(fail)?));
            } else {
                let bottom = prev_ctx.drop_level(ct, 0).map_err(fail)?;
                jobs.push((j, bottom, level, scale));
                state.push(None);
            }
        }
        let top = self.boot.output_level();
        let mut fresh = Vec::with_capacity(jobs.len());
        let mut bootstraps = 0;
        let mut k = 0;
        while k < jobs.len() {
            let pair = jobs.get(k + 1).filter(|b| {
                shares_bootstrap((jobs[k].1.scale(), jobs[k].3), (b.1.scale(), b.2, b.3), top)
            });
            match pair {
                Some(b) => {
                    let (x, y) = self.refresh_pair(prev_ctx, &jobs[k].1, &b.1, (jobs[k].3, b.3))?;
                    fresh.push((jobs[k].0, x, jobs[k].2));
                    fresh.push((b.0, y, b.2));
                    bootstraps += 1;
                    k += 2;
                }
                None => {
                    let x = self.lift_and_bootstrap(prev_ctx, &jobs[k].1, jobs[k].3)?;
                    fresh.push((jobs[k].0, x, jobs[k].2));
                    bootstraps += 1;
                    k += 1;
                }
            }
        }
        let big = self.boot.context();
        for (j, ct, level) in fresh {
            let placed = big.drop_level(&ct, level).map_err(fail)?;
            state[j] = Some(next_ctx.adopt(&placed, big).map_err(fail)?);
        }
        let state = state
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| fail("a state input was not refreshed"))?;
        Ok(Refreshed { state, bootstraps })
    }

    /// `ct` (of the program context `ctx`, at level 0) bootstrapped in the chain's context,
    /// landing on exactly `scale` at the bootstrap's output level.
    fn lift_and_bootstrap(
        &self,
        ctx: &Context,
        ct: &Ciphertext,
        scale: f64,
    ) -> Result<Ciphertext, ExecError> {
        let lifted = self.boot.context().adopt(ct, ctx).map_err(fail)?;
        self.boot
            .bootstrap_to(&lifted, self.keys, scale)
            .map_err(fail)
    }

    /// One ciphertext of the program context `ctx` (at any level) refreshed: dropped to
    /// level 0, bootstrapped onto exactly `scale`, dropped to `level` and moved back into
    /// `ctx`. A schedule's [`crate::schedule::Instr::Bootstrap`].
    pub fn refresh_one(
        &self,
        ctx: &Context,
        ct: &Ciphertext,
        level: usize,
        scale: f64,
    ) -> Result<Ciphertext, ExecError> {
        let bottom = ctx.drop_level(ct, 0).map_err(fail)?;
        let fresh = self.lift_and_bootstrap(ctx, &bottom, scale)?;
        let big = self.boot.context();
        let placed = big.drop_level(&fresh, level).map_err(fail)?;
        ctx.adopt(&placed, big).map_err(fail)
    }

    /// Two ciphertexts of the program context `ctx` (at any levels, one scale) refreshed by
    /// one bootstrap as the real and imaginary parts of one message, each landing on its own
    /// `(level, scale)` and moved back into `ctx`. A schedule's
    /// [`crate::schedule::Instr::Bootstrap`] with a second tile.
    pub fn refresh_two(
        &self,
        ctx: &Context,
        (a, level_a, scale_a): (&Ciphertext, usize, f64),
        (b, level_b, scale_b): (&Ciphertext, usize, f64),
    ) -> Result<(Ciphertext, Ciphertext), ExecError> {
        let a0 = ctx.drop_level(a, 0).map_err(fail)?;
        let b0 = ctx.drop_level(b, 0).map_err(fail)?;
        let (x, y) = self.refresh_pair(ctx, &a0, &b0, (scale_a, scale_b))?;
        let big = self.boot.context();
        let place = |ct: &Ciphertext, level: usize| -> Result<Ciphertext, ExecError> {
            let placed = big.drop_level(ct, level).map_err(fail)?;
            ctx.adopt(&placed, big).map_err(fail)
        };
        Ok((place(&x, level_a)?, place(&y, level_b)?))
    }

    /// The level a bootstrap leaves its output at (the chain's program levels).
    pub fn output_level(&self) -> usize {
        self.boot.output_level()
    }

    /// Checks that the schedule's bootstrapping chain is this refresher's and that the
    /// context `ctx` it runs under is the chain's bottom.
    pub fn check_schedule(&self, ctx: &Context, schedule: &Schedule) -> Result<(), ExecError> {
        if schedule.bootstrap.as_ref() != Some(self.boot.params()) {
            return Err(fail(
                "the schedule bootstraps with another chain than the bootstrapping keys'",
            ));
        }
        self.check(ctx, schedule)
    }

    /// Bootstraps the real tiles `a` and `b` (level 0, one scale) as the one message
    /// `a + i·b` and separates them again: `2a = z + conj(z)`, `2b = -i·(z - conj(z))`
    /// (multiplying by ±i is multiplying by the monomial ±X^{N/2}, exact and free). The
    /// bootstrap lands on half of `a`'s target scale, so relabelling `2a` with that scale is
    /// exact; `2b` gets the same unless its target differs, when a product by 1/2 encoded at
    /// the scale that makes the rescale land on it does (a level below the output).
    fn refresh_pair(
        &self,
        ctx: &Context,
        a: &Ciphertext,
        b: &Ciphertext,
        (scale_a, scale_b): (f64, f64),
    ) -> Result<(Ciphertext, Ciphertext), ExecError> {
        let big = self.boot.context();
        let ib = ctx
            .multiply_plain(b, &monomial_i(ctx, 0, 1.0))
            .map_err(fail)?;
        let z = ctx.add(a, &ib).map_err(fail)?;
        let lifted = big.adopt(&z, ctx).map_err(fail)?;
        let half = scale_a / 2.0;
        let z = self
            .boot
            .bootstrap_to(&lifted, self.keys, half)
            .map_err(fail)?;
        let conj = big.conjugate(&z, self.keys.galois_keys()).map_err(fail)?;
        let mut re = big.add(&z, &conj).map_err(fail)?;
        let diff = big.sub(&z, &conj).map_err(fail)?;
        let mut im = big
            .multiply_plain(&diff, &monomial_i(big, diff.level(), -1.0))
            .map_err(fail)?;
        re.scale = scale_a;
        if scales_equal(scale_a, scale_b) {
            im.scale = scale_a;
        } else {
            let q = big.q_primes()[im.level()] as f64;
            let product = big
                .multiply_scalar(&im, 0.5, scale_b * q / half)
                .map_err(fail)?;
            im = big.rescale(&product).map_err(fail)?;
            if !scales_equal(im.scale, scale_b) {
                return Err(fail("a refreshed tile missed its scale"));
            }
            im.scale = scale_b;
        }
        Ok((re, im))
    }
}

/// `sign·X^{N/2}` as a plaintext of scale 1 at `level`: a product by it multiplies the slots
/// by `sign·i` and leaves the scale alone.
fn monomial_i(ctx: &Context, level: usize, sign: f64) -> crate::ckks::Plaintext {
    let mut coeffs = vec![0.0; ctx.n()];
    coeffs[ctx.n() / 2] = sign;
    ctx.plaintext_from_coeffs(&coeffs, level, 1.0)
}

/// Scales equal up to the last bits of rounding (the executor's tolerance).
fn scales_equal(a: f64, b: f64) -> bool {
    super::scales_match(a, b)
}
