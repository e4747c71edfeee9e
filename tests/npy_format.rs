//! The `.npy` reader and writer (`hel::data::npy`): what `np.save` writes reads back, every
//! dtype the reader claims converts exactly, and hostile files (huge or overflowing shapes,
//! lying header lengths, unsupported dtypes, Fortran order, truncated or trailing data,
//! NaN) get an error naming the problem, never a panic or an allocation of what the file
//! merely claims.

use hel::data::csv::{CsvOptions, LabelColumn};
use hel::data::npy::{load_dataset, parse_npy, read_npy, write_npy, NpyArray};

/// A `.npy` file with this header dict and raw data, version 1.0 (as np.save writes it).
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

fn err(bytes: &[u8]) -> String {
    parse_npy(bytes).expect_err("must be refused")
}

#[test]
fn written_arrays_read_back_with_numpy_layout() {
    for (shape, data) in [
        (vec![], vec![-2.5]),
        (vec![3], vec![1.0, -0.1, 1e300]),
        (vec![2, 3], vec![0.1, 0.2, 0.3, -4.0, 5e-12, 6.0]),
        (vec![2, 0], vec![]),
    ] {
        let bytes = write_npy(&shape, &data);
        // np.save aligns the data to 64 bytes and ends the header with a newline.
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        let text = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
        assert!(text.contains("'descr': '<f8'"), "{text}");
        let back = parse_npy(&bytes).expect("reads back");
        assert_eq!(back, NpyArray { shape, data });
    }
    // A 1-D shape is written as a one-element tuple, `(3,)`, as Python requires.
    let b = write_npy(&[3], &[0.0; 3]);
    assert!(String::from_utf8_lossy(&b).contains("'shape': (3,)"));
}

