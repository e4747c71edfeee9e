//! Tensors computed in the clear from the user's inputs, as lists of plain tensor ops
//! ([`DerivedTensor`]):
//!
//! - the program's derived inputs (client-side precomputation, `p.derived`): the client computes
//!   them from its data and encrypts them;
//! - the public values that meet ciphertexts (computed from `plain` inputs only): the server
//!   computes them in f64 and encodes them where they are used, at full precision.

use rustc_hash::{FxHashMap, FxHashSet};

use hel_schedule::{ClientOp, DerivedTensor};

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Graph, NodeId, Op, Program};

/// Every derived input of `p`, then every public value of `public` (the oracle's list), as
/// tensors computed from the user's inputs.
pub fn derived_tensors(p: &Program, public: &[NodeId]) -> Result<Vec<DerivedTensor>, Diagnostic> {
    let user: FxHashMap<&str, u32> = p
        .inputs
        .iter()
        .filter(|i| !p.is_derived(&i.name))
        .enumerate()
        .map(|(k, i)| (i.name.as_str(), k as u32))
        .collect();
    let mut out = Vec::with_capacity(p.derived.len() + public.len());
    for d in &p.derived {
        out.push(DerivedTensor {
            name: d.name.clone(),
            description: d.description.clone(),
            shape: d.graph.node(d.node).ty.shape,
            ops: client_ops(p, &d.graph, d.node, &user, &d.name)?,
        });
    }
    for &id in public {
        let n = p.graph.node(id);
        let name = format!("public%{}", id.index());
        let at = if n.span.is_empty() {
            String::new()
        } else {
            format!(" at {}", p.source.location(n.span))
        };
        out.push(DerivedTensor {
            description: format!(
                "`{}`{at}, computed by the server from public inputs",
                n.op.name()
            ),
            shape: n.ty.shape,
            ops: client_ops(p, &p.graph, id, &user, &name)?,
            name,
        });
    }
    Ok(out)
}

/// The ops that compute `node` of `graph` from the user's inputs: its ancestors in id order
/// (the graphs are append-only, so ids are topological), the result last.
fn client_ops(
    p: &Program,
    graph: &Graph,
    node: NodeId,
    user: &FxHashMap<&str, u32>,
    what: &str,
) -> Result<Vec<ClientOp>, Diagnostic> {
    let mut needed: FxHashSet<NodeId> = FxHashSet::default();
    let mut stack = vec![node];
    while let Some(id) = stack.pop() {
        if needed.insert(id) {
            let n = graph.node(id);
            // An input element reads the input directly: the sequence node is not computed.
            if !matches!(n.op, Op::Element { .. }) {
                stack.extend(n.args.iter().copied());
            }
        }
    }
    let mut order: Vec<NodeId> = needed.into_iter().collect();
    order.sort_unstable();
    let mut ops = Vec::with_capacity(order.len());
    let mut map: FxHashMap<NodeId, u32> = FxHashMap::default();
    for id in order {
        let n = graph.node(id);
        let refuse = |why: &str| {
            Diagnostic::new(
                Code::Unsupported,
                &p.source,
                n.span,
                format!(
                    "cannot compute `{}` in the clear for `{what}`: {why}",
                    n.op.name()
                ),
            )
        };
        let arg = |i: usize| -> Result<u32, Diagnostic> {
            n.args
                .get(i)
                .and_then(|a| map.get(a))
                .copied()
                .ok_or_else(|| refuse("an operand is missing"))
        };
        let input = |name: &str, element: u32| {
            user.get(name)
                .map(|&k| ClientOp::Input { input: k, element })
                .ok_or_else(|| refuse("not a program input"))
        };
        let op = match &n.op {
            // Whole sequences are only read through `element`.
            Op::Input { .. } if n.ty.seq.is_some() => continue,
            Op::Input { name } => input(name, 0)?,
            Op::Element { index } => match n.args.first().map(|a| &graph.node(*a).op) {
                Some(Op::Input { name }) => input(name, *index)?,
                _ => return Err(refuse("an element of something other than an input")),
            },
            Op::Const { value } => ClientOp::Fill {
                shape: n.ty.shape,
                value: *value,
            },
            Op::Add => ClientOp::Add(arg(0)?, arg(1)?),
            Op::Sub => ClientOp::Sub(arg(0)?, arg(1)?),
            Op::Mul => ClientOp::Mul(arg(0)?, arg(1)?),
            Op::Div => {
                // A division by a compile-time scalar: a product with its inverse.
                let divisor = n.args.get(1).map(|a| &graph.node(*a).op);
                let Some(Op::Const { value }) = divisor else {
                    return Err(refuse("the divisor is not a constant"));
                };
                let inv = ops.len() as u32;
                ops.push(ClientOp::Fill {
                    shape: crate::ir::Shape::Scalar,
                    value: 1.0 / value,
                });
                ClientOp::Mul(arg(0)?, inv)
            }
            Op::Neg => ClientOp::Neg(arg(0)?),
            Op::Pow { exp } => ClientOp::Pow(arg(0)?, *exp),
            Op::Transpose => ClientOp::Transpose(arg(0)?),
            Op::MatMul => ClientOp::MatMul(arg(0)?, arg(1)?),
            Op::MatVec => ClientOp::MatVec(arg(0)?, arg(1)?),
            Op::ScaleCols => ClientOp::ScaleCols(arg(0)?, arg(1)?),
            Op::ScaleRows => ClientOp::ScaleRows(arg(0)?, arg(1)?),
            Op::SumRows => ClientOp::SumRows(arg(0)?),
            Op::SumCols => ClientOp::SumCols(arg(0)?),
            Op::Dot => ClientOp::Dot(arg(0)?, arg(1)?),
            _ => return Err(refuse("not a tensor operation")),
        };
        map.insert(id, ops.len() as u32);
        ops.push(op);
    }
    // The result must be the last op.
    let last = map.get(&node).copied().unwrap_or(0);
    if last as usize + 1 != ops.len() {
        ops.push(ClientOp::Neg(last));
        ops.push(ClientOp::Neg(ops.len() as u32 - 1));
    }
    Ok(ops)
}
