//! Reductions of the layout lowering: `sum_rows`, `sum_cols`, the rotate-and-sum that ends
//! every product (see `products`), sums of products folded into one rotate-and-sum
//! (Crockett's `sum_rows_many`), dot products, and orientation conversions (diagonal masks
//! and a rotate-and-sum).
//!
//! A product or reduction is built in two halves: its [`Partials`] (per output tile, what the
//! rotate-and-sum folds) and [`Lowering::finish_reduction`]. They exist as one file because a
//! sum may add the partials of several terms before the one rotate-and-sum they share.

use hel_schedule::{Plain, Unit};

use super::ctir::{COp, Ct};
use super::elementwise::Elem;
use super::layout::{ceil_div, stored_dims, Form, Lowering, MatVal, Orient, VecVal};
use super::plan::Recipe;
use crate::diagnostics::Diagnostic;
use crate::ir::{NodeId, Op, Shape};

/// A product or reduction before its rotate-and-sum: per output tile, the sum of the tile
/// products (or tiles) that the rotate-and-sum then folds. Products with the same output
/// orientation and length add up here and share one rotate-and-sum.
#[derive(Clone, Debug)]
pub(super) struct Partials {
    pub(super) tiles: Vec<Ct>,
    /// C output: how many positions along a row the rotate-and-sum covers (a power of two, at
    /// most `w`); an R output always folds all `h` rows.
    pub(super) span: usize,
    /// A constant the value still has to be multiplied by (a product with a constant vector):
    /// the C mask takes it for free.
    pub(super) factor: f64,
}

