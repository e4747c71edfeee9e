//! `hel train`: encrypted logistic-regression training with the real client/server split, in
//! one process, through the same library calls and byte formats as `hel keygen`, `hel encrypt`
//! and `hel decrypt`.
//!
//! ```text
//! client: data → Z = diag(y)·[1 | x] → minibatches      plaintext reference (src/reference.rs)
//!         compile (→ rounds if K minibatches are too deep for one circuit)
//!         keygen ──── eval keys (bytes) ───────────────→ server
//!         encrypt ─── inputs (bytes) ──────────────────→ server: execute, no secret key
//!         decrypt ←── outputs (bytes) ─────────────────┘
//!         (rounds: decrypt the weights, re-encrypt them for the next round)
//!         test accuracy / AUC of both models, max weight difference
//! ```
//!
//! One file per job: [`program`] checks the program and identifies its algorithm, [`plan`]
//! chooses the learning rate, sigmoid polynomial and K for a tunable program, [`domain`]
//! keeps other programs' plaintext run inside the sigmoid polynomial's domain, `plaintext`
//! settles all that before any key exists, [`rounds`] splits K minibatches into circuits,
//! [`client`] and [`server`] are the two parties, `run` drives them, [`report`] (with
//! [`history`], drawn by [`plot`]) is the result. [`arrays`] takes data from memory.

pub mod arrays;
pub mod client;
pub mod cost;
pub mod domain;
mod error;
pub mod history;
pub mod model;
mod plaintext;
pub mod plan;
pub mod plot;
pub mod program;
pub mod progress;
pub mod report;
pub mod rounds;
mod run;
pub mod server;

use std::path::PathBuf;

use hel_compiler::passes::pipeline::Options;
use hel_compiler::SourceFile;
use hel_runtime::ckks::bootstrap::BootstrapParams;
use hel_runtime::exec::CostTable;

pub use arrays::Arrays;
pub use error::TrainError;
pub use model::Model;
pub use progress::{Phase, Progress, Quiet};
pub use report::{PlanReport, TrainReport};
pub use run::{plan_on, train_on};

use crate::data::csv::CsvOptions;
use crate::data::prepare::{
    prepare_csv, prepare_datasets, prepare_mnist_3v8, Prepared, TestSource, TestSplit,
    STANDARD_SPREAD,
};
use crate::data::{minibatches, Matrix, Scaling};

/// Where the training and test data come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The bundled MNIST 3-vs-8 set, in file order (the published reference numbers depend on
    /// it).
    Mnist3v8,
    /// A user CSV file; its rows are shuffled with `seed` before batching.
    Csv {
        path: PathBuf,
        test: TestSource,
        options: CsvOptions,
        seed: u64,
    },
    /// Arrays from memory (the Python package): `test` rows, or `test_fraction` of the rows
    /// held out after a shuffle with `seed`.
    Arrays {
        train: Arrays,
        test: Option<Arrays>,
        test_fraction: f64,
        seed: u64,
    },
}

impl DataSource {
    /// How the report names it.
    pub fn label(&self) -> String {
        match self {
            DataSource::Mnist3v8 => "MNIST 3-vs-8".into(),
            DataSource::Csv { path, .. } => path.display().to_string(),
            DataSource::Arrays { .. } => "arrays".into(),
        }
    }

    /// The program `hel train` runs when none is given: GD for the bundled MNIST set (the
    /// published setting and the README's figures), and for tabular data NAG with the
    /// learning rate and sigmoid chosen from the data (`examples/logreg_tabular.hel`,
    /// [`plan`]).
    pub fn default_program(&self) -> &'static str {
        match self {
            DataSource::Mnist3v8 => "examples/logreg_gd.hel",
            _ => "examples/logreg_tabular.hel",
        }
    }
}

