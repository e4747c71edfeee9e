//! The envelope of every client file (secret key, evaluation keys, encrypted inputs, encrypted
//! outputs).
//!
//! Layout, little endian: `magic "HELBOX" | version u16 | kind u8 | parameter fingerprint [32] |
//! key-set id [16] | program name (u32 length + UTF-8) | program hash (u32 length + UTF-8) |
//! body length u64 | body | blake3(everything before) [32]`.
//!
//! The key-set id ([`KeyId`]) names the `hel keygen` run a file belongs to. The envelope only
//! carries it: whether two files must share one is decided where they meet (the server, with
//! evaluation keys and inputs; the client, with a secret key and outputs).
//!
//! The CKKS objects inside the body keep their own serialization (with its own header and
//! checksum), so the envelope adds only what a CKKS object cannot know: which compiled program
//! the file belongs to and what role it plays. Loading checks, in order, magic, version,
//! length, checksum, kind, program hash and parameter fingerprint, so the first error reported
//! is the most basic thing that is wrong. Ciphertext files are bound to their program (its
//! layouts decide what every slot means); key files only to their parameters, so that one key
//! set serves every program compiled to the same parameters (the rounds of `hel train`): the
//! program they were made for is recorded for messages, and whether they hold every key a
//! program needs is checked when they are loaded for it.

use super::error::{ClientError, Result};
use super::keys::KeyId;
use crate::schedule::{Schedule, SCHEDULE_MAGIC};

const MAGIC: &[u8; 6] = b"HELBOX";
/// Magic of the CKKS engine's own objects (a bare key or ciphertext is not a client file).
const CKKS_MAGIC: &[u8; 6] = b"HELCKS";
/// Version 2 added the key-set id.
const VERSION: u16 = 2;
const CHECKSUM_LEN: usize = 32;
/// Longest program name or hash accepted when reading (a corrupt length must not allocate).
const MAX_LABEL: usize = 1 << 16;

/// What a client file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    SecretKey = 1,
    EvalKeys = 2,
    EncryptedInputs = 3,
    EncryptedOutputs = 4,
    BootstrapKeys = 5,
}

impl FileKind {
    fn from_u8(b: u8) -> Option<FileKind> {
        Some(match b {
            1 => FileKind::SecretKey,
            2 => FileKind::EvalKeys,
            3 => FileKind::EncryptedInputs,
            4 => FileKind::EncryptedOutputs,
            5 => FileKind::BootstrapKeys,
            _ => return None,
        })
    }

    /// Noun phrase for messages ("the secret key", ...).
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::SecretKey => "a secret key",
            FileKind::EvalKeys => "evaluation keys",
            FileKind::EncryptedInputs => "encrypted inputs",
            FileKind::EncryptedOutputs => "encrypted outputs",
            FileKind::BootstrapKeys => "bootstrapping keys",
        }
    }

    /// Whether files of this kind belong to one program (ciphertexts), rather than to a
    /// parameter set (keys).
    fn program_bound(self) -> bool {
        matches!(self, FileKind::EncryptedInputs | FileKind::EncryptedOutputs)
    }

    /// Short name used as the subject of messages ("evaluation keys file is truncated").
    pub fn what(self) -> &'static str {
        match self {
            FileKind::SecretKey => "secret key",
            FileKind::EvalKeys => "evaluation keys",
            FileKind::EncryptedInputs => "encrypted inputs",
            FileKind::EncryptedOutputs => "encrypted outputs",
            FileKind::BootstrapKeys => "bootstrapping keys",
        }
    }
}

