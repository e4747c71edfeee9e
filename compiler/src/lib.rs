//! hel-compiler: from `.hel` source to a checked, typed dataflow IR, through the depth-optimizing
//! passes, to a CKKS schedule.
//!
//! Data flows one way: [`syntax`] parses text into an AST, [`check`] resolves names and checks
//! shapes and secrecy while elaborating the AST into the [`ir`], and [`passes`] transform that IR.
//! Every stage reports problems as a [`Diagnostic`] that points into the source.

pub mod analysis;
pub mod check;
pub mod diagnostics;
pub mod ir;
pub mod lower;
pub mod passes;
pub mod source;
pub mod syntax;

pub use diagnostics::Diagnostic;
pub use source::{SourceFile, Span};

/// Parses and checks `source`, returning the IR exactly as written (loops still loops).
///
/// `overrides` replaces the values of `const` definitions by name (the CLI's `--set NAME=VALUE`).
///
/// Runs on a thread with a large stack: the parser and checker recurse over the expression tree,
/// and a long (but accepted) expression must not overflow the caller's stack.
pub fn frontend(
    source: &SourceFile,
    overrides: &[(String, f64)],
) -> Result<ir::Program, Diagnostic> {
    on_big_stack(|| {
        let ast = syntax::parse(source)?;
        check::elaborate(source, &ast, overrides)
    })
}

/// Runs `f` on a thread with a 256 MiB stack (reserved, not committed) and returns its result.
/// If no thread can be started, runs `f` on the current thread.
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let f = std::sync::Mutex::new(Some(f));
    let run = || f.lock().ok().and_then(|mut g| g.take()).map(|f| f());
    let result = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, run)
            .ok()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
    });
    match result.flatten() {
        Some(v) => v,
        // The thread could not be spawned, so `f` was never taken: run it here.
        None => match f.into_inner().ok().flatten() {
            Some(f) => f(),
            None => unreachable!("the closure ran but produced no value"),
        },
    }
}
