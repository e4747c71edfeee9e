//! Word-sized modular arithmetic for primes below 2^50: generic helpers, Shoup
//! multiplication by precomputed constants, and slice kernels compiled for AVX-512/AVX2
//! when the CPU has them (the crate is built for baseline x86-64, so the plain loops alone
//! would not vectorize the unsigned compares).

/// Scalar `a * b mod p` and `a^e mod p` for setup code (the prime generation's own).
pub use hel_schedule::primes::{mul_mod, pow_mod};

/// Inverse modulo a prime `p` (Fermat); `a` must be nonzero mod `p`.
pub fn inv_mod(a: u64, p: u64) -> u64 {
    pow_mod(a, p - 2, p)
}

/// Reduces a signed integer into `[0, p)`.
///
/// Encoding and sampling reduce every coefficient into every prime, mostly values smaller
/// than the prime: those need no division at all, and the rest a 64-bit one. (An `i128`
/// remainder is a software division, which was 4% of `hel train`'s client time.)
#[inline]
pub fn from_signed(v: i64, p: u64) -> u64 {
    let m = v.unsigned_abs();
    if m < p {
        return if v < 0 { p - m } else { m };
    }
    match i64::try_from(p) {
        Ok(q) => v.rem_euclid(q) as u64,
        Err(_) => (v as i128).rem_euclid(p as i128) as u64,
    }
}

/// A constant `w < p` with its Shoup companions `floor(w * 2^64 / p)` (scalar path) and
/// `floor(w * 2^52 / p)` (AVX-512 IFMA path, 52-bit multipliers): multiplying `x` by `w` mod
/// `p` then costs two multiplications and no division.
#[derive(Clone, Copy, Debug)]
pub struct Shoup {
    /// The constant, in `[0, p)`.
    pub w: u64,
    /// `floor(w * 2^64 / p)`.
    pub ws: u64,
    /// `floor(w * 2^52 / p)`.
    pub ws52: u64,
}

impl Shoup {
    /// Precomputes the companions of `w mod p`.
    pub fn new(w: u64, p: u64) -> Self {
        let w = w % p;
        Shoup {
            w,
            ws: (((w as u128) << 64) / p as u128) as u64,
            ws52: (((w as u128) << 52) / p as u128) as u64,
        }
    }

    /// `x * w mod p` for any `x < 2^64`, fully reduced.
    #[inline(always)]
    pub fn mul(self, x: u64, p: u64) -> u64 {
        let r = self.mul_lazy(x, p);
        r.min(r.wrapping_sub(p))
    }

    /// `x * w mod p` in `[0, 2p)`.
    #[inline(always)]
    pub fn mul_lazy(self, x: u64, p: u64) -> u64 {
        let q = ((x as u128 * self.ws as u128) >> 64) as u64;
        x.wrapping_mul(self.w).wrapping_sub(q.wrapping_mul(p))
    }
}

/// Defines a slice kernel with an AVX-512 and an AVX2 clone chosen at run time; the body is
/// written once as an `#[inline(always)]` closure-like function so LLVM vectorizes it with
/// the wider target features.
macro_rules! simd_kernel {
    ($(#[$doc:meta])* $name:ident ($($arg:ident : $ty:ty),*) $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2")]
                unsafe fn v4($($arg: $ty),*) { body($($arg),*) }
                #[target_feature(enable = "avx2")]
                unsafe fn v3($($arg: $ty),*) { body($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                {
                    // SAFETY: the required CPU features were detected just above.
                    unsafe { v4($($arg),*) };
                    return;
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the required CPU feature was detected just above.
                    unsafe { v3($($arg),*) };
                    return;
                }
            }
            body($($arg),*)
        }
    };
}

simd_kernel!(
    /// `a[i] = (a[i] + b[i]) mod p` for reduced inputs.
    add_assign(a: &mut [u64], b: &[u64], p: u64) {
        for (x, &y) in a.iter_mut().zip(b) {
            let s = *x + y;
            *x = s.min(s.wrapping_sub(p));
        }
    }
);

simd_kernel!(
    /// `a[i] = (a[i] - b[i]) mod p` for reduced inputs.
    sub_assign(a: &mut [u64], b: &[u64], p: u64) {
        for (x, &y) in a.iter_mut().zip(b) {
            let d = x.wrapping_sub(y);
            *x = d.min(d.wrapping_add(p));
        }
    }
);

simd_kernel!(
    /// `a[i] = -a[i] mod p` for reduced inputs.
    neg_assign(a: &mut [u64], p: u64) {
        for x in a.iter_mut() {
            let d = p - *x;
            *x = if d == p { 0 } else { d };
        }
    }
);

simd_kernel!(
    /// `a[i] = (a[i] + c) mod p` for reduced inputs and `c < p`.
    add_scalar_assign(a: &mut [u64], c: u64, p: u64) {
        for x in a.iter_mut() {
            let s = *x + c;
            *x = s.min(s.wrapping_sub(p));
        }
    }
);

/// Whether the AVX-512 IFMA kernels can run (checked once; cached by std).
#[inline]
fn has_ifma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

simd_kernel!(
    /// `acc[i] += y[i] · inv` in f64 (finding the multiple of Q added by base conversion).
    accumulate_ratio(acc: &mut [f64], y: &[u64], inv: f64) {
        for (a, &v) in acc.iter_mut().zip(y) {
            *a += v as f64 * inv;
        }
    }
);

simd_kernel!(
    /// `out[i] = round(acc[i])` for small non-negative values.
    round_to_u64(out: &mut [u64], acc: &[f64]) {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = a.round() as u64;
        }
    }
);

