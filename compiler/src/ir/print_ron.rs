//! RON form, for machines: the serde representation of the whole program.

use super::graph::Program;

pub fn print_ron(p: &Program) -> String {
    let cfg = ron::ser::PrettyConfig::new()
        .struct_names(true)
        .indentor("  ".to_string());
    // Serializing plain data into a String cannot fail; fall back to an error marker if it ever does.
    ron::ser::to_string_pretty(p, cfg)
        .unwrap_or_else(|e| format!("/* RON serialization failed: {e} */"))
}
