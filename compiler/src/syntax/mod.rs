//! Text to AST and back: the pest grammar (`grammar.pest`), the parser that builds the [`ast`],
//! the translation of pest's errors into located diagnostics, and `print`, which writes an
//! AST as `.hel` text.

pub mod ast;
mod parser;
mod print;

pub use parser::parse;
pub use print::program as print;
