//! Helpers shared by the subcommands: reading sources, `--set` values, rendering errors.

use hel_compiler::{Diagnostic, SourceFile};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::path::Path;

/// Reads a `.hel` file.
pub fn read_source(path: &Path) -> Result<SourceFile> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// Parses one `--set NAME=VALUE` argument (clap value parser: errors become usage errors).
pub fn parse_set(s: &str) -> std::result::Result<(String, f64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not of the form NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a valid constant name"));
    }
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{value}` is not a finite number"));
    }
    Ok((name.to_string(), v))
}

/// Parses and checks a program, rendering errors against its source.
pub fn frontend(src: &SourceFile, sets: &[(String, f64)]) -> Result<hel_compiler::ir::Program> {
    hel_compiler::frontend(src, sets).map_err(diagnostic)
}

pub fn diagnostic(d: Diagnostic) -> miette::Report {
    miette::Report::new(d)
}

/// A user error without a source location.
pub fn user_error(msg: impl std::fmt::Display) -> miette::Report {
    miette!("{msg}")
}
