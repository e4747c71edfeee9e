//! Tensors as NumPy `.npy` files, for `hel encrypt` / `hel run --input` (reading, by the file
//! name's `.npy` extension) and `hel decrypt --format npy` (writing).
//!
//! Shapes: a scalar is `()` or `(1,)`; a vector[n] is `(n,)`, `(1, n)` or `(n, 1)`; a
//! matrix[r, c] is `(r, c)`. A sequence `T[k]` given as one file has the sequence axis first:
//! `(k,)` (or `(k, 1)`) for scalars, `(k, n)` for vectors, `(k, r, c)` for matrices. Written
//! outputs have the plain shapes: `()`, `(n,)`, `(r, c)`.

use std::path::Path;

use hel::data::npy::{read_npy, write_npy, NpyArray};
use hel_runtime::schedule::{Shape, Tensor};

/// Whether `dims` is a layout of `shape` (see the module documentation).
fn fits(dims: &[usize], shape: Shape) -> bool {
    match (shape, dims) {
        (Shape::Scalar, [] | [1]) => true,
        (Shape::Vector(n), [m] | [1, m] | [m, 1]) => *m == n,
        (Shape::Matrix(r, c), [a, b]) => (*a, *b) == (r, c),
        _ => false,
    }
}

fn what(shape: Shape) -> &'static str {
    match shape {
        Shape::Scalar => "() or (1,)",
        Shape::Vector(_) => "(n,), (1, n) or (n, 1)",
        Shape::Matrix(..) => "(r, c)",
    }
}

/// The tensor of `shape` in a `.npy` file.
pub fn read_tensor(path: &Path, shape: Shape) -> Result<Tensor, String> {
    let a: NpyArray = read_npy(path)?;
    if !fits(&a.shape, shape) {
        return Err(format!(
            "{}: array of shape {:?}, expected {shape}: shape {}",
            path.display(),
            a.shape,
            what(shape)
        ));
    }
    Ok(Tensor {
        shape,
        data: a.data,
    })
}

/// The `k` elements of shape `shape` stacked along the first axis of a `.npy` file.
pub fn read_sequence(path: &Path, shape: Shape, k: usize) -> Result<Vec<Tensor>, String> {
    let a: NpyArray = read_npy(path)?;
    let ok = match a.shape.split_first() {
        Some((&first, rest)) => {
            first == k && (fits(rest, shape) || shape == Shape::Scalar && rest.is_empty())
        }
        None => false,
    };
    if !ok {
        return Err(format!(
            "{}: array of shape {:?}, expected {k} × {shape} stacked: shape (k, ...) with k = \
             {k} and each element {}",
            path.display(),
            a.shape,
            what(shape)
        ));
    }
    // The shape check above makes the data exactly k elements long.
    let per = shape.len();
    Ok((0..k)
        .map(|e| Tensor {
            shape,
            data: a.data[e * per..(e + 1) * per].to_vec(),
        })
        .collect())
}

/// A tensor as a `.npy` file of its natural shape.
pub fn tensor_npy(t: &Tensor) -> Vec<u8> {
    let dims: Vec<usize> = match t.shape {
        Shape::Scalar => vec![],
        Shape::Vector(n) => vec![n],
        Shape::Matrix(r, c) => vec![r, c],
    };
    write_npy(&dims, &t.data)
}
