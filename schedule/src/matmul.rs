//! The dense f64 matrix product of the client's derived inputs and of the compiler's tensor
//! interpreter: the flagship's Grams (1024 x 197 x 1024, 0.4 GFlop each) are computed by the
//! client, by every simulation of a schedule and by every sample run of the compiler.
//!
//! Every entry sums its products in order of the inner index, whatever the blocking, the
//! thread count or the vector width, so the result is the same bit for bit on every machine
//! (no fused multiply-add: Rust never contracts `x * y + z`). Register blocks of 8 rows by 8
//! columns keep the partial sums in registers; AVX-512 or AVX2 clones of the block are chosen
//! at run time (the same results as the generic build).

use rayon::prelude::*;

/// Rows per register block.
const RB: usize = 8;
/// Columns per register block (one AVX-512 vector of f64).
const CB: usize = 8;
/// Rows per parallel task: a task sweeps every column panel of the right factor over its rows,
/// so each panel is read from memory once per task instead of once per register block.
const MC: usize = 64;

/// `a` (`r` x `k`) times `b` (`k` x `c`), all row-major; rows in parallel.
///
/// The full `CB`-column panels of `b` are first copied contiguous (`k` x `CB` each), so a
/// register block streams its panel sequentially; 8 x 8 blocks keep eight independent vector
/// sums in flight. Measured on the development machine (1024 x 197 x 1024, the flagship's
/// Gram): 16 GFlop/s per thread with 4 x 8 blocks over the unpacked matrix, 48 now.
pub fn matmul(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    debug_assert!(a.len() == r * k && b.len() == k * c);
    let mut out = vec![0.0; r * c];
    if c == 0 {
        return out;
    }
    let panels = c / CB;
    let mut packed = vec![0.0; panels * k * CB];
    if k > 0 {
        packed
            .par_chunks_mut(k * CB)
            .enumerate()
            .for_each(|(p, dst)| {
                for (l, d) in dst.chunks_exact_mut(CB).enumerate() {
                    d.copy_from_slice(&b[l * c + p * CB..l * c + (p + 1) * CB]);
                }
            });
    }
    let m = Operands { a, b, k, c };
    out.par_chunks_mut(MC * c)
        .enumerate()
        .for_each(|(task, rows)| {
            let r0 = task * MC;
            let nr = rows.len() / c;
            for p in 0..panels {
                let panel = &packed[p * k * CB..(p + 1) * k * CB];
                let j0 = p * CB;
                let mut i = 0;
                while i + RB <= nr {
                    let acc = block(&a[(r0 + i) * k..(r0 + i + RB) * k], panel, k);
                    for (ii, sums) in acc.iter().enumerate() {
                        let at = (i + ii) * c + j0;
                        rows[at..at + CB].copy_from_slice(sums);
                    }
                    i += RB;
                }
                for ii in i..nr {
                    for jj in 0..CB {
                        rows[ii * c + j0 + jj] = m.entry(r0 + ii, j0 + jj);
                    }
                }
            }
            for ii in 0..nr {
                for jj in panels * CB..c {
                    rows[ii * c + jj] = m.entry(r0 + ii, jj);
                }
            }
        });
    out
}

/// The factors of a product: `a` has `k` columns, `b` is `k` x `c`.
struct Operands<'a> {
    a: &'a [f64],
    b: &'a [f64],
    k: usize,
    c: usize,
}

impl Operands<'_> {
    /// Entry `(i, j)` of the product, summed in order of the inner index like every block.
    fn entry(&self, i: usize, j: usize) -> f64 {
        let mut s = 0.0;
        for l in 0..self.k {
            s += self.a[i * self.k + l] * self.b[l * self.c + j];
        }
        s
    }
}

/// Sums of one register block.
type Block = [[f64; CB]; RB];

/// The sums of the `RB` rows of `a` (each `k` long) by the `CB` columns of `panel` (`k` x `CB`,
/// contiguous), in the widest vector unit the CPU has.
fn block(a: &[f64], panel: &[f64], k: usize) -> Block {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2")]
        unsafe fn v4(a: &[f64], panel: &[f64], k: usize) -> Block {
            block_body(a, panel, k)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn v3(a: &[f64], panel: &[f64], k: usize) -> Block {
            block_body(a, panel, k)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the required CPU features were detected just above.
            return unsafe { v4(a, panel, k) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the required CPU feature was detected just above.
            return unsafe { v3(a, panel, k) };
        }
    }
    block_body(a, panel, k)
}

#[inline(always)]
fn block_body(a: &[f64], panel: &[f64], k: usize) -> Block {
    let mut acc = [[0.0f64; CB]; RB];
    let a = &a[..RB * k];
    for (l, row) in panel.chunks_exact(CB).enumerate() {
        for (ii, sums) in acc.iter_mut().enumerate() {
            let x = a[ii * k + l];
            for (s, y) in sums.iter_mut().zip(row) {
                *s += x * y;
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked product equals the textbook triple loop bit for bit (same order of every
    /// sum), on shapes with partial blocks in both directions.
    #[test]
    fn blocked_product_is_the_plain_one() {
        for (r, k, c) in [
            (1, 1, 1),
            (5, 3, 9),
            (8, 17, 16),
            (13, 7, 30),
            (4, 0, 8),
            (70, 9, 27),
            (131, 5, 8),
        ] {
            let a: Vec<f64> = (0..r * k)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
                .collect();
            let b: Vec<f64> = (0..k * c)
                .map(|i| ((i * 53 % 97) as f64 - 48.0) / 3.0)
                .collect();
            let mut want = vec![0.0; r * c];
            for i in 0..r {
                for j in 0..c {
                    for l in 0..k {
                        want[i * c + j] += a[i * k + l] * b[l * c + j];
                    }
                }
            }
            assert_eq!(matmul(&a, &b, r, k, c), want, "{r} x {k} x {c}");
        }
    }
}
