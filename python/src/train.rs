//! `hel.train` and the trained model: the library's `hel::train::train`, the pipeline `hel
//! train` runs (client/server split, plaintext reference, domain fit), on the bundled MNIST,
//! a CSV file, or arrays.

use std::path::PathBuf;
use std::sync::Mutex;

use hel::data::csv::{CsvOptions, LabelColumn};
use hel::data::prepare::TestSource;
use hel::data::split::DEFAULT_TEST_FRACTION;
use hel::data::Dataset;
use hel::train::{self as lib, DataSource, Phase, Progress, TrainError, TrainOptions};
use hel_compiler::SourceFile;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::errors::{fail, Error, Kind};
use crate::program::compile_options;

/// A trained logistic-regression model as the client keeps it (`hel train --save-model`'s
/// JSON): weights, the client's feature scaling and the design scale.
#[pyclass(module = "hel._native", frozen)]
pub struct Model {
    model: lib::Model,
}

#[pymethods]
impl Model {
    /// s(x) for each row of `x` (raw features, as trained on): positive means the positive
    /// class; P(positive) ≈ sigmoid(s).
    fn decision_function<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = x.as_array();
        let d = self.model.weights.len().saturating_sub(1);
        if x.ncols() != d {
            let msg = format!(
                "X has {} features, but the model was trained on {d}",
                x.ncols()
            );
            return Err(Error::new(Kind::Input, msg).into());
        }
        let mut row = vec![0.0; d];
        let scores: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                row.iter_mut().zip(r.iter()).for_each(|(a, b)| *a = *b);
                self.model.score(&row)
            })
            .collect();
        Ok(scores.into_pyarray(py))
    }

    /// The encrypted-trained weights, bias first (on the scaled features).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.model.weights.clone().into_pyarray(py)
    }

    /// The plaintext reference's weights, trained identically.
    #[getter]
    fn plaintext_weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.model.plaintext_weights.clone().into_pyarray(py)
    }

    /// `gd` or `nag`.
    #[getter]
    fn method(&self) -> &str {
        &self.model.method
    }

    /// The model file's JSON (`hel train --save-model`).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string_pretty(&self.model).map_err(|e| Error::new(Kind::Format, e).into())
    }

    /// A model from `hel train --save-model`'s JSON.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Model> {
        let model: lib::Model = serde_json::from_str(text)
            .map_err(|e| Error::new(Kind::Format, format!("not a hel model: {e}")))?;
        if model.format != lib::model::FORMAT || model.weights.is_empty() {
            let msg = format!("not a hel model (format {:?})", model.format);
            return Err(Error::new(Kind::Format, msg).into());
        }
        Ok(Model { model })
    }

    /// Pickling (scikit-learn's `clone` does not need it; `joblib` and `pickle` do).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_json = slf.getattr("from_json")?;
        Ok((from_json, (slf.get().to_json()?,)))
    }

    fn __repr__(&self) -> String {
        format!(
            "<hel.Model {} on {} feature(s), test accuracy {:.4}>",
            self.model.method,
            self.model.weights.len().saturating_sub(1),
            self.model.test_accuracy
        )
    }
}

/// Progress as log lines on stderr (`verbose`), and the warnings kept for Python's `warnings`.
struct Log {
    verbose: bool,
    warnings: Mutex<Vec<String>>,
}

impl Progress for Log {
    fn start(&self, phase: Phase, _total: Option<u64>, detail: &str) {
        if self.verbose {
            eprintln!("[{}] {detail}", phase.name());
        }
    }

    fn finish(&self, summary: &str) {
        if self.verbose {
            eprintln!("[hel] {summary}");
        }
    }

    fn warn(&self, message: &str) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message.to_string());
        }
    }
}

