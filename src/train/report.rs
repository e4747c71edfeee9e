//! What `hel train` reports: one struct, printed as a table or as one JSON object.

use std::fmt::Write as _;

use serde::Serialize;

use super::cost::CostEstimate;
use super::history::History;
use super::plan::Plan;
use crate::reference::H_DOMAIN;

/// One compiled circuit (a single-circuit run has one; rounds may share one or need several).
#[derive(Clone, Debug, Serialize)]
pub struct CircuitReport {
    /// The rounds (0-based) that ran this circuit.
    pub rounds: Vec<usize>,
    /// Minibatches (iterations) in the circuit.
    pub minibatches: usize,
    pub depth: u32,
    pub log_n: u32,
    pub log_pq: u32,
    pub log_scale: u32,
    pub dnum: usize,
    /// Ciphertext operations in the server's schedule.
    pub nodes: usize,
    pub input_ciphertexts: usize,
    /// The key set it ran under (an index into [`TrainReport::key_sets`]).
    pub key_set: usize,
    /// The compiler's predicted bound on the absolute error of each output entry, on the
    /// training data (computed by the client; the server's schedule carries the bound for
    /// random inputs in the declared ranges).
    pub predicted_error: f64,
    pub compile_seconds: f64,
    /// The cost model's estimate of the server run.
    pub cost_model: CostEstimate,
}

/// One key set (one keygen): every circuit compiled to its parameters whose rotations it
/// covers runs under it, so its evaluation keys are sent once.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct KeySetReport {
    pub galois_keys: usize,
    pub eval_key_bytes: usize,
    pub secret_key_bytes: usize,
}

/// One round: upload, server run, download.
#[derive(Clone, Debug, Serialize)]
pub struct RoundReport {
    pub first_minibatch: usize,
    pub minibatches: usize,
    pub upload_bytes: usize,
    pub download_bytes: usize,
    pub server_seconds: f64,
    pub peak_memory_bytes: usize,
    /// The weights the client decrypted after the round (for the training curves).
    #[serde(skip)]
    pub weights: Vec<f64>,
}

/// The cost model's figures for one way of running the rounds, before anything is encrypted.
#[derive(Clone, Debug, Serialize)]
pub struct PlanEstimate {
    /// `client` or `bootstrap`.
    pub refresh: String,
    /// Minibatches per round.
    pub round_sizes: Vec<usize>,
    /// Estimated server seconds on the run's threads: the rounds (the cost model, each size
    /// priced by the first round's program) and, with bootstraps, those between the rounds
    /// (the cost table's measured bootstrap).
    pub server_seconds: f64,
    /// The bootstraps between the rounds (0 with client refreshes).
    pub bootstraps: usize,
    /// What the client sends (every round's encrypted inputs) and receives (every round's
    /// outputs with client refreshes, the last round's with bootstraps).
    pub upload_bytes: u64,
    pub download_bytes: u64,
    /// Times the client must be online to send or receive: one per round with client
    /// refreshes, two (one upload, one download) with bootstraps.
    pub client_exchanges: usize,
}

impl PlanEstimate {
    /// One line for the tables: rounds, estimated server time, bootstraps, traffic.
    pub fn line(&self) -> String {
        format!(
            "{}: {} round(s), est. {:.1} s of server time{}, upload {}, download {}, client \
             online {} time(s)",
            self.refresh,
            self.round_sizes.len(),
            self.server_seconds,
            if self.bootstraps > 0 {
                format!(" with {} bootstrap(s)", self.bootstraps)
            } else {
                String::new()
            },
            human_bytes(self.upload_bytes as usize),
            human_bytes(self.download_bytes as usize),
            self.client_exchanges
        )
    }
}

/// How the state crosses between rounds, and why.
#[derive(Clone, Debug, Serialize)]
pub struct RefreshChoice {
    /// What was asked for: `bootstrap` or `auto`.
    pub requested: String,
    pub chosen: PlanEstimate,
    /// The other way, when it could be planned.
    pub alternative: Option<PlanEstimate>,
    pub reason: String,
}

