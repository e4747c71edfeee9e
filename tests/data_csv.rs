//! The general CSV loader, scaling, design matrix, minibatches and the seeded split.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use hel::data::csv::{load_csv, read_csv, CsvOptions, LabelColumn};
use hel::data::prepare::{prepare_csv, TestSource, STANDARD_SPREAD};
use hel::data::split::{shuffled_indices, train_test_split};
use hel::data::{design_matrix, minibatches, DataError, Dataset, Interval, Scaling};

fn opts(label: &str) -> CsvOptions {
    CsvOptions {
        label_column: label.parse().unwrap(),
    }
}

fn parse(text: &str, label: &str) -> Result<Dataset, DataError> {
    read_csv(
        Cursor::new(text.as_bytes()),
        Path::new("mem.csv"),
        &opts(label),
    )
}

fn err(text: &str, label: &str) -> String {
    parse(text, label).unwrap_err().to_string()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A file removed when dropped; its name ends in `name`, as error messages show it.
fn scratch_file(name: &str, bytes: &[u8]) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("hel-csv-test-")
        .suffix(&format!("-{name}"))
        .tempfile()
        .unwrap();
    file.write_all(bytes).unwrap();
    file.into_temp_path()
}

#[test]
fn label_column_spec_parses() {
    assert_eq!("last".parse::<LabelColumn>().unwrap(), LabelColumn::Last);
    assert_eq!("LAST".parse::<LabelColumn>().unwrap(), LabelColumn::Last);
    assert_eq!("0".parse::<LabelColumn>().unwrap(), LabelColumn::Index(0));
    assert_eq!(
        "target".parse::<LabelColumn>().unwrap(),
        LabelColumn::Name("target".into())
    );
    assert_eq!(LabelColumn::default(), LabelColumn::Last);
}

