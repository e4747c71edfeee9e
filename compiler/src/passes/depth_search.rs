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

use super::pipeline::Pass;
use crate::analysis::depth::DepthModel;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Builder, Graph, Node, NodeId, Op, OutputDecl, Program, Secrecy, Shape, Type};
use crate::Span;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

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
}

/// A symbolic expression over the nodes of the input graph.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum T {
    /// A node of the input graph, to be optimized itself.
    N(NodeId),
    MatVec(P, P),
    MatMul(P, P),
    ScaleCols(P, P),
    /// Element-wise product of two tensors of the same shape.
    Mul(P, P),
    /// A product of public scalars (input nodes) times a term.
    Scale(Rc<[NodeId]>, P),
    Add(P, P),
    Sub(P, P),
    Neg(P),
    SumCols(P),
    /// A public scalar broadcast to a vector of this length.
    Broadcast(NodeId, usize),
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

/// An interned term: an index into the engine's term arena.
///
/// The engine keys its memos by whole terms (`md`, `built`, `built_at`) and explores
/// hundreds of thousands of them; hashing and comparing a term by walking its tree made every
/// lookup cost the term's size, and freeing millions of separately allocated tree nodes took a
/// third of the run. [`Engine::mk`] hash-conses every term the engine memoizes into one arena,
/// so equal terms share one index: hashing and equality are O(1) and the arena is freed at once.
/// The maps are only looked up, never iterated, so neither the ids nor the interning can affect
/// the output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct P(usize);

/// An arena slot: a term and what the engine has memoized about it.
#[derive(Debug)]
struct Entry {
    term: T,
    /// Memoized minimum depth ([`Engine::md`]); a slot per interned term instead of a map.
    md: Cell<Option<u32>>,
    /// Memoized [`Engine::term_plain`], [`Engine::home`] and [`Engine::term_degree`]: they
    /// recurse over the whole term and are asked for at every step of the search.
    plain: Cell<Option<bool>>,
    home: Cell<Option<Option<u32>>>,
    degree: Cell<Option<Option<u32>>>,
}

/// Hasher for small keys (term ids, budgets, node ids, terms over ids): SipHash would cost
/// more than the rest of a lookup.
type Mix = rustc_hash::FxBuildHasher;

/// Bound on the build rounds of [`optimize`] (the logistic-regression programs settle in at most
/// five).
const MAX_BUILD_ROUNDS: usize = 16;

/// Runs the engine over a loop-free program.
pub fn optimize(p: Program, rules: Rules) -> Result<Program, Diagnostic> {
    if p.graph.nodes().any(|(_, n)| matches!(n.op, Op::Loop(_))) {
        return Err(Diagnostic::new(
            Code::Internal,
            &p.source,
            Span::default(),
            "internal error: depth rewrites need an unrolled program",
        ));
    }
    let degree = input_degrees(&p);
    let mut e = Engine::new(&p.graph, rules, degree);
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
    let graph = e.out.finish();
    super::dce::Dce.run(p.with_graph(graph, outputs))
}

struct Engine<'a> {
    g: &'a Graph,
    rules: Rules,
    /// Per input-graph node: its degree as a polynomial in the inputs, if it is computed from
    /// inputs and constants only.
    degree: Vec<Option<u32>>,
    /// Every term made by [`Engine::mk`], for hash-consing.
    terms: RefCell<HashMap<T, P, Mix>>,
    /// Every interned term, indexed by its [`P`].
    arena: RefCell<Vec<Entry>>,
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
}

