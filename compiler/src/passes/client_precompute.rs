//! `client-precompute`: a value computed only from encrypted inputs is something the client
//! holds in the clear before encrypting, so the client can compute it and upload it as one more
//! encrypted input, at depth 0. For logistic regression that makes the cross-minibatch products
//! `Z[i+1] @ transpose(Z[i])` free in depth.
//!
//! Only matrix and matrix-vector products of low degree in the inputs qualify (products of two
//! inputs, see [`PRECOMPUTE_MAX_DEGREE`]): the client prepares data, it does not run the
//! computation. A matrix product trades upload bandwidth for depth, so only those on a critical
//! path are precomputed; a matrix-vector product of data (at `beta_0 = 0` the first gradient is
//! `gamma h(0) transpose(Z[0]) @ 1`) is a small vector that replaces server work wherever it is.
//! One round at a time, re-analysing in between, each as large as possible (the whole
//! input-only expression), and within the budget
//! `--client-precompute off|auto|<max extra bytes>` (bytes of plaintext values, 8 per value; the
//! encrypted size is reported after lowering).

use super::depth_search::{input_degrees, PRECOMPUTE_MAX_DEGREE};
use super::pipeline::Pass;
use crate::analysis::depth::{node_depths, slack};
use crate::diagnostics::Diagnostic;
use crate::ir::{
    Builder, DerivedInput, Graph, InputDecl, Node, NodeId, Op, Program, Secrecy, Shape, Type,
};
use crate::source::SourceFile;

/// How much client-side precomputation is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPrecompute {
    Off,
    /// Unbounded.
    Auto,
    /// At most this many bytes (8 per value) of extra inputs.
    MaxBytes(u64),
    /// Extra inputs of at most this many percent of the encrypted data's own values
    /// (`--client-precompute 2x` is 200): a budget that scales with the data, where a byte
    /// count fits one data set only.
    DataPercent(u32),
}

impl Default for ClientPrecompute {
    /// Unbounded, still: under `2x` GD and NAG at k = 6 keep two of their four Grams and
    /// reach depth 16 (estimated 26-27 s of server work) where `auto` reaches 13 (22-28 s)
    /// with 3.47x the data in client products.
    fn default() -> Self {
        ClientPrecompute::Auto
    }
}

impl std::str::FromStr for ClientPrecompute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(ClientPrecompute::Off),
            "auto" => Ok(ClientPrecompute::Auto),
            n => {
                let refuse = || {
                    format!("`{s}` is not off, auto, a multiple of the data (`2x`) or a number of bytes")
                };
                match n.strip_suffix('x') {
                    Some(times) => {
                        let t: f64 = times.parse().map_err(|_| refuse())?;
                        if !(0.0..=1_000.0).contains(&t) {
                            return Err(refuse());
                        }
                        Ok(ClientPrecompute::DataPercent((t * 100.0).round() as u32))
                    }
                    None => n
                        .parse()
                        .map(ClientPrecompute::MaxBytes)
                        .map_err(|_| refuse()),
                }
            }
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
        "data products on the critical path and data matrix-vector products become extra inputs the client computes (depth 0)"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        precompute(p, self.mode, Select::Optimize)
    }
}

/// `client-products`, the last pass at `-O2`: every remaining product of encrypted inputs
/// (critical or not) becomes a derived input. The client holds the data, and uploading a
/// product of two data tensors costs less than the server's encrypted matrix product (a Gram
/// of two 1024 × 197 minibatches is 1024 columns of rotations); off the critical path this
/// costs upload, not depth. Leaves the program unchanged when `mode` is `Off` (the server
/// then multiplies).
pub struct RemainingProductsPass {
    pub mode: ClientPrecompute,
}

impl Pass for RemainingProductsPass {
    fn name(&self) -> &'static str {
        "client-products"
    }

    fn description(&self) -> &'static str {
        "the remaining products of encrypted inputs become inputs the client computes"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        precompute(p, self.mode, Select::Necessary)
    }
}

/// The bytes of extra inputs `mode` allows the client for program `p` (8 per value; none
/// when off, `u64::MAX` when unbounded).
pub fn budget_bytes(mode: ClientPrecompute, p: &Program) -> u64 {
    match mode {
        ClientPrecompute::Off => 0,
        ClientPrecompute::Auto => u64::MAX,
        ClientPrecompute::MaxBytes(b) => b,
        ClientPrecompute::DataPercent(pc) => {
            let data = crate::analysis::client_work::ClientWork::of(p).data_values;
            data.saturating_mul(8).saturating_mul(u64::from(pc)) / 100
        }
    }
}

