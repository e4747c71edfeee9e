//! `combine-products`: public matrices applied to the same encrypted value are added in the
//! clear first, `A @ x + B @ x -> (A + B) @ x`, one product on ciphertexts instead of several.
//!
//! Gradient descent on public features and encrypted labels (`w - eta Xᵀ (X w - y)`) is linear
//! in the weights with a public iteration matrix. The depth search re-associates the unrolled
//! recurrence down to the data, `w_k = Σ_j (M^j Xᵀ) @ y`, at depth 1 instead of k; but each of
//! its `k` terms is a matrix-vector product of its own (rotations and a level each), and the
//! partial sums of the unrolled loop share one another, a triangle of `k²/2` additions. Here
//! the whole linear combination an encrypted value is made of is collected through every
//! linear node it alone feeds, shared or not (coefficients are summed over the paths, as a
//! gradient is), and its matrix-vector and matrix products with a public factor are grouped
//! by their encrypted operand: each group is one product of the summed public matrix. At
//! k = 32 that is one product and no addition, where the search's form had 64 products and
//! 528 additions.
//!
//! Only combinations where a group has two or more members are rewritten; a rewrite that would
//! make an output deeper is not made (the scalings of the terms move into the public sums or
//! onto the terms, one each, so it never is in the depth model).

use std::collections::BTreeMap;

use super::collect_terms::linear_parts;
use super::dce::Dce;
use super::pipeline::Pass;
use super::rewrite::{rebuild, refine_secrecy};
use crate::analysis::depth::node_depths;
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Graph, Node, NodeId, Op, Program, Secrecy, Shape, Type};

pub struct CombineProducts;

impl Pass for CombineProducts {
    fn name(&self) -> &'static str {
        "combine-products"
    }

    fn description(&self) -> &'static str {
        "public matrices applied to the same encrypted value are summed in the clear first: one product instead of several"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let g = &p.graph;
        let linear = Linear::of(&p);
        let rewrites: BTreeMap<NodeId, Combination> = g
            .ids()
            .filter(|&id| linear.is_root(id))
            .filter_map(|id| linear.combination(id).map(|c| (id, c)))
            .collect();
        if rewrites.is_empty() {
            return Ok(p);
        }
        let ids: Vec<NodeId> = g.ids().collect();
        let mut map: Vec<NodeId> = Vec::with_capacity(ids.len());
        let out = rebuild(&p, self.name(), |b, n| {
            let new = match rewrites.get(&ids[map.len()]) {
                Some(c) => c.emit(b, g, &n, &map),
                None => b.add(n),
            };
            map.push(new);
            Ok(new)
        })?;
        let out = Dce.run(out)?;
        let (before, after) = (node_depths(&p.graph), node_depths(&out.graph));
        let deeper = p
            .outputs
            .iter()
            .zip(&out.outputs)
            .any(|(o, n)| after[n.node.index()] > before[o.node.index()]);
        Ok(if deeper { p } else { out })
    }
}

/// The encrypted linear nodes of a program and who uses them.
struct Linear<'a> {
    g: &'a Graph,
    /// [`linear_parts`] of every encrypted node (`None` for public nodes: they are terms).
    parts: Vec<Option<Vec<(NodeId, f64)>>>,
    /// An encrypted linear node that is no output and whose every user is an encrypted linear
    /// node: its users take it apart, it is never needed as a value of its own.
    internal: Vec<bool>,
}

