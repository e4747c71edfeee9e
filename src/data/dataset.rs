//! A labelled data set before preprocessing: raw features and ±1 labels.

use super::Matrix;

/// Raw (unscaled) features, one row per sample, and labels in {−1, +1}.
///
/// Labels are stored as `f64` because the client folds them into the design matrix
/// (z_j = y_j·(1, x_j)); keeping them ±1 from the start means every loader agrees on the
/// convention and nothing downstream has to remap 0/1.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Column names from the file's header, when it had one that matches the data width
    /// (label column removed). `None` for header-less files.
    pub feature_names: Option<Vec<String>>,
    /// n × d raw feature values.
    pub features: Matrix,
    /// n labels, each −1.0 or +1.0.
    pub labels: Vec<f64>,
}

impl Dataset {
    /// Panics if the label count does not match the row count (a loader bug, not user input).
    pub fn new(features: Matrix, labels: Vec<f64>, feature_names: Option<Vec<String>>) -> Self {
        assert_eq!(
            features.rows(),
            labels.len(),
            "Dataset::new: row/label mismatch"
        );
        if let Some(names) = &feature_names {
            assert_eq!(
                names.len(),
                features.cols(),
                "Dataset::new: name/column mismatch"
            );
        }
        Dataset {
            feature_names,
            features,
            labels,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of features (the bias column is not counted).
    pub fn n_features(&self) -> usize {
        self.features.cols()
    }

    /// Number of samples labelled +1.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&y| y > 0.0).count()
    }

    /// The listed rows, in the listed order.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        Dataset {
            feature_names: self.feature_names.clone(),
            features: self.features.select_rows(idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}
