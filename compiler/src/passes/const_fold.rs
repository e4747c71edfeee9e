//! `const-fold`: evaluates at compile time every operation whose operands are all constants, and
//! turns sequence indexing by a constant into a concrete `element`.
//!
//! After `unroll`, loop indices are constants and so is everything computed from them and from
//! `const` definitions: NAG's momentum constants, for instance, come from a loop-carried scalar
//! recurrence with a square root, and must become single numbers before any depth-sensitive pass
//! looks at the circuit. Because a `Const` node is a *filled* tensor, the fold of any operation on
//! constants is again a filled tensor, computed from the fill values and the shapes alone (a sum
//! over `c` columns of `v` is `v * c`), so folding never materialises a large tensor.
//!
//! Arithmetic that produces NaN or infinity (the square root of a negative number, a division by
//! zero, an overflow) is reported at the node's span: such a program has no meaningful circuit.

// `Diagnostic` is the project-wide error type (`Pass::run` returns it); its size is a
// crate-wide question, not one for each pass.

use super::pipeline::Pass;
use super::rewrite::{const_value, constant, internal, rebuild, refine_secrecy};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Node, NodeId, Op, Program, Shape};

pub struct ConstFold;

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const-fold"
    }

    fn description(&self) -> &'static str {
        "evaluate operations on constants at compile time; constant sequence indices become elements"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        rebuild(&p, self.name(), |b, n| fold_or_add(&p, self.name(), b, n))
    }
}

/// Appends `n` (operands already rebuilt), folded if its operands are constants. Shared with
/// `simplify`, whose rewrites expose new constant operands.
pub(crate) fn fold_or_add(
    p: &Program,
    pass: &str,
    b: &mut Builder,
    n: Node,
) -> Result<NodeId, Diagnostic> {
    if let Some(id) = element(p, pass, b, &n)? {
        return Ok(id);
    }
    check_divisor(p, b, &n)?;
    match fold(b, &n) {
        Some(value) if value.is_finite() => Ok(constant(b, &n, value)),
        Some(value) => Err(non_finite(p, b, &n, value)),
        None => {
            let n = refine_secrecy(b, n);
            Ok(b.add(n))
        }
    }
}

/// `index(seq, const i)` becomes `element(seq, i)`, checking that `i` is a valid index.
fn element(
    p: &Program,
    pass: &str,
    b: &mut Builder,
    n: &Node,
) -> Result<Option<NodeId>, Diagnostic> {
    if n.op != Op::Index {
        return Ok(None);
    }
    let (Some(&seq), Some(i)) = (
        n.args.first(),
        n.args.get(1).and_then(|&i| const_value(b, i)),
    ) else {
        return Ok(None);
    };
    let Some(len) = b.node(seq).ty.seq else {
        return Err(internal(
            p,
            pass,
            n,
            "indexing a value that is not a sequence",
        ));
    };
    if i.fract() != 0.0 || i < 0.0 || i >= len as f64 {
        return Err(Diagnostic::new(
            Code::Const,
            &p.source,
            n.span,
            format!(
                "index {i} is out of range{}: the sequence has {len} elements (0 to {})",
                in_iteration(&n.iter),
                len.saturating_sub(1)
            ),
        )
        .with_label(format!("index = {i}")));
    }
    let mut e = Node::new(Op::Element { index: i as u32 }, vec![seq], n.ty, n.span);
    e.iter = n.iter.clone();
    Ok(Some(b.add(refine_secrecy(b, e))))
}

/// " in iteration 3 of its loop" (counted from 0, outermost loop first), or nothing outside
/// loops.
fn in_iteration(iter: &[u32]) -> String {
    match iter {
        [] => String::new(),
        [i] => format!(" in iteration {i} of its loop"),
        _ => {
            let list: Vec<String> = iter.iter().map(u32::to_string).collect();
            format!(
                " in iterations {} of its loops (outermost first)",
                list.join(", ")
            )
        }
    }
}

