//! `reassociate`: A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{optimize, Rules};
use super::pipeline::{OptLevel, Pass};
use crate::diagnostics::Diagnostic;
use crate::ir::Program;

pub struct Reassociate {
    pub level: OptLevel,
}

impl Pass for Reassociate {
    fn name(&self) -> &'static str {
        "reassociate"
    }

    fn description(&self) -> &'static str {
        "A@(B@x) -> (A@B)@x where A@B is shallower than B@x (with hoisting, distribution and folding)"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        optimize(
            p,
            Rules {
                hoist: true,
                distribute: true,
                fold: true,
                reassociate: true,
                cross_iteration: self.level == OptLevel::O2,
                ..Rules::default()
            },
        )
    }
}