impl<'a> Engine<'a> {
    fn new(g: &'a Graph, rules: Rules, degree: Vec<Option<u32>>) -> Engine<'a> {
        Engine {
            g,
            rules,
            degree,
            terms: RefCell::default(),
            arena: RefCell::default(),
            leaves: RefCell::new(vec![None; g.len()]),
            structs: RefCell::new(vec![None; g.len()]),
            out: Builder::hash_consing(),
            depth: Vec::new(),
            built: HashMap::default(),
            built_at: HashMap::default(),
            plain: HashMap::new(),
            uses: Vec::new(),
            tight: HashMap::default(),
        }
    }

    /// Forgets the output graph of a previous build round (memoized depths and `tight` stay).
    fn restart_build(&mut self) {
        self.out = Builder::hash_consing();
        self.depth.clear();
        self.built.clear();
        self.built_at.clear();
        self.plain.clear();
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

    /// The interned term for `t`: the existing one if an equal term was made before.
    fn mk(&self, t: T) -> P {
        if let T::N(id) = t {
            if let Some(p) = &self.leaves.borrow()[id.index()] {
                return *p;
            }
            let p = self.intern(t);
            self.leaves.borrow_mut()[id.index()] = Some(p);
            return p;
        }
        self.intern(t)
    }

    /// Hash-conses `t` in the term table.
    fn intern(&self, t: T) -> P {
        // Keyed by the unboxed term (O(1) to hash and compare: its children are interned), so a
        // hit allocates nothing.
        let mut terms = self.terms.borrow_mut();
        if let Some(p) = terms.get(&t) {
            return *p;
        }
        let mut arena = self.arena.borrow_mut();
        let p = P(arena.len());
        arena.push(Entry {
            term: t.clone(),
            md: Cell::new(None),
            plain: Cell::new(None),
            home: Cell::new(None),
            degree: Cell::new(None),
        });
        terms.insert(t, p);
        p
    }

    /// The term `p` stands for (a shallow copy: its children are ids).
    fn t(&self, p: P) -> T {
        self.arena.borrow()[p.0].term.clone()
    }

    /// Reads what is memoized about `p`.
    fn entry<R>(&self, p: P, f: impl FnOnce(&Entry) -> R) -> R {
        f(&self.arena.borrow()[p.0])
    }

    fn node(&self, id: NodeId) -> &'a Node {
        self.g.node(id)
    }

    fn is_plain(&self, id: NodeId) -> bool {
        self.node(id).ty.secrecy == Secrecy::Plain
    }

    /// Scalars whose product costs no level (small integers).
    fn free_scalars(&self, ss: &[NodeId]) -> bool {
        ss.iter().all(|s| DepthModel::is_free_factor(self.node(*s)))
    }

    fn iter_of(&self, id: NodeId) -> Option<u32> {
        self.node(id).iter.first().copied()
    }

    /// The iteration a term belongs to: the latest one among the nodes it references.
    fn home(&self, t: &T) -> Option<u32> {
        match t {
            T::N(id) | T::Broadcast(id, _) => self.iter_of(*id),
            T::Scale(ss, x) => ss
                .iter()
                .map(|s| self.iter_of(*s))
                .max()
                .flatten()
                .max(self.home_of(x)),
            T::Neg(x) | T::SumCols(x) => self.home_of(x),
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => self.home_of(a).max(self.home_of(b)),
        }
    }

    /// Degree of a term as a polynomial in the inputs, if it uses inputs and constants only.
    fn term_degree(&self, t: &T) -> Option<u32> {
        match t {
            T::N(n) => self.degree[n.index()],
            T::Broadcast(..) => Some(0),
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.degree_of(x),
            T::Add(a, b) | T::Sub(a, b) => Some(self.degree_of(a)?.max(self.degree_of(b)?)),
            T::MatVec(a, b) | T::MatMul(a, b) | T::ScaleCols(a, b) | T::Mul(a, b) => {
                Some(self.degree_of(a)?.saturating_add(self.degree_of(b)?))
            }
        }
    }

    /// Can the client compute this term before encrypting? Matrix products of inputs of low
    /// degree (see [`PRECOMPUTE_MAX_DEGREE`]).
    fn term_input_only(&self, t: &T) -> bool {
        match t {
            T::MatMul(..) => self
                .term_degree(t)
                .is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE),
            // The client can scale what it computes.
            T::Scale(_, x) => self.term_input_only(&self.t(*x)),
            _ => false,
        }
    }

    fn term_plain(&self, t: &T) -> bool {
        match t {
            T::N(n) => self.is_plain(*n),
            T::Broadcast(..) => true,
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.plain_of(x),
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => self.plain_of(a) && self.plain_of(b),
        }
    }

    /// [`Self::home`] of an interned term, computed once.
    fn home_of(&self, p: &P) -> Option<u32> {
        if let Some(h) = self.entry(*p, |e| e.home.get()) {
            return h;
        }
        let h = self.home(&self.t(*p));
        self.entry(*p, |e| e.home.set(Some(h)));
        h
    }

    /// [`Self::term_degree`] of an interned term, computed once.
    fn degree_of(&self, p: &P) -> Option<u32> {
        if let Some(d) = self.entry(*p, |e| e.degree.get()) {
            return d;
        }
        let d = self.term_degree(&self.t(*p));
        self.entry(*p, |e| e.degree.set(Some(d)));
        d
    }

    /// [`Self::term_plain`] of an interned term, computed once.
    fn plain_of(&self, p: &P) -> bool {
        if let Some(b) = self.entry(*p, |e| e.plain.get()) {
            return b;
        }
        let b = self.term_plain(&self.t(*p));
        self.entry(*p, |e| e.plain.set(Some(b)));
        b
    }

