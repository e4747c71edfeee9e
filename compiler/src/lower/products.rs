//! Matrix products of the layout lowering: `A @ v` (a Hadamard product of the matrix tiles
//! with the replicated vector, then the rotate-and-sum of `reduce`), `X diag(v)` and
//! `diag(v) X`, and the packing of input matrices, whose views with different constant factors
//! share one set of ciphertexts (the factor "pinned" per input).
//!
//! Products of two matrices are `matmul`'s; a public matrix operand (`matmul::MatOperand`)
//! multiplies as plaintext tiles.

use hel_schedule::{Layout, Source, Unit};

use super::ctir::{COp, Ct};
use super::layout::{ceil_div, stored_dims, Form, Lowering, MatVal, Orient, VecVal};
use super::matmul::MatOperand;
use super::oracle::PlainKind;
use super::reduce::Partials;
use crate::diagnostics::Diagnostic;
use crate::ir::{NodeId, Op, Shape};

impl Lowering<'_> {
    /// Fills [`Lowering::pinned`]: for every input used as a matrix, the largest of the
    /// factors its views have (encrypting the tiny `(gamma c3) Z` directly would lose its
    /// precision to the fresh encryption noise), for both stored orientations.
    pub(super) fn pin_factors(&mut self) {
        for (id, n) in self.p.graph.nodes() {
            // Views used only to make other views (`c * pre`) are never packed themselves.
            let used = self
                .p
                .graph
                .users(id)
                .into_iter()
                .any(|u| self.oracle.input_source(u).is_none());
            if !matches!(n.ty.shape, Shape::Matrix(..)) || !self.is_enc(id) || !used {
                continue;
            }
            if let Some((source, factor, transposed)) = self.oracle.input_source(id) {
                for stored in [transposed, !transposed] {
                    let g = self.pinned.entry((source, stored)).or_insert(factor);
                    if factor.abs() > g.abs() {
                        *g = factor;
                    }
                }
            }
        }
    }

    /// The ciphertexts of matrix input view `id` (`factor` times the source, `transposed`
    /// relative to it) in form `f`: the pinned packing times a constant on the server where
    /// that is worth a level, else its own packing.
    pub(super) fn input_view_matrix(
        &mut self,
        id: NodeId,
        source: Source,
        factor: f64,
        transposed: bool,
        f: Form,
    ) -> MatVal {
        let stored = transposed ^ (f == Form::T);
        let pinned = self.pinned.get(&(source, stored)).copied();
        // Another factor than the pinned one: a constant product on the server, where the
        // consumer has a level to spare for it (else its own packing).
        let budget = self.plan.mat.get(&(id, f)).copied().unwrap_or(0);
        match pinned {
            Some(g)
                if g != factor
                    && g != 0.0
                    && budget >= 1
                    && (factor / g).abs() >= MIN_SERVER_RATIO =>
            {
                let m = self.input_matrix(id, source, g, transposed, f);
                let tiles = m
                    .tiles
                    .iter()
                    .map(|t| self.push(COp::MulConst(*t, factor / g), id))
                    .collect();
                MatVal { tiles, ..m }
            }
            _ => self.input_matrix(id, source, factor, transposed, f),
        }
    }

    /// `X diag(v)` (`ScaleCols`) or `diag(v) X` (`ScaleRows`) in form `f`.
    pub(super) fn scaled_matrix(&mut self, id: NodeId, f: Form) -> Result<MatVal, Diagnostic> {
        let Unit { h, w } = self.unit;
        let (yr, yc) = stored_dims(self.shape(id), f);
        let (gr, gc) = (ceil_div(yr, h), ceil_div(yc, w));
        let n = self.node(id).clone();
        let args = n.args.clone();
        let cols = matches!(n.op, Op::ScaleCols);
        let tile_of = |k: usize| if per_col(cols, f) { k % gc } else { k / gc };
        if let (Some(c), true) = (self.oracle.uniform(args[0]), self.is_enc(args[1])) {
            // A vector's broadcast (`X - mu`, `H + b`, `outer(u, v)`: a constant matrix times
            // the diagonal): the vector's replicated tiles as they are, without the mask a
            // product by the constant's plaintext costs. The copies in the padding rows (or
            // columns) make it unclean, which only a consumer that sums over them pays for.
            let v = self.vector(args[1], vector_orient(cols, f))?;
            let scaled: Vec<_> = v.tiles.iter().map(|t| self.mul_const(*t, c, id)).collect();
            let tiles = (0..gr * gc).map(|k| scaled[tile_of(k)]).collect();
            return Ok(MatVal {
                tiles,
                grid_cols: gc,
                clean: false,
            });
        }
        let x = self.mat_operand(args[0], f)?;
        let o = vector_orient(cols, f);
        if self.is_enc(args[1]) {
            let v = self.vector(args[1], o)?;
            let tiles = (0..gr * gc)
                .map(|k| self.tile_times(&x, k, v.tiles[tile_of(k)], id))
                .collect();
            // `v` is repeated across the other dimension, padding included: zeros in `v`'s
            // padding clear only one dimension of `X`'s, so the product is clean only where
            // `X` is.
            return Ok(MatVal {
                tiles,
                grid_cols: gc,
                clean: x.clean(),
            });
        }
        // A public vector, packed as a plaintext in the orientation the form needs.
        let MatOperand::Enc(x) = x else {
            return Err(self.unsupported(id, "a product of public values"));
        };
        let kind = self.oracle.plain_kind(args[1]);
        let mut tiles = Vec::with_capacity(gr * gc);
        for k in 0..gr * gc {
            let t = tile_of(k);
            let tile = match kind {
                Some(PlainKind::Uniform(c)) => self.mul_const(x.tiles[k], c, id),
                Some(PlainKind::Public(source, factor, _)) => {
                    let layout = match o {
                        Orient::R => Layout::RowVector { offset: t * w },
                        Orient::C => Layout::ColVector { offset: t * h },
                    };
                    self.mul_public(x.tiles[k], source, layout, factor, id)
                }
                None => {
                    return Err(self.unsupported(args[1], "a public value that is not known here"))
                }
            };
            tiles.push(tile);
        }
        Ok(MatVal {
            tiles,
            grid_cols: gc,
            clean: x.clean,
        })
    }

    /// `A @ v` in orientation `o` (C: direct A and R(v), masked; R: transposed A and C(v)),
    /// before its rotate-and-sum.
    pub(super) fn matvec_partials(
        &mut self,
        id: NodeId,
        a: NodeId,
        v: NodeId,
        o: Orient,
    ) -> Result<Partials, Diagnostic> {
        let c = match self.shape(a) {
            Shape::Matrix(_, c) => c,
            _ => return Err(self.unsupported(id, "matrix operand expected")),
        };
        let (form, vo) = match o {
            Orient::C => (Form::D, Orient::R),
            Orient::R => (Form::T, Orient::C),
        };
        if !self.is_enc(v) {
            return self.matvec_public_partials(id, a, v, o);
        }
        let mut x = self.vector(v, vo)?;
        // A view of an input whose ciphertexts another product already fixes at a different
        // factor: use those, with the ratio folded into the vector's constants.
        let mut repacked = None;
        if let Some((source, f, transposed)) = self.oracle.input_source(a) {
            let stored = transposed ^ (form == Form::T);
            if let Some(&g) = self.pinned.get(&(source, stored)) {
                if g != f && g != 0.0 {
                    if let Some(tiles) = self.fold_scale_all(&x.tiles, f / g, id) {
                        repacked = Some(self.input_matrix(a, source, g, transposed, form));
                        x = VecVal {
                            tiles,
                            clean: x.clean,
                        };
                    }
                }
            }
        }
        let m = match repacked {
            Some(m) => MatOperand::Enc(m),
            None => self.mat_operand(a, form)?,
        };
        let (yr, yc) = stored_dims(self.shape(a), form);
        if !m.clean() && !x.clean {
            x = self.ensure_clean_vec(x, vo, c, id);
        }
        let gc = m.grid_cols(self.unit);
        let ntiles = ceil_div(yr, self.unit.h) * gc;
        // The clean vector clears the padding columns the sum runs over; the padding rows
        // (`v` is repeated into them) stay as dirty as `A`'s: `(A + s) @ v` has `s · sum(v)`
        // there, which a later sum over the result must not read.
        let clean = m.clean();
        let prod = MatVal {
            tiles: (0..ntiles)
                .map(|k| {
                    // Y = A (D, R(v) tile per column block) or Aᵀ (T, C(v) per row block).
                    let t = match o {
                        Orient::C => k % gc,
                        Orient::R => k / gc,
                    };
                    self.tile_times(&m, k, x.tiles[t], id)
                })
                .collect(),
            grid_cols: gc,
            clean,
        };
        self.stored_partials(id, prod, yr, yc, o)
    }

    /// `A @ v` for a public `v`: a constant vector is `c · sum_cols(A)` (`c` is applied by the
    /// reduction's mask, or after it); a public input is packed as a plaintext and multiplied
    /// in (one level either way).
    fn matvec_public_partials(
        &mut self,
        id: NodeId,
        a: NodeId,
        v: NodeId,
        o: Orient,
    ) -> Result<Partials, Diagnostic> {
        match self.oracle.plain_kind(v) {
            Some(PlainKind::Uniform(c)) => {
                // `c · sum_cols(A)`. An input view `A = f X` is reduced unscaled, with `f` in the
                // factor the mask or the product with `c` applies: views of one input with
                // different factors then share their ciphertexts and rotate-and-sums.
                let form = match o {
                    Orient::C => Form::D,
                    Orient::R => Form::T,
                };
                let (m, f) = match self.oracle.input_source(a) {
                    Some((source, f, transposed)) => {
                        (self.input_matrix(a, source, 1.0, transposed, form), f)
                    }
                    None => (self.matrix(a, form)?, 1.0),
                };
                let (yr, yc) = stored_dims(self.shape(a), form);
                let mut p = self.stored_partials(id, m, yr, yc, o)?;
                p.factor *= c * f;
                Ok(p)
            }
            Some(PlainKind::Public(source, factor, _)) => {
                // Hadamard with the packed public vector, then the same reduction as an
                // encrypted matrix (scale_cols + sum_cols).
                let Unit { h, w } = self.unit;
                let form = match o {
                    Orient::C => Form::D,
                    Orient::R => Form::T,
                };
                let m = self.matrix(a, form)?;
                let (yr, yc) = stored_dims(self.shape(a), form);
                let tiles: Vec<Ct> = m
                    .tiles
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        let (i, j) = (k / m.grid_cols, k % m.grid_cols);
                        let layout = match form {
                            Form::D => Layout::RowVector { offset: j * w },
                            Form::T => Layout::ColVector { offset: i * h },
                        };
                        self.mul_public(*t, source, layout, factor, id)
                    })
                    .collect();
                let prod = MatVal {
                    tiles,
                    grid_cols: m.grid_cols,
                    clean: true,
                };
                self.stored_partials(id, prod, yr, yc, o)
            }
            None => Err(self.unsupported(id, "a product with a computed public vector")),
        }
    }
}

/// `X diag(v)` (`cols`) or `diag(v) X` in form `f`: D needs R(v) (one tile per column
/// block), T needs C(v) (one per row block); `diag(v) X` the other way round.
fn per_col(cols: bool, f: Form) -> bool {
    cols == (f == Form::D)
}

/// The orientation of `v` that `X diag(v)` (`cols`) or `diag(v) X` needs in form `f`.
pub(super) fn vector_orient(cols: bool, f: Form) -> Orient {
    if per_col(cols, f) {
        Orient::R
    } else {
        Orient::C
    }
}

/// The smallest ratio of a view's factor to its input's pinned factor that is applied on the
/// server: tiny values made there take the rescale's rounding noise at full size, so a view
/// scaled further down is packed by the client (GD's `(gamma c3) Z[i]^T`, 2e-7 of the pinned
/// `Z[i]^T`: 3x the output error when scaled on the server).
const MIN_SERVER_RATIO: f64 = 1e-4;
