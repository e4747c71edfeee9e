//! RNS polynomials: one 64-byte aligned buffer per polynomial holding its limbs (residues
//! modulo each prime of a basis) back to back, and the limb-parallel ring operations.
//!
//! A basis is a list of indices into [`Context::moduli`]: `0..=level` for ciphertexts,
//! `0..=level` followed by the special primes for key-switching intermediates.

use std::sync::Mutex;

use aligned_vec::{AVec, RuntimeAlign};
use rayon::prelude::*;

use super::context::Context;
use super::modarith::{self, from_signed};

/// Aligned coefficient storage: 64 bytes (the IFMA kernels' vectors), 2 MiB for buffers of
/// at least that size (see [`fresh_buf`]).
pub(crate) type Buf = AVec<u64, RuntimeAlign>;

/// Recycled limb buffers. Every operation allocates megabytes of temporaries; fresh large
/// allocations are served by mmap, so each one page-faults and zeroes its pages again, which
/// cost ~40% of a key switch. Buffers are returned here on drop, up to [`POOL_MAX_BYTES`].
static POOL: Mutex<Vec<Buf>> = Mutex::new(Vec::new());
/// Upper bound on the idle memory the pool keeps (on top of what is live): 2 GiB holds a
/// full-slot bootstrap's working set at N = 2^16 (the baby rotations of one DFT level over
/// the extended basis alone are ~500 MB); with 256 MB it measured ~10% slower.
pub(crate) const POOL_MAX_BYTES: usize = 2 << 30;

fn take_buf(len: usize) -> Buf {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    // The smallest buffer that holds `len` words with at most a quarter to spare (the
    // latest returned among equals): sizes shift by a limb at every rescale, so an exact
    // match would miss a level's buffers from the level above.
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.capacity() >= len && b.capacity() <= len + len / 4)
        .min_by_key(|&(i, b)| (b.capacity(), usize::MAX - i))
        .map(|(i, _)| i);
    match best {
        Some(i) => {
            let mut data = pool.swap_remove(i);
            drop(pool);
            data.resize(len, 0);
            data
        }
        None => {
            drop(pool);
            let mut data = fresh_buf(len);
            data.resize(len, 0);
            data
        }
    }
}

/// Size of a transparent huge page on x86-64 (and most aarch64 kernels).
const HUGE_PAGE: usize = 2 << 20;

/// A new buffer for `len` words. Buffers of a huge page or more are aligned to one and
/// advised to the kernel as huge-page backed (where transparent huge pages are in `madvise`
/// mode, the common default): every fresh 4 KiB page costs a fault and a clear, ~9 µs on this
/// project's virtual machine, and the temporaries a bootstrap allocates beyond the pool made
/// that a fifth of its time (N = 2^16, one thread: 11.1 -> 8.6 s with huge pages). Where the
/// kernel does not do huge pages the advice is a no-op.
fn fresh_buf(len: usize) -> Buf {
    if len * 8 < HUGE_PAGE {
        return Buf::with_capacity(64, len);
    }
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut data = Buf::with_capacity(HUGE_PAGE, len);
    #[cfg(target_os = "linux")]
    {
        let bytes = (data.capacity() * 8) & !(HUGE_PAGE - 1);
        // SAFETY: `[ptr, ptr + bytes)` lies inside the allocation just made (aligned to a huge
        // page, the length rounded down to whole huge pages); the advice changes only how the
        // kernel backs those pages, not their contents or validity. A failure is harmless.
        unsafe {
            libc::madvise(data.as_mut_ptr().cast(), bytes, libc::MADV_HUGEPAGE);
        }
    }
    data
}

fn give_buf(buf: Buf) {
    if buf.capacity() == 0 || buf.capacity() * 8 > POOL_MAX_BYTES {
        return;
    }
    let mut evicted = Vec::new();
    {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let mut held: usize = pool.iter().map(|b| b.capacity() * 8).sum();
        // Oldest buffers go first: the sizes in use change with the level.
        while held + buf.capacity() * 8 > POOL_MAX_BYTES && !pool.is_empty() {
            let old = pool.remove(0);
            held -= old.capacity() * 8;
            evicted.push(old);
        }
        pool.push(buf);
    }
    drop(evicted);
}

