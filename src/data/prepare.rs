//! From files to what the trainer needs: train/test data sets plus the scaling the client keeps.
//! `hel train` calls these; tests use them to pin the whole preprocessing path.

use std::path::{Path, PathBuf};

use super::csv::{load_csv, CsvOptions};
use super::split::{shuffle, train_test_split};
use super::{design_matrix, mnist, DataError, Dataset, Matrix, Scaling};

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
/// split. Min/max scaling is fitted on the training rows only.
pub fn prepare_csv(
    train_path: &Path,
    test: &TestSource,
    opts: &CsvOptions,
    seed: u64,
) -> Result<Prepared, DataError> {
    let all = load_csv(train_path, opts)?;
    let (train, test) = match test {
        TestSource::Fraction(f) => train_test_split(&all, *f, seed)?,
        TestSource::File(p) => {
            let test = load_csv(p, opts)?;
            if test.n_features() != all.n_features() {
                return Err(DataError::FeatureCountMismatch {
                    train: all.n_features(),
                    test: test.n_features(),
                });
            }
            (shuffle(&all, seed), test)
        }
    };
    Ok(prepare_datasets(train, test))
}

/// Training and test sets already in memory (the Python package's arrays): the scaling is
/// fitted on the training rows, as for a CSV file, so both front ends train the same model.
pub fn prepare_datasets(train: Dataset, test: Dataset) -> Prepared {
    let scaling = Scaling::fit_min_max(&train);
    Prepared {
        train,
        test,
        scaling,
    }
}
