//! Expressions: numbers, names, negation, the binary operators (shape and secrecy rules, `@`
//! in its three forms) and powers. Indexing and calls have their own files.

use super::consts;
use super::{node, origin, shapes, Elab, Val, MAX_EXP};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{NodeId, Op, Shape, Type};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind};

impl<'a> Elab<'a> {
    /// An expression that must be a single tensor (not a whole sequence).
    pub(super) fn value(&mut self, e: &Expr) -> Result<Val, Diagnostic> {
        let v = self.expr(e)?;
        let what = match &e.kind {
            ExprKind::Var(n) => n.as_str(),
            _ => "this",
        };
        self.no_seq(v, e.span, what)?;
        Ok(v)
    }

    /// An expression's value, refused if it has more elements than the budget allows (a
    /// `zeros(n, n)` or a product of a tall and a wide matrix): the checker only types it, but
    /// every later stage would allocate it.
    pub(super) fn expr(&mut self, e: &Expr) -> Result<Val, Diagnostic> {
        let v = self.expr_kind(e)?;
        crate::limits::check_elements(self.src, v.ty, e.span, &self.limits)?;
        Ok(v)
    }

    fn expr_kind(&mut self, e: &Expr) -> Result<Val, Diagnostic> {
        match &e.kind {
            ExprKind::Number(v) => Ok(self.constant(*v, Shape::Scalar, e.span)),
            ExprKind::Var(name) => self.lookup(name, e.span),
            ExprKind::Neg(x) => {
                let v = self.value(x)?;
                let id = self.add(node(Op::Neg, vec![v.node], v.ty, e.span));
                Ok(Val { node: id, ..v })
            }
            ExprKind::Binary(BinOp::Pow, base, exp) => self.power(e, base, exp),
            ExprKind::Binary(op, l, r) => {
                let a = self.value(l)?;
                let b = self.value(r)?;
                self.binary(*op, a, b, l, r, e.span)
            }
            ExprKind::Index(base, idx) => self.index(e, base, idx),
            ExprKind::Call(f, args) => self.call(e, f, args),
        }
    }