/// Everything `hel train` measured.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// `mnist-3v8` or the CSV file.
    pub data: String,
    pub program: String,
    /// The reference algorithm the program computes: `gd` or `nag`.
    pub method: String,
    pub opt_level: String,
    pub minibatches: usize,
    pub batch_size: usize,
    /// Columns of the design matrix (features + bias).
    pub features: usize,
    pub train_rows: usize,
    pub test_rows: usize,

    pub rounds: usize,
    pub round_sizes: Vec<usize>,
    pub rounds_reason: String,
    /// How the state crossed between rounds: `client` (decrypted and re-encrypted by the
    /// client, one round trip per round) or `bootstrap` (on the server; one upload, one
    /// download).
    pub refresh: String,
    /// Bootstraps the server ran (0 with client refreshes; one refreshes two state tiles).
    pub bootstraps: usize,
    /// Server time spent bootstrapping (included in `server_seconds`).
    pub bootstrap_seconds: f64,
    /// The bootstrapping key file sent to the server (0 with client refreshes).
    pub bootstrap_key_bytes: usize,
    /// With `--refresh bootstrap` or `auto` and more than one round: the cost model's
    /// figures for the plan that ran and for the other way to refresh.
    pub refresh_choice: Option<RefreshChoice>,

    /// Of the deepest circuit (the first round's).
    pub depth: u32,
    pub log_n: u32,
    pub log_pq: u32,
    pub log_scale: u32,
    pub dnum: usize,
    pub circuits: Vec<CircuitReport>,

    /// Evaluation keys sent to the server, all key sets together.
    pub eval_key_bytes: usize,
    /// The secret key of the first key set (kept by the client, never sent).
    pub secret_key_bytes: usize,
    pub key_sets: Vec<KeySetReport>,
    /// Encrypted inputs sent to the server, all rounds together.
    pub upload_bytes: usize,
    /// Encrypted outputs sent back, all rounds together.
    pub download_bytes: usize,
    /// Circuit evaluation on the server, all rounds together (loading keys and inputs and
    /// writing outputs excluded; that is `server_total_seconds`).
    pub server_seconds: f64,
    pub server_total_seconds: f64,
    /// Largest live ciphertext memory of the server in any round.
    pub peak_memory_bytes: usize,
    /// The soft limit the server ran under (null: none).
    pub memory_limit_bytes: Option<usize>,
    pub threads: usize,
    pub compile_seconds: f64,
    pub keygen_seconds: f64,
    pub encrypt_seconds: f64,
    pub decrypt_seconds: f64,
    pub round_details: Vec<RoundReport>,

    /// Test accuracy of the encrypted-trained model.
    pub accuracy: f64,
    /// Test ROC AUC (null when the test set holds one class only).
    pub auc: Option<f64>,
    pub plaintext_accuracy: f64,
    pub plaintext_auc: Option<f64>,
    /// max |β_encrypted − β_plaintext| over the weights.
    pub max_weight_error: f64,
    /// Sum over rounds of the compiler's predicted per-entry error bound (each round's bound
    /// covers its own noise; the error carried in from earlier rounds is not amplified by GD,
    /// whose update contracts, and only mildly by NAG).
    pub predicted_error_bound: f64,
    /// max |Z_i β_i| of the plaintext run; beyond 16 the sigmoid polynomial is off its domain.
    pub max_abs_inner: f64,
    /// c: Z (training and test rows) was multiplied by it to keep the run inside that domain
    /// (1: Z as built); the weights are those of the scaled Z.
    pub design_scale: f64,
    /// max |Z_i β_i| of the plaintext run on Z as built (= `max_abs_inner` when c = 1).
    pub unscaled_max_abs_inner: f64,

    /// How the CSV features were scaled (null for MNIST's fixed x/255).
    pub feature_scaling: Option<String>,
    /// The learning rate, sigmoid polynomial and K chosen from the training rows, for a
    /// program that lets the trainer set them (null: the program's own constants).
    pub plan: Option<Plan>,
    /// Training loss and test accuracy per iteration (plaintext) and per round (encrypted).
    pub history: History,

    /// The encrypted-trained weights (bias first).
    #[serde(skip)]
    pub weights: Vec<f64>,
    /// The plaintext reference weights.
    #[serde(skip)]
    pub plaintext_weights: Vec<f64>,
}

