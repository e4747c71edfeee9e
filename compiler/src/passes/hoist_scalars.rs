//! `hoist-scalars`: move public scalar factors onto the operand with the most slack (e.g. gamma*c3 onto a fresh input).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{EnginePass, Rules};
use super::pipeline::{OptLevel, Options};

pub fn pass(options: &Options) -> EnginePass {
    let level = options.level;
    EnginePass {
        name: "hoist-scalars",
        description: "move public scalar factors onto the operand with the most slack (e.g. gamma*c3 onto a fresh input)",
        rules: Rules { hoist: true, cross_iteration: level == OptLevel::O2, merge_scales: options.merge_scales, ..Rules::default() },
    }
}
