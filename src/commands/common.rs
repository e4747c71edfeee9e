//! Helpers shared by the subcommands: reading sources, rendering errors. (Shared flags are in
//! `flags.rs`.)

use hel_compiler::{Code, Diagnostic, SourceFile};
use miette::{miette, Result};
use std::path::Path;

use crate::io::terminal::escape_message;

/// Reads a `.hel` file (a regular file of at most
/// [`MAX_SOURCE_FILE`](hel_runtime::schedule::limits::MAX_SOURCE_FILE) bytes).
pub fn read_source(path: &Path) -> Result<SourceFile> {
    let text =
        hel::bounded::read_text_limited(path, hel_runtime::schedule::limits::MAX_SOURCE_FILE)
            .map_err(|e| user_error(format!("cannot read {}: {e}", path.display())))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// Parses and checks a program, rendering errors against its source.
pub fn frontend(src: &SourceFile, sets: &[(String, f64)]) -> Result<hel_compiler::ir::Program> {
    hel_compiler::frontend(src, sets).map_err(diagnostic)
}

pub fn diagnostic(d: Diagnostic) -> miette::Report {
    miette::Report::new(d)
}

/// A user error (exit code 1) without a source location. For a bad flag or flag combination
/// use [`super::errors::usage_error`] (exit code 2). Messages often quote names from files
/// (a schedule's, an input's, a CSV header): control characters are shown escaped.
pub fn user_error(msg: impl std::fmt::Display) -> miette::Report {
    miette!("{}", escape_message(&msg.to_string()))
}

/// A training loop too deep for one circuit can run in rounds whose state is refreshed: say
/// how. `hel compile --refresh bootstrap` (and `hel depth`) place bootstraps between rounds
/// of any loop the round template splits; `hel train` runs the loops of its shape in rounds
/// refreshed by the client or by bootstrapping.
pub fn with_rounds_help(d: Diagnostic, src: &SourceFile, sets: &[(String, f64)]) -> Diagnostic {
    if d.code != Code::TooDeep || hel_compiler::rounds::RoundTemplate::with_sets(src, sets).is_err()
    {
        return d;
    }
    // Rounds are cut between iterations of a top-level loop, and each must fit the levels a
    // bootstrap leaves: a circuit deeper than all the iterations times those levels cannot be
    // shared out however it is cut (`--refresh bootstrap` would refuse it too).
    if let Some(depth) = d.depth {
        // The most a bootstrap leaves: the chain of the fewest slots (its DFTs are the
        // shortest).
        let rule = hel::bootstrapped::rule();
        let levels = rule
            .fewest_slots(0)
            .map_or(rule.program_levels, |c| c.program_levels) as u64;
        let iterations = top_level_iterations(src, sets);
        if let Some(iterations) =
            iterations.filter(|&k| u64::from(depth) > k.saturating_mul(levels))
        {
            let help = format!(
                "rounds refreshed by bootstrapping would not help: depth {depth} is more than \
                 the loop's {iterations} iteration(s) times the {levels} levels a bootstrap \
                 leaves at most (N = 2^16), so even rounds of one iteration are too deep; use fewer \
                 successive products per iteration (a lower-degree polynomial)"
            );
            return d.with_help(help);
        }
    }
    let train = if hel::train::program::trains_in_rounds(src, sets) {
        format!(
            "; `hel train --program {}` runs it in rounds refreshed by the client (`--refresh \
             client`) or by bootstrapping (`--refresh bootstrap`; `--plan-only` shows the plan)",
            src.name()
        )
    } else {
        String::new()
    };
    d.with_help(format!(
        "this training loop can run in rounds whose state the server refreshes: `--refresh \
         bootstrap` places a bootstrap of the weights between rounds of fewer iterations, in \
         one schedule (N = 2^16, the client uploads once and downloads once){train}"
    ))
}

/// The iterations of the program's top-level loops together.
fn top_level_iterations(src: &SourceFile, sets: &[(String, f64)]) -> Option<u64> {
    let p = hel_compiler::frontend(src, sets).ok()?;
    Some(
        p.graph
            .nodes()
            .filter_map(|(_, n)| match &n.op {
                hel_compiler::ir::Op::Loop(l) => Some(l.trip_count()),
                _ => None,
            })
            .fold(0u64, u64::saturating_add),
    )
}
