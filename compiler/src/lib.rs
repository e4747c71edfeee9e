//! hel-compiler: from `.hel` source to a checked, typed dataflow IR, through the depth-optimizing
//! passes, to a CKKS schedule.
//!
//! One call compiles a program ([`compile`]); the stages are public for tools that want to look
//! at the steps between:
//!
//! ```
//! use hel_compiler::{compile, Options, SourceFile};
//!
//! let src = SourceFile::new(
//!     "square.hel",
//!     "input x: enc vector[4] range [-1, 1]; let y = x * x + 1; output y;",
//! );
//! let compiled = compile(&src, &Options::default())?;
//! let report = compiled.report();
//! assert_eq!(report.depth, 1); // one multiplication, one level
//! assert_eq!(report.params.security_bits, 128);
//! # Ok::<(), hel_compiler::Diagnostic>(())
//! ```
//!
//! Data flows one way: [`syntax`] parses text into an AST, [`check`] resolves names and checks
//! shapes and secrecy while elaborating the AST into the [`ir`], [`passes`] transform that IR
//! (the order is in [`passes::pipeline`]), [`analysis`] measures its depth, and [`lower`] turns
//! it into a [`hel_schedule::Schedule`]: packing, levels, scales, parameters and keys.
//! [`rounds`] rewrites a training program's AST into the round programs `hel train` runs when
//! its loop does not fit one circuit. The compiler never links the CKKS engine: the schedule
//! and the rules it must obey are the `hel-schedule` contract crate, which the runtime
//! executes.
//!
//! Every stage reports problems as a [`Diagnostic`] that points into the source and carries a
//! stable [`Code`].

pub mod analysis;
pub mod check;
pub mod diagnostics;
pub mod driver;
pub mod ir;
pub mod limits;
pub mod lower;
pub mod passes;
pub mod rounds;
pub mod source;
pub mod syntax;

pub use diagnostics::{Code, Diagnostic};
pub use driver::{compile, compile_ast, Compiled, Options};
pub use limits::Limits;
pub use source::{SourceFile, Span};
use std::sync::OnceLock;

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
    frontend_limited(source, overrides, &Limits::DEFAULT)
}

/// [`frontend`] under the budgets `limits` (see [`limits`]).
pub fn frontend_limited(
    source: &SourceFile,
    overrides: &[(String, f64)],
    limits: &Limits,
) -> Result<ir::Program, Diagnostic> {
    on_big_stack(|| {
        let ast = syntax::parse(source)?;
        check::elaborate_limited(source, &ast, overrides, limits).map(|(p, _)| p)
    })
}

/// [`frontend`] for a program already parsed (or built) as an AST of `source`, such as a round
/// program of [`rounds`]: checks it and returns its IR, with diagnostics pointing into `source`
/// at the AST's spans.
pub fn frontend_ast(
    source: &SourceFile,
    ast: &syntax::ast::Program,
    overrides: &[(String, f64)],
    limits: &Limits,
) -> Result<ir::Program, Diagnostic> {
    on_big_stack(|| check::elaborate_limited(source, ast, overrides, limits).map(|(p, _)| p))
}

/// Stack of every thread that runs compiler code: 256 MiB, reserved, not committed.
const BIG_STACK: usize = 256 << 20;

/// The threads compiler code runs on: their stacks are [`BIG_STACK`], and the parallel loops of
/// the lowering, which run on the pool of the thread that starts them, run here too.
static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// Runs `f` on a thread with a 256 MiB stack (one of a pool of such threads, whose parallel
/// loops stay in the pool) and returns its result. The stages recurse over the expression tree
/// and over chains of IR nodes; the budgets of [`limits`] bound how deep, and this stack holds
/// that depth. If no pool can be started, runs `f` on a thread of its own with the big stack.
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(BIG_STACK)
            .thread_name(|i| format!("hel-compiler-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => on_own_big_stack(f),
    }
}

fn on_own_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let f = std::sync::Mutex::new(Some(f));
    let run = || f.lock().ok().and_then(|mut g| g.take()).map(|f| f());
    let result = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(BIG_STACK)
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
