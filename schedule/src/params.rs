//! Parameter descriptions: plain, serde-serializable data the compiler can build and inspect
//! without touching any cryptographic state. The runtime's CKKS context is built
//! from them.
//!
//! The chain: data primes `q_0..q_L` (q_0 first, rescaling removes the last one), special
//! primes `p_0..p_{K-1}` for hybrid key switching, `dnum` digits, and the scale `2^log_scale`.
//! Every prime is below 2^50 so all NTTs take tfhe-ntt's IFMA path.

use serde::{Deserialize, Serialize};

use thiserror::Error;

use crate::primes::{generate_primes, MAX_PRIME_BITS};

/// Why a parameter set is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParamsError {
    /// The description is malformed (bad sizes, too few primes, ...).
    #[error("invalid CKKS parameters: {0}")]
    Invalid(String),
    /// The parameters are below 128-bit classical security.
    #[error(
        "insecure CKKS parameters: log2(PQ) = {log_qp} bits exceeds the HomomorphicEncryption.org \
         128-bit bound of {max_log_qp} bits for N = 2^{log_n}"
    )]
    Insecure {
        /// log2 of the ring degree.
        log_n: u32,
        /// Total modulus bits, special primes included.
        log_qp: u32,
        /// Largest allowed total for this ring degree.
        max_log_qp: u32,
    },
}

type Result<T> = std::result::Result<T, ParamsError>;

/// Smallest and largest supported ring degrees (log2).
pub const MIN_LOG_N: u32 = 12;
/// See [`MIN_LOG_N`].
pub const MAX_LOG_N: u32 = 16;

/// Security level the parameters must meet.
///
/// Not a choice a file can make: whoever hands a data owner a `.helc` would otherwise choose
/// their security. Deserialization yields only [`Security::Classical128`] (a file that names
/// any other level is refused), and the test-only escape exists only with the `hel-schedule`
/// feature `insecure-test-params`, which the workspace enables for its own tests through
/// `[dev-dependencies]` (small deep rings keep the CKKS tests fast). Serialization keeps the
/// enum's encoding, so existing files read unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Security {
    /// 128-bit classical security for uniform ternary secrets (HomomorphicEncryption.org table).
    Classical128,
    /// No security check at all. Only for unit tests that need deep chains at small N; never
    /// produced by deserialization.
    #[cfg(feature = "insecure-test-params")]
    InsecureForTestingOnly,
}

impl Security {
    /// Bits of classical security the parameters are held to (0 for the test-only escape).
    pub fn bits(self) -> u32 {
        match self {
            Security::Classical128 => 128,
            #[cfg(feature = "insecure-test-params")]
            Security::InsecureForTestingOnly => 0,
        }
    }

    /// The name the text form of a schedule prints.
    pub fn name(self) -> &'static str {
        match self {
            Security::Classical128 => "classical-128",
            #[cfg(feature = "insecure-test-params")]
            Security::InsecureForTestingOnly => "insecure-testing-only",
        }
    }
}

/// What a file may say: both names, so that a file naming the test-only level is refused with
/// a message rather than an opaque decoding error (the variant order matches [`Security`]'s, so
/// the binary encoding is the same).
#[derive(Deserialize)]
enum SecurityInFile {
    Classical128,
    InsecureForTestingOnly,
}

impl<'de> Deserialize<'de> for Security {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match SecurityInFile::deserialize(d)? {
            SecurityInFile::Classical128 => Ok(Security::Classical128),
            SecurityInFile::InsecureForTestingOnly => Err(serde::de::Error::custom(
                "parameters read from a file are always held to the 128-bit security bound; \
                 `InsecureForTestingOnly` is refused",
            )),
        }
    }
}

/// Largest total modulus log2(PQ) (special primes included) that gives 128-bit classical
/// security with a uniform ternary secret, from the HomomorphicEncryption.org standard.
/// `None` for ring degrees outside 2^12..2^16.
pub fn max_log_qp_128(log_n: u32) -> Option<u32> {
    match log_n {
        12 => Some(109),
        13 => Some(218),
        14 => Some(438),
        15 => Some(881),
        16 => Some(1772),
        _ => None,
    }
}

/// How many modulus bits remain for data primes at 128-bit security once `special_bits` are
/// spent on the key-switching modulus P. `None` if the ring degree is unsupported or P alone
/// exceeds the budget.
pub fn data_bits_available(log_n: u32, special_bits: u32) -> Option<u32> {
    max_log_qp_128(log_n)?.checked_sub(special_bits)
}

