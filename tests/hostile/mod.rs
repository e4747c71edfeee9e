//! The artifacts of one real small run (a compiled program, its keys, inputs and outputs) and
//! what the artifact fuzzers do with a file that loads: shared by `tests/hostile_artifacts.rs`
//! (the property tests) and `tests/hostile_regressions.rs` (the reproducers they found).

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hel_compiler::{compile, Options, SourceFile};
use hel_runtime::ckks::{Context, Sampler, SecretKey};
use hel_runtime::client::{self, EncryptedOutputs, EvalKeys};
use hel_runtime::exec::{self, CkksEvaluator, CostEvaluator, CostTable, PlainEvaluator};
use hel_runtime::schedule::{Schedule, ScheduleFormat, Shape, Tensor};

/// A public matrix, two encrypted inputs, a client-side product, rotations (sums), several
/// outputs of different shapes: every part of a schedule has something in it. (`y * y` keeps
/// a multiplication on encrypted data on the server: without one the compiler would not hand
/// the client `transpose(Z) @ Z`, see `hel_compiler::driver::optimize_program`.)
pub const PROGRAM: &str = "
input X: plain matrix[8, 3] range [-1, 1];
input y: enc vector[8] range [-2, 2];
input Z: enc matrix[4, 4] range [-1, 1];
let g = transpose(X) @ y;
let c = transpose(Z) @ Z;
let s = sum_rows(Z);
let q = y * y;
output g, c, s, q;
";

/// Everything a run makes, as the files hold it.
pub struct Artifacts {
    pub schedule: Schedule,
    pub ctx: Context,
    pub sk: SecretKey,
    pub eval_keys: EvalKeys,
    pub inputs: Vec<Vec<Tensor>>,
    pub schedule_bin: Vec<u8>,
    pub schedule_ron: Vec<u8>,
    pub secret_key: Vec<u8>,
    pub eval_keys_bin: Vec<u8>,
    pub enc_inputs: Vec<u8>,
    pub enc_outputs: Vec<u8>,
    /// The decrypted outputs of the unmodified run.
    pub results: Vec<Tensor>,
}

/// The artifacts, made once per test binary.
pub fn artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(make)
}

fn make() -> Artifacts {
    let src = SourceFile::new("hostile.hel", PROGRAM);
    let compiled = compile(&src, &Options::default()).expect("the fixture program compiles");
    let schedule = compiled.schedule().clone();
    let ctx = client::context(&schedule).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(19);
    let (sk, eval_keys) = client::keygen(&schedule, &ctx, &mut rng).unwrap();
    let inputs = inputs_for(&schedule).expect("small inputs");
    let upload = client::encrypt_inputs(&schedule, &ctx, &sk, &inputs, &mut rng).unwrap();
    let enc_inputs = upload.to_bytes(&ctx).unwrap();
    let key_id = upload.key_id;
    let ev = CkksEvaluator::new_seeded(
        &ctx,
        &schedule,
        &eval_keys.relin,
        &eval_keys.galois,
        upload.ciphertexts,
        upload.public,
    )
    .unwrap();
    let run = exec::execute(&schedule, &ev, &exec::RunOptions::default()).unwrap();
    let outs = EncryptedOutputs::new(&schedule, key_id, run.outputs);
    let results = client::decrypt_outputs(&schedule, &ctx, &sk, &outs).unwrap();
    Artifacts {
        schedule_bin: schedule.to_bytes(ScheduleFormat::Binary).unwrap(),
        schedule_ron: schedule.to_bytes(ScheduleFormat::Ron).unwrap(),
        secret_key: client::secret_key_to_bytes(&schedule, &ctx, &sk).unwrap(),
        eval_keys_bin: eval_keys.to_bytes(&ctx).unwrap(),
        enc_outputs: outs.to_bytes(&ctx).unwrap(),
        enc_inputs,
        results,
        schedule,
        ctx,
        sk,
        eval_keys,
        inputs,
    }
}

/// Entries the fuzzers let a loaded schedule's client tensors have before they skip running
/// it: the limits allow far more, which a test cannot afford thousands of times.
const RUN_ENTRIES: usize = 1 << 14;