impl Lowering<'_> {
    /// `a · b` (vectors): the element-wise product, masked clean, summed over its tiles and
    /// rotated-and-summed over the slots, in the shallower orientation.
    pub(super) fn dot(&mut self, id: NodeId, a: NodeId, b: NodeId) -> Result<Ct, Diagnostic> {
        let o = self.oracle.dot_orient(a, b);
        let len = match self.shape(a) {
            Shape::Vector(n) => n,
            _ => return Err(self.unsupported(id, "dot of non-vectors")),
        };
        // The product is a vector of `len` entries (its tiles), although `id` is a scalar.
        let prod = self.elementwise_tiles(id, o, len, a, b, Elem::Mul, false)?;
        let prod = self.ensure_clean_vec(prod, o, len, id);
        let s = self
            .sum(prod.tiles, id)
            .ok_or_else(|| self.unsupported(id, "empty vector"))?;
        Ok(match o {
            Orient::R => self.rotate_sum(s, 1, self.unit.w, id),
            Orient::C => self.rotate_sum(s, self.unit.w as i64, self.unit.h, id),
        })
    }

    /// A product or reduction node (`A @ v`, `sum_rows`, `sum_cols`) in orientation `o`.
    pub(super) fn reduction(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        let p = self.reduction_partials(id, o)?;
        let len = self.oracle.vector_len(id);
        Ok(self.finish_reduction(id, p, len, o))
    }

    /// The partials of a product or reduction node in orientation `o`.
    fn reduction_partials(&mut self, id: NodeId, o: Orient) -> Result<Partials, Diagnostic> {
        let n = self.node(id).clone();
        match n.op {
            Op::MatVec => self.matvec_partials(id, n.args[0], n.args[1], o),
            Op::SumRows | Op::SumCols => {
                self.reduce_matrix_partials(id, n.args[0], matches!(n.op, Op::SumRows), o)
            }
            _ => Err(self.unsupported(id, "not a product or reduction")),
        }
    }

    /// `sum_rows(X)` (`rows`) or `sum_cols(X)` in orientation `o`, before the rotate-and-sum.
    fn reduce_matrix_partials(
        &mut self,
        id: NodeId,
        x: NodeId,
        rows: bool,
        o: Orient,
    ) -> Result<Partials, Diagnostic> {
        // Summing the stored matrix's rows gives R (no mask); its columns, C (mask).
        let form = match (rows, o) {
            (true, Orient::R) | (false, Orient::C) => Form::D,
            _ => Form::T,
        };
        let m = self.matrix(x, form)?;
        let (yr, yc) = stored_dims(self.shape(x), form);
        self.stored_partials(id, m, yr, yc, o)
    }

    /// The partials of summing a stored matrix `Y` (yr × yc) over its rows (to R: the tiles of
    /// each column block) or its columns (to C: the tiles of each row block).
    pub(super) fn stored_partials(
        &mut self,
        id: NodeId,
        m: MatVal,
        yr: usize,
        yc: usize,
        o: Orient,
    ) -> Result<Partials, Diagnostic> {
        let Unit { h, w } = self.unit;
        let m = self.ensure_clean_mat(m, yr, yc, id);
        let gr = ceil_div(yr, h);
        let groups: Vec<Vec<Ct>> = match o {
            Orient::R => (0..m.grid_cols)
                .map(|j| (0..gr).map(|i| m.tiles[i * m.grid_cols + j]).collect())
                .collect(),
            Orient::C => (0..gr)
                .map(|i| m.tiles[i * m.grid_cols..(i + 1) * m.grid_cols].to_vec())
                .collect(),
        };
        let mut tiles = Vec::with_capacity(groups.len());
        for g in groups {
            let s = self
                .sum(g, id)
                .ok_or_else(|| self.unsupported(id, "empty"))?;
            tiles.push(s);
        }
        Ok(Partials {
            tiles,
            span: yc.min(w).next_power_of_two(),
            factor: 1.0,
        })
    }

    /// The rotate-and-sum that turns partials into a vector of length `len` in orientation `o`:
    /// along the rows, then masked to column 0 and replicated (C), or over the rows, cyclic in
    /// the rows (R).
    fn finish_reduction(&mut self, id: NodeId, p: Partials, len: usize, o: Orient) -> VecVal {
        let Unit { h, w } = self.unit;
        let tiles = p
            .tiles
            .iter()
            .enumerate()
            .map(|(i, s)| match o {
                Orient::R => {
                    let s = self.rotate_sum(*s, w as i64, h, id);
                    self.mul_const(s, p.factor, id)
                }
                Orient::C => {
                    let s = self.rotate_sum(*s, 1, p.span, id);
                    let rows = len.saturating_sub(i * h).min(h);
                    self.mask_col0_replicate(s, rows, p.factor, id)
                }
            })
            .collect();
        VecVal { tiles, clean: true }
    }

    /// `id`, a sum or difference of vectors, in orientation `o` with one rotate-and-sum for all
    /// the products and reductions in it that reduce into `o` (Crockett's `sum_rows_many`):
    /// their partials are added first. `None` unless there are two or more such terms.
    ///
    /// The sum is walked through additions, subtractions and negations whose only use is the
    /// sum; a product is taken in only if this sum is its only use and `o` is its direct
    /// orientation (one that would be converted is reduced in the other orientation anyway).
    /// The depth is that of the separate reductions: the deepest term's partials, then the
    /// same mask.
    pub(super) fn fused_sum(
        &mut self,
        id: NodeId,
        o: Orient,
    ) -> Result<Option<VecVal>, Diagnostic> {
        if self.unfused.contains(&(id, o)) {
            return Ok(None);
        }
        let mut terms = Vec::new();
        let mut walked = Vec::new();
        self.sum_terms(id, false, true, o, &mut terms, &mut walked);
        let (fused, rest): (Vec<_>, Vec<_>) = terms
            .into_iter()
            .partition(|&(x, _)| self.reduces_into(x, o));
        if fused.len() < 2 {
            // A sum walked into here, lowered later, walks a part of these terms (fewer, once
            // more of them are lowered): fewer than two reductions too.
            self.unfused.extend(walked.into_iter().map(|x| (x, o)));
            return Ok(None);
        }
        let mut acc: Option<(Partials, bool)> = None;
        for (x, neg) in fused {
            let p = self.reduction_partials(x, o)?;
            acc = Some(match acc {
                None => (p, neg),
                Some((a, a_neg)) => (self.add_partials(id, a, a_neg, p, neg), false),
            });
        }
        let Some((p, neg)) = acc else {
            return Ok(None);
        };
        let p = if neg {
            Partials {
                factor: -p.factor,
                ..p
            }
        } else {
            p
        };
        let len = self.oracle.vector_len(id);
        let mut v = self.finish_reduction(id, p, len, o);
        for (x, neg) in rest {
            let t = self.vector(x, o)?;
            v.clean &= t.clean;
            v.tiles = v
                .tiles
                .iter()
                .zip(&t.tiles)
                .map(|(a, b)| {
                    let op = if neg {
                        COp::Sub(*a, *b)
                    } else {
                        COp::Add(*a, *b)
                    };
                    self.push(op, id)
                })
                .collect();
        }
        Ok(Some(v))
    }

    /// The terms of the sum rooted at `x` (each with whether it is subtracted): additions,
    /// subtractions and negations of encrypted vectors of one length are walked into when they
    /// are the root or used only here, and not already lowered in `o`.
    ///
    /// `walked` receives the sums walked into (the root too).
    ///
    /// Iterative, with an explicit stack: an unrolled `y = y + x` loop makes a sum as deep as
    /// its iteration count, and a recursion that deep would overflow the thread's stack.
    fn sum_terms(
        &mut self,
        x: NodeId,
        neg: bool,
        root: bool,
        o: Orient,
        out: &mut Vec<(NodeId, bool)>,
        walked: &mut Vec<NodeId>,
    ) {
        // Pushed right operand first, so terms come out left to right as a recursion would.
        let mut stack = vec![(x, neg, root)];
        while let Some((x, neg, root)) = stack.pop() {
            let n = self.node(x).clone();
            let same = |a: &NodeId| self.is_enc(*a) && self.shape(*a) == n.ty.shape;
            let walk = n.args.iter().all(same)
                && matches!(n.op, Op::Add | Op::Sub | Op::Neg)
                && (root
                    || (self.oracle.single_use(x)
                        && !self.vecs.contains_key(&(x, o))
                        && self.direct(x, o)));
            if !walk {
                out.push((x, neg));
                continue;
            }
            walked.push(x);
            match n.op {
                Op::Add => {
                    stack.push((n.args[1], neg, false));
                    stack.push((n.args[0], neg, false));
                }
                Op::Sub => {
                    stack.push((n.args[1], !neg, false));
                    stack.push((n.args[0], neg, false));
                }
                _ => stack.push((n.args[0], !neg, false)),
            }
        }
    }

    /// Whether `x` is a product or reduction that a sum may fold into its own rotate-and-sum.
    fn reduces_into(&mut self, x: NodeId, o: Orient) -> bool {
        matches!(self.node(x).op, Op::MatVec | Op::SumRows | Op::SumCols)
            && self.is_enc(x)
            && self.oracle.single_use(x)
            && !self.vecs.contains_key(&(x, o))
            && self.direct(x, o)
    }

    /// Whether vector `x` is computed directly in orientation `o` (as planned; unplanned, when
    /// that is its least depth).
    fn direct(&mut self, x: NodeId, o: Orient) -> bool {
        match self.plan.vec.get(&(x, o)) {
            Some(r) => *r == Recipe::Direct,
            None => self.oracle.vdirect(x, o) <= self.oracle.vcost(x, o),
        }
    }

    /// `±a ± b` of two partials over the same output tiles (`negate_*`: subtract that side).
    fn add_partials(
        &mut self,
        id: NodeId,
        a: Partials,
        a_neg: bool,
        b: Partials,
        b_neg: bool,
    ) -> Partials {
        let (a, b) = if a.factor == b.factor {
            (a, b)
        } else {
            (self.apply_factor(id, a), self.apply_factor(id, b))
        };
        let tiles = a
            .tiles
            .iter()
            .zip(&b.tiles)
            .map(|(x, y)| match (a_neg, b_neg) {
                (false, false) => self.add(*x, *y, id),
                (false, true) => self.push(COp::Sub(*x, *y), id),
                (true, false) => self.push(COp::Sub(*y, *x), id),
                (true, true) => {
                    let s = self.add(*x, *y, id);
                    self.push(COp::Neg(s), id)
                }
            })
            .collect();
        Partials {
            tiles,
            span: a.span.max(b.span),
            factor: a.factor,
        }
    }

    /// Multiplies the pending constant factor into the partials.
    fn apply_factor(&mut self, id: NodeId, p: Partials) -> Partials {
        let tiles = p
            .tiles
            .iter()
            .map(|t| self.mul_const(*t, p.factor, id))
            .collect();
        Partials {
            tiles,
            factor: 1.0,
            ..p
        }
    }

    /// Converts a vector to the other orientation with diagonal masks.
    pub(super) fn convert(
        &mut self,
        id: NodeId,
        v: VecVal,
        to: Orient,
    ) -> Result<VecVal, Diagnostic> {
        let Unit { h, w } = self.unit;
        let n = self.oracle.vector_len(id);
        let from = to.flip();
        let nfrom = self.oracle.vec_tiles(from, n);
        let nto = self.oracle.vec_tiles(to, n);
        let mut tiles = Vec::with_capacity(nto);
        for t in 0..nto {
            let mut parts = Vec::new();
            for s in 0..nfrom {
                // Entry index k sits at (a, b) = (k - Ih, k - Jw) in C tile I / R tile J; the
                // diagonal b = a + Ih - Jw carries the entries both tiles share.
                let (i, j) = match to {
                    Orient::R => (s, t),
                    Orient::C => (t, s),
                };
                let (lo, hi) = ((i * h).max(j * w), ((i + 1) * h).min((j + 1) * w).min(n));
                if lo >= hi {
                    continue;
                }
                let offset = i as i64 * h as i64 - j as i64 * w as i64;
                let a0 = (lo - i * h) as u32;
                let a1 = (hi - i * h) as u32;
                let mask = Plain::Diagonal {
                    value: 1.0,
                    offset,
                    rows: (a0, a1),
                };
                parts.push(self.push(COp::MulPlain(v.tiles[s], mask), id));
            }
            let s = self
                .sum(parts, id)
                .ok_or_else(|| self.unsupported(id, "empty vector"))?;
            let ct = match to {
                Orient::R => self.rotate_sum(s, w as i64, h, id),
                Orient::C => {
                    let s = self.rotate_sum(s, 1, w, id);
                    let rows = n.saturating_sub(t * h).min(h);
                    self.mask_col0_replicate(s, rows, 1.0, id)
                }
            };
            tiles.push(ct);
        }
        Ok(VecVal { tiles, clean: true })
    }
}
