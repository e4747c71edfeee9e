//! `combine-products`: an encrypted value that is a linear function of other encrypted values
//! through public matrices is computed as one public matrix per value it depends on,
//! `A @ (B @ y + c y) + A @ z -> (A @ B + c A) @ y + A @ z`, the matrices built in the clear.
//!
//! Gradient descent on public features and encrypted labels (`w - eta Xᵀ (X w - y)`) is linear
//! in the weights with a public iteration matrix: the trained weights are `P @ y` for a public
//! `P`. The depth search re-associates within its reach (two iterations: depth k/2), and each
//! matrix-vector product on ciphertexts costs a level and rotations. Here every encrypted
//! linear combination is collected through the linear nodes only it feeds, shared or not —
//! sums, differences, negations, constant scalings and products (matrix-vector or matrix)
//! with a public matrix on the left — with one coefficient per node, `c I + M` for a public
//! matrix `M`, passed down as a gradient is (from a node to its operands, summed over the
//! paths), the products of the public matrices made as public nodes, which the server
//! computes in f64. What is left is one product per encrypted value the combination starts
//! from: at k = 32, `P @ y` at depth 1 where the search's form was 16
//! levels deep (and `P @ Y` for an encrypted target matrix). Matrix products with a public
//! factor on the right (`X @ B1 + X @ B2`) that meet one ciphertext are grouped,
//! `X @ (B1 + B2)`; a matrix between public factors on both sides (`P @ M @ Pᵀ`) ends the
//! collection: its coefficients would be pairs of matrices, which do not add.
//!
//! A combination is rewritten where that makes it shallower without more products on
//! ciphertexts, or makes fewer at no more depth (`A @ (y + z)` stays: two products for one),
//! and only where it goes through a public product or groups some: a combination of scalings
//! alone is `collect-terms`' (which keeps `eta * (g / m)` as written, one constant
//! multiplication to the lowering). A rewrite that would make an output deeper is not made.

use std::collections::{BTreeMap, BTreeSet};

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
        "linear functions of encrypted values through public matrices: one product per value, the public matrices combined in the clear"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let g = &p.graph;
        let before = node_depths(g);
        let linear = Linear::of(&p, &before);
        let rewrites: BTreeSet<NodeId> = g
            .ids()
            .filter(|&id| linear.is_root(id) && linear.pays(id))
            .collect();
        if rewrites.is_empty() {
            return Ok(p);
        }
        let ids: Vec<NodeId> = g.ids().collect();
        let mut map: Vec<NodeId> = Vec::with_capacity(ids.len());
        let out = rebuild(&p, self.name(), |b, n| {
            let old = ids[map.len()];
            let new = if rewrites.contains(&old) {
                linear.emit(old, b, &n, &map)
            } else {
                b.add(n)
            };
            map.push(new);
            Ok(new)
        })?;
        let out = Dce.run(out)?;
        let after = node_depths(&out.graph);
        let deeper = p
            .outputs
            .iter()
            .zip(&out.outputs)
            .any(|(o, n)| after[n.node.index()] > before[o.node.index()]);
        Ok(if deeper { p } else { out })
    }
}

/// How an operand enters a linear node: times a constant, or by a public matrix on its left
/// (a vector's matrix-vector product, a matrix's matrix product).
#[derive(Clone, Copy, Debug)]
enum Factor {
    Scalar(f64),
    Matrix(NodeId),
}

/// The operands of an encrypted linear node with their factors; `None` for other nodes.
fn parts(g: &Graph, id: NodeId) -> Option<Vec<(NodeId, Factor)>> {
    let n = g.node(id);
    if n.ty.secrecy != Secrecy::Enc {
        return None;
    }
    let plain = |a: NodeId| g.node(a).ty.secrecy == Secrecy::Plain;
    match (&n.op, n.args.as_slice()) {
        (Op::MatVec | Op::MatMul, &[a, x]) if plain(a) && !plain(x) => {
            Some(vec![(x, Factor::Matrix(a))])
        }
        _ => Some(
            linear_parts(g, id)?
                .into_iter()
                .map(|(x, k)| (x, Factor::Scalar(k)))
                .collect(),
        ),
    }
}

