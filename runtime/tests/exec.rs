//! The executor: hand-built schedules run by the DAG scheduler with the plaintext, CKKS,
//! debug and cost evaluators.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hel_runtime::ckks::sampling::SIGMA;
use hel_runtime::ckks::{
    Ciphertext, CkksParams, Context, GaloisKeys, RelinKey, Sampler, SecretKey, Security,
};
use hel_runtime::exec::{
    calibrate, critical_path_seconds, execute, CkksEvaluator, CostEvaluator, CostTable,
    DebugEvaluator, Evaluator, ExecError, PlainEvaluator, RunOptions, ENCODE,
};
use hel_runtime::schedule::rules::{self, CtState};
use hel_runtime::schedule::{
    level_scales, plain_slots, simulate_values, CtInput, Instr, Layout, Node, Origin, OutputTile,
    Pack, Plain, Schedule, Shape, Source, Tensor, TensorInput, TensorOutput, Unit, ValueId,
};

/// Builds a schedule node by node, deriving each node's level, degree and scale from its
/// operands by the CKKS rules (the compiler's job).
struct Builder {
    s: Schedule,
    q: Vec<u64>,
}

impl Builder {
    /// One encrypted vector input `x` (64 entries) at the top level and one plain vector `w`.
    fn new(params: CkksParams, unit: Unit) -> Builder {
        let q = params.primes().unwrap().q;
        let scales = level_scales(&q, params.log_scale);
        let top = params.max_level() as u32;
        let vector = |name: &str, encrypted| TensorInput {
            name: name.into(),
            shape: Shape::Vector(64),
            seq: None,
            encrypted,
            range: Some((-1.0, 1.0)),
            refreshed_from: None,
        };
        let s = Schedule {
            name: "test.hel".into(),
            program_hash: String::new(),
            level_scales: scales.clone(),
            unit,
            inputs: vec![vector("x", true), vector("w", false)],
            derived: vec![],
            ct_inputs: vec![CtInput {
                pack: row_pack(0),
                level: top,
                scale: scales[top as usize],
            }],
            nodes: vec![],
            outputs: vec![],
            rotation_steps: vec![],
            needs_conjugation: false,
            hoist_groups: vec![],
            bootstrap: None,
            params,
        };
        Builder { s, q }
    }

    fn scale(&self, level: u32) -> f64 {
        self.s.level_scales[level as usize]
    }

    fn push(&mut self, instr: Instr) -> ValueId {
        let id = self.s.nodes.len() as ValueId;
        // The contract's bookkeeping rules give the recorded level, scale and degree.
        let args: Vec<CtState> = instr
            .operands()
            .iter()
            .map(|v| CtState::recorded(&self.s.nodes[*v as usize]))
            .collect();
        let CtState {
            level,
            scale,
            degree,
        } = rules::result(&instr, &args, &self.s.ct_inputs, &self.q)
            .expect("the test builds valid schedules");
        match &instr {
            Instr::Rotate { step, .. } => self.s.rotation_steps.push(*step),
            Instr::Conjugate { .. } => self.s.needs_conjugation = true,
            _ => {}
        }
        let origin = Origin {
            tensor_node: 100 + id,
            tensor_op: instr.name().into(),
            span: Some(format!("test.hel:{}:5", id + 1)),
        };
        self.s.nodes.push(Node {
            instr,
            level,
            scale,
            degree,
            bound: f64::INFINITY,
            origin,
            last_use: None,
        });
        id
    }

    fn output(&mut self, name: &str, v: ValueId) {
        self.s.outputs.push(TensorOutput {
            name: name.into(),
            shape: Shape::Vector(64),
            tiles: vec![OutputTile {
                value: v,
                layout: Layout::RowVector { offset: 0 },
                factor: 1.0,
            }],
            bound: f64::INFINITY,
            range: 1.0,
        });
    }

    /// Finishes the schedule: liveness, sorted rotation steps, per-node error bounds.
    fn finish(mut self, inputs: &[Vec<Tensor>]) -> Schedule {
        self.s.rotation_steps.sort_unstable();
        self.s.rotation_steps.dedup();
        self.s.compute_liveness();
        assign_bounds(&mut self.s, inputs);
        self.s.validate().unwrap();
        self.s
    }
}

fn row_pack(input: u32) -> Pack {
    Pack {
        source: Source::Input { input, element: 0 },
        layout: Layout::RowVector { offset: 0 },
        factor: 1.0,
    }
}

