//! The objects that travel between client and server: secret key (client only), evaluation
//! keys, encrypted inputs and outputs. Each keeps the program and CKKS context it belongs to,
//! and saves to / loads from the file the matching CLI command writes / reads.

use std::path::PathBuf;
use std::sync::Arc;

use hel_runtime::ckks::bootstrap::{BootstrapKeys, Bootstrapper};
use hel_runtime::ckks::{Context, SecretKey as RtSecretKey};
use hel_runtime::client::{
    self, EncryptedInputs as RtInputs, EncryptedOutputs as RtOutputs, EvalKeys as RtEvalKeys,
    FileKind, KeyId,
};
use hel_runtime::schedule::Schedule;
use pyo3::prelude::*;
use serde_json::Value;

use crate::errors::{fail, Error, Kind};
use crate::files;
use crate::program::Program;

/// The client's secret key. It never leaves the client: `Program.run` does not take it, and
/// saving it writes an owner-only file (`hel keygen`'s `secret.key`).
#[pyclass(module = "hel._native", frozen)]
pub struct SecretKey {
    pub schedule: Arc<Schedule>,
    ctx: Arc<Context>,
    pub sk: RtSecretKey,
    key_id: KeyId,
}

impl SecretKey {
    pub fn new(schedule: Arc<Schedule>, ctx: Arc<Context>, sk: RtSecretKey, key_id: KeyId) -> Self {
        SecretKey {
            schedule,
            ctx,
            sk,
            key_id,
        }
    }

    /// Refuses a program compiled to other CKKS parameters (keys serve every program compiled
    /// to the same parameters).
    pub fn check_params(&self, schedule: &Schedule) -> Result<(), Error> {
        if self.schedule.params != schedule.params {
            return fail(
                Kind::Format,
                format!(
                    "this secret key was made for other CKKS parameters ({}: N = 2^{}) than {} \
                     (N = 2^{}); run keygen for this program",
                    self.schedule.name,
                    self.schedule.params.log_n,
                    schedule.name,
                    schedule.params.log_n
                ),
            );
        }
        Ok(())
    }
}

#[pymethods]
impl SecretKey {
    /// Loads `hel keygen`'s `secret.key` for `program`.
    #[staticmethod]
    fn load(program: &Program, path: PathBuf) -> PyResult<SecretKey> {
        let schedule = program.schedule.clone();
        let ctx = program.context()?;
        let bytes = files::read_client(&schedule, &path, FileKind::SecretKey)?;
        let sk = client::secret_key_from_bytes(&schedule, &ctx, &bytes)
            .map_err(|e| files::format_error(&path, e))?;
        let key_id = KeyId::of(&ctx, &sk).map_err(|e| files::format_error(&path, e))?;
        Ok(SecretKey::new(schedule, ctx, sk, key_id))
    }

    /// Writes the key as `hel keygen` does (owner-only); an existing file is replaced only
    /// with `force`.
    #[pyo3(signature = (path, *, force=false))]
    fn save(&self, path: PathBuf, force: bool) -> PyResult<()> {
        let bytes = client::secret_key_to_bytes(&self.schedule, &self.ctx, &self.sk)
            .map_err(|e| Error::new(Kind::Format, e))?;
        files::write(&path, &bytes, force, true)?;
        Ok(())
    }

    /// The key set's id (shared by the evaluation keys and every ciphertext made with it).
    #[getter]
    fn key_set(&self) -> String {
        self.key_id.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<hel.SecretKey key set {}>", self.key_id)
    }
}

/// The public evaluation keys (relinearization and exactly the Galois keys the program needs):
/// what the server receives once. `hel keygen`'s `eval.keys`.
#[pyclass(module = "hel._native", frozen)]
pub struct EvalKeys {
    schedule: Arc<Schedule>,
    ctx: Arc<Context>,
    pub keys: RtEvalKeys,
    /// The bootstrapping circuit and keys of a program that bootstraps.
    boot: Option<Arc<(Bootstrapper, BootstrapKeys)>>,
}

impl EvalKeys {
    pub fn new(schedule: Arc<Schedule>, ctx: Arc<Context>, keys: RtEvalKeys) -> Self {
        EvalKeys {
            schedule,
            ctx,
            keys,
            boot: None,
        }
    }

    /// With the bootstrapping circuit and keys (of the same key set).
    pub fn with_bootstrap(self, boot: Option<Arc<(Bootstrapper, BootstrapKeys)>>) -> Self {
        EvalKeys { boot, ..self }
    }

