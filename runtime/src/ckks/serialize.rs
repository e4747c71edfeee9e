//! Compact binary format for keys, ciphertexts and plaintexts.
//!
//! Layout: `magic "HELCKS" | version u16 | kind u8 | parameter fingerprint [32] | body length
//! u64 | body | blake3(everything before) [32]`, little endian. Residues are bit-packed to
//! the width of their prime (≤ 50 of 64 bits), the secret key to 2 bits per coefficient.
//! Loading checks magic, length, checksum, version, kind and fingerprint before parsing, and
//! the body parser validates every count, level, scale and residue: malformed input yields a
//! [`FormatError`], never a panic. The secret key has its own kind and can never be loaded as
//! an evaluation key (or vice versa).

use std::collections::BTreeMap;

use super::bitpack::{self, PackedPoly};
use super::bootstrap::BootstrapKeys;
use super::context::Context;
use super::encoding::{check_scale, Plaintext};
use super::encrypt::{Ciphertext, SeededCiphertext};
use super::error::{CkksError, FormatError, Result};
use super::keys::{GaloisKeys, PublicKey, RelinKey, SecretKey};
use super::keyswitch::SwitchKey;
use super::ring::RnsPoly;

const MAGIC: &[u8; 6] = b"HELCKS";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 6 + 2 + 1 + 32 + 8;
const CHECKSUM_LEN: usize = 32;

/// What a serialized object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SecretKey = 1,
    PublicKey = 2,
    RelinKey = 3,
    GaloisKeys = 4,
    Ciphertext = 5,
    SeededCiphertext = 6,
    Plaintext = 7,
    BootstrapKeys = 8,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::SecretKey,
            2 => Kind::PublicKey,
            3 => Kind::RelinKey,
            4 => Kind::GaloisKeys,
            5 => Kind::Ciphertext,
            6 => Kind::SeededCiphertext,
            7 => Kind::Plaintext,
            8 => Kind::BootstrapKeys,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::SecretKey => "secret key",
            Kind::PublicKey => "public key",
            Kind::RelinKey => "relinearization key",
            Kind::GaloisKeys => "Galois key set",
            Kind::Ciphertext => "ciphertext",
            Kind::SeededCiphertext => "seed-compressed ciphertext",
            Kind::Plaintext => "plaintext",
            Kind::BootstrapKeys => "bootstrapping key set",
        }
    }
}

