//! The ciphertext critical path: which operation consumed each level of the deepest output.
//!
//! The tensor report counts products; the ciphertext depth also counts what the slot layouts
//! add (masks that select a diagonal or a row, public factors that cannot be folded into a
//! neighbouring product). A user who sees depth 13 where the tensor depth is 11 needs to know
//! which two levels are the layouts' and where in the source they are paid; this walk answers
//! that from the schedule alone, so it holds for whatever the lowering emitted.

use hel_schedule::{Instr, Schedule, ValueId};
use serde::Serialize;

/// One level consumed on the critical path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelStep {
    /// Levels consumed up to and including this one (1 for the first rescale after the inputs).
    pub level: u32,
    /// What was rescaled: `ciphertext product`, `mask or public values` (a plaintext product),
    /// `constant`.
    pub kind: &'static str,
    /// The tensor operation it implements (`matvec`, `mul`, ...).
    pub tensor_op: String,
    /// `file:line:col` of the source expression, if known.
    pub span: Option<String>,
}

/// The levels consumed on the way to the deepest output tile, first level first.
///
/// A level is consumed by a product: of two ciphertexts, of a ciphertext and a plaintext (a
/// mask, public values), or of a ciphertext and a constant. The level management also
/// multiplies by an exact 1 to move a value with slack down to its partner's level or scale
/// (`align`, `lift`); those fill slack and never deepen the circuit, so they are not counted.
/// Every node gets the most products on any path from an input to it; the walk goes back from
/// the output tile with the most, always into an operand with the most (the first such).
pub fn level_path(s: &Schedule) -> Vec<LevelStep> {
    let mut products = vec![0u32; s.nodes.len()];
    for (i, node) in s.nodes.iter().enumerate() {
        let before = node
            .instr
            .operands()
            .into_iter()
            .filter(|v| (*v as usize) < i)
            .map(|v| products[v as usize])
            .max()
            .unwrap_or(0);
        products[i] = before + u32::from(product_kind(&node.instr).is_some());
    }
    let Some(mut at) = s
        .outputs
        .iter()
        .flat_map(|o| &o.tiles)
        .map(|t| t.value)
        .filter(|v| (*v as usize) < s.nodes.len())
        .max_by_key(|v| (products[*v as usize], std::cmp::Reverse(*v)))
    else {
        return Vec::new();
    };
    let mut path: Vec<(ValueId, &'static str)> = Vec::new();
    loop {
        let node = &s.nodes[at as usize];
        if let Some(kind) = product_kind(&node.instr) {
            path.push((at, kind));
        }
        let next = node
            .instr
            .operands()
            .into_iter()
            .filter(|v| *v < at)
            .max_by_key(|v| (products[*v as usize], std::cmp::Reverse(*v)));
        match next {
            Some(v) => at = v,
            None => break,
        }
    }
    path.into_iter()
        .rev()
        .enumerate()
        .map(|(i, (v, kind))| {
            let origin = &s.nodes[v as usize].origin;
            LevelStep {
                level: i as u32 + 1,
                kind,
                tensor_op: origin.tensor_op.clone(),
                span: origin.span.clone(),
            }
        })
        .collect()
}

/// The kind of product `instr` is, if it consumes a level of the circuit (an exact 1 is the
/// level management's own alignment, not the program's).
fn product_kind(instr: &Instr) -> Option<&'static str> {
    match instr {
        Instr::Mul { .. } => Some("ciphertext product"),
        Instr::MulPlain { .. } => Some("mask or public values"),
        Instr::MulConst { value, .. } if *value != 1.0 => Some("constant"),
        _ => None,
    }
}
