//! The debug evaluator: encrypted and plaintext execution in lockstep, with the secret key, so
//! the first node whose encrypted value strays beyond the compiler's error bound is named —
//! instead of a wrong output at the end with no hint where precision was lost.

use super::{CkksEvaluator, Evaluator, ExecError, PlainEvaluator};
use crate::ckks::{Ciphertext, SecretKey};
use crate::schedule::{Node, ValueId};

/// A node's value in both worlds.
#[derive(Clone, Debug)]
pub struct DebugValue {
    pub ct: Ciphertext,
    pub slots: Vec<f64>,
}

/// Runs [`CkksEvaluator`] and [`PlainEvaluator`] side by side; after every node it decrypts
/// the ciphertext and fails with [`ExecError::Diverged`] if some slot differs from the
/// reference by more than [`Node::bound`] (nodes with a non-finite bound are not checked).
pub struct DebugEvaluator<'a> {
    ckks: CkksEvaluator<'a>,
    plain: PlainEvaluator<'a>,
    sk: &'a SecretKey,
    inject: Option<(ValueId, f64)>,
}

/// Number of slots shown in a divergence report.
const SHOWN_SLOTS: usize = 8;

impl<'a> DebugEvaluator<'a> {
    /// Pairs the evaluators; both must be built for the same schedule and inputs.
    pub fn new(ckks: CkksEvaluator<'a>, plain: PlainEvaluator<'a>, sk: &'a SecretKey) -> Self {
        DebugEvaluator {
            ckks,
            plain,
            sk,
            inject: None,
        }
    }

    /// Test hook: adds `delta` to every slot of node `node`'s ciphertext right after it is
    /// computed (before the comparison), to check that a divergence is caught and located.
    pub fn with_injected_error(mut self, node: ValueId, delta: f64) -> Self {
        self.inject = Some((node, delta));
        self
    }

    /// Applies the injected error if `id` is its node.
    fn tamper(&self, id: ValueId, node: &Node, ct: Ciphertext) -> Result<Ciphertext, ExecError> {
        match self.inject {
            Some((target, delta)) if target == id => self
                .ckks
                .context()
                .add_scalar(&ct, delta)
                .map_err(|e| ExecError::ckks(id, node, e)),
            _ => Ok(ct),
        }
    }

    /// Decrypts `ct` and compares it with the reference slots against the node's bound.
    fn compare(
        &self,
        id: ValueId,
        node: &Node,
        ct: &Ciphertext,
        slots: &[f64],
    ) -> Result<(), ExecError> {
        if !node.bound.is_finite() {
            return Ok(());
        }
        let ctx = self.ckks.context();
        let actual = ctx
            .decrypt(ct, self.sk)
            .and_then(|pt| ctx.decode_real(&pt))
            .map_err(|e| ExecError::ckks(id, node, e))?;
        let error = actual
            .iter()
            .zip(slots)
            .map(|(a, e)| (a - e).abs())
            .fold(0.0, |m: f64, d| {
                if m.is_nan() || d.is_nan() {
                    f64::NAN
                } else {
                    m.max(d)
                }
            });
        if error <= node.bound && actual.len() == slots.len() {
            return Ok(());
        }
        Err(ExecError::Diverged {
            node: id,
            op: node.instr.name(),
            span: node.origin.span.clone(),
            tensor_node: node.origin.tensor_node,
            expected: slots.iter().take(SHOWN_SLOTS).copied().collect(),
            actual: actual.iter().take(SHOWN_SLOTS).copied().collect(),
            error,
            bound: node.bound,
        })
    }
}

impl Evaluator for DebugEvaluator<'_> {
    type Value = DebugValue;

    fn eval(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&DebugValue],
    ) -> Result<DebugValue, ExecError> {
        let cts: Vec<&Ciphertext> = args.iter().map(|a| &a.ct).collect();
        let plains: Vec<&Vec<f64>> = args.iter().map(|a| &a.slots).collect();
        let ct = self.tamper(id, node, self.ckks.eval(id, node, &cts)?)?;
        let slots = self.plain.eval(id, node, &plains)?;
        self.compare(id, node, &ct, &slots)?;
        Ok(DebugValue { ct, slots })
    }

    fn value_bytes(&self, v: &DebugValue) -> usize {
        self.ckks.value_bytes(&v.ct) + self.plain.value_bytes(&v.slots)
    }

    fn eval_hoisted(
        &self,
        group: &[(ValueId, &Node)],
        operand: &DebugValue,
    ) -> Result<Vec<DebugValue>, ExecError> {
        let cts = self.ckks.eval_hoisted(group, &operand.ct)?;
        let plains = self.plain.eval_hoisted(group, &operand.slots)?;
        group
            .iter()
            .zip(cts.into_iter().zip(plains))
            .map(|((id, node), (ct, slots))| {
                let ct = self.tamper(*id, node, ct)?;
                self.compare(*id, node, &ct, &slots)?;
                Ok(DebugValue { ct, slots })
            })
            .collect()
    }
}
