//! `cse`: common-subexpression elimination by value numbering.
//!
//! Two nodes with the same operation, the same operands and the same type compute the same
//! value, so the later one is replaced by the earlier. Operands of commutative operations (`add`,
//! `mul`, `dot`) are compared as a sorted list, so `a * b` and `b * a` merge. Unrolling and
//! function inlining duplicate work freely (each `Z[i]` in an iteration is its own `index` node,
//! each call of `h` its own polynomial); this is where the copies become one, which matters for
//! CKKS because every duplicate product is real work and rotations are expensive.
//!
//! The walk is in creation order and the table is only looked up, never iterated, so numbering
//! stays deterministic. The surviving node keeps the span and iteration tag of the first copy.

// `Diagnostic` is the project-wide error type (`Pass::run` returns it); its size is a
// crate-wide question, not one for each pass.

use super::pipeline::Pass;
use super::rewrite::rebuild;
use crate::diagnostics::Diagnostic;
use crate::ir::{NodeId, Op, Program, Type};
use std::collections::HashMap;

pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn description(&self) -> &'static str {
        "common-subexpression elimination: identical operations on identical operands become one"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let mut table: HashMap<Key, NodeId> = HashMap::new();
        rebuild(&p, self.name(), |b, n| {
            let key = Key::of(&n.op, &n.args, n.ty);
            if let Some(&id) = table.get(&key) {
                return Ok(id);
            }
            let id = b.add(n);
            table.insert(key, id);
            Ok(id)
        })
    }
}

/// The identity of a value: operation (with its parameters), operands and type.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    op: &'static str,
    /// `Const` value bits (`-0.0` as `0.0`, as the builder shares them), `Pow` exponent or
    /// `Element` index.
    param: u64,
    /// `Input` name.
    name: String,
    args: Vec<NodeId>,
    ty: Type,
}

impl Key {
    fn of(op: &Op, args: &[NodeId], ty: Type) -> Key {
        let (param, name) = match op {
            Op::Const { value } => (if *value == 0.0 { 0 } else { value.to_bits() }, ""),
            Op::Pow { exp } => (u64::from(*exp), ""),
            Op::Element { index } => (u64::from(*index), ""),
            Op::Input { name } => (0, name.as_str()),
            _ => (0, ""),
        };
        let mut args = args.to_vec();
        if matches!(op, Op::Add | Op::Mul | Op::Dot) {
            args.sort_unstable();
        }
        Key {
            op: op.name(),
            param,
            name: name.to_string(),
            args,
            ty,
        }
    }
}
