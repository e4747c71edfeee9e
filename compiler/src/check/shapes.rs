//! Shape rules for the operators, with the error messages that name both shapes.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Shape;
use crate::source::{SourceFile, Span};

/// Element-wise operators: equal shapes, a scalar broadcast over the other operand, or a
/// vector broadcast over a matrix's rows (NumPy's rule: a `vector[c]` meets the last axis of a
/// `matrix[r, c]`, so `X - mu` centres the columns and `H + b` adds a bias to every row).
pub fn elementwise(
    src: &SourceFile,
    sym: &str,
    a: Shape,
    b: Shape,
    la: Span,
    lb: Span,
    span: Span,
) -> Result<Shape, Diagnostic> {
    match (a, b) {
        _ if a == b => Ok(a),
        (Shape::Scalar, s) | (s, Shape::Scalar) => Ok(s),
        (Shape::Matrix(r, c), Shape::Vector(n)) | (Shape::Vector(n), Shape::Matrix(r, c))
            if n == c =>
        {
            Ok(Shape::Matrix(r, c))
        }
        (Shape::Matrix(r, c), Shape::Vector(n)) | (Shape::Vector(n), Shape::Matrix(r, c)) => {
            let help = if n == r {
                format!(
                    "a vector is broadcast over a matrix's rows, so its length must be the column \
                     count ({c}); for one entry per row, use the matrix[{r}, {c}] \
                     `outer(v, ones({c}))` (row i holds v[i]){}",
                    if sym == "*" { ", or `@` for a matrix-vector product" } else { "" }
                )
            } else if sym == "*" {
                "for a matrix-vector product use `@`".to_string()
            } else {
                format!("a vector is broadcast over a matrix's rows, so its length must be the column count ({c})")
            };
            Err(Diagnostic::new(Code::Shape, src, span, format!(
                "`{sym}` broadcasts a vector over the rows of a matrix, but the vector's length ({n}) is not the matrix's column count ({c}): the left side is {a} and the right side is {b}"
            ))
            .with_label(format!("{a} {sym} {b}"))
            .with_help(help))
        }
        _ => Err(Diagnostic::new(Code::Shape, src, span, format!(
            "`{sym}` needs operands of the same shape (or a scalar), but the left side is {a} and the right side is {b}"
        ))
        .with_label(format!("{a} {sym} {b}"))
        .with_help(format!("left: {} , right: {}", src.location(la), src.location(lb)))),
    }
}

/// Which product `@` denotes for the operand shapes.
pub enum Product {
    MatMul,
    MatVec,
    /// `vector @ matrix`, computed as `transpose(matrix) @ vector`.
    VecMat,
}

pub fn matmul(
    src: &SourceFile,
    a: Shape,
    b: Shape,
    _la: Span,
    _lb: Span,
    span: Span,
) -> Result<(Product, Shape), Diagnostic> {
    let mismatch = |inner_a: usize, inner_b: usize, what: &str| {
        Diagnostic::new(Code::Shape, src, span, format!(
            "the sizes in `@` do not agree: the left side is {a} and the right side is {b}; {what} ({inner_a} vs {inner_b})"
        ))
        .with_label(format!("{a} @ {b}"))
    };
    match (a, b) {
        (Shape::Matrix(r, k), Shape::Matrix(k2, c)) => {
            if k != k2 {
                return Err(mismatch(
                    k,
                    k2,
                    "the left side's column count must equal the right side's row count",
                ));
            }
            Ok((Product::MatMul, Shape::Matrix(r, c)))
        }
        (Shape::Matrix(r, c), Shape::Vector(n)) => {
            if c != n {
                return Err(mismatch(
                    c,
                    n,
                    "the matrix's column count must equal the vector's length",
                ));
            }
            Ok((Product::MatVec, Shape::Vector(r)))
        }
        (Shape::Vector(n), Shape::Matrix(r, c)) => {
            if n != r {
                return Err(mismatch(
                    n,
                    r,
                    "the vector's length must equal the matrix's row count",
                ));
            }
            Ok((Product::VecMat, Shape::Vector(c)))
        }
        (Shape::Vector(_), Shape::Vector(_)) => Err(Diagnostic::new(
            Code::Shape,
            src,
            span,
            format!(
                "`@` needs a matrix on at least one side, but both sides are vectors ({a} and {b})"
            ),
        )
        .with_help("for the inner product of two vectors use `dot(a, b)`")),
        _ => Err(Diagnostic::new(
            Code::Shape,
            src,
            span,
            format!("`@` is a matrix product, but one side is a scalar ({a} @ {b})"),
        )
        .with_help("to scale by a scalar use `*`")),
    }
}