/// Error bounds by propagation, for the debug evaluator and the output comparisons.
///
/// Every operation that adds noise (encryption, rescaling, key switching, encoding a
/// plaintext or constant) adds coefficient noise of standard deviation at most σ_op: fresh
/// encryption has √(σ² + 1/12) ≈ 3.2; a rescale's (and ModDown's after key switching) rounding
/// `r0 + r1·s` has √((1 + 2N/3)/12) ≈ 15 at N = 2^12; the key-switching product Σ d_j e_j / P
/// is below 1 because P exceeds each digit. σ_op = 2·16 covers them all. A slot is a sum of N
/// coefficients, so its error stays below 6·√N·σ_op / Δ (6 standard deviations, as in the CKKS
/// tests) with Δ the smallest scale of the chain: `fresh` below. Errors then propagate
/// exactly like in interval arithmetic: sums add, products add `|a|·e_b + |b|·e_a + e_a·e_b`
/// (with the magnitudes |a| taken from the plaintext run), constants and masks scale them.
/// The result is doubled as a safety factor; with the values below it is ~1e-7, four orders
/// of magnitude under the injected errors the debug tests detect.
fn assign_bounds(s: &mut Schedule, inputs: &[Vec<Tensor>]) {
    let values = simulate_values(s, inputs).unwrap();
    let mag: Vec<f64> = values
        .iter()
        .map(|v| v.iter().fold(0.0, |m: f64, x| m.max(x.abs())))
        .collect();
    let min_scale = s.level_scales.iter().copied().fold(f64::INFINITY, f64::min);
    let fresh = 6.0 * (s.params.n() as f64).sqrt() * 2.0 * 16.0 / min_scale;
    const { assert!(SIGMA < 16.0) };
    let mut e: Vec<f64> = Vec::with_capacity(s.nodes.len());
    for node in &s.nodes {
        let ea = |i: usize| e[node.instr.operands()[i] as usize];
        let ma = |i: usize| mag[node.instr.operands()[i] as usize];
        let err = match &node.instr {
            Instr::Input { .. } => fresh,
            Instr::Add { .. } | Instr::Sub { .. } => ea(0) + ea(1),
            Instr::Neg { .. } | Instr::ModDown { .. } => ea(0),
            Instr::MulInt { k, .. } => k.unsigned_abs() as f64 * ea(0),
            Instr::AddConst { .. } | Instr::AddPlain { .. } => ea(0) + fresh,
            Instr::MulConst { value, .. } => value.abs() * ea(0) + ma(0) * fresh,
            Instr::MulPlain { plain, .. } => {
                let p = plain_slots(s.unit, plain, |pack| {
                    let Source::Input { input, element } = pack.source else {
                        return None;
                    };
                    inputs.get(input as usize)?.get(element as usize)
                })
                .unwrap();
                let pm = p.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
                pm * ea(0) + ma(0) * fresh
            }
            Instr::Mul { .. } => ma(0) * ea(1) + ma(1) * ea(0) + ea(0) * ea(1),
            Instr::Relinearize { .. }
            | Instr::Rescale { .. }
            | Instr::Rotate { .. }
            | Instr::Conjugate { .. } => ea(0) + fresh,
            Instr::Trivial { .. } => fresh,
            Instr::Bootstrap { .. } | Instr::BootstrapPaired { .. } => {
                ea(0) + 6.0 * s.bootstrap.as_ref().map_or(0.0, |b| b.error_sd())
            }
        };
        e.push(err);
    }
    for (node, err) in s.nodes.iter_mut().zip(e) {
        node.bound = 2.0 * err;
    }
    let bounds: Vec<f64> = s.nodes.iter().map(|n| n.bound).collect();
    for o in &mut s.outputs {
        o.bound = o
            .tiles
            .iter()
            .map(|t| bounds[t.value as usize])
            .fold(0.0, f64::max);
    }
}

/// The deep test chain: N = 2^12, four 40-bit primes above a 50-bit q_0, dnum = 3
/// (insecure, tests only).
fn deep_params() -> CkksParams {
    CkksParams {
        log_n: 12,
        q_bits: vec![50, 40, 40, 40, 40],
        p_bits: vec![46, 46],
        dnum: 3,
        log_scale: 40,
        security: Security::InsecureForTestingOnly,
    }
}

fn test_inputs(seed: u64) -> Vec<Vec<Tensor>> {
    let mut x = seed.wrapping_mul(6364136223846793005) | 1;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    let v = |next: &mut dyn FnMut() -> f64| Tensor {
        shape: Shape::Vector(64),
        data: (0..64).map(|_| next()).collect(),
    };
    vec![vec![v(&mut next)], vec![v(&mut next)]]
}

/// Node ids of interest in [`program`].
struct Program {
    schedule: Schedule,
    mask_mul: ValueId,
    dead: ValueId,
}

