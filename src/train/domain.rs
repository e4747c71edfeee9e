//! Keeping the training inside the sigmoid polynomial's domain by scaling the design matrix.
//!
//! h(t) = 0.5 − 0.0843t + 0.0002t³ tracks σ(−t) only on [−16, 16]; beyond about ±20 the cubic
//! term takes over and the weights run away (300 uncentred features in [0, 1] reached
//! |Z_i β_i| = 1.2e6 in six GD steps, both models at chance). Multiplying every row of Z (bias
//! included) by c is the same training as learning rate α·c² on the unscaled Z, with weights β/c,
//! so the client, which holds the data and builds Z anyway, can rescale Z when the plaintext run
//! leaves the domain.
//!
//! It does not simply take the largest c that stays inside: a short excursion does little harm,
//! and a smaller c learns more slowly. NAG on the breast-cancer set reaches 17.8 at k = 20 and
//! 20.2 at k = 32; unscaled it scores 0.982 on the test rows in both cases, scaled into the
//! domain 0.956 and 0.974. So the client tries c = 1, 2^-1/4, 2^-1/2, … down to the first c
//! that stays inside, and keeps the one whose model has the least mean logistic loss on the
//! training rows (data it holds; the test rows are not looked at). Quarter steps, because a
//! halving of c quarters the learning rate. c is part of the model the client keeps, like the
//! feature scaling: test rows are scaled by the same c before scoring. c = 1 (MNIST, at most 15.4)
//! leaves Z bit for bit as built.

use super::TrainError;
use crate::data::Matrix;
use crate::reference::{self, Config, Method, Trained, H_DOMAIN};

/// Grid steps per halving of c.
const STEPS_PER_HALVING: u32 = 4;
/// Smallest c tried: 2^-30 is about 1e-9, past which f64 weights of O(1/c) stop meaning
/// anything.
pub const MIN_LOG2_FACTOR: i32 = -30;

/// Z scaled by `factor` and the reference model trained on it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub factor: f64,
    /// max |Z_i β_i| of the run.
    pub max_abs_inner: f64,
    /// Mean logistic loss ln(1 + e^(−z·β)) of the trained model over the training rows.
    pub loss: f64,
}

/// The factor chosen for Z and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DomainScale {
    /// c: every row of Z (and of the test design matrix) is multiplied by it.
    pub factor: f64,
    /// max |Z_i β_i| of the plaintext run on the unscaled Z.
    pub unscaled_max_abs_inner: f64,
    /// The largest grid factor whose run stays inside the domain, when the unscaled run does
    /// not and one was found.
    pub inside: Option<Candidate>,
}

impl DomainScale {
    /// Z as built (`--no-domain-scaling`, or already inside the domain).
    pub fn unscaled(max_abs_inner: f64) -> Self {
        DomainScale {
            factor: 1.0,
            unscaled_max_abs_inner: max_abs_inner,
            inside: None,
        }
    }
}

/// Chooses c (see the module doc) for the reference run of `method` over `iterations`
/// minibatches. `unscaled` is that run on Z itself, which the caller has made.
pub fn fit(
    batches: &[Matrix],
    method: Method,
    iterations: usize,
    unscaled: &Trained,
) -> Result<DomainScale, TrainError> {
    let mut scale = DomainScale::unscaled(unscaled.max_abs_inner);
    if unscaled.max_abs_inner <= H_DOMAIN {
        return Ok(scale);
    }
    let mut best_loss = training_loss(batches, &unscaled.beta);
    let steps = MIN_LOG2_FACTOR.unsigned_abs() * STEPS_PER_HALVING;
    for j in 1..=steps {
        let factor = 2f64.powf(-f64::from(j) / f64::from(STEPS_PER_HALVING));
        let scaled: Vec<Matrix> = batches.iter().map(|b| b.scaled(factor)).collect();
        let run = reference::train(&scaled, &Config::new(method, iterations))?;
        let candidate = Candidate {
            factor,
            max_abs_inner: run.max_abs_inner,
            loss: training_loss(&scaled, &run.beta),
        };
        if candidate.loss < best_loss {
            best_loss = candidate.loss;
            scale.factor = factor;
        }
        if run.max_abs_inner <= H_DOMAIN {
            scale.inside = Some(candidate);
            break;
        }
    }
    Ok(scale)
}

