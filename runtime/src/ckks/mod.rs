//! RNS-CKKS: approximate homomorphic encryption over `Z[X]/(X^N + 1)` with a residue number
//! system of primes below 2^50 and tfhe-ntt as the NTT kernel.
//!
//! Start from [`CkksParams`] (plain data), build a [`Context`], then generate keys, encode,
//! encrypt and evaluate through the methods on [`Context`].

pub mod bench;
mod context;
pub mod encoding;
pub mod encrypt;
pub mod error;
pub mod keys;
mod keyswitch;
mod modarith;
pub mod ops;
pub mod params;
pub mod primes;
mod ring;
pub mod sampling;
pub mod serialize;

pub use context::Context;
pub use encoding::Plaintext;
pub use encrypt::{Ciphertext, SeededCiphertext};
pub use error::{CkksError, FormatError, Result};
pub use keys::{GaloisKeys, PublicKey, RelinKey, SecretKey};
pub use num_complex::Complex64;
pub use params::{data_bits_available, max_log_qp_128, CkksParams, Security};
pub use sampling::Sampler;