#[test]
fn header_names_columns_and_label_by_name_index_or_last() {
    let text = "a,y,b\n1,1,2\n3,0,4\n";
    for spec in ["y", "1"] {
        let d = parse(text, spec).unwrap();
        assert_eq!(d.labels, vec![1.0, -1.0]);
        assert_eq!(d.features.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            d.feature_names,
            Some(vec!["a".to_string(), "b".to_string()])
        );
    }
    let d = parse("a,b,y\n1,2,-1\n3,4,+1\n", "last").unwrap();
    assert_eq!(d.labels, vec![-1.0, 1.0]);
    assert_eq!(d.features.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn no_header_means_every_row_is_data() {
    let d = parse("1.5,2,1\n3,-4e-1,0\n", "last").unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.feature_names, None);
    assert_eq!(d.features.as_slice(), &[1.5, 2.0, 3.0, -0.4]);
    assert_eq!(d.labels, vec![1.0, -1.0]);
    let e = err("1,2,1\n3,4,0\n", "y");
    assert!(e.contains("no header row"), "{e}");
}

#[test]
fn utf8_byte_order_mark_is_ignored() {
    let d = parse("\u{feff}a,y\n1,1\n", "a").unwrap();
    assert_eq!(d.labels, vec![1.0]);
    assert_eq!(d.feature_names.unwrap(), vec!["y"]);
}

#[test]
fn crlf_blank_lines_and_spaces_are_fine() {
    let d = parse("x1, x2 ,label\r\n1, 2,1\r\n\r\n3 ,4,0\r\n", "label").unwrap();
    assert_eq!(d.features.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(d.labels, vec![1.0, -1.0]);
    assert_eq!(d.feature_names.unwrap(), vec!["x1", "x2"]);
}

#[test]
fn labels_zero_one_plus_minus_and_bad_ones() {
    assert_eq!(
        parse("1,0\n2,1\n3,1.0\n", "last").unwrap().labels,
        [-1.0, 1.0, 1.0]
    );
    assert_eq!(parse("1,-1\n2,1\n", "last").unwrap().labels, [-1.0, 1.0]);
    let e = err("a,y\n1,1\n2,2\n", "y");
    assert!(e.starts_with("mem.csv:3: bad label `2`"), "{e}");
    let e = err("a,y\n1,0\n2,1\n3,-1\n", "y");
    assert!(
        e.starts_with("mem.csv:4: bad label `-1`") && e.contains("line 2"),
        "{e}"
    );
    let e = err("1,yes\n2,no\n", "last");
    // "yes" makes line 1 a header; the first data row is line 2.
    assert!(e.starts_with("mem.csv:2: bad label `no`"), "{e}");
    let e = err("1,1\n2,\n", "last");
    assert!(e.starts_with("mem.csv:2: bad label ``"), "{e}");
    // A bad label in the first row of a header-less file is reported, not taken as a header.
    let e = err("1,2,x\n1,2,0\n", "last");
    assert!(e.starts_with("mem.csv:1: bad label `x`"), "{e}");
    let e = err("1,2,x\n", "last");
    assert!(e.starts_with("mem.csv:1: bad label `x`"), "{e}");
    let e = err("1,1\n2,\n", "last");
    assert!(e.starts_with("mem.csv:2: bad label ``"), "{e}");
}

#[test]
fn missing_and_non_numeric_values_name_line_and_column() {
    let e = err("a,b,y\n1,2,1\n3,,0\n", "y");
    assert_eq!(e, "mem.csv:3: column 2 (b): missing value");
    let e = err("1,2,1\n3,abc,0\n", "last");
    assert_eq!(e, "mem.csv:2: column 2: `abc` is not a finite number");
    let e = err("a,b,y\n1,2,1\n3,4,1\n5,NaN,0\n", "y");
    assert!(e.starts_with("mem.csv:4: column 2 (b): `NaN`"), "{e}");
    // A typo in the first row of a header-less file is reported, not dropped as a header.
    let e = err("1,2o,3,1\n3,4,5,0\n", "last");
    assert_eq!(e, "mem.csv:1: column 2: `2o` is not a finite number");
    let e = err("a,b,y\n1,2,1\n3,4\n", "y");
    assert_eq!(e, "mem.csv:3: 2 columns, expected 3 (as on line 2)");
    // A ragged first data row is the one named, not the good row after it.
    let e = err("a,b,y\n1,2,3,1\n3,4,1\n", "y");
    assert_eq!(e, "mem.csv:2: 4 columns, expected 3 (as on line 3)");
    let e = err("a,b,y\n1,1\n3,4,1\n5,6,0\n", "y");
    assert_eq!(e, "mem.csv:2: 2 columns, expected 3 (as on line 3)");
}

#[test]
fn label_column_errors_are_clear() {
    let e = err("a,b,y\n1,2,1\n", "target");
    assert!(e.contains("no such column; columns are a, b, y"), "{e}");
    let e = err("a,b,y\n1,2,1\n", "3");
    assert!(e.contains("out of range"), "{e}");
    let e = err("", "last");
    assert_eq!(e, "mem.csv: no data rows");
    let e = err("a,b\n", "last");
    assert_eq!(e, "mem.csv: no data rows");
    let e = err("1\n0\n", "last");
    assert!(
        e.contains("need a label column and at least one feature"),
        "{e}"
    );
}

#[test]
fn gzip_files_and_file_names_in_errors() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"a,y\r\n0.5,1\r\n0.25,0\r\n").unwrap();
    let gz = scratch_file("ok.csv.gz", &enc.finish().unwrap());
    let d = load_csv(&gz, &opts("y")).unwrap();
    assert_eq!(d.features.as_slice(), &[0.5, 0.25]);
    let bad = scratch_file("bad.csv", b"a,y\n1,1\n?,0\n");
    let e = load_csv(&bad, &opts("y")).unwrap_err().to_string();
    assert!(
        e.ends_with("bad.csv:3: column 1 (a): `?` is not a finite number"),
        "{e}"
    );
    let e = load_csv(Path::new("/nonexistent/x.csv"), &opts("y"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/x.csv: "), "{e}");
    let _ = std::fs::remove_file(gz);
    let _ = std::fs::remove_file(bad);
}

#[test]
fn sklearn_breast_cancer_metadata_line_is_skipped() {
    // First line `569,30,malignant,benign`: non-numeric, and not as wide as the data, so it is a
    // metadata line rather than column names.
    let d = load_csv(&fixture("breast_cancer_head.csv"), &CsvOptions::default()).unwrap();
    assert_eq!((d.len(), d.n_features(), d.positives()), (60, 30, 13));
    assert_eq!(d.feature_names, None);
    assert_eq!(d.features.row(0)[0], 17.99);
    let e = load_csv(&fixture("breast_cancer_head.csv"), &opts("target")).unwrap_err();
    assert!(e.to_string().contains("no header row"), "{e}");

    let full =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sklearn/breast_cancer.csv");
    if full.exists() {
        let d = load_csv(&full, &CsvOptions::default()).unwrap();
        assert_eq!((d.len(), d.n_features(), d.positives()), (569, 30, 357));
    } else {
        eprintln!(
            "note: {} not found; skipping the full-file check",
            full.display()
        );
    }
}

#[test]
fn split_is_deterministic_and_a_partition() {
    let d = load_csv(&fixture("breast_cancer_head.csv"), &CsvOptions::default()).unwrap();
    let (tr1, te1) = train_test_split(&d, 0.2, 7).unwrap();
    let (tr2, te2) = train_test_split(&d, 0.2, 7).unwrap();
    assert_eq!((tr1.len(), te1.len()), (48, 12));
    assert_eq!((&tr1, &te1), (&tr2, &te2));
    let (_, te3) = train_test_split(&d, 0.2, 8).unwrap();
    assert_ne!(te1, te3);
    // Every row ends up on exactly one side.
    let mut idx = shuffled_indices(60, 7);
    assert_eq!(&idx[..3], &shuffled_indices(60, 7)[..3]);
    idx.sort_unstable();
    assert_eq!(idx, (0..60).collect::<Vec<_>>());
    let total: f64 = d.features.as_slice().iter().sum();
    let parts: f64 = tr1
        .features
        .as_slice()
        .iter()
        .chain(te1.features.as_slice())
        .sum();
    assert!((total - parts).abs() < 1e-9 * total.abs());
    assert!(matches!(
        train_test_split(&d, 1.0, 0),
        Err(DataError::BadFraction(_))
    ));
    assert!(matches!(
        train_test_split(&d, 0.001, 0),
        Err(DataError::SplitTooSmall { .. })
    ));
}

#[test]
fn scaling_design_matrix_and_minibatches() {
    let d = parse("f1,f2,y\n0,10,1\n5,10,0\n10,10,1\n25,10,0\n", "y").unwrap();
    // f1: mean 10, population std sqrt((100 + 25 + 0 + 225) / 4) = sqrt(87.5); mean ± 2 std
    // onto [-1, 1].
    let s = Scaling::fit_standard(&d, 2.0);
    let sd = 87.5f64.sqrt();
    assert!((s.lower[0] - (10.0 - 2.0 * sd)).abs() < 1e-12, "{s:?}");
    assert!((s.range[0] - 4.0 * sd).abs() < 1e-12, "{s:?}");
    assert_eq!((s.lower[1], s.range[1]), (9.5, 1.0));
    assert_eq!(s.target, Interval::Symmetric);
    let z = design_matrix(&d, &s).unwrap();
    assert_eq!(z.cols(), 3);
    // Bias first, label folded in, features (x - mean) / (2 std), constant feature → 0.
    let want = |x: f64| (x - 10.0) / (2.0 * sd);
    for (r, (x, y)) in [(0.0, 1.0), (5.0, -1.0), (10.0, 1.0), (25.0, -1.0)]
        .into_iter()
        .enumerate()
    {
        let row = z.row(r);
        assert_eq!(row[0], y);
        assert!((row[1] - y * want(x)).abs() < 1e-12, "row {r}: {row:?}");
        assert_eq!(row[2].abs(), 0.0);
    }
    // Fitted on rows 0..3 (mean 5, std sqrt(50/3)): row 3's f1 = 25 is 2.45 std away, clamped
    // to 1.
    let s = Scaling::fit_standard(&d.select(&[0, 1, 2]), 2.0);
    assert_eq!(design_matrix(&d, &s).unwrap().row(3)[1], -1.0);
    // MNIST's fixed scaling stays on [0, 1] (x/255, the published setting).
    let m = Scaling::fixed(2, 0.0, 20.0);
    assert_eq!(m.target, Interval::Unit);
    assert_eq!(design_matrix(&d, &m).unwrap().row(1), &[-1.0, -0.25, -0.5]);
    let z = design_matrix(&d, &Scaling::fit_standard(&d, 2.0)).unwrap();

    let b = minibatches(&z, 3).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].rows(), 3);
    assert_eq!(minibatches(&z, 2).unwrap()[1].row(0), z.row(2));
    let e = minibatches(&z, 5).unwrap_err().to_string();
    assert_eq!(
        e,
        "4 training rows are fewer than one minibatch of 5; use a smaller minibatch"
    );

    let wrong = Scaling::fixed(3, 0.0, 1.0);
    assert!(matches!(
        design_matrix(&d, &wrong),
        Err(DataError::FeatureCountMismatch { .. })
    ));
}