/// Replaces what `select` takes by derived inputs, one round at a time (re-analysing in
/// between), within the budget of `mode`.
fn precompute(
    mut p: Program,
    mode: ClientPrecompute,
    select: Select,
) -> Result<Program, Diagnostic> {
    if mode == ClientPrecompute::Off {
        return Ok(p);
    }
    let limit = budget_bytes(mode, &p);
    let mut used: u64 = p
        .derived
        .iter()
        .filter_map(|d| p.input(&d.name))
        .map(|i| 8 * i.ty.shape.len() as u64)
        .sum();
    for _ in 0..MAX_ROUNDS {
        let picked = candidates(&p, limit, &mut used, select);
        if picked.is_empty() {
            break;
        }
        p = replace(p, &picked)?;
    }
    Ok(p)
}

/// Which input-only values [`candidates`] takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Select {
    /// The -O2 pass: matrix products on a critical path (they buy depth with upload), and
    /// matrix-vector products anywhere (data statistics: a vector instead of server work).
    Optimize,
    /// Before lowering, at every level: the matrix products the layouts cannot implement.
    Necessary,
}

/// Maximal input-only encrypted values with depth >= 1 of the kinds `select` takes, within the
/// budget.
fn candidates(p: &Program, limit: u64, used: &mut u64, select: Select) -> Vec<NodeId> {
    let g = &p.graph;
    let depth = node_depths(g);
    let outs: Vec<NodeId> = p.outputs.iter().map(|o| o.node).collect();
    let slack = slack(g, &outs, &depth);
    let degree = input_degrees(p);
    let tensors = data_tensors(p);
    // A matrix product of inputs of low degree, possibly scaled, negated or transposed: what
    // the depth search planned for the client.
    let mut precomputable = vec![false; g.len()];
    let mut computable = vec![false; g.len()];
    for (id, n) in g.nodes() {
        // Only what the client's ops (`hel_schedule::ClientOp`) compute: a matrix-vector
        // product of a row sum (`A[i] @ sum_rows(Z[i])`) is data too, but no client op sums.
        // A refreshed input is the server's: the client does not have it.
        let server_input = matches!(&n.op, Op::Input { name } if p.is_refreshed(name));
        computable[id.index()] = n.args.iter().all(|a| computable[a.index()])
            && !server_input
            && matches!(
                n.op,
                Op::Input { .. }
                    | Op::Element { .. }
                    | Op::Const { .. }
                    | Op::Add
                    | Op::Sub
                    | Op::Mul
                    | Op::Neg
                    | Op::Transpose
                    | Op::MatMul
                    | Op::MatVec
                    | Op::ScaleCols
                    | Op::ScaleRows
            );
        let low = computable[id.index()]
            && degree[id.index()].is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE)
            && tensors[id.index()].len() <= PRECOMPUTE_MAX_DEGREE as usize;
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
                Op::MatVec => select == Select::Optimize,
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
            && match select {
                Select::Optimize => slack[id.index()] == 0 || n.op == Op::MatVec,
                Select::Necessary => true,
            }
            && n.ty.seq.is_none()
    };
    // Products equal up to constant factors are one derived input, uploaded once (see
    // [`replace`]): counted once against the budget.
    let mut uploaded: Vec<String> = p.derived.iter().map(|d| d.description.clone()).collect();
    let mut picked = Vec::new();
    for id in g.ids() {
        if wanted(id) && !g.users(id).into_iter().any(wanted) {
            let (_, sub, node) = canonical(p, id);
            let description = describe(&sub, node, &p.source);
            if !uploaded.contains(&description) {
                let bytes = 8 * g.node(id).ty.shape.len() as u64;
                if used.saturating_add(bytes) > limit {
                    continue;
                }
                *used += bytes;
                uploaded.push(description);
            }
            picked.push(id);
        }
    }
    picked
}

