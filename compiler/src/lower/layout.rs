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
//! products, and the choice matters: [`Costs`] computes, for every vector and matrix node and
//! every orientation/form, the least depth at which it can be had (directly or by converting the
//! other orientation), and [`Lowering`] then materializes exactly the (node, orientation) pairs
//! the outputs need — a value needed in both orientations is kept in both ("duplication").

use rustc_hash::FxHashMap;

use hel_schedule::{CtInput, Layout, Origin, Pack, Plain, Source, Unit};

use super::ctir::{COp, Ct, CtIr};
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
    fn flip(self) -> Form {
        match self {
            Form::D => Form::T,
            Form::T => Form::D,
        }
    }
}

/// Depth of what no recipe implements.
pub(super) const INF: u32 = u32::MAX / 4;
/// Levels to turn a C vector into an R vector (diagonal mask, cyclic row sum).
const C_TO_R: u32 = 1;
/// Levels to turn an R vector into a C vector (diagonal mask, row sum, column mask).
const R_TO_C: u32 = 2;

/// Levels to convert a vector into orientation `to`.
pub(super) fn conversion_levels(to: Orient) -> u32 {
    match to {
        Orient::R => C_TO_R,
        Orient::C => R_TO_C,
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

/// One operand of a recipe: the node, the layout it is needed in, and how many levels the
/// recipe adds on top of it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Need {
    pub node: NodeId,
    pub want: Want,
    pub levels: u32,
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

/// A product or reduction before its rotate-and-sum: per output tile, the sum of the tile
/// products (or tiles) that the rotate-and-sum then folds. Products with the same output
/// orientation and length add up here and share one rotate-and-sum.
#[derive(Clone, Debug)]
struct Partials {
    tiles: Vec<Ct>,
    /// C output: how many positions along a row the rotate-and-sum covers (a power of two, at
    /// most `w`); an R output always folds all `h` rows.
    span: usize,
    /// A constant the value still has to be multiplied by (a product with a constant vector):
    /// the C mask takes it for free.
    factor: f64,
}

/// What a non-encrypted operand is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PlainKind {
    /// Every entry equals this compile-time value.
    Uniform(f64),
    /// A public program input (element).
    Public(Source, f64, bool),
}

fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b.max(1))
}

/// [`Lowering::sole_user`] of every node.
fn sole_users(p: &Program) -> Vec<Option<NodeId>> {
    let mut sole = vec![None; p.graph.len()];
    for (id, _) in p.graph.nodes() {
        if let [u] = p.graph.users(id)[..] {
            sole[id.index()] = Some(u);
        }
    }
    for o in &p.outputs {
        sole[o.node.index()] = None;
    }
    sole
}

fn small_int(c: f64) -> Option<i64> {
    (c == c.round() && c.abs() < (1u64 << 20) as f64).then_some(c as i64)
}

/// The lowering state.
pub struct Lowering<'p> {
    p: &'p Program,
    pub unit: Unit,
    pub ir: CtIr,
    pub ct_inputs: Vec<CtInput>,
    /// Position in `ct_inputs` of each packing (the factor by its bits): a long program asks
    /// for tens of thousands of input ciphertexts, and a linear search for each was a third of
    /// the compile time of NAG at k = 32.
    ct_input_index: FxHashMap<(Source, Layout, u64), u32>,
    /// The one user of each node used by exactly one node and not an output (by node index):
    /// asked for at every step of the plan's search, too often to collect the users each time.
    sole_user: Vec<Option<NodeId>>,
    /// [`Lowering::input_source`] of every node, by node index (asked for at every step of the
    /// plan's search).
    input_sources: Vec<Option<(Source, f64, bool)>>,
    input_ids: FxHashMap<String, u32>,
    costs: Costs,
    vecs: FxHashMap<(NodeId, Orient), VecVal>,
    mats: FxHashMap<(NodeId, Form), MatVal>,
    scalars: FxHashMap<NodeId, Ct>,
    plan: Plan,
    /// Memo of [`Lowering::needs`], a function of the program alone: the plan's local search
    /// asks for the same recipes in every one of its rounds (NAG at k = 32: most of the
    /// lowering's time, cloning the node each time).
    needs_memo: FxHashMap<(NodeId, Want), Option<Vec<Need>>>,
    /// The packing factor of each input matrix, by (source, stored transposed): the views of
    /// the same matrix with other factors (`gamma G`, `(gamma c3) G`) reuse its ciphertexts,
    /// the ratio folded into the vector they multiply or applied on the server.
    pinned: FxHashMap<(Source, bool), f64>,
}

/// Minimum depth per (node, orientation/form), the basis of every layout choice.
#[derive(Default)]
struct Costs {
    vec: FxHashMap<(NodeId, Orient), u32>,
    vec_direct: FxHashMap<(NodeId, Orient), u32>,
    mat: FxHashMap<(NodeId, Form), u32>,
    scalar: FxHashMap<NodeId, u32>,
}

