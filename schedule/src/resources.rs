//! What running a schedule costs in bytes, computed from the schedule alone: the evaluation
//! keys (on disk and in memory), the upload, and the server's and the key generator's peak
//! memory. The compiler reports these figures next to the depth, and the commands that
//! allocate (`hel keygen`, `hel run`, `hel train`) refuse before allocating when they exceed the
//! memory the machine has, instead of being killed halfway.
//!
//! The formulas follow the runtime's representation: polynomials are `N` 64-bit words per
//! prime in memory and bit-packed to each prime's width in files; a key-switching key holds
//! `dnum` digits of two polynomials over all data and special primes; an uploaded ciphertext is
//! seed-compressed (one polynomial plus a 32-byte seed).

use serde::Serialize;

use crate::program::{Schedule, Source};

/// The byte figures of one schedule (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// One key-switching key (relinearization, or one rotation) in a file, bit-packed.
    pub switch_key_bytes: u64,
    /// The evaluation-keys file: public, relinearization and Galois keys, bit-packed.
    pub eval_key_bytes: u64,
    /// The evaluation keys in memory (64-bit words).
    pub eval_key_memory: u64,
    /// The upload: seed-compressed input ciphertexts and the `plain` inputs (8 bytes a value).
    pub upload_bytes: u64,
    /// Of the upload, the ciphertexts of the user's encrypted inputs (every packing and
    /// level they are encrypted at): the data's own size.
    pub data_upload_bytes: u64,
    /// Of the upload, the ciphertexts of the tensors the client computes
    /// ([`Schedule::derived`]): what client-side precomputation adds.
    pub derived_upload_bytes: u64,
    /// The download: every output tile's ciphertext (two polynomials over the primes of its
    /// level, bit-packed).
    pub download_bytes: u64,
    /// The server's run at the least: the keys and the upload in memory, plus the most
    /// ciphertexts alive at once when the nodes run one after the other in schedule order.
    /// Parallel execution keeps a few more alive.
    pub server_peak_bytes: u64,
    /// Key generation: the keys in memory and their serialized file.
    pub keygen_peak_bytes: u64,
}

/// Bits of the data primes up to `level` (inclusive).
fn data_bits(s: &Schedule, level: u32) -> u64 {
    s.params
        .q_bits
        .iter()
        .take(level as usize + 1)
        .map(|&b| b as u64)
        .sum()
}

impl Schedule {
    /// The schedule's byte figures. Saturating arithmetic: a hostile schedule yields
    /// `u64::MAX`, which no machine has, rather than a wrapped small number.
    pub fn resources(&self) -> Resources {
        let p = &self.params;
        let n = 1u64 << p.log_n.min(63);
        let limbs = (p.q_bits.len() + p.p_bits.len()) as u64;
        let all_bits: u64 = p.q_bits.iter().chain(&p.p_bits).map(|&b| b as u64).sum();
        let top = p.q_bits.len().saturating_sub(1) as u32;
        let digits = p.dnum as u64;
        let switch_keys = 1
            + self.rotation_steps.iter().filter(|&&s| s != 0).count() as u64
            + u64::from(self.needs_conjugation);
        // Public key: two polynomials over the data primes.
        let pk_memory = 2u64.saturating_mul(p.q_bits.len() as u64).saturating_mul(n) * 8;
        let pk_bytes = 2u64.saturating_mul(data_bits(self, top)).saturating_mul(n) / 8;
        let key_memory = digits
            .saturating_mul(2)
            .saturating_mul(limbs)
            .saturating_mul(n)
            .saturating_mul(8);
        let key_bytes = digits
            .saturating_mul(2)
            .saturating_mul(all_bits)
            .saturating_mul(n)
            / 8;
        let eval_key_memory = key_memory
            .saturating_mul(switch_keys)
            .saturating_add(pk_memory);
        let eval_key_bytes = key_bytes
            .saturating_mul(switch_keys)
            .saturating_add(pk_bytes);
        let upload_of = |derived: bool| {
            self.ct_inputs
                .iter()
                .filter(|c| matches!(c.pack.source, Source::Derived { .. }) == derived)
                .map(|c| (data_bits(self, c.level).saturating_mul(n) / 8).saturating_add(32))
                .fold(0, u64::saturating_add)
        };
        let (data_upload_bytes, derived_upload_bytes) = (upload_of(false), upload_of(true));
        let ct_upload = data_upload_bytes.saturating_add(derived_upload_bytes);
        let public_upload: u64 = self
            .inputs
            .iter()
            .filter(|i| !i.encrypted)
            .map(|i| {
                (i.shape.len() as u64)
                    .saturating_mul(i.elements() as u64)
                    .saturating_mul(8)
            })
            .fold(0, u64::saturating_add);
        let upload_bytes = ct_upload.saturating_add(public_upload);
        let download_bytes = self
            .outputs
            .iter()
            .flat_map(|o| &o.tiles)
            .map(|t| {
                let level = self.nodes.get(t.value as usize).map_or(top, |n| n.level);
                (2u64
                    .saturating_mul(data_bits(self, level))
                    .saturating_mul(n)
                    / 8)
                .saturating_add(32)
            })
            .fold(0, u64::saturating_add);
        Resources {
            switch_key_bytes: key_bytes,
            eval_key_bytes,
            eval_key_memory,
            upload_bytes,
            data_upload_bytes,
            derived_upload_bytes,
            download_bytes,
            server_peak_bytes: eval_key_memory
                .saturating_add(upload_bytes)
                .saturating_add(self.peak_live_bytes()),
            keygen_peak_bytes: eval_key_memory.saturating_add(eval_key_bytes),
        }
    }