#[test]
fn prepare_csv_with_fraction_or_test_file() {
    let path = fixture("breast_cancer_head.csv");
    let p = prepare_csv(&path, &TestSource::default(), &CsvOptions::default(), 42).unwrap();
    assert_eq!((p.train.len(), p.test.len()), (48, 12));
    let z = p.z_train().unwrap();
    assert!(z.as_slice().iter().all(|v| v.abs() <= 1.0));
    assert_eq!(p.scaling, Scaling::fit_standard(&p.train, STANDARD_SPREAD));
    assert_eq!(
        p,
        prepare_csv(&path, &TestSource::default(), &CsvOptions::default(), 42).unwrap()
    );

    let p = prepare_csv(
        &path,
        &TestSource::File(path.clone()),
        &CsvOptions::default(),
        1,
    )
    .unwrap();
    assert_eq!((p.train.len(), p.test.len()), (60, 60));
    assert_eq!(p.train.positives(), 13);

    let other = scratch_file("narrow.csv", b"1,2,1\n3,4,0\n");
    let e = prepare_csv(
        &path,
        &TestSource::File(other.to_path_buf()),
        &CsvOptions::default(),
        1,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "test data has 2 features but training data has 30");
}

/// Training rows of one class only (every label 1, or every label 0) are refused before any
/// training: no weights separate them, and the encrypted run would end in a range error that
/// says nothing about the labels.
#[test]
fn training_rows_of_one_class_are_refused() {
    let ones: String = (0..20).map(|i| format!("{}.5,1\n", i % 7)).collect();
    let zeros = ones.replace(",1\n", ",0\n");
    for (text, class) in [(ones, "positive (1)"), (zeros, "negative (0 or -1)")] {
        let file = scratch_file("one_class.csv", text.as_bytes());
        let e = prepare_csv(&file, &TestSource::default(), &CsvOptions::default(), 7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("are of the {class} class"))
                && e.contains("needs examples of both"),
            "{e}"
        );
    }
    // Both classes present: prepared.
    let mixed: String = (0..20)
        .map(|i| format!("{}.5,{}\n", i % 7, i % 2))
        .collect();
    let file = scratch_file("mixed.csv", mixed.as_bytes());
    assert!(prepare_csv(&file, &TestSource::default(), &CsvOptions::default(), 7).is_ok());
}
