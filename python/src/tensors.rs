//! NumPy arrays to the runtime's tensors and back, checked against the program's declared
//! shapes with errors that name the input.

use hel_runtime::schedule::{Schedule, Shape, Tensor, TensorInput};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{fail, Error, Kind};

/// The NumPy shape of one tensor of `shape` (a scalar is 0-dimensional).
pub fn dims(shape: Shape) -> Vec<usize> {
    match shape {
        Shape::Scalar => vec![],
        Shape::Vector(n) => vec![n],
        Shape::Matrix(r, c) => vec![r, c],
    }
}

/// How an input is declared, for messages: `x (enc vector[4])`, `Z (enc matrix[8, 3][2])`.
fn describe(d: &TensorInput) -> String {
    let seq = d.seq.map(|k| format!("[{k}]")).unwrap_or_default();
    let sec = if d.encrypted { "enc" } else { "plain" };
    format!("`{}` ({sec} {}{seq})", d.name, d.shape)
}

/// The elements of one input from its array: the declared shape, or for a sequence `T[k]`
/// the k elements stacked on a first axis of length k.
fn elements(d: &TensorInput, array: &PyReadonlyArrayDyn<'_, f64>) -> Result<Vec<Tensor>, Error> {
    let view = array.as_array();
    let one = dims(d.shape);
    let want: Vec<usize> = match d.seq {
        Some(k) => std::iter::once(k).chain(one.iter().copied()).collect(),
        None => one.clone(),
    };
    if view.shape() != want.as_slice() {
        return fail(
            Kind::Input,
            format!(
                "input {}: expected an array of shape {want:?}, got {:?}",
                describe(d),
                view.shape()
            ),
        );
    }
    // Row-major order whatever the array's memory layout.
    let data: Vec<f64> = view.iter().copied().collect();
    if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
        return fail(
            Kind::Input,
            format!(
                "input {}: holds {bad}; every value must be finite",
                describe(d)
            ),
        );
    }
    let per = one.iter().product::<usize>().max(1);
    Ok(data
        .chunks(per)
        .map(|c| Tensor {
            shape: d.shape,
            data: c.to_vec(),
        })
        .collect())
}

/// Every input of `schedule` from a dict of float64 arrays (the Python side converts with
/// `numpy.asarray(..., dtype=float64)` first), in declaration order. Missing and unknown
/// names are refused, naming what the program expects.
pub fn tensors_from_dict(
    schedule: &Schedule,
    inputs: &Bound<'_, PyDict>,
) -> Result<Vec<Vec<Tensor>>, Error> {
    let expected = || {
        schedule
            .inputs
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for key in inputs.keys() {
        let name: String = key
            .extract()
            .map_err(|_| Error::new(Kind::Input, "input names must be strings"))?;
        if !schedule.inputs.iter().any(|d| d.name == name) {
            return fail(
                Kind::Input,
                format!(
                    "{} has no input `{name}`; its inputs: {}",
                    schedule.name,
                    expected()
                ),
            );
        }
    }
    schedule
        .inputs
        .iter()
        .map(|d| {
            let value = inputs
                .get_item(&d.name)
                .map_err(|e| Error::new(Kind::Input, e))?
                .ok_or_else(|| {
                    Error::new(
                        Kind::Input,
                        format!(
                            "missing input {}; the program's inputs: {}",
                            describe(d),
                            expected()
                        ),
                    )
                })?;
            // Lists, integers and scalars become float64 arrays as NumPy converts them; complex
            // values are refused (the conversion would drop their imaginary parts with only a
            // warning).
            let numpy = value
                .py()
                .import("numpy")
                .map_err(|e| Error::new(Kind::Input, e))?;
            let complex = numpy
                .call_method1("iscomplexobj", (&value,))
                .and_then(|c| c.extract::<bool>())
                .map_err(|e| Error::new(Kind::Input, e))?;
            if complex {
                return Err(Error::new(
                    Kind::Input,
                    format!(
                        "input {}: complex values; the program's inputs are real numbers",
                        describe(d)
                    ),
                ));
            }
            let converted = numpy.call_method1("asarray", (value, "float64"));
            let array: PyReadonlyArrayDyn<'_, f64> =
                converted.and_then(|a| a.extract()).map_err(|e| {
                    Error::new(
                        Kind::Input,
                        format!("input {}: not an array of numbers: {e}", describe(d)),
                    )
                })?;
            elements(d, &array)
        })
        .collect()
}

/// One output tensor as a new NumPy array of its shape.
pub fn tensor_to_array<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let array = ArrayD::from_shape_vec(IxDyn(&dims(t.shape)), t.data.clone())
        .map_err(|e| Error::new(Kind::Format, format!("an output of the wrong size: {e}")))?;
    Ok(array.into_pyarray(py))
}
