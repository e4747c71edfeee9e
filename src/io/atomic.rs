//! Atomic file writes: write a temporary file in the same directory, sync it, rename it over
//! the target. An interrupted or failed command leaves no partial output.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically. Refuses to replace an existing file unless `force`, and
/// refuses (always) to write over any of `inputs`.
pub fn write_new(path: &Path, bytes: &[u8], force: bool, inputs: &[&Path]) -> Result<(), String> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if inputs.iter().any(|i| same(i, path)) {
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}