/// `612.3 MiB`.
pub fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn opt4(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

impl TrainReport {
    /// The human-readable table (stdout of `hel train`).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let method = match self.method.as_str() {
            "nag" => "Nesterov (NAG)",
            _ => "gradient descent (GD)",
        };
        let _ = writeln!(
            s,
            "hel train: {} [{method}], {}: {} minibatches x {} rows, {} features incl. bias, \
             -{}",
            self.program,
            self.data,
            self.minibatches,
            self.batch_size,
            self.features,
            self.opt_level
        );
        let _ = writeln!(
            s,
            "           {} training rows, {} test rows",
            self.train_rows, self.test_rows
        );
        if let Some(scaling) = &self.feature_scaling {
            let _ = writeln!(s, "           features: {scaling}");
        }
        if let Some(plan) = &self.plan {
            let _ = writeln!(s, "           plan: {}", plan.summary());
        }
        let _ = writeln!(s);
        let row = |s: &mut String, k: &str, a: String, b: String| {
            let _ = writeln!(s, "  {k:<22} {a:<32} {b}");
        };
        row(&mut s, "", "encrypted".into(), "plaintext".into());
        row(
            &mut s,
            "test accuracy",
            format!("{:.4}", self.accuracy),
            format!("{:.4}", self.plaintext_accuracy),
        );
        row(&mut s, "test AUC", opt4(self.auc), opt4(self.plaintext_auc));
        row(
            &mut s,
            "max weight error",
            format!("{:.2e}", self.max_weight_error),
            format!("(predicted bound {:.2e})", self.predicted_error_bound),
        );
        row(
            &mut s,
            "max |Z_i beta_i|",
            format!("{:.2}", self.max_abs_inner),
            if self.design_scale == 1.0 {
                let r = self
                    .plan
                    .as_ref()
                    .map_or(H_DOMAIN, |p| p.tuning.sigmoid.interval);
                let inside = if self.max_abs_inner <= r {
                    "inside"
                } else {
                    "outside"
                };
                format!("({inside} the sigmoid polynomial's interval [-{r:.1}, {r:.1}])")
            } else {
                format!(
                    "(Z scaled by 2^{}; domain [-{H_DOMAIN}, {H_DOMAIN}]; {:.1} unscaled)",
                    super::domain::log2_label(self.design_scale),
                    self.unscaled_max_abs_inner
                )
            },
        );
        let _ = writeln!(s);
        row(
            &mut s,
            "circuit depth",
            self.depth.to_string(),
            if self.circuits.len() > 1 {
                format!("(deepest of {} circuits)", self.circuits.len())
            } else {
                String::new()
            },
        );
        row(
            &mut s,
            "parameters",
            format!(
                "N = 2^{}, log2 PQ = {}, scale 2^{}",
                self.log_n, self.log_pq, self.log_scale
            ),
            format!("(dnum {}, 128-bit)", self.dnum),
        );
        row(
            &mut s,
            "rounds",
            format!(
                "{} ({})",
                self.rounds,
                self.round_sizes
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
            self.rounds_reason.clone(),
        );
        if self.refresh == "bootstrap" && self.rounds == 1 {
            row(
                &mut s,
                "refresh",
                "bootstrap: none needed".into(),
                "(one round holds every minibatch)".into(),
            );
        } else if self.refresh == "bootstrap" {
            row(
                &mut s,
                "refresh",
                format!(
                    "bootstrap: {} bootstrap(s), {:.2} s",
                    self.bootstraps, self.bootstrap_seconds
                ),
                format!(
                    "(on the server: one upload, one download; bootstrapping keys {})",
                    human_bytes(self.bootstrap_key_bytes)
                ),
            );
        }
        if let Some(choice) = &self.refresh_choice {
            let line = PlanEstimate::line;
            row(
                &mut s,
                &format!("--refresh {}", choice.requested),
                line(&choice.chosen),
                format!("({})", choice.reason),
            );
            if let Some(alt) = &choice.alternative {
                row(&mut s, "  the other way", line(alt), String::new());
            }
        }
        let galois: usize = self.key_sets.iter().map(|k| k.galois_keys).sum();
        row(
            &mut s,
            "evaluation keys",
            human_bytes(self.eval_key_bytes),
            format!(
                "({galois} Galois keys in {} key set(s) for {} circuit(s); secret key {})",
                self.key_sets.len(),
                self.circuits.len(),
                human_bytes(self.secret_key_bytes)
            ),
        );
        row(
            &mut s,
            "upload",
            human_bytes(self.upload_bytes),
            format!(
                "(encrypted inputs; download {})",
                human_bytes(self.download_bytes)
            ),
        );
        row(
            &mut s,
            "server time",
            format!("{:.2} s", self.server_seconds),
            format!(
                "({} thread(s); {:.2} s with loading)",
                self.threads, self.server_total_seconds
            ),
        );
        let estimate = |f: &dyn Fn(&CostEstimate) -> f64| -> f64 {
            self.circuits
                .iter()
                .map(|c| c.rounds.len() as f64 * f(&c.cost_model))
                .sum()
        };
        row(
            &mut s,
            "cost model",
            format!(
                "{:.2} s on {} thread(s)",
                estimate(&|c| c.seconds_on(self.threads)),
                self.threads
            ),
            format!(
                "(estimate; critical path {:.2} s: see hel bench logreg)",
                estimate(&|c| c.critical_path_seconds)
            ),
        );
        row(
            &mut s,
            "server peak memory",
            human_bytes(self.peak_memory_bytes),
            "(live ciphertexts)".into(),
        );
        row(
            &mut s,
            "client time",
            format!(
                "compile {:.1} s, keygen {:.1} s",
                self.compile_seconds, self.keygen_seconds
            ),
            format!(
                "encrypt {:.1} s, decrypt {:.2} s",
                self.encrypt_seconds, self.decrypt_seconds
            ),
        );
        s
    }
}

