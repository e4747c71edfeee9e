//! Artifact fuzzing (issue 19): every kind of file a party receives, made by a real small run
//! and then mutated, through its loader and, when it loads, through what the commands do with
//! it. Byte mutations (flips, truncations, extensions, splices) with and without a recomputed
//! checksum reach the decoders; structured mutations (a field of the decoded schedule set to
//! an edge value, or a ciphertext's level or scale edited in place, re-encoded and resealed)
//! reach validation and everything after it. Nothing may panic, allocate without bound or take
//! more than a few seconds; a file either is refused with a message or runs consistently with
//! what validation promised (an edited output scale is refused, never decoded).
//!
//! The CI run is bounded (`HEL_FUZZ_CASES` cases per property, 256 by default: 1,280 files in
//! about a second); the long run of docs/security.md ("Fuzzing") is
//! `HEL_FUZZ_CASES=5000 cargo test --test hostile_artifacts -- --nocapture`, which prints how
//! many files were refused, loaded and decrypted. Reproducers go into
//! `tests/hostile_regressions.rs`.

mod hostile;

use std::time::Duration;

use hel_runtime::client::{secret_key_from_bytes, EncryptedInputs, EncryptedOutputs, EvalKeys};
use hel_runtime::exec::{self, CostEvaluator, CostTable};
use hel_runtime::schedule::{Instr, Layout, Plain, Schedule, ScheduleFormat};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use hostile::{artifacts, exercise, reseal, reseal_schedule, shape, timed};

fn config() -> ProptestConfig {
    let cases = std::env::var("HEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Each case is a whole load (and sometimes an encrypted run): shrinking a failure is
        // worth it, a thousand shrinking steps are not.
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const LIMIT: Duration = Duration::from_secs(10);

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    Flip {
        at: usize,
        xor: u8,
    },
    Set {
        at: usize,
        to: u8,
    },
    Truncate {
        at: usize,
    },
    Extend {
        bytes: Vec<u8>,
    },
    /// Copies `len` bytes from `from` over `to` (a field moved elsewhere).
    Splice {
        from: usize,
        to: usize,
        len: usize,
    },
    /// A little-endian u64 of an interesting value written at `at` (a length or count field).
    Word {
        at: usize,
        value: u64,
    },
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u32::MAX as u64),
        Just(u32::MAX as u64 + 1),
        Just(u64::MAX),
        Just(1 << 26),
        Just(1 << 40),
        any::<u64>(),
        0u64..70_000,
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Edit::Flip { at, xor }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Edit::Set { at, to }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Edit::Extend { bytes }),
        (any::<usize>(), any::<usize>(), 1usize..64).prop_map(|(from, to, len)| Edit::Splice {
            from,
            to,
            len
        }),
        (any::<usize>(), interesting_u64()).prop_map(|(at, value)| Edit::Word { at, value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Flip { at, xor } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b ^= xor;
                }
            }
            Edit::Set { at, to } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b = *to;
                }
            }
            Edit::Truncate { at } => bytes.truncate(at % n),
            Edit::Extend { bytes: more } => bytes.extend_from_slice(more),
            Edit::Splice { from, to, len } => {
                let (from, to) = (from % n, to % n);
                let len = (*len).min(bytes.len().saturating_sub(from.max(to)));
                let chunk = bytes[from..from + len].to_vec();
                bytes[to..to + len].copy_from_slice(&chunk);
            }
            Edit::Word { at, value } => {
                let at = at % n;
                if at + 8 <= bytes.len() {
                    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
                }
            }
        }
    }
}

/// What became of one mutated file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Refused,
    Loaded,
    /// Loaded, ran encrypted and decrypted.
    Decrypted,
}

/// Runs `case` on `HEL_FUZZ_CASES` values of `strategy`, prints how many files were refused,
/// loaded and decrypted, and returns the counts.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    case: impl Fn(S::Value) -> Result<Outcome, TestCaseError>,
) -> [usize; 3] {
    let counts = std::sync::Mutex::new([0usize; 3]);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |v| {
        let o = timed(name, LIMIT, || case(v))?;
        counts.lock().unwrap()[o as usize] += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let c = *counts.lock().unwrap();
    eprintln!(
        "{name}: {} cases: {} refused, {} loaded, {} ran encrypted and decrypted",
        c.iter().sum::<usize>(),
        c[0],
        c[1] + c[2],
        c[2]
    );
    c
}

/// Loads a schedule file and, if it loads, exercises it; the loaded schedule must validate.
fn load_schedule(bytes: &[u8], ckks: bool) -> Outcome {
    match Schedule::from_bytes(bytes) {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            Outcome::Refused
        }
        Ok(s) => {
            assert_eq!(s.validate(), Ok(()));
            if exercise(&s, ckks) {
                Outcome::Decrypted
            } else {
                Outcome::Loaded
            }
        }
    }
}

