//! What `hel train` needs from a `.hel` program, checked in plaintext before any key exists.
//!
//! The trainer sets three constants (`k` minibatches, `m` rows per minibatch, `f` features
//! including the bias), feeds the minibatches to the program's one encrypted sequence input and
//! reads its one weight-vector output. It then runs the program through the reference
//! interpreter on the real minibatches and compares the result with the plaintext trainer of
//! `src/reference.rs` (GD and NAG): the one that agrees is the algorithm the encrypted model is
//! compared against. This makes "trained by the identical algorithm" a checked fact instead of
//! an assumption about what the file contains.

use std::collections::HashMap;

use hel_compiler::ir::interp::{self, Tensor as ITensor, Value};
use hel_compiler::ir::{Program, Secrecy, Shape as IShape};
use hel_compiler::syntax::{self, ast};
use hel_compiler::SourceFile;

use super::plan::Tuning;
use super::TrainError;
use crate::data::{batch_index, Matrix};
use crate::reference::{self, Method, Trained};

/// The constants the trainer overrides, with what they mean (for error messages).
pub const SET_CONSTANTS: [(&str, &str); 3] = [
    ("k", "minibatches"),
    ("m", "rows per minibatch"),
    ("f", "features including the bias"),
];

/// Largest difference between the program's plaintext result and the reference trainer's,
/// relative to the weights' magnitude, for the two to count as the same algorithm (they differ
/// only in summation order).
const SAME_ALGORITHM_TOLERANCE: f64 = 1e-9;

/// The constants of a program that lets `hel train` choose the learning rate and the sigmoid
/// polynomial h(t) = 0.5 + h1·t + h3·t³ (`examples/logreg_tabular.hel`; see `train::plan`).
pub const TUNING_CONSTANTS: [&str; 3] = ["alpha", "h1", "h3"];

/// `--set k=.. --set m=.. --set f=..`.
pub fn sets(k: usize, m: usize, f: usize) -> Vec<(String, f64)> {
    [k, m, f]
        .iter()
        .zip(SET_CONSTANTS)
        .map(|(&v, (name, _))| (name.to_string(), v as f64))
        .collect()
}

/// [`sets`] plus, for a tunable program, its learning rate and sigmoid coefficients.
pub fn sets_tuned(k: usize, m: usize, f: usize, tuning: Option<&Tuning>) -> Vec<(String, f64)> {
    let mut out = sets(k, m, f);
    if let Some(t) = tuning {
        let values = [t.alpha, t.sigmoid.c1, t.sigmoid.c3];
        out.extend(
            TUNING_CONSTANTS
                .iter()
                .zip(values)
                .map(|(name, v)| (name.to_string(), v)),
        );
    }
    out
}

/// The parts of a program the trainer talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The encrypted minibatch input (`Z` in the examples).
    pub data_input: String,
    /// The trained weights (`beta` or `v`).
    pub output: String,
    /// Whether the program defines every one of [`TUNING_CONSTANTS`], so that the trainer
    /// can set them.
    pub tunable: bool,
}

/// Parses and checks `src` with the trainer's constants (and `tuning`'s, if given and the
/// program is tunable), and checks that it has the shape the trainer drives.
pub fn check(
    src: &SourceFile,
    k: usize,
    m: usize,
    f: usize,
    tuning: Option<&Tuning>,
) -> Result<(Program, Interface), TrainError> {
    let ast = hel_compiler::on_big_stack(|| syntax::parse(src))?;
    for (name, meaning) in SET_CONSTANTS {
        let defined = ast
            .items
            .iter()
            .any(|i| matches!(i, ast::Item::Const(c) if c.name.name == name));
        if !defined {
            return Err(TrainError::Program(format!(
                "{}: hel train sets the constants k (minibatches), m (rows per minibatch) and f \
                 (features including the bias), but the program defines no `const {name}` \
                 ({meaning})",
                src.name()
            )));
        }
    }
    let defines = |name: &str| {
        ast.items
            .iter()
            .any(|i| matches!(i, ast::Item::Const(c) if c.name.name == name))
    };
    let tunable = TUNING_CONSTANTS.iter().all(|n| defines(n));
    let program = hel_compiler::frontend(src, &sets_tuned(k, m, f, tuning.filter(|_| tunable)))?;
    let mut interface = interface(src.name(), &program, k, m, f)?;
    interface.tunable = tunable;
    Ok((program, interface))
}

/// Whether `hel train` could run `src` (constants overridden by `sets`) in rounds: it has
/// the trainer's shape at its own sizes (one `enc matrix[m, f][k]` input, the weights as its
/// one `vector[f]` output) and a loop the round template splits. `hel compile` names the way
/// out with it when such a program is too deep for one circuit.
pub fn trains_in_rounds(src: &SourceFile, sets: &[(String, f64)]) -> bool {
    let Ok(p) = hel_compiler::frontend(src, sets) else {
        return false;
    };
    let [input] = p.inputs.as_slice() else {
        return false;
    };
    let (Some(k), IShape::Matrix(m, f)) = (input.ty.seq, input.ty.shape) else {
        return false;
    };
    check(src, k, m, f, None).is_ok() && super::rounds::template(src, sets).is_ok()
}

