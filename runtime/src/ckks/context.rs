//! The [`Context`]: everything precomputed from a [`CkksParams`] — primes, tfhe-ntt plans,
//! the NTT evaluation-point order, encoder roots and the rescaling / key-switching constants.
//! Build it once and share it (`&Context` is `Sync`).

use std::collections::HashMap;

use tfhe_ntt::prime64::Plan;

use super::encoding::EncoderTables;
use super::error::{CkksError, Result};
use super::keyswitch::KsTables;
use super::modarith::{inv_mod, Shoup};
use super::params::CkksParams;

/// Precomputed state for one parameter set.
pub struct Context {
    pub(crate) params: CkksParams,
    pub(crate) fingerprint: [u8; 32],
    /// First 8 bytes of the fingerprint: stamped into every object to catch mix-ups cheaply.
    pub(crate) id: u64,
    pub(crate) n: usize,
    /// Data primes q_0..q_L followed by special primes p_0..p_{K-1}.
    pub(crate) moduli: Vec<u64>,
    pub(crate) plans: Vec<Plan>,
    pub(crate) num_q: usize,
    pub(crate) num_p: usize,
    /// Odd exponent e_k with NTT index k holding the evaluation at ψ^{e_k}.
    pub(crate) ntt_exp: Vec<u32>,
    /// NTT index of exponent e, indexed by (e - 1) / 2.
    pub(crate) ntt_index_of_exp: Vec<u32>,
    pub(crate) encoder: EncoderTables,
    /// `rescale_inv[l][i] = q_l^{-1} mod q_i` for i < l.
    pub(crate) rescale_inv: Vec<Vec<Shoup>>,
    pub(crate) ks: KsTables,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("params", &self.params)
            .field("moduli", &self.moduli)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Validates the parameters (including the security bound) and precomputes everything.
    pub fn new(params: &CkksParams) -> Result<Self> {
        params.validate()?;
        let primes = params.primes()?;
        let n = params.n();
        let num_q = primes.q.len();
        let num_p = primes.p.len();
        let moduli: Vec<u64> = primes.q.iter().chain(&primes.p).copied().collect();
        let plans = moduli
            .iter()
            .map(|&p| {
                Plan::try_new(n, p).ok_or_else(|| {
                    CkksError::InvalidParams(format!("no NTT plan for prime {p} and N = {n}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (ntt_exp, ntt_index_of_exp) = ntt_order(n, &moduli, &plans)?;
        let rescale_inv = (0..num_q)
            .map(|l| {
                (0..l)
                    .map(|i| Shoup::new(inv_mod(moduli[l] % moduli[i], moduli[i]), moduli[i]))
                    .collect()
            })
            .collect();
        let fingerprint = params.fingerprint()?;
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&fingerprint[..8]);
        Ok(Context {
            params: params.clone(),
            fingerprint,
            id: u64::from_le_bytes(id_bytes),
            n,
            ks: KsTables::new(params, &moduli, num_q),
            moduli,
            plans,
            num_q,
            num_p,
            ntt_exp,
            ntt_index_of_exp,
            encoder: EncoderTables::new(n, &primes.q),
            rescale_inv,
        })
    }

    /// The parameters this context was built from.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// blake3 fingerprint of the parameter set.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of complex slots, N/2.
    pub fn slots(&self) -> usize {
        self.n / 2
    }

    /// Top level L.
    pub fn max_level(&self) -> usize {
        self.num_q - 1
    }

    /// Data primes q_0..q_L.
    pub fn q_primes(&self) -> &[u64] {
        &self.moduli[..self.num_q]
    }

    /// Special primes forming P.
    pub fn p_primes(&self) -> &[u64] {
        &self.moduli[self.num_q..]
    }

    /// Default scale Δ = 2^log_scale.
    pub fn default_scale(&self) -> f64 {
        (self.params.log_scale as f64).exp2()
    }

    /// Exact log2(Q_level) (sum over the data primes up to `level`).
    pub fn log_q(&self, level: usize) -> f64 {
        self.moduli[..=level.min(self.num_q - 1)]
            .iter()
            .map(|&q| (q as f64).log2())
            .sum()
    }

    pub(crate) fn check_id(&self, id: u64) -> Result<()> {
        if id == self.id {
            Ok(())
        } else {
            Err(CkksError::ContextMismatch)
        }
    }

    pub(crate) fn check_level(&self, level: usize) -> Result<()> {
        if level < self.num_q {
            Ok(())
        } else {
            Err(CkksError::LevelOutOfRange {
                level,
                max: self.num_q - 1,
            })
        }
    }
}

/// Finds which power of a primitive 2N-th root each NTT output index evaluates at, by
/// transforming the polynomial `X` (whose NTT values are the evaluation points themselves).
/// The order is derived on the first prime and verified on all others, so rotation keys and
/// NTT-domain automorphisms never depend on an undocumented convention of tfhe-ntt.
fn ntt_order(n: usize, moduli: &[u64], plans: &[Plan]) -> Result<(Vec<u32>, Vec<u32>)> {
    let two_n = 2 * n;
    let points = |plan: &Plan| {
        let mut x = vec![0u64; n];
        x[1] = 1;
        plan.fwd(&mut x);
        x
    };
    let powers = |psi: u64, p: u64| {
        let s = Shoup::new(psi, p);
        let mut v = Vec::with_capacity(two_n);
        let mut acc = 1u64;
        for _ in 0..two_n {
            v.push(acc);
            acc = s.mul(acc, p);
        }
        v
    };
    let bad = || CkksError::InvalidParams("unexpected NTT evaluation order".into());
    let first = points(&plans[0]);
    let pows = powers(first[0], moduli[0]);
    let log: HashMap<u64, usize> = pows.iter().enumerate().map(|(e, &v)| (v, e)).collect();
    let mut exp = Vec::with_capacity(n);
    let mut index_of = vec![u32::MAX; n];
    for (k, v) in first.iter().enumerate() {
        let e = *log.get(v).ok_or_else(bad)?;
        if e % 2 == 0 || index_of[e / 2] != u32::MAX {
            return Err(bad());
        }
        index_of[e / 2] = k as u32;
        exp.push(e as u32);
    }
    for (plan, &p) in plans.iter().zip(moduli).skip(1) {
        let pts = points(plan);
        let pows = powers(pts[0], p);
        if pts.iter().zip(&exp).any(|(&v, &e)| pows[e as usize] != v) {
            return Err(bad());
        }
    }
    Ok((exp, index_of))
}
