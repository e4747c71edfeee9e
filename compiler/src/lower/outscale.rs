//! Output scaling: an output whose terms carry small constants into the client's packing is
//! computed as `F·y` (`F` a power of two) and `F` divides out on decryption (the output tile's
//! factor). A ciphertext holds every value with the same absolute noise, so a value packed as
//! `0.001·x` keeps a thousandth of the relative precision `x` would: the -O1 pipeline folds
//! the coefficients of a polynomial into its input (`0.001·x^7` becomes `x^4 · ((0.001·x)·x^2)`)
//! and lost 5 bits of the -O0 result that way (degree 7 on [-8, 8]: 1e-5 against 3e-7).
//!
//! Scaling is done only where it is free and exact: `F` goes into the constants and input
//! packing factors of the output's expression, through sums, differences, negations, divisions
//! by constants and one operand of each product, never into a value something else also uses
//! (that would compute it twice) and never as a new constant product (a level). `F` is the
//! power of two that brings the smallest packing factor reached to at least 1, at most 2^20;
//! the range analysis then sizes the chain's base for `F·y`.

use std::collections::HashMap;

use crate::ir::{Builder, Graph, Node, NodeId, Op, OutputDecl, Program, Secrecy, Type};

/// The largest output factor.
const MAX_FACTOR: f64 = (1u64 << 20) as f64;

/// A program whose outputs are scaled, and each output's factor (1 where unscaled).
pub(super) struct Scaled {
    pub program: Program,
    pub factors: Vec<f64>,
}

/// Scales the outputs of `p` where that is free (see the module documentation).
pub(super) fn scale_outputs(p: &Program) -> Scaled {
    let g = &p.graph;
    let mut users = vec![0usize; g.len()];
    for (_, n) in g.nodes() {
        let mut args = n.args.clone();
        args.sort_unstable();
        args.dedup();
        for a in args {
            users[a.index()] += 1;
        }
    }
    // An output reads its node too.
    for o in &p.outputs {
        users[o.node.index()] += 1;
    }
    let w = Walk { g, users: &users };
    let plans: Vec<f64> = p
        .outputs
        .iter()
        .map(|o| {
            // A refreshed output comes back as an input of factor 1.
            if g.node(o.node).ty.secrecy != Secrecy::Enc || users[o.node.index()] > 1 || o.refreshed
            {
                return 1.0;
            }
            match w.least_factor(o.node, true) {
                Some(f) if f.is_finite() && f > 0.0 && f < 0.5 => {
                    (1.0 / f).log2().ceil().exp2().min(MAX_FACTOR)
                }
                _ => 1.0,
            }
        })
        .collect();
    if plans.iter().all(|&f| f == 1.0) {
        return Scaled {
            program: p.clone(),
            factors: plans,
        };
    }
    // Copy the graph (same ids), then append the scaled expressions.
    let mut b = Builder::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.len());
    for (_, n) in g.nodes() {
        let mut n = n.clone();
        n.args = n.args.iter().map(|a| map[a.index()]).collect();
        map.push(b.add(n));
    }
    let mut outputs = Vec::with_capacity(p.outputs.len());
    let mut built: HashMap<(usize, u64), NodeId> = HashMap::new();
    for (o, &f) in p.outputs.iter().zip(&plans) {
        let node = if f == 1.0 {
            map[o.node.index()]
        } else {
            w.build(o.node, f, &map, &mut b, &mut built)
        };
        outputs.push(OutputDecl { node, ..o.clone() });
    }
    let graph: Graph = b.finish();
    Scaled {
        program: p.with_graph(graph, outputs),
        factors: plans,
    }
}

struct Walk<'a> {
    g: &'a Graph,
    users: &'a [usize],
}

