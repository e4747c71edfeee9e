//! The engine behind the depth-optimizing rewrites (`hoist-scalars`, `distribute`,
//! `reassociate`, `pipeline`).
//!
//! Rewrites such as `A @ (b + C @ d) -> A @ b + (A @ C) @ d` only pay off in combination: the
//! distribution alone does not lower depth, the re-association after it does, and only if `A @ C`
//! is free (client-precomputed). Checking each rewrite on its own would never find them. So the
//! engine works in two phases over symbolic terms:
//!
//! 1. **Minimum depth** (`md`): for every term, the least depth reachable by any combination of
//!    the enabled algebraic identities, memoized.
//! 2. **Budgeted rebuild** (ALAP): every output gets the program's minimum depth as its budget,
//!    and each term is built in the cheapest form (least work done twice) whose minimum depth
//!    fits its budget; operands get the budget minus what the operation costs. Off the critical
//!    path the budget is loose, so the plain form is kept and no work is duplicated needlessly.
//!    A term requested with several budgets is built once, at the tightest (rebuilding until
//!    the budgets settle), so that a value on the critical path and its uses off it share one
//!    form.
//!
//! The identities (each switched by [`Rules`]):
//! - hoist: `s * (A @ v) = (s A) @ v = A @ (s v)`, `s (a + b) = s a + s b`, ... — a public scalar
//!   moves onto the operand with the most slack;
//! - distribute: `A @ (a + b) = A @ a + A @ b`, `A @ (s 1) = s sum_cols(A)`, `a * (b + c) = ab + ac`;
//! - fold: `A @ (a * b) = (A diag(a)) @ b` — an element-wise product moves into the matrix, so
//!   `A @ h(u)` for a cubic `h` costs two levels after `u`, not three or four;
//! - reassociate: `A @ (B @ x) = (A @ B) @ x`; with client precomputation allowed, a product of
//!   encrypted inputs costs nothing (the client computes it before encrypting).
//!
//! Rules that look into an operand produced by another loop iteration are used only when
//! `cross_iteration` is set (`-O2`): that is software pipelining across the unrolled loop.
//!
//! The engine is split by phase, a file each: `term` (the interned terms and what is memoized
//! about them), `forms` (the equivalent forms of a term, one rewrite deep), `min_depth`
//! (phase 1), `build` (phase 2, the rebuilt graph) and `degree` (the degree analysis that the
//! client-precompute pass shares).

mod build;
mod degree;
mod forms;
mod min_depth;
mod term;

use super::client_precompute::{self, ClientPrecompute};
use super::pipeline::{Pass, ProductPricing};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Graph, NodeId, Op, OutputDecl, Program};
use crate::Span;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use term::{Entry, Mix, P, T};

pub use build::result_type;
pub use degree::{input_degrees, PRECOMPUTE_MAX_DEGREE};

#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    pub hoist: bool,
    pub distribute: bool,
    pub fold: bool,
    pub reassociate: bool,
    /// May rules look into values computed by a different loop iteration?
    pub cross_iteration: bool,
    /// Do products of encrypted inputs cost nothing (client-side precomputation)?
    pub precompute: bool,
    /// Will a later pass let the client compute products of encrypted inputs? Then such a
    /// product is not priced as the server's encrypted matrix product (see
    /// [`crate::lower::price`]) but as one level, the form the later pass starts from.
    pub precompute_later: bool,
    /// How a product of encrypted matrices on the server is priced.
    pub products: ProductPricing,
    /// The client's budget for products it computes: one larger than the whole budget is
    /// priced as the server's, since the client will not take it.
    pub client_budget: ClientPrecompute,
    /// Is a scaling merged into another (`s1 (s2 x)` -> `(s1 s2) x`) priced at its own
    /// minimum, through the scalings inside `x` (`Engine::md_alternative`)? A decaying
    /// average `s = 0.99 s + 0.01 Z[i]` reaches depth 0 only so; elsewhere it can move factors
    /// onto inputs for nothing (NAG at k = 6: the same depth, 15% more upload), so the driver
    /// tries it as a variant ([`crate::passes::pipeline::Options::merge_scales`]).
    pub merge_scales: bool,
}

/// A pass that runs the engine with a fixed set of rules (`hoist-scalars`, `distribute`,
/// `reassociate`, `pipeline`: each file in this folder says which).
pub struct EnginePass {
    pub name: &'static str,
    pub description: &'static str,
    pub rules: Rules,
}

impl Pass for EnginePass {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        optimize(p, self.rules)
    }
}

/// Bound on the build rounds of [`optimize`] (the logistic-regression programs settle in at most
/// five).
const MAX_BUILD_ROUNDS: usize = 16;

