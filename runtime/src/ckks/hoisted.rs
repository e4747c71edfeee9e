//! Rotations left over the extended basis, for sums of many rotations times plaintexts
//! ("double hoisting", Bossuat, Mouchet, Troncoso-Pastoriza and Hubaux, EUROCRYPT 2021).
//!
//! A key switch ends with a ModDown (a division by the special modulus P: an inverse NTT of
//! the P limbs and a forward NTT per data prime, for each of the two polynomials). A linear
//! transform `Σ_g rot_g(Σ_b d_{g,b} ⊙ rot_b(x))` needs none per rotation: the products and
//! sums are taken on `P·rot(x)` over the extended basis Q·P, and each sum is divided by P
//! once. Baby rotations share one decomposition (single hoisting) and now also skip their
//! ModDowns; giant rotations keep theirs until the whole transform is summed. The division
//! rounds once per sum instead of once per rotation, so the result is at least as precise.
//!
//! The data-prime part of `P·rot(x)` is `P·σ(c0)`; it is kept as `σ(c0)` and added after the
//! division, which is exact: `ModDown(P·a + b) = a + ModDown(b)` (`[P·a + b]_P = [b]_P`).

use rayon::prelude::*;

use super::keyswitch::SwitchKey;
use super::ring::RnsPoly;
use super::{Ciphertext, CkksError, Context, GaloisKeys, Result};

/// `P·σ(x)` before the division by P: `c0` is `σ(x.c0)` over the data primes (its factor P
/// implicit), `ext` the key-switched `σ(x.c1)` over the extended basis; the identity keeps
/// `x.c1` in `c1` instead (nothing to switch).
pub(crate) struct ExtRotation {
    c0: RnsPoly,
    c1: Option<RnsPoly>,
    ext: Option<(RnsPoly, RnsPoly)>,
}

/// What the rotations of one ciphertext share: each one's Galois element and key (none for
/// the identity), and the decomposition of `c1`.
struct Hoisting<'k> {
    rotations: Vec<(usize, Option<&'k SwitchKey>)>,
    digits: Vec<RnsPoly>,
}

/// A sum of [`ExtRotation`]s, each possibly times a plaintext, at one level.
pub(crate) struct ExtSum {
    level: usize,
    /// Data-prime parts of the two components (the implicit factor P already divided out).
    q: [Option<RnsPoly>; 2],
    /// Extended-basis parts of the two components, to be divided by P.
    ext: [Option<RnsPoly>; 2],
}

/// `slot += Σ_t a_t ⊙ b_t` over the limbs of the `a_t` (the `b_t` may have more: extended-
/// basis plaintexts whose first limbs are the data primes), limb by limb: the limb of the sum
/// stays in cache while every term streams through once (term by term, the sum was read and
/// written back once per term: these products are bound by memory bandwidth).
fn add_products(
    ctx: &Context,
    level: usize,
    slot: &mut Option<RnsPoly>,
    terms: &[(&RnsPoly, &RnsPoly)],
) {
    let Some(&(first, _)) = terms.first() else {
        return;
    };
    let basis = ctx.basis_of(level, first.num_limbs());
    let acc = slot.get_or_insert_with(|| RnsPoly::zero(ctx.n, basis.len()));
    acc.par_limbs_mut()
        .zip(basis.par_iter().enumerate())
        .for_each(|(z, (pos, &j))| {
            let plan = &ctx.plans[j];
            for (a, b) in terms {
                plan.mul_accumulate(z, a.limb(pos), b.limb(pos));
            }
        });
}

/// `slot += a`.
fn add_poly(ctx: &Context, level: usize, slot: &mut Option<RnsPoly>, a: RnsPoly) {
    match slot {
        Some(acc) => {
            let basis = ctx.basis_of(level, a.num_limbs());
            ctx.poly_add_assign(acc, &a, &basis);
        }
        None => *slot = Some(a),
    }
}

impl ExtSum {
    pub fn new(level: usize) -> Self {
        ExtSum {
            level,
            q: [None, None],
            ext: [None, None],
        }
    }

    /// `self += Σ pt ⊙ r` over `terms`, with each `pt` over the extended basis at this level.
    pub fn add_products(&mut self, ctx: &Context, terms: &[(&ExtRotation, &RnsPoly)]) {
        let level = self.level;
        let part = |get: &dyn Fn(&ExtRotation) -> Option<&RnsPoly>| -> Vec<(&RnsPoly, &RnsPoly)> {
            terms
                .iter()
                .filter_map(|(r, pt)| get(r).map(|a| (a, *pt)))
                .collect()
        };
        add_products(ctx, level, &mut self.q[0], &part(&|r| Some(&r.c0)));
        add_products(ctx, level, &mut self.q[1], &part(&|r| r.c1.as_ref()));
        add_products(
            ctx,
            level,
            &mut self.ext[0],
            &part(&|r| r.ext.as_ref().map(|e| &e.0)),
        );
        add_products(
            ctx,
            level,
            &mut self.ext[1],
            &part(&|r| r.ext.as_ref().map(|e| &e.1)),
        );
    }

