//! NumPy `.npy` files: reading any C-ordered array of floats, integers or booleans as f64, and
//! writing f64 arrays (`np.save`'s format, version 1.0).
//!
//! Written here rather than taken from a crate: the format is a magic string, a header that is
//! a Python dict literal, and raw little- or big-endian values, and the reader must refuse a
//! hostile file without panicking or allocating what the file merely claims. `npyz` (the
//! maintained crate) multiplies the header's shape without an overflow check and allocates the
//! header length the file states before reading it; `ndarray-npy` brings `ndarray`. Here every
//! size is checked against the bytes actually read (themselves bounded by
//! [`MAX_DATA_FILE`]), and every error names the file.
//!
//! Refused with a clear message: another magic or version, a header that is not the dict
//! `np.save` writes, structured, complex, string, object (pickled) or half-precision dtypes,
//! Fortran order (save with `np.ascontiguousarray`), a shape whose entries overflow or exceed
//! [`MAX_TENSOR_ENTRIES`], data shorter or longer than the shape says, NaN or infinity.

use std::path::Path;

use hel_runtime::schedule::limits::{MAX_DATA_FILE, MAX_TENSOR_ENTRIES};

use super::csv::{CsvOptions, LabelColumn};
use super::{DataError, Dataset, Matrix};
use crate::bounded::read_limited;

const MAGIC: &[u8] = b"\x93NUMPY";

/// An array read from a `.npy` file: its shape (row-major) and its values as f64.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Whether `path` names a `.npy` file (by its extension, any case).
pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads a `.npy` file (at most [`MAX_DATA_FILE`] bytes); errors name the file.
pub fn read_npy(path: &Path) -> Result<NpyArray, String> {
    let bytes = read_limited(path, MAX_DATA_FILE)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A labelled data set from a `.npy` file (`hel train --data FILE.npy`): a 2-D array, one row
/// per sample, whose label column (`--label-column INDEX|last`, the last by default; a `.npy`
/// file has no column names) holds 0/1 or -1/+1 and whose other columns are the features.
/// `np.save("data.npy", np.column_stack([X, y]))` writes one.
pub fn load_dataset(path: &Path, opts: &CsvOptions) -> Result<Dataset, DataError> {
    let err = |message: String| DataError::Npy {
        path: path.to_path_buf(),
        message,
    };
    let bytes = read_limited(path, MAX_DATA_FILE).map_err(|e| DataError::io(path, e.into()))?;
    let a = parse_npy(&bytes).map_err(err)?;
    let [rows, width] = a.shape[..] else {
        return Err(err(format!(
            "shape {:?}: training data is a 2-D array, one row per sample with the label in              one column (np.column_stack([X, y]))",
            a.shape
        )));
    };
    if rows == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if width < 2 {
        return Err(DataError::TooFewColumns {
            path: path.to_path_buf(),
            found: width,
        });
    }
    let label = match &opts.label_column {
        LabelColumn::Last => width - 1,
        LabelColumn::Index(i) if *i < width => *i,
        spec => {
            return Err(DataError::LabelColumn {
                path: path.to_path_buf(),
                spec: spec.to_string(),
                reason: format!(
                    "a .npy file has no column names; give an index below {width} or `last`"
                ),
            })
        }
    };
    let mut features = Vec::with_capacity(rows * (width - 1));
    let mut labels = Vec::with_capacity(rows);
    let mut zero_one = None;
    for (r, row) in a.data.chunks_exact(width).enumerate() {
        let y = row[label];
        let this = match y {
            0.0 => Some(true),
            -1.0 => Some(false),
            1.0 => None,
            _ => {
                return Err(err(format!(
                    "row {r}: label {y} in column {label}; labels must be 0/1 or -1/+1"
                )))
            }
        };
        if let Some(t) = this {
            if zero_one.is_some_and(|z| z != t) {
                return Err(err(format!(
                    "row {r}: label {y} in column {label}, but an earlier row has {}; labels                      must be 0/1 or -1/+1, not both",
                    if t { -1 } else { 0 }
                )));
            }
            zero_one = Some(t);
        }
        labels.push(if y == 1.0 { 1.0 } else { -1.0 });
        features.extend(
            row.iter()
                .enumerate()
                .filter(|(c, _)| *c != label)
                .map(|(_, v)| *v),
        );
    }
    Ok(Dataset::new(
        Matrix::from_vec(rows, width - 1, features),
        labels,
        None,
    ))
}

/// The element types the reader accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    Float,
    Int,
    Uint,
    Bool,
}