/// Division by a constant zero is an error even when the dividend is only known at run time: the
/// result would be infinite or NaN for every input.
fn check_divisor(p: &Program, b: &Builder, n: &Node) -> Result<(), Diagnostic> {
    if n.op == Op::Div && n.args.get(1).and_then(|&d| const_value(b, d)) == Some(0.0) {
        return Err(Diagnostic::new(
            Code::Const,
            &p.source,
            n.span,
            "compile-time arithmetic produced infinity or NaN: division by zero",
        )
        .with_label("the divisor is 0 here"));
    }
    Ok(())
}

/// The fill value of `n` if all its operands are constants and the operation can be evaluated
/// at compile time. The value may be NaN or infinite; the caller reports that.
pub(crate) fn fold(b: &Builder, n: &Node) -> Option<f64> {
    let vals: Vec<f64> = n
        .args
        .iter()
        .map(|&a| const_value(b, a))
        .collect::<Option<_>>()?;
    let shape = |k: usize| n.args.get(k).map(|&a| b.node(a).ty.shape);
    // Lengths as f64: products of filled tensors sum `len` equal terms.
    let inner = |k: usize| -> Option<f64> {
        Some(match shape(k)? {
            Shape::Scalar => 1.0,
            Shape::Vector(len) => len as f64,
            Shape::Matrix(_, c) => c as f64,
        })
    };
    let rows = |k: usize| -> Option<f64> {
        match shape(k)? {
            Shape::Matrix(r, _) => Some(r as f64),
            _ => None,
        }
    };
    let (a, y) = (vals.first().copied(), vals.get(1).copied());
    Some(match (&n.op, a, y) {
        (Op::Add, Some(a), Some(y)) => a + y,
        (Op::Sub, Some(a), Some(y)) => a - y,
        (Op::Mul | Op::ScaleCols | Op::ScaleRows, Some(a), Some(y)) => a * y,
        (Op::Div, Some(a), Some(y)) => a / y,
        (Op::Neg, Some(a), None) => -a,
        // The same power the interpreter computes.
        (Op::Pow { exp }, Some(a), None) => a.powi(i32::try_from(*exp).ok()?),
        (Op::Sqrt, Some(a), None) => a.sqrt(),
        (Op::PowScalar, Some(a), Some(y)) => a.powf(y),
        (Op::Transpose, Some(a), None) => a,
        (Op::SumRows, Some(a), None) => a * rows(0)?,
        (Op::SumCols, Some(a), None) => a * inner(0)?,
        // matrix[r, k] @ matrix[k, c], matrix[r, c] @ vector[c], vector[n] . vector[n]: each
        // entry sums `k` (resp. `c`, `n`) products of the fill values.
        (Op::MatMul | Op::MatVec | Op::Dot, Some(a), Some(y)) => a * y * inner(0)?,
        _ => return None,
    })
}

fn non_finite(p: &Program, b: &Builder, n: &Node, value: f64) -> Diagnostic {
    let arg = |k: usize| n.args.get(k).and_then(|&a| const_value(b, a));
    let why = match (&n.op, arg(0)) {
        (Op::Sqrt, Some(x)) if x < 0.0 => {
            format!("square root of a negative number ({})", show(x))
        }
        (Op::Div, _) => "division by zero or overflow in a division".to_string(),
        (Op::Pow { exp }, Some(x)) => format!("{} to the power {exp} overflows", show(x)),
        (Op::PowScalar, Some(x)) => match arg(1) {
            Some(y) if x < 0.0 && y.fract() != 0.0 => {
                format!(
                    "a negative number ({}) to a fractional power ({y})",
                    show(x)
                )
            }
            Some(y) => format!("{} to the power {} is not finite", show(x), show(y)),
            None => "a power of a compile-time scalar is not finite".to_string(),
        },
        (op, _) if value.is_nan() => format!("`{}` of infinite or undefined values", op.name()),
        (op, _) => format!("`{}` overflows the range of 64-bit floats", op.name()),
    };
    let what = if value.is_nan() { "NaN" } else { "infinity" };
    Diagnostic::new(
        Code::Const,
        &p.source,
        n.span,
        format!("compile-time arithmetic produced {what}: {why}"),
    )
    .with_label(format!("= {value}"))
}

/// A number for a message: scientific notation when plain notation would be unreadably long.
fn show(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-6..1e9).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
