//! MNIST 3-vs-8 (Han et al.'s task): building it from the canonical IDX files, writing the compact
//! gzip CSVs bundled in `examples/data/`, and loading those bundled files.
//!
//! Recipe (notes §5.1): keep digits 3 and 8 in file order; downsample 28×28 to 14×14 by the floor
//! of the mean of each 2×2 block (integers 0..255); label +1 for 3 and −1 for 8. The canonical
//! files give 11,982 training rows (6131 threes) and 1,984 test rows (1010 threes).
//!
//! The bundled files are compiled into the library (`include_bytes!`, ~1.5 MB), so
//! `hel train` works from any directory of a fresh clone without extra downloads.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use super::csv::{read_csv, CsvOptions, LabelColumn};
use super::idx::{read_idx_images, read_idx_labels, IdxImages};
use super::{DataError, Dataset, Scaling};

/// 14 × 14 pooled pixels.
pub const N_FEATURES: usize = 196;
/// Rows of the canonical training split.
pub const TRAIN_ROWS: usize = 11_982;
/// Rows of the canonical test split.
pub const TEST_ROWS: usize = 1_984;

/// File names of the canonical LeCun files.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte.gz";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte.gz";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

/// Output names inside `--out-dir`.
pub const TRAIN_FILE: &str = "mnist_3v8_train.csv.gz";
pub const TEST_FILE: &str = "mnist_3v8_test.csv.gz";

/// The bundled files, as committed in `examples/data/`.
pub static BUNDLED_TRAIN_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/mnist_3v8_train.csv.gz"
));
pub static BUNDLED_TEST_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/mnist_3v8_test.csv.gz"
));

/// One split in its compact integer form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist3v8Split {
    /// n × 196 pooled pixels, row-major.
    pub pixels: Vec<u8>,
    /// n labels: +1 (digit 3) or −1 (digit 8).
    pub labels: Vec<i8>,
}

/// Both splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist3v8 {
    pub train: Mnist3v8Split,
    pub test: Mnist3v8Split,
}

impl Mnist3v8Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of threes (+1 labels).
    pub fn threes(&self) -> usize {
        self.labels.iter().filter(|&&y| y > 0).count()
    }

    /// As a [`Dataset`] with raw features 0..255 (scale with [`scaling`]).
    pub fn to_dataset(&self) -> Dataset {
        let features = self.pixels.iter().map(|&p| f64::from(p)).collect();
        let labels = self.labels.iter().map(|&y| f64::from(y)).collect();
        Dataset::new(
            super::Matrix::from_vec(self.len(), N_FEATURES, features),
            labels,
            Some(feature_names()),
        )
    }

    /// The uncompressed CSV text: header `label,p0,…,p195`, then `±1,` and 196 integers per row.
    pub fn csv_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * 600);
        out.extend_from_slice(b"label");
        for name in feature_names() {
            out.push(b',');
            out.extend_from_slice(name.as_bytes());
        }
        out.push(b'\n');
        for (row, &y) in self.pixels.chunks_exact(N_FEATURES).zip(&self.labels) {
            out.extend_from_slice(if y > 0 { b"1" } else { b"-1" });
            for &p in row {
                out.push(b',');
                out.extend_from_slice(p.to_string().as_bytes());
            }
            out.push(b'\n');
        }
        out
    }

    /// Writes the gzip CSV. The gzip header has mtime 0, no file name and OS byte 255
    /// ("unknown"), so the same data always gives the same bytes (for a given flate2 backend).
    pub fn write_csv_gz<W: Write>(&self, w: W) -> io::Result<W> {
        let mut enc = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(w, Compression::best());
        enc.write_all(&self.csv_bytes())?;
        enc.finish()
    }
}

/// `p0`, …, `p195`: pixel (r, c) of the 14×14 image is `p{14r + c}`.
pub fn feature_names() -> Vec<String> {
    (0..N_FEATURES).map(|i| format!("p{i}")).collect()
}

/// The scaling the reference uses: x / 255 exactly.
pub fn scaling() -> Scaling {
    Scaling::fixed(N_FEATURES, 0.0, 255.0)
}