/// A parsed `.npy` file's content.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if !bytes.starts_with(MAGIC) {
        return Err("not a NumPy .npy file (no \\x93NUMPY magic string)".into());
    }
    let version = bytes.get(6..8).ok_or("the file ends inside its header")?;
    let (len_bytes, start) = match version[0] {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => {
            return Err(format!(
                ".npy format version {v}.{} is not supported",
                version[1]
            ))
        }
    };
    let len = bytes
        .get(8..8 + len_bytes)
        .ok_or("the file ends inside its header")?;
    let header_len = len
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header = bytes
        .get(start..)
        .and_then(|rest| rest.get(..header_len))
        .ok_or_else(|| {
            format!(
                "the header claims {header_len} bytes but the file has {}",
                bytes.len().saturating_sub(start)
            )
        })?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let h = Header::parse(header)?;
    if h.fortran {
        return Err(
            "the array is in Fortran (column-major) order; save it with \
             np.save(path, np.ascontiguousarray(a))"
                .into(),
        );
    }
    let (elem, size, little) = dtype(&h.descr)?;
    let mut entries: usize = 1;
    for &d in &h.shape {
        entries = entries
            .checked_mul(d)
            .filter(|&n| n <= MAX_TENSOR_ENTRIES)
            .ok_or_else(|| {
                format!(
                    "shape {:?} has more than {MAX_TENSOR_ENTRIES} entries",
                    h.shape
                )
            })?;
    }
    let data = &bytes[start + header_len..];
    // `entries * size` cannot overflow: entries <= 2^26 and size <= 8.
    if data.len() != entries * size {
        return Err(format!(
            "shape {:?} of {} needs {} data bytes, the file has {}",
            h.shape,
            h.descr,
            entries * size,
            data.len()
        ));
    }
    let mut values = Vec::with_capacity(entries);
    for (i, chunk) in data.chunks_exact(size).enumerate() {
        let v = value(chunk, elem, little);
        if !v.is_finite() {
            return Err(format!(
                "entry {} (flat index {i}) is {v}",
                index(&h.shape, i)
            ));
        }
        values.push(v);
    }
    Ok(NpyArray {
        shape: h.shape,
        data: values,
    })
}

/// `[i, j, ...]` of flat index `i` in `shape`.
fn index(shape: &[usize], mut flat: usize) -> String {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = flat % d;
            flat /= d;
        }
    }
    format!("{idx:?}")
}

fn value(b: &[u8], elem: Elem, little: bool) -> f64 {
    let mut raw = [0u8; 8];
    let n = b.len();
    if little {
        raw[..n].copy_from_slice(b);
    } else {
        for (k, &x) in b.iter().rev().enumerate() {
            raw[k] = x;
        }
    }
    let u = u64::from_le_bytes(raw);
    match (elem, n) {
        (Elem::Float, 4) => f64::from(f32::from_bits(u as u32)),
        (Elem::Float, _) => f64::from_bits(u),
        // Sign-extend from n bytes.
        (Elem::Int, _) => ((u << (64 - 8 * n)) as i64 >> (64 - 8 * n)) as f64,
        (Elem::Uint, _) => u as f64,
        (Elem::Bool, _) => f64::from(u8::from(u != 0)),
    }
}

