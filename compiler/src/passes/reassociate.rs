//! `reassociate`: A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{EnginePass, Rules};
use super::pipeline::{OptLevel, ProductPricing};

/// `precompute_later`: whether a later pass (`pipeline` at `-O2`) lets the client compute
/// products of encrypted inputs.
pub fn pass(level: OptLevel, precompute_later: bool, products: ProductPricing) -> EnginePass {
    EnginePass {
        name: "reassociate",
        description: "A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding)",
        rules: Rules { hoist: true, distribute: true, fold: true, reassociate: true, cross_iteration: level == OptLevel::O2, precompute_later, products, ..Rules::default() },
    }
}
