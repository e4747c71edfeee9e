//! The one error type of the data layer.
//!
//! Every variant that comes from user input names the file and, where there is one, the line
//! (1-based, as an editor shows it) and the column, so a user can jump straight to the problem.

use std::path::PathBuf;

/// Anything that can go wrong while reading, building or preparing a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The I/O error is part of the message rather than a `source`, so miette does not print it
    /// twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: not an IDX {kind} file: magic number {found:#010x}, expected {expected:#010x}", path.display())]
    IdxMagic {
        path: PathBuf,
        kind: &'static str,
        found: u32,
        expected: u32,
    },

    #[error("{}: IDX file is {found} bytes after decompression, but its header promises {expected}", path.display())]
    IdxSize {
        path: PathBuf,
        found: usize,
        expected: usize,
    },

    #[error("{}: IDX images are {rows}x{cols}, expected 28x28 (MNIST)", path.display())]
    IdxDims {
        path: PathBuf,
        rows: usize,
        cols: usize,
    },

    #[error("{}: label {label} at index {index} is not a digit 0-9", path.display())]
    IdxLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },

    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    IdxCountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },

    #[error("{}: refusing to overwrite existing output (use --force)", path.display())]
    OutputExists { path: PathBuf },

    #[error("{}:{line}: malformed CSV: {message}", path.display())]
    CsvSyntax {
        path: PathBuf,
        line: u64,
        message: String,
    },

    #[error("{}: {message}", path.display())]
    Npy { path: PathBuf, message: String },

    #[error("{}: no data rows", path.display())]
    Empty { path: PathBuf },

    #[error("{}:{line}: {found} columns, expected {expected} (as on line {first_line})", path.display())]
    FieldCount {
        path: PathBuf,
        line: u64,
        found: usize,
        expected: usize,
        first_line: u64,
    },

    #[error("{}: {found} column(s); need a label column and at least one feature", path.display())]
    TooFewColumns { path: PathBuf, found: usize },

    #[error("{}:{line}: column {column}{}: missing value", path.display(), fmt_name(.name))]
    MissingValue {
        path: PathBuf,
        line: u64,
        /// 1-based column number.
        column: usize,
        name: Option<String>,
    },

    #[error("{}:{line}: column {column}{}: `{value}` is not a finite number", path.display(), fmt_name(.name))]
    NonNumeric {
        path: PathBuf,
        line: u64,
        /// 1-based column number.
        column: usize,
        name: Option<String>,
        value: String,
    },

    #[error("{}:{line}: bad label `{value}`: {reason}", path.display())]
    BadLabel {
        path: PathBuf,
        line: u64,
        value: String,
        reason: String,
    },

    #[error("{}: label column {spec}: {reason}", path.display())]
    LabelColumn {
        path: PathBuf,
        spec: String,
        reason: String,
    },

    #[error("test data has {test} features but training data has {train}")]
    FeatureCountMismatch { train: usize, test: usize },

    #[error("test fraction {0} must be strictly between 0 and 1")]
    BadFraction(f64),

    #[error("cannot split {n} rows with test fraction {fraction}: one side would be empty")]
    SplitTooSmall { n: usize, fraction: f64 },

    #[error("{n} training rows are fewer than one minibatch of {m}; use a smaller minibatch")]
    TooFewRowsForBatch { n: usize, m: usize },

    #[error("minibatch size must be at least 1")]
    ZeroBatchSize,

    #[error(
        "all {n} training rows are of the {class} class: a classifier needs examples of both \
         (is --label-column the label?)"
    )]
    OneClass { n: usize, class: &'static str },
}

fn fmt_name(name: &Option<String>) -> String {
    match name {
        Some(n) => format!(" ({n})"),
        None => String::new(),
    }
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }
}