impl<'p> Lowering<'p> {
    pub fn new(p: &'p Program, unit: Unit) -> Lowering<'p> {
        let input_ids = p
            .inputs
            .iter()
            .filter(|i| !p.is_derived(&i.name))
            .enumerate()
            .map(|(k, i)| (i.name.clone(), k as u32))
            .chain(
                p.derived
                    .iter()
                    .enumerate()
                    .map(|(k, d)| (d.name.clone(), k as u32 | DERIVED_BIT)),
            )
            .collect();
        let mut low = Lowering {
            p,
            unit,
            ir: CtIr::default(),
            ct_inputs: Vec::new(),
            ct_input_index: FxHashMap::default(),
            sole_user: sole_users(p),
            input_sources: Vec::new(),
            input_ids,
            costs: Costs::default(),
            vecs: FxHashMap::default(),
            mats: FxHashMap::default(),
            scalars: FxHashMap::default(),
            plan: Plan::default(),
            needs_memo: FxHashMap::default(),
            pinned: FxHashMap::default(),
        };
        low.input_sources = p
            .graph
            .nodes()
            .map(|(id, _)| low.find_input_source(id))
            .collect();
        low
    }

    fn node(&self, id: NodeId) -> &crate::ir::Node {
        self.p.graph.node(id)
    }

    pub(super) fn shape(&self, id: NodeId) -> Shape {
        self.node(id).ty.shape
    }

    pub(super) fn is_enc(&self, id: NodeId) -> bool {
        self.node(id).ty.secrecy == Secrecy::Enc
    }

    pub(super) fn program(&self) -> &'p Program {
        self.p
    }

    /// Follow `plan` when materializing vectors.
    pub fn set_plan(&mut self, plan: Plan) {
        self.plan = plan;
        self.pin_factors();
    }

    /// Fills [`Lowering::pinned`]: for every input used as a matrix, the largest of the
    /// factors its views have (encrypting the tiny `(gamma c3) Z` directly would lose its
    /// precision to the fresh encryption noise), for both stored orientations.
    fn pin_factors(&mut self) {
        for (id, n) in self.p.graph.nodes() {
            // Views used only to make other views (`c * pre`) are never packed themselves.
            let used = self
                .p
                .graph
                .users(id)
                .into_iter()
                .any(|u| self.input_source(u).is_none());
            if !matches!(n.ty.shape, Shape::Matrix(..)) || !self.is_enc(id) || !used {
                continue;
            }
            if let Some((source, factor, transposed)) = self.input_source(id) {
                for stored in [transposed, !transposed] {
                    let g = self.pinned.entry((source, stored)).or_insert(factor);
                    if factor.abs() > g.abs() {
                        *g = factor;
                    }
                }
            }
        }
    }

    /// An input or a scaled, negated or transposed view of one (packed by the client).
    pub(super) fn is_input_view(&self, id: NodeId) -> bool {
        self.input_source(id).is_some()
    }

    /// Used by more than one node, or an output.
    pub(super) fn is_shared(&self, x: NodeId) -> bool {
        !self.single_use(x)
    }

    /// Ciphertexts of node `id` in layout `want`.
    pub(super) fn tiles_of(&self, id: NodeId, want: Want) -> usize {
        match want {
            Want::Vec(o) => self.vec_tiles(o, self.vector_len(id)),
            Want::Mat(f) => {
                let (r, c) = Self::stored_dims(self.shape(id), f);
                ceil_div(r, self.unit.h) * ceil_div(c, self.unit.w)
            }
            Want::Scalar => 1,
        }
    }

    fn origin(&self, id: NodeId) -> Origin {
        let n = self.node(id);
        Origin {
            tensor_node: id.index() as u32,
            tensor_op: n.op.name().to_string(),
            span: (!n.span.is_empty()).then(|| self.p.source.location(n.span)),
        }
    }

    fn unsupported(&self, id: NodeId, what: &str) -> Diagnostic {
        let n = self.node(id);
        Diagnostic::new(
            Code::Unsupported,
            &self.p.source,
            n.span,
            format!("cannot lower `{}` to CKKS: {what}", n.op.name()),
        )
    }

    // ----- operand classification -------------------------------------------------------

