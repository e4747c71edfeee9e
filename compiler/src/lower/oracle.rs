//! The depth oracle of the layout lowering: for every node and every layout (vector
//! orientation, matrix form, scalar), which operands the direct recipe needs and the least depth
//! at which the value can be had.
//!
//! It exists apart from the emission ([`super::layout::Lowering`]) because its answers are a
//! function of the program and the slot grid alone: the orientation plan ([`super::plan`])
//! queries it through `&mut Oracle` without emitting anything, and the materialization asks it
//! the same questions later and gets the same memoized answers. Every estimate and the plan are
//! computed from one list, [`Oracle::needs`].

use rustc_hash::FxHashMap;

use hel_schedule::{Source, Unit};

use super::layout::{ceil_div, stored_dims, vec_tiles, Form, Orient, Want};
use super::price;
use crate::ir::{MatrixForms, NodeId, Op, Program, Secrecy, Shape};

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

/// One operand of a recipe: the node, the layout it is needed in, and how many levels the
/// recipe adds on top of it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Need {
    pub node: NodeId,
    pub want: Want,
    pub levels: u32,
}

/// What a non-encrypted operand is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum PlainKind {
    /// Every entry equals this compile-time value.
    Uniform(f64),
    /// A public tensor times a factor, transposed or not relative to its source: a `plain`
    /// program input (element), or a value computed from `plain` inputs, which the server
    /// computes in the clear (a derived tensor over public inputs only, see
    /// [`Oracle::public_tensors`]).
    Public(Source, f64, bool),
}

/// The depth oracle: the program's operand classification (inputs, constants, sole users) and
/// the memoized recipes and least depths of [`Oracle::needs`] and the `*cost` queries.
pub struct Oracle<'p> {
    p: &'p Program,
    unit: Unit,
    /// The one user of each node used by exactly one node and not an output (by node index):
    /// asked for at every step of the plan's search, too often to collect the users each time.
    sole_user: Vec<Option<NodeId>>,
    /// [`Oracle::input_source`] of every node, by node index (asked for at every step of the
    /// plan's search).
    input_sources: Vec<Option<(Source, f64, bool)>>,
    input_ids: FxHashMap<String, u32>,
    /// The indices (in `input_ids`) of the inputs the server refreshes
    /// ([`crate::ir::InputDecl::refreshed_from`]).
    refreshed: rustc_hash::FxHashSet<u32>,
    /// The forms refreshed matrices come in and leave in ([`Oracle::new`]).
    refreshed_forms: MatrixForms,
    /// The values computed from `plain` inputs that meet ciphertexts, in node order: the
    /// server computes each in f64 and encodes it where it is used. Derived tensor
    /// `p.derived.len() + k` of the schedule is `public[k]`.
    public: Vec<NodeId>,
    /// Position of each of [`Oracle::public`] by node index.
    public_index: FxHashMap<NodeId, u32>,
    costs: Costs,
    /// Memo of [`Oracle::needs`], a function of the program alone: the plan's local search
    /// asks for the same recipes in every one of its rounds (NAG at k = 32: most of the
    /// lowering's time, cloning the node each time).
    needs_memo: FxHashMap<(NodeId, Want), Option<Vec<Need>>>,
}

/// Minimum depth per (node, orientation/form), the basis of every layout choice.
#[derive(Default)]
struct Costs {
    vec: FxHashMap<(NodeId, Orient), u32>,
    vec_direct: FxHashMap<(NodeId, Orient), u32>,
    mat: FxHashMap<(NodeId, Form), u32>,
    scalar: FxHashMap<NodeId, u32>,
}

