//! Reading and writing the CLI's files from Python: the same size limits, the same atomic
//! writes (`hel::atomic`: nothing replaced without `force`, the secret key owner-only), and
//! errors that name the file.

use std::path::Path;

use hel_runtime::client::{self, FileKind};
use hel_runtime::schedule::Schedule;

use crate::errors::{fail, Error, Kind};

/// A whole file of at most `max` bytes (see [`hel::bounded`]); the error says what it was.
pub fn read(path: &Path, what: &str, max: u64) -> Result<Vec<u8>, Error> {
    hel::bounded::read_limited(path, max).map_err(|e| {
        Error::new(
            Kind::File,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

/// A compiled program's bytes; a binary one whose size is not what its header declares is
/// refused before it is read.
pub fn read_schedule(path: &Path) -> Result<Vec<u8>, Error> {
    hel::bounded::read_checked(
        path,
        hel_runtime::schedule::limits::MAX_SCHEDULE_FILE,
        hel_runtime::schedule::SCHEDULE_HEADER,
        |e| {
            Error::new(
                Kind::File,
                format!("cannot read compiled program {}: {e}", path.display()),
            )
        },
        |head, size| {
            hel_runtime::schedule::check_file_size(head, size).map_err(|e| format_error(path, e))
        },
    )
}

/// A client file (keys, ciphertexts) of `kind`, at most as large as such a file for
/// `schedule`'s parameters can be.
pub fn read_client(schedule: &Schedule, path: &Path, kind: FileKind) -> Result<Vec<u8>, Error> {
    read(path, kind.what(), client::max_file_bytes(schedule, kind))
}

/// Writes `bytes` to `path` atomically; an existing file is replaced only with `force`.
/// `private`: owner-only permissions (the secret key).
pub fn write(path: &Path, bytes: &[u8], force: bool, private: bool) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return fail(
                Kind::File,
                format!(
                    "cannot write {}: no directory {}",
                    path.display(),
                    dir.display()
                ),
            );
        }
    }
    hel::atomic::stage(path, bytes, force, &[], private)
        .and_then(|staged| staged.publish())
        .map_err(|e| Error::new(Kind::File, e))
}

/// A file that is not what it should be, prefixed with its name.
pub fn format_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Format, format!("{}: {e}", path.display()))
}
