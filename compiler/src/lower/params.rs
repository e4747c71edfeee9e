//! Parameter selection: the smallest ring that holds the circuit's depth, its values and its
//! precision target at 128-bit security.
//!
//! Rule: the scale is `2^log_scale` with `log_scale = precision + 20` (at least 30, at most
//! [`MAX_LOG_SCALE`]): CKKS loses roughly `log2(N) + 5` bits to encoding, encryption and rescaling noise, so 20 bits
//! above the target leave the requested precision after a deep circuit at N ≤ 2^16. Each level
//! is one prime of `log_scale` bits, or two primes of half that above 2^50 (primes stay below
//! 2^50). The base of the chain, `q_0` (several primes when it is wider than 50 bits; never
//! rescaled away), has `log_scale + headroom` bits, where the headroom holds the largest value
//! that lives at the bottom (the lowering sets it from the range analysis; at least
//! [`MIN_HEADROOM_BITS`] where that needs no second base prime, never less than
//! [`RULE_HEADROOM_BITS`]). Special primes are as wide as the largest key-switching digit; N is the
//! smallest power of two (2^13 .. 2^16) whose HE-standard bound on log2(PQ) admits the chain.

use hel_schedule::params::max_log_qp_128;
use hel_schedule::CkksParams;

use crate::diagnostics::Code;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ParamRequest {
    /// Target bits of precision of the outputs (`--precision`).
    pub precision_bits: u32,
    /// Parameters given explicitly (`--params`), validated instead of chosen.
    pub forced: Option<CkksParams>,
    /// With `forced`: keep its data primes up to the depth the circuit needs, but choose the
    /// special primes and digits for those levels ([`CkksParams::with_largest_digits`])
    /// instead of keeping the given ones. The rounds on a bootstrapping chain's bottom set it:
    /// the bottom has levels to spare, and with its own special modulus (13 primes for 15 data
    /// primes at 2^8 slots) every key switch of a round four levels deep lifted its 5 primes
    /// to 18. The keys then belong to the round's parameters, not to the chain's bottom.
    pub fit_special_primes: bool,
    /// Smallest ring degree to consider (more slots can mean fewer ciphertexts).
    pub min_log_n: u32,
    /// Largest ring degree to consider (`--max-log-n`): a circuit that needs more is refused
    /// as too deep, e.g. so that `hel train` splits it into rounds of smaller, faster circuits.
    pub max_log_n: u32,
    /// Bits the base of the chain must hold above the scale: `log2` of the largest magnitude
    /// at the lowest level plus margin (set by the lowering from the range analysis). The
    /// selection gives at least [`MIN_HEADROOM_BITS`] where that needs no second base prime.
    pub headroom_bits: u32,
    /// Bits of scale above the rule's `precision + 20`: the lowering raises the scale by a
    /// small predicted precision deficit when the ring stays the same.
    pub extra_scale_bits: u32,
    /// Whether the lowering may raise the scale for the precision target. `hel train` does
    /// not: its rounds must keep one parameter set to share one key set, and the client
    /// checks the precision on its own data.
    pub raise_scale: bool,
}

/// The headroom of the chain's base above the scale where it fits one prime: values up to
/// ±2^9 at the lowest level (the flagship circuits' outputs need fewer bits).
pub const MIN_HEADROOM_BITS: u32 = 10;

/// The least headroom of the base above the scale, whatever the values need: the schedule's
/// rules keep a bit between a value of magnitude 1 and the modulus at every level
/// (`hel_schedule::rules::check_fits`), and a product of two values at level 1 has twice the
/// scale over `q_0 · q_1`. Outputs far below 1 needed no headroom of their own, so at a scale
/// of 2^49 or more (`--precision 29` and up, no room left in one 50-bit base prime) the base
/// was the scale itself and the schedule broke that rule (an internal error).
pub const RULE_HEADROOM_BITS: u32 = 2;

