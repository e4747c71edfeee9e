//! Located errors. Every user-facing failure of the compiler is a [`Diagnostic`]: a stable
//! [`Code`] saying what kind of failure it is, one sentence saying what is wrong and what was
//! expected, a labelled span in the source, and optionally a hint. They render through miette
//! as `file:line:col` plus an underlined excerpt. Programs (like `hel train`, which falls back
//! to training rounds when a circuit is too deep) branch on the code, never on the message.

use crate::source::{SourceFile, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use std::fmt;

/// The kind of a compile error: stable across releases (tools match on it), printed by miette
/// as the diagnostic's code and in `--json` error objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The text does not parse, or exceeds the parser's nesting and size limits.
    Syntax,
    /// An undefined, duplicated, misplaced or misused name.
    Name,
    /// Shapes, sequences, ranges or argument counts that do not fit an operation or
    /// declaration.
    Shape,
    /// A run-time (encrypted or input-derived) value where a compile-time one is needed: a
    /// divisor, an exponent, an index, a size, a loop bound.
    Secrecy,
    /// A compile-time value that cannot be computed or is out of its range.
    Const,
    /// A size, count or amount of work beyond the compiler's limits.
    Budget,
    /// An operation the lowering to CKKS does not implement.
    Unsupported,
    /// The circuit is deeper than any 128-bit secure parameter set holds.
    TooDeep,
    /// Parameters given by the user (`--params`) are invalid or too small for the program, or
    /// the precision target cannot be met within 128-bit security.
    Params,
    /// A value too large for any 128-bit secure chain to hold (or for the `--params` given).
    Range,
    /// A training program that cannot be split into rounds (see [`crate::rounds`]).
    Rounds,
    /// A broken invariant inside the compiler: a bug, never the program's fault.
    Internal,
}

impl Code {
    /// The code as printed: `hel::params::too_deep` and the like.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "hel::syntax",
            Code::Name => "hel::check::name",
            Code::Shape => "hel::check::shape",
            Code::Secrecy => "hel::check::secrecy",
            Code::Const => "hel::check::const",
            Code::Budget => "hel::budget",
            Code::Unsupported => "hel::lower::unsupported",
            Code::TooDeep => "hel::params::too_deep",
            Code::Params => "hel::params::invalid",
            Code::Range => "hel::range::too_large",
            Code::Rounds => "hel::train::rounds",
            Code::Internal => "hel::internal",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: [Code; 12] = [
        Code::Syntax,
        Code::Name,
        Code::Shape,
        Code::Secrecy,
        Code::Const,
        Code::Budget,
        Code::Unsupported,
        Code::TooDeep,
        Code::Params,
        Code::Range,
        Code::Rounds,
        Code::Internal,
    ];
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compile error pointing into a source file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    /// Boxed: diagnostics travel in `Result`s everywhere, and a small error keeps them cheap.
    source: Box<NamedSource<String>>,
}

impl Diagnostic {
    pub fn new(
        code: Code,
        source: &SourceFile,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: "here".into(),
            help: None,
            source: Box::new(NamedSource::new(source.name(), source.text().to_string())),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Renders without colour or terminal-dependent width, for snapshots and logs.
    pub fn render_plain(&self) -> String {
        let mut out = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
        if handler.render_report(&mut out, self).is_err() {
            return self.message.clone();
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source.as_ref())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.span.len();
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.label.clone()),
            self.span.start as usize,
            len,
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}
