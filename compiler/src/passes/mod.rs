//! Transformations of the tensor IR, one file per pass, run in the order `pipeline` lists.

pub mod const_fold;
pub mod cse;
pub mod dce;
pub mod differential;
pub mod pipeline;
mod rewrite;
pub mod simplify;
pub mod unroll;

pub use pipeline::{Pass, Pipeline};
