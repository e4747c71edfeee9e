//! `hel.compile` and the compiled program: its report as attributes, and the four steps of the
//! protocol (`keygen`, `encrypt`, `run`, `decrypt`) as methods.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use hel_compiler::passes::client_precompute::ClientPrecompute;
use hel_compiler::passes::pipeline::{OptLevel, Options as PassOptions};
use hel_compiler::{Limits, Options, SourceFile};
use hel_runtime::ckks::{Context, Sampler};
use hel_runtime::client::{self, EncryptedOutputs as RtOutputs};
use hel_runtime::exec::{self, CkksEvaluator, Refresher, RunOptions};
use hel_runtime::schedule::{limits, Schedule, ScheduleFormat};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{json, Value};

use crate::errors::{fail, Error, Kind};
use crate::files;
use crate::keys::{EncryptedInputs, EncryptedOutputs, EvalKeys, SecretKey};
use crate::tensors::{tensor_to_array, tensors_from_dict};

/// A compiled program: the schedule client and server share, and what the compiler reported.
#[pyclass(module = "hel._native", frozen)]
pub struct Program {
    pub schedule: Arc<Schedule>,
    /// Built on first use: tables for the ring (not needed to inspect or save a program).
    ctx: OnceLock<Arc<Context>>,
    /// `hel compile --json`'s object, or (for a loaded file) the part the schedule holds.
    report: Value,
}

impl Program {
    fn new(schedule: Schedule, report: Option<Value>) -> Program {
        let report = report.unwrap_or_else(|| schedule_report(&schedule));
        Program {
            schedule: Arc::new(schedule),
            ctx: OnceLock::new(),
            report,
        }
    }

    /// The CKKS context of the program's parameters (validated with the schedule).
    pub fn context(&self) -> Result<Arc<Context>, Error> {
        if let Some(c) = self.ctx.get() {
            return Ok(c.clone());
        }
        let ctx = client::context(&self.schedule)
            .map_err(|e| Error::new(Kind::Format, format!("{}: {e}", self.schedule.name)))?;
        Ok(self.ctx.get_or_init(|| Arc::new(ctx)).clone())
    }

    /// Refuses an object made for another program.
    pub fn check_same(&self, what: &str, hash: &str) -> Result<(), Error> {
        if hash != self.schedule.program_hash {
            return fail(
                Kind::Format,
                format!(
                    "these {what} were made for another program (hash {hash}), not {} ({})",
                    self.schedule.name, self.schedule.program_hash
                ),
            );
        }
        Ok(())
    }
}

/// What a schedule file says about itself, in the shape of `hel compile --json`'s fields.
fn schedule_report(s: &Schedule) -> Value {
    let p = &s.params;
    json!({
        "depth": s.depth(),
        "params": {
            "log_n": p.log_n,
            "log_q": p.log_qp(),
            "log_scale": p.log_scale,
            "primes": p.q_bits,
            "special_primes": p.p_bits,
            "dnum": p.dnum,
            "security_bits": 128,
        },
        "input_ciphertexts": s.ct_inputs.len(),
        "rotation_keys": { "count": s.rotation_steps.len() },
        "resources": s.resources(),
    })
}

/// Refuses a thread count beyond [`hel::MAX_THREADS`] (0 is all cores).
pub fn check_threads(threads: usize) -> Result<(), Error> {
    if threads > hel::MAX_THREADS {
        return fail(
            Kind::Input,
            format!("threads must be 0..={}, not {threads}", hel::MAX_THREADS),
        );
    }
    Ok(())
}

fn opt_level(opt: u8) -> Result<OptLevel, Error> {
    match opt {
        0 => Ok(OptLevel::O0),
        1 => Ok(OptLevel::O1),
        2 => Ok(OptLevel::O2),
        _ => fail(Kind::Input, format!("opt must be 0, 1 or 2, not {opt}")),
    }
}

