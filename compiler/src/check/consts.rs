//! Compile-time evaluation of constant expressions: `const` definitions, type dimensions, range
//! bounds, loop bounds, exponents and (with loop variables bound) sequence indices.

use crate::diagnostics::{Code, Diagnostic};
use crate::source::SourceFile;
use crate::syntax::ast::{BinOp, Expr, ExprKind};
use std::collections::HashMap;

/// What a name means when evaluating a constant expression.
pub enum ConstName {
    Value(f64),
    /// Defined, but not a compile-time constant: the string says what it is instead.
    NotConst(String),
    /// A loop variable where the value must be the same in every iteration (a loop's body is
    /// elaborated once for all of them, so its shapes, exponents and inner trip counts cannot
    /// vary with the index).
    LoopVar,
}

/// Evaluates `e` where names are resolved by `lookup`; `what` names the context for messages
/// ("a loop bound", "a vector size", ...).
pub fn eval(
    src: &SourceFile,
    e: &Expr,
    what: &str,
    lookup: &dyn Fn(&str) -> Option<ConstName>,
) -> Result<f64, Diagnostic> {
    let v = match &e.kind {
        ExprKind::Number(v) => *v,
        ExprKind::Var(name) => match lookup(name) {
            Some(ConstName::Value(v)) => v,
            Some(ConstName::NotConst(kind)) => {
                return Err(Diagnostic::new(
                    Code::Secrecy,
                    src,
                    e.span,
                    format!("{what} must be known at compile time, but `{name}` is {kind}"),
                )
                .with_label("not a compile-time constant")
                .with_help(
                    "use numbers and `const` names here (sequence indices may also use loop \
                     variables)",
                ));
            }
            Some(ConstName::LoopVar) => {
                return Err(Diagnostic::new(
                    Code::Secrecy,
                    src,
                    e.span,
                    format!(
                        "{what} cannot depend on the loop variable `{name}`: it must be the same \
                         in every iteration"
                    ),
                )
                .with_label("a loop variable")
                .with_help(
                    "a loop's body is compiled once for all its iterations; use numbers and \
                     `const` names here (sequence indices and scalar arithmetic may use loop \
                     variables)",
                ));
            }
            None => {
                return Err(Diagnostic::new(
                    Code::Name,
                    src,
                    e.span,
                    format!("`{name}` is not defined"),
                )
                .with_label("unknown name"));
            }
        },
        ExprKind::Neg(x) => -eval(src, x, what, lookup)?,
        ExprKind::Binary(op, l, r) => {
            let a = eval(src, l, what, lookup)?;
            let b = eval(src, r, what, lookup)?;
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => {
                    if b == 0.0 {
                        return Err(Diagnostic::new(
                            Code::Const,
                            src,
                            r.span,
                            format!("division by zero in {what}"),
                        )
                        .with_label("this is 0"));
                    }
                    a / b
                }
                BinOp::Pow => a.powf(b),
                BinOp::MatMul => {
                    return Err(Diagnostic::new(
                        Code::Const,
                        src,
                        e.span,
                        format!("{what} must be a number, but `@` makes a matrix product"),
                    ))
                }
            }
        }
        ExprKind::Call(f, args) if f.name == "sqrt" && args.len() == 1 => {
            let x = eval(src, &args[0], what, lookup)?;
            if x < 0.0 {
                return Err(Diagnostic::new(
                    Code::Const,
                    src,
                    e.span,
                    format!("square root of the negative number {x} in {what}"),
                )
                .with_label("negative"));
            }
            x.sqrt()
        }
        ExprKind::Call(f, _) => {
            return Err(Diagnostic::new(
                Code::Const,
                src,
                e.span,
                format!(
                    "{what} must be known at compile time; only {} can be called there, not `{}`",
                    super::builtins::list_in_constants(),
                    f.name
                ),
            ))
        }
        ExprKind::Index(..) => {
            return Err(Diagnostic::new(
                Code::Const,
                src,
                e.span,
                format!(
                    "{what} must be known at compile time, but indexing reads a run-time value"
                ),
            ))
        }
    };
    if !v.is_finite() {
        return Err(Diagnostic::new(
            Code::Const,
            src,
            e.span,
            format!("{what} evaluates to {v}, which is not a finite number"),
        ));
    }
    Ok(v)
}

/// Evaluates a constant that must be a whole number in `min..=max`.
pub fn eval_int(
    src: &SourceFile,
    e: &Expr,
    what: &str,
    min: i64,
    max: i64,
    lookup: &dyn Fn(&str) -> Option<ConstName>,
) -> Result<i64, Diagnostic> {
    let v = eval(src, e, what, lookup)?;
    if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
        return Err(Diagnostic::new(
            Code::Const,
            src,
            e.span,
            format!("{what} must be a whole number from {min} to {max}, but it is {v}"),
        )
        .with_label(format!("= {v}")));
    }
    Ok(v as i64)
}

/// Names bound by loops while checking an index: `lookup` falls back to them.
pub type LoopEnv = HashMap<String, f64>;
