//! Helpers shared by the command-line tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `hel` binary built for the tests in `dir`.
pub fn hel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}
