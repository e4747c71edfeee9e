//! Keeping the training inside the sigmoid polynomial's domain by scaling the design matrix.
//!
//! h(t) = 0.5 − 0.0843t + 0.0002t³ tracks σ(−t) only on [−16, 16]. Features in [0, 1] keep
//! |Z_i β_i| there on MNIST (at most 15.4, NAG k = 32), but not always elsewhere: NAG at k = 32
//! on the breast-cancer set reaches 20.2, and 300 uncentred features in [0, 1] reached 1.2e6
//! in six GD steps (both models at chance). Multiplying every row of Z (bias included) by c is the
//! same training as learning rate α·c² on the unscaled Z, with weights β/c. So the client,
//! which holds the data and builds Z anyway, picks the largest c = 2^-j whose plaintext run
//! stays inside the domain. A power of two keeps the scaled entries exact (c = 1 leaves the
//! published MNIST numbers bit for bit), and c is part of the model the client keeps, like the
//! feature scaling: test rows are scaled by the same c before scoring.

use super::TrainError;
use crate::data::Matrix;
use crate::reference::{self, Config, Method, H_DOMAIN};

/// Largest exponent j tried (c = 2^-j): 2^-30 is about 1e-9, past which f64 weights of
/// O(1/c) stop meaning anything.
const MAX_HALVINGS: i32 = 30;

/// The factor chosen for Z and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DomainScale {
    /// c: every row of Z (and of the test design matrix) is multiplied by it.
    pub factor: f64,
    /// max |Z_i β_i| of the plaintext run on the unscaled Z (equal to the scaled run's when
    /// `factor` is 1).
    pub unscaled_max_abs_inner: f64,
}

impl DomainScale {
    /// Z as built (`--no-domain-scaling`, or already inside the domain).
    pub fn unscaled(max_abs_inner: f64) -> Self {
        DomainScale {
            factor: 1.0,
            unscaled_max_abs_inner: max_abs_inner,
        }
    }
}

/// The largest c = 2^-j (j = 0, 1, …) for which the reference run of `method` over
/// `iterations` minibatches keeps max |Z_i β_i| ≤ 16, or 1 when none does (the caller warns).
/// `unscaled_max_abs_inner` is that of the run on Z itself, which the caller has made.
pub fn fit(
    batches: &[Matrix],
    method: Method,
    iterations: usize,
    unscaled_max_abs_inner: f64,
) -> Result<DomainScale, TrainError> {
    if unscaled_max_abs_inner > H_DOMAIN {
        for j in 1..=MAX_HALVINGS {
            let c = 2f64.powi(-j);
            let scaled: Vec<Matrix> = batches.iter().map(|b| b.scaled(c)).collect();
            let run = reference::train(&scaled, &Config::new(method, iterations))?;
            if run.max_abs_inner <= H_DOMAIN {
                return Ok(DomainScale {
                    factor: c,
                    unscaled_max_abs_inner,
                });
            }
        }
    }
    Ok(DomainScale::unscaled(unscaled_max_abs_inner))
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

    /// max |Z_i β_i| of the reference run on Z scaled by `c`.
    fn inner(b: &[Matrix], c: f64, method: Method, k: usize) -> f64 {
        let scaled: Vec<Matrix> = b.iter().map(|m| m.scaled(c)).collect();
        reference::train(&scaled, &Config::new(method, k))
            .unwrap()
            .max_abs_inner
    }

    #[test]
    fn data_inside_the_domain_is_left_alone() {
        let b = vec![wide(16, 4)];
        let unscaled = inner(&b, 1.0, Method::Gd, 3);
        assert!(unscaled <= H_DOMAIN);
        assert_eq!(
            fit(&b, Method::Gd, 3, unscaled).unwrap(),
            DomainScale::unscaled(unscaled)
        );
    }

    #[test]
    fn wide_data_gets_the_largest_power_of_two_that_stays_inside() {
        let b = vec![wide(64, 300), wide(64, 300)];
        for method in [Method::Gd, Method::Nag] {
            let unscaled = inner(&b, 1.0, method, 6);
            assert!(unscaled > H_DOMAIN, "{method:?}: {unscaled}");
            let s = fit(&b, method, 6, unscaled).unwrap();
            assert!(s.factor < 1.0 && s.factor.log2().fract() == 0.0, "{s:?}");
            assert!(inner(&b, s.factor, method, 6) <= H_DOMAIN, "{s:?}");
            assert!(
                inner(&b, 2.0 * s.factor, method, 6) > H_DOMAIN,
                "{s:?}: twice the factor also fits"
            );
        }
    }
}
