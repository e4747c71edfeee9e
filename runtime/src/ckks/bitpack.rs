//! Bit-packing of residues for the serialized format: each value takes `width` bits, values are
//! laid out least-significant bit first in one continuous little-endian bit stream.
//!
//! Why not a simple bit-at-a-time loop: a 2^15 ciphertext upload is hundreds of megabytes, and
//! shifting one byte at a time through a `u128` made parsing the upload a visible part of the
//! server's wall time. Eight values of `width` bits fill exactly `width` bytes, so whole groups
//! of eight go through one 64-byte window with word-sized shifts; the remainder (and widths
//! above 57 bits, whose shifted value could straddle a 64-bit word) takes the generic path.

use super::context::Context;
use super::ring::RnsPoly;

/// Widths the grouped path handles: a value shifted by up to 7 bits must fit one `u64`.
const MAX_FAST_WIDTH: u32 = 57;

/// Number of bytes `count` values of `width` bits take.
pub(crate) fn packed_len(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

/// Appends `values`, each below `2^width`, packed to `width` bits (1 ≤ width ≤ 64).
pub(crate) fn pack(values: impl ExactSizeIterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    let count = values.len();
    let w = width as usize;
    out.reserve(packed_len(count, width));
    let mut values = values;
    if width <= MAX_FAST_WIDTH {
        for _ in 0..count / 8 {
            let mut window = [0u8; 64];
            for j in 0..8 {
                let v = values.next().unwrap_or(0);
                let bit = j * w;
                let (at, shift) = (bit / 8, bit % 8);
                let mut word = [0u8; 8];
                word.copy_from_slice(&window[at..at + 8]);
                let word = u64::from_le_bytes(word) | (v << shift);
                window[at..at + 8].copy_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(&window[..w]);
        }
    }
    pack_generic(values, width, out);
}

/// The bit-at-a-time path: any width, any count.
fn pack_generic(values: impl Iterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for v in values {
        acc |= (v as u128) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Fills `out` from `bytes`, which must hold exactly [`packed_len`]`(out.len(), width)` bytes.
pub(crate) fn unpack(bytes: &[u8], width: u32, out: &mut [u64]) {
    debug_assert_eq!(bytes.len(), packed_len(out.len(), width));
    let w = width as usize;
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mut done = 0;
    if width <= MAX_FAST_WIDTH {
        for (group, chunk) in out.chunks_exact_mut(8).zip(bytes.chunks_exact(w)) {
            let mut window = [0u8; 64];
            window[..w].copy_from_slice(chunk);
            for (j, slot) in group.iter_mut().enumerate() {
                let bit = j * w;
                let (at, shift) = (bit / 8, bit % 8);
                let mut word = [0u8; 8];
                word.copy_from_slice(&window[at..at + 8]);
                *slot = (u64::from_le_bytes(word) >> shift) & mask;
            }
        }
        done = out.len() / 8 * 8;
    }
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    let mut it = bytes[done / 8 * w..].iter();
    for slot in &mut out[done..] {
        while bits < width {
            acc |= (*it.next().unwrap_or(&0) as u128) << bits;
            bits += 8;
        }
        *slot = acc as u64 & mask;
        acc >>= width;
        bits -= width;
    }
}

/// Whether every one of the `count` values packed in `bytes` is below `bound`, decoded a group
/// at a time without storing them (validating an upload must not allocate its expanded size).
pub(crate) fn all_below(bytes: &[u8], width: u32, count: usize, bound: u64) -> bool {
    let mut group = [0u64; 8];
    let group_bytes = width as usize;
    let mut at = 0;
    let mut left = count;
    while left > 0 {
        let take = left.min(8);
        let len = packed_len(take, width);
        let Some(chunk) = bytes.get(at..at + len) else {
            return false;
        };
        unpack(chunk, width, &mut group[..take]);
        if group[..take].iter().any(|&v| v >= bound) {
            return false;
        }
        at += if take == 8 { group_bytes } else { len };
        left -= take;
    }
    true
}

/// A polynomial held bit-packed, limb by limb at the width of each limb's prime, exactly as
/// the serialized format stores it.
///
/// Why: an upload's input ciphertexts wait, most of them for a long time, until their first
/// use. Packed they take 40 of 64 bits per residue, and expanding one at its first use takes
/// its buffer from the limb pool instead of faulting in fresh pages for the whole upload at
/// load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackedPoly {
    bytes: Vec<u8>,
}

impl PackedPoly {
    /// Packs `poly`, whose limbs are residues modulo the primes of `basis`.
    pub(crate) fn pack(ctx: &Context, poly: &RnsPoly, basis: &[usize]) -> Self {
        let len = basis
            .iter()
            .map(|&j| packed_len(ctx.n, width_of(ctx, j)))
            .sum();
        let mut bytes = Vec::with_capacity(len);
        pack_poly(ctx, poly, basis, &mut bytes);
        PackedPoly { bytes }
    }

    /// Takes `bytes` as a packed polynomial over `basis` if they have its exact length and
    /// every residue is reduced modulo its prime; `None` otherwise.
    pub(crate) fn validated(ctx: &Context, bytes: &[u8], basis: &[usize]) -> Option<Self> {
        let mut at = 0;
        for &j in basis {
            let width = width_of(ctx, j);
            let len = packed_len(ctx.n, width);
            let limb = bytes.get(at..at + len)?;
            if !all_below(limb, width, ctx.n, ctx.moduli[j]) {
                return None;
            }
            at += len;
        }
        (at == bytes.len()).then(|| PackedPoly {
            bytes: bytes.to_vec(),
        })
    }

    /// The packed bytes, as serialized.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Expands into a polynomial over `basis` (the basis it was packed or validated with).
    pub(crate) fn unpack(&self, ctx: &Context, basis: &[usize]) -> RnsPoly {
        let mut poly = RnsPoly::scratch(ctx.n, basis.len());
        let mut at = 0;
        for (i, &j) in basis.iter().enumerate() {
            let width = width_of(ctx, j);
            let len = packed_len(ctx.n, width);
            unpack(&self.bytes[at..at + len], width, poly.limb_mut(i));
            at += len;
        }
        poly
    }
}

/// Appends `poly`'s limbs (residues modulo the primes of `basis`), each packed at the width
/// of its prime.
pub(crate) fn pack_poly(ctx: &Context, poly: &RnsPoly, basis: &[usize], out: &mut Vec<u8>) {
    for (limb, &j) in poly.limbs().zip(basis) {
        pack(limb.iter().copied(), width_of(ctx, j), out);
    }
}

/// Bits per residue of prime `j`.
pub(crate) fn width_of(ctx: &Context, j: usize) -> u32 {
    64 - ctx.moduli[j].leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The grouped path writes the same bit stream as the generic one, and reads it back.
        #[test]
        fn grouped_and_generic_paths_agree(
            width in 1u32..=64,
            raw in proptest::collection::vec(any::<u64>(), 0..70),
        ) {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
            let mut fast = Vec::new();
            pack(values.iter().copied(), width, &mut fast);
            let mut slow = Vec::new();
            pack_generic(values.iter().copied(), width, &mut slow);
            prop_assert_eq!(&fast, &slow);
            prop_assert_eq!(fast.len(), packed_len(values.len(), width));
            let mut back = vec![0u64; values.len()];
            unpack(&fast, width, &mut back);
            prop_assert_eq!(&back, &values);
            if let Some(&max) = values.iter().max() {
                prop_assert!(all_below(&fast, width, values.len(), max.saturating_add(1)) || max == u64::MAX);
                prop_assert!(!all_below(&fast, width, values.len(), max));
            }
        }
    }
}
