//! The general CSV loader for user data.
//!
//! Rules (chosen so that common exports load without flags, and anything odd fails loudly):
//! - gzip is decompressed when the file name ends in `.gz`; LF and CRLF line endings both work;
//!   blank lines are skipped and fields are trimmed.
//! - **Header detection**: the first row is a header if any of its fields is not a finite
//!   number, except that a row that is mostly numbers and as wide as the next row is taken as
//!   data (so a typo in a header-less file is reported, not silently dropped as a "header").
//!   A header as wide as the data names the columns. A header of another width is a
//!   metadata line and is skipped (scikit-learn's `breast_cancer.csv` starts with
//!   `569,30,malignant,benign`); columns then have no names.
//! - Every data row must have the same number of fields; every feature must be a finite number.
//!   Errors name the file, the line and the column.
//! - **Labels** are 0/1 or −1/+1 (detected from the values; `1.0` counts as 1). 0/1 maps to
//!   −1/+1, so class 1 is the positive class. Any other value, or a file mixing 0 and −1, is an
//!   error naming the line.

use crate::bounded::{limit, line_limited, open_limited, MAX_LINE};
use hel_runtime::schedule::limits::MAX_DATA_FILE;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use flate2::read::MultiGzDecoder;

use super::{DataError, Dataset, Matrix};

/// Which column holds the label (`--label-column NAME|INDEX|last`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LabelColumn {
    /// The column with this header name (needs a header row as wide as the data).
    Name(String),
    /// 0-based column index.
    Index(usize),
    /// The last column (the default: scikit-learn and the K-miran medical files put it there).
    #[default]
    Last,
}

impl FromStr for LabelColumn {
    type Err = std::convert::Infallible;

    /// `last` (any case) → `Last`; a plain non-negative integer → `Index`; anything else → `Name`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Ok(if t.eq_ignore_ascii_case("last") {
            LabelColumn::Last
        } else if let Ok(i) = t.parse::<usize>() {
            LabelColumn::Index(i)
        } else {
            LabelColumn::Name(t.to_string())
        })
    }
}

impl fmt::Display for LabelColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelColumn::Name(n) => write!(f, "`{n}`"),
            LabelColumn::Index(i) => write!(f, "index {i}"),
            LabelColumn::Last => write!(f, "last"),
        }
    }
}

/// Options of the CSV loader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    pub label_column: LabelColumn,
}

/// Loads a CSV file (gzip-compressed if the name ends in `.gz`), or a NumPy array if the
/// name ends in `.npy` ([`super::npy::load_dataset`]).
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<Dataset, DataError> {
    if super::npy::is_npy(path) {
        return super::npy::load_dataset(path, opts);
    }
    let file = open_limited(path, MAX_DATA_FILE).map_err(|e| DataError::io(path, e.into()))?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if gz {
        let gunzip = MultiGzDecoder::new(BufReader::new(file));
        read_csv(
            line_limited(limit(gunzip, MAX_DATA_FILE), MAX_LINE),
            path,
            opts,
        )
    } else {
        read_csv(line_limited(BufReader::new(file), MAX_LINE), path, opts)
    }
}

