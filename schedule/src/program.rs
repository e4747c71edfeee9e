//! The schedule's types: the compiled program as plain data.

use serde::{Deserialize, Serialize};

use crate::bootstrap::BootstrapParams;
use crate::params::CkksParams;

/// Index of a node (its value) in [`Schedule::nodes`].
pub type ValueId = u32;

/// The shape of a tensor (row-major data): the same type in the compiler's IR and in the
/// schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Shape {
    Scalar,
    Vector(usize),
    Matrix(usize, usize),
}

impl Shape {
    /// Number of entries, `None` if it overflows `usize` (a shape read from a file).
    pub fn checked_len(self) -> Option<usize> {
        match self {
            Shape::Scalar => Some(1),
            Shape::Vector(n) => Some(n),
            Shape::Matrix(r, c) => r.checked_mul(c),
        }
    }

    /// Number of entries (saturating at `usize::MAX`).
    pub fn len(self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// True for an empty vector or matrix.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Scalar => write!(f, "scalar"),
            Shape::Vector(n) => write!(f, "vector[{n}]"),
            Shape::Matrix(r, c) => write!(f, "matrix[{r}, {c}]"),
        }
    }
}

/// The slot grid: `h * w` equals the number of slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unit {
    pub h: usize,
    pub w: usize,
}

impl Unit {
    /// `h * w`, `None` if it overflows `usize` (a unit read from a file).
    pub fn checked_slots(&self) -> Option<usize> {
        self.h.checked_mul(self.w)
    }

    /// `h * w` (saturating at `usize::MAX`; [`Schedule::validate`] refuses a unit that is not
    /// exactly the parameters' slot count).
    pub fn slots(&self) -> usize {
        self.checked_slots().unwrap_or(usize::MAX)
    }
}

/// A tensor the user supplies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorInput {
    pub name: String,
    /// Shape of one element (of the whole input when `seq` is `None`).
    pub shape: Shape,
    /// `Some(k)` for a sequence input `T[k]`.
    pub seq: Option<usize>,
    /// True for `enc` inputs; `plain` inputs are public and sent unencrypted.
    pub encrypted: bool,
    /// The declared value range `[lo, hi]`, if any (the compiler's precision analysis assumes it).
    pub range: Option<(f64, f64)>,
    /// Set for a round's state input that the server refreshes: the output (of the previous
    /// round's program) whose bootstrapped ciphertexts it is. The client never encrypts it;
    /// it comes as row-replicated tiles of factor 1, the layout that output leaves in.
    /// (Always serialized: the binary format is not self-describing.)
    pub refreshed_from: Option<String>,
}

impl TensorInput {
    /// Number of elements (1 for a non-sequence input).
    pub fn elements(&self) -> usize {
        self.seq.unwrap_or(1)
    }
}

/// Which tensor a packing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// Element `element` of user input `input` (element 0 for non-sequence inputs).
    Input { input: u32, element: u32 },
    /// Client-computed tensor `index` of [`Schedule::derived`].
    Derived { index: u32 },
}

/// How one ciphertext's slots are filled from a tensor `X` (see [`Unit`] for slot coordinates).
/// Entries outside the tensor are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layout {
    /// slot (a, b) = X[row0 + a, col0 + b], or `X^T[row0 + a, col0 + b]` when `transposed`.
    MatrixTile {
        transposed: bool,
        row0: usize,
        col0: usize,
    },
    /// Row-replicated vector: slot (a, b) = v[offset + b] for every row a.
    RowVector { offset: usize },
    /// Column-replicated vector: slot (a, b) = v[offset + a] for every column b.
    ColVector { offset: usize },
    /// A scalar in every slot.
    Scalar,
    /// One row of a matrix, replicated in every row: slot (a, b) = X[row, col0 + b] (or
    /// `X^T[row, col0 + b]`, i.e. column `row` of X, when `transposed`). The operand of a
    /// matrix-matrix product that multiplies by one column at a time.
    MatrixRow {
        transposed: bool,
        row: usize,
        col0: usize,
    },
}

