//! Rust errors as the Python exceptions of `hel.errors`, carrying the same text the CLI prints.
//!
//! The exception classes are defined in Python (`hel/errors.py`) rather than with
//! `create_exception!`, because some must also be built-in exceptions (an `InputError` is a
//! `ValueError`, a `FileError` an `OSError`) so that scikit-learn and ordinary `except` clauses
//! catch them, and a Rust-defined class has a single base. An [`Error`] is plain data (`Send`),
//! so code running without the GIL can return one; it becomes a Python exception when it
//! crosses back.

use std::fmt::Display;

use miette::{GraphicalReportHandler, GraphicalTheme};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Which `hel.errors` class an error raises.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// The program does not compile (a located diagnostic).
    Compile,
    /// Bad values from the caller: an array of the wrong shape, a bad option.
    Input,
    /// A file that cannot be read or written (missing, refused without `force`).
    File,
    /// A file or object that is not what it should be (corrupt, for another program or key).
    Format,
    /// Training failed after the data were accepted.
    Train,
    /// More memory than the limit or the machine allows.
    Resource,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Compile => "CompileError",
            Kind::Input => "InputError",
            Kind::File => "FileError",
            Kind::Format => "FormatError",
            Kind::Train => "TrainError",
            Kind::Resource => "ResourceError",
        }
    }
}

/// An error on its way to Python: the class, the message, and the diagnostic code if any.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    code: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Display) -> Error {
        Error {
            kind,
            message: message.to_string(),
            code: None,
        }
    }

    /// A compiler diagnostic, rendered as `hel check` renders it (source line, label, help),
    /// without colours: the text ends up in tracebacks and logs, not only on terminals.
    pub fn diagnostic(d: hel_compiler::Diagnostic) -> Error {
        let code = miette::Diagnostic::code(&d).map(|c| c.to_string());
        let mut text = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
        if handler.render_report(&mut text, &d).is_err() {
            text = d.to_string();
        }
        Error {
            kind: Kind::Compile,
            message: text.trim_end().to_string(),
            code,
        }
    }

    /// The exception instance (`hel.errors.<Class>(message)`, with `.code` set).
    fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let class = py
            .import("hel.errors")
            .and_then(|m| m.getattr(self.kind.class()));
        let class = match class {
            Ok(c) => c,
            // Only when `hel._native` is imported on its own, outside the package.
            Err(_) => return PyRuntimeError::new_err(self.message),
        };
        match class.call1((self.message,)) {
            Ok(instance) => {
                if let Some(code) = self.code {
                    if let Err(e) = instance.setattr("code", code) {
                        return e;
                    }
                }
                PyErr::from_value(instance)
            }
            Err(e) => e,
        }
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| e.into_pyerr(py))
    }
}

/// `Err(Error::new(kind, ...))` in one call.
pub fn fail<T>(kind: Kind, message: impl Display) -> Result<T, Error> {
    Err(Error::new(kind, message))
}