    pub(super) fn binary(
        &mut self,
        op: BinOp,
        a: Val,
        b: Val,
        l: &Expr,
        r: &Expr,
        span: Span,
    ) -> Result<Val, Diagnostic> {
        let secrecy = a.ty.secrecy.join(b.ty.secrecy);
        let ct = a.ct && b.ct;
        let (ir_op, args, shape) = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let shape = shapes::elementwise(
                    self.src,
                    op.symbol(),
                    a.ty.shape,
                    b.ty.shape,
                    l.span,
                    r.span,
                    span,
                )?;
                let o = match op {
                    BinOp::Add => Op::Add,
                    BinOp::Sub => Op::Sub,
                    _ => Op::Mul,
                };
                match (a.ty.shape, b.ty.shape) {
                    // A vector over a matrix's rows: `X * v` is `X diag(v)`, and `X ± v` adds
                    // the vector's broadcast (`ones(r, c) diag(v)`), each row a copy of `v`.
                    (Shape::Matrix(..), Shape::Vector(_))
                    | (Shape::Vector(_), Shape::Matrix(..))
                        if o == Op::Mul =>
                    {
                        let (m, v) = if a.ty.shape == shape { (a, b) } else { (b, a) };
                        (Op::ScaleCols, vec![m.node, v.node], shape)
                    }
                    (Shape::Matrix(..), Shape::Vector(_)) => {
                        let rows = self.rows_of(b, shape, r.span);
                        (o, vec![a.node, rows], shape)
                    }
                    (Shape::Vector(_), Shape::Matrix(..)) => {
                        let rows = self.rows_of(a, shape, l.span);
                        (o, vec![rows, b.node], shape)
                    }
                    _ => (o, vec![a.node, b.node], shape),
                }
            }
            BinOp::Div => {
                if b.ty.shape != Shape::Scalar {
                    return Err(self
                        .err(
                            Code::Shape,
                            r.span,
                            format!(
                                "division needs a scalar divisor, but this is a {}",
                                b.ty.shape
                            ),
                        )
                        .with_label("not a scalar"));
                }
                if !b.ct {
                    return Err(self
                        .err(Code::Secrecy, r.span, format!("the divisor must be known at compile time, but this value is {}", origin(b)))
                        .with_label("not a compile-time constant")
                        .with_help("CKKS cannot divide by a run-time value; multiply by a precomputed reciprocal instead"));
                }
                // A divisor that is zero whatever the loop variables (`u / 0`, `x / (k - k)`)
                // is an error here, not only once the constants are folded.
                let look = self.const_lookup();
                let zero = consts::eval(self.src, r, "a divisor", &look).is_ok_and(|v| v == 0.0);
                drop(look);
                if zero {
                    return Err(self
                        .err(Code::Const, r.span, "division by zero")
                        .with_label("this divisor is 0"));
                }
                (Op::Div, vec![a.node, b.node], a.ty.shape)
            }
            BinOp::MatMul => {
                let (o, shape) =
                    shapes::matmul(self.src, a.ty.shape, b.ty.shape, l.span, r.span, span)?;
                match o {
                    shapes::Product::MatMul => (Op::MatMul, vec![a.node, b.node], shape),
                    shapes::Product::MatVec => (Op::MatVec, vec![a.node, b.node], shape),
                    shapes::Product::VecMat => {
                        // v @ M = transpose(M) @ v
                        let Shape::Matrix(rr, cc) = b.ty.shape else {
                            return Err(self.err(
                                Code::Internal,
                                span,
                                "internal error: vector @ non-matrix",
                            ));
                        };
                        let t = self.add(node(
                            Op::Transpose,
                            vec![b.node],
                            Type {
                                shape: Shape::Matrix(cc, rr),
                                ..b.ty
                            },
                            r.span,
                        ));
                        (Op::MatVec, vec![t, a.node], shape)
                    }
                }
            }
            BinOp::Pow => {
                return Err(self.err(
                    Code::Internal,
                    span,
                    "internal error: power handled elsewhere",
                ))
            }
        };
        let ty = Type::new(secrecy, shape);
        let id = self.add(node(ir_op, args, ty, span));
        Ok(Val { node: id, ty, ct })
    }

    /// The matrix of `shape` whose every row is the vector `v`: `ones(r, c) diag(v)`.
    pub(super) fn rows_of(&mut self, v: Val, shape: Shape, span: Span) -> NodeId {
        let ones = self.constant(1.0, shape, span);
        let ty = Type::new(v.ty.secrecy, shape);
        self.add(node(Op::ScaleCols, vec![ones.node, v.node], ty, span))
    }

    pub(super) fn power(&mut self, e: &Expr, base: &Expr, exp: &Expr) -> Result<Val, Diagnostic> {
        let b = self.value(base)?;
        let look = self.const_lookup();
        let x = consts::eval(self.src, exp, "an exponent", &look);
        drop(look);
        let x = match x {
            Ok(x) => x,
            // A compile-time scalar to a power that depends on the loop variable (`0.99^i`)
            // is scalar arithmetic like `eta / (i + 1)`: folded once the loop is unrolled.
            Err(d) if b.ct && b.ty.shape == Shape::Scalar => {
                let x = self.value(exp)?;
                if !(x.ct && x.ty.shape == Shape::Scalar) {
                    return Err(d);
                }
                let id = self.add(node(Op::PowScalar, vec![b.node, x.node], b.ty, e.span));
                return Ok(Val { node: id, ..b });
            }
            // A computed exponent (a function's parameter, a `let`) is named as such.
            Err(d) => return Err(d),
        };
        let whole = x.fract() == 0.0 && (1.0..=MAX_EXP as f64).contains(&x);
        // A compile-time scalar to any real power (`2 ^ 0.5`) is scalar arithmetic.
        if !whole && b.ct && b.ty.shape == Shape::Scalar {
            let x = self.value(exp)?;
            let id = self.add(node(Op::PowScalar, vec![b.node, x.node], b.ty, e.span));
            return Ok(Val { node: id, ..b });
        }
        if !whole {
            return Err(self
                .err(
                    Code::Const,
                    exp.span,
                    format!(
                        "the exponent must be a whole number from 1 to {MAX_EXP}, but it is {x}"
                    ),
                )
                .with_label(format!("= {x}"))
                .with_help("use `sqrt` for square roots of constants"));
        }
        let id = self.add(node(Op::Pow { exp: x as u32 }, vec![b.node], b.ty, e.span));
        Ok(Val { node: id, ..b })
    }
}
