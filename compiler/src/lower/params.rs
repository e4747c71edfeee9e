//! Parameter selection: the smallest ring that holds the circuit's depth at 128-bit security.
//!
//! Rule: the scale is `2^log_scale` with `log_scale = precision + 20` (at least 30, at most
//! 49): CKKS loses roughly `log2(N) + 5` bits to encoding, encryption and rescaling noise, so
//! 20 bits above the target leave the requested precision after a deep circuit at N ≤ 2^16.
//! The chain is `q_0` (log_scale + 10 bits, headroom for outputs up to ±2^9), `depth` primes of
//! `log_scale` bits and special primes as wide as the largest key-switching digit; N is the
//! smallest power of two (2^13 .. 2^16) whose HE-standard bound on log2(PQ) admits that chain.

use hel_schedule::params::{max_log_qp_128, Security};
use hel_schedule::CkksParams;

use crate::diagnostics::Code;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ParamRequest {
    /// Target bits of precision of the outputs (`--precision`).
    pub precision_bits: u32,
    /// Parameters given explicitly (`--params`), validated instead of chosen.
    pub forced: Option<CkksParams>,
    /// Smallest ring degree to consider (more slots can mean fewer ciphertexts).
    pub min_log_n: u32,
    /// Largest ring degree to consider (`--max-log-n`): a circuit that needs more is refused
    /// as too deep, e.g. so that `hel train` splits it into rounds of smaller, faster circuits.
    pub max_log_n: u32,
}

impl Default for ParamRequest {
    fn default() -> Self {
        ParamRequest {
            precision_bits: 20,
            forced: None,
            min_log_n: 13,
            max_log_n: 16,
        }
    }
}

/// The chosen parameters and why.
#[derive(Clone, Debug)]
pub struct ParamChoice {
    pub params: CkksParams,
    pub depth: u32,
    /// Human-readable explanation (why this N, the bit budget).
    pub explanation: String,
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
        p.validate().map_err(|e| forced(format!("--params: {e}")))?;
        let have = p.q_bits.len().saturating_sub(1) as u32;
        if have < depth {
            return Err(forced(format!(
                "--params: the chain has {have} levels but the circuit needs {depth}"
            )));
        }
        let mut explanation = format!(
            "parameters given explicitly: N = 2^{}, log2(PQ) = {}, {} levels for depth {depth}",
            p.log_n,
            p.log_qp(),
            have
        );
        if p.security == Security::InsecureForTestingOnly {
            explanation.push_str(" — WARNING: security check disabled (insecure, testing only)");
        }
        // Only as many levels as needed: extra primes would only slow every operation down.
        let mut params = p.clone();
        params.q_bits.truncate(depth as usize + 1);
        return Ok(ParamChoice {
            params,
            depth,
            explanation,
        });
    }
    let log_scale = (req.precision_bits + 20).clamp(30, 49);
    let max_log_n = req.max_log_n.clamp(13, 16);
    for log_n in req.min_log_n.max(13)..=max_log_n {
        if let Ok(params) = CkksParams::for_depth(log_n, depth as usize, log_scale) {
            let budget = max_log_qp_128(log_n).unwrap_or(0);
            let explanation = format!(
                "depth {depth} at scale 2^{log_scale} (precision target {} bits + 20 bits of noise \
                 margin) needs log2(PQ) = {} bits: q0 {} + {depth} x {log_scale} + special {:?} \
                 (dnum {}); N = 2^{log_n} is the smallest ring whose 128-bit bound ({budget} bits) \
                 admits it{}",
                req.precision_bits,
                params.log_qp(),
                params.q_bits.first().copied().unwrap_or(0),
                params.p_bits,
                params.dnum,
                if log_n > req.min_log_n.max(13) {
                    format!(" (2^{} allows {} bits)", log_n - 1, max_log_qp_128(log_n - 1).unwrap_or(0))
                } else {
                    String::new()
                }
            );
            return Ok(ParamChoice {
                params,
                depth,
                explanation,
            });
        }
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
