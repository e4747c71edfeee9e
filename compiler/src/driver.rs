//! The compile driver: `.hel` source to a checked [`Schedule`] in one call.
//!
//! Front end, the pass pipeline for the chosen `-O` level, lowering, and the plaintext check of
//! the lowering against the source (EVA's rule: the slot-level simulation of the schedule must
//! reproduce the tensor interpreter's outputs before anything is encrypted). `hel compile`,
//! `hel depth` and `hel train` are thin layers over it.

use hel_schedule::{CkksParams, Schedule};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::analysis::analyze;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Program;
use crate::lower::report::{ct_ops, CtReport};
use crate::lower::{lower, verify, LowerOptions, Lowered, ParamRequest};
use crate::passes::pipeline::{self, Pipeline};
use crate::source::{SourceFile, Span};

/// Largest relative difference tolerated between the slot-level simulation and the tensor
/// interpreter (both f64; only summation order differs).
pub const PLAINTEXT_CHECK_TOLERANCE: f64 = 1e-9;

/// Seed of the random inputs of the plaintext check (fixed: compiling is deterministic).
const PLAINTEXT_CHECK_SEED: u64 = 0x68656c;

/// What to compile and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Values for `const` definitions by name (the CLI's `--set NAME=VALUE`).
    pub sets: Vec<(String, f64)>,
    /// The middle end: `-O` level, client-side precomputation.
    pub passes: pipeline::Options,
    /// Bits of precision the outputs must keep (`--precision`).
    pub precision_bits: u32,
    /// Parameters to use instead of choosing them (`--params`).
    pub params: Option<CkksParams>,
    /// Largest ring degree the parameter selection may choose (log2 N, 13..=16).
    pub max_log_n: u32,
}

impl Default for Options {
    /// `-O2`, 20 bits of precision, rings up to N = 2^16.
    fn default() -> Self {
        let params = ParamRequest::default();
        Options {
            sets: Vec::new(),
            passes: pipeline::Options::default(),
            precision_bits: params.precision_bits,
            params: None,
            max_log_n: params.max_log_n,
        }
    }
}

impl Options {
    /// What the parameter selection is asked for: the precision, ring cap and forced parameters.
    pub fn param_request(&self) -> ParamRequest {
        ParamRequest {
            precision_bits: self.precision_bits,
            forced: self.params.clone(),
            max_log_n: self.max_log_n,
            ..ParamRequest::default()
        }
    }
}

/// One row of the per-pass table.
#[derive(Clone, Debug, Serialize)]
pub struct PassRow {
    pub name: String,
    pub tensor_depth: u32,
    pub ops: BTreeMap<String, usize>,
}

/// A compiled program.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The optimized tensor IR the schedule implements.
    pub program: Program,
    pub lowered: Lowered,
    /// The tensor depth and operation counts after every pass, then after lowering.
    pub passes: Vec<PassRow>,
    /// Max relative difference of the plaintext check.
    pub plaintext_check: f64,
}

impl Compiled {
    /// The schedule to hand to the runtime.
    pub fn schedule(&self) -> &Schedule {
        &self.lowered.schedule
    }

    /// The ciphertext-level report (depth, parameters, keys, upload).
    pub fn report(&self) -> CtReport {
        crate::lower::report::report(&self.lowered)
    }
}

/// Compiles `source` to a schedule checked against the source in plaintext.
pub fn compile(source: &SourceFile, options: &Options) -> Result<Compiled, Diagnostic> {
    compile_logged(source, options, &mut |_, _| {})
}

/// [`compile`], with `log` seeing each pass's name and result.
pub fn compile_logged(
    source: &SourceFile,
    options: &Options,
    log: &mut dyn FnMut(&str, &Program),
) -> Result<Compiled, Diagnostic> {
    let program = crate::frontend(source, &options.sets)?;
    let mut passes = Vec::new();
    let program = Pipeline::with_options(options.passes).run(program, None, &mut |name, p| {
        let a = analyze(p);
        passes.push(PassRow {
            name: name.to_string(),
            tensor_depth: a.tensor_depth,
            ops: a.ops,
        });
        log(name, p);
    })?;
    let (lowered, check) = lower_checked(&program, options)?;
    passes.push(PassRow {
        name: "lower".into(),
        tensor_depth: analyze(&program).tensor_depth,
        ops: ct_ops(&lowered.schedule),
    });
    Ok(Compiled {
        program,
        lowered,
        passes,
        plaintext_check: check,
    })
}

/// The front end and the pass pipeline: the optimized tensor IR, not lowered.
pub fn optimize(source: &SourceFile, options: &Options) -> Result<Program, Diagnostic> {
    let program = crate::frontend(source, &options.sets)?;
    Pipeline::with_options(options.passes).run(program, None, &mut |_, _| {})
}

/// Lowers an optimized program and checks the schedule against it in plaintext; returns the
/// lowering and the largest relative difference found.
pub fn lower_checked(program: &Program, options: &Options) -> Result<(Lowered, f64), Diagnostic> {
    let opts = LowerOptions {
        params: options.param_request(),
        name: program.source.short_name().to_string(),
    };
    let lowered = crate::on_big_stack(|| lower(program, &opts))?;
    let internal = |message: String| {
        Diagnostic::new(Code::Internal, &program.source, Span::new(0, 0), message)
    };
    let check = verify::max_difference(program, &lowered.schedule, PLAINTEXT_CHECK_SEED)
        .map_err(|e| internal(format!("plaintext check could not run: {e}")))?;
    if check.is_nan() || check > PLAINTEXT_CHECK_TOLERANCE {
        return Err(internal(format!(
            "internal: the lowered program differs from the source by {check:e} in plaintext"
        )));
    }
    Ok((lowered, check))
}

/// Whether a tensor-level depth is beyond any circuit of at most `max` levels with room to
/// spare: the lowering tracks the tensor depth closely (GD and NAG at k = 1, 2, 3, 5, 8 and
/// -O0..-O2: never more than one level below it; `tests/train.rs` keeps checking that), so a
/// tensor depth more than a quarter and two levels beyond `max` cannot fit.
pub fn beyond_budget(tensor_depth: u32, max: u32) -> bool {
    tensor_depth > max + max / 4 + 2
}

/// The deepest circuit the parameter selection admits under `options` (ring cap, precision).
pub fn deepest_admissible(options: &Options) -> u32 {
    let params = options.param_request();
    (1..=4096)
        .take_while(|&d| crate::lower::params::select(d, &params, 0).is_ok())
        .last()
        .unwrap_or(0)
}

/// `Some((tensor depth, deepest admissible))` if `source` is so far beyond the parameter budget
/// that lowering it (seconds to a minute for long programs, only to be refused) is not worth
/// trying: the front end and the passes alone decide, in a fraction of a second.
pub fn far_too_deep(
    source: &SourceFile,
    options: &Options,
) -> Result<Option<(u32, u32)>, Diagnostic> {
    let depth = analyze(&optimize(source, options)?).tensor_depth;
    let max = deepest_admissible(options);
    Ok(beyond_budget(depth, max).then_some((depth, max)))
}
