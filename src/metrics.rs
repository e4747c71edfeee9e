//! Test-set metrics: accuracy and ROC AUC.
//!
//! Scores are x̃·β (x̃ = (1, scaled x)). Because Z folds the label in, the margin z·β = y·score
//! and the bias column of Z is y itself, so everything can be computed from Z_test and β.

use crate::data::Matrix;

/// Accuracy and AUC on one data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    /// `None` when the set holds only one class (AUC is undefined).
    pub auc: Option<f64>,
}

/// Fraction of samples with label·score > 0 (a score of exactly 0 counts as wrong, like
/// the reference's `mean(Z_test·β > 0)`). 0 for an empty set.
pub fn accuracy(scores: &[f64], labels: &[f64]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let right = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &y)| s * y > 0.0)
        .count();
    right as f64 / scores.len() as f64
}

/// ROC AUC = P(score of a random positive > score of a random negative), ties counted half
/// (Mann–Whitney U). O(n log n): sort once, give tied scores their average rank.
pub fn auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let n_pos = labels.iter().filter(|&&y| y > 0.0).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of 1-based ranks of the positives, ties sharing their average rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_group = order[i..j].iter().filter(|&&k| labels[k] > 0.0).count();
        rank_sum += avg_rank * pos_in_group as f64;
        i = j;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// Scores x̃·β recovered from Z and β (score = y·(z·β), y = Z[:, 0]) together with the labels.
pub fn scores_and_labels(z: &Matrix, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let margins = z.mul_vec(beta);
    let labels: Vec<f64> = z.iter_rows().map(|r| r[0].signum()).collect();
    let scores = margins.iter().zip(&labels).map(|(m, y)| m * y).collect();
    (scores, labels)
}

/// Accuracy and AUC of β on a design matrix Z (bias column first, labels folded in).
pub fn evaluate(z: &Matrix, beta: &[f64]) -> Evaluation {
    let (scores, labels) = scores_and_labels(z, beta);
    Evaluation {
        accuracy: accuracy(&scores, &labels),
        auc: auc(&scores, &labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// O(n²) definition, for comparison.
    fn auc_naive(s: &[f64], y: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..s.len() {
            for j in 0..s.len() {
                if y[i] > 0.0 && y[j] < 0.0 {
                    den += 1.0;
                    num += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_matches_pairwise_definition_with_ties() {
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, -1.0, 0.8];
        let y = [-1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0];
        let a = auc(&s, &y).unwrap();
        assert!((a - auc_naive(&s, &y)).abs() < 1e-15, "{a}");
        assert_eq!(auc(&[1.0, 2.0], &[1.0, 1.0]), None);
        assert_eq!(auc(&[1.0, 2.0], &[-1.0, 1.0]), Some(1.0));
        assert_eq!(auc(&[1.0, 1.0], &[-1.0, 1.0]), Some(0.5));
    }

    #[test]
    fn accuracy_counts_zero_as_wrong() {
        assert_eq!(
            accuracy(&[1.0, -1.0, 0.0, 2.0], &[1.0, -1.0, 1.0, -1.0]),
            0.5
        );
    }

    #[test]
    fn evaluate_recovers_labels_from_bias_column() {
        // Two samples: x = 1 (label +1), x = 0 (label −1); β = (−0.5, 1) separates them.
        let z = Matrix::from_vec(2, 2, vec![1.0, 1.0, -1.0, -0.0]);
        let e = evaluate(&z, &[-0.5, 1.0]);
        assert_eq!(e.accuracy, 1.0);
        assert_eq!(e.auc, Some(1.0));
    }
}
