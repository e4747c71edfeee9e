//! `reassociate`: A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::client_precompute::ClientPrecompute;
use super::depth_search::{EnginePass, Rules};
use super::pipeline::{OptLevel, Options};

/// At `-O2` with client precomputation a later pass (`pipeline`) lets the client compute
/// products of encrypted inputs: `precompute_later`.
pub fn pass(options: &Options) -> EnginePass {
    let level = options.level;
    let precompute_later =
        level >= OptLevel::O2 && options.client_precompute != ClientPrecompute::Off;
    EnginePass {
        name: "reassociate",
        description: "A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding)",
        rules: Rules { hoist: true, distribute: true, fold: true, reassociate: true, cross_iteration: level == OptLevel::O2, precompute_later, products: options.products, client_budget: options.client_precompute, merge_scales: options.merge_scales, ..Rules::default() },
    }
}
