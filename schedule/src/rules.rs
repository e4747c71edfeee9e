//! The CKKS bookkeeping rules: which level, scale and degree each instruction produces from its
//! operands, and what it refuses. The compiler's schedule checker proves a schedule against
//! them before it is written, and the runtime's dry-run (cost) evaluator applies them again to a
//! schedule it loads; both call [`result`], so the two can never disagree. The real engine
//! enforces the same conditions on actual ciphertexts.
//!
//! The module also holds the constants both sides' error analyses share: the scale tolerance
//! and the noise distribution.

use std::fmt;

use crate::program::{CtInput, Instr, Node};

/// Standard deviation of the rounded Gaussian error of fresh encryptions and key switching
/// keys (the HomomorphicEncryption.org standard's σ).
pub const NOISE_SIGMA: f64 = 3.2;

/// The Gaussian sampler's tail cut, in standard deviations: |e| ≤ 6σ.
pub const NOISE_TAIL_SIGMAS: f64 = 6.0;

/// Relative tolerance for two scales to count as equal. Scales are products and quotients of
/// primes and powers of two computed in f64 along different paths, so they agree to about
/// 1e-15 relative; anything beyond 1e-9 is a real mismatch.
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// Whether two scales are equal within [`SCALE_TOLERANCE`].
pub fn scales_match(a: f64, b: f64) -> bool {
    (a - b).abs() <= SCALE_TOLERANCE * a.abs().max(b.abs())
}

/// What the bookkeeping knows of a ciphertext: where it is in the modulus chain, its exact
/// scale and its degree (1, or 2 after a tensor product until it is relinearized).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CtState {
    pub level: u32,
    pub scale: f64,
    pub degree: u8,
}

impl CtState {
    /// The state a schedule node records for its result.
    pub fn recorded(node: &Node) -> Self {
        CtState {
            level: node.level,
            scale: node.scale,
            degree: node.degree,
        }
    }
}

/// Why an instruction cannot be applied to its operands (or a node records the wrong result).
#[derive(Clone, Debug, PartialEq)]
pub enum RuleError {
    /// The instruction has fewer operands than it reads.
    MissingOperand(usize),
    /// `Input` names a ciphertext input the schedule does not have.
    MissingInput(u32),
    /// Two operands that must share a level do not.
    LevelMismatch(u32, u32),
    /// Two operands that must share a scale do not.
    ScaleMismatch(f64, f64),
    /// An operand has the wrong degree.
    Degree { found: u8, needed: u8 },
    /// A rescale at level 0 (no prime left to divide by).
    RescaleAtBottom,
    /// A mod-down to a level above the operand's.
    ModDownUp { from: u32, to: u32 },
    /// The node records a different result than its instruction computes.
    Recorded {
        computed: CtState,
        recorded: CtState,
    },
    /// The scale leaves no room for the value below the modulus at its level.
    ScaleTooLarge { scale: f64, log_q: f64, level: u32 },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::MissingOperand(i) => write!(f, "operand {i} is missing"),
            RuleError::MissingInput(i) => write!(f, "input ciphertext {i} does not exist"),
            RuleError::LevelMismatch(a, b) => write!(f, "operands at levels {a} and {b}"),
            RuleError::ScaleMismatch(a, b) => write!(
                f,
                "operand scales 2^{:.6} and 2^{:.6} differ",
                a.log2(),
                b.log2()
            ),
            RuleError::Degree { found, needed } => {
                write!(f, "operand has degree {found}, needs {needed}")
            }
            RuleError::RescaleAtBottom => write!(f, "cannot rescale at level 0"),
            RuleError::ModDownUp { from, to } => {
                write!(f, "cannot go up from level {from} to {to}")
            }
            RuleError::Recorded { computed, recorded } => write!(
                f,
                "the operands give level {}, degree {}, scale 2^{:.6}; the schedule records \
                 level {}, degree {}, scale 2^{:.6}",
                computed.level,
                computed.degree,
                computed.scale.log2(),
                recorded.level,
                recorded.degree,
                recorded.scale.log2()
            ),
            RuleError::ScaleTooLarge {
                scale,
                log_q,
                level,
            } => write!(
                f,
                "scale 2^{:.1} does not fit the modulus 2^{log_q:.1} at level {level}",
                scale.log2()
            ),
        }
    }
}

