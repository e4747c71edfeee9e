//! The client (key owner) side of a compiled program: key generation, input encryption and
//! output decryption, and the files exchanged with the server.
//!
//! ```text
//! keygen(schedule)          -> SecretKey (stays here)   + EvalKeys (to the server)
//! encrypt_inputs(tensors)   -> EncryptedInputs (to the server)
//!              server runs the schedule (crate::exec) -> EncryptedOutputs (back here)
//! decrypt_outputs(outputs)  -> tensors
//! ```
//!
//! Every file is bound to one parameter set (its fingerprint) and one key set (its [`KeyId`]),
//! and ciphertext files to one compiled program (its hash): ciphertexts of another program,
//! files of other parameters, or of another `keygen` run, are refused with an error that names
//! both, instead of decrypting to noise. Keys serve every program compiled to their parameters
//! whose rotations they cover. The envelope is in [`container`]; the CKKS
//! objects inside keep their own checked serialization. The secret key is only ever written by
//! [`secret_key_to_bytes`], into a file of its own kind.

mod bootstrap;
pub mod container;
mod error;
mod inputs;
mod keys;
mod outputs;
mod sizes;

pub use bootstrap::{
    bootstrap_keys_from_bytes, bootstrap_keys_to_bytes, bootstrapper, keygen_bootstrapped,
};
pub use container::FileKind;
pub use error::{ClientError, Result};
pub use inputs::{check_headroom, check_inputs, encrypt_inputs, expanded_bytes, EncryptedInputs};
pub use keys::{
    check_key_set, eval_keys_for, keygen, needed_galois_elements, secret_key_from_bytes,
    secret_key_to_bytes, EvalKeys, KeyBytes, KeyId,
};
pub use outputs::{decrypt_outputs, decrypt_outputs_flooded, flood_sigma, EncryptedOutputs};
pub use sizes::max_file_bytes;

use crate::ckks::Context;
use crate::schedule::Schedule;

/// Builds the CKKS context for a schedule's parameters.
pub fn context(schedule: &Schedule) -> Result<Context> {
    Ok(Context::new(&schedule.params)?)
}

/// Checks that `ctx` was built from the schedule's parameters; returns the fingerprint.
pub(crate) fn check_context(schedule: &Schedule, ctx: &Context) -> Result<[u8; 32]> {
    let fp = ctx.fingerprint();
    if ctx.params() != &schedule.params {
        return Err(ClientError::ContextMismatch);
    }
    Ok(fp)
}