/// `y = x²` (relinearize, rescale); three hoisted rotations of y combined; masked by a Rect at
/// S_3 and rescaled; plus `0.5·y` rescaled; constants, a public vector, integer multiple,
/// negation, a level drop and a conjugation; the same mask again (cache hit); a dead node.
fn program(inputs: &[Vec<Tensor>]) -> Program {
    let mut b = Builder::new(deep_params(), Unit { h: 32, w: 64 });
    let mask = Plain::Rect {
        value: 1.0,
        rows: (0, 16),
        cols: (0, 48),
    };
    let x = b.push(Instr::Input { index: 0 });
    let sq = b.push(Instr::Mul { a: x, b: x });
    let rl = b.push(Instr::Relinearize { a: sq });
    let y = b.push(Instr::Rescale { a: rl });
    let r1 = b.push(Instr::Rotate { a: y, step: 1 });
    let r2 = b.push(Instr::Rotate { a: y, step: 2 });
    let r3 = b.push(Instr::Rotate { a: y, step: -1 });
    b.s.hoist_groups.push(vec![r1, r2, r3]);
    let s12 = b.push(Instr::Add { a: r1, b: r2 });
    let d = b.push(Instr::Sub { a: s12, b: r3 });
    let s3 = b.scale(3);
    let masked = b.push(Instr::MulPlain {
        a: d,
        plain: mask.clone(),
        scale: s3,
    });
    let m = b.push(Instr::Rescale { a: masked });
    let half = b.push(Instr::MulConst {
        a: y,
        value: 0.5,
        scale: s3,
    });
    let h = b.push(Instr::Rescale { a: half });
    let sum = b.push(Instr::Add { a: m, b: h });
    let c = b.push(Instr::AddConst {
        a: sum,
        value: 0.25,
    });
    let pw = b.push(Instr::AddPlain {
        a: c,
        plain: Plain::Public { pack: row_pack(1) },
    });
    let k = b.push(Instr::MulInt { a: pw, k: 3 });
    let neg = b.push(Instr::Neg { a: k });
    let low = b.push(Instr::ModDown { a: neg, level: 1 });
    let conj = b.push(Instr::Conjugate { a: low });
    let again = b.push(Instr::MulPlain {
        a: s12,
        plain: mask,
        scale: s3,
    });
    let again = b.push(Instr::Rescale { a: again });
    let out2 = b.push(Instr::Add { a: again, b: m });
    let dead = b.push(Instr::Neg { a: y });
    b.output("z", conj);
    b.output("u", out2);
    Program {
        schedule: b.finish(inputs),
        mask_mul: masked,
        dead,
    }
}

struct Keys {
    ctx: Context,
    sk: SecretKey,
    rlk: RelinKey,
    gk: GaloisKeys,
}

fn keys(s: &Schedule, seed: u64) -> Keys {
    let ctx = Context::new(&s.params).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(seed);
    let sk = ctx.gen_secret_key(&mut rng);
    let rlk = ctx.gen_relin_key(&sk, &mut rng).unwrap();
    let gk = ctx
        .gen_galois_keys(&sk, &s.rotation_steps, s.needs_conjugation, &mut rng)
        .unwrap();
    Keys { ctx, sk, rlk, gk }
}

/// The client's job, done here by hand: pack and encrypt every input ciphertext.
fn encrypt_inputs(k: &Keys, s: &Schedule, inputs: &[Vec<Tensor>], seed: u64) -> Vec<Ciphertext> {
    let mut rng = Sampler::seeded_for_testing_only(seed);
    s.ct_inputs
        .iter()
        .map(|c| {
            let Source::Input { input, element } = c.pack.source else {
                unreachable!()
            };
            let slots = hel_runtime::schedule::pack_slots(
                s.unit,
                &c.pack,
                &inputs[input as usize][element as usize],
            );
            let pt = k.ctx.encode(&slots, c.level as usize, c.scale).unwrap();
            k.ctx.encrypt_sk(&pt, &k.sk, &mut rng).unwrap()
        })
        .collect()
}

/// Plain inputs only, as the server receives them.
fn public_inputs(s: &Schedule, inputs: &[Vec<Tensor>]) -> Vec<Vec<Tensor>> {
    s.inputs
        .iter()
        .zip(inputs)
        .map(|(d, t)| if d.encrypted { vec![] } else { t.clone() })
        .collect()
}

fn ckks_evaluator<'a>(k: &'a Keys, s: &'a Schedule, inputs: &[Vec<Tensor>]) -> CkksEvaluator<'a> {
    CkksEvaluator::new(
        &k.ctx,
        s,
        &k.rlk,
        &k.gk,
        encrypt_inputs(k, s, inputs, 7),
        public_inputs(s, inputs),
    )
    .unwrap()
}

fn threads(n: usize) -> RunOptions<'static> {
    RunOptions {
        threads: n,
        ..RunOptions::default()
    }
}