/// Byte edits of the binary and RON schedule files, resealed or not.
#[test]
fn schedule_bytes() {
    let strategy = (
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(edit(), 1..6),
        proptest::bool::weighted(0.05),
    );
    let c = fuzz("schedule bytes", strategy, |(ron, seal, edits, ckks)| {
        let a = artifacts();
        let mut bytes = if ron {
            a.schedule_ron.clone()
        } else {
            a.schedule_bin.clone()
        };
        apply(&mut bytes, &edits);
        if seal && !ron {
            reseal_schedule(&mut bytes);
        }
        Ok(load_schedule(&bytes, ckks))
    });
    assert!(c[0] > 0, "some edits are refused");
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0f64),
        Just(-1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e300),
        Just(1e-300),
        Just(2.0),
        Just(0.5),
        Just(1.0),
        any::<f64>()
    ]
}

/// One field of the decoded schedule set to an edge value, re-encoded with a valid
/// checksum: what a hand-edited `.helc` reaches.
#[test]
fn schedule_fields() {
    let strategy = (
        0u8..26,
        any::<usize>(),
        interesting_u64(),
        interesting_u64(),
        float(),
        proptest::bool::weighted(0.25),
    );
    let c = fuzz(
        "schedule fields",
        strategy,
        |(field, index, value, second, f, ckks)| {
            let a = artifacts();
            let mut s = a.schedule.clone();
            mutate(&mut s, field, index, value, second, f);
            let bytes = s.to_bytes(ScheduleFormat::Binary).unwrap();
            Ok(load_schedule(&bytes, ckks))
        },
    );
    let cases: usize = c.iter().sum();
    assert!(c[0] > 0, "some edits are refused");
    assert!(
        cases < 32 || c[1] + c[2] > 0,
        "some edits load and run (an edit the schedule does not depend on)"
    );
}

/// Byte edits of each client file (secret key, evaluation keys, encrypted inputs and
/// outputs), with the envelope's checksum, the embedded CKKS objects' checksums, both or
/// neither recomputed, through its loader for the fixture's program.
#[test]
fn client_file_bytes() {
    let strategy = (
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(edit(), 1..4),
    );
    let c = fuzz(
        "client file bytes",
        strategy,
        |(kind, seal_outer, seal_inner, edits)| {
            let a = artifacts();
            let mut bytes = match kind {
                0 => a.secret_key.clone(),
                1 => a.eval_keys_bin.clone(),
                2 => a.enc_inputs.clone(),
                _ => a.enc_outputs.clone(),
            };
            apply(&mut bytes, &edits);
            if seal_inner {
                for (at, len) in hostile::ckks_objects(&bytes) {
                    reseal(&mut bytes[at..at + len]);
                }
            }
            if seal_outer {
                reseal(&mut bytes);
            }
            Ok(load_client(kind, &bytes))
        },
    );
    assert!(c[0] > 0, "some edits are refused");
}

/// The level or scale of one output ciphertext edited in place (both checksums recomputed):
/// decrypt must refuse it, or, for an edit within the scale tolerance, decrypt to the
/// original results.
#[test]
fn output_ciphertext_fields() {
    let strategy = (
        any::<usize>(),
        any::<bool>(),
        interesting_u64(),
        prop_oneof![
            Just(2.0f64),
            Just(0.5),
            Just(1.0 + 1e-6),
            Just(1.0 + 1e-12),
            Just(f64::NAN),
            any::<f64>()
        ],
    );
    let c = fuzz(
        "output ciphertext fields",
        strategy,
        |(which, level, value, factor)| {
            let a = artifacts();
            let mut bytes = a.enc_outputs.clone();
            let objects = hostile::ckks_objects(&bytes);
            let (at, len) = objects[which % objects.len()];
            if level {
                bytes[at + 49..at + 53].copy_from_slice(&(value as u32).to_le_bytes());
            } else {
                let mut old = [0u8; 8];
                old.copy_from_slice(&bytes[at + 53..at + 61]);
                let scale = f64::from_le_bytes(old) * factor;
                bytes[at + 53..at + 61].copy_from_slice(&scale.to_le_bytes());
            }
            reseal(&mut bytes[at..at + len]);
            reseal(&mut bytes);
            let Ok(outs) = EncryptedOutputs::from_bytes(&a.schedule, &a.ctx, &bytes) else {
                return Ok(Outcome::Refused);
            };
            let got = hel_runtime::client::decrypt_outputs(&a.schedule, &a.ctx, &a.sk, &outs)
                .expect("outputs that load decrypt");
            // Only an edit within the scale tolerance (1e-9 relative) may load.
            for (g, want) in got.iter().zip(&a.results) {
                for (x, y) in g.data.iter().zip(&want.data) {
                    prop_assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
                }
            }
            Ok(Outcome::Decrypted)
        },
    );
    assert!(c[0] > 0, "some edits are refused");
}