    /// The compile-time value or public input behind a non-encrypted node.
    fn plain_kind(&self, id: NodeId) -> Option<PlainKind> {
        let n = self.node(id);
        if n.ty.secrecy == Secrecy::Enc {
            return None;
        }
        let uni = |k: Option<PlainKind>| match k {
            Some(PlainKind::Uniform(v)) => Some(v),
            _ => None,
        };
        let arg = |i: usize| n.args.get(i).and_then(|a| self.plain_kind(*a));
        let v = match &n.op {
            Op::Const { value } => *value,
            Op::Add => uni(arg(0))? + uni(arg(1))?,
            Op::Sub => uni(arg(0))? - uni(arg(1))?,
            Op::Mul => {
                return match (arg(0)?, arg(1)?) {
                    (PlainKind::Uniform(a), PlainKind::Uniform(b)) => {
                        Some(PlainKind::Uniform(a * b))
                    }
                    (PlainKind::Uniform(a), PlainKind::Public(s, f, t))
                    | (PlainKind::Public(s, f, t), PlainKind::Uniform(a)) => {
                        Some(PlainKind::Public(s, f * a, t))
                    }
                    _ => None,
                }
            }
            Op::Div => uni(arg(0))? / uni(arg(1))?,
            Op::Neg => -uni(arg(0))?,
            Op::Pow { exp } => uni(arg(0))?.powi(*exp as i32),
            Op::Sqrt => uni(arg(0))?.sqrt(),
            Op::Input { .. } | Op::Element { .. } | Op::Transpose => {
                let (s, f, t) = self.input_source(id)?;
                return Some(PlainKind::Public(s, f, t));
            }
            _ => return None,
        };
        Some(PlainKind::Uniform(v))
    }

    /// If `id` is (a scaled, negated or transposed view of) a program input: its source, the
    /// factor and whether it is transposed. Such values are packed by the client for free.
    fn input_source(&self, id: NodeId) -> Option<(Source, f64, bool)> {
        self.input_sources[id.index()]
    }

    /// [`Lowering::input_source`], computed.
    fn find_input_source(&self, id: NodeId) -> Option<(Source, f64, bool)> {
        let n = self.node(id);
        match &n.op {
            Op::Input { name } => {
                let k = *self.input_ids.get(name)?;
                if n.ty.seq.is_some() {
                    return None;
                }
                Some((source_of(k, 0), 1.0, false))
            }
            Op::Element { index } => {
                let a = self.node(*n.args.first()?);
                let Op::Input { name } = &a.op else {
                    return None;
                };
                let k = *self.input_ids.get(name)?;
                Some((source_of(k, *index), 1.0, false))
            }
            Op::Transpose => {
                let (s, f, t) = self.find_input_source(*n.args.first()?)?;
                Some((s, f, !t))
            }
            Op::Neg => {
                let (s, f, t) = self.find_input_source(*n.args.first()?)?;
                Some((s, -f, t))
            }
            Op::Mul | Op::Div => {
                let (a, b) = (*n.args.first()?, *n.args.get(1)?);
                let (x, c) = match (self.uniform(a), self.uniform(b)) {
                    (Some(c), None) if matches!(n.op, Op::Mul) => (b, c),
                    (None, Some(c)) if matches!(n.op, Op::Mul) => (a, c),
                    (None, Some(c)) if c != 0.0 => (a, 1.0 / c),
                    _ => return None,
                };
                let (s, f, t) = self.find_input_source(x)?;
                Some((s, f * c, t))
            }
            _ => None,
        }
    }

    fn uniform(&self, id: NodeId) -> Option<f64> {
        match self.plain_kind(id) {
            Some(PlainKind::Uniform(v)) => Some(v),
            _ => None,
        }
    }

    // ----- costs ------------------------------------------------------------------------------

    /// The least depth at which vector `id` can be had in orientation `o`: directly, or by
    /// converting the other orientation.
    pub(super) fn vcost(&mut self, id: NodeId, o: Orient) -> u32 {
        if let Some(&c) = self.costs.vec.get(&(id, o)) {
            return c;
        }
        let d = self.vdirect(id, o);
        let other = self.vdirect(id, o.flip());
        let c = d.min(other.saturating_add(conversion_levels(o))).min(INF);
        self.costs.vec.insert((id, o), c);
        c
    }

    /// The cost of any operand: `Want::Vec`, `Want::Mat` or `Want::Scalar`.
    pub(super) fn want_cost(&mut self, id: NodeId, want: Want) -> u32 {
        match want {
            Want::Vec(o) => self.vcost(id, o),
            Want::Mat(f) => self.mcost(id, f),
            Want::Scalar => self.scost(id),
        }
    }

    fn const_mul_cost(&self, x: NodeId, c: f64) -> u32 {
        if small_int(c).is_some() || self.input_source(x).is_some() {
            0
        } else {
            1
        }
    }

    /// What operand `x` is needed as, `levels` below the result, when the result is wanted in
    /// a tensor layout `want`: nothing if it is public (plaintext), a broadcast scalar if it is
    /// an encrypted scalar.
    fn operand(&self, x: NodeId, want: Want, levels: u32) -> Option<Need> {
        if !self.is_enc(x) {
            None
        } else if self.shape(x) == Shape::Scalar {
            Some(Need {
                node: x,
                want: Want::Scalar,
                levels,
            })
        } else {
            Some(Need {
                node: x,
                want,
                levels,
            })
        }
    }

