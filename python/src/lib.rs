//! `hel._native`: the Rust half of the Python package `hel` (see `docs/python.md`).
//!
//! Every function calls the same library code as the command line (`hel_compiler::compile`,
//! `hel_runtime::client`, `hel_runtime::exec`, `hel::train`), and every object saves to and
//! loads from the CLI's own file formats, so a program compiled in Python can be encrypted by
//! `hel encrypt` and the other way round. Long computations release the GIL. The Python half
//! (`python/hel/`) adds the exception classes, the scikit-learn estimator and the conveniences.

mod errors;
mod files;
mod keys;
mod program;
mod tensors;
mod train;

use pyo3::prelude::*;

/// The extension module: its classes and functions (re-exported by `hel/__init__.py`).
#[pymodule]
#[pyo3(name = "_native")]
fn hel_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<program::Program>()?;
    m.add_class::<keys::SecretKey>()?;
    m.add_class::<keys::EvalKeys>()?;
    m.add_class::<keys::EncryptedInputs>()?;
    m.add_class::<keys::EncryptedOutputs>()?;
    m.add_class::<train::Model>()?;
    m.add_function(wrap_pyfunction!(program::compile, m)?)?;
    m.add_function(wrap_pyfunction!(program::load_program, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train::mnist_3v8, m)?)?;
    Ok(())
}
