//! `unroll`: replaces every loop by copies of its body, one per iteration, so that the rest of
//! the pipeline sees a DAG. Nested loops unroll from the inside out. Each copied node is tagged
//! with its iteration number (outermost first) so depth can be attributed to iterations; the loop
//! index becomes a constant for `const-fold` to use.

use super::pipeline::Pass;
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Graph, Node, NodeId, Op, OutputDecl, Program, Shape, Type};
use std::collections::HashMap;

pub struct Unroll;

impl Pass for Unroll {
    fn name(&self) -> &'static str {
        "unroll"
    }

    fn description(&self) -> &'static str {
        "copy every loop body once per iteration (full unrolling); tags nodes with their iteration"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let mut b = Builder::new();
        let map = copy_graph(&mut b, &p.graph, &[], None, &[], &p)?;
        let outputs = p
            .outputs
            .iter()
            .map(|o| match map.get(o.node.index()).copied().flatten() {
                Some(node) => Ok(OutputDecl { node, ..o.clone() }),
                None => Err(internal(&p, o.span)),
            })
            .collect::<Result<_, _>>()?;
        Ok(p.with_graph(b.finish(), outputs))
    }
}

fn internal(p: &Program, span: crate::Span) -> Diagnostic {
    Diagnostic::new(
        &p.source,
        span,
        "internal error in `unroll`: a value has no copy",
    )
}

/// Copies `g` into `b`, binding `Param j` to `params[j]` and the loop index to `index`, and
/// expanding loops. Returns the new id of every old node (`None` for loop nodes, which leave no
/// node behind).
fn copy_graph(
    b: &mut Builder,
    g: &Graph,
    params: &[NodeId],
    index: Option<NodeId>,
    iter: &[u32],
    p: &Program,
) -> Result<Vec<Option<NodeId>>, Diagnostic> {
    let mut map: Vec<Option<NodeId>> = Vec::with_capacity(g.len());
    let mut loop_results: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    for (id, n) in g.nodes() {
        let args: Vec<NodeId> = n
            .args
            .iter()
            .map(|a| {
                map.get(a.index())
                    .copied()
                    .flatten()
                    .ok_or_else(|| internal(p, n.span))
            })
            .collect::<Result<_, _>>()
            .or_else(|e| {
                if matches!(n.op, Op::LoopResult { .. }) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                }
            })?;
        let new = match &n.op {
            Op::Param { index } => Some(
                *params
                    .get(*index as usize)
                    .ok_or_else(|| internal(p, n.span))?,
            ),
            Op::LoopIndex => Some(index.ok_or_else(|| internal(p, n.span))?),
            Op::Loop(l) => {
                let mut state = args.clone();
                for (k, i) in (l.start..l.end).enumerate() {
                    let ix = b.add(Node::new(
                        Op::Const { value: i as f64 },
                        vec![],
                        Type::plain(Shape::Scalar),
                        n.span,
                    ));
                    let mut tag = iter.to_vec();
                    tag.push(k as u32);
                    let body_map = copy_graph(b, &l.body.graph, &state, Some(ix), &tag, p)?;
                    for (j, r) in l.body.results.iter().enumerate() {
                        state[j] = body_map
                            .get(r.index())
                            .copied()
                            .flatten()
                            .ok_or_else(|| internal(p, n.span))?;
                    }
                }
                state.truncate(l.carried.len());
                loop_results.insert(id, state);
                None
            }
            Op::LoopResult { index } => {
                let lp = n.args.first().ok_or_else(|| internal(p, n.span))?;
                let rs = loop_results.get(lp).ok_or_else(|| internal(p, n.span))?;
                Some(*rs.get(*index as usize).ok_or_else(|| internal(p, n.span))?)
            }
            _ => {
                let mut copy = Node::new(n.op.clone(), args, n.ty, n.span);
                copy.iter = if n.iter.is_empty() {
                    iter.to_vec()
                } else {
                    n.iter.clone()
                };
                Some(b.add(copy))
            }
        };
        map.push(new);
    }
    Ok(map)
}
