//! The client side: keygen → encrypt → (identity server) → decrypt round trips on a hand-built
//! schedule, the file formats' refusals (other program, other parameters, wrong kind,
//! truncation, corruption), input checking, and that the secret key and the encrypted inputs
//! never appear in the files that leave the client.

#[path = "support/identity.rs"]
mod identity;

use hel_runtime::ckks::{Context, Sampler, SecretKey};
use hel_runtime::client::{
    check_inputs, context, decrypt_outputs, decrypt_outputs_flooded, encrypt_inputs, keygen,
    secret_key_from_bytes, secret_key_to_bytes, ClientError, EncryptedInputs, EncryptedOutputs,
    EvalKeys,
};
use hel_runtime::schedule::{Schedule, Shape, Tensor};
use identity::*;

struct Setup {
    schedule: Schedule,
    ctx: Context,
    sk: SecretKey,
    keys: EvalKeys,
    inputs: Vec<Vec<Tensor>>,
    enc: EncryptedInputs,
}

fn setup(seed: u64) -> Setup {
    let schedule = identity_schedule(13, "hash-of-identity");
    let ctx = context(&schedule).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(seed);
    let (sk, keys) = keygen(&schedule, &ctx, &mut rng).unwrap();
    let inputs = sample_inputs(seed);
    let enc = encrypt_inputs(&schedule, &ctx, &sk, &inputs, &mut rng).unwrap();
    Setup {
        schedule,
        ctx,
        sk,
        keys,
        inputs,
        enc,
    }
}

/// What the identity server returns: node i is input ciphertext i.
fn identity_outputs(s: &Setup, enc: &EncryptedInputs) -> EncryptedOutputs {
    let cts = enc.expand(&s.ctx).unwrap();
    EncryptedOutputs::new(
        &s.schedule,
        enc.key_id,
        cts.into_iter()
            .enumerate()
            .map(|(i, c)| (i as u32, c))
            .collect(),
    )
}

/// Checks every output against the expected tensors, each within the fresh-encryption bound
/// of the level and factor its ciphertext input was packed with (plus `extra`).
fn assert_close(s: &Setup, got: &[Tensor], extra: f64) -> f64 {
    let want = expected_outputs(&s.inputs);
    assert_eq!(got.len(), want.len());
    let mut worst: f64 = 0.0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.shape, w.shape, "output {i}");
        let ct = &s.schedule.ct_inputs[i];
        let tol = fresh_tolerance(s.ctx.n(), ct.scale, ct.pack.factor) + extra;
        for (k, (a, b)) in g.data.iter().zip(&w.data).enumerate() {
            let err = (a - b).abs();
            worst = worst.max(err);
            assert!(
                err <= tol,
                "output {} entry {k}: {a} vs {b} (error {err:e} > {tol:e})",
                s.schedule.outputs[i].name
            );
        }
    }
    worst
}

#[test]
fn round_trip_through_files_recovers_the_inputs_and_derived_tensors() {
    let s = setup(1);
    // Every file goes through bytes, as in the CLI.
    let key_bytes = s.keys.to_bytes(&s.ctx).unwrap();
    let keys = EvalKeys::from_bytes(&s.schedule, &s.ctx, &key_bytes).unwrap();
    assert_eq!(keys, s.keys);
    // Exactly the rotations of the schedule (-1, 1, 4) plus conjugation.
    assert_eq!(keys.galois.elements().len(), 4);
    let sizes = s.keys.key_bytes(&s.ctx).unwrap();
    assert_eq!(sizes.eval_total, key_bytes.len());
    assert_eq!(sizes.galois_count, 4);
    assert!(sizes.public_key + sizes.relin_key + sizes.galois_keys < sizes.eval_total);

    let sk_bytes = secret_key_to_bytes(&s.schedule, &s.ctx, &s.sk).unwrap();
    let sk = secret_key_from_bytes(&s.schedule, &s.ctx, &sk_bytes).unwrap();
    assert_eq!(sk, s.sk);

    let in_bytes = s.enc.to_bytes(&s.ctx).unwrap();
    assert_eq!(s.enc.upload_bytes(&s.ctx).unwrap(), in_bytes.len());
    let enc = EncryptedInputs::from_bytes(&s.schedule, &s.ctx, &in_bytes).unwrap();
    assert_eq!(enc, s.enc);
    // Seed compression: the upload is about half the expanded ciphertexts.
    let expanded = hel_runtime::client::expanded_bytes(&s.schedule, &s.ctx);
    assert!(
        in_bytes.len() < expanded * 6 / 10,
        "{} vs {expanded}",
        in_bytes.len()
    );

    let outs = identity_outputs(&s, &enc);
    let out_bytes = outs.to_bytes(&s.ctx).unwrap();
    let outs = EncryptedOutputs::from_bytes(&s.schedule, &s.ctx, &out_bytes).unwrap();
    let got = decrypt_outputs(&s.schedule, &s.ctx, &sk, &outs).unwrap();
    let worst = assert_close(&s, &got, 0.0);
    // The bound is a worst case; the actual error is far below it but not zero.
    assert!(worst > 0.0 && worst < 1e-8, "worst error {worst:e}");
}