    /// The operands the direct recipe for `id` in layout `want` needs (the recipes of
    /// [`Lowering::vector_direct`], [`Lowering::matrix`] and [`Lowering::scalar`]), or `None`
    /// if no recipe implements it. Every depth estimate and the orientation plan are computed
    /// from this one list.
    pub(super) fn needs(&mut self, id: NodeId, want: Want) -> Option<Vec<Need>> {
        if let Some(v) = self.needs_memo.get(&(id, want)) {
            return v.clone();
        }
        let v = self.needs_uncached(id, want);
        self.needs_memo.insert((id, want), v.clone());
        v
    }

    fn needs_uncached(&mut self, id: NodeId, want: Want) -> Option<Vec<Need>> {
        if self.input_source(id).is_some() {
            return Some(Vec::new());
        }
        let n = self.node(id).clone();
        let a = n.args.first().copied();
        let b = n.args.get(1).copied();
        let ops = |s: &Self, list: &[(NodeId, Want, u32)]| -> Vec<Need> {
            list.iter()
                .filter_map(|&(x, w, l)| s.operand(x, w, l))
                .collect()
        };
        // Element-wise operations take their operands in the result's own layout.
        let elementwise = want;
        let v = match (&n.op, a, b, want) {
            (Op::Transpose, Some(a), _, Want::Mat(f)) => ops(self, &[(a, Want::Mat(f.flip()), 0)]),
            (Op::Add | Op::Sub, Some(a), Some(b), _) => {
                ops(self, &[(a, elementwise, 0), (b, elementwise, 0)])
            }
            (Op::Neg, Some(a), _, _) => ops(self, &[(a, elementwise, 0)]),
            (Op::Mul, Some(a), Some(b), _) => match (self.uniform(a), self.uniform(b)) {
                (Some(c), _) => ops(self, &[(b, elementwise, self.const_mul_cost(b, c))]),
                (_, Some(c)) => ops(self, &[(a, elementwise, self.const_mul_cost(a, c))]),
                _ => ops(self, &[(a, elementwise, 1), (b, elementwise, 1)]),
            },
            (Op::Div, Some(a), Some(b), _) => match self.uniform(b) {
                Some(c) if c != 0.0 => {
                    ops(self, &[(a, elementwise, self.const_mul_cost(a, 1.0 / c))])
                }
                _ => return None,
            },
            (Op::Pow { exp }, Some(a), _, Want::Vec(_) | Want::Scalar) => ops(
                self,
                &[(a, elementwise, crate::analysis::depth::ceil_log2(*exp))],
            ),
            (Op::MatVec, Some(m), Some(v), Want::Vec(o)) => match o {
                // A constant vector's factor goes into the mask, unless the product is folded
                // into a sum whose partials need it multiplied in (see `fused_sum`).
                Orient::C if self.uniform(v).is_some() && !self.folds_into_sum(id) => {
                    ops(self, &[(m, Want::Mat(Form::D), 1)])
                }
                Orient::C => ops(
                    self,
                    &[(m, Want::Mat(Form::D), 2), (v, Want::Vec(Orient::R), 2)],
                ),
                Orient::R => ops(
                    self,
                    &[(m, Want::Mat(Form::T), 1), (v, Want::Vec(Orient::C), 1)],
                ),
            },
            (Op::SumRows, Some(m), _, Want::Vec(o)) => match o {
                Orient::R => ops(self, &[(m, Want::Mat(Form::D), 0)]),
                Orient::C => ops(self, &[(m, Want::Mat(Form::T), 1)]),
            },
            (Op::SumCols, Some(m), _, Want::Vec(o)) => match o {
                Orient::C => ops(self, &[(m, Want::Mat(Form::D), 1)]),
                Orient::R => ops(self, &[(m, Want::Mat(Form::T), 0)]),
            },
            (Op::ScaleCols | Op::ScaleRows, Some(x), Some(v), Want::Mat(f)) => {
                // X diag(v): D needs R(v), T needs C(v); diag(v) X the other way round.
                let o = match (n.op == Op::ScaleCols, f) {
                    (true, Form::D) | (false, Form::T) => Orient::R,
                    _ => Orient::C,
                };
                ops(self, &[(x, Want::Mat(f), 1), (v, Want::Vec(o), 1)])
            }
            (Op::Dot, Some(a), Some(b), Want::Scalar) => {
                let o = self.dot_orient(a, b);
                ops(self, &[(a, Want::Vec(o), 1), (b, Want::Vec(o), 1)])
            }
            _ => return None,
        };
        Some(v)
    }

    /// The orientation a dot product is computed in: the shallower (R on ties).
    fn dot_orient(&mut self, a: NodeId, b: NodeId) -> Orient {
        let mut depth = |o: Orient| {
            let needs: Vec<Need> = [a, b]
                .iter()
                .filter_map(|&x| self.operand(x, Want::Vec(o), 0))
                .collect();
            needs
                .iter()
                .map(|n| self.want_cost(n.node, n.want))
                .max()
                .unwrap_or(0)
        };
        if depth(Orient::C) < depth(Orient::R) {
            Orient::C
        } else {
            Orient::R
        }
    }