/// The data tensors (a declared input, or one element of an input sequence) each node reads,
/// up to one more than a derived input may combine: `(Z[0] + Z[1]) @ transpose(Z[2])` has
/// degree 2 but three minibatches' worth of data, which is computation, not preparation. A
/// derived input counts as the tensors it was made of.
fn data_tensors(p: &Program) -> Vec<Vec<(String, Option<u32>)>> {
    const CAP: usize = PRECOMPUTE_MAX_DEGREE as usize + 1;
    let g = &p.graph;
    let mut out: Vec<Vec<(String, Option<u32>)>> = Vec::with_capacity(g.len());
    for (_, n) in g.nodes() {
        let leaf =
            |name: &str, element: Option<u32>| match p.derived.iter().find(|d| d.name == name) {
                // Distinct placeholders: what it read is not recorded, only how much.
                Some(d) => (0..d.degree.min(CAP as u32))
                    .map(|k| (format!("{name}#{k}"), None))
                    .collect(),
                None => vec![(name.to_string(), element)],
            };
        let set = match &n.op {
            Op::Input { name } if n.ty.seq.is_some() => {
                (0..CAP).map(|k| (format!("{name}#{k}"), None)).collect()
            }
            Op::Input { name } => leaf(name, None),
            Op::Element { index } => match n.args.first().map(|a| &g.node(*a).op) {
                Some(Op::Input { name }) => leaf(name, Some(*index)),
                _ => n
                    .args
                    .first()
                    .map_or(Vec::new(), |a| out[a.index()].clone()),
            },
            _ => {
                let mut set: Vec<(String, Option<u32>)> = Vec::new();
                for a in &n.args {
                    for t in &out[a.index()] {
                        if set.len() < CAP && !set.contains(t) {
                            set.push(t.clone());
                        }
                    }
                }
                set
            }
        };
        out.push(set);
    }
    out
}

/// Replaces each picked node by a derived input: the product without its constant factors,
/// times the factor. Products equal up to constant factors (`(c Z[1]) @ Z[0]^T` and
/// `Z[1] @ (d Z[0]^T)`) become one derived input, uploaded once; the lowering applies the
/// factors (in the client's packing, or on the server where that is free).
fn replace(mut p: Program, picked: &[NodeId]) -> Result<Program, Diagnostic> {
    let degrees = input_degrees(&p);
    let g = &p.graph;
    let mut b = Builder::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.len());
    for (id, n) in g.nodes() {
        let new = if picked.contains(&id) {
            let (factor, sub, node) = canonical(&p, id);
            let description = describe(&sub, node, &p.source);
            let name = match p.derived.iter().find(|d| d.description == description) {
                Some(d) => d.name.clone(),
                None => {
                    let name = (p.derived.len()..)
                        .map(|k| format!("pre{k}"))
                        .find(|n| p.input(n).is_none())
                        .unwrap_or_default();
                    let bound = max_abs(&p, &sub, node);
                    p.inputs.push(InputDecl {
                        name: name.clone(),
                        ty: n.ty,
                        range: bound.map(|b| (-b, b)),
                        span: n.span,
                        refreshed_from: None,
                        model_state: false,
                    });
                    let degree = degrees[id.index()].unwrap_or(PRECOMPUTE_MAX_DEGREE);
                    p.derived.push(DerivedInput {
                        name: name.clone(),
                        description,
                        graph: sub,
                        node,
                        degree,
                    });
                    name
                }
            };
            let mut input = Node::new(Op::Input { name }, vec![], n.ty, n.span);
            input.iter = n.iter.clone();
            let input = b.add(input);
            if factor == 1.0 {
                input
            } else {
                let mut c = Node::new(
                    Op::Const { value: factor },
                    vec![],
                    Type::plain(Shape::Scalar),
                    n.span,
                );
                c.iter = n.iter.clone();
                let c = b.add(c);
                let mut scaled = Node::new(Op::Mul, vec![c, input], n.ty, n.span);
                scaled.iter = n.iter.clone();
                b.add(scaled)
            }
        } else {
            let args = n.args.iter().map(|a| map[a.index()]).collect();
            b.add(Node { args, ..n.clone() })
        };
        map.push(new);
    }
    let outputs =
        super::rewrite::remap_outputs(&p, "client-precompute", |o| map.get(o.index()).copied())?;
    let p = super::dce::Dce.run(p.with_graph(b.finish(), outputs))?;
    Ok(drop_unused_derived(p))
}