    /// The most bytes of ciphertexts alive at once when the nodes run in schedule order: a
    /// value lives from its node to its last reader (outputs to the end), and takes
    /// `(degree + 1) · (level + 1) · N` words.
    pub fn peak_live_bytes(&self) -> u64 {
        let n = 1u64 << self.params.log_n.min(63);
        let size = |i: usize| {
            self.nodes.get(i).map_or(0, |node| {
                (node.degree as u64 + 1)
                    .saturating_mul(node.level as u64 + 1)
                    .saturating_mul(n)
                    .saturating_mul(8)
            })
        };
        let mut kept = vec![false; self.nodes.len()];
        for v in self.output_values() {
            if let Some(k) = kept.get_mut(v as usize) {
                *k = true;
            }
        }
        // Bytes freed after each node: the values whose last reader it is.
        let mut freed = vec![0u64; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            match node.last_use {
                Some(l) if !kept[i] => {
                    if let Some(f) = freed.get_mut(l as usize) {
                        *f = f.saturating_add(size(i));
                    }
                }
                // Read by nobody and not an output: freed right away.
                None if !kept[i] => freed[i] = freed[i].saturating_add(size(i)),
                _ => {}
            }
        }
        let (mut live, mut peak) = (0u64, 0u64);
        for (i, f) in freed.iter().enumerate() {
            live = live.saturating_add(size(i));
            peak = peak.max(live);
            live = live.saturating_sub(*f);
        }
        peak
    }
}

#[cfg(test)]
mod tests {
    use crate::program::*;
    use crate::CkksParams;

    /// `x * x` rescaled: inputs at level 2, the product (degree 2) and what follows.
    fn square() -> Schedule {
        let params = CkksParams::for_depth(13, 2, 40).expect("secure");
        let node = |instr, level, degree| Node {
            instr,
            level,
            scale: 1.0,
            degree,
            bound: 0.0,
            origin: Origin::default(),
            last_use: None,
        };
        let mut s = Schedule {
            name: "square".into(),
            program_hash: String::new(),
            params,
            level_scales: vec![1.0; 3],
            unit: Unit { h: 64, w: 64 },
            inputs: vec![TensorInput {
                name: "x".into(),
                shape: Shape::Vector(4),
                seq: None,
                encrypted: true,
                range: None,
                refreshed_from: None,
            }],
            derived: vec![],
            ct_inputs: vec![CtInput {
                pack: Pack {
                    source: Source::Input {
                        input: 0,
                        element: 0,
                    },
                    layout: Layout::RowVector { offset: 0 },
                    factor: 1.0,
                },
                level: 2,
                scale: 1.0,
            }],
            nodes: vec![
                node(Instr::Input { index: 0 }, 2, 1),
                node(Instr::Mul { a: 0, b: 0 }, 2, 2),
                node(Instr::Relinearize { a: 1 }, 2, 1),
                node(Instr::Rescale { a: 2 }, 1, 1),
            ],
            outputs: vec![TensorOutput {
                name: "y".into(),
                shape: Shape::Vector(4),
                tiles: vec![OutputTile {
                    value: 3,
                    layout: Layout::RowVector { offset: 0 },
                    factor: 1.0,
                }],
                bound: 0.0,
                range: 1.0,
            }],
            rotation_steps: vec![],
            needs_conjugation: false,
            hoist_groups: vec![],
            bootstrap: None,
        };
        s.compute_liveness();
        s
    }

    #[test]
    fn the_peak_counts_what_is_alive_together() {
        let s = square();
        let n = 8192 * 8;
        // After the product: the input (2 polys, 3 limbs) and the product (3 polys, 3 limbs)
        // are alive together; the relinearized value replaces the product; then the input is
        // gone.
        assert_eq!(s.peak_live_bytes(), (2 * 3 + 3 * 3) * n);
    }

    #[test]
    fn keys_grow_with_digits_rotations_and_limbs() {
        let mut s = square();
        let base = s.resources();
        s.rotation_steps = vec![1, 2];
        let rotated = s.resources();
        let one_key = base.eval_key_memory - 2 * s.params.q_bits.len() as u64 * 8192 * 8; // minus the public key
        assert_eq!(rotated.eval_key_memory - base.eval_key_memory, 2 * one_key);
        let limbs = (s.params.q_bits.len() + s.params.p_bits.len()) as u64;
        assert_eq!(one_key, s.params.dnum as u64 * 2 * limbs * 8192 * 8);
        // The upload: one seed-compressed ciphertext at level 2.
        let bits: u64 = s.params.q_bits.iter().map(|&b| b as u64).sum();
        assert_eq!(base.upload_bytes, bits * 8192 / 8 + 32);
    }

    #[test]
    fn the_upload_splits_into_data_and_derived_inputs() {
        let mut s = square();
        let data = s.resources();
        assert_eq!(data.data_upload_bytes, data.upload_bytes);
        assert_eq!(data.derived_upload_bytes, 0);
        // A client-computed input encrypted at level 0: one prime, counted apart.
        let mut derived = s.ct_inputs[0].clone();
        derived.pack.source = Source::Derived { index: 0 };
        derived.level = 0;
        s.ct_inputs.push(derived);
        let both = s.resources();
        let q0 = s.params.q_bits[0] as u64;
        assert_eq!(both.derived_upload_bytes, q0 * 8192 / 8 + 32);
        assert_eq!(both.data_upload_bytes, data.data_upload_bytes);
        assert_eq!(
            both.upload_bytes,
            data.upload_bytes + both.derived_upload_bytes
        );
    }
}