impl<'a> Linear<'a> {
    fn of(p: &'a Program) -> Linear<'a> {
        let g = &p.graph;
        let parts: Vec<_> = g
            .ids()
            .map(|id| {
                (g.node(id).ty.secrecy == Secrecy::Enc)
                    .then(|| linear_parts(g, id))
                    .flatten()
            })
            .collect();
        let mut internal: Vec<bool> = parts.iter().map(Option::is_some).collect();
        for o in &p.outputs {
            internal[o.node.index()] = false;
        }
        for (id, n) in g.nodes() {
            if parts[id.index()].is_none() {
                for a in &n.args {
                    internal[a.index()] = false;
                }
            }
        }
        Linear { g, parts, internal }
    }

    /// A linear node whose value is needed (an output, or an operand of other work).
    fn is_root(&self, id: NodeId) -> bool {
        self.parts[id.index()].is_some() && !self.internal[id.index()]
    }

    /// Node `root` as `Σ coefficient · term + offset` over the terms outside its internal
    /// linear nodes, with the products of a public matrix and the same encrypted value
    /// grouped; `None` where no group has two members.
    fn combination(&self, root: NodeId) -> Option<Combination> {
        // Users come after their operands: taking the nodes highest first, a node's coefficient
        // is complete (every path from the root summed) before it is passed on.
        let mut coef: BTreeMap<NodeId, f64> = BTreeMap::from([(root, 1.0)]);
        let mut terms: BTreeMap<NodeId, f64> = BTreeMap::new();
        let mut offset = 0.0;
        while let Some((x, k)) = coef.pop_last() {
            for &(c, kc) in self.parts[x.index()].as_deref().unwrap_or_default() {
                let k = k * kc;
                if let Op::Const { value } = self.g.node(c).op {
                    offset += k * value;
                } else if self.internal[c.index()] {
                    *coef.entry(c).or_insert(0.0) += k;
                } else {
                    *terms.entry(c).or_insert(0.0) += k;
                }
            }
        }
        let mut groups: BTreeMap<Key, Vec<(NodeId, f64, f64)>> = BTreeMap::new();
        let mut singles = Vec::new();
        for (t, k) in terms.into_iter().filter(|&(_, k)| k != 0.0) {
            match key(self.g, t) {
                Some((key, factor)) => groups.entry(key).or_default().push((t, k, factor)),
                None => singles.push((t, k)),
            }
        }
        if groups.values().all(|g| g.len() < 2) {
            return None;
        }
        // A group of one is a term like any other (with its coefficient as written).
        let mut grouped = Vec::new();
        for (key, members) in groups {
            match members[..] {
                [(t, k, _)] => singles.push((t, k)),
                _ => grouped.push((
                    key,
                    members.into_iter().map(|(t, k, f)| (t, k * f)).collect(),
                )),
            }
        }
        singles.sort_unstable_by_key(|&(t, _)| t);
        Some(Combination {
            grouped,
            singles,
            offset,
        })
    }
}

/// How the product `t` of a public factor and an encrypted value is grouped: by its kind and
/// encrypted operand, seen through negations and constant scalings (`A @ (-y)` joins `B @ y`
/// as `(-A) @ y`), with the factor they make; `None` for any other node.
fn key(g: &Graph, t: NodeId) -> Option<(Key, f64)> {
    let n = g.node(t);
    let plain = |a: NodeId| g.node(a).ty.secrecy == Secrecy::Plain;
    let (kind, a, x): (fn(NodeId) -> Key, _, _) = match (&n.op, n.args.as_slice()) {
        (Op::MatVec, &[a, x]) => (Key::MatVec, a, x),
        (Op::MatMul, &[a, x]) if plain(a) => (Key::Left, a, x),
        (Op::MatMul, &[x, a]) => (Key::Right, a, x),
        _ => return None,
    };
    if !plain(a) || plain(x) {
        return None;
    }
    let (mut x, mut factor) = (x, 1.0);
    while let Some(&[(inner, k)]) = linear_parts(g, x).as_deref() {
        x = inner;
        factor *= k;
    }
    Some((kind(x), factor))
}

/// A group of products: by a public matrix on the left of an encrypted vector or matrix, or
/// on the right of an encrypted matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    MatVec(NodeId),
    Left(NodeId),
    Right(NodeId),
}

/// `Σ (Σ k A) · x + Σ k · term + offset`.
struct Combination {
    /// Each group's key and its products (nodes of the old graph) with their coefficients.
    grouped: Vec<(Key, Vec<(NodeId, f64)>)>,
    singles: Vec<(NodeId, f64)>,
    offset: f64,
}

