//! `reassociate`: A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{EnginePass, Rules};
use super::pipeline::OptLevel;

pub fn pass(level: OptLevel) -> EnginePass {
    EnginePass {
        name: "reassociate",
        description: "A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding)",
        rules: Rules { hoist: true, distribute: true, fold: true, reassociate: true, cross_iteration: level == OptLevel::O2, ..Rules::default() },
    }
}