    /// The depth of the direct recipe for `id` in layout `want` (`INF` if there is none).
    fn direct_cost(&mut self, id: NodeId, want: Want) -> u32 {
        match self.needs(id, want) {
            None => INF,
            Some(needs) => needs
                .iter()
                .map(|n| self.want_cost(n.node, n.want).saturating_add(n.levels))
                .max()
                .unwrap_or(0)
                .min(INF),
        }
    }

    /// The depth of vector `id` computed directly in orientation `o`.
    pub(super) fn vdirect(&mut self, id: NodeId, o: Orient) -> u32 {
        if let Some(&c) = self.costs.vec_direct.get(&(id, o)) {
            return c;
        }
        let c = self.direct_cost(id, Want::Vec(o));
        self.costs.vec_direct.insert((id, o), c);
        c
    }

    /// The depth of matrix `id` in form `f` (matrices are never converted).
    pub(super) fn mcost(&mut self, id: NodeId, f: Form) -> u32 {
        if let Some(&c) = self.costs.mat.get(&(id, f)) {
            return c;
        }
        let c = self.direct_cost(id, Want::Mat(f));
        self.costs.mat.insert((id, f), c);
        c
    }

    pub(super) fn scost(&mut self, id: NodeId) -> u32 {
        if let Some(&c) = self.costs.scalar.get(&id) {
            return c;
        }
        let c = self.direct_cost(id, Want::Scalar);
        self.costs.scalar.insert(id, c);
        c
    }

    /// The cheaper orientation of a vector node (R on ties).
    pub fn best_orient(&mut self, id: NodeId) -> Orient {
        let n = self.vector_len(id);
        let key = |s: &mut Self, o: Orient| (s.vcost(id, o), s.vec_tiles(o, n));
        if key(self, Orient::C) < key(self, Orient::R) {
            Orient::C
        } else {
            Orient::R
        }
    }

    /// The cheaper form of a matrix node (direct on ties).
    pub fn best_form(&mut self, id: NodeId) -> Form {
        if self.mcost(id, Form::T) < self.mcost(id, Form::D) {
            Form::T
        } else {
            Form::D
        }
    }

    // ----- slot-level helpers -----------------------------------------------------------------

    fn push(&mut self, op: COp, at: NodeId) -> Ct {
        let o = self.origin(at);
        self.ir.push(op, &o)
    }

