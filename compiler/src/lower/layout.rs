//! Layout lowering: tensor IR -> slot-level IR ([`CtIr`]).
//!
//! Every tensor lives in one or more ciphertexts over the slot grid `h × w` ([`Unit`]):
//! - a matrix `X` (r × c) is stored either **direct** (`D`: tiles of `X`, row-major in each
//!   tile, zero padding) or **transposed** (`T`: tiles of `Xᵀ`); inputs can be sent in either
//!   form (the client packs them), computed matrices in the form their operands allow;
//! - a vector is **row-replicated** (`R`: tile `J` holds `v[Jw + b]` in every row) or
//!   **column-replicated** (`C`: tile `I` holds `v[Ih + a]` in every column);
//! - a scalar fills every slot.
//!
//! A matrix-vector product is a Hadamard product plus a rotate-and-sum (Crockett 2020):
//! `X_D ∘ R(v)` summed along rows needs a mask and a replication and yields `C(Xv)`
//! (2 levels); `X_T ∘ C(v)` summed over rows (rotations by multiples of `w` are cyclic in the
//! rows) yields `R(Xv)` with no mask (1 level). So orientations alternate along a chain of
//! products, and the choice matters: the [`Oracle`] computes, for every vector and matrix node
//! and every orientation/form, the least depth at which it can be had (directly or by converting
//! the other orientation), and [`Lowering`] then materializes exactly the (node, orientation)
//! pairs the outputs need — a value needed in both orientations is kept in both
//! ("duplication").
//!
//! This file holds the layout vocabulary, the lowering state and the dispatch of each tensor op
//! to its recipe; the recipes live in their own files: [`super::elementwise`],
//! [`super::reduce`] (reductions, dot products, conversions), [`super::products`] (matrix
//! products, input matrices), on the primitives of [`super::emit`].

use rustc_hash::FxHashMap;

use hel_schedule::{CtInput, Layout, Pack, Plain, Source, Unit};

use super::ctir::{COp, Ct, CtIr};
use super::elementwise::elem_of;
use super::oracle::{Oracle, PlainKind, INF};
use super::plan::{Plan, Recipe};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{NodeId, Op, Program, Secrecy, Shape};

/// Vector orientation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Orient {
    R,
    C,
}

impl Orient {
    pub(super) fn flip(self) -> Orient {
        match self {
            Orient::R => Orient::C,
            Orient::C => Orient::R,
        }
    }
}

/// Matrix storage form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    D,
    T,
}

impl Form {
    pub(super) fn flip(self) -> Form {
        match self {
            Form::D => Form::T,
            Form::T => Form::D,
        }
    }
}

/// What a node is wanted as: a vector in an orientation, a matrix in a form, or a scalar
/// (replicated in every slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Want {
    Vec(Orient),
    Mat(Form),
    Scalar,
}

/// A lowered vector: its tiles and whether the padding slots are zero.
#[derive(Clone, Debug)]
pub struct VecVal {
    pub tiles: Vec<Ct>,
    pub clean: bool,
}

/// A lowered matrix in one form: the stored matrix `Y` (`X` or `Xᵀ`) as a row-major grid.
#[derive(Clone, Debug)]
pub struct MatVal {
    pub tiles: Vec<Ct>,
    pub grid_cols: usize,
    pub clean: bool,
}

pub(super) fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b.max(1))
}

/// Ciphertexts of a length-`n` vector in orientation `o` on the grid `unit`.
pub(super) fn vec_tiles(unit: Unit, o: Orient, n: usize) -> usize {
    match o {
        Orient::R => ceil_div(n, unit.w),
        Orient::C => ceil_div(n, unit.h),
    }
}

/// (rows, cols) of the stored matrix of form `f` for a node of shape r × c.
pub(super) fn stored_dims(shape: Shape, f: Form) -> (usize, usize) {
    let (r, c) = match shape {
        Shape::Matrix(r, c) => (r, c),
        Shape::Vector(n) => (n, 1),
        Shape::Scalar => (1, 1),
    };
    match f {
        Form::D => (r, c),
        Form::T => (c, r),
    }
}

/// The lowering state.
pub struct Lowering<'p> {
    pub(super) p: &'p Program,
    pub unit: Unit,
    pub ir: CtIr,
    pub ct_inputs: Vec<CtInput>,
    /// Position in `ct_inputs` of each packing (the factor by its bits): a long program asks
    /// for tens of thousands of input ciphertexts, and a linear search for each was a third of
    /// the compile time of NAG at k = 32.
    pub(super) ct_input_index: FxHashMap<(Source, Layout, u64), u32>,
    /// The depth oracle the plan was made with (its memo tables carry over).
    pub oracle: Oracle<'p>,
    pub(super) vecs: FxHashMap<(NodeId, Orient), VecVal>,
    pub(super) mats: FxHashMap<(NodeId, Form), MatVal>,
    pub(super) scalars: FxHashMap<NodeId, Ct>,
    pub(super) plan: Plan,
    /// The packing factor of each input matrix, by (source, stored transposed): the views of
    /// the same matrix with other factors (`gamma G`, `(gamma c3) G`) reuse its ciphertexts,
    /// the ratio folded into the vector they multiply or applied on the server.
    pub(super) pinned: FxHashMap<(Source, bool), f64>,
    /// Sums (by node and orientation) walked inside a larger sum that had fewer than two
    /// reductions to fuse: any sum inside has fewer still (see `fused_sum`), so it is not
    /// walked again. Without it, a chain of n additions (`for i in 0..n { y = y + x; }`)
    /// walks n(n-1)/2 nodes.
    pub(super) unfused: rustc_hash::FxHashSet<(NodeId, Orient)>,
    /// Most slot-level ops this layout may take ([`crate::Limits::max_ct_ops`]), checked as
    /// each value is lowered.
    pub(super) max_ct_ops: u64,
}