#[test]
fn ckks_outputs_match_the_plain_reference_within_the_bounds() {
    let inputs = test_inputs(1);
    let p = program(&inputs);
    let s = &p.schedule;
    let k = keys(s, 2);
    let plain = execute(s, &PlainEvaluator::new(s, &inputs).unwrap(), &threads(2)).unwrap();
    // The scheduler's plain run is the simulation.
    let sim = simulate_values(s, &inputs).unwrap();
    for (v, slots) in &plain.outputs {
        assert_eq!(slots, &sim[*v as usize]);
    }
    let ev = ckks_evaluator(&k, s, &inputs);
    let run = execute(s, &ev, &threads(2)).unwrap();
    assert_eq!(run.outputs.len(), 2);
    for (v, ct) in &run.outputs {
        let got = k
            .ctx
            .decode_real(&k.ctx.decrypt(ct, &k.sk).unwrap())
            .unwrap();
        let want = plain.output(*v).unwrap();
        let err = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let bound = s.nodes[*v as usize].bound;
        assert!(err < bound, "node {v}: error {err:e} > bound {bound:e}");
        assert!(
            bound < 1e-5,
            "the bound {bound:e} is too loose to test anything"
        );
    }
    assert_eq!(run.stats.hoisted_groups, 1);
    assert_eq!(run.stats.ops["rotate"], 3);
    assert_eq!(run.stats.ops["mul_plain"], 2);
    assert_eq!(run.stats.ops_by_level[&3]["mul_plain"], 2);
    let (hits, misses) = ev.plaintext_cache_stats();
    assert_eq!(hits + misses, 3);
    // The mask is used twice at the same level and scale: encoded once (on two threads both
    // nodes may ask for it at the same moment, and then both encode it).
    let ev = ckks_evaluator(&k, s, &inputs);
    execute(s, &ev, &threads(1)).unwrap();
    assert_eq!(ev.plaintext_cache_stats(), (1, 2));
}

/// Decrypted outputs of `run` against the plaintext reference, within the nodes' bounds.
fn assert_close(k: &Keys, s: &Schedule, outputs: &[(ValueId, Ciphertext)], inputs: &[Vec<Tensor>]) {
    let sim = simulate_values(s, inputs).unwrap();
    for (v, ct) in outputs {
        let got = k
            .ctx
            .decode_real(&k.ctx.decrypt(ct, &k.sk).unwrap())
            .unwrap();
        let err = got
            .iter()
            .zip(&sim[*v as usize])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < s.nodes[*v as usize].bound, "node {v}: error {err:e}");
    }
}

#[test]
fn hoisting_follows_the_cost_table_and_both_ways_are_correct() {
    let inputs = test_inputs(18);
    let p = program(&inputs);
    let s = &p.schedule;
    let k = keys(s, 19);
    let mut outputs = Vec::new();
    // rotate_hoisted and rotate compute the same key switch (the Galois automorphism commutes
    // with the centered digit decomposition), so both ways must agree bit for bit.
    for factor in [0.01, 100.0] {
        let mut table = CostTable::default();
        for c in table.curves.iter_mut().filter(|c| c.op == "rotate_hoisted") {
            for pt in &mut c.points {
                pt.1 *= factor;
            }
        }
        // The rotations run at level 3: four limbs.
        assert_eq!(table.rotations_seconds(12, 4, 3).1, factor < 1.0);
        let ev = ckks_evaluator(&k, s, &inputs).with_cost_table(table);
        let run = execute(s, &ev, &threads(2)).unwrap();
        assert_close(&k, s, &run.outputs, &inputs);
        outputs.push(run.outputs);
    }
    assert!(outputs[0] == outputs[1]);
}

#[test]
fn one_and_two_threads_give_identical_results() {
    let inputs = test_inputs(3);
    let p = program(&inputs);
    let s = &p.schedule;
    let pe = PlainEvaluator::new(s, &inputs).unwrap();
    let a = execute(s, &pe, &threads(1)).unwrap();
    let b = execute(s, &pe, &threads(2)).unwrap();
    assert_eq!(a.outputs, b.outputs);
    assert_eq!((a.stats.threads, b.stats.threads), (1, 2));
    // CKKS evaluation is deterministic too: bit-identical ciphertexts.
    let k = keys(s, 4);
    let a = execute(s, &ckks_evaluator(&k, s, &inputs), &threads(1)).unwrap();
    let b = execute(s, &ckks_evaluator(&k, s, &inputs), &threads(2)).unwrap();
    assert!(a.outputs == b.outputs);
}