/// The cost table (a file `hel run` reads): byte edits of its RON text, or one curve's ring
/// degree, limb count or time set to an edge value. A table that loads must price every
/// operation at every ring degree and run the cost evaluator.
#[test]
fn cost_table() {
    let strategy = (
        any::<bool>(),
        proptest::collection::vec(edit(), 1..4),
        any::<usize>(),
        interesting_u64(),
        float(),
    );
    let c = fuzz("cost table", strategy, |(bytes, edits, index, v, f)| {
        let table = CostTable::default();
        let text = if bytes {
            let mut raw = table.to_ron().unwrap().into_bytes();
            apply(&mut raw, &edits);
            String::from_utf8_lossy(&raw).into_owned()
        } else {
            let mut t = table;
            let i = index % t.curves.len();
            match v % 3 {
                0 => t.curves[i].log_n = (v >> 2) as u32,
                1 => t.curves[i].points[0].0 = (v >> 2) as u32,
                _ => t.curves[i].points[0].1 = f,
            }
            t.to_ron().unwrap()
        };
        let Ok(t) = CostTable::from_ron(&text) else {
            return Ok(Outcome::Refused);
        };
        for log_n in 10..=17 {
            for limbs in [0, 1, 7, 60] {
                for op in ["add", "ct_mul", "rotate", "encode", "relinearize"] {
                    prop_assert!(t.seconds(log_n, op, limbs) >= 0.0 || t.curves.is_empty());
                }
                let _ = t.rotations_seconds(log_n, limbs, 5);
            }
        }
        let s = &artifacts().schedule;
        let ev = CostEvaluator::new(s, t).expect("the fixture's parameters have primes");
        prop_assert!(exec::execute(s, &ev, &exec::RunOptions::default()).is_ok());
        Ok(Outcome::Loaded)
    });
    assert!(c[0] > 0 && c[1] > 0, "some tables are refused, some load");
}

/// Loads client file `kind` for the fixture's program; what loads must pass its own checks,
/// and outputs that load must decrypt without a panic.
fn load_client(kind: u8, bytes: &[u8]) -> Outcome {
    let a = artifacts();
    let (s, ctx) = (&a.schedule, &a.ctx);
    let loaded = match kind {
        0 => secret_key_from_bytes(s, ctx, bytes).is_ok(),
        1 => EvalKeys::from_bytes(s, ctx, bytes)
            .map(|k| assert!(k.check(s, ctx).is_ok()))
            .is_ok(),
        2 => EncryptedInputs::from_bytes(s, ctx, bytes)
            .map(|i| assert!(i.check(s).is_ok()))
            .is_ok(),
        _ => match EncryptedOutputs::from_bytes(s, ctx, bytes) {
            Ok(o) => {
                assert!(o.check(s).is_ok());
                let d = hel_runtime::client::decrypt_outputs(s, ctx, &a.sk, &o);
                return if d.is_ok() {
                    Outcome::Decrypted
                } else {
                    Outcome::Loaded
                };
            }
            Err(_) => false,
        },
    };
    if loaded {
        Outcome::Loaded
    } else {
        Outcome::Refused
    }
}

