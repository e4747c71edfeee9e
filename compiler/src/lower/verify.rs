//! Plaintext verification of a lowering (EVA's rule: every compiled program is checked against
//! its source in plaintext before anything is encrypted): the slot-level simulation of the
//! schedule must reproduce the tensor interpreter's outputs.

use hel_schedule::{simulate, Schedule};

use crate::ir::interp::{eval, random_inputs, Tensor, Value};
use crate::ir::Program;

/// The user inputs of `p` (declaration order, derived ones excluded) as schedule tensors.
pub fn schedule_inputs(
    p: &Program,
    values: &std::collections::HashMap<String, Value>,
) -> Vec<Vec<Tensor>> {
    p.inputs
        .iter()
        .filter(|i| !p.is_derived(&i.name))
        .map(|i| match values.get(&i.name) {
            Some(Value::Tensor(t)) => vec![t.clone()],
            Some(Value::Seq(ts)) => ts.clone(),
            None => Vec::new(),
        })
        .collect()
}

/// Largest `|tensor - slots| / max(1, |tensor|)` over all outputs on random inputs (seeded);
/// `Err` with a reason if either side cannot run.
pub fn max_difference(p: &Program, s: &Schedule, seed: u64) -> Result<f64, String> {
    Ok(differences(p, s, seed)?.into_iter().fold(0.0, |m, d| {
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(d)
        }
    }))
}

/// [`max_difference`] per output (in `p.outputs` order), so a failed check can name the output
/// that differs.
pub fn differences(p: &Program, s: &Schedule, seed: u64) -> Result<Vec<f64>, String> {
    let values = random_inputs(p, seed);
    let expected = eval(p, &values).map_err(|e| e.to_string())?;
    let got = simulate(s, &schedule_inputs(p, &values)).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(got.len());
    for ((name, v), g) in expected.iter().zip(&got) {
        let Value::Tensor(t) = v else {
            return Err(format!("output `{name}` is a sequence"));
        };
        if t.data.len() != g.data.len() {
            return Err(format!("output `{name}` has the wrong size"));
        }
        let worst = t
            .data
            .iter()
            .zip(&g.data)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            // NaN (an overflow on one side) must not read as agreement.
            .fold(0.0f64, |m, d| if d.is_nan() { f64::NAN } else { m.max(d) });
        out.push(worst);
    }
    Ok(out)
}
