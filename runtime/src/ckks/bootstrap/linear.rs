//! CoeffToSlot and SlotToCoeff as homomorphic DFTs.
//!
//! Decoding is the special FFT `z = S_n ⋯ S_2 · BR · u` (see `encoding.rs`): a bit reversal
//! followed by log2(n) butterfly stages, each a slot-wise linear map with three diagonals
//! (shifts 0 and ±len/2). Leaving out the bit reversal (EvalMod is slot-wise, so the order of
//! the coefficients in the slots does not matter as long as SlotToCoeff undoes it),
//! CoeffToSlot is `S_2^{-1} ⋯ S_n^{-1}` and SlotToCoeff is `S_n ⋯ S_2`. Consecutive stages are
//! merged into one level ("merged levels"): the product of r stages has at most 2^{r+1} - 1
//! diagonals. Each merged map is evaluated with baby-step giant-step: the baby rotations share
//! one decomposition (hoisted), the diagonals of each giant step are pre-rotated, and every
//! product is taken before the single rescale of the level.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use num_complex::Complex64;

use rayon::prelude::*;

use crate::ckks::hoisted::ExtSum;
use crate::ckks::ring::RnsPoly;
use crate::ckks::{Ciphertext, Context, GaloisKeys, Result};

/// A slot-linear map `z -> Σ_k d_k ⊙ rot(z, k)`, by left-rotation amount k in `0..n`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DiagMap {
    n: usize,
    diags: BTreeMap<usize, Vec<Complex64>>,
}

impl DiagMap {
    fn new(n: usize) -> Self {
        DiagMap {
            n,
            diags: BTreeMap::new(),
        }
    }

    fn diag_mut(&mut self, shift: i64) -> &mut Vec<Complex64> {
        let n = self.n;
        self.diags
            .entry(shift.rem_euclid(n as i64) as usize)
            .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n])
    }

    /// Applies the map to plain slot values (tests and key planning).
    #[cfg(test)]
    pub fn apply_plain(&self, z: &[Complex64]) -> Vec<Complex64> {
        let n = self.n;
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&k, d) in &self.diags {
            for (p, o) in out.iter_mut().enumerate() {
                *o += d[p] * z[(p + k) % n];
            }
        }
        out
    }

    /// `next ∘ self`: `Σ_a A_a ⊙ rot(Σ_b B_b ⊙ rot(z, b), a) = Σ_{a,b} (A_a ⊙ rot(B_b, a)) ⊙
    /// rot(z, a + b)`.
    fn then(&self, next: &DiagMap) -> DiagMap {
        let n = self.n;
        let mut out = DiagMap::new(n);
        for (&a, da) in &next.diags {
            for (&b, db) in &self.diags {
                let d = out.diag_mut((a + b) as i64);
                for (p, x) in d.iter_mut().enumerate() {
                    *x += da[p] * db[(p + a) % n];
                }
            }
        }
        // Diagonals that cancelled exactly cost rotations for nothing.
        out.diags.retain(|_, d| d.iter().any(|v| v.norm() > 1e-300));
        out
    }

    /// Shifts as signed amounts in (-n/2, n/2].
    fn signed_shifts(&self) -> Vec<i64> {
        let n = self.n as i64;
        self.diags
            .keys()
            .map(|&k| {
                let k = k as i64;
                if k > n / 2 {
                    k - n
                } else {
                    k
                }
            })
            .collect()
    }
}

/// exp(2πi·(5^j mod 4·len)/(4·len)), the twiddle of butterfly j in a stage of length `len`.
fn twiddle(j: usize, len: usize) -> Complex64 {
    let lenq = 4 * len as u64;
    let mut g = 1u64;
    for _ in 0..j {
        g = g * 5 % lenq;
    }
    Complex64::from_polar(1.0, std::f64::consts::TAU * g as f64 / lenq as f64)
}

