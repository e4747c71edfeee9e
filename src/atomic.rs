//! Atomic file writes: write a temporary file in the same directory, sync it, then publish it
//! under its name, and sync the directory. An interrupted or failed command leaves no partial
//! output, and a reader never sees a half-written file.
//!
//! Publishing without `--force` is an atomic create: a hard link from the temporary file to
//! the name, which the kernel refuses if the name exists (what `tempfile`'s
//! `persist_noclobber` does). Of two writers racing for one name exactly one succeeds, and a
//! file someone else creates while we write is never replaced. With `--force` it is a rename
//! over the name. (On file systems without hard links, such as FAT, publishing falls back to
//! check-then-rename, where that race is back.)
//!
//! Temporary files are named `.NAME.tmpPID-N`, owned by process PID. A killed run cannot
//! remove its own, so every write first removes the temporary files in its directory whose
//! process no longer exists: nothing a kill leaves outlives the next write there. (`O_TMPFILE`
//! would make them invisible but is Linux-only, not supported by every file system, and
//! `--force` would still need a visible name to rename from.) The process check sees this
//! machine's processes: a directory shared with another machine or PID namespace could lose a
//! live writer's temporary file there, which fails that write with an error, never a partial
//! file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically. Refuses to replace an existing file unless `force`, and
/// refuses (always) to write over any of `inputs`.
pub fn write_new(path: &Path, bytes: &[u8], force: bool, inputs: &[&Path]) -> Result<(), String> {
    stage(path, bytes, force, inputs, false)?.publish()
}

/// Whether `a` and `b` name the same existing file (through links and relative paths).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Checks the overwrite rules of [`write_new`] without writing (to fail before slow work).
/// Only advice: the atomic create of [`Staged::publish`] is what enforces no-clobber.
pub fn check_writable(path: &Path, force: bool, inputs: &[&Path]) -> Result<(), String> {
    if inputs.iter().any(|i| same_file(i, path)) {
        return Err(format!(
            "refusing to overwrite input file {}",
            path.display()
        ));
    }
    match path.symlink_metadata() {
        // A device, pipe, socket or directory is never replaced, not even with `--force`:
        // the rename that publishes a file would put a regular file in its place (once
        // `/dev/null`, for every process on the machine).
        Ok(m) if !m.is_file() && !m.file_type().is_symlink() => Err(format!(
            "{} is not a regular file ({}); hel writes only regular files",
            path.display(),
            kind_of(&m.file_type())
        )),
        Ok(_) if !force => Err(exists(path)),
        _ => Ok(()),
    }
}

/// What a non-regular file is, in words.
fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a plain file"
    }
}

fn exists(path: &Path) -> String {
    format!("{} exists; pass --force to replace it", path.display())
}

/// A complete, synced temporary file waiting to be published under its name. Dropping it
/// unpublished removes the temporary file. Commands that write several files (`hel keygen`)
/// stage them all before publishing any, so a failure while writing leaves none of them.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    force: bool,
}

/// Writes `bytes` to a new temporary file next to `path`, after the checks of
/// [`check_writable`] and removing temporary files that killed runs left there. With `private`
/// (secrets) the file is created with mode 0600 (owner only) on Unix before any byte is
/// written, so the secret is never readable by others, not even while the temporary file
/// exists.
pub fn stage(
    path: &Path,
    bytes: &[u8],
    force: bool,
    inputs: &[&Path],
    private: bool,
) -> Result<Staged, String> {
    check_writable(path, force, inputs)?;
    if path.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    remove_stale_temps(&dir);
    // Unique per process and call, so parallel writes in one process never share a temp file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.tmp{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let staged = Staged {
        tmp,
        path: path.to_path_buf(),
        dir,
        force,
    };
    let written = create_exclusive(&staged.tmp, private).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    // On error `staged` is dropped here, which removes the partial temporary file.
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(staged)
}

