//! The ordered pass pipeline. Each pass is one file in this folder; this file is the single
//! place that says which passes run, in which order, at which optimization level.

use super::client_precompute::ClientPrecompute;
use crate::diagnostics::Diagnostic;
use crate::ir::Program;

/// One transformation of the tensor IR.
pub trait Pass: Send + Sync {
    /// The name used by `hel ir --after NAME` and in logs.
    fn name(&self) -> &'static str;
    /// One line for `hel ir --list-passes`.
    fn description(&self) -> &'static str;
    fn run(&self, program: Program) -> Result<Program, Diagnostic>;
}

/// How hard the middle end works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum OptLevel {
    /// Unroll and fold constants only.
    O0,
    /// Everything within one loop iteration.
    O1,
    /// Everything, including rewrites across iterations.
    #[default]
    O2,
}

/// The pseudo-pass naming the IR exactly as the front end produced it.
pub const PARSE: &str = "parse";

/// Everything that selects and configures passes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub level: OptLevel,
    pub client_precompute: ClientPrecompute,
    /// Unroll loops by this factor instead of fully. The passes after `unroll` need a loop-free
    /// program, so with a factor the pipeline stops after `unroll` (for inspecting the IR).
    pub unroll_factor: Option<u32>,
    /// How the depth search prices a product of two encrypted matrices.
    pub products: ProductPricing,
    /// Whether the depth search merges scalings through chains of them
    /// ([`super::depth_search::Rules::merge_scales`]); the driver tries it as a variant.
    pub merge_scales: bool,
}

/// How the depth search ([`super::depth_search`]) prices a product of two encrypted matrices
/// that the server computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProductPricing {
    /// By the lowering's rules ([`crate::lower::price`]): the levels the slot layouts spend on
    /// it beyond a matrix-vector product, and its rotations between forms equally deep.
    #[default]
    Lowering,
    /// One level, as any product in the tensor model. The search's level model is coarser
    /// than the lowering's (a matrix-vector product costs one or two levels there, plus
    /// conversions), so where a cheaper-looking form loses after lowering, this one can win:
    /// the driver lowers both and keeps the better ([`crate::driver`]).
    Tensor,
}

pub struct Pipeline {
    passes: Vec<Box<dyn Pass>>,
}

impl Pipeline {
    pub fn new(level: OptLevel) -> Pipeline {
        Pipeline::with_options(Options {
            level,
            ..Options::default()
        })
    }

    /// The passes for `options`, in order:
    ///
    /// - `-O0`: unroll, compile-time arithmetic, dead-code removal.
    /// - `-O1`: also algebraic simplification, common subexpressions, linear combinations,
    ///   powers and polynomials, product rebalancing, scalar hoisting, distribution and
    ///   re-association, each within one loop iteration.
    /// - `-O2`: the same rules across iterations, software pipelining and client-side
    ///   precomputation.
    ///
    /// `-O2` ends with `client-products`, which hands every remaining product of two encrypted
    /// inputs to the client (data the client holds; uploading the product costs less than the
    /// server's matrix product). Below `-O2` the server computes them.
    pub fn with_options(options: Options) -> Pipeline {
        let level = options.level;
        if let Some(factor) = options.unroll_factor {
            return Pipeline {
                passes: vec![Box::new(super::unroll::Unroll {
                    factor: Some(factor),
                })],
            };
        }
        let mut passes: Vec<Box<dyn Pass>> = vec![
            Box::new(super::unroll::Unroll { factor: None }),
            Box::new(super::const_fold::ConstFold),
        ];
        if level >= OptLevel::O1 {
            passes.push(Box::new(super::simplify::Simplify));
            passes.push(Box::new(super::cse::Cse));
            passes.push(Box::new(super::collect_terms::CollectTerms));
        }
        passes.push(Box::new(super::dce::Dce));
        if level >= OptLevel::O1 {
            passes.push(Box::new(super::poly_eval::PolyEval));
            passes.push(Box::new(super::rebalance::Rebalance));
            passes.push(Box::new(super::hoist_scalars::pass(&options)));
            passes.push(Box::new(super::distribute::pass(&options)));
            passes.push(Box::new(super::reassociate::pass(&options)));
        }
        if level == OptLevel::O1 {
            passes.push(Box::new(super::combine_products::CombineProducts));
        }
        if level >= OptLevel::O2 {
            passes.push(Box::new(super::software_pipeline::pass(&options)));
            passes.push(Box::new(super::client_precompute::ClientPrecomputePass {
                mode: options.client_precompute,
            }));
            passes.push(Box::new(super::client_precompute::RemainingProductsPass {
                mode: options.client_precompute,
            }));
            // Last: combining public factors first can hide a product of data the client
            // would have taken (`(P 1) @ (1 xᵀ)`: data, degree 2; `(P 1 1) @ xᵀ`, degree 3).
            passes.push(Box::new(super::combine_products::CombineProducts));
        }
        Pipeline { passes }
    }

    pub fn passes(&self) -> impl Iterator<Item = &dyn Pass> {
        self.passes.iter().map(|p| p.as_ref())
    }

    /// `(name, description)` of every pass, `parse` first.
    pub fn list(&self) -> Vec<(&'static str, &'static str)> {
        std::iter::once((PARSE, "the IR as written: loops kept, nothing folded"))
            .chain(self.passes().map(|p| (p.name(), p.description())))
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        name == PARSE || self.passes().any(|p| p.name() == name)
    }

    /// Runs the passes in order, stopping after `after` if given. `log` receives one line per
    /// pass.
    pub fn run(
        &self,
        mut program: Program,
        after: Option<&str>,
        log: &mut dyn FnMut(&str, &Program),
    ) -> Result<Program, Diagnostic> {
        if after == Some(PARSE) {
            return Ok(program);
        }
        for pass in self.passes() {
            // On the big stack: passes walk chains of nodes as long as the unrolled program.
            program = crate::on_big_stack(|| pass.run(program))?;
            log(pass.name(), &program);
            if after == Some(pass.name()) {
                break;
            }
        }
        Ok(program)
    }
}
