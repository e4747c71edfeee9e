//! Transformations of the tensor IR, one file per pass, run in the order `pipeline` lists.

pub mod pipeline;
pub mod unroll;

pub use pipeline::{Pass, Pipeline};
