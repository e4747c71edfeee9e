//! Constant folding into plaintext products, on the slot-level program: a product by a
//! constant `c` on the critical path costs a level of its own, but `c · x` equals `x` rebuilt
//! with `c` moved into the products `x` is a linear combination of (`c · Σ rot(m ⊙ y)` is
//! `Σ rot((c m) ⊙ y)`), and a mask or a public factor absorbs `c` for free.
//!
//! The tensor depth model already counts a public scalar as free wherever a plaintext product
//! is near; the layouts put masks (to select a row, a diagonal, a block) where the tensor
//! program has none, so the constants of the source (a learning rate, a polynomial's
//! coefficient) often sit a few rotations away from a mask. For gradient descent on
//! logistic regression this is one level per iteration's linear term of the sigmoid.
//!
//! Only constants on a critical path are folded: a fold may rebuild the rotations between the
//! constant and the masks (when the masked value has other users), which costs key switches,
//! and off the critical path it buys nothing.

use rustc_hash::FxHashMap;

use hel_schedule::Origin;

use super::ctir::{COp, Ct, CtIr};
use super::emit::scale_plain;

/// Most operations a fold may rebuild for one constant (its linear cone down to the products).
const MAX_CONE: usize = 256;

/// The slot-level program with every critical constant product folded into the plaintext
/// products below it where that is possible, and the outputs' new values.
pub(super) fn fold_constants(ir: &CtIr, outputs: &[Ct]) -> (CtIr, Vec<Ct>) {
    let (before, critical) = critical(ir, outputs);
    let mut out = CtIr::default();
    let mut map: Vec<Ct> = Vec::with_capacity(ir.ops.len());
    for (k, op) in ir.ops.iter().enumerate() {
        let origin = &ir.origins[k];
        let new = match *op {
            COp::MulConst(x, c) if critical[k] && foldable(ir, &before, x) => Fold {
                ir,
                before: &before,
                target: before[x as usize],
                out: &mut out,
                map: &map,
                memo: FxHashMap::default(),
            }
            .scaled(x, c),
            _ => {
                let remapped = remap(op, &map);
                out.push(remapped, origin)
            }
        };
        map.push(new);
    }
    let outputs = outputs.iter().map(|&o| map[o as usize]).collect();
    (out, outputs)
}

/// `op` with its operands renamed by `map`.
fn remap(op: &COp, map: &[Ct]) -> COp {
    let m = |a: Ct| map[a as usize];
    match op.clone() {
        COp::Input(i) => COp::Input(i),
        COp::Trivial(p) => COp::Trivial(p),
        COp::Add(a, b) => COp::Add(m(a), m(b)),
        COp::Sub(a, b) => COp::Sub(m(a), m(b)),
        COp::Mul(a, b) => COp::Mul(m(a), m(b)),
        COp::Neg(a) => COp::Neg(m(a)),
        COp::AddPlain(a, p) => COp::AddPlain(m(a), p),
        COp::MulPlain(a, p) => COp::MulPlain(m(a), p),
        COp::MulConst(a, c) => COp::MulConst(m(a), c),
        COp::MulInt(a, k) => COp::MulInt(m(a), k),
        COp::Rotate(a, s) => COp::Rotate(m(a), s),
    }
}

/// Can `c · x` be had without a level of its own? `x` is a linear combination (additions,
/// negations, rotations, integer factors) of terms; each term must absorb `c` at no cost
/// (a plaintext or constant product takes it into its factor), or have a level to spare for a
/// product by `c` of its own (it comes earlier than `x`). Within [`MAX_CONE`] operations.
///
/// A product of two ciphertexts on the critical path is not passed through: `c` would move to
/// the start of a chain of products (`0.001 · x^7` as `x^6 · (0.001 x)`), where a small factor
/// shrinks every later value against the same absolute noise (a degree-7 polynomial at -O0
/// lost 6 bits that way).
fn foldable(ir: &CtIr, before: &[u32], x: Ct) -> bool {
    let target = before[x as usize];
    let mut seen = FxHashMap::default();
    let mut stack = vec![x];
    while let Some(v) = stack.pop() {
        if seen.insert(v, ()).is_some() {
            continue;
        }
        if seen.len() > MAX_CONE {
            return false;
        }
        match *ir.op(v) {
            COp::MulPlain(..) | COp::MulConst(..) => {}
            _ if before[v as usize] < target => {}
            COp::Add(a, b) | COp::Sub(a, b) => stack.extend([a, b]),
            COp::Neg(a) | COp::Rotate(a, _) | COp::MulInt(a, _) | COp::AddPlain(a, _) => {
                stack.push(a)
            }
            COp::Input(_) | COp::Trivial(_) | COp::Mul(..) => return false,
        }
    }
    true
}

