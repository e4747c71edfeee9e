//! Encrypted execution: every node on real ciphertexts, checked against the level, degree and
//! scale the compiler recorded for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{scales_match, CostTable, Evaluator, ExecError};
use crate::ckks::{Ciphertext, Context, GaloisKeys, Plaintext, RelinKey, SeededCiphertext};
use crate::schedule::{
    eval_derived, plain_slots, Instr, Node, Pack, Plain, Schedule, Source, Tensor, ValueId,
};

/// Evaluates a schedule on ciphertexts. An evaluator serves one run: the input ciphertexts
/// are moved into the run at their last use rather than copied.
///
/// Public plaintext operands are encoded on demand and cached by (plaintext, level, scale):
/// masks repeat a lot. A cached encoding is dropped after its last use (uses are counted from
/// the schedule up front), so the cache never holds more than the plaintexts still to come.
/// Two nodes asking for the same plaintext at the same moment may both encode it: waiting for
/// the other encoder could deadlock, because under rayon's work stealing the waiting node can
/// be running on the encoding thread's own stack.
pub struct CkksEvaluator<'a> {
    ctx: &'a Context,
    schedule: &'a Schedule,
    relin: &'a RelinKey,
    galois: &'a GaloisKeys,
    /// Input ciphertexts; moved out at their last use instead of copied.
    inputs: Vec<Mutex<Option<InputCt>>>,
    input_uses: Vec<AtomicUsize>,
    /// Plain program inputs by input index (empty for encrypted inputs).
    public: Vec<Vec<Tensor>>,
    /// Derived tensors computable from the public inputs alone.
    derived: Vec<Option<Tensor>>,
    /// Number of nodes using each distinct plaintext encoding.
    plain_uses: HashMap<Vec<u8>, usize>,
    cache: Mutex<HashMap<Vec<u8>, CachedPlain>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Decides whether hoisting a group of rotations pays off.
    costs: CostTable,
    /// The bootstrapping circuit and keys, for a schedule with bootstraps.
    refresher: Option<super::Refresher<'a>>,
    /// Per bootstrap with a second tile, the node that takes that tile's refresh.
    paired_by: HashMap<ValueId, ValueId>,
    /// The second tiles' refreshes, from their bootstrap until their node takes them.
    paired: Mutex<HashMap<ValueId, Ciphertext>>,
}

struct CachedPlain {
    pt: Arc<Plaintext>,
    /// Uses not yet served.
    remaining: usize,
}

/// Identifies one plaintext encoding: the canonical serialization of the plaintext, its level
/// and its scale's bits.
pub(crate) fn plain_key(plain: &Plain, level: u32, scale: f64) -> Vec<u8> {
    crate::schedule::canonical_bytes(&(plain, level, scale.to_bits()))
}

/// The level and scale a node's plaintext operand is encoded at (from the schedule's record of
/// the operand), or `None` for nodes without one.
pub(crate) fn plain_operand(schedule: &Schedule, node: &Node) -> Option<(Plain, u32, f64)> {
    let (a, plain, scale) = match &node.instr {
        Instr::AddPlain { a, plain } => (a, plain, None),
        Instr::MulPlain { a, plain, scale } => (a, plain, Some(*scale)),
        Instr::Trivial {
            plain,
            level,
            scale,
        } => return Some((plain.clone(), *level, *scale)),
        _ => return None,
    };
    let operand = schedule.nodes.get(*a as usize)?;
    Some((plain.clone(), operand.level, scale.unwrap_or(operand.scale)))
}

/// An input ciphertext as the evaluator holds it until its uses: seed-compressed inputs are
/// expanded only when first needed, so an upload never sits in memory twice (compressed and
/// expanded) and each expanded input lives only from its first to its last use.
enum InputCt {
    Full(Ciphertext),
    Seeded(SeededCiphertext),
}

impl InputCt {
    fn shape(&self) -> (usize, f64, usize) {
        match self {
            InputCt::Full(c) => (c.level(), c.scale(), c.degree()),
            InputCt::Seeded(c) => (c.level(), c.scale(), 1),
        }
    }
}

