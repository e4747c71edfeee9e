//! `--refresh bootstrap` for `hel compile` and `hel depth`: a training loop deeper than one
//! parameter set holds, compiled as rounds joined by bootstraps of the model's state in one
//! schedule ([`hel_compiler::rounds::compile_bootstrapped`]), and the report of where the
//! bootstraps went and what they cost.

use clap::{Args, ValueEnum};
use hel::bootstrapped::BootstrapReport;
use hel_compiler::rounds::Bootstrapped;
use hel_compiler::{Options, SourceFile};

use super::common::diagnostic;
use super::errors::usage_error;

/// How a loop deeper than one parameter set is refreshed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RefreshArg {
    /// One circuit: a program too deep for the 128-bit budget is an error.
    #[default]
    None,
    /// Rounds joined by bootstraps of the model's state, in one schedule (N = 2^16, 128-bit).
    Bootstrap,
    /// One circuit where the program fits one, else bootstraps (a training loop too deep for
    /// one circuit that the rounds can split).
    Auto,
}

/// `--refresh` and `--round-size` (compile, depth).
#[derive(Args, Clone, Debug)]
pub struct RefreshArgs {
    /// How a training loop deeper than one parameter set is refreshed: `none` (one circuit),
    /// `bootstrap`: the compiler cuts the training loop (`for i in 0..k`, or to any number of
    /// iterations) into rounds and places a bootstrap of the state it carries (vectors,
    /// matrices, scalars) between them, in one schedule; the client uploads once and
    /// downloads once (the parameters are the bottom of the 128-bit bootstrapping chain,
    /// N = 2^16); `auto`: one circuit where it fits, else bootstraps.
    #[arg(long, value_enum, default_value = "none")]
    pub refresh: RefreshArg,
    /// With `--refresh bootstrap|auto`: minibatches per round (default: the size of least
    /// estimated server time on `--server-threads`, rounds and bootstraps, among those that
    /// fit the levels a bootstrap leaves).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub round_size: Option<u64>,
    /// With `--refresh bootstrap|auto`: the server's threads the round size is chosen for
    /// (the rounds' work divides among them, a bootstrap gains little from them; default:
    /// this machine's cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub server_threads: Option<u64>,
}

impl RefreshArgs {
    /// Whether the bootstrapped path is asked for outright; `--round-size` or
    /// `--server-threads` without `bootstrap` or `auto` is a usage error.
    pub fn bootstrap(&self) -> miette::Result<bool> {
        if self.refresh == RefreshArg::None {
            for (flag, given) in [
                ("--round-size", self.round_size.is_some()),
                ("--server-threads", self.server_threads.is_some()),
            ] {
                if given {
                    return Err(usage_error(format!(
                        "{flag} needs --refresh bootstrap or auto"
                    )));
                }
            }
        }
        Ok(self.refresh == RefreshArg::Bootstrap)
    }

    /// With `auto`, whether a compile error `d` of the single circuit means bootstraps: the
    /// program is too deep for one parameter set and is a loop the rounds split.
    pub fn falls_back(
        &self,
        d: &hel_compiler::Diagnostic,
        src: &SourceFile,
        sets: &[(String, f64)],
    ) -> bool {
        self.refresh == RefreshArg::Auto
            && d.code == hel_compiler::diagnostics::Code::TooDeep
            && hel_compiler::rounds::RoundTemplate::with_sets(src, sets).is_ok()
    }
}

/// Compiles `src` with bootstraps between rounds (see the module comment); errors are the
/// compiler's located diagnostics.
pub fn compile(
    src: &SourceFile,
    options: &Options,
    args: &RefreshArgs,
) -> miette::Result<(Bootstrapped, BootstrapReport)> {
    let rule = hel::bootstrapped::rule();
    if options.max_log_n < rule.log_n {
        return Err(usage_error(format!(
            "--refresh bootstrap runs at N = 2^{} (the 128-bit bootstrapping chain); \
             --max-log-n {} excludes it",
            rule.log_n, options.max_log_n
        )));
    }
    let options = Options {
        // 0: this machine's cores (`hel::bootstrapped::compile`).
        server_threads: args.server_threads.map_or(0, |n| n as usize),
        ..options.clone()
    };
    hel::bootstrapped::compile(src, &options, args.round_size.map(|r| r as usize))
        .map_err(diagnostic)
}