/// Forgets derived inputs nothing reads any more (a Gram whose only uses became parts of
/// larger derived inputs): the client would compute them for nothing.
fn drop_unused_derived(mut p: Program) -> Program {
    let read: Vec<String> = p
        .graph
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Input { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let unused: Vec<String> = p
        .derived
        .iter()
        .filter(|d| !read.contains(&d.name))
        .map(|d| d.name.clone())
        .collect();
    p.derived.retain(|d| !unused.contains(&d.name));
    p.inputs.retain(|i| !unused.contains(&i.name));
    p
}

/// `id` as a constant factor times a product without constant factors (negations and
/// products with constant scalars taken out), the latter as a standalone graph with its
/// products in their cheapest order ([`super::matrix_chain`]).
/// Derived inputs it reads are expanded into their own formulas (over the user's inputs), so
/// the client computes every derived input from the user's data alone.
fn canonical(p: &Program, id: NodeId) -> (f64, Graph, NodeId) {
    let mut b = Builder::hash_consing();
    let mut map: Vec<Option<NodeId>> = vec![None; p.graph.len()];
    let (factor, node) = strip(p, &p.graph, id, &mut b, &mut map);
    let (graph, node) = super::matrix_chain::cheapest_order(&b.finish(), node);
    (factor, graph, node)
}

/// Copies `id` into `b` without its constant factors, returning the factor taken out.
fn strip(
    p: &Program,
    g: &Graph,
    id: NodeId,
    b: &mut Builder,
    map: &mut Vec<Option<NodeId>>,
) -> (f64, NodeId) {
    let n = g.node(id);
    let constant = |x: NodeId| scalar_value(g, x);
    match n.op {
        Op::Neg => {
            let (f, x) = strip(p, g, n.args[0], b, map);
            return (-f, x);
        }
        Op::Mul => {
            if let Some(c) = constant(n.args[0]) {
                let (f, x) = strip(p, g, n.args[1], b, map);
                return (c * f, x);
            }
            if let Some(c) = constant(n.args[1]) {
                let (f, x) = strip(p, g, n.args[0], b, map);
                return (c * f, x);
            }
        }
        Op::MatMul | Op::MatVec | Op::Transpose => {
            let mut factor = 1.0;
            let mut args = Vec::new();
            for a in &n.args {
                let (f, x) = strip(p, g, *a, b, map);
                factor *= f;
                args.push(x);
            }
            let ty = match n.op {
                Op::MatMul | Op::MatVec => super::depth_search::result_type(
                    &n.op,
                    b.graph().node(args[0]).ty,
                    b.graph().node(args[1]).ty,
                ),
                _ => n.ty,
            };
            let node = b.add(Node {
                args,
                ty: Type::new(n.ty.secrecy, ty.shape),
                ..n.clone()
            });
            return (factor, node);
        }
        _ => {}
    }
    (1.0, copy(p, g, id, b, map))
}

/// The value of a public scalar computed from constants only.
fn scalar_value(g: &Graph, x: NodeId) -> Option<f64> {
    let n = g.node(x);
    if n.ty.shape != Shape::Scalar || n.ty.secrecy != Secrecy::Plain {
        return None;
    }
    let arg = |i: usize| n.args.get(i).and_then(|a| scalar_value(g, *a));
    match n.op {
        Op::Const { value } => Some(value),
        Op::Mul => Some(arg(0)? * arg(1)?),
        Op::Neg => Some(-arg(0)?),
        _ => None,
    }
}

/// Copies `id` and what it depends on into `b` unchanged, a derived input as its formula.
fn copy(
    p: &Program,
    g: &Graph,
    id: NodeId,
    b: &mut Builder,
    map: &mut Vec<Option<NodeId>>,
) -> NodeId {
    if let Some(x) = map[id.index()] {
        return x;
    }
    let n = g.node(id);
    let derived = match &n.op {
        Op::Input { name } => p.derived.iter().find(|d| &d.name == name),
        _ => None,
    };
    let x = match derived {
        Some(d) => {
            let mut inner = vec![None; d.graph.len()];
            copy(p, &d.graph, d.node, b, &mut inner)
        }
        None => {
            let args = n.args.iter().map(|a| copy(p, g, *a, b, map)).collect();
            b.add(Node { args, ..n.clone() })
        }
    };
    map[id.index()] = Some(x);
    x
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
