//! The machine's memory, and the check that a command fits in it before it allocates: a key
//! generation or a server run that needs more than the machine has is refused with the figure
//! and what to change, instead of being killed by the kernel halfway (a deep program at
//! N = 2^16 once asked `hel keygen` for more than 24 GiB).

use std::fmt;

/// A `/proc/meminfo` field in bytes (`None` where it cannot be read: not Linux, or no such
/// field).
fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// Physical memory.
pub fn total() -> Option<u64> {
    meminfo("MemTotal")
}

/// Memory available to a new allocation without swapping (`MemAvailable`).
pub fn available() -> Option<u64> {
    meminfo("MemAvailable")
}

/// `123456789 bytes (117.7 MiB)`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1024.0;
        unit = u;
        if v < 1024.0 {
            break;
        }
    }
    format!("{n} bytes ({v:.1} {unit})")
}

/// A command that would need more memory than it may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// What would run out: `key generation`, `the server's run`.
    pub what: String,
    pub need: u64,
    pub have: u64,
    /// Where `have` comes from: the limit given, or the machine.
    pub limit_from: &'static str,
    /// What to change.
    pub hint: String,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needs at least {} of memory, more than {} ({}); {}",
            self.what,
            human_bytes(self.need),
            human_bytes(self.have),
            self.limit_from,
            self.hint
        )
    }
}

impl std::error::Error for TooLarge {}

/// Refuses `need` bytes when they exceed `limit` (a `--memory-limit`) or, without one, the
/// memory available now. Where the machine's memory cannot be read and no limit is given,
/// nothing is refused.
pub fn check(what: &str, need: u64, limit: Option<u64>, hint: &str) -> Result<(), TooLarge> {
    let (have, limit_from) = match limit {
        Some(l) => (l, "--memory-limit"),
        None => match available() {
            Some(a) => (a, "the memory available on this machine"),
            None => return Ok(()),
        },
    };
    if need > have {
        return Err(TooLarge {
            what: what.to_string(),
            need,
            have,
            limit_from,
            hint: hint.to_string(),
        });
    }
    Ok(())
}

/// What to change when a schedule's keys or working set are too large.
pub const SMALLER_PROGRAM: &str = "compile with a smaller --max-log-n, fewer iterations per \
circuit or smaller tensors (hel compile --json reports the figures as `resources`)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_names_the_figures() {
        assert!(check("x", 10, Some(10), "").is_ok());
        let e = check("key generation", 3 << 30, Some(1 << 30), "use less").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("key generation needs at least 3221225472 bytes (3.0 GiB)"),
            "{msg}"
        );
        assert!(
            msg.contains("1073741824 bytes (1.0 GiB) (--memory-limit); use less"),
            "{msg}"
        );
    }

    #[test]
    fn the_machine_reports_its_memory() {
        if !std::path::Path::new("/proc/meminfo").exists() {
            eprintln!("skipped: no /proc/meminfo on this system");
            return;
        }
        let (t, a) = (total().unwrap(), available().unwrap());
        assert!(a <= t && t > 0, "available {a} total {t}");
        // Nothing fits in more than the whole machine.
        assert!(check("x", t.saturating_mul(2), None, "").is_err());
    }
}
