//! Schedule files: binary (postcard) by default, RON for reading and diffing.
//!
//! Binary layout: `magic "HELC" | version u16 | body length u64 | postcard body |
//! blake3(everything before) [32]`. Loading checks all of it and then validates the schedule's
//! structure, so a corrupt or truncated file is an error, never a panic or a bad run.

use crate::program::Schedule;
use crate::validate::ScheduleError;

/// First bytes of a binary schedule file.
pub const SCHEDULE_MAGIC: &[u8; 4] = b"HELC";
const VERSION: u16 = 1;
const HEADER: usize = 4 + 2 + 8;

/// On-disk encodings of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleFormat {
    Binary,
    Ron,
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
            ron::from_str(text).map_err(|e| ScheduleError::Decode(e.to_string()))?
        };
        schedule.validate()?;
        Ok(schedule)
    }
}
