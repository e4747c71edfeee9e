//! Fitting the parameters to the values and the precision target: the checks the lowering
//! runs on a schedule before it is accepted, and what they ask the parameter selection for.
//!
//! - **Values fit their modulus** ([`fit_values`]): every node's magnitude bound (the range
//!   analysis carried to the slots, [`super::bounds::magnitudes`]) times its scale, with
//!   [`RANGE_MARGIN_BITS`] to spare, is below the modulus at its level. The levels above the
//!   base add a prime's worth of room each, so in practice the binding values are those at the
//!   bottom (the outputs, and products rescaled onto the bottom): if they do not fit, the
//!   base is widened (several primes if it exceeds 50 bits) and the lowering redone; a value no
//!   128-bit secure chain can hold, or that the `--params` given cannot, is refused with its
//!   node, span and magnitude.
//! - **Precision** ([`precision`]): every output's predicted error bound, relative to its
//!   range, should keep `--precision` bits; where it does not, the explanation says what
//!   precision to expect. The prediction is on random data from the declared ranges, where a
//!   deep iteration such as gradient descent can be far worse conditioned than on real data
//!   (GD's prediction at k = 6 is 4 bits there, while it matches the plaintext model to 3e-6
//!   on MNIST), so falling short is reported, not refused, and does not raise the scale (which
//!   would give circuits that differ only in constants, such as training rounds, different
//!   parameters and key sets). A precision whose scale no chain holds is refused by the
//!   parameter selection.

use hel_schedule::{level_scales, Schedule};

use super::LowerOptions;
use crate::analysis::ranges::Ranges;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Program;

/// Bits of margin between a value's magnitude times its scale and the modulus at its level: a
/// sign bit, and one for the noise and the estimates' rounding.
pub const RANGE_MARGIN_BITS: f64 = 2.0;

/// What one lowering gave: a schedule (or the parameters for another ring), or the need for
/// a wider base (a value does not fit its modulus).
pub(super) enum Attempt {
    Done(Box<super::Lowered>),
    Wider { headroom: u32, node: Culprit },
}

/// Where a parameter was raised, and why: the location a refusal points at.
#[derive(Clone, Debug)]
pub(super) struct Culprit {
    pub span: crate::Span,
    pub label: String,
}

/// Why the request's headroom is above the default: the location a refusal points at.
#[derive(Clone, Debug, Default)]
pub(super) struct Raised {
    pub range: Option<Culprit>,
}

impl Raised {
    /// Where a parameter-selection failure of kind `code` points, if a raise caused it.
    pub fn culprit(&self, code: Code) -> Option<Culprit> {
        match code {
            Code::Range => self.range.clone(),
            _ => None,
        }
    }
}

/// The headroom the base needs for the outputs' ranges (outputs live at the lowest level), and
/// the output that needs the most; an output that overflows f64 is refused.
pub(super) fn output_headroom(
    p: &Program,
    ranges: &Ranges,
) -> Result<(u32, Option<Culprit>), Diagnostic> {
    let mut best = (0u32, None);
    for o in &p.outputs {
        let m = ranges.of(o.node);
        if m <= 0.0 {
            continue;
        }
        let label = format!("output `{}` reaches {}", o.name, magnitude_text(m));
        if !m.is_finite() {
            return Err(Diagnostic::new(
                Code::Range,
                &p.source,
                o.span,
                "a value too large for any CKKS modulus: it overflows f64 on inputs from the \
                 declared ranges; narrow the input ranges, rescale the data or iterate less"
                    .to_string(),
            )
            .with_label(label));
        }
        let bits = (m.log2() + RANGE_MARGIN_BITS).ceil().max(0.0) as u32;
        if bits > best.0 {
            best = (
                bits,
                Some(Culprit {
                    span: o.span,
                    label,
                }),
            );
        }
    }
    Ok(best)
}