#[test]
fn files_of_two_keygen_runs_for_one_program_are_refused_together() {
    // Same program, same parameters, two key sets: each file passes its own checks, and only
    // the key-set id tells them apart.
    let a = setup(11);
    let b = setup(12);
    assert_ne!(a.keys.key_id, b.keys.key_id);
    assert_eq!(a.enc.key_id, a.keys.key_id);
    let mismatch = |e: ClientError| matches!(e, ClientError::KeySetMismatch { .. });

    // The server: inputs of key set A with evaluation keys of key set B.
    let in_bytes = a.enc.to_bytes(&a.ctx).unwrap();
    let enc = EncryptedInputs::from_bytes(&a.schedule, &a.ctx, &in_bytes).unwrap();
    assert_eq!(enc.key_id, a.keys.key_id);
    let key_bytes = b.keys.to_bytes(&b.ctx).unwrap();
    let keys_b = EvalKeys::from_bytes(&b.schedule, &b.ctx, &key_bytes).unwrap();
    assert!(enc.check_keys(&a.keys).is_ok());
    let err = enc.check_keys(&keys_b).unwrap_err();
    assert!(
        err.to_string().contains("different `hel keygen` runs"),
        "{err}"
    );
    assert!(mismatch(err));

    // The client: outputs computed under key set A, decrypted with B's secret key.
    let outs = identity_outputs(&a, &enc);
    let outs =
        EncryptedOutputs::from_bytes(&a.schedule, &a.ctx, &outs.to_bytes(&a.ctx).unwrap()).unwrap();
    assert_eq!(outs.key_id, a.keys.key_id);
    let err = decrypt_outputs(&a.schedule, &a.ctx, &b.sk, &outs).unwrap_err();
    assert!(
        mismatch(err),
        "decrypting with another key set's secret key"
    );
    assert!(decrypt_outputs(&a.schedule, &a.ctx, &a.sk, &outs).is_ok());

    // The debug evaluator: a secret key against evaluation keys.
    assert!(a.keys.check_secret_key(&a.ctx, &a.sk).is_ok());
    assert!(mismatch(
        a.keys.check_secret_key(&a.ctx, &b.sk).unwrap_err()
    ));

    // A secret-key file whose header names another key set is refused on load.
    let sk_a = secret_key_to_bytes(&a.schedule, &a.ctx, &a.sk).unwrap();
    let sk_b = secret_key_to_bytes(&b.schedule, &b.ctx, &b.sk).unwrap();
    let id_at = sk_a
        .windows(16)
        .position(|w| w == a.keys.key_id.0)
        .expect("the key-set id is in the header");
    let mut forged = sk_b.clone();
    forged[id_at..id_at + 16].copy_from_slice(&a.keys.key_id.0);
    let n = forged.len();
    let sum = blake3::hash(&forged[..n - 32]);
    forged[n - 32..].copy_from_slice(sum.as_bytes());
    let err = secret_key_from_bytes(&b.schedule, &b.ctx, &forged).unwrap_err();
    assert!(matches!(err, ClientError::Malformed { .. }), "{err}");
}

#[test]
fn ciphertexts_sit_at_the_schedules_levels_and_public_inputs_pass_in_clear() {
    let s = setup(2);
    for (ct, want) in s.enc.ciphertexts.iter().zip(&s.schedule.ct_inputs) {
        assert_eq!(ct.level(), want.level as usize);
    }
    let cts = s.enc.expand(&s.ctx).unwrap();
    for (ct, want) in cts.iter().zip(&s.schedule.ct_inputs) {
        assert_eq!(ct.scale(), want.scale);
    }
    assert_eq!(s.enc.public[B as usize], s.inputs[B as usize]);
    for i in [X, W, Z, S] {
        assert!(s.enc.public[i as usize].is_empty());
    }
}

