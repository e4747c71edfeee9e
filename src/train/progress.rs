//! How the training pipeline tells its caller what it is doing.
//!
//! The library never draws anything itself: the CLI turns these calls into progress bars on a
//! terminal (and plain log lines otherwise), tests pass [`Quiet`]. Keeping the drawing out of
//! the library is what lets tests run the whole pipeline without a terminal.

/// The phases of one training run, in the order they happen (compile to decrypt repeat per
/// round).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Plaintext work: loading data, checking the program, the f64 reference.
    Prepare,
    Compile,
    Keygen,
    Encrypt,
    /// The server's computation; the only phase with a known number of steps (schedule nodes).
    Server,
    Decrypt,
    Evaluate,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Compile => "compile",
            Phase::Keygen => "keygen",
            Phase::Encrypt => "encrypt",
            Phase::Server => "server",
            Phase::Decrypt => "decrypt",
            Phase::Evaluate => "evaluate",
        }
    }
}

/// Receives progress and log messages. Every method has a do-nothing default.
///
/// `advance` is called from the server's worker threads, hence `Sync`.
pub trait Progress: Sync {
    /// A phase starts; `total` is its number of steps when known, `detail` says what it works
    /// on (e.g. "round 2 of 3").
    fn start(&self, _phase: Phase, _total: Option<u64>, _detail: &str) {}
    /// `done` of the current phase's steps are finished.
    fn advance(&self, _done: u64) {}
    /// The current phase is finished; `summary` is one line about its result.
    fn finish(&self, _summary: &str) {}
    /// Something the user should know that is not an error (e.g. the sigmoid polynomial left
    /// its domain).
    fn warn(&self, _message: &str) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}
