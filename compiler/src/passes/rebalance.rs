//! `rebalance`: flattens chains of element-wise products into one n-ary product and rebuilds it
//! pairing the two shallowest operands first (Huffman on depth). Repeated factors become powers
//! with shared squares (`x*x*x*x -> (x^2)^2`: depth 2, 2 products); public scalar factors are
//! multiplied together in the clear and put on the shallowest encrypted factor. Only
//! intermediate products with a single use are flattened, so no shared value is recomputed.
//! Sums need no rebalancing: additions cost no depth.

use super::pipeline::Pass;
use crate::analysis::depth::DepthModel;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Graph, Node, NodeId, Op, Program, Secrecy, Type};
use std::collections::BTreeMap;

pub struct Rebalance;

impl Pass for Rebalance {
    fn name(&self) -> &'static str {
        "rebalance"
    }

    fn description(&self) -> &'static str {
        "flatten element-wise product chains and rebuild them shallowest-first, with shared squares"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let g = &p.graph;
        let uses: Vec<usize> = g.ids().map(|id| g.users(id).len()).collect();
        let output_nodes: Vec<NodeId> = p.outputs.iter().map(|o| o.node).collect();
        // A product is absorbed into its user's chain when it is used once, by a product of the
        // same shape, and is not an output.
        let absorbed = |id: NodeId| -> bool {
            let n = g.node(id);
            is_chain_mul(n) && uses[id.index()] == 1 && !output_nodes.contains(&id) && {
                let user = g.users(id)[0];
                is_chain_mul(g.node(user)) && g.node(user).ty.shape == n.ty.shape
            }
        };
        let mut b = Builder::hash_consing();
        let mut depth: Vec<u32> = Vec::new();
        let mut map: Vec<Option<NodeId>> = vec![None; g.len()];
        for (id, n) in g.nodes() {
            if absorbed(id) {
                continue;
            }
            let new = if is_chain_mul(n) {
                let mut leaves = BTreeMap::new();
                let too_deep = || {
                    Diagnostic::new(
                        Code::Budget,
                        &p.source,
                        n.span,
                        "this product raises a value to a power of 2^64 or more: deeper than \
                         any secure CKKS parameters allow",
                    )
                };
                collect_factors(g, id, 1, &absorbed, &mut leaves).ok_or_else(too_deep)?;
                let mut counts: BTreeMap<NodeId, u64> = BTreeMap::new();
                for (l, k) in leaves {
                    if let Some(new) = map[l.index()] {
                        let e = counts.entry(new).or_insert(0);
                        *e = e.checked_add(k).ok_or_else(too_deep)?;
                    }
                }
                match product(&mut b, &mut depth, &counts, n) {
                    Some(new) => new,
                    None => continue,
                }
            } else {
                let args: Vec<NodeId> = n.args.iter().filter_map(|a| map[a.index()]).collect();
                push(&mut b, &mut depth, Node { args, ..n.clone() })
            };
            map[id.index()] = Some(new);
        }
        let outputs = super::rewrite::remap_outputs(&p, "rebalance", |o| map[o.index()])?;
        super::dce::Dce.run(p.with_graph(b.finish(), outputs))
    }
}

/// An encrypted element-wise product (the chains worth rebalancing).
fn is_chain_mul(n: &Node) -> bool {
    n.op == Op::Mul && n.ty.secrecy == Secrecy::Enc
}

/// The leaves of the product chain rooted at `id`, each with how many times it is a factor
/// (times `mult`). Repeated operands are counted, not walked again: `y = y * y` in a loop is
/// a chain whose leaf list would double with every iteration. `None` if a multiplicity
/// overflows 64 bits (a power that no CKKS parameters have the depth for).
fn collect_factors(
    g: &Graph,
    id: NodeId,
    mult: u64,
    absorbed: &dyn Fn(NodeId) -> bool,
    out: &mut BTreeMap<NodeId, u64>,
) -> Option<()> {
    let mut args: Vec<(NodeId, u64)> = Vec::new();
    for &a in &g.node(id).args {
        match args.iter_mut().find(|(b, _)| *b == a) {
            Some((_, k)) => *k += 1,
            None => args.push((a, 1)),
        }
    }
    for (a, k) in args {
        let m = mult.checked_mul(k)?;
        if absorbed(a) {
            collect_factors(g, a, m, absorbed, out)?;
        } else {
            let e = out.entry(a).or_insert(0);
            *e = e.checked_add(m)?;
        }
    }
    Some(())
}

fn push(b: &mut Builder, depth: &mut Vec<u32>, n: Node) -> NodeId {
    let id = b.add(n);
    if id.index() >= depth.len() {
        let g = b.graph();
        let d = DepthModel::node(g, g.node(id), depth);
        depth.push(d);
    }
    id
}

fn mul(b: &mut Builder, depth: &mut Vec<u32>, x: NodeId, y: NodeId, like: &Node) -> NodeId {
    let (tx, ty) = (b.node(x).ty, b.node(y).ty);
    let shape = if tx.shape == crate::ir::Shape::Scalar {
        ty.shape
    } else {
        tx.shape
    };
    let mut n = Node::new(
        Op::Mul,
        vec![x, y],
        Type::new(tx.secrecy.join(ty.secrecy), shape),
        like.span,
    );
    n.iter = like.iter.clone();
    push(b, depth, n)
}

/// `base^k` by repeated squaring, the set bits' powers pushed to `factors`.
fn powers(
    b: &mut Builder,
    depth: &mut Vec<u32>,
    base: NodeId,
    mut k: u64,
    like: &Node,
    factors: &mut Vec<NodeId>,
) {
    let mut sq = base;
    while k > 0 {
        if k & 1 == 1 {
            factors.push(sq);
        }
        k >>= 1;
        if k > 0 {
            sq = mul(b, depth, sq, sq, like);
        }
    }
}

/// Builds the product of the `leaves` (each to the power of its count) at minimal depth.
fn product(
    b: &mut Builder,
    depth: &mut Vec<u32>,
    leaves: &BTreeMap<NodeId, u64>,
    like: &Node,
) -> Option<NodeId> {
    // Repeated factors become powers of shared squares.
    let mut public: Vec<NodeId> = Vec::new();
    let mut factors: Vec<NodeId> = Vec::new();
    for (&base, &k) in leaves {
        if b.node(base).ty.secrecy == Secrecy::Plain {
            powers(b, depth, base, k, like, &mut public);
        } else {
            powers(b, depth, base, k, like, &mut factors);
        }
    }
    let mut coef: Option<NodeId> = None;
    for c in public {
        coef = Some(match coef {
            None => c,
            Some(a) => mul(b, depth, a, c, like),
        });
    }
    if factors.is_empty() {
        // Not an encrypted chain after all (cannot happen for an `Enc` product).
        return coef;
    }
    let by_depth = |f: &NodeId, depth: &Vec<u32>| (depth[f.index()], f.index());
    if let Some(c) = coef {
        factors.sort_by_key(|f| by_depth(f, depth));
        factors[0] = mul(b, depth, c, factors[0], like);
    }
    while factors.len() > 1 {
        factors.sort_by_key(|f| by_depth(f, depth));
        let x = factors.remove(0);
        let y = factors.remove(0);
        factors.push(mul(b, depth, x, y, like));
    }
    factors.first().copied()
}