/// A CKKS parameter set, by bit sizes; the primes are derived deterministically from them
/// ([`CkksParams::primes`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CkksParams {
    /// log2 of the ring degree N; N/2 complex slots.
    pub log_n: u32,
    /// Bit sizes of the data primes, q_0 first. L+1 entries: levels 0..=L.
    pub q_bits: Vec<u32>,
    /// Bit sizes of the special primes forming P.
    pub p_bits: Vec<u32>,
    /// Number of key-switching digits (the data primes are split into `dnum` contiguous groups).
    pub dnum: usize,
    /// log2 of the default scale Δ.
    pub log_scale: u32,
    /// Required security level.
    pub security: Security,
}

/// The concrete primes of a parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primes {
    /// Data primes q_0..q_L.
    pub q: Vec<u64>,
    /// Special primes p_0..p_{K-1}.
    pub p: Vec<u64>,
}

/// `total` bits in `parts` prime sizes as even as possible, the larger first.
fn split_bits(total: u32, parts: u32) -> Vec<u32> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| total / parts + u32::from(i < total % parts))
        .collect()
}

impl CkksParams {
    /// The standard chain for a ring degree: q_0 of 50 bits, 40-bit scaling primes, Δ = 2^40,
    /// and the smallest `dnum` (largest digits) whose special modulus still fits the 128-bit
    /// budget. Data limbs: 3 at 2^13, 8 at 2^14, 20 at 2^15, 40 at 2^16 (2 at 2^12).
    pub fn standard(log_n: u32) -> Result<Self> {
        let limbs = match log_n {
            12 => 2,
            13 => 3,
            14 => 8,
            15 => 20,
            16 => 40,
            _ => {
                return Err(ParamsError::Invalid(format!(
                    "no standard chain for N = 2^{log_n}"
                )))
            }
        };
        let q_bits: Vec<u32> = std::iter::once(if log_n == 12 { 36 } else { 50 })
            .chain(std::iter::repeat_n(
                if log_n == 12 { 30 } else { 40 },
                limbs - 1,
            ))
            .collect();
        let log_scale = if log_n == 12 { 30 } else { 40 };
        Self::with_largest_digits(log_n, q_bits, log_scale, Security::Classical128)
    }

    /// Given data primes, picks the smallest `dnum` whose special modulus P fits the 128-bit
    /// budget with P ≥ each digit's modulus, with the digits as even as that `dnum` allows
    /// (`ceil(L/dnum)` primes each): the largest digit then is as small as it can be, and so
    /// is P. P takes the spare bits up to 30 bits above the largest digit, in primes below
    /// 2^50: the key-switching noise is about √N·σ·D/P, so the margin D/P buys rotation
    /// precision for a few extra NTTs. (Taking the largest digit size for that `dnum` instead
    /// split 23 primes into digits of 20 and 3 at N = 2^16, with 17 special primes where 11 do:
    /// every key switch lifted its small digit to 37 primes.)
    pub fn with_largest_digits(
        log_n: u32,
        q_bits: Vec<u32>,
        log_scale: u32,
        security: Security,
    ) -> Result<Self> {
        let budget = match security {
            Security::Classical128 => max_log_qp_128(log_n).ok_or_else(|| {
                ParamsError::Invalid(format!("unsupported ring degree 2^{log_n}"))
            })?,
            #[cfg(feature = "insecure-test-params")]
            Security::InsecureForTestingOnly => u32::MAX,
        };
        let data_bits: u32 = q_bits.iter().sum();
        let spare = budget.saturating_sub(data_bits);
        let l1 = q_bits.len();
        for dnum in 1..=l1 {
            let alpha = l1.div_ceil(dnum);
            if l1.div_ceil(alpha) != dnum {
                // No even split into exactly `dnum` digits; a smaller dnum has this alpha.
                continue;
            }
            let digit_bits = q_bits
                .chunks(alpha)
                .map(|c| c.iter().sum::<u32>())
                .max()
                .unwrap_or(0);
            if digit_bits > spare {
                continue;
            }
            let p_total = spare.min(digit_bits + 30);
            let k = p_total.div_ceil(MAX_PRIME_BITS);
            let each = p_total / k;
            if each < log_n + 3 || each * k < digit_bits {
                continue;
            }
            let params = CkksParams {
                log_n,
                q_bits,
                p_bits: vec![each; k as usize],
                dnum,
                log_scale,
                security,
            };
            params.validate()?;
            return Ok(params);
        }
        Err(ParamsError::Insecure {
            log_n,
            log_qp: data_bits,
            max_log_qp: budget,
        })
    }

