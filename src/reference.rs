//! The plaintext (f64) reference trainer: the oracle every encrypted run is compared against.
//!
//! It implements exactly the algorithms of the notes (§5.2), with the Kim/Han conventions:
//! rows of Z are z_j = y_j·(1, x_j), h(t) = 0.5 − 0.0843t + 0.0002t³ ≈ σ(−t) on [−16, 16]
//! (or another odd cubic, [`Sigmoid`], when `hel train` fits one to the data), γ = α/m,
//! β_0 = 0, and iteration i uses minibatch B_{i mod nb}.
//!
//! - GD:  β_{i+1} = β_i + γ·Z_iᵀ h(Z_i β_i)
//! - NAG: g_i = γ·Z_iᵀ h(Z_i v_i); w_{i+1} = v_i + g_i; v_{i+1} = (1−η_i)w_{i+1} + η_i w_i,
//!   a_0 = 0.01, a_{i+1} = (1 + √(1 + 4a_i²))/2, η_i = (1 − a_i)/a_{i+1}; output v_k.
//!
//! [`train_pipelined`] is the u-recurrence of the low-depth circuit (notes Appendix A): it
//! carries u_i = Z_i v_i forward through M_i = Z_{i+1} Z_iᵀ instead of recomputing it. It
//! exists to cross-check that reformulation against [`train`] (they agree to ~1e-15).

use crate::data::{batch_index, Matrix};

/// h(t) = C0 + C1·t + C3·t³ (Han et al.'s MNIST cubic).
pub const H_C0: f64 = 0.5;
pub const H_C1: f64 = -0.0843;
pub const H_C3: f64 = 0.0002;
/// The interval on which h approximates σ(−t); |Z_i β_i| beyond it means the model is off.
pub const H_DOMAIN: f64 = 16.0;
/// The first NAG momentum coefficient of the HEAAN codes.
pub const NAG_A0: f64 = 0.01;

/// The sigmoid polynomial h(t) ≈ σ(−t) of Han et al.
pub fn h(t: f64) -> f64 {
    Sigmoid::HAN.eval(t)
}

/// h(t) = 0.5 + c1·t + c3·t³ ≈ σ(−t) on [−interval, interval]: the cubics the training
/// programs evaluate. Odd around 1/2 because σ(−t) − 1/2 is odd.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Sigmoid {
    pub c1: f64,
    pub c3: f64,
    /// Where it follows σ(−t) (the bound `max |Z_i β_i|` is checked against).
    pub interval: f64,
}

impl Sigmoid {
    /// Han et al.'s MNIST cubic on [−16, 16].
    pub const HAN: Sigmoid = Sigmoid {
        c1: H_C1,
        c3: H_C3,
        interval: H_DOMAIN,
    };

    /// The least-squares odd cubic through 1/2 for σ(−t) on [−r, r] (uniform weight; 2001
    /// equally spaced points, which agree with the continuous fit to 1e-6). A smaller r
    /// follows the sigmoid closely but only there; a larger r tolerates larger |z·β| with a
    /// flatter, coarser curve, so the interval is chosen from the range training reaches.
    pub fn fit(r: f64) -> Sigmoid {
        const POINTS: usize = 2001;
        // Normal equations of min Σ (c1 t + c3 t³ − (σ(−t) − 1/2))².
        let (mut s2, mut s4, mut s6, mut b1, mut b3) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..POINTS {
            let t = r * (2.0 * i as f64 / (POINTS - 1) as f64 - 1.0);
            let y = 1.0 / (1.0 + t.exp()) - 0.5;
            let t2 = t * t;
            s2 += t2;
            s4 += t2 * t2;
            s6 += t2 * t2 * t2;
            b1 += t * y;
            b3 += t2 * t * y;
        }
        let det = s2 * s6 - s4 * s4;
        Sigmoid {
            c1: (b1 * s6 - b3 * s4) / det,
            c3: (s2 * b3 - s4 * b1) / det,
            interval: r,
        }
    }

    pub fn eval(&self, t: f64) -> f64 {
        H_C0 + self.c1 * t + self.c3 * t * t * t
    }
}

/// Plain minibatch gradient ascent or Nesterov's accelerated variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Gd,
    Nag,
}

/// k iterations with learning rate α (γ = α/m) and the sigmoid polynomial h.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    pub method: Method,
    pub iterations: usize,
    pub alpha: f64,
    pub sigmoid: Sigmoid,
}

