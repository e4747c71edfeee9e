//! `collect-terms`: a linear combination written as a chain of sums and constant scalings is
//! computed as one sum of its distinct terms, each scaled once.
//!
//! A loop that is linear in its state (`w = 0.9 * w + 0.1 * x`, an exponential average, a
//! linear recurrence) unrolls into a chain of `k` scalings of the state: `k` levels of CKKS
//! multiplication by a constant, for a value that is `a * x` (one level; none where the client
//! packs the factor into the input). Without this pass -O1 and -O2 found depth 0 by packing a
//! differently scaled copy of `x` per iteration: 200 steps of a decaying average of a vector of
//! 3 uploaded 201 ciphertexts (9.8 MiB) for three numbers, and 2000 steps of
//! `w = 0.999 * w + 0.001 * x * x` were refused as 126 levels deep.
//!
//! A node's terms are collected through the linear nodes it alone uses (sums, differences,
//! negations, products with and divisions by a constant): they form a tree, so every node is
//! visited once and the pass is linear in the graph. A linear node used more than once stays
//! a term of its users: expanding it into each would repeat its work (running sums would grow
//! quadratically) and change what the later passes see of shared values (ridge regression's
//! weights, used by the next product and by the next update: expanded, its -O1 schedule had
//! 95 input ciphertexts instead of 63).
//!
//! A combination with like terms (`0.5 * x + 0.25 * x + 2 * x`, each scaled copy of an input
//! packed and uploaded on its own) is always rewritten. Otherwise a combination is rewritten
//! only where scalings by non-integer constants (levels; an integer
//! factor is a `mul_int`) are nested through sums, two or more deep: a scaling of a scaling
//! is one constant multiplication to the lowering (`eta * (g / m)`), and a combination of
//! single scalings (a polynomial `0.5 - 0.08 t + 0.0002 t^3`) is kept as written for
//! `poly-eval` and the depth search. The coefficients are summed in f64 (the source's order
//! of rounding is not kept; the difference is a few units of 2^-53 of each coefficient).

use std::collections::HashMap;

use super::pipeline::Pass;
use super::rewrite::{rebuild, refine_secrecy};
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Graph, Node, NodeId, Op, Program, Shape, Type};

pub struct CollectTerms;

impl Pass for CollectTerms {
    fn name(&self) -> &'static str {
        "collect-terms"
    }

    fn description(&self) -> &'static str {
        "linear combinations: chains of sums and constant scalings become one scaled sum of distinct terms"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let analysis = Analysis::of(&p);
        let ids: Vec<NodeId> = p.graph.ids().collect();
        // `rebuild` walks the nodes in creation order: the next old id is `ids[map.len()]`,
        // and `map` holds the replacement of every node before it (a combination's terms).
        let mut map: Vec<NodeId> = Vec::with_capacity(ids.len());
        rebuild(&p, self.name(), |b, n| {
            let new = match analysis.rewrite_of(ids[map.len()]) {
                Some(combination) => combination.emit(b, &n, &map),
                None => b.add(n),
            };
            map.push(new);
            Ok(new)
        })
    }
}

/// A node's value as `Σ coefficient · operand` over its operands of its own shape, for the
/// linear operations; `None` for every other node (a term of its users).
pub(super) fn linear_parts(g: &Graph, id: NodeId) -> Option<Vec<(NodeId, f64)>> {
    let n = g.node(id);
    if n.ty.seq.is_some() {
        return None;
    }
    let same = |a: NodeId| {
        let t = g.node(a).ty;
        t.shape == n.ty.shape && t.seq.is_none()
    };
    // A constant factor: a constant scalar or a constant of the node's shape.
    let factor = |a: NodeId| match g.node(a).op {
        Op::Const { value } if g.node(a).ty.shape == Shape::Scalar || same(a) => Some(value),
        _ => None,
    };
    let args = &n.args;
    match (&n.op, args.as_slice()) {
        (Op::Add, &[a, b]) if same(a) && same(b) => Some(vec![(a, 1.0), (b, 1.0)]),
        (Op::Sub, &[a, b]) if same(a) && same(b) => Some(vec![(a, 1.0), (b, -1.0)]),
        (Op::Neg, &[a]) if same(a) => Some(vec![(a, -1.0)]),
        (Op::Mul, &[a, b]) => match (factor(a), factor(b)) {
            (Some(c), _) if same(b) => Some(vec![(b, c)]),
            (_, Some(c)) if same(a) => Some(vec![(a, c)]),
            _ => None,
        },
        (Op::Div, &[a, b]) => match factor(b) {
            Some(c) if c != 0.0 && same(a) => Some(vec![(a, 1.0 / c)]),
            _ => None,
        },
        _ => None,
    }
}

