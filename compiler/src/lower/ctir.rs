//! The slot-level IR between layout lowering and ciphertext management: operations on packed
//! slot vectors, without levels, scales, rescales or relinearizations (those are decided by
//! [`super::manage`]). Identical operations are shared (hash-consing), so lowering may ask for
//! the same rotation or product twice at no cost.

use rustc_hash::FxHashMap;

use hel_schedule::{Origin, Plain};
use serde::Serialize;

/// Id of a value in [`CtIr`].
pub type Ct = u32;

/// A slot-level operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum COp {
    /// Encrypted input ciphertext `index` (of the schedule's `ct_inputs`).
    Input(u32),
    Add(Ct, Ct),
    Sub(Ct, Ct),
    Neg(Ct),
    AddPlain(Ct, Plain),
    MulPlain(Ct, Plain),
    MulConst(Ct, f64),
    MulInt(Ct, i64),
    Mul(Ct, Ct),
    Rotate(Ct, i64),
    /// A public plaintext as a noiseless ciphertext (an output the optimizer made public).
    Trivial(Plain),
}

impl COp {
    pub fn operands(&self) -> Vec<Ct> {
        match *self {
            COp::Input(_) | COp::Trivial(_) => vec![],
            COp::Add(a, b) | COp::Sub(a, b) | COp::Mul(a, b) => vec![a, b],
            COp::Neg(a)
            | COp::AddPlain(a, _)
            | COp::MulPlain(a, _)
            | COp::MulConst(a, _)
            | COp::MulInt(a, _)
            | COp::Rotate(a, _) => vec![a],
        }
    }

    /// A hashable identity for sharing: the canonical serialization (f64s by their bits).
    fn key(&self) -> Vec<u8> {
        hel_schedule::canonical_bytes(self)
    }
}

/// The slot-level program: ops in creation (topological) order, each with its origin.
#[derive(Clone, Debug, Default)]
pub struct CtIr {
    pub ops: Vec<COp>,
    pub origins: Vec<Origin>,
    shared: FxHashMap<Vec<u8>, Ct>,
}

impl CtIr {
    /// Adds `op` (or returns the existing identical op). Commutative ops are normalized.
    pub fn push(&mut self, op: COp, origin: &Origin) -> Ct {
        let op = match op {
            COp::Add(a, b) if a > b => COp::Add(b, a),
            COp::Mul(a, b) if a > b => COp::Mul(b, a),
            COp::Rotate(a, 0) | COp::MulInt(a, 1) => return a,
            other => other,
        };
        let key = op.key();
        if let Some(&id) = self.shared.get(&key) {
            return id;
        }
        let id = self.ops.len() as Ct;
        self.ops.push(op);
        self.origins.push(origin.clone());
        self.shared.insert(key, id);
        id
    }

    pub fn op(&self, id: Ct) -> &COp {
        &self.ops[id as usize]
    }
}
