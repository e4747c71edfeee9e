//! Serialization round trips and rejection of corrupt, truncated, wrong-kind and
//! wrong-parameter data.

mod common;

use common::*;
use hel_runtime::ckks::{
    Ciphertext, CkksError, FormatError, GaloisKeys, Plaintext, PublicKey, RelinKey, SecretKey,
    SeededCiphertext,
};

#[test]
fn round_trips_preserve_objects_and_function() {
    let ctx = deep12();
    let mut s = sampler(200);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let gk = ctx.gen_galois_keys(&sk, &[1, -2], true, &mut s).unwrap();
    let x = values(ctx.slots(), 201);
    let pt = ctx.encode_complex(&x, 2, ctx.default_scale()).unwrap();
    let ct = ctx.encrypt_pk(&pt, &pk, &mut s).unwrap();
    let deg2 = ctx.multiply(&ct, &ct).unwrap();
    let seeded = ctx.encrypt_sk_seeded(&pt, &sk, &mut s).unwrap();

    let sk2 = SecretKey::from_bytes(&ctx, &sk.to_bytes(&ctx).unwrap()).unwrap();
    assert_eq!(sk2, sk);
    assert_eq!(
        PublicKey::from_bytes(&ctx, &pk.to_bytes(&ctx).unwrap()).unwrap(),
        pk
    );
    assert_eq!(
        RelinKey::from_bytes(&ctx, &rlk.to_bytes(&ctx).unwrap()).unwrap(),
        rlk
    );
    assert_eq!(
        GaloisKeys::from_bytes(&ctx, &gk.to_bytes(&ctx).unwrap()).unwrap(),
        gk
    );
    assert_eq!(
        Plaintext::from_bytes(&ctx, &pt.to_bytes(&ctx).unwrap()).unwrap(),
        pt
    );
    assert_eq!(
        Ciphertext::from_bytes(&ctx, &ct.to_bytes(&ctx).unwrap()).unwrap(),
        ct
    );
    assert_eq!(
        Ciphertext::from_bytes(&ctx, &deg2.to_bytes(&ctx).unwrap()).unwrap(),
        deg2
    );
    let sb = seeded.to_bytes(&ctx).unwrap();
    let seeded2 = SeededCiphertext::from_bytes(&ctx, &sb).unwrap();
    assert_eq!(seeded2, seeded);
    // Seed compression halves the upload.
    let full = ctx.expand_seeded(&seeded2).unwrap().to_bytes(&ctx).unwrap();
    assert!(
        sb.len() * 2 < full.len() + 200,
        "{} vs {}",
        sb.len(),
        full.len()
    );
    // Bit packing: 50- and 40-bit residues take less than 64 bits each.
    let raw = 2 * 3 * ctx.n() * 8;
    assert!(ct.to_bytes(&ctx).unwrap().len() < raw * 3 / 4);
    // A loaded secret key still decrypts.
    let back = ctx
        .decode(
            &ctx.decrypt(&ctx.expand_seeded(&seeded2).unwrap(), &sk2)
                .unwrap(),
        )
        .unwrap();
    assert!(max_err(&back, &x) < slot_bound(&ctx, sk_sigma()) / ctx.default_scale());
}

fn format_err(r: Result<impl Sized, CkksError>) -> FormatError {
    match r {
        Err(CkksError::Format(f)) => f,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted bad bytes"),
    }
}

#[test]
fn bad_bytes_are_rejected_with_clear_errors() {
    let ctx = deep12();
    let mut s = sampler(210);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let pt = ctx.encode(&[1.0, 2.0], 1, ctx.default_scale()).unwrap();
    let ct = ctx.encrypt_pk(&pt, &pk, &mut s).unwrap();
    let bytes = ct.to_bytes(&ctx).unwrap();

    // Corruption anywhere (header, body or checksum) is detected.
    for pos in [10, 60, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        assert!(Ciphertext::from_bytes(&ctx, &bad).is_err(), "flip at {pos}");
    }
    let mut bad = bytes.clone();
    bad[bytes.len() / 2] ^= 1;
    assert_eq!(
        format_err(Ciphertext::from_bytes(&ctx, &bad)),
        FormatError::Checksum
    );
    for len in [0, 3, 20, 60, bytes.len() - 1] {
        let e = format_err(Ciphertext::from_bytes(&ctx, &bytes[..len]));
        assert!(
            matches!(e, FormatError::Truncated | FormatError::BadMagic),
            "len {len}: {e}"
        );
    }
    assert_eq!(
        format_err(Ciphertext::from_bytes(
            &ctx,
            b"not a ciphertext at all, clearly"
        )),
        FormatError::BadMagic
    );
    // Wrong kind: a secret key is never accepted as anything else, and vice versa.
    let skb = sk.to_bytes(&ctx).unwrap();
    assert!(matches!(
        format_err(Ciphertext::from_bytes(&ctx, &skb)),
        FormatError::WrongKind { .. }
    ));
    assert!(matches!(
        format_err(PublicKey::from_bytes(&ctx, &skb)),
        FormatError::WrongKind { .. }
    ));
    assert!(matches!(
        format_err(RelinKey::from_bytes(&ctx, &skb)),
        FormatError::WrongKind { .. }
    ));
    assert!(matches!(
        format_err(SecretKey::from_bytes(&ctx, &pk.to_bytes(&ctx).unwrap())),
        FormatError::WrongKind { .. }
    ));
    // Wrong parameters.
    let other = ctx13();
    assert_eq!(
        format_err(Ciphertext::from_bytes(&other, &bytes)),
        FormatError::ParamMismatch
    );
    assert!(matches!(
        ct.to_bytes(&other),
        Err(CkksError::ContextMismatch)
    ));
}

/// A residue at or above its prime, in a file whose checksum is valid (so only the body
/// check can catch it), is refused when a seed-compressed ciphertext is loaded, not at its use.
#[test]
fn unreduced_residues_are_refused_on_load() {
    let ctx = deep12();
    let mut s = sampler(215);
    let sk = ctx.gen_secret_key(&mut s);
    let pt = ctx.encode(&[1.0, 2.0], 2, ctx.default_scale()).unwrap();
    let seeded = ctx.encrypt_sk_seeded(&pt, &sk, &mut s).unwrap();
    let mut bytes = seeded.to_bytes(&ctx).unwrap();
    // Header (49 bytes), then level (4), scale (8) and seed (32): the first residue follows.
    let first = 49 + 4 + 8 + 32;
    bytes[first..first + 7].fill(0xff);
    let split = bytes.len() - 32;
    let sum = *blake3::hash(&bytes[..split]).as_bytes();
    bytes[split..].copy_from_slice(&sum);
    match format_err(SeededCiphertext::from_bytes(&ctx, &bytes)) {
        FormatError::Malformed(m) => assert!(m.contains("not reduced"), "{m}"),
        e => panic!("unexpected error {e}"),
    }
}

#[test]
fn random_garbage_never_panics() {
    let ctx = deep12();
    let mut s = sampler(220);
    let sk = ctx.gen_secret_key(&mut s);
    let valid = sk.to_bytes(&ctx).unwrap();
    let mut x = 12345u64;
    for i in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut b = valid.clone();
        let n = (x >> 33) as usize % b.len();
        b.truncate(if i % 2 == 0 { n } else { b.len() });
        if let Some(v) = b.get_mut(n / 2) {
            *v = v.wrapping_add((x >> 17) as u8 | 1);
        }
        assert!(SecretKey::from_bytes(&ctx, &b).is_err());
        assert!(Ciphertext::from_bytes(&ctx, &b).is_err());
    }
}