/// 28×28 → 14×14: floor of the mean of each 2×2 block.
pub fn pool_2x2(image: &[u8]) -> [u8; N_FEATURES] {
    let mut out = [0u8; N_FEATURES];
    for r in 0..14 {
        for c in 0..14 {
            let at = |dr: usize, dc: usize| u16::from(image[(2 * r + dr) * 28 + 2 * c + dc]);
            // Sum ≤ 4·255 = 1020, so the quotient fits in u8.
            out[r * 14 + c] = ((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4) as u8;
        }
    }
    out
}

/// Keeps digits 3 and 8 in file order, pooled, labelled ±1.
pub fn select_3v8(images: &IdxImages, labels: &[u8]) -> Mnist3v8Split {
    let mut split = Mnist3v8Split {
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for (i, &l) in labels.iter().enumerate() {
        if l == 3 || l == 8 {
            split.pixels.extend_from_slice(&pool_2x2(images.image(i)));
            split.labels.push(if l == 3 { 1 } else { -1 });
        }
    }
    split
}

fn load_split(dir: &Path, images: &str, labels: &str) -> Result<Mnist3v8Split, DataError> {
    let (ip, lp) = (dir.join(images), dir.join(labels));
    let im = read_idx_images(&ip)?;
    if (im.rows, im.cols) != (28, 28) {
        return Err(DataError::IdxDims {
            path: ip,
            rows: im.rows,
            cols: im.cols,
        });
    }
    let lab = read_idx_labels(&lp)?;
    if lab.len() != im.count {
        return Err(DataError::IdxCountMismatch {
            images_path: ip,
            images: im.count,
            labels_path: lp,
            labels: lab.len(),
        });
    }
    if let Some((index, &label)) = lab.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(DataError::IdxLabel {
            path: lp,
            index,
            label,
        });
    }
    Ok(select_3v8(&im, &lab))
}

/// Builds both splits from a directory holding the four canonical `.gz` IDX files.
pub fn build_from_idx_dir(dir: &Path) -> Result<Mnist3v8, DataError> {
    Ok(Mnist3v8 {
        train: load_split(dir, TRAIN_IMAGES, TRAIN_LABELS)?,
        test: load_split(dir, TEST_IMAGES, TEST_LABELS)?,
    })
}

/// Writes `mnist_3v8_{train,test}.csv.gz` into `out_dir` (created if missing). Refuses to
/// overwrite either file unless `force`; each file is written to a temporary name and renamed,
/// so a crash never leaves a half-written data set behind.
pub fn write_outputs(
    data: &Mnist3v8,
    out_dir: &Path,
    force: bool,
) -> Result<[PathBuf; 2], DataError> {
    let targets = [out_dir.join(TRAIN_FILE), out_dir.join(TEST_FILE)];
    if !force {
        if let Some(p) = targets.iter().find(|p| p.exists()) {
            return Err(DataError::OutputExists { path: p.clone() });
        }
    }
    fs::create_dir_all(out_dir).map_err(|e| DataError::io(out_dir, e))?;
    for (split, target) in [&data.train, &data.test].into_iter().zip(&targets) {
        write_atomically(target, |w| split.write_csv_gz(w).map(drop))?;
    }
    Ok(targets)
}

/// Writes via `<dir>/.<name>.tmp-<pid>` + fsync + rename.
fn write_atomically(
    target: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), DataError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(DataError::io(target, e));
    }
    Ok(())
}

fn load_bundled(bytes: &'static [u8], name: &str) -> Result<Dataset, DataError> {
    let opts = CsvOptions {
        label_column: LabelColumn::Name("label".into()),
    };
    read_csv(flate2::read::GzDecoder::new(bytes), Path::new(name), &opts)
}

/// The bundled training split (11,982 rows, raw features 0..255), in MNIST file order.
pub fn bundled_train() -> Result<Dataset, DataError> {
    load_bundled(
        BUNDLED_TRAIN_GZ,
        "examples/data/mnist_3v8_train.csv.gz (bundled)",
    )
}

/// The bundled test split (1,984 rows, raw features 0..255), in MNIST file order.
pub fn bundled_test() -> Result<Dataset, DataError> {
    load_bundled(
        BUNDLED_TEST_GZ,
        "examples/data/mnist_3v8_test.csv.gz (bundled)",
    )
}