/// Most terms one search interns. The zoo's searches intern at most 8,054 (NAG at k = 6 with
/// merged scalings); merged scalings on NAG's twenty tabular iterations grew without bound
/// (2.1 million terms at k = 12, 20 s at k = 14, out of memory at k = 20). A search that
/// reaches the cap stops exploring alternatives and is abandoned: see [`optimize`].
const MAX_TERMS: usize = 1 << 17;

/// Which products of data the client takes (the products the search may price at depth 0,
/// or at one level for a later pass to hand to the client).
#[derive(Clone, Debug)]
enum Grants {
    /// Any product of at most this many values.
    Each(u64),
    /// Exactly these products.
    Only(BTreeSet<ProductKey>),
}

/// A product of data: the input-graph nodes of its factors without their public factors and
/// signs ([`Engine::product_key`]), which identify it across runs of the engine.
type ProductKey = (NodeId, NodeId);

/// What [`run`] gives: the rebuilt program, the products it built for the client, and those
/// the program computed already.
type Searched = (Program, Vec<(ProductKey, u64)>, BTreeSet<ProductKey>);

/// Runs the engine over a loop-free program.
///
/// The client's budget bounds the values of all the products it computes together. The search
/// cannot sum it as it goes (it asks about far more products than it builds: GD at k = 6
/// explored `Z[2] @ Z[0]ᵀ` before `Z[2] @ Z[1]ᵀ` and spent a `2x` budget on it), so it runs
/// with every product that fits the budget alone, and if the products it built for the client
/// exceed the budget together, again with only those that fit, taken in program order.
pub fn optimize(p: Program, rules: Rules) -> Result<Program, Diagnostic> {
    if p.graph.nodes().any(|(_, n)| matches!(n.op, Op::Loop(_))) {
        return Err(Diagnostic::new(
            Code::Internal,
            &p.source,
            Span::default(),
            "internal error: depth rewrites need an unrolled program",
        ));
    }
    let limit = client_precompute::budget_bytes(rules.client_budget, &p) / 8;
    let Some((program, mut built, existing)) = run(&p, rules, Grants::Each(limit)) else {
        return abandoned(p, rules);
    };
    if built.iter().map(|(_, v)| *v).sum::<u64>() <= limit {
        return super::dce::Dce.run(program);
    }
    // Products the program computes already first (an earlier pass planned them for the
    // client, and they stay unless this pass rewrites them), then program order: a product
    // of later data comes later (`Z[i + 1] @ Z[i]ᵀ` by i).
    built.sort_by_key(|((a, b), _)| (!existing.contains(&(*a, *b)), *a.max(b), *a.min(b), *a));
    let mut used = 0u64;
    let mut allowed = BTreeSet::new();
    for (key, values) in built {
        if used.saturating_add(values) <= limit {
            used += values;
            allowed.insert(key);
        }
    }
    match run(&p, rules, Grants::Only(allowed)) {
        Some((program, ..)) => super::dce::Dce.run(program),
        None => abandoned(p, rules),
    }
}

/// What a search that reached [`MAX_TERMS`] leaves: the program as it was (the rewrites are
/// optimizations, and the pipeline's other passes still apply), or, for the driver's
/// merged-scalings variant, an error that drops the variant.
fn abandoned(p: Program, rules: Rules) -> Result<Program, Diagnostic> {
    if rules.merge_scales {
        return Err(Diagnostic::new(
            Code::Budget,
            &p.source,
            Span::default(),
            format!("the depth search with merged scalings passed {MAX_TERMS} terms"),
        ));
    }
    Ok(p)
}

/// One run of the engine: the rebuilt program (before dead-code elimination), the products of
/// data it built for the client (with their values) and the products of data `p` computes;
/// `None` if the search reached [`MAX_TERMS`].
fn run(p: &Program, rules: Rules, grants: Grants) -> Option<Searched> {
    let degree = input_degrees(p);
    let mut e = Engine::new(&p.graph, rules, degree, grants);
    let existing = p
        .graph
        .nodes()
        .filter(|(_, n)| n.op == Op::MatMul)
        .filter_map(|(_, n)| match n.args[..] {
            [a, b] => e.product_key(e.mk(T::N(a)), e.mk(T::N(b))),
            _ => None,
        })
        .collect();
    e.uses = e.effective_uses(&p.outputs);
    let budget = p
        .outputs
        .iter()
        .map(|o| {
            let t = e.mk(T::N(o.node));
            e.md(&t)
        })
        .max()
        .unwrap_or(0);
    // Every term is built once, at the tightest budget any request for it had (`Engine::tight`).
    // Which terms are requested, and with which budgets, depends on the forms chosen, so build
    // again until no budget moves (budgets only go down, so this ends; a few rounds in practice).
    let mut outputs = Vec::new();
    for _ in 0..MAX_BUILD_ROUNDS {
        let before = e.tight.clone();
        e.restart_build();
        outputs = p
            .outputs
            .iter()
            .map(|o| {
                let t = e.mk(T::N(o.node));
                OutputDecl {
                    node: e.build(&t, budget),
                    ..o.clone()
                }
            })
            .collect();
        if e.tight == before {
            break;
        }
    }
    if e.exhausted.get() {
        return None;
    }
    let built = std::mem::take(&mut e.client_built);
    let graph = e.out.finish();
    Some((p.with_graph(graph, outputs), built, existing))
}

