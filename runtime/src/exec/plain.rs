//! The plaintext reference evaluator: slot vectors of f64 through
//! [`crate::schedule::apply_plain`], the same semantics as [`crate::schedule::simulate`] but run
//! by the scheduler (so it also exercises the scheduler, and the debug evaluator can pair it
//! with encrypted execution node by node).

use super::{Evaluator, ExecError};
use crate::schedule::{
    apply_plain, check_inputs, derived_tensors, pack_slots, source, Node, Schedule, Tensor, ValueId,
};

/// Evaluates a schedule on unencrypted slot vectors.
pub struct PlainEvaluator<'a> {
    schedule: &'a Schedule,
    inputs: &'a [Vec<Tensor>],
    derived: Vec<Tensor>,
}

impl<'a> PlainEvaluator<'a> {
    /// `inputs[i]` holds the elements of user input `i` (encrypted and plain alike: this is
    /// the reference, it sees everything). Checks their shapes and computes the derived inputs.
    pub fn new(schedule: &'a Schedule, inputs: &'a [Vec<Tensor>]) -> Result<Self, ExecError> {
        check_inputs(schedule, inputs).map_err(|e| ExecError::Input(e.to_string()))?;
        let derived =
            derived_tensors(schedule, inputs).map_err(|e| ExecError::Input(e.to_string()))?;
        Ok(PlainEvaluator {
            schedule,
            inputs,
            derived,
        })
    }
}

impl Evaluator for PlainEvaluator<'_> {
    type Value = Vec<f64>;

    fn eval(&self, id: ValueId, node: &Node, args: &[&Vec<f64>]) -> Result<Vec<f64>, ExecError> {
        let args: Vec<&[f64]> = args.iter().map(|a| a.as_slice()).collect();
        let input = |index: u32| {
            let ct = self.schedule.ct_inputs.get(index as usize)?;
            let t = source(self.inputs, &self.derived, &ct.pack)?;
            Some(pack_slots(self.schedule.unit, &ct.pack, t))
        };
        apply_plain(self.schedule, &node.instr, &args, input, |p| {
            source(self.inputs, &self.derived, p)
        })
        .ok_or_else(|| ExecError::missing(id, node, "an operand, input or public tensor"))
    }

    fn value_bytes(&self, v: &Vec<f64>) -> usize {
        std::mem::size_of_val(v.as_slice())
    }
}
