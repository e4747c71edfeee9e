//! `--input NAME=FILE` arguments (`hel encrypt`, `hel run --evaluator plain|debug`): matching
//! them to a program's declared inputs and reading the files (CSV, or NumPy `.npy` by the
//! extension) into tensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hel_runtime::schedule::{Schedule, Tensor, TensorInput};

use super::tensor_csv::read_table;
use super::tensor_npy;
use super::terminal::escape_for_terminal;
use hel::data::npy::is_npy;

/// One `--input NAME=FILE` or `--input NAME[i]=FILE`.
#[derive(Clone, Debug)]
pub struct InputArg {
    pub name: String,
    pub element: Option<usize>,
    pub file: PathBuf,
}

/// clap value parser for `--input`.
pub fn parse_input(s: &str) -> Result<InputArg, String> {
    let (lhs, file) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not of the form NAME=FILE or NAME[i]=FILE"))?;
    if file.is_empty() {
        return Err(format!("`{s}`: no file after `=`"));
    }
    let lhs = lhs.trim();
    let (name, element) = match lhs.strip_suffix(']').and_then(|l| l.split_once('[')) {
        Some((n, i)) => {
            let i: usize = i
                .trim()
                .parse()
                .map_err(|_| format!("`{lhs}`: `{i}` is not an element index"))?;
            (n.trim(), Some(i))
        }
        None => (lhs, None),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not an input name"));
    }
    Ok(InputArg {
        name: name.to_string(),
        element,
        file: PathBuf::from(file),
    })
}

/// `Z (enc matrix[2, 3][2])`.
pub fn describe(d: &TensorInput) -> String {
    let seq = d.seq.map(|k| format!("[{k}]")).unwrap_or_default();
    let sec = if d.encrypted { "enc" } else { "plain" };
    format!("{} ({sec} {}{seq})", escape_for_terminal(&d.name), d.shape)
}

/// How one input was given.
pub enum Given {
    Whole(PathBuf),
    Elements(BTreeMap<usize, PathBuf>),
}

/// Matches the `--input` arguments to the program's inputs: every input exactly once, no
/// unknown names, elements of sequences in range.
pub fn assign(schedule: &Schedule, args: &[InputArg]) -> Result<Vec<Given>, String> {
    let all = || {
        schedule
            .inputs
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut given: Vec<Option<Given>> = schedule.inputs.iter().map(|_| None).collect();
    for a in args {
        let Some(i) = schedule.inputs.iter().position(|d| d.name == a.name) else {
            return Err(format!(
                "the program has no input `{}`; its inputs are: {}",
                a.name,
                all()
            ));
        };
        let decl = &schedule.inputs[i];
        let dup = || format!("input `{}` is given more than once", a.name);
        match (a.element, decl.seq, &mut given[i]) {
            (Some(_), None, _) => {
                return Err(format!(
                    "`{}` is not a sequence; pass --input {}=FILE",
                    a.name, a.name
                ))
            }
            (Some(e), Some(k), _) if e >= k => {
                return Err(format!(
                    "`{}[{e}]`: `{}` has {k} element(s), {}[0] to {}[{}]",
                    a.name,
                    a.name,
                    a.name,
                    a.name,
                    k - 1
                ))
            }
            (None, _, slot @ None) => *slot = Some(Given::Whole(a.file.clone())),
            (Some(e), Some(_), slot @ None) => {
                *slot = Some(Given::Elements(BTreeMap::from([(e, a.file.clone())])))
            }
            (Some(e), Some(_), Some(Given::Elements(m))) => {
                if m.insert(e, a.file.clone()).is_some() {
                    return Err(format!("`{}[{e}]` is given more than once", a.name));
                }
            }
            (_, _, Some(_)) => return Err(dup()),
        }
    }
    let missing: Vec<String> = schedule
        .inputs
        .iter()
        .zip(&given)
        .filter(|(_, g)| g.is_none())
        .map(|(d, _)| describe(d))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing input(s): {} (pass --input NAME=FILE for each)",
            missing.join(", ")
        ));
    }
    let mut out = Vec::with_capacity(given.len());
    for (decl, g) in schedule.inputs.iter().zip(given) {
        // Every entry was checked for `None` above.
        let Some(g) = g else {
            return Err(format!(
                "missing input `{}`",
                escape_for_terminal(&decl.name)
            ));
        };
        if let (Given::Elements(m), Some(k)) = (&g, decl.seq) {
            let absent: Vec<String> = (0..k)
                .filter(|e| !m.contains_key(e))
                .map(|e| format!("{}[{e}]", escape_for_terminal(&decl.name)))
                .collect();
            if !absent.is_empty() {
                return Err(format!(
                    "input `{}` is missing element(s) {}",
                    escape_for_terminal(&decl.name),
                    absent.join(", ")
                ));
            }
        }
        out.push(g);
    }
    Ok(out)
}

/// Reads the CSV files into tensors of the declared shapes.
pub fn read_inputs(schedule: &Schedule, given: &[Given]) -> Result<Vec<Vec<Tensor>>, String> {
    schedule
        .inputs
        .iter()
        .zip(given)
        .map(|(decl, g)| match (g, decl.seq) {
            (Given::Whole(p), None) => Ok(vec![read_tensor(p, decl.shape)?]),
            (Given::Whole(p), Some(k)) if is_npy(p) => tensor_npy::read_sequence(p, decl.shape, k),
            (Given::Whole(p), Some(k)) => read_table(p)?.sequence(decl.shape, k),
            (Given::Elements(m), _) => m.values().map(|p| read_tensor(p, decl.shape)).collect(),
        })
        .collect()
}

/// One tensor from a `.npy` file (by its extension) or a CSV file.
fn read_tensor(path: &Path, shape: hel_runtime::schedule::Shape) -> Result<Tensor, String> {
    if is_npy(path) {
        tensor_npy::read_tensor(path, shape)
    } else {
        read_table(path)?.tensor(shape)
    }
}

pub fn files(given: &[Given]) -> Vec<&Path> {
    given
        .iter()
        .flat_map(|g| match g {
            Given::Whole(p) => vec![p.as_path()],
            Given::Elements(m) => m.values().map(PathBuf::as_path).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_input;

    #[test]
    fn input_arguments() {
        let a = parse_input("Z[1]=dir/z1.csv").unwrap();
        assert_eq!((a.name.as_str(), a.element), ("Z", Some(1)));
        assert_eq!(a.file, std::path::PathBuf::from("dir/z1.csv"));
        let b = parse_input("x=a=b.csv").unwrap();
        assert_eq!((b.name.as_str(), b.element), ("x", None));
        assert_eq!(b.file, std::path::PathBuf::from("a=b.csv"));
        assert!(parse_input("x").is_err());
        assert!(parse_input("x=").is_err());
        assert!(parse_input("Z[a]=f").is_err());
        assert!(parse_input("=f").is_err());
    }
}