impl<'a> CkksEvaluator<'a> {
    /// `inputs[i]` is the ciphertext for [`Schedule::ct_inputs`]`[i]`; `public[i]` the
    /// elements of user input `i` if it is a `plain` input (anything, e.g. empty, for encrypted
    /// ones). Checks the inputs' levels, scales and shapes against the schedule.
    pub fn new(
        ctx: &'a Context,
        schedule: &'a Schedule,
        relin: &'a RelinKey,
        galois: &'a GaloisKeys,
        inputs: Vec<Ciphertext>,
        public: Vec<Vec<Tensor>>,
    ) -> Result<Self, ExecError> {
        let inputs = inputs.into_iter().map(InputCt::Full).collect();
        Self::build(ctx, schedule, relin, galois, inputs, public)
    }

    /// Like [`CkksEvaluator::new`], with seed-compressed inputs (as uploaded), each expanded
    /// at its first use.
    pub fn new_seeded(
        ctx: &'a Context,
        schedule: &'a Schedule,
        relin: &'a RelinKey,
        galois: &'a GaloisKeys,
        inputs: Vec<SeededCiphertext>,
        public: Vec<Vec<Tensor>>,
    ) -> Result<Self, ExecError> {
        Self::new_seeded_with_state(ctx, schedule, relin, galois, inputs, Vec::new(), public)
    }

    /// [`CkksEvaluator::new_seeded`] for a schedule whose state the server refreshes:
    /// `client` holds the ciphertexts the client encrypted ([`Schedule::client_ct_inputs`]),
    /// `state` those of the refreshed state inputs, in the order of their `ct_inputs` entries
    /// (see [`super::Refresher`]).
    pub fn new_seeded_with_state(
        ctx: &'a Context,
        schedule: &'a Schedule,
        relin: &'a RelinKey,
        galois: &'a GaloisKeys,
        client: Vec<SeededCiphertext>,
        state: Vec<Ciphertext>,
        public: Vec<Vec<Tensor>>,
    ) -> Result<Self, ExecError> {
        let refreshed = (0..schedule.ct_inputs.len())
            .filter(|&i| schedule.is_refreshed_ct(i))
            .count();
        if state.len() != refreshed {
            return Err(ExecError::Input(format!(
                "the schedule's refreshed state takes {refreshed} ciphertext(s) from the \
                 server, got {}",
                state.len()
            )));
        }
        let expected = schedule.ct_inputs.len() - refreshed;
        if client.len() != expected {
            return Err(ExecError::Input(format!(
                "the schedule takes {expected} input ciphertexts from the client, got {}",
                client.len()
            )));
        }
        let (mut client, mut state) = (client.into_iter(), state.into_iter());
        let inputs = (0..schedule.ct_inputs.len())
            .filter_map(|i| {
                if schedule.is_refreshed_ct(i) {
                    state.next().map(InputCt::Full)
                } else {
                    client.next().map(InputCt::Seeded)
                }
            })
            .collect();
        Self::build(ctx, schedule, relin, galois, inputs, public)
    }