/// A tensor packed into one slot vector.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    pub source: Source,
    pub layout: Layout,
    /// Every entry is multiplied by this factor while packing (constants folded into the data).
    pub factor: f64,
}

/// An encrypted input ciphertext: what it holds and where in the modulus chain the client
/// encrypts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtInput {
    pub pack: Pack,
    pub level: u32,
    pub scale: f64,
}

/// One operation the client evaluates on plaintext tensors to build a derived input.
/// Operands refer to earlier entries of [`DerivedTensor::ops`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientOp {
    /// Element of a user input.
    Input {
        input: u32,
        element: u32,
    },
    /// A tensor of the given shape filled with `value`.
    Fill {
        shape: Shape,
        value: f64,
    },
    Add(u32, u32),
    Sub(u32, u32),
    /// Element-wise product; either operand may be a scalar (broadcast).
    Mul(u32, u32),
    Neg(u32),
    Transpose(u32),
    MatMul(u32, u32),
    MatVec(u32, u32),
    /// `X diag(v)`.
    ScaleCols(u32, u32),
    /// `diag(v) X`.
    ScaleRows(u32, u32),
    /// `sum_rows`: the rows added together (matrix r × c to vector c).
    SumRows(u32),
    /// `sum_cols`: the columns added together (matrix r × c to vector r).
    SumCols(u32),
    /// Inner product of two vectors (a scalar).
    Dot(u32, u32),
    /// Element-wise integer power.
    Pow(u32, u32),
}

/// A tensor the client computes from the inputs before encrypting (client-side precomputation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedTensor {
    pub name: String,
    /// Human-readable formula, e.g. `Z[1] @ transpose(Z[0])`.
    pub description: String,
    pub shape: Shape,
    /// The computation; the last op is the result.
    pub ops: Vec<ClientOp>,
}

/// A public slot vector used by an instruction; encoded by the executor at the level and scale
/// the instruction requires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Plain {
    /// `value` in the slots of rows `rows.0..rows.1` and columns `cols.0..cols.1` of the unit,
    /// zero elsewhere: masks and constant tensors (padding stays zero).
    Rect {
        value: f64,
        rows: (u32, u32),
        cols: (u32, u32),
    },
    /// `value` on the diagonal `b = a + offset` for rows `rows.0..rows.1` (columns outside the
    /// unit skipped), zero elsewhere: moves a vector between row and column orientation.
    Diagonal {
        value: f64,
        offset: i64,
        rows: (u32, u32),
    },
    /// A packed `plain` (public) program input, sent by the client unencrypted.
    Public { pack: Pack },
}