/// Coefficients a combination is propagated with ([`Linear::propagate`]): what a factor makes
/// of a node's coefficient for its operand, and the sum of two shares.
trait Coefficients {
    type C;
    fn step(&mut self, c: &Self::C, f: Factor) -> Self::C;
    fn add(&mut self, into: &mut Self::C, c: Self::C);
}

/// A coefficient as the analysis sees it: `id I`, plus a public matrix if `matrix`.
#[derive(Clone, Copy, Debug)]
struct Shadow {
    id: f64,
    matrix: bool,
}

/// The analysis' coefficients: no nodes made.
struct Shadows;

impl Coefficients for Shadows {
    type C = Shadow;

    fn step(&mut self, c: &Shadow, f: Factor) -> Shadow {
        match f {
            Factor::Scalar(k) => Shadow {
                id: c.id * k,
                matrix: c.matrix,
            },
            Factor::Matrix(_) => Shadow {
                id: 0.0,
                matrix: c.matrix || c.id != 0.0,
            },
        }
    }

    fn add(&mut self, into: &mut Shadow, c: Shadow) {
        into.id += c.id;
        into.matrix |= c.matrix;
    }
}

/// The encrypted linear nodes of a program and who uses them.
struct Linear<'a> {
    g: &'a Graph,
    depth: &'a [u32],
    /// [`parts`] of every node.
    parts: Vec<Option<Vec<(NodeId, Factor)>>>,
    /// A linear node that is no output and whose every user is a linear node: its users take
    /// it apart, it is never needed as a value of its own.
    internal: Vec<bool>,
}

impl<'a> Linear<'a> {
    fn of(p: &'a Program, depth: &'a [u32]) -> Linear<'a> {
        let g = &p.graph;
        let parts: Vec<_> = g.ids().map(|id| parts(g, id)).collect();
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
        Linear {
            g,
            depth,
            parts,
            internal,
        }
    }

    /// A linear node whose value is needed (an output, or an operand of other work).
    fn is_root(&self, id: NodeId) -> bool {
        self.parts[id.index()].is_some() && !self.internal[id.index()]
    }

    /// Passes the coefficient of every node of `root`'s combination down to its operands,
    /// highest node first: users come after their operands, so a node's coefficient is
    /// complete (every path from the root summed) before it is passed on. Returns the terms
    /// (the operands outside the internal nodes) with their coefficients.
    fn propagate<A: Coefficients>(
        &self,
        root: NodeId,
        one: A::C,
        algebra: &mut A,
    ) -> BTreeMap<NodeId, A::C> {
        let mut coef: BTreeMap<NodeId, A::C> = BTreeMap::from([(root, one)]);
        let mut terms: BTreeMap<NodeId, A::C> = BTreeMap::new();
        while let Some((x, c)) = coef.pop_last() {
            for &(y, f) in self.parts[x.index()].as_deref().unwrap_or_default() {
                let share = algebra.step(&c, f);
                let into = if self.internal[y.index()] {
                    &mut coef
                } else {
                    &mut terms
                };
                match into.get_mut(&y) {
                    Some(old) => algebra.add(old, share),
                    None => {
                        into.insert(y, share);
                    }
                }
            }
        }
        terms
    }

    /// Whether rewriting `root`'s combination pays (see the module documentation).
    fn pays(&self, root: NodeId) -> bool {
        let one = Shadow {
            id: 1.0,
            matrix: false,
        };
        let terms = self.propagate(root, one, &mut Shadows);
        let mut groups: BTreeMap<Key, usize> = BTreeMap::new();
        let (mut products, mut depth) = (0usize, 0u32);
        for (&t, c) in &terms {
            let n = self.g.node(t);
            if n.ty.secrecy == Secrecy::Plain {
                continue;
            }
            let d = self.depth[t.index()];
            if c.matrix {
                products += 1;
                depth = depth.max(d + 1);
            }
            if c.id != 0.0 {
                // The client packs a constant factor into an input.
                let packed = matches!(n.op, Op::Input { .. });
                depth = depth.max(d + u32::from(c.id.fract() != 0.0 && !packed));
                if let (false, Some((key, _))) = (c.matrix, key(self.g, t)) {
                    *groups.entry(key).or_default() += 1;
                }
            }
        }
        let combined = || groups.values().filter(|&&n| n > 1);
        let through = self.region_products(root);
        // Only scalings to collect: `collect-terms`' work, which keeps a scaling of a
        // scaling as written (one constant multiplication to the lowering).
        if through == 0 && combined().count() == 0 {
            return false;
        }
        let new = products + combined().count();
        let old = through + combined().sum::<usize>();
        let old_depth = self.depth[root.index()];
        (depth < old_depth && new <= old) || (new < old && depth <= old_depth)
    }

    /// Products with a public matrix on ciphertexts among `root` and its internal nodes.
    fn region_products(&self, root: NodeId) -> usize {
        let mut seen = BTreeSet::from([root]);
        let mut stack = vec![root];
        let mut n = 0;
        while let Some(x) = stack.pop() {
            let parts = self.parts[x.index()].as_deref().unwrap_or_default();
            n += usize::from(matches!(parts, [(_, Factor::Matrix(_))]));
            for &(y, _) in parts {
                if self.internal[y.index()] && seen.insert(y) {
                    stack.push(y);
                }
            }
        }
        n
    }
}