    /// `self += r`.
    pub fn add(&mut self, ctx: &Context, r: ExtRotation) {
        add_poly(ctx, self.level, &mut self.q[0], r.c0);
        if let Some(c1) = r.c1 {
            add_poly(ctx, self.level, &mut self.q[1], c1);
        }
        if let Some((e0, e1)) = r.ext {
            add_poly(ctx, self.level, &mut self.ext[0], e0);
            add_poly(ctx, self.level, &mut self.ext[1], e1);
        }
    }

    /// Divides the extended parts by P and adds the data-prime parts: the sum as a
    /// ciphertext at this level with `scale`.
    pub fn finish(self, ctx: &Context, scale: f64) -> Result<Ciphertext> {
        let level = self.level;
        let [q0, q1] = self.q;
        let [e0, e1] = self.ext;
        let (d0, d1) = rayon::join(
            || e0.map(|e| ctx.mod_down(&e, level)),
            || e1.map(|e| ctx.mod_down(&e, level)),
        );
        let basis = ctx.basis_q(level);
        let component = |q: Option<RnsPoly>, d: Option<RnsPoly>| match (q, d) {
            (Some(mut a), Some(b)) => {
                ctx.poly_add_assign(&mut a, &b, &basis);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        match (component(q0, d0), component(q1, d1)) {
            (Some(c0), Some(c1)) => Ok(Ciphertext {
                c: vec![c0, c1],
                level,
                scale,
                ctx_id: ctx.id,
            }),
            _ => Err(CkksError::InvalidParams("an empty sum of rotations".into())),
        }
    }
}

impl Context {
    /// The basis of a polynomial of `limbs` limbs at `level`: the data primes, or the
    /// extended basis when it has more limbs than that.
    fn basis_of(&self, level: usize, limbs: usize) -> Vec<usize> {
        if limbs > level + 1 {
            self.basis_qp(level)
        } else {
            self.basis_q(level)
        }
    }

    /// The keys for rotating `ct` by `steps` (none for the identity) and one decomposition of
    /// `c1` that all the rotations share.
    fn hoisting<'k>(
        &self,
        ct: &Ciphertext,
        steps: &[i64],
        gk: &'k GaloisKeys,
    ) -> Result<Hoisting<'k>> {
        self.check_id(ct.ctx_id)?;
        self.check_id(gk.ctx_id)?;
        if ct.c.len() != 2 {
            return Err(CkksError::DegreeMismatch {
                expected: 1,
                found: ct.c.len() - 1,
            });
        }
        let rotations = steps
            .iter()
            .map(|&s| {
                let g = self.galois_element(s);
                if g == 1 {
                    Ok((g, None))
                } else {
                    gk.get(g).map(|key| (g, Some(key)))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let digits = if rotations.iter().any(|(_, key)| key.is_some()) {
            self.decompose(&ct.c[1], ct.level)
        } else {
            Vec::new()
        };
        Ok(Hoisting { rotations, digits })
    }

    /// Rotation `i` of a [`Context::hoisting`], left over the extended basis.
    fn ext_rotation(&self, ct: &Ciphertext, h: &Hoisting<'_>, i: usize) -> ExtRotation {
        match h.rotations[i] {
            (_, None) => ExtRotation {
                c0: ct.c[0].clone(),
                c1: Some(ct.c[1].clone()),
                ext: None,
            },
            (g, Some(key)) => {
                let perm = self.galois_permutation(g);
                ExtRotation {
                    c0: self.permute(&ct.c[0], &perm),
                    c1: None,
                    ext: Some(self.key_inner_product(&h.digits, key, ct.level, Some(&perm))),
                }
            }
        }
    }

    /// Rotations of `ct` by `steps` sharing one decomposition of `c1`, left over the extended
    /// basis (see the module docs).
    pub(crate) fn rotate_hoisted_ext(
        &self,
        ct: &Ciphertext,
        steps: &[i64],
        gk: &GaloisKeys,
    ) -> Result<Vec<ExtRotation>> {
        let h = self.hoisting(ct, steps, gk)?;
        Ok((0..steps.len())
            .map(|i| self.ext_rotation(ct, &h, i))
            .collect())
    }

    /// Rotations of `ct` by `steps` sharing one decomposition of `c1`, each divided by P as
    /// soon as it is made (single hoisting: what a program's rotations of one value need).
    pub(crate) fn rotate_hoisted_each(
        &self,
        ct: &Ciphertext,
        steps: &[i64],
        gk: &GaloisKeys,
    ) -> Result<Vec<Ciphertext>> {
        let h = self.hoisting(ct, steps, gk)?;
        (0..steps.len())
            .map(|i| match h.rotations[i] {
                (_, None) => Ok(ct.clone()),
                _ => {
                    let mut one = ExtSum::new(ct.level);
                    one.add(self, self.ext_rotation(ct, &h, i));
                    one.finish(self, ct.scale)
                }
            })
            .collect()
    }

    /// One rotation of `ct` by `step`, left over the extended basis.
    pub(crate) fn rotate_ext(
        &self,
        ct: &Ciphertext,
        step: i64,
        gk: &GaloisKeys,
    ) -> Result<ExtRotation> {
        let mut one = self.rotate_hoisted_ext(ct, &[step], gk)?;
        one.pop()
            .ok_or_else(|| CkksError::InvalidParams("no rotation".into()))
    }
}