/// A magnitude as text: `|value| up to 2.30e6 (2^21.1)`, or overflow.
pub(super) fn magnitude_text(m: f64) -> String {
    if m.is_finite() {
        format!("|value| up to {m:.2e} (2^{:.1})", m.log2())
    } else {
        "|value| beyond f64".to_string()
    }
}

/// The canonical scale of every level of a chain whose base is primes `0..=floor` and whose
/// levels above are groups of `group` primes: `2^log_scale` up to the floor, then
/// `S_j = sqrt(S_{j-1} · Q_j)` at each group boundary (`Q_j` the group's product), so a
/// product of two level-`j` values rescaled by the group lands exactly on `S_{j-1}`. Inside a
/// group, the scale a canonical product has on its way down. With one base prime and groups of
/// one this is [`level_scales`].
pub(super) fn chain_scales(q: &[u64], log_scale: u32, floor: usize, group: usize) -> Vec<f64> {
    if floor == 0 && group == 1 {
        return level_scales(q, log_scale);
    }
    let mut s = vec![2f64.powi(log_scale as i32); q.len()];
    let mut cur = s[0];
    let mut l = floor + group;
    while l < q.len() {
        let next = (cur
            * q[l + 1 - group..=l]
                .iter()
                .map(|&x| x as f64)
                .product::<f64>())
        .sqrt();
        s[l] = next;
        // Inside the group: a product at S_j^2 divided by the primes above.
        let mut inner = next * next;
        for k in (l + 1 - group..l).rev() {
            inner /= q[k + 1] as f64;
            s[k] = inner;
        }
        cur = next;
        l += group;
    }
    s
}

/// Checks that every value fits the modulus at its level with [`RANGE_MARGIN_BITS`] to spare:
/// `log2(magnitude · scale) + margin ≤ log2(q_0 ⋯ q_level)`. If not, asks for a wider base, or
/// refuses (a value beyond f64, or parameters given with `--params`).
pub(super) fn fit_values(
    p: &Program,
    s: &Schedule,
    mags: &[f64],
    floor: usize,
    q: &[u64],
    opts: &LowerOptions,
) -> Result<Option<Attempt>, Diagnostic> {
    let log_q: Vec<f64> = q
        .iter()
        .scan(0.0, |acc, &x| {
            *acc += (x as f64).log2();
            Some(*acc)
        })
        .collect();
    let base = log_q[floor];
    // The base bits each value needs: what it needs at its level less the primes above the base.
    let mut worst: Option<(f64, usize)> = None;
    for (i, n) in s.nodes.iter().enumerate() {
        let m = mags.get(i).copied().unwrap_or(0.0);
        if m == 0.0 {
            continue;
        }
        // A value whose encoding (value times scale) overflows f64 fits no modulus either:
        // the client could not encode it.
        let need = if (m * n.scale).is_finite() {
            m.log2() + n.scale.log2() + RANGE_MARGIN_BITS - (log_q[n.level as usize] - base)
        } else {
            f64::INFINITY
        };
        if worst.is_none_or(|(w, _)| need > w) {
            worst = Some((need, i));
        }
    }
    let Some((need, i)) = worst.filter(|&(need, _)| need > base) else {
        return Ok(None);
    };
    let node = &s.nodes[i];
    let span = p
        .graph
        .ids()
        .find(|id| id.index() as u32 == node.origin.tensor_node)
        .map(|t| p.graph.node(t).span)
        .unwrap_or_default();
    let what = format!(
        "`{}` (ir %{}) reaches {}",
        node.origin.tensor_op,
        node.origin.tensor_node,
        magnitude_text(mags[i])
    );
    let refuse = |message: String| {
        Diagnostic::new(Code::Range, &p.source, span, message).with_label(what.clone())
    };
    if !need.is_finite() {
        return Err(refuse(
            "a value too large for any CKKS modulus: it overflows f64 on inputs from the \
             declared ranges; narrow the input ranges, rescale the data or iterate less"
                .to_string(),
        ));
    }
    let level = node.level as usize;
    if opts.params.forced.is_some() {
        return Err(refuse(format!(
            "a value too large for the fixed modulus chain (`--params`, or the bootstrapping \
             chain a round runs on): at level {level} and scale 2^{:.1} it needs a modulus of \
             2^{:.1}, the chain has 2^{:.1} there",
            node.scale.log2(),
            need + log_q[level] - base,
            log_q[level]
        )));
    }
    // One bit more than the estimate: the base primes are below 2^bits.
    let headroom = (need - s.params.log_scale as f64 + 1.0).ceil().max(0.0) as u32;
    Ok(Some(Attempt::Wider {
        headroom: headroom.max(opts.params.headroom_bits + 1),
        node: Culprit { span, label: what },
    }))
}