#[test]
fn every_supported_dtype_converts_exactly() {
    let le = |v: &[i64], n: usize| -> Vec<u8> {
        v.iter()
            .flat_map(|x| x.to_le_bytes()[..n].to_vec())
            .collect()
    };
    let cases: Vec<(&str, Vec<u8>, Vec<f64>)> = vec![
        (
            "<f4",
            [1.5f32, -0.25]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            vec![1.5, -0.25],
        ),
        (
            ">f8",
            [3.0f64, -1e-3]
                .iter()
                .flat_map(|x| x.to_be_bytes())
                .collect(),
            vec![3.0, -1e-3],
        ),
        ("<i2", le(&[-300, 7], 2), vec![-300.0, 7.0]),
        (
            "<i8",
            le(&[-5, 1 << 40], 8),
            vec![-5.0, (1u64 << 40) as f64],
        ),
        ("|i1", le(&[-128, 127], 1), vec![-128.0, 127.0]),
        ("|u1", vec![255, 0], vec![255.0, 0.0]),
        ("<u4", le(&[4_000_000_000, 1], 4), vec![4e9, 1.0]),
        (
            ">i4",
            [-2i32, 9].iter().flat_map(|x| x.to_be_bytes()).collect(),
            vec![-2.0, 9.0],
        ),
        ("|b1", vec![1, 0], vec![1.0, 0.0]),
    ];
    for (descr, data, want) in cases {
        let a = parse_npy(&npy(&header(descr, "(2,)"), &data))
            .unwrap_or_else(|e| panic!("{descr}: {e}"));
        assert_eq!(a.data, want, "{descr}");
        assert_eq!(a.shape, vec![2]);
    }
    // Double quotes, no trailing comma, spaces, Python 2 long dimensions: still np.save's dict.
    let a = parse_npy(&npy(
        "{ \"shape\" : (2L, 1L) , \"fortran_order\":False,\"descr\":\"<f8\" }",
        &[1.0f64, 2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    ))
    .expect("reads");
    assert_eq!(a.shape, vec![2, 1]);
}

#[test]
fn hostile_files_are_refused_with_a_reason() {
    let f8 = |n: usize| vec![0u8; 8 * n];
    // Shapes that claim far more than the file holds, or overflow when multiplied.
    let e = err(&npy(&header("<f8", "(4294967296, 4294967296)"), &f8(1)));
    assert!(e.contains("more than"), "{e}");
    let e = err(&npy(&header("<f8", "(18446744073709551615, 2)"), &f8(1)));
    assert!(e.contains("more than"), "{e}");
    let e = err(&npy(&header("<f8", "(99999999999999999999999,)"), &f8(1)));
    assert!(e.contains("malformed header"), "{e}");
    let e = err(&npy(&header("<f8", "(-3,)"), &f8(1)));
    assert!(e.contains("malformed header"), "{e}");
    // A header length far beyond the file (version 2.0: 4-byte length) is not allocated.
    let mut lying = b"\x93NUMPY\x02\x00".to_vec();
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    lying.extend_from_slice(b"{'descr': '<f8'");
    let e = err(&lying);
    assert!(e.contains("claims 4294967295 bytes"), "{e}");
    // Truncated and trailing data.
    let e = err(&npy(&header("<f8", "(3, 2)"), &f8(5)));
    assert!(e.contains("needs 48 data bytes, the file has 40"), "{e}");
    let e = err(&npy(&header("<f8", "(2,)"), &f8(3)));
    assert!(e.contains("needs 16 data bytes"), "{e}");
    assert!(err(&npy(&header("<f8", "(2,)"), &f8(2))[..40]).contains("header"));
    assert!(err(b"\x93NUMPY\x01").contains("ends inside its header"));
    // Dtypes hel does not read.
    for d in ["<c16", "|O", "<U3", "|S4", "<f2", "<M8[ns]", "<i3", "f8"] {
        let e = err(&npy(&header(d, "(1,)"), &f8(2)));
        assert!(e.contains("not supported"), "{d}: {e}");
    }
    let e = err(&npy(
        "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
        &f8(1),
    ));
    assert!(e.contains("structured"), "{e}");
    // Fortran order: refused, saying how to save it.
    let e = err(&npy(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
        &f8(4),
    ));
    assert!(e.contains("ascontiguousarray"), "{e}");
    // Not .npy at all, another version, a broken dict, missing keys.
    assert!(err(b"1,2,3\n").contains("not a NumPy .npy file"));
    let mut v9 = npy(&header("<f8", "(1,)"), &f8(1));
    v9[6] = 9;
    assert!(err(&v9).contains("version 9.0"));
    assert!(err(&npy("{'descr': '<f8', 'shape': (1,)}", &f8(1))).contains("needs descr"));
    assert!(err(&npy("{'descr': '<f8', 'shape': (1,", &f8(1))).contains("malformed"));
    assert!(err(&npy(&(header("<f8", "(1,)") + " x"), &f8(1))).contains("after the dict"));
    // Non-finite values name their index.
    let nan: Vec<u8> = [1.0, f64::NAN, 0.0, f64::INFINITY]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let e = err(&npy(&header("<f8", "(2, 2)"), &nan));
    assert!(e.contains("entry [0, 1]") && e.contains("NaN"), "{e}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("bad.npy");
    std::fs::write(&p, npy(&header("<c8", "(1,)"), &[0; 8])).expect("write");
    let e = read_npy(&p).expect_err("refused");
    assert!(e.starts_with(&format!("{}: dtype", p.display())), "{e}");
    let e = read_npy(&dir.path().join("missing.npy")).expect_err("refused");
    assert!(e.contains("missing.npy"), "{e}");
    // A directory named like a .npy file is not read.
    let d = dir.path().join("d.npy");
    std::fs::create_dir(&d).expect("mkdir");
    assert!(read_npy(&d).expect_err("refused").contains("d.npy"));
}

#[test]
fn training_data_is_a_2d_array_with_a_label_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("train.npy");
    let rows = [[0.5, 2.0, 1.0], [-1.0, 3.0, 0.0], [0.0, 4.0, 1.0]];
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    std::fs::write(&p, write_npy(&[3, 3], &flat)).expect("write");
    let d = load_dataset(&p, &CsvOptions::default()).expect("loads");
    assert_eq!(d.labels, vec![1.0, -1.0, 1.0]);
    assert_eq!(d.features.row(1), &[-1.0, 3.0]);
    assert_eq!(d.feature_names, None);
    // The label in another column, by index; 0/1 mixed with -1 is refused.
    let opts = CsvOptions {
        label_column: LabelColumn::Index(0),
    };
    let e = load_dataset(&p, &opts).expect_err("0.5 is no label");
    assert!(e.to_string().contains("row 0: label 0.5"), "{e}");
    let mixed = [1.0, 0.0, 2.0, -1.0];
    std::fs::write(&p, write_npy(&[2, 2], &mixed)).expect("write");
    let e = load_dataset(&p, &CsvOptions::default()).expect_err("mixed");
    assert!(e.to_string().contains("not both"), "{e}");
    // Names need a header, which .npy files do not have; 1-D arrays are no table.
    let named = CsvOptions {
        label_column: LabelColumn::Name("y".into()),
    };
    std::fs::write(&p, write_npy(&[2, 2], &[1.0, 0.0, 2.0, 1.0])).expect("write");
    let e = load_dataset(&p, &named).expect_err("no names");
    assert!(e.to_string().contains("no column names"), "{e}");
    std::fs::write(&p, write_npy(&[4], &[1.0, 0.0, 2.0, 1.0])).expect("write");
    let e = load_dataset(&p, &CsvOptions::default()).expect_err("1-D");
    assert!(e.to_string().contains("2-D array"), "{e}");
    assert!(e.to_string().contains("train.npy"), "{e}");
    // `load_csv`, the loader `hel train` opens its data with, takes .npy files by their name.
    std::fs::write(&p, write_npy(&[3, 3], &flat)).expect("write");
    let via_csv = hel::data::csv::load_csv(&p, &CsvOptions::default()).expect("loads");
    assert_eq!(via_csv.labels, d.labels);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any edit of a valid file (bytes overwritten, the file cut short) is read or refused,
    /// never a panic; what reads back has as many values as its shape says.
    #[test]
    fn edited_files_never_panic(
        edits in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..6),
        cut in 0usize..200,
    ) {
        let mut bytes = write_npy(&[3, 4], &[1.5; 12]);
        for (at, b) in edits {
            if let Some(x) = bytes.get_mut(at) {
                *x = b;
            }
        }
        bytes.truncate(bytes.len().saturating_sub(cut % 8 * 8));
        if let Ok(a) = parse_npy(&bytes) {
            let n: usize = a.shape.iter().product();
            proptest::prop_assert_eq!(n, a.data.len());
        }
    }

    /// Arbitrary header text is refused or read, never a panic.
    #[test]
    fn arbitrary_headers_never_panic(text in "[{}()'\":, a-z_<>|0-9LTrueFals]{0,80}") {
        let _ = parse_npy(&npy(&text, &[0; 16]));
    }
}