/// A chain x -> f(x) -> f(f(x)) ... of `len` nodes.
fn chain(len: usize) -> (Schedule, Vec<Vec<Tensor>>) {
    let inputs = test_inputs(5);
    let mut b = Builder::new(deep_params(), Unit { h: 32, w: 64 });
    let mut v = b.push(Instr::Input { index: 0 });
    for i in 1..len {
        v = b.push(match i % 3 {
            0 => Instr::AddConst { a: v, value: 0.5 },
            1 => Instr::MulInt { a: v, k: -1 },
            _ => Instr::Neg { a: v },
        });
    }
    b.output("y", v);
    (b.finish(&inputs), inputs)
}

#[test]
fn a_chain_keeps_two_values_alive() {
    let (s, inputs) = chain(40);
    let slot_bytes = s.slots() * 8;
    for t in [1, 2] {
        let run = execute(&s, &PlainEvaluator::new(&s, &inputs).unwrap(), &threads(t)).unwrap();
        assert_eq!(run.stats.peak_bytes, 2 * slot_bytes, "{t} threads");
        assert!(run.stats.peak_bytes < s.nodes.len() * slot_bytes);
    }
    // The dry run predicts the ciphertext memory: two degree-1 ciphertexts at the top level.
    let cost = CostEvaluator::new(&s, CostTable::default()).unwrap();
    let run = execute(&s, &cost, &threads(1)).unwrap();
    assert_eq!(run.stats.peak_bytes, 2 * 2 * 5 * s.params.n() * 8);
}

/// Plain evaluation whose values report their own lifetime.
struct Tracking<'a> {
    inner: PlainEvaluator<'a>,
    schedule: &'a Schedule,
    live: Arc<Mutex<BTreeSet<ValueId>>>,
    evaluated: Mutex<BTreeSet<ValueId>>,
    checked: AtomicUsize,
}

struct Tracked {
    id: ValueId,
    slots: Vec<f64>,
    live: Arc<Mutex<BTreeSet<ValueId>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.lock().unwrap().remove(&self.id);
    }
}

impl Evaluator for Tracking<'_> {
    type Value = Tracked;

    fn eval(&self, id: ValueId, node: &Node, args: &[&Tracked]) -> Result<Tracked, ExecError> {
        // On one thread, when node `id` starts, exactly the values that are outputs or still
        // have an unevaluated reader must be alive.
        let mut evaluated = self.evaluated.lock().unwrap();
        let outputs = self.schedule.output_values();
        let expected: BTreeSet<ValueId> = evaluated
            .iter()
            .copied()
            .filter(|j| {
                outputs.contains(j)
                    || self.schedule.nodes.iter().enumerate().any(|(c, n)| {
                        n.instr.operands().contains(j) && !evaluated.contains(&(c as ValueId))
                    })
            })
            .collect();
        assert_eq!(*self.live.lock().unwrap(), expected, "before node {id}");
        self.checked.fetch_add(1, Ordering::Relaxed);
        evaluated.insert(id);
        let plain: Vec<&Vec<f64>> = args.iter().map(|a| &a.slots).collect();
        let slots = self.inner.eval(id, node, &plain)?;
        self.live.lock().unwrap().insert(id);
        Ok(Tracked {
            id,
            slots,
            live: self.live.clone(),
        })
    }

    fn value_bytes(&self, v: &Tracked) -> usize {
        v.slots.len() * 8
    }
}

#[test]
fn values_are_freed_after_their_last_reader() {
    let inputs = test_inputs(6);
    let p = program(&inputs);
    let s = &p.schedule;
    let ev = Tracking {
        inner: PlainEvaluator::new(s, &inputs).unwrap(),
        schedule: s,
        live: Arc::default(),
        evaluated: Mutex::default(),
        checked: AtomicUsize::new(0),
    };
    let run = execute(s, &ev, &threads(1)).unwrap();
    assert_eq!(ev.checked.load(Ordering::Relaxed), s.nodes.len());
    // Only the outputs survive the run; the dead node was dropped at once.
    let outputs: BTreeSet<ValueId> = s.output_values().into_iter().collect();
    assert_eq!(*ev.live.lock().unwrap(), outputs);
    assert!(!outputs.contains(&p.dead));
    drop(run);
    assert!(ev.live.lock().unwrap().is_empty());
}

#[test]
fn debug_evaluator_passes_a_correct_run() {
    let inputs = test_inputs(8);
    let p = program(&inputs);
    let s = &p.schedule;
    let k = keys(s, 9);
    let dbg = DebugEvaluator::new(
        ckks_evaluator(&k, s, &inputs),
        PlainEvaluator::new(s, &inputs).unwrap(),
        &k.sk,
    );
    let run = execute(s, &dbg, &threads(2)).unwrap();
    assert_eq!(run.outputs.len(), 2);
}

