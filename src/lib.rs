//! The `hel` application library: everything the CLI does beyond compiling (data sets, the
//! plaintext reference trainer, metrics, the end-to-end trainer), kept here so tests and
//! benches can call it directly.
//!
//! The three crates below it split the work the way the data flows: `hel-compiler` turns
//! `.hel` source into a [`hel_runtime::schedule::Schedule`] (the `hel-schedule` contract crate
//! both sides share, re-exported by the runtime), and `hel-runtime` makes keys, encrypts,
//! executes the schedule on ciphertexts and decrypts. The whole protocol on a tiny program,
//! with the client's and the server's parts marked:
//!
//! ```
//! use hel_compiler::{compile, Options, SourceFile};
//! use hel_runtime::ckks::Sampler;
//! use hel_runtime::schedule::{Shape, Tensor};
//! use hel_runtime::{client, exec};
//!
//! // Anyone: compile the (public) program.
//! let src = SourceFile::new(
//!     "square.hel",
//!     "input x: enc vector[4] range [-1, 1]; let y = 3 * x * x - 1; output y;",
//! );
//! let compiled = compile(&src, &Options::default())?;
//! let schedule = compiled.schedule();
//!
//! // Client: keys, and the encrypted input.
//! let ctx = client::context(schedule)?;
//! let mut rng = Sampler::from_os();
//! let (secret_key, eval_keys) = client::keygen(schedule, &ctx, &mut rng)?;
//! let x = Tensor { shape: Shape::Vector(4), data: vec![0.5, -0.25, 1.0, 0.0] };
//! let upload = client::encrypt_inputs(schedule, &ctx, &secret_key, &[vec![x.clone()]], &mut rng)?;
//!
//! // Server: evaluation keys and ciphertexts only, never the secret key.
//! let key_id = upload.key_id;
//! let evaluator = exec::CkksEvaluator::new_seeded(
//!     &ctx,
//!     schedule,
//!     &eval_keys.relin,
//!     &eval_keys.galois,
//!     upload.ciphertexts,
//!     upload.public,
//! )?;
//! let run = exec::execute(schedule, &evaluator, &exec::RunOptions::default())?;
//! let download = client::EncryptedOutputs::new(schedule, key_id, run.outputs);
//!
//! // Client: decrypt; every entry is within the compiler's predicted error bound.
//! let y = &client::decrypt_outputs(schedule, &ctx, &secret_key, &download)?[0];
//! let bound = schedule.outputs[0].bound;
//! for (got, x) in y.data.iter().zip(&x.data) {
//!     assert!((got - (3.0 * x * x - 1.0)).abs() <= bound, "{got} vs {x}: bound {bound:e}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The most worker threads a run takes (`--threads`, Python's `threads=`): far more than any
/// core count gains from, and few enough to start at once (10,000 threads took 81 s to run an
/// 8-node program).
pub const MAX_THREADS: usize = 1024;

pub mod atomic;
pub mod bootstrapped;
pub mod bounded;
pub mod data;
pub mod examples;
pub mod memory;
pub mod metrics;
pub mod pictures;
pub mod reference;
pub mod train;
