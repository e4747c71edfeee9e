//! Reader for the IDX format of the canonical MNIST files (big-endian, usually gzipped).
//!
//! Layout: a 4-byte magic (0x00000803 for u8 3-D image arrays, 0x00000801 for u8 label
//! vectors), one big-endian u32 per dimension, then the raw bytes. The header is validated
//! against the decompressed size so that a truncated download fails here, with its name, rather
//! than as a wrong accuracy much later.

use crate::bounded::{limit, open_limited};
use hel_runtime::schedule::limits::MAX_DATA_FILE;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use super::DataError;

pub const IMAGES_MAGIC: u32 = 0x0000_0803;
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// `count` images of `rows × cols` bytes, stored image after image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.rows * self.cols;
        &self.pixels[i * s..(i + 1) * s]
    }
}

/// Reads a whole file, gunzipping it if its name ends in `.gz` (a regular file of at most
/// [`MAX_DATA_FILE`] bytes, expanding to at most as many). An IDX file is read no further
/// than one byte past the size its header declares: a small gzip that expands to gigabytes
/// is refused as soon as it passes that size, not after filling memory with it.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = open_limited(path, MAX_DATA_FILE).map_err(|e| DataError::io(path, e.into()))?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let mut reader: Box<dyn Read> = if gz {
        Box::new(limit(GzDecoder::new(BufReader::new(file)), MAX_DATA_FILE))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut head = Vec::with_capacity(16);
    (&mut reader)
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    let rest = declared_len(&head).map_or(MAX_DATA_FILE, |n| n.saturating_add(1)) as usize;
    let mut out = head;
    out.reserve(rest.min(1 << 26));
    reader
        .take(rest.saturating_sub(out.len()) as u64)
        .read_to_end(&mut out)
        .map_err(|e| DataError::io(path, e))?;
    Ok(out)
}

/// The whole size an IDX header declares (header included), if `head` starts one.
fn declared_len(head: &[u8]) -> Option<u64> {
    let words: Vec<u64> = (0..4)
        .filter_map(|w| be_u32(head, w))
        .map(u64::from)
        .collect();
    match words.first().map(|&m| m as u32) {
        Some(IMAGES_MAGIC) if words.len() == 4 => Some(
            words[1]
                .saturating_mul(words[2])
                .saturating_mul(words[3])
                .saturating_add(16),
        ),
        Some(LABELS_MAGIC) if words.len() >= 2 => Some(words[1].saturating_add(8)),
        _ => None,
    }
}

pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_idx_images(read_maybe_gz(path)?, path)
}

pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_idx_labels(read_maybe_gz(path)?, path)
}

fn be_u32(bytes: &[u8], word: usize) -> Option<u32> {
    let b = bytes.get(word * 4..word * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads header word `word`, reporting a too-short file as a size error.
fn header_word(
    bytes: &[u8],
    word: usize,
    header_len: usize,
    path: &Path,
) -> Result<u32, DataError> {
    be_u32(bytes, word).ok_or_else(|| DataError::IdxSize {
        path: path.to_path_buf(),
        found: bytes.len(),
        expected: header_len,
    })
}

/// Parses decompressed IDX image bytes; `path` is only for error messages.
pub fn parse_idx_images(mut bytes: Vec<u8>, path: &Path) -> Result<IdxImages, DataError> {
    let magic = header_word(&bytes, 0, 16, path)?;
    if magic != IMAGES_MAGIC {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            kind: "image",
            found: magic,
            expected: IMAGES_MAGIC,
        });
    }
    let count = header_word(&bytes, 1, 16, path)? as usize;
    let rows = header_word(&bytes, 2, 16, path)? as usize;
    let cols = header_word(&bytes, 3, 16, path)? as usize;
    let expected = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .and_then(|v| v.checked_add(16))
        .unwrap_or(usize::MAX);
    if bytes.len() != expected {
        return Err(DataError::IdxSize {
            path: path.to_path_buf(),
            found: bytes.len(),
            expected,
        });
    }
    bytes.drain(..16);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Parses decompressed IDX label bytes; `path` is only for error messages.
pub fn parse_idx_labels(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    let magic = header_word(&bytes, 0, 8, path)?;
    if magic != LABELS_MAGIC {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            kind: "label",
            found: magic,
            expected: LABELS_MAGIC,
        });
    }
    let count = header_word(&bytes, 1, 8, path)? as usize;
    let expected = count.saturating_add(8);
    if bytes.len() != expected {
        return Err(DataError::IdxSize {
            path: path.to_path_buf(),
            found: bytes.len(),
            expected,
        });
    }
    bytes.drain(..8);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.idx")
    }

    #[test]
    fn rejects_wrong_magic_and_truncation() {
        let mut lab = vec![0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
        assert_eq!(parse_idx_labels(lab.clone(), p()).unwrap(), vec![1, 2, 3]);
        lab.pop();
        let e = parse_idx_labels(lab, p()).unwrap_err();
        assert!(e.to_string().contains("10 bytes"), "{e}");
        let e = parse_idx_labels(vec![0, 0, 8, 3, 0, 0, 0, 0], p()).unwrap_err();
        assert!(matches!(e, DataError::IdxMagic { found: 0x803, .. }), "{e}");
        let e = parse_idx_images(vec![0, 0, 8], p()).unwrap_err();
        assert!(matches!(e, DataError::IdxSize { .. }), "{e}");
        let img = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 9, 8, 7, 6];
        let im = parse_idx_images(img, p()).unwrap();
        assert_eq!((im.count, im.rows, im.cols), (1, 2, 2));
        assert_eq!(im.image(0), &[9, 8, 7, 6]);
    }
}