    /// A secure chain for `depth` rescalings at scale 2^log_scale: q_0 of
    /// `min(log_scale + 10, 50)` bits (≥ 10 bits of headroom at level 0 when log_scale ≤ 40),
    /// `depth` scaling primes of `log_scale` bits, and the smallest dnum that fits
    /// (see [`CkksParams::with_largest_digits`]). This is what the compiler's parameter
    /// selection calls.
    pub fn for_depth(log_n: u32, depth: usize, log_scale: u32) -> Result<Self> {
        if !(log_n + 3..=MAX_PRIME_BITS).contains(&log_scale) {
            return Err(ParamsError::Invalid(format!(
                "log_scale = {log_scale} needs primes outside [{}, {MAX_PRIME_BITS}] bits",
                log_n + 3
            )));
        }
        let q0 = (log_scale + 10).min(MAX_PRIME_BITS);
        let q_bits = std::iter::once(q0)
            .chain(std::iter::repeat_n(log_scale, depth))
            .collect();
        Self::with_largest_digits(log_n, q_bits, log_scale, Security::Classical128)
    }

    /// A secure chain for `depth` rescalings at scale 2^log_scale with `base_bits` of modulus
    /// at the bottom: the base `q_0·…·q_{b-1}` (the fewest primes of at most
    /// [`MAX_PRIME_BITS`] bits, as even as possible) is never rescaled away and holds the
    /// values of the lowest level, and each of the `depth` levels above it is a group of
    /// `group` primes whose product is about 2^log_scale (a rescale divides by all of them, one
    /// prime after the other), so scales above 2^50 take two primes per level. With one base
    /// prime of `log_scale + 10` bits and `group = 1` this is [`CkksParams::for_depth`].
    pub fn for_chain(
        log_n: u32,
        depth: usize,
        log_scale: u32,
        base_bits: u32,
        group: u32,
    ) -> Result<Self> {
        let group = group.max(1);
        let each = split_bits(log_scale, group);
        let base = split_bits(base_bits, base_bits.div_ceil(MAX_PRIME_BITS).max(1));
        for &b in each.iter().chain(&base) {
            if !(log_n + 3..=MAX_PRIME_BITS).contains(&b) {
                return Err(ParamsError::Invalid(format!(
                    "log_scale = {log_scale} in {group} prime(s) per level over a base of \
                     {base_bits} bits needs primes outside [{}, {MAX_PRIME_BITS}] bits",
                    log_n + 3
                )));
            }
        }
        let q_bits = base
            .into_iter()
            .chain((0..depth).flat_map(|_| each.iter().copied()))
            .collect();
        Self::with_largest_digits(log_n, q_bits, log_scale, Security::Classical128)
    }

    /// The largest depth [`CkksParams::for_depth`] accepts at 128-bit security (`None` if not
    /// even depth 0 fits).
    pub fn max_depth(log_n: u32, log_scale: u32) -> Option<usize> {
        let budget = max_log_qp_128(log_n)? as usize;
        (0..=budget / log_scale.max(1) as usize)
            .take_while(|&d| Self::for_depth(log_n, d, log_scale).is_ok())
            .last()
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        1 << self.log_n
    }

    /// Number of slots, N/2.
    pub fn slots(&self) -> usize {
        self.n() / 2
    }

    /// Top level L (the number of data primes minus one).
    pub fn max_level(&self) -> usize {
        self.q_bits.len().saturating_sub(1)
    }

    /// Upper bound on log2(PQ): the sum of the prime bit sizes (every prime is below 2^bits).
    pub fn log_qp(&self) -> u32 {
        self.q_bits.iter().chain(&self.p_bits).sum()
    }

    /// Number of data primes per key-switching digit.
    pub fn digit_size(&self) -> usize {
        self.q_bits.len().div_ceil(self.dnum.max(1))
    }

    /// The concrete primes (deterministic in the bit sizes).
    pub fn primes(&self) -> Result<Primes> {
        let all: Vec<u32> = self.q_bits.iter().chain(&self.p_bits).copied().collect();
        let mut q = generate_primes(self.log_n, &all)?;
        let p = q.split_off(self.q_bits.len());
        Ok(Primes { q, p })
    }

