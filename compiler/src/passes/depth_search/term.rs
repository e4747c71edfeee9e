//! The symbolic terms of the depth-search engine: the term language ([`T`]) over the nodes of
//! the input graph, its hash-consed arena ([`P`], [`Entry`]) and the properties of a term that
//! the search asks for at every step (iteration, degree in the inputs, public or not), memoized
//! per interned term.

use super::degree::PRECOMPUTE_MAX_DEGREE;
use super::{Engine, Grants, ProductKey};
use crate::analysis::depth::DepthModel;
use crate::ir::{Node, NodeId, Op, Secrecy, Shape};
use std::cell::Cell;
use std::rc::Rc;

/// A symbolic expression over the nodes of the input graph.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) enum T {
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
pub(super) struct P(usize);

/// An arena slot: a term and what the engine has memoized about it.
#[derive(Debug)]
pub(super) struct Entry {
    term: T,
    /// Memoized minimum depth ([`Engine::md`]); a slot per interned term instead of a map.
    pub(super) md: Cell<Option<u32>>,
    /// Memoized [`Engine::term_plain`], [`Engine::home`] and [`Engine::term_degree`]: they
    /// recurse over the whole term and are asked for at every step of the search.
    plain: Cell<Option<bool>>,
    home: Cell<Option<Option<u32>>>,
    degree: Cell<Option<Option<u32>>>,
}

/// Hasher for small keys (term ids, budgets, node ids, terms over ids): SipHash would cost
/// more than the rest of a lookup.
pub(super) type Mix = rustc_hash::FxBuildHasher;

impl<'a> Engine<'a> {
    /// The interned term for `t`: the existing one if an equal term was made before.
    pub(super) fn mk(&self, t: T) -> P {
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
        if p.0 >= super::MAX_TERMS {
            self.exhausted.set(true);
        }
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
    pub(super) fn t(&self, p: P) -> T {
        self.arena.borrow()[p.0].term.clone()
    }

    /// Reads what is memoized about `p`.
    pub(super) fn entry<R>(&self, p: P, f: impl FnOnce(&Entry) -> R) -> R {
        f(&self.arena.borrow()[p.0])
    }

    pub(super) fn node(&self, id: NodeId) -> &'a Node {
        self.g.node(id)
    }

    pub(super) fn is_plain(&self, id: NodeId) -> bool {
        self.node(id).ty.secrecy == Secrecy::Plain
    }

    /// Scalars whose product costs no level (small integers).
    pub(super) fn free_scalars(&self, ss: &[NodeId]) -> bool {
        ss.iter().all(|s| DepthModel::is_free_factor(self.node(*s)))
    }

    /// The value of a public scalar computed from constants alone: a constant, or arithmetic
    /// on constants that an earlier pass left unfolded (`0.99 * 0.01` from `rebalance`, a
    /// product of factors this engine built). `None` otherwise.
    pub(super) fn constant_value(&self, id: NodeId) -> Option<f64> {
        let n = self.node(id);
        if n.ty.shape != Shape::Scalar || n.ty.secrecy != Secrecy::Plain {
            return None;
        }
        let a = |i: usize| n.args.get(i).and_then(|&x| self.constant_value(x));
        let v = match &n.op {
            Op::Const { value } => *value,
            Op::Add => a(0)? + a(1)?,
            Op::Sub => a(0)? - a(1)?,
            Op::Mul => a(0)? * a(1)?,
            Op::Div => a(0)? / a(1)?,
            Op::Neg => -a(0)?,
            _ => return None,
        };
        v.is_finite().then_some(v)
    }

    /// Levels the server spends scaling `x` by the public scalars `ss`: none for small
    /// integers, none for compile-time constants on an input or a view of one (the client packs
    /// the factor, as the lowering's oracle does), else one.
    pub(super) fn scale_cost(&self, ss: &[NodeId], x: &P) -> u32 {
        let constants = ss.iter().all(|s| {
            matches!(self.node(*s).op, Op::Const { .. })
                || (self.rules.merge_scales && self.constant_value(*s).is_some())
        });
        let free = self.free_scalars(ss) || (constants && self.input_view(x));
        u32::from(!free)
    }

