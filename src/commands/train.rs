//! `hel train`: encrypted training end to end (arguments and printing; the pipeline is
//! `hel::train`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use hel::data::csv::{CsvOptions, LabelColumn};
use hel::data::prepare::TestSource;
use hel::data::split::DEFAULT_TEST_FRACTION;
use hel::train::{
    plan_run, server, train, DataSource, Phase, Progress, Refresh, TrainError, TrainOptions,
    TrainOutput,
};
use hel_runtime::ckks::bootstrap::BootstrapParams;
use indicatif::{ProgressBar, ProgressStyle};

use super::common::{read_source, user_error};
use super::cost_table::load_cost_table;
use super::errors::usage_error;
use super::flags::{parse_size, MaxLogNArgs, OptArgs, PrecisionArgs, ThreadsArgs};
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};

/// The bundled data set's name for `--data`.
const MNIST: &str = "mnist-3v8";

#[derive(Args)]
#[command(
    after_help = "Runs the real client/server split in one process: the client compiles \
the program, generates keys and encrypts the minibatches; the server runs the circuit with the \
evaluation keys only; the client decrypts the weights. A plaintext model trained by the same \
algorithm on the same minibatches (src/reference.rs) is the yardstick. When the minibatches do \
not fit one circuit within the 128-bit parameter budget, training runs in rounds and the \
client re-encrypts the weights between them.

On CSV data the default program is examples/logreg_tabular.hel: Nesterov's method whose \
learning rate (4 / largest eigenvalue of Z^T Z / m), sigmoid polynomial (fitted to the range \
|Z beta| reaches) and number of iterations (least training loss, at most 20) the client \
chooses from its standardised training rows; the report says what it chose (docs/train.md).

Examples:
  hel train                                          # GD, 6 x 1024 MNIST 3-vs-8 rows, -O2
  hel train --program examples/logreg_nag.hel --batch-size 128 --minibatches 2
  hel train --data patients.csv --label-column outcome --json --plot curves.svg
  hel train --minibatches 12 --round-size 6         # two rounds of 6
  hel train --program examples/logreg_nag.hel --minibatches 32 --refresh bootstrap
  hel train --program examples/logreg_nag.hel --minibatches 32 --refresh auto --plan-only"
)]
pub struct TrainArgs {
    /// Training data: `mnist-3v8` (bundled), a CSV file (labels 0/1 or -1/+1) or a NumPy
    /// `.npy` file (a 2-D array, the label in the last column or `--label-column INDEX`).
    #[arg(long, value_name = "mnist-3v8|FILE.csv|FILE.npy", default_value = MNIST)]
    pub data: String,
    /// The training program (.hel); it must compute GD or NAG like the examples. Default:
    /// examples/logreg_gd.hel for mnist-3v8 (its circuit at m = 1024, k = 6 runs within 24 GiB;
    /// NAG's needs twice the input ciphertexts), examples/logreg_tabular.hel for CSV data.
    #[arg(long, value_name = "FILE.hel")]
    pub program: Option<PathBuf>,
    /// K: minibatches to train on (iterations). Default: 6 for a program with fixed constants;
    /// chosen from the training rows (at most 20) for one whose learning rate and sigmoid the
    /// trainer sets (examples/logreg_tabular.hel).
    #[arg(long, value_name = "K",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub minibatches: Option<u32>,
    /// m: rows per minibatch (consecutive rows in data order; the rest is dropped). Default:
    /// 1024, or every training row if there are fewer.
    #[arg(long, value_name = "M",
          value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
    pub batch_size: Option<u32>,
    #[command(flatten)]
    pub opt: OptArgs,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Print one JSON object with the results instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the shuffle and train/test split of CSV data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CSV label column: a header name, a 0-based index, or `last` (the default).
    #[arg(long, value_name = "NAME|INDEX|last")]
    pub label_column: Option<LabelColumn>,
    /// CSV test data (default: hold out --test-fraction of the training file).
    #[arg(long, value_name = "FILE.csv", conflicts_with = "test_fraction")]
    pub test: Option<PathBuf>,
    /// Fraction of the CSV rows held out for testing, strictly between 0 and 1 [default: 0.2].
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    pub test_fraction: Option<f64>,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    #[command(flatten)]
    pub max_log_n: MaxLogNArgs,
    /// At most this many minibatches per circuit: forces rounds (default: as many as the
    /// 128-bit parameter budget allows).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub round_size: Option<u32>,
    /// Memory the run may use. A size: bytes, or a number with K, M, G or T (1024-based;
    /// `B`/`iB` optional), e.g. `512M`, `8G`, `1.5GiB`. A circuit whose keys or server working
    /// set (`hel compile --json`: resources.keygen_peak_bytes, resources.server_peak_bytes)
    /// need more is refused before anything is allocated (without the flag: more than the
    /// memory available). Also the soft limit on the server's live intermediate ciphertexts:
    /// above it the server runs the operations that free memory first (default: an eighth of
    /// the physical memory; the inputs and keys need the rest, see `hel::train::server`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Train on Z as built even when the plaintext run leaves the sigmoid polynomial's domain
    /// [-16, 16] (only a warning then). By default the client then tries Z scaled by c =
    /// 2^(-j/4), which is learning rate alpha c^2, and keeps the c of least training loss (see
    /// docs/train.md).
    #[arg(long)]
    pub no_domain_scaling: bool,
    /// Keep the program's own learning rate and sigmoid polynomial (alpha, h1, h3) instead of
    /// choosing them from the training rows.
    #[arg(long)]
    pub no_plan: bool,
    /// Draw test accuracy and training loss per iteration (plaintext) and per round
    /// (encrypted) as an SVG picture. Checked before training starts.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write the trained model (weights, the client's feature scaling and c; see
    /// docs/train.md) as JSON. Checked before training starts.
    #[arg(long, value_name = "FILE.json")]
    pub save_model: Option<PathBuf>,
    /// Replace the --save-model and --plot files if they exist.
    #[arg(long)]
    pub force: bool,
    /// How the weights cross from one round to the next when training runs in rounds:
    /// `client` decrypts and re-encrypts them (one round trip per round); `bootstrap` has the
    /// server refresh them by bootstrapping (N = 2^16, 128-bit), so the client uploads once
    /// and downloads once, whatever the number of rounds; `auto` plans both and takes the one
    /// of less estimated server time. With `bootstrap` and `auto` the report shows what the
    /// other would cost (docs/train.md).
    #[arg(long, value_enum, default_value_t = RefreshArg::Client)]
    pub refresh: RefreshArg,
    /// Stop after planning: the plaintext model, the rounds, every circuit (depth, ring) and
    /// the cost model's estimate of the run (and with `--refresh bootstrap|auto` of both ways
    /// to refresh), without making keys, encrypting or running the server.
    #[arg(long, conflicts_with_all = ["plot", "save_model"])]
    pub plan_only: bool,
}

