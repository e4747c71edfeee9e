//! hel-runtime: runs compiled hel programs on CKKS-encrypted data.
//!
//! The compiler (`hel-compiler`) turns a `.hel` program into a
//! [`Schedule`](schedule::Schedule): a DAG of ciphertext instructions, with the client's
//! packing of the inputs and outputs and the CKKS parameters. This crate takes it from there.
//! It never parses `.hel` source and does not depend on the compiler: a schedule reaches it as
//! a value or as the bytes of a compiled file
//! ([`Schedule::from_bytes`](schedule::Schedule::from_bytes)).
//! Everything the two sides must agree on (the schedule and its file format, the parameters and
//! prime chain, the level/scale/degree bookkeeping rules, the cost table) is in the
//! `hel-schedule` contract crate, re-exported here as [`schedule`]; its parameters are also
//! [`ckks::params`] and [`ckks::primes`], where the engine's users look for them.
//!
//! Three layers, bottom up:
//!
//! - [`ckks`]: the RNS-CKKS engine. [`ckks::CkksParams`] describe a parameter set and a
//!   [`ckks::Context`] holds its precomputation; below it the ring (aligned RNS polynomials,
//!   the NTT), SIMD modular arithmetic and sampling, then [`ckks::encoding`] (special FFT,
//!   exact CRT decoding), [`ckks::keys`], [`ckks::encrypt`], hybrid key switching, the
//!   homomorphic operations ([`ckks::ops`]), checked serialization ([`ckks::serialize`]) and
//!   the micro-benchmarks ([`ckks::bench`]). The [`ckks`] module documentation has a runnable
//!   round trip: keys, encrypt, square, rotate, decrypt.
//! - [`exec`]: running a schedule. [`exec::execute`] is a DAG scheduler (a plan of tasks with
//!   critical-path priorities, run on a dedicated thread pool that frees each value after its
//!   last reader) generic over an [`exec::Evaluator`], which gives the nodes a meaning:
//!   [`exec::CkksEvaluator`] on ciphertexts (the server), [`exec::PlainEvaluator`] on f64 slots
//!   (the reference), [`exec::DebugEvaluator`] both in lockstep with the secret key, and
//!   [`exec::CostEvaluator`], a dry run that counts operations and estimates time and memory
//!   from a [`exec::CostTable`] ([`exec::calibrate`] measures one on this machine).
//! - [`client`]: the key owner's side. [`client::keygen`] (the secret key stays, the evaluation
//!   keys go to the server), [`client::encrypt_inputs`], [`client::decrypt_outputs`], and the
//!   files exchanged with the server, each bound to its parameters, key set and program
//!   ([`client::container`]).
//!
//! One encrypted run, as `hel keygen`, `hel encrypt`, `hel run` and `hel decrypt` do it:
//!
//! ```text
//! client:  keygen(schedule)          -> SecretKey (kept), EvalKeys      -> server
//! client:  encrypt_inputs(tensors)   -> EncryptedInputs                 -> server
//! server:  execute(schedule, CkksEvaluator, options) -> EncryptedOutputs -> client
//! client:  decrypt_outputs(outputs)  -> tensors
//! ```
//!
//! [`local::Local`] runs both sides in one process, for benchmarks and tests.

pub mod ckks;
pub mod client;
pub mod exec;
pub mod local;
/// The schedule and everything else the compiler and runtime agree on (the `hel-schedule`
/// contract crate), re-exported so that `hel_runtime::schedule::…` paths keep working.
pub use hel_schedule as schedule;
