//! Flag groups that several subcommands share, each defined once (`#[command(flatten)]`) so the
//! same flag has the same name, syntax, default and help everywhere, and the size syntax of the
//! memory flags. Every value is checked by clap, so a bad one is a usage error (exit code 2).

use clap::builder::TypedValueParser;
use clap::Args;
use hel_compiler::passes::client_precompute::ClientPrecompute;
use hel_compiler::passes::pipeline::{OptLevel, Options};

/// `--set NAME=VALUE` (check, ir, depth, compile).
#[derive(Args, Clone, Debug, Default)]
pub struct SetArgs {
    /// Override a `const` definition, e.g. `--set k=3` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, f64)>,
}

/// `-O0|-O1|-O2` and `--client-precompute` (ir, depth, compile, train).
#[derive(Args, Clone, Debug)]
pub struct OptArgs {
    /// Optimization level: -O0 (unroll, fold constants), -O1 (within one iteration), -O2
    /// (across iterations, with client precomputation).
    #[arg(short = 'O', long = "opt-level", value_name = "0|1|2", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=2))]
    pub level: u8,
    /// Client-side precomputation: off, auto (unbounded), a multiple of the encrypted data's
    /// own size (`2x`: extra inputs of at most twice the data's values), or a budget in bytes of
    /// extra input values.
    #[arg(long, value_name = "off|auto|Nx|BYTES", default_value = "auto")]
    pub client_precompute: ClientPrecompute,
}

impl OptArgs {
    pub fn options(&self) -> Options {
        let level = match self.level {
            0 => OptLevel::O0,
            1 => OptLevel::O1,
            _ => OptLevel::O2,
        };
        Options {
            level,
            client_precompute: self.client_precompute,
            unroll_factor: None,
            ..Options::default()
        }
    }
}

/// `--precision BITS` (depth, compile, train).
#[derive(Args, Clone, Debug)]
pub struct PrecisionArgs {
    /// Target bits of precision of the outputs (10..40): chooses the scale, hence the CKKS
    /// parameters.
    #[arg(long, value_name = "BITS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(10..=40))]
    pub precision: u32,
}

/// `--max-log-n 13..16` (depth, compile, train).
#[derive(Args, Clone, Debug)]
pub struct MaxLogNArgs {
    /// Largest ring degree (log2 N) the parameter selection may use. A circuit that needs a
    /// larger ring is too deep: `hel compile` refuses it, `hel train` splits the minibatches
    /// into rounds of smaller circuits.
    #[arg(long, value_name = "13..16", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(13..=16))]
    pub max_log_n: u32,
}

/// `--threads N` (run, train, bench ckks, bench logreg).
#[derive(Args, Clone, Debug)]
pub struct ThreadsArgs {
    /// Worker threads, at most 1024; 0 (the default) means all available cores.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=hel::MAX_THREADS as u64).map(|n| n as usize))]
    pub threads: usize,
}

impl ThreadsArgs {
    /// The thread count `--threads` stands for (0 resolved to the available cores).
    pub fn count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
    }
}

/// Parses one `--set NAME=VALUE` argument.
pub fn parse_set(s: &str) -> Result<(String, f64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not of the form NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a valid constant name"));
    }
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{value}` is not a finite number"));
    }
    Ok((name.to_string(), v))
}

/// Parses a memory size, the syntax of every `--memory-limit`: a positive number, optionally
/// fractional, then optionally a binary unit K, M, G or T (1024-based, any case) with an
/// optional `B` or `iB`, without spaces. A plain number (or one ending in `B` alone) is bytes.
/// `512M`, `4G`, `4GiB`, `1.5G`, `65536`; the result is rounded down to whole bytes and must be
/// at least 1.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let bad = || format!("`{s}` is not a size like 512M, 4G, 1.5GiB or 65536 (bytes)");
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    // Strip `ib` or `b`, then the unit letter.
    let rest = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, shift) = match rest.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let shift = match c {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                _ => {
                    let unit = &t[rest.len() - 1..][..1];
                    return Err(format!("`{s}`: unknown unit `{unit}` (use K, M, G or T)"));
                }
            };
            (&rest[..rest.len() - 1], shift)
        }
        // `iB` needs a unit before it (`5iB` is no size).
        _ if lower.ends_with("ib") => return Err(bad()),
        _ => (rest, 0),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = v * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("`{s}`: the size must be at least 1 byte"));
    }
    if bytes >= usize::MAX as f64 {
        return Err(format!("`{s}`: too large"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("123B"), Ok(123));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("4GB"), Ok(4 << 30));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("4gib"), Ok(4 << 30));
        assert_eq!(parse_size(" 1.5G "), Ok(3 << 29));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("0.5K"), Ok(512));
    }

    #[test]
    fn bad_sizes() {
        for s in [
            "",
            "G",
            "GiB",
            "8X",
            "8XB",
            "8iB",
            "-1G",
            "0",
            "0.4",
            "1e3",
            "nan",
            "inf",
            "1.2.3M",
            "4 G B",
            "4 GB",
            "M4",
            "99999999999T",
        ] {
            assert!(parse_size(s).is_err(), "`{s}` was accepted");
        }
    }
}
