//! The scale the rounds start their bootstraps from ([`BootstrapParams::input_drop`]):
//! EvalMod's sine distorts a bootstrapped message's coefficients by the cube of their size
//! (`hel_schedule::distortion`), which dominates the bootstrap's error for states whose
//! coefficients are large (a replicated scalar, a vector with a large mean). Running the
//! rounds' bottom level `d` bits below the scale divides that distortion by `4^d` and
//! multiplies the bootstrap's noise by `2^d`; the compiler tries it where the sine dominates.

use hel_schedule::{BootstrapParams, Instr, Schedule};

use super::chain::Bootstrapped;
use crate::diagnostics::Diagnostic;

/// `b`, or the rounds compiled again by `compile` with the chain `rule` dropped by the bits
/// [`input_drop_for`] suggests, where that gives a smaller worst output error relative to
/// its range (the reason says so).
pub(super) fn below_the_scale(
    b: Bootstrapped,
    rule: &BootstrapParams,
    compile: impl FnOnce(&BootstrapParams) -> Result<Bootstrapped, Diagnostic>,
) -> Result<Bootstrapped, Diagnostic> {
    let Some(drop) = input_drop_for(&b.schedule) else {
        return Ok(b);
    };
    match compile(&rule.with_input_drop(drop)) {
        Ok(mut d) if worst_relative_bound(&d.schedule) < worst_relative_bound(&b.schedule) => {
            d.reason = format!(
                "{}; the rounds run {drop} bits below the scale at their bottom, where the \
                 state is bootstrapped from: EvalMod's sine distorts the state's large \
                 coefficients by a quarter per bit, the bootstrap's noise doubles (worst \
                 output error {:.1e} of its range, {:.1e} at the full scale)",
                d.reason,
                worst_relative_bound(&d.schedule),
                worst_relative_bound(&b.schedule)
            );
            Ok(d)
        }
        _ => Ok(b),
    }
}

/// The bits below the scale the rounds of `s` should start their bootstraps from
/// ([`BootstrapParams::input_drop`]), where EvalMod's sine dominates a bootstrap's error: its
/// own bound (above its operands') over the chain's noise, `r`, falls as `4^-d` and the noise
/// grows as `2^d`, so they meet near `d = log2(r)/3`. `None` where the noise dominates
/// everywhere (the flagships' weights: coefficients far below 1), or the chain drops already.
fn input_drop_for(s: &Schedule) -> Option<u32> {
    let chain = s.bootstrap.as_ref().filter(|c| c.input_drop == 0)?;
    let noise = 6.0 * chain.error_sd();
    let bound = |v: u32| s.nodes.get(v as usize).map_or(0.0, |n| n.bound);
    let ratio = s
        .nodes
        .iter()
        .filter_map(|n| match n.instr {
            Instr::Bootstrap { a, with, .. } => {
                Some(n.bound - bound(a).max(with.map_or(0.0, bound)))
            }
            Instr::BootstrapPaired { b, .. } => Some(n.bound - bound(b)),
            _ => None,
        })
        .filter(|own| own.is_finite())
        .fold(0.0f64, f64::max)
        / noise;
    // Beyond 8x the noise: a bit of drop at least pays.
    (ratio > 8.0).then(|| {
        ((ratio.log2() / 3.0).round() as u32).clamp(1, hel_schedule::bootstrap::MAX_INPUT_DROP - 2)
    })
}

/// The largest output bound of `s` relative to its output's range (infinite if a bound is).
fn worst_relative_bound(s: &Schedule) -> f64 {
    s.outputs
        .iter()
        .map(|o| {
            if o.range > 0.0 {
                o.bound / o.range
            } else {
                o.bound
            }
        })
        .fold(
            0.0,
            |w: f64, x| if x.is_nan() { f64::INFINITY } else { w.max(x) },
        )
}
