//! Packing tensors into slot vectors and reading them back, and the client-side evaluation of
//! derived inputs. Pure f64: used by the client before encryption, by the plaintext simulation
//! and by decryption.

use serde::{Deserialize, Serialize};

use crate::program::{ClientOp, DerivedTensor, Layout, OutputTile, Pack, Plain, Shape, Unit};

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Shape,
    pub data: Vec<f64>,
}

impl Tensor {
    /// A tensor of `shape` filled with `value`.
    pub fn filled(shape: Shape, value: f64) -> Tensor {
        Tensor {
            shape,
            data: vec![value; shape.len()],
        }
    }

    /// A scalar.
    pub fn scalar(v: f64) -> Tensor {
        Tensor {
            shape: Shape::Scalar,
            data: vec![v],
        }
    }

    /// The tensor with `f` applied to every entry.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        Tensor {
            shape: self.shape,
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Rows and columns (a vector is a column, a scalar 1×1).
    pub fn dims(&self) -> (usize, usize) {
        match self.shape {
            Shape::Scalar => (1, 1),
            Shape::Vector(n) => (n, 1),
            Shape::Matrix(r, c) => (r, c),
        }
    }

    /// Entry (i, j); zero outside the tensor.
    pub fn at(&self, i: usize, j: usize) -> f64 {
        let (r, c) = self.dims();
        if i < r && j < c {
            self.data[i * c + j]
        } else {
            0.0
        }
    }

    fn vec_at(&self, i: usize) -> f64 {
        self.data.get(i).copied().unwrap_or(0.0)
    }
}

/// The slot vector of `pack` applied to tensor `x`.
pub fn pack_slots(unit: Unit, pack: &Pack, x: &Tensor) -> Vec<f64> {
    let Unit { h, w } = unit;
    let mut out = vec![0.0; h * w];
    let f = pack.factor;
    match pack.layout {
        Layout::MatrixTile {
            transposed,
            row0,
            col0,
        } => {
            for a in 0..h {
                for b in 0..w {
                    let v = if transposed {
                        x.at(col0 + b, row0 + a)
                    } else {
                        x.at(row0 + a, col0 + b)
                    };
                    out[a * w + b] = f * v;
                }
            }
        }
        Layout::RowVector { offset } => {
            for a in 0..h {
                for b in 0..w {
                    out[a * w + b] = f * x.vec_at(offset + b);
                }
            }
        }
        Layout::ColVector { offset } => {
            for a in 0..h {
                let v = f * x.vec_at(offset + a);
                out[a * w..(a + 1) * w].fill(v);
            }
        }
        Layout::Scalar => out.fill(f * x.vec_at(0)),
        Layout::MatrixRow {
            transposed,
            row,
            col0,
        } => {
            for b in 0..w {
                let v = f * if transposed {
                    x.at(col0 + b, row)
                } else {
                    x.at(row, col0 + b)
                };
                for a in 0..h {
                    out[a * w + b] = v;
                }
            }
        }
    }
    out
}

/// Writes the entries an output tile holds (per its layout) from `slots` into `out`, dividing
/// the tile's factor out. Entries outside `out`'s shape are ignored.
pub fn unpack_output(unit: Unit, tile: &OutputTile, slots: &[f64], out: &mut Tensor) {
    let Unit { h, w } = unit;
    let (r, c) = out.dims();
    let f = tile.factor;
    let get = |a: usize, b: usize| slots.get(a * w + b).copied().unwrap_or(0.0) / f;
    match tile.layout {
        Layout::MatrixTile {
            transposed,
            row0,
            col0,
        } => {
            for a in 0..h {
                for b in 0..w {
                    let (i, j) = if transposed {
                        (col0 + b, row0 + a)
                    } else {
                        (row0 + a, col0 + b)
                    };
                    if i < r && j < c {
                        out.data[i * c + j] = get(a, b);
                    }
                }
            }
        }
        Layout::RowVector { offset } => {
            for b in 0..w {
                if let Some(e) = out.data.get_mut(offset + b) {
                    *e = get(0, b);
                }
            }
        }
        Layout::ColVector { offset } => {
            for a in 0..h {
                if let Some(e) = out.data.get_mut(offset + a) {
                    *e = get(a, 0);
                }
            }
        }
        Layout::Scalar => {
            if let Some(e) = out.data.first_mut() {
                *e = get(0, 0);
            }
        }
        // Only an operand layout (validation refuses it for outputs).
        Layout::MatrixRow { .. } => {}
    }
}

/// The slot vector of a public plaintext operand. `public` resolves a [`Plain::Public`] pack's
/// source tensor.
pub fn plain_slots<'a>(
    unit: Unit,
    plain: &Plain,
    public: impl Fn(&Pack) -> Option<&'a Tensor>,
) -> Option<Vec<f64>> {
    match plain {
        Plain::Rect { value, rows, cols } => {
            let mut out = vec![0.0; unit.slots()];
            for a in rows.0 as usize..(rows.1 as usize).min(unit.h) {
                for b in cols.0 as usize..(cols.1 as usize).min(unit.w) {
                    out[a * unit.w + b] = *value;
                }
            }
            Some(out)
        }
        Plain::Diagonal {
            value,
            offset,
            rows,
        } => {
            let mut out = vec![0.0; unit.slots()];
            for a in rows.0 as usize..(rows.1 as usize).min(unit.h) {
                let b = a as i64 + offset;
                if (0..unit.w as i64).contains(&b) {
                    out[a * unit.w + b as usize] = *value;
                }
            }
            Some(out)
        }
        Plain::Public { pack } => public(pack).map(|t| pack_slots(unit, pack, t)),
    }
}

