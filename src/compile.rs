//! Compiling a `.hel` file all the way to a schedule: front end, pass pipeline, lowering, and
//! the plaintext check of the lowering against the source (EVA's rule). Shared by `hel compile`,
//! `hel depth` and `hel train`.

use hel_compiler::analysis::analyze;
use hel_compiler::ir::Program;
use hel_compiler::lower::{lower, verify, LowerOptions, Lowered, ParamRequest};
use hel_compiler::passes::pipeline::{Options, Pipeline};
use hel_compiler::{Diagnostic, SourceFile};
use hel_runtime::ckks::CkksParams;
use hel_runtime::schedule::{Instr, Schedule};
use serde::Serialize;
use std::collections::BTreeMap;

/// Largest relative difference tolerated between the slot-level simulation and the tensor
/// interpreter (both f64; only summation order differs).
pub const PLAINTEXT_CHECK_TOLERANCE: f64 = 1e-9;

/// What to compile and how.
#[derive(Clone, Debug)]
pub struct CompileRequest {
    pub sets: Vec<(String, f64)>,
    pub options: Options,
    pub precision_bits: u32,
    pub params: Option<CkksParams>,
    /// Largest ring degree the parameter selection may choose (log2 N, 13..=16).
    pub max_log_n: u32,
}

/// One row of the per-pass table.
#[derive(Clone, Debug, Serialize)]
pub struct PassRow {
    pub name: String,
    pub tensor_depth: u32,
    pub ops: BTreeMap<String, usize>,
}

/// A compiled program.
pub struct Compiled {
    /// The optimized tensor IR the schedule implements.
    pub program: Program,
    pub lowered: Lowered,
    pub passes: Vec<PassRow>,
    /// Max relative difference of the plaintext check.
    pub plaintext_check: f64,
}

/// blake3 of everything that determines the schedule: keys and ciphertexts are bound to it.
pub fn program_hash(src: &SourceFile, req: &CompileRequest) -> String {
    let mut h = blake3::Hasher::new();
    h.update(src.text().as_bytes());
    h.update(
        format!(
            "{:?}|{:?}|{}|{:?}",
            req.sets, req.options, req.precision_bits, req.params
        )
        .as_bytes(),
    );
    h.finalize().to_hex().to_string()
}

/// Compiles `src`; `log` sees each pass's name and result.
pub fn compile(
    src: &SourceFile,
    req: &CompileRequest,
    log: &mut dyn FnMut(&str, &Program),
) -> Result<Compiled, Diagnostic> {
    let program = hel_compiler::frontend(src, &req.sets)?;
    let mut passes = Vec::new();
    let program = Pipeline::with_options(req.options).run(program, None, &mut |name, p| {
        let a = analyze(p);
        passes.push(PassRow {
            name: name.to_string(),
            tensor_depth: a.tensor_depth,
            ops: a.ops,
        });
        log(name, p);
    })?;
    let (lowered, check) = lower_checked(src, req, &program)?;
    let a = analyze(&program);
    passes.push(PassRow {
        name: "lower".into(),
        tensor_depth: a.tensor_depth,
        ops: ct_ops(&lowered.schedule),
    });
    Ok(Compiled {
        program,
        lowered,
        passes,
        plaintext_check: check,
    })
}

/// Whether a tensor-level depth is beyond any circuit of at most `max` levels with room to
/// spare: the lowering tracks the tensor depth closely (GD and NAG at k = 1, 2, 3, 5, 8 and
/// -O0..-O2: never more than one level below it; `tests/train.rs` keeps checking that), so a
/// tensor depth more than a quarter and two levels beyond `max` cannot fit.
pub fn beyond_budget(tensor_depth: u32, max: u32) -> bool {
    tensor_depth > max + max / 4 + 2
}

/// What the parameter selection is asked for: the request's precision, ring cap and forced
/// parameters.
fn param_request(req: &CompileRequest) -> ParamRequest {
    ParamRequest {
        precision_bits: req.precision_bits,
        forced: req.params.clone(),
        max_log_n: req.max_log_n,
        ..ParamRequest::default()
    }
}

/// The deepest circuit the parameter selection admits under `req` (its ring cap and precision).
pub fn deepest_admissible(req: &CompileRequest) -> u32 {
    let params = param_request(req);
    (1..=4096)
        .take_while(|&d| hel_compiler::lower::params::select(d, &params, 0).is_ok())
        .last()
        .unwrap_or(0)
}

/// `Some((tensor depth, deepest admissible))` if `src` is so far beyond the parameter budget
/// that lowering it (seconds to a minute for long programs, only to be refused) is not worth
/// trying: the front end and the passes alone decide, in a fraction of a second.
pub fn far_too_deep(
    src: &SourceFile,
    req: &CompileRequest,
) -> Result<Option<(u32, u32)>, Diagnostic> {
    let program = hel_compiler::frontend(src, &req.sets)?;
    let program = Pipeline::with_options(req.options).run(program, None, &mut |_, _| {})?;
    let depth = analyze(&program).tensor_depth;
    let max = deepest_admissible(req);
    Ok(beyond_budget(depth, max).then_some((depth, max)))
}