/// `(kind, bytes per entry, little-endian)` of a dtype string such as `<f8`.
fn dtype(descr: &str) -> Result<(Elem, usize, bool), String> {
    let unsupported = || {
        format!(
            "dtype '{descr}' is not supported; hel reads float32/64, (unsigned) integer and \
             bool arrays"
        )
    };
    let mut c = descr.chars();
    let (order, kind) = (c.next(), c.next());
    let size: usize = c.as_str().parse().map_err(|_| unsupported())?;
    let little = match order {
        Some('<' | '|' | '=') => true,
        Some('>') => false,
        _ => return Err(unsupported()),
    };
    let elem = match (kind, size) {
        (Some('f'), 4 | 8) => Elem::Float,
        (Some('i'), 1 | 2 | 4 | 8) => Elem::Int,
        (Some('u'), 1 | 2 | 4 | 8) => Elem::Uint,
        (Some('b'), 1) => Elem::Bool,
        _ => return Err(unsupported()),
    };
    Ok((elem, size, little))
}

/// The header dict: `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
}

impl Header {
    fn parse(text: &str) -> Result<Header, String> {
        let bad = |what: &str| {
            let shown: String = text.trim().chars().take(120).collect();
            format!("malformed header ({what}): {shown}")
        };
        let mut p = Tokens { s: text.trim() };
        p.eat('{').ok_or_else(|| bad("no `{`"))?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if p.eat('}').is_some() {
                break;
            }
            let key = p.string().ok_or_else(|| bad("expected a quoted key"))?;
            p.eat(':').ok_or_else(|| bad("expected `:`"))?;
            match key {
                "descr" => {
                    let d = p.string().ok_or_else(|| {
                        bad("descr is not a string: structured dtypes are not supported")
                    })?;
                    descr = Some(d.to_string());
                }
                "fortran_order" => fortran = Some(p.boolean().ok_or_else(|| bad("fortran_order"))?),
                "shape" => shape = Some(p.tuple().ok_or_else(|| bad("shape"))?),
                _ => return Err(bad(&format!("unknown key '{key}'"))),
            }
            if p.eat(',').is_none() {
                p.eat('}').ok_or_else(|| bad("expected `,` or `}`"))?;
                break;
            }
        }
        if !p.s.trim().is_empty() {
            return Err(bad("text after the dict"));
        }
        match (descr, fortran, shape) {
            (Some(descr), Some(fortran), Some(shape)) => Ok(Header {
                descr,
                fortran,
                shape,
            }),
            _ => Err(bad("it needs descr, fortran_order and shape")),
        }
    }
}

/// A cursor over the header text; each method skips leading whitespace and consumes only on
/// success.
struct Tokens<'a> {
    s: &'a str,
}

impl<'a> Tokens<'a> {
    fn eat(&mut self, c: char) -> Option<()> {
        self.s = self.s.trim_start().strip_prefix(c)?;
        Some(())
    }

    fn string(&mut self) -> Option<&'a str> {
        let t = self.s.trim_start();
        let q = t.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = t[1..].find(q)?;
        self.s = &t[end + 2..];
        Some(&t[1..end + 1])
    }

    fn boolean(&mut self) -> Option<bool> {
        let t = self.s.trim_start();
        for (word, v) in [("True", true), ("False", false)] {
            if let Some(rest) = t.strip_prefix(word) {
                self.s = rest;
                return Some(v);
            }
        }
        None
    }

    fn tuple(&mut self) -> Option<Vec<usize>> {
        self.eat('(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(')').is_some() {
                return Some(dims);
            }
            let t = self.s.trim_start();
            let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            // A dimension that does not fit usize is refused like any malformed header.
            dims.push(t[..digits].parse().ok()?);
            // Python 2 wrote long integers as `3L`.
            let rest = &t[digits..];
            self.s = rest.strip_prefix('L').unwrap_or(rest);
            if self.eat(',').is_none() {
                self.eat(')')?;
                return Some(dims);
            }
        }
    }
}

/// An f64 array in `.npy` format (version 1.0, little-endian, C order): what `np.load` reads.
pub fn write_npy(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Version 1.0 has a 2-byte header length; a header longer than that (thousands of
    // dimensions) needs version 2.0's 4 bytes.
    // (Padding and the newline add at most 64 bytes.)
    let v1 = header.len() + 64 <= usize::from(u16::MAX);
    let prefix = MAGIC.len() + if v1 { 4 } else { 6 };
    // The data starts on a 64-byte boundary; the header ends in a newline.
    let unpadded = prefix + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(prefix + header.len() + 8 * data.len());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
