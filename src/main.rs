//! `hel`: the command-line front door to the compiler and the runtime.
//!
//! Every subcommand lives in its own file under `src/commands/` and is a thin layer over the
//! `hel-compiler` and `hel-runtime` libraries. Exit codes: 0 success, 1 user error (bad input,
//! failed check), 2 usage error (a bad flag, flag value or combination of flags: clap's own
//! errors and [`commands::errors::UsageError`]). With `--json`, a failure prints one JSON object
//! `{"error": {...}}` on stdout as well as the text report on stderr.

use clap::Parser;

mod commands;
mod io;

/// See the dependency's comment in Cargo.toml: large vectors are reused, not re-mapped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Rust ignores SIGPIPE, turning a closed stdout (`hel decrypt ... | head`) into a panic in
    // `println!`; the default action ends the process quietly instead, as Unix tools do.
    #[cfg(unix)]
    // SAFETY: called before any thread exists; sets the disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout with exit code 0, as clap prints them.
        Err(e) if e.use_stderr() && std::env::args_os().skip(1).any(|a| a == "--json") => {
            std::process::exit(commands::errors::report_clap_failure(&e))
        }
        Err(e) => e.exit(),
    };
    let json = cli.json();
    let code = match commands::dispatch(cli) {
        Ok(()) => 0,
        Err(report) => commands::errors::report_failure(&report, json),
    };
    std::process::exit(code);
}
