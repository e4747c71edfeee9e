//! Transformations of the tensor IR, one file per pass, run in the order `pipeline` lists.
//! `depth_search` is the engine shared by the depth-optimizing rewrites, `rewrite` the rebuild
//! helpers shared by the cleanup passes, `differential` the checker every pass is tested with.

pub mod client_precompute;
pub mod collect_terms;
pub mod combine_products;
pub mod const_fold;
pub mod cse;
pub mod dce;
pub mod depth_search;
pub mod differential;
pub mod distribute;
pub mod hoist_scalars;
mod matrix_chain;
pub mod pipeline;
pub mod poly_eval;
pub mod reassociate;
pub mod rebalance;
mod rewrite;
pub mod simplify;
pub mod software_pipeline;
pub mod unroll;

pub use pipeline::{OptLevel, Options, Pass, Pipeline};
