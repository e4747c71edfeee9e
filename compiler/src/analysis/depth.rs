//! The tensor-level depth model.
//!
//! - Inputs and constants are at depth 0, and so is every public (`plain`) value: public
//!   arithmetic happens in the clear.
//! - Additions, negation, transposition, reductions and indexing are free (they become additions
//!   and rotations).
//! - A product of two encrypted values (element-wise, inside `@`, `dot`, row/column scaling)
//!   costs one level: `max(d(a), d(b)) + 1`.
//! - A product of an encrypted value with a public one costs one level too (the plaintext is
//!   encoded at the scale and a rescale follows), except for small integer constants, which
//!   multiply without rescaling, and a constant times an input node, which the client packs.
//!   Passes make such products cheap by moving them onto operands with slack, e.g. a fresh
//!   input, where the level is spent off the critical path.
//! - `x^e` costs `ceil(log2 e)` levels (repeated squaring).

use crate::ir::{Graph, Node, NodeId, Op, Secrecy};

/// Depth of one node given its operands' depths.
pub struct DepthModel;

/// Integer constants with magnitude up to this multiply without a rescale.
const FREE_INTEGER: f64 = 1024.0;

impl DepthModel {
    /// Whether multiplying an encrypted value by `n` costs no level.
    pub fn is_free_factor(n: &Node) -> bool {
        matches!(n.op, Op::Const { value } if value.fract() == 0.0 && value.abs() <= FREE_INTEGER)
    }

    /// The cost of a product of `a` (depth `da`) and `b` (depth `db`), as the depth of the result.
    pub fn product(a: &Node, da: u32, b: &Node, db: u32) -> u32 {
        match (a.ty.secrecy, b.ty.secrecy) {
            (Secrecy::Plain, Secrecy::Plain) => 0,
            (Secrecy::Enc, Secrecy::Enc) => da.max(db) + 1,
            (Secrecy::Enc, Secrecy::Plain) => da + u32::from(!Self::is_free_factor(b)),
            (Secrecy::Plain, Secrecy::Enc) => db + u32::from(!Self::is_free_factor(a)),
        }
    }

    /// Whether `c * x` is an input `x`, or a view of one (an element, a transpose, a
    /// negation, a constant multiple), scaled by a compile-time constant `c`: the client packs the factor, as the
    /// lowering's oracle does with the inputs' views.
    fn packed(g: &Graph, c: Option<&Node>, x: Option<&Node>) -> bool {
        matches!(c.map(|c| &c.op), Some(Op::Const { .. })) && x.is_some_and(|x| Self::view(g, x))
    }

    /// An input or a view of one (scaled by constants, too).
    fn view(g: &Graph, x: &Node) -> bool {
        let arg = |i: usize| x.args.get(i).map(|a| g.node(*a));
        match x.op {
            Op::Input { .. } => true,
            Op::Mul => Self::packed(g, arg(0), arg(1)) || Self::packed(g, arg(1), arg(0)),
            Op::Element { .. } | Op::Transpose | Op::Neg => {
                x.args.first().is_some_and(|a| Self::view(g, g.node(*a)))
            }
            _ => false,
        }
    }

    pub fn node(g: &Graph, n: &Node, depth: &[u32]) -> u32 {
        if n.ty.secrecy == Secrecy::Plain {
            return 0;
        }
        let d = |i: usize| n.args.get(i).map_or(0, |a| depth[a.index()]);
        let arg = |i: usize| n.args.get(i).map(|a| g.node(*a));
        match &n.op {
            // A constant times an input is packed by the client with the factor (the inputs
            // `client-precompute` adds carry their constant factors this way).
            Op::Mul if Self::packed(g, arg(0), arg(1)) || Self::packed(g, arg(1), arg(0)) => 0,
            Op::Mul | Op::MatVec | Op::MatMul | Op::Dot | Op::ScaleCols | Op::ScaleRows => {
                match (arg(0), arg(1)) {
                    (Some(a), Some(b)) => Self::product(a, d(0), b, d(1)),
                    _ => 0,
                }
            }
            Op::Div => {
                let exact = matches!(arg(1).map(|b| &b.op), Some(Op::Const { value }) if value.abs() == 1.0);
                d(0) + u32::from(!exact)
            }
            Op::Pow { exp } => d(0) + ceil_log2(*exp),
            _ => n.args.iter().map(|a| depth[a.index()]).max().unwrap_or(0),
        }
    }
}

