//! Shared helpers for the compiler's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use hel_compiler::ir::Program;
use hel_compiler::passes::pipeline::{self, OptLevel};
use hel_compiler::{Options, SourceFile};
use std::path::PathBuf;

/// The example programs every pass is tested on.
pub const EXAMPLES: [&str; 3] = ["poly", "logreg_gd", "logreg_nag"];

pub fn example_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.hel"))
}

pub fn load(name: &str, sets: &[(&str, f64)]) -> Program {
    let path = example_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let src = SourceFile::new(format!("{name}.hel"), text);
    let sets: Vec<(String, f64)> = sets.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    hel_compiler::frontend(&src, &sets).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

/// Small sizes so the interpreter runs the examples in milliseconds.
pub fn small_sets(name: &str) -> Vec<(&'static str, f64)> {
    match name {
        "poly" => vec![("n", 16.0)],
        "column_stats" => vec![("m", 8.0), ("f", 5.0)],
        "covariance" => vec![("m", 8.0), ("f", 4.0)],
        "kmeans_step" => vec![("m", 8.0), ("f", 4.0), ("c", 3.0)],
        "mlp_step" | "mlp_bias" => vec![("m", 8.0)],
        "newton_schulz" => vec![("m", 8.0), ("f", 3.0), ("t", 2.0)],
        "ovr_logreg" => vec![("k", 2.0), ("m", 8.0), ("f", 4.0), ("c", 3.0)],
        _ => vec![("k", 3.0), ("m", 8.0), ("f", 5.0)],
    }
}

/// The compiler's default options at `level`.
pub fn options(level: OptLevel) -> Options {
    Options {
        passes: pipeline::Options {
            level,
            ..pipeline::Options::default()
        },
        ..Options::default()
    }
}