    /// The bootstrapping circuit and keys, for a program that bootstraps.
    pub fn bootstrap(&self) -> Option<Arc<(Bootstrapper, BootstrapKeys)>> {
        self.boot.clone()
    }
}

#[pymethods]
impl EvalKeys {
    /// Loads `hel keygen`'s `eval.keys` for `program`, and for a program that bootstraps its
    /// `boot.keys` (`bootstrap_keys`, required then and refused otherwise; of the same key set).
    #[staticmethod]
    #[pyo3(signature = (program, path, *, bootstrap_keys=None))]
    fn load(
        program: &Program,
        path: PathBuf,
        bootstrap_keys: Option<PathBuf>,
    ) -> PyResult<EvalKeys> {
        let schedule = program.schedule.clone();
        let ctx = program.context()?;
        let bytes = files::read_client(&schedule, &path, FileKind::EvalKeys)?;
        let keys = RtEvalKeys::from_bytes(&schedule, &ctx, &bytes)
            .map_err(|e| files::format_error(&path, e))?;
        let boot = client::bootstrapper(&schedule).map_err(|e| files::format_error(&path, e))?;
        let boot = match (boot, bootstrap_keys) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::new(
                    Kind::Input,
                    "this program does not bootstrap: it takes no bootstrap_keys",
                )
                .into())
            }
            (Some(_), None) => {
                return Err(Error::new(
                    Kind::Input,
                    "this program bootstraps: give bootstrap_keys=PATH (hel keygen's boot.keys)",
                )
                .into())
            }
            (Some(b), Some(p)) => {
                let bytes = files::read_client(&schedule, &p, FileKind::BootstrapKeys)?;
                let (bkeys, key_id) =
                    client::bootstrap_keys_from_bytes(&schedule, &ctx, &b, &bytes)
                        .map_err(|e| files::format_error(&p, e))?;
                client::check_key_set("bootstrapping keys", key_id, "evaluation keys", keys.key_id)
                    .map_err(|e| files::format_error(&p, e))?;
                Some(Arc::new((b, bkeys)))
            }
        };
        Ok(EvalKeys::new(schedule, ctx, keys).with_bootstrap(boot))
    }

    /// Writes the keys as `hel keygen` does; an existing file is replaced only with `force`.
    /// A program that bootstraps also writes its bootstrapping keys to `bootstrap_keys`
    /// (required then, refused otherwise).
    #[pyo3(signature = (path, *, force=false, bootstrap_keys=None))]
    fn save(&self, path: PathBuf, force: bool, bootstrap_keys: Option<PathBuf>) -> PyResult<()> {
        let boot_bytes = match (&self.boot, &bootstrap_keys) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::new(Kind::Input, "these keys hold no bootstrapping keys").into())
            }
            (Some(_), None) => {
                return Err(Error::new(
                    Kind::Input,
                    "this program bootstraps: give bootstrap_keys=PATH for its bootstrapping keys",
                )
                .into())
            }
            (Some(b), Some(_)) => Some(
                client::bootstrap_keys_to_bytes(
                    &self.schedule,
                    &self.ctx,
                    &b.0,
                    &b.1,
                    self.keys.key_id,
                )
                .map_err(|e| Error::new(Kind::Format, e))?,
            ),
        };
        let bytes = self
            .keys
            .to_bytes(&self.ctx)
            .map_err(|e| Error::new(Kind::Format, e))?;
        if let (Some(p), Some(b)) = (&bootstrap_keys, &boot_bytes) {
            files::write(p, b, force, false)?;
        }
        files::write(&path, &bytes, force, false)?;
        Ok(())
    }

    /// Size of the bootstrapping keys in bytes (serialized), or `None` for a program that
    /// does not bootstrap.
    #[getter]
    fn bootstrap_nbytes(&self) -> Option<usize> {
        self.boot.as_ref().map(|b| b.0.key_bytes(&b.1))
    }

    #[getter]
    fn key_set(&self) -> String {
        self.keys.key_id.to_string()
    }

    /// Serialized size in bytes (the upload to the server).
    #[getter]
    fn nbytes(&self) -> PyResult<usize> {
        let sizes = self
            .keys
            .key_bytes(&self.ctx)
            .map_err(|e| Error::new(Kind::Format, e))?;
        Ok(sizes.eval_total)
    }

    fn __repr__(&self) -> String {
        format!(
            "<hel.EvalKeys key set {} for {:?}>",
            self.keys.key_id, self.schedule.name
        )
    }
}

