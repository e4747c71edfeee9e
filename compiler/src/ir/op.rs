//! The operations of the tensor IR.
//!
//! Element-wise operations (`Add`, `Sub`, `Mul`, `Neg`, `Pow`) broadcast a scalar operand over a
//! tensor one. Matrix products are split by operand kind so that later stages never have to
//! re-derive which product they face.

use super::graph::Region;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A program input (the whole sequence, for sequence inputs).
    Input {
        name: String,
    },
    /// A tensor (of the node's shape) whose every entry is `value`.
    Const {
        value: f64,
    },
    Add,
    Sub,
    Mul,
    /// Division by a public scalar known at compile time.
    Div,
    Neg,
    /// Integer power, element-wise.
    Pow {
        exp: u32,
    },
    /// `matrix[r, k] @ matrix[k, c]`.
    MatMul,
    /// `matrix[r, c] @ vector[c]`.
    MatVec,
    /// `matrix[r, c] * vector[c]` broadcast along rows: column j scaled by `v[j]` (`X diag(v)`).
    /// Introduced by passes to fold an element-wise product into a matrix product.
    ScaleCols,
    /// `matrix[r, c] * vector[r]` broadcast along columns: row i scaled by `v[i]` (`diag(v) X`).
    ScaleRows,
    Transpose,
    /// Sum over the rows: `matrix[r, c] -> vector[c]`.
    SumRows,
    /// Sum over the columns: `matrix[r, c] -> vector[r]`.
    SumCols,
    /// `vector[n] . vector[n] -> scalar`.
    Dot,
    /// Square root of a compile-time scalar.
    Sqrt,
    /// `args[0]` to the power `args[1]`, both compile-time scalars: an exponent that depends
    /// on the loop variable (`0.99^i`, a decaying weight), folded once the loop is unrolled.
    PowScalar,
    /// Element `args[1]` (a compile-time scalar) of the sequence `args[0]`.
    Index,
    /// Element `index` of the sequence `args[0]`, once the index is known.
    Element {
        index: u32,
    },
    /// A counted loop. Arguments: the initial values of the loop-carried variables, then the
    /// values the body captures from outside. Results are read with `LoopResult`.
    Loop(Box<LoopOp>),
    /// The final value of loop-carried variable `index` of the loop `args[0]`.
    LoopResult {
        index: u32,
    },
    /// Inside a loop body: the loop's argument `index` (a carried variable's value at the start
    /// of the iteration, or a captured value).
    Param {
        index: u32,
    },
    /// Inside a loop body: the iteration variable.
    LoopIndex,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopOp {
    /// The iteration variable's name, for printing.
    pub var: String,
    pub start: i64,
    pub end: i64,
    /// Names of the loop-carried variables; the first `carried.len()` arguments initialise them.
    pub carried: Vec<String>,
    pub body: Region,
}

impl LoopOp {
    pub fn trip_count(&self) -> u64 {
        (self.end - self.start).max(0) as u64
    }
}

impl Op {
    /// The mnemonic used by the text printer and `--after` listings.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Const { .. } => "const",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::Neg => "neg",
            Op::Pow { .. } => "pow",
            Op::MatMul => "matmul",
            Op::MatVec => "matvec",
            Op::ScaleCols => "scale_cols",
            Op::ScaleRows => "scale_rows",
            Op::Transpose => "transpose",
            Op::SumRows => "sum_rows",
            Op::SumCols => "sum_cols",
            Op::Dot => "dot",
            Op::Sqrt => "sqrt",
            Op::PowScalar => "pow",
            Op::Index => "index",
            Op::Element { .. } => "element",
            Op::Loop(_) => "loop",
            Op::LoopResult { .. } => "result",
            Op::Param { .. } => "param",
            Op::LoopIndex => "loop_index",
        }
    }
}
