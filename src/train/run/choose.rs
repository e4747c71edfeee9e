//! How the state crosses between rounds (`--refresh`): with `bootstrap` the plan the server
//! refreshes is priced next to client rounds, and with `auto` both are planned and the one of
//! less estimated server time runs. Estimates only: nothing is encrypted for the plan that
//! does not run.

use hel_runtime::exec::bootstraps_between;

use super::super::report::{PlanEstimate, RefreshChoice};
use super::super::rounds::{RoundPlan, RoundTemplate};
use super::super::{Refresh, TrainError, TrainOptions};
use super::{Prog, Run};

/// Why `--refresh bootstrap` runs an ordinary circuit when one holds the whole loop.
const ONE_CIRCUIT: &str =
    "one circuit holds every minibatch: nothing to refresh, so it runs as an ordinary circuit";

/// A run with its rounds planned, ready to train.
pub(super) struct Planned<'a> {
    pub(super) run: Run<'a>,
    pub(super) plan: RoundPlan,
    pub(super) template: Option<RoundTemplate>,
}

/// The options of the two ways to refresh (`refresh` replaced), for the runs that plan them.
pub(super) struct Ways {
    client: TrainOptions,
    bootstrap: Option<TrainOptions>,
}

impl Ways {
    pub(super) fn of(opts: &TrainOptions) -> Self {
        let chain = match &opts.refresh {
            Refresh::Client => None,
            Refresh::Bootstrap(c) | Refresh::Auto(c) => Some(c.clone()),
        };
        Ways {
            client: TrainOptions {
                refresh: Refresh::Client,
                ..opts.clone()
            },
            bootstrap: chain.map(|c| TrainOptions {
                refresh: Refresh::Bootstrap(c),
                ..opts.clone()
            }),
        }
    }
}

