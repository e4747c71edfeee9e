//! The training curves: training loss and test accuracy as training went, for the plaintext
//! reference after every iteration and for the encrypted model after every round (the weights
//! the client decrypts; a round's intermediate iterates stay encrypted on the server, and with
//! `--refresh bootstrap` every round's but the last). Drawn by
//! `hel train --plot` ([`super::plot`]) and part of the JSON report.

use serde::Serialize;

use super::domain::training_loss;
use super::report::RoundReport;
use crate::data::Matrix;
use crate::metrics::evaluate;
use crate::reference::Trained;

/// The model after `iteration` minibatches (0: the zero weights training starts from).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub iteration: usize,
    /// Mean logistic loss ln(1 + e^(−z·β)) over the training rows.
    pub training_loss: f64,
    pub test_accuracy: f64,
}

/// Both curves.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct History {
    /// After every iteration.
    pub plaintext: Vec<Point>,
    /// After every round.
    pub encrypted: Vec<Point>,
}

impl History {
    /// The curves of a finished run on `batches` (as trained on) and `z_test`.
    pub fn new(
        batches: &[Matrix],
        z_test: &Matrix,
        plain: &Trained,
        rounds: &[RoundReport],
    ) -> Self {
        let point = |iteration: usize, w: &[f64]| Point {
            iteration,
            training_loss: training_loss(batches, w),
            test_accuracy: evaluate(z_test, w).accuracy,
        };
        let zero = vec![0.0; z_test.cols()];
        let start = point(0, &zero);
        let mut plaintext = vec![start];
        plaintext.extend(
            plain
                .history
                .iter()
                .enumerate()
                .map(|(i, w)| point(i + 1, w)),
        );
        let mut encrypted = vec![start];
        // Rounds whose weights stayed on the server (refreshed there) have no point.
        encrypted.extend(
            rounds
                .iter()
                .filter(|r| !r.weights.is_empty())
                .map(|r| point(r.first_minibatch + r.minibatches, &r.weights)),
        );
        History {
            plaintext,
            encrypted,
        }
    }
}