/// How the product `t` of an encrypted matrix and a public factor on its right is grouped: by
/// the encrypted operand, seen through negations and constant scalings (`X @ B` joins
/// `(-X) @ C` as `X @ (B - C)`), with the factor they make; `None` for any other node. (A
/// public factor on the left is a coefficient, [`Factor::Matrix`].)
fn key(g: &Graph, t: NodeId) -> Option<(Key, f64)> {
    let n = g.node(t);
    let plain = |a: NodeId| g.node(a).ty.secrecy == Secrecy::Plain;
    let x = match (&n.op, n.args.as_slice()) {
        (Op::MatMul, &[x, a]) if plain(a) && !plain(x) => x,
        _ => return None,
    };
    let (mut x, mut factor) = (x, 1.0);
    while let Some(&[(inner, k)]) = linear_parts(g, x).as_deref() {
        x = inner;
        factor *= k;
    }
    Some((Key(x), factor))
}

/// A group of matrix products: by the encrypted matrix a public matrix multiplies on the
/// right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key(NodeId);

/// A coefficient of the rewritten combination: `id I + matrix`, `matrix` a public node of the
/// new graph.
#[derive(Clone, Copy, Debug)]
struct Coef {
    id: f64,
    matrix: Option<NodeId>,
}

/// The rewrite's coefficients, made as public nodes in place of `like`.
struct Emitter<'b> {
    b: &'b mut Builder,
    like: &'b Node,
    map: &'b [NodeId],
}

impl Emitter<'_> {
    fn node(&mut self, op: Op, args: Vec<NodeId>, ty: Type) -> NodeId {
        let mut n = Node::new(op, args, ty, self.like.span);
        n.iter = self.like.iter.clone();
        let n = refine_secrecy(self.b, n);
        self.b.add(n)
    }

    fn constant(&mut self, value: f64, shape: Shape) -> NodeId {
        self.node(Op::Const { value }, vec![], Type::plain(shape))
    }

    /// `k t` (new graph).
    fn scaled(&mut self, t: NodeId, k: f64) -> NodeId {
        let ty = self.b.node(t).ty;
        if k == 1.0 {
            t
        } else if k == -1.0 {
            self.node(Op::Neg, vec![t], ty)
        } else {
            let c = self.constant(k, Shape::Scalar);
            self.node(Op::Mul, vec![c, t], ty)
        }
    }

    fn sum(&mut self, a: NodeId, b: NodeId) -> NodeId {
        let ty = self.b.node(a).ty;
        self.node(Op::Add, vec![a, b], ty)
    }

    /// `m @ a` of two public matrices (new graph).
    fn matmul(&mut self, m: NodeId, a: NodeId) -> NodeId {
        let shape = match (self.b.node(m).ty.shape, self.b.node(a).ty.shape) {
            (Shape::Matrix(r, _), Shape::Matrix(_, c)) => Shape::Matrix(r, c),
            (s, _) => s,
        };
        self.node(Op::MatMul, vec![m, a], Type::plain(shape))
    }

    /// Balanced: additions cost no level, but a chain as long as the program's terms would be
    /// walked by every later pass.
    fn total(&mut self, mut terms: Vec<NodeId>) -> Option<NodeId> {
        while terms.len() > 1 {
            let mut next = Vec::with_capacity(terms.len().div_ceil(2));
            for pair in terms.chunks(2) {
                next.push(match *pair {
                    [s, t] => self.sum(s, t),
                    _ => pair[0],
                });
            }
            terms = next;
        }
        terms.first().copied()
    }
}