/// Lowers an optimized program and checks the schedule against it in plaintext.
pub fn lower_checked(
    src: &SourceFile,
    req: &CompileRequest,
    program: &Program,
) -> Result<(Lowered, f64), Diagnostic> {
    let opts = LowerOptions {
        params: param_request(req),
        name: src.short_name().to_string(),
        program_hash: program_hash(src, req),
        client_precompute: req.options.client_precompute,
    };
    let lowered = hel_compiler::on_big_stack(|| lower(program, &opts))?;
    let check = verify::max_difference(program, &lowered.schedule, 0x68656c).map_err(|e| {
        Diagnostic::new(
            src,
            hel_compiler::Span::new(0, 0),
            format!("plaintext check could not run: {e}"),
        )
    })?;
    if check.is_nan() || check > PLAINTEXT_CHECK_TOLERANCE {
        return Err(Diagnostic::new(
            src,
            hel_compiler::Span::new(0, 0),
            format!(
                "internal: the lowered program differs from the source by {check:e} in plaintext"
            ),
        ));
    }
    Ok((lowered, check))
}

/// Ciphertext operations by kind.
pub fn ct_ops(s: &Schedule) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in &s.nodes {
        if !matches!(n.instr, Instr::Input { .. }) {
            *m.entry(n.instr.name().to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// Ciphertext-level facts for reports.
#[derive(Clone, Debug, Serialize)]
pub struct CtReport {
    pub depth: u32,
    pub params: ParamsReport,
    pub rotation_keys: KeyReport,
    pub input_ciphertexts: usize,
    pub input_bytes: u64,
    pub ops: BTreeMap<String, usize>,
    pub unit: (usize, usize),
    pub explanation: String,
    pub predicted_error: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParamsReport {
    pub log_n: u32,
    pub log_q: u32,
    pub primes: Vec<u32>,
    pub special_primes: Vec<u32>,
    pub log_scale: u32,
    pub dnum: usize,
    pub security_bits: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    pub count: usize,
    pub bytes: u64,
    pub relin_bytes: u64,
}

/// Size of one key-switching key: dnum digits × 2 polynomials over all primes (bit-packed).
fn switch_key_bytes(p: &CkksParams) -> u64 {
    let bits: u64 = p.q_bits.iter().chain(&p.p_bits).map(|&b| b as u64).sum();
    p.dnum as u64 * 2 * bits * p.n() as u64 / 8
}

impl CtReport {
    /// A warning for programs whose outputs overflow when simulated on inputs from the declared
    /// ranges (e.g. an iteration that diverges there): their predicted error is unbounded.
    pub fn divergence_warning(&self) -> Option<String> {
        (!self.predicted_error.is_finite()).then(|| {
            "warning: the outputs overflow f64 when the program is simulated on inputs from the \
             declared ranges (it diverges there), so its error cannot be bounded; check the \
             input ranges, or the iteration count"
                .to_string()
        })
    }
}

/// The ciphertext-level report of a compiled program.
pub fn ct_report(c: &Compiled) -> CtReport {
    lowered_report(&c.lowered)
}

/// The ciphertext-level report of a lowering.
pub fn lowered_report(l: &Lowered) -> CtReport {
    let s = &l.schedule;
    let p = &s.params;
    let n = p.n() as u64;
    let input_bytes = s
        .ct_inputs
        .iter()
        .map(|ci| {
            let bits: u64 = p.q_bits[..=ci.level as usize]
                .iter()
                .map(|&b| b as u64)
                .sum();
            bits * n / 8 + 32
        })
        .sum();
    let kb = switch_key_bytes(p);
    CtReport {
        depth: s.depth(),
        params: ParamsReport {
            log_n: p.log_n,
            log_q: p.log_qp(),
            primes: p.q_bits.clone(),
            special_primes: p.p_bits.clone(),
            log_scale: p.log_scale,
            dnum: p.dnum,
            security_bits: if p.security == hel_runtime::ckks::Security::Classical128 {
                128
            } else {
                0
            },
        },
        rotation_keys: KeyReport {
            count: s.rotation_steps.len() + usize::from(s.needs_conjugation),
            bytes: kb * (s.rotation_steps.len() + usize::from(s.needs_conjugation)) as u64,
            relin_bytes: kb,
        },
        input_ciphertexts: s.ct_inputs.len(),
        input_bytes,
        ops: ct_ops(s),
        unit: (s.unit.h, s.unit.w),
        explanation: l.params.explanation.clone(),
        predicted_error: s.outputs.iter().map(|o| o.bound).fold(0.0, f64::max),
    }
}