/// A ciphertext instruction. Operands are [`ValueId`]s of earlier nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// Encrypted input ciphertext `index` of [`Schedule::ct_inputs`].
    Input {
        index: u32,
    },
    Add {
        a: ValueId,
        b: ValueId,
    },
    Sub {
        a: ValueId,
        b: ValueId,
    },
    Neg {
        a: ValueId,
    },
    /// `a + p`, `p` encoded at `a`'s level and scale.
    AddPlain {
        a: ValueId,
        plain: Plain,
    },
    /// `a ⊙ p`, `p` encoded at `a`'s level with scale `scale`.
    MulPlain {
        a: ValueId,
        plain: Plain,
        scale: f64,
    },
    /// `a + value` in every slot.
    AddConst {
        a: ValueId,
        value: f64,
    },
    /// `a * value`, the constant encoded at `scale`.
    MulConst {
        a: ValueId,
        value: f64,
        scale: f64,
    },
    /// `a * k` for a small integer: no level, no scale change.
    MulInt {
        a: ValueId,
        k: i64,
    },
    /// Tensor product (degree 2 until relinearized).
    Mul {
        a: ValueId,
        b: ValueId,
    },
    Relinearize {
        a: ValueId,
    },
    /// Divide by the last prime and drop it.
    Rescale {
        a: ValueId,
    },
    /// Drop primes down to `level` without changing the scale.
    ModDown {
        a: ValueId,
        level: u32,
    },
    /// Cyclic left rotation of the slots by `step` (negative: right).
    Rotate {
        a: ValueId,
        step: i64,
    },
    Conjugate {
        a: ValueId,
    },
    /// The public plaintext `plain` as a noiseless ciphertext `(p, 0)` at `level` and `scale`:
    /// an output that the optimizer made public (a constant, a value of `plain` inputs) still
    /// leaves the server as a ciphertext, without a key.
    Trivial {
        plain: Plain,
        level: u32,
        scale: f64,
    },
    /// `a` refreshed by bootstrapping ([`Schedule::bootstrap`] is the chain): the same slot
    /// values, within the bootstrap's error, at `level` and exactly `scale`. `a` is a
    /// row-replicated tile (its slots repeat with period `unit.w`, which divides the chain's
    /// slot count) with slots of magnitude at most about 1, at any level: the executor drops
    /// it to level 0 first.
    ///
    /// With `with: Some(b)`, `b` (another such tile at `a`'s scale) rides in the same
    /// bootstrap as the imaginary part of the message `a + i·b` (slots are complex; the
    /// schedule's values are real), so one bootstrap refreshes two tiles; the refresh of `b`
    /// is the value of the one [`Instr::BootstrapPaired`] node that names this node.
    Bootstrap {
        a: ValueId,
        level: u32,
        scale: f64,
        with: Option<ValueId>,
    },
    /// The refresh of `b`, the `with` operand of the bootstrap `x` (a [`Instr::Bootstrap`]
    /// node with `with: Some(b)`), at `level` and exactly `scale`: no work of its own.
    BootstrapPaired {
        x: ValueId,
        b: ValueId,
        level: u32,
        scale: f64,
    },
}

impl Instr {
    /// The operand values, in order.
    pub fn operands(&self) -> Vec<ValueId> {
        let mut copy = self.clone();
        copy.operands_mut().into_iter().map(|a| *a).collect()
    }

    /// The operand values, in order, to rewrite (a pass that renumbers nodes).
    pub fn operands_mut(&mut self) -> Vec<&mut ValueId> {
        match self {
            Instr::Input { .. } | Instr::Trivial { .. } => vec![],
            Instr::Add { a, b } | Instr::Sub { a, b } | Instr::Mul { a, b } => vec![a, b],
            Instr::Neg { a }
            | Instr::AddPlain { a, .. }
            | Instr::MulPlain { a, .. }
            | Instr::AddConst { a, .. }
            | Instr::MulConst { a, .. }
            | Instr::MulInt { a, .. }
            | Instr::Relinearize { a }
            | Instr::Rescale { a }
            | Instr::ModDown { a, .. }
            | Instr::Rotate { a, .. }
            | Instr::Conjugate { a }
            | Instr::Bootstrap { a, with: None, .. } => vec![a],
            Instr::Bootstrap {
                a, with: Some(b), ..
            } => vec![a, b],
            Instr::BootstrapPaired { x, b, .. } => vec![x, b],
        }
    }

    /// Short mnemonic, used in reports and cost tables.
    pub fn name(&self) -> &'static str {
        match self {
            Instr::Input { .. } => "input",
            Instr::Add { .. } => "add",
            Instr::Sub { .. } => "sub",
            Instr::Neg { .. } => "neg",
            Instr::AddPlain { .. } => "add_plain",
            Instr::MulPlain { .. } => "mul_plain",
            Instr::AddConst { .. } => "add_const",
            Instr::MulConst { .. } => "mul_const",
            Instr::MulInt { .. } => "mul_int",
            Instr::Mul { .. } => "ct_mul",
            Instr::Relinearize { .. } => "relinearize",
            Instr::Rescale { .. } => "rescale",
            Instr::ModDown { .. } => "mod_down",
            Instr::Rotate { .. } => "rotate",
            Instr::Conjugate { .. } => "conjugate",
            Instr::Trivial { .. } => "trivial",
            Instr::Bootstrap { .. } => "bootstrap",
            Instr::BootstrapPaired { .. } => "bootstrap_paired",
        }
    }
}