/// Bits the worst output's predicted precision falls short of the target (0 when every output
/// meets it).
pub(super) fn precision_deficit(
    p: &Program,
    s: &Schedule,
    ranges: &Ranges,
    opts: &LowerOptions,
    factors: &[f64],
) -> f64 {
    let target = opts.params.precision_bits as f64;
    let range = |k: usize| ranges.of(p.outputs[k].node) / factors.get(k).copied().unwrap_or(1.0);
    s.outputs
        .iter()
        .enumerate()
        .filter_map(|(k, o)| {
            let range = range(k);
            (range > 0.0 && range.is_finite() && o.bound > 0.0)
                .then(|| target - (range / o.bound).log2())
        })
        .fold(0.0, f64::max)
}

/// The outputs' precision against the target (see the module documentation): `None` if every
/// output's predicted bound keeps `--precision` bits of its range, else a sentence for the
/// explanation, with the bits it falls short by.
pub(super) fn precision(
    p: &Program,
    s: &Schedule,
    ranges: &Ranges,
    opts: &LowerOptions,
    factors: &[f64],
) -> Option<(f64, String)> {
    let target = opts.params.precision_bits as f64;
    let mut worst: Option<(f64, usize)> = None;
    let range = |k: usize| ranges.of(p.outputs[k].node) / factors.get(k).copied().unwrap_or(1.0);
    for (k, o) in s.outputs.iter().enumerate() {
        let range = range(k);
        if !(range > 0.0 && range.is_finite()) || o.bound == 0.0 {
            continue;
        }
        let bits = (range / o.bound).log2();
        if bits < target && worst.is_none_or(|(w, _)| bits < w) {
            worst = Some((bits, k));
        }
    }
    let (bits, k) = worst?;
    let decl = &p.outputs[k];
    let mut sentence = format!(
        "predicted precision {bits:.1} bits of the {target} targeted: output `{}` (range \
         {:.2e}) has a predicted error of {:.2e} on random inputs from the declared ranges",
        decl.name,
        range(k),
        s.outputs[k].bound,
    );
    sentence.push_str(&small_output_hint(range(k), target, target - bits));
    Some((target - bits, sentence))
}

/// An output far below 1 falls short because CKKS noise is absolute, not relative: a scale as
/// many bits higher as the deficit (`--precision` raised by it) gives it the precision, as does
/// data rescaled towards ±1. Empty for outputs of ordinary size.
fn small_output_hint(range: f64, target: f64, deficit: f64) -> String {
    if range >= 1.0 / 16.0 {
        return String::new();
    }
    let raised = (target + deficit).ceil();
    let largest = (super::params::MAX_LOG_SCALE - super::params::NOISE_MARGIN_BITS) as f64;
    let how = if raised <= largest {
        format!(
            "a scale {:.0} bits higher (--precision {raised}) reaches {target} bits here, as do \
             inputs rescaled towards ±1",
            raised - target
        )
    } else {
        "inputs rescaled towards ±1 would give it more".to_string()
    };
    format!(
        " (CKKS noise is absolute and this output is only 2^{:.1} in size: {how})",
        range.log2()
    )
}