impl<'p> Oracle<'p> {
    /// The oracle of `p` on `unit`. A program whose refreshed state includes a matrix gets
    /// the forms for it (the same for the input and the output: the output is the next
    /// round's input) whose outputs are the shallowest, fewer forms on ties, direct before
    /// transposed (a product `X @ W` needs `W` transposed: its columns; `W @ v` direct; both
    /// sides, both), unless the program fixes them ([`Program::refreshed_forms`]).
    pub fn new(p: &'p Program, unit: Unit) -> Oracle<'p> {
        let matrices: Vec<NodeId> = p
            .outputs
            .iter()
            .filter(|o| o.refreshed && matches!(p.graph.node(o.node).ty.shape, Shape::Matrix(..)))
            .map(|o| o.node)
            .collect();
        match p.refreshed_forms {
            _ if matrices.is_empty() => {
                return Self::with_refreshed_forms(p, unit, MatrixForms::Direct)
            }
            Some(forms) => return Self::with_refreshed_forms(p, unit, forms),
            None => {}
        }
        let depth = |forms: MatrixForms| {
            let mut o = Self::with_refreshed_forms(p, unit, forms);
            p.outputs
                .iter()
                .map(|x| match p.graph.node(x.node).ty.shape {
                    _ if matrices.contains(&x.node) => o
                        .refreshed_forms()
                        .into_iter()
                        .map(|f| o.mcost(x.node, f))
                        .max()
                        .unwrap_or(0),
                    Shape::Matrix(..) => {
                        let f = o.best_form(x.node);
                        o.mcost(x.node, f)
                    }
                    Shape::Vector(_) => o.vcost(x.node, Orient::R).min(if x.refreshed {
                        INF
                    } else {
                        o.vcost(x.node, Orient::C)
                    }),
                    Shape::Scalar => o.scost(x.node),
                })
                .max()
                .unwrap_or(0)
        };
        let mut best = (MatrixForms::Direct, depth(MatrixForms::Direct));
        for forms in [MatrixForms::Transposed, MatrixForms::Both] {
            let d = depth(forms);
            if d < best.1 {
                best = (forms, d);
            }
        }
        Self::with_refreshed_forms(p, unit, best.0)
    }

    /// The forms refreshed matrices come in and leave in.
    pub(super) fn refreshed_forms(&self) -> Vec<Form> {
        self.refreshed_forms
            .transposed()
            .iter()
            .map(|&t| if t { Form::T } else { Form::D })
            .collect()
    }

    fn with_refreshed_forms(
        p: &'p Program,
        unit: Unit,
        refreshed_forms: MatrixForms,
    ) -> Oracle<'p> {
        let input_ids: FxHashMap<String, u32> = p
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
        let refreshed = p
            .inputs
            .iter()
            .filter(|i| i.refreshed_from.is_some())
            .filter_map(|i| input_ids.get(&i.name).copied())
            .collect();
        let mut oracle = Oracle {
            p,
            unit,
            refreshed,
            refreshed_forms,
            sole_user: sole_users(p),
            input_sources: Vec::new(),
            input_ids,
            public: Vec::new(),
            public_index: FxHashMap::default(),
            costs: Costs::default(),
            needs_memo: FxHashMap::default(),
        };
        // Node ids are in topological order, so every operand's entry exists when a node's
        // is computed (`find_input_source` reads its operands' through `plain_kind`).
        for (id, _) in p.graph.nodes() {
            let s = oracle.find_input_source(id);
            oracle.input_sources.push(s);
        }
        for (id, n) in p.graph.nodes() {
            let meets_ciphertexts = p.graph.users(id).into_iter().any(|u| oracle.is_enc(u))
                || p.outputs.iter().any(|o| o.node == id);
            if n.ty.secrecy == Secrecy::Enc
                || !meets_ciphertexts
                || oracle.input_source(id).is_some()
                || oracle.uniform(id).is_some()
            {
                continue;
            }
            oracle.public_index.insert(id, oracle.public.len() as u32);
            oracle.public.push(id);
        }
        oracle
    }

