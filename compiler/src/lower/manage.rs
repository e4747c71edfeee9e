//! Ciphertext management: turns the slot-level IR into schedule nodes with levels, exact
//! scales and degrees, inserting rescales, relinearizations and level alignments.
//!
//! Policy:
//! - **Scales.** Every value at level `l` that is not awaiting a rescale has the level's
//!   canonical scale `S_l` ([`hel_schedule::level_scales`]); products of two such
//!   values (or of one and a plaintext encoded at `S_l`) have scale `S_l²` and rescale exactly
//!   onto `S_{l-1}`. So operands of additions always match without correction factors.
//! - **Lazy rescale.** A product stays un-rescaled ("squared") until something needs it
//!   normal (a multiplication, a plaintext addition, an output): sums of products are rescaled
//!   once. A normal value added to a squared one at the same level is lifted by a constant
//!   product encoded at `S_l` (no level consumed).
//! - **Lazy relinearization.** Degree-2 results are relinearized only when a multiplication,
//!   rotation or output needs degree 1, so a sum of products is relinearized once.
//! - **Level alignment** by mod-down. Mod-down keeps the scale, so a value moved from level
//!   `la` to `lb < la` is mod-downed to `lb + 1` and then multiplied by the constant 1 encoded
//!   at `S_lb·q_{lb+1}/S_la` and rescaled: it lands exactly on `S_lb` using a level the value
//!   had to spare anyway (never a level of the critical path).
//! - **Levels of several primes.** Above 2^50 a level is a group of primes (`Chain::group`):
//!   a rescale divides by each of them in turn, mod-downs and inputs land on group boundaries,
//!   and the canonical scales live on those boundaries only.
//! - **Latest levels.** Every value is needed at some level at the latest: the levels still to
//!   be spent below it on its deepest path to an output. Inputs are encrypted by the client
//!   directly at that level (with its scale), and a value rotated while it has levels to spare is
//!   first brought down to it: key switching costs about the square of the number of limbs, so
//!   the work off the critical path (the gradients, conversions, the first iterations' sums of
//!   fresh data) runs on fewer limbs.

use rustc_hash::FxHashMap;

use hel_schedule::{Instr, Node, Origin, ValueId};

use super::ctir::{COp, Ct, CtIr};

/// The modulus chain as management sees it.
pub struct Chain {
    /// Data primes q_0..q_top (as f64; only their ratios to the scales matter).
    pub q: Vec<f64>,
    /// Canonical scale per level (read at group boundaries only).
    pub scales: Vec<f64>,
    /// Primes per level: a rescale divides by this many.
    pub group: u32,
}

impl Chain {
    /// A stand-in chain for the first pass (depth unknown): `top + 1` levels at `2^40`.
    pub fn abstract_chain(top: u32) -> Chain {
        let s = 2f64.powi(40);
        Chain {
            q: vec![s; top as usize + 1],
            scales: vec![s; top as usize + 1],
            group: 1,
        }
    }

    fn top(&self) -> u32 {
        self.q.len() as u32 - 1
    }

    /// The product of the primes a rescale from `level` divides by.
    fn divisor(&self, level: u32) -> f64 {
        let l = level as usize;
        self.q[l + 1 - self.group as usize..=l].iter().product()
    }
}

/// State of an emitted value.
#[derive(Clone, Copy, Debug)]
struct V {
    id: ValueId,
    level: u32,
    scale: f64,
    degree: u8,
    squared: bool,
}

/// Result of management.
pub struct Managed {
    pub nodes: Vec<Node>,
    /// Schedule value of every slot-level value that was emitted (in its final normal form for
    /// outputs: see `outputs`).
    pub outputs: Vec<ValueId>,
    /// Level and scale each input ciphertext is encrypted at.
    pub input_levels: Vec<(u32, f64)>,
    /// Lowest level reached.
    pub min_level: u32,
}

/// Level-management failure (the chain is too short).
#[derive(Debug)]
pub struct OutOfLevels {
    pub origin: Origin,
}

struct Manager<'a> {
    chain: &'a Chain,
    nodes: Vec<Node>,
    relin: FxHashMap<ValueId, V>,
    rescaled: FxHashMap<ValueId, V>,
    aligned: FxHashMap<(ValueId, u32), V>,
    lifted: FxHashMap<ValueId, V>,
    origin: Origin,
}

