//! The one error type of `hel train`'s library.

use hel_compiler::Diagnostic;
use hel_runtime::client::ClientError;
use hel_runtime::exec::ExecError;

use crate::data::DataError;
use crate::reference::ReferenceError;

/// Why training stopped. Everything but [`TrainError::Internal`] is the user's to fix (a file,
/// an option, the program); the CLI exits with 1 on all of them.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    /// A compile error in the program or in a round program generated from it; rendered with
    /// its source excerpt by the CLI.
    #[error("{0}")]
    Compile(Box<Diagnostic>),
    /// The program does not have the shape `hel train` drives (one encrypted minibatch input,
    /// a weight-vector output, the constants it sets).
    #[error("{0}")]
    Program(String),
    /// An option or combination of options that cannot work.
    #[error("{0}")]
    Config(String),
    #[error("client: {0}")]
    Client(#[from] ClientError),
    #[error("server: {0}")]
    Server(#[from] ExecError),
    /// The bootstrapping circuit or its keys (`--refresh bootstrap`).
    #[error("bootstrapping: {0}")]
    Bootstrap(#[from] hel_runtime::ckks::CkksError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A key generation or server run needs more memory than the machine has or
    /// `--memory-limit` allows: refused before allocating, with the figure and what to change.
    #[error(transparent)]
    Memory(#[from] crate::memory::TooLarge),
    /// A bug in hel, not something the user did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Diagnostic> for TrainError {
    fn from(d: Diagnostic) -> Self {
        TrainError::Compile(Box::new(d))
    }
}
