//! Parameter validation, the security table and fingerprints.

use hel_runtime::ckks::params::MAX_LOG_N;
use hel_runtime::ckks::{
    data_bits_available, max_log_qp_128, CkksError, CkksParams, Context, Security,
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
        Err(CkksError::Insecure {
            log_qp: 180,
            max_log_qp: 109,
            ..
        })
    ));
    assert!(matches!(Context::new(&p), Err(CkksError::Insecure { .. })));
    p.security = Security::InsecureForTestingOnly;
    assert!(Context::new(&p).is_ok());
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
            matches!(c.validate(), Err(CkksError::InvalidParams(_))),
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
            Err(CkksError::Insecure { .. })
        ));
    }
    assert!(CkksParams::for_depth(14, 3, 60).is_err());
}
