//! Errors of the client side. Every variant says what differs (which program, which input,
//! which shapes), because the person reading it has several files of several programs around
//! and needs to know which one is the wrong one.

use thiserror::Error;

use crate::ckks::CkksError;
use crate::schedule::{Shape, ValueId};

/// Why a client operation (key generation, encryption, decryption, loading a file) failed.
#[derive(Debug, Error, PartialEq)]
pub enum ClientError {
    /// The bytes are not a hel client file at all.
    #[error("not a hel {expected} file: {found}")]
    NotAClientFile {
        /// What was expected ("evaluation keys", ...).
        expected: &'static str,
        /// What the bytes look like instead.
        found: &'static str,
    },
    /// The file ends early.
    #[error("{what} file is truncated")]
    Truncated { what: &'static str },
    /// The checksum does not match.
    #[error("{what} file is corrupt (checksum mismatch)")]
    Corrupt { what: &'static str },
    /// Written by an incompatible version of hel.
    #[error("{what} file has format version {found}; this hel reads version {supported}")]
    Version {
        what: &'static str,
        found: u16,
        supported: u16,
    },
    /// A file of another kind, e.g. the secret key where evaluation keys were expected.
    #[error("expected {expected}, but this file holds {found}")]
    WrongKind {
        expected: &'static str,
        found: &'static str,
    },
    /// Keys or ciphertexts made for another compiled program.
    #[error(
        "{what} belong to another program: made for {found}, but the schedule is {expected} \
         (recompiling a program, even with other options, requires encrypting its inputs again)"
    )]
    WrongProgram {
        what: &'static str,
        /// The schedule's program (`name` and hash).
        expected: String,
        /// The program recorded in the file or object.
        found: String,
    },
    /// Files of two different key sets (two `hel keygen` runs) that must share one.
    #[error(
        "the {what} and the {with} come from different `hel keygen` runs (key sets {found} \
         and {expected}): encrypt and decrypt with the secret key whose evaluation keys the \
         server uses"
    )]
    KeySetMismatch {
        what: &'static str,
        found: String,
        with: &'static str,
        expected: String,
    },
    /// Same program hash but other CKKS parameters (a hand-edited or mixed-up schedule).
    #[error(
        "{what}: made under other CKKS parameters (fingerprint {found}) than the schedule's \
         ({expected})"
    )]
    WrongParams {
        what: &'static str,
        expected: String,
        found: String,
    },
    /// The body of a file is structurally invalid (after the checksum passed).
    #[error("{what} file is malformed: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// The CKKS context was built from other parameters than the schedule's.
    #[error("the CKKS context does not match the schedule's parameters")]
    ContextMismatch,
    /// Wrong number of user inputs.
    #[error("the program takes {expected} input(s) ({names}), got {got}")]
    InputCount {
        expected: usize,
        got: usize,
        names: String,
    },
    /// A sequence input with the wrong number of elements.
    #[error("input `{name}` is a sequence of {expected} tensor(s), got {got}")]
    ElementCount {
        name: String,
        expected: usize,
        got: usize,
    },
    /// A tensor of the wrong shape.
    #[error("input `{name}` has shape {got}, but the program expects {expected}")]
    InputShape {
        /// `x` or `Z[1]` for sequence elements.
        name: String,
        expected: Shape,
        got: Shape,
    },
    /// NaN or infinity in an input.
    #[error("input `{name}` {at} is {value}, not a finite number")]
    NonFinite {
        name: String,
        /// Where in the tensor: `row 10, column 3` or `entry 7` (from 1, as in the file).
        at: String,
        value: f64,
    },
    /// A value outside the range the program declares (its precision analysis assumes it).
    #[error(
        "input `{name}` {at} = {} is outside the declared range [{}, {}] (the compiled \
         program's precision guarantee assumes it)",
        Num(*value),
        Num(*lo),
        Num(*hi)
    )]
    OutOfRange {
        name: String,
        /// Where in the tensor: `row 10, column 3` or `entry 7` (from 1, as in the file).
        at: String,
        value: f64,
        lo: f64,
        hi: f64,
    },
    /// The data drives a value beyond what the parameters hold at its level: encrypted, it
    /// would wrap around modulo the ciphertext modulus and decrypt to garbage.
    #[error(
        "these inputs drive {what} to |value| = {value:.4e}, beyond the {limit:.4e} the compiled \
         parameters hold there (the compiler sized them from the declared input ranges and \
         sample data; extreme data of a high-degree expression reaches further): encrypted, \
         the result would be wrong. Recompile with the inputs' declared ranges narrowed to the \
         data, or rescale the data"
    )]
    Headroom {
        what: String,
        value: f64,
        limit: f64,
    },
    /// A client-side precomputed tensor could not be evaluated.
    #[error("derived input `{0}` could not be computed from the inputs (shape mismatch)")]
    Derived(String),
    /// Encoding or encrypting one input ciphertext failed.
    #[error("cannot encrypt input ciphertext {index} ({source_name}): {error}")]
    Encrypt {
        index: usize,
        source_name: String,
        error: CkksError,
    },
    /// The evaluation keys lack a key the schedule needs (or hold one it does not name).
    #[error("evaluation keys do not match the schedule: {0}")]
    KeySet(String),
    /// An input ciphertext in a file is not where the schedule expects it.
    #[error(
        "input ciphertext {index} is at level {level} with scale 2^{log_scale:.4}; the schedule \
         expects level {expected_level} with scale 2^{expected_log_scale:.4}"
    )]
    InputLevel {
        index: usize,
        level: usize,
        log_scale: f64,
        expected_level: u32,
        expected_log_scale: f64,
    },
    /// An output ciphertext is not at the level, scale or degree the schedule records for its
    /// value: decoding it would divide by the wrong scale and print wrong numbers.
    #[error(
        "output ciphertext for value {value} is at level {level} with scale 2^{log_scale:.4} \
         and degree {degree}; the schedule records level {expected_level} with scale \
         2^{expected_log_scale:.4} and degree {expected_degree}"
    )]
    OutputLevel {
        value: ValueId,
        level: usize,
        log_scale: f64,
        degree: usize,
        expected_level: u32,
        expected_log_scale: f64,
        expected_degree: u8,
    },
    /// Output ciphertexts missing for values the outputs read.
    #[error("no ciphertext for value {value}, which output `{output}` reads")]
    MissingOutput { value: ValueId, output: String },
    /// A ciphertext for a value no output reads, or given twice.
    #[error("unexpected ciphertext for value {value}: {reason}")]
    ExtraOutput {
        value: ValueId,
        reason: &'static str,
    },
    /// An error of the CKKS engine (loading a key, decrypting).
    #[error(transparent)]
    Ckks(#[from] CkksError),
}

/// Result alias for the client.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A number for a message: scientific notation where plain notation would be unreadably long
/// (`1e200` is 201 digits in Rust's `Display`).
pub struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.abs();
        if a != 0.0 && a.is_finite() && !(1e-6..1e9).contains(&a) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}
