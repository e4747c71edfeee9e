//! Shared machinery for the cleanup passes (`const-fold`, `simplify`, `cse`, `dce`): each of
//! them walks a loop-free graph in creation order and appends a replacement for every node to a
//! fresh [`Builder`]. Keeping the walk in one place keeps the passes short and guarantees that
//! they all number nodes the same deterministic way.

// `Diagnostic` is the project-wide error type (`Pass::run` returns it); its size is a
// crate-wide question, not one for each pass.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Node, NodeId, Op, OutputDecl, Program, Secrecy, Type};

/// Rebuilds `p` node by node. `replace` receives the builder and the old node with its operands
/// already mapped to new ids, and returns the new id standing for it (usually a node it appended,
/// possibly an existing node or constant).
///
/// The cleanup passes run after `unroll`, so a loop node here means the pipeline is misordered:
/// that is reported rather than silently skipped.
pub(crate) fn rebuild(
    p: &Program,
    pass: &str,
    mut replace: impl FnMut(&mut Builder, Node) -> Result<NodeId, Diagnostic>,
) -> Result<Program, Diagnostic> {
    let mut b = Builder::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(p.graph.len());
    for (_, n) in p.graph.nodes() {
        require_loop_free(p, pass, n)?;
        let args = n
            .args
            .iter()
            .map(|a| {
                map.get(a.index())
                    .copied()
                    .ok_or_else(|| internal(p, pass, n, "an operand has no replacement"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let node = Node { args, ..n.clone() };
        map.push(replace(&mut b, node)?);
    }
    let outputs = remap_outputs(p, pass, |old| map.get(old.index()).copied())?;
    Ok(p.with_graph(b.finish(), outputs))
}

/// The outputs of `p` with their nodes mapped through `map`.
pub(crate) fn remap_outputs(
    p: &Program,
    pass: &str,
    map: impl Fn(NodeId) -> Option<NodeId>,
) -> Result<Vec<OutputDecl>, Diagnostic> {
    p.outputs
        .iter()
        .map(|o| match map(o.node) {
            Some(node) => Ok(OutputDecl { node, ..o.clone() }),
            None => Err(Diagnostic::new(
                Code::Internal,
                &p.source,
                o.span,
                format!(
                    "internal error in `{pass}`: output `{}` has no node",
                    o.name
                ),
            )),
        })
        .collect()
}

/// A diagnostic for a loop node reaching a pass that needs an unrolled program.
pub(crate) fn require_loop_free(p: &Program, pass: &str, n: &Node) -> Result<(), Diagnostic> {
    match n.op {
        Op::Loop(_) | Op::LoopResult { .. } | Op::Param { .. } | Op::LoopIndex => {
            Err(Diagnostic::new(
                Code::Internal,
                &p.source,
                n.span,
                format!("internal error: `{pass}` needs a loop-free program, but this loop is still there"),
            )
            .with_help("run `unroll` before it"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn internal(p: &Program, pass: &str, n: &Node, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::Internal,
        &p.source,
        n.span,
        format!("internal error in `{pass}`: {why}"),
    )
}

/// The value of a constant node, if `id` is one.
pub(crate) fn const_value(b: &Builder, id: NodeId) -> Option<f64> {
    match b.node(id).op {
        Op::Const { value } => Some(value),
        _ => None,
    }
}

/// A constant of `like`'s shape, public, placed where `like` was.
pub(crate) fn constant(b: &mut Builder, like: &Node, value: f64) -> NodeId {
    let mut c = Node::new(
        Op::Const { value },
        vec![],
        Type::plain(like.ty.shape),
        like.span,
    );
    c.iter = like.iter.clone();
    b.add(c)
}

/// `n` with its secrecy recomputed from its (new) operands: a value computed only from public
/// values is public. Unrolling leaves nodes typed `enc` whose operands became public (a
/// loop-carried variable is `enc` in every iteration, even the first, where it still holds its
/// public initial value); folding and simplifying create more. Inputs and constants keep theirs.
pub(crate) fn refine_secrecy(b: &Builder, mut n: Node) -> Node {
    if n.args.is_empty() {
        return n;
    }
    n.ty.secrecy = n
        .args
        .iter()
        .map(|a| b.node(*a).ty.secrecy)
        .fold(Secrecy::Plain, Secrecy::join);
    n
}