struct Engine<'a> {
    g: &'a Graph,
    rules: Rules,
    /// Per input-graph node: its degree as a polynomial in the inputs, if it is computed from
    /// inputs and constants only.
    degree: Vec<Option<u32>>,
    /// Which products of data the client takes ([`Rules::client_budget`]).
    grants: Grants,
    /// The products of data built for the client, with their values, in build order.
    client_built: Vec<(ProductKey, u64)>,
    /// Every term made by [`Engine::mk`], for hash-consing.
    terms: RefCell<HashMap<T, P, Mix>>,
    /// Every interned term, indexed by its [`P`].
    arena: RefCell<Vec<Entry>>,
    /// Set once [`MAX_TERMS`] terms are interned: the search stops exploring alternatives.
    exhausted: Cell<bool>,
    /// The interned `N(id)` term of each input-graph node, the most requested terms, by index.
    leaves: RefCell<Vec<Option<P>>>,
    /// The interned [`Engine::structural`] term of each input-graph node, once computed.
    structs: RefCell<Vec<Option<Option<P>>>>,
    out: Builder,
    /// Depth of every node of the output graph.
    depth: Vec<u32>,
    built: HashMap<P, Vec<(u32, NodeId)>, Mix>,
    /// Every (term, budget) built so far: a term whose build cannot meet its minimum depth yet
    /// (a product left for client precomputation) is still built once per budget, not once per
    /// request.
    built_at: HashMap<(P, u32), NodeId, Mix>,
    /// Output node of each public (plain) input-graph node, built once.
    plain: HashMap<NodeId, NodeId>,
    /// Per input-graph node: how many uses it has ([`Engine::effective_uses`]).
    uses: Vec<u32>,
    /// The least budget each term was requested with, kept across build rounds. Building a term
    /// at the budget of whichever request comes first gives one form per budget: a value built
    /// plainly for a consumer with slack and again, distributed, for a critical one is computed
    /// twice (for GD at k = 6, every pre-activation was computed in up to five ways). Building
    /// every request at the tightest budget gives one form that serves them all.
    tight: HashMap<P, u32, Mix>,
    /// The span of the input-graph operation being rebuilt: where a new node made only of
    /// inputs and constants (`A @ A` out of `A @ (A @ x)`) is reported, rather than at an
    /// `input` declaration.
    site: Option<Span>,
}

impl<'a> Engine<'a> {
    fn new(g: &'a Graph, rules: Rules, degree: Vec<Option<u32>>, grants: Grants) -> Engine<'a> {
        Engine {
            g,
            rules,
            degree,
            grants,
            client_built: Vec::new(),
            terms: RefCell::default(),
            arena: RefCell::default(),
            exhausted: Cell::new(false),
            leaves: RefCell::new(vec![None; g.len()]),
            structs: RefCell::new(vec![None; g.len()]),
            out: Builder::hash_consing(),
            depth: Vec::new(),
            built: HashMap::default(),
            built_at: HashMap::default(),
            plain: HashMap::new(),
            uses: Vec::new(),
            tight: HashMap::default(),
            site: None,
        }
    }

    /// Forgets the output graph of a previous build round (memoized depths and `tight` stay).
    fn restart_build(&mut self) {
        self.out = Builder::hash_consing();
        self.depth.clear();
        self.built.clear();
        self.built_at.clear();
        self.plain.clear();
        self.client_built.clear();
    }

    /// Per input-graph node: how many nodes and outputs use it, a public scaling or negation
    /// counting as its own uses (the search reaches through those for free). Reaching into a
    /// node with one use does not compute it twice: the node simply goes away. (NAG at `-O1`
    /// kept `(1 - eta) * (Zᵀ @ x)` rather than moving `1 - eta` onto `Zᵀ`, because that reached
    /// into the product, and bought the level back by computing `Z @ v` a second time.)
    fn effective_uses(&self, outputs: &[OutputDecl]) -> Vec<u32> {
        let mut uses = vec![0u32; self.g.len()];
        for o in outputs {
            uses[o.node.index()] += 1;
        }
        // Users come after their operands, so walking backwards sees every user's count first.
        for id in self.g.ids().rev() {
            let through = matches!(
                self.structural_p(id).map(|s| self.t(s)),
                Some(T::Scale(..) | T::Neg(_))
            );
            let each = if through { uses[id.index()] } else { 1 };
            for a in &self.node(id).args {
                uses[a.index()] += each;
            }
        }
        uses
    }
}