impl Config {
    /// α = 1 and Han's cubic, the MNIST setting.
    pub fn new(method: Method, iterations: usize) -> Self {
        Config {
            method,
            iterations,
            alpha: 1.0,
            sigmoid: Sigmoid::HAN,
        }
    }
}

/// The trained weights and a domain diagnostic.
#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    /// β (GD) or v_k (NAG), length f = features + 1, bias first.
    pub beta: Vec<f64>,
    /// max over iterations and rows of |Z_i v_i|: should stay ≤ [`H_DOMAIN`], beyond which h no
    /// longer approximates the sigmoid (callers should warn; training itself goes on, as the
    /// encrypted circuit would).
    pub max_abs_inner: f64,
    /// The weights after each iteration (the last is `beta`): what the training curves of
    /// `hel train --plot` are drawn from.
    pub history: Vec<Vec<f64>>,
}

/// Problems with the minibatches handed to the trainer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("no minibatches to train on")]
    NoBatches,
    #[error("minibatch {index} is {rows}×{cols}, but minibatch 0 is {rows0}×{cols0}; all must have the same shape")]
    ShapeMismatch {
        index: usize,
        rows: usize,
        cols: usize,
        rows0: usize,
        cols0: usize,
    },
    #[error("minibatches have no rows")]
    EmptyBatch,
}

/// η_0 … η_{k−1} (all 0 for GD, so NAG's update degenerates to GD's).
pub fn eta_schedule(method: Method, k: usize) -> Vec<f64> {
    if method == Method::Gd {
        return vec![0.0; k];
    }
    let mut out = Vec::with_capacity(k);
    let mut a = NAG_A0;
    for _ in 0..k {
        let a_next = (1.0 + (1.0 + 4.0 * a * a).sqrt()) / 2.0;
        out.push((1.0 - a) / a_next);
        a = a_next;
    }
    out
}

fn check_batches(batches: &[Matrix]) -> Result<(usize, usize), ReferenceError> {
    let first = batches.first().ok_or(ReferenceError::NoBatches)?;
    let (m, f) = (first.rows(), first.cols());
    if m == 0 {
        return Err(ReferenceError::EmptyBatch);
    }
    for (index, b) in batches.iter().enumerate() {
        if (b.rows(), b.cols()) != (m, f) {
            return Err(ReferenceError::ShapeMismatch {
                index,
                rows: b.rows(),
                cols: b.cols(),
                rows0: m,
                cols0: f,
            });
        }
    }
    Ok((m, f))
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, &x| a.max(x.abs()))
}

/// The baseline reference (notes §5.2).
pub fn train(batches: &[Matrix], cfg: &Config) -> Result<Trained, ReferenceError> {
    let (m, f) = check_batches(batches)?;
    let gamma = cfg.alpha / m as f64;
    let eta = eta_schedule(cfg.method, cfg.iterations);
    let mut v = vec![0.0; f];
    let mut w = vec![0.0; f];
    let mut max_abs_inner = 0.0f64;
    let mut history = Vec::with_capacity(eta.len());
    for (i, &eta_i) in eta.iter().enumerate() {
        let z = &batches[batch_index(i, batches.len())];
        let u = z.mul_vec(&v);
        max_abs_inner = max_abs_inner.max(max_abs(&u));
        let hu: Vec<f64> = u.iter().map(|&t| gamma * cfg.sigmoid.eval(t)).collect();
        let g = z.tr_mul_vec(&hu);
        (v, w) = nesterov_step(&v, &w, &g, eta_i);
        history.push(v.clone());
    }
    Ok(Trained {
        beta: v,
        max_abs_inner,
        history,
    })
}

/// One update of the weights from the gradient step `g`: `w' = v + g`,
/// `v' = (1 - eta) w' + eta w` (for gradient descent eta = 0, so `v' = w'`). Returns `(v', w')`.
fn nesterov_step(v: &[f64], w: &[f64], g: &[f64], eta: f64) -> (Vec<f64>, Vec<f64>) {
    let w_next: Vec<f64> = v.iter().zip(g).map(|(a, b)| a + b).collect();
    let v_next = w_next
        .iter()
        .zip(w)
        .map(|(&wn, &wo)| (1.0 - eta) * wn + eta * wo)
        .collect();
    (v_next, w_next)
}