/// `a[i] = a[i] * w mod p` with a Shoup constant (inputs below 2^52 on the IFMA path, any
/// 64-bit input on the scalar path; every prime here is below 2^50).
pub fn mul_shoup_assign(a: &mut [u64], w: Shoup, p: u64) {
    #[cfg(target_arch = "x86_64")]
    if has_ifma() {
        // SAFETY: avx512f and avx512ifma were detected at run time.
        unsafe { ifma::mul_shoup_assign(a, w, p) };
        return;
    }
    for x in a.iter_mut() {
        *x = w.mul(*x, p);
    }
}

/// `out[k] = Σ_s ys[s][k]·ws[s] mod t`, fully reduced: the fast base conversion kernel.
/// Inputs are residues of primes below 2^50 (or small multiples), so below 2^52.
pub fn lincomb(out: &mut [u64], ys: &[&[u64]], ws: &[Shoup], t: u64) {
    #[cfg(target_arch = "x86_64")]
    if has_ifma() {
        // SAFETY: avx512f and avx512ifma were detected at run time.
        unsafe { ifma::lincomb(out, ys, ws, t) };
        return;
    }
    out.fill(0);
    for (y, w) in ys.iter().zip(ws) {
        for (o, &v) in out.iter_mut().zip(y.iter()) {
            let s = *o + w.mul(v, t);
            *o = s.min(s.wrapping_sub(t));
        }
    }
}

/// `out[k] = (Σ_s ys[s][k]·ws[s] + bits[k]·c) mod t` where every `bits[k]` is 0 or 1 and
/// `c < t`: base conversion of a one-prime digit, whose centering correction is a single bit,
/// so it needs a masked add instead of a third multiplication.
pub fn lincomb_plus_bit(
    out: &mut [u64],
    ys: &[&[u64]],
    ws: &[Shoup],
    bits: &[u64],
    c: Shoup,
    t: u64,
) {
    #[cfg(target_arch = "x86_64")]
    if has_ifma() {
        // SAFETY: avx512f and avx512ifma were detected at run time.
        unsafe { ifma::lincomb_plus_bit(out, ys, ws, bits, c.w, t) };
        return;
    }
    let mut srcs = ys.to_vec();
    srcs.push(bits);
    let mut all = ws.to_vec();
    all.push(c);
    lincomb(out, &srcs, &all, t);
}

/// `out[k] = src[perm[k]]` (a Galois automorphism in NTT form), with AVX-512 gathers when
/// available: the scalar loop is latency-bound on random L2 reads.
pub fn gather(out: &mut [u64], src: &[u64], perm: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && perm.len() == out.len()
        && perm.iter().all(|&k| (k as usize) < src.len())
    {
        // SAFETY: avx512f was detected and every index is in bounds of `src`.
        unsafe { ifma::gather(out, src, perm) };
        return;
    }
    for (o, &k) in out.iter_mut().zip(perm) {
        *o = src[k as usize];
    }
}

