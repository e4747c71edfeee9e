//! From files to what the trainer needs: train/test data sets plus the scaling the client keeps.
//! `hel train` calls these; tests use them to pin the whole preprocessing path.

use std::path::{Path, PathBuf};

use super::csv::{load_csv, CsvOptions};
use super::split::{shuffle, train_test_split};
use super::{design_matrix, mnist, DataError, Dataset, Matrix, Scaling};

/// Standard deviations from the mean that CSV features map to ±1 (see `data::scaling`).
pub const STANDARD_SPREAD: f64 = 2.0;

/// Where the test set comes from (`--test FILE.csv` or `--test-fraction F`).
#[derive(Clone, Debug, PartialEq)]
pub enum TestSource {
    File(PathBuf),
    Fraction(f64),
}

impl Default for TestSource {
    fn default() -> Self {
        TestSource::Fraction(super::split::DEFAULT_TEST_FRACTION)
    }
}

/// Training and test data with the scaling fitted on the training data.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub train: Dataset,
    pub test: Dataset,
    pub scaling: Scaling,
}

impl Prepared {
    /// Z for the training set (what the client encrypts).
    pub fn z_train(&self) -> Result<Matrix, DataError> {
        design_matrix(&self.train, &self.scaling)
    }

    /// Z for the test set (used for plaintext evaluation).
    pub fn z_test(&self) -> Result<Matrix, DataError> {
        design_matrix(&self.test, &self.scaling)
    }
}

/// The bundled MNIST 3-vs-8 in file order (no shuffle: the reference numbers depend on it),
/// scaled by x/255.
pub fn prepare_mnist_3v8() -> Result<Prepared, DataError> {
    Ok(Prepared {
        train: mnist::bundled_train()?,
        test: mnist::bundled_test()?,
        scaling: mnist::scaling(),
    })
}

/// User CSV data. The training rows are shuffled with `seed` (a file sorted by label would
/// otherwise give single-class minibatches); with `TestSource::Fraction` the shuffled rows are
/// split. The standardisation ([`STANDARD_SPREAD`] standard deviations onto [−1, 1]) is fitted
/// on the training rows only.
pub fn prepare_csv(
    train_path: &Path,
    test: &TestSource,
    opts: &CsvOptions,
    seed: u64,
) -> Result<Prepared, DataError> {
    let all = load_csv(train_path, opts)?;
    let test = match test {
        TestSource::Fraction(f) => TestSplit::Fraction(*f),
        TestSource::File(p) => TestSplit::Given(load_csv(p, opts)?),
    };
    prepare_datasets(all, test, seed)
}

/// The test rows of [`prepare_datasets`]: given, or a fraction of the data held out.
#[derive(Clone, Debug, PartialEq)]
pub enum TestSplit {
    Given(Dataset),
    Fraction(f64),
}

/// Data sets already in memory (CSV files once loaded, arrays from the library's callers): the
/// training rows shuffled with `seed` (a file sorted by label would otherwise give single-class
/// minibatches) or, with `TestSplit::Fraction`, shuffled and split; then the standardisation
/// fitted on the training rows.
pub fn prepare_datasets(all: Dataset, test: TestSplit, seed: u64) -> Result<Prepared, DataError> {
    let (train, test) = match test {
        TestSplit::Fraction(f) => train_test_split(&all, f, seed)?,
        TestSplit::Given(test) => {
            if test.n_features() != all.n_features() {
                return Err(DataError::FeatureCountMismatch {
                    train: all.n_features(),
                    test: test.n_features(),
                });
            }
            (shuffle(&all, seed), test)
        }
    };
    // Labels are ±1 once read: one sign only is one class, which no training can separate
    // (the weights grow every step until the circuit's ranges no longer hold them).
    if let Some(&first) = train.labels.first() {
        if train.labels.iter().all(|&l| l == first) {
            return Err(DataError::OneClass {
                n: train.len(),
                class: if first > 0.0 {
                    "positive (1)"
                } else {
                    "negative (0 or -1)"
                },
            });
        }
    }
    let scaling = Scaling::fit_standard(&train, STANDARD_SPREAD);
    Ok(Prepared {
        train,
        test,
        scaling,
    })
}
