//! Element-wise ops of the layout lowering: `+`, `-`, `*`, `/` by a constant and negation
//! on vectors, matrices and scalars, with scalar broadcast and public operands (constants
//! covering only the valid slots, public inputs packed as plaintexts), tile by tile.
//!
//! They exist apart from the op dispatch (`layout`) because every layout shares one tile rule
//! ([`Lowering::combine`]) and one account of which results keep zero padding.

use hel_schedule::{Layout, Pack, Plain, Source, Unit};

use super::ctir::{COp, Ct};
use super::layout::{ceil_div, stored_dims, Form, Lowering, MatVal, Orient, VecVal};
use super::oracle::PlainKind;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{NodeId, Op, Program, Shape};

impl Lowering<'_> {
    /// An element-wise op on vectors (or scalars, `len` 1 with `o` ignored) with broadcast.
    pub(super) fn elementwise_vec(
        &mut self,
        id: NodeId,
        o: Orient,
        len: usize,
        a: NodeId,
        b: NodeId,
        e: Elem,
    ) -> Result<VecVal, Diagnostic> {
        let scalar_out = self.shape(id) == Shape::Scalar;
        self.elementwise_tiles(id, o, len, a, b, e, scalar_out)
    }

    /// [`Lowering::elementwise_vec`] with the kind of result given: the product of a dot
    /// product is a vector of `len` entries although the node itself is a scalar.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn elementwise_tiles(
        &mut self,
        id: NodeId,
        o: Orient,
        len: usize,
        a: NodeId,
        b: NodeId,
        e: Elem,
        scalar_out: bool,
    ) -> Result<VecVal, Diagnostic> {
        let ntiles = if scalar_out {
            1
        } else {
            self.oracle.vec_tiles(o, len)
        };
        let operand = |s: &mut Self, x: NodeId| -> Result<Operand, Diagnostic> {
            if !s.is_enc(x) {
                return match s.oracle.plain_kind(x) {
                    Some(PlainKind::Uniform(v)) => Ok(Operand::Uniform(v)),
                    Some(PlainKind::Public(src, f, t)) => {
                        Ok(Operand::Public(src, f, t, s.shape(x) == Shape::Scalar))
                    }
                    None => Err(
                        s.unsupported(id, "a public operand that is not known here has no recipe")
                    ),
                };
            }
            if s.shape(x) == Shape::Scalar {
                Ok(Operand::Scalar(s.scalar(x)?))
            } else {
                let v = s.vector(x, o)?;
                Ok(Operand::Tiles(v))
            }
        };
        let x = operand(self, a)?;
        let y = if e == Elem::Neg {
            Operand::Uniform(0.0)
        } else {
            let op = self.node(id).op.clone();
            divisor_inverse(&op, operand(self, b)?)
        };
        let mut tiles = Vec::with_capacity(ntiles);
        let clean_in = |op: &Operand| matches!(op, Operand::Tiles(v) if v.clean);
        let clean = match e {
            Elem::Mul => clean_in(&x) || clean_in(&y) || scalar_out,
            Elem::Neg => clean_in(&x) || scalar_out,
            _ => {
                (clean_in(&x) || matches!(x, Operand::Uniform(_)))
                    && (clean_in(&y) || matches!(y, Operand::Uniform(_)))
                    || scalar_out
            }
        };
        for t in 0..ntiles {
            let (rows, cols) = if scalar_out {
                (self.unit.h, self.unit.w)
            } else {
                self.vec_tile_extent(o, len, t)
            };
            let layout = if scalar_out {
                Layout::Scalar
            } else {
                match o {
                    Orient::R => Layout::RowVector {
                        offset: t * self.unit.w,
                    },
                    Orient::C => Layout::ColVector {
                        offset: t * self.unit.h,
                    },
                }
            };
            let ct = self.combine(id, &x, &y, e, t, rows, cols, layout)?;
            tiles.push(ct);
        }
        Ok(VecVal { tiles, clean })
    }

    /// An element-wise op on matrices in form `f` (a scalar operand broadcast, a public one a
    /// constant).
    pub(super) fn elementwise_mat(&mut self, id: NodeId, f: Form) -> Result<MatVal, Diagnostic> {
        let Unit { h, w } = self.unit;
        let (yr, yc) = stored_dims(self.shape(id), f);
        let (gr, gc) = (ceil_div(yr, h), ceil_div(yc, w));
        let n = self.node(id).clone();
        let args = n.args.clone();
        let e = elem_of(&n.op, self.p, id)?;
        let operand = |s: &mut Self, x: NodeId| -> Result<Operand, Diagnostic> {
            if !s.is_enc(x) {
                return match s.oracle.plain_kind(x) {
                    Some(PlainKind::Uniform(v)) => Ok(Operand::Uniform(v)),
                    Some(PlainKind::Public(src, f, t)) => {
                        Ok(Operand::Public(src, f, t, s.shape(x) == Shape::Scalar))
                    }
                    None => Err(
                        s.unsupported(id, "a public operand that is not known here has no recipe")
                    ),
                };
            }
            if s.shape(x) == Shape::Scalar {
                Ok(Operand::Scalar(s.scalar(x)?))
            } else {
                let m = s.matrix(x, f)?;
                Ok(Operand::Tiles(VecVal {
                    tiles: m.tiles,
                    clean: m.clean,
                }))
            }
        };
        let a = operand(self, args[0])?;
        let b = if e == Elem::Neg {
            Operand::Uniform(0.0)
        } else {
            divisor_inverse(&n.op, operand(self, *args.get(1).unwrap_or(&args[0]))?)
        };
        let clean_in = |op: &Operand| matches!(op, Operand::Tiles(v) if v.clean);
        let clean = match e {
            Elem::Mul => clean_in(&a) || clean_in(&b),
            Elem::Neg => clean_in(&a),
            _ => {
                (clean_in(&a) || matches!(a, Operand::Uniform(_)))
                    && (clean_in(&b) || matches!(b, Operand::Uniform(_)))
            }
        };
        let mut tiles = Vec::with_capacity(gr * gc);
        for k in 0..gr * gc {
            let rows = yr.saturating_sub((k / gc) * h);
            let cols = yc.saturating_sub((k % gc) * w);
            // A public matrix operand is packed tile by tile like the stored matrix (a view's
            // own transposition on top, see `combine`).
            let layout = Layout::MatrixTile {
                transposed: f == Form::T,
                row0: (k / gc) * h,
                col0: (k % gc) * w,
            };
            tiles.push(self.combine(id, &a, &b, e, k, rows, cols, layout)?);
        }
        Ok(MatVal {
            tiles,
            grid_cols: gc,
            clean,
        })
    }

    /// Tile `t` of `x (e) y`. `rows`/`cols` is the tile's valid extent (for constants), `layout`
    /// the tile's layout (for public inputs).
    #[allow(clippy::too_many_arguments)]
    fn combine(
        &mut self,
        id: NodeId,
        x: &Operand,
        y: &Operand,
        e: Elem,
        t: usize,
        rows: usize,
        cols: usize,
        layout: Layout,
    ) -> Result<Ct, Diagnostic> {
        let tile = |op: &Operand| match op {
            Operand::Tiles(v) => v.tiles.get(t).copied(),
            Operand::Scalar(c) => Some(*c),
            _ => None,
        };
        let public = |src: Source, f: f64, t: bool, scalar: bool| Plain::Public {
            pack: Pack {
                source: src,
                layout: match layout {
                    _ if scalar => Layout::Scalar,
                    Layout::MatrixTile {
                        transposed,
                        row0,
                        col0,
                    } => Layout::MatrixTile {
                        transposed: transposed ^ t,
                        row0,
                        col0,
                    },
                    other => other,
                },
                factor: f,
            },
        };
        let out = match (e, tile(x), tile(y)) {
            (Elem::Neg, Some(a), _) => self.push(COp::Neg(a), id),
            (Elem::Add, Some(a), Some(b)) => self.add(a, b, id),
            (Elem::Sub, Some(a), Some(b)) => self.push(COp::Sub(a, b), id),
            (Elem::Mul, Some(a), Some(b)) => self.push(COp::Mul(a, b), id),
            (_, Some(a), None) | (_, None, Some(a)) => {
                let ct_first = tile(x).is_some();
                let other = if ct_first { y } else { x };
                match (e, other) {
                    (Elem::Mul, Operand::Uniform(c)) => self.mul_const(a, *c, id),
                    (Elem::Mul, Operand::Public(s, f, t, scalar)) => {
                        self.push(COp::MulPlain(a, public(*s, *f, *t, *scalar)), id)
                    }
                    (Elem::Add | Elem::Sub, op) => {
                        // a ± p or p - a; constants cover only the valid region (padding stays 0).
                        let neg_p = e == Elem::Sub && ct_first;
                        let base = if e == Elem::Sub && !ct_first {
                            self.push(COp::Neg(a), id)
                        } else {
                            a
                        };
                        let plain = match op {
                            Operand::Uniform(c) => {
                                let c = if neg_p { -c } else { *c };
                                if c == 0.0 {
                                    return Ok(base);
                                }
                                self.rect_valid(rows, cols, c)
                            }
                            Operand::Public(s, f, t, scalar) => {
                                public(*s, if neg_p { -f } else { *f }, *t, *scalar)
                            }
                            _ => {
                                return Err(
                                    self.unsupported(id, "no recipe combines these operand kinds")
                                )
                            }
                        };
                        self.push(COp::AddPlain(base, plain), id)
                    }
                    _ => return Err(self.unsupported(id, "no recipe combines these operand kinds")),
                }
            }
            _ => return Err(self.unsupported(id, "an operation on public values only")),
        };
        Ok(out)
    }
}