impl std::error::Error for RuleError {}

/// The result of `instr` applied to `args` (its operands' states, in [`Instr::operands`]
/// order). `inputs` are the schedule's ciphertext inputs (for `Input`), `q` its data primes
/// (for `Rescale`).
pub fn result(
    instr: &Instr,
    args: &[CtState],
    inputs: &[CtInput],
    q: &[u64],
) -> Result<CtState, RuleError> {
    let arg = |i: usize| args.get(i).copied().ok_or(RuleError::MissingOperand(i));
    let degree = |a: CtState, needed: u8| {
        if a.degree == needed {
            Ok(())
        } else {
            Err(RuleError::Degree {
                found: a.degree,
                needed,
            })
        }
    };
    let same_level = |a: CtState, b: CtState| {
        if a.level == b.level {
            Ok(())
        } else {
            Err(RuleError::LevelMismatch(a.level, b.level))
        }
    };
    Ok(match instr {
        Instr::Input { index } => {
            let ct = inputs
                .get(*index as usize)
                .ok_or(RuleError::MissingInput(*index))?;
            CtState {
                level: ct.level,
                scale: ct.scale,
                degree: 1,
            }
        }
        Instr::Add { .. } | Instr::Sub { .. } => {
            let (a, b) = (arg(0)?, arg(1)?);
            same_level(a, b)?;
            if !scales_match(a.scale, b.scale) {
                return Err(RuleError::ScaleMismatch(a.scale, b.scale));
            }
            CtState {
                degree: a.degree.max(b.degree),
                ..a
            }
        }
        Instr::Neg { .. }
        | Instr::MulInt { .. }
        | Instr::AddConst { .. }
        | Instr::AddPlain { .. } => arg(0)?,
        Instr::MulPlain { scale, .. } | Instr::MulConst { scale, .. } => {
            let a = arg(0)?;
            CtState {
                scale: a.scale * scale,
                ..a
            }
        }
        Instr::Mul { .. } => {
            let (a, b) = (arg(0)?, arg(1)?);
            degree(a, 1)?;
            degree(b, 1)?;
            same_level(a, b)?;
            CtState {
                level: a.level,
                scale: a.scale * b.scale,
                degree: 2,
            }
        }
        Instr::Relinearize { .. } => {
            let a = arg(0)?;
            degree(a, 2)?;
            CtState { degree: 1, ..a }
        }
        Instr::Rescale { .. } => {
            let a = arg(0)?;
            let q = q
                .get(a.level as usize)
                .filter(|_| a.level > 0)
                .ok_or(RuleError::RescaleAtBottom)?;
            CtState {
                level: a.level - 1,
                scale: a.scale / *q as f64,
                ..a
            }
        }
        Instr::ModDown { level, .. } => {
            let a = arg(0)?;
            if *level > a.level {
                return Err(RuleError::ModDownUp {
                    from: a.level,
                    to: *level,
                });
            }
            CtState { level: *level, ..a }
        }
        Instr::Rotate { .. } | Instr::Conjugate { .. } => {
            let a = arg(0)?;
            degree(a, 1)?;
            a
        }
        Instr::Trivial { level, scale, .. } => CtState {
            level: *level,
            scale: *scale,
            degree: 1,
        },
        Instr::Bootstrap {
            level, scale, with, ..
        } => {
            let a = arg(0)?;
            degree(a, 1)?;
            if with.is_some() {
                // `a + i·b` is one message: one scale.
                let b = arg(1)?;
                degree(b, 1)?;
                if !scales_match(a.scale, b.scale) {
                    return Err(RuleError::ScaleMismatch(a.scale, b.scale));
                }
            }
            CtState {
                level: *level,
                scale: *scale,
                degree: 1,
            }
        }
        Instr::BootstrapPaired { level, scale, .. } => {
            degree(arg(1)?, 1)?;
            CtState {
                level: *level,
                scale: *scale,
                degree: 1,
            }
        }
    })
}

/// Checks that `node` records exactly `computed` (levels and degrees equal, scales within
/// [`SCALE_TOLERANCE`]).
pub fn check_recorded(node: &Node, computed: CtState) -> Result<(), RuleError> {
    let recorded = CtState::recorded(node);
    if computed.level != recorded.level
        || computed.degree != recorded.degree
        || !scales_match(computed.scale, recorded.scale)
    {
        return Err(RuleError::Recorded { computed, recorded });
    }
    Ok(())
}