/// A node of the server DAG: the instruction plus what the compiler knows about its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub instr: Instr,
    /// Level of the result (index of its last prime).
    pub level: u32,
    /// Exact scale of the result.
    pub scale: f64,
    /// 1, or 2 after a `Mul` before relinearization.
    pub degree: u8,
    /// Predicted bound on the absolute error of every slot of the result (encrypted vs exact).
    pub bound: f64,
    /// The tensor-IR node this instruction implements and its source location, for messages.
    pub origin: Origin,
    /// Index of the last node that reads this value (`None` if only outputs read it, or
    /// nothing): an executor may free the value once that node has run.
    pub last_use: Option<ValueId>,
}

/// Where a schedule node comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Tensor-IR node id (`%n` in `hel ir`).
    pub tensor_node: u32,
    /// The tensor op's mnemonic (`matvec`, `mul`, ...).
    pub tensor_op: String,
    /// `file:line:col` of the source expression, if known.
    pub span: Option<String>,
}

/// One output tensor: its tiles and how to read them back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorOutput {
    pub name: String,
    pub shape: Shape,
    /// Each tile: the node holding it and how to unpack it.
    pub tiles: Vec<OutputTile>,
    /// Predicted bound on the absolute error of every entry.
    pub bound: f64,
    /// Predicted largest magnitude of any entry on inputs from the declared ranges (the
    /// compiler's range analysis): the precision target is relative to it.
    pub range: f64,
}

/// One ciphertext of an output.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputTile {
    pub value: ValueId,
    pub layout: Layout,
    /// The tile holds the entries multiplied by this factor; unpacking divides it out.
    pub factor: f64,
}

/// A complete compiled program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Program name (the source file name).
    pub name: String,
    /// blake3 (hex) of the source text and compile options: keys and ciphertexts made for one
    /// program are refused by another.
    pub program_hash: String,
    pub params: CkksParams,
    /// The scale every value has at each level (index = level), chosen so that products and
    /// rescales land exactly on the next level's scale.
    pub level_scales: Vec<f64>,
    pub unit: Unit,
    pub inputs: Vec<TensorInput>,
    pub derived: Vec<DerivedTensor>,
    pub ct_inputs: Vec<CtInput>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<TensorOutput>,
    /// Rotation steps the evaluation keys must cover (sorted, no duplicates).
    pub rotation_steps: Vec<i64>,
    /// Whether a conjugation key is needed.
    pub needs_conjugation: bool,
    /// Groups of `Rotate` nodes with the same operand, to be evaluated with hoisting.
    pub hoist_groups: Vec<Vec<ValueId>>,
    /// The bootstrapping chain of a schedule with [`Instr::Bootstrap`] nodes (`params` is
    /// its bottom: [`BootstrapParams::program_params`], or fewer of its levels); `None`
    /// for a schedule that never bootstraps.
    pub bootstrap: Option<BootstrapParams>,
}

impl Schedule {
    /// Number of slots per ciphertext.
    pub fn slots(&self) -> usize {
        self.unit.slots()
    }

    /// Whether input ciphertext `i` holds a state input the server refreshes
    /// ([`TensorInput::refreshed_from`]): the server supplies it, the client never encrypts it.
    pub fn is_refreshed_ct(&self, i: usize) -> bool {
        let Some(CtInput {
            pack:
                Pack {
                    source: Source::Input { input, .. },
                    ..
                },
            ..
        }) = self.ct_inputs.get(i)
        else {
            return false;
        };
        self.inputs
            .get(*input as usize)
            .is_some_and(|d| d.refreshed_from.is_some())
    }