/// The pipelined (u-recurrence) reference of notes Appendix A, for cross-checking:
/// s_i = γ·h(u_i); u_{i+1} = (1−η_i)(Z_{i+1} v_i + M_i s_i) + η_i Z_{i+1} w_i with
/// M_i = Z_{i+1} Z_iᵀ; w_{i+1} = v_i + Z_iᵀ s_i; v_{i+1} = (1−η_i) w_{i+1} + η_i w_i.
///
/// M_i is materialised (m × m) on purpose: that product is what the low-depth circuit
/// evaluates, so this is the formulation whose numerics we want to check.
pub fn train_pipelined(batches: &[Matrix], cfg: &Config) -> Result<Trained, ReferenceError> {
    let (m, f) = check_batches(batches)?;
    let gamma = cfg.alpha / m as f64;
    let eta = eta_schedule(cfg.method, cfg.iterations);
    let nb = batches.len();
    let mut v = vec![0.0; f];
    let mut w = vec![0.0; f];
    let mut u = batches[0].mul_vec(&v);
    let mut max_abs_inner = 0.0f64;
    let mut history = Vec::with_capacity(eta.len());
    for (i, &eta_i) in eta.iter().enumerate() {
        let z = &batches[batch_index(i, nb)];
        let zn = &batches[batch_index(i + 1, nb)];
        max_abs_inner = max_abs_inner.max(max_abs(&u));
        let s: Vec<f64> = u.iter().map(|&t| gamma * cfg.sigmoid.eval(t)).collect();
        let ms = zn.mul_transposed(z).mul_vec(&s);
        let znv = zn.mul_vec(&v);
        let znw = zn.mul_vec(&w);
        let u_next: Vec<f64> = (0..m)
            .map(|r| (1.0 - eta_i) * (znv[r] + ms[r]) + eta_i * znw[r])
            .collect();
        let g = z.tr_mul_vec(&s);
        (v, w) = nesterov_step(&v, &w, &g, eta_i);
        history.push(v.clone());
        u = u_next;
    }
    Ok(Trained {
        beta: v,
        max_abs_inner,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_schedule_matches_the_recurrence() {
        let e = eta_schedule(Method::Nag, 3);
        let a1 = (1.0 + (1.0f64 + 4.0 * 0.01 * 0.01).sqrt()) / 2.0;
        assert!((e[0] - (1.0 - 0.01) / a1).abs() < 1e-15);
        assert!(e.iter().all(|&x| x < 1.0));
        assert_eq!(eta_schedule(Method::Gd, 2), vec![0.0, 0.0]);
    }

    #[test]
    fn h_is_the_han_cubic() {
        assert_eq!(h(0.0), 0.5);
        assert!((h(2.0) - (0.5 - 0.1686 + 0.0016)).abs() < 1e-15);
    }

    /// The fit on [−16, 16] is about the unrounded Han cubic (notes §1.4: c1 = −0.0842675,
    /// c3 = 0.0002474), and a narrower interval follows σ(−t) more closely there.
    #[test]
    fn sigmoid_fit_is_the_least_squares_cubic() {
        let s = Sigmoid::fit(16.0);
        assert!((s.c1 + 0.0842675).abs() < 1e-4, "{s:?}");
        assert!((s.c3 - 0.0002474).abs() < 1e-6, "{s:?}");
        let worst = |s: Sigmoid, r: f64| {
            (0..=400)
                .map(|i| r * (i as f64 / 200.0 - 1.0))
                .map(|t| (s.eval(t) - 1.0 / (1.0 + t.exp())).abs())
                .fold(0.0, f64::max)
        };
        assert!(worst(Sigmoid::fit(4.0), 4.0) < worst(s, 4.0), "{s:?}");
        // 0.038 on [−4, 4], against 0.22 for the fit on [−16, 16] over its own interval.
        assert!(worst(Sigmoid::fit(4.0), 4.0) < 0.04);
        assert!(worst(s, 16.0) > 0.2);
    }

    #[test]
    fn rejects_bad_batches() {
        assert_eq!(
            train(&[], &Config::new(Method::Gd, 1)),
            Err(ReferenceError::NoBatches)
        );
        let b = vec![Matrix::zeros(2, 3), Matrix::zeros(3, 3)];
        assert!(matches!(
            train(&b, &Config::new(Method::Gd, 1)),
            Err(ReferenceError::ShapeMismatch { index: 1, .. })
        ));
    }
}
