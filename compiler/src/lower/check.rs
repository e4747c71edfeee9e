//! The schedule checker: proves that every node's recorded level, scale and degree are what
//! its instruction produces from its operands, that additions see equal levels and scales,
//! that multiplications see degree-1 operands at equal levels, and that nothing runs below
//! level 0. Run after lowering; an invalid schedule is refused with the node and source span.

use hel_schedule::rules::{self, CtState};
use hel_schedule::Schedule;

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Program;

/// A checker failure.
#[derive(Debug)]
pub struct CheckError {
    pub node: usize,
    pub message: String,
    pub tensor_node: u32,
}

impl CheckError {
    pub fn into_diagnostic(self, p: &Program) -> Diagnostic {
        let span = p
            .graph
            .ids()
            .find(|id| id.index() as u32 == self.tensor_node)
            .map(|id| p.graph.node(id).span)
            .unwrap_or_default();
        Diagnostic::new(
            Code::Internal,
            &p.source,
            span,
            format!("invalid schedule at node {}: {}", self.node, self.message),
        )
    }
}

/// Checks every node of `s` against the contract's bookkeeping rules ([`rules::result`]), and
/// that every value keeps room below its modulus ([`rules::check_fits`]).
pub fn check(s: &Schedule) -> Result<(), CheckError> {
    let q = s.params.primes().map_err(|e| CheckError {
        node: 0,
        message: e.to_string(),
        tensor_node: 0,
    })?;
    for (i, n) in s.nodes.iter().enumerate() {
        let fail = |e: rules::RuleError| CheckError {
            node: i,
            message: format!("{} ({}): {e}", n.instr.name(), n.origin.tensor_op),
            tensor_node: n.origin.tensor_node,
        };
        let mut args = Vec::with_capacity(2);
        for a in n.instr.operands() {
            match s.nodes.get(a as usize).filter(|_| (a as usize) < i) {
                Some(x) => args.push(CtState::recorded(x)),
                None => return Err(fail(rules::RuleError::MissingOperand(args.len()))),
            }
        }
        let computed = rules::result(&n.instr, &args, &s.ct_inputs, &q.q).map_err(fail)?;
        rules::check_recorded(n, computed).map_err(fail)?;
        rules::check_fits(computed, &q.q).map_err(fail)?;
    }
    Ok(())
}