/// Whether multiplying by `c` costs a level: a non-integer factor (an integer is `mul_int`).
fn costs_a_level(c: f64) -> bool {
    c.fract() != 0.0
}

/// What the pass knows of every node of the program.
struct Analysis<'a> {
    g: &'a Graph,
    /// `parts[i]`: [`linear_parts`] of node `i`.
    parts: Vec<Option<Vec<(NodeId, f64)>>>,
    /// Whether node `i` is a linear node its one user (a linear node) absorbs.
    absorbed: Vec<bool>,
    /// Scalings by non-integer constants nested in node `i`'s combination as written.
    nesting: Vec<u32>,
}

impl<'a> Analysis<'a> {
    fn of(p: &'a Program) -> Analysis<'a> {
        let g = &p.graph;
        let n = g.len();
        let mut uses = vec![0usize; n];
        for (_, node) in g.nodes() {
            for a in &node.args {
                uses[a.index()] += 1;
            }
        }
        for o in &p.outputs {
            uses[o.node.index()] += 2;
        }
        let parts: Vec<_> = g.ids().map(|id| linear_parts(g, id)).collect();
        let mut absorbed = vec![false; n];
        for ps in parts.iter().flatten() {
            for &(c, _) in ps {
                if parts[c.index()].is_some() && uses[c.index()] == 1 {
                    absorbed[c.index()] = true;
                }
            }
        }
        let mut a = Analysis {
            g,
            parts,
            absorbed,
            nesting: vec![0; n],
        };
        // Operands come before their users: one pass in creation order.
        for id in g.ids() {
            let i = id.index();
            let Some(ps) = &a.parts[i] else {
                continue;
            };
            let scaling = |id: NodeId, ps: &[(NodeId, f64)]| {
                matches!(g.node(id).op, Op::Mul | Op::Div)
                    && ps.iter().any(|&(_, c)| costs_a_level(c))
            };
            // A scaling of a scaling is one (`eta * (g / m)`: the lowering multiplies once).
            let own = u32::from(
                scaling(id, ps)
                    && !ps.iter().any(|&(c, _)| {
                        a.absorbed[c.index()]
                            && a.parts[c.index()]
                                .as_deref()
                                .is_some_and(|cps| scaling(c, cps))
                    }),
            );
            let nesting = ps
                .iter()
                .filter(|&&(c, _)| a.absorbed[c.index()])
                .map(|&(c, _)| a.nesting[c.index()])
                .max()
                .unwrap_or(0);
            a.nesting[i] = own + nesting;
        }
        a
    }

    /// The value of a constant of node `id`'s shape (a term's constant offset).
    fn constant(&self, id: NodeId) -> Option<f64> {
        match self.g.node(id).op {
            Op::Const { value } => Some(value),
            _ => None,
        }
    }

    /// The combination node `id` is rewritten to, where that pays (see the module
    /// documentation); `None` keeps it.
    fn rewrite_of(&self, id: NodeId) -> Option<Combination> {
        let i = id.index();
        if self.parts[i].is_none() || self.absorbed[i] {
            return None;
        }
        let c = self.collect(id);
        (self.nesting[i] >= 2 || c.repeated).then_some(c)
    }

    /// The terms of node `id`'s combination, in order of first appearance, with their summed
    /// coefficients, and its constant offset.
    fn collect(&self, id: NodeId) -> Combination {
        let mut terms: Vec<(NodeId, f64)> = Vec::new();
        let mut index: HashMap<NodeId, usize> = HashMap::new();
        let mut offset = 0.0;
        let mut repeated = false;
        let mut add = |t: NodeId, k: f64, terms: &mut Vec<(NodeId, f64)>| match index.get(&t) {
            Some(&j) => {
                terms[j].1 += k;
                repeated = true;
            }
            None => {
                index.insert(t, terms.len());
                terms.push((t, k));
            }
        };
        // Depth first, operands in order (an explicit stack: unrolled chains are thousands
        // of nodes long).
        let mut stack = vec![(id, 1.0)];
        while let Some((x, k)) = stack.pop() {
            let Some(ps) = &self.parts[x.index()] else {
                continue;
            };
            for &(c, kc) in ps.iter().rev() {
                let k = k * kc;
                let ci = c.index();
                if let Some(v) = self.constant(c) {
                    offset += k * v;
                } else if self.absorbed[ci] {
                    stack.push((c, k));
                } else {
                    add(c, k, &mut terms);
                }
            }
        }
        terms.retain(|&(_, k)| k != 0.0);
        Combination {
            terms,
            offset,
            repeated,
        }
    }
}

/// `Σ coefficient · term + offset`.
struct Combination {
    terms: Vec<(NodeId, f64)>,
    offset: f64,
    /// Whether a term occurs more than once as written (`0.5 x + 0.25 x`): like terms.
    repeated: bool,
}

impl Combination {
    /// Appends the combination in place of `like` (a node of the old graph whose operands'
    /// replacements are `map`) and returns the node standing for it.
    fn emit(&self, b: &mut Builder, like: &Node, map: &[NodeId]) -> NodeId {
        let shape = like.ty.shape;
        let node = |b: &mut Builder, op: Op, args: Vec<NodeId>| {
            let mut n = Node::new(op, args, like.ty, like.span);
            n.iter = like.iter.clone();
            b.add(refine_secrecy(b, n))
        };
        let constant = |b: &mut Builder, value: f64, shape: Shape| {
            let mut c = Node::new(Op::Const { value }, vec![], Type::plain(shape), like.span);
            c.iter = like.iter.clone();
            b.add(c)
        };
        let mut acc: Option<NodeId> = None;
        for &(t, k) in &self.terms {
            let t = map[t.index()];
            acc = Some(match acc {
                Some(s) if k == -1.0 => node(b, Op::Sub, vec![s, t]),
                acc => {
                    let scaled = if k == 1.0 {
                        t
                    } else if k == -1.0 {
                        node(b, Op::Neg, vec![t])
                    } else {
                        let c = constant(b, k, Shape::Scalar);
                        node(b, Op::Mul, vec![c, t])
                    };
                    match acc {
                        Some(s) => node(b, Op::Add, vec![s, scaled]),
                        None => scaled,
                    }
                }
            });
        }
        match acc {
            None => constant(b, self.offset, shape),
            Some(s) if self.offset != 0.0 => {
                let c = constant(b, self.offset, shape);
                node(b, Op::Add, vec![s, c])
            }
            Some(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::differential::checked_run;

    /// `text` through unroll, cse, this pass and dce, each checked against the source.
    fn run(text: &str) -> Program {
        checked_run(text, &[&CollectTerms, &crate::passes::dce::Dce])
    }

    fn count(p: &Program, pred: impl Fn(&Op) -> bool) -> usize {
        p.graph.nodes().filter(|(_, n)| pred(&n.op)).count()
    }

    /// A linear recurrence in `k` steps: its program after the passes.
    fn recurrence(k: u32, step: &str) -> Program {
        run(&format!(
            "input x: enc vector[3] range [-1, 1];\ninput y: enc vector[3] range [-1, 1];\n\
             let w = x;\nfor i in 0..{k} {{ w = {step}; }}\noutput w;\n"
        ))
    }

    /// A decaying average over 20 or 200 steps is the same few nodes: each distinct term
    /// (`x`, and the `0.01 * x`, `x / 8` that `cse` shares between the steps) scaled once.
    #[test]
    fn a_linear_recurrence_collects_into_one_scaling_per_term() {
        let step = "0.99 * w + 0.01 * x - x / 8";
        let (short, long) = (recurrence(20, step), recurrence(200, step));
        assert_eq!(long.graph.len(), short.graph.len());
        assert_eq!(count(&long, |o| matches!(o, Op::Add | Op::Sub)), 2);
    }

    /// A non-linear term (`x * x`) is collected like any other and computed once.
    #[test]
    fn each_distinct_term_is_scaled_once() {
        let step = "0.9 * w + 0.1 * x - 0.05 * (x * x) + y";
        let (short, long) = (recurrence(30, step), recurrence(300, step));
        assert_eq!(long.graph.len(), short.graph.len());
        assert_eq!(count(&long, |o| matches!(o, Op::Add | Op::Sub)), 3);
        let products = |p: &Program| {
            p.graph
                .nodes()
                .filter(|(_, n)| matches!(n.op, Op::Mul) && n.args[0] == n.args[1])
                .count()
        };
        assert_eq!(products(&long), 1);
    }

    /// A combination of several terms used twice stays a term of its users; a scaling of a
    /// scaling (one constant multiplication to the lowering) is kept as written.
    #[test]
    fn shared_sums_and_direct_scalings_are_kept() {
        let text = "input x: enc vector[4] range [-1, 1];\ninput y: enc vector[4] range [-1, 1];\n\
                    let s = x + y;\nlet a = 0.5 * (s / 3 + 0.5 * (0.5 * s));\nlet b = s * s;\n\
                    let c = 0.3 * (s / 7);\noutput a;\noutput b;\noutput c;\n";
        let p = run(text);
        // `a` is 0.5/3 s + 0.125 s = c s: one scaling of s (not of x and y); `c` as written.
        assert_eq!(count(&p, |o| matches!(o, Op::Add)), 1, "x + y only");
        assert_eq!(count(&p, |o| matches!(o, Op::Div)), 1, "s / 7");
    }

    /// Like terms are one term: each scaled copy of an input was packed and uploaded on its
    /// own (`0.5 x + 0.25 x + 0.125 x + 2 x`: four input ciphertexts for one vector).
    #[test]
    fn like_terms_are_one_term() {
        let p = run("input x: enc vector[3] range [-1, 1];\n\
                     let y = 0.5 * x + 0.25 * x + 0.125 * x + 2 * x;\noutput y;\n");
        assert_eq!(count(&p, |o| matches!(o, Op::Add)), 0);
        assert_eq!(count(&p, |o| matches!(o, Op::Mul)), 1, "2.875 x");
    }

    /// A polynomial whose terms are distinct keeps its shape for `poly-eval`.
    #[test]
    fn a_polynomial_keeps_its_form() {
        let text = "input t: enc vector[4] range [-1, 1];\n\
                    let h = 0.5 - 0.0843 * t + 0.0002 * t^3;\noutput h;\n";
        let src = crate::SourceFile::new("t.hel", text);
        let p = crate::frontend(&src, &[]).expect("valid");
        let p = crate::passes::unroll::Unroll { factor: None }
            .run(p)
            .unwrap();
        let out = CollectTerms.run(p.clone()).unwrap();
        let ops = |p: &Program| -> Vec<(&'static str, Vec<NodeId>)> {
            p.graph
                .nodes()
                .map(|(_, n)| (n.op.name(), n.args.clone()))
                .collect()
        };
        assert_eq!(ops(&out), ops(&p));
    }
}
