//! Opening and reading files that came from someone else, with a stated maximum size: the one
//! helper every loader uses.
//!
//! A path may name anything: a FIFO (opening it for reading blocks until a writer appears, so
//! it is opened non-blocking), a device such as `/dev/zero` (endless), a directory, or a huge
//! file. Only regular files are read, and no more than the limit for the kind of file (see
//! `hel_runtime::schedule::limits` and docs/security.md, "Limits"): the size from `fstat` is
//! checked before anything is allocated, and the reader fails rather than reading past the
//! limit if the file grows while it is read.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file (the description says what it is).
    NotRegular(&'static str),
    /// Larger than the limit for its kind.
    TooLarge {
        size: u64,
        max: u64,
    },
    /// Not UTF-8 text: where the first byte that is not (1-based line, and byte in the line).
    NotText {
        line: usize,
        column: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => write!(f, "{kind}, not a regular file"),
            ReadError::TooLarge { size, max } => write!(
                f,
                "{size} bytes, more than the {max} bytes such a file can have"
            ),
            ReadError::NotText { line, column } => write!(
                f,
                "line {line}, byte {column} of the line: not UTF-8 text (hel reads UTF-8)"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Opens `path` for reading if it is a regular file of at most `max` bytes. The reader
/// fails (rather than stopping quietly) if the file has grown past `max` since.
pub fn open_limited(path: &Path, max: u64) -> Result<Limited<File>, ReadError> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading blocks until a writer opens it; non-blocking, the open
        // returns and fstat below refuses it. Regular files ignore the flag.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(ReadError::NotRegular(describe(&ft)));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    Ok(Limited {
        inner: file,
        left: max,
        max,
        expected: meta.len(),
    })
}

/// Reads a whole regular file of at most `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut r = open_limited(path, max)?;
    // The size was checked against `max`: the buffer is allocated for what fstat reported.
    let mut out = Vec::with_capacity(usize::try_from(r.expected).unwrap_or(0));
    r.read_to_end(&mut out).map_err(ReadError::Io)?;
    Ok(out)
}

/// Opens a regular file of at most `max` bytes and reads its first `n` bytes (fewer where the
/// file is shorter): what a file's front declares is judged before the rest is read.
pub fn peek(path: &Path, max: u64, n: usize) -> Result<(Limited<File>, Vec<u8>), ReadError> {
    let mut file = open_limited(path, max)?;
    let mut head = Vec::new();
    (&mut file)
        .take(n as u64)
        .read_to_end(&mut head)
        .map_err(ReadError::Io)?;
    Ok((file, head))
}

/// Reads a regular file of at most `max` bytes whose front says how large it must be:
/// `check` sees its first `peek` bytes (fewer where the file is shorter) and its size, and
/// may refuse it before the rest is read.
pub fn read_checked<E>(
    path: &Path,
    max: u64,
    peek: usize,
    read_error: impl Fn(ReadError) -> E,
    check: impl FnOnce(&[u8], u64) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let (mut file, mut bytes) = self::peek(path, max, peek).map_err(&read_error)?;
    let size = file.size();
    check(&bytes, size)?;
    // The size was checked against `max` and the header: allocated for what fstat reported.
    let size = usize::try_from(size).unwrap_or(0);
    bytes.reserve(size.saturating_sub(bytes.len()));
    file.read_to_end(&mut bytes)
        .map_err(|e| read_error(ReadError::Io(e)))?;
    Ok(bytes)
}

/// Bytes that are not UTF-8 are located (line and byte), like every other error in a text.
pub fn read_text_limited(path: &Path, max: u64) -> Result<String, ReadError> {
    String::from_utf8(read_limited(path, max)?).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        ReadError::NotText {
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            column: valid.len() - line_start + 1,
        }
    })
}

#[cfg(unix)]
fn describe(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn describe(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// `inner` limited to `max` bytes: for what a file expands to (a gzip stream), which its size
/// on disk does not bound.
pub fn limit<R: Read>(inner: R, max: u64) -> Limited<R> {
    Limited {
        inner,
        left: max,
        max,
        expected: 0,
    }
}

/// A reader that fails once more than `max` bytes have been read.
pub struct Limited<R> {
    inner: R,
    left: u64,
    max: u64,
    /// The size the file had when it was opened.
    expected: u64,
}

impl<R> Limited<R> {
    /// The file's size when it was opened.
    pub fn size(&self) -> u64 {
        self.expected
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Probe one byte: at the limit exactly is fine, one past it is not.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(ReadError::TooLarge {
                    size: self.max + 1,
                    max: self.max,
                }
                .into()),
            };
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// The longest line [`line_limited`] passes: far beyond any row of numbers (100,000 columns
/// of 20 characters are 2 MB), and small enough that a line-oriented parser's buffer for it
/// stays small (a 6 MB gzip of zeros expands to gigabytes without a newline).
pub const MAX_LINE: usize = 64 << 20;

/// `inner`, failing once a line (bytes between newlines) exceeds `max` bytes.
pub fn line_limited<R: Read>(inner: R, max: usize) -> LineLimited<R> {
    LineLimited { inner, max, run: 0 }
}

/// A reader that fails on a line longer than its maximum (see [`line_limited`]).
pub struct LineLimited<R> {
    inner: R,
    max: usize,
    /// Bytes since the last newline.
    run: usize,
}

impl<R: Read> Read for LineLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        let chunk = &buf[..got];
        self.run = match chunk.iter().rposition(|&b| b == b'\n') {
            Some(last) => got - last - 1,
            None => self.run.saturating_add(got),
        };
        if self.run > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a line longer than {} MiB: not a table of numbers",
                    self.max >> 20
                ),
            ));
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_beyond_the_cap_fails_the_read() {
        let mut ok = Vec::new();
        let text = b"1,2,3\n4,5,6\n".repeat(10);
        line_limited(&text[..], 6).read_to_end(&mut ok).unwrap();
        assert_eq!(ok, text);
        let long = [b"1,2\n".as_slice(), &[b'0'; 100]].concat();
        let e = line_limited(&long[..], 64)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("a line longer than"), "{e}");
    }

    #[test]
    fn a_small_regular_file_is_read_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_limited(&p, 5).unwrap(), b"hello");
        let e = read_limited(&p, 4).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { size: 5, max: 4 }), "{e}");
    }

    #[test]
    fn text_that_is_not_utf8_is_located() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.csv");
        std::fs::write(&p, b"1,2,3\n4,\xe9,6\n").unwrap();
        let e = read_text_limited(&p, 1 << 20).unwrap_err();
        assert!(
            matches!(e, ReadError::NotText { line: 2, column: 3 }),
            "{e}"
        );
        assert!(e.to_string().starts_with("line 2, byte 3"), "{e}");
        std::fs::write(&p, b"\xff").unwrap();
        let e = read_text_limited(&p, 1 << 20).unwrap_err();
        assert!(
            matches!(e, ReadError::NotText { line: 1, column: 1 }),
            "{e}"
        );
    }

    #[test]
    fn directories_and_devices_are_refused_without_reading() {
        let d = tempfile::tempdir().unwrap();
        let e = read_limited(d.path(), 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "a directory, not a regular file");
        #[cfg(unix)]
        {
            let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
            assert_eq!(e.to_string(), "a device, not a regular file");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_limited(&p, 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "a FIFO (named pipe), not a regular file");
    }

    #[test]
    fn a_reader_past_its_limit_fails_instead_of_truncating() {
        let mut r = Limited {
            inner: &b"abcdef"[..],
            left: 4,
            max: 4,
            expected: 4,
        };
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out, b"abcd");
    }
}
