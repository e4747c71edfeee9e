//! Word-sized modular arithmetic for primes below 2^50: generic helpers, Shoup
//! multiplication by precomputed constants, and slice kernels compiled for AVX-512/AVX2
//! when the CPU has them (the crate is built for baseline x86-64, so the plain loops alone
//! would not vectorize the unsigned compares).

/// `a * b mod p` through a 128-bit product; for setup code, not hot loops.
#[inline]
pub fn mul_mod(a: u64, b: u64, p: u64) -> u64 {
    ((a as u128 * b as u128) % p as u128) as u64
}

/// `a^e mod p` by square-and-multiply.
pub fn pow_mod(mut a: u64, mut e: u64, p: u64) -> u64 {
    let mut r = 1 % p;
    a %= p;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, a, p);
        }
        a = mul_mod(a, a, p);
        e >>= 1;
    }
    r
}

/// Inverse modulo a prime `p` (Fermat); `a` must be nonzero mod `p`.
pub fn inv_mod(a: u64, p: u64) -> u64 {
    pow_mod(a, p - 2, p)
}

/// Reduces a signed integer into `[0, p)`.
#[inline]
pub fn from_signed(v: i64, p: u64) -> u64 {
    let r = (v as i128).rem_euclid(p as i128);
    r as u64
}

/// A constant `w < p` with its Shoup companion `floor(w * 2^64 / p)`: multiplying any
/// 64-bit `x` by `w` mod `p` then costs two multiplications and no division.
#[derive(Clone, Copy, Debug)]
pub struct Shoup {
    /// The constant, in `[0, p)`.
    pub w: u64,
    /// `floor(w * 2^64 / p)`.
    pub ws: u64,
}

impl Shoup {
    /// Precomputes the companion of `w mod p`.
    pub fn new(w: u64, p: u64) -> Self {
        let w = w % p;
        Shoup {
            w,
            ws: (((w as u128) << 64) / p as u128) as u64,
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

/// `a[i] = a[i] * w mod p` with a Shoup constant.
pub fn mul_shoup_assign(a: &mut [u64], w: Shoup, p: u64) {
    for x in a.iter_mut() {
        *x = w.mul(*x, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shoup_matches_u128() {
        let p = (1u64 << 49) - 0x1_2345;
        for &(x, w) in &[(u64::MAX, p - 1), (12345, 678), (p - 1, p - 1), (1 << 63, 3)] {
            assert_eq!(Shoup::new(w, p).mul(x, p), mul_mod(x % p, w, p));
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