/// Inputs of the declared shapes (entries in [-1, 1]), `None` if they are too large to run.
pub fn inputs_for(s: &Schedule) -> Option<Vec<Vec<Tensor>>> {
    let total: usize = s
        .inputs
        .iter()
        .map(|i| i.shape.len().saturating_mul(i.elements()))
        .fold(0, usize::saturating_add);
    let outs: usize = s
        .outputs
        .iter()
        .map(|o| o.shape.len())
        .fold(0, usize::saturating_add);
    let derived: usize = s
        .derived
        .iter()
        .flat_map(|d| &d.ops)
        .map(|op| match op {
            hel_runtime::schedule::ClientOp::Fill { shape, .. } => shape.len(),
            _ => 0,
        })
        .fold(0, usize::saturating_add);
    if total > RUN_ENTRIES || outs > RUN_ENTRIES || derived > RUN_ENTRIES {
        return None;
    }
    Some(
        s.inputs
            .iter()
            .map(|i| {
                (0..i.elements())
                    .map(|e| {
                        let n = i.shape.len();
                        let data = (0..n).map(|k| ((k + e) % 7) as f64 / 7.0 - 0.5).collect();
                        Tensor {
                            shape: i.shape,
                            data,
                        }
                    })
                    .collect()
            })
            .collect(),
    )
}

/// What a schedule that loaded goes through: the listing, the figures, the cost evaluator,
/// the plaintext evaluator and simulation, and (with `ckks`, when the parameters are the
/// fixture's) encryption, the encrypted run and decryption with the fixture's keys. Every
/// step may refuse; none may panic. Returns whether the encrypted run decrypted.
pub fn exercise(s: &Schedule, ckks: bool) -> bool {
    let _ = s.to_text();
    let _ = s.resources();
    let _ = s.depth();
    let _ = s.canonical_hash();
    if let Ok(cost) = CostEvaluator::new(s, CostTable::default()) {
        let _ = exec::execute(s, &cost, &exec::RunOptions::default());
    }
    let Some(inputs) = inputs_for(s) else {
        return false;
    };
    let _ = hel_runtime::schedule::simulate(s, &inputs);
    if let Ok(plain) = PlainEvaluator::new(s, &inputs) {
        let _ = exec::execute(s, &plain, &exec::RunOptions::default());
    }
    let a = artifacts();
    if !ckks || s.params != a.schedule.params {
        return false;
    }
    let mut rng = Sampler::seeded_for_testing_only(7);
    let Ok(upload) = client::encrypt_inputs(s, &a.ctx, &a.sk, &inputs, &mut rng) else {
        return false;
    };
    if a.eval_keys.check(s, &a.ctx).is_err() {
        return false;
    }
    let key_id = upload.key_id;
    let Ok(ev) = CkksEvaluator::new_seeded(
        &a.ctx,
        s,
        &a.eval_keys.relin,
        &a.eval_keys.galois,
        upload.ciphertexts,
        upload.public,
    ) else {
        return false;
    };
    let Ok(run) = exec::execute(s, &ev, &exec::RunOptions::default()) else {
        return false;
    };
    let outs = EncryptedOutputs::new(s, key_id, run.outputs);
    client::decrypt_outputs(s, &a.ctx, &a.sk, &outs).is_ok()
}

/// Runs `f`, failing the test if it takes longer than `limit` (a hang shows as a slow case).
pub fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    assert!(took <= limit, "{what} took {took:?} (limit {limit:?})");
    out
}

/// Recomputes a blake3-trailed file's checksum (the last 32 bytes) after an edit, so the
/// edit reaches the decoder instead of stopping at the integrity check.
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 32 {
        return;
    }
    let split = bytes.len() - 32;
    let sum = blake3::hash(&bytes[..split]);
    bytes[split..].copy_from_slice(sum.as_bytes());
}

/// Rewrites a binary schedule's length field for its (edited) body and reseals it.
pub fn reseal_schedule(bytes: &mut [u8]) {
    if bytes.len() < 14 + 32 {
        return;
    }
    let body = (bytes.len() - 14 - 32) as u64;
    bytes[6..14].copy_from_slice(&body.to_le_bytes());
    reseal(bytes);
}

/// The offsets of the CKKS objects (`HELCKS` ...) embedded in a client file, with their
/// lengths.
pub fn ckks_objects(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 49 <= bytes.len() {
        if &bytes[i..i + 6] == b"HELCKS" {
            let mut len = [0u8; 8];
            len.copy_from_slice(&bytes[i + 41..i + 49]);
            let total = 49 + u64::from_le_bytes(len) as usize + 32;
            if i + total <= bytes.len() {
                out.push((i, total));
                i += total;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A shape with the given dimensions (`kind` picks scalar, vector or matrix).
pub fn shape(kind: u8, a: usize, b: usize) -> Shape {
    match kind % 3 {
        0 => Shape::Scalar,
        1 => Shape::Vector(a),
        _ => Shape::Matrix(a, b),
    }
}
