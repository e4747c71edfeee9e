//! Phase 1 of the depth-search engine: the minimum depth (`md`) of every term, the least
//! depth any combination of the enabled identities reaches, memoized per interned term. The
//! outputs' minimum depth is the budget phase 2 ([`super::build`]) builds to.

use super::degree::PRECOMPUTE_MAX_DEGREE;
use super::term::{P, T};
use super::Engine;
use crate::analysis::depth::DepthModel;
use crate::ir::{Graph, Node, Op, Shape};
use crate::lower::price;
use crate::passes::pipeline::ProductPricing;

impl Engine<'_> {
    pub(super) fn md(&mut self, t: &P) -> u32 {
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
                            && self.degree[id.index()].is_some_and(|d| d <= PRECOMPUTE_MAX_DEGREE)
                            && match n.args[..] {
                                [a, b] => self.client_takes(
                                    self.mk(T::N(a)),
                                    self.mk(T::N(b)),
                                    n.ty.shape,
                                ),
                                _ => false,
                            };
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
                    if self.exhausted.get() {
                        break;
                    }
                    best = best.min(self.md_alternative(&alt));
                }
                best
            }
        }
    }

    /// Depth of a form: 0 if the client will compute it, else its direct depth.
    pub(super) fn md_form(&mut self, t: &T) -> u32 {
        if self.rules.precompute && self.term_input_only(t) && !matches!(t, T::N(_)) {
            return 0;
        }
        self.md_direct(t)
    }

    /// Depth of an alternative form: [`Self::md_form`], but a scaling (factors merged into
    /// one list, `s1 (s2 x)`) at its own minimum, since its operand is one the merge has not
    /// opened yet: a decaying average `s = 0.99 s + 0.01 Z[i]` pushes its factors one
    /// iteration further with every merge, and priced directly each pass took only every
    /// other step (depth k/2, k/4, ... where 0 is reachable). The build builds such a form
    /// as a term of its own ([`Engine::build`]).
    pub(super) fn md_alternative(&mut self, t: &T) -> u32 {
        if self.rules.merge_scales && matches!(t, T::Scale(..)) {
            return self.md(&self.mk(t.clone()));
        }
        self.md_form(t)
    }

    /// Depth of `t` built with its top operation as written (operands at their minimum).
    fn md_direct(&mut self, t: &T) -> u32 {
        if self.term_plain(t) {
            return 0;
        }
        match t {
            T::N(id) => self.md(&self.mk(T::N(*id))),
            T::MatMul(a, b) if !self.plain_of(a) && !self.plain_of(b) => {
                let (ca, cb) = self.matmul_costs(a, b);
                (self.md(a) + ca).max(self.md(b) + cb)
            }
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
            T::Scale(ss, x) => self.md(x) + self.scale_cost(ss, x),
            T::Add(a, b) | T::Sub(a, b) => {
                let (da, db) = (self.md(a), self.md(b));
                da.max(db)
            }
            T::Neg(a) | T::SumCols(a) => self.md(a),
            T::Broadcast(..) => 0,
        }
    }

    /// Levels a product of two encrypted matrices `a @ b` adds above `a` and above `b`: in the
    /// engine's model, where a product costs one level, plus what the lowering charges it
    /// beyond its cheapest matrix-vector product ([`price::matmul_extra_levels`]), in direct
    /// form or transposed (`bᵀ aᵀ`), whichever leaves the result shallower (direct on ties).
    /// A right operand the client packs column by column (an input of few columns) costs a
    /// level less than a computed or wide one.
    pub(super) fn matmul_costs(&mut self, a: &P, b: &P) -> (u32, u32) {
        let later = self.rules.precompute || self.rules.precompute_later;
        if self.rules.products == ProductPricing::Tensor
            || (later && self.term_input_only(&T::MatMul(*a, *b)))
        {
            return (1, 1);
        }
        let (da, db) = (self.md(a), self.md(b));
        let (Shape::Matrix(rows_a, _), Shape::Matrix(_, cols_b)) =
            (self.shape_of(a), self.shape_of(b))
        else {
            return (1, 1);
        };
        let levels = |packed: bool| {
            let (x, z) = price::matmul_extra_levels(packed);
            (1 + x, 1 + z)
        };
        let direct = levels(price::packs_columns(self.input_view(b), cols_b));
        let (zt, xt) = levels(price::packs_columns(self.input_view(a), rows_a));
        let transposed = (xt, zt);
        let depth = |(ca, cb): (u32, u32)| (da + ca).max(db + cb);
        if depth(transposed) < depth(direct) {
            transposed
        } else {
            direct
        }
    }

    /// Rotations of a product of two encrypted matrices built anew (see
    /// [`price::matmul_rotations`]), in the cheaper of its two forms.
    pub(super) fn matmul_work(&self, a: &P, b: &P) -> u64 {
        let (Shape::Matrix(r, k), Shape::Matrix(_, c)) = (self.shape_of(a), self.shape_of(b))
        else {
            return 0;
        };
        let direct = price::matmul_rotations(k, c, price::packs_columns(self.input_view(b), c));
        let transposed = price::matmul_rotations(k, r, price::packs_columns(self.input_view(a), r));
        direct.min(transposed)
    }

    pub(super) fn free_term(&self, t: &P) -> bool {
        match &self.t(*t) {
            T::N(id) => DepthModel::is_free_factor(self.node(*id)),
            T::Broadcast(s, _) => DepthModel::is_free_factor(self.node(*s)),
            _ => false,
        }
    }
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