/// Mean ln(1 + e^(−z·β)) over every row of `batches` (z carries the label).
pub fn training_loss(batches: &[Matrix], beta: &[f64]) -> f64 {
    let mut sum = 0.0;
    let mut rows = 0usize;
    for b in batches {
        for margin in b.mul_vec(beta) {
            // ln(1 + e^(−m)) without overflow for large |m|.
            sum += if margin > 0.0 {
                (-margin).exp().ln_1p()
            } else {
                -margin + margin.exp().ln_1p()
            };
        }
        rows += b.rows();
    }
    sum / rows.max(1) as f64
}

/// log2 c rounded to the grid, for messages (`2^-0.5`, not `2^-0.49999999999999994`).
pub fn log2_label(c: f64) -> f64 {
    let steps = f64::from(STEPS_PER_HALVING);
    (c.log2() * steps).round() / steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` samples of `f` features in [0.5, 1] (plus the bias), three in four labelled +1:
    /// the mean row is large, so the first step of α = 1 overshoots when `f` is.
    fn wide(rows: usize, f: usize) -> Matrix {
        let mut data = Vec::with_capacity(rows * (f + 1));
        for r in 0..rows {
            let y = if r % 4 == 3 { -1.0 } else { 1.0 };
            data.push(y);
            for c in 0..f {
                data.push(y * (0.5 + ((r * 31 + c * 17) % 101) as f64 / 200.0));
            }
        }
        Matrix::from_vec(rows, f + 1, data)
    }

    fn run(b: &[Matrix], c: f64, method: Method, k: usize) -> Trained {
        let scaled: Vec<Matrix> = b.iter().map(|m| m.scaled(c)).collect();
        reference::train(&scaled, &Config::new(method, k)).unwrap()
    }

    #[test]
    fn data_inside_the_domain_is_left_alone() {
        let b = vec![wide(16, 4)];
        let unscaled = run(&b, 1.0, Method::Gd, 3);
        assert!(unscaled.max_abs_inner <= H_DOMAIN);
        assert_eq!(
            fit(&b, Method::Gd, 3, &unscaled).unwrap(),
            DomainScale::unscaled(unscaled.max_abs_inner)
        );
    }

    /// A run far outside is scaled to the grid factor of least training loss, which the
    /// runaway unscaled model does not have; the search stops at the first factor inside.
    #[test]
    fn runaway_training_gets_the_grid_factor_of_least_loss() {
        let b = vec![wide(64, 300), wide(64, 300)];
        for method in [Method::Gd, Method::Nag] {
            let unscaled = run(&b, 1.0, method, 6);
            assert!(unscaled.max_abs_inner > 100.0, "{method:?}: {unscaled:?}");
            let s = fit(&b, method, 6, &unscaled).unwrap();
            let inside = s.inside.expect("a factor inside the domain");
            assert!(inside.max_abs_inner <= H_DOMAIN, "{s:?}");
            assert!(s.factor < 1.0 && s.factor >= inside.factor, "{s:?}");
            let steps = s.factor.log2() * 4.0;
            assert!((steps - steps.round()).abs() < 1e-9, "{s:?}: off the grid");
            // Every grid factor from 1 down to the first inside: none fits better.
            let chosen = {
                let t = run(&b, s.factor, method, 6);
                let scaled: Vec<Matrix> = b.iter().map(|m| m.scaled(s.factor)).collect();
                training_loss(&scaled, &t.beta)
            };
            let mut c = 1.0;
            while c >= inside.factor {
                let scaled: Vec<Matrix> = b.iter().map(|m| m.scaled(c)).collect();
                let loss = training_loss(&scaled, &run(&b, c, method, 6).beta);
                assert!(
                    loss >= chosen,
                    "{method:?}: c = {c} fits better ({loss} < {chosen})"
                );
                c *= 2f64.powf(-0.25);
            }
            // The factor just above the first inside one is outside.
            let above = run(&b, inside.factor * 2f64.powf(0.25), method, 6);
            assert!(above.max_abs_inner > H_DOMAIN, "{s:?}");
        }
    }

    #[test]
    fn training_loss_is_the_mean_logistic_loss() {
        let z = Matrix::from_vec(2, 2, vec![1.0, 2.0, -1.0, 0.5]);
        let beta = [0.5, -1.0];
        // Margins -1.5 and -1.0.
        let want = ((1.0 + 1.5f64.exp()).ln() + (1.0 + 1f64.exp()).ln()) / 2.0;
        assert!((training_loss(std::slice::from_ref(&z), &beta) - want).abs() < 1e-15);
        // No overflow far from zero.
        let far = training_loss(&[z], &[1e3, 0.0]);
        assert!((far - 500.0).abs() < 1e-9, "{far}");
    }
}