impl Manager<'_> {
    fn emit(&mut self, instr: Instr, level: u32, scale: f64, degree: u8, squared: bool) -> V {
        let id = self.nodes.len() as ValueId;
        self.nodes.push(Node {
            instr,
            level,
            scale,
            degree,
            bound: 0.0,
            origin: self.origin.clone(),
            last_use: None,
        });
        V {
            id,
            level,
            scale,
            degree,
            squared,
        }
    }

    fn relinearize(&mut self, v: V) -> V {
        if v.degree == 1 {
            return v;
        }
        if let Some(r) = self.relin.get(&v.id) {
            return *r;
        }
        let r = self.emit(
            Instr::Relinearize { a: v.id },
            v.level,
            v.scale,
            1,
            v.squared,
        );
        self.relin.insert(v.id, r);
        r
    }

    fn rescale(&mut self, v: V) -> Result<V, OutOfLevels> {
        if !v.squared {
            return Ok(v);
        }
        if let Some(r) = self.rescaled.get(&v.id) {
            return Ok(*r);
        }
        if v.level < self.chain.group {
            return Err(OutOfLevels {
                origin: self.origin.clone(),
            });
        }
        let r = self.relinearize(v);
        let r = self.drop_level(r);
        self.rescaled.insert(v.id, r);
        Ok(r)
    }

    /// `r` rescaled by one level of the chain: one prime, or each prime of a two-prime level.
    fn drop_level(&mut self, mut r: V) -> V {
        for _ in 0..self.chain.group {
            let q = self.chain.q[r.level as usize];
            r = self.emit(
                Instr::Rescale { a: r.id },
                r.level - 1,
                r.scale / q,
                r.degree,
                false,
            );
        }
        r
    }

    /// A normal, degree-1 version of `v`.
    fn normal(&mut self, v: V) -> Result<V, OutOfLevels> {
        let v = self.rescale(v)?;
        Ok(self.relinearize(v))
    }

    /// Moves a normal value down to `level` with its canonical scale.
    fn align(&mut self, v: V, level: u32) -> V {
        if v.level <= level {
            return v;
        }
        if let Some(r) = self.aligned.get(&(v.id, level)) {
            return *r;
        }
        let mut x = v;
        let above = level + self.chain.group;
        if x.level > above {
            x = self.emit(
                Instr::ModDown {
                    a: x.id,
                    level: above,
                },
                above,
                x.scale,
                x.degree,
                false,
            );
        }
        let q = self.chain.divisor(above);
        let c = self.chain.scales[level as usize] * q / x.scale;
        let mut r = self.emit(
            Instr::MulConst {
                a: x.id,
                value: 1.0,
                scale: c,
            },
            above,
            x.scale * c,
            x.degree,
            true,
        );
        r = self.drop_level(r);
        self.aligned.insert((v.id, level), r);
        r
    }

    /// A normal value as a squared one at its own level (times 1 encoded at `S_l`).
    fn lift(&mut self, v: V) -> V {
        if let Some(r) = self.lifted.get(&v.id) {
            return *r;
        }
        let s = self.chain.scales[v.level as usize];
        let r = self.emit(
            Instr::MulConst {
                a: v.id,
                value: 1.0,
                scale: s,
            },
            v.level,
            v.scale * s,
            v.degree,
            true,
        );
        self.lifted.insert(v.id, r);
        r
    }

    /// Brings two operands of an addition to the same level, scale and state.
    fn match_pair(&mut self, a: V, b: V) -> Result<(V, V), OutOfLevels> {
        match (a.squared, b.squared) {
            (false, false) => {
                let l = a.level.min(b.level);
                Ok((self.align(a, l), self.align(b, l)))
            }
            (true, true) if a.level == b.level => Ok((a, b)),
            (true, true) => {
                // Rescale the higher one, then match it as a normal value.
                if a.level > b.level {
                    let a = self.rescale(a)?;
                    self.match_pair(a, b)
                } else {
                    let b = self.rescale(b)?;
                    self.match_pair(a, b)
                }
            }
            (true, false) | (false, true) => {
                let (sq, nm, swapped) = if a.squared {
                    (a, b, false)
                } else {
                    (b, a, true)
                };
                let (x, y) = if nm.level >= sq.level {
                    let nm = self.align(nm, sq.level);
                    (sq, self.lift(nm))
                } else {
                    let sq = self.rescale(sq)?;
                    let l = sq.level.min(nm.level);
                    (self.align(sq, l), self.align(nm, l))
                };
                Ok(if swapped { (y, x) } else { (x, y) })
            }
        }
    }
}