/// How to train (everything but the data and the program).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// K: minibatches, i.e. iterations (iteration i uses minibatch i mod the number of
    /// minibatches in the data). `None`: chosen by the [`plan`] within `max_minibatches` for a
    /// tunable program, [`DEFAULT_MINIBATCHES`] for others.
    pub minibatches: Option<usize>,
    /// The most iterations the plan may choose when `minibatches` is `None`.
    pub max_minibatches: usize,
    /// Choose the learning rate and sigmoid polynomial from the data when the program lets
    /// the trainer set them ([`plan`]); off: the program's own constants.
    pub tune: bool,
    /// m: rows per minibatch; `None`: [`DEFAULT_BATCH_SIZE`], or every training row if there
    /// are fewer (a small CSV data set trains full-batch instead of being refused).
    pub batch_size: Option<usize>,
    /// The compiler's pass options (`-O`, client precomputation).
    pub compile: Options,
    /// Target bits of precision of the outputs (chooses the scale).
    pub precision_bits: u32,
    /// Server threads; 0 = one per core.
    pub threads: usize,
    /// At most this many minibatches per circuit (forces rounds below K); `None`: as many as
    /// the 128-bit parameter budget allows.
    pub round_size: Option<usize>,
    /// Soft limit on the server's live ciphertext bytes.
    pub memory_limit: Option<usize>,
    /// Hard limit: a key generation or server run whose figures
    /// ([`hel_runtime::schedule::Schedule::resources`]) exceed it is refused before anything is
    /// allocated. `None`: the memory available on the machine at that moment.
    pub memory_cap: Option<u64>,
    /// Largest ring degree (log2 N) a circuit may use; deeper K is split into rounds.
    pub max_log_n: u32,
    /// Consider scaling Z (by c = 2^(-j/4)) when the plaintext run leaves the sigmoid
    /// polynomial's domain ([`domain`]); off: train on Z as built, and only warn.
    pub fit_domain: bool,
    /// How the state crosses from one round to the next (`--refresh`).
    pub refresh: Refresh,
    /// What the planner prices circuits and bootstraps with (the CLI's: the table `hel
    /// calibrate` measured on this machine if there is one).
    pub cost_table: CostTable,
}

/// How the weights (and NAG's momentum) cross from one round to the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Refresh {
    /// The client decrypts them and encrypts them again: it stays online for the whole
    /// training, one round trip per round.
    #[default]
    Client,
    /// The server bootstraps them: the client uploads every minibatch once and downloads the
    /// model once. Every round program is compiled for the bottom of this bootstrapping chain
    /// (`q_0` and its program levels), with its state pinned to the packing the bootstrap
    /// refreshes ([`hel_compiler::Options::refresh`]). The CLI's is
    /// [`BootstrapParams::standard_n16`] (128-bit).
    Bootstrap(BootstrapParams),
    /// Whichever of the two the cost model estimates the faster server run for (ties go to
    /// the bootstrap, which lets the client go offline); one circuit for all the minibatches
    /// needs neither. The report says what each would cost.
    Auto(BootstrapParams),
}

impl Refresh {
    /// How the report names it.
    pub fn name(&self) -> &'static str {
        match self {
            Refresh::Client => "client",
            Refresh::Bootstrap(_) => "bootstrap",
            Refresh::Auto(_) => "auto",
        }
    }
}

impl TrainOptions {
    /// K minibatches of m rows at -O2, default precision, all cores.
    pub fn new(minibatches: usize, batch_size: usize) -> Self {
        TrainOptions {
            minibatches: Some(minibatches),
            batch_size: Some(batch_size),
            ..TrainOptions::default()
        }
    }
}

impl Default for TrainOptions {
    /// K and m chosen from the data, -O2, default precision, all cores.
    fn default() -> Self {
        TrainOptions {
            minibatches: None,
            max_minibatches: plan::DEFAULT_MAX_ITERATIONS,
            tune: true,
            batch_size: None,
            compile: Options::default(),
            precision_bits: 20,
            threads: 0,
            round_size: None,
            memory_limit: None,
            memory_cap: None,
            max_log_n: 16,
            fit_domain: true,
            refresh: Refresh::Client,
            cost_table: CostTable::default(),
        }
    }
}

/// Rows per minibatch when `--batch-size` is not given (the MNIST setting of Han et al.).
pub const DEFAULT_BATCH_SIZE: usize = 1024;