/// One fold of a constant into the terms of `x` ([`foldable`]): the program being rebuilt
/// (`out`), the new name of every value already rebuilt (`map`), and the copies made so far.
struct Fold<'a> {
    ir: &'a CtIr,
    before: &'a [u32],
    /// Products before the folded value: a term that comes earlier has a level to spare.
    target: u32,
    out: &'a mut CtIr,
    map: &'a [Ct],
    memo: FxHashMap<Ct, Ct>,
}

impl Fold<'_> {
    /// `c · x` in `out`, with `c` moved into the terms of `x`.
    fn scaled(&mut self, x: Ct, c: f64) -> Ct {
        if let Some(&v) = self.memo.get(&x) {
            return v;
        }
        let origin = self.ir.origins[x as usize].clone();
        let m = |a: Ct| self.map[a as usize];
        let op = match self.ir.op(x).clone() {
            COp::MulPlain(a, p) => COp::MulPlain(m(a), scale_plain(p, c)),
            COp::MulConst(a, c2) => COp::MulConst(m(a), c * c2),
            _ if self.before[x as usize] < self.target => COp::MulConst(m(x), c),
            COp::Add(a, b) => COp::Add(self.scaled(a, c), self.scaled(b, c)),
            COp::Sub(a, b) => COp::Sub(self.scaled(a, c), self.scaled(b, c)),
            COp::Neg(a) => COp::Neg(self.scaled(a, c)),
            COp::Rotate(a, s) => COp::Rotate(self.scaled(a, c), s),
            COp::MulInt(a, k) => COp::MulInt(self.scaled(a, c), k),
            COp::AddPlain(a, p) => COp::AddPlain(self.scaled(a, c), scale_plain(p, c)),
            // `foldable` admits none of these at the folded value's depth; were one there, it
            // would keep its own product by `c`.
            COp::Input(_) | COp::Trivial(_) | COp::Mul(..) => COp::MulConst(m(x), c),
        };
        self.finish(x, op, &origin)
    }

    /// Adds `op`, the scaled copy of `x`, and remembers it.
    fn finish(&mut self, x: Ct, op: COp, origin: &Origin) -> Ct {
        let v = self.out.push(op, origin);
        self.memo.insert(x, v);
        v
    }
}

/// Which values lie on a longest chain of products from an input to an output: the products
/// before a value (its own included) plus the levels its users need after it equal the depth.
fn critical(ir: &CtIr, outputs: &[Ct]) -> (Vec<u32>, Vec<bool>) {
    let n = ir.ops.len();
    let spends = |op: &COp| {
        u32::from(matches!(
            op,
            COp::Mul(..) | COp::MulPlain(..) | COp::MulConst(..)
        ))
    };
    let mut before = vec![0u32; n];
    for (k, op) in ir.ops.iter().enumerate() {
        let most = op
            .operands()
            .iter()
            .map(|&a| before[a as usize])
            .max()
            .unwrap_or(0);
        before[k] = most + spends(op);
    }
    let mut live = vec![false; n];
    for &o in outputs {
        live[o as usize] = true;
    }
    let mut after = vec![0u32; n];
    for k in (0..n).rev() {
        if !live[k] {
            continue;
        }
        let here = after[k] + spends(&ir.ops[k]);
        for a in ir.ops[k].operands() {
            live[a as usize] = true;
            after[a as usize] = after[a as usize].max(here);
        }
    }
    let depth = outputs
        .iter()
        .map(|&o| before[o as usize])
        .max()
        .unwrap_or(0);
    let critical = (0..n)
        .map(|k| live[k] && before[k] + after[k] == depth)
        .collect();
    (before, critical)
}