#[test]
fn debug_evaluator_names_the_node_with_an_injected_error() {
    let inputs = test_inputs(10);
    let p = program(&inputs);
    let s = &p.schedule;
    let k = keys(s, 11);
    for (target, delta) in [(p.mask_mul, 1e-3), (4, -1e-4)] {
        let dbg = DebugEvaluator::new(
            ckks_evaluator(&k, s, &inputs),
            PlainEvaluator::new(s, &inputs).unwrap(),
            &k.sk,
        )
        .with_injected_error(target, delta);
        let err = execute(s, &dbg, &threads(2)).unwrap_err();
        let ExecError::Diverged {
            node,
            op,
            span,
            tensor_node,
            expected,
            actual,
            error,
            bound,
        } = &err
        else {
            panic!("expected a divergence, got {err}");
        };
        assert_eq!(*node, target);
        assert_eq!(*op, s.nodes[target as usize].instr.name());
        assert_eq!(
            span.as_deref(),
            Some(&*format!("test.hel:{}:5", target + 1))
        );
        assert_eq!(*tensor_node, 100 + target);
        assert_eq!((expected.len(), actual.len()), (8, 8));
        assert!((error - delta.abs()).abs() < 1e-6 && error > bound);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("node {target} ({op})"))
                && msg.contains(&format!("test.hel:{}:5", target + 1)),
            "{msg}"
        );
    }
}

#[test]
fn cost_evaluator_counts_every_instruction_by_level() {
    let inputs = test_inputs(12);
    let p = program(&inputs);
    let s = &p.schedule;
    let cost = CostEvaluator::new(s, CostTable::default()).unwrap();
    let run = execute(s, &cost, &threads(2)).unwrap();
    let report = cost.report().unwrap();
    let mut want: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    for node in &s.nodes {
        let level = node
            .instr
            .operands()
            .first()
            .map_or(node.level, |a| s.nodes[*a as usize].level);
        *want
            .entry(node.instr.name().into())
            .or_default()
            .entry(level)
            .or_default() += 1;
    }
    assert_eq!(report.ops, want);
    assert_eq!(report.count("rotate"), 3);
    assert_eq!(report.plaintext_encodings, 2);
    // The scheduler's own counts agree.
    let flat: BTreeMap<String, u64> = want
        .iter()
        .map(|(k, l)| (k.clone(), l.values().sum()))
        .collect();
    assert_eq!(run.stats.ops, flat);
    assert!(report.work_seconds > 0.0);
    assert!(report.critical_path_seconds > 0.0);
    assert!(report.critical_path_seconds <= report.work_seconds);
    assert!(report.seconds_by_op["relinearize"] > report.seconds_by_op["add"]);
}

#[test]
fn recorded_levels_and_scales_are_checked() {
    let inputs = test_inputs(13);
    let mut p = program(&inputs);
    // Claim the rescale of y lands one level lower than it does.
    p.schedule.nodes[3].level = 2;
    let s = &p.schedule;
    let cost = CostEvaluator::new(s, CostTable::default()).unwrap();
    let err = execute(s, &cost, &threads(1)).unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Mismatch {
                node: 3,
                op: "rescale",
                ..
            }
        ),
        "{err}"
    );
    let k = keys(s, 14);
    let err = execute(s, &ckks_evaluator(&k, s, &inputs), &threads(2)).unwrap_err();
    assert!(matches!(err, ExecError::Mismatch { node: 3, .. }), "{err}");
    assert!(err.to_string().contains("test.hel:4:5"), "{err}");
}

#[test]
fn malformed_hoisting_groups_and_inputs_are_refused() {
    let inputs = test_inputs(15);
    let mut p = program(&inputs);
    p.schedule.hoist_groups.push(vec![7, 8]);
    let s = &p.schedule;
    let err = execute(s, &PlainEvaluator::new(s, &inputs).unwrap(), &threads(1)).unwrap_err();
    assert!(matches!(err, ExecError::Invalid(_)), "{err}");

    let p = program(&inputs);
    let s = &p.schedule;
    let k = keys(s, 16);
    let mut cts = encrypt_inputs(&k, s, &inputs, 17);
    cts[0] = k.ctx.drop_level(&cts[0], 2).unwrap();
    let err = CkksEvaluator::new(&k.ctx, s, &k.rlk, &k.gk, cts, public_inputs(s, &inputs));
    assert!(matches!(err, Err(ExecError::Input(_))));
    let err = CkksEvaluator::new(&k.ctx, s, &k.rlk, &k.gk, vec![], public_inputs(s, &inputs));
    assert!(matches!(err, Err(ExecError::Input(_))));
}

