//! The bundled MNIST 3-vs-8 files: checksums, shape, regeneration from the canonical IDX files
//! (when `../shared/data/mnist` is beside the checkout), and the `hel data mnist-3v8` CLI.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::read::GzDecoder;
use hel::data::mnist::{self, BUNDLED_TEST_GZ, BUNDLED_TRAIN_GZ};

/// blake3 of the decompressed CSV content (sha256 values are in examples/data/README.md).
const TRAIN_CSV_BLAKE3: &str = "408d69f8163733f92e90fbf73b8c38581af0945edd099c67032de8fb5cb5b2bf";
const TEST_CSV_BLAKE3: &str = "804066c902d2b3ee31600bddc6fc33dcbc55c95ed0fb95d8d9aeae5d8748e6dd";

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn bundled_files_have_the_recorded_checksums() {
    let train = blake3::hash(&gunzip(BUNDLED_TRAIN_GZ)).to_hex().to_string();
    let test = blake3::hash(&gunzip(BUNDLED_TEST_GZ)).to_hex().to_string();
    println!("train {train}\ntest  {test}");
    assert_eq!(
        train, TRAIN_CSV_BLAKE3,
        "mnist_3v8_train.csv.gz content changed"
    );
    assert_eq!(
        test, TEST_CSV_BLAKE3,
        "mnist_3v8_test.csv.gz content changed"
    );
    // Small enough to commit and to compile into the library.
    assert!(BUNDLED_TRAIN_GZ.len() + BUNDLED_TEST_GZ.len() < 2_000_000);
}

#[test]
fn bundled_files_load_with_the_canonical_counts() {
    let train = mnist::bundled_train().unwrap();
    let test = mnist::bundled_test().unwrap();
    assert_eq!((train.len(), train.positives()), (11_982, 6131));
    assert_eq!((test.len(), test.positives()), (1_984, 1010));
    assert_eq!(train.n_features(), 196);
    let names = train.feature_names.as_ref().unwrap();
    assert_eq!((names[0].as_str(), names[195].as_str()), ("p0", "p195"));
    assert!(train.labels.iter().all(|&y| y == 1.0 || y == -1.0));
    let s = train.features.as_slice();
    assert!(s
        .iter()
        .all(|&x| (0.0..=255.0).contains(&x) && x.fract() == 0.0));
    assert_eq!(s.iter().cloned().fold(0.0, f64::max), 255.0);
}

fn shared_mnist() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if dir.join(mnist::TRAIN_IMAGES).exists() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} not found; skipping the regeneration check",
            dir.display()
        );
        None
    }
}

#[test]
fn regenerating_from_idx_reproduces_the_bundled_files() {
    let Some(dir) = shared_mnist() else { return };
    let data = mnist::build_from_idx_dir(&dir).unwrap();
    assert_eq!((data.train.len(), data.train.threes()), (11_982, 6131));
    assert_eq!((data.test.len(), data.test.threes()), (1_984, 1010));
    assert!(
        data.train.csv_bytes() == gunzip(BUNDLED_TRAIN_GZ),
        "train content differs"
    );
    assert!(
        data.test.csv_bytes() == gunzip(BUNDLED_TEST_GZ),
        "test content differs"
    );
    // Same gzip bytes too: the writer is deterministic.
    let gz = data.test.write_csv_gz(Vec::new()).unwrap();
    assert!(
        gz == BUNDLED_TEST_GZ,
        "gzip bytes differ (flate2 backend change?)"
    );
}

/// A fresh scratch directory, removed when dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hel-data-test-{name}-"))
        .tempdir()
        .unwrap()
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
}

/// Writes a tiny fake MNIST (28×28 images, given labels) in canonical IDX form.
fn fake_idx(dir: &Path, labels: &[u8]) {
    for (img, lab) in [
        (mnist::TRAIN_IMAGES, mnist::TRAIN_LABELS),
        (mnist::TEST_IMAGES, mnist::TEST_LABELS),
    ] {
        let mut im = vec![0, 0, 8, 3];
        im.extend((labels.len() as u32).to_be_bytes());
        im.extend(28u32.to_be_bytes());
        im.extend(28u32.to_be_bytes());
        for (i, _) in labels.iter().enumerate() {
            im.extend((0..784).map(|p| ((p * 7 + i * 13) % 256) as u8));
        }
        write_gz(&dir.join(img), &im);
        let mut lb = vec![0, 0, 8, 1];
        lb.extend((labels.len() as u32).to_be_bytes());
        lb.extend_from_slice(labels);
        write_gz(&dir.join(lab), &lb);
    }
}

fn hel(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn cli_builds_refuses_to_overwrite_and_forces() {
    let scratch = scratch("cli");
    let dir = scratch.path();
    let idx = dir.join("idx");
    fs::create_dir_all(&idx).unwrap();
    fake_idx(&idx, &[3, 8, 1, 3, 9, 8, 8]);
    let out = dir.join("out");
    let (i, o) = (idx.to_str().unwrap(), out.to_str().unwrap());

    let (ok, text) = hel(&["data", "mnist-3v8", "--idx-dir", i, "--out-dir", o]);
    assert!(ok, "{text}");
    assert!(text.contains("5 rows, 2 threes, 3 eights"), "{text}");
    let first = fs::read(out.join(mnist::TRAIN_FILE)).unwrap();
    let csv = String::from_utf8(gunzip(&first)).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.starts_with("label,p0,p1,"));
    let labels: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    assert_eq!(labels, ["1", "-1", "1", "-1", "-1"]);

    let (ok, text) = hel(&["data", "mnist-3v8", "--idx-dir", i, "--out-dir", o]);
    assert!(!ok && text.contains("refusing"), "{text}");

    let (ok, text) = hel(&[
        "data",
        "mnist-3v8",
        "--idx-dir",
        i,
        "--out-dir",
        o,
        "--force",
    ]);
    assert!(ok, "{text}");
    // Deterministic output, and no temporary files left behind.
    assert_eq!(fs::read(out.join(mnist::TRAIN_FILE)).unwrap(), first);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 2);
}

#[test]
fn cli_reports_bad_idx_files_by_name() {
    let scratch = scratch("bad");
    let dir = scratch.path();
    fake_idx(dir, &[3, 8]);
    // Wrong magic in the training labels.
    write_gz(
        &dir.join(mnist::TRAIN_LABELS),
        &[0, 0, 8, 3, 0, 0, 0, 2, 3, 8],
    );
    let d = dir.to_str().unwrap();
    let o = dir.join("out");
    let (ok, text) = hel(&[
        "data",
        "mnist-3v8",
        "--idx-dir",
        d,
        "--out-dir",
        o.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("train-labels-idx1-ubyte.gz") && text.contains("magic"),
        "{text}"
    );

    // Truncated images.
    fake_idx(dir, &[3, 8]);
    let mut im = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    im.extend(vec![0u8; 784 + 5]);
    write_gz(&dir.join(mnist::TEST_IMAGES), &im);
    let (ok, text) = hel(&[
        "data",
        "mnist-3v8",
        "--idx-dir",
        d,
        "--out-dir",
        o.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("t10k-images-idx3-ubyte.gz") && text.contains("1584"),
        "{text}"
    );
    assert!(!o.exists(), "nothing may be written on failure");
}