/// A polynomial in RNS form: `num_limbs` limbs of `n` residues each. Whether the limbs hold
/// coefficients or NTT values is tracked by the caller (ciphertexts are always in NTT form).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RnsPoly {
    n: usize,
    data: Buf,
}

impl Drop for RnsPoly {
    fn drop(&mut self) {
        give_buf(std::mem::replace(&mut self.data, Buf::new(64)));
    }
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        RnsPoly::from_flat(self.n, &self.data)
    }
}

impl RnsPoly {
    /// The zero polynomial with `limbs` limbs.
    pub fn zero(n: usize, limbs: usize) -> Self {
        let mut p = Self::scratch(n, limbs);
        p.data.fill(0);
        p
    }

    /// A polynomial with arbitrary (stale) contents, for buffers that are fully overwritten.
    pub fn scratch(n: usize, limbs: usize) -> Self {
        RnsPoly {
            n,
            data: take_buf(n * limbs),
        }
    }

    /// Builds a polynomial from limb data laid out back to back.
    pub fn from_flat(n: usize, values: &[u64]) -> Self {
        let mut p = Self::scratch(n, values.len() / n);
        p.data.copy_from_slice(values);
        p
    }

    pub fn num_limbs(&self) -> usize {
        self.data.len() / self.n
    }

    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    pub fn limbs(&self) -> std::slice::ChunksExact<'_, u64> {
        self.data.chunks_exact(self.n)
    }

    pub fn par_limbs(&self) -> rayon::slice::ChunksExact<'_, u64> {
        self.data.par_chunks_exact(self.n)
    }

    pub fn par_limbs_mut(&mut self) -> rayon::slice::ChunksExactMut<'_, u64> {
        self.data.par_chunks_exact_mut(self.n)
    }

    /// Keeps the first `limbs` limbs (dropping the last primes of the basis). Dropping a few
    /// limbs (a rescale) happens in place: the buffer keeps its capacity. Dropping more (a
    /// level drop of a fresh input to the bottom of the chain) copies into a buffer of the
    /// new size, so that a long-lived value does not pin memory it no longer uses.
    pub fn truncate(&mut self, limbs: usize) {
        let have = self.num_limbs();
        if limbs >= have {
            return;
        }
        if 4 * limbs >= 3 * have {
            self.data.truncate(limbs * self.n);
        } else {
            *self = self.prefix(limbs);
        }
    }

    /// A copy of the first `limbs` limbs.
    pub fn prefix(&self, limbs: usize) -> RnsPoly {
        RnsPoly::from_flat(self.n, &self.data[..limbs * self.n])
    }

    pub fn flat(&self) -> &[u64] {
        &self.data
    }
}

impl Context {
    /// Data-prime basis of a ciphertext at `level`.
    pub(crate) fn basis_q(&self, level: usize) -> Vec<usize> {
        (0..=level).collect()
    }

    /// Data primes up to `level` followed by all special primes.
    pub(crate) fn basis_qp(&self, level: usize) -> Vec<usize> {
        (0..=level)
            .chain(self.num_q..self.num_q + self.num_p)
            .collect()
    }

    /// Inverse NTT of every limb, scaled by n^-1 (tfhe-ntt's `inv` does not scale).
    pub(crate) fn intt(&self, poly: &mut RnsPoly, basis: &[usize]) {
        poly.par_limbs_mut()
            .zip(basis.par_iter())
            .for_each(|(limb, &j)| {
                self.plans[j].inv(limb);
                self.plans[j].normalize(limb);
            });
    }

    /// A polynomial with small signed coefficients, reduced into every prime of `basis` and
    /// transformed to NTT form.
    pub(crate) fn poly_from_signed(&self, coeffs: &[i64], basis: &[usize]) -> RnsPoly {
        self.poly_from_coeffs(coeffs, basis, from_signed)
    }

    /// A polynomial from coefficients of any kind: each is reduced into every prime of `basis`
    /// by `reduce(coefficient, prime)`, then each limb is transformed to NTT form.
    pub(crate) fn poly_from_coeffs<T: Copy + Sync>(
        &self,
        coeffs: &[T],
        basis: &[usize],
        reduce: impl Fn(T, u64) -> u64 + Sync,
    ) -> RnsPoly {
        let mut poly = RnsPoly::scratch(self.n, basis.len());
        poly.par_limbs_mut()
            .zip(basis.par_iter())
            .for_each(|(limb, &j)| {
                let p = self.moduli[j];
                // Coefficients past the end of `coeffs` are zero (the buffer is recycled).
                for (k, x) in limb.iter_mut().enumerate() {
                    *x = coeffs.get(k).map_or(0, |&c| reduce(c, p));
                }
                self.plans[j].fwd(limb);
            });
        poly
    }