    /// The input ciphertexts the client encrypts (every one but the refreshed state), in
    /// order, with their indices in [`Schedule::ct_inputs`].
    pub fn client_ct_inputs(&self) -> impl Iterator<Item = (usize, &CtInput)> {
        self.ct_inputs
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_refreshed_ct(*i))
    }

    /// Fills in [`Node::last_use`] from the operands.
    pub fn compute_liveness(&mut self) {
        let mut last: Vec<Option<ValueId>> = vec![None; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for a in node.instr.operands() {
                last[a as usize] = Some(i as ValueId);
            }
        }
        for (node, l) in self.nodes.iter_mut().zip(last) {
            node.last_use = l;
        }
    }

    /// Values read by the outputs (never freed before the end).
    pub fn output_values(&self) -> Vec<ValueId> {
        let mut v: Vec<ValueId> = self
            .outputs
            .iter()
            .flat_map(|o| o.tiles.iter().map(|t| t.value))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The bootstrap nodes, in order.
    pub fn bootstraps(&self) -> impl Iterator<Item = (ValueId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.instr, Instr::Bootstrap { .. }))
            .map(|(i, n)| (i as ValueId, n))
    }

    /// Multiplicative depth: levels consumed between the highest input and the lowest node.
    /// With bootstraps, the most levels any stretch between refreshes consumes (a bootstrap's
    /// output is a fresh start at its level).
    pub fn depth(&self) -> u32 {
        if self.bootstrap.is_some() {
            return self.segment_depths().into_iter().max().unwrap_or(0);
        }
        let top = self.params.q_bits.len().saturating_sub(1) as u32;
        let low = self.nodes.iter().map(|n| n.level).min().unwrap_or(top);
        top.saturating_sub(low)
    }
}

impl Schedule {
    /// The levels each stretch between refreshes consumes, in order: the first from the
    /// inputs, then one per generation of bootstraps. A bootstrap's generation is one more
    /// than the latest among its operand's, any other node's the latest among its operands'
    /// (the inputs' is 0), so the bootstraps of one refresh (NAG's weights and momentum)
    /// start one stretch together; a stretch's depth is the chain's top minus the lowest
    /// level a node of it reaches.
    pub fn segment_depths(&self) -> Vec<u32> {
        let top = self.params.q_bits.len().saturating_sub(1) as u32;
        let mut generation = vec![0usize; self.nodes.len()];
        let mut low = vec![top];
        for (i, node) in self.nodes.iter().enumerate() {
            let latest = node
                .instr
                .operands()
                .iter()
                .filter_map(|&a| generation.get(a as usize).copied())
                .max()
                .unwrap_or(0);
            // A paired refresh belongs to its bootstrap's generation (an operand).
            let g = latest + usize::from(matches!(node.instr, Instr::Bootstrap { .. }));
            if low.len() <= g {
                low.resize(g + 1, top);
            }
            generation[i] = g;
            low[g] = low[g].min(node.level);
        }
        low.into_iter().map(|l| top.saturating_sub(l)).collect()
    }
}

/// The scale of every level for the prime chain `q` (q_0 first): the bottom level has
/// `2^log_scale` and each level above has `S_l = sqrt(S_{l-1} · q_l)`, so that a product of two
/// level-l values (or a value and a plaintext encoded at `S_l`), rescaled by `q_l`, lands exactly
/// on `S_{l-1}`. Computed from the bottom up the deviation from `2^log_scale` stays within half
/// a prime's relative distance from it (computed top-down it would double at every level).
pub fn level_scales(q: &[u64], log_scale: u32) -> Vec<f64> {
    let mut s = Vec::with_capacity(q.len());
    let mut cur = 2f64.powi(log_scale as i32);
    s.push(cur);
    for &p in q.iter().skip(1) {
        cur = (cur * p as f64).sqrt();
        s.push(cur);
    }
    s
}