    /// The values computed from `plain` inputs that the server computes in the clear, in the
    /// order of their derived tensors (after the program's own derived inputs).
    pub(super) fn public_tensors(&self) -> &[NodeId] {
        &self.public
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

    /// The slot grid.
    pub(super) fn unit(&self) -> Unit {
        self.unit
    }

    /// An input or a scaled, negated or transposed view of one, packed by the client in any
    /// layout for free (not a [`Oracle::is_refreshed`] input, which comes in one layout).
    pub(super) fn is_input_view(&self, id: NodeId) -> bool {
        self.input_source(id).is_some() && !self.is_refreshed(id)
    }

    /// Whether `id` is an input the server supplies by refreshing the previous round's output
    /// ([`crate::ir::InputDecl::refreshed_from`]): it exists only as row-replicated tiles (`R`)
    /// or, a matrix, in [`Oracle::refreshed_forms`], with factor 1, as that output leaves, and every
    /// view of it is computed on the server.
    pub(super) fn is_refreshed(&self, id: NodeId) -> bool {
        match &self.node(id).op {
            Op::Input { name } => self
                .input_ids
                .get(name)
                .is_some_and(|k| self.refreshed.contains(k)),
            _ => false,
        }
    }

    /// Whether `source` is (an element of) a refreshed input.
    pub(super) fn is_refreshed_source(&self, source: Source) -> bool {
        matches!(source, Source::Input { input, .. } if self.refreshed.contains(&input))
    }

    /// [`Oracle::find_input_source`] of the operand of a view: none for a refreshed input,
    /// whose views the client cannot pack.
    fn view_source(&self, x: NodeId) -> Option<(Source, f64, bool)> {
        if self.is_refreshed(x) {
            return None;
        }
        self.find_input_source(x)
    }

    /// Used by more than one node, or an output.
    pub(super) fn is_shared(&self, x: NodeId) -> bool {
        !self.single_use(x)
    }

    /// Used by one node and not an output.
    pub(super) fn single_use(&self, x: NodeId) -> bool {
        self.sole_user[x.index()].is_some()
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

    // ----- geometry -----------------------------------------------------------------------

    /// Ciphertexts of node `id` in layout `want`.
    pub(super) fn tiles_of(&self, id: NodeId, want: Want) -> usize {
        match want {
            Want::Vec(o) => self.vec_tiles(o, self.vector_len(id)),
            Want::Mat(f) => {
                let (r, c) = stored_dims(self.shape(id), f);
                ceil_div(r, self.unit.h) * ceil_div(c, self.unit.w)
            }
            Want::Scalar => 1,
        }
    }

    pub(super) fn vector_len(&self, id: NodeId) -> usize {
        match self.shape(id) {
            Shape::Vector(n) => n,
            _ => 1,
        }
    }

    /// Ciphertexts of a length-`n` vector in orientation `o`.
    pub(super) fn vec_tiles(&self, o: Orient, n: usize) -> usize {
        vec_tiles(self.unit, o, n)
    }

    // ----- operand classification -------------------------------------------------------

    /// The compile-time value, public input view or server-computed public value behind a
    /// non-encrypted node.
    pub(super) fn plain_kind(&self, id: NodeId) -> Option<PlainKind> {
        if self.is_enc(id) {
            return None;
        }
        if let Some(v) = self.uniform(id) {
            return Some(PlainKind::Uniform(v));
        }
        if let Some((s, f, t)) = self.input_source(id) {
            return Some(PlainKind::Public(s, f, t));
        }
        let k = *self.public_index.get(&id)?;
        let index = self.p.derived.len() as u32 + k;
        Some(PlainKind::Public(Source::Derived { index }, 1.0, false))
    }

    /// The value of a node every entry of which is the same compile-time number.
    pub(super) fn uniform(&self, id: NodeId) -> Option<f64> {
        let n = self.node(id);
        if n.ty.secrecy == Secrecy::Enc {
            return None;
        }
        let arg = |i: usize| n.args.get(i).and_then(|a| self.uniform(*a));
        let v = match &n.op {
            Op::Const { value } => *value,
            Op::Add => arg(0)? + arg(1)?,
            Op::Sub => arg(0)? - arg(1)?,
            Op::Mul => arg(0)? * arg(1)?,
            Op::Div => arg(0)? / arg(1)?,
            Op::Neg => -arg(0)?,
            Op::Pow { exp } => arg(0)?.powi(*exp as i32),
            Op::Sqrt => arg(0)?.sqrt(),
            Op::PowScalar => arg(0)?.powf(arg(1)?),
            _ => return None,
        };
        v.is_finite().then_some(v)
    }

    /// If `id` is (a scaled, negated or transposed view of) a program input: its source, the
    /// factor and whether it is transposed. Such values are packed by the client for free.
    pub(super) fn input_source(&self, id: NodeId) -> Option<(Source, f64, bool)> {
        match self.input_sources.get(id.index()) {
            Some(s) => *s,
            // While `new` fills the table (a product with a public input asks for it).
            None => self.find_input_source(id),
        }
    }

    /// [`Oracle::input_source`], computed.
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
                let (s, f, t) = self.view_source(*n.args.first()?)?;
                Some((s, f, !t))
            }
            Op::Neg => {
                let (s, f, t) = self.view_source(*n.args.first()?)?;
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
                // A scalar times a constant tensor broadcasts: not a view of the scalar.
                if self.shape(x) != n.ty.shape {
                    return None;
                }
                let (s, f, t) = self.view_source(x)?;
                // A zero factor is no packing of the input (a schedule refuses one): the
                // product is lowered as one (with a constant of zero).
                let f = f * c;
                (f != 0.0 && f.is_finite()).then_some((s, f, t))
            }
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
        if small_int(c).is_some() || self.is_input_view(x) {
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

    /// The operands the direct recipe for `id` in layout `want` needs (the recipes that
    /// `Lowering::vector_direct`, `Lowering::matrix` and `Lowering::scalar` dispatch to), or
    /// `None` if no recipe implements it. Every depth estimate and the orientation plan are computed
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
            // A refreshed input exists in one layout; the others are conversions of it.
            if self.is_refreshed(id)
                && want != Want::Vec(Orient::R)
                && want != Want::Scalar
                && !matches!(want, Want::Mat(f) if self.refreshed_forms.transposed().contains(&(f == Form::T)))
            {
                return None;
            }
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
            (Op::Pow { exp }, Some(a), _, _) => ops(
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
                    &[
                        (m, Want::Mat(Form::T), price::MATVEC_LEVELS),
                        (v, Want::Vec(Orient::C), price::MATVEC_LEVELS),
                    ],
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
                let o = super::products::vector_orient(n.op == Op::ScaleCols, f);
                match self.uniform(x) {
                    // A vector's broadcast: its replicated tiles times the constant.
                    Some(c) => ops(self, &[(v, Want::Vec(o), self.const_mul_cost(v, c))]),
                    None => ops(self, &[(x, Want::Mat(f), 1), (v, Want::Vec(o), 1)]),
                }
            }
            (Op::MatMul, Some(a), Some(b), Want::Mat(f)) => {
                // Column by column (see `matmul`): C direct needs A direct (product, mask) and
                // B transposed (and a row mask, unless the client packs B's columns); C
                // transposed is Bᵀ Aᵀ, the roles swapped.
                let (x, xw, z, zw) = match f {
                    Form::D => (a, Want::Mat(Form::D), b, Want::Mat(Form::T)),
                    Form::T => (b, Want::Mat(Form::T), a, Want::Mat(Form::D)),
                };
                let columns = match (self.shape(z), f) {
                    (Shape::Matrix(_, c), Form::D) | (Shape::Matrix(c, _), Form::T) => c,
                    _ => 1,
                };
                let packed = price::packs_columns(self.is_input_view(z), columns);
                let (xl, zl) = price::matmul_levels(packed);
                ops(self, &[(x, xw, xl), (z, zw, zl)])
            }
            (Op::Dot, Some(a), Some(b), Want::Scalar) => {
                let o = self.dot_orient(a, b);
                ops(self, &[(a, Want::Vec(o), 1), (b, Want::Vec(o), 1)])
            }
            _ => return None,
        };
        Some(v)
    }

    /// The orientation a dot product is computed in: the shallower, then the one of fewer
    /// tiles (R on ties), as [`Oracle::best_orient`] (a vector of 65,536 entries is 16 row
    /// tiles on a 1 x 4096 grid but 65,536 on 4096 x 1, where R alone took 196,607
    /// slot-level ops and most of the compile time).
    pub(super) fn dot_orient(&mut self, a: NodeId, b: NodeId) -> Orient {
        let n = self.vector_len(a).max(self.vector_len(b));
        let depth = |s: &mut Self, o: Orient| {
            let needs: Vec<Need> = [a, b]
                .iter()
                .filter_map(|&x| s.operand(x, Want::Vec(o), 0))
                .collect();
            needs
                .iter()
                .map(|n| s.want_cost(n.node, n.want))
                .max()
                .unwrap_or(0)
        };
        let key = |s: &mut Self, o: Orient| (depth(s, o), s.vec_tiles(o, n));
        if key(self, Orient::C) < key(self, Orient::R) {
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
}

/// [`Oracle::sole_user`] of every node.
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

pub(super) fn small_int(c: f64) -> Option<i64> {
    (c == c.round() && c.abs() < (1u64 << 20) as f64).then_some(c as i64)
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
