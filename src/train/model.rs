//! The trained model as the client keeps it (`hel train --save-model FILE.json`): the weights
//! and everything needed to score a new raw sample with them.
//!
//! The weights alone are not a model: they apply to features after the client's scaling (fitted
//! on its training rows) and, when the domain fit scaled Z, to c·(1, x). The file carries both,
//! so that the score of a raw sample x is
//!
//! ```text
//! s(x) = c · (w[0] + Σ_j w[j+1] · scale_j(x_j)),   P(label = 1) ≈ σ(s(x))
//! scale_j(x) = u or 2u − 1 (target unit / symmetric),  u = clamp((x − lower_j) / range_j, 0, 1)
//! ```
//!
//! with label 1 meaning the CSV's 1 or +1 (MNIST: the digit 3). [`Model::score`] is that formula;
//! a test checks that it reproduces the report's accuracy from the file alone.

use serde::{Deserialize, Serialize};

use super::TrainReport;
use crate::data::Scaling;

/// The `format` field of every model file.
pub const FORMAT: &str = "hel-logistic-regression-1";

/// A trained logistic-regression model and its preprocessing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// [`FORMAT`], so a reader can tell the file apart from other JSON.
    pub format: String,
    /// `gd` or `nag`.
    pub method: String,
    /// The program and data it was trained by and on (for the record).
    pub program: String,
    pub data: String,
    /// Raw feature names in input order (from the CSV header; `None` without one).
    pub feature_names: Option<Vec<String>>,
    /// The client's per-feature scaling.
    pub scaling: Scaling,
    /// c, the domain fit's factor on Z (1 when Z was used as built).
    pub design_scale: f64,
    /// The encrypted-trained weights, bias first (length features + 1).
    pub weights: Vec<f64>,
    /// The plaintext reference's weights, trained identically (for comparison).
    pub plaintext_weights: Vec<f64>,
    /// Test accuracy and AUC of `weights` as `hel train` measured them.
    pub test_accuracy: f64,
    pub test_auc: Option<f64>,
}

impl Model {
    /// The model of a finished run whose data were scaled by `scaling`.
    pub fn new(report: &TrainReport, scaling: Scaling, feature_names: Option<Vec<String>>) -> Self {
        Model {
            format: FORMAT.to_string(),
            method: report.method.clone(),
            program: report.program.clone(),
            data: report.data.clone(),
            feature_names,
            scaling,
            design_scale: report.design_scale,
            weights: report.weights.clone(),
            plaintext_weights: report.plaintext_weights.clone(),
            test_accuracy: report.accuracy,
            test_auc: report.auc,
        }
    }

    /// s(x) for one raw sample (see the module doc): positive means label 1. `raw` holds one
    /// value per feature, in the training file's column order without the label.
    pub fn score(&self, raw: &[f64]) -> f64 {
        let mut scaled = vec![0.0; raw.len()];
        self.scaling.apply_row(raw, &mut scaled);
        let dot: f64 = self.weights[1..]
            .iter()
            .zip(&scaled)
            .map(|(w, x)| w * x)
            .sum();
        self.design_scale * (self.weights[0] + dot)
    }
}