/// The client's upload: one seed-compressed ciphertext per input ciphertext, and the `plain`
/// inputs. `hel encrypt`'s output file.
#[pyclass(module = "hel._native", frozen)]
pub struct EncryptedInputs {
    schedule: Arc<Schedule>,
    ctx: Arc<Context>,
    pub enc: RtInputs,
}

impl EncryptedInputs {
    pub fn new(schedule: Arc<Schedule>, ctx: Arc<Context>, enc: RtInputs) -> Self {
        EncryptedInputs { schedule, ctx, enc }
    }
}

#[pymethods]
impl EncryptedInputs {
    /// Loads `hel encrypt`'s output for `program`.
    #[staticmethod]
    fn load(program: &Program, path: PathBuf) -> PyResult<EncryptedInputs> {
        let schedule = program.schedule.clone();
        let ctx = program.context()?;
        let bytes = files::read_client(&schedule, &path, FileKind::EncryptedInputs)?;
        let enc = RtInputs::from_bytes(&schedule, &ctx, &bytes)
            .map_err(|e| files::format_error(&path, e))?;
        Ok(EncryptedInputs::new(schedule, ctx, enc))
    }

    /// Writes the file `hel run --inputs` reads; replaced only with `force`.
    #[pyo3(signature = (path, *, force=false))]
    fn save(&self, path: PathBuf, force: bool) -> PyResult<()> {
        files::write(&path, &self.to_bytes()?, force, false)?;
        Ok(())
    }

    /// Serialized size in bytes (the upload).
    #[getter]
    fn nbytes(&self) -> PyResult<usize> {
        Ok(self.to_bytes()?.len())
    }

    #[getter]
    fn key_set(&self) -> String {
        self.enc.key_id.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<hel.EncryptedInputs {} ciphertext(s) for {:?}>",
            self.enc.ciphertexts.len(),
            self.schedule.name
        )
    }
}

impl EncryptedInputs {
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.enc
            .to_bytes(&self.ctx)
            .map_err(|e| Error::new(Kind::Format, e))
    }
}

/// The server's result, still encrypted: `hel run`'s output file. `stats` holds the run's
/// timing when it was computed in this process.
#[pyclass(module = "hel._native", frozen)]
pub struct EncryptedOutputs {
    schedule: Arc<Schedule>,
    ctx: Arc<Context>,
    pub out: RtOutputs,
    stats: Option<Value>,
}

impl EncryptedOutputs {
    pub fn new(
        schedule: Arc<Schedule>,
        ctx: Arc<Context>,
        out: RtOutputs,
        stats: Option<Value>,
    ) -> Self {
        EncryptedOutputs {
            schedule,
            ctx,
            out,
            stats,
        }
    }

    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.out
            .to_bytes(&self.ctx)
            .map_err(|e| Error::new(Kind::Format, e))
    }
}

#[pymethods]
impl EncryptedOutputs {
    /// Loads `hel run`'s output for `program`.
    #[staticmethod]
    fn load(program: &Program, path: PathBuf) -> PyResult<EncryptedOutputs> {
        let schedule = program.schedule.clone();
        let ctx = program.context()?;
        let bytes = files::read_client(&schedule, &path, FileKind::EncryptedOutputs)?;
        let out = RtOutputs::from_bytes(&schedule, &ctx, &bytes)
            .map_err(|e| files::format_error(&path, e))?;
        Ok(EncryptedOutputs::new(schedule, ctx, out, None))
    }

    /// Writes the file `hel decrypt` reads; replaced only with `force`.
    #[pyo3(signature = (path, *, force=false))]
    fn save(&self, path: PathBuf, force: bool) -> PyResult<()> {
        files::write(&path, &self.to_bytes()?, force, false)?;
        Ok(())
    }

    /// Serialized size in bytes (the download).
    #[getter]
    fn nbytes(&self) -> PyResult<usize> {
        Ok(self.to_bytes()?.len())
    }

    /// The server run's statistics (`seconds`, `threads`, `peak_bytes`, `ops`), or None for
    /// outputs loaded from a file.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.stats {
            Some(v) => py.import("json")?.call_method1("loads", (v.to_string(),)),
            None => Ok(py.None().into_bound(py)),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<hel.EncryptedOutputs {} ciphertext(s) of {:?}>",
            self.out.values.len(),
            self.schedule.name
        )
    }
}
