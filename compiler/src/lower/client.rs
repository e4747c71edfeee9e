//! The client side of the schedule: derived inputs (client-side precomputation) as a list of
//! plain tensor ops over the user's inputs.

use rustc_hash::FxHashMap;

use hel_schedule::{ClientOp, DerivedTensor};

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{NodeId, Op, Program};

/// Every derived input of `p` as client ops.
pub fn derived_tensors(p: &Program) -> Result<Vec<DerivedTensor>, Diagnostic> {
    let user: FxHashMap<&str, u32> = p
        .inputs
        .iter()
        .filter(|i| !p.is_derived(&i.name))
        .enumerate()
        .map(|(k, i)| (i.name.as_str(), k as u32))
        .collect();
    p.derived
        .iter()
        .map(|d| {
            let mut ops = Vec::new();
            let mut map: FxHashMap<NodeId, u32> = FxHashMap::default();
            // The graph is append-only, so ids are already in topological order.
            for (id, n) in d.graph.nodes() {
                let arg =
                    |i: usize| -> Option<u32> { n.args.get(i).and_then(|a| map.get(a)).copied() };
                let op = match &n.op {
                    Op::Input { name } => match (user.get(name.as_str()), n.ty.seq) {
                        (Some(&k), None) => Some(ClientOp::Input {
                            input: k,
                            element: 0,
                        }),
                        _ => None, // whole sequences are only read through `element`
                    },
                    Op::Element { index } => {
                        let src = n.args.first().map(|a| &d.graph.node(*a).op);
                        match src {
                            Some(Op::Input { name }) => {
                                user.get(name.as_str()).map(|&k| ClientOp::Input {
                                    input: k,
                                    element: *index,
                                })
                            }
                            _ => None,
                        }
                    }
                    Op::Const { value } => Some(ClientOp::Fill {
                        shape: n.ty.shape,
                        value: *value,
                    }),
                    Op::Add => Some(ClientOp::Add(arg(0).unwrap_or(0), arg(1).unwrap_or(0))),
                    Op::Sub => Some(ClientOp::Sub(arg(0).unwrap_or(0), arg(1).unwrap_or(0))),
                    Op::Mul => Some(ClientOp::Mul(arg(0).unwrap_or(0), arg(1).unwrap_or(0))),
                    Op::Neg => Some(ClientOp::Neg(arg(0).unwrap_or(0))),
                    Op::Transpose => Some(ClientOp::Transpose(arg(0).unwrap_or(0))),
                    Op::MatMul => Some(ClientOp::MatMul(arg(0).unwrap_or(0), arg(1).unwrap_or(0))),
                    Op::MatVec => Some(ClientOp::MatVec(arg(0).unwrap_or(0), arg(1).unwrap_or(0))),
                    Op::ScaleCols => Some(ClientOp::ScaleCols(
                        arg(0).unwrap_or(0),
                        arg(1).unwrap_or(0),
                    )),
                    Op::ScaleRows => Some(ClientOp::ScaleRows(
                        arg(0).unwrap_or(0),
                        arg(1).unwrap_or(0),
                    )),
                    other => {
                        return Err(Diagnostic::new(
                            Code::Unsupported,
                            &p.source,
                            n.span,
                            format!(
                                "the client cannot compute `{}` for derived input `{}`",
                                other.name(),
                                d.name
                            ),
                        ))
                    }
                };
                if let Some(op) = op {
                    map.insert(id, ops.len() as u32);
                    ops.push(op);
                }
            }
            // The result must be the last op.
            let last = map.get(&d.node).copied().unwrap_or(0);
            if last as usize + 1 != ops.len() {
                ops.push(ClientOp::Neg(last));
                ops.push(ClientOp::Neg(ops.len() as u32 - 1));
            }
            Ok(DerivedTensor {
                name: d.name.clone(),
                description: d.description.clone(),
                shape: d.graph.node(d.node).ty.shape,
                ops,
            })
        })
        .collect()
}
