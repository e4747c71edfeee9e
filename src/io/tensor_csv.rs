//! Tensors as CSV text, for `hel encrypt` (reading inputs) and `hel decrypt` (writing outputs).
//!
//! Reading: blank lines and lines starting with `#` are skipped; values are separated by
//! commas. A scalar is one value; a vector is one row of n values or n lines of one value; a
//! matrix is one row per line. A sequence `T[k]` given as one file has its k elements stacked:
//! k·r rows for matrices, k rows of n values (or k·n lines of one value) for vectors, k values
//! for scalars. Every error
//! names the file and, where there is one, the line.
//!
//! Writing is the inverse (one value per line for vectors), so a decrypted output can be fed
//! back as an input.

use std::fmt::Write as _;
use std::path::Path;

use hel_runtime::schedule::limits::MAX_DATA_FILE;
use hel_runtime::schedule::{Shape, Tensor};

/// The numeric rows of a CSV file, each with its 1-based line number.
pub struct Table {
    file: String,
    rows: Vec<(usize, Vec<f64>)>,
    /// Number of the last line of the file (for "the file ends at line ..." messages).
    last_line: usize,
}

/// Parses CSV text (`file` names it in errors).
pub fn parse_table(file: &str, text: &str) -> Result<Table, String> {
    // A UTF-8 byte-order mark (spreadsheets' "CSV UTF-8" export) is no part of the data.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        last_line = line;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut row = Vec::new();
        for (col, field) in t.split(',').enumerate() {
            let f = field.trim();
            if f.is_empty() {
                return Err(format!("{file}:{line}: value {} is empty", col + 1));
            }
            let v: f64 = f
                .parse()
                .map_err(|_| format!("{file}:{line}: `{f}` is not a number"))?;
            if !v.is_finite() {
                return Err(format!("{file}:{line}: `{f}` is not a finite number"));
            }
            row.push(v);
        }
        rows.push((line, row));
    }
    Ok(Table {
        file: file.to_string(),
        rows,
        last_line,
    })
}

/// Reads and parses a CSV file.
pub fn read_table(path: &Path) -> Result<Table, String> {
    let text = hel::bounded::read_text_limited(path, MAX_DATA_FILE)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_table(&path.display().to_string(), &text)
}

impl Table {
    fn values(&self) -> usize {
        self.rows.iter().map(|r| r.1.len()).sum()
    }

    /// Exactly `rows` rows of `cols` values each; `what` describes the expectation.
    fn grid(&self, rows: usize, cols: usize, what: &str) -> Result<Vec<f64>, String> {
        let f = &self.file;
        for (k, (line, row)) in self.rows.iter().enumerate() {
            if k == rows {
                return Err(format!(
                    "{f}:{line}: extra row; expected {what}: {rows} row(s) of {cols} value(s)"
                ));
            }
            if row.len() != cols {
                return Err(format!(
                    "{f}:{line}: row has {} value(s), expected {cols} ({what})",
                    row.len()
                ));
            }
        }
        if self.rows.len() < rows {
            return Err(format!(
                "{f}:{}: the file ends after {} row(s); expected {what}: {rows} row(s) of {cols} \
                 value(s)",
                self.last_line.max(1),
                self.rows.len()
            ));
        }
        Ok(self.rows.iter().flat_map(|r| r.1.iter().copied()).collect())
    }

    /// `n` values as one row or as n lines of one value.
    fn list(&self, n: usize, what: &str) -> Result<Vec<f64>, String> {
        if self.rows.len() == 1 && n != 1 {
            return self.grid(1, n, what);
        }
        self.grid(n, 1, what)
    }

    /// The tensor of `shape` this file holds.
    pub fn tensor(&self, shape: Shape) -> Result<Tensor, String> {
        let what = format!("{shape}");
        let data = match shape {
            Shape::Scalar => {
                if self.values() != 1 || self.rows.len() != 1 {
                    return Err(format!(
                        "{}: expected a scalar (one value), found {} value(s) in {} row(s)",
                        self.file,
                        self.values(),
                        self.rows.len()
                    ));
                }
                self.rows[0].1.clone()
            }
            Shape::Vector(n) => self.list(n, &what)?,
            Shape::Matrix(r, c) => self.grid(r, c, &what)?,
        };
        Ok(Tensor { shape, data })
    }

    /// The `k` elements of shape `shape` stacked in this file (see the module documentation).
    pub fn sequence(&self, shape: Shape, k: usize) -> Result<Vec<Tensor>, String> {
        let what = format!("{k} × {shape} stacked");
        let (data, per) = match shape {
            Shape::Scalar => (self.list(k, &what)?, 1),
            // k rows of n, or the k vectors one value per line (as `hel decrypt` writes a
            // vector), k·n lines: the same when n = 1.
            Shape::Vector(n) if n > 1 && self.rows.iter().all(|r| r.1.len() == 1) => {
                (self.grid(k * n, 1, &what)?, n)
            }
            Shape::Vector(n) => (self.grid(k, n, &what)?, n),
            Shape::Matrix(r, c) => (self.grid(k * r, c, &what)?, r * c),
        };
        Ok((0..k)
            .map(|e| Tensor {
                shape,
                data: data[e * per..(e + 1) * per].to_vec(),
            })
            .collect())
    }
}

