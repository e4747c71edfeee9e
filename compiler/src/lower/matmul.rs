//! Matrix-matrix products `A @ B` with at least one encrypted operand, and the public
//! (plaintext) matrix operands of every product.
//!
//! The product is computed one output column at a time, each column a matrix-vector product
//! (HIT's depth-3 product, column by column):
//!
//! ```text
//!   C[:, j] = A @ B[:, j]
//!
//!   R(B[:, j])  : column j of B replicated in every row (B's transposed tile, row j masked,
//!                 then summed over the rows; packed directly when B is an input)   1 level
//!   A_D ∘ R     : tile by tile, summed over the tiles of one row block              1 level
//!   row sum     : rotate-and-sum along the rows (log2 of the row length)            -
//!   mask col 0  : the column's entries, then rotated right by j mod w into place    1 level
//! ```
//!
//! so `C` in direct form needs `A` direct (2 levels below) and `B` transposed (3 levels; 2 when
//! the client packs its columns, for an input of at most [`price::MAX_PACKED_COLUMNS`] columns: the
//! rules are [`super::price`]'s, which the depth search prices forms by), and `C` in
//! transposed form is `(Bᵀ Aᵀ)` in direct form,
//! the same kernel with the roles swapped. Rotations: per output column and row block, the row
//! sum and at most log2(w) right shifts (steps -1, -2, -4, ..., shared with every replication);
//! per column of a computed `B`, the row replication (steps w, 2w, ...).
//!
//! The file exists apart from the matrix-vector products (`products`) because it owns the one
//! thing they do not have: assembling a matrix from masked columns.

use hel_schedule::{Layout, Pack, Plain, Source, Unit};

use super::ctir::{COp, Ct};
use super::layout::{ceil_div, stored_dims, Form, Lowering, MatVal};
use super::oracle::PlainKind;
use super::price;
use crate::diagnostics::Diagnostic;
use crate::ir::{NodeId, Shape};

/// A matrix operand in one form: its ciphertext tiles, or the plaintext tiles of a public
/// matrix.
pub(super) enum MatOperand {
    Enc(MatVal),
    Plain {
        kind: PlainKind,
        /// The stored matrix's form and size (rows, columns).
        form: Form,
        stored: (usize, usize),
    },
}

impl MatOperand {
    pub(super) fn grid_cols(&self, unit: Unit) -> usize {
        match self {
            MatOperand::Enc(m) => m.grid_cols,
            MatOperand::Plain { stored, .. } => ceil_div(stored.1, unit.w),
        }
    }

    pub(super) fn clean(&self) -> bool {
        match self {
            MatOperand::Enc(m) => m.clean,
            MatOperand::Plain { .. } => true,
        }
    }
}

/// One column of the right operand replicated in every row, per tile of its length: either
/// ciphertexts or plaintexts.
enum Column {
    Enc(Vec<Ct>),
    Plain(Vec<Plain>),
}