/// Manages the live part of `ir` (the values `outputs` need) on `chain`, whose lowest levels are
/// left unused if it is longer than the depth.
pub fn manage(
    ir: &CtIr,
    outputs: &[Ct],
    n_inputs: usize,
    chain: &Chain,
) -> Result<Managed, OutOfLevels> {
    let live = live_set(ir, outputs);
    let eager_relin = needs_degree_one(ir, outputs, &live);
    let need = levels_needed(ir, &live);
    let depth = need.iter().copied().max().unwrap_or(0);
    // The level every value is needed at at the latest, counted from the chain's bottom (the
    // levels below the critical path's lowest point are never used).
    let g = chain.group;
    let base = chain.top().saturating_sub(g * depth);
    let mut m = Manager {
        chain,
        nodes: Vec::new(),
        relin: FxHashMap::default(),
        rescaled: FxHashMap::default(),
        aligned: FxHashMap::default(),
        lifted: FxHashMap::default(),
        origin: Origin::default(),
    };
    let top = chain.top();
    let mut vals: Vec<Option<V>> = vec![None; ir.ops.len()];
    let mut input_at: Vec<(u32, f64)> = vec![(top, chain.scales[top as usize]); n_inputs];
    let get = |vals: &[Option<V>], c: Ct| vals[c as usize].ok_or(c);
    for (k, op) in ir.ops.iter().enumerate() {
        if !live[k] {
            continue;
        }
        m.origin = ir.origins[k].clone();
        let arg = |i: usize| -> V {
            let c = op.operands()[i];
            match get(&vals, c) {
                Ok(v) => v,
                Err(_) => unreachable!("operands precede their users in the slot-level IR"),
            }
        };
        let v = match op {
            COp::Input(i) => {
                // The client encrypts an input at the lowest level its consumers can use it
                // at: its work runs on fewer limbs, and it is smaller.
                let l = (base + g * need[k]).min(top);
                let s = chain.scales[l as usize];
                input_at[*i as usize] = (l, s);
                m.emit(Instr::Input { index: *i }, l, s, 1, false)
            }
            COp::Trivial(plain) => {
                let l = (base + need[k]).min(top);
                let s = chain.scales[l as usize];
                m.emit(
                    Instr::Trivial {
                        plain: plain.clone(),
                        level: l,
                        scale: s,
                    },
                    l,
                    s,
                    1,
                    false,
                )
            }
            COp::Add(..) | COp::Sub(..) => {
                let (a, b) = m.match_pair(arg(0), arg(1))?;
                let instr = if matches!(op, COp::Add(..)) {
                    Instr::Add { a: a.id, b: b.id }
                } else {
                    Instr::Sub { a: a.id, b: b.id }
                };
                m.emit(instr, a.level, a.scale, a.degree.max(b.degree), a.squared)
            }
            COp::Neg(_) => {
                let a = arg(0);
                m.emit(
                    Instr::Neg { a: a.id },
                    a.level,
                    a.scale,
                    a.degree,
                    a.squared,
                )
            }
            COp::MulInt(_, k) => {
                let a = arg(0);
                m.emit(
                    Instr::MulInt { a: a.id, k: *k },
                    a.level,
                    a.scale,
                    a.degree,
                    a.squared,
                )
            }
            COp::AddPlain(_, p) => {
                let a = m.normal(arg(0))?;
                let instr = Instr::AddPlain {
                    a: a.id,
                    plain: p.clone(),
                };
                m.emit(instr, a.level, a.scale, 1, false)
            }
            COp::MulPlain(_, p) => {
                let a = m.normal(arg(0))?;
                let s = chain.scales[a.level as usize];
                let instr = Instr::MulPlain {
                    a: a.id,
                    plain: p.clone(),
                    scale: s,
                };
                m.emit(instr, a.level, a.scale * s, 1, true)
            }
            COp::MulConst(_, c) => {
                let a = m.normal(arg(0))?;
                let s = chain.scales[a.level as usize];
                let instr = Instr::MulConst {
                    a: a.id,
                    value: *c,
                    scale: s,
                };
                m.emit(instr, a.level, a.scale * s, 1, true)
            }
            COp::Mul(..) => {
                let a = m.normal(arg(0))?;
                let b = m.normal(arg(1))?;
                let l = a.level.min(b.level);
                let (a, b) = (m.align(a, l), m.align(b, l));
                m.emit(
                    Instr::Mul { a: a.id, b: b.id },
                    l,
                    a.scale * b.scale,
                    2,
                    true,
                )
            }
            COp::Rotate(_, step) => {
                // Key switching costs about the square of the limbs: a value with slack is
                // brought down to the level it is needed at before it is rotated.
                let a = arg(0);
                let target = base + g * need[k];
                let a = if a.level > target {
                    let a = m.normal(a)?;
                    m.align(a, target)
                } else {
                    a
                };
                let a = m.relinearize(a);
                let instr = Instr::Rotate {
                    a: a.id,
                    step: *step,
                };
                m.emit(instr, a.level, a.scale, 1, a.squared)
            }
        };
        // A value some consumer needs at degree 1 is relinearized once, right away, and every
        // consumer gets that version: otherwise `x + rot(x)` keeps degree 2 and the next
        // rotation of a rotate-and-sum would relinearize again (once per step).
        let v = if eager_relin[k] { m.relinearize(v) } else { v };
        vals[k] = Some(v);
    }
    let mut outs = Vec::with_capacity(outputs.len());
    for &o in outputs {
        let v = vals[o as usize].ok_or(OutOfLevels {
            origin: Origin::default(),
        })?;
        m.origin = ir.origins[o as usize].clone();
        outs.push(m.normal(v)?.id);
    }
    let min_level = m.nodes.iter().map(|n| n.level).min().unwrap_or(top);
    Ok(Managed {
        nodes: m.nodes,
        outputs: outs,
        input_levels: input_at,
        min_level,
    })
}

