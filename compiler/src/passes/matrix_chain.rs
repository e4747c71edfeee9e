//! The client's formulas in their cheapest product order.
//!
//! A derived input is whatever expression the depth search left over data, in the order the
//! search found it: the flagship's first cross-minibatch term came out as
//! `(Z[1] @ transpose(Z[0])) @ 0.5`, a 1024 x 197 x 1024 Gram (0.4 GFlop) times a constant
//! vector, where `Z[1] @ (transpose(Z[0]) @ 0.5)` is two matrix-vector products (0.8 MFlop).
//! Products are associative, so the client may evaluate any order: each maximal chain of
//! matrix and matrix-vector products is re-ordered by the textbook dynamic program over its
//! factors' dimensions (multiply-adds counted), and kept as written unless the new order is
//! strictly cheaper. The client computes these on its data, and the compiler on each of its
//! sample inputs, so the saving is paid back on both sides.

use crate::ir::{Builder, Graph, Node, NodeId, Op, Shape, Type};

/// `root` of `g` as a new graph (only what `root` reads), every product chain in its cheapest
/// order.
pub fn cheapest_order(g: &Graph, root: NodeId) -> (Graph, NodeId) {
    let mut b = Builder::hash_consing();
    let mut map = vec![None; g.len()];
    let node = copy(g, root, &mut b, &mut map);
    (b.finish(), node)
}

/// Copies `id` (and what it reads) into `b`, ordering the chain that ends at it.
fn copy(g: &Graph, id: NodeId, b: &mut Builder, map: &mut Vec<Option<NodeId>>) -> NodeId {
    if let Some(x) = map[id.index()] {
        return x;
    }
    let n = g.node(id);
    let x = if is_product(n) {
        let mut factors = Vec::new();
        flatten(g, id, &mut factors);
        let dims = dimensions(g, &factors);
        match dims {
            Some(dims) if factors.len() > 2 => {
                let (cost, split) = plan(&dims);
                let written = written_cost(g, id);
                let copied: Vec<NodeId> = factors.iter().map(|f| copy(g, *f, b, map)).collect();
                if cost[0][factors.len() - 1] < written {
                    build(b, n, &copied, &dims, &split, 0, factors.len() - 1)
                } else {
                    copy_node(g, id, b, map)
                }
            }
            _ => copy_node(g, id, b, map),
        }
    } else {
        copy_node(g, id, b, map)
    };
    map[id.index()] = Some(x);
    x
}

/// Copies one node as it is, its operands copied first.
fn copy_node(g: &Graph, id: NodeId, b: &mut Builder, map: &mut Vec<Option<NodeId>>) -> NodeId {
    let n = g.node(id);
    let args = n.args.iter().map(|a| copy(g, *a, b, map)).collect();
    b.add(Node { args, ..n.clone() })
}

fn is_product(n: &Node) -> bool {
    matches!(n.op, Op::MatMul | Op::MatVec) && n.args.len() == 2
}

/// The factors of the product chain at `id`, left to right.
fn flatten(g: &Graph, id: NodeId, out: &mut Vec<NodeId>) {
    let n = g.node(id);
    if is_product(n) {
        flatten(g, n.args[0], out);
        flatten(g, n.args[1], out);
    } else {
        out.push(id);
    }
}

/// `dims[i] x dims[i + 1]` is factor `i`'s shape (a final vector as one column); `None` when
/// the factors do not chain (then the graph is copied as written).
fn dimensions(g: &Graph, factors: &[NodeId]) -> Option<Vec<usize>> {
    let last = factors.len().checked_sub(1)?;
    let mut dims = Vec::with_capacity(factors.len() + 1);
    for (i, f) in factors.iter().enumerate() {
        let (r, c) = match g.node(*f).ty.shape {
            Shape::Matrix(r, c) => (r, c),
            Shape::Vector(n) if i == last => (n, 1),
            _ => return None,
        };
        if i == 0 {
            dims.push(r);
        } else if dims[i] != r {
            return None;
        }
        dims.push(c);
    }
    Some(dims)
}

/// Multiply-adds of `id`'s product tree as written.
fn written_cost(g: &Graph, id: NodeId) -> u128 {
    let n = g.node(id);
    if !is_product(n) {
        return 0;
    }
    let (a, x) = (g.node(n.args[0]).ty.shape, g.node(n.args[1]).ty.shape);
    let own = match (a, x) {
        (Shape::Matrix(r, k), Shape::Matrix(_, c)) => r as u128 * k as u128 * c as u128,
        (Shape::Matrix(r, k), Shape::Vector(_)) => r as u128 * k as u128,
        _ => 0,
    };
    own + written_cost(g, n.args[0]) + written_cost(g, n.args[1])
}

