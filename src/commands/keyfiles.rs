//! Loading the files the client commands share (schedule, secret key), with errors that name
//! the file, and formatting byte counts.

use std::path::Path;

use hel_runtime::ckks::{Context, SecretKey};
use hel_runtime::client::{self, ClientError, FileKind};
use hel_runtime::schedule::{limits, Schedule};
use miette::Result;

use super::common::user_error;

/// Default file names inside a key directory.
pub const SECRET_KEY_FILE: &str = "secret.key";
pub const EVAL_KEYS_FILE: &str = "eval.keys";
/// The bootstrapping keys of a program that bootstraps (`hel compile --refresh bootstrap`).
pub const BOOTSTRAP_KEYS_FILE: &str = "boot.keys";

/// Reads a whole regular file of at most `max` bytes (see [`hel::bounded`]); the error says
/// which role the file plays.
pub fn read_bytes(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    hel::bounded::read_limited(path, max)
        .map_err(|e| user_error(format!("cannot read {what} {}: {e}", path.display())))
}

/// Reads a client file (keys, ciphertexts) of `kind`, at most as large as such a file for
/// `schedule`'s parameters can be. Its kind and the length its envelope declares are read
/// from the front of the file first: a file of another kind is named as such, and one whose
/// size is not what it declares is refused without being read (a 3 GB `eval.keys` was read
/// whole before "3219668540 bytes after the end of the data").
pub fn read_client_file(schedule: &Schedule, path: &Path, kind: FileKind) -> Result<Vec<u8>> {
    use hel_runtime::client::container::{declared_len, length_error, PEEK_BYTES};
    let cannot = |e: hel::bounded::ReadError| {
        user_error(format!(
            "cannot read {} {}: {e}",
            kind.what(),
            path.display()
        ))
    };
    hel::bounded::read_checked(path, u64::MAX, PEEK_BYTES, cannot, |head, size| {
        let total = declared_len(head, kind).map_err(|e| file_error(path, e))?;
        let max = client::max_file_bytes(schedule, kind);
        if size > max {
            return Err(cannot(hel::bounded::ReadError::TooLarge { size, max }));
        }
        if size != total {
            return Err(file_error(path, length_error(kind, size, total)));
        }
        Ok(())
    })
}

/// The size of the client file at `path` where its envelope declares exactly that size and
/// `kind`, else `None`: what a memory estimate may count before the file is read (a file
/// padded to gigabytes was counted as keys in memory, and refused for that instead of for
/// its length).
pub fn declared_file_size(path: &Path, kind: FileKind) -> Option<u64> {
    use hel_runtime::client::container::{declared_len, PEEK_BYTES};
    let (file, head) = hel::bounded::peek(path, u64::MAX, PEEK_BYTES).ok()?;
    declared_len(&head, kind)
        .ok()
        .filter(|&total| total == file.size())
}

/// Loads and validates a compiled program (`.helc`, binary or RON).
pub fn load_schedule(path: &Path) -> Result<Schedule> {
    let bytes = hel::bounded::read_checked(
        path,
        limits::MAX_SCHEDULE_FILE,
        hel_runtime::schedule::SCHEDULE_HEADER,
        |e| {
            user_error(format!(
                "cannot read compiled program {}: {e}",
                path.display()
            ))
        },
        |head, size| {
            hel_runtime::schedule::check_file_size(head, size)
                .map_err(|e| user_error(format!("{}: {e}", path.display())))
        },
    )?;
    if bytes.is_empty() {
        return Err(user_error(format!(
            "{}: the file is empty, not a compiled program (`hel compile ... -o FILE.helc`)",
            path.display()
        )));
    }
    Schedule::from_bytes(&bytes).map_err(|e| {
        // A `.hel` source given where its compilation belongs: say so, not how RON failed.
        // (A source is UTF-8 and small: anything else is not parsed as one.)
        let source = path.extension().is_some_and(|x| x == "hel")
            || (bytes.len() as u64 <= limits::MAX_SOURCE_FILE
                && std::str::from_utf8(&bytes).is_ok_and(|text| {
                    hel_compiler::syntax::parse(&hel_compiler::SourceFile::new(
                        path.display().to_string(),
                        text.to_string(),
                    ))
                    .is_ok()
                }));
        if source {
            user_error(format!(
                "{}: this is a .hel source program, not a compiled one; compile it first \
                 (`hel compile {} -o PROGRAM.helc`) and give the .helc file",
                path.display(),
                path.display()
            ))
        } else {
            user_error(format!("{}: {e}", path.display()))
        }
    })
}

/// A client-file error, prefixed with the file it concerns.
pub fn file_error(path: &Path, e: ClientError) -> miette::Report {
    user_error(format!("{}: {e}", path.display()))
}

/// The CKKS context of a schedule (parameters were validated with the schedule).
pub fn context(schedule: &Schedule, path: &Path) -> Result<Context> {
    client::context(schedule).map_err(|e| file_error(path, e))
}

/// Loads a secret-key file made for `schedule`.
pub fn load_secret_key(schedule: &Schedule, ctx: &Context, path: &Path) -> Result<SecretKey> {
    let bytes = read_client_file(schedule, path, FileKind::SecretKey)?;
    client::secret_key_from_bytes(schedule, ctx, &bytes).map_err(|e| file_error(path, e))
}

/// The bootstrapping circuit of a schedule that bootstraps; `None` for one that does not.
pub fn bootstrapper(
    schedule: &Schedule,
    path: &Path,
) -> Result<Option<hel_runtime::ckks::bootstrap::Bootstrapper>> {
    client::bootstrapper(schedule).map_err(|e| file_error(path, e))
}

/// `123456789 bytes (117.7 MiB)` (see [`hel::memory::human_bytes`]).
pub fn human_bytes(n: usize) -> String {
    hel::memory::human_bytes(n as u64)
}