/// The compiler options `hel compile` uses for the same flags (the range checks are clap's
/// there).
pub fn compile_options(
    opt: u8,
    precision: u32,
    max_log_n: u32,
    sets: Vec<(String, f64)>,
) -> Result<Options, Error> {
    if !(10..=40).contains(&precision) {
        return fail(
            Kind::Input,
            format!("precision must be 10..=40 bits, not {precision}"),
        );
    }
    if !(13..=16).contains(&max_log_n) {
        return fail(
            Kind::Input,
            format!("max_log_n must be 13..=16, not {max_log_n}"),
        );
    }
    Ok(Options {
        sets,
        passes: PassOptions {
            level: opt_level(opt)?,
            client_precompute: ClientPrecompute::Auto,
            ..PassOptions::default()
        },
        precision_bits: precision,
        params: None,
        fit_special_primes: false,
        max_log_n,
        raise_scale: true,
        keep_best: true,
        limits: Limits::DEFAULT,
        ..Options::default()
    })
}

/// The source to compile: `text` (named `<string>`) or the file at `path` (the documented
/// example paths fall back to the copies bundled with hel, as for `hel train`).
fn source(text: Option<String>, path: Option<PathBuf>) -> Result<SourceFile, Error> {
    match (text, path) {
        (Some(t), None) => Ok(SourceFile::new("<string>", t)),
        (None, Some(p)) => {
            if let Some(src) = hel::examples::bundled_fallback(&p) {
                return Ok(src);
            }
            let t = hel::bounded::read_text_limited(&p, limits::MAX_SOURCE_FILE)
                .map_err(|e| Error::new(Kind::File, format!("cannot read {}: {e}", p.display())))?;
            Ok(SourceFile::new(p.display().to_string(), t))
        }
        _ => fail(Kind::Input, "give either the source text or a path"),
    }
}

/// Compiles `.hel` source (`source`) or a file (`path`) with `hel compile`'s options; `consts`
/// overrides `const` definitions (`--set NAME=VALUE`); `refresh` and `round_size` are
/// `--refresh none|bootstrap|auto` and `--round-size`.
#[pyfunction]
#[pyo3(signature = (source=None, path=None, *, opt=2, precision=20, max_log_n=16, consts=Vec::new(), refresh="none", round_size=None))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of `hel compile`'s flags
pub fn compile(
    py: Python<'_>,
    source: Option<String>,
    path: Option<PathBuf>,
    opt: u8,
    precision: u32,
    max_log_n: u32,
    consts: Vec<(String, f64)>,
    refresh: &str,
    round_size: Option<usize>,
) -> PyResult<Program> {
    let src = self::source(source, path)?;
    let options = compile_options(opt, precision, max_log_n, consts)?;
    let (bootstrap, auto) = match refresh {
        "none" => (false, false),
        "bootstrap" => (true, false),
        "auto" => (false, true),
        other => {
            let msg = format!("refresh must be \"none\", \"bootstrap\" or \"auto\", not {other:?}");
            return Err(Error::new(Kind::Input, msg).into());
        }
    };
    if round_size.is_some() && !(bootstrap || auto) {
        return fail(
            Kind::Input,
            "round_size needs refresh=\"bootstrap\" or \"auto\"",
        )?;
    }
    if round_size == Some(0) {
        return fail(Kind::Input, "round_size must be at least 1")?;
    }
    if (bootstrap || auto) && max_log_n < hel::bootstrapped::rule().log_n {
        return fail(
            Kind::Input,
            "refresh=\"bootstrap\" runs at N = 2^16 (the 128-bit bootstrapping chain): \
             max_log_n must be 16",
        )?;
    }
    let result = py.detach(|| -> Result<(Schedule, Value), Error> {
        let bootstrapped = |src: &SourceFile| -> Result<(Schedule, Value), Error> {
            // Round sizes for this machine's cores, as `hel compile --refresh` chooses them.
            let options = Options {
                server_threads: 0,
                ..options.clone()
            };
            let (b, report) =
                hel::bootstrapped::compile(src, &options, round_size).map_err(Error::diagnostic)?;
            let report = serde_json::to_value(report).map_err(|e| Error::new(Kind::Input, e))?;
            Ok((b.schedule, report))
        };
        if bootstrap {
            return bootstrapped(&src);
        }
        let compiled = match hel_compiler::compile(&src, &options) {
            Ok(c) => c,
            Err(d)
                if auto
                    && d.code == hel_compiler::diagnostics::Code::TooDeep
                    && hel_compiler::rounds::RoundTemplate::with_sets(&src, &options.sets)
                        .is_ok() =>
            {
                return bootstrapped(&src);
            }
            Err(d) => return Err(Error::diagnostic(d)),
        };
        let mut report =
            serde_json::to_value(compiled.report()).map_err(|e| Error::new(Kind::Input, e))?;
        if let Some(o) = report.as_object_mut() {
            o.insert("client".into(), json!(compiled.client));
            o.insert("notes".into(), json!(compiled.notes));
            o.insert(
                "compiled_at".into(),
                json!(format!("O{}", compiled.level as u8)),
            );
        }
        Ok((compiled.lowered.schedule, report))
    })?;
    Ok(Program::new(result.0, Some(result.1)))
}