/// K for a program whose constants the trainer does not choose, when `--minibatches` is not
/// given (the flagship MNIST run).
pub const DEFAULT_MINIBATCHES: usize = 6;

/// Training minibatches and the test design matrix.
pub struct Batches {
    pub batches: Vec<Matrix>,
    /// m: rows per minibatch.
    pub batch_size: usize,
    pub z_test: Matrix,
    pub train_rows: usize,
    /// The feature scaling fitted on the training rows (part of the model).
    pub scaling: Scaling,
    /// Raw feature names, when the data has them.
    pub feature_names: Option<Vec<String>>,
    /// How the features were scaled, for the report (`None`: MNIST's fixed x/255).
    pub scaling_note: Option<String>,
}

/// What a run produces: the measurements and the model the client keeps.
#[derive(Debug)]
pub struct TrainOutput {
    pub report: TrainReport,
    pub model: Model,
}

/// Loads the data, builds Z = diag(y)·[1 | scaled x] and cuts the minibatches (of
/// `batch_size` rows; `None`: see [`TrainOptions::batch_size`]).
pub fn load(data: &DataSource, batch_size: Option<usize>) -> Result<Batches, TrainError> {
    let prepared: Prepared = match data {
        DataSource::Mnist3v8 => prepare_mnist_3v8()?,
        DataSource::Csv {
            path,
            test,
            options,
            seed,
        } => prepare_csv(path, test, options, *seed)?,
        DataSource::Arrays {
            train,
            test,
            test_fraction,
            seed,
        } => {
            let test = match test {
                Some(t) => TestSplit::Given(t.dataset("the test data")?),
                None => TestSplit::Fraction(*test_fraction),
            };
            prepare_datasets(train.dataset("the training data")?, test, *seed)?
        }
    };
    let z_train = prepared.z_train()?;
    let z_test = prepared.z_test()?;
    let batch_size = batch_size.unwrap_or_else(|| DEFAULT_BATCH_SIZE.min(z_train.rows()));
    Ok(Batches {
        batches: minibatches(&z_train, batch_size)?,
        batch_size,
        z_test,
        train_rows: z_train.rows(),
        feature_names: prepared.train.feature_names,
        scaling: prepared.scaling,
        scaling_note: (!matches!(data, DataSource::Mnist3v8)).then(|| {
            format!(
                "standardised on the training rows: (x - mean) / ({STANDARD_SPREAD} std), \
                 clamped to [-1, 1]"
            )
        }),
    })
}

/// The plan of a run without running it: load the data, then [`plan_on`].
pub fn plan_run(
    data: &DataSource,
    program: &SourceFile,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<PlanReport, TrainError> {
    let b = loaded(data, opts, progress)?;
    let mut report = plan_on(&b.batches, &b.z_test, program, opts, progress)?;
    report.data = data.label();
    Ok(report)
}

/// The data, loaded and cut into minibatches, with a progress line.
fn loaded(
    data: &DataSource,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Batches, TrainError> {
    if opts.batch_size == Some(0) {
        return Err(TrainError::Config("--batch-size must be at least 1".into()));
    }
    progress.start(Phase::Prepare, None, "loading data");
    let b = load(data, opts.batch_size)?;
    progress.finish(&format!(
        "{}: {} training rows ({} minibatches of {}), {} test rows, {} features incl. bias",
        data.label(),
        b.train_rows,
        b.batches.len(),
        b.batch_size,
        b.z_test.rows(),
        b.z_test.cols()
    ));
    Ok(b)
}

/// The whole run: load the data, then [`train_on`].
pub fn train(
    data: &DataSource,
    program: &SourceFile,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<TrainOutput, TrainError> {
    let b = loaded(data, opts, progress)?;
    let mut report = train_on(&b.batches, &b.z_test, program, opts, progress)?;
    report.data = data.label();
    report.train_rows = b.train_rows;
    report.feature_scaling = b.scaling_note;
    let model = Model::new(&report, b.scaling, b.feature_names);
    Ok(TrainOutput { report, model })
}
