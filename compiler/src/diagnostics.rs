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
    /// For a circuit too deep for the parameter budget, the ciphertext depth it needs (or a
    /// lower bound on it): what a caller weighs a remedy by (rounds refreshed by bootstrapping
    /// help only if the loop's iterations can share out that depth).
    pub depth: Option<u32>,
    /// Boxed: diagnostics travel in `Result`s everywhere, and a small error keeps them cheap.
    source: Box<Excerpt>,
}

/// The source a diagnostic shows.
#[derive(Debug, Clone)]
struct Excerpt {
    named: NamedSource<String>,
    /// `file:line:col` when the lines around the span are too long to show: the renderer
    /// (miette) pads the underline to the span's column and panics past 65,535, so such a
    /// diagnostic renders without an excerpt, its location in the help instead.
    unshown: Option<String>,
}

/// Longest line (in bytes) a diagnostic shows in its excerpt. miette expands a tab to four
/// columns, and its padding must stay below 65,536 columns.
const MAX_SHOWN_LINE: usize = 4096;

/// `file:line:col` of `span` if a line of the excerpt miette would show for it (the span's
/// lines and one either side) is longer than [`MAX_SHOWN_LINE`].
fn too_long_to_show(source: &SourceFile, span: Span) -> Option<String> {
    let text = source.text();
    let clamp = |x: u32| (x as usize).min(text.len());
    let (start, end) = (clamp(span.start), clamp(span.end));
    let bytes = text.as_bytes();
    // From the start of the line before the span's to the end of the line after it.
    let mut from = start;
    for _ in 0..2 {
        from = bytes[..from.saturating_sub(1)]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if from == 0 {
            break;
        }
    }
    let mut to = end;
    for _ in 0..2 {
        to = bytes[to.min(bytes.len())..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| to + i + 1);
    }
    let long = bytes[from..to.min(bytes.len())]
        .split(|&b| b == b'\n')
        .any(|line| line.len() > MAX_SHOWN_LINE);
    long.then(|| source.location(span))
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
            depth: None,
            source: Box::new(Excerpt {
                named: NamedSource::new(source.name(), source.text().to_string()),
                unshown: too_long_to_show(source, span),
            }),
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

    /// The ciphertext depth (or a lower bound on it) a too-deep circuit needs.
    pub fn with_depth(mut self, depth: u32) -> Diagnostic {
        self.depth = Some(depth);
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
        match self.source.unshown {
            Some(_) => None,
            None => Some(&self.source.named),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.unshown.is_some() {
            return None;
        }
        let len = self.span.len();
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.label.clone()),
            self.span.start as usize,
            len,
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if let Some(at) = &self.source.unshown {
            let mut h = format!("{at}: {} (the line is too long to show)", self.label);
            if let Some(more) = &self.help {
                h.push_str("; ");
                h.push_str(more);
            }
            return Some(Box::new(h));
        }
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}
