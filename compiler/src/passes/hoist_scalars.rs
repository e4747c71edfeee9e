//! `hoist-scalars`: move public scalar factors onto the operand with the most slack (e.g. gamma*c3 onto a fresh input).
//!
//! Runs the depth-search engine ([`super::depth_search`]) with the rules this pass adds to
//! the ones before it in the pipeline. At `-O1` the rules stay inside one loop iteration; at
//! `-O2` they may also look across iterations.

use super::depth_search::{optimize, Rules};
use super::pipeline::{OptLevel, Pass};
use crate::diagnostics::Diagnostic;
use crate::ir::Program;

pub struct HoistScalars {
    pub level: OptLevel,
}

impl Pass for HoistScalars {
    fn name(&self) -> &'static str {
        "hoist-scalars"
    }

    fn description(&self) -> &'static str {
        "move public scalar factors onto the operand with the most slack (e.g. gamma*c3 onto a fresh input)"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        optimize(
            p,
            Rules {
                hoist: true,
                cross_iteration: self.level == OptLevel::O2,
                ..Rules::default()
            },
        )
    }
}