/// `--refresh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RefreshArg {
    Client,
    Bootstrap,
    Auto,
}

/// `--test-fraction`: a number strictly between 0 and 1.
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(format!("`{s}` is not a fraction strictly between 0 and 1")),
    }
}

/// The files `--save-model` and `--plot` must never replace.
fn model_inputs<'a>(args: &'a TrainArgs, program: &'a std::path::Path) -> Vec<&'a std::path::Path> {
    let mut files = vec![program];
    if args.data != MNIST {
        files.push(std::path::Path::new(&args.data));
    }
    files.extend(args.test.as_deref());
    files
}

fn data_source(args: &TrainArgs) -> Result<DataSource, miette::Report> {
    if args.data == MNIST {
        let csv_only = [
            ("--label-column", args.label_column.is_some()),
            ("--test", args.test.is_some()),
            ("--test-fraction", args.test_fraction.is_some()),
        ];
        if let Some((flag, _)) = csv_only.iter().find(|(_, given)| *given) {
            return Err(usage_error(format!(
                "{flag} applies to CSV data; the bundled {MNIST} set has its own label and test \
                 split"
            )));
        }
        return Ok(DataSource::Mnist3v8);
    }
    let test = match (&args.test, args.test_fraction) {
        (Some(p), _) => TestSource::File(p.clone()),
        (None, f) => TestSource::Fraction(f.unwrap_or(DEFAULT_TEST_FRACTION)),
    };
    Ok(DataSource::Csv {
        path: PathBuf::from(&args.data),
        test,
        options: CsvOptions {
            label_column: args.label_column.clone().unwrap_or_default(),
        },
        seed: args.seed,
    })
}