impl Staged {
    /// Publishes the file under its name: an atomic create (refused if the name exists), or
    /// with `force` a rename over it.
    pub fn publish(self) -> Result<(), String> {
        let path = &self.path;
        let result = if self.force {
            std::fs::rename(&self.tmp, path)
        } else {
            match std::fs::hard_link(&self.tmp, path) {
                Ok(()) => std::fs::remove_file(&self.tmp),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(exists(path)),
                // No hard links on this file system (EPERM, EOPNOTSUPP): check, then rename.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::PermissionDenied | ErrorKind::Unsupported
                    ) =>
                {
                    if path.symlink_metadata().is_ok() {
                        return Err(exists(path));
                    }
                    std::fs::rename(&self.tmp, path)
                }
                Err(e) => Err(e),
            }
        };
        result
            .and_then(|()| sync_dir(&self.dir))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Already gone once published; otherwise an unpublished (or failed) write.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The process that owns a temporary file named `.NAME.tmpPID-N`, if `name` is one.
fn temp_owner(name: &str) -> Option<u64> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp")?;
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files in `dir` whose process is gone (best effort: a directory that
/// cannot be listed, or a file that cannot be removed, is left as it is).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` exists on this machine (ourselves included). Where that cannot be
/// told, it is assumed to exist, so nothing is removed.
fn process_alive(pid: u64) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false; // beyond any process id
        };
        if pid <= 0 {
            return true; // not a process: kill() would mean a whole group
        }
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Creates a new file (never follows or reuses an existing one), owner-only if `private`.
fn create_exclusive(path: &Path, private: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o666 });
    }
    #[cfg(not(unix))]
    let _ = private;
    opts.open(path)
}

/// Makes the rename durable (Unix; elsewhere renames are not synced through directories).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("hel-atomic-{tag}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn writes_refuses_and_leaves_no_temp_files() {
        let tmp = tempdir("basic");
        let d = tmp.path();
        let p = d.join("out.bin");
        write_new(&p, b"one", false, &[]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert!(write_new(&p, b"two", false, &[])
            .unwrap_err()
            .contains("--force"));
        write_new(&p, b"two", true, &[]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let err = write_new(&p, b"three", true, &[&p]).unwrap_err();
        assert!(err.contains("refusing to overwrite input"), "{err}");
        // Failure (missing directory) leaves nothing behind.
        assert!(write_new(&d.join("missing/x"), b"x", false, &[]).is_err());
        let names: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempdir("private");
        let d = tmp.path();
        let p = d.join("secret");
        stage(&p, b"s", false, &[], true)
            .unwrap()
            .publish()
            .unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn concurrent_writers_to_one_path_exactly_one_wins() {
        let tmp = tempdir("race");
        let p = tmp.path().join("out.bin");
        for round in 0..10 {
            let _ = std::fs::remove_file(&p);
            let barrier = std::sync::Barrier::new(8);
            let results: Vec<Result<(), String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8u8)
                    .map(|i| {
                        let (p, barrier) = (&p, &barrier);
                        s.spawn(move || {
                            let staged = stage(p, &[i; 64], false, &[], false)?;
                            barrier.wait();
                            staged.publish()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<usize> = (0..8).filter(|&i| results[i].is_ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                assert!(r.contains("exists; pass --force"), "{r}");
            }
            assert_eq!(std::fs::read(&p).unwrap(), vec![winners[0] as u8; 64]);
            assert_eq!(names(tmp.path()), vec!["out.bin".to_string()]);
        }
    }

    #[test]
    fn a_file_created_while_writing_is_not_replaced_without_force() {
        let tmp = tempdir("created");
        let p = tmp.path().join("out.bin");
        let staged = stage(&p, b"ours", false, &[], false).unwrap();
        std::fs::write(&p, b"theirs").unwrap();
        let err = staged.publish().unwrap_err();
        assert!(err.contains("exists; pass --force"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"theirs");
        // With --force the staged file replaces it.
        let staged = stage(&p, b"ours", true, &[], false).unwrap();
        std::fs::write(&p, b"theirs again").unwrap();
        staged.publish().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"ours");
        // An unpublished staged file leaves nothing behind.
        drop(stage(&tmp.path().join("never.bin"), b"x", false, &[], false).unwrap());
        assert_eq!(names(tmp.path()), vec!["out.bin".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn temporary_files_of_killed_runs_are_removed_by_the_next_write() {
        let tmp = tempdir("stale");
        let d = tmp.path();
        // A process that has exited, as a killed `hel` would have.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = format!(".out.bin.tmp{dead}-0");
        let stale_other = format!(".keys.bin.tmp{dead}-17");
        let beyond_any_pid = ".x.tmp99999999999-3".to_string();
        let live = format!(".other.bin.tmp{}-999999", std::process::id());
        let not_ours = ".notes.tmp-draft".to_string();
        for n in [&stale, &stale_other, &beyond_any_pid, &live, &not_ours] {
            std::fs::write(d.join(n), vec![0u8; 1024]).unwrap();
        }
        write_new(&d.join("out.bin"), b"new", false, &[]).unwrap();
        let mut expected = vec![live, not_ours, "out.bin".to_string()];
        expected.sort();
        assert_eq!(names(d), expected);
        assert_eq!(temp_owner(".a.b.tmp12-3"), Some(12));
        assert_eq!(temp_owner("a.tmp12-3"), None);
        assert_eq!(temp_owner(".a.tmp12-"), None);
        assert_eq!(temp_owner(".a.tmp-3"), None);
    }
}
