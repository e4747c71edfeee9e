//! Differential testing of passes: a pass must not change what a program computes.
//!
//! [`check_pipeline`] runs the passes of a pipeline one at a time and, after each, evaluates the
//! new program with the reference interpreter on the same random inputs (drawn within the
//! declared ranges) as the program before it. The first pass whose outputs differ by more than
//! [`TOLERANCE`] (relative, as [`max_relative_difference`] measures it) is named in the error, so
//! a failure points at the culprit rather than at the pipeline. The outputs are also compared with
//! the source program's, so that small differences cannot add up over many passes. Any pipeline
//! works, including one built by hand from a few passes with [`check_passes`].

// `Diagnostic` is the project-wide error type (`Pass::run` returns it); its size is a
// crate-wide question, not one for each pass.

use super::pipeline::{Pass, Pipeline, PARSE};
use crate::diagnostics::Diagnostic;
use crate::ir::interp::{eval, max_relative_difference, random_inputs, EvalError, Value};
use crate::ir::Program;
use std::collections::HashMap;
use thiserror::Error;

/// Largest relative difference a pass may introduce. Passes may reassociate floating-point
/// arithmetic, which changes the last bits, but nothing more.
pub const TOLERANCE: f64 = 1e-9;

/// What checking one pass found.
#[derive(Clone, Debug, PartialEq)]
pub struct PassCheck {
    pub pass: &'static str,
    /// Node count of the top-level graph after the pass.
    pub nodes: usize,
    /// Largest relative difference from the program before the pass, over all seeds.
    pub max_difference: f64,
    /// Largest relative difference from the program as given, over all seeds: passes that each
    /// stay within the tolerance must not drift away from the source together.
    pub from_source: f64,
}

#[derive(Debug, Error)]
pub enum DifferentialError {
    #[error("pass `{pass}` failed: {diagnostic}")]
    PassFailed {
        pass: &'static str,
        diagnostic: Diagnostic,
    },
    /// The interpreter rejected the program after `pass` (`parse`: the program as given).
    #[error("after `{pass}`, the program cannot be evaluated (seed {seed}): {error}")]
    Eval {
        pass: &'static str,
        seed: u64,
        error: EvalError,
    },
    #[error(
        "pass `{pass}` changed the outputs: relative difference {difference:e} > {TOLERANCE:e} (seed {seed})"
    )]
    Mismatch {
        pass: &'static str,
        seed: u64,
        difference: f64,
    },
    /// Each pass stayed within the tolerance, but after `pass` the outputs are further than that
    /// from the source program's.
    #[error(
        "after `{pass}` the outputs have drifted from the source program's: relative difference {difference:e} > {TOLERANCE:e} (seed {seed})"
    )]
    Drift {
        pass: &'static str,
        seed: u64,
        difference: f64,
    },
}

/// Checks every pass of `pipeline` on `program` (as the front end produced it) with the random
/// inputs of each seed. Returns one [`PassCheck`] per pass, in order.
pub fn check_pipeline(
    program: &Program,
    pipeline: &Pipeline,
    seeds: &[u64],
) -> Result<Vec<PassCheck>, DifferentialError> {
    check_passes(program, pipeline.passes(), seeds)
}

/// [`check_pipeline`] for any sequence of passes.
pub fn check_passes<'a>(
    program: &Program,
    passes: impl IntoIterator<Item = &'a dyn Pass>,
    seeds: &[u64],
) -> Result<Vec<PassCheck>, DifferentialError> {
    // Inputs depend only on the declarations, which passes keep, so draw them once.
    let inputs: Vec<(u64, HashMap<String, Value>)> = seeds
        .iter()
        .map(|&s| (s, random_inputs(program, s)))
        .collect();
    let source = evaluate(program, PARSE, &inputs)?;
    let mut before = source.clone();
    let mut current = program.clone();
    let mut checks = Vec::new();
    for pass in passes {
        current = pass
            .run(current)
            .map_err(|diagnostic| DifferentialError::PassFailed {
                pass: pass.name(),
                diagnostic,
            })?;
        let after = evaluate(&current, pass.name(), &inputs)?;
        let (mut worst, mut drift): (f64, f64) = (0.0, 0.0);
        for (k, (seed, _)) in inputs.iter().enumerate() {
            let difference = max_relative_difference(&before[k], &after[k]);
            if exceeds(difference) {
                return Err(DifferentialError::Mismatch {
                    pass: pass.name(),
                    seed: *seed,
                    difference,
                });
            }
            worst = worst.max(difference);
            let difference = max_relative_difference(&source[k], &after[k]);
            if exceeds(difference) {
                return Err(DifferentialError::Drift {
                    pass: pass.name(),
                    seed: *seed,
                    difference,
                });
            }
            drift = drift.max(difference);
        }
        checks.push(PassCheck {
            pass: pass.name(),
            nodes: current.graph.len(),
            max_difference: worst,
            from_source: drift,
        });
        before = after;
    }
    Ok(checks)
}

/// `text` compiled by the front end, then through `unroll`, `cse` and `passes`, each checked
/// against the source by the reference interpreter ([`check_passes`]): the fixture of the
/// passes' unit tests.
#[cfg(test)]
pub(crate) fn checked_run(text: &str, passes: &[&dyn Pass]) -> Program {
    let src = crate::SourceFile::new("t.hel", text);
    let p = crate::frontend(&src, &[]).expect("valid");
    let mut all: Vec<&dyn Pass> = vec![&super::unroll::Unroll { factor: None }, &super::cse::Cse];
    all.extend_from_slice(passes);
    check_passes(&p, all.iter().copied(), &[0, 1]).expect("the passes keep the values");
    all.iter().fold(p, |p, pass| pass.run(p).expect("runs"))
}

fn exceeds(difference: f64) -> bool {
    difference.is_nan() || difference > TOLERANCE
}

type Outputs = Vec<(String, Value)>;

fn evaluate(
    p: &Program,
    pass: &'static str,
    inputs: &[(u64, HashMap<String, Value>)],
) -> Result<Vec<Outputs>, DifferentialError> {
    inputs
        .iter()
        .map(|(seed, i)| {
            eval(p, i).map_err(|error| DifferentialError::Eval {
                pass,
                seed: *seed,
                error,
            })
        })
        .collect()
}
