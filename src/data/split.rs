//! Deterministic shuffling and train/test splitting.
//!
//! ChaCha8 seeded from a `u64` gives the same permutation on every platform and rand version
//! that keeps the algorithm, so a seed fully describes a split. It is *not* used for anything
//! cryptographic.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset};

/// Test fraction used for CSV data when no `--test` file is given.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

/// A permutation of 0..n determined by `seed`.
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    idx.shuffle(&mut rng);
    idx
}

/// The rows in a seeded random order. Used on training files so that a file sorted by label
/// does not produce single-class minibatches.
pub fn shuffle(ds: &Dataset, seed: u64) -> Dataset {
    ds.select(&shuffled_indices(ds.len(), seed))
}

/// Shuffles with `seed`, then puts round(n·fraction) rows in the test set and the rest (in
/// shuffled order) in the training set. Returns (train, test).
pub fn train_test_split(
    ds: &Dataset,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::BadFraction(test_fraction));
    }
    let n = ds.len();
    let n_test = (n as f64 * test_fraction).round() as usize;
    if n_test == 0 || n_test >= n {
        return Err(DataError::SplitTooSmall {
            n,
            fraction: test_fraction,
        });
    }
    let idx = shuffled_indices(n, seed);
    let (test_idx, train_idx) = idx.split_at(n_test);
    Ok((ds.select(train_idx), ds.select(test_idx)))
}