/// Shortest text that parses back to the same f64, without 300-digit expansions of tiny or
/// huge values.
pub fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-5..1e16).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A tensor as CSV: scalar one value, vector one value per line, matrix one row per line.
pub fn write_tensor(out: &mut String, t: &Tensor) {
    let (rows, cols) = match t.shape {
        Shape::Matrix(r, c) => (r, c),
        s => (s.len(), 1),
    };
    for i in 0..rows {
        let row: Vec<String> = t.data[i * cols..(i + 1) * cols]
            .iter()
            .map(|&v| fmt_value(v))
            .collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
}

/// A tensor as JSON: a number, an array, or an array of rows.
pub fn tensor_json(t: &Tensor) -> serde_json::Value {
    use serde_json::Value;
    let num = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    match t.shape {
        Shape::Scalar => t.data.first().map_or(Value::Null, |&v| num(v)),
        Shape::Vector(_) => Value::Array(t.data.iter().map(|&v| num(v)).collect()),
        Shape::Matrix(_, c) => Value::Array(
            t.data
                .chunks(c.max(1))
                .map(|row| Value::Array(row.iter().map(|&v| num(v)).collect()))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        parse_table("in.csv", text).unwrap()
    }

    #[test]
    fn vectors_are_one_row_or_one_value_per_line() {
        let a = table("1,2,3\n").tensor(Shape::Vector(3)).unwrap();
        let b = table("# header comment\n1\n\n2\n3\n")
            .tensor(Shape::Vector(3))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0]);
        let err = table("1\n2\n").tensor(Shape::Vector(3)).unwrap_err();
        assert!(
            err.starts_with("in.csv:2: the file ends after 2 row(s)"),
            "{err}"
        );
        let err = table("1,2\n3\n4\n").tensor(Shape::Vector(3)).unwrap_err();
        assert!(
            err.starts_with("in.csv:1: row has 2 value(s), expected 1"),
            "{err}"
        );
    }

    #[test]
    fn matrices_and_sequences() {
        let m = table("1,2\n3,4\n5,6\n")
            .tensor(Shape::Matrix(3, 2))
            .unwrap();
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let err = table("1,2\n3,4,9\n5,6\n")
            .tensor(Shape::Matrix(3, 2))
            .unwrap_err();
        assert_eq!(
            err,
            "in.csv:2: row has 3 value(s), expected 2 (matrix[3, 2])"
        );
        let err = table("1,2\n3,4\n5,6\n7,8\n")
            .tensor(Shape::Matrix(3, 2))
            .unwrap_err();
        assert!(err.starts_with("in.csv:4: extra row"), "{err}");
        let seq = table("1,2\n3,4\n5,6\n7,8\n")
            .sequence(Shape::Matrix(2, 2), 2)
            .unwrap();
        assert_eq!(seq[1].data, vec![5.0, 6.0, 7.0, 8.0]);
        let v = table("1,2\n3,4\n5,6\n")
            .sequence(Shape::Vector(2), 3)
            .unwrap();
        assert_eq!(v[2].data, vec![5.0, 6.0]);
        // The same vectors one value per line, stacked; a count that is not k·n is refused.
        let lines = table("1\n2\n3\n4\n5\n6\n")
            .sequence(Shape::Vector(2), 3)
            .unwrap();
        assert_eq!(lines, v);
        let err = table("1\n2\n3\n4\n5\n")
            .sequence(Shape::Vector(2), 3)
            .unwrap_err();
        assert!(err.contains("the file ends after 5 row(s)"), "{err}");
        let s = table("1,2,3\n").sequence(Shape::Scalar, 3).unwrap();
        assert_eq!(s[1].data, vec![2.0]);
        assert!(table("1,2\n").tensor(Shape::Scalar).is_err());
        assert_eq!(
            table("\n7\n").tensor(Shape::Scalar).unwrap().data,
            vec![7.0]
        );
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = parse_table("x.csv", "1\n2,abc\n").err().unwrap();
        assert_eq!(err, "x.csv:2: `abc` is not a number");
        let bom = parse_table("b.csv", "\u{feff}1,2\n3,4\n").expect("a byte-order mark is skipped");
        assert_eq!(bom.grid(2, 2, "a matrix").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        let err = parse_table("x.csv", "1,,2\n").err().unwrap();
        assert_eq!(err, "x.csv:1: value 2 is empty");
        assert!(parse_table("x.csv", "NaN\n").is_err());
    }

    #[test]
    fn written_tensors_read_back() {
        for t in [
            Tensor {
                shape: Shape::Matrix(2, 3),
                data: vec![0.1, -2.0, 1e-9, 3e20, 0.0, -0.30000000000000004],
            },
            Tensor {
                shape: Shape::Vector(2),
                data: vec![1.5, -7.25],
            },
            Tensor {
                shape: Shape::Scalar,
                data: vec![-1e-300],
            },
        ] {
            let mut s = String::new();
            write_tensor(&mut s, &t);
            assert_eq!(table(&s).tensor(t.shape).unwrap(), t);
        }
    }
}