    pub(super) fn iter_of(&self, id: NodeId) -> Option<u32> {
        self.node(id).iter.first().copied()
    }

    /// The iteration a term belongs to: the latest one among the nodes it references.
    pub(super) fn home(&self, t: &T) -> Option<u32> {
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
    pub(super) fn term_input_only(&self, t: &T) -> bool {
        match t {
            T::MatMul(a, b) => {
                self.term_degree(t)
                    .is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE)
                    && self.client_takes(*a, *b, self.term_shape(t))
            }
            // The client can scale what it computes.
            T::Scale(_, x) => self.term_input_only(&self.t(*x)),
            _ => false,
        }
    }

    /// Whether the client takes the product `a @ b` (of this shape): see [`super::Grants`].
    /// Products equal up to public factors and signs (`(c Z[1]) @ Z[0]ᵀ`, `Z[1] @ (d Z[0]ᵀ)`,
    /// the forms the hoisting rule explores) are one product, uploaded once. A product the
    /// client does not take is the server's.
    pub(super) fn client_takes(&self, a: P, b: P, shape: Shape) -> bool {
        match &self.grants {
            Grants::Each(limit) => shape.len() as u64 <= *limit,
            Grants::Only(allowed) => self
                .product_key(a, b)
                .is_some_and(|key| allowed.contains(&key)),
        }
    }

    /// The input-graph nodes of the two factors of `a @ b` without their public factors and
    /// signs, if both are nodes: what identifies a product of data across runs of the engine.
    pub(super) fn product_key(&self, a: P, b: P) -> Option<ProductKey> {
        match (self.t(self.unscaled(a)), self.t(self.unscaled(b))) {
            (T::N(x), T::N(y)) => Some((x, y)),
            _ => None,
        }
    }

    /// `p` without its public scalings and negations (looking through input-graph nodes that
    /// are one).
    fn unscaled(&self, mut p: P) -> P {
        loop {
            p = match self.t(p) {
                T::Scale(_, x) | T::Neg(x) => x,
                T::N(id) => match self.structural_p(id) {
                    Some(s) if matches!(self.t(s), T::Scale(..) | T::Neg(_)) => s,
                    _ => return p,
                },
                _ => return p,
            };
        }
    }

    pub(super) fn term_plain(&self, t: &T) -> bool {
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

    /// The shape of a term's value.
    pub(super) fn shape_of(&self, p: &P) -> Shape {
        self.term_shape(&self.t(*p))
    }

    /// [`Self::shape_of`] of a term not interned.
    pub(super) fn term_shape(&self, t: &T) -> Shape {
        match t.clone() {
            T::N(id) => self.node(id).ty.shape,
            T::Broadcast(_, len) => Shape::Vector(len),
            T::Scale(_, x)
            | T::Neg(x)
            | T::ScaleCols(x, _)
            | T::Mul(x, _)
            | T::Add(x, _)
            | T::Sub(x, _) => self.shape_of(&x),
            T::SumCols(a) | T::MatVec(a, _) => match self.shape_of(&a) {
                Shape::Matrix(r, _) => Shape::Vector(r),
                s => s,
            },
            T::MatMul(a, b) => match (self.shape_of(&a), self.shape_of(&b)) {
                (Shape::Matrix(r, _), Shape::Matrix(_, c)) => Shape::Matrix(r, c),
                (s, _) => s,
            },
        }
    }

    /// [`Self::term_plain`] of an interned term, computed once.
    pub(super) fn plain_of(&self, p: &P) -> bool {
        if let Some(b) = self.entry(*p, |e| e.plain.get()) {
            return b;
        }
        let b = self.term_plain(&self.t(*p));
        self.entry(*p, |e| e.plain.set(Some(b)));
        b
    }
}