    fn build(
        ctx: &'a Context,
        schedule: &'a Schedule,
        relin: &'a RelinKey,
        galois: &'a GaloisKeys,
        inputs: Vec<InputCt>,
        public: Vec<Vec<Tensor>>,
    ) -> Result<Self, ExecError> {
        if ctx.params() != &schedule.params {
            return Err(ExecError::Input(
                "the CKKS context was built for other parameters than the schedule's".into(),
            ));
        }
        if inputs.len() != schedule.ct_inputs.len() {
            return Err(ExecError::Input(format!(
                "the schedule takes {} input ciphertexts, got {}",
                schedule.ct_inputs.len(),
                inputs.len()
            )));
        }
        for (i, (ct, want)) in inputs.iter().zip(&schedule.ct_inputs).enumerate() {
            let (level, scale, degree) = ct.shape();
            if level != want.level as usize || !scales_match(scale, want.scale) || degree != 1 {
                return Err(ExecError::Input(format!(
                    "input ciphertext {i} ({}) is at level {} with scale 2^{:.4} and degree {}; \
                     the schedule expects level {} with scale 2^{:.4} and degree 1",
                    source_name(schedule, &want.pack),
                    level,
                    scale.log2(),
                    degree,
                    want.level,
                    want.scale.log2()
                )));
            }
        }
        for (i, decl) in schedule.inputs.iter().enumerate() {
            if decl.encrypted {
                continue;
            }
            let given = public.get(i).map_or(&[][..], |v| v.as_slice());
            if given.len() != decl.elements() {
                return Err(ExecError::Input(format!(
                    "plain input `{}` expects {} tensor(s), got {}",
                    decl.name,
                    decl.elements(),
                    given.len()
                )));
            }
            if let Some(t) = given
                .iter()
                .find(|t| t.shape != decl.shape || t.data.len() != decl.shape.len())
            {
                return Err(ExecError::Input(format!(
                    "plain input `{}` has shape {}, expected {}",
                    decl.name, t.shape, decl.shape
                )));
            }
        }
        let derived = schedule
            .derived
            .iter()
            .map(|d| {
                eval_derived(d, |i, e| {
                    let decl = schedule.inputs.get(i as usize)?;
                    if decl.encrypted {
                        return None;
                    }
                    public.get(i as usize)?.get(e as usize)
                })
            })
            .collect();
        let mut input_uses = vec![0usize; inputs.len()];
        let mut plain_uses: HashMap<Vec<u8>, usize> = HashMap::new();
        for node in &schedule.nodes {
            if let Instr::Input { index } = node.instr {
                if let Some(u) = input_uses.get_mut(index as usize) {
                    *u += 1;
                }
            }
            if let Some((plain, level, scale)) = plain_operand(schedule, node) {
                *plain_uses
                    .entry(plain_key(&plain, level, scale))
                    .or_default() += 1;
            }
        }
        Ok(CkksEvaluator {
            ctx,
            schedule,
            relin,
            galois,
            inputs: inputs.into_iter().map(|c| Mutex::new(Some(c))).collect(),
            input_uses: input_uses.into_iter().map(AtomicUsize::new).collect(),
            public,
            derived,
            plain_uses,
            cache: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            costs: CostTable::default(),
            refresher: None,
            paired_by: schedule
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| match n.instr {
                    Instr::BootstrapPaired { x, .. } => Some((x, i as ValueId)),
                    _ => None,
                })
                .collect(),
            paired: Mutex::new(HashMap::new()),
        })
    }

    /// Runs the schedule's bootstraps with `refresher` (the chain's circuit and the client's
    /// bootstrapping keys); checks that the chain is the schedule's and that this context is
    /// its bottom. A schedule with bootstraps fails at its first one without.
    pub fn with_refresher(mut self, refresher: super::Refresher<'a>) -> Result<Self, ExecError> {
        refresher.check_schedule(self.ctx, self.schedule)?;
        self.refresher = Some(refresher);
        Ok(self)
    }

    /// Uses `table` (e.g. calibrated on this machine) instead of [`CostTable::default`] to
    /// decide when hoisting rotations is faster than rotating separately.
    pub fn with_cost_table(mut self, table: CostTable) -> Self {
        self.costs = table;
        self
    }

    /// The CKKS context.
    pub fn context(&self) -> &'a Context {
        self.ctx
    }

    /// Plaintext encodings served from the cache and encodings computed, so far.
    pub fn plaintext_cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn input(&self, id: ValueId, node: &Node, index: u32) -> Result<Ciphertext, ExecError> {
        let (Some(slot), Some(uses)) = (
            self.inputs.get(index as usize),
            self.input_uses.get(index as usize),
        ) else {
            return Err(ExecError::missing(
                id,
                node,
                format!("input ciphertext {index}"),
            ));
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let last = uses.fetch_sub(1, Ordering::AcqRel) == 1;
        let expand = |c: &SeededCiphertext| {
            self.ctx
                .expand_seeded(c)
                .map_err(|e| ExecError::ckks(id, node, e))
        };
        // An input read again later is expanded once and kept expanded until its last use.
        if !last {
            if let Some(InputCt::Seeded(c)) = slot.as_ref() {
                let full = expand(c)?;
                *slot = Some(InputCt::Full(full));
            }
        }
        let ct = match (last, slot.as_ref()) {
            (false, Some(InputCt::Full(c))) => Some(c.clone()),
            (true, _) => match slot.take() {
                Some(InputCt::Full(c)) => Some(c),
                Some(InputCt::Seeded(c)) => Some(expand(&c)?),
                None => None,
            },
            _ => None,
        };
        ct.ok_or_else(|| {
            ExecError::missing(
                id,
                node,
                format!("input ciphertext {index} (already used by an earlier run?)"),
            )
        })
    }

    fn public_tensor(&self, pack: &Pack) -> Option<&Tensor> {
        match pack.source {
            Source::Input { input, element } => {
                if self.schedule.inputs.get(input as usize)?.encrypted {
                    return None;
                }
                self.public.get(input as usize)?.get(element as usize)
            }
            Source::Derived { index } => self.derived.get(index as usize)?.as_ref(),
        }
    }

    /// The encoding of a node's plaintext operand, from the cache when it is used again later.
    fn plaintext(&self, id: ValueId, node: &Node) -> Result<Arc<Plaintext>, ExecError> {
        let (plain, level, scale) = plain_operand(self.schedule, node)
            .ok_or_else(|| ExecError::missing(id, node, "plaintext operand"))?;
        let key = plain_key(&plain, level, scale);
        let take = |cache: &mut HashMap<Vec<u8>, CachedPlain>| {
            let entry = cache.get_mut(&key)?;
            entry.remaining = entry.remaining.saturating_sub(1);
            let pt = entry.pt.clone();
            if entry.remaining == 0 {
                cache.remove(&key);
            }
            Some(pt)
        };
        if let Some(pt) = take(&mut self.cache.lock().unwrap_or_else(|e| e.into_inner())) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pt);
        }
        let slots = plain_slots(self.schedule.unit, &plain, |p| self.public_tensor(p))
            .ok_or_else(|| ExecError::missing(id, node, describe_plain(self.schedule, &plain)))?;
        let pt = Arc::new(
            self.ctx
                .encode(&slots, level as usize, scale)
                .map_err(|e| ExecError::ckks(id, node, e))?,
        );
        self.misses.fetch_add(1, Ordering::Relaxed);
        let uses = self.plain_uses.get(&key).copied().unwrap_or(1);
        if uses > 1 {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            // Another thread may have encoded the same plaintext meanwhile: then this use
            // counts against its entry.
            if take(&mut cache).is_none() {
                cache.insert(
                    key,
                    CachedPlain {
                        pt: pt.clone(),
                        remaining: uses - 1,
                    },
                );
            }
        }
        Ok(pt)
    }

    /// Checks an evaluated ciphertext against the node's recorded level, degree and scale.
    fn check(&self, id: ValueId, node: &Node, ct: &Ciphertext) -> Result<(), ExecError> {
        if ct.level() != node.level as usize
            || ct.degree() != node.degree as usize
            || !scales_match(ct.scale(), node.scale)
        {
            return Err(ExecError::mismatch(
                id,
                node,
                format!(
                    "the result has level {}, degree {}, scale 2^{:.6}; the schedule records \
                     level {}, degree {}, scale 2^{:.6}",
                    ct.level(),
                    ct.degree(),
                    ct.scale().log2(),
                    node.level,
                    node.degree,
                    node.scale.log2()
                ),
            ));
        }
        Ok(())
    }
}