impl<'p> Lowering<'p> {
    /// A lowering that follows `plan` (made with `oracle`) when materializing vectors.
    pub fn new(oracle: Oracle<'p>, plan: Plan) -> Lowering<'p> {
        let mut low = Lowering {
            p: oracle.program(),
            unit: oracle.unit(),
            ir: CtIr::default(),
            ct_inputs: Vec::new(),
            ct_input_index: FxHashMap::default(),
            oracle,
            vecs: FxHashMap::default(),
            mats: FxHashMap::default(),
            scalars: FxHashMap::default(),
            plan,
            pinned: FxHashMap::default(),
            unfused: Default::default(),
            max_ct_ops: crate::Limits::DEFAULT.max_ct_ops,
        };
        low.pin_factors();
        low
    }

    pub(super) fn node(&self, id: NodeId) -> &crate::ir::Node {
        self.p.graph.node(id)
    }

    pub(super) fn shape(&self, id: NodeId) -> Shape {
        self.node(id).ty.shape
    }

    pub(super) fn is_enc(&self, id: NodeId) -> bool {
        self.node(id).ty.secrecy == Secrecy::Enc
    }

    // ----- materialization --------------------------------------------------------------------

    /// Scalar operand: a replicated ciphertext.
    /// Refuses to lower `id` once this layout has taken more slot-level ops than allowed.
    fn within_budget(&self, id: NodeId) -> Result<(), Diagnostic> {
        let ops = self.ir.ops.len() as u64;
        if ops <= self.max_ct_ops {
            return Ok(());
        }
        Err(Diagnostic::new(
            Code::Budget,
            &self.p.source,
            self.node(id).span,
            format!(
                "lowering this program takes more than {} slot-level operations (the limit) \
                 on every packing tried",
                self.max_ct_ops
            ),
        )
        .with_label("lowering this value went over")
        .with_help("use smaller matrices, or fewer iterations"))
    }

    pub fn scalar(&mut self, id: NodeId) -> Result<Ct, Diagnostic> {
        if let Some(&c) = self.scalars.get(&id) {
            return Ok(c);
        }
        self.within_budget(id)?;
        let n = self.node(id).clone();
        let ct = if let Some((source, factor, _)) = self.oracle.input_source(id) {
            self.input_ct(
                Pack {
                    source,
                    layout: Layout::Scalar,
                    factor,
                },
                id,
            )
        } else {
            let args = n.args.clone();
            match n.op {
                Op::Dot => self.dot(id, args[0], args[1])?,
                Op::Pow { exp } => {
                    let x = self.scalar(args[0])?;
                    self.power(x, exp, id)
                }
                _ => {
                    let v = self.elementwise_vec(
                        id,
                        Orient::R,
                        1,
                        args[0],
                        *args.get(1).unwrap_or(&args[0]),
                        elem_of(&n.op, self.p, id)?,
                    )?;
                    v.tiles[0]
                }
            }
        };
        self.scalars.insert(id, ct);
        Ok(ct)
    }

    /// A public output as noiseless ciphertexts, in the layout an encrypted output of its
    /// shape has (vectors row-replicated, matrices direct), each tile with its layout.
    pub fn public_output(&mut self, id: NodeId) -> Result<Vec<(Ct, Layout)>, Diagnostic> {
        let Unit { h, w } = self.unit;
        let kind = self
            .oracle
            .plain_kind(id)
            .ok_or_else(|| self.unsupported(id, "a public output that is not known here"))?;
        // (the output tile's layout, the valid rows and columns of the tile)
        let tiles: Vec<(Layout, usize, usize)> = match self.shape(id) {
            Shape::Scalar => vec![(Layout::Scalar, h, w)],
            Shape::Vector(n) => (0..ceil_div(n, w))
                .map(|t| {
                    let (r, c) = self.vec_tile_extent(Orient::R, n, t);
                    (Layout::RowVector { offset: t * w }, r, c)
                })
                .collect(),
            Shape::Matrix(r, c) => {
                let gc = ceil_div(c, w);
                (0..ceil_div(r, h) * gc)
                    .map(|k| {
                        let (i, j) = (k / gc, k % gc);
                        let layout = Layout::MatrixTile {
                            transposed: false,
                            row0: i * h,
                            col0: j * w,
                        };
                        (layout, r.saturating_sub(i * h), c.saturating_sub(j * w))
                    })
                    .collect()
            }
        };
        let mut out = Vec::with_capacity(tiles.len());
        for (layout, rows, cols) in tiles {
            let plain = match kind {
                PlainKind::Uniform(v) => self.rect_valid(rows, cols, v),
                PlainKind::Public(source, factor, t) => Plain::Public {
                    pack: Pack {
                        source,
                        layout: match layout {
                            Layout::MatrixTile { row0, col0, .. } => Layout::MatrixTile {
                                transposed: t,
                                row0,
                                col0,
                            },
                            other => other,
                        },
                        factor,
                    },
                },
            };
            out.push((self.push(COp::Trivial(plain), id), layout));
        }
        Ok(out)
    }

    /// Vector `id` in orientation `o`.
    pub fn vector(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        if let Some(v) = self.vecs.get(&(id, o)) {
            return Ok(v.clone());
        }
        self.within_budget(id)?;
        let recipe = match self.plan.vec.get(&(id, o)) {
            Some(r) => *r,
            // Not planned: the least depth.
            None => {
                let best = self.oracle.vcost(id, o);
                if best >= INF {
                    return Err(self.no_recipe(id, Want::Vec(o)));
                }
                if self.oracle.vdirect(id, o) <= best {
                    Recipe::Direct
                } else {
                    Recipe::Convert
                }
            }
        };
        let v = match recipe {
            Recipe::Direct => self.vector_direct(id, o)?,
            Recipe::Convert => {
                let other = match self.plan.vec.get(&(id, o.flip())) {
                    Some(Recipe::Direct) | None => self.vector(id, o.flip())?,
                    Some(Recipe::Convert) => self.vector_direct(id, o.flip())?,
                };
                self.convert(id, other, o)?
            }
        };
        self.vecs.insert((id, o), v.clone());
        Ok(v)
    }

    fn vector_direct(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        if let Some(v) = self.vecs.get(&(id, o)) {
            return Ok(v.clone());
        }
        let n = self.node(id).clone();
        let len = self.oracle.vector_len(id);
        if let Some((source, factor, _)) = self.oracle.input_source(id) {
            if self.oracle.is_refreshed(id) && o != Orient::R {
                return Err(self.no_recipe(id, Want::Vec(o)));
            }
            let tiles = (0..self.oracle.vec_tiles(o, len))
                .map(|t| {
                    let layout = match o {
                        Orient::R => Layout::RowVector {
                            offset: t * self.unit.w,
                        },
                        Orient::C => Layout::ColVector {
                            offset: t * self.unit.h,
                        },
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
            return Ok(VecVal { tiles, clean: true });
        }
        let args = n.args.clone();
        let v = match n.op {
            Op::MatVec | Op::SumRows | Op::SumCols => self.reduction(id, o)?,
            Op::Pow { exp } => {
                let x = self.vector(args[0], o)?;
                let tiles = x.tiles.iter().map(|t| self.power(*t, exp, id)).collect();
                VecVal {
                    tiles,
                    clean: x.clean,
                }
            }
            Op::Add | Op::Sub | Op::Neg if self.is_enc(id) => match self.fused_sum(id, o)? {
                Some(v) => v,
                None => {
                    let e = elem_of(&n.op, self.p, id)?;
                    let b = *args.get(1).unwrap_or(&args[0]);
                    self.elementwise_vec(id, o, len, args[0], b, e)?
                }
            },
            ref op => {
                let e = elem_of(op, self.p, id)?;
                let b = *args.get(1).unwrap_or(&args[0]);
                self.elementwise_vec(id, o, len, args[0], b, e)?
            }
        };
        Ok(v)
    }

    /// Matrix `id` in form `f`.
    pub fn matrix(&mut self, id: NodeId, f: Form) -> Result<MatVal, Diagnostic> {
        if let Some(m) = self.mats.get(&(id, f)) {
            return Ok(m.clone());
        }
        self.within_budget(id)?;
        if self.oracle.mcost(id, f) >= INF {
            return Err(self.no_recipe(id, Want::Mat(f)));
        }
        let n = self.node(id).clone();
        let m = if let Some((source, factor, transposed)) = self.oracle.input_source(id) {
            self.input_view_matrix(id, source, factor, transposed, f)
        } else {
            match n.op {
                Op::Transpose => self.matrix(n.args[0], f.flip())?,
                Op::MatMul => self.matmul(id, f)?,
                Op::Pow { exp } => {
                    let x = self.matrix(n.args[0], f)?;
                    let tiles = x.tiles.iter().map(|t| self.power(*t, exp, id)).collect();
                    MatVal { tiles, ..x }
                }
                Op::ScaleCols | Op::ScaleRows => self.scaled_matrix(id, f)?,
                _ => self.elementwise_mat(id, f)?,
            }
        };
        self.mats.insert((id, f), m.clone());
        Ok(m)
    }
}