/// Butterfly stage of the special FFT (decoding direction) on `n` slots.
fn decode_stage(n: usize, len: usize) -> DiagMap {
    let lenh = len / 2;
    let mut m = DiagMap::new(n);
    let zetas: Vec<Complex64> = (0..lenh).map(|j| twiddle(j, len)).collect();
    for c in (0..n).step_by(len) {
        for (j, &z) in zetas.iter().enumerate() {
            m.diag_mut(0)[c + j] += 1.0;
            m.diag_mut(0)[c + j + lenh] -= z;
            m.diag_mut(lenh as i64)[c + j] += z;
            m.diag_mut(-(lenh as i64))[c + j + lenh] += 1.0;
        }
    }
    m
}

/// Inverse of [`decode_stage`] (each inverse butterfly carries its factor 1/2).
fn encode_stage(n: usize, len: usize) -> DiagMap {
    let lenh = len / 2;
    let mut m = DiagMap::new(n);
    let zetas: Vec<Complex64> = (0..lenh).map(|j| twiddle(j, len).conj() * 0.5).collect();
    for c in (0..n).step_by(len) {
        for (j, &z) in zetas.iter().enumerate() {
            m.diag_mut(0)[c + j] += 0.5;
            m.diag_mut(lenh as i64)[c + j] += 0.5;
            m.diag_mut(-(lenh as i64))[c + j + lenh] += z;
            m.diag_mut(0)[c + j + lenh] -= z;
        }
    }
    m
}

/// Merges `stages` (in order of application) into `groups` maps of consecutive stages, as
/// even as possible with the larger groups first.
fn merge(n: usize, stages: Vec<DiagMap>, groups: usize) -> Vec<DiagMap> {
    let total = stages.len();
    let mut it = stages.into_iter();
    (0..groups)
        .map(|g| {
            let size = total / groups + usize::from(g < total % groups);
            let mut acc = DiagMap::new(n);
            acc.diag_mut(0).fill(Complex64::new(1.0, 0.0));
            for s in it.by_ref().take(size) {
                acc = acc.then(&s);
            }
            acc
        })
        .collect()
}

/// CoeffToSlot on `n` slots in `levels` merged levels: slots z -> BR(fft_special_inv(z)).
pub(crate) fn coeff_to_slot_maps(n: usize, levels: usize) -> Vec<DiagMap> {
    let stages = (1..=n.trailing_zeros())
        .rev()
        .map(|k| encode_stage(n, 1 << k))
        .collect();
    merge(n, stages, levels)
}

/// SlotToCoeff on `n` slots in `levels` merged levels: BR(u) -> fft_special(u).
pub(crate) fn slot_to_coeff_maps(n: usize, levels: usize) -> Vec<DiagMap> {
    let stages = (1..=n.trailing_zeros())
        .map(|k| decode_stage(n, 1 << k))
        .collect();
    merge(n, stages, levels)
}

/// The masks of the two halves of a period of 2n slots: `M1` is 1 on the first n of every 2n,
/// `M2` on the second n.
fn halves(n: usize) -> (Vec<f64>, Vec<f64>) {
    let m1: Vec<f64> = (0..2 * n).map(|q| f64::from(u8::from(q < n))).collect();
    let m2 = m1.iter().map(|v| 1.0 - v).collect();
    (m1, m2)
}

/// CoeffToSlot's last level for sparse slots that leaves room for one EvalMod: `map` (on n
/// slots) followed by `(M1 - i·M2) ⊙`, a map on 2n slots. Its result `A` makes
/// `A + conj(A)` hold twice the real parts of `map`'s result in the first half of every 2n
/// slots and twice the imaginary parts in the second: both halves in one real ciphertext, at
/// no extra level (the mask rides on the diagonals).
pub(crate) fn split_halves(map: &DiagMap) -> DiagMap {
    let n = map.n;
    let (m1, m2) = halves(n);
    let mut out = DiagMap::new(2 * n);
    for (&k, d) in &map.diags {
        let diag = out.diag_mut(k as i64);
        for (q, x) in diag.iter_mut().enumerate() {
            *x += d[q % n] * Complex64::new(m1[q], -m2[q]);
        }
    }
    out
}