/// What `hel train --plan-only` reports: the rounds `hel train` would run, their circuits and
/// what the run would cost by the cost model. The circuits are compiled and the plaintext
/// model is trained; nothing is encrypted, no key is made, the server does not run.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    /// `mnist-3v8` or the data file.
    pub data: String,
    pub program: String,
    /// The reference algorithm the program computes: `gd` or `nag`.
    pub method: String,
    pub opt_level: String,
    pub minibatches: usize,
    pub batch_size: usize,
    /// Columns of the design matrix (features + bias).
    pub features: usize,
    /// Minibatches per round, and why the rounds are that size.
    pub round_sizes: Vec<usize>,
    pub rounds_reason: String,
    /// The plan that would run (`chosen`) and, with `--refresh bootstrap` or `auto`, the other
    /// way's estimate.
    pub refresh: RefreshChoice,
    /// One circuit per round size (each priced by the first round's program).
    pub circuits: Vec<CircuitReport>,
    /// With bootstraps: log2 of the slots the chain refreshes, its program levels and the
    /// cost table's seconds for one bootstrap on the server's threads.
    pub bootstrap_log_slots: Option<u32>,
    pub bootstrap_program_levels: Option<usize>,
    pub one_bootstrap_seconds: Option<f64>,
    /// The plaintext model of the same algorithm on the same minibatches, on the test rows.
    pub plaintext_accuracy: f64,
    pub plaintext_auc: Option<f64>,
    pub compile_seconds: f64,
}

impl PlanReport {
    /// The human-readable table (stdout of `hel train --plan-only`).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "hel train --plan-only: {} [{}], {}: {} minibatches x {} rows, {} features incl. \
             bias, -{}",
            self.program,
            self.method,
            self.data,
            self.minibatches,
            self.batch_size,
            self.features,
            self.opt_level
        );
        let _ = writeln!(s);
        let row = |s: &mut String, k: &str, a: String| {
            let _ = writeln!(s, "  {k:<22} {a}");
        };
        row(
            &mut s,
            "plaintext model",
            format!(
                "test accuracy {:.4}, AUC {}",
                self.plaintext_accuracy,
                opt4(self.plaintext_auc)
            ),
        );
        row(
            &mut s,
            "rounds",
            format!("{} ({})", runs(&self.round_sizes), self.rounds_reason),
        );
        row(
            &mut s,
            &format!("--refresh {}", self.refresh.requested),
            format!("{} ({})", self.refresh.chosen.line(), self.refresh.reason),
        );
        if let Some(alt) = &self.refresh.alternative {
            row(&mut s, "  the other way", alt.line());
        }
        for c in &self.circuits {
            row(
                &mut s,
                &format!("circuit of {}", c.minibatches),
                format!(
                    "depth {}, N = 2^{}, log2 PQ = {}, {} ciphertext nodes, {} input \
                     ciphertexts, est. {:.2} s of work",
                    c.depth,
                    c.log_n,
                    c.log_pq,
                    c.nodes,
                    c.input_ciphertexts,
                    c.cost_model.work_seconds
                ),
            );
        }
        if let (Some(slots), Some(levels)) =
            (self.bootstrap_log_slots, self.bootstrap_program_levels)
        {
            row(
                &mut s,
                "bootstrapping chain",
                format!(
                    "2^{slots} slots, {levels} program levels after each bootstrap{}",
                    self.one_bootstrap_seconds
                        .map_or(String::new(), |b| format!(", est. {b:.1} s per bootstrap"))
                ),
            );
        }
        row(
            &mut s,
            "client time",
            format!("compile {:.1} s", self.compile_seconds),
        );
        let _ = writeln!(
            s,
            "\n  a plan only: nothing was encrypted, no keys were made, the server did not run"
        );
        s
    }
}

/// Round sizes as runs of equal sizes: `[2, 2, 2, 1]` is `3 x 2 + 1`.
fn runs(sizes: &[usize]) -> String {
    let mut parts: Vec<(usize, usize)> = Vec::new();
    for &k in sizes {
        match parts.last_mut() {
            Some((n, size)) if *size == k => *n += 1,
            _ => parts.push((1, k)),
        }
    }
    parts
        .iter()
        .map(|&(n, k)| {
            if n == 1 {
                k.to_string()
            } else {
                format!("{n} x {k}")
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_sizes_read_as_runs() {
        assert_eq!(super::runs(&[2, 2, 2, 1]), "3 x 2 + 1");
        assert_eq!(super::runs(&[6]), "6");
        assert_eq!(super::runs(&[1, 2, 2]), "1 + 2 x 2");
    }
}
