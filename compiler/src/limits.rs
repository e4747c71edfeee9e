//! The compiler's budgets: how large a program may become before the compiler refuses it.
//!
//! A `.hel` file of a few hundred bytes can ask for astronomically much: a loop of 2^24
//! iterations nested four deep, a `zeros(2^24, 2^24)`, a chain of functions each calling the
//! previous one twice (2^n nodes once inlined). Every such size is checked against a limit
//! here *before* the work (the allocation, the unrolling, the inlining) is done, and a program
//! beyond one is refused with a [`Code::Budget`] diagnostic located at the offending
//! declaration, loop or call. The values and why they are what they are are listed in
//! docs/security.md ("Compiler budgets").
//!
//! Sums and products here saturate: an overflowing count is as much over a limit as a large
//! one, and must never wrap around to something small.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Graph, Node, Op, Program, Shape, Type};
use crate::source::Span;

/// The budgets one compilation runs under. [`Limits::default`] is what the CLI uses; tests
/// and fuzzing use smaller ones to stay fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most elements of one value: a vector's length, a matrix's rows × columns, a sequence
    /// input's length × its elements' size.
    pub max_tensor_elements: u64,
    /// Most loop iterations in all, a nested loop's counted once per iteration of the loops
    /// around it: unrolling makes one copy of the body per iteration.
    pub max_iterations: u64,
    /// Most IR nodes: of the program once its loops are unrolled, and made by the checker
    /// (which inlines functions and elaborates loop bodies).
    pub max_nodes: u64,
    /// Most expression nodes one call of a user function expands to once inlined, with the
    /// functions it calls.
    pub max_inlined: u64,
    /// Most element operations one run of the program takes in the tensor interpreter (the
    /// plaintext check runs it at every compile); a matrix product counts rows × inner ×
    /// columns.
    pub max_work: u64,
    /// Most slot-level operations one candidate layout of the lowering may take: a layout
    /// that packs badly (a tall matrix on a wide grid) can ask for millions; it is dropped,
    /// and the program refused only if every layout is over.
    pub max_ct_ops: u64,
}

impl Limits {
    /// The CLI's budgets.
    pub const DEFAULT: Limits = Limits {
        max_tensor_elements: 1 << 24,
        max_iterations: 1 << 16,
        max_nodes: 1 << 17,
        max_inlined: 1 << 16,
        max_work: 1 << 32,
        max_ct_ops: 1 << 21,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// Most user-function calls active at once (a function calling a function calling ...): the
/// checker inlines them by recursion, so the chain's length sets its stack depth.
pub const MAX_CALL_DEPTH: usize = 256;

/// Elements of a value of type `ty` (all elements of a sequence), saturating.
pub fn elements(ty: Type) -> u64 {
    let one = match ty.shape {
        Shape::Scalar => 1,
        Shape::Vector(n) => n as u64,
        Shape::Matrix(r, c) => (r as u64).saturating_mul(c as u64),
    };
    one.saturating_mul(ty.seq.map_or(1, |k| k as u64))
}

/// The size of a program once unrolled, and the interpreter's work to run it once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub iterations: u64,
    pub nodes: u64,
    pub work: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.iterations = self.iterations.saturating_add(other.iterations);
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.work = self.work.saturating_add(other.work);
    }
}

/// What running (or unrolling) `g` once costs. Recurses into loop bodies only, whose nesting
/// the parser bounds.
pub fn cost(g: &Graph) -> Cost {
    let mut total = Cost::default();
    for (_, n) in g.nodes() {
        total.add(node_cost(g, n));
    }
    total
}

fn node_cost(g: &Graph, n: &Node) -> Cost {
    if let Op::Loop(l) = &n.op {
        let trips = l.trip_count();
        let body = cost(&l.body.graph);
        return Cost {
            iterations: trips.saturating_add(trips.saturating_mul(body.iterations)),
            nodes: trips.saturating_mul(body.nodes),
            work: trips.saturating_mul(body.work),
        };
    }
    let arg = |k: usize| n.args.get(k).map(|a| g.node(*a).ty);
    let work = match (&n.op, arg(0), arg(1)) {
        (Op::MatMul, Some(a), Some(b)) => match (a.shape, b.shape) {
            (Shape::Matrix(r, k), Shape::Matrix(_, c)) => {
                (r as u64).saturating_mul(k as u64).saturating_mul(c as u64)
            }
            _ => elements(n.ty),
        },
        // Reductions and products read more elements than they write.
        _ => n
            .args
            .iter()
            .map(|a| elements(g.node(*a).ty))
            .fold(elements(n.ty), u64::saturating_add),
    };
    Cost {
        iterations: 0,
        nodes: 1,
        work,
    }
}

/// Refuses a program whose unrolled size or interpreter work is beyond `limits`, pointing at
/// the top-level statement (usually a loop) that takes it over.
pub fn check_program(p: &Program, limits: &Limits) -> Result<(), Diagnostic> {
    let mut total = Cost::default();
    for (_, n) in p.graph.nodes() {
        total.add(node_cost(&p.graph, n));
        let over = |what: &str, value: u64, max: u64| {
            (value > max).then(|| {
                Diagnostic::new(
                    Code::Budget,
                    &p.source,
                    n.span,
                    format!(
                        "the program needs {} {what} up to here, more than the limit of {max}",
                        shown(value)
                    ),
                )
                .with_label("this takes it over the limit")
                .with_help(
                    "use fewer loop iterations or smaller sizes; the limits are listed in \
                     docs/security.md",
                )
            })
        };
        if let Some(d) = over(
            "loop iterations (counting nested loops' once per outer iteration)",
            total.iterations,
            limits.max_iterations,
        )
        .or_else(|| {
            over(
                "IR nodes once loops are unrolled",
                total.nodes,
                limits.max_nodes,
            )
        })
        .or_else(|| {
            over(
                "element operations to run once",
                total.work,
                limits.max_work,
            )
        }) {
            return Err(d);
        }
    }
    Ok(())
}

/// A count as printed: saturated counts say so instead of printing 2^64 - 1.
fn shown(value: u64) -> String {
    if value == u64::MAX {
        "2^64 or more".into()
    } else {
        value.to_string()
    }
}

/// A [`Code::Budget`] diagnostic for a value of `ty` at `span` with more elements than
/// `limits` allow, if it has.
pub fn check_elements(
    src: &crate::SourceFile,
    ty: Type,
    span: Span,
    limits: &Limits,
) -> Result<(), Diagnostic> {
    let n = elements(ty);
    if n <= limits.max_tensor_elements {
        return Ok(());
    }
    Err(Diagnostic::new(
        Code::Budget,
        src,
        span,
        format!(
            "this {ty} has {} elements, more than the limit of {}",
            shown(n),
            limits.max_tensor_elements
        ),
    )
    .with_label("too large"))
}