fn malformed(m: impl Into<String>) -> CkksError {
    FormatError::Malformed(m.into()).into()
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new(ctx: &Context, kind: Kind) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.extend_from_slice(&ctx.fingerprint);
        buf.extend_from_slice(&0u64.to_le_bytes());
        Writer { buf }
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Bit-packs each limb at the width of its prime.
    fn poly(&mut self, ctx: &Context, poly: &RnsPoly, basis: &[usize]) {
        bitpack::pack_poly(ctx, poly, basis, &mut self.buf);
    }

    fn packed(&mut self, values: impl ExactSizeIterator<Item = u64>, width: u32) {
        bitpack::pack(values, width, &mut self.buf);
    }

    fn finish(mut self) -> Vec<u8> {
        let body_len = (self.buf.len() - HEADER_LEN) as u64;
        self.buf[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(&body_len.to_le_bytes());
        let sum = blake3::hash(&self.buf);
        self.buf.extend_from_slice(sum.as_bytes());
        self.buf
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Validates the envelope and returns a reader over the body.
    fn open(ctx: &Context, bytes: &'a [u8], expected: Kind) -> Result<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(FormatError::BadMagic.into());
        }
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(FormatError::Truncated.into());
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&bytes[HEADER_LEN - 8..HEADER_LEN]);
        let body_len = u64::from_le_bytes(len_bytes);
        let total = (HEADER_LEN as u64)
            .checked_add(body_len)
            .and_then(|t| t.checked_add(CHECKSUM_LEN as u64))
            .ok_or(FormatError::Truncated)?;
        if (bytes.len() as u64) < total {
            return Err(FormatError::Truncated.into());
        }
        if (bytes.len() as u64) > total {
            return Err(malformed("trailing bytes after the checksum"));
        }
        let split = bytes.len() - CHECKSUM_LEN;
        if blake3::hash(&bytes[..split]).as_bytes() != &bytes[split..] {
            return Err(FormatError::Checksum.into());
        }
        let version = u16::from_le_bytes([bytes[6], bytes[7]]);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version).into());
        }
        let kind = Kind::from_u8(bytes[8])
            .ok_or_else(|| malformed(format!("unknown object kind {}", bytes[8])))?;
        if kind != expected {
            return Err(FormatError::WrongKind {
                expected: expected.name(),
                found: kind.name(),
            }
            .into());
        }
        if bytes[9..41] != ctx.fingerprint {
            return Err(FormatError::ParamMismatch.into());
        }
        Ok(Reader {
            buf: &bytes[HEADER_LEN..split],
            pos: 0,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(FormatError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(FormatError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn seed(&mut self) -> Result<[u8; 32]> {
        let mut s = [0u8; 32];
        s.copy_from_slice(self.take(32)?);
        Ok(s)
    }

    fn level(&mut self, ctx: &Context) -> Result<usize> {
        let level = self.u32()? as usize;
        if level > ctx.max_level() {
            return Err(malformed(format!("level {level} beyond the chain")));
        }
        Ok(level)
    }

    fn scale(&mut self) -> Result<f64> {
        let s = self.f64()?;
        check_scale(s).map_err(|_| malformed(format!("invalid scale {s}")))?;
        Ok(s)
    }

    fn unpacked(&mut self, count: usize, width: u32) -> Result<Vec<u64>> {
        let mut out = vec![0; count];
        bitpack::unpack(
            self.take(bitpack::packed_len(count, width))?,
            width,
            &mut out,
        );
        Ok(out)
    }

    /// Reads each limb straight into the polynomial (no zeroing, no temporary): an upload
    /// holds hundreds of megabytes of these.
    fn poly(&mut self, ctx: &Context, basis: &[usize]) -> Result<RnsPoly> {
        let mut poly = RnsPoly::scratch(ctx.n, basis.len());
        for (i, &j) in basis.iter().enumerate() {
            let width = bitpack::width_of(ctx, j);
            let limb = poly.limb_mut(i);
            bitpack::unpack(self.take(bitpack::packed_len(ctx.n, width))?, width, limb);
            if limb.iter().any(|&v| v >= ctx.moduli[j]) {
                return Err(malformed("residue not reduced modulo its prime"));
            }
        }
        Ok(poly)
    }

    /// Reads a polynomial's limbs but keeps them packed, after checking every residue.
    fn packed_poly(&mut self, ctx: &Context, basis: &[usize]) -> Result<PackedPoly> {
        let len = basis
            .iter()
            .map(|&j| bitpack::packed_len(ctx.n, bitpack::width_of(ctx, j)))
            .sum();
        PackedPoly::validated(ctx, self.take(len)?, basis)
            .ok_or_else(|| malformed("residue not reduced modulo its prime"))
    }

    fn switch_key(&mut self, ctx: &Context) -> Result<SwitchKey> {
        let count = self.u32()? as usize;
        if count != ctx.ks.num_digits(ctx.num_q) {
            return Err(malformed(format!("{count} key-switching digits")));
        }
        let all: Vec<usize> = (0..ctx.moduli.len()).collect();
        let digits = (0..count)
            .map(|_| Ok((self.poly(ctx, &all)?, self.poly(ctx, &all)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(SwitchKey { digits })
    }

    fn finish(self) -> Result<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(malformed("unexpected bytes at the end of the body"))
        }
    }
}

fn write_switch_key(w: &mut Writer, ctx: &Context, key: &SwitchKey) {
    let all: Vec<usize> = (0..ctx.moduli.len()).collect();
    w.u32(key.digits.len() as u32);
    for (b, a) in &key.digits {
        w.poly(ctx, b, &all);
        w.poly(ctx, a, &all);
    }
}

impl Ciphertext {
    /// Serializes under `ctx` (which must be the ciphertext's context).
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::Ciphertext);
        w.u32(self.level as u32);
        w.f64(self.scale);
        w.u8(self.c.len() as u8);
        let basis = ctx.basis_q(self.level);
        for p in &self.c {
            w.poly(ctx, p, &basis);
        }
        Ok(w.finish())
    }

    /// Loads a ciphertext, validating everything.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::Ciphertext)?;
        let level = r.level(ctx)?;
        let scale = r.scale()?;
        let count = r.u8()? as usize;
        if !(2..=3).contains(&count) {
            return Err(malformed(format!("{count} polynomials in a ciphertext")));
        }
        let basis = ctx.basis_q(level);
        let c = (0..count)
            .map(|_| r.poly(ctx, &basis))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(Ciphertext {
            c,
            level,
            scale,
            ctx_id: ctx.id,
        })
    }
}

impl SeededCiphertext {
    /// Serializes: `c0` plus the 32-byte seed of `c1`.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::SeededCiphertext);
        w.u32(self.level as u32);
        w.f64(self.scale);
        w.bytes(&self.seed);
        w.bytes(self.c0.bytes());
        Ok(w.finish())
    }

    /// Loads a seed-compressed ciphertext.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::SeededCiphertext)?;
        let level = r.level(ctx)?;
        let scale = r.scale()?;
        let seed = r.seed()?;
        let c0 = r.packed_poly(ctx, &ctx.basis_q(level))?;
        r.finish()?;
        Ok(SeededCiphertext {
            c0,
            seed,
            level,
            scale,
            ctx_id: ctx.id,
        })
    }
}

