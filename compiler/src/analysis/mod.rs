//! Analyses of the tensor IR: multiplicative depth (the currency of CKKS), its attribution to
//! loop iterations, the critical path, and operation counts; the magnitude of every value
//! ([`ranges`]); the work the client does before encrypting ([`client_work`]).

pub mod client_work;
pub mod depth;
pub mod ranges;
pub mod report;

pub use depth::{node_depths, DepthModel};
pub use report::{analyze, Analysis, PathStep};