pub fn run(args: TrainArgs) -> CmdResult {
    let data = data_source(&args)?;
    let program = args
        .program
        .clone()
        .unwrap_or_else(|| PathBuf::from(data.default_program()));
    // Refuse an existing output file (or an input) before minutes of training, not after.
    let inputs = model_inputs(&args, &program);
    if let (Some(model), Some(plot)) = (&args.save_model, &args.plot) {
        if model == plot || crate::io::atomic::same_file(model, plot) {
            return Err(super::errors::usage_error(
                "--save-model and --plot name the same file; give each its own name",
            ));
        }
    }
    for path in [&args.save_model, &args.plot].into_iter().flatten() {
        check_writable(path, args.force, &inputs).map_err(user_error)?;
    }
    let src = match hel::examples::bundled_fallback(&program) {
        Some(src) => {
            eprintln!(
                "note: no {} in this directory; using the copy bundled with hel",
                program.display()
            );
            src
        }
        None => read_source(&program)?,
    };
    let opts = TrainOptions {
        minibatches: args.minibatches.map(|k| k as usize),
        max_minibatches: hel::train::plan::DEFAULT_MAX_ITERATIONS,
        tune: !args.no_plan,
        batch_size: args.batch_size.map(|m| m as usize),
        compile: args.opt.options(),
        precision_bits: args.precision.precision,
        threads: args.threads.threads,
        round_size: args.round_size.map(|r| r as usize),
        max_log_n: args.max_log_n.max_log_n,
        memory_limit: args.memory_limit.or_else(server::default_memory_limit),
        memory_cap: args.memory_limit.map(|l| l as u64),
        fit_domain: !args.no_domain_scaling,
        refresh: match args.refresh {
            RefreshArg::Client => Refresh::Client,
            RefreshArg::Bootstrap => Refresh::Bootstrap(BootstrapParams::standard_n16()),
            RefreshArg::Auto => Refresh::Auto(BootstrapParams::standard_n16()),
        },
        cost_table: load_cost_table(None)?.table,
    };
    let bars = Bars::default();
    let failure = |e: TrainError| match e {
        TrainError::Compile(d) => miette::Report::new(*d),
        e => user_error(e),
    };
    if args.plan_only {
        let report = plan_run(&data, &src, &opts, &bars).map_err(failure)?;
        if args.json {
            println!("{}", serde_json::to_string(&report).map_err(user_error)?);
        } else {
            print!("{}", report.table());
        }
        return Ok(());
    }
    let TrainOutput { report, model } = train(&data, &src, &opts, &bars).map_err(failure)?;
    if let Some(path) = &args.save_model {
        let mut text = serde_json::to_string_pretty(&model).map_err(user_error)?;
        text.push('\n');
        write_new(path, text.as_bytes(), args.force, &inputs).map_err(user_error)?;
        eprintln!("wrote the model to {}", path.display());
    }
    if let Some(path) = &args.plot {
        let title = format!("hel train: {} on {}", report.program, report.data);
        let svg = hel::train::plot::svg(&report.history, &title).map_err(user_error)?;
        write_new(path, svg.as_bytes(), args.force, &inputs).map_err(user_error)?;
        eprintln!("wrote the training curves to {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string(&report).map_err(user_error)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// One progress bar (or spinner) per phase on stderr, plus a log line when a phase ends.
/// indicatif draws nothing when stderr is not a terminal, so logs stay clean there.
#[derive(Default)]
struct Bars {
    current: Mutex<Option<(Phase, ProgressBar)>>,
}

impl Bars {
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(g) = self.current.lock() {
            if let Some((_, pb)) = g.as_ref() {
                f(pb);
            }
        }
    }
}

impl Progress for Bars {
    fn start(&self, phase: Phase, total: Option<u64>, detail: &str) {
        let pb = match total {
            Some(n) => {
                let pb = ProgressBar::new(n);
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix:>9} [{bar:30}] {pos}/{len} nodes {elapsed_precise} (eta {eta}) {msg}",
                ) {
                    pb.set_style(style.progress_chars("=> "));
                }
                pb
            }
            None => {
                let pb = ProgressBar::new_spinner();
                if let Ok(style) =
                    ProgressStyle::with_template("{prefix:>9} {spinner} {elapsed} {msg}")
                {
                    pb.set_style(style);
                }
                pb.enable_steady_tick(Duration::from_millis(120));
                pb
            }
        };
        pb.set_prefix(phase.name());
        pb.set_message(detail.to_string());
        if let Ok(mut g) = self.current.lock() {
            if let Some((_, old)) = g.replace((phase, pb)) {
                old.finish_and_clear();
            }
        }
    }

    fn advance(&self, done: u64) {
        self.with_bar(|pb| pb.set_position(done));
    }

    fn finish(&self, summary: &str) {
        let taken = self.current.lock().ok().and_then(|mut g| g.take());
        let name = match taken {
            Some((phase, pb)) => {
                pb.finish_and_clear();
                phase.name()
            }
            None => "hel",
        };
        eprintln!("[{name}] {summary}");
    }

    fn warn(&self, message: &str) {
        let line = format!("warning: {message}");
        let mut printed = false;
        self.with_bar(|pb| {
            pb.suspend(|| eprintln!("{line}"));
            printed = true;
        });
        if !printed {
            eprintln!("{line}");
        }
    }
}
