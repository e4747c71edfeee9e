//! `client-precompute`: a value computed only from encrypted inputs is something the client
//! holds in the clear before encrypting, so the client can compute it and upload it as one more
//! encrypted input, at depth 0. For logistic regression that makes the cross-minibatch products
//! `Z[i+1] @ transpose(Z[i])` free in depth.
//!
//! Only matrix products of low degree in the inputs qualify (products of two inputs, see
//! [`PRECOMPUTE_MAX_DEGREE`]): the client prepares data, it does not run the computation.
//! It trades upload bandwidth for depth, so only values on a critical path are precomputed (one
//! round at a time, re-analysing in between), each as large as possible (the whole input-only
//! expression), and within the budget `--client-precompute off|auto|<max extra bytes>` (bytes of
//! plaintext values, 8 per value; the encrypted size is reported after lowering).

use super::depth_search::{input_degrees, PRECOMPUTE_MAX_DEGREE};
use super::pipeline::Pass;
use crate::analysis::depth::{node_depths, slack};
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, DerivedInput, Graph, InputDecl, Node, NodeId, Op, Program, Secrecy};
use crate::source::SourceFile;

/// How much client-side precomputation is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientPrecompute {
    Off,
    #[default]
    Auto,
    /// At most this many bytes (8 per value) of extra inputs.
    MaxBytes(u64),
}

impl std::str::FromStr for ClientPrecompute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(ClientPrecompute::Off),
            "auto" => Ok(ClientPrecompute::Auto),
            n => n
                .parse()
                .map(ClientPrecompute::MaxBytes)
                .map_err(|_| format!("`{s}` is not off, auto or a number of bytes")),
        }
    }
}

pub struct ClientPrecomputePass {
    pub mode: ClientPrecompute,
}

const MAX_ROUNDS: usize = 64;

impl Pass for ClientPrecomputePass {
    fn name(&self) -> &'static str {
        "client-precompute"
    }

    fn description(&self) -> &'static str {
        "products of encrypted inputs on the critical path become extra inputs the client computes (depth 0)"
    }

    fn run(&self, mut p: Program) -> Result<Program, Diagnostic> {
        let limit = match self.mode {
            ClientPrecompute::Off => return Ok(p),
            ClientPrecompute::Auto => u64::MAX,
            ClientPrecompute::MaxBytes(b) => b,
        };
        let mut used: u64 = p
            .derived
            .iter()
            .filter_map(|d| p.input(&d.name))
            .map(|i| 8 * i.ty.shape.len() as u64)
            .sum();
        for _ in 0..MAX_ROUNDS {
            let picked = candidates(&p, limit, &mut used, true);
            if picked.is_empty() {
                break;
            }
            p = replace(p, &picked)?;
        }
        Ok(p)
    }
}

/// Before lowering to ciphertexts: every remaining product of encrypted inputs (critical or
/// not) becomes a derived input, because the slot layouts have no matrix-matrix product. Off
/// the critical path this costs upload, not depth. Returns the program unchanged when `mode`
/// is `Off` (lowering then reports the product it cannot implement).
pub fn precompute_remaining_products(
    mut p: Program,
    mode: ClientPrecompute,
) -> Result<Program, Diagnostic> {
    let limit = match mode {
        ClientPrecompute::Off => return Ok(p),
        ClientPrecompute::Auto => u64::MAX,
        ClientPrecompute::MaxBytes(b) => b,
    };
    let mut used: u64 = p
        .derived
        .iter()
        .filter_map(|d| p.input(&d.name))
        .map(|i| 8 * i.ty.shape.len() as u64)
        .sum();
    for _ in 0..MAX_ROUNDS {
        let picked = candidates(&p, limit, &mut used, false);
        if picked.is_empty() {
            break;
        }
        p = replace(p, &picked)?;
    }
    Ok(p)
}

/// Maximal input-only encrypted values with depth >= 1 (on a critical path if `critical`),
/// within the budget.
fn candidates(p: &Program, limit: u64, used: &mut u64, critical: bool) -> Vec<NodeId> {
    let g = &p.graph;
    let depth = node_depths(g);
    let outs: Vec<NodeId> = p.outputs.iter().map(|o| o.node).collect();
    let slack = slack(g, &outs, &depth);
    let degree = input_degrees(p);
    // A matrix product of inputs of low degree, possibly scaled, negated or transposed: what
    // the depth search planned for the client.
    let mut precomputable = vec![false; g.len()];
    for (id, n) in g.nodes() {
        let low = degree[id.index()].is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE);
        let arg = |i: usize| n.args.get(i).is_some_and(|a| precomputable[a.index()]);
        let public_scalar = |i: usize| {
            n.args.get(i).is_some_and(|a| {
                let x = g.node(*a);
                x.ty.secrecy == Secrecy::Plain && x.ty.shape == crate::ir::Shape::Scalar
            })
        };
        precomputable[id.index()] = low
            && match n.op {
                Op::MatMul => true,
                Op::Mul => (public_scalar(0) && arg(1)) || (arg(0) && public_scalar(1)),
                Op::Neg | Op::Transpose => arg(0),
                _ => false,
            };
    }
    let wanted = |id: NodeId| {
        let n = g.node(id);
        precomputable[id.index()]
            && n.ty.secrecy == Secrecy::Enc
            && depth[id.index()] >= 1
            && (!critical || slack[id.index()] == 0)
            && n.ty.seq.is_none()
    };
    let mut picked = Vec::new();
    for id in g.ids() {
        if wanted(id) && !g.users(id).into_iter().any(wanted) {
            let bytes = 8 * g.node(id).ty.shape.len() as u64;
            if used.saturating_add(bytes) > limit {
                continue;
            }
            *used += bytes;
            picked.push(id);
        }
    }
    picked
}

