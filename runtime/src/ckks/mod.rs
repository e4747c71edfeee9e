//! RNS-CKKS: approximate homomorphic encryption over `Z[X]/(X^N + 1)` with a residue number
//! system of primes below 2^50 and tfhe-ntt as the NTT kernel.
//!
//! Start from [`CkksParams`] (plain data), build a [`Context`], then generate keys, encode,
//! encrypt and evaluate through the methods on [`Context`]:
//!
//! ```
//! use hel_runtime::ckks::{CkksParams, Context, Sampler};
//!
//! let ctx = Context::new(&CkksParams::standard(13)?)?;
//! let mut rng = Sampler::from_os();
//! let sk = ctx.gen_secret_key(&mut rng);
//! let pk = ctx.gen_public_key(&sk, &mut rng)?;
//! let rlk = ctx.gen_relin_key(&sk, &mut rng)?;
//! let gk = ctx.gen_galois_keys(&sk, &[1], false, &mut rng)?;
//!
//! let top = ctx.max_level();
//! let x = ctx.encrypt_pk(&ctx.encode(&[1.0, 2.0, 3.0], top, ctx.default_scale())?, &pk, &mut rng)?;
//! let sq = ctx.rescale(&ctx.relinearize(&ctx.square(&x)?, &rlk)?)?; // [1, 4, 9, ...]
//! let rot = ctx.rotate(&sq, 1, &gk)?; // [4, 9, ...]
//! let out = ctx.decode_real(&ctx.decrypt(&rot, &sk)?)?;
//! assert!((out[0] - 4.0).abs() < 1e-4 && (out[1] - 9.0).abs() < 1e-4);
//! # Ok::<(), hel_runtime::ckks::CkksError>(())
//! ```
//!
//! Layout: `params` and `primes` (plain parameter data, the security table and the prime
//! chain, re-exported from the `hel-schedule` contract crate), `context`
//! (precomputation), `ring` (aligned RNS polynomials, NTT), `modarith` (SIMD modular kernels),
//! `sampling`, `encoding` (special FFT, exact CRT decode), `keys`, `encrypt`, `keyswitch`
//! (hybrid key switching), `ops`, `serialize`, `bench`, `error`, and `bootstrap` (a layer on
//! top: refreshing a ciphertext's levels on the server, docs/bootstrapping.md).

mod adopt;
pub mod bench;
mod bitpack;
pub mod bootstrap;
mod context;
pub mod encoding;
pub mod encrypt;
pub mod error;
mod hoisted;
pub mod keys;
mod keyswitch;
mod modarith;
pub mod ops;
/// Parameter descriptions and the prime chain live in the contract crate (the compiler chooses
/// parameters without linking the engine).
pub use hel_schedule::{params, primes};
mod ring;
pub mod sampling;
pub mod serialize;

pub use context::Context;
pub use encoding::Plaintext;
pub use encrypt::{Ciphertext, SeededCiphertext};
pub use error::{CkksError, FormatError, Result};
pub use keys::{GaloisKeys, PublicKey, RelinKey, SecretKey};
pub use num_complex::Complex64;
pub use params::{data_bits_available, max_log_qp_128, CkksParams, ParamsError, Security};
pub use sampling::Sampler;