/// Parses CSV from any reader; `path` is only used in error messages.
pub fn read_csv<R: Read>(reader: R, path: &Path, opts: &CsvOptions) -> Result<Dataset, DataError> {
    let path_buf = || path.to_path_buf();
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(reader);

    let mut records = rdr.records();
    let next = |records: &mut ::csv::StringRecordsIter<'_, R>| next_record(records, path);

    let Some((first_line, first)) = next(&mut records)? else {
        return Err(DataError::Empty { path: path_buf() });
    };
    // A non-numeric first row is a header, unless it is mostly numbers and as wide as the next
    // row: then it is a data row with a bad value, and parsing it reports that value.
    let numeric = first.iter().filter(|f| parse_finite(f).is_some()).count();
    let mostly_numeric = 2 * numeric > first.len();
    let mut pending = None;
    let (header, first_data) = if numeric == first.len() {
        (None, (first_line, first))
    } else {
        match next(&mut records)? {
            Some(second) if mostly_numeric && second.1.len() == first.len() => {
                pending = Some(second);
                (None, (first_line, first))
            }
            Some(second) => (Some(first), second),
            None if mostly_numeric => (None, (first_line, first)),
            None => return Err(DataError::Empty { path: path_buf() }),
        }
    };

    // A first data row as wide as neither the header nor the row after it is the odd one out
    // (it set the width, and every good row after it was blamed).
    if let Some(h) = header.as_ref().filter(|h| h.len() != first_data.1.len()) {
        let after = match pending.take() {
            Some(r) => Some(r),
            None => next(&mut records)?,
        };
        if let Some((line, rec)) = after.as_ref().filter(|(_, r)| r.len() == h.len()) {
            return Err(DataError::FieldCount {
                path: path_buf(),
                line: first_data.0,
                found: first_data.1.len(),
                expected: rec.len(),
                first_line: *line,
            });
        }
        pending = after;
    }
    let width = first_data.1.len();
    let data_first_line = first_data.0;
    if width < 2 {
        return Err(DataError::TooFewColumns {
            path: path_buf(),
            found: width,
        });
    }
    // A header only names columns if it is exactly as wide as the data.
    let names: Option<Vec<String>> = header
        .filter(|h| h.len() == width)
        .map(|h| h.iter().map(str::to_string).collect());
    let label_col = resolve_label_column(&opts.label_column, names.as_deref(), width, path)?;

    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut scheme = LabelScheme::default();
    let mut row = Some(first_data);
    while let Some((line, rec)) = row {
        if rec.len() != width {
            return Err(DataError::FieldCount {
                path: path_buf(),
                line,
                found: rec.len(),
                expected: width,
                first_line: data_first_line,
            });
        }
        for (c, field) in rec.iter().enumerate() {
            if c == label_col {
                labels.push(scheme.accept(field, line, path)?);
                continue;
            }
            let name = || names.as_ref().map(|n| n[c].clone());
            if field.is_empty() {
                return Err(DataError::MissingValue {
                    path: path_buf(),
                    line,
                    column: c + 1,
                    name: name(),
                });
            }
            match parse_finite(field) {
                Some(v) => features.push(v),
                None => {
                    return Err(DataError::NonNumeric {
                        path: path_buf(),
                        line,
                        column: c + 1,
                        name: name(),
                        value: field.to_string(),
                    })
                }
            }
        }
        row = match pending.take() {
            Some(r) => Some(r),
            None => next(&mut records)?,
        };
    }

    let feature_names = names.map(|mut n| {
        n.remove(label_col);
        n
    });
    let n = labels.len();
    Ok(Dataset::new(
        Matrix::from_vec(n, width - 1, features),
        labels,
        feature_names,
    ))
}

/// The next record with its 1-based line number; malformed input (invalid UTF-8, I/O or gzip
/// errors) becomes a `CsvSyntax` error naming the line.
fn next_record<R: Read>(
    records: &mut ::csv::StringRecordsIter<'_, R>,
    path: &Path,
) -> Result<Option<(u64, ::csv::StringRecord)>, DataError> {
    match records.next() {
        None => Ok(None),
        Some(Ok(r)) => Ok(Some((r.position().map_or(0, |p| p.line()), r))),
        Some(Err(e)) => Err(DataError::CsvSyntax {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        }),
    }
}

fn parse_finite(field: &str) -> Option<f64> {
    field.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn resolve_label_column(
    spec: &LabelColumn,
    names: Option<&[String]>,
    width: usize,
    path: &Path,
) -> Result<usize, DataError> {
    let err = |reason: String| DataError::LabelColumn {
        path: path.to_path_buf(),
        spec: spec.to_string(),
        reason,
    };
    match spec {
        LabelColumn::Last => Ok(width - 1),
        LabelColumn::Index(i) if *i < width => Ok(*i),
        LabelColumn::Index(_) => Err(err(format!(
            "out of range: the data has {width} columns (indices 0..{})",
            width - 1
        ))),
        LabelColumn::Name(n) => {
            let Some(names) = names else {
                return Err(err(
                    "the file has no header row naming its columns; use an index or `last`".into(),
                ));
            };
            names.iter().position(|h| h == n).ok_or_else(|| {
                let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
                let more = if names.len() > 12 { ", ..." } else { "" };
                err(format!(
                    "no such column; columns are {}{more}",
                    shown.join(", ")
                ))
            })
        }
    }
}

/// Label encoding detected so far, with the line that fixed it (for error messages).
#[derive(Default)]
enum LabelScheme {
    #[default]
    Unknown,
    ZeroOne(u64),
    PlusMinus(u64),
}

impl LabelScheme {
    /// Checks one label field and returns it as ±1.
    fn accept(&mut self, field: &str, line: u64, path: &Path) -> Result<f64, DataError> {
        let bad = |reason: String| DataError::BadLabel {
            path: path.to_path_buf(),
            line,
            value: field.to_string(),
            reason,
        };
        let v =
            parse_finite(field).ok_or_else(|| bad("labels must be 0/1 or -1/+1".to_string()))?;
        if v == 1.0 {
            return Ok(1.0);
        }
        if v == 0.0 {
            if let LabelScheme::PlusMinus(l) = *self {
                return Err(bad(format!("line {l} uses -1/+1 labels, this line uses 0")));
            }
            *self = LabelScheme::ZeroOne(line);
            return Ok(-1.0);
        }
        if v == -1.0 {
            if let LabelScheme::ZeroOne(l) = *self {
                return Err(bad(format!("line {l} uses 0/1 labels, this line uses -1")));
            }
            *self = LabelScheme::PlusMinus(line);
            return Ok(-1.0);
        }
        Err(bad("labels must be 0/1 or -1/+1".to_string()))
    }
}
