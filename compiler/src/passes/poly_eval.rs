//! `poly-eval`: evaluates powers and polynomials of encrypted values at minimal depth.
//!
//! `x^e` becomes a product of the shared squares `x, x^2, x^4, ...` picked by the bits of `e`,
//! multiplied shallowest first: depth `ceil(log2 e)`, and every square is computed once per base
//! however many powers use it. A coefficient `c * x^e` is put on the shallowest factor
//! (`0.0002 * t^3 -> (0.0002 t) * t^2`), so a polynomial of degree d costs `ceil(log2(d+1))`
//! levels: the coefficient rides along with a factor that has slack instead of adding a level.
//!
//! Baby-step giant-step (Paterson–Stockmeyer) would lower the number of multiplications for high
//! degrees; the sigmoid approximations used here have degree 3 to 7, where the shared-squares
//! scheme already uses at most 2 products per term, so it is not implemented.

use super::pipeline::Pass;
use crate::analysis::depth::DepthModel;
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Graph, Node, NodeId, Op, Program, Secrecy, Shape, Type};
use std::collections::HashMap;

pub struct PolyEval;

impl Pass for PolyEval {
    fn name(&self) -> &'static str {
        "poly-eval"
    }

    fn description(&self) -> &'static str {
        "powers by shared repeated squaring; coefficients folded onto the shallowest factor (depth ceil(log2(d+1)))"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let g = &p.graph;
        let mut e = Expand {
            b: Builder::hash_consing(),
            depth: Vec::new(),
            squares: HashMap::new(),
        };
        let mut map: Vec<NodeId> = Vec::with_capacity(g.len());
        for (_, n) in g.nodes() {
            let args: Vec<NodeId> = n.args.iter().map(|a| map[a.index()]).collect();
            let new = match (&n.op, n.ty.secrecy) {
                (Op::Pow { exp }, Secrecy::Enc) => e.power(args[0], *exp, None, n),
                (Op::Mul, Secrecy::Enc) => match coefficient_times_power(g, n) {
                    Some((c, base, exp)) => {
                        let c = map[c.index()];
                        e.power(map[base.index()], exp, Some(c), n)
                    }
                    None => e.add(Node { args, ..n.clone() }),
                },
                _ => e.add(Node { args, ..n.clone() }),
            };
            map.push(new);
        }
        let outputs =
            super::rewrite::remap_outputs(&p, "poly-eval", |o| map.get(o.index()).copied())?;
        super::dce::Dce.run(p.with_graph(e.b.finish(), outputs))
    }
}

/// `c * x^e` (either order) with `c` a public scalar: `(c, x, e)`.
fn coefficient_times_power(g: &Graph, n: &Node) -> Option<(NodeId, NodeId, u32)> {
    let (a, b) = (*n.args.first()?, *n.args.get(1)?);
    for (c, p) in [(a, b), (b, a)] {
        let (cn, pn) = (g.node(c), g.node(p));
        if cn.ty.secrecy == Secrecy::Plain && cn.ty.shape == Shape::Scalar {
            if let Op::Pow { exp } = pn.op {
                return Some((c, pn.args[0], exp));
            }
        }
    }
    None
}

struct Expand {
    b: Builder,
    depth: Vec<u32>,
    /// `(base, j)` -> `base^(2^j)`.
    squares: HashMap<(NodeId, u32), NodeId>,
}

impl Expand {
    fn add(&mut self, n: Node) -> NodeId {
        let id = self.b.add(n);
        if id.index() >= self.depth.len() {
            let g = self.b.graph();
            let d = DepthModel::node(g, g.node(id), &self.depth);
            self.depth.push(d);
        }
        id
    }

    fn mul(&mut self, a: NodeId, b: NodeId, like: &Node) -> NodeId {
        let (ta, tb) = (self.b.node(a).ty, self.b.node(b).ty);
        let shape = if ta.shape == Shape::Scalar {
            tb.shape
        } else {
            ta.shape
        };
        let ty = Type::new(ta.secrecy.join(tb.secrecy), shape);
        let mut n = Node::new(Op::Mul, vec![a, b], ty, like.span);
        n.iter = like.iter.clone();
        self.add(n)
    }

    fn square(&mut self, base: NodeId, j: u32, like: &Node) -> NodeId {
        if j == 0 {
            return base;
        }
        if let Some(&s) = self.squares.get(&(base, j)) {
            return s;
        }
        let half = self.square(base, j - 1, like);
        let s = self.mul(half, half, like);
        self.squares.insert((base, j), s);
        s
    }

    /// `coef * base^exp`, multiplying the shallowest factors first.
    fn power(&mut self, base: NodeId, exp: u32, coef: Option<NodeId>, like: &Node) -> NodeId {
        let mut factors: Vec<NodeId> = (0..32)
            .filter(|j| exp & (1 << j) != 0)
            .map(|j| self.square(base, j, like))
            .collect();
        if let Some(c) = coef {
            // The coefficient joins the shallowest factor (the first: squares deepen with j).
            factors.sort_by_key(|f| (self.depth[f.index()], f.index()));
            factors[0] = self.mul(c, factors[0], like);
        }
        while factors.len() > 1 {
            factors.sort_by_key(|f| (self.depth[f.index()], f.index()));
            let a = factors.remove(0);
            let b = factors.remove(0);
            factors.push(self.mul(a, b, like));
        }
        factors[0]
    }
}