impl<'a> Run<'a> {
    /// Plans the rounds the way `self.opts.refresh` asks; `ways` holds the options of the
    /// runs that plan the other way (`auto` runs under one of them).
    pub(super) fn planned(mut self, ways: &'a Ways) -> Result<Planned<'a>, TrainError> {
        let requested = self.opts.refresh.name();
        match &self.opts.refresh {
            Refresh::Client => {
                let (plan, template) = self.plan()?;
                self.announce(&plan);
                Ok(Planned {
                    run: self,
                    plan,
                    template,
                })
            }
            Refresh::Bootstrap(_) => {
                let (plan, template) = self.plan()?;
                if plan.sizes.len() == 1 {
                    // One circuit holds every minibatch: nothing to refresh, so the ordinary
                    // circuit runs (a smaller ring and no bootstrapping keys; it ran on the
                    // bootstrapping chain's N = 2^16), as `hel compile --refresh bootstrap`
                    // falls back.
                    let mut client = self.sibling(&ways.client);
                    if let Ok((one, one_template)) = client.plan() {
                        if one.sizes.len() == 1 {
                            client.announce(&one);
                            let chosen = client.estimate(&one, one_template.as_ref())?;
                            let alternative = self.estimate(&plan, template.as_ref()).ok();
                            client.choice = Some(RefreshChoice {
                                requested: requested.into(),
                                chosen,
                                alternative,
                                reason: ONE_CIRCUIT.into(),
                            });
                            return Ok(Planned {
                                run: client,
                                plan: one,
                                template: one_template,
                            });
                        }
                    }
                }
                self.announce(&plan);
                if plan.sizes.len() > 1 {
                    let chosen = self.estimate(&plan, template.as_ref())?;
                    let alternative = self.sibling(&ways.client).estimate_planned();
                    self.choice = Some(RefreshChoice {
                        requested: requested.into(),
                        chosen,
                        alternative,
                        reason: "asked for; the other way is the cost model's estimate".into(),
                    });
                }
                Ok(Planned {
                    run: self,
                    plan,
                    template,
                })
            }
            Refresh::Auto(_) => {
                let bootstrap_opts = ways
                    .bootstrap
                    .as_ref()
                    .ok_or_else(|| TrainError::Internal("no bootstrapping chain".into()))?;
                let mut client = self.sibling(&ways.client);
                let by_client = client.plan();
                if let Ok((plan, _)) = &by_client {
                    if plan.sizes.len() == 1 {
                        // One circuit holds every minibatch: nothing to refresh.
                        let (plan, template) = by_client?;
                        return Ok(Planned {
                            run: client,
                            plan,
                            template,
                        });
                    }
                }
                let by_client =
                    by_client.and_then(|(p, t)| Ok((client.estimate(&p, t.as_ref())?, p, t)));
                let mut boot = self.sibling(bootstrap_opts);
                let by_bootstrap = boot
                    .plan()
                    .and_then(|(p, t)| Ok((boot.estimate(&p, t.as_ref())?, p, t)));
                let (mut run, (chosen, plan, template), alternative, reason) =
                    match (by_client, by_bootstrap) {
                        (Ok(c), Ok(b)) if b.0.server_seconds <= c.0.server_seconds => {
                            let reason = format!(
                                "bootstraps on the server are estimated no slower ({:.1} s \
                                 against {:.1} s) and keep the client offline",
                                b.0.server_seconds, c.0.server_seconds
                            );
                            (boot, b, Some(c.0), reason)
                        }
                        (Ok(c), Ok(b)) => {
                            let reason = format!(
                                "client rounds are estimated faster on the server ({:.1} s \
                                 against {:.1} s with bootstraps)",
                                c.0.server_seconds, b.0.server_seconds
                            );
                            (client, c, Some(b.0), reason)
                        }
                        (Ok(c), Err(e)) => {
                            let reason = format!("the rounds cannot be bootstrapped: {e}");
                            (client, c, None, reason)
                        }
                        (Err(e), Ok(b)) => {
                            let reason = format!("client rounds cannot be planned: {e}");
                            (boot, b, None, reason)
                        }
                        (Err(e), Err(_)) => return Err(e),
                    };
                run.announce(&plan);
                run.choice = Some(RefreshChoice {
                    requested: requested.into(),
                    chosen,
                    alternative,
                    reason,
                });
                Ok(Planned {
                    run,
                    plan,
                    template,
                })
            }
        }
    }

    /// A run of the same training under `opts` (another way to refresh), nothing compiled.
    fn sibling(&self, opts: &'a TrainOptions) -> Run<'a> {
        Run::new(
            self.src,
            opts,
            (self.m, self.f),
            self.k_total,
            self.tuning,
            self.progress,
        )
    }

    /// [`Run::plan`] and [`Run::estimate`] of a run planned only to be compared with; `None`
    /// where it cannot be planned.
    fn estimate_planned(mut self) -> Option<PlanEstimate> {
        let (plan, template) = self.plan().ok()?;
        self.estimate(&plan, template.as_ref()).ok()
    }

    /// The cost model's figures for running `plan` ([`PlanEstimate`]). Every round size is
    /// priced by the first round's program (the rounds differ only in constants), compiled
    /// here if the plan did not need it.
    pub(super) fn estimate(
        &mut self,
        plan: &RoundPlan,
        template: Option<&RoundTemplate>,
    ) -> Result<PlanEstimate, TrainError> {
        let threads = self.server_threads();
        let first = template.map_or(Prog::Whole, |t| Prog::Round(t, 0));
        let (mut work, mut upload, mut download) = (0.0, 0u64, Vec::new());
        for &len in &plan.sizes {
            if !self.try_compile(first, len)? {
                return Err(TrainError::Internal(format!(
                    "a round of {len} minibatch(es) no longer fits"
                )));
            }
            let c = self.circuit(&first.key(len))?;
            let r = c.schedule.resources();
            work += c.report.cost_model.work_seconds;
            upload += r.upload_bytes;
            download.push(r.download_bytes);
        }
        let rounds = plan.sizes.len();
        // The rounds' work divides among the threads; a bootstrap's hardly does.
        let mut seconds = work / threads as f64;
        let (bootstraps, download, exchanges) = match self.boot.as_ref().map(|b| b.chain.clone()) {
            Some(chain) => {
                let round = &self.circuit(&first.key(plan.sizes[0]))?.schedule;
                let n = bootstraps_between(round, round, chain.program_levels) * (rounds - 1);
                seconds += n as f64 * self.one_bootstrap_seconds().unwrap_or(0.0);
                (n, download.last().copied().unwrap_or(0), 2)
            }
            None => (0, download.iter().sum(), rounds),
        };
        Ok(PlanEstimate {
            refresh: if self.boot.is_some() {
                "bootstrap"
            } else {
                "client"
            }
            .into(),
            round_sizes: plan.sizes.clone(),
            server_seconds: seconds,
            bootstraps,
            upload_bytes: upload,
            download_bytes: download,
            client_exchanges: exchanges,
        })
    }
}
