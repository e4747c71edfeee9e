//! The server's refresh of a training round's state by bootstrapping.
//!
//! A program deeper than one parameter set runs in rounds (see `hel train`); with
//! `--refresh bootstrap` the state a round hands to the next (the weights, NAG's momentum)
//! never leaves the server. The compiler pins each such pair to one packing
//! ([`crate::schedule::TensorInput::refreshed_from`]): the output leaves as row-replicated
//! tiles of factor 1, clean, and the next round's input takes exactly those tiles. Here each
//! tile is bootstrapped (its slots repeat with period `w`, the grid's width, so a sparse-slot
//! bootstrap of `w` slots refreshes it, with one EvalMod), landing on the scale and dropped
//! to the level the next round's input ciphertext is expected at.
//!
//! The round programs run under the bottom of the bootstrapping chain
//! ([`crate::ckks::bootstrap::BootstrapParams::program_params`]), so their ciphertexts move
//! to the bootstrapping context and back exactly ([`Context::adopt`]).

use crate::ckks::bootstrap::{BootstrapKeys, Bootstrapper};
use crate::ckks::{Ciphertext, Context};
use crate::schedule::{Layout, Schedule, ValueId};

use super::ExecError;

/// Bootstraps round outputs into the next round's state inputs.
pub struct Refresher<'a> {
    boot: &'a Bootstrapper,
    keys: &'a BootstrapKeys,
}

fn fail(e: impl std::fmt::Display) -> ExecError {
    ExecError::Refresh(e.to_string())
}

/// The refreshed input ciphertexts of `next`, in order: their `ct_inputs` index, the name of
/// the output they come from and the tile's layout.
fn refreshed_inputs(next: &Schedule) -> Vec<(usize, String, Layout)> {
    (0..next.ct_inputs.len())
        .filter(|&i| next.is_refreshed_ct(i))
        .filter_map(|i| {
            let ct = &next.ct_inputs[i];
            let crate::schedule::Source::Input { input, .. } = ct.pack.source else {
                return None;
            };
            let from = next.inputs.get(input as usize)?.refreshed_from.clone()?;
            Some((i, from, ct.pack.layout))
        })
        .collect()
}

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
    ) -> Result<Vec<Ciphertext>, ExecError> {
        self.check(prev_ctx, prev)?;
        self.check(next_ctx, next)?;
        if prev.unit != next.unit {
            return Err(fail(format!(
                "the rounds lay their state out on different grids ({}x{} and {}x{})",
                prev.unit.h, prev.unit.w, next.unit.h, next.unit.w
            )));
        }
        let big = self.boot.context();
        refreshed_inputs(next)
            .into_iter()
            .map(|(i, from, layout)| {
                let want = &next.ct_inputs[i];
                let tile = prev
                    .outputs
                    .iter()
                    .find(|o| o.name == from)
                    .and_then(|o| o.tiles.iter().find(|t| t.layout == layout))
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
                let bottom = prev_ctx.drop_level(ct, 0).map_err(fail)?;
                let lifted = big.adopt(&bottom, prev_ctx).map_err(fail)?;
                let fresh = self
                    .boot
                    .bootstrap_to(&lifted, self.keys, want.scale)
                    .map_err(fail)?;
                let placed = big.drop_level(&fresh, want.level as usize).map_err(fail)?;
                next_ctx.adopt(&placed, big).map_err(fail)
            })
            .collect()
    }
}