/// Replaces each picked node by a new derived input.
fn replace(mut p: Program, picked: &[NodeId]) -> Result<Program, Diagnostic> {
    let degrees = input_degrees(&p);
    let g = &p.graph;
    let mut b = Builder::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.len());
    for (id, n) in g.nodes() {
        let new = if picked.contains(&id) {
            let name = format!("pre{}", p.derived.len());
            let (sub, node) = extract(g, id);
            let bound = max_abs(&p, g, id);
            p.inputs.push(InputDecl {
                name: name.clone(),
                ty: n.ty,
                range: bound.map(|b| (-b, b)),
                span: n.span,
            });
            let degree = degrees[id.index()].unwrap_or(PRECOMPUTE_MAX_DEGREE);
            p.derived.push(DerivedInput {
                name: name.clone(),
                description: describe(g, id, &p.source),
                graph: sub,
                node,
                degree,
            });
            let mut input = Node::new(Op::Input { name }, vec![], n.ty, n.span);
            input.iter = n.iter.clone();
            b.add(input)
        } else {
            let args = n.args.iter().map(|a| map[a.index()]).collect();
            b.add(Node { args, ..n.clone() })
        };
        map.push(new);
    }
    let outputs =
        super::rewrite::remap_outputs(&p, "client-precompute", |o| map.get(o.index()).copied())?;
    super::dce::Dce.run(p.with_graph(b.finish(), outputs))
}

/// The sub-graph computing `id` from inputs, as a standalone graph.
fn extract(g: &Graph, id: NodeId) -> (Graph, NodeId) {
    let mut need = vec![false; g.len()];
    need[id.index()] = true;
    for x in g.ids().rev() {
        if need[x.index()] {
            for a in &g.node(x).args {
                need[a.index()] = true;
            }
        }
    }
    let mut b = Builder::new();
    let mut map: Vec<Option<NodeId>> = vec![None; g.len()];
    for (x, n) in g.nodes() {
        if need[x.index()] {
            let args = n.args.iter().filter_map(|a| map[a.index()]).collect();
            map[x.index()] = Some(b.add(Node { args, ..n.clone() }));
        }
    }
    let node = map[id.index()].unwrap_or(id);
    (b.finish(), node)
}

/// A bound on `|value|` from the declared input ranges (interval arithmetic).
fn max_abs(p: &Program, g: &Graph, id: NodeId) -> Option<f64> {
    let n = g.node(id);
    let arg = |i: usize| n.args.get(i).and_then(|a| max_abs(p, g, *a));
    let inner = |i: usize| match g.node(n.args[i]).ty.shape {
        crate::ir::Shape::Matrix(_, c) => c as f64,
        crate::ir::Shape::Vector(len) => len as f64,
        crate::ir::Shape::Scalar => 1.0,
    };
    Some(match &n.op {
        Op::Input { name } => {
            let (lo, hi) = p.input(name)?.range?;
            lo.abs().max(hi.abs())
        }
        Op::Const { value } => value.abs(),
        Op::Add | Op::Sub => arg(0)? + arg(1)?,
        Op::Mul | Op::ScaleCols | Op::ScaleRows => arg(0)? * arg(1)?,
        Op::MatVec | Op::MatMul | Op::Dot => inner(0) * arg(0)? * arg(1)?,
        Op::SumCols => inner(0) * arg(0)?,
        Op::SumRows => match g.node(n.args[0]).ty.shape {
            crate::ir::Shape::Matrix(r, _) => r as f64 * arg(0)?,
            _ => return None,
        },
        Op::Neg | Op::Transpose | Op::Index | Op::Element { .. } => arg(0)?,
        _ => return None,
    })
}

/// A short source-like rendering of an input-only expression.
fn describe(g: &Graph, id: NodeId, src: &SourceFile) -> String {
    let n = g.node(id);
    let a = |i: usize| n.args.get(i).map_or("?".into(), |x| describe(g, *x, src));
    match &n.op {
        Op::Input { name } => name.clone(),
        Op::Const { value } => format!("{value}"),
        Op::Element { index } => format!("{}[{index}]", a(0)),
        Op::Index => format!("{}[{}]", a(0), a(1)),
        Op::Transpose => format!("transpose({})", a(0)),
        Op::MatMul | Op::MatVec => format!(
            "{} @ {}",
            paren(g, n.args[0], src),
            paren(g, n.args[1], src)
        ),
        Op::Mul => format!(
            "{} * {}",
            paren(g, n.args[0], src),
            paren(g, n.args[1], src)
        ),
        Op::Add => format!("{} + {}", a(0), a(1)),
        Op::Sub => format!("{} - {}", a(0), paren(g, n.args[1], src)),
        Op::Neg => format!("-{}", paren(g, n.args[0], src)),
        op => format!(
            "{}({})",
            op.name(),
            n.args
                .iter()
                .map(|x| describe(g, *x, src))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn paren(g: &Graph, id: NodeId, src: &SourceFile) -> String {
    let s = describe(g, id, src);
    match g.node(id).op {
        Op::Add | Op::Sub | Op::Mul | Op::MatMul | Op::MatVec => format!("({s})"),
        _ => s,
    }
}