/// The textbook matrix-chain program: `cost[i][j]` the fewest multiply-adds for factors
/// `i..=j`, `split[i][j]` the last product's split (the first of the cheapest).
fn plan(dims: &[usize]) -> (Vec<Vec<u128>>, Vec<Vec<usize>>) {
    let n = dims.len() - 1;
    let mut cost = vec![vec![0u128; n]; n];
    let mut split = vec![vec![0usize; n]; n];
    for len in 2..=n {
        for i in 0..=n - len {
            let j = i + len - 1;
            let mut best = (u128::MAX, i);
            for s in i..j {
                let c = cost[i][s]
                    + cost[s + 1][j]
                    + dims[i] as u128 * dims[s + 1] as u128 * dims[j + 1] as u128;
                if c < best.0 {
                    best = (c, s);
                }
            }
            (cost[i][j], split[i][j]) = best;
        }
    }
    (cost, split)
}

/// The product of `factors[i..=j]` in the planned order; new products take the chain root's
/// span and iteration tags.
fn build(
    b: &mut Builder,
    root: &Node,
    factors: &[NodeId],
    dims: &[usize],
    split: &[Vec<usize>],
    i: usize,
    j: usize,
) -> NodeId {
    if i == j {
        return factors[i];
    }
    let s = split[i][j];
    let left = build(b, root, factors, dims, split, i, s);
    let right = build(b, root, factors, dims, split, s + 1, j);
    let (lt, rt) = (b.node(left).ty, b.node(right).ty);
    let (op, shape) = match rt.shape {
        Shape::Vector(_) => (Op::MatVec, Shape::Vector(dims[i])),
        _ => (Op::MatMul, Shape::Matrix(dims[i], dims[j + 1])),
    };
    let ty = Type::new(lt.secrecy.join(rt.secrecy), shape);
    let mut node = Node::new(op, vec![left, right], ty, root.span);
    node.iter = root.iter.clone();
    b.add(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Secrecy;
    use crate::source::Span;

    fn input(b: &mut Builder, name: &str, shape: Shape) -> NodeId {
        let op = Op::Input { name: name.into() };
        b.add(Node::new(
            op,
            vec![],
            Type::new(Secrecy::Enc, shape),
            Span::default(),
        ))
    }

    fn product(b: &mut Builder, op: Op, x: NodeId, y: NodeId) -> NodeId {
        let (tx, ty) = (b.node(x).ty, b.node(y).ty);
        let t = crate::passes::depth_search::result_type(&op, tx, ty);
        b.add(Node::new(op, vec![x, y], t, Span::default()))
    }

    /// `(A @ B) @ v` with a wide inner product becomes `A @ (B @ v)` with nothing left behind,
    /// and an order that is already the cheapest is copied as written.
    #[test]
    fn a_gram_times_a_vector_becomes_two_matrix_vector_products() {
        let mut b = Builder::new();
        let a = input(&mut b, "A", Shape::Matrix(6, 3));
        let bt = input(&mut b, "B", Shape::Matrix(3, 6));
        let v = input(&mut b, "v", Shape::Vector(6));
        let ab = product(&mut b, Op::MatMul, a, bt);
        let root = product(&mut b, Op::MatVec, ab, v);
        let g = b.finish();
        assert_eq!(written_cost(&g, root), 6 * 3 * 6 + 6 * 6);
        let (h, r) = cheapest_order(&g, root);
        assert_eq!(written_cost(&h, r), 3 * 6 + 6 * 3);
        assert_eq!(h.node(r).op, Op::MatVec);
        assert_eq!(h.len(), 5, "no unused product left behind");

        let (again, r2) = cheapest_order(&h, r);
        assert_eq!(again.len(), h.len());
        assert_eq!(written_cost(&again, r2), written_cost(&h, r));
    }

    /// The dynamic program on a four-factor chain finds the known optimum.
    #[test]
    fn the_chain_program_finds_the_cheapest_split() {
        // Classic example: 10x30, 30x5, 5x60 -> (AB)C: 1500 + 3000 = 4500.
        let (cost, split) = plan(&[10, 30, 5, 60]);
        assert_eq!(cost[0][2], 4500);
        assert_eq!(split[0][2], 1);
        let (cost, _) = plan(&[40, 20, 30, 10, 30]);
        assert_eq!(cost[0][3], 26000);
    }
}
