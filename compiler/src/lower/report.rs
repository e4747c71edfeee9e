//! The ciphertext-level report of a lowering: depth, parameters, key and upload sizes, operation
//! counts. `hel depth`, `hel compile` and `hel train` print it.

use std::collections::BTreeMap;

use hel_schedule::{Instr, Resources, Schedule};
use serde::Serialize;

use super::Lowered;

/// Ciphertext-level facts for reports.
#[derive(Clone, Debug, Serialize)]
pub struct CtReport {
    pub depth: u32,
    pub params: ParamsReport,
    pub rotation_keys: KeyReport,
    pub input_ciphertexts: usize,
    /// The upload (same as `resources.upload_bytes`).
    pub input_bytes: u64,
    /// Keys, upload and peak memory of the server and of key generation.
    pub resources: Resources,
    pub ops: BTreeMap<String, usize>,
    pub unit: (usize, usize),
    pub explanation: String,
    pub predicted_error: f64,
    /// Which operation consumed each level of the deepest output ([`super::level_path`]).
    pub level_path: Vec<super::level_path::LevelStep>,
    /// Where the outputs' predicted precision falls short of `--precision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision_shortfall: Option<String>,
}

/// The chosen parameters, by bit sizes.
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

impl ParamsReport {
    /// The bit sizes of `p`.
    pub fn of(p: &hel_schedule::CkksParams) -> Self {
        ParamsReport {
            log_n: p.log_n,
            log_q: p.log_qp(),
            primes: p.q_bits.clone(),
            special_primes: p.p_bits.clone(),
            log_scale: p.log_scale,
            dnum: p.dnum,
            security_bits: p.security.bits(),
        }
    }
}

/// The evaluation keys the server needs: rotation (and conjugation) keys, and the
/// relinearization key.
#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    pub count: usize,
    pub bytes: u64,
    pub relin_bytes: u64,
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

impl CtReport {
    /// A warning for programs whose outputs overflow when simulated on inputs from the declared
    /// ranges (e.g. an iteration that diverges there): their predicted error is unbounded; or
    /// whose predicted precision falls short of `--precision` (the best the budget allows,
    /// compiled all the same).
    pub fn warning(&self) -> Option<String> {
        if !self.predicted_error.is_finite() {
            return Some(
                "warning: the outputs overflow f64 when the program is simulated on inputs from \
                 the declared ranges (it diverges there), so its error cannot be bounded; check \
                 the input ranges, or the iteration count"
                    .to_string(),
            );
        }
        // The parameters are the best the budget allows; the program still compiles.
        self.precision_shortfall.as_ref().map(|s| {
            format!(
                "warning: {s}; that bound holds for any inputs in the declared ranges and \
                 `hel encrypt` predicts the error on your data; narrow the ranges to the data, \
                 iterate less or lower --precision"
            )
        })
    }
}

/// The ciphertext-level report of a lowering.
pub fn report(l: &Lowered) -> CtReport {
    let s = &l.schedule;
    let p = &s.params;
    let resources = s.resources();
    let kb = resources.switch_key_bytes;
    let keys = s.rotation_steps.len() + usize::from(s.needs_conjugation);
    CtReport {
        depth: l.params.depth,
        params: ParamsReport::of(p),
        rotation_keys: KeyReport {
            count: keys,
            bytes: kb * keys as u64,
            relin_bytes: kb,
        },
        input_ciphertexts: s.ct_inputs.len(),
        input_bytes: resources.upload_bytes,
        resources,
        ops: ct_ops(s),
        unit: (s.unit.h, s.unit.w),
        explanation: l.params.explanation.clone(),
        predicted_error: s.outputs.iter().map(|o| o.bound).fold(0.0, f64::max),
        level_path: super::level_path::level_path(s),
        precision_shortfall: l.params.shortfall.clone(),
    }
}
