//! `distribute`: duplicate work to break dependencies: A@(a+b) -> A@a + A@b, a*(b+c) -> a*b + a*c, A@(a*b) -> (A diag a)@b, where it lowers the critical path.
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{EnginePass, Rules};
use super::pipeline::{OptLevel, Options};

pub fn pass(options: &Options) -> EnginePass {
    let level = options.level;
    EnginePass {
        name: "distribute",
        description: "duplicate work to break dependencies: A@(a+b) -> A@a + A@b, a*(b+c) -> a*b + a*c, A@(a*b) -> (A diag a)@b, where it lowers the critical path",
        rules: Rules { hoist: true, distribute: true, fold: true, cross_iteration: level == OptLevel::O2, merge_scales: options.merge_scales, ..Rules::default() },
    }
}