/// Evaluates a derived tensor from the user's inputs (`input(i, element)` returns them).
/// Shapes were checked by the compiler; a mismatch here is reported as `None`.
pub fn eval_derived<'a>(
    derived: &DerivedTensor,
    input: impl Fn(u32, u32) -> Option<&'a Tensor>,
) -> Option<Tensor> {
    let mut vals: Vec<Tensor> = Vec::with_capacity(derived.ops.len());
    for op in &derived.ops {
        let get = |i: &u32| vals.get(*i as usize);
        let t = match op {
            ClientOp::Input { input: i, element } => input(*i, *element)?.clone(),
            ClientOp::Fill { shape, value } => Tensor::filled(*shape, *value),
            ClientOp::Add(a, b) => zip(get(a)?, get(b)?, |x, y| x + y)?,
            ClientOp::Sub(a, b) => zip(get(a)?, get(b)?, |x, y| x - y)?,
            ClientOp::Mul(a, b) => zip(get(a)?, get(b)?, |x, y| x * y)?,
            ClientOp::Neg(a) => {
                let a = get(a)?;
                Tensor {
                    shape: a.shape,
                    data: a.data.iter().map(|x| -x).collect(),
                }
            }
            ClientOp::Transpose(a) => {
                let a = get(a)?;
                let (r, c) = a.dims();
                let Shape::Matrix(..) = a.shape else {
                    return None;
                };
                let mut data = vec![0.0; r * c];
                for i in 0..r {
                    for j in 0..c {
                        data[j * r + i] = a.data[i * c + j];
                    }
                }
                Tensor {
                    shape: Shape::Matrix(c, r),
                    data,
                }
            }
            ClientOp::MatMul(a, b) => {
                let (a, b) = (get(a)?, get(b)?);
                let (Shape::Matrix(r, k), Shape::Matrix(k2, c)) = (a.shape, b.shape) else {
                    return None;
                };
                if k != k2 {
                    return None;
                }
                let data = crate::matmul::matmul(&a.data, &b.data, r, k, c);
                Tensor {
                    shape: Shape::Matrix(r, c),
                    data,
                }
            }
            ClientOp::MatVec(a, v) => {
                let (a, v) = (get(a)?, get(v)?);
                let (Shape::Matrix(r, c), Shape::Vector(n)) = (a.shape, v.shape) else {
                    return None;
                };
                if c != n {
                    return None;
                }
                let data = (0..r)
                    .map(|i| (0..c).map(|j| a.data[i * c + j] * v.data[j]).sum())
                    .collect();
                Tensor {
                    shape: Shape::Vector(r),
                    data,
                }
            }
            ClientOp::ScaleCols(a, v) | ClientOp::ScaleRows(a, v) => {
                let cols = matches!(op, ClientOp::ScaleCols(..));
                let (a, v) = (get(a)?, get(v)?);
                let Shape::Matrix(r, c) = a.shape else {
                    return None;
                };
                if v.data.len() != if cols { c } else { r } {
                    return None;
                }
                let mut data = a.data.clone();
                for i in 0..r {
                    for j in 0..c {
                        data[i * c + j] *= if cols { v.data[j] } else { v.data[i] };
                    }
                }
                Tensor {
                    shape: a.shape,
                    data,
                }
            }
            ClientOp::SumRows(a) | ClientOp::SumCols(a) => {
                let rows = matches!(op, ClientOp::SumRows(..));
                let a = get(a)?;
                let Shape::Matrix(r, c) = a.shape else {
                    return None;
                };
                let n = if rows { c } else { r };
                let mut data = vec![0.0; n];
                for i in 0..r {
                    for j in 0..c {
                        data[if rows { j } else { i }] += a.data[i * c + j];
                    }
                }
                Tensor {
                    shape: Shape::Vector(n),
                    data,
                }
            }
            ClientOp::Dot(a, b) => {
                let (a, b) = (get(a)?, get(b)?);
                if a.data.len() != b.data.len() || !matches!(a.shape, Shape::Vector(_)) {
                    return None;
                }
                Tensor::scalar(a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum())
            }
            ClientOp::Pow(a, exp) => get(a)?.map(|x| x.powi((*exp).min(64) as i32)),
        };
        vals.push(t);
    }
    let out = vals.pop()?;
    (out.shape == derived.shape).then_some(out)
}

/// Element-wise combination with scalar broadcast.
fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Option<Tensor> {
    match (a.shape, b.shape) {
        (x, y) if x == y => Some(Tensor {
            shape: x,
            data: a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect(),
        }),
        (Shape::Scalar, s) => Some(Tensor {
            shape: s,
            data: b.data.iter().map(|y| f(a.data[0], *y)).collect(),
        }),
        (s, Shape::Scalar) => Some(Tensor {
            shape: s,
            data: a.data.iter().map(|x| f(*x, b.data[0])).collect(),
        }),
        _ => None,
    }
}
