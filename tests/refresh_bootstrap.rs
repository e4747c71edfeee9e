//! Training whose state is refreshed on the server by bootstrapping (issue 21): NAG in two
//! rounds, the weights and the momentum bootstrapped between them, the client offline from
//! the upload to the download. At a small, **insecure** ring (N = 2^12, the security check
//! off: test-only parameters, which no file can carry); the 128-bit rule is N = 2^16.
//!
//! The chain of checks: the refreshed state decrypts to round 1's output within round 1's
//! predicted bound plus the bootstrap's measured precision; round 2 run on that state matches
//! the plaintext round 2 on it within round 2's predicted bound; and the model equals the
//! plaintext model of all four iterations to the bootstrap's precision.

use std::collections::HashMap;

use hel_compiler::ir::interp::{self, Tensor as ITensor, Value};
use hel_compiler::ir::Shape as IShape;
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::rounds::RoundTemplate;
use hel_compiler::{Options, SourceFile};
use hel_runtime::ckks::bootstrap::{BootstrapParams, Bootstrapper};
use hel_runtime::ckks::{Context, Sampler};
use hel_runtime::client;
use hel_runtime::exec::{self, CkksEvaluator, Refresher};
use hel_runtime::schedule::cost::BootstrapCost;
use hel_runtime::schedule::{Schedule, Shape, Tensor};

const M: usize = 16;
const F: usize = 8;
const ROUND: usize = 2;

/// The documented circuit at N = 2^12 with nine program levels, insecure.
fn insecure_chain_for_testing_only() -> BootstrapParams {
    BootstrapParams::insecure_for_testing_only(12, 9)
}

/// Minibatch `i`: entries in [-1, 1], deterministic.
fn batch(i: usize) -> Vec<f64> {
    (0..M * F)
        .map(|j| (((j * 37 + i * 101 + 11) % 97) as f64 / 48.0 - 1.0).clamp(-1.0, 1.0))
        .collect()
}

fn template() -> RoundTemplate {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/logreg_nag.hel");
    let text = std::fs::read_to_string(path).unwrap();
    RoundTemplate::new(&SourceFile::new("logreg_nag.hel", text)).unwrap()
}

fn sets(k: usize) -> Vec<(String, f64)> {
    vec![
        ("k".into(), k as f64),
        ("m".into(), M as f64),
        ("f".into(), F as f64),
    ]
}

/// Round programs compiled for the bottom of `chain`, state pinned for the refresh.
fn compile(
    t: &RoundTemplate,
    start: usize,
    chain: &BootstrapParams,
    unit: Option<hel_runtime::schedule::Unit>,
) -> Schedule {
    let mut o = Options {
        sets: sets(ROUND),
        params: Some(chain.program_params().unwrap()),
        refresh: t
            .state()
            .iter()
            .map(|s| (s.input.clone(), s.name.clone()))
            .collect(),
        unit,
        keep_best: false,
        raise_scale: false,
        ..Options::default()
    };
    o.passes.level = OptLevel::O1;
    t.compile(start, &o)
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
        .lowered
        .schedule
}

/// The plaintext round starting at `start` on `state` (by input name); its outputs by name.
fn plain_round(
    t: &RoundTemplate,
    start: usize,
    state: &HashMap<String, Vec<f64>>,
) -> HashMap<String, Vec<f64>> {
    let p = t.frontend(start, &sets(ROUND)).unwrap();
    let mut inputs: HashMap<String, Value> = state
        .iter()
        .map(|(k, v)| {
            let t = ITensor {
                shape: IShape::Vector(v.len()),
                data: v.clone(),
            };
            (k.clone(), Value::Tensor(t))
        })
        .collect();
    let z = (start..start + ROUND)
        .map(|i| ITensor {
            shape: IShape::Matrix(M, F),
            data: batch(i),
        })
        .collect();
    inputs.insert("Z".into(), Value::Seq(z));
    interp::eval(&p, &inputs)
        .unwrap()
        .into_iter()
        .map(|(k, v)| match v {
            Value::Tensor(t) => (k, t.data),
            Value::Seq(_) => panic!("sequence output"),
        })
        .collect()
}