impl Walk<'_> {
    fn node(&self, id: NodeId) -> &Node {
        self.g.node(id)
    }

    fn constant(&self, id: NodeId) -> Option<f64> {
        match self.node(id).op {
            Op::Const { value } => Some(value),
            _ => None,
        }
    }

    /// A program input (or a sequence element of one): packed by the client.
    fn is_input(&self, id: NodeId) -> bool {
        match &self.node(id).op {
            Op::Input { .. } => self.node(id).ty.seq.is_none(),
            Op::Element { .. } => self
                .node(id)
                .args
                .first()
                .is_some_and(|a| matches!(self.node(*a).op, Op::Input { .. })),
            _ => false,
        }
    }

    /// Which operand of a product takes the factor: the constant, else the first operand that
    /// can take it for free.
    ///
    /// A constant is a factor either way: packed with an input by the client, or multiplied
    /// into a ciphertext, where a small one leaves a small value that the rescale's absolute
    /// noise swamps (`x * y * 1e-8` kept -1.1 bits of the 20 targeted); scaling it in place
    /// costs nothing.
    fn product_side(&self, a: NodeId, b: NodeId) -> Option<(usize, f64)> {
        for (k, c) in [a, b].into_iter().enumerate() {
            if let Some(v) = self.constant(c) {
                return Some((k, v.abs()));
            }
        }
        for (k, x) in [a, b].into_iter().enumerate() {
            if let Some(f) = self.least_factor(x, false) {
                return Some((k + 2, f));
            }
        }
        None
    }

    /// Which side of a quotient by a constant `c` takes the factor: the dividend where it
    /// reaches a smaller packing factor than `1/c` (`true`), else the divisor (`c/F`: the
    /// constant multiplied in, as in a product).
    fn quotient_side(&self, a: NodeId, c: NodeId) -> Option<(bool, f64)> {
        let inverse = 1.0 / self.constant(c)?.abs();
        match self.least_factor(a, false) {
            Some(f) if f <= inverse => Some((true, f)),
            _ => Some((false, inverse)),
        }
    }

    /// If `F·id` can be had for free: the smallest packing factor of an input it reaches
    /// (infinite if none), before scaling.
    fn least_factor(&self, id: NodeId, root: bool) -> Option<f64> {
        let n = self.node(id);
        if self.constant(id).is_some() {
            return Some(f64::INFINITY);
        }
        if self.is_input(id) {
            return Some(1.0);
        }
        if !root && self.users[id.index()] > 1 {
            return None;
        }
        let arg = |k: usize| n.args.get(k).copied();
        match n.op {
            Op::Add | Op::Sub => {
                let x = self.least_factor(arg(0)?, false)?;
                let y = self.least_factor(arg(1)?, false)?;
                Some(x.min(y))
            }
            Op::Neg => self.least_factor(arg(0)?, false),
            Op::Div => self.quotient_side(arg(0)?, arg(1)?).map(|(_, f)| f),
            Op::Mul => self.product_side(arg(0)?, arg(1)?).map(|(_, f)| f),
            _ => None,
        }
    }

    /// Appends `F·id` (as [`Walk::least_factor`] found it free) to `b`.
    fn build(
        &self,
        id: NodeId,
        f: f64,
        map: &[NodeId],
        b: &mut Builder,
        built: &mut HashMap<(usize, u64), NodeId>,
    ) -> NodeId {
        if let Some(&done) = built.get(&(id.index(), f.to_bits())) {
            return done;
        }
        let n = self.node(id).clone();
        let new = |op: Op, args: Vec<NodeId>, b: &mut Builder| {
            let mut m = Node::new(op, args, n.ty, n.span);
            m.iter = n.iter.clone();
            b.add(m)
        };
        let out = if let Some(v) = self.constant(id) {
            new(Op::Const { value: v * f }, Vec::new(), b)
        } else if self.is_input(id) {
            // A scalar constant times the input: a packing factor.
            let c = b.add(Node::new(
                Op::Const { value: f },
                Vec::new(),
                Type::scalar(),
                n.span,
            ));
            new(Op::Mul, vec![c, map[id.index()]], b)
        } else {
            let a0 = n.args.first().copied();
            let a1 = n.args.get(1).copied();
            match n.op {
                Op::Add | Op::Sub | Op::Neg => {
                    let x = self.build(a0.unwrap_or(id), f, map, b, built);
                    let mut args = vec![x];
                    if let Some(y) = a1 {
                        args.push(self.build(y, f, map, b, built));
                    }
                    new(n.op.clone(), args, b)
                }
                Op::Div => {
                    let (a, c) = (a0.unwrap_or(id), a1.unwrap_or(id));
                    let args = match (self.quotient_side(a, c), self.constant(c)) {
                        (Some((false, _)), Some(v)) => {
                            let divisor = self.node(c);
                            let mut d = Node::new(
                                Op::Const { value: v / f },
                                Vec::new(),
                                divisor.ty,
                                divisor.span,
                            );
                            d.iter = divisor.iter.clone();
                            vec![map[a.index()], b.add(d)]
                        }
                        _ => vec![self.build(a, f, map, b, built), map[c.index()]],
                    };
                    new(Op::Div, args, b)
                }
                Op::Mul => {
                    let (a, c) = (a0.unwrap_or(id), a1.unwrap_or(id));
                    let (side, _) = self.product_side(a, c).unwrap_or((2, 1.0));
                    let args = match side {
                        0 => vec![self.build(a, f, map, b, built), map[c.index()]],
                        1 => vec![map[a.index()], self.build(c, f, map, b, built)],
                        2 => vec![self.build(a, f, map, b, built), map[c.index()]],
                        _ => vec![map[a.index()], self.build(c, f, map, b, built)],
                    };
                    new(Op::Mul, args, b)
                }
                _ => map[id.index()],
            }
        };
        built.insert((id.index(), f.to_bits()), out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::interp::{eval, random_inputs, Value};
    use crate::SourceFile;

    fn program(text: &str) -> Program {
        let src = SourceFile::new("t.hel", text.to_string());
        crate::frontend(&src, &[]).unwrap_or_else(|d| panic!("{}", d.render_plain()))
    }

    fn flat(v: &Value) -> Vec<f64> {
        match v {
            Value::Tensor(t) => t.data.clone(),
            Value::Seq(ts) => ts.iter().flat_map(|t| t.data.clone()).collect(),
        }
    }

    /// Products of ciphertexts the outputs depend on.
    fn live_products(p: &Program) -> usize {
        let mut seen = vec![false; p.graph.len()];
        let mut stack: Vec<NodeId> = p.outputs.iter().map(|o| o.node).collect();
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id.index()], true) {
                stack.extend(p.graph.node(id).args.iter().copied());
            }
        }
        p.graph
            .nodes()
            .filter(|(id, n)| {
                seen[id.index()]
                    && n.op == Op::Mul
                    && n.args.iter().all(|a| p.graph.node(*a).ty.is_enc())
            })
            .count()
    }

    #[test]
    fn small_packed_coefficients_scale_the_output() {
        // The degree-7 polynomial as -O1's polynomial evaluation writes it.
        let p = program(
            "input x: enc vector[16] range [-8, 8];\nlet x2 = x * x;\nlet x4 = x2 * x2;\n\
             let y = x4 * ((0.001 * x) * x2) - x4 * (0.01 * x) + x2 * (0.1 * x) - x;\n\
             output y;\n",
        );
        let s = scale_outputs(&p);
        assert_eq!(s.factors, vec![1024.0]);
        // The scaled program computes 1024 y, with the same products.
        let inputs = random_inputs(&p, 3);
        let (want, got) = (
            eval(&p, &inputs).unwrap(),
            eval(&s.program, &inputs).unwrap(),
        );
        for (w, g) in flat(&want[0].1).iter().zip(flat(&got[0].1)) {
            assert!(
                (g / 1024.0 - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{g} vs {w}"
            );
        }
        assert_eq!(live_products(&s.program), live_products(&p));
    }

    #[test]
    fn small_constants_on_ciphertexts_scale_the_output() {
        // A small constant multiplies a product of ciphertexts, or divides one: scaled in
        // place, it leaves the products as they were.
        let p = program(
            "input x: enc vector[5] range [-1, 1];\ninput y: enc vector[5] range [-1, 1];\n\
             let c = x * y * 0.00000001;\nlet d = dot(x, y) * 0.0000001;\n\
             let e = (x * y) / 100000000;\nlet g = (0.001 * x) / 2;\noutput c, d, e, g;\n",
        );
        let s = scale_outputs(&p);
        assert_eq!(s.factors, vec![MAX_FACTOR, MAX_FACTOR, MAX_FACTOR, 1024.0]);
        let inputs = random_inputs(&p, 5);
        let (want, got) = (
            eval(&p, &inputs).unwrap(),
            eval(&s.program, &inputs).unwrap(),
        );
        for ((w, g), f) in want.iter().zip(&got).zip(&s.factors) {
            for (w, g) in flat(&w.1).iter().zip(flat(&g.1)) {
                assert!(
                    (g / f - w).abs() <= 1e-12 * w.abs().max(1e-9),
                    "{g} / {f} vs {w}"
                );
            }
        }
        assert_eq!(live_products(&s.program), live_products(&p));
    }

    #[test]
    fn shared_values_are_left_alone() {
        // A large constant on a product: nothing is small.
        let p =
            program("input x: enc vector[16] range [-8, 8];\nlet y = 3 * x^7 - x;\noutput y;\n");
        assert_eq!(scale_outputs(&p).factors, vec![1.0]);
        // `u` is an output and a factor of `y`: scaling either would compute `u` twice.
        let p = program(
            "input x: enc vector[16] range [-8, 8];\nlet u = (0.001 * x) * x;\nlet y = u * x;\n\
             output y;\noutput u;\n",
        );
        assert_eq!(scale_outputs(&p).factors, vec![1.0, 1.0]);
    }
}