/// Which live values have a consumer that needs them at degree 1 (a multiplication, rotation,
/// plaintext operation or output); sums that only feed other sums stay degree 2.
fn needs_degree_one(ir: &CtIr, outputs: &[Ct], live: &[bool]) -> Vec<bool> {
    let mut need = vec![false; ir.ops.len()];
    for &o in outputs {
        need[o as usize] = true;
    }
    for (k, op) in ir.ops.iter().enumerate() {
        if !live[k] {
            continue;
        }
        if matches!(
            op,
            COp::Mul(..)
                | COp::Rotate(..)
                | COp::MulPlain(..)
                | COp::MulConst(..)
                | COp::AddPlain(..)
        ) {
            for a in op.operands() {
                need[a as usize] = true;
            }
        }
    }
    need
}

/// For every live value, how many levels must remain below it: the most, over its consumers,
/// of what the consumer needs plus the level a product (ciphertext, plaintext or constant)
/// consumes. Outputs need none.
fn levels_needed(ir: &CtIr, live: &[bool]) -> Vec<u32> {
    let mut need = vec![0u32; ir.ops.len()];
    for k in (0..ir.ops.len()).rev() {
        if !live[k] {
            continue;
        }
        let op = &ir.ops[k];
        let spent = u32::from(matches!(
            op,
            COp::Mul(..) | COp::MulPlain(..) | COp::MulConst(..)
        ));
        let here = need[k] + spent;
        for a in op.operands() {
            let n = &mut need[a as usize];
            *n = (*n).max(here);
        }
    }
    need
}

/// Which slot-level values the outputs depend on.
fn live_set(ir: &CtIr, outputs: &[Ct]) -> Vec<bool> {
    let mut live = vec![false; ir.ops.len()];
    for &o in outputs {
        live[o as usize] = true;
    }
    for k in (0..ir.ops.len()).rev() {
        if live[k] {
            for a in ir.ops[k].operands() {
                live[a as usize] = true;
            }
        }
    }
    live
}