/// The training program: the bundled example for `method` (`gd` or `nag`: the algorithm, so
/// always hel's own copy), or a `.hel` file (read if it exists; the documented example paths
/// fall back to the bundled copies, as for `hel train --program`).
/// The training program: `method` names the algorithm (GD, or NAG: for tabular data the
/// bundled NAG whose learning rate and sigmoid the trainer fits to the data), `path` a file,
/// neither `hel train`'s default for `source`.
fn program(
    method: Option<&str>,
    path: Option<PathBuf>,
    source: &DataSource,
) -> Result<SourceFile, Error> {
    let bundled = |name: &str| {
        hel::examples::bundled(std::path::Path::new(name))
            .ok_or_else(|| Error::new(Kind::Train, format!("{name} is not bundled")))
    };
    let path = match (method, path) {
        (Some(_), Some(_)) => return fail(Kind::Input, "give either method or program, not both"),
        (Some("gd"), None) => return bundled("examples/logreg_gd.hel"),
        (Some("nag"), None) if *source == DataSource::Mnist3v8 => {
            return bundled("examples/logreg_nag.hel")
        }
        (Some("nag"), None) => return bundled("examples/logreg_tabular.hel"),
        (Some(m), None) => {
            return fail(
                Kind::Input,
                format!("method must be \"gd\" or \"nag\", not {m:?}"),
            )
        }
        (None, Some(p)) => p,
        // `hel train`'s default program.
        (None, None) => return bundled(source.default_program()),
    };
    if let Some(src) = hel::examples::bundled_fallback(&path) {
        return Ok(src);
    }
    let text =
        hel::bounded::read_text_limited(&path, hel_runtime::schedule::limits::MAX_SOURCE_FILE)
            .map_err(|e| Error::new(Kind::File, format!("cannot read {}: {e}", path.display())))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// Raw features and ±1 labels from arrays, checked (shape, finiteness, labels).
fn dataset(
    what: &str,
    x: &PyReadonlyArray2<'_, f64>,
    y: &PyReadonlyArray1<'_, f64>,
) -> Result<lib::Arrays, Error> {
    let (x, y) = (x.as_array(), y.as_array());
    if x.nrows() != y.len() {
        return fail(
            Kind::Input,
            format!(
                "{what}: X has {} rows but y has {} labels",
                x.nrows(),
                y.len()
            ),
        );
    }
    if x.nrows() == 0 || x.ncols() == 0 {
        return fail(Kind::Input, format!("{what}: X is empty ({:?})", x.shape()));
    }
    let data: Vec<f64> = x.iter().copied().collect();
    if data.iter().any(|v| !v.is_finite()) {
        return fail(Kind::Input, format!("{what}: X holds NaN or infinity"));
    }
    let labels: Vec<f64> = y.iter().copied().collect();
    if let Some(bad) = labels.iter().find(|&&l| l != 1.0 && l != -1.0) {
        return fail(
            Kind::Input,
            format!("{what}: labels must be -1 or +1, found {bad}"),
        );
    }
    Ok(lib::Arrays {
        features: data,
        n_features: x.ncols(),
        labels,
        feature_names: None,
    })
}

/// Where the data come from: `data` ("mnist-3v8" or a CSV path) or arrays.
#[allow(clippy::too_many_arguments)]
fn data_source(
    data: Option<String>,
    x: Option<PyReadonlyArray2<'_, f64>>,
    y: Option<PyReadonlyArray1<'_, f64>>,
    x_test: Option<PyReadonlyArray2<'_, f64>>,
    y_test: Option<PyReadonlyArray1<'_, f64>>,
    label_column: Option<String>,
    test_fraction: Option<f64>,
    seed: u64,
) -> Result<DataSource, Error> {
    match (data, x, y) {
        (Some(d), None, None) if d == "mnist-3v8" => {
            if label_column.is_some() || test_fraction.is_some() {
                return fail(
                    Kind::Input,
                    "label_column and test_fraction apply to CSV data",
                );
            }
            Ok(DataSource::Mnist3v8)
        }
        (Some(path), None, None) => {
            let label_column = match label_column {
                Some(l) => l
                    .parse::<LabelColumn>()
                    .map_err(|e| Error::new(Kind::Input, e))?,
                None => LabelColumn::Last,
            };
            let f = test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
            if !(f > 0.0 && f < 1.0) {
                return fail(
                    Kind::Input,
                    format!("test_fraction must be in (0, 1), not {f}"),
                );
            }
            Ok(DataSource::Csv {
                path: PathBuf::from(path),
                test: TestSource::Fraction(f),
                options: CsvOptions { label_column },
                seed,
            })
        }
        (None, Some(x), Some(y)) => {
            let train = dataset("training data", &x, &y)?;
            let test = match (x_test, y_test) {
                (Some(xt), Some(yt)) => dataset("test data", &xt, &yt)?,
                (None, None) => train.clone(),
                _ => return fail(Kind::Input, "give both x_test and y_test, or neither"),
            };
            if test.n_features != train.n_features {
                return fail(
                    Kind::Input,
                    format!(
                        "the test data has {} features, the training data {}",
                        test.n_features, train.n_features
                    ),
                );
            }
            Ok(DataSource::Arrays {
                train,
                test: Some(test),
                test_fraction: DEFAULT_TEST_FRACTION,
                seed,
            })
        }
        _ => fail(
            Kind::Input,
            "give either data (\"mnist-3v8\" or a CSV path) or x and y",
        ),
    }
}

/// Trains like `hel train` and returns the model, the report (JSON, `hel train --json`'s
/// object) and the warnings. With arrays and no test arrays, the report scores the training
/// rows. With `plan_only`, plans like `hel train --plan-only`: no model, the plan's report.
#[pyfunction]
#[pyo3(signature = (data=None, x=None, y=None, *, x_test=None, y_test=None, program=None,
    method=None, minibatches=None, batch_size=None, opt=2, precision=20, threads=0,
    max_log_n=16, round_size=None, memory_limit=None, fit_domain=true, seed=0,
    label_column=None, test_fraction=None, refresh="client", verbose=false, plan_only=false))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    data: Option<String>,
    x: Option<PyReadonlyArray2<'_, f64>>,
    y: Option<PyReadonlyArray1<'_, f64>>,
    x_test: Option<PyReadonlyArray2<'_, f64>>,
    y_test: Option<PyReadonlyArray1<'_, f64>>,
    program: Option<PathBuf>,
    method: Option<String>,
    minibatches: Option<usize>,
    batch_size: Option<usize>,
    opt: u8,
    precision: u32,
    threads: usize,
    max_log_n: u32,
    round_size: Option<usize>,
    memory_limit: Option<usize>,
    fit_domain: bool,
    seed: u64,
    label_column: Option<String>,
    test_fraction: Option<f64>,
    refresh: &str,
    verbose: bool,
    plan_only: bool,
) -> PyResult<(Option<Model>, String, Vec<String>)> {
    crate::program::check_threads(threads)?;
    let refresh = match refresh {
        "client" => lib::Refresh::Client,
        "bootstrap" => {
            lib::Refresh::Bootstrap(hel_runtime::ckks::bootstrap::BootstrapParams::standard_n16())
        }
        "auto" => lib::Refresh::Auto(hel_runtime::ckks::bootstrap::BootstrapParams::standard_n16()),
        other => {
            return Err(Error::new(
                Kind::Input,
                format!("refresh must be \"client\", \"bootstrap\" or \"auto\", not {other:?}"),
            )
            .into())
        }
    };
    let source = data_source(
        data,
        x,
        y,
        x_test,
        y_test,
        label_column,
        test_fraction,
        seed,
    )?;
    let src = self::program(method.as_deref(), program, &source)?;
    let compile = compile_options(opt, precision, max_log_n, Vec::new())?;
    if minibatches == Some(0) || round_size == Some(0) || batch_size == Some(0) {
        return Err(Error::new(
            Kind::Input,
            "minibatches, batch_size and round_size must be at least 1",
        )
        .into());
    }
    let opts = TrainOptions {
        minibatches,
        batch_size,
        compile: compile.passes,
        precision_bits: precision,
        threads,
        round_size,
        memory_limit: memory_limit.or_else(lib::server::default_memory_limit),
        memory_cap: memory_limit.map(|l| l as u64),
        max_log_n,
        fit_domain,
        refresh,
        ..TrainOptions::default()
    };
    let log = Log {
        verbose,
        warnings: Mutex::new(Vec::new()),
    };
    let failure = |e| match e {
        TrainError::Compile(d) => Error::diagnostic(*d),
        TrainError::Config(m) | TrainError::Program(m) => Error::new(Kind::Input, m),
        TrainError::Data(e @ hel::data::DataError::Io { .. }) => Error::new(Kind::File, e),
        TrainError::Data(e) => Error::new(Kind::Input, e),
        TrainError::Memory(e) => Error::new(Kind::Resource, e),
        e => Error::new(Kind::Train, e),
    };
    let json = |r: Result<String, serde_json::Error>| r.map_err(|e| Error::new(Kind::Train, e));
    let (model, report) = if plan_only {
        let plan = py
            .detach(|| lib::plan_run(&source, &src, &opts, &log))
            .map_err(failure)?;
        (None, json(serde_json::to_string(&plan))?)
    } else {
        let out = py
            .detach(|| lib::train(&source, &src, &opts, &log))
            .map_err(failure)?;
        let report = json(serde_json::to_string(&out.report))?;
        (Some(Model { model: out.model }), report)
    };
    let warnings = log.warnings.into_inner().unwrap_or_default();
    Ok((model, report, warnings))
}

/// The bundled MNIST 3-vs-8 set in file order, as `hel train` reads it: raw pixels (0..255)
/// and labels +1 (digit 3) / -1 (digit 8): `(x_train, y_train, x_test, y_test)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn mnist_3v8(
    py: Python<'_>,
) -> PyResult<(
    Bound<'_, PyArray2<f64>>,
    Bound<'_, PyArray1<f64>>,
    Bound<'_, PyArray2<f64>>,
    Bound<'_, PyArray1<f64>>,
)> {
    let load = |d: Result<Dataset, hel::data::DataError>| -> PyResult<_> {
        let d = d.map_err(|e| Error::new(Kind::Format, e))?;
        let x = numpy::ndarray::Array2::from_shape_vec(
            (d.len(), d.n_features()),
            d.features.as_slice().to_vec(),
        )
        .map_err(|e| Error::new(Kind::Format, e))?;
        Ok((x.into_pyarray(py), d.labels.into_pyarray(py)))
    };
    let (xtr, ytr) = load(hel::data::mnist::bundled_train())?;
    let (xte, yte) = load(hel::data::mnist::bundled_test())?;
    Ok((xtr, ytr, xte, yte))
}
