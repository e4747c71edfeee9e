//! Text to AST: the pest grammar (`grammar.pest`), the parser that builds the [`ast`], and the
//! translation of pest's errors into located diagnostics.

pub mod ast;
mod parser;

pub use parser::parse;