pub fn ceil_log2(e: u32) -> u32 {
    if e <= 1 {
        0
    } else {
        32 - (e - 1).leading_zeros()
    }
}

/// Depth of every node of a loop-free graph, indexed by node index.
pub fn node_depths(g: &Graph) -> Vec<u32> {
    let mut depth = vec![0u32; g.len()];
    for (id, n) in g.nodes() {
        depth[id.index()] = DepthModel::node(g, n, &depth);
    }
    depth
}

/// A lower bound on every node's ciphertext depth, whatever the passes and the lowering do:
/// only products of two encrypted values (element-wise, in `@` and `dot`, row and column
/// scalings) and powers count, since each multiplies the scale by another Δ that a prime must
/// take off. A constant or public factor costs nothing here: the lowering folds it into a
/// mask, an encoding or a neighbouring product (27 scalings by 0.999 at -O0: tensor depth 54,
/// ciphertext depth 26). Early refusals use this bound, never the tensor depth.
pub fn encrypted_product_depths(g: &Graph) -> Vec<u32> {
    let mut depth = vec![0u32; g.len()];
    for (id, n) in g.nodes() {
        let d = |i: usize| n.args.get(i).map_or(0, |a| depth[a.index()]);
        let enc = |i: usize| {
            n.args
                .get(i)
                .is_some_and(|a| g.node(*a).ty.secrecy == Secrecy::Enc)
        };
        let deepest = n.args.iter().map(|a| depth[a.index()]).max().unwrap_or(0);
        depth[id.index()] = match &n.op {
            _ if n.ty.secrecy == Secrecy::Plain => 0,
            Op::Mul | Op::MatVec | Op::MatMul | Op::Dot | Op::ScaleCols | Op::ScaleRows
                if enc(0) && enc(1) =>
            {
                d(0).max(d(1)) + 1
            }
            Op::Pow { exp } => d(0) + ceil_log2(*exp),
            _ => deepest,
        };
    }
    depth
}

/// The operand through which `id` gets its depth (the deepest one), if any.
pub fn deepest_arg(g: &Graph, id: NodeId, depth: &[u32]) -> Option<NodeId> {
    g.node(id)
        .args
        .iter()
        .copied()
        .max_by_key(|a| (depth[a.index()], std::cmp::Reverse(a.index())))
}

/// Slack of every node: how many levels deeper it could be without deepening any output
/// beyond the program's depth. Nodes with zero slack are on a critical path.
pub fn slack(g: &Graph, outputs: &[NodeId], depth: &[u32]) -> Vec<u32> {
    let total = outputs.iter().map(|o| depth[o.index()]).max().unwrap_or(0);
    let mut latest = vec![u32::MAX; g.len()];
    for o in outputs {
        latest[o.index()] = total;
    }
    for id in g.ids().rev() {
        let n = g.node(id);
        if latest[id.index()] == u32::MAX {
            continue;
        }
        // What this node adds over its deepest operand.
        let below = n.args.iter().map(|a| depth[a.index()]).max().unwrap_or(0);
        let cost = depth[id.index()].saturating_sub(below);
        let allowed = latest[id.index()].saturating_sub(cost);
        for a in &n.args {
            latest[a.index()] = latest[a.index()].min(allowed);
        }
    }
    latest
        .iter()
        .zip(depth)
        .map(|(l, d)| {
            if *l == u32::MAX {
                u32::MAX
            } else {
                l.saturating_sub(*d)
            }
        })
        .collect()
}