impl Plaintext {
    /// Serializes an encoded plaintext (NTT form).
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::Plaintext);
        w.u32(self.level as u32);
        w.f64(self.scale);
        w.poly(ctx, &self.poly, &ctx.basis_q(self.level));
        Ok(w.finish())
    }

    /// Loads a plaintext.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::Plaintext)?;
        let level = r.level(ctx)?;
        let scale = r.scale()?;
        let poly = r.poly(ctx, &ctx.basis_q(level))?;
        r.finish()?;
        Ok(Plaintext {
            poly,
            level,
            scale,
            ctx_id: ctx.id,
        })
    }
}

impl SecretKey {
    /// Serializes the secret key (2 bits per ternary coefficient). Keep this file private.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::SecretKey);
        w.packed(
            self.coeffs.iter().map(|&c| match c {
                1 => 1,
                -1 => 2,
                _ => 0,
            }),
            2,
        );
        Ok(w.finish())
    }

    /// Loads a secret key.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::SecretKey)?;
        let coeffs = r
            .unpacked(ctx.n, 2)?
            .into_iter()
            .map(|v| match v {
                0 => Ok(0),
                1 => Ok(1),
                2 => Ok(-1),
                _ => Err(malformed("secret key coefficient outside {-1, 0, 1}")),
            })
            .collect::<Result<Vec<i64>>>()?;
        r.finish()?;
        Ok(ctx.secret_key_from_coeffs(coeffs))
    }
}

impl PublicKey {
    /// Serializes the public key.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::PublicKey);
        let basis = ctx.basis_q(ctx.max_level());
        w.poly(ctx, &self.b, &basis);
        w.poly(ctx, &self.a, &basis);
        Ok(w.finish())
    }

    /// Loads a public key.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::PublicKey)?;
        let basis = ctx.basis_q(ctx.max_level());
        let b = r.poly(ctx, &basis)?;
        let a = r.poly(ctx, &basis)?;
        r.finish()?;
        Ok(PublicKey {
            b,
            a,
            ctx_id: ctx.id,
        })
    }
}