/// Bits of the scale above the precision target (the noise of a deep circuit at N ≤ 2^16).
pub const NOISE_MARGIN_BITS: u32 = 20;

/// The largest scale: products of two values at 2^60 reach 2^120, the largest scale the
/// runtime's encoder and ciphertext format accept.
pub const MAX_LOG_SCALE: u32 = 60;

/// Largest prime of a level: above this scale a level takes two primes.
const MAX_LEVEL_PRIME_BITS: u32 = hel_schedule::primes::MAX_PRIME_BITS;

impl Default for ParamRequest {
    fn default() -> Self {
        ParamRequest {
            precision_bits: 20,
            forced: None,
            fit_special_primes: false,
            min_log_n: 13,
            max_log_n: 16,
            headroom_bits: 0,
            extra_scale_bits: 0,
            raise_scale: true,
        }
    }
}

/// The chosen parameters and why.
#[derive(Clone, Debug)]
pub struct ParamChoice {
    pub params: CkksParams,
    pub depth: u32,
    /// Primes in the chain's base (levels below `base_primes - 1` are never reached).
    pub base_primes: usize,
    /// Primes per level: a rescale divides by this many primes.
    pub group: usize,
    /// Human-readable explanation (why this N, the bit budget).
    pub explanation: String,
    /// Where the outputs' predicted precision falls short of `--precision`: which output,
    /// by how much (also at the end of the explanation).
    pub shortfall: Option<String>,
}

/// Why no parameters were chosen: the circuit is too deep for the 128-bit budget, or the
/// parameters the user forced do not fit it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub code: Code,
    pub message: String,
}