    // ---- equivalent forms ----------------------------------------------------------------

    /// [`Self::structural`], interned, computed once per node.
    fn structural_p(&self, id: NodeId) -> Option<P> {
        if let Some(s) = &self.structs.borrow()[id.index()] {
            return *s;
        }
        let s = self.structural(id).map(|t| self.mk(t));
        self.structs.borrow_mut()[id.index()] = Some(s);
        s
    }

    /// The structural term of an input-graph node (its op over `N` operands), where the engine
    /// has a term for that op.
    fn structural(&self, id: NodeId) -> Option<T> {
        let n = self.node(id);
        let a = |i: usize| n.args.get(i).map(|x| self.mk(T::N(*x)));
        let arg = |i: usize| n.args.get(i).copied();
        Some(match n.op {
            Op::MatVec => T::MatVec(a(0)?, a(1)?),
            Op::MatMul => T::MatMul(a(0)?, a(1)?),
            Op::ScaleCols => T::ScaleCols(a(0)?, a(1)?),
            Op::Add | Op::Sub | Op::Mul => {
                let (x, y) = (arg(0)?, arg(1)?);
                let (sx, sy) = (self.node(x).ty.shape, self.node(y).ty.shape);
                let public_scalar =
                    |id: NodeId| self.node(id).ty.shape == Shape::Scalar && self.is_plain(id);
                // A public scalar times a tensor is a scaling; plus a vector, a broadcast.
                if n.op == Op::Mul && sx != sy {
                    match (public_scalar(x), public_scalar(y)) {
                        (true, false) => return Some(T::Scale(Rc::from(vec![x]), a(1)?)),
                        (false, true) => return Some(T::Scale(Rc::from(vec![y]), a(0)?)),
                        _ => return None,
                    }
                }
                let side = |id: NodeId, other: Shape| -> Option<P> {
                    match (self.node(id).ty.shape, other) {
                        (s, o) if s == o => Some(self.mk(T::N(id))),
                        (Shape::Scalar, Shape::Vector(len)) if public_scalar(id) => {
                            Some(self.mk(T::Broadcast(id, len)))
                        }
                        // An encrypted scalar broadcast, or a scalar over a matrix: no term.
                        _ => None,
                    }
                };
                let (tx, ty) = (side(x, sy)?, side(y, sx)?);
                match n.op {
                    Op::Add => T::Add(tx, ty),
                    Op::Sub => T::Sub(tx, ty),
                    _ => T::Mul(tx, ty),
                }
            }
            Op::Neg => T::Neg(a(0)?),
            Op::SumCols => T::SumCols(a(0)?),
            _ => return None,
        })
    }

    /// The node a term stands for when it is a single input-graph node.
    fn as_node(t: &T) -> Option<NodeId> {
        match t {
            T::N(n) => Some(*n),
            _ => None,
        }
    }

    /// Unfolds `N(id)` into its structure when a rule working on a term of iteration `home` may
    /// look into it: always with `cross_iteration`, else only within the same iteration.
    fn open(&self, home: Option<u32>, t: &P) -> Option<T> {
        let id = Self::as_node(&self.t(*t))?;
        if !self.rules.cross_iteration && self.iter_of(id) != home {
            return None;
        }
        self.structural_p(id).map(|p| self.t(p))
    }

