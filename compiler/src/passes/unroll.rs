//! `unroll`: replaces every loop by copies of its body, one per iteration, so that the rest of
//! the pipeline sees a DAG. Nested loops unroll from the inside out. Each copied node is tagged
//! with its iteration number (outermost first) so depth can be attributed to iterations; the loop
//! index becomes a constant for `const-fold` to use.
//!
//! With a factor F (`hel ir --unroll-factor F`), top-level loops are unrolled partially instead:
//! the body is copied F times into a loop of `n / F` iterations (the copies' loop index is
//! `start + F*i + j`), and the `n mod F` remaining iterations are peeled off after it. The
//! optimizing passes need a DAG, so a partially unrolled program is for inspection.

use super::pipeline::Pass;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Graph, Node, NodeId, Op, Program, Shape, Type};
use std::collections::HashMap;

pub struct Unroll {
    /// `None`: unroll fully. `Some(F)`: unroll top-level loops by F.
    pub factor: Option<u32>,
}

impl Pass for Unroll {
    fn name(&self) -> &'static str {
        "unroll"
    }

    fn description(&self) -> &'static str {
        "copy every loop body once per iteration (full unrolling, or by a factor); tags nodes with their iteration"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let mut b = Builder::new();
        let map = copy_graph(&mut b, &p.graph, &[], None, &[], &p, self.factor)?;
        let outputs = super::rewrite::remap_outputs(&p, self.name(), |o| {
            map.get(o.index()).copied().flatten()
        })?;
        Ok(p.with_graph(b.finish(), outputs))
    }
}

fn internal(p: &Program, span: crate::Span) -> Diagnostic {
    Diagnostic::new(
        Code::Internal,
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
    factor: Option<u32>,
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
            Op::Loop(l) if factor.is_some_and(|f| f > 1 && u64::from(f) < l.trip_count()) => {
                let f = factor.unwrap_or(1);
                let state = partial(b, l, &args, f, n, p)?;
                loop_results.insert(id, state);
                None
            }
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
                    let body_map = copy_graph(b, &l.body.graph, &state, Some(ix), &tag, p, None)?;
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

/// Unrolls loop `l` (with arguments `args` in `b`) by `f`: a loop over `n / f` iterations whose
/// body holds `f` copies, then the remaining iterations peeled. Returns the carried values after
/// the last iteration.
fn partial(
    b: &mut Builder,
    l: &crate::ir::LoopOp,
    args: &[NodeId],
    f: u32,
    n: &Node,
    p: &Program,
) -> Result<Vec<NodeId>, Diagnostic> {
    let trip = l.trip_count();
    let (whole, rest) = (trip / u64::from(f), trip % u64::from(f));
    let scalar = Type::plain(Shape::Scalar);
    let konst =
        |b: &mut Builder, v: f64| b.add(Node::new(Op::Const { value: v }, vec![], scalar, n.span));
    // The parameters keep the types the checker gave the original body (carried values widen).
    let param_tys: Vec<Type> = (0..args.len())
        .map(|j| {
            l.body
                .graph
                .nodes()
                .find(|(_, x)| x.op == Op::Param { index: j as u32 })
                .map_or(b.node(args[j]).ty, |(_, x)| x.ty)
        })
        .collect();
    let param_ty = |j: usize| param_tys[j];
    let mut rb = Builder::new();
    let params: Vec<NodeId> = (0..args.len())
        .map(|j| {
            rb.add(Node::new(
                Op::Param { index: j as u32 },
                vec![],
                param_ty(j),
                n.span,
            ))
        })
        .collect();
    let li = rb.add(Node::new(Op::LoopIndex, vec![], scalar, n.span));
    let mut state = params.clone();
    for j in 0..f {
        let cf = konst(&mut rb, f64::from(f));
        let scaled = rb.add(Node::new(Op::Mul, vec![cf, li], scalar, n.span));
        let offset = konst(&mut rb, (l.start + i64::from(j)) as f64);
        let ix = rb.add(Node::new(Op::Add, vec![scaled, offset], scalar, n.span));
        let body_map = copy_graph(&mut rb, &l.body.graph, &state, Some(ix), &[j], p, None)?;
        for (k, r) in l.body.results.iter().enumerate() {
            state[k] = body_map
                .get(r.index())
                .copied()
                .flatten()
                .ok_or_else(|| internal(p, n.span))?;
        }
    }
    let carried = l.carried.len();
    let body = crate::ir::Region {
        graph: rb.finish(),
        results: state[..carried].to_vec(),
    };
    let new_loop = crate::ir::LoopOp {
        var: l.var.clone(),
        start: 0,
        end: whole as i64,
        carried: l.carried.clone(),
        body,
    };
    let loop_id = b.add(Node::new(
        Op::Loop(Box::new(new_loop)),
        args.to_vec(),
        n.ty,
        n.span,
    ));
    let mut st: Vec<NodeId> = (0..carried)
        .map(|k| {
            b.add(Node::new(
                Op::LoopResult { index: k as u32 },
                vec![loop_id],
                param_ty(k),
                n.span,
            ))
        })
        .collect();
    st.extend_from_slice(&args[carried..]);
    for t in 0..rest {
        let i = l.start + (whole * u64::from(f) + t) as i64;
        let ix = konst(b, i as f64);
        let tag = [(i - l.start) as u32];
        let body_map = copy_graph(b, &l.body.graph, &st, Some(ix), &tag, p, None)?;
        for (k, r) in l.body.results.iter().enumerate() {
            st[k] = body_map
                .get(r.index())
                .copied()
                .flatten()
                .ok_or_else(|| internal(p, n.span))?;
        }
    }
    st.truncate(carried);
    Ok(st)
}
