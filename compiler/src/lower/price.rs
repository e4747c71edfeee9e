//! What the slot layouts charge for a product of two encrypted tensors, priced from shapes
//! alone (no program, no slot grid): the levels it adds above each operand and the rotations
//! it does.
//!
//! The module exists so that the middle end can price a candidate form by what it will cost
//! encrypted (architecture: the lowering's cost oracle is its own module). The depth search
//! ([`crate::passes::depth_search`]) asks it for every product of encrypted matrices it would
//! build; the lowering's own oracle (`lower::oracle`) and the matrix-product kernel
//! (`lower::matmul`) read the same rules, so a form the search prices at two levels is one
//! the lowering builds at two.

use crate::analysis::depth::ceil_log2;

/// The most columns of an input right operand the client packs one by one (each replicated
/// in every row, one ciphertext per column and tile of its length): that saves the row mask's
/// level, and costs up to this many times the operand's own upload.
pub const MAX_PACKED_COLUMNS: usize = 8;

/// Levels `X @ Z` adds above its operands when computed column by column in direct form (see
/// `lower::matmul`): `X` is needed two levels below the result (product, column mask), `Z`
/// three (its column replicated: row mask, product, column mask), or two when the client packs
/// `Z`'s columns (`packed`: an input, or a view of one, of at most [`MAX_PACKED_COLUMNS`]
/// columns).
pub fn matmul_levels(packed: bool) -> (u32, u32) {
    (2, if packed { 2 } else { 3 })
}

/// Levels the cheapest product of an encrypted matrix and an encrypted vector adds above its
/// operands (the row-vector recipe of `lower::oracle`: the transposed matrix times the
/// column vector, summed over the columns).
pub const MATVEC_LEVELS: u32 = 1;

/// [`matmul_levels`] beyond [`MATVEC_LEVELS`]: what a matrix product costs more than the
/// product the middle end's depth model charges one level for.
pub fn matmul_extra_levels(packed: bool) -> (u32, u32) {
    let (x, z) = matmul_levels(packed);
    (x - MATVEC_LEVELS, z - MATVEC_LEVELS)
}

/// Whether the client packs the columns of a right operand with `columns` columns.
pub fn packs_columns(input_view: bool, columns: usize) -> bool {
    input_view && columns <= MAX_PACKED_COLUMNS
}

/// Rotations of `X @ Z` (`Z` k × c) in direct form: per output column the row sum
/// over the inner dimension and its shift into place, plus, when `Z` is computed on the server,
/// the replication of each of its columns over the rows. Independent of the slot grid (one
/// tile per operand): a price for comparing forms, not a count of the schedule's rotations.
pub fn matmul_rotations(k: usize, c: usize, packed: bool) -> u64 {
    let sum = u64::from(ceil_log2(k as u32));
    let shift = u64::from(ceil_log2(c as u32));
    let replicate = if packed { 0 } else { sum };
    (c as u64) * (sum + shift + replicate)
}