/// Sets one field of `s` (chosen by `field`, the element by `index`) from `v`, `w` and `f`.
fn mutate(s: &mut Schedule, field: u8, index: usize, v: u64, w: u64, f: f64) {
    let vu = v as usize;
    let wu = w as usize;
    let pick = |len: usize| index % len.max(1);
    match field {
        0 => s.unit.h = vu,
        1 => {
            s.unit.h = vu;
            s.unit.w = wu;
        }
        2 => {
            let i = pick(s.inputs.len());
            s.inputs[i].shape = shape(w as u8, vu, wu >> 8);
        }
        3 => {
            let i = pick(s.inputs.len());
            s.inputs[i].seq = Some(vu);
        }
        4 => {
            let i = pick(s.outputs.len());
            s.outputs[i].shape = shape(w as u8, vu, wu >> 8);
        }
        5 => {
            let i = pick(s.outputs.len());
            let layout = &mut s.outputs[i].tiles[0].layout;
            *layout = match *layout {
                Layout::MatrixTile { transposed, .. } => Layout::MatrixTile {
                    transposed,
                    row0: vu,
                    col0: wu,
                },
                Layout::RowVector { .. } => Layout::RowVector { offset: vu },
                Layout::ColVector { .. } => Layout::ColVector { offset: vu },
                other => other,
            };
        }
        6 => {
            let i = pick(s.ct_inputs.len());
            s.ct_inputs[i].level = v as u32;
        }
        7 => {
            let i = pick(s.ct_inputs.len());
            s.ct_inputs[i].scale *= f;
        }
        8 => {
            let i = pick(s.ct_inputs.len());
            s.ct_inputs[i].pack.factor = f;
            s.ct_inputs[i].pack.layout = Layout::MatrixRow {
                transposed: v.is_multiple_of(2),
                row: vu,
                col0: wu,
            };
        }
        9 => {
            let i = pick(s.nodes.len());
            s.nodes[i].level = v as u32;
        }
        10 => {
            let i = pick(s.nodes.len());
            s.nodes[i].scale *= f;
        }
        11 => {
            let i = pick(s.nodes.len());
            s.nodes[i].degree = v as u8;
        }
        12 => {
            let rot = s
                .nodes
                .iter()
                .position(|n| matches!(n.instr, Instr::Rotate { .. }));
            if let Some(i) = rot {
                s.nodes[i].instr = Instr::Rotate {
                    a: s.nodes[i].instr.operands()[0],
                    step: v as i64,
                };
                if w.is_multiple_of(2) {
                    s.rotation_steps.push(v as i64);
                    s.rotation_steps.sort_unstable();
                    s.rotation_steps.dedup();
                }
            }
        }
        13 => s.rotation_steps.push(v as i64),
        14 => {
            let i = pick(s.derived.len());
            if let Some(d) = s.derived.get_mut(i) {
                d.shape = shape(w as u8, vu, wu >> 8);
                d.ops.push(hel_runtime::schedule::ClientOp::Fill {
                    shape: d.shape,
                    value: f,
                });
            }
        }
        15 => {
            let i = pick(s.nodes.len());
            let a = s.nodes[i].instr.operands().first().copied().unwrap_or(0);
            let plain = if v.is_multiple_of(2) {
                Plain::Diagonal {
                    value: f,
                    offset: w as i64,
                    rows: (v as u32, (v >> 32) as u32),
                }
            } else {
                Plain::Rect {
                    value: f,
                    rows: (v as u32, (v >> 32) as u32),
                    cols: (w as u32, (w >> 32) as u32),
                }
            };
            s.nodes[i].instr = Instr::MulPlain {
                a,
                plain,
                scale: 2f64.powi(20),
            };
        }
        16 => {
            let i = pick(s.nodes.len());
            s.nodes[i].instr = Instr::Add {
                a: v as u32,
                b: w as u32,
            };
        }
        17 => {
            let i = pick(s.nodes.len());
            s.nodes[i].last_use = Some(v as u32);
        }
        18 => s.hoist_groups.push(vec![v as u32, w as u32]),
        19 => {
            let i = pick(s.level_scales.len());
            s.level_scales[i] *= f;
        }
        20 => {
            let i = pick(s.outputs.len());
            s.outputs[i].tiles[0].value = v as u32;
        }
        21 => {
            let i = pick(s.nodes.len());
            let a = s.nodes[i].instr.operands().first().copied().unwrap_or(0);
            s.nodes[i].instr = if v.is_multiple_of(2) {
                Instr::MulInt { a, k: w as i64 }
            } else {
                Instr::MulConst {
                    a,
                    value: f,
                    scale: f.abs(),
                }
            };
        }
        22 => {
            let i = pick(s.inputs.len());
            s.inputs[i].name = "x".repeat(vu % 20_000);
        }
        23 => s.nodes.truncate(pick(s.nodes.len())),
        24 => {
            s.params.log_n = v as u32;
            if w.is_multiple_of(2) {
                s.params.q_bits.push(w as u32);
            }
        }
        _ => {
            let i = pick(s.nodes.len());
            s.nodes[i].instr = Instr::Trivial {
                plain: Plain::Rect {
                    value: f,
                    rows: (0, v as u32),
                    cols: (0, w as u32),
                },
                level: v as u32,
                scale: f,
            };
        }
    }
}