/// AVX-512 IFMA kernels: 52-bit Shoup multiplication, 8 lanes at a time.
#[cfg(target_arch = "x86_64")]
mod ifma {
    use super::Shoup;
    use std::arch::x86_64::*;

    const MASK52: i64 = (1 << 52) - 1;

    /// `x * w mod p` in [0, p) for 8 lanes with x < 2^52.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn shoup(x: __m512i, w: __m512i, ws: __m512i, p: __m512i) -> __m512i {
        let z = _mm512_setzero_si512();
        let q = _mm512_madd52hi_epu64(z, x, ws);
        let xw = _mm512_madd52lo_epu64(z, x, w);
        let qp = _mm512_madd52lo_epu64(z, q, p);
        let r = _mm512_and_si512(_mm512_sub_epi64(xw, qp), _mm512_set1_epi64(MASK52));
        _mm512_min_epu64(r, _mm512_sub_epi64(r, p))
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn mul_shoup_assign(a: &mut [u64], w: Shoup, p: u64) {
        let (vw, vws, vp) = (
            _mm512_set1_epi64(w.w as i64),
            _mm512_set1_epi64(w.ws52 as i64),
            _mm512_set1_epi64(p as i64),
        );
        let mut chunks = a.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: c holds exactly 8 u64; unaligned loads/stores.
            unsafe {
                let x = _mm512_loadu_si512(c.as_ptr().cast());
                _mm512_storeu_si512(c.as_mut_ptr().cast(), shoup(x, vw, vws, vp));
            }
        }
        for x in chunks.into_remainder() {
            *x = w.mul(*x, p);
        }
    }

    /// Caller guarantees `bits[k] ∈ {0, 1}` and `c < t`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn lincomb_plus_bit(
        out: &mut [u64],
        ys: &[&[u64]],
        ws: &[Shoup],
        bits: &[u64],
        c: u64,
        t: u64,
    ) {
        let vp = _mm512_set1_epi64(t as i64);
        let vc = _mm512_set1_epi64(c as i64);
        let z = _mm512_setzero_si512();
        let n = out.len() / 8 * 8;
        for k in (0..n).step_by(8) {
            // SAFETY: k + 8 <= n <= bits.len().
            let b = unsafe { _mm512_loadu_si512(bits[k..k + 8].as_ptr().cast()) };
            // b·c < t exactly (b is a bit), so the low 52 bits are the product.
            let mut acc = _mm512_madd52lo_epu64(z, b, vc);
            for (y, w) in ys.iter().zip(ws) {
                // SAFETY: k + 8 <= n <= y.len().
                let x = unsafe { _mm512_loadu_si512(y[k..k + 8].as_ptr().cast()) };
                let r = shoup(
                    x,
                    _mm512_set1_epi64(w.w as i64),
                    _mm512_set1_epi64(w.ws52 as i64),
                    vp,
                );
                let s = _mm512_add_epi64(acc, r);
                acc = _mm512_min_epu64(s, _mm512_sub_epi64(s, vp));
            }
            // SAFETY: out[k..k + 8] is in bounds.
            unsafe { _mm512_storeu_si512(out[k..k + 8].as_mut_ptr().cast(), acc) };
        }
        for k in n..out.len() {
            let mut acc = bits[k] * c;
            for (y, w) in ys.iter().zip(ws) {
                let s = acc + w.mul(y[k], t);
                acc = s.min(s.wrapping_sub(t));
            }
            out[k] = acc;
        }
    }

    /// Caller guarantees `perm.len() == out.len()` and every `perm[k] < src.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gather(out: &mut [u64], src: &[u64], perm: &[u32]) {
        let n = out.len() / 8 * 8;
        for k in (0..n).step_by(8) {
            // SAFETY: k + 8 <= n; the indices are in bounds of `src` (caller contract).
            unsafe {
                let idx = _mm256_loadu_si256(perm[k..k + 8].as_ptr().cast());
                let v = _mm512_i32gather_epi64::<8>(idx, src.as_ptr().cast());
                _mm512_storeu_si512(out[k..k + 8].as_mut_ptr().cast(), v);
            }
        }
        for k in n..out.len() {
            out[k] = src[perm[k] as usize];
        }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn lincomb(out: &mut [u64], ys: &[&[u64]], ws: &[Shoup], t: u64) {
        let vp = _mm512_set1_epi64(t as i64);
        let n = out.len() / 8 * 8;
        for k in (0..n).step_by(8) {
            let mut acc = _mm512_setzero_si512();
            for (y, w) in ys.iter().zip(ws) {
                // SAFETY: k + 8 <= n <= y.len() (all slices have the output's length).
                let x = unsafe { _mm512_loadu_si512(y[k..k + 8].as_ptr().cast()) };
                let r = shoup(
                    x,
                    _mm512_set1_epi64(w.w as i64),
                    _mm512_set1_epi64(w.ws52 as i64),
                    vp,
                );
                let s = _mm512_add_epi64(acc, r);
                acc = _mm512_min_epu64(s, _mm512_sub_epi64(s, vp));
            }
            // SAFETY: out[k..k + 8] is in bounds.
            unsafe { _mm512_storeu_si512(out[k..k + 8].as_mut_ptr().cast(), acc) };
        }
        for k in n..out.len() {
            let mut acc = 0u64;
            for (y, w) in ys.iter().zip(ws) {
                let s = acc + w.mul(y[k], t);
                acc = s.min(s.wrapping_sub(t));
            }
            out[k] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shoup_matches_u128() {
        let p = (1u64 << 49) - 0x1_2345;
        for &(x, w) in &[
            (u64::MAX, p - 1),
            (12345, 678),
            (p - 1, p - 1),
            (1 << 63, 3),
        ] {
            assert_eq!(Shoup::new(w, p).mul(x, p), mul_mod(x % p, w, p));
        }
    }

    #[test]
    fn simd_shoup_kernels_match_scalar() {
        let p = (1u64 << 49) - 0x1_2345;
        let t = (1u64 << 35) - 0x777;
        let xs: Vec<u64> = (0..37u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % p)
            .collect();
        let ys: Vec<u64> = (0..37u64)
            .map(|i| i.wrapping_mul(0x5851_F42D_4C95_7F2D) % p)
            .collect();
        let w = Shoup::new(0xDEAD_BEEF_1234 % p, p);
        let mut a = xs.clone();
        mul_shoup_assign(&mut a, w, p);
        for (r, &x) in a.iter().zip(&xs) {
            assert_eq!(*r, mul_mod(x, w.w, p));
        }
        let bits: Vec<u64> = (0..37u64).map(|i| (i * 7 / 3) % 2).collect();
        let c = Shoup::new(t - 5, t);
        let mut out = vec![0u64; xs.len()];
        lincomb_plus_bit(&mut out, &[&xs], &[Shoup::new(99_999, t)], &bits, c, t);
        for k in 0..xs.len() {
            assert_eq!(out[k], (mul_mod(xs[k] % t, 99_999, t) + bits[k] * c.w) % t);
        }
        let ws = [Shoup::new(123_456_789, t), Shoup::new(t - 1, t)];
        let mut out = vec![0u64; xs.len()];
        lincomb(&mut out, &[&xs, &ys], &ws, t);
        for k in 0..xs.len() {
            let want = (mul_mod(xs[k] % t, ws[0].w, t) + mul_mod(ys[k] % t, ws[1].w, t)) % t;
            assert_eq!(out[k], want);
        }
    }

    #[test]
    fn from_signed_matches_the_i128_remainder() {
        let ps = [97, (1u64 << 49) - 0x1_2345, (1 << 62) - 57, u64::MAX - 58];
        let vs = [
            0,
            1,
            -1,
            96,
            -96,
            97,
            -97,
            1 << 50,
            -(1 << 50),
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        for &p in &ps {
            for &v in &vs {
                let want = (v as i128).rem_euclid(p as i128) as u64;
                assert_eq!(from_signed(v, p), want, "{v} mod {p}");
            }
        }
    }

    #[test]
    fn kernels_reduce() {
        let p = 97;
        let mut a = vec![96u64, 0, 50, 3];
        add_assign(&mut a, &[1, 0, 50, 96], p);
        assert_eq!(a, vec![0, 0, 3, 2]);
        sub_assign(&mut a, &[1, 0, 4, 2], p);
        assert_eq!(a, vec![96, 0, 96, 0]);
        neg_assign(&mut a, p);
        assert_eq!(a, vec![1, 0, 1, 0]);
    }
}