/// Loads a compiled program written by `hel compile` or `Program.save` (binary or RON).
#[pyfunction]
pub fn load_program(path: PathBuf) -> PyResult<Program> {
    let bytes = files::read_schedule(&path)?;
    let schedule = Schedule::from_bytes(&bytes).map_err(|e| files::format_error(&path, e))?;
    Ok(Program::new(schedule, None))
}

/// Converts the report (JSON) into Python objects through the `json` module.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (v.to_string(),))
}

#[pymethods]
impl Program {
    /// The program's name (its file name, or `<string>`).
    #[getter]
    fn name(&self) -> &str {
        &self.schedule.name
    }

    /// A hash of the schedule: keys and ciphertexts are bound to it.
    #[getter]
    fn program_hash(&self) -> &str {
        &self.schedule.program_hash
    }

    /// Multiplicative depth of the ciphertext schedule (with bootstraps: of the deepest
    /// stretch between them).
    #[getter]
    fn depth(&self) -> u32 {
        self.schedule.depth()
    }

    /// Bootstraps the server runs (`compile(refresh="bootstrap")`); 0 for most programs.
    #[getter]
    fn bootstraps(&self) -> usize {
        self.schedule.bootstraps().count()
    }

    /// log2 of the ring degree N.
    #[getter]
    fn log_n(&self) -> u32 {
        self.schedule.params.log_n
    }

    /// log2 of the whole modulus PQ (data and special primes), at most the 128-bit bound.
    #[getter]
    fn log_q(&self) -> u32 {
        self.schedule.params.log_qp()
    }

    /// log2 of the encoding scale.
    #[getter]
    fn log_scale(&self) -> u32 {
        self.schedule.params.log_scale
    }

    /// Rotation (Galois) keys the evaluation keys hold.
    #[getter]
    fn rotation_keys(&self) -> usize {
        self.schedule.rotation_steps.len()
    }

    /// Ciphertexts the client encrypts and uploads.
    #[getter]
    fn input_ciphertexts(&self) -> usize {
        self.schedule.ct_inputs.len()
    }

    /// Size of the evaluation-keys file (what the server receives once), bytes.
    #[getter]
    fn eval_key_bytes(&self) -> u64 {
        self.schedule.resources().eval_key_bytes
    }

    /// Size of the encrypted inputs (seed-compressed), bytes.
    #[getter]
    fn upload_bytes(&self) -> u64 {
        self.schedule.resources().upload_bytes
    }

