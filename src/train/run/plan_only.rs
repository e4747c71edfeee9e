//! `hel train --plan-only`: the rounds a training would run and what they would cost, before
//! committing to it. Generating keys and encrypting take minutes and gigabytes for the larger
//! plans (NAG on MNIST with bootstraps: 3 GiB of bootstrapping keys, 2.4 GiB of upload), and
//! `--refresh auto` chooses between ways whose costs differ by 20x; the plan shows each round,
//! each bootstrap and each circuit first, with the plaintext model it should match.

use super::super::progress::Progress;
use super::super::report::{PlanReport, RefreshChoice};
use super::super::{TrainError, TrainOptions};
use super::{choose, evaluate, prepare, program, Prog};
use crate::data::Matrix;
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::SourceFile;

/// Plans the training of `src` on `batches` as [`super::train_on`] would (the plaintext model,
/// the rounds, the circuits, the cost model's estimates of each way to refresh) and stops
/// there. The report's `data` is left for the caller to fill in.
pub fn plan_on(
    batches: &[Matrix],
    z_test: &Matrix,
    src: &SourceFile,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<PlanReport, TrainError> {
    let ways = choose::Ways::of(opts);
    let (pt, planned) = prepare(batches, z_test, src, opts, progress, &ways)?;
    let choose::Planned {
        mut run,
        plan,
        template,
    } = planned;
    let refresh = match run.choice.take() {
        Some(choice) => choice,
        None => RefreshChoice {
            requested: opts.refresh.name().into(),
            chosen: run.estimate(&plan, template.as_ref())?,
            alternative: None,
            reason: if plan.sizes.len() == 1 {
                "one circuit holds every minibatch: nothing to refresh".into()
            } else {
                "asked for".into()
            },
        },
    };
    // Every round size is priced by the first round's program ([`Run::estimate`]).
    let first = template.as_ref().map_or(Prog::Whole, |t| Prog::Round(t, 0));
    let mut sizes = plan.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let circuits = sizes
        .iter()
        .map(|&len| {
            let mut report = run.circuit(&first.key(len))?.report.clone();
            report.rounds = (0..plan.sizes.len())
                .filter(|&r| plan.sizes[r] == len)
                .collect();
            Ok(report)
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let boot = run.boot.as_ref().filter(|_| refresh.chosen.bootstraps > 0);
    let plain = evaluate(&pt.z_test, &pt.plain.beta);
    Ok(PlanReport {
        data: String::new(),
        program: src.short_name().to_string(),
        method: program::method_name(pt.method).to_string(),
        opt_level: match opts.compile.level {
            OptLevel::O0 => "O0",
            OptLevel::O1 => "O1",
            OptLevel::O2 => "O2",
        }
        .to_string(),
        minibatches: pt.k,
        batch_size: run.m,
        features: run.f,
        round_sizes: plan.sizes.clone(),
        rounds_reason: plan.reason.clone(),
        refresh,
        circuits,
        bootstrap_log_slots: boot.map(|b| b.chain.log_slots),
        bootstrap_program_levels: boot.map(|b| b.chain.program_levels),
        one_bootstrap_seconds: boot.and(run.one_bootstrap_seconds()),
        plaintext_accuracy: plain.accuracy,
        plaintext_auc: plain.auc,
        compile_seconds: run.compile_seconds,
    })
}