/// `name (hash 0123abcd…)` for messages.
pub(crate) fn program_label(name: &str, hash: &str) -> String {
    let short: String = hash.chars().take(16).collect();
    let ell = if hash.chars().count() > 16 { "…" } else { "" };
    format!("`{name}` (hash {short}{ell})")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds a container.
pub(crate) struct Writer {
    buf: Vec<u8>,
    body_start: usize,
}

impl Writer {
    pub(crate) fn new(
        kind: FileKind,
        fingerprint: &[u8; 32],
        key_id: KeyId,
        name: &str,
        hash: &str,
    ) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.extend_from_slice(fingerprint);
        buf.extend_from_slice(&key_id.0);
        for label in [name, hash] {
            buf.extend_from_slice(&(label.len() as u32).to_le_bytes());
            buf.extend_from_slice(label.as_bytes());
        }
        buf.extend_from_slice(&0u64.to_le_bytes());
        let body_start = buf.len();
        Writer { buf, body_start }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A length-prefixed byte string (an embedded CKKS object).
    pub(crate) fn section(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let body_len = (self.buf.len() - self.body_start) as u64;
        self.buf[self.body_start - 8..self.body_start].copy_from_slice(&body_len.to_le_bytes());
        let sum = blake3::hash(&self.buf);
        self.buf.extend_from_slice(sum.as_bytes());
        self.buf
    }
}

/// Reads a container's body after the envelope has been checked.
pub(crate) struct Reader<'a> {
    what: &'static str,
    key_id: KeyId,
    /// The program the file was made for (its name and hash).
    program: (String, String),
    buf: &'a [u8],
    pos: usize,
}

/// A cursor over the header (before the checksum has been verified, every length is bounded
/// by the data actually present).
struct Header<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Header<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(ClientError::Truncated { what: self.what })?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(ClientError::Truncated { what: self.what })?;
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn label(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        if len > MAX_LABEL {
            return Err(ClientError::Malformed {
                what: self.what,
                detail: format!("program label of {len} bytes"),
            });
        }
        let raw = self.take(len)?;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }
}

/// The envelope's fields, read from the front of a file (before its checksum is verified).
struct Envelope {
    kind_byte: u8,
    fingerprint: [u8; 32],
    key_id: KeyId,
    name: String,
    hash: String,
    body_start: usize,
    /// The whole file's length the envelope declares.
    total: u64,
}

impl Envelope {
    /// Magic, version and fields of the envelope at the front of `bytes` (which need not hold
    /// the body).
    fn parse(bytes: &[u8], what: &'static str) -> Result<Envelope> {
        if !bytes.starts_with(MAGIC) {
            let found = if bytes.starts_with(CKKS_MAGIC) {
                "a bare CKKS object, not a file written by hel keygen/encrypt/run"
            } else if bytes.starts_with(SCHEDULE_MAGIC) || bytes.starts_with(b"(") {
                "a compiled program (.helc schedule)"
            } else if bytes.is_empty() {
                "the file is empty"
            } else {
                "unrecognized data"
            };
            return Err(ClientError::NotAClientFile {
                expected: what,
                found,
            });
        }
        let mut h = Header {
            bytes,
            pos: MAGIC.len(),
            what,
        };
        let v = h.take(2)?;
        let version = u16::from_le_bytes([v[0], v[1]]);
        if version != VERSION {
            return Err(ClientError::Version {
                what,
                found: version,
                supported: VERSION,
            });
        }
        let kind_byte = h.take(1)?[0];
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(h.take(32)?);
        let mut key_id = KeyId([0u8; 16]);
        key_id.0.copy_from_slice(h.take(16)?);
        let name = h.label()?;
        let hash = h.label()?;
        let mut len = [0u8; 8];
        len.copy_from_slice(h.take(8)?);
        let body_len = u64::from_le_bytes(len);
        let body_start = h.pos;
        let total = (body_start as u64)
            .checked_add(body_len)
            .and_then(|t| t.checked_add(CHECKSUM_LEN as u64))
            .ok_or(ClientError::Truncated { what })?;
        Ok(Envelope {
            kind_byte,
            fingerprint,
            key_id,
            name,
            hash,
            body_start,
            total,
        })
    }