impl RelinKey {
    /// Serializes the relinearization key.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::RelinKey);
        write_switch_key(&mut w, ctx, &self.key);
        Ok(w.finish())
    }

    /// Loads a relinearization key.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::RelinKey)?;
        let key = r.switch_key(ctx)?;
        r.finish()?;
        Ok(RelinKey {
            key,
            ctx_id: ctx.id,
        })
    }
}

impl GaloisKeys {
    /// Serializes all Galois keys of the set.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        ctx.check_id(self.ctx_id)?;
        let mut w = Writer::new(ctx, Kind::GaloisKeys);
        w.u32(self.keys.len() as u32);
        for (&g, key) in &self.keys {
            w.u64(g as u64);
            write_switch_key(&mut w, ctx, key);
        }
        Ok(w.finish())
    }

    /// Loads a Galois key set.
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(ctx, bytes, Kind::GaloisKeys)?;
        let keys = read_galois(&mut r, ctx)?;
        r.finish()?;
        Ok(GaloisKeys {
            keys,
            ctx_id: ctx.id,
        })
    }
}

/// The Galois keys of a set: count, then (element, key) pairs, each element validated.
fn read_galois(r: &mut Reader<'_>, ctx: &Context) -> Result<BTreeMap<usize, SwitchKey>> {
    let count = r.u32()? as usize;
    let mut keys = BTreeMap::new();
    for _ in 0..count {
        let g = r.u64()?;
        if g % 2 == 0 || g <= 1 || g >= 2 * ctx.n as u64 || keys.contains_key(&(g as usize)) {
            return Err(malformed(format!("invalid Galois element {g}")));
        }
        keys.insert(g as usize, r.switch_key(ctx)?);
    }
    Ok(keys)
}

/// A bootstrapping key set as one file under the chain's fingerprint; the body also carries the
/// encapsulation context's fingerprint, so a set made for other parameters is refused.
pub(crate) fn bootstrap_keys_to_bytes(
    ctx: &Context,
    enc: &Context,
    keys: &BootstrapKeys,
) -> Result<Vec<u8>> {
    ctx.check_id(keys.ctx_id)?;
    enc.check_id(keys.enc_id)?;
    let mut w = Writer::new(ctx, Kind::BootstrapKeys);
    w.bytes(&enc.fingerprint);
    write_switch_key(&mut w, ctx, &keys.relin.key);
    w.u32(keys.galois.keys.len() as u32);
    for (&g, key) in &keys.galois.keys {
        w.u64(g as u64);
        write_switch_key(&mut w, ctx, key);
    }
    write_switch_key(&mut w, ctx, &keys.from_sparse);
    write_switch_key(&mut w, enc, &keys.to_sparse);
    Ok(w.finish())
}

/// Loads what [`bootstrap_keys_to_bytes`] wrote.
pub(crate) fn bootstrap_keys_from_bytes(
    ctx: &Context,
    enc: &Context,
    bytes: &[u8],
) -> Result<BootstrapKeys> {
    let mut r = Reader::open(ctx, bytes, Kind::BootstrapKeys)?;
    let mut fp = [0u8; 32];
    for b in fp.iter_mut() {
        *b = r.u8()?;
    }
    if fp != enc.fingerprint {
        return Err(CkksError::ContextMismatch);
    }
    let relin = r.switch_key(ctx)?;
    let galois = read_galois(&mut r, ctx)?;
    let from_sparse = r.switch_key(ctx)?;
    let to_sparse = r.switch_key(enc)?;
    r.finish()?;
    Ok(BootstrapKeys {
        relin: RelinKey {
            key: relin,
            ctx_id: ctx.id,
        },
        galois: GaloisKeys {
            keys: galois,
            ctx_id: ctx.id,
        },
        to_sparse,
        from_sparse,
        ctx_id: ctx.id,
        enc_id: enc.id,
    })
}