    /// The compiler's report as a dict (`hel compile --json`); for a loaded file, what the
    /// schedule records (depth, parameters, key count, sizes).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.report)
    }

    /// The inputs: a list of dicts `{name, shape, sequence, encrypted, range}`.
    #[getter]
    fn inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for d in &self.schedule.inputs {
            let item = PyDict::new(py);
            item.set_item("name", &d.name)?;
            item.set_item("shape", crate::tensors::dims(d.shape))?;
            item.set_item("sequence", d.seq)?;
            item.set_item("encrypted", d.encrypted)?;
            item.set_item("range", d.range)?;
            list.append(item)?;
        }
        Ok(list)
    }

    /// The outputs: a list of dicts `{name, shape, bound}` (bound: the predicted absolute
    /// error of each entry for inputs in their declared ranges).
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for o in &self.schedule.outputs {
            let item = PyDict::new(py);
            item.set_item("name", &o.name)?;
            item.set_item("shape", crate::tensors::dims(o.shape))?;
            item.set_item("bound", o.bound)?;
            list.append(item)?;
        }
        Ok(list)
    }

    /// Writes the program as `hel compile` does (`format`: "binary" or "ron"); an existing file
    /// is replaced only with `force`.
    #[pyo3(signature = (path, *, format="binary", force=false))]
    fn save(&self, path: PathBuf, format: &str, force: bool) -> PyResult<()> {
        let format = match format {
            "binary" => ScheduleFormat::Binary,
            "ron" => ScheduleFormat::Ron,
            other => {
                let msg = format!("format must be \"binary\" or \"ron\", not {other:?}");
                return Err(Error::new(Kind::Input, msg).into());
            }
        };
        let bytes = self
            .schedule
            .to_bytes(format)
            .map_err(|e| Error::new(Kind::Format, e))?;
        files::write(&path, &bytes, force, false)?;
        Ok(())
    }

    /// Client: a fresh secret key and the evaluation keys this program needs (from the OS's
    /// random generator). Refused before anything is generated when the keys would need more
    /// than `memory_limit` bytes (default: the memory available).
    /// For a program that bootstraps, the evaluation keys also hold the bootstrapping keys
    /// (gigabytes at N = 2^16), made with the same secret key.
    #[pyo3(signature = (*, memory_limit=None))]
    fn keygen(&self, py: Python<'_>, memory_limit: Option<u64>) -> PyResult<(SecretKey, EvalKeys)> {
        let boot = client::bootstrapper(&self.schedule)
            .map_err(|e| Error::new(Kind::Format, format!("{}: {e}", self.schedule.name)))?;
        let boot_memory = boot.as_ref().map_or(0, |b| b.key_memory_bytes() as u64);
        hel::memory::check(
            &format!("key generation for {}", self.schedule.name),
            self.schedule
                .resources()
                .keygen_peak_bytes
                .saturating_add(boot_memory.saturating_mul(2)),
            memory_limit,
            hel::memory::SMALLER_PROGRAM,
        )
        .map_err(|e| Error::new(Kind::Resource, e))?;
        let ctx = self.context()?;
        let schedule = self.schedule.clone();
        let (sk, keys, boot) = py.detach(|| -> Result<_, Error> {
            let mut rng = Sampler::from_os();
            let input = |e| Error::new(Kind::Input, e);
            match boot {
                Some(b) => {
                    let (sk, keys, bkeys) =
                        client::keygen_bootstrapped(&schedule, &ctx, &b, &mut rng)
                            .map_err(input)?;
                    Ok((sk, keys, Some(Arc::new((b, bkeys)))))
                }
                None => {
                    let (sk, keys) = client::keygen(&schedule, &ctx, &mut rng).map_err(input)?;
                    Ok((sk, keys, None))
                }
            }
        })?;
        Ok((
            SecretKey::new(self.schedule.clone(), ctx.clone(), sk, keys.key_id),
            EvalKeys::new(self.schedule.clone(), ctx, keys).with_bootstrap(boot),
        ))
    }

    /// Client: encrypts `inputs` (a dict from input name to an array of the declared shape; a
    /// sequence input `T[k]` is one array with the k elements stacked on the first axis) under
    /// `secret_key`. `plain` inputs travel unencrypted.
    fn encrypt(
        &self,
        py: Python<'_>,
        secret_key: &SecretKey,
        inputs: &Bound<'_, PyDict>,
    ) -> PyResult<EncryptedInputs> {
        secret_key.check_params(&self.schedule)?;
        let tensors = tensors_from_dict(&self.schedule, inputs)?;
        let ctx = self.context()?;
        let schedule = self.schedule.clone();
        let sk = &secret_key.sk;
        let enc = py.detach(|| {
            let mut rng = Sampler::from_os();
            client::encrypt_inputs(&schedule, &ctx, sk, &tensors, &mut rng)
                .map_err(|e| Error::new(Kind::Input, e))
        })?;
        Ok(EncryptedInputs::new(self.schedule.clone(), ctx, enc))
    }

    /// Server: runs the program on encrypted inputs with the evaluation keys only (no secret
    /// key exists here). `threads`: 0 = all cores. `memory_limit` (bytes): a run whose keys,
    /// inputs and least working set need more is refused before it starts.
    #[pyo3(signature = (eval_keys, inputs, *, threads=0, memory_limit=None))]
    fn run(
        &self,
        py: Python<'_>,
        eval_keys: &EvalKeys,
        inputs: &EncryptedInputs,
        threads: usize,
        memory_limit: Option<usize>,
    ) -> PyResult<EncryptedOutputs> {
        self.check_same("encrypted inputs", &inputs.enc.program_hash)?;
        check_threads(threads)?;
        let ctx = self.context()?;
        eval_keys
            .keys
            .check(&self.schedule, &ctx)
            .map_err(|e| Error::new(Kind::Format, format!("evaluation keys: {e}")))?;
        inputs
            .enc
            .check_keys(&eval_keys.keys)
            .map_err(|e| Error::new(Kind::Format, format!("encrypted inputs: {e}")))?;
        hel::memory::check(
            &format!("running {}", self.schedule.name),
            self.schedule.resources().server_peak_bytes,
            memory_limit.map(|l| l as u64),
            hel::memory::SMALLER_PROGRAM,
        )
        .map_err(|e| Error::new(Kind::Resource, e))?;
        let schedule = self.schedule.clone();
        let keys = &eval_keys.keys;
        let enc = &inputs.enc;
        let boot = eval_keys.bootstrap();
        if schedule.bootstrap.is_some() && boot.is_none() {
            return fail(
                Kind::Input,
                "this program bootstraps: its evaluation keys need the bootstrapping keys \
                 (Program.keygen makes both; EvalKeys.load takes bootstrap_keys=PATH)",
            )?;
        }
        let (outputs, stats) = py.detach(|| -> Result<_, Error> {
            let evaluator = CkksEvaluator::new_seeded(
                &ctx,
                &schedule,
                &keys.relin,
                &keys.galois,
                enc.ciphertexts.clone(),
                enc.public.clone(),
            )
            .map_err(|e| Error::new(Kind::Format, format!("encrypted inputs: {e}")))?;
            let evaluator = match &boot {
                Some(b) => evaluator
                    .with_refresher(Refresher::new(&b.0, &b.1))
                    .map_err(|e| Error::new(Kind::Format, format!("bootstrapping keys: {e}")))?,
                None => evaluator,
            };
            let options = RunOptions {
                threads,
                progress: None,
                memory_limit,
            };
            let run = exec::execute(&schedule, &evaluator, &options)
                .map_err(|e| Error::new(Kind::Input, format!("{}: {e}", schedule.name)))?;
            Ok((
                RtOutputs::new(&schedule, keys.key_id, run.outputs),
                run.stats,
            ))
        })?;
        let stats = json!({
            "seconds": stats.seconds,
            "threads": stats.threads,
            "peak_bytes": stats.peak_bytes,
            "ops": stats.ops,
        });
        Ok(EncryptedOutputs::new(
            self.schedule.clone(),
            ctx,
            outputs,
            Some(stats),
        ))
    }

    /// Client: decrypts the server's outputs into a dict from output name to array. Exact by
    /// default; `flood_bits` adds noise flooding for results that will be shared with whoever
    /// ran the computation (see docs/security.md).
    #[pyo3(signature = (secret_key, outputs, *, flood_bits=None))]
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        secret_key: &SecretKey,
        outputs: &EncryptedOutputs,
        flood_bits: Option<u32>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.check_same("encrypted outputs", &outputs.out.program_hash)?;
        secret_key.check_params(&self.schedule)?;
        if let Some(b) = flood_bits.filter(|b| *b > 60) {
            let msg = format!("flood_bits must be 0..=60, not {b}");
            return Err(Error::new(Kind::Input, msg).into());
        }
        let ctx = self.context()?;
        let schedule = self.schedule.clone();
        let sk = &secret_key.sk;
        let out = &outputs.out;
        let tensors = py.detach(|| {
            match flood_bits {
                None => client::decrypt_outputs(&schedule, &ctx, sk, out),
                Some(bits) => {
                    let mut rng = Sampler::from_os();
                    client::decrypt_outputs_flooded(&schedule, &ctx, sk, out, bits, &mut rng)
                }
            }
            .map_err(|e| Error::new(Kind::Format, format!("encrypted outputs: {e}")))
        })?;
        let dict = PyDict::new(py);
        for (o, t) in self.schedule.outputs.iter().zip(&tensors) {
            dict.set_item(&o.name, tensor_to_array(py, t)?)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "<hel.Program {:?}: depth {}, N = 2^{}, log2 PQ = {}, {} input ciphertext(s), {} rotation key(s)>",
            self.schedule.name,
            self.schedule.depth(),
            self.schedule.params.log_n,
            self.schedule.params.log_qp(),
            self.schedule.ct_inputs.len(),
            self.schedule.rotation_steps.len()
        )
    }
}