    pub(crate) fn poly_add_assign(&self, a: &mut RnsPoly, b: &RnsPoly, basis: &[usize]) {
        a.par_limbs_mut()
            .zip(b.par_limbs())
            .zip(basis.par_iter())
            .for_each(|((x, y), &j)| modarith::add_assign(x, y, self.moduli[j]));
    }

    pub(crate) fn poly_sub_assign(&self, a: &mut RnsPoly, b: &RnsPoly, basis: &[usize]) {
        a.par_limbs_mut()
            .zip(b.par_limbs())
            .zip(basis.par_iter())
            .for_each(|((x, y), &j)| modarith::sub_assign(x, y, self.moduli[j]));
    }

    pub(crate) fn poly_neg_assign(&self, a: &mut RnsPoly, basis: &[usize]) {
        a.par_limbs_mut()
            .zip(basis.par_iter())
            .for_each(|(x, &j)| modarith::neg_assign(x, self.moduli[j]));
    }

    /// `acc += a ⊙ b` (NTT form), with tfhe-ntt's IFMA multiply-accumulate.
    pub(crate) fn mul_acc(&self, acc: &mut RnsPoly, a: &RnsPoly, b: &RnsPoly, basis: &[usize]) {
        acc.par_limbs_mut()
            .zip(a.par_limbs().zip(b.par_limbs()))
            .zip(basis.par_iter())
            .for_each(|((z, (x, y)), &j)| self.plans[j].mul_accumulate(z, x, y));
    }

    /// `a ⊙ b` (NTT form) as a new polynomial.
    pub(crate) fn mul(&self, a: &RnsPoly, b: &RnsPoly, basis: &[usize]) -> RnsPoly {
        let mut out = RnsPoly::zero(self.n, basis.len());
        self.mul_acc(&mut out, a, b, basis);
        out
    }

    /// Multiplies limb `i` by the constant `consts[i]` (already reduced per prime).
    pub(crate) fn mul_const_assign(&self, a: &mut RnsPoly, consts: &[u64], basis: &[usize]) {
        a.par_limbs_mut()
            .zip(basis.par_iter().zip(consts.par_iter()))
            .for_each(|(x, (&j, &c))| {
                let p = self.moduli[j];
                modarith::mul_shoup_assign(x, modarith::Shoup::new(c, p), p);
            });
    }

    /// Adds the constant `consts[i]` to every NTT value of limb `i` (a constant polynomial is
    /// the same value at every evaluation point).
    pub(crate) fn add_const_assign(&self, a: &mut RnsPoly, consts: &[u64], basis: &[usize]) {
        a.par_limbs_mut()
            .zip(basis.par_iter().zip(consts.par_iter()))
            .for_each(|(x, (&j, &c))| modarith::add_scalar_assign(x, c, self.moduli[j]));
    }

    /// Applies the Galois automorphism X -> X^g in NTT form, which is a permutation of the
    /// evaluation points (see [`Context::galois_permutation`]).
    pub(crate) fn permute(&self, a: &RnsPoly, perm: &[u32]) -> RnsPoly {
        let mut out = RnsPoly::scratch(self.n, a.num_limbs());
        out.par_limbs_mut()
            .zip(a.par_limbs())
            .for_each(|(o, x)| modarith::gather(o, x, perm));
        out
    }

    /// NTT-domain permutation of the automorphism X -> X^g: `out[k] = in[perm[k]]`.
    /// The evaluation point of NTT index k is ψ^{e_k}; `a(X^g)` at ψ^{e_k} is `a` at ψ^{e_k g}.
    pub(crate) fn galois_permutation(&self, g: usize) -> Vec<u32> {
        let two_n = 2 * self.n;
        self.ntt_exp
            .iter()
            .map(|&e| self.ntt_index_of_exp[((e as usize * g) % two_n) / 2])
            .collect()
    }
}
