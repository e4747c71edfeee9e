//! `simplify`: algebraic identities that make a value cheaper without changing it.
//!
//! Every rewrite here is exact in floating point for finite values (`x * 1 = x`, `x * 0 = 0`,
//! `x - x = 0`, `-(-x) = x`, ...), so the pass never costs precision. Zero products matter most:
//! logistic regression starts from `beta = zeros(f)`, so iteration 0's `Z[0] @ beta` is a zero
//! vector and the polynomial applied to it folds to a constant, which removes a whole level of
//! encrypted multiplications from the first iteration.
//!
//! A rewrite to an existing value is taken only when that value has exactly the node's shape (in
//! `s * ones(n)` the scalar `s` is not a replacement for the vector). Replacing an encrypted
//! expression by a constant makes it public, and secrecy is recomputed from the operands. After
//! the identities, constant operands are folded as in `const-fold`, so chains of rewrites settle
//! in one walk over the graph.

// `Diagnostic` is the project-wide error type (`Pass::run` returns it); its size is a
// crate-wide question, not one for each pass.

use super::const_fold::fold_or_add;
use super::pipeline::Pass;
use super::rewrite::{const_value, constant, rebuild};
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Node, NodeId, Op, Program};

pub struct Simplify;

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        "simplify"
    }

    fn description(&self) -> &'static str {
        "algebraic identities: x*1, x+0, x*0, x-x, -(-x), transpose(transpose(x)), zero products"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        rebuild(&p, self.name(), |b, n| simplify(&p, self.name(), b, n))
    }
}

/// What an identity turns a node into.
enum Rewrite {
    /// An existing value.
    To(NodeId),
    /// A constant of the node's shape.
    Const(f64),
    /// The negation of an existing value (of the node's shape).
    Neg(NodeId),
}

fn simplify(p: &Program, pass: &str, b: &mut Builder, n: Node) -> Result<NodeId, Diagnostic> {
    match rewrite(b, &n) {
        Some(Rewrite::To(id)) => Ok(id),
        Some(Rewrite::Const(v)) => Ok(constant(b, &n, v)),
        Some(Rewrite::Neg(x)) => {
            let ty = b.node(x).ty;
            let neg = Node {
                op: Op::Neg,
                args: vec![x],
                ty,
                ..n
            };
            // The negation may simplify further, e.g. `0 - (-y)`.
            simplify(p, pass, b, neg)
        }
        None => fold_or_add(p, pass, b, n),
    }
}

fn rewrite(b: &Builder, n: &Node) -> Option<Rewrite> {
    let arg = |k: usize| n.args.get(k).copied();
    let is = |k: usize, v: f64| arg(k).and_then(|a| const_value(b, a)) == Some(v);
    // `args[k]` itself, if it can stand for the node.
    let keep = |k: usize| {
        arg(k)
            .filter(|&a| {
                let t = b.node(a).ty;
                t.shape == n.ty.shape && t.seq.is_none()
            })
            .map(Rewrite::To)
    };
    let negate = |k: usize| match keep(k) {
        Some(Rewrite::To(a)) => Some(Rewrite::Neg(a)),
        _ => None,
    };
    match &n.op {
        Op::Add if is(1, 0.0) => keep(0),
        Op::Add if is(0, 0.0) => keep(1),
        Op::Sub if is(1, 0.0) => keep(0),
        Op::Sub if is(0, 0.0) => negate(1),
        Op::Sub if arg(0) == arg(1) => Some(Rewrite::Const(0.0)),
        Op::Mul if is(0, 0.0) || is(1, 0.0) => Some(Rewrite::Const(0.0)),
        Op::Mul if is(1, 1.0) => keep(0),
        Op::Mul if is(0, 1.0) => keep(1),
        Op::Mul if is(1, -1.0) => negate(0),
        Op::Mul if is(0, -1.0) => negate(1),
        Op::Div if is(1, 1.0) => keep(0),
        Op::Div if is(1, -1.0) => negate(0),
        Op::Pow { exp: 1 } => keep(0),
        Op::Neg => match arg(0).map(|a| b.node(a)) {
            Some(inner) if inner.op == Op::Neg => inner.args.first().copied().map(Rewrite::To),
            _ => None,
        },
        Op::Transpose => match arg(0).map(|a| b.node(a)) {
            Some(inner) if inner.op == Op::Transpose => {
                inner.args.first().copied().map(Rewrite::To)
            }
            _ => None,
        },
        // A product with a zero factor is zero, whatever the other factor is.
        Op::MatMul | Op::MatVec | Op::Dot | Op::ScaleCols | Op::ScaleRows
            if is(0, 0.0) || is(1, 0.0) =>
        {
            Some(Rewrite::Const(0.0))
        }
        Op::ScaleCols | Op::ScaleRows if is(1, 1.0) => keep(0),
        _ => None,
    }
}
