//! Atomic file writes: write a temporary file in the same directory, sync it, rename it over
//! the target, sync the directory. An interrupted or failed command leaves no partial output,
//! and a reader never sees a half-written file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically. Refuses to replace an existing file unless `force`, and
/// refuses (always) to write over any of `inputs`.
pub fn write_new(path: &Path, bytes: &[u8], force: bool, inputs: &[&Path]) -> Result<(), String> {
    write_file(path, bytes, force, inputs, false)
}

/// Like [`write_new`], for secrets: on Unix the file is created with mode 0600 (owner only)
/// before any byte is written, so the secret is never readable by others, not even while the
/// temporary file exists.
pub fn write_private(
    path: &Path,
    bytes: &[u8],
    force: bool,
    inputs: &[&Path],
) -> Result<(), String> {
    write_file(path, bytes, force, inputs, true)
}

/// Whether `a` and `b` name the same existing file (through links and relative paths).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Checks the overwrite rules of [`write_new`] without writing (to fail before slow work).
pub fn check_writable(path: &Path, force: bool, inputs: &[&Path]) -> Result<(), String> {
    if inputs.iter().any(|i| same_file(i, path)) {
        return Err(format!(
            "refusing to overwrite input file {}",
            path.display()
        ));
    }
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    Ok(())
}

fn write_file(
    path: &Path,
    bytes: &[u8],
    force: bool,
    inputs: &[&Path],
    private: bool,
) -> Result<(), String> {
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
    // Unique per process and call, so parallel writes in one process never share a temp file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.tmp{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = create_exclusive(&tmp, private)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
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
        write_private(&p, b"s", false, &[]).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
