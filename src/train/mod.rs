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
//! One file per job: [`program`] checks the program and identifies its algorithm, [`domain`]
//! keeps the plaintext run inside the sigmoid polynomial's domain, [`rounds`]
//! splits K minibatches into circuits, [`client`] and [`server`] are the two parties,
//! `run` drives them, [`report`] is the result.

pub mod client;
pub mod cost;
pub mod domain;
mod error;
pub mod model;
pub mod program;
pub mod progress;
pub mod report;
pub mod rounds;
mod run;
pub mod server;

use std::path::PathBuf;

use hel_compiler::passes::pipeline::Options;
use hel_compiler::SourceFile;

pub use error::TrainError;
pub use model::Model;
pub use progress::{Phase, Progress, Quiet};
pub use report::TrainReport;
pub use run::train_on;

use crate::data::csv::CsvOptions;
use crate::data::prepare::{
    prepare_csv, prepare_datasets, prepare_mnist_3v8, Prepared, TestSource,
};
use crate::data::split::shuffle;
use crate::data::{minibatches, Dataset, Matrix, Scaling};

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
    /// Data already in memory (the Python package's arrays): the training rows are shuffled
    /// with `seed` before batching, like a CSV file's; `test` is scored as given.
    Arrays {
        train: Dataset,
        test: Dataset,
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
}

/// How to train (everything but the data and the program).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// K: minibatches, i.e. iterations (iteration i uses minibatch i mod the number of
    /// minibatches in the data).
    pub minibatches: usize,
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
}

impl TrainOptions {
    /// K minibatches of m rows at -O2, default precision, all cores.
    pub fn new(minibatches: usize, batch_size: usize) -> Self {
        TrainOptions {
            minibatches,
            batch_size: Some(batch_size),
            compile: Options::default(),
            precision_bits: 20,
            threads: 0,
            round_size: None,
            memory_limit: None,
            memory_cap: None,
            max_log_n: 16,
            fit_domain: true,
        }
    }
}

/// K, minibatches (iterations), when none is given (`hel train`, the Python package).
pub const DEFAULT_MINIBATCHES: usize = 6;

/// Rows per minibatch when `--batch-size` is not given (the MNIST setting of Han et al.).
pub const DEFAULT_BATCH_SIZE: usize = 1024;

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
        DataSource::Arrays { train, test, seed } => {
            prepare_datasets(shuffle(train, *seed), test.clone())
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
    })
}

/// The whole run: load the data, then [`train_on`].
pub fn train(
    data: &DataSource,
    program: &SourceFile,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<TrainOutput, TrainError> {
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
    let mut report = train_on(&b.batches, &b.z_test, program, opts, progress)?;
    report.data = data.label();
    report.train_rows = b.train_rows;
    let model = Model::new(&report, b.scaling, b.feature_names);
    Ok(TrainOutput { report, model })
}