impl Combination {
    /// Appends the combination in place of `like` (a node of the old graph `g` whose operands'
    /// replacements are `map`) and returns the node standing for it.
    fn emit(&self, b: &mut Builder, g: &Graph, like: &Node, map: &[NodeId]) -> NodeId {
        let node = |b: &mut Builder, op: Op, args: Vec<NodeId>, ty: Type| {
            let mut n = Node::new(op, args, ty, like.span);
            n.iter = like.iter.clone();
            b.add(refine_secrecy(b, n))
        };
        let constant = |b: &mut Builder, value: f64, shape: Shape| {
            let mut c = Node::new(Op::Const { value }, vec![], Type::plain(shape), like.span);
            c.iter = like.iter.clone();
            b.add(c)
        };
        let scaled = |b: &mut Builder, t: NodeId, k: f64| {
            let ty = b.node(t).ty;
            if k == 1.0 {
                t
            } else if k == -1.0 {
                node(b, Op::Neg, vec![t], ty)
            } else {
                let c = constant(b, k, Shape::Scalar);
                node(b, Op::Mul, vec![c, t], ty)
            }
        };
        let sum = |b: &mut Builder, mut terms: Vec<NodeId>| {
            // Balanced: additions cost no level, but a chain as long as the program's terms
            // would be walked by every later pass.
            while terms.len() > 1 {
                let mut next = Vec::with_capacity(terms.len().div_ceil(2));
                for pair in terms.chunks(2) {
                    next.push(match *pair {
                        [s, t] => {
                            let ty = b.node(s).ty;
                            node(b, Op::Add, vec![s, t], ty)
                        }
                        _ => pair[0],
                    });
                }
                terms = next;
            }
            terms.first().copied()
        };
        let mut terms = Vec::new();
        for (key, members) in &self.grouped {
            // One coefficient per public factor (`A @ y` and `A @ (-y)` are one term of `A`).
            let mut factors: BTreeMap<NodeId, f64> = BTreeMap::new();
            for &(t, k) in members {
                let args = &g.node(t).args;
                let a = match key {
                    Key::MatVec(_) | Key::Left(_) => args[0],
                    Key::Right(_) => args[1],
                };
                *factors.entry(map[a.index()]).or_insert(0.0) += k;
            }
            let publics: Vec<NodeId> = factors
                .into_iter()
                .filter(|&(_, k)| k != 0.0)
                .map(|(a, k)| scaled(b, a, k))
                .collect();
            let Some(a) = sum(b, publics) else { continue };
            let (op, args) = match *key {
                Key::MatVec(x) => (Op::MatVec, vec![a, map[x.index()]]),
                Key::Left(x) => (Op::MatMul, vec![a, map[x.index()]]),
                Key::Right(x) => (Op::MatMul, vec![map[x.index()], a]),
            };
            let ty = g.node(members[0].0).ty;
            terms.push(node(b, op, args, ty));
        }
        for &(t, k) in &self.singles {
            terms.push(scaled(b, map[t.index()], k));
        }
        if self.offset != 0.0 {
            terms.push(constant(b, self.offset, like.ty.shape));
        }
        match sum(b, terms) {
            Some(t) => t,
            None => constant(b, 0.0, like.ty.shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::differential::check_passes;

    /// `text` through unroll, cse, this pass and dce, each checked against the source by the
    /// reference interpreter.
    fn run(text: &str) -> Program {
        let src = crate::SourceFile::new("t.hel", text);
        let p = crate::frontend(&src, &[]).expect("valid");
        let passes: [&dyn Pass; 3] = [
            &crate::passes::unroll::Unroll { factor: None },
            &crate::passes::cse::Cse,
            &CombineProducts,
        ];
        check_passes(&p, passes, &[0, 1]).expect("the passes keep the values");
        passes.iter().fold(p, |p, pass| pass.run(p).expect("runs"))
    }

    /// Products on ciphertexts: an encrypted operand and a public one.
    fn encrypted_products(p: &Program) -> usize {
        p.graph
            .nodes()
            .filter(|(_, n)| matches!(n.op, Op::MatVec | Op::MatMul))
            .filter(|(_, n)| n.ty.secrecy == Secrecy::Enc)
            .count()
    }

    /// Public matrices on either side of the same encrypted value, through negations,
    /// constant scalings and a shared partial sum, are summed first: one product each side.
    #[test]
    fn products_of_one_ciphertext_are_one_product() {
        let p = run("input A: plain matrix[3, 4] range [-1, 1];\n\
                     input B: plain matrix[3, 4] range [-1, 1];\n\
                     input C: plain matrix[2, 2] range [-1, 1];\n\
                     input y: enc vector[4] range [-1, 1];\n\
                     input X: enc matrix[3, 2] range [-1, 1];\n\
                     let s = A @ y - 0.5 * (B @ (-y));\n\
                     let u = s + 3 * s - A @ (y / 4);\n\
                     let M = X @ C + 2 * (X @ transpose(C)) - X;\n\
                     output u, M;\n");
        assert_eq!(encrypted_products(&p), 2, "{}", p.graph.len());
    }

    /// Products of different ciphertexts, or a lone product, are left as written.
    #[test]
    fn distinct_ciphertexts_are_kept() {
        let text = "input A: plain matrix[3, 4] range [-1, 1];\n\
                    input y: enc vector[4] range [-1, 1];\n\
                    input z: enc vector[4] range [-1, 1];\n\
                    let u = A @ y + A @ z + 0.5 * (A @ (y * z));\n\
                    output u;\n";
        let p = run(text);
        assert_eq!(encrypted_products(&p), 3);
    }

    /// A sum that other work also uses is kept as a value and is a term of its users: its
    /// products are not computed a second time inside them.
    #[test]
    fn a_sum_used_by_other_work_stays_a_term() {
        let p = run("input A: plain matrix[4, 4] range [-1, 1];\n\
                     input B: plain matrix[4, 4] range [-1, 1];\n\
                     input y: enc vector[4] range [-1, 1];\n\
                     let s = A @ y + B @ y;\n\
                     let t = s * s + A @ s - B @ s;\n\
                     output t;\n");
        // `s` is one product, and `A @ s - B @ s` another: two, and one element-wise product.
        assert_eq!(encrypted_products(&p), 2);
        let squares = p
            .graph
            .nodes()
            .filter(|(_, n)| n.op == Op::Mul && n.args.len() == 2 && n.args[0] == n.args[1])
            .count();
        assert_eq!(squares, 1);
    }
}