fn interface(
    file: &str,
    p: &Program,
    k: usize,
    m: usize,
    f: usize,
) -> Result<Interface, TrainError> {
    let want = format!("input NAME: enc matrix[m, f][k] (here matrix[{m}, {f}][{k}])");
    let [input] = p.inputs.as_slice() else {
        let names: Vec<&str> = p.inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(TrainError::Program(format!(
            "{file}: hel train supplies exactly one input, the minibatches ({want}); the program \
             declares {} input(s): {}",
            names.len(),
            names.join(", ")
        )));
    };
    let ok = input.ty.secrecy == Secrecy::Enc
        && input.ty.seq == Some(k)
        && input.ty.shape == IShape::Matrix(m, f);
    if !ok {
        return Err(TrainError::Program(format!(
            "{file}: input `{}` is {}; hel train needs {want}",
            input.name, input.ty
        )));
    }
    let [output] = p.outputs.as_slice() else {
        return Err(TrainError::Program(format!(
            "{file}: hel train reads one output, the weights (vector[f]); the program has {}",
            p.outputs.len()
        )));
    };
    let shape = p.graph.node(output.node).ty.shape;
    if shape != IShape::Vector(f) {
        return Err(TrainError::Program(format!(
            "{file}: output `{}` is {shape}; hel train needs the weights, a vector[{f}]",
            output.name
        )));
    }
    Ok(Interface {
        data_input: input.name.clone(),
        output: output.name.clone(),
        tunable: false,
    })
}

/// The minibatches of global iterations `start .. start + len` (iteration i uses batch
/// i mod nb, as the reference trainer does), as interpreter tensors.
pub fn batch_value(batches: &[Matrix], start: usize, len: usize) -> Value {
    Value::Seq(
        (start..start + len)
            .map(|i| {
                let b = &batches[batch_index(i, batches.len())];
                ITensor {
                    shape: IShape::Matrix(b.rows(), b.cols()),
                    data: b.as_slice().to_vec(),
                }
            })
            .collect(),
    )
}

/// A vector as an interpreter value.
pub fn vector_value(v: &[f64]) -> Value {
    Value::Tensor(ITensor {
        shape: IShape::Vector(v.len()),
        data: v.to_vec(),
    })
}

/// Runs `p` through the reference interpreter; returns every output by name (flattened).
pub fn interpret(
    p: &Program,
    inputs: HashMap<String, Value>,
) -> Result<HashMap<String, Vec<f64>>, TrainError> {
    let outs = interp::eval(p, &inputs).map_err(|e| {
        TrainError::Internal(format!(
            "the reference interpreter failed on {}: {e}",
            p.source.name()
        ))
    })?;
    outs.into_iter()
        .map(|(name, v)| match v {
            Value::Tensor(t) => Ok((name, t.data)),
            Value::Seq(_) => Err(TrainError::Internal(format!(
                "output `{name}` is a sequence"
            ))),
        })
        .collect()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Which reference algorithm the program computes with the learning rate and sigmoid of
/// `tuning`, and the plaintext model of that algorithm (trained by `src/reference.rs`, not by
/// the interpreter: that is the oracle).
pub fn identify(
    file: &str,
    program_weights: &[f64],
    batches: &[Matrix],
    iterations: usize,
    tuning: &Tuning,
) -> Result<(Method, Trained), TrainError> {
    let scale = program_weights.iter().fold(1.0f64, |a, x| a.max(x.abs()));
    let mut diffs = Vec::new();
    for method in [Method::Gd, Method::Nag] {
        let trained = reference::train(batches, &tuning.config(method, iterations))?;
        let d = max_abs_diff(&trained.beta, program_weights);
        if d <= SAME_ALGORITHM_TOLERANCE * scale {
            return Ok((method, trained));
        }
        diffs.push(d);
    }
    Err(TrainError::Program(format!(
        "{file} does not compute the plaintext trainer's algorithm: on these minibatches its \
         weights differ from gradient descent's by {:.3e} and from Nesterov's by {:.3e}. hel \
         train compares the encrypted model with src/reference.rs (h(t) = 0.5 {:+}t {:+}t^3, \
         alpha = {}, zero initial weights), so the program must implement GD or NAG exactly as \
         examples/logreg_gd.hel, examples/logreg_nag.hel and examples/logreg_tabular.hel do",
        diffs[0], diffs[1], tuning.sigmoid.c1, tuning.sigmoid.c3, tuning.alpha
    )))
}

/// The reference method's name as the report prints it.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Gd => "gd",
        Method::Nag => "nag",
    }
}