/// Chooses parameters for a circuit of `depth` levels.
pub fn select(depth: u32, req: &ParamRequest, _slots: usize) -> Result<ParamChoice, ParamError> {
    if let Some(p) = &req.forced {
        let forced = |message: String| ParamError {
            code: Code::Params,
            message,
        };
        // Only the rounds on a bootstrapping chain fit the special primes; the user's own
        // parameters come from `--params`.
        let given = if req.fit_special_primes {
            "the bootstrapping chain's bottom"
        } else {
            "--params"
        };
        p.validate().map_err(|e| forced(format!("{given}: {e}")))?;
        let have = p.q_bits.len().saturating_sub(1) as u32;
        if have < depth {
            return Err(forced(format!(
                "{given}: the chain has {have} levels but the circuit needs {depth}"
            )));
        }
        let explanation = format!(
            "parameters given explicitly: N = 2^{}, log2(PQ) = {}, {} levels for depth {depth}",
            p.log_n,
            p.log_qp(),
            have
        );
        // Only as many levels as needed: extra primes would only slow every operation down.
        let mut params = p.clone();
        params.q_bits.truncate(depth as usize + 1);
        if req.fit_special_primes {
            params = CkksParams::with_largest_digits(
                params.log_n,
                params.q_bits,
                params.log_scale,
                params.security,
            )
            .map_err(|e| forced(format!("the special primes for {depth} levels: {e}")))?;
        }
        return Ok(ParamChoice {
            params,
            depth,
            base_primes: 1,
            group: 1,
            explanation,
            shortfall: None,
        });
    }
    let log_scale = (req.precision_bits + NOISE_MARGIN_BITS + req.extra_scale_bits).max(30);
    if log_scale > MAX_LOG_SCALE {
        return Err(ParamError {
            code: Code::Params,
            message: format!(
                "a precision of {} bits needs a scale of 2^{log_scale}, above the largest \
                 the runtime supports (2^{MAX_LOG_SCALE})",
                req.precision_bits
            ),
        });
    }
    let group = log_scale.div_ceil(MAX_LEVEL_PRIME_BITS);
    // The legacy 10 bits where they cost no second base prime; what the values need always;
    // and never less than the rules' own room above the scale.
    let headroom = req
        .headroom_bits
        .max(MIN_HEADROOM_BITS.min(MAX_LEVEL_PRIME_BITS.saturating_sub(log_scale)))
        .max(RULE_HEADROOM_BITS);
    let base_bits = log_scale + headroom;
    let too_wide = base_bits > max_log_qp_128(req.max_log_n.clamp(13, 16)).unwrap_or(0);
    let max_log_n = req.max_log_n.clamp(13, 16);
    for log_n in (req.min_log_n.max(13)..=max_log_n).filter(|_| !too_wide) {
        if let Ok(params) =
            CkksParams::for_chain(log_n, depth as usize, log_scale, base_bits, group)
        {
            let budget = max_log_qp_128(log_n).unwrap_or(0);
            let base_primes = params.q_bits.len() - depth as usize * group as usize;
            let base = &params.q_bits[..base_primes];
            // A circuit of depth 0 has no level primes to show.
            let levels = match params.q_bits.get(base_primes..base_primes + group as usize) {
                Some(primes) if group > 1 => {
                    format!("{depth} x {log_scale} (primes {primes:?} per level)")
                }
                _ => format!("{depth} x {log_scale}"),
            };
            let explanation = format!(
                "depth {depth} at scale 2^{log_scale} (precision target {} bits + {} bits of \
                 noise margin{}) needs log2(PQ) = {} bits: q0 {}{} + {levels} + special {:?} \
                 (dnum {}); N = 2^{log_n} is the smallest ring whose 128-bit bound ({budget} bits) \
                 admits it{}",
                req.precision_bits,
                log_scale - req.precision_bits - req.extra_scale_bits,
                if req.extra_scale_bits > 0 {
                    format!(
                        " + {} bits because the outputs' predicted precision fell short",
                        req.extra_scale_bits
                    )
                } else {
                    String::new()
                },
                params.log_qp(),
                base.iter().sum::<u32>(),
                if base.len() > 1 {
                    format!(
                        " (primes {base:?}, values up to 2^{} at the bottom)",
                        headroom.saturating_sub(1)
                    )
                } else if headroom > MIN_HEADROOM_BITS {
                    format!(" (values up to 2^{} at the bottom)", headroom - 1)
                } else {
                    String::new()
                },
                params.p_bits,
                params.dnum,
                if log_n > req.min_log_n.max(13) {
                    format!(
                        " (2^{} allows {} bits)",
                        log_n - 1,
                        max_log_qp_128(log_n - 1).unwrap_or(0)
                    )
                } else {
                    String::new()
                }
            );
            return Ok(ParamChoice {
                params,
                depth,
                base_primes,
                group: group as usize,
                explanation,
                shortfall: None,
            });
        }
    }
    // Too large: for the values (if the chain fits with the default headroom), else for the
    // depth at this precision.
    let plain_headroom = MIN_HEADROOM_BITS.min(MAX_LEVEL_PRIME_BITS.saturating_sub(log_scale));
    let plain = CkksParams::for_chain(
        max_log_n,
        depth as usize,
        log_scale,
        log_scale + plain_headroom,
        group,
    );
    if plain.is_ok() && headroom > plain_headroom {
        return Err(ParamError {
            code: Code::Range,
            message: format!(
                "values up to 2^{} at the lowest level need a base of {base_bits} bits below \
                 depth {depth} at scale 2^{log_scale}: more than the 128-bit security bound \
                 holds even at N = 2^{max_log_n} ({} bits)",
                headroom - 1,
                max_log_qp_128(max_log_n).unwrap_or(0)
            ),
        });
    }
    Err(ParamError {
        code: Code::TooDeep,
        message: format!(
            "depth {depth} at scale 2^{log_scale} does not fit the 128-bit security bound even at \
             N = 2^{max_log_n} ({} bits); use fewer iterations per circuit (or a lower \
             --precision{})",
            max_log_qp_128(max_log_n).unwrap_or(0),
            if max_log_n < 16 {
                ", or a larger --max-log-n"
            } else {
                ""
            }
        ),
    })
}