    /// The file's kind, which must be `expected`.
    fn kind(&self, expected: FileKind) -> Result<FileKind> {
        let kind = FileKind::from_u8(self.kind_byte).ok_or_else(|| ClientError::Malformed {
            what: expected.what(),
            detail: format!("unknown file kind {}", self.kind_byte),
        })?;
        if kind != expected {
            return Err(ClientError::WrongKind {
                expected: expected.describe(),
                found: kind.describe(),
            });
        }
        Ok(kind)
    }
}

/// How many bytes from the front of a client file [`declared_len`] needs (all of a shorter
/// file): the fixed fields and two labels of at most 64 KiB.
pub const PEEK_BYTES: usize = 256 << 10;

/// The whole length a client file of kind `expected` declares, read from its first
/// [`PEEK_BYTES`] bytes, with its kind checked: loaders compare it with the file's size before
/// reading the rest, so a file far larger than it says (or than its program needs) is refused
/// without being read, and a key given as another kind of file is named as such.
pub fn declared_len(prefix: &[u8], expected: FileKind) -> Result<u64> {
    let envelope = Envelope::parse(prefix, expected.what())?;
    envelope.kind(expected)?;
    Ok(envelope.total)
}

/// The error for a file of `size` bytes whose envelope declares `total`.
pub fn length_error(expected: FileKind, size: u64, total: u64) -> ClientError {
    let what = expected.what();
    if size < total {
        ClientError::Truncated { what }
    } else {
        ClientError::Malformed {
            what,
            detail: format!("{} bytes after the end of the data", size - total),
        }
    }
}

impl<'a> Reader<'a> {
    /// Checks the envelope against the schedule and returns a reader over the body.
    /// `fingerprint` is the schedule's parameter fingerprint.
    pub(crate) fn open(
        bytes: &'a [u8],
        expected: FileKind,
        schedule: &Schedule,
        fingerprint: &[u8; 32],
    ) -> Result<Self> {
        let what = expected.what();
        let env = Envelope::parse(bytes, what)?;
        if bytes.len() as u64 != env.total {
            return Err(length_error(expected, bytes.len() as u64, env.total));
        }
        let split = bytes.len() - CHECKSUM_LEN;
        if blake3::hash(&bytes[..split]).as_bytes() != &bytes[split..] {
            return Err(ClientError::Corrupt { what });
        }
        env.kind(expected)?;
        if expected.program_bound() && env.hash != schedule.program_hash {
            return Err(ClientError::WrongProgram {
                what,
                expected: program_label(&schedule.name, &schedule.program_hash),
                found: program_label(&env.name, &env.hash),
            });
        }
        if &env.fingerprint != fingerprint {
            return Err(ClientError::WrongParams {
                what,
                expected: hex(&fingerprint[..8]),
                found: hex(&env.fingerprint[..8]),
            });
        }
        Ok(Reader {
            what,
            key_id: env.key_id,
            program: (env.name, env.hash),
            buf: &bytes[env.body_start..split],
            pos: 0,
        })
    }

    /// Name of the program the file was made for.
    pub(crate) fn program_name(&self) -> &str {
        &self.program.0
    }

    /// Hash of the program the file was made for.
    pub(crate) fn program_hash(&self) -> &str {
        &self.program.1
    }

    /// The key set the file says it belongs to.
    pub(crate) fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn malformed(&self, detail: impl Into<String>) -> ClientError {
        ClientError::Malformed {
            what: self.what,
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.malformed("a field runs past the end of the data")),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A count that must be exactly `expected` (counts are checked before anything is
    /// allocated for them).
    pub(crate) fn count(&mut self, expected: usize, of: &str) -> Result<usize> {
        let n = self.u32()? as usize;
        if n != expected {
            return Err(self.malformed(format!("{n} {of}, the schedule has {expected}")));
        }
        Ok(n)
    }

    /// A length-prefixed byte string.
    pub(crate) fn section(&mut self) -> Result<&'a [u8]> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| self.malformed("oversized section"))?;
        self.take(len)
    }

    /// Number of bytes left in the body.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.malformed("unexpected bytes at the end of the data"))
        }
    }
}