/// SlotToCoeff's first level after one EvalMod of both halves: on a real `y` (2n slots, the
/// real parts first, the imaginary parts second), `map` applied to the n-periodic
/// `z = (M1 + i·M2) ⊙ y + (i·M1 + M2) ⊙ rot(y, n)` (`z_q = y_q + i·y_{q+n}` in the first half,
/// its repetition in the second), as one map on 2n slots: `Σ_k E_k ⊙ rot(z, k) =
/// Σ_k (E_k ⊙ rot(P, k)) ⊙ rot(y, k) + (E_k ⊙ rot(Q, k)) ⊙ rot(y, k + n)`.
pub(crate) fn join_halves(map: &DiagMap) -> DiagMap {
    let n = map.n;
    let (m1, m2) = halves(n);
    let p: Vec<Complex64> = (0..2 * n).map(|q| Complex64::new(m1[q], m2[q])).collect();
    let qm: Vec<Complex64> = (0..2 * n).map(|q| Complex64::new(m2[q], m1[q])).collect();
    let mut out = DiagMap::new(2 * n);
    for (&k, d) in &map.diags {
        for (mask, shift) in [(&p, k), (&qm, k + n)] {
            let diag = out.diag_mut(shift as i64);
            for (q, x) in diag.iter_mut().enumerate() {
                *x += d[q % n] * mask[(q + k) % (2 * n)];
            }
        }
    }
    out.diags.retain(|_, d| d.iter().any(|v| v.norm() > 1e-300));
    out
}

/// The terms of one giant step: (index of the baby rotation, pre-rotated diagonal).
type GiantTerms = Vec<(usize, Vec<Complex64>)>;

/// One merged level ready for baby-step giant-step evaluation.
#[derive(Debug)]
pub(crate) struct BsgsLevel {
    /// Baby rotations (hoisted), signed.
    babies: Vec<i64>,
    /// Per giant rotation: the (baby index, pre-rotated diagonal) terms.
    giants: Vec<(i64, GiantTerms)>,
    /// The diagonals as last encoded, reused while a bootstrap asks for the same encoding.
    encoded: Mutex<Option<Encoded>>,
}

/// A level's diagonals encoded for one (level, scale, factor), in the order of the terms,
/// over the extended basis (the products are taken before the division by P, see
/// `ckks::hoisted`). Every bootstrap of a chain encodes the same CoeffToSlot diagonals, and
/// the same SlotToCoeff ones while it lands on the same scale; at the top of the N = 2^16
/// chain each is 45 limbs (23 MB), and encoding them was a fifth of a bootstrap. Only the
/// last encoding of a level is kept, so the memory is one set of diagonals per level (about
/// 3.7 GB for the full-slot chain at N = 2^16, less for sparse slots).
#[derive(Debug)]
struct Encoded {
    key: (usize, u64, u64),
    plaintexts: Arc<Vec<RnsPoly>>,
}

impl BsgsLevel {
    /// Splits every shift k into a baby part `k mod m` and a giant part `k - (k mod m)`, with
    /// the power of two m that minimises the key switches (hoisted babies count 0.6: they share
    /// one decomposition).
    pub fn new(map: &DiagMap) -> Self {
        let shifts = map.signed_shifts();
        let split = |m: i64| {
            let mut babies: Vec<i64> = shifts.iter().map(|k| k.rem_euclid(m)).collect();
            let mut giants: Vec<i64> = shifts.iter().map(|k| k - k.rem_euclid(m)).collect();
            babies.sort_unstable();
            babies.dedup();
            giants.sort_unstable();
            giants.dedup();
            (babies, giants)
        };
        let cost = |m: i64| {
            let (b, g) = split(m);
            6 * b.len() + 10 * g.len()
        };
        let mut m = 1i64;
        let mut best = (cost(1), 1i64);
        while m < map.n as i64 {
            m *= 2;
            best = best.min((cost(m), m));
        }
        let m = best.1;
        let (babies, giant_list) = split(m);
        let n = map.n;
        let giants = giant_list
            .iter()
            .map(|&g| {
                let terms = shifts
                    .iter()
                    .filter(|&&k| k - k.rem_euclid(m) == g)
                    .map(|&k| {
                        let bi = babies
                            .iter()
                            .position(|&b| b == k.rem_euclid(m))
                            .unwrap_or(0);
                        let d = &map.diags[&(k.rem_euclid(n as i64) as usize)];
                        // a_i[q] = d_{g+i}[q - g]: rotating the sum by g lines it up again.
                        let gi = g.rem_euclid(n as i64) as usize;
                        let rotated = (0..n).map(|q| d[(q + n - gi) % n]).collect();
                        (bi, rotated)
                    })
                    .collect();
                (g, terms)
            })
            .collect();
        BsgsLevel {
            babies,
            giants,
            encoded: Mutex::new(None),
        }
    }