#[test]
fn encryption_is_reproducible_under_a_seeded_sampler_and_random_otherwise() {
    let a = setup(3);
    let b = setup(3);
    assert_eq!(a.enc, b.enc);
    let mut os = Sampler::from_os();
    let c = encrypt_inputs(&a.schedule, &a.ctx, &a.sk, &a.inputs, &mut os).unwrap();
    let d = encrypt_inputs(&a.schedule, &a.ctx, &a.sk, &a.inputs, &mut os).unwrap();
    assert_ne!(c.ciphertexts[0], d.ciphertexts[0]);
}

/// The 2-bit-packed coefficient body of the raw secret-key object: HELCKS header (49 bytes)
/// and blake3 trailer (32 bytes) stripped.
fn secret_body(s: &Setup) -> Vec<u8> {
    let raw = s.sk.to_bytes(&s.ctx).unwrap();
    raw[49..raw.len() - 32].to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_secret_key_never_appears_in_public_files() {
    let s = setup(4);
    let body = secret_body(&s);
    assert_eq!(body.len(), s.ctx.n() / 4);
    let windows: Vec<&[u8]> = (0..8)
        .map(|k| &body[k * body.len() / 8..k * body.len() / 8 + 32])
        .collect();
    // Positive control: the secret-key file does contain it.
    let sk_file = secret_key_to_bytes(&s.schedule, &s.ctx, &s.sk).unwrap();
    assert!(windows.iter().all(|w| contains(&sk_file, w)));
    let public_files = [
        ("eval keys", s.keys.to_bytes(&s.ctx).unwrap()),
        ("inputs", s.enc.to_bytes(&s.ctx).unwrap()),
        (
            "outputs",
            identity_outputs(&s, &s.enc).to_bytes(&s.ctx).unwrap(),
        ),
    ];
    for (name, bytes) in &public_files {
        for w in &windows {
            assert!(!contains(bytes, w), "secret key bytes found in the {name}");
        }
    }
}

#[test]
fn encrypted_inputs_never_appear_in_clear_in_the_upload() {
    let s = setup(5);
    let bytes = s.enc.to_bytes(&s.ctx).unwrap();
    for i in [X, W, Z, S] {
        for t in &s.inputs[i as usize] {
            for v in &t.data {
                assert!(
                    !contains(&bytes, &v.to_bits().to_le_bytes()),
                    "input {i}: {v}"
                );
            }
        }
    }
    // The plain input is there, as it should be.
    let b = s.inputs[B as usize][0].data[0];
    assert!(contains(&bytes, &b.to_bits().to_le_bytes()));
}

#[test]
fn ciphertexts_of_another_program_are_refused_naming_both_and_keys_serve_it() {
    let s = setup(6);
    let other = identity_schedule(13, "hash-of-another-program");
    // Keys belong to the parameters: they serve another program whose rotations they cover.
    let key_bytes = s.keys.to_bytes(&s.ctx).unwrap();
    let keys = EvalKeys::from_bytes(&other, &s.ctx, &key_bytes).unwrap();
    assert_eq!(keys.program_hash, "hash-of-identity");
    let sk_bytes = secret_key_to_bytes(&s.schedule, &s.ctx, &s.sk).unwrap();
    assert_eq!(
        secret_key_from_bytes(&other, &s.ctx, &sk_bytes).unwrap(),
        s.sk
    );
    // ... but not one that needs a rotation they lack; the error names the rotation and the
    // program the keys were made for.
    let mut rotates_more = other.clone();
    rotates_more.rotation_steps.push(2);
    let err = EvalKeys::from_bytes(&rotates_more, &s.ctx, &key_bytes).unwrap_err();
    assert!(matches!(err, ClientError::KeySet(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("rotation by [2]") && msg.contains("hash-of-identity"),
        "{msg}"
    );

    let files: [(&str, Vec<u8>); 2] = [
        ("inputs", s.enc.to_bytes(&s.ctx).unwrap()),
        (
            "outputs",
            identity_outputs(&s, &s.enc).to_bytes(&s.ctx).unwrap(),
        ),
    ];
    for (name, bytes) in &files {
        let err = match *name {
            "inputs" => EncryptedInputs::from_bytes(&other, &s.ctx, bytes).map(drop),
            _ => EncryptedOutputs::from_bytes(&other, &s.ctx, bytes).map(drop),
        }
        .unwrap_err();
        assert!(
            matches!(err, ClientError::WrongProgram { .. }),
            "{name}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("hash-of-identity") && msg.contains("hash-of-another"),
            "{msg}"
        );
    }
    // In-memory objects are checked too.
    let outs = identity_outputs(&s, &s.enc);
    let ctx = &s.ctx;
    assert!(matches!(
        decrypt_outputs(&other, ctx, &s.sk, &outs),
        Err(ClientError::WrongProgram { .. })
    ));
}

#[test]
fn other_parameters_and_contexts_are_refused() {
    let s = setup(7);
    // Same program hash, other parameters: a mixed-up or hand-edited schedule.
    let small = identity_schedule(12, "hash-of-identity");
    let ctx12 = context(&small).unwrap();
    let bytes = s.keys.to_bytes(&s.ctx).unwrap();
    let err = EvalKeys::from_bytes(&small, &ctx12, &bytes).unwrap_err();
    assert!(matches!(err, ClientError::WrongParams { .. }), "{err}");
    // A context that does not belong to the schedule is a programming error, reported as such.
    let err = EvalKeys::from_bytes(&s.schedule, &ctx12, &bytes).unwrap_err();
    assert_eq!(err, ClientError::ContextMismatch);
    let mut rng = Sampler::seeded_for_testing_only(1);
    assert!(matches!(
        keygen(&s.schedule, &ctx12, &mut rng),
        Err(ClientError::ContextMismatch)
    ));
}

#[test]
fn wrong_kinds_are_named() {
    let s = setup(8);
    let sk_file = secret_key_to_bytes(&s.schedule, &s.ctx, &s.sk).unwrap();
    let err = EvalKeys::from_bytes(&s.schedule, &s.ctx, &sk_file).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected evaluation keys, but this file holds a secret key"
    );
    let keys = s.keys.to_bytes(&s.ctx).unwrap();
    let err = secret_key_from_bytes(&s.schedule, &s.ctx, &keys).unwrap_err();
    assert!(matches!(err, ClientError::WrongKind { .. }), "{err}");
    let inputs = s.enc.to_bytes(&s.ctx).unwrap();
    let err = EncryptedOutputs::from_bytes(&s.schedule, &s.ctx, &inputs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected encrypted outputs, but this file holds encrypted inputs"
    );
    // A bare CKKS object and a schedule are recognized as what they are.
    let raw = s.sk.to_bytes(&s.ctx).unwrap();
    let err = EvalKeys::from_bytes(&s.schedule, &s.ctx, &raw).unwrap_err();
    assert!(err.to_string().contains("bare CKKS object"), "{err}");
    let helc = s
        .schedule
        .to_bytes(hel_runtime::schedule::ScheduleFormat::Binary)
        .unwrap();
    let err = EncryptedInputs::from_bytes(&s.schedule, &s.ctx, &helc).unwrap_err();
    assert!(err.to_string().contains("compiled program"), "{err}");
}

#[test]
fn truncated_and_corrupt_files_are_errors_never_panics() {
    let s = setup(9);
    let bytes = s.keys.to_bytes(&s.ctx).unwrap();
    let load = |b: &[u8]| EvalKeys::from_bytes(&s.schedule, &s.ctx, b);
    for cut in [0, 3, 6, 8, 40, 60, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = load(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Truncated { .. } | ClientError::NotAClientFile { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
    for pos in [9, 50, 100, bytes.len() / 3, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        let err = load(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Corrupt { .. }
                    | ClientError::Truncated { .. }
                    | ClientError::Malformed { .. }
            ),
            "flip at {pos}: {err}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        load(&long).unwrap_err(),
        ClientError::Malformed { .. }
    ));
    // Same for the other kinds, with every prefix of a small file.
    let outs = identity_outputs(&s, &s.enc).to_bytes(&s.ctx).unwrap();
    for cut in (0..outs.len()).step_by(997) {
        assert!(EncryptedOutputs::from_bytes(&s.schedule, &s.ctx, &outs[..cut]).is_err());
    }
    let inputs = s.enc.to_bytes(&s.ctx).unwrap();
    for cut in (0..inputs.len()).step_by(1009) {
        assert!(EncryptedInputs::from_bytes(&s.schedule, &s.ctx, &inputs[..cut]).is_err());
    }
}

#[test]
fn inputs_are_checked_and_errors_name_the_input_and_shapes() {
    let s = setup(10);
    let enc = |inputs: &[Vec<Tensor>]| {
        encrypt_inputs(&s.schedule, &s.ctx, &s.sk, inputs, &mut Sampler::from_os())
            .map(drop)
            .unwrap_err()
    };

    let err = enc(&s.inputs[..4]);
    assert!(
        matches!(
            err,
            ClientError::InputCount {
                expected: 5,
                got: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("x, W, Z, b, s"), "{err}");

    let mut bad = s.inputs.clone();
    bad[Z as usize].pop();
    let err = enc(&bad);
    assert_eq!(
        err.to_string(),
        "input `Z` is a sequence of 2 tensor(s), got 1"
    );

    let mut bad = s.inputs.clone();
    bad[Z as usize][1] = Tensor::filled(Shape::Matrix(3, 2), 0.0);
    assert_eq!(
        enc(&bad).to_string(),
        "input `Z[1]` has shape matrix[3, 2], but the program expects matrix[2, 3]"
    );

    let mut bad = s.inputs.clone();
    bad[X as usize][0].data[2] = f64::NAN;
    let err = enc(&bad);
    assert!(
        matches!(&err, ClientError::NonFinite { at, .. } if at == "entry 3"),
        "{err}"
    );

    let mut bad = s.inputs.clone();
    bad[X as usize][0].data[4] = 4.5;
    let err = enc(&bad);
    assert!(
        err.to_string()
            .contains("input `x` entry 5 = 4.5 is outside the declared range [-4, 4]"),
        "{err}"
    );

    // Counted from 1 as in the file, a matrix entry by row and column; huge values readable.
    let z = s.inputs[Z as usize][1].clone();
    let mut bad = s.inputs.clone();
    bad[Z as usize][1].data[z.data.len() - 1] = 1e200;
    let mut ranged = s.schedule.clone();
    ranged.inputs[Z as usize].range = Some((-1.0, 1.0));
    let err = encrypt_inputs(&ranged, &s.ctx, &s.sk, &bad, &mut Sampler::from_os())
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input `Z[1]` row 2, column 3 = 1e200 is outside"),
        "{err}"
    );

    // A data vector that does not fill its declared shape.
    let mut bad = s.inputs.clone();
    bad[B as usize][0].data.push(1.0);
    assert!(matches!(enc(&bad), ClientError::InputShape { .. }));

    assert!(check_inputs(&s.schedule, &s.inputs).is_ok());
}

#[test]
fn outputs_must_cover_exactly_the_values_the_outputs_read() {
    let s = setup(11);
    let mut outs = identity_outputs(&s, &s.enc);
    let last = outs.values.pop().unwrap();
    let err = decrypt_outputs(&s.schedule, &s.ctx, &s.sk, &outs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no ciphertext for value 5, which output `s` reads"
    );
    outs.values.push(last.clone());
    outs.values.push(last);
    let err = decrypt_outputs(&s.schedule, &s.ctx, &s.sk, &outs).unwrap_err();
    assert!(
        matches!(err, ClientError::ExtraOutput { value: 5, .. }),
        "{err}"
    );
}

#[test]
fn flooded_decryption_adds_noise_of_the_documented_size() {
    let s = setup(12);
    let outs = identity_outputs(&s, &s.enc);
    let bits = 4;
    // Slot-domain standard deviation: 2^bits · B · sqrt(N/2) with B = 1e-6 (the schedule's
    // bound); 7 standard deviations are never reached over these few dozen entries.
    let sd = (bits as f64).exp2() * 1e-6 * (s.ctx.n() as f64 / 2.0).sqrt();
    let mut rng = Sampler::seeded_for_testing_only(12);
    let a = decrypt_outputs_flooded(&s.schedule, &s.ctx, &s.sk, &outs, bits, &mut rng).unwrap();
    let b = decrypt_outputs_flooded(&s.schedule, &s.ctx, &s.sk, &outs, bits, &mut rng).unwrap();
    let worst = assert_close(&s, &a, 7.0 * sd);
    assert_close(&s, &b, 7.0 * sd);
    // Well above the encryption noise (≲ 1e-8), and fresh every time.
    assert!(worst > 10.0 * 1e-8, "flooding too small: {worst:e}");
    assert_ne!(a, b);
}

/// The schedule's byte figures (what `hel compile` reports and `hel keygen`/`hel run` check
/// against the machine's memory before allocating) match what the runtime really produces.
#[test]
fn predicted_key_and_upload_sizes_match_the_files() {
    let s = setup(7);
    let r = s.schedule.resources();
    let keys = s.keys.key_bytes(&s.ctx).unwrap().eval_total as f64;
    let upload = s.enc.upload_bytes(&s.ctx).unwrap() as f64;
    // Headers, checksums and names are the only difference: well under 1%.
    let close = |predicted: u64, real: f64| (predicted as f64 - real).abs() <= 0.01 * real + 4096.0;
    assert!(
        close(r.eval_key_bytes, keys),
        "keys: predicted {} real {keys}",
        r.eval_key_bytes
    );
    assert!(
        close(r.upload_bytes, upload),
        "upload: predicted {} real {upload}",
        r.upload_bytes
    );
    // In memory every coefficient is a 64-bit word: more than the bit-packed file.
    assert!(r.eval_key_memory as f64 > keys);
    assert!(r.server_peak_bytes > r.eval_key_memory + r.upload_bytes);
}
