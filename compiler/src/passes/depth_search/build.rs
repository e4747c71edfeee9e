//! Phase 2 of the depth-search engine: the budgeted rebuild (ALAP). Every term is built in the
//! cheapest of its forms ([`super::forms`]) whose minimum depth ([`super::min_depth`]) fits its
//! budget, at the tightest budget it was ever requested with, into the output graph.

use super::term::{P, T};
use super::{Engine, Rules};
use crate::analysis::depth::DepthModel;
use crate::ir::{Node, NodeId, Op, Shape, Type};
use crate::Span;

impl Engine<'_> {
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
    pub(super) fn build(&mut self, t: &P, budget: u32) -> NodeId {
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
                let outer = self.site.replace(span);
                let id = if self.merged_scale(&options, &chosen) {
                    self.build(&chosen, budget)
                } else {
                    self.build_form(&chosen, budget, span, &iter)
                };
                self.site = outer;
                id
            }
            _ => {
                let mut options = vec![*t];
                options.extend(
                    self.alternatives(&self.t(*t))
                        .into_iter()
                        .map(|t| self.mk(t)),
                );
                let chosen = self.choose(&options, budget);
                if self.merged_scale(&options, &chosen) {
                    return self.build(&chosen, budget);
                }
                let (span, iter) = self.origin(t);
                self.build_form(&chosen, budget, span, &iter)
            }
        }
    }

    /// Whether `chosen` is a scaling that another option's factors merged into (an
    /// alternative, not the term as written): priced at its own minimum ([`Engine::md_form`]),
    /// it is built as a term of its own, with its alternatives, not by its top operation.
    fn merged_scale(&self, options: &[P], chosen: &P) -> bool {
        options.first() != Some(chosen) && matches!(self.t(*chosen), T::Scale(..))
    }

    /// Among the options whose minimum depth fits the budget, the one that does the least work
    /// again, else the shallowest. `options[0]` is the term as written; an alternative that
    /// opens up one of its nodes (reaches into its structure) computes that node's operation a
    /// second time unless it only moves a public scalar ([`Engine::opened_work`]). Among those
    /// that open nothing, the fewest scalings of computed values ([`Engine::scaled_computed`]):
    /// a scaling on an input is free (the client packs it), one on a computed value costs a
    /// level — which the search then buys back by distributing the scalar into a copy of the
    /// value (GD computed `0.0002 * u_i` as a second pipelined `u_i` that way). Then the order
    /// of the options (the term as written first). Between those, the least new work for
    /// products of encrypted matrices ([`Engine::new_products`]).
    fn choose(&mut self, options: &[P], budget: u32) -> P {
        // Each form priced by its top operation first; only where none fits, merged scalings
        // at their own minimum (built as terms of their own, [`Self::merged_scale`]).
        let mut depths: Vec<u32> = options.iter().map(|o| self.md_form(&self.t(*o))).collect();
        if self.rules.merge_scales && depths.iter().all(|&d| d > budget) {
            for (i, o) in options.iter().enumerate().skip(1) {
                depths[i] = self.md_alternative(&self.t(*o));
            }
        }
        if let Some(i) = (0..options.len())
            .filter(|&i| depths[i] <= budget)
            .min_by_key(|&i| {
                (
                    self.opened_work(&options[0], &options[i]),
                    self.new_products(&options[i]),
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

    /// The work for the products of encrypted matrices that `form` builds anew (not nodes of
    /// the input graph): the server's rotations, priced by the lowering's rules
    /// ([`crate::lower::price`]), then the values the client uploads for the products it
    /// computes. Of two forms equally deep, the one whose new product is smaller (`Xᵀ X`,
    /// features by features, rather than `X Xᵀ`, samples by samples), on either side.
    fn new_products(&self, form: &P) -> (u64, u64) {
        let add = |(a, b): (u64, u64), (c, d): (u64, u64)| (a + c, b + d);
        match self.t(*form) {
            T::N(_) | T::Broadcast(..) => (0, 0),
            t @ T::MatMul(a, b) => {
                let client = self.rules.precompute || self.rules.precompute_later;
                let here = if self.plain_of(&a) || self.plain_of(&b) {
                    (0, 0)
                } else if client && self.term_input_only(&t) {
                    (0, self.shape_of(form).len() as u64)
                } else {
                    (self.matmul_work(&a, &b), 0)
                };
                add(here, add(self.new_products(&a), self.new_products(&b)))
            }
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.new_products(&x),
            T::MatVec(a, b) | T::ScaleCols(a, b) | T::Mul(a, b) | T::Add(a, b) | T::Sub(a, b) => {
                add(self.new_products(&a), self.new_products(&b))
            }
        }
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
    pub(super) fn input_view(&self, p: &P) -> bool {
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

    /// A span and iteration for a new node: the iteration of the input-graph node inside `t`
    /// computed last; the span of an operation the user wrote inside `t`, else of the one being
    /// rebuilt, never that of an `input` declaration or a constant.
    fn origin(&self, t: &P) -> (Span, Vec<u32>) {
        let (span, iter, declared) = self.origin_of(t);
        match self.site {
            Some(site) if declared => (site, iter),
            _ => (span, iter),
        }
    }

    /// [`Engine::origin`] within `t`, and whether the span is that of a declaration or a
    /// constant.
    fn origin_of(&self, t: &P) -> (Span, Vec<u32>, bool) {
        match &self.t(*t) {
            T::N(id) | T::Broadcast(id, _) => {
                let n = self.node(*id);
                let declared = matches!(n.op, Op::Input { .. } | Op::Const { .. });
                (n.span, n.iter.clone(), declared)
            }
            T::Scale(_, x) | T::Neg(x) | T::SumCols(x) => self.origin_of(x),
            T::MatVec(a, b)
            | T::MatMul(a, b)
            | T::ScaleCols(a, b)
            | T::Mul(a, b)
            | T::Add(a, b)
            | T::Sub(a, b) => {
                // The later of the two is where the combined value is needed.
                let (x, y) = (self.origin_of(a), self.origin_of(b));
                let (later, other) = if y.1 > x.1 { (y, x) } else { (x, y) };
                if later.2 && !other.2 {
                    (other.0, later.1, false)
                } else {
                    later
                }
            }
        }
    }

    /// Builds the top operation of `form` with operands built under the remaining budget.
    fn build_form(&mut self, form: &P, budget: u32, span: Span, iter: &[u32]) -> NodeId {
        if let T::MatMul(a, b) = self.t(*form) {
            let client = self.rules.precompute || self.rules.precompute_later;
            if client && self.term_input_only(&T::MatMul(a, b)) {
                if let Some(key) = self.product_key(a, b) {
                    if !self.client_built.iter().any(|(k, _)| *k == key) {
                        let values = self.shape_of(form).len() as u64;
                        self.client_built.push((key, values));
                    }
                }
            }
        }
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
                let matmul = matches!(self.t(*form), T::MatMul(..));
                let (ca, cb) = match (pa, pb) {
                    (false, false) if matmul => self.matmul_costs(a, b),
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
                let cost = self.scale_cost(ss, x);
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
        // Constants multiply into one: a factor the client packs into an input, which a
        // chain of products of constants is not to the passes after this one.
        if ss.len() > 1 && self.rules.merge_scales {
            let values: Option<Vec<f64>> = ss.iter().map(|s| self.constant_value(*s)).collect();
            if let Some(value) = values.map(|v| v.iter().product::<f64>()) {
                if value.is_finite() {
                    let ty = Type::plain(Shape::Scalar);
                    return self.emit(Op::Const { value }, vec![], ty, span, iter);
                }
            }
        }
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
