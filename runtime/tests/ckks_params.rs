//! Parameter validation, the security table and fingerprints.

use hel_runtime::ckks::params::MAX_LOG_N;
use hel_runtime::ckks::{
    data_bits_available, max_log_qp_128, CkksError, CkksParams, Context, ParamsError, Security,
};

#[test]
fn security_table_matches_the_standard() {
    let table = [(12, 109), (13, 218), (14, 438), (15, 881), (16, 1772)];
    for (log_n, bits) in table {
        assert_eq!(max_log_qp_128(log_n), Some(bits));
    }
    assert_eq!(max_log_qp_128(11), None);
    assert_eq!(max_log_qp_128(MAX_LOG_N + 1), None);
    assert_eq!(data_bits_available(15, 71), Some(810));
    assert_eq!(data_bits_available(12, 200), None);
}

#[test]
fn standard_chains_are_secure_and_use_small_primes() {
    for (log_n, limbs) in [(12, 2), (13, 3), (14, 8), (15, 20), (16, 40)] {
        let p = CkksParams::standard(log_n).unwrap();
        assert_eq!(p.q_bits.len(), limbs);
        assert!(p.log_qp() <= max_log_qp_128(log_n).unwrap(), "2^{log_n}");
        let primes = p.primes().unwrap();
        for &q in primes.q.iter().chain(&primes.p) {
            assert!(q < 1 << 50);
            assert_eq!(q % (2 << log_n), 1);
        }
        // P covers every digit.
        let log = |v: &[u64]| v.iter().map(|&x| (x as f64).log2()).sum::<f64>();
        for d in primes.q.chunks(p.digit_size()) {
            assert!(log(&primes.p) >= log(d) - 1.0);
        }
    }
    assert_eq!(CkksParams::standard(14).unwrap().dnum, 4);
}

#[test]
fn insecure_parameters_are_refused_unless_explicitly_allowed() {
    let mut p = CkksParams {
        log_n: 12,
        q_bits: vec![50, 40, 40],
        p_bits: vec![50],
        dnum: 3,
        log_scale: 40,
        security: Security::Classical128,
    };
    assert!(matches!(
        p.validate(),
        Err(ParamsError::Insecure {
            log_qp: 180,
            max_log_qp: 109,
            ..
        })
    ));
    assert!(matches!(Context::new(&p), Err(CkksError::Insecure { .. })));
    p.security = Security::InsecureForTestingOnly;
    assert!(Context::new(&p).is_ok());
}

/// With the test-only feature on (as here, and in every binary `cargo test --workspace`
/// builds), the level still cannot come from a file: deserialization refuses it.
#[test]
fn the_test_only_level_does_not_survive_serialization() {
    let p = CkksParams {
        log_n: 12,
        q_bits: vec![50, 40, 40],
        p_bits: vec![50],
        dnum: 3,
        log_scale: 40,
        security: Security::InsecureForTestingOnly,
    };
    let err = ron::from_str::<CkksParams>(&ron::to_string(&p).unwrap()).unwrap_err();
    assert!(err.to_string().contains("128-bit security bound"), "{err}");
    let bytes = postcard::to_stdvec(&p).unwrap();
    assert!(postcard::from_bytes::<CkksParams>(&bytes).is_err());
    let secure = CkksParams {
        security: Security::Classical128,
        ..p
    };
    let back: CkksParams = postcard::from_bytes(&postcard::to_stdvec(&secure).unwrap()).unwrap();
    assert_eq!(back, secure);
}

#[test]
fn malformed_parameters_are_errors() {
    let good = CkksParams::standard(13).unwrap();
    let cases = [
        CkksParams {
            log_n: 17,
            ..good.clone()
        },
        CkksParams {
            q_bits: vec![60, 40],
            ..good.clone()
        },
        CkksParams {
            p_bits: vec![],
            ..good.clone()
        },
        CkksParams {
            dnum: 0,
            ..good.clone()
        },
        CkksParams {
            dnum: 9,
            ..good.clone()
        },
        CkksParams {
            log_scale: 2,
            ..good.clone()
        },
        // P far smaller than a digit.
        CkksParams {
            p_bits: vec![20],
            dnum: 1,
            ..good.clone()
        },
    ];
    for c in cases {
        assert!(
            matches!(c.validate(), Err(ParamsError::Invalid(_))),
            "{c:?}"
        );
    }
}

