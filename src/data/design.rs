//! Client-side preprocessing: the design matrix Z = diag(y)·[1 | scaled x] and its minibatches.
//!
//! The labels are folded into the rows (z_j = y_j·(1, x_j), bias first, f = d + 1) because that
//! is what the client encrypts: the server never sees labels separately (notes §1.4, §5.1).

use super::{DataError, Dataset, Matrix, Scaling};

/// Z = diag(y)·[1 | scaling(x)], an n × (d + 1) matrix, bias column first.
pub fn design_matrix(ds: &Dataset, scaling: &Scaling) -> Result<Matrix, DataError> {
    let d = ds.n_features();
    if scaling.n_features() != d {
        return Err(DataError::FeatureCountMismatch {
            train: scaling.n_features(),
            test: d,
        });
    }
    let f = d + 1;
    let mut data = vec![0.0; ds.len() * f];
    for (i, (row, &y)) in ds.features.iter_rows().zip(&ds.labels).enumerate() {
        let z = &mut data[i * f..(i + 1) * f];
        z[0] = 1.0;
        scaling.apply_row(row, &mut z[1..]);
        for v in z.iter_mut() {
            *v *= y;
        }
    }
    // `iter_rows` yields nothing when d = 0; the bias column still has to be there.
    if d == 0 {
        for (i, &y) in ds.labels.iter().enumerate() {
            data[i] = y;
        }
    }
    Ok(Matrix::from_vec(ds.len(), f, data))
}

/// B_j = Z[j·m .. (j+1)·m] for j in 0..⌊n/m⌋. The trailing n mod m rows are dropped, exactly
/// as the reference does: every encrypted minibatch has the same shape.
pub fn minibatches(z: &Matrix, m: usize) -> Result<Vec<Matrix>, DataError> {
    if m == 0 {
        return Err(DataError::ZeroBatchSize);
    }
    let n = z.rows();
    if n < m {
        return Err(DataError::TooFewRowsForBatch { n, m });
    }
    Ok((0..n / m)
        .map(|j| z.slice_rows(j * m, (j + 1) * m))
        .collect())
}

/// Iteration i uses minibatch B_{i mod nb}.
pub fn batch_index(iteration: usize, n_batches: usize) -> usize {
    iteration % n_batches
}