#[test]
fn progress_reaches_the_total() {
    let (s, inputs) = chain(10);
    let calls = AtomicUsize::new(0);
    let last = AtomicUsize::new(0);
    let progress = |done: usize, total: usize| {
        assert_eq!(total, 10);
        calls.fetch_add(1, Ordering::Relaxed);
        last.fetch_max(done, Ordering::Relaxed);
    };
    let opts = RunOptions {
        threads: 2,
        progress: Some(&progress),
        memory_limit: None,
    };
    execute(&s, &PlainEvaluator::new(&s, &inputs).unwrap(), &opts).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 10);
    assert_eq!(last.load(Ordering::Relaxed), 10);
}

#[test]
fn cost_table_interpolates_extrapolates_and_round_trips() {
    let t = CostTable::default();
    t.validate().unwrap();
    for log_n in 13..=15 {
        let mut prev = 0.0;
        for limbs in 1..=20 {
            let r = t.seconds(log_n, "rotate", limbs);
            assert!(r > prev, "rotate cost must grow with the limbs");
            prev = r;
        }
        assert!(t.seconds(log_n, "rotate", 4) > t.seconds(log_n, "add", 4));
        assert!(t.rotations_seconds(log_n, 4, 3).0 <= 3.0 * t.seconds(log_n, "rotate", 4));
    }
    // Beyond the measured limbs key switching grows quadratically, the rest linearly.
    let top = t
        .curves
        .iter()
        .find(|c| c.log_n == 15 && c.op == "rotate")
        .and_then(|c| c.points.last())
        .unwrap()
        .0 as usize;
    let ratio = t.seconds(15, "rotate", 2 * top) / t.seconds(15, "rotate", top);
    assert!((ratio - 4.0).abs() < 1e-9);
    let ratio = t.seconds(15, "add", 2 * top) / t.seconds(15, "add", top);
    assert!((ratio - 2.0).abs() < 1e-9);
    assert_eq!(t.seconds(14, "input", 3), 0.0);
    // An unmeasured ring degree is scaled from the nearest measured one.
    assert!(t.seconds(16, "rotate", 20) > t.seconds(15, "rotate", 20));
    let text = t.to_ron().unwrap();
    assert_eq!(CostTable::from_ron(&text).unwrap(), t);
    assert!(CostTable::from_ron(
        "(threads: 1, curves: [(log_n: 13, op: \"add\", points: [(2, 1.0), (1, 1.0)])])"
    )
    .is_err());
}

#[test]
fn bootstrap_figures_interpolate_in_the_slots_and_fall_back_to_the_default() {
    use hel_runtime::schedule::cost::BootstrapCost;
    let at = |log_slots, seconds| BootstrapCost {
        log_n: 16,
        log_slots,
        seconds,
    };
    let mut t = CostTable {
        bootstraps: vec![at(12, 20.0), at(6, 8.0)],
        ..CostTable::default()
    };
    t.validate().unwrap();
    // Linear in log2 of the slots between measurements, the nearest one outside them.
    assert_eq!(t.bootstrap_seconds(16, 8), Some(12.0));
    assert_eq!(t.bootstrap_seconds(16, 6), Some(8.0));
    assert_eq!(t.bootstrap_seconds(16, 4), Some(8.0));
    assert_eq!(t.bootstrap_seconds(16, 15), Some(20.0));
    // No figure for another ring, in this table or the default.
    assert_eq!(t.bootstrap_seconds(15, 8), None);
    // A table without bootstraps (an older file) borrows the default's.
    let default = CostTable::default();
    assert!(default.bootstrap_seconds(16, 8).is_some_and(|s| s > 1.0));
    t.bootstraps.clear();
    assert_eq!(t.bootstrap_seconds(16, 8), default.bootstrap_seconds(16, 8));
    let old = "(threads: 1, curves: [(log_n: 13, op: \"add\", points: [(1, 1.0)])])";
    assert!(CostTable::from_ron(old).unwrap().bootstraps.is_empty());
    // Hostile figures are refused.
    for bad in [at(16, 1.0), at(8, f64::NAN), at(8, 0.0)] {
        t.bootstraps = vec![bad];
        assert!(t.validate().is_err());
    }
    t.bootstraps = vec![BootstrapCost {
        log_n: 40,
        ..at(8, 1.0)
    }];
    assert!(t.validate().is_err());
}

#[test]
fn a_bootstrap_gains_little_from_threads() {
    use hel_runtime::schedule::cost::{BootstrapCost, BOOTSTRAP_PARALLEL_FRACTION as P};
    let t = CostTable {
        bootstraps: vec![BootstrapCost {
            log_n: 16,
            log_slots: 8,
            seconds: 10.0,
        }],
        ..CostTable::default()
    };
    let on = |threads| t.bootstrap_seconds_on(16, 8, threads).unwrap();
    // One thread (and 0, read as one): the measured figure.
    assert_eq!(on(1), 10.0);
    assert_eq!(on(0), 10.0);
    // Two threads: the measured speedup, far below 2 (7.17 s against 5.50 s).
    let two = on(2);
    assert!((10.0 / two - 7.17 / 5.50).abs() < 0.01, "{two}");
    // Amdahl: never below the serial part, and more threads never slower.
    assert!((on(1 << 20) - 10.0 * (1.0 - P)).abs() < 1e-4);
    assert!(on(16) < on(8) && on(8) < on(2));
    // No figure for the ring: none on any threads.
    assert_eq!(t.bootstrap_seconds_on(15, 8, 2), None);
}

