//! `hel`: the command-line front door to the compiler and the runtime.
//!
//! Every subcommand lives in its own file under `src/commands/` and is a thin layer over the
//! `hel-compiler` and `hel-runtime` libraries. Exit codes: 0 success, 1 user error (bad input,
//! failed check), 2 usage error (clap reports those itself).

use clap::Parser;

mod commands;
mod io;

fn main() {
    // Rust ignores SIGPIPE, turning a closed stdout (`hel decrypt ... | head`) into a panic in
    // `println!`; the default action ends the process quietly instead, as Unix tools do.
    #[cfg(unix)]
    // SAFETY: called before any thread exists; sets the disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = commands::Cli::parse();
    let code = match commands::dispatch(cli) {
        Ok(()) => 0,
        Err(report) => {
            eprintln!("{report:?}");
            1
        }
    };
    std::process::exit(code);
}
