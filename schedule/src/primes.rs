//! Deterministic generation of NTT-friendly primes `p ≡ 1 (mod 2N)` from bit sizes, so that a
//! parameter description needs only bit sizes and still names one exact modulus chain.

use crate::params::ParamsError;

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

/// Largest prime size accepted: primes below 2^50 take tfhe-ntt's AVX-512 IFMA path, which is
/// ~1.8x faster than the 52..62-bit path.
pub const MAX_PRIME_BITS: u32 = 50;

/// Deterministic Miller–Rabin for all 64-bit integers (the first twelve prime bases suffice).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for &b in &BASES {
        if n.is_multiple_of(b) {
            return n == b;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for &a in &BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// For every entry of `bits`, the largest prime `p < 2^bits` with `p ≡ 1 (mod 2^(log_n+1))`
/// that is not already taken by an earlier entry. Same input, same primes: the chain is a
/// pure function of the bit sizes.
pub fn generate_primes(log_n: u32, bits: &[u32]) -> Result<Vec<u64>, ParamsError> {
    let two_n = 1u64 << (log_n + 1);
    let mut out: Vec<u64> = Vec::with_capacity(bits.len());
    for &b in bits {
        if b > MAX_PRIME_BITS || b < log_n + 3 {
            return Err(ParamsError::Invalid(format!(
                "prime size {b} bits outside [{}, {MAX_PRIME_BITS}] for N = 2^{log_n}",
                log_n + 3
            )));
        }
        let top = 1u64 << b;
        let mut p = ((top - 1) / two_n) * two_n + 1;
        if p >= top {
            p -= two_n;
        }
        let lower = 1u64 << (b - 1);
        loop {
            if p < lower {
                return Err(ParamsError::Invalid(format!(
                    "not enough {b}-bit primes p = 1 mod 2N for N = 2^{log_n}"
                )));
            }
            if is_prime(p) && !out.contains(&p) {
                out.push(p);
                break;
            }
            p -= two_n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_distinct_ntt_friendly_and_small() {
        let ps = generate_primes(13, &[50, 40, 40, 40, 50]).unwrap();
        for (i, &p) in ps.iter().enumerate() {
            assert!(is_prime(p));
            assert_eq!(p % (1 << 14), 1);
            assert!(p < 1 << 50);
            assert!(!ps[..i].contains(&p));
        }
    }

    #[test]
    fn miller_rabin_known_values() {
        assert!(is_prime(1_152_921_504_606_846_883)); // 2^60 - 93
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to 2,3,5,7
        assert!(!is_prime(1));
    }
}
