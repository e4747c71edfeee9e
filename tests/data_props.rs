//! Property tests: the loader answers arbitrary input with a well-formed data set or an error
//! that names the file (never a panic), and the O(n log n) AUC equals the pairwise
//! (Mann–Whitney) definition.

use std::io::Cursor;
use std::path::Path;

use hel::data::csv::{read_csv, CsvOptions, LabelColumn};
use hel::metrics::auc;
use proptest::prelude::*;

fn auc_pairwise(s: &[f64], y: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (si, yi) in s.iter().zip(y) {
        for (sj, yj) in s.iter().zip(y) {
            if *yi > 0.0 && *yj < 0.0 {
                den += 1.0;
                num += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    num / den
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csv_loader_never_panics(text in "[-0-9a-z.,;\"\r\n ]{0,200}", col in 0usize..4, which in 0u8..3) {
        let label_column = match which {
            0 => LabelColumn::Last,
            1 => LabelColumn::Index(col),
            _ => LabelColumn::Name("b".into()),
        };
        let opts = CsvOptions { label_column };
        match read_csv(Cursor::new(text.as_bytes()), Path::new("p.csv"), &opts) {
            Ok(d) => {
                prop_assert!(!d.is_empty() && d.n_features() > 0, "{text:?}");
                prop_assert_eq!(d.features.rows(), d.labels.len());
                prop_assert!(d.labels.iter().all(|&y| y == 1.0 || y == -1.0), "{:?}", d.labels);
                prop_assert!(d.features.as_slice().iter().all(|x| x.is_finite()));
                if let Some(names) = &d.feature_names {
                    prop_assert_eq!(names.len(), d.n_features());
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with("p.csv"), "{e}"),
        }
    }

    #[test]
    fn csv_round_trips_numbers(rows in prop::collection::vec((prop::collection::vec(-1e6f64..1e6, 3), any::<bool>()), 1..20)) {
        let mut text = String::from("x,y,z,label\r\n");
        for (x, l) in &rows {
            text += &format!("{},{},{},{}\r\n", x[0], x[1], x[2], if *l { 1 } else { 0 });
        }
        let d = read_csv(Cursor::new(text.as_bytes()), Path::new("p.csv"), &CsvOptions::default()).unwrap();
        prop_assert_eq!(d.len(), rows.len());
        for (i, (x, l)) in rows.iter().enumerate() {
            prop_assert_eq!(d.features.row(i), &x[..]);
            prop_assert_eq!(d.labels[i], if *l { 1.0 } else { -1.0 });
        }
    }

    #[test]
    fn auc_equals_pairwise_definition(v in prop::collection::vec((0i32..8, any::<bool>()), 2..60)) {
        // Few distinct scores, so ties are common.
        let s: Vec<f64> = v.iter().map(|(x, _)| f64::from(*x) * 0.25).collect();
        let y: Vec<f64> = v.iter().map(|(_, p)| if *p { 1.0 } else { -1.0 }).collect();
        let pos = y.iter().filter(|&&l| l > 0.0).count();
        match auc(&s, &y) {
            None => prop_assert!(pos == 0 || pos == y.len()),
            Some(a) => prop_assert!((a - auc_pairwise(&s, &y)).abs() < 1e-12),
        }
    }
}