#[test]
fn calibration_measures_every_operation() {
    let mut phases = Vec::new();
    let t = calibrate(&[12], 1, &mut |p: &str| phases.push(p.to_string())).unwrap();
    t.validate().unwrap();
    let ops: BTreeSet<&str> = t.curves.iter().map(|c| c.op.as_str()).collect();
    for op in [
        "add",
        "sub",
        "neg",
        "add_plain",
        "mul_plain",
        "add_const",
        "mul_const",
        "mul_int",
        "ct_mul",
        "relinearize",
        "rescale",
        "mod_down",
        "rotate",
        "conjugate",
        "rotate_hoisted",
        "encode",
    ] {
        assert!(ops.contains(op), "{op} not measured");
    }
    assert!(t.seconds(12, "rotate", 2) > 0.0);
    assert!(!phases.is_empty());
}

/// `branches` independent rotate-mask-rescale branches of one input, summed pairwise, squared.
fn wide(params: CkksParams, branches: i64, inputs: &[Vec<Tensor>]) -> Schedule {
    let slots = params.slots();
    let mut b = Builder::new(
        params,
        Unit {
            h: slots / 128,
            w: 128,
        },
    );
    let x = b.push(Instr::Input { index: 0 });
    let top = b.s.nodes[0].level;
    let mut terms = Vec::new();
    for step in 1..=branches {
        let r = b.push(Instr::Rotate { a: x, step });
        let m = b.push(Instr::MulPlain {
            a: r,
            plain: Plain::Rect {
                value: 0.5,
                rows: (0, step as u32),
                cols: (0, 64),
            },
            scale: b.scale(top),
        });
        terms.push(b.push(Instr::Rescale { a: m }));
    }
    while terms.len() > 1 {
        let (a, c) = (terms.remove(0), terms.remove(0));
        terms.push(b.push(Instr::Add { a, b: c }));
    }
    let sq = b.push(Instr::Mul {
        a: terms[0],
        b: terms[0],
    });
    let rl = b.push(Instr::Relinearize { a: sq });
    let y = b.push(Instr::Rescale { a: rl });
    b.output("y", y);
    b.finish(inputs)
}

#[test]
fn a_memory_limit_trades_the_critical_path_for_fewer_live_values() {
    let inputs = test_inputs(22);
    let s = wide(deep_params(), 16, &inputs);
    let pe = PlainEvaluator::new(&s, &inputs).unwrap();
    let value = s.slots() * 8;
    let fast = execute(&s, &pe, &threads(1)).unwrap();
    // Critical path first: every rotation runs before any of them is consumed.
    assert!(fast.stats.peak_bytes >= 17 * value);
    let lean = execute(
        &s,
        &pe,
        &RunOptions {
            threads: 1,
            memory_limit: Some(0),
            ..RunOptions::default()
        },
    )
    .unwrap();
    // Depth first: x, one partial sum per level of the 16-term sum tree, and a transient.
    assert!(
        lean.stats.peak_bytes <= 6 * value,
        "{}",
        lean.stats.peak_bytes / value
    );
    assert_eq!(fast.outputs, lean.outputs);
}

/// The critical path is the longest chain of estimated operation times: all of a chain's work,
/// one branch of a wide schedule (plus what every branch shares).
#[test]
fn the_critical_path_is_the_longest_chain() {
    let table = CostTable::default();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.max(1e-12);
    // The work also counts encoding the plaintext operands, which the evaluator caches
    // outside the nodes.
    let work_and_path = |s: &Schedule| {
        let cost = CostEvaluator::new(s, table.clone()).unwrap();
        execute(s, &cost, &threads(1)).unwrap();
        let report = cost.report().unwrap();
        let path = critical_path_seconds(s, &table).unwrap();
        assert_eq!(report.critical_path_seconds, path);
        let work = report.work_seconds - report.seconds_by_op.get(ENCODE).unwrap_or(&0.0);
        (work, path)
    };
    let (chain, _) = chain(30);
    let (work, path) = work_and_path(&chain);
    assert!(work > 0.0 && close(path, work), "{path} vs {work}");
    let (work, path) = work_and_path(&wide(deep_params(), 16, &test_inputs(23)));
    assert!(path < work / 4.0 && path >= work / 16.0, "{path} vs {work}");
}
