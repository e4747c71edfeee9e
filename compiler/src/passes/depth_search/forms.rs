//! Candidate forms for the depth-search engine: the structural term of an input-graph node,
//! and the equivalent forms of a term one rewrite deep under the enabled identities (hoist,
//! distribute, fold, reassociate; see the module doc of [`super`]). Both phases enumerate
//! candidates here: [`super::min_depth`] takes the shallowest, [`super::build`] the cheapest
//! that fits the budget.

use super::term::{P, T};
use super::Engine;
use crate::ir::{NodeId, Op, Shape};
use std::rc::Rc;

impl Engine<'_> {
    /// Whether both factors of a would-be matrix product are public.
    fn both_plain(&self, a: &P, b: &P) -> bool {
        self.plain_of(a) && self.plain_of(b)
    }

    /// Whether re-association may build the new product `a @ b`: either the client computes
    /// it (now or in a later pass) or it has no more values than its larger factor. An
    /// expanding product on the server (`Z[1] @ Z[0]ᵀ`, samples by samples out of two
    /// 1024 x 197 minibatches) costs hundreds of times the two matrix-vector products it
    /// replaces, to save one level: GD at k = 6 under a `2x` client budget planned two of
    /// them, 4,443 s of estimated server work against -O1's 38 s. A product of two public
    /// matrices is public: the server computes it in the clear and encodes it where it meets
    /// ciphertexts (the lowering's public values), at no level; the same size rule keeps the
    /// plaintext operands it adds no larger (`Xᵀ @ X` out of `Xᵀ @ (X @ w)` with public
    /// features: features by features, one level per iteration instead of two).
    fn may_reassociate(&self, a: &P, b: &P) -> bool {
        let product = T::MatMul(*a, *b);
        let larger = self.shape_of(a).len().max(self.shape_of(b).len());
        if self.both_plain(a, b) {
            return self.term_shape(&product).len() <= larger;
        }
        let client = self.rules.precompute || self.rules.precompute_later;
        // Scaled columns of a factor come out of the product (the `MatMul` rule below:
        // `A @ (X diag(v)) = (A @ X) diag(v)`), leaving the client's product of data.
        let data = T::MatMul(self.unscaled_columns(*a), self.unscaled_columns(*b));
        if client && (self.term_input_only(&product) || self.term_input_only(&data)) {
            return true;
        }
        self.term_shape(&product).len() <= larger
    }

    /// Whether re-associating a matrix chain may build `a @ b`: as [`Self::may_reassociate`],
    /// and not a product of two encrypted matrices on the server (public, a public matrix
    /// times an encrypted one, or the client's).
    fn free_product(&self, a: &P, b: &P) -> bool {
        let client = self.rules.precompute || self.rules.precompute_later;
        let product = T::MatMul(*a, *b);
        self.may_reassociate(a, b)
            && (self.plain_of(a) || self.plain_of(b) || (client && self.term_input_only(&product)))
    }

    /// `p` without public scalings, negations and column scalings, looking through
    /// input-graph nodes that are one.
    fn unscaled_columns(&self, mut p: P) -> P {
        loop {
            let t = match self.t(p) {
                T::N(id) => match self.structural_p(id) {
                    Some(s) => self.t(s),
                    None => return p,
                },
                t => t,
            };
            p = match t {
                T::Scale(_, x) | T::Neg(x) | T::ScaleCols(x, _) => x,
                _ => return p,
            };
        }
    }

    /// [`Self::structural`], interned, computed once per node.
    pub(super) fn structural_p(&self, id: NodeId) -> Option<P> {
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
    pub(super) fn alternatives(&self, t: &T) -> Vec<T> {
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
                    Some(T::MatVec(b, w)) if r.reassociate && self.may_reassociate(m, &b) => {
                        alts.push(T::MatVec(self.mk(T::MatMul(*m, b)), w))
                    }
                    Some(T::SumCols(b)) if r.reassociate && self.may_reassociate(m, &b) => {
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
                let mm = |x: &P, y: &P| self.mk(T::MatMul(*x, *y));
                // Distribution over a sum on either side and re-association either way into
                // a product that is not two encrypted matrices on the server, as for
                // matrix-vector products: `P @ (M + E) @ Pᵀ` with public P unrolls into terms
                // such as `(P @ P) @ E @ (Pᵀ @ Pᵀ)`, two plaintext products deep. An encrypted
                // factor is distributed where every product it makes is free, or, with the
                // client precomputing, where one becomes the client's (`Xᵀ @ (Y - σ(X W))` ->
                // `Xᵀ @ Y - ...` at -O2: mlp_step depth 9 -> 7, N = 2^15 -> 2^14); elsewhere
                // it only adds encrypted matrix products (ovr_logreg at -O1 kept its depth at
                // 23% more estimated work).
                let client = r.precompute || r.precompute_later;
                let spreads = |x: &P, parts: [&P; 2], left: bool| {
                    let free = |p: &&P| {
                        if left {
                            self.free_product(x, p)
                        } else {
                            self.free_product(p, x)
                        }
                    };
                    self.plain_of(x) || parts.iter().all(free) || (client && parts.iter().any(free))
                };
                if r.distribute {
                    match open(b) {
                        Some(T::Add(c, d)) if spreads(a, [&c, &d], true) => {
                            alts.push(T::Add(mm(a, &c), mm(a, &d)))
                        }
                        Some(T::Sub(c, d)) if spreads(a, [&c, &d], true) => {
                            alts.push(T::Sub(mm(a, &c), mm(a, &d)))
                        }
                        Some(T::Neg(c)) if spreads(a, [&c, &c], true) => {
                            alts.push(T::Neg(mm(a, &c)))
                        }
                        _ => {}
                    }
                    match open(a) {
                        Some(T::Add(c, d)) if spreads(b, [&c, &d], false) => {
                            alts.push(T::Add(mm(&c, b), mm(&d, b)))
                        }
                        Some(T::Sub(c, d)) if spreads(b, [&c, &d], false) => {
                            alts.push(T::Sub(mm(&c, b), mm(&d, b)))
                        }
                        Some(T::Neg(c)) if spreads(b, [&c, &c], false) => {
                            alts.push(T::Neg(mm(&c, b)))
                        }
                        _ => {}
                    }
                }
                if let Some(T::MatMul(x, y)) = open(b) {
                    if self.free_product(a, &x) {
                        alts.push(T::MatMul(mm(a, &x), y));
                    }
                }
                if let Some(T::MatMul(x, y)) = open(a) {
                    if self.free_product(&y, b) {
                        alts.push(T::MatMul(x, mm(&y, b)));
                    }
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
}
