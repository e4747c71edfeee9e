//! Typed errors of the CKKS engine. Every operation validates its inputs and reports
//! through these variants instead of panicking: inputs (bytes, parameters, ciphertexts
//! from another context) are caller-controlled.

use thiserror::Error;

/// Everything that can go wrong in the CKKS engine.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CkksError {
    /// The parameter description is malformed (bad sizes, too few primes, ...).
    #[error("invalid CKKS parameters: {0}")]
    InvalidParams(String),
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
    /// An object was created under a different parameter set than the context it is used with.
    #[error("object belongs to a different CKKS parameter set")]
    ContextMismatch,
    /// Two operands are at different levels.
    #[error("level mismatch: {lhs} vs {rhs} (use drop_level or rescale to align)")]
    LevelMismatch {
        /// Level of the left operand.
        lhs: usize,
        /// Level of the right operand.
        rhs: usize,
    },
    /// Two operands carry different scales.
    #[error("scale mismatch: 2^{:.6} vs 2^{:.6}", lhs.log2(), rhs.log2())]
    ScaleMismatch {
        /// Scale of the left operand.
        lhs: f64,
        /// Scale of the right operand.
        rhs: f64,
    },
    /// A ciphertext has the wrong number of polynomials for the operation.
    #[error("ciphertext has degree {found}, operation needs degree {expected}")]
    DegreeMismatch {
        /// Degree the operation needs (1 = two polynomials, 2 = three).
        expected: usize,
        /// Degree of the given ciphertext.
        found: usize,
    },
    /// The ciphertext is already at level 0 (or below the requested level).
    #[error("cannot go from level {level} to level {target}")]
    LevelExhausted {
        /// Current level.
        level: usize,
        /// Requested level.
        target: usize,
    },
    /// The requested level does not exist in the chain.
    #[error("level {level} is above the top level {max}")]
    LevelOutOfRange {
        /// Requested level.
        level: usize,
        /// Top level of the chain.
        max: usize,
    },
    /// A rotation or conjugation needs a Galois key that was not generated.
    #[error("missing Galois key for Galois element {galois_element}")]
    MissingGaloisKey {
        /// The Galois element X -> X^g that was requested.
        galois_element: usize,
    },
    /// More values than slots.
    #[error("{got} values do not fit into {slots} slots")]
    TooManyValues {
        /// Number of values given.
        got: usize,
        /// Number of slots (N/2).
        slots: usize,
    },
    /// A value or scale cannot be encoded (not finite, or too large for the modulus).
    #[error("cannot encode: {0}")]
    Encoding(String),
    /// Serialized data is malformed.
    #[error("invalid serialized data: {0}")]
    Format(#[from] FormatError),
}

/// Why a byte string could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The magic bytes are wrong: this is not a hel CKKS object.
    #[error("not a hel CKKS object (bad magic)")]
    BadMagic,
    /// Written by an incompatible format version.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u16),
    /// The object is of another kind than requested (e.g. a secret key where a ciphertext was expected).
    #[error("expected a {expected}, found a {found}")]
    WrongKind {
        /// Kind the caller asked for.
        expected: &'static str,
        /// Kind stored in the header.
        found: &'static str,
    },
    /// The object was made under different CKKS parameters.
    #[error("parameter fingerprint does not match this context")]
    ParamMismatch,
    /// The data ends early.
    #[error("truncated data")]
    Truncated,
    /// The blake3 checksum does not match: the data was corrupted.
    #[error("checksum mismatch (corrupt data)")]
    Checksum,
    /// The data is structurally invalid.
    #[error("malformed data: {0}")]
    Malformed(String),
}

/// Result alias for the CKKS engine.
pub type Result<T> = std::result::Result<T, CkksError>;

impl From<hel_schedule::ParamsError> for CkksError {
    fn from(e: hel_schedule::ParamsError) -> Self {
        match e {
            hel_schedule::ParamsError::Invalid(m) => CkksError::InvalidParams(m),
            hel_schedule::ParamsError::Insecure {
                log_n,
                log_qp,
                max_log_qp,
            } => CkksError::Insecure {
                log_n,
                log_qp,
                max_log_qp,
            },
        }
    }
}