    /// Equivalent forms of `t`, one rewrite deep, cheapest first. `t` itself is not included.
    fn alternatives(&self, t: &T) -> Vec<T> {
        let r = self.rules;
        let at = self.home(t);
        let mut alts = Vec::new();
        match t {
            T::Scale(ss, x) if r.hoist => {
                let inner = match self.t(*x) {
                    T::N(_) => self.open(at, x),
                    other => Some(other),
                };
                let sc = |y: &P| self.mk(T::Scale(ss.clone(), *y));
                match inner {
                    Some(T::MatVec(m, v)) => {
                        alts.push(T::MatVec(sc(&m), v));
                        alts.push(T::MatVec(m, sc(&v)));
                    }
                    Some(T::MatMul(m, v)) => {
                        alts.push(T::MatMul(sc(&m), v));
                        alts.push(T::MatMul(m, sc(&v)));
                    }
                    Some(T::ScaleCols(m, v)) => {
                        alts.push(T::ScaleCols(sc(&m), v));
                        alts.push(T::ScaleCols(m, sc(&v)));
                    }
                    Some(T::Mul(a, b)) => {
                        alts.push(T::Mul(sc(&a), b));
                        alts.push(T::Mul(a, sc(&b)));
                    }
                    Some(T::Add(a, b)) => alts.push(T::Add(sc(&a), sc(&b))),
                    Some(T::Sub(a, b)) => alts.push(T::Sub(sc(&a), sc(&b))),
                    Some(T::Neg(a)) => alts.push(T::Neg(sc(&a))),
                    Some(T::SumCols(a)) => alts.push(T::SumCols(sc(&a))),
                    Some(T::Scale(ss2, y)) => {
                        let mut all: Vec<NodeId> = ss.iter().chain(ss2.iter()).copied().collect();
                        all.sort_unstable();
                        alts.push(T::Scale(Rc::from(all), y));
                    }
                    _ => {}
                }
            }
            T::MatVec(m, v) => {
                let inner = match self.t(*v) {
                    T::N(_) => self.open(at, v),
                    other => Some(other),
                };
                let mv = |a: &P, b: &P| self.mk(T::MatVec(*a, *b));
                match inner {
                    Some(T::Scale(ss, w)) if r.hoist => {
                        alts.push(T::MatVec(self.mk(T::Scale(ss.clone(), *m)), w));
                        alts.push(T::Scale(ss, mv(m, &w)));
                    }
                    Some(T::Mul(a, b)) if r.fold => {
                        alts.push(T::MatVec(self.mk(T::ScaleCols(*m, a)), b));
                        alts.push(T::MatVec(self.mk(T::ScaleCols(*m, b)), a));
                    }
                    Some(T::Add(a, b)) if r.distribute => alts.push(T::Add(mv(m, &a), mv(m, &b))),
                    Some(T::Sub(a, b)) if r.distribute => alts.push(T::Sub(mv(m, &a), mv(m, &b))),
                    Some(T::Neg(a)) if r.distribute => alts.push(T::Neg(mv(m, &a))),
                    Some(T::Broadcast(s, _)) if r.distribute => {
                        alts.push(T::Scale(Rc::from(vec![s]), self.mk(T::SumCols(*m))))
                    }
                    Some(T::MatVec(b, w)) if r.reassociate => {
                        alts.push(T::MatVec(self.mk(T::MatMul(*m, b)), w))
                    }
                    Some(T::SumCols(b)) if r.reassociate => {
                        alts.push(T::SumCols(self.mk(T::MatMul(*m, b))))
                    }
                    _ => {}
                }
            }
            T::MatMul(a, b) if r.reassociate => {
                let open = |x: &P| match self.t(*x) {
                    T::N(_) => self.open(at, x),
                    other => Some(other),
                };
                // A @ (X diag(v)) = (A @ X) diag(v): the data product stays a product of inputs.
                match open(b) {
                    Some(T::ScaleCols(x, v)) => {
                        alts.push(T::ScaleCols(self.mk(T::MatMul(*a, x)), v))
                    }
                    Some(T::Scale(ss, x)) => alts.push(T::Scale(ss, self.mk(T::MatMul(*a, x)))),
                    _ => {}
                }
                if let Some(T::Scale(ss, x)) = open(a) {
                    alts.push(T::Scale(ss, self.mk(T::MatMul(x, *b))));
                }
            }
            T::ScaleCols(m, v) if r.hoist => {
                let inner = match self.t(*v) {
                    T::N(_) => self.open(at, v),
                    other => Some(other),
                };
                if let Some(T::Scale(ss, w)) = inner {
                    alts.push(T::ScaleCols(self.mk(T::Scale(ss, *m)), w));
                }
            }
            T::Mul(a, b) if r.distribute => {
                for (x, y, flip) in [(a, b, false), (b, a, true)] {
                    let inner = match self.t(*y) {
                        T::N(_) => self.open(at, y),
                        other => Some(other),
                    };
                    let mul =
                        |p: &P, q: &P| self.mk(if flip { T::Mul(*q, *p) } else { T::Mul(*p, *q) });
                    match inner {
                        Some(T::Add(c, d)) => alts.push(T::Add(mul(x, &c), mul(x, &d))),
                        Some(T::Sub(c, d)) => alts.push(T::Sub(mul(x, &c), mul(x, &d))),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        alts
    }

    // ---- phase 1: minimum depth ----------------------------------------------------------

    fn md(&mut self, t: &P) -> u32 {
        if let Some(d) = self.entry(*t, |e| e.md.get()) {
            return d;
        }
        let d = self.md_uncached(t);
        self.entry(*t, |e| e.md.set(Some(d)));
        d
    }

    fn md_uncached(&mut self, t: &P) -> u32 {
        if self.plain_of(t) {
            return 0;
        }
        let term = self.t(*t);
        if self.rules.precompute && self.term_input_only(&term) && !matches!(term, T::N(_)) {
            return 0;
        }
        match &term {
            T::N(id) => {
                let id = *id;
                match self.structural_p(id) {
                    Some(s) => self.md(&s),
                    None => {
                        let n = self.node(id);
                        let precomputable = n.op == Op::MatMul
                            && self.degree[id.index()].is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE);
                        if self.rules.precompute
                            && precomputable
                            && !matches!(n.op, Op::Input { .. })
                        {
                            return 0;
                        }
                        let depths: Vec<u32> =
                            n.args.iter().map(|a| self.md(&self.mk(T::N(*a)))).collect();
                        node_depth_with(self.g, n, &depths)
                    }
                }
            }
            _ => {
                let mut best = self.md_direct(&term);
                // The alternatives are not interned: nothing is memoized on them, and most are
                // never asked for again.
                for alt in self.alternatives(&term) {
                    best = best.min(self.md_form(&alt));
                }
                best
            }
        }
    }

    /// Depth of a form: 0 if the client will compute it, else its direct depth.
    fn md_form(&mut self, t: &T) -> u32 {
        if self.rules.precompute && self.term_input_only(t) && !matches!(t, T::N(_)) {
            return 0;
        }
        self.md_direct(t)
    }

    /// Depth of `t` built with its top operation as written (operands at their minimum).
    fn md_direct(&mut self, t: &T) -> u32 {
        if self.term_plain(t) {
            return 0;
        }
        match t {
            T::N(id) => self.md(&self.mk(T::N(*id))),
            T::MatVec(a, b) | T::MatMul(a, b) | T::ScaleCols(a, b) | T::Mul(a, b) => {
                let (da, db) = (self.md(a), self.md(b));
                let (pa, pb) = (self.plain_of(a), self.plain_of(b));
                match (pa, pb) {
                    (false, false) => da.max(db) + 1,
                    (false, true) => da + u32::from(!self.free_term(b)),
                    (true, false) => db + u32::from(!self.free_term(a)),
                    (true, true) => 0,
                }
            }
            T::Scale(ss, x) => {
                let free = self.free_scalars(ss);
                self.md(x) + u32::from(!free)
            }
            T::Add(a, b) | T::Sub(a, b) => {
                let (da, db) = (self.md(a), self.md(b));
                da.max(db)
            }
            T::Neg(a) | T::SumCols(a) => self.md(a),
            T::Broadcast(..) => 0,
        }
    }

    fn free_term(&self, t: &P) -> bool {
        match &self.t(*t) {
            T::N(id) => DepthModel::is_free_factor(self.node(*id)),
            T::Broadcast(s, _) => DepthModel::is_free_factor(self.node(*s)),
            _ => false,
        }
    }

    // ---- phase 2: budgeted rebuild -------------------------------------------------------

    fn emit(&mut self, op: Op, args: Vec<NodeId>, ty: Type, span: Span, iter: &[u32]) -> NodeId {
        let mut n = Node::new(op, args, ty, span);
        n.iter = iter.to_vec();
        let id = self.out.add(n);
        if id.index() >= self.depth.len() {
            let g = self.out.graph();
            let d = DepthModel::node(g, g.node(id), &self.depth);
            self.depth.push(d);
        }
        id
    }

    fn out_ty(&self, id: NodeId) -> Type {
        self.out.node(id).ty
    }

    /// Builds `t` so that its depth is at most `budget` where possible (at the tightest budget
    /// `t` was ever requested with, see [`Engine::tight`]).
    fn build(&mut self, t: &P, budget: u32) -> NodeId {
        let budget = match self.tight.get(t) {
            Some(&b) if b <= budget => b,
            _ => {
                self.tight.insert(*t, budget);
                budget
            }
        };
        if let Some(&id) = self.built_at.get(&(*t, budget)) {
            return id;
        }
        if self.built.contains_key(t) {
            // Reuse an existing build that fits the budget, or that is as shallow as the term
            // can be (building again could not do better).
            let best = self.md(t);
            if let Some((_, id)) = self.built[t]
                .iter()
                .filter(|(d, _)| *d <= budget.max(best))
                .min_by_key(|(d, _)| *d)
            {
                return *id;
            }
        }
        let id = self.build_uncached(t, budget);
        self.built_at.insert((*t, budget), id);
        let d = self.depth[id.index()];
        self.built.entry(*t).or_default().push((d, id));
        id
    }

    fn build_uncached(&mut self, t: &P, budget: u32) -> NodeId {
        match &self.t(*t) {
            T::N(id) => {
                let id = *id;
                if self.is_plain(id) {
                    return self.copy_plain(id);
                }
                let Some(s) = self.structural_p(id) else {
                    return self.copy_node(id, budget);
                };
                let n = self.node(id);
                let (span, iter) = (n.span, n.iter.clone());
                let mut options = vec![s];
                options.extend(
                    self.alternatives(&self.t(s))
                        .into_iter()
                        .map(|t| self.mk(t)),
                );
                let chosen = self.choose(&options, budget);
                self.build_form(&chosen, budget, span, &iter)
            }
            _ => {
                let mut options = vec![*t];
                options.extend(
                    self.alternatives(&self.t(*t))
                        .into_iter()
                        .map(|t| self.mk(t)),
                );
                let chosen = self.choose(&options, budget);
                let (span, iter) = self.origin(t);
                self.build_form(&chosen, budget, span, &iter)
            }
        }
    }

    /// Among the options whose minimum depth fits the budget, the one that does the least work
    /// again, else the shallowest. `options[0]` is the term as written; an alternative that
    /// opens up one of its nodes (reaches into its structure) computes that node's operation a
    /// second time unless it only moves a public scalar ([`Engine::opened_work`]). Among those
    /// that open nothing, the fewest scalings of computed values ([`Engine::scaled_computed`]):
    /// a scaling on an input is free (the client packs it), one on a computed value costs a
    /// level — which the search then buys back by distributing the scalar into a copy of the
    /// value (GD computed `0.0002 * u_i` as a second pipelined `u_i` that way). Then the order
    /// of the options (the term as written first).
    fn choose(&mut self, options: &[P], budget: u32) -> P {
        let depths: Vec<u32> = options.iter().map(|o| self.md_form(&self.t(*o))).collect();
        if let Some(i) = (0..options.len())
            .filter(|&i| depths[i] <= budget)
            .min_by_key(|&i| {
                (
                    self.opened_work(&options[0], &options[i]),
                    self.scaled_computed(&options[i]),
                    i,
                )
            })
        {
            return options[i];
        }
        let i = (0..options.len()).min_by_key(|&i| depths[i]).unwrap_or(0);
        options[i]
    }

    /// How many nodes of the input graph that do real work (not a public scaling or negation)
    /// `orig` refers to and `form` no longer does: `form` reaches into their structure, so their
    /// operation is done again instead of shared.
    fn opened_work(&self, orig: &P, form: &P) -> u32 {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.leaves(orig, &mut a);
        self.leaves(form, &mut b);
        a.sort_unstable();
        a.dedup();
        a.iter()
            .filter(|id| !b.contains(id))
            .filter(|id| {
                self.uses[id.index()] > 1
                    && !self.is_plain(**id)
                    && !matches!(
                        self.structural_p(**id).map(|s| self.t(s)),
                        Some(T::Scale(..) | T::Neg(_)) | None
                    )
            })
            .count() as u32
    }

    /// The input-graph nodes a term refers to directly (through its own structure, not into
    /// the nodes).
    fn leaves(&self, p: &P, out: &mut Vec<NodeId>) {
        match self.t(*p) {
            T::N(id) => out.push(id),
            T::Broadcast(..) => {}
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.leaves(&x, out),
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => {
                self.leaves(&a, out);
                self.leaves(&b, out);
            }
        }
    }

    /// How many public scalings of computed (not input) values `form` and its operands are.
    fn scaled_computed(&self, form: &P) -> u32 {
        let scaled = |p: &P| -> bool {
            let t = match self.t(*p) {
                T::N(id) if !self.is_plain(id) => match self.structural_p(id) {
                    Some(s) => self.t(s),
                    None => return false,
                },
                t => t,
            };
            matches!(&t, T::Scale(ss, x) if !self.free_scalars(ss) && !self.input_view(x))
        };
        let t = self.t(*form);
        let ops: Vec<P> = match &t {
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => vec![*a, *b],
            T::Neg(a) | T::SumCols(a) => vec![*a],
            _ => vec![],
        };
        u32::from(scaled(form)) + ops.iter().filter(|p| scaled(p)).count() as u32
    }

    /// An input, a view of one (element, transpose, negation, public scaling) or a product the
    /// client computes: scaling it costs nothing on the server (the client packs the factor).
    fn input_view(&self, p: &P) -> bool {
        match self.t(*p) {
            T::N(id) => {
                let n = self.node(id);
                match n.op {
                    Op::Input { .. } | Op::Element { .. } => true,
                    Op::Transpose | Op::Neg => self.input_view(&self.mk(T::N(n.args[0]))),
                    _ => match self.structural_p(id) {
                        Some(s) => self.input_view(&s),
                        None => false,
                    },
                }
            }
            T::Scale(_, x) | T::Neg(x) => self.input_view(&x),
            t @ T::MatMul(..) => self.rules.precompute && self.term_input_only(&t),
            _ => false,
        }
    }

    /// A span and iteration for a new node: those of the first input-graph node inside `t`.
    fn origin(&self, t: &P) -> (Span, Vec<u32>) {
        match &self.t(*t) {
            T::N(id) | T::Broadcast(id, _) => {
                let n = self.node(*id);
                (n.span, n.iter.clone())
            }
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.origin(x),
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => {
                // The later of the two is where the combined value is needed.
                let (x, y) = (self.origin(a), self.origin(b));
                if y.1 > x.1 {
                    y
                } else {
                    x
                }
            }
        }
    }

    /// Builds the top operation of `form` with operands built under the remaining budget.
    fn build_form(&mut self, form: &P, budget: u32, span: Span, iter: &[u32]) -> NodeId {
        if self.rules.precompute && self.term_input_only(&self.t(*form)) && budget == 0 {
            // Will be computed by the client: build it plainly, the precompute pass takes it.
            return self.build_plainly(form, span, iter);
        }
        let sub = |e: &mut Self, x: &P, cost: u32| -> NodeId {
            let b = budget.saturating_sub(cost);
            e.build(x, b)
        };
        match &self.t(*form) {
            T::N(id) => self.build(&self.mk(T::N(*id)), budget),
            T::MatVec(a, b) | T::MatMul(a, b) | T::ScaleCols(a, b) | T::Mul(a, b) => {
                let (pa, pb) = (self.plain_of(a), self.plain_of(b));
                let (ca, cb) = match (pa, pb) {
                    (false, false) => (1, 1),
                    (false, true) => (u32::from(!self.free_term(b)), 0),
                    (true, false) => (0, u32::from(!self.free_term(a))),
                    (true, true) => (0, 0),
                };
                let x = sub(self, a, ca);
                let y = sub(self, b, cb);
                let op = match &self.t(*form) {
                    T::MatVec(..) => Op::MatVec,
                    T::MatMul(..) => Op::MatMul,
                    T::ScaleCols(..) => Op::ScaleCols,
                    _ => Op::Mul,
                };
                let ty = result_type(&op, self.out_ty(x), self.out_ty(y));
                self.emit(op, vec![x, y], ty, span, iter)
            }
            T::Scale(ss, x) => {
                let cost = u32::from(!self.free_scalars(ss));
                let v = sub(self, x, cost);
                let s = self.scalar_product(ss, span, iter);
                let ty = result_type(&Op::Mul, self.out_ty(s), self.out_ty(v));
                self.emit(Op::Mul, vec![s, v], ty, span, iter)
            }
            T::Add(a, b) | T::Sub(a, b) => {
                let x = sub(self, a, 0);
                let y = sub(self, b, 0);
                let op = if matches!(self.t(*form), T::Add(..)) {
                    Op::Add
                } else {
                    Op::Sub
                };
                let ty = result_type(&op, self.out_ty(x), self.out_ty(y));
                self.emit(op, vec![x, y], ty, span, iter)
            }
            T::Neg(a) => {
                let x = sub(self, a, 0);
                let ty = self.out_ty(x);
                self.emit(Op::Neg, vec![x], ty, span, iter)
            }
            T::SumCols(a) => {
                let x = sub(self, a, 0);
                let ty = result_type(&Op::SumCols, self.out_ty(x), self.out_ty(x));
                self.emit(Op::SumCols, vec![x], ty, span, iter)
            }
            T::Broadcast(s, _) => self.copy_plain(*s),
        }
    }

    /// Builds a term exactly as written, without looking for alternatives.
    fn build_plainly(&mut self, t: &P, span: Span, iter: &[u32]) -> NodeId {
        let saved = self.rules;
        self.rules = Rules {
            precompute: false,
            ..Rules::default()
        };
        let id = self.build_form(t, u32::MAX, span, iter);
        self.rules = saved;
        id
    }

    fn scalar_product(&mut self, ss: &[NodeId], span: Span, iter: &[u32]) -> NodeId {
        let mut acc: Option<NodeId> = None;
        for s in ss {
            let x = self.copy_plain(*s);
            acc = Some(match acc {
                None => x,
                Some(a) => self.emit(Op::Mul, vec![a, x], Type::plain(Shape::Scalar), span, iter),
            });
        }
        acc.unwrap_or_else(|| {
            self.emit(
                Op::Const { value: 1.0 },
                vec![],
                Type::plain(Shape::Scalar),
                span,
                iter,
            )
        })
    }

    /// Copies a public node and everything it depends on unchanged.
    fn copy_plain(&mut self, id: NodeId) -> NodeId {
        if let Some(&x) = self.plain.get(&id) {
            return x;
        }
        let n = self.node(id);
        let args: Vec<NodeId> = n
            .args
            .clone()
            .into_iter()
            .map(|a| self.copy_plain(a))
            .collect();
        let x = self.emit(n.op.clone(), args, n.ty, n.span, &n.iter);
        self.plain.insert(id, x);
        x
    }

    /// Rebuilds a node with an op the engine has no term for, optimizing its operands.
    fn copy_node(&mut self, id: NodeId, budget: u32) -> NodeId {
        let n = self.node(id);
        if matches!(n.op, Op::Input { .. } | Op::Const { .. }) {
            return self.copy_plain(id);
        }
        let cost = match n.op {
            Op::Dot | Op::ScaleRows => 1,
            Op::Pow { exp } => crate::analysis::depth::ceil_log2(exp),
            Op::Div => 1,
            _ => 0,
        };
        let args: Vec<NodeId> = n
            .args
            .clone()
            .into_iter()
            .map(|a| self.build(&self.mk(T::N(a)), budget.saturating_sub(cost)))
            .collect();
        self.emit(n.op.clone(), args, n.ty, n.span, &n.iter)
    }
}

/// Client-side precomputation is limited to matrix products of at most this degree in the
/// inputs, such as `Z[i+1] @ transpose(Z[i])`: cross-products of data the client already holds,
/// a data-preparation step. Anything of higher degree, or element-wise, would be the computation
/// itself (for training, the whole model is a function of the encrypted data, and `x^4` of an
/// input is the program's own work), which is the server's job.
pub const PRECOMPUTE_MAX_DEGREE: u32 = 2;

/// Degree of every node as a polynomial in the program's declared inputs (a derived input counts
/// with the degree of what it stands for), `None` where it cannot be determined (loop regions).
pub fn input_degrees(p: &Program) -> Vec<Option<u32>> {
    let g = &p.graph;
    let mut deg: Vec<Option<u32>> = vec![None; g.len()];
    for (id, n) in g.nodes() {
        let a = |i: usize| n.args.get(i).and_then(|x| deg[x.index()]);
        deg[id.index()] = match &n.op {
            Op::Input { name } => match p.derived.iter().find(|d| &d.name == name) {
                Some(d) => Some(d.degree),
                None => Some(u32::from(n.ty.secrecy == Secrecy::Enc)),
            },
            Op::Const { .. } => Some(0),
            Op::Mul
            | Op::MatVec
            | Op::MatMul
            | Op::ScaleCols
            | Op::ScaleRows
            | Op::Dot
            | Op::Div => a(0).zip(a(1)).map(|(x, y)| x.saturating_add(y)),
            Op::Pow { exp } => a(0).map(|x| x.saturating_mul(*exp)),
            Op::Add | Op::Sub => a(0).zip(a(1)).map(|(x, y)| x.max(y)),
            _ => n
                .args
                .iter()
                .map(|x| deg[x.index()])
                .try_fold(0u32, |m, d| d.map(|d| m.max(d))),
        };
    }
    deg
}

/// Depth of an input-graph node whose operands have the given depths.
fn node_depth_with(g: &Graph, n: &Node, depths: &[u32]) -> u32 {
    // DepthModel::node reads operand depths by node index; give it a dense table.
    let mut table = vec![0u32; g.len()];
    for (a, d) in n.args.iter().zip(depths) {
        table[a.index()] = *d;
    }
    DepthModel::node(g, n, &table)
}

/// Result type of a binary operation on operands of types `a` and `b`.
pub fn result_type(op: &Op, a: Type, b: Type) -> Type {
    let secrecy = a.secrecy.join(b.secrecy);
    let shape = match (op, a.shape, b.shape) {
        (Op::MatVec, Shape::Matrix(r, _), _) => Shape::Vector(r),
        (Op::MatMul, Shape::Matrix(r, _), Shape::Matrix(_, c)) => Shape::Matrix(r, c),
        (Op::ScaleCols | Op::ScaleRows, s, _) => s,
        (Op::SumCols, Shape::Matrix(r, _), _) => Shape::Vector(r),
        (Op::SumRows, Shape::Matrix(_, c), _) => Shape::Vector(c),
        (_, Shape::Scalar, s) => s,
        (_, s, _) => s,
    };
    Type::new(secrecy, shape)
}
