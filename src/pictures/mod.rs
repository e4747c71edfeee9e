//! Pictures of compiled programs, drawn in Rust (no Graphviz needed): [`schedule_svg`] draws a
//! schedule's ciphertext steps by level with its multiplicative-depth path highlighted
//! (`hel compile --svg`). The IR's Graphviz form is the compiler's
//! (`hel_compiler::ir::print_dot`).

mod layout;
mod svg;

pub use layout::{depth_path, layout, Kind, Layout, StepBox, MAX_BOXES, MAX_BOXES_PER_LEVEL};
pub use svg::schedule_svg;