#[test]
fn fingerprint_identifies_the_parameter_set() {
    let a = CkksParams::standard(13).unwrap();
    let mut b = a.clone();
    b.log_scale = 39;
    assert_eq!(a.fingerprint().unwrap(), a.clone().fingerprint().unwrap());
    assert_ne!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
    // The description is plain serde data for the compiler.
    fn assert_serde<T: serde::Serialize + for<'de> serde::Deserialize<'de>>() {}
    assert_serde::<CkksParams>();
}

#[test]
fn depth_helpers_agree_with_the_budget() {
    assert_eq!(CkksParams::max_depth(15, 40), Some(19));
    // Depth 8 at 2^14 needs one prime per digit (dnum = 9); the standard set stops at 7 for dnum = 4.
    assert_eq!(CkksParams::max_depth(14, 40), Some(8));
    for log_n in 12..=16 {
        let d = CkksParams::max_depth(log_n, 30).unwrap();
        let p = CkksParams::for_depth(log_n, d, 30).unwrap();
        assert!(p.log_qp() <= max_log_qp_128(log_n).unwrap());
        assert_eq!(p.max_level(), d);
        assert!(matches!(
            CkksParams::for_depth(log_n, d + 1, 30),
            Err(ParamsError::Insecure { .. })
        ));
    }
    assert!(CkksParams::for_depth(14, 3, 60).is_err());
}

/// Key switching takes the fewest digits that fit, split evenly: the largest digit, and with it
/// the special modulus P, is as small as that digit count allows, and P still covers it.
#[test]
fn key_switching_digits_are_the_fewest_and_even() {
    // The -O1 logistic-regression chain: 23 primes in digits of 12 and 11 with 11 special
    // primes (the first fitting digit size, 20 + 3, needed 17).
    let p = CkksParams::for_depth(16, 22, 40).unwrap();
    assert_eq!((p.dnum, p.digit_size(), p.p_bits.len()), (2, 12, 11));
    // NAG at -O2: 15 primes in three digits of 5 (not 6 + 6 + 3) and 5 special primes.
    let p = CkksParams::for_depth(15, 14, 40).unwrap();
    assert_eq!((p.dnum, p.digit_size(), p.p_bits.len()), (3, 5, 5));
    for log_n in 13..=16u32 {
        let budget = max_log_qp_128(log_n).unwrap();
        for depth in 0..=CkksParams::max_depth(log_n, 40).unwrap() {
            let p = CkksParams::for_depth(log_n, depth, 40).unwrap();
            let l = p.q_bits.len();
            assert_eq!(
                p.digit_size(),
                l.div_ceil(p.dnum),
                "2^{log_n} depth {depth}"
            );
            assert_eq!(
                l.div_ceil(p.digit_size()),
                p.dnum,
                "2^{log_n} depth {depth}"
            );
            let digit = |alpha: usize| -> u32 {
                p.q_bits
                    .chunks(alpha)
                    .map(|c| c.iter().sum())
                    .max()
                    .unwrap()
            };
            let p_bits: u32 = p.p_bits.iter().sum();
            assert!(p_bits >= digit(p.digit_size()), "2^{log_n} depth {depth}");
            assert!(
                p_bits <= digit(p.digit_size()) + 30,
                "2^{log_n} depth {depth}"
            );
            // One digit fewer cannot fit: its largest digit exceeds the bits P could have.
            if p.dnum > 1 {
                let fewer = l.div_ceil(p.dnum - 1);
                let data: u32 = p.q_bits.iter().sum();
                assert!(digit(fewer) > budget - data, "2^{log_n} depth {depth}");
            }
        }
    }
}
