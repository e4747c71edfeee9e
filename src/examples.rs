//! The example training programs, compiled into the binary (like the MNIST data in
//! [`crate::data::mnist`]) so that the documented `hel train` commands, which name
//! `examples/logreg_gd.hel` and `examples/logreg_nag.hel`, also work outside a checkout.

use std::path::Path;

use hel_compiler::SourceFile;

/// (path as documented, text).
const BUNDLED: [(&str, &str); 2] = [
    (
        "examples/logreg_gd.hel",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/logreg_gd.hel"
        )),
    ),
    (
        "examples/logreg_nag.hel",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/logreg_nag.hel"
        )),
    ),
];

/// The bundled copy of `path` if it is one of the documented example paths, whatever files
/// exist here (the Python package's `method="gd"`/`"nag"` names the algorithm, not a file).
pub fn bundled(path: &Path) -> Option<SourceFile> {
    BUNDLED
        .iter()
        .find(|(name, _)| Path::new(name) == path)
        .map(|(name, text)| SourceFile::new((*name).to_string(), (*text).to_string()))
}

/// The bundled copy of `path` when `path` is one of the documented example paths and no such
/// file exists here (a file that exists is always the one read: it may have been edited).
pub fn bundled_fallback(path: &Path) -> Option<SourceFile> {
    if path.exists() {
        return None;
    }
    bundled(path)
}