    /// The diagonals times `factor` encoded at `level` and `scale`, in term order: the cached
    /// set when it was made for these, else a new one (encoded in parallel), which replaces it.
    fn encoded(
        &self,
        ctx: &Context,
        level: usize,
        scale: f64,
        factor: f64,
    ) -> Result<Arc<Vec<RnsPoly>>> {
        let key = (level, scale.to_bits(), factor.to_bits());
        let mut cached = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = cached.as_ref().filter(|e| e.key == key) {
            return Ok(Arc::clone(&e.plaintexts));
        }
        // The old set goes before the new one is made: both at once would double the peak.
        *cached = None;
        let terms: Vec<&Vec<Complex64>> = self
            .giants
            .iter()
            .flat_map(|(_, terms)| terms.iter().map(|(_, d)| d))
            .collect();
        let plaintexts = terms
            .par_iter()
            .map(|diag| {
                // A map over n < N/2 slots (sparse packing) acts on every period of the
                // slots alike: its diagonals repeat with period n.
                let n = diag.len();
                let values: Vec<Complex64> =
                    (0..ctx.slots()).map(|q| diag[q % n] * factor).collect();
                ctx.encode_complex_ext(&values, level, scale)
            })
            .collect::<Result<Vec<_>>>()?;
        let plaintexts = Arc::new(plaintexts);
        *cached = Some(Encoded {
            key,
            plaintexts: Arc::clone(&plaintexts),
        });
        Ok(plaintexts)
    }

    /// The number of diagonals this level multiplies by (each one encoded plaintext).
    pub fn terms(&self) -> usize {
        self.giants.iter().map(|(_, t)| t.len()).sum()
    }

    /// Bytes of the encodings this level keeps (none before its first application).
    #[cfg(test)]
    pub fn kept_bytes(&self) -> usize {
        let cached = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().map_or(0, |e| {
            e.plaintexts
                .iter()
                .map(|p| p.limbs().map(<[u64]>::len).sum::<usize>() * 8)
                .sum()
        })
    }

