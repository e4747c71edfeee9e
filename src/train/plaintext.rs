//! The plaintext side of a run, settled before any key exists: the program is checked and its
//! algorithm identified on the real minibatches, the plan for a tunable program is chosen
//! ([`super::plan`]), the reference model is trained, and (for other programs) Z is scaled
//! into the sigmoid polynomial's domain if needed ([`super::domain`]).

use std::borrow::Cow;
use std::collections::HashMap;

use hel_compiler::SourceFile;

use super::domain::{self, DomainScale};
use super::plan::{self, Plan, Tuning};
use super::program::{self, Interface};
use super::progress::{Phase, Progress};
use super::{TrainError, TrainOptions, DEFAULT_MINIBATCHES};
use crate::data::Matrix;
use crate::reference::{Method, Trained};

/// What the plaintext checks settled.
pub(super) struct Plaintext<'a> {
    pub iface: Interface,
    /// K: iterations to train for.
    pub k: usize,
    /// The reference algorithm the program computes.
    pub method: Method,
    /// The learning rate and sigmoid chosen for a tunable program (`None`: the program's own).
    pub plan: Option<Plan>,
    /// The program's own result (reference interpreter), which the round programs must match.
    pub program_weights: Vec<f64>,
    /// The reference model.
    pub plain: Trained,
    pub domain: DomainScale,
    /// The minibatches and test rows as trained on: scaled by `domain.factor`.
    pub batches: Cow<'a, [Matrix]>,
    pub z_test: Cow<'a, Matrix>,
}

impl Plaintext<'_> {
    /// The constants the compiled programs get besides k, m and f.
    pub fn tuning(&self) -> Option<Tuning> {
        self.plan.as_ref().map(|p| p.tuning)
    }
}

/// Checks the program's interface, identifies its algorithm by running it on the minibatches,
/// chooses the plan (a tunable program) or scales Z into the polynomial's domain if needed
/// (others), and trains the reference model on what will be encrypted.
pub(super) fn in_plaintext<'a>(
    src: &SourceFile,
    batches: &'a [Matrix],
    z_test: &'a Matrix,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Plaintext<'a>, TrainError> {
    let (m, f) = (batches[0].rows(), batches[0].cols());
    progress.start(Phase::Prepare, None, "checking the program in plaintext");
    // First with the program's documented constants (α = 1, Han's cubic), which identifies the
    // algorithm; a tunable program then runs again with the plan's.
    let k0 = opts.minibatches.unwrap_or(DEFAULT_MINIBATCHES);
    let (ir, iface) = program::check(src, k0, m, f, Some(&Tuning::DEFAULT))?;
    let program_weights = interpret_on(&ir, &iface, batches, k0)?;
    let (method, plain) =
        program::identify(src.name(), &program_weights, batches, k0, &Tuning::DEFAULT)?;
    let mut pt = Plaintext {
        iface,
        k: k0,
        method,
        plan: None,
        program_weights,
        plain,
        domain: DomainScale::unscaled(0.0),
        batches: Cow::Borrowed(batches),
        z_test: Cow::Borrowed(z_test),
    };
    if pt.iface.tunable && opts.tune {
        let chosen = plan::choose(batches, method, opts.minibatches, opts.max_minibatches)?;
        pt.k = chosen.iterations;
        let tuning = chosen.tuning;
        let (ir, iface) = program::check(src, pt.k, m, f, Some(&tuning))?;
        pt.program_weights = interpret_on(&ir, &iface, batches, pt.k)?;
        let (again, plain) =
            program::identify(src.name(), &pt.program_weights, batches, pt.k, &tuning)?;
        if again != method {
            return Err(TrainError::Internal(format!(
                "{} computes another algorithm with the plan's constants",
                src.short_name()
            )));
        }
        pt.plain = plain;
        pt.iface = iface;
        pt.plan = Some(chosen);
        pt.domain = DomainScale::unscaled(pt.plain.max_abs_inner);
        progress.finish(&format!(
            "{} computes {} (plaintext reference agrees); plan: {}",
            src.short_name(),
            program::method_name(method).to_uppercase(),
            pt.plan.as_ref().map(Plan::summary).unwrap_or_default()
        ));
        return Ok(pt);
    }
    fit_domain(src, &ir, &mut pt, opts, progress)?;
    Ok(pt)
}

/// A program with fixed constants: Z scaled by c when the run leaves h's domain
/// ([`domain::fit`]), with the program and the reference run again on the scaled Z.
fn fit_domain(
    src: &SourceFile,
    ir: &hel_compiler::ir::Program,
    pt: &mut Plaintext,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<(), TrainError> {
    let (k, method) = (pt.k, pt.method);
    let bound = Tuning::DEFAULT.sigmoid.interval;
    pt.domain = if opts.fit_domain {
        domain::fit(&pt.batches, method, k, &pt.plain)?
    } else {
        DomainScale::unscaled(pt.plain.max_abs_inner)
    };
    let domain = pt.domain;
    let mut scaled_note = String::new();
    if domain.factor != 1.0 {
        let b: Vec<Matrix> = pt.batches.iter().map(|b| b.scaled(domain.factor)).collect();
        pt.program_weights = interpret_on(ir, &pt.iface, &b, k)?;
        pt.plain = program::identify(src.name(), &pt.program_weights, &b, k, &Tuning::DEFAULT)?.1;
        pt.batches = Cow::Owned(b);
        pt.z_test = Cow::Owned(pt.z_test.scaled(domain.factor));
        scaled_note = format!(
            " after scaling Z by 2^{} ({:.1} unscaled)",
            domain::log2_label(domain.factor),
            domain.unscaled_max_abs_inner
        );
    }
    progress.finish(&format!(
        "{} computes {} (plaintext reference agrees); max |Z_i beta_i| = {:.2}{scaled_note}",
        src.short_name(),
        program::method_name(method).to_uppercase(),
        pt.plain.max_abs_inner
    ));
    if pt.plain.max_abs_inner > bound {
        let why = match (opts.fit_domain, domain.inside) {
            (false, _) => "--no-domain-scaling keeps Z as built".to_string(),
            (true, None) => format!(
                "no scaling of Z down to 2^{} brings it inside: the model may be poor",
                domain::MIN_LOG2_FACTOR
            ),
            (true, Some(inside)) => format!(
                "scaling Z by 2^{} keeps it inside but fits the training rows worse (mean \
                 logistic loss {:.4}), so Z is {}",
                domain::log2_label(inside.factor),
                inside.loss,
                if domain.factor == 1.0 {
                    "kept as built".to_string()
                } else {
                    format!("scaled by 2^{}", domain::log2_label(domain.factor))
                }
            ),
        };
        progress.warn(&format!(
            "the plaintext run reaches |Z_i beta_i| = {:.1}, outside [-{bound}, {bound}] \
             where the sigmoid polynomial follows the sigmoid; {why}",
            pt.plain.max_abs_inner
        ));
    }
    Ok(())
}

/// The program's output (the weights) on `batches`, by the reference interpreter.
fn interpret_on(
    ir: &hel_compiler::ir::Program,
    iface: &Interface,
    batches: &[Matrix],
    k: usize,
) -> Result<Vec<f64>, TrainError> {
    let mut inputs = HashMap::new();
    inputs.insert(
        iface.data_input.clone(),
        program::batch_value(batches, 0, k),
    );
    program::interpret(ir, inputs)?
        .remove(&iface.output)
        .ok_or_else(|| TrainError::Internal("the interpreter lost the output".into()))
}