/// The client's upload for the round at `start`: its minibatches (the state tensors only
/// feed the headroom check: the client's plaintext estimate).
fn upload(
    s: &Schedule,
    ctx: &Context,
    sk: &hel_runtime::ckks::SecretKey,
    start: usize,
    estimate: &HashMap<String, Vec<f64>>,
    rng: &mut Sampler,
) -> client::EncryptedInputs {
    let inputs: Vec<Vec<Tensor>> = s
        .inputs
        .iter()
        .map(|d| match estimate.get(&d.name) {
            Some(v) => vec![Tensor {
                shape: Shape::Vector(v.len()),
                data: v.clone(),
            }],
            None => (start..start + ROUND)
                .map(|i| Tensor {
                    shape: Shape::Matrix(M, F),
                    data: batch(i),
                })
                .collect(),
        })
        .collect();
    client::encrypt_inputs(s, ctx, sk, &inputs, rng).unwrap()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn nag_trains_with_the_state_bootstrapped_between_rounds() {
    let t = template();
    let inputs: Vec<String> = t.state().iter().map(|s| s.input.clone()).collect();
    // The grid first (the chain's q_0 follows the slots the state repeats over), then both
    // rounds on that grid, for the sparse-slot chain of its width.
    let full = insecure_chain_for_testing_only();
    let unit = compile(&t, 0, &full, None).unit;
    let chain = full.with_slots(unit.w.trailing_zeros());
    let rounds = [0, ROUND].map(|start| compile(&t, start, &chain, Some(unit)));
    let boot = Bootstrapper::new(&chain).unwrap();
    assert_eq!(boot.slots(), unit.w);

    // Client: one secret key, the bootstrapping keys and each round's evaluation keys.
    let mut rng = Sampler::seeded_for_testing_only(7);
    let sk = boot.context().gen_secret_key(&mut rng);
    let bkeys = boot.gen_keys(&sk, &mut rng).unwrap();
    let ctxs: Vec<Context> = rounds.iter().map(|s| client::context(s).unwrap()).collect();
    let sks: Vec<_> = ctxs
        .iter()
        .map(|c| c.adopt_secret_key(&sk).unwrap())
        .collect();
    let keys: Vec<_> = (0..2)
        .map(|r| client::eval_keys_for(&rounds[r], &ctxs[r], &sks[r], &mut rng).unwrap())
        .collect();
    // The plaintext reference, round by round from zeros.
    let zeros: HashMap<String, Vec<f64>> =
        inputs.iter().map(|n| (n.clone(), vec![0.0; F])).collect();
    let plain1 = plain_round(&t, 0, &zeros);
    let estimate2: HashMap<String, Vec<f64>> = t
        .state()
        .iter()
        .map(|s| (s.input.clone(), plain1[&s.name].clone()))
        .collect();
    let uploads = [
        upload(&rounds[0], &ctxs[0], &sks[0], 0, &zeros, &mut rng),
        upload(&rounds[1], &ctxs[1], &sks[1], ROUND, &estimate2, &mut rng),
    ];
    // Refreshed inputs are never uploaded.
    let refreshed = (0..rounds[1].ct_inputs.len())
        .filter(|&i| rounds[1].is_refreshed_ct(i))
        .count();
    assert!(refreshed >= 2, "NAG carries two vectors");
    assert_eq!(
        uploads[1].ciphertexts.len() + refreshed,
        rounds[1].ct_inputs.len()
    );

    // Server: round 1 from zeros, the refresh, round 2.
    let refresher = Refresher::new(&boot, &bkeys);
    let run = |r: usize, state: Vec<hel_runtime::ckks::Ciphertext>| {
        let ev = CkksEvaluator::new_seeded_with_state(
            &ctxs[r],
            &rounds[r],
            &keys[r].relin,
            &keys[r].galois,
            uploads[r].ciphertexts.clone(),
            state,
            uploads[r].public.clone(),
        )
        .unwrap();
        exec::execute(&rounds[r], &ev, &exec::RunOptions::default())
            .unwrap()
            .outputs
    };
    let out1 = run(0, Refresher::initial_state(&ctxs[0], &rounds[0]).unwrap());
    let fresh = refresher
        .refresh(&ctxs[0], &rounds[0], &out1, &ctxs[1], &rounds[1])
        .unwrap();
    assert_eq!(fresh.state.len(), refreshed);
    // The weights and the momentum share one bootstrap (real and imaginary parts).
    assert_eq!(fresh.bootstraps, refreshed / 2);
    // The planner's count, from the schedules alone, is the refresh's.
    let top = boot.output_level();
    assert_eq!(
        exec::bootstraps_between(&rounds[0], &rounds[1], top),
        fresh.bootstraps
    );
    let state2 = fresh.state;
    let out2 = run(1, state2.clone());

    // The refreshed state is round 1's output: within round 1's bound and the bootstrap's
    // precision (17 bits measured at this ring, relative to the values' scale of 1).
    let mut refreshed_state = HashMap::new();
    let mut k = 0;
    for (i, ct) in rounds[1].ct_inputs.iter().enumerate() {
        if !rounds[1].is_refreshed_ct(i) {
            continue;
        }
        let hel_runtime::schedule::Source::Input { input, .. } = ct.pack.source else {
            unreachable!()
        };
        let decl = &rounds[1].inputs[input as usize];
        let slots = ctxs[1]
            .decode_real(&ctxs[1].decrypt(&state2[k], &sks[1]).unwrap())
            .unwrap();
        k += 1;
        let from = decl.refreshed_from.clone().unwrap();
        let want = &plain1[&from];
        let got: Vec<f64> = slots[..F].to_vec();
        let out = rounds[0].outputs.iter().find(|o| o.name == from).unwrap();
        let tol = out.bound + 2f64.powi(-14) * (1.0 + out.range);
        let err = max_diff(&got, want);
        eprintln!(
            "refreshed `{}`: error {err:.3e} (round 1 bound {:.3e}, tolerance {tol:.3e})",
            decl.name, out.bound
        );
        assert!(err <= tol, "`{}`: {err} > {tol}", decl.name);
        // The row-replicated layout repeats over every row, and the padding is clean.
        for (q, x) in slots.iter().enumerate() {
            let b = q % unit.w;
            let expect = if b < F { got[b] } else { 0.0 };
            assert!((x - expect).abs() <= 2.0 * tol, "slot {q}: {x} vs {expect}");
        }
        refreshed_state.insert(decl.name.clone(), got);
    }

    // Round 2 on that state equals the plaintext round 2 on it within its predicted bound.
    let enc2 = client::EncryptedOutputs::new(&rounds[1], uploads[1].key_id, out2);
    let got2 = client::decrypt_outputs(&rounds[1], &ctxs[1], &sks[1], &enc2).unwrap();
    let plain2 = plain_round(&t, ROUND, &refreshed_state);
    for (o, tensor) in rounds[1].outputs.iter().zip(&got2) {
        let err = max_diff(&tensor.data, &plain2[&o.name]);
        eprintln!(
            "round 2 `{}`: error {err:.3e} (bound {:.3e})",
            o.name, o.bound
        );
        assert!(err <= o.bound, "`{}`: {err} > {}", o.name, o.bound);
    }
    // And the model is the plaintext model of all four iterations.
    let model = &got2[rounds[1]
        .outputs
        .iter()
        .position(|o| o.name == "v")
        .unwrap()]
    .data;
    let reference = plain_round(&t, ROUND, &estimate2)["v"].clone();
    let err = max_diff(model, &reference);
    eprintln!("model against four plaintext iterations: {err:.3e}");
    assert!(err <= 1e-3, "{err}");
}

/// A loop one circuit holds has nothing to refresh: `--refresh bootstrap` runs the ordinary
/// circuit, on its own smaller ring (it ran one round on the bootstrapping chain's), with
/// the model the plaintext reference's, and says why.
#[test]
fn train_with_nothing_to_refresh_runs_the_ordinary_circuit() {
    use hel::data::Matrix;
    use hel::train::{train_on, Quiet, Refresh, TrainOptions};
    let rows = |seed: usize, n: usize| {
        let data = (0..n * F)
            .map(|i| (((i + seed) * 37) % 23) as f64 / 11.0 - 1.0)
            .collect();
        Matrix::from_vec(n, F, data)
    };
    let batches: Vec<Matrix> = (0..2).map(|i| rows(i * M, M)).collect();
    let path = format!("{}/examples/logreg_gd.hel", env!("CARGO_MANIFEST_DIR"));
    let src = SourceFile::new("logreg_gd.hel", std::fs::read_to_string(path).unwrap());
    let opts = TrainOptions {
        refresh: Refresh::Bootstrap(insecure_chain_for_testing_only()),
        threads: 2,
        ..TrainOptions::new(2, M)
    };
    let r = train_on(&batches, &rows(1000, 64), &src, &opts, &Quiet).unwrap();
    assert_eq!(
        (r.refresh.as_str(), r.rounds, r.bootstraps),
        ("client", 1, 0)
    );
    assert!(
        r.log_n < insecure_chain_for_testing_only().log_n.max(14),
        "{}",
        r.log_n
    );
    let choice = r.refresh_choice.expect("the choice is reported");
    assert_eq!(choice.requested, "bootstrap");
    assert!(
        choice.reason.contains("nothing to refresh"),
        "{}",
        choice.reason
    );
    assert!(r.max_weight_error <= 1e-3, "{}", r.max_weight_error);
}

/// `hel train --refresh bootstrap` through the library, on the same small ring: NAG (K = 6)
/// and GD (K = 8) in rounds that fit the nine program levels, the server bootstrapping the
/// state between them; one upload, one download, and the model the plaintext reference's.
/// The cost table has no bootstrap at this ring, so the rounds are as large as fit; NAG runs
/// again with a table whose bootstraps cost nothing, where smaller rounds (the same
/// operations on fewer limbs) are the cheaper plan.
#[test]
fn train_refreshes_on_the_server_and_matches_the_plaintext_model() {
    use hel::data::Matrix;
    use hel::train::{train_on, Quiet, Refresh, TrainOptions};
    // Separable data with labels folded in: z = y·[1 | x], y = sign(x_0 + x_1).
    let rows = |seed: usize, n: usize| {
        let mut data = Vec::with_capacity(n * F);
        for r in 0..n {
            let x: Vec<f64> = (1..F)
                .map(|j| (((r + seed) * 31 + j * 17) % 41) as f64 / 20.0 - 1.0)
                .collect();
            let y = if x[0] + x[1] >= 0.0 { 1.0 } else { -1.0 };
            data.push(y);
            data.extend(x.iter().map(|v| y * v));
        }
        Matrix::from_vec(n, F, data)
    };
    let batches: Vec<Matrix> = (0..3).map(|i| rows(i * M, M)).collect();
    let z_test = rows(1000, 64);
    // NAG carries two vectors (one tile each here), which share a bootstrap; GD one, alone.
    let mut largest = None;
    for (file, k, free) in [
        ("logreg_nag.hel", 6, false),
        ("logreg_gd.hel", 8, false),
        ("logreg_nag.hel", 6, true),
    ] {
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let src = SourceFile::new(file, std::fs::read_to_string(path).unwrap());
        let mut opts = TrainOptions {
            refresh: Refresh::Bootstrap(insecure_chain_for_testing_only()),
            threads: 2,
            ..TrainOptions::new(k, M)
        };
        opts.compile.level = OptLevel::O1;
        if free {
            opts.cost_table.bootstraps = vec![BootstrapCost {
                log_n: insecure_chain_for_testing_only().log_n,
                log_slots: 1,
                seconds: 1e-9,
            }];
        }
        let r = train_on(&batches, &z_test, &src, &opts, &Quiet).unwrap();
        eprintln!(
            "{file}: rounds {:?}, {} bootstraps in {:.2} s, weight error {:.2e}, accuracy {} \
             vs {}",
            r.round_sizes,
            r.bootstraps,
            r.bootstrap_seconds,
            r.max_weight_error,
            r.accuracy,
            r.plaintext_accuracy
        );
        assert_eq!(r.refresh, "bootstrap");
        assert!(
            r.rounds >= 2,
            "{file}: K = {k} needs more than nine levels: {:?}",
            r.round_sizes
        );
        assert_eq!(r.bootstraps, r.rounds - 1, "{file}");
        // One download: only the last round sends anything back.
        let (last, earlier) = r.round_details.split_last().unwrap();
        assert!(last.download_bytes > 0 && earlier.iter().all(|d| d.download_bytes == 0));
        assert_eq!(r.download_bytes, last.download_bytes);
        // The model is the plaintext model's: the compiler's bounds of every round plus the
        // bootstraps' precision (2^-14 of the weights' scale, one per round boundary).
        let scale = r
            .plaintext_weights
            .iter()
            .fold(1.0f64, |a, w| a.max(w.abs()));
        let tol = r.predicted_error_bound + (r.rounds - 1) as f64 * 2f64.powi(-14) * scale;
        assert!(
            r.max_weight_error <= tol,
            "{file}: {} > {tol}",
            r.max_weight_error
        );
        assert_eq!(r.accuracy, r.plaintext_accuracy, "{file}");
        // The report prices the plan that ran and client rounds next to it.
        let choice = r.refresh_choice.as_ref().expect("the plans' figures");
        assert_eq!(choice.requested, "bootstrap");
        assert_eq!(choice.chosen.refresh, "bootstrap");
        assert_eq!(choice.chosen.round_sizes, r.round_sizes);
        assert_eq!(
            choice.chosen.bootstraps, r.bootstraps,
            "the planner's count"
        );
        assert_eq!(choice.chosen.client_exchanges, 2);
        let alt = choice
            .alternative
            .as_ref()
            .expect("client rounds can be planned");
        assert_eq!(alt.refresh, "client");
        assert_eq!(alt.client_exchanges, alt.round_sizes.len());
        assert!(alt.upload_bytes > 0 && alt.download_bytes > 0 && alt.server_seconds > 0.0);
        match (free, largest) {
            (false, None) => largest = Some(r.round_sizes[0]),
            (true, Some(size)) => assert!(
                r.round_sizes[0] < size && r.rounds_reason.contains("fastest by the cost model"),
                "free bootstraps, rounds {:?} ({}) against {size}",
                r.round_sizes,
                r.rounds_reason
            ),
            _ => {}
        }
    }
}

/// `--refresh auto` plans client rounds and bootstrapped rounds and runs the one the cost
/// model prices lower: with bootstraps that cost a day, the client rounds (no bootstrap); with
/// bootstraps that cost nothing, whichever the rounds alone make cheaper. Client rounds are
/// held to N = 2^14 so that they need several rounds too. Either way the model is the
/// plaintext one, and `--plan-only` (`plan_on`) reports the plan the run then ran: the same
/// rounds, refresh, estimates and circuits, with nothing encrypted.
#[test]
fn auto_refresh_runs_the_cheaper_plan() {
    use hel::data::Matrix;
    use hel::train::{plan_on, train_on, Quiet, Refresh, TrainOptions};
    let rows = |seed: usize, n: usize| {
        let data: Vec<f64> = (0..n * F)
            .map(|i| (((i + seed) * 37) % 23) as f64 / 11.0 - 1.0)
            .collect();
        Matrix::from_vec(n, F, data)
    };
    let batches: Vec<Matrix> = (0..3).map(|i| rows(i * M, M)).collect();
    let z_test = rows(500, 32);
    let src = SourceFile::new(
        "logreg_nag.hel",
        std::fs::read_to_string(format!(
            "{}/examples/logreg_nag.hel",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    );
    for seconds in [1e6, 1e-9] {
        let mut opts = TrainOptions {
            refresh: Refresh::Auto(insecure_chain_for_testing_only()),
            threads: 2,
            max_log_n: 14,
            ..TrainOptions::new(6, M)
        };
        opts.compile.level = OptLevel::O1;
        opts.cost_table.bootstraps = vec![BootstrapCost {
            log_n: insecure_chain_for_testing_only().log_n,
            log_slots: 1,
            seconds,
        }];
        let r = train_on(&batches, &z_test, &src, &opts, &Quiet).unwrap();
        let choice = r.refresh_choice.as_ref().expect("both plans priced");
        let alt = choice
            .alternative
            .as_ref()
            .unwrap_or_else(|| panic!("both ways can be planned: {}", choice.reason));
        eprintln!(
            "bootstrap {seconds:e} s: {} ({:.3} s) against {} ({:.3} s): {}",
            choice.chosen.refresh,
            choice.chosen.server_seconds,
            alt.refresh,
            alt.server_seconds,
            choice.reason
        );
        assert_eq!(choice.requested, "auto");
        assert_eq!(r.refresh, choice.chosen.refresh);
        assert_ne!(alt.refresh, choice.chosen.refresh);
        assert!(choice.chosen.server_seconds <= alt.server_seconds);
        if seconds > 1.0 {
            assert_eq!(r.refresh, "client");
        }
        let expected = if r.refresh == "bootstrap" {
            r.rounds - 1
        } else {
            0
        };
        assert_eq!(r.bootstraps, expected);
        assert!(r.rounds >= 2, "{:?}", r.round_sizes);
        assert_eq!(r.accuracy, r.plaintext_accuracy);

        let p = plan_on(&batches, &z_test, &src, &opts, &Quiet).unwrap();
        assert_eq!(p.round_sizes, r.round_sizes);
        assert_eq!(p.refresh.requested, "auto");
        assert_eq!(p.refresh.chosen.refresh, r.refresh);
        assert_eq!(p.refresh.chosen.bootstraps, r.bootstraps);
        assert_eq!(
            p.refresh.chosen.server_seconds,
            choice.chosen.server_seconds
        );
        assert_eq!(
            p.refresh.alternative.as_ref().map(|a| a.server_seconds),
            Some(alt.server_seconds)
        );
        assert_eq!(p.plaintext_accuracy, r.plaintext_accuracy);
        assert_eq!(p.bootstrap_log_slots.is_some(), r.refresh == "bootstrap");
        // One circuit per round size, as deep as the run's circuit of that size.
        let mut sizes = r.round_sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        assert_eq!(p.circuits.len(), sizes.len());
        for c in &p.circuits {
            let ran = r
                .circuits
                .iter()
                .find(|x| x.minibatches == c.minibatches)
                .expect("the run has a circuit of each planned size");
            assert_eq!((c.depth, c.log_n), (ran.depth, ran.log_n));
            assert_eq!(
                c.rounds.len(),
                r.round_sizes
                    .iter()
                    .filter(|&&k| k == c.minibatches)
                    .count()
            );
        }
    }
}

/// The server refuses to refresh without bootstrapping keys, or with bootstrapping keys of
/// another secret key than the rounds' evaluation keys (they would bootstrap the state into
/// noise); a damaged key file is refused on arrival.
#[test]
fn the_server_refuses_missing_or_foreign_bootstrapping_keys() {
    use hel::train::server::{Server, ServerOptions};
    use hel_runtime::client::KeyId;
    let t = template();
    let full = insecure_chain_for_testing_only();
    let unit = compile(&t, 0, &full, None).unit;
    let chain = full.with_slots(unit.w.trailing_zeros());
    let rounds = [0, ROUND].map(|start| compile(&t, start, &chain, Some(unit)));
    let boot = Bootstrapper::new(&chain).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(9);
    let sk = boot.context().gen_secret_key(&mut rng);
    let other = boot.context().gen_secret_key(&mut rng);
    let foreign = boot
        .keys_to_bytes(&boot.gen_keys(&other, &mut rng).unwrap())
        .unwrap();
    let mut server = Server::default();
    for (r, s) in rounds.iter().enumerate() {
        let ctx = client::context(s).unwrap();
        let own = ctx.adopt_secret_key(&sk).unwrap();
        let keys = client::eval_keys_for(s, &ctx, &own, &mut rng).unwrap();
        server
            .receive_keys(r, s, &keys.to_bytes(&ctx).unwrap())
            .unwrap();
    }
    let ctx0 = client::context(&rounds[0]).unwrap();
    let sk0 = ctx0.adopt_secret_key(&sk).unwrap();
    let zeros: HashMap<String, Vec<f64>> = t
        .state()
        .iter()
        .map(|s| (s.input.clone(), vec![0.0; F]))
        .collect();
    let up = upload(&rounds[0], &ctx0, &sk0, 0, &zeros, &mut rng);
    let state = server.initial_state(0, &rounds[0]).unwrap();
    let bytes = up.to_bytes(&ctx0).unwrap();
    let held = server
        .run_held(0, &rounds[0], bytes, state, ServerOptions::default(), None)
        .unwrap();
    let refresh = |server: &Server| {
        server
            .refresh((0, &rounds[0], &held.outputs), (1, &rounds[1]))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = refresh(&server);
    assert!(e.contains("no bootstrapping keys"), "{e}");
    let other_id = KeyId::of(boot.context(), &other).unwrap();
    server
        .receive_bootstrap_keys(&chain, &foreign, other_id)
        .unwrap();
    let e = refresh(&server);
    assert!(e.contains("key set"), "{e}");
    let mut damaged = foreign.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    assert!(server
        .receive_bootstrap_keys(&chain, &damaged, other_id)
        .is_err());
}

/// The compiler places the bootstraps (`hel compile --refresh bootstrap`): NAG over four
/// minibatches compiled as one schedule whose rounds are joined by `bootstrap` nodes, run
/// encrypted by the executor like any schedule (the bootstraps by the evaluator's
/// refresher), and the decrypted model is the plaintext model of the whole program within
/// the schedule's predicted bound, bootstraps included. Without the bootstrapping keys the
/// run stops at the first bootstrap, and keys of another chain are refused up front.
#[test]
fn compiled_bootstraps_run_encrypted_within_the_bound() {
    use hel_compiler::rounds::compile_bootstrapped;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/logreg_nag.hel");
    let src = SourceFile::new("logreg_nag.hel", std::fs::read_to_string(path).unwrap());
    const K: usize = 4;
    let mut o = Options {
        sets: sets(K),
        ..Options::default()
    };
    o.passes.level = OptLevel::O1;
    let b = compile_bootstrapped(
        &src,
        &o,
        &insecure_chain_for_testing_only(),
        None,
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let s = &b.schedule;
    assert!(b.rounds.len() >= 2, "{:?}", b.rounds);
    let bootstraps = s.bootstraps().count();
    // NAG's weights and momentum share one bootstrap per refresh.
    assert_eq!(bootstraps, b.rounds.len() - 1);
    assert!(s.nodes.iter().any(|n| matches!(
        n.instr,
        hel_runtime::schedule::Instr::BootstrapPaired { .. }
    )));
    let chain = s.bootstrap.clone().unwrap();

    // Client: one secret key for the chain and the program's keys.
    let boot = Bootstrapper::new(&chain).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(11);
    let sk = boot.context().gen_secret_key(&mut rng);
    let bkeys = boot.gen_keys(&sk, &mut rng).unwrap();
    let ctx = client::context(s).unwrap();
    let psk = ctx.adopt_secret_key(&sk).unwrap();
    let keys = client::eval_keys_for(s, &ctx, &psk, &mut rng).unwrap();
    let z: Vec<Tensor> = (0..K)
        .map(|i| Tensor {
            shape: Shape::Matrix(M, F),
            data: batch(i),
        })
        .collect();
    let up = client::encrypt_inputs(s, &ctx, &psk, std::slice::from_ref(&z), &mut rng).unwrap();
    let evaluator = || {
        CkksEvaluator::new_seeded(
            &ctx,
            s,
            &keys.relin,
            &keys.galois,
            up.ciphertexts.clone(),
            up.public.clone(),
        )
        .unwrap()
    };

    // Server: the whole schedule, bootstraps included.
    let ev = evaluator()
        .with_refresher(Refresher::new(&boot, &bkeys))
        .unwrap();
    let out = exec::execute(s, &ev, &exec::RunOptions::default())
        .unwrap()
        .outputs;
    let enc = client::EncryptedOutputs::new(s, up.key_id, out);
    let got = client::decrypt_outputs(s, &ctx, &psk, &enc).unwrap();

    // The plaintext model of the whole program (all K iterations, no rounds).
    let whole = hel_compiler::frontend(&src, &sets(K)).unwrap();
    let zi = z
        .iter()
        .map(|t| ITensor {
            shape: IShape::Matrix(M, F),
            data: t.data.clone(),
        })
        .collect();
    let inputs: HashMap<String, Value> = [("Z".to_string(), Value::Seq(zi))].into();
    let reference = interp::eval(&whole, &inputs).unwrap();
    for ((o, tensor), (name, want)) in s.outputs.iter().zip(&got).zip(&reference) {
        let Value::Tensor(want) = want else {
            panic!("sequence output")
        };
        assert_eq!(&o.name, name);
        let err = max_diff(&tensor.data, &want.data);
        eprintln!(
            "`{}` after {} rounds and {bootstraps} bootstraps: error {err:.3e} (bound {:.3e})",
            o.name,
            b.rounds.len(),
            o.bound
        );
        assert!(err <= o.bound, "`{}`: {err} > {}", o.name, o.bound);
    }

    // The debug evaluator runs the encrypted and the plaintext schedule in lockstep: every
    // node, the bootstraps and their paired refreshes included, within its predicted bound.
    let inputs = [z.clone()];
    let debug = exec::DebugEvaluator::new(
        evaluator()
            .with_refresher(Refresher::new(&boot, &bkeys))
            .unwrap(),
        exec::PlainEvaluator::new(s, &inputs).unwrap(),
        &psk,
    );
    // Against the bounds predicted on this data where they exceed the compiled ones, as
    // `hel run --evaluator debug` checks (the compiled ones come from random samples).
    let bounded = hel_compiler::lower::bounds::with_bounds_for(s, &inputs);
    exec::execute(&bounded, &debug, &exec::RunOptions::default())
        .unwrap_or_else(|e| panic!("a node left its bound: {e}"));

    // The client's headroom check follows a bootstrap's operand down to level 0, where q_0
    // alone must hold it: a tile at a scale that leaves it no room there is refused, named by
    // the bootstrap (or by the tile itself where it already sits at level 0).
    client::check_headroom(s, std::slice::from_ref(&z)).unwrap();
    let (k, node) = s.bootstraps().next().unwrap();
    let hel_runtime::schedule::Instr::Bootstrap { a, .. } = node.instr else {
        unreachable!()
    };
    let mut tight = s.clone();
    tight.nodes[a as usize].scale = 2f64.powi(chain.log_q0 as i32 + 8);
    let err = client::check_headroom(&tight, std::slice::from_ref(&z))
        .unwrap_err()
        .to_string();
    let named = if s.nodes[a as usize].level == 0 { a } else { k };
    assert!(err.contains(&format!("node {named} ")), "{err}");

    // No bootstrapping keys: the first bootstrap fails, named.
    let Err(err) = exec::execute(s, &evaluator(), &exec::RunOptions::default()) else {
        panic!("a bootstrap without keys must fail");
    };
    assert!(err.to_string().contains("bootstrapping keys"), "{err}");
    // Keys of another chain: refused before anything runs.
    let other = Bootstrapper::new(&chain.with_slots(chain.log_slots + 1)).unwrap();
    let okeys = other.gen_keys(&sk, &mut rng).unwrap();
    assert!(evaluator()
        .with_refresher(Refresher::new(&other, &okeys))
        .is_err());
}

/// The whole encrypted round trip of a schedule that bootstraps: one secret key for the chain
/// and the program, their keys, the client's headroom check and encryption of `inputs`, the
/// server's run with the refresher, and decryption. `Err` when the client refuses the inputs
/// (beyond what the parameters hold: a located error, not a wrong result).
fn run_encrypted(s: &Schedule, inputs: &[Vec<Tensor>], seed: u64) -> Result<Vec<Tensor>, String> {
    let chain = s.bootstrap.clone().ok_or("a schedule without bootstraps")?;
    let boot = Bootstrapper::new(&chain).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(seed);
    let sk = boot.context().gen_secret_key(&mut rng);
    let bkeys = boot.gen_keys(&sk, &mut rng).unwrap();
    let ctx = client::context(s).unwrap();
    let psk = ctx.adopt_secret_key(&sk).unwrap();
    let keys = client::eval_keys_for(s, &ctx, &psk, &mut rng).unwrap();
    client::check_headroom(s, inputs).map_err(|e| e.to_string())?;
    let up = client::encrypt_inputs(s, &ctx, &psk, inputs, &mut rng).unwrap();
    let ev = CkksEvaluator::new_seeded(
        &ctx,
        s,
        &keys.relin,
        &keys.galois,
        up.ciphertexts.clone(),
        up.public.clone(),
    )
    .unwrap()
    .with_refresher(Refresher::new(&boot, &bkeys))
    .unwrap();
    let out = exec::execute(s, &ev, &exec::RunOptions::default())
        .unwrap()
        .outputs;
    let enc = client::EncryptedOutputs::new(s, up.key_id, out);
    Ok(client::decrypt_outputs(s, &ctx, &psk, &enc).unwrap())
}

/// Compiles `text` with bootstraps (rounds of `round`), runs it encrypted on `data` (by input
/// name) and checks every decrypted output within its predicted bound of the whole program's
/// plaintext output, which must have moved from zero (more than 10 bounds somewhere). Returns
/// the plaintext outputs and the compilation.
fn run_joined(
    name: &str,
    text: &str,
    round: usize,
    data: &HashMap<&str, Vec<Tensor>>,
) -> (Vec<Vec<f64>>, hel_compiler::rounds::Bootstrapped) {
    use hel_compiler::rounds::compile_bootstrapped;
    let src = SourceFile::new(name, text.to_string());
    let mut o = Options::default();
    o.passes.level = OptLevel::O1;
    let b = compile_bootstrapped(
        &src,
        &o,
        &insecure_chain_for_testing_only(),
        Some(round),
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let s = &b.schedule;
    let whole = hel_compiler::frontend(&src, &[]).unwrap();
    let inputs: Vec<Vec<Tensor>> = s
        .inputs
        .iter()
        .map(|i| data[i.name.as_str()].clone())
        .collect();
    assert_eq!(s.inputs.len(), whole.inputs.len());

    let got = run_encrypted(s, &inputs, 5).unwrap_or_else(|e| panic!("{e}"));

    let reference: HashMap<String, Value> = whole
        .inputs
        .iter()
        .map(|decl| {
            let it: Vec<ITensor> = data[decl.name.as_str()]
                .iter()
                .map(|t| ITensor {
                    shape: match t.shape {
                        Shape::Matrix(r, c) => IShape::Matrix(r, c),
                        Shape::Vector(n) => IShape::Vector(n),
                        Shape::Scalar => IShape::Scalar,
                    },
                    data: t.data.clone(),
                })
                .collect();
            let v = if decl.ty.seq.is_some() {
                Value::Seq(it)
            } else {
                Value::Tensor(it[0].clone())
            };
            (decl.name.clone(), v)
        })
        .collect();
    let want = interp::eval(&whole, &reference).unwrap();
    let mut wants = Vec::new();
    for ((o, g), (name, want)) in s.outputs.iter().zip(&got).zip(&want) {
        let Value::Tensor(want) = want else {
            panic!("sequence output")
        };
        assert_eq!(&o.name, name);
        let err = max_diff(&g.data, &want.data);
        eprintln!(
            "`{name}` after {} rounds: error {err:.3e} (bound {:.3e})",
            b.rounds.len(),
            o.bound
        );
        assert!(err <= o.bound, "`{}`: {err} > {}", o.name, o.bound);
        assert!(
            want.data.iter().any(|x| x.abs() > 10.0 * o.bound),
            "`{}`: a model that moved",
            o.name
        );
        wants.push(want.data.clone());
    }
    (wants, b)
}

/// Deterministic entries in [-1, 1] (`seed` varies them), in [0, 1] if `unit`.
fn tensor(shape: Shape, seed: usize, unit: bool) -> Tensor {
    Tensor {
        data: (0..shape.len())
            .map(|j| {
                let x = ((j * 37 + seed * 101 + 11) % 97) as f64 / 48.0 - 1.0;
                if unit {
                    (x + 1.0) / 2.0
                } else {
                    x.clamp(-1.0, 1.0)
                }
            })
            .collect(),
        shape,
    }
}

/// `k` minibatches of `shape`, deterministic (`seed` onwards), entries in [-1, 1].
fn seq(k: usize, shape: Shape, seed: usize) -> Vec<Tensor> {
    (0..k).map(|i| tensor(shape, seed + i, false)).collect()
}

/// A state that does not start at zeros (`let w = w0;` from a public input, beside a momentum
/// that does): the first round computes its start, the later rounds take it bootstrapped,
/// and the decrypted model is the whole program's plaintext model within the schedule's
/// predicted bound, bootstraps included.
#[test]
fn state_started_by_the_first_round_runs_encrypted_within_the_bound() {
    const K: usize = 4;
    let text = "const k = 4;\n\
         input Z: enc matrix[8, 4][k] range [-1, 1];\n\
         input y: enc vector[8][k] range [-1, 1];\n\
         input w0: plain vector[4] range [-1, 1];\n\
         let u = zeros(4);\n\
         let w = w0;\n\
         for i in 0..k {\n\
             u = 0.5 * u + 0.05 * (transpose(Z[i]) @ (Z[i] @ w - y[i]));\n\
             w = w - u;\n\
         }\n\
         output w;\n";
    let data: HashMap<&str, Vec<Tensor>> = [
        ("Z", seq(K, Shape::Matrix(8, 4), 0)),
        ("y", seq(K, Shape::Vector(8), 50)),
        ("w0", vec![tensor(Shape::Vector(4), 99, false)]),
    ]
    .into();
    let (want, b) = run_joined("momentum_from_w0.hel", text, 2, &data);
    assert_eq!(b.rounds, vec![(0, 2), (2, 2)]);
    assert!(b.schedule.bootstraps().count() >= 1);
    // A model that moved: the refresh carried the computed start, not zeros.
    let bound = b.schedule.outputs[0].bound;
    assert!(max_diff(&want[0], &data["w0"][0].data) > 10.0 * bound);
}

/// A matrix carried from one iteration to the next (one-vs-rest logistic regression's weights,
/// one column per class): its tiles take every slot, so the chain refreshes all of them (no
/// sparse-slot shortcut); the model equals the plaintext model within the bound.
#[test]
fn matrix_state_runs_encrypted_within_the_bound() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ovr_logreg.hel");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("const k = 3;", "const k = 2;");
    let data: HashMap<&str, Vec<Tensor>> = [
        ("X", vec![tensor(Shape::Matrix(32, 6), 1, false)]),
        ("Y", vec![tensor(Shape::Matrix(32, 3), 2, true)]),
    ]
    .into();
    let (_, b) = run_joined("ovr_logreg.hel", &text, 1, &data);
    let s = &b.schedule;
    assert_eq!(b.rounds, vec![(0, 1), (1, 1)]);
    let chain = s.bootstrap.as_ref().unwrap();
    assert_eq!(
        1usize << chain.log_slots,
        s.unit.h * s.unit.w,
        "a matrix takes every slot"
    );
    assert_eq!(s.bootstraps().count(), 1);
}

/// A matrix multiplied from both sides (`Y @ (A @ Y)`) is carried in both forms, which share
/// one bootstrap per refresh (as the real and imaginary parts of one message): the model
/// equals the plaintext model within the bound.
#[test]
fn matrix_in_both_forms_runs_encrypted_within_the_bound() {
    // (With A in [-0.3, 0.3] the state grows to 22 on the ranges' corners, beyond this test
    // chain's 45-bit q_0: the rounds, sampled from the program's own states, refuse it.)
    let text = "const k = 3;\n\
                input A: enc matrix[3, 3] range [-0.1, 0.1];\n\
                input Y0: plain matrix[3, 3] range [-0.5, 0.5];\n\
                let Y = Y0;\n\
                for i in 0..k { Y = 0.5 * Y + Y @ (A @ Y); }\n\
                output Y;\n";
    let scaled = |t: Tensor, c: f64| Tensor {
        data: t.data.iter().map(|x| x * c).collect(),
        ..t
    };
    let data: HashMap<&str, Vec<Tensor>> = [
        (
            "A",
            vec![scaled(tensor(Shape::Matrix(3, 3), 3, false), 0.1)],
        ),
        (
            "Y0",
            vec![scaled(tensor(Shape::Matrix(3, 3), 4, false), 0.5)],
        ),
    ]
    .into();
    let (_, b) = run_joined("both_forms.hel", text, 1, &data);
    let s = &b.schedule;
    assert_eq!(b.rounds.len(), 3);
    assert_eq!(
        s.bootstraps().count(),
        2,
        "one bootstrap per refresh for both forms"
    );
}

/// An encrypted scalar the loop carries (a bias next to the weights): replicated in every
/// slot, refreshed with them, within the bound of the plaintext model.
#[test]
fn scalar_state_runs_encrypted_within_the_bound() {
    const K: usize = 4;
    let text = "const k = 4;\n\
                input X: enc matrix[8, 4][k] range [-1, 1];\n\
                input y: enc vector[8][k] range [-1, 1];\n\
                let w = zeros(4);\n\
                let b = 0;\n\
                for i in 0..k {\n\
                    let e = y[i] - (X[i] @ w + b);\n\
                    w = w + 0.05 * (transpose(X[i]) @ e);\n\
                    b = b + 0.05 * dot(e, ones(8));\n\
                }\n\
                output w, b;\n";
    let data: HashMap<&str, Vec<Tensor>> = [
        ("X", seq(K, Shape::Matrix(8, 4), 0)),
        ("y", seq(K, Shape::Vector(8), 20)),
    ]
    .into();
    let (_, b) = run_joined("scalar_bias.hel", text, 2, &data);
    let s = &b.schedule;
    assert_eq!(b.rounds, vec![(0, 2), (2, 2)]);
    assert_eq!(
        s.bootstraps().count(),
        1,
        "the bias shares the weights' bootstrap"
    );
}

/// A state whose entries share a large mean (a decaying sum of positive data, about 5.5 at
/// the refresh, filling the grid's row) is mostly one coefficient of its message, which
/// EvalMod's sine distorts by the cube of its size in every slot: bootstrapped from the full
/// scale it came back 1.4e-2 off (6.7x the charge on the slots' magnitude the bounds made
/// before, 6 · 2^-19 · |v|³ at this ring). The compiler sees the sine dominate the
/// bootstrap's bound and runs the rounds below the scale at their bottom
/// (`BootstrapParams::input_drop`): the model is within its bound, far below that charge.
#[test]
fn a_state_with_a_large_mean_is_bootstrapped_from_below_the_scale() {
    const K: usize = 4;
    let text = "const k = 4;\n\
                input y: enc vector[32][k] range [0.5, 1];\n\
                let v = zeros(32);\n\
                for i in 0..k { v = 0.9 * v + 3.2 * y[i]; }\n\
                output v;\n";
    let near = |i: usize| Tensor {
        shape: Shape::Vector(32),
        data: (0..32).map(|j| 0.9 + 0.01 * ((i + j) % 5) as f64).collect(),
    };
    let ys: Vec<Tensor> = (0..K).map(near).collect();
    let data: HashMap<&str, Vec<Tensor>> = [("y", ys.clone())].into();
    let (want, b) = run_joined("large_mean.hel", text, 2, &data);
    assert_eq!(b.rounds, vec![(0, 2), (2, 2)]);
    let s = &b.schedule;
    assert_eq!(s.unit.w, 32, "the state fills a row of the grid");
    let drop = s.bootstrap.as_ref().unwrap().input_drop;
    assert!(drop >= 4, "drop {drop}: {}", b.reason);
    assert!(b.reason.contains("bits below the scale"), "{}", b.reason);
    assert_eq!(s.params.log_scale, 40 - drop);
    // The state the bootstrap refreshes (after two steps) and the old charge on it.
    let refreshed = (0..32)
        .map(|j| 0.9 * 3.2 * ys[0].data[j] + 3.2 * ys[1].data[j])
        .fold(0.0, f64::max);
    let slot_charge = 6.0 * 2f64.powi(-19) * refreshed.powi(3);
    let got = run_encrypted(s, &[ys], 9).unwrap();
    let err = max_diff(&got[0].data, &want[0]);
    eprintln!(
        "large mean, {drop} bits below: error {err:.3e}, bound {:.3e}",
        s.outputs[0].bound
    );
    assert!(err <= s.outputs[0].bound);
    assert!(s.outputs[0].bound < slot_charge / 2.0);
}

/// A loop before the split one that changes the state (a first gradient step): rounds that
/// ran it again would restart the training, so only the first round runs it and the later
/// rounds take the state from it; the model is the plaintext model within the bound.
#[test]
fn a_prelude_computed_once_runs_encrypted_within_the_bound() {
    let text = "input X: enc matrix[8, 4] range [-1, 1];\n\
                input y: enc vector[8] range [-1, 1];\n\
                let w = zeros(4);\n\
                for i in 0..1 { w = w - 0.1 * (transpose(X) @ (X @ w - y)); }\n\
                for j in 0..3 { w = w - 0.05 * (transpose(X) @ (X @ w - y)); }\n\
                output w;\n";
    let data: HashMap<&str, Vec<Tensor>> = [
        ("X", vec![tensor(Shape::Matrix(8, 4), 1, false)]),
        ("y", vec![tensor(Shape::Vector(8), 2, false)]),
    ]
    .into();
    let (_, b) = run_joined("prelude.hel", text, 1, &data);
    assert_eq!(b.rounds.len(), 3);
    assert!(
        b.reason.contains("computed once by the first round"),
        "{}",
        b.reason
    );
}

/// The runtime's refresh between round schedules hands on a value no round changes (the
/// first round computes it, `Prelude::Carried`; the later rounds take it as an input and
/// output it as it came) without a bootstrap, only dropping primes; the planner's count
/// agrees, and three rounds decrypt to the plaintext model.
#[test]
fn a_value_no_round_changes_passes_the_refresh_without_a_bootstrap() {
    use hel_compiler::rounds::Prelude;
    let text = "const k = 1;\ninput A: enc matrix[4, 4] range [-1, 1];\n\
                let c = 0.1 * (A @ ones(4));\nlet v = zeros(4);\n\
                for i in 0..k { v = 0.5 * v + c; }\noutput v;\n";
    let t = RoundTemplate::with_prelude(&SourceFile::new("pass.hel", text), &[], Prelude::Carried)
        .unwrap();
    let names: Vec<&str> = t.state().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["c", "v"]);
    let compile = |start: usize, chain: &BootstrapParams, unit| -> Schedule {
        let mut o = Options {
            sets: vec![("k".into(), 1.0)],
            params: Some(chain.program_params().unwrap()),
            refresh: t
                .state()
                .iter()
                .map(|s| (s.input.clone(), s.name.clone()))
                .collect(),
            unit,
            keep_best: false,
            raise_scale: false,
            ..Options::default()
        };
        o.passes.level = OptLevel::O1;
        t.compile(start, &o)
            .unwrap_or_else(|d| panic!("{}", d.render_plain()))
            .lowered
            .schedule
    };
    let full = insecure_chain_for_testing_only();
    let unit = compile(1, &full, None).unit;
    let chain = full.with_slots(unit.w.trailing_zeros());
    let rounds = [0, 1, 2].map(|start| compile(start, &chain, Some(unit)));
    let boot = Bootstrapper::new(&chain).unwrap();
    let mut rng = Sampler::seeded_for_testing_only(11);
    let sk = boot.context().gen_secret_key(&mut rng);
    let bkeys = boot.gen_keys(&sk, &mut rng).unwrap();
    let ctxs: Vec<Context> = rounds.iter().map(|s| client::context(s).unwrap()).collect();
    let sks: Vec<_> = ctxs
        .iter()
        .map(|c| c.adopt_secret_key(&sk).unwrap())
        .collect();
    let a = tensor(Shape::Matrix(4, 4), 3, false);
    let zeros = Tensor {
        shape: Shape::Vector(4),
        data: vec![0.0; 4],
    };
    let refresher = Refresher::new(&boot, &bkeys);
    let mut outs: Vec<Vec<(u32, hel_runtime::ckks::Ciphertext)>> = Vec::new();
    let mut counts = Vec::new();
    let mut last = None;
    for (r, s) in rounds.iter().enumerate() {
        let keys = client::eval_keys_for(s, &ctxs[r], &sks[r], &mut rng).unwrap();
        let state = if r == 0 {
            Refresher::initial_state(&ctxs[0], s).unwrap()
        } else {
            let fresh = refresher
                .refresh(&ctxs[r - 1], &rounds[r - 1], &outs[r - 1], &ctxs[r], s)
                .unwrap();
            let top = boot.output_level();
            assert_eq!(
                fresh.bootstraps,
                exec::bootstraps_between(&rounds[r - 1], s, top)
            );
            counts.push(fresh.bootstraps);
            fresh.state
        };
        let inputs: Vec<Vec<Tensor>> = s
            .inputs
            .iter()
            .map(|d| {
                vec![if d.name == "A" {
                    a.clone()
                } else {
                    zeros.clone()
                }]
            })
            .collect();
        let up = client::encrypt_inputs(s, &ctxs[r], &sks[r], &inputs, &mut rng).unwrap();
        let ev = CkksEvaluator::new_seeded_with_state(
            &ctxs[r],
            s,
            &keys.relin,
            &keys.galois,
            up.ciphertexts.clone(),
            state,
            up.public.clone(),
        )
        .unwrap();
        let out = exec::execute(s, &ev, &exec::RunOptions::default())
            .unwrap()
            .outputs;
        last = Some(client::EncryptedOutputs::new(s, up.key_id, out.clone()));
        outs.push(out);
    }
    // Round 1 computes `c`: both refreshed after it; after round 2 `v` alone.
    let refreshed = (0..rounds[2].ct_inputs.len())
        .filter(|&i| rounds[2].is_refreshed_ct(i))
        .count();
    assert_eq!(refreshed, 2);
    assert_eq!(counts[1], 1, "`c` passes without a bootstrap: {counts:?}");
    let got = client::decrypt_outputs(&rounds[2], &ctxs[2], &sks[2], &last.unwrap()).unwrap();
    let c: Vec<f64> = (0..4)
        .map(|i| 0.1 * (0..4).map(|j| a.data[i * 4 + j]).sum::<f64>())
        .collect();
    let v: Vec<f64> = c.iter().map(|x| 1.75 * x).collect();
    for (o, tensor) in rounds[2].outputs.iter().zip(&got) {
        let want = if o.name == "c" { &c } else { &v };
        let err = max_diff(&tensor.data, want);
        eprintln!("`{}` after three rounds: error {err:.3e}", o.name);
        assert!(err <= 2f64.powi(-12), "`{}`: {err}", o.name);
    }
}

#[path = "../compiler/tests/support/gen.rs"]
mod gen;

/// Random training loops (the compiler's generator, every second loop made to run to a
/// constant, the others to their literal trip count) compiled
/// with a bootstrap after every iteration, run encrypted: every decrypted entry within the
/// joined schedule's predicted bound of the whole program's tensor interpreter. The programs
/// that compile with at least one bootstrap, until six have run (`HEL_RANDOM_PROGRAMS=n`: n),
/// cycling through -O0, -O1 and -O2 (`compiler/tests/random_bootstrapped.rs` checks many more
/// in plaintext). 60 programs: worst error 0.163 of its bound on the data (0.66 of the
/// compiled one before, with the rounds' old keys; 2026-12-06).
#[test]
fn random_loops_run_encrypted_with_bootstraps_within_their_bounds() {
    use hel_compiler::rounds::compile_bootstrapped;
    let random_encrypted: usize = std::env::var("HEL_RANDOM_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let levels = [OptLevel::O0, OptLevel::O1, OptLevel::O2];
    let cfg = gen::Config {
        depth: 2,
        big: false,
        ..gen::Config::default()
    };
    let chain_rule = insecure_chain_for_testing_only();
    let (mut ran, mut seed, mut worst) = (0, 0u64, 0.0f64);
    while ran < random_encrypted && seed < 20_000 {
        let text = gen::generate(gen::tape(seed, 400), cfg);
        seed += 1;
        let Some(text) = gen::with_loop_for_rounds(&text, seed % 2 == 0) else {
            continue;
        };
        let src = SourceFile::new("random.hel", text.clone());
        let whole = hel_compiler::frontend(&src, &[]).unwrap();
        let values = interp::random_inputs(&whole, seed);
        let Ok(expected) = interp::eval(&whole, &values) else {
            continue;
        };
        let finite = expected.iter().all(|(_, v)| match v {
            Value::Tensor(t) => t.data.iter().all(|x| x.is_finite()),
            Value::Seq(_) => false,
        });
        let level = levels[ran % 3];
        let mut o = Options::default();
        o.passes.level = level;
        let Ok(b) = compile_bootstrapped(&src, &o, &chain_rule, Some(1), &Default::default())
        else {
            continue;
        };
        let s = &b.schedule;
        if !finite || s.bootstraps().count() == 0 {
            continue;
        }
        let to_runtime = |t: &ITensor| Tensor {
            shape: match t.shape {
                IShape::Matrix(r, c) => Shape::Matrix(r, c),
                IShape::Vector(n) => Shape::Vector(n),
                IShape::Scalar => Shape::Scalar,
            },
            data: t.data.clone(),
        };
        let inputs: Vec<Vec<Tensor>> = s
            .inputs
            .iter()
            .map(|d| match &values[&d.name] {
                Value::Tensor(t) => vec![to_runtime(t)],
                Value::Seq(ts) => ts.iter().map(to_runtime).collect(),
            })
            .collect();
        // Inputs beyond what the parameters hold are refused by the client, named (a located
        // error, not a wrong result): skipped.
        let Ok(got) = run_encrypted(s, &inputs, seed) else {
            continue;
        };
        // Each output's bound as the client predicts it on its data (`hel encrypt`'s
        // `on_these_inputs`, never below the compiled one): the compiled bounds come from
        // random samples, and these inputs can reach far larger values (seed 130's
        // `((A / 1000)^4 @ 1)^3` with A in [-1000, 10]: its compiled bound was exceeded 1.4x
        // and 2.2x for two of six key seeds, old keys and new; on its data it is 20x looser).
        let bounded = hel_compiler::lower::bounds::with_bounds_for(s, &inputs);
        for ((o, g), (name, want)) in bounded.outputs.iter().zip(&got).zip(&expected) {
            let Value::Tensor(want) = want else {
                unreachable!()
            };
            assert_eq!(&o.name, name);
            let err = max_diff(&g.data, &want.data);
            assert!(
                err <= o.bound,
                "seed {}, {level:?}, `{name}`: error {err:e} beyond the bound {:e}\n{text}",
                seed - 1,
                o.bound
            );
            worst = worst.max(err / o.bound);
        }
        ran += 1;
    }
    eprintln!("{ran} random loops with bootstraps (seeds up to {seed}): worst error {worst:.3} of its bound");
    assert_eq!(
        ran, random_encrypted,
        "too few programs compiled with bootstraps"
    );
}
