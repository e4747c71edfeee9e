//! The objects that travel between client and server: secret key (client only), evaluation
//! keys, encrypted inputs and outputs. Each keeps the program and CKKS context it belongs to,
//! and saves to / loads from the file the matching CLI command writes / reads.

use std::path::PathBuf;
use std::sync::Arc;

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
}

impl EvalKeys {
    pub fn new(schedule: Arc<Schedule>, ctx: Arc<Context>, keys: RtEvalKeys) -> Self {
        EvalKeys {
            schedule,
            ctx,
            keys,
        }
    }
}

#[pymethods]
impl EvalKeys {
    /// Loads `hel keygen`'s `eval.keys` for `program`.
    #[staticmethod]
    fn load(program: &Program, path: PathBuf) -> PyResult<EvalKeys> {
        let schedule = program.schedule.clone();
        let ctx = program.context()?;
        let bytes = files::read_client(&schedule, &path, FileKind::EvalKeys)?;
        let keys = RtEvalKeys::from_bytes(&schedule, &ctx, &bytes)
            .map_err(|e| files::format_error(&path, e))?;
        Ok(EvalKeys::new(schedule, ctx, keys))
    }

    /// Writes the keys as `hel keygen` does; an existing file is replaced only with `force`.
    #[pyo3(signature = (path, *, force=false))]
    fn save(&self, path: PathBuf, force: bool) -> PyResult<()> {
        let bytes = self
            .keys
            .to_bytes(&self.ctx)
            .map_err(|e| Error::new(Kind::Format, e))?;
        files::write(&path, &bytes, force, false)?;
        Ok(())
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
