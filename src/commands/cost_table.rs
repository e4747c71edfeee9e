//! Where the cost table lives: `hel calibrate` writes it, `hel run` (cost estimates and the
//! hoisting decisions of the ckks evaluator) reads it. One file per user and machine, in the
//! configuration directory, because the numbers describe this machine.

use std::path::{Path, PathBuf};

use hel_runtime::exec::CostTable;
use hel_runtime::schedule::limits;

use super::common::user_error;
use super::keyfiles::read_bytes;

/// A cost table and where it came from (for reports).
pub struct LoadedTable {
    pub table: CostTable,
    pub source: String,
}

/// `$HEL_COST_TABLE`, else `$XDG_CONFIG_HOME/hel/cost-table.ron`, else
/// `$HOME/.config/hel/cost-table.ron`; `None` without a home directory.
pub fn default_path() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("HEL_COST_TABLE") {
        return Some(p);
    }
    let config = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))?;
    Some(config.join("hel").join("cost-table.ron"))
}

/// The table at `path` if given (it must exist), else the calibrated table at
/// [`default_path`] if there is one, else the table shipped with hel.
pub fn load_cost_table(path: Option<&Path>) -> miette::Result<LoadedTable> {
    // A table the user named (`--cost-table`, or `$HEL_COST_TABLE`) must be there; the
    // calibrated one under the config directory only if `hel calibrate` wrote it.
    let named = std::env::var_os("HEL_COST_TABLE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let path = match path.map(Path::to_path_buf).or(named) {
        Some(p) => p,
        None => match default_path().filter(|p| p.is_file()) {
            Some(p) => p,
            None => {
                return Ok(LoadedTable {
                    table: CostTable::default(),
                    source: "built-in (run `hel calibrate` to measure this machine)".into(),
                })
            }
        },
    };
    let bytes = read_bytes(&path, "cost table", limits::MAX_SMALL_FILE)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        user_error(format!(
            "{}: the cost table is not UTF-8 text",
            path.display()
        ))
    })?;
    let table =
        CostTable::from_ron(&text).map_err(|e| user_error(format!("{}: {e}", path.display())))?;
    Ok(LoadedTable {
        table,
        source: path.display().to_string(),
    })
}
