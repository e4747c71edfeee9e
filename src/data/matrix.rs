//! A dense row-major `f64` matrix: just enough linear algebra for the plaintext reference.
//!
//! Rows are samples (z_j), so the two hot products are `Z·v` (one dot product per row,
//! parallel over rows) and `Zᵀ·s` (a weighted sum of rows, kept sequential so the result is
//! bit-for-bit reproducible; at m = 1024, f = 197 it costs microseconds anyway).

use rayon::prelude::*;

/// Row count above which `Z·v` and `A·Bᵀ` are worth spreading over threads.
const PAR_ROWS: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// An all-zero `rows × cols` matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Wraps row-major data. Panics if `data.len() != rows * cols`: that is a bug in the
    /// caller, never a property of user input (loaders build the vector themselves).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "Matrix::from_vec: wrong length");
        Matrix { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row-major storage.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f64]> + '_ {
        // `chunks_exact(0)` would panic; a matrix with no columns has no data, so any chunk size works.
        self.data
            .chunks_exact(self.cols.max(1))
            .take(if self.cols == 0 { 0 } else { self.rows })
    }

    /// Copies rows `start..end` into a new matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        Matrix::from_vec(
            end - start,
            self.cols,
            self.data[start * self.cols..end * self.cols].to_vec(),
        )
    }

    /// Copies the listed rows, in the listed order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix::from_vec(idx.len(), self.cols, data)
    }

    /// Every entry times `c`.
    pub fn scaled(&self, c: f64) -> Matrix {
        Matrix::from_vec(
            self.rows,
            self.cols,
            self.data.iter().map(|x| x * c).collect(),
        )
    }

    /// `self · v`.
    pub fn mul_vec(&self, v: &[f64]) -> Vec<f64> {
        assert_eq!(v.len(), self.cols, "Matrix::mul_vec: dimension mismatch");
        if self.cols == 0 {
            return vec![0.0; self.rows];
        }
        if self.rows >= PAR_ROWS {
            self.data
                .par_chunks_exact(self.cols.max(1))
                .map(|r| dot(r, v))
                .collect()
        } else {
            self.iter_rows().map(|r| dot(r, v)).collect()
        }
    }

    /// `selfᵀ · s` = Σ_j s_j · row_j, accumulated in row order.
    pub fn tr_mul_vec(&self, s: &[f64]) -> Vec<f64> {
        assert_eq!(s.len(), self.rows, "Matrix::tr_mul_vec: dimension mismatch");
        let mut out = vec![0.0; self.cols];
        for (r, &sj) in self.iter_rows().zip(s) {
            for (o, &x) in out.iter_mut().zip(r) {
                *o += sj * x;
            }
        }
        out
    }

    /// `self · otherᵀ` (rows × other.rows): the Gram-like matrix M_i = Z_{i+1} Z_iᵀ of the
    /// pipelined reference.
    pub fn mul_transposed(&self, other: &Matrix) -> Matrix {
        assert_eq!(
            self.cols, other.cols,
            "Matrix::mul_transposed: dimension mismatch"
        );
        let n = other.rows;
        let mut data = vec![0.0; self.rows * n];
        if n > 0 && self.cols > 0 {
            let fill = |(out_row, a): (&mut [f64], &[f64])| {
                for (o, b) in out_row.iter_mut().zip(other.iter_rows()) {
                    *o = dot(a, b);
                }
            };
            if self.rows >= PAR_ROWS {
                data.par_chunks_exact_mut(n)
                    .zip(self.data.par_chunks_exact(self.cols))
                    .for_each(fill);
            } else {
                data.chunks_exact_mut(n)
                    .zip(self.data.chunks_exact(self.cols))
                    .for_each(fill);
            }
        }
        Matrix::from_vec(self.rows, n, data)
    }
}

/// Dot product with four independent accumulators: lets the compiler keep four FMA chains in
/// flight (the order is fixed, so results are still deterministic).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_agree_with_naive_loops() {
        let a = Matrix::from_vec(3, 5, (0..15).map(|x| x as f64 * 0.5 - 2.0).collect());
        let b = Matrix::from_vec(2, 5, (0..10).map(|x| (x as f64).sin()).collect());
        let v = [1.0, -2.0, 0.5, 3.0, 0.25];
        let av = a.mul_vec(&v);
        for (i, got) in av.iter().enumerate() {
            let naive: f64 = (0..5).map(|c| a.row(i)[c] * v[c]).sum();
            assert!((got - naive).abs() < 1e-12);
        }
        let s = [1.0, 2.0, -1.0];
        let ats = a.tr_mul_vec(&s);
        for (c, got) in ats.iter().enumerate() {
            let naive: f64 = (0..3).map(|i| a.row(i)[c] * s[i]).sum();
            assert!((got - naive).abs() < 1e-12);
        }
        let m = a.mul_transposed(&b);
        assert_eq!((m.rows(), m.cols()), (3, 2));
        for i in 0..3 {
            for j in 0..2 {
                let naive: f64 = (0..5).map(|c| a.row(i)[c] * b.row(j)[c]).sum();
                assert!((m.row(i)[j] - naive).abs() < 1e-12);
            }
        }
    }
}