impl Coefficients for Emitter<'_> {
    type C = Coef;

    fn step(&mut self, c: &Coef, f: Factor) -> Coef {
        match f {
            Factor::Scalar(k) => Coef {
                id: c.id * k,
                matrix: c.matrix.map(|m| self.scaled(m, k)),
            },
            Factor::Matrix(a) => {
                let a = self.map[a.index()];
                let scaled = (c.id != 0.0).then(|| self.scaled(a, c.id));
                let through = c.matrix.map(|m| self.matmul(m, a));
                let matrix = match (through, scaled) {
                    (Some(x), Some(y)) => Some(self.sum(x, y)),
                    (x, y) => x.or(y),
                };
                Coef { id: 0.0, matrix }
            }
        }
    }

    fn add(&mut self, into: &mut Coef, c: Coef) {
        into.id += c.id;
        into.matrix = match (into.matrix, c.matrix) {
            (Some(x), Some(y)) => Some(self.sum(x, y)),
            (x, y) => x.or(y),
        };
    }
}

impl Linear<'_> {
    /// Appends `root`'s combination rewritten in place of `like` (the root, its operands
    /// mapped to the new graph by `map`) and returns the node standing for it.
    fn emit(&self, root: NodeId, b: &mut Builder, like: &Node, map: &[NodeId]) -> NodeId {
        let g = self.g;
        let mut e = Emitter { b, like, map };
        let one = Coef {
            id: 1.0,
            matrix: None,
        };
        let coefficients = self.propagate(root, one, &mut e);
        let mut terms = Vec::new();
        let mut groups: BTreeMap<Key, Vec<(NodeId, f64, f64)>> = BTreeMap::new();
        for (t, c) in coefficients {
            if let Some(m) = c.matrix {
                let x = map[t.index()];
                let (op, shape) = match (e.b.node(m).ty.shape, e.b.node(x).ty.shape) {
                    (Shape::Matrix(r, _), Shape::Matrix(_, cols)) => {
                        (Op::MatMul, Shape::Matrix(r, cols))
                    }
                    _ => (Op::MatVec, like.ty.shape),
                };
                let ty = Type { shape, ..like.ty };
                terms.push(e.node(op, vec![m, x], ty));
            }
            if c.id == 0.0 {
                continue;
            }
            match (c.matrix, key(g, t)) {
                (None, Some((key, factor))) => {
                    groups.entry(key).or_default().push((t, c.id, factor))
                }
                _ => terms.push(e.scaled(map[t.index()], c.id)),
            }
        }
        for (key, members) in groups {
            if let [(t, k, _)] = members[..] {
                terms.push(e.scaled(map[t.index()], k));
                continue;
            }
            // One coefficient per public factor (`X @ B` and `(-X) @ B` are one term of `B`).
            let mut factors: BTreeMap<NodeId, f64> = BTreeMap::new();
            for &(t, k, factor) in &members {
                let a = g.node(t).args[1];
                *factors.entry(map[a.index()]).or_insert(0.0) += k * factor;
            }
            let publics: Vec<NodeId> = factors
                .into_iter()
                .filter(|&(_, k)| k != 0.0)
                .map(|(a, k)| e.scaled(a, k))
                .collect();
            let Some(a) = e.total(publics) else { continue };
            let Key(x) = key;
            let ty = g.node(members[0].0).ty;
            terms.push(e.node(Op::MatMul, vec![map[x.index()], a], ty));
        }
        match e.total(terms) {
            Some(t) => t,
            None => e.constant(0.0, like.ty.shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::differential::checked_run;

    /// `text` through unroll, cse and this pass, each checked against the source.
    fn run(text: &str) -> Program {
        checked_run(text, &[&CombineProducts])
    }

    /// Products on ciphertexts: an encrypted operand and a public one.
    fn encrypted_products(p: &Program) -> usize {
        p.graph
            .nodes()
            .filter(|(_, n)| matches!(n.op, Op::MatVec | Op::MatMul))
            .filter(|(_, n)| n.ty.secrecy == Secrecy::Enc)
            .count()
    }

    fn depth(p: &Program) -> u32 {
        let d = node_depths(&p.graph);
        p.outputs
            .iter()
            .map(|o| d[o.node.index()])
            .max()
            .unwrap_or(0)
    }

    /// Gradient descent on public features, with weight decay, from an encrypted start: the
    /// weights after k steps are a public matrix times the labels plus one times the start,
    /// two products at depth 1, whatever k.
    #[test]
    fn a_linear_loop_with_public_matrices_is_one_product_per_value() {
        for k in [3, 12] {
            let p = run(&format!(
                "input X: plain matrix[6, 3] range [-1, 1];\n\
                 input y: enc vector[6] range [-1, 1];\n\
                 input w0: enc vector[3] range [-1, 1];\n\
                 let w = w0;\n\
                 for i in 0..{k} {{ w = 0.99 * w - 0.1 * (transpose(X) @ (X @ w - y)); }}\n\
                 output w;\n"
            ));
            assert_eq!(encrypted_products(&p), 2, "k = {k}");
            assert_eq!(depth(&p), 1, "k = {k}");
        }
    }

    /// A matrix state moved by a public matrix on its left (`M <- P M + E`): one product of
    /// a public polynomial in `P` and `E`, depth 1, whatever k.
    #[test]
    fn a_public_matrix_on_the_left_of_a_matrix_state_is_one_product() {
        for k in [2, 9] {
            let p = run(&format!(
                "input P: plain matrix[4, 4] range [-0.5, 0.5];
                 input E: enc matrix[4, 3] range [-1, 1];
                 let M = E;
                 for i in 0..{k} {{ M = P @ M + 0.5 * E; }}
                 output M;
"
            ));
            assert_eq!(encrypted_products(&p), 1, "k = {k}");
            assert_eq!(depth(&p), 1, "k = {k}");
        }
    }

    /// Public matrices on the right of the same encrypted matrix, through negations and
    /// constant scalings, are summed first: one product.
    #[test]
    fn matrix_products_of_one_ciphertext_are_one_product() {
        let p = run("input C: plain matrix[2, 2] range [-1, 1];\n\
                     input X: enc matrix[3, 2] range [-1, 1];\n\
                     let M = X @ C + 2 * ((-X) @ transpose(C)) - X;\n\
                     output M;\n");
        assert_eq!(encrypted_products(&p), 1);
    }

    /// A product of a sum stays one product (`A @ (y + z)`, not `A @ y + A @ z`), and products
    /// of different ciphertexts are left as written.
    #[test]
    fn no_rewrite_without_a_gain() {
        let text = "input A: plain matrix[3, 4] range [-1, 1];\n\
                    input y: enc vector[4] range [-1, 1];\n\
                    input z: enc vector[4] range [-1, 1];\n\
                    let u = A @ (y + z) + 0.5 * (A @ (y * z));\n\
                    output u;\n";
        let p = run(text);
        assert_eq!(encrypted_products(&p), 2);
    }

    /// A sum that other work also uses is kept as a value and is a term of its users: its
    /// products are not computed a second time inside them.
    #[test]
    fn a_sum_used_by_other_work_stays_a_term() {
        let p = run("input A: plain matrix[4, 4] range [-1, 1];\n\
                     input B: plain matrix[4, 4] range [-1, 1];\n\
                     input y: enc vector[4] range [-1, 1];\n\
                     let s = A @ (B @ y) + B @ y;\n\
                     let t = s * s + A @ (B @ s) - B @ s;\n\
                     output t;\n");
        // `s` is one product, and `(A B - B) @ s` another.
        assert_eq!(encrypted_products(&p), 2);
        let squares = p
            .graph
            .nodes()
            .filter(|(_, n)| n.op == Op::Mul && n.args.len() == 2 && n.args[0] == n.args[1])
            .count();
        assert_eq!(squares, 1);
    }
}
