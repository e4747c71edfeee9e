//! The DAG scheduler on a wide program with the CKKS evaluator: one thread, two threads, and two
//! threads under a zero memory limit (depth-first order), at N = 2^14 and 2^15 (standard chains,
//! 8 and 20 limbs). The program: sixteen independent rotate-mask-rescale branches of one input,
//! summed pairwise, squared. Also prints the cost evaluator's estimate (work and critical path)
//! and each configuration's peak memory once. Run with `cargo bench -p hel-runtime --bench exec`
//! (`HEL_BENCH_LOG_N=14` restricts the sizes). Formerly the ignored test
//! `timing_one_vs_two_threads` in `runtime/tests/exec.rs`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hel_runtime::ckks::{CkksParams, Context, Sampler};
use hel_runtime::exec::{execute, CkksEvaluator, CostEvaluator, CostTable, RunOptions};
use hel_runtime::schedule::rules::{result, CtState};
use hel_runtime::schedule::{
    level_scales, pack_slots, CtInput, Instr, Layout, Node, Origin, OutputTile, Pack, Plain,
    Schedule, Shape, Source, Tensor, TensorInput, TensorOutput, Unit, ValueId,
};

fn sizes() -> Vec<u32> {
    std::env::var("HEL_BENCH_LOG_N")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![14, 15])
}

/// `branches` rotate-mask-rescale branches of one encrypted 64-vector, summed pairwise, squared.
fn wide(params: CkksParams, branches: i64) -> Schedule {
    let q = params.primes().unwrap().q;
    let scales = level_scales(&q, params.log_scale);
    let top = params.max_level() as u32;
    let slots = params.slots();
    let row = Layout::RowVector { offset: 0 };
    let mut s = Schedule {
        name: "wide.hel".into(),
        program_hash: String::new(),
        level_scales: scales.clone(),
        unit: Unit {
            h: slots / 128,
            w: 128,
        },
        inputs: vec![TensorInput {
            name: "x".into(),
            shape: Shape::Vector(64),
            seq: None,
            encrypted: true,
            range: Some((-1.0, 1.0)),
            refreshed_from: None,
        }],
        derived: vec![],
        ct_inputs: vec![CtInput {
            pack: Pack {
                source: Source::Input {
                    input: 0,
                    element: 0,
                },
                layout: row,
                factor: 1.0,
            },
            level: top,
            scale: scales[top as usize],
        }],
        nodes: vec![],
        outputs: vec![],
        rotation_steps: (1..=branches).collect(),
        needs_conjugation: false,
        hoist_groups: vec![],
        bootstrap: None,
        params,
    };
    let push = |s: &mut Schedule, instr: Instr| -> ValueId {
        let args: Vec<CtState> = instr
            .operands()
            .iter()
            .map(|&a| CtState::recorded(&s.nodes[a as usize]))
            .collect();
        let r = result(&instr, &args, &s.ct_inputs, &q).unwrap();
        s.nodes.push(Node {
            instr,
            level: r.level,
            scale: r.scale,
            degree: r.degree,
            bound: f64::INFINITY,
            origin: Origin::default(),
            last_use: None,
        });
        (s.nodes.len() - 1) as ValueId
    };
    let x = push(&mut s, Instr::Input { index: 0 });
    let mut terms = Vec::new();
    for step in 1..=branches {
        let r = push(&mut s, Instr::Rotate { a: x, step });
        let plain = Plain::Rect {
            value: 0.5,
            rows: (0, step as u32),
            cols: (0, 64),
        };
        let scale = scales[top as usize];
        let m = push(&mut s, Instr::MulPlain { a: r, plain, scale });
        terms.push(push(&mut s, Instr::Rescale { a: m }));
    }
    while terms.len() > 1 {
        let (a, b) = (terms.remove(0), terms.remove(0));
        terms.push(push(&mut s, Instr::Add { a, b }));
    }
    let sq = push(
        &mut s,
        Instr::Mul {
            a: terms[0],
            b: terms[0],
        },
    );
    let rl = push(&mut s, Instr::Relinearize { a: sq });
    let y = push(&mut s, Instr::Rescale { a: rl });
    s.outputs.push(TensorOutput {
        name: "y".into(),
        shape: Shape::Vector(64),
        tiles: vec![OutputTile {
            value: y,
            layout: row,
            factor: 1.0,
        }],
        bound: f64::INFINITY,
        range: 1.0,
    });
    s.compute_liveness();
    s.validate().unwrap();
    s
}

fn bench_exec(c: &mut Criterion) {
    for log_n in sizes() {
        let s = wide(CkksParams::standard(log_n).unwrap(), 16);
        let cost = CostEvaluator::new(&s, CostTable::default()).unwrap();
        execute(&s, &cost, &RunOptions::default()).unwrap();
        let report = cost.report().unwrap();
        eprintln!(
            "N = 2^{log_n}: estimate: work {:.3} s, critical path {:.3} s",
            report.work_seconds, report.critical_path_seconds
        );

        let ctx = Context::new(&s.params).unwrap();
        let mut rng = Sampler::seeded_for_testing_only(21);
        let sk = ctx.gen_secret_key(&mut rng);
        let rlk = ctx.gen_relin_key(&sk, &mut rng).unwrap();
        let gk = ctx
            .gen_galois_keys(&sk, &s.rotation_steps, s.needs_conjugation, &mut rng)
            .unwrap();
        let x = Tensor {
            shape: Shape::Vector(64),
            data: (0..64).map(|i| (i as f64 / 32.0) - 1.0).collect(),
        };
        let input = &s.ct_inputs[0];
        let slots = pack_slots(s.unit, &input.pack, &x);
        let pt = ctx
            .encode(&slots, input.level as usize, input.scale)
            .unwrap();
        let ct = ctx.encrypt_sk(&pt, &sk, &mut rng).unwrap();
        let evaluator =
            || CkksEvaluator::new(&ctx, &s, &rlk, &gk, vec![ct.clone()], vec![vec![]]).unwrap();

        let mut g = c.benchmark_group(format!("exec wide16/2^{log_n}"));
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(5));
        for (name, threads, memory_limit) in [
            ("1 thread", 1, None),
            ("2 threads", 2, None),
            ("2 threads, memory limit 0", 2, Some(0)),
        ] {
            let opts = RunOptions {
                threads,
                memory_limit,
                ..RunOptions::default()
            };
            let run = execute(&s, &evaluator(), &opts).unwrap();
            eprintln!(
                "N = 2^{log_n}, {name}: peak {:.1} MiB",
                run.stats.peak_bytes as f64 / (1 << 20) as f64
            );
            g.bench_function(name, |b| {
                b.iter_batched(
                    evaluator,
                    |ev| execute(&s, &ev, &opts).unwrap(),
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_exec);
criterion_main!(benches);