    /// An encrypted input ciphertext for `pack` (shared when requested twice).
    fn input_ct(&mut self, pack: Pack, at: NodeId) -> Ct {
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

    /// `x * c`, folded into the producing op where that is free: an input's packing factor, an
    /// earlier constant or mask product, an integer multiplication or a negation.
    fn mul_const(&mut self, x: Ct, c: f64, at: NodeId) -> Ct {
        if c == 1.0 {
            return x;
        }
        match self.ir.op(x).clone() {
            COp::Input(i) => {
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
    fn fold_scale_all(&mut self, xs: &[Ct], c: f64, at: NodeId) -> Option<Vec<Ct>> {
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

    fn add(&mut self, a: Ct, b: Ct, at: NodeId) -> Ct {
        self.push(COp::Add(a, b), at)
    }

    /// Sum of several values (balanced, so the sum has no long add chain).
    fn sum(&mut self, mut xs: Vec<Ct>, at: NodeId) -> Option<Ct> {
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
    fn rotate_sum(&mut self, mut x: Ct, step: i64, count: usize, at: NodeId) -> Ct {
        let mut k = 1usize;
        while k < count {
            let r = self.push(COp::Rotate(x, step * k as i64), at);
            x = self.add(x, r, at);
            k *= 2;
        }
        x
    }

    /// Keeps column 0 of rows `0..rows` (times `value`) and copies it across each row.
    fn mask_col0_replicate(&mut self, x: Ct, rows: usize, value: f64, at: NodeId) -> Ct {
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

    fn rect_valid(&self, rows: usize, cols: usize, value: f64) -> Plain {
        Plain::Rect {
            value,
            rows: (0, rows.min(self.unit.h) as u32),
            cols: (0, cols.min(self.unit.w) as u32),
        }
    }

    /// Valid (rows, cols) of vector tile `t` of a length-`n` vector.
    fn vec_tile_extent(&self, o: Orient, n: usize, t: usize) -> (usize, usize) {
        let Unit { h, w } = self.unit;
        match o {
            Orient::R => (h, n.saturating_sub(t * w).min(w)),
            Orient::C => (n.saturating_sub(t * h).min(h), w),
        }
    }

    fn vec_tiles(&self, o: Orient, n: usize) -> usize {
        match o {
            Orient::R => ceil_div(n, self.unit.w),
            Orient::C => ceil_div(n, self.unit.h),
        }
    }

    /// (rows, cols) of the stored matrix of form `f` for a node of shape r × c.
    fn stored_dims(shape: Shape, f: Form) -> (usize, usize) {
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

    // ----- materialization --------------------------------------------------------------------

    /// Scalar operand: a replicated ciphertext.
    pub fn scalar(&mut self, id: NodeId) -> Result<Ct, Diagnostic> {
        if let Some(&c) = self.scalars.get(&id) {
            return Ok(c);
        }
        let n = self.node(id).clone();
        let ct = if let Some((source, factor, _)) = self.input_source(id) {
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
                Op::Dot => {
                    let (a, b) = (args[0], args[1]);
                    let o = self.dot_orient(a, b);
                    let len = match self.shape(a) {
                        Shape::Vector(n) => n,
                        _ => return Err(self.unsupported(id, "dot of non-vectors")),
                    };
                    let prod = self.elementwise_vec(id, o, len, a, b, Elem::Mul)?;
                    let prod = self.ensure_clean_vec(prod, o, len, id);
                    let s = self
                        .sum(prod.tiles, id)
                        .ok_or_else(|| self.unsupported(id, "empty vector"))?;
                    match o {
                        Orient::R => self.rotate_sum(s, 1, self.unit.w, id),
                        Orient::C => self.rotate_sum(s, self.unit.w as i64, self.unit.h, id),
                    }
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

    /// Vector `id` in orientation `o`.
    pub fn vector(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        if let Some(v) = self.vecs.get(&(id, o)) {
            return Ok(v.clone());
        }
        let recipe = match self.plan.vec.get(&(id, o)) {
            Some(r) => *r,
            // Not planned: the least depth.
            None => {
                let best = self.vcost(id, o);
                if best >= INF {
                    return Err(
                        self.unsupported(id, "no ciphertext layout implements this operation")
                    );
                }
                if self.vdirect(id, o) <= best {
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

    fn vector_len(&self, id: NodeId) -> usize {
        match self.shape(id) {
            Shape::Vector(n) => n,
            _ => 1,
        }
    }

    fn vector_direct(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        if let Some(v) = self.vecs.get(&(id, o)) {
            return Ok(v.clone());
        }
        let n = self.node(id).clone();
        let len = self.vector_len(id);
        if let Some((source, factor, _)) = self.input_source(id) {
            let tiles = (0..self.vec_tiles(o, len))
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

    fn power(&mut self, x: Ct, exp: u32, at: NodeId) -> Ct {
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

    /// An element-wise op on vectors (or scalars, `len` 1 with `o` ignored) with broadcast.
    fn elementwise_vec(
        &mut self,
        id: NodeId,
        o: Orient,
        len: usize,
        a: NodeId,
        b: NodeId,
        e: Elem,
    ) -> Result<VecVal, Diagnostic> {
        let scalar_out = self.shape(id) == Shape::Scalar;
        let ntiles = if scalar_out {
            1
        } else {
            self.vec_tiles(o, len)
        };
        let operand = |s: &mut Self, x: NodeId| -> Result<Operand, Diagnostic> {
            if !s.is_enc(x) {
                return match s.plain_kind(x) {
                    Some(PlainKind::Uniform(v)) => Ok(Operand::Uniform(v)),
                    Some(PlainKind::Public(src, f, _)) => Ok(Operand::Public(src, f)),
                    None => {
                        Err(s.unsupported(x, "this public value is not a constant or an input"))
                    }
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
        let public = |src: Source, f: f64| Plain::Public {
            pack: Pack {
                source: src,
                layout,
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
                    (Elem::Mul, Operand::Public(s, f)) => {
                        self.push(COp::MulPlain(a, public(*s, *f)), id)
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
                            Operand::Public(s, f) => public(*s, if neg_p { -f } else { *f }),
                            _ => return Err(self.unsupported(id, "operand kinds")),
                        };
                        self.push(COp::AddPlain(base, plain), id)
                    }
                    _ => return Err(self.unsupported(id, "operand kinds")),
                }
            }
            _ => return Err(self.unsupported(id, "an operation on public values only")),
        };
        Ok(out)
    }

    /// Masks the padding of a vector to zero (one level) if it is not already zero.
    fn ensure_clean_vec(&mut self, v: VecVal, o: Orient, len: usize, at: NodeId) -> VecVal {
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

    fn ensure_clean_mat(&mut self, m: MatVal, rows: usize, cols: usize, at: NodeId) -> MatVal {
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

    /// A product or reduction node (`A @ v`, `sum_rows`, `sum_cols`) in orientation `o`.
    fn reduction(&mut self, id: NodeId, o: Orient) -> Result<VecVal, Diagnostic> {
        let p = self.reduction_partials(id, o)?;
        let len = self.vector_len(id);
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

    /// `A @ v` in orientation `o` (C: direct A and R(v), masked; R: transposed A and C(v)),
    /// before its rotate-and-sum.
    fn matvec_partials(
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
        if let Some((source, f, transposed)) = self.input_source(a) {
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
            Some(m) => m,
            None => self.matrix(a, form)?,
        };
        let (yr, yc) = Self::stored_dims(self.shape(a), form);
        if !m.clean && !x.clean {
            x = self.ensure_clean_vec(x, vo, c, id);
        }
        let prod = MatVal {
            tiles: (0..m.tiles.len())
                .map(|k| {
                    // Y = A (D, R(v) tile per column block) or Aᵀ (T, C(v) per row block).
                    let t = match o {
                        Orient::C => k % m.grid_cols,
                        Orient::R => k / m.grid_cols,
                    };
                    self.push(COp::Mul(m.tiles[k], x.tiles[t]), id)
                })
                .collect(),
            grid_cols: m.grid_cols,
            clean: true,
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
        match self.plain_kind(v) {
            Some(PlainKind::Uniform(c)) => {
                // `c · sum_cols(A)`. An input view `A = f X` is reduced unscaled, with `f` in the
                // factor the mask or the product with `c` applies: views of one input with
                // different factors then share their ciphertexts and rotate-and-sums.
                let form = match o {
                    Orient::C => Form::D,
                    Orient::R => Form::T,
                };
                let (m, f) = match self.input_source(a) {
                    Some((source, f, transposed)) => {
                        (self.input_matrix(a, source, 1.0, transposed, form), f)
                    }
                    None => (self.matrix(a, form)?, 1.0),
                };
                let (yr, yc) = Self::stored_dims(self.shape(a), form);
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
                let (yr, yc) = Self::stored_dims(self.shape(a), form);
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
                        let plain = Plain::Public {
                            pack: Pack {
                                source,
                                layout,
                                factor,
                            },
                        };
                        self.push(COp::MulPlain(*t, plain), id)
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
        let (yr, yc) = Self::stored_dims(self.shape(x), form);
        self.stored_partials(id, m, yr, yc, o)
    }

    /// The partials of summing a stored matrix `Y` (yr × yc) over its rows (to R: the tiles of
    /// each column block) or its columns (to C: the tiles of each row block).
    fn stored_partials(
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
    fn fused_sum(&mut self, id: NodeId, o: Orient) -> Result<Option<VecVal>, Diagnostic> {
        let mut terms = Vec::new();
        self.sum_terms(id, false, true, o, &mut terms);
        let (fused, rest): (Vec<_>, Vec<_>) = terms
            .into_iter()
            .partition(|&(x, _)| self.reduces_into(x, o));
        if fused.len() < 2 {
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
        let len = self.vector_len(id);
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
    fn sum_terms(
        &mut self,
        x: NodeId,
        neg: bool,
        root: bool,
        o: Orient,
        out: &mut Vec<(NodeId, bool)>,
    ) {
        let n = self.node(x).clone();
        let same = |a: &NodeId| self.is_enc(*a) && self.shape(*a) == n.ty.shape;
        let walk = n.args.iter().all(same)
            && matches!(n.op, Op::Add | Op::Sub | Op::Neg)
            && (root
                || (self.single_use(x) && !self.vecs.contains_key(&(x, o)) && self.direct(x, o)));
        if !walk {
            out.push((x, neg));
            return;
        }
        match n.op {
            Op::Add => {
                self.sum_terms(n.args[0], neg, false, o, out);
                self.sum_terms(n.args[1], neg, false, o, out);
            }
            Op::Sub => {
                self.sum_terms(n.args[0], neg, false, o, out);
                self.sum_terms(n.args[1], !neg, false, o, out);
            }
            _ => self.sum_terms(n.args[0], !neg, false, o, out),
        }
    }

    /// Whether `x` is a product or reduction that a sum may fold into its own rotate-and-sum.
    fn reduces_into(&mut self, x: NodeId, o: Orient) -> bool {
        matches!(self.node(x).op, Op::MatVec | Op::SumRows | Op::SumCols)
            && self.is_enc(x)
            && self.single_use(x)
            && !self.vecs.contains_key(&(x, o))
            && self.direct(x, o)
    }

    /// Whether vector `x` is computed directly in orientation `o` (as planned; unplanned, when
    /// that is its least depth).
    fn direct(&mut self, x: NodeId, o: Orient) -> bool {
        match self.plan.vec.get(&(x, o)) {
            Some(r) => *r == Recipe::Direct,
            None => self.vdirect(x, o) <= self.vcost(x, o),
        }
    }

    /// Whether `x` (a product, reduction or sum) is used only by a sum of encrypted vectors,
    /// which folds it into its own rotate-and-sum when both are computed in one orientation.
    pub(super) fn folds_into_sum(&self, x: NodeId) -> bool {
        self.sole_user[x.index()].is_some_and(|u| {
            let n = self.node(u);
            matches!(n.op, Op::Add | Op::Sub | Op::Neg)
                && n.args
                    .iter()
                    .all(|a| self.is_enc(*a) && self.shape(*a) == n.ty.shape)
        })
    }

    /// Whether the sum rooted at `x` folds any product or reduction into its rotate-and-sum.
    pub(super) fn sum_has_products(&self, x: NodeId) -> bool {
        self.node(x).args.iter().any(|a| {
            self.folds_into_sum(*a)
                && match self.node(*a).op {
                    Op::MatVec | Op::SumRows | Op::SumCols => true,
                    Op::Add | Op::Sub | Op::Neg => self.sum_has_products(*a),
                    _ => false,
                }
        })
    }

    /// Used by one node and not an output.
    fn single_use(&self, x: NodeId) -> bool {
        self.sole_user[x.index()].is_some()
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
    fn convert(&mut self, id: NodeId, v: VecVal, to: Orient) -> Result<VecVal, Diagnostic> {
        let Unit { h, w } = self.unit;
        let n = self.vector_len(id);
        let from = to.flip();
        let nfrom = self.vec_tiles(from, n);
        let nto = self.vec_tiles(to, n);
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

    /// The input ciphertexts of a matrix input view (`transposed` relative to the source) in
    /// form `f`, packed with `factor`.
    fn input_matrix(
        &mut self,
        id: NodeId,
        source: Source,
        factor: f64,
        transposed: bool,
        f: Form,
    ) -> MatVal {
        let Unit { h, w } = self.unit;
        let (yr, yc) = Self::stored_dims(self.shape(id), f);
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

    /// Matrix `id` in form `f`.
    pub fn matrix(&mut self, id: NodeId, f: Form) -> Result<MatVal, Diagnostic> {
        if let Some(m) = self.mats.get(&(id, f)) {
            return Ok(m.clone());
        }
        if self.mcost(id, f) >= INF {
            return Err(self.unsupported(
                id,
                "no ciphertext layout implements this matrix operation (a product of two \
                 encrypted matrices must be precomputed by the client: use -O2)",
            ));
        }
        let Unit { h, w } = self.unit;
        let shape = self.shape(id);
        let (yr, yc) = Self::stored_dims(shape, f);
        let (gr, gc) = (ceil_div(yr, h), ceil_div(yc, w));
        let n = self.node(id).clone();
        let m = if let Some((source, factor, transposed)) = self.input_source(id) {
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
        } else {
            let args = n.args.clone();
            match n.op {
                Op::Transpose => self.matrix(args[0], f.flip())?,
                Op::ScaleCols | Op::ScaleRows => {
                    let cols = matches!(n.op, Op::ScaleCols);
                    let x = self.matrix(args[0], f)?;
                    // X diag(v): D needs R(v) (per column block), T needs C(v) (per row block).
                    let (o, per_col) = match (cols, f) {
                        (true, Form::D) => (Orient::R, true),
                        (true, Form::T) => (Orient::C, false),
                        (false, Form::D) => (Orient::C, false),
                        (false, Form::T) => (Orient::R, true),
                    };
                    let v = self.vector(args[1], o)?;
                    let tiles = (0..gr * gc)
                        .map(|k| {
                            let t = if per_col { k % gc } else { k / gc };
                            self.push(COp::Mul(x.tiles[k], v.tiles[t]), id)
                        })
                        .collect();
                    MatVal {
                        tiles,
                        grid_cols: gc,
                        clean: x.clean || v.clean,
                    }
                }
                ref op => {
                    let e = elem_of(op, self.p, id)?;
                    let operand = |s: &mut Self, x: NodeId| -> Result<Operand, Diagnostic> {
                        if !s.is_enc(x) {
                            return match s.plain_kind(x) {
                                Some(PlainKind::Uniform(v)) => Ok(Operand::Uniform(v)),
                                _ => Err(s.unsupported(x, "public matrices other than constants")),
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
                        tiles.push(self.combine(id, &a, &b, e, k, rows, cols, Layout::Scalar)?);
                    }
                    MatVal {
                        tiles,
                        grid_cols: gc,
                        clean,
                    }
                }
            }
        };
        self.mats.insert((id, f), m.clone());
        Ok(m)
    }
}

/// The smallest ratio of a view's factor to its input's pinned factor that is applied on the
/// server: tiny values made there take the rescale's rounding noise at full size, so a view
/// scaled further down is packed by the client (GD's `(gamma c3) Z[i]^T`, 2e-7 of the pinned
/// `Z[i]^T`: 3x the output error when scaled on the server).
const MIN_SERVER_RATIO: f64 = 1e-4;

/// A plaintext times `c`.
fn scale_plain(p: Plain, c: f64) -> Plain {
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

/// Derived inputs are numbered after the declared ones in `input_ids`, marked by this bit.
const DERIVED_BIT: u32 = 1 << 31;

fn source_of(k: u32, element: u32) -> Source {
    if k & DERIVED_BIT != 0 {
        Source::Derived {
            index: k & !DERIVED_BIT,
        }
    } else {
        Source::Input { input: k, element }
    }
}

/// An element-wise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    Add,
    Sub,
    Mul,
    Neg,
}

/// Division by a constant is a multiplication by its inverse (handled by the caller through
/// `plain_kind`); other ops are not element-wise.
fn elem_of(op: &Op, p: &Program, id: NodeId) -> Result<Elem, Diagnostic> {
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
    Public(Source, f64),
}