impl Lowering<'_> {
    /// Matrix `x` in form `f` as a product operand: encrypted, or public plaintext tiles.
    pub(super) fn mat_operand(&mut self, x: NodeId, f: Form) -> Result<MatOperand, Diagnostic> {
        if self.is_enc(x) {
            return Ok(MatOperand::Enc(self.matrix(x, f)?));
        }
        let kind = self
            .oracle
            .plain_kind(x)
            .ok_or_else(|| self.unsupported(x, "a public value that is not known here"))?;
        Ok(MatOperand::Plain {
            kind,
            form: f,
            stored: stored_dims(self.shape(x), f),
        })
    }

    /// Tile `k` of matrix operand `m` times ciphertext `ct` (one level).
    pub(super) fn tile_times(&mut self, m: &MatOperand, k: usize, ct: Ct, at: NodeId) -> Ct {
        let Unit { h, w } = self.unit;
        match m {
            MatOperand::Enc(v) => self.push(COp::Mul(v.tiles[k], ct), at),
            MatOperand::Plain { kind, form, stored } => {
                let gc = ceil_div(stored.1, w);
                let (i, j) = (k / gc, k % gc);
                let plain = match *kind {
                    PlainKind::Uniform(c) => self.rect_valid(
                        stored.0.saturating_sub(i * h),
                        stored.1.saturating_sub(j * w),
                        c,
                    ),
                    PlainKind::Public(source, factor, t) => Plain::Public {
                        pack: Pack {
                            source,
                            layout: Layout::MatrixTile {
                                transposed: t ^ (*form == Form::T),
                                row0: i * h,
                                col0: j * w,
                            },
                            factor,
                        },
                    },
                };
                self.push(COp::MulPlain(ct, plain), at)
            }
        }
    }

    /// `A @ B` (node `id`) in form `f`.
    pub(super) fn matmul(&mut self, id: NodeId, f: Form) -> Result<MatVal, Diagnostic> {
        let args = self.node(id).args.clone();
        let (a, b) = (args[0], args[1]);
        let (Shape::Matrix(r, k), Shape::Matrix(_, c)) = (self.shape(a), self.shape(b)) else {
            return Err(self.unsupported(id, "a matrix product of non-matrices"));
        };
        match f {
            // C = A B: A direct, the columns of B.
            Form::D => self.product_columns(id, (a, Form::D), (b, false), (r, k, c)),
            // Cᵀ = Bᵀ Aᵀ in direct form: Bᵀ direct is B transposed, the columns of Aᵀ are
            // the rows of A.
            Form::T => self.product_columns(id, (b, Form::T), (a, true), (c, k, r)),
        }
    }

    /// `X @ Z` in direct form, `X` (r × k) the node `x.0` in form `x.1` (its direct form as
    /// `X`), `Z` (k × c) the node `z.0`, transposed when `z.1`.
    fn product_columns(
        &mut self,
        id: NodeId,
        x: (NodeId, Form),
        z: (NodeId, bool),
        (r, k, c): (usize, usize, usize),
    ) -> Result<MatVal, Diagnostic> {
        let Unit { h, w } = self.unit;
        let xm = self.mat_operand(x.0, x.1)?;
        let (gr, gk, gc) = (ceil_div(r, h), ceil_div(k, w), ceil_div(c, w));
        let span = k.min(w).next_power_of_two();
        let mut out: Vec<Vec<Ct>> = vec![Vec::new(); gr * gc];
        for j in 0..c {
            let col = self.column(id, z, j, k)?;
            for i in 0..gr {
                let mut terms: Vec<Ct> = Vec::with_capacity(gk);
                for kk in 0..gk {
                    let t = i * gk + kk;
                    terms.push(match &col {
                        Column::Enc(cts) => self.tile_times(&xm, t, cts[kk], id),
                        Column::Plain(ps) => match &xm {
                            MatOperand::Enc(m) => {
                                self.push(COp::MulPlain(m.tiles[t], ps[kk].clone()), id)
                            }
                            // Both public: the node would be public itself, and is never
                            // lowered as a ciphertext.
                            MatOperand::Plain { .. } => {
                                return Err(self.unsupported(id, "a product of public values"))
                            }
                        },
                    });
                }
                let s = self
                    .sum(terms, id)
                    .ok_or_else(|| self.unsupported(id, "an empty matrix"))?;
                let s = self.rotate_sum(s, 1, span, id);
                let rows = r.saturating_sub(i * h).min(h);
                let masked = self.push(
                    COp::MulPlain(
                        s,
                        Plain::Rect {
                            value: 1.0,
                            rows: (0, rows as u32),
                            cols: (0, 1),
                        },
                    ),
                    id,
                );
                let placed = self.shift_right(masked, j % w, id);
                out[i * gc + j / w].push(placed);
            }
        }
        let mut tiles = Vec::with_capacity(out.len());
        for parts in out {
            let t = self
                .sum(parts, id)
                .ok_or_else(|| self.unsupported(id, "an empty matrix"))?;
            tiles.push(t);
        }
        Ok(MatVal {
            tiles,
            grid_cols: gc,
            clean: true,
        })
    }

    /// Rotates right by `k < w` slots with the power-of-two steps -1, -2, -4, ... (the keys
    /// of every replication), one rotation per set bit.
    fn shift_right(&mut self, mut x: Ct, k: usize, at: NodeId) -> Ct {
        let mut bit = 1usize;
        while bit <= k {
            if k & bit != 0 {
                x = self.push(COp::Rotate(x, -(bit as i64)), at);
            }
            bit <<= 1;
        }
        x
    }

    /// Column `j` of `Z` (k entries; `Z` is node `z.0`, transposed when `z.1`) replicated in
    /// every row, one ciphertext or plaintext per tile of its length.
    fn column(
        &mut self,
        id: NodeId,
        z: (NodeId, bool),
        j: usize,
        k: usize,
    ) -> Result<Column, Diagnostic> {
        let Unit { h, w } = self.unit;
        let gk = ceil_div(k, w);
        let (node, transposed) = z;
        // Column j of Z is row j of Zᵀ: of the source transposed an odd number of times.
        let packed = |source: Source, factor: f64, t: bool, kk: usize| Pack {
            source,
            layout: Layout::MatrixRow {
                transposed: !(t ^ transposed),
                row: j,
                col0: kk * w,
            },
            factor,
        };
        if !self.is_enc(node) {
            let plains = match self.oracle.plain_kind(node) {
                Some(PlainKind::Uniform(v)) => (0..gk)
                    .map(|kk| self.rect_valid(h, k.saturating_sub(kk * w), v))
                    .collect(),
                Some(PlainKind::Public(s, f, t)) => (0..gk)
                    .map(|kk| Plain::Public {
                        pack: packed(s, f, t, kk),
                    })
                    .collect(),
                None => return Err(self.unsupported(node, "a public value that is not known here")),
            };
            return Ok(Column::Plain(plains));
        }
        let columns = match self.shape(node) {
            Shape::Matrix(r, c) => {
                if transposed {
                    r
                } else {
                    c
                }
            }
            _ => 1,
        };
        // (Not a refreshed input: the server has it only in its refreshed forms.)
        if let Some((s, f, t)) = self.oracle.input_source(node) {
            if self.oracle.is_input_view(node) && price::packs_columns(true, columns) {
                let cts = (0..gk)
                    .map(|kk| self.input_ct(packed(s, f, t, kk), id))
                    .collect();
                return Ok(Column::Enc(cts));
            }
        }
        // A computed matrix: Zᵀ stored (c × k), row j of its tile row j / h masked and summed
        // over the rows (rotations by multiples of w are cyclic in the rows).
        let form = if transposed { Form::D } else { Form::T };
        let m = self.matrix(node, form)?;
        let (i, a0) = (j / h, j % h);
        let cts = (0..gk)
            .map(|kk| {
                let cols = k.saturating_sub(kk * w).min(w);
                let masked = self.push(
                    COp::MulPlain(
                        m.tiles[i * m.grid_cols + kk],
                        Plain::Rect {
                            value: 1.0,
                            rows: (a0 as u32, a0 as u32 + 1),
                            cols: (0, cols as u32),
                        },
                    ),
                    id,
                );
                self.rotate_sum(masked, w as i64, h, id)
            })
            .collect();
        Ok(Column::Enc(cts))
    }
}
