//! The tensor dataflow IR: typed operations on scalars, vectors and matrices in a petgraph DAG,
//! with loops kept as regions until the `unroll` pass.
//!
//! Printers: [`print_text`] (one op per line, for people and snapshots), [`print_dot`]
//! (Graphviz) and [`print_ron`] (serde, for machines). [`interp`] evaluates a program on f64
//! tensors; it is the oracle every pass is checked against.

mod graph;
pub mod interp;
mod op;
mod print_dot;
mod print_ron;
mod print_text;
mod types;

pub use graph::{
    Builder, DerivedInput, Graph, InputDecl, MatrixForms, Node, NodeId, OutputDecl, Program, Region,
};
pub use op::{LoopOp, Op};
pub use print_dot::print_dot;
pub use print_ron::print_ron;
pub use print_text::print_text;
pub use types::{Secrecy, Shape, Type};