    /// The rotation steps this level needs keys for.
    pub fn rotations(&self) -> impl Iterator<Item = i64> + '_ {
        self.babies
            .iter()
            .chain(self.giants.iter().map(|(g, _)| g))
            .copied()
            .filter(|&s| s != 0)
    }

    /// Applies `factor` times the map to `ct` and rescales by the next `primes` primes. The
    /// diagonals are encoded at `target_scale · (those primes) / ct.scale` so that the result's
    /// scale is exactly `target_scale`.
    pub fn apply(
        &self,
        ctx: &Context,
        ct: &Ciphertext,
        gk: &GaloisKeys,
        target_scale: f64,
        factor: f64,
        primes: usize,
    ) -> Result<Ciphertext> {
        let level = ct.level();
        let divisor: f64 = (0..primes)
            .map(|i| ctx.q_primes()[level - i] as f64)
            .product();
        let pt_scale = target_scale * divisor / ct.scale();
        let babies = ctx.rotate_hoisted_ext(ct, &self.babies, gk)?;
        let encoded = self.encoded(ctx, level, pt_scale, factor)?;
        let scale = ct.scale() * pt_scale;
        let mut pts = encoded.iter();
        let mut total = ExtSum::new(level);
        for (g, terms) in &self.giants {
            // The giant step 0 needs no rotation: its products join the total undivided.
            let mut inner = ExtSum::new(level);
            let sum = if *g == 0 { &mut total } else { &mut inner };
            let products = terms
                .iter()
                .map(|(bi, _)| {
                    let pt = pts.next().ok_or_else(|| {
                        crate::ckks::CkksError::InvalidParams("a diagonal was not encoded".into())
                    })?;
                    Ok((&babies[*bi], pt))
                })
                .collect::<Result<Vec<_>>>()?;
            sum.add_products(ctx, &products);
            if *g != 0 && !terms.is_empty() {
                let inner = inner.finish(ctx, scale)?;
                total.add(ctx, ctx.rotate_ext(&inner, *g, gk)?);
            }
        }
        let mut acc = total.finish(ctx, scale)?;
        ctx.rescale_many_assign(&mut acc, primes)?;
        Ok(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_slots(n: usize, seed: u64) -> Vec<Complex64> {
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..n).map(|_| Complex64::new(next(), next())).collect()
    }

    fn apply_all(maps: &[DiagMap], z: &[Complex64]) -> Vec<Complex64> {
        maps.iter().fold(z.to_vec(), |v, m| m.apply_plain(&v))
    }

    /// CoeffToSlot then SlotToCoeff is the identity, whatever the merging (that they match the
    /// encoder is what the bootstrapping tests check end to end).
    #[test]
    fn merged_transforms_invert_each_other() {
        let n = 64;
        let z = random_slots(n, 3);
        for (cl, sl) in [(1, 1), (2, 3), (3, 2), (6, 6)] {
            let cts = coeff_to_slot_maps(n, cl);
            let stc = slot_to_coeff_maps(n, sl);
            let back = apply_all(&stc, &apply_all(&cts, &z));
            let err = back
                .iter()
                .zip(&z)
                .map(|(a, b)| (a - b).norm())
                .fold(0.0, f64::max);
            assert!(err < 1e-12, "levels {cl}/{sl}: {err}");
        }
        // A merged level of r stages has at most 2^{r+1} - 1 diagonals.
        for m in coeff_to_slot_maps(n, 2) {
            assert!(m.diags.len() <= 15, "{}", m.diags.len());
        }
    }

    /// The halves trick on plain slots: `split_halves` then `A + conj(A)` puts the real parts
    /// of the map's result in the first half of each 2n slots and the imaginary parts in the
    /// second; `join_halves` on that real vector gives the map of the complex one.
    #[test]
    fn halves_pack_real_and_imaginary_parts_into_one_real_vector() {
        let n = 16;
        let x = random_slots(n, 5);
        let x2: Vec<Complex64> = (0..2 * n).map(|q| x[q % n]).collect();
        let map = &coeff_to_slot_maps(n, 2)[1];
        let w = map.apply_plain(&x);
        let a = split_halves(map).apply_plain(&x2);
        for q in 0..2 * n {
            let t = a[q] + a[q].conj();
            let want = if q < n {
                2.0 * w[q].re
            } else {
                2.0 * w[q - n].im
            };
            assert!((t.re - want).abs() < 1e-12 && t.im.abs() < 1e-12, "{q}");
        }
        // y: real, the real parts of some z first, the imaginary parts second.
        let z = random_slots(n, 6);
        let y: Vec<Complex64> = (0..2 * n)
            .map(|q| Complex64::new(if q < n { z[q].re } else { z[q - n].im }, 0.0))
            .collect();
        let stc = &slot_to_coeff_maps(n, 2)[0];
        let want = stc.apply_plain(&z);
        let got = join_halves(stc).apply_plain(&y);
        for q in 0..2 * n {
            assert!((got[q] - want[q % n]).norm() < 1e-12, "{q}");
        }
    }

    #[test]
    fn bsgs_split_covers_every_diagonal_once() {
        let n = 256;
        for m in coeff_to_slot_maps(n, 3) {
            let b = BsgsLevel::new(&m);
            let terms: usize = b.giants.iter().map(|(_, t)| t.len()).sum();
            assert_eq!(terms, m.diags.len());
            assert!(b.babies.len() + b.giants.len() <= m.diags.len().max(4));
        }
    }
}
