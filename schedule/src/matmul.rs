//! The dense f64 matrix product of the client's derived inputs and of the compiler's tensor
//! interpreter: the flagship's Grams (1024 x 197 x 1024, 0.4 GFlop each) are computed by the
//! client, by every simulation of a schedule and by every sample run of the compiler.
//!
//! Every entry sums its products in order of the inner index, whatever the blocking, the
//! thread count or the vector width, so the result is the same bit for bit on every machine
//! (no fused multiply-add: Rust never contracts `x * y + z`). Register blocks of 4 rows by 8
//! columns keep the partial sums in registers; AVX-512 or AVX2 clones of the block are chosen
//! at run time (3x the generic build's speed on AVX-512; the same results).

use rayon::prelude::*;

/// Rows per register block.
const RB: usize = 4;
/// Columns per register block.
const CB: usize = 8;

/// `a` (`r` x `k`) times `b` (`k` x `c`), all row-major; rows in parallel.
pub fn matmul(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    debug_assert!(a.len() == r * k && b.len() == k * c);
    let mut out = vec![0.0; r * c];
    if c == 0 {
        return out;
    }
    let m = Operands { a, b, k, c };
    out.par_chunks_mut(RB * c)
        .enumerate()
        .for_each(|(blk, rows)| {
            let i0 = blk * RB;
            let nr = rows.len() / c;
            let mut j0 = 0;
            while j0 < c {
                let nc = CB.min(c - j0);
                if nr == RB && nc == CB {
                    let acc = block(&m, i0, j0);
                    for (ii, sums) in acc.iter().enumerate() {
                        rows[ii * c + j0..ii * c + j0 + CB].copy_from_slice(sums);
                    }
                } else {
                    for ii in 0..nr {
                        for jj in j0..j0 + nc {
                            let mut s = 0.0;
                            for l in 0..k {
                                s += a[(i0 + ii) * k + l] * b[l * c + jj];
                            }
                            rows[ii * c + jj] = s;
                        }
                    }
                }
                j0 += nc;
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

/// Sums of one register block.
type Block = [[f64; CB]; RB];

/// The sums of rows `i0..i0 + RB` by columns `j0..j0 + CB`, in the widest vector unit the CPU
/// has.
fn block(m: &Operands, i0: usize, j0: usize) -> Block {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2")]
        unsafe fn v4(m: &Operands, i0: usize, j0: usize) -> Block {
            block_body(m, i0, j0)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn v3(m: &Operands, i0: usize, j0: usize) -> Block {
            block_body(m, i0, j0)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the required CPU features were detected just above.
            return unsafe { v4(m, i0, j0) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the required CPU feature was detected just above.
            return unsafe { v3(m, i0, j0) };
        }
    }
    block_body(m, i0, j0)
}

#[inline(always)]
fn block_body(m: &Operands, i0: usize, j0: usize) -> Block {
    let (k, c) = (m.k, m.c);
    let mut acc = [[0.0f64; CB]; RB];
    for l in 0..k {
        let row = &m.b[l * c + j0..l * c + j0 + CB];
        for (ii, sums) in acc.iter_mut().enumerate() {
            let x = m.a[(i0 + ii) * k + l];
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
        for (r, k, c) in [(1, 1, 1), (5, 3, 9), (8, 17, 16), (13, 7, 30), (4, 0, 8)] {
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
