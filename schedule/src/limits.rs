//! Explicit limits on what a file may ask of the machine that reads it, in one place (each is
//! listed with its reason in docs/security.md, "Limits").
//!
//! A schedule, a key or a ciphertext file comes from another party, and every size in it drives
//! an allocation, a loop or an index somewhere later (packing, running, decrypting). The
//! parameters bound what the CKKS objects can be (slots, primes); these constants bound
//! everything else a schedule describes. [`Schedule::validate`](crate::Schedule::validate)
//! checks all of them, so the code that runs after it may allocate and index by the validated
//! sizes without further checks. The values are far above what `hel compile` produces for any
//! program that fits the largest ring, and low enough that what they allow fits in memory.

/// Entries of one tensor (an input element, a derived tensor or an intermediate of its
/// computation, an output): 2^26 f64 values are 512 MiB.
pub const MAX_TENSOR_ENTRIES: usize = 1 << 26;

/// Entries of all the tensors the client holds at once for one schedule (the user inputs with
/// every sequence element, and each derived tensor's intermediates): 2^27 f64 values are 1 GiB.
pub const MAX_CLIENT_ENTRIES: usize = 1 << 27;

/// Multiply-adds of the client's precomputation (the derived tensors' products), counted with
/// the shapes: 2^36 is about a minute on one core, ten times the largest example's Gram inputs.
pub const MAX_CLIENT_WORK: u128 = 1 << 36;

/// Elements of one sequence input `T[k]`.
pub const MAX_SEQUENCE: usize = 1 << 20;

/// Instructions of the server's program (schedule nodes).
pub const MAX_NODES: usize = 1 << 22;

/// Encrypted input ciphertexts; also output tiles, summed over the outputs.
pub const MAX_CIPHERTEXTS: usize = 1 << 20;

/// Declared inputs, derived tensors and outputs, each.
pub const MAX_TENSORS: usize = 1 << 16;

/// Operations in one derived tensor's computation.
pub const MAX_CLIENT_OPS: usize = 1 << 16;

/// Distinct rotation steps (each needs a key of tens of megabytes at the largest ring).
pub const MAX_ROTATION_STEPS: usize = 1 << 14;

/// Bytes of a name (program, input, output, derived tensor) or a source location.
pub const MAX_NAME_BYTES: usize = 1 << 12;

/// Bytes of a derived tensor's description or a node's origin mnemonic.
pub const MAX_TEXT_BYTES: usize = 1 << 16;

/// Largest file `hel` reads as a compiled program (`.helc`, binary or RON).
pub const MAX_SCHEDULE_FILE: u64 = 1 << 30;

/// Largest `.hel` source file.
pub const MAX_SOURCE_FILE: u64 = 16 << 20;

/// Largest parameter (`--params`) or cost-table file.
pub const MAX_SMALL_FILE: u64 = 16 << 20;

/// Largest tensor CSV (`--input`) or training data file: 2^26 entries of up to 60 characters.
pub const MAX_DATA_FILE: u64 = 4 << 30;