/// An element-wise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Elem {
    Add,
    Sub,
    Mul,
    Neg,
}

/// Division by a constant is a multiplication by its inverse (handled by the caller through
/// `plain_kind`); other ops are not element-wise.
pub(super) fn elem_of(op: &Op, p: &Program, id: NodeId) -> Result<Elem, Diagnostic> {
    Ok(match op {
        Op::Add => Elem::Add,
        Op::Sub => Elem::Sub,
        Op::Mul | Op::Div => Elem::Mul,
        Op::Neg => Elem::Neg,
        _ => {
            let n = p.graph.node(id);
            return Err(Diagnostic::new(
                Code::Unsupported,
                &p.source,
                n.span,
                format!("cannot lower `{}` to CKKS", n.op.name()),
            ));
        }
    })
}

/// For a division the constant divisor becomes its inverse.
fn divisor_inverse(op: &Op, y: Operand) -> Operand {
    match (op, y) {
        (Op::Div, Operand::Uniform(c)) => Operand::Uniform(1.0 / c),
        (_, y) => y,
    }
}

/// One side of an element-wise op.
enum Operand {
    Tiles(VecVal),
    Scalar(Ct),
    Uniform(f64),
    /// A public tensor: its source, factor, whether it is transposed relative to it, and
    /// whether it is a scalar (broadcast to every slot whatever the result's layout).
    Public(Source, f64, bool, bool),
}