/// Checks that a value at `state` keeps at least one bit of room between its scale and the
/// modulus `q_0 · … · q_level` (a value of magnitude 1 must not wrap).
pub fn check_fits(state: CtState, q: &[u64]) -> Result<(), RuleError> {
    let log_q: f64 = q
        .iter()
        .take(state.level as usize + 1)
        .map(|&x| (x as f64).log2())
        .sum();
    if state.scale.log2() + 1.0 >= log_q {
        return Err(RuleError::ScaleTooLarge {
            scale: state.scale,
            log_q,
            level: state.level,
        });
    }
    Ok(())
}

/// The level an operation executes at: its first operand's level (the result of a rescale is
/// one below), or the node's own level for an input. This is what its cost depends on.
pub fn exec_level(nodes: &[Node], node: &Node) -> u32 {
    node.instr
        .operands()
        .first()
        .and_then(|a| nodes.get(*a as usize))
        .map_or(node.level, |a| a.level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Layout, Pack, Source};

    fn st(level: u32, scale: f64, degree: u8) -> CtState {
        CtState {
            level,
            scale,
            degree,
        }
    }

    #[test]
    fn products_double_the_degree_and_multiply_scales() {
        let r = result(
            &Instr::Mul { a: 0, b: 1 },
            &[st(3, 2.0, 1), st(3, 4.0, 1)],
            &[],
            &[],
        );
        assert_eq!(r, Ok(st(3, 8.0, 2)));
        let r = result(
            &Instr::Mul { a: 0, b: 1 },
            &[st(3, 2.0, 2), st(3, 4.0, 1)],
            &[],
            &[],
        );
        assert_eq!(
            r,
            Err(RuleError::Degree {
                found: 2,
                needed: 1
            })
        );
    }

    #[test]
    fn rescale_divides_by_the_last_prime_and_refuses_level_zero() {
        let q = [97u64, 193, 257];
        let r = result(&Instr::Rescale { a: 0 }, &[st(2, 514.0, 1)], &[], &q);
        assert_eq!(r, Ok(st(1, 2.0, 1)));
        let r = result(&Instr::Rescale { a: 0 }, &[st(0, 514.0, 1)], &[], &q);
        assert_eq!(r, Err(RuleError::RescaleAtBottom));
    }

    #[test]
    fn additions_need_equal_levels_and_scales() {
        let add = Instr::Add { a: 0, b: 1 };
        assert_eq!(
            result(&add, &[st(2, 2.0, 1), st(1, 2.0, 1)], &[], &[]),
            Err(RuleError::LevelMismatch(2, 1))
        );
        assert!(matches!(
            result(
                &add,
                &[st(2, 2.0, 1), st(2, 2.0 * (1.0 + 1e-6), 1)],
                &[],
                &[]
            ),
            Err(RuleError::ScaleMismatch(..))
        ));
        assert_eq!(
            result(
                &add,
                &[st(2, 2.0, 2), st(2, 2.0 * (1.0 + 1e-12), 1)],
                &[],
                &[]
            ),
            Ok(st(2, 2.0, 2))
        );
    }

    #[test]
    fn inputs_take_their_declared_level_and_scale() {
        let input = CtInput {
            pack: Pack {
                source: Source::Input {
                    input: 0,
                    element: 0,
                },
                layout: Layout::Scalar,
                factor: 1.0,
            },
            level: 4,
            scale: 8.0,
        };
        let i = Instr::Input { index: 0 };
        assert_eq!(
            result(&i, &[], std::slice::from_ref(&input), &[]),
            Ok(st(4, 8.0, 1))
        );
        assert_eq!(
            result(&Instr::Input { index: 1 }, &[], &[input], &[]),
            Err(RuleError::MissingInput(1))
        );
    }

    #[test]
    fn a_scale_must_leave_room_below_the_modulus() {
        let q = [1u64 << 20, 1 << 10];
        assert!(check_fits(st(1, 2f64.powi(28), 1), &q).is_ok());
        assert!(check_fits(st(1, 2f64.powi(29), 1), &q).is_err());
        assert!(check_fits(st(0, 2f64.powi(19), 1), &q).is_err());
    }
}