/// `input `x` element 0` / `derived tensor `Z[1] @ ...``, for messages.
fn source_name(schedule: &Schedule, pack: &Pack) -> String {
    match pack.source {
        Source::Input { input, element } => match schedule.inputs.get(input as usize) {
            Some(i) if i.seq.is_some() => format!("input `{}[{element}]`", i.name),
            Some(i) => format!("input `{}`", i.name),
            None => format!("input #{input}"),
        },
        Source::Derived { index } => match schedule.derived.get(index as usize) {
            Some(d) => format!("derived tensor `{}` = {}", d.name, d.description),
            None => format!("derived tensor #{index}"),
        },
    }
}

fn describe_plain(schedule: &Schedule, plain: &Plain) -> String {
    match plain {
        Plain::Public { pack } => format!("public {}", source_name(schedule, pack)),
        other => format!("plaintext {other:?}"),
    }
}

impl Evaluator for CkksEvaluator<'_> {
    type Value = Ciphertext;

    fn eval(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&Ciphertext],
    ) -> Result<Ciphertext, ExecError> {
        let ctx = self.ctx;
        let ck = |r: crate::ckks::Result<Ciphertext>| r.map_err(|e| ExecError::ckks(id, node, e));
        let arg = |i: usize| {
            args.get(i)
                .copied()
                .ok_or_else(|| ExecError::missing(id, node, format!("operand {i}")))
        };
        let out = match &node.instr {
            Instr::Input { index } => self.input(id, node, *index)?,
            Instr::Add { .. } => ck(ctx.add(arg(0)?, arg(1)?))?,
            Instr::Sub { .. } => ck(ctx.sub(arg(0)?, arg(1)?))?,
            Instr::Neg { .. } => ck(ctx.negate(arg(0)?))?,
            Instr::AddPlain { .. } => ck(ctx.add_plain(arg(0)?, &*self.plaintext(id, node)?))?,
            Instr::MulPlain { .. } => ck(ctx.multiply_plain(arg(0)?, &*self.plaintext(id, node)?))?,
            Instr::AddConst { value, .. } => ck(ctx.add_scalar(arg(0)?, *value))?,
            Instr::MulConst { value, scale, .. } => {
                ck(ctx.multiply_scalar(arg(0)?, *value, *scale))?
            }
            Instr::MulInt { k, .. } => ck(ctx.multiply_int(arg(0)?, *k))?,
            Instr::Mul { a, b } => {
                if a == b {
                    ck(ctx.square(arg(0)?))?
                } else {
                    ck(ctx.multiply(arg(0)?, arg(1)?))?
                }
            }
            Instr::Relinearize { .. } => ck(ctx.relinearize(arg(0)?, self.relin))?,
            Instr::Rescale { .. } => ck(ctx.rescale(arg(0)?))?,
            Instr::ModDown { level, .. } => ck(ctx.drop_level(arg(0)?, *level as usize))?,
            Instr::Rotate { step, .. } => ck(ctx.rotate(arg(0)?, *step, self.galois))?,
            Instr::Conjugate { .. } => ck(ctx.conjugate(arg(0)?, self.galois))?,
            Instr::Trivial { .. } => ck(ctx.trivial(&*self.plaintext(id, node)?))?,
            Instr::Bootstrap {
                level, scale, with, ..
            } => {
                let refresher = self
                    .refresher
                    .as_ref()
                    .ok_or_else(|| ExecError::missing(id, node, "bootstrapping keys"))?;
                match with {
                    None => refresher.refresh_one(ctx, arg(0)?, *level as usize, *scale)?,
                    Some(_) => {
                        let taker = self
                            .paired_by
                            .get(&id)
                            .and_then(|&t| self.schedule.nodes.get(t as usize))
                            .ok_or_else(|| ExecError::missing(id, node, "the paired refresh"))?;
                        let (x, y) = refresher.refresh_two(
                            ctx,
                            (arg(0)?, *level as usize, *scale),
                            (arg(1)?, taker.level as usize, taker.scale),
                        )?;
                        self.paired
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id, y);
                        x
                    }
                }
            }
            // Its bootstrap (an operand) has run: the refresh is waiting.
            Instr::BootstrapPaired { x, .. } => self
                .paired
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(x)
                .ok_or_else(|| ExecError::missing(id, node, format!("the refresh of %{x}")))?,
        };
        self.check(id, node, &out)?;
        Ok(out)
    }

    /// The element-wise and level operations work in place on a first operand no one reads
    /// again: no copy of its limbs (a copy per add, constant product, rescale and level drop
    /// was about a tenth of the server's time, with the page faults of the fresh buffers).
    fn eval_consuming(
        &self,
        id: ValueId,
        node: &Node,
        mut first: Ciphertext,
        rest: &[&Ciphertext],
    ) -> Result<Ciphertext, ExecError> {
        let ctx = self.ctx;
        let ck = |r: crate::ckks::Result<()>| r.map_err(|e| ExecError::ckks(id, node, e));
        let other = || {
            rest.first()
                .copied()
                .ok_or_else(|| ExecError::missing(id, node, "operand 1".to_string()))
        };
        match &node.instr {
            Instr::Add { .. } => ck(ctx.add_assign(&mut first, other()?))?,
            Instr::Sub { .. } => ck(ctx.sub_assign(&mut first, other()?))?,
            Instr::Neg { .. } => ck(ctx.negate_assign(&mut first))?,
            Instr::AddPlain { .. } => {
                ck(ctx.add_plain_assign(&mut first, &*self.plaintext(id, node)?))?
            }
            Instr::AddConst { value, .. } => ck(ctx.add_scalar_assign(&mut first, *value))?,
            Instr::MulConst { value, scale, .. } => {
                ck(ctx.multiply_scalar_assign(&mut first, *value, *scale))?
            }
            Instr::MulInt { k, .. } => ck(ctx.multiply_int_assign(&mut first, *k))?,
            Instr::Rescale { .. } => ck(ctx.rescale_assign(&mut first))?,
            Instr::ModDown { level, .. } => ck(ctx.drop_level_assign(&mut first, *level as usize))?,
            _ => {
                let mut args = Vec::with_capacity(rest.len() + 1);
                args.push(&first);
                args.extend_from_slice(rest);
                return self.eval(id, node, &args);
            }
        }
        self.check(id, node, &first)?;
        Ok(first)
    }

    fn value_bytes(&self, v: &Ciphertext) -> usize {
        (v.degree() + 1) * (v.level() + 1) * self.ctx.n() * std::mem::size_of::<u64>()
    }

    /// One key-switching decomposition for all rotations of the group, when the cost table
    /// says that is faster than rotating separately (see [`CostTable::rotations_seconds`]).
    fn eval_hoisted(
        &self,
        group: &[(ValueId, &Node)],
        operand: &Ciphertext,
    ) -> Result<Vec<Ciphertext>, ExecError> {
        let Some(&(first, first_node)) = group.first() else {
            return Ok(Vec::new());
        };
        let limbs = operand.level() + 1;
        let (_, hoist) =
            self.costs
                .rotations_seconds(self.schedule.params.log_n, limbs, group.len());
        if !hoist {
            return group
                .iter()
                .map(|(id, node)| self.eval(*id, node, &[operand]))
                .collect();
        }
        let mut steps = Vec::with_capacity(group.len());
        for (id, node) in group {
            match node.instr {
                Instr::Rotate { step, .. } => steps.push(step),
                _ => {
                    return Err(ExecError::mismatch(
                        *id,
                        node,
                        "only rotations can be hoisted".into(),
                    ))
                }
            }
        }
        let outs = self
            .ctx
            .rotate_hoisted(operand, &steps, self.galois)
            .map_err(|e| ExecError::ckks(first, first_node, e))?;
        for ((id, node), ct) in group.iter().zip(&outs) {
            self.check(*id, node, ct)?;
        }
        Ok(outs)
    }
}
