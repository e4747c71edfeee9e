//! Why a value has no ciphertext recipe, for the diagnostic: the operation at the root of it
//! (not a later one that merely uses it), the kinds of its operands, and the rule it breaks.
//!
//! It exists apart from the recipes because it only reads the [`super::oracle`]'s answers: a
//! value has no recipe when its own operation has none in any layout, or when one of the
//! operands that recipe needs has none; the second case is followed down to the first.

use super::layout::{Lowering, Want};
use super::oracle::INF;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{NodeId, Op};

impl Lowering<'_> {
    /// The diagnostic for node `id`, wanted as `want`, that no recipe implements.
    pub(super) fn no_recipe(&mut self, id: NodeId, want: Want) -> Diagnostic {
        let root = self.root_without_recipe(id, want);
        let n = self.node(root);
        let why = match &n.op {
            Op::MatMul if !n.args.iter().any(|a| self.is_enc(*a)) => {
                "the slot layouts have no matrix-matrix product, and nothing computes a product \
                 of public matrices ahead of the circuit: multiply by one matrix at a time \
                 (`A @ (B @ x)`)"
                    .to_string()
            }
            Op::MatMul => "the slot layouts have no matrix-matrix product; the client computes \
                           a product of encrypted inputs instead (pass `client-products`, at \
                           every -O level), but only one of degree at most 2 in the inputs, and \
                           not with --client-precompute off"
                .to_string(),
            Op::Pow { exp } => format!(
                "the slot layouts have no power of a matrix; write `x ^ {exp}` as element-wise \
                 products (`x * x`)"
            ),
            Op::Div => "division has a recipe only by a non-zero compile-time constant".into(),
            _ => "no slot layout implements this operation on these operands".into(),
        };
        self.unsupported(root, &why)
    }

    /// Follows operands without a recipe from `id` down to the node whose own operation has
    /// none.
    fn root_without_recipe(&mut self, mut id: NodeId, mut want: Want) -> NodeId {
        // Every step goes to an operand: at most as many steps as nodes.
        for _ in 0..self.p.graph.len() {
            let wants = match want {
                Want::Vec(o) => vec![Want::Vec(o), Want::Vec(o.flip())],
                w => vec![w],
            };
            let mut next = None;
            for w in wants {
                for need in self.oracle.needs(id, w).unwrap_or_default() {
                    if next.is_none() && self.oracle.want_cost(need.node, need.want) >= INF {
                        next = Some((need.node, need.want));
                    }
                }
            }
            match next {
                Some((x, w)) => (id, want) = (x, w),
                None => break,
            }
        }
        id
    }

    /// `cannot lower `op` of <operands> to CKKS: what`, at the operation `id`.
    pub(super) fn unsupported(&self, id: NodeId, what: &str) -> Diagnostic {
        let n = self.node(id);
        let operands: Vec<String> = n.args.iter().map(|a| self.describe(*a)).collect();
        let of = if operands.is_empty() {
            String::new()
        } else {
            format!(" of {}", operands.join(" and "))
        };
        Diagnostic::new(
            Code::Unsupported,
            &self.p.source,
            n.span,
            format!("cannot lower `{}`{of} to CKKS: {what}", n.op.name()),
        )
    }

    /// An operand as the diagnostics name it: `plain matrix[4, 4] input `A``,
    /// `enc vector[8] value`, `the constant 2`.
    fn describe(&self, x: NodeId) -> String {
        let n = self.node(x);
        let input = |name: &str| format!("{} input `{name}`", n.ty);
        match &n.op {
            Op::Input { name } => input(name),
            Op::Element { index } => match n.args.first().map(|a| &self.node(*a).op) {
                Some(Op::Input { name }) => input(&format!("{name}[{index}]")),
                _ => format!("{} value", n.ty),
            },
            Op::Const { value } => format!("the constant {value} ({})", n.ty),
            _ => format!("{} value", n.ty),
        }
    }
}
