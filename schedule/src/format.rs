//! Schedule files: binary (postcard) by default, RON for reading and diffing. (The text
//! listing of [`Schedule::to_text`] is write-only: loading one is refused with a hint.)
//!
//! Binary layout: `magic "HELC" | version u16 | body length u64 | postcard body |
//! blake3(everything before) [32]`. Loading checks all of it, validates the schedule's
//! structure and recomputes its program hash, so a corrupt, truncated or edited file is an
//! error, never a panic or a bad run.

use crate::program::Schedule;
use crate::validate::ScheduleError;

/// First bytes of a binary schedule file.
pub const SCHEDULE_MAGIC: &[u8; 4] = b"HELC";
/// 2: outputs carry their predicted range.
/// 3: inputs name the output they are refreshed from (`TensorInput::refreshed_from`).
/// 5: the bootstrapping chain's program may run below its scale (`BootstrapParams::input_drop`).
pub(crate) const VERSION: u16 = 5;
const HEADER: usize = 4 + 2 + 8;

/// On-disk encodings of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleFormat {
    Binary,
    Ron,
}

/// Bytes at the front of a binary schedule that declare its length ([`check_file_size`]).
pub const SCHEDULE_HEADER: usize = HEADER;

/// Checks a schedule file's size against what its first bytes declare (`head`: at least
/// [`SCHEDULE_HEADER`] of them where the file has as many), so that a truncated or padded
/// binary file is refused before it is read (a 900 MB one was read whole first). A RON file
/// declares no length, but is text: a front that is not UTF-8 is no schedule.
pub fn check_file_size(head: &[u8], size: u64) -> Result<(), ScheduleError> {
    if !head.starts_with(SCHEDULE_MAGIC) {
        return match std::str::from_utf8(head) {
            // A character cut by the end of `head` is not an error.
            Err(e) if e.error_len().is_some() => Err(ScheduleError::NotASchedule),
            _ => Ok(()),
        };
    }
    if head.len() < HEADER {
        return Err(ScheduleError::Truncated);
    }
    let version = u16::from_le_bytes([head[4], head[5]]);
    if version != VERSION {
        return Err(ScheduleError::Version(version));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[6..HEADER]);
    let declared = u64::from_le_bytes(len).checked_add((HEADER + 32) as u64);
    if declared != Some(size) {
        return Err(ScheduleError::Truncated);
    }
    Ok(())
}

impl Schedule {
    /// Serializes in the given format.
    pub fn to_bytes(&self, format: ScheduleFormat) -> Result<Vec<u8>, ScheduleError> {
        match format {
            ScheduleFormat::Binary => {
                let body =
                    postcard::to_stdvec(self).map_err(|e| ScheduleError::Encode(e.to_string()))?;
                let mut out = Vec::with_capacity(HEADER + body.len() + 32);
                out.extend_from_slice(SCHEDULE_MAGIC);
                out.extend_from_slice(&VERSION.to_le_bytes());
                out.extend_from_slice(&(body.len() as u64).to_le_bytes());
                out.extend_from_slice(&body);
                let sum = blake3::hash(&out);
                out.extend_from_slice(sum.as_bytes());
                Ok(out)
            }
            ScheduleFormat::Ron => {
                let cfg = ron::ser::PrettyConfig::new().struct_names(false);
                ron::ser::to_string_pretty(self, cfg)
                    .map(String::into_bytes)
                    .map_err(|e| ScheduleError::Encode(e.to_string()))
            }
        }
    }

    /// Parses a schedule in either format (detected by the magic) and validates it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Schedule, ScheduleError> {
        let schedule: Schedule = if bytes.starts_with(SCHEDULE_MAGIC) {
            if bytes.len() < HEADER + 32 {
                return Err(ScheduleError::Truncated);
            }
            let version = u16::from_le_bytes([bytes[4], bytes[5]]);
            if version != VERSION {
                return Err(ScheduleError::Version(version));
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&bytes[6..14]);
            let len = u64::from_le_bytes(len);
            if len != (bytes.len() - HEADER - 32) as u64 {
                return Err(ScheduleError::Truncated);
            }
            let (data, sum) = bytes.split_at(bytes.len() - 32);
            if blake3::hash(data).as_bytes() != sum {
                return Err(ScheduleError::Checksum);
            }
            postcard::from_bytes(&data[HEADER..])
                .map_err(|e| ScheduleError::Decode(e.to_string()))?
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| ScheduleError::NotASchedule)?;
            if text.starts_with("schedule ") {
                return Err(ScheduleError::Decode(
                    "this is the write-only listing of `hel compile --format text`; compile \
                     with --format binary (the default) or ron for the other commands"
                        .into(),
                ));
            }
            ron::from_str(text).map_err(|e| ScheduleError::Decode(e.to_string()))?
        };
        schedule.validate()?;
        // The identity keys and ciphertexts are bound to is recomputed, not trusted: an
        // edited file (a RON schedule is readable and editable, a binary one's checksum is
        // anyone's to recompute) would otherwise run another program under this one's name.
        if schedule.program_hash != schedule.canonical_hash() {
            return Err(ScheduleError::HashMismatch);
        }
        Ok(schedule)
    }
}

/// The canonical byte serialization of a value built from the contract's types (postcard:
/// fields in declaration order, integers as varints, f64 by its bits). Identities (program
/// hashes, plaintext cache keys, hash-consing keys) are computed from it, never from `Debug`
/// text, which may change with a compiler release or a refactoring.
///
/// Serializing a `derive(Serialize)` type of structs, enums, vectors, strings and numbers into
/// a growable buffer cannot fail; a type that could (a map of unknown length) is not one of ours.
pub fn canonical_bytes<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value)
        .expect("postcard serializes every derive(Serialize) type of the contract into a Vec")
}

impl Schedule {
    /// The compiled program's identity: blake3 (hex) of its canonical serialization with
    /// `program_hash` itself left empty. Keys and ciphertexts made for one program are bound
    /// to it; two compilations that produce the same schedule share it, and any difference in
    /// the schedule (instructions, parameters, packing, outputs) changes it.
    pub fn canonical_hash(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"hel-program-v1");
        let mut s = self.clone();
        s.program_hash.clear();
        h.update(&canonical_bytes(&s));
        h.finalize().to_hex().to_string()
    }
}