    /// Checks sizes and the security bound; also that P is large enough for every digit
    /// (P ≥ digit modulus / 2, which keeps the key-switching noise within 2x of the P ≥ D rule).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ParamsError::Invalid(m));
        if !(MIN_LOG_N..=MAX_LOG_N).contains(&self.log_n) {
            return bad(format!(
                "log_n = {} outside {MIN_LOG_N}..={MAX_LOG_N}",
                self.log_n
            ));
        }
        if self.q_bits.is_empty() || self.p_bits.is_empty() {
            return bad("need at least one data prime and one special prime".into());
        }
        if self.dnum == 0 || self.dnum > self.q_bits.len() {
            return bad(format!(
                "dnum = {} outside 1..={}",
                self.dnum,
                self.q_bits.len()
            ));
        }
        if self.log_scale < 10 || self.log_scale > 60 {
            return bad(format!("log_scale = {} outside 10..=60", self.log_scale));
        }
        if self.security == Security::Classical128 {
            let max = max_log_qp_128(self.log_n).unwrap_or(0);
            if self.log_qp() > max {
                return Err(ParamsError::Insecure {
                    log_n: self.log_n,
                    log_qp: self.log_qp(),
                    max_log_qp: max,
                });
            }
        }
        let primes = self.primes()?;
        let log_p: f64 = primes.p.iter().map(|&p| (p as f64).log2()).sum();
        for digit in primes.q.chunks(self.digit_size()) {
            let log_d: f64 = digit.iter().map(|&q| (q as f64).log2()).sum();
            if log_p < log_d - 1.0 {
                return bad(format!(
                    "special modulus P (2^{log_p:.1}) is smaller than half a key-switching digit \
                     (2^{log_d:.1}); add special primes or raise dnum"
                ));
            }
        }
        Ok(())
    }

    /// blake3 fingerprint of the exact parameter set (primes included): objects serialized
    /// under one parameter set are refused by a context built from another.
    pub fn fingerprint(&self) -> Result<[u8; 32]> {
        let primes = self.primes()?;
        let mut h = blake3::Hasher::new();
        h.update(b"hel-ckks-params-v1");
        h.update(&self.log_n.to_le_bytes());
        for list in [&primes.q, &primes.p] {
            h.update(&(list.len() as u64).to_le_bytes());
            for p in list {
                h.update(&p.to_le_bytes());
            }
        }
        h.update(&(self.dnum as u64).to_le_bytes());
        h.update(&self.log_scale.to_le_bytes());
        h.update(&[u8::from(self.security == Security::Classical128)]);
        Ok(*h.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_chain_with_one_base_prime_and_groups_of_one_is_for_depth() {
        for (log_n, depth, log_scale) in [(13, 2, 40), (14, 5, 40), (15, 13, 40), (14, 3, 30)] {
            assert_eq!(
                CkksParams::for_chain(log_n, depth, log_scale, log_scale + 10, 1),
                CkksParams::for_depth(log_n, depth, log_scale),
            );
        }
    }

    #[test]
    fn wide_bases_and_wide_scales_take_several_primes() {
        // q_0 of 40 + 60 bits: two base primes; each level of 2^60: two 30-bit primes.
        let p = CkksParams::for_chain(14, 3, 60, 100, 2).unwrap();
        assert_eq!(p.q_bits, vec![50, 50, 30, 30, 30, 30, 30, 30]);
        let p = CkksParams::for_chain(14, 2, 51, 73, 2).unwrap();
        assert_eq!(p.q_bits, vec![37, 36, 26, 25, 26, 25]);
        assert!(p.primes().is_ok());
        // Primes below log_n + 3 bits do not exist for the ring.
        assert!(CkksParams::for_chain(16, 2, 36, 46, 2).is_err());
    }

    #[test]
    fn no_file_selects_insecure_parameters() {
        let secure = CkksParams::standard(13).unwrap();
        // RON (a `--params` file): the test-only level is refused by name.
        let ron_text = ron::to_string(&secure).unwrap();
        let edited = ron_text.replace("Classical128", "InsecureForTestingOnly");
        assert_ne!(edited, ron_text);
        let err = ron::from_str::<CkksParams>(&edited)
            .unwrap_err()
            .to_string();
        assert!(err.contains("128-bit security bound"), "{err}");
        assert_eq!(ron::from_str::<CkksParams>(&ron_text).unwrap(), secure);
        // postcard (inside `.helc` schedules): the same level in the binary encoding (the last
        // byte is the variant index).
        let mut bytes = postcard::to_stdvec(&secure).unwrap();
        assert_eq!(bytes.last(), Some(&0));
        *bytes.last_mut().unwrap() = 1;
        let err = postcard::from_bytes::<CkksParams>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err}");
        // A file that says Classical128 is held to the bound and told the bound.
        let deep = CkksParams {
            log_n: 12,
            q_bits: vec![50, 40, 40, 40, 40, 40, 30],
            p_bits: vec![50],
            dnum: 7,
            log_scale: 40,
            security: Security::Classical128,
        };
        let loaded: CkksParams = ron::from_str(&ron::to_string(&deep).unwrap()).unwrap();
        let err = loaded.validate().unwrap_err().to_string();
        assert!(
            err.contains("log2(PQ) = 330")
                && err.contains("128-bit bound of 109 bits for N = 2^12"),
            "{err}"
        );
    }
}
