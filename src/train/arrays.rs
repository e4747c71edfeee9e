//! Training data handed over as arrays instead of a file: the entry point of the Python
//! package (`hel.EncryptedLogisticRegression.fit(X, y)`), which goes through the same
//! preprocessing, plan and client/server run as `hel train --data FILE.csv`.

use super::TrainError;
use crate::data::{Dataset, Matrix};

/// A feature matrix (row-major, `n × n_features`) with its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrays {
    /// `n · n_features` values, sample after sample.
    pub features: Vec<f64>,
    pub n_features: usize,
    /// One per sample: 0/1 or −1/+1 (class 1 is the positive class).
    pub labels: Vec<f64>,
    /// Optional column names (for the saved model).
    pub feature_names: Option<Vec<String>>,
}

impl Arrays {
    /// The checked data set (`what` names it in errors: "X", "the test data").
    pub fn dataset(&self, what: &str) -> Result<Dataset, TrainError> {
        let bad = |msg: String| TrainError::Config(format!("{what}: {msg}"));
        let d = self.n_features;
        if d == 0 {
            return Err(bad("there are no feature columns".into()));
        }
        if !self.features.len().is_multiple_of(d) {
            return Err(bad(format!(
                "{} values do not make rows of {d} features",
                self.features.len()
            )));
        }
        let n = self.features.len() / d;
        if n != self.labels.len() {
            return Err(bad(format!("{n} samples but {} labels", self.labels.len())));
        }
        if let Some(i) = self.features.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "sample {}, feature {}: {} is not a finite number",
                i / d,
                i % d,
                self.features[i]
            )));
        }
        if let Some(names) = &self.feature_names {
            if names.len() != d {
                return Err(bad(format!("{} names for {d} features", names.len())));
            }
        }
        let zero_one = self.labels.iter().all(|&y| y == 0.0 || y == 1.0);
        let signs = self.labels.iter().all(|&y| y == -1.0 || y == 1.0);
        if !(zero_one || signs) {
            return Err(bad(
                "labels must all be 0/1 or all be -1/+1 (a binary task)".into(),
            ));
        }
        let labels = self
            .labels
            .iter()
            .map(|&y| if y == 1.0 { 1.0 } else { -1.0 })
            .collect();
        Ok(Dataset::new(
            Matrix::from_vec(n, d, self.features.clone()),
            labels,
            self.feature_names.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays(features: Vec<f64>, labels: Vec<f64>) -> Arrays {
        Arrays {
            features,
            n_features: 2,
            labels,
            feature_names: None,
        }
    }

    #[test]
    fn checks_shapes_values_and_labels() {
        let ok = arrays(vec![1.0, 2.0, 3.0, 4.0], vec![0.0, 1.0])
            .dataset("X")
            .unwrap();
        assert_eq!(ok.labels, vec![-1.0, 1.0]);
        assert_eq!(ok.features.row(1), &[3.0, 4.0]);
        let err = |a: Arrays| a.dataset("X").unwrap_err().to_string();
        assert!(err(arrays(vec![1.0; 3], vec![1.0])).contains("rows of 2"));
        assert!(err(arrays(vec![1.0; 4], vec![1.0])).contains("2 samples but 1 labels"));
        assert!(err(arrays(vec![1.0, f64::NAN, 0.0, 0.0], vec![1.0, 0.0])).contains("sample 0"));
        assert!(err(arrays(vec![1.0; 4], vec![2.0, 0.0])).contains("0/1"));
        assert!(err(arrays(vec![1.0; 4], vec![-1.0, 0.0])).contains("0/1"));
    }
}
