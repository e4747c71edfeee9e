//! Emission primitives of the layout lowering: pushing slot-level ops into [`super::ctir`]
//! with their origin, input ciphertexts, constant products folded into the op that made the
//! value, balanced sums, rotate-and-sums and masks.
//!
//! They exist apart from the materialization of the tensor ops (`layout`, `elementwise`,
//! `reduce`, `products`) so that those files say what each op is made of, not how a slot op
//! is appended.

use hel_schedule::{CtInput, Layout, Origin, Pack, Plain, Source, Unit};

use super::ctir::{COp, Ct};
use super::layout::{ceil_div, stored_dims, Form, Lowering, MatVal, Orient, VecVal};
use super::oracle::small_int;
use crate::ir::NodeId;

impl Lowering<'_> {
    fn origin(&self, id: NodeId) -> Origin {
        let n = self.node(id);
        Origin {
            tensor_node: id.index() as u32,
            tensor_op: n.op.name().to_string(),
            span: (!n.span.is_empty()).then(|| self.p.source.location(n.span)),
        }
    }

    pub(super) fn push(&mut self, op: COp, at: NodeId) -> Ct {
        let o = self.origin(at);
        self.ir.push(op, &o)
    }

    /// `ct` times the public tensor `source` packed with `layout` (scaled by `factor`): the
    /// plaintext the server encodes from a public input or a value derived from public inputs.
    pub(super) fn mul_public(
        &mut self,
        ct: Ct,
        source: Source,
        layout: Layout,
        factor: f64,
        at: NodeId,
    ) -> Ct {
        let plain = Plain::Public {
            pack: Pack {
                source,
                layout,
                factor,
            },
        };
        self.push(COp::MulPlain(ct, plain), at)
    }

    /// An encrypted input ciphertext for `pack` (shared when requested twice).
    pub(super) fn input_ct(&mut self, pack: Pack, at: NodeId) -> Ct {
        let key = (pack.source, pack.layout, pack.factor.to_bits());
        let next = self.ct_inputs.len() as u32;
        let idx = *self.ct_input_index.entry(key).or_insert(next);
        if idx == next {
            self.ct_inputs.push(CtInput {
                pack,
                level: 0,
                scale: 0.0,
            });
        }
        self.push(COp::Input(idx), at)
    }

    /// Whether input ciphertext `i` holds a refreshed input
    /// ([`crate::ir::InputDecl::refreshed_from`]), which the server supplies in one packing.
    fn refreshed_ct(&self, i: u32) -> bool {
        self.oracle
            .is_refreshed_source(self.ct_inputs[i as usize].pack.source)
    }

    /// The input ciphertexts of a matrix input view (`transposed` relative to the source) in
    /// form `f`, packed with `factor`.
    pub(super) fn input_matrix(
        &mut self,
        id: NodeId,
        source: Source,
        factor: f64,
        transposed: bool,
        f: Form,
    ) -> MatVal {
        let Unit { h, w } = self.unit;
        let (yr, yc) = stored_dims(self.shape(id), f);
        let (gr, gc) = (ceil_div(yr, h), ceil_div(yc, w));
        let tiles = (0..gr * gc)
            .map(|k| {
                let layout = Layout::MatrixTile {
                    transposed: transposed ^ (f == Form::T),
                    row0: (k / gc) * h,
                    col0: (k % gc) * w,
                };
                self.input_ct(
                    Pack {
                        source,
                        layout,
                        factor,
                    },
                    id,
                )
            })
            .collect();
        MatVal {
            tiles,
            grid_cols: gc,
            clean: true,
        }
    }

    /// `x * c`, folded into the producing op where that is free: an input's packing factor, an
    /// earlier constant or mask product, an integer multiplication or a negation.
    pub(super) fn mul_const(&mut self, x: Ct, c: f64, at: NodeId) -> Ct {
        if c == 1.0 {
            return x;
        }
        match self.ir.op(x).clone() {
            // A refreshed input comes with factor 1 only: the server multiplies it. A factor
            // of zero (or beyond f64) is no packing: the server multiplies then too.
            COp::Input(i)
                if !self.refreshed_ct(i) && {
                    let f = self.ct_inputs[i as usize].pack.factor * c;
                    f != 0.0 && f.is_finite()
                } =>
            {
                let mut pack = self.ct_inputs[i as usize].pack;
                pack.factor *= c;
                self.input_ct(pack, at)
            }
            COp::MulConst(y, v) => self.mul_const(y, v * c, at),
            COp::MulInt(y, k) => self.mul_const(y, k as f64 * c, at),
            COp::Neg(y) => self.mul_const(y, -c, at),
            COp::MulPlain(y, Plain::Rect { value, rows, cols }) => self.push(
                COp::MulPlain(
                    y,
                    Plain::Rect {
                        value: value * c,
                        rows,
                        cols,
                    },
                ),
                at,
            ),
            _ => match small_int(c) {
                Some(-1) => self.push(COp::Neg(x), at),
                Some(k) => self.push(COp::MulInt(x, k), at),
                None => self.push(COp::MulConst(x, c), at),
            },
        }
    }

    /// `c · x` for every tile, if each can be had without spending a level: by changing the
    /// constant of the constant or plaintext product that made it, through additions of
    /// plaintexts, negations, sums and differences. `None` otherwise.
    pub(super) fn fold_scale_all(&mut self, xs: &[Ct], c: f64, at: NodeId) -> Option<Vec<Ct>> {
        xs.iter().map(|x| self.fold_scale(*x, c, at)).collect()
    }

    fn fold_scale(&mut self, x: Ct, c: f64, at: NodeId) -> Option<Ct> {
        let op = match self.ir.op(x).clone() {
            COp::MulConst(y, k) => COp::MulConst(y, k * c),
            COp::MulPlain(y, p) => COp::MulPlain(y, scale_plain(p, c)),
            COp::AddPlain(y, p) => COp::AddPlain(self.fold_scale(y, c, at)?, scale_plain(p, c)),
            COp::Neg(y) => return self.fold_scale(y, -c, at),
            COp::Add(a, b) => COp::Add(self.fold_scale(a, c, at)?, self.fold_scale(b, c, at)?),
            COp::Sub(a, b) => COp::Sub(self.fold_scale(a, c, at)?, self.fold_scale(b, c, at)?),
            _ => return None,
        };
        Some(self.push(op, at))
    }

    pub(super) fn add(&mut self, a: Ct, b: Ct, at: NodeId) -> Ct {
        self.push(COp::Add(a, b), at)
    }

    /// Sum of several values (balanced, so the sum has no long add chain).
    pub(super) fn sum(&mut self, mut xs: Vec<Ct>, at: NodeId) -> Option<Ct> {
        while xs.len() > 1 {
            let mut next = Vec::with_capacity(xs.len().div_ceil(2));
            for pair in xs.chunks(2) {
                next.push(match pair {
                    [a, b] => self.add(*a, *b, at),
                    [a] => *a,
                    _ => unreachable!("chunks(2) yields one or two"),
                });
            }
            xs = next;
        }
        xs.pop()
    }

    /// `x + rot(x, s) + rot(x, 2s) + ...` over `count` (a power of two) positions, in
    /// log2(count) rotations.
    pub(super) fn rotate_sum(&mut self, mut x: Ct, step: i64, count: usize, at: NodeId) -> Ct {
        let mut k = 1usize;
        while k < count {
            let r = self.push(COp::Rotate(x, step * k as i64), at);
            x = self.add(x, r, at);
            k *= 2;
        }
        x
    }

    /// Keeps column 0 of rows `0..rows` (times `value`) and copies it across each row.
    pub(super) fn mask_col0_replicate(&mut self, x: Ct, rows: usize, value: f64, at: NodeId) -> Ct {
        let m = self.push(
            COp::MulPlain(
                x,
                Plain::Rect {
                    value,
                    rows: (0, rows as u32),
                    cols: (0, 1),
                },
            ),
            at,
        );
        self.rotate_sum(m, -1, self.unit.w, at)
    }

    pub(super) fn power(&mut self, x: Ct, exp: u32, at: NodeId) -> Ct {
        match exp {
            0 | 1 => x,
            _ => {
                let half = self.power(x, exp / 2, at);
                let sq = self.push(COp::Mul(half, half), at);
                if exp % 2 == 1 {
                    self.push(COp::Mul(sq, x), at)
                } else {
                    sq
                }
            }
        }
    }

    pub(super) fn rect_valid(&self, rows: usize, cols: usize, value: f64) -> Plain {
        Plain::Rect {
            value,
            rows: (0, rows.min(self.unit.h) as u32),
            cols: (0, cols.min(self.unit.w) as u32),
        }
    }

    /// Valid (rows, cols) of vector tile `t` of a length-`n` vector.
    pub(super) fn vec_tile_extent(&self, o: Orient, n: usize, t: usize) -> (usize, usize) {
        let Unit { h, w } = self.unit;
        match o {
            Orient::R => (h, n.saturating_sub(t * w).min(w)),
            Orient::C => (n.saturating_sub(t * h).min(h), w),
        }
    }

    /// Masks the padding of a vector to zero (one level) if it is not already zero.
    pub(super) fn ensure_clean_vec(
        &mut self,
        v: VecVal,
        o: Orient,
        len: usize,
        at: NodeId,
    ) -> VecVal {
        if v.clean {
            return v;
        }
        let tiles = v
            .tiles
            .iter()
            .enumerate()
            .map(|(t, ct)| {
                let (r, c) = self.vec_tile_extent(o, len, t);
                let m = self.rect_valid(r, c, 1.0);
                self.push(COp::MulPlain(*ct, m), at)
            })
            .collect();
        VecVal { tiles, clean: true }
    }

    pub(super) fn ensure_clean_mat(
        &mut self,
        m: MatVal,
        rows: usize,
        cols: usize,
        at: NodeId,
    ) -> MatVal {
        if m.clean {
            return m;
        }
        let Unit { h, w } = self.unit;
        let tiles = m
            .tiles
            .iter()
            .enumerate()
            .map(|(k, ct)| {
                let (i, j) = (k / m.grid_cols, k % m.grid_cols);
                let r = rows.saturating_sub(i * h);
                let c = cols.saturating_sub(j * w);
                let mask = self.rect_valid(r, c, 1.0);
                self.push(COp::MulPlain(*ct, mask), at)
            })
            .collect();
        MatVal {
            tiles,
            grid_cols: m.grid_cols,
            clean: true,
        }
    }
}

/// A plaintext times `c` (also for the constants folded into masks, `fold_consts`).
pub(super) fn scale_plain(p: Plain, c: f64) -> Plain {
    match p {
        Plain::Rect { value, rows, cols } => Plain::Rect {
            value: value * c,
            rows,
            cols,
        },
        Plain::Diagonal {
            value,
            offset,
            rows,
        } => Plain::Diagonal {
            value: value * c,
            offset,
            rows,
        },
        Plain::Public { mut pack } => {
            pack.factor *= c;
            Plain::Public { pack }
        }
    }
}
