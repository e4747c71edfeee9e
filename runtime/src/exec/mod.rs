//! Executing a [`Schedule`](crate::schedule::Schedule): a DAG scheduler generic over an
//! [`Evaluator`], and the evaluators that give the DAG a meaning:
//!
//! - [`CkksEvaluator`]: the real thing, on ciphertexts;
//! - [`PlainEvaluator`]: the slot-level f64 reference ([`crate::schedule::apply_plain`]);
//! - [`DebugEvaluator`]: both in lockstep with the secret key, stopping at the first node whose
//!   encrypted value leaves the compiler's predicted error bound;
//! - [`CostEvaluator`]: counts operations and estimates time from a measured [`CostTable`]
//!   without computing anything.
//!
//! The scheduler ([`execute`]) runs a node as soon as its operands exist, preferring the node
//! with the longest estimated path to a sink, and frees every value when its last consumer has
//! finished. See [`execute`] for the thread model. It has two files: `plan.rs` derives the
//! tasks, dependency counts and priorities from the schedule before anything runs (its longest
//! path is also the cost model's [`critical_path_seconds`]), and `executor.rs` runs the plan on
//! a thread pool. `calibrate.rs` measures a [`CostTable`] on this machine ([`calibrate`]).
//! `refresh.rs` ([`Refresher`]) turns one round's state outputs into the next round's inputs
//! by bootstrapping, on the server.
//!
//! Nothing here predicts run times on other machines: hel parallelises inside each operation
//! (limbs, digits, tiles), so a replay with one operation per worker (the SEAL/HIT model) is
//! not hel's execution, and a 16-core measurement contradicted it (`docs/performance.md`).

mod calibrate;
mod ckks;
mod cost;
mod debug;
mod executor;
mod plain;
mod plan;
mod refresh;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ckks::CkksError;
use crate::schedule::{Node, ValueId};

pub use self::ckks::CkksEvaluator;
pub use crate::schedule::bootstrap::bootstraps_between;
pub use calibrate::{calibrate, calibrate_bootstraps};
pub use cost::{CostEvaluator, CostReport, ValueShape};
pub use debug::{DebugEvaluator, DebugValue};
pub use executor::execute;
/// The cost table is part of the contract: the compiler prices layouts with it too.
pub use hel_schedule::cost::{CostCurve, CostTable, CostTableError, ENCODE, ROTATE_HOISTED};
/// The bookkeeping rules' helpers, shared with the compiler's schedule checker.
pub use hel_schedule::rules::exec_level;
pub use plain::PlainEvaluator;
pub use plan::critical_path_seconds;
pub use refresh::{Refreshed, Refresher};

/// Gives schedule nodes a meaning. Implementations are shared by the scheduler's threads.
pub trait Evaluator: Sync {
    /// What a node evaluates to (a ciphertext, a slot vector, ...).
    type Value: Send + Sync;

    /// Evaluates node `id` from its operands' values (`args[i]` belongs to
    /// `node.instr.operands()[i]`; an `Input` node has none and produces its input itself).
    fn eval(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&Self::Value],
    ) -> Result<Self::Value, ExecError>;

    /// Like [`Evaluator::eval`] when the first operand's value is not needed after this node
    /// (this is its last reader, it is not an output and no other operand is the same value):
    /// the evaluator may turn it into the result in place instead of copying it. The default
    /// borrows it.
    fn eval_consuming(
        &self,
        id: ValueId,
        node: &Node,
        first: Self::Value,
        rest: &[&Self::Value],
    ) -> Result<Self::Value, ExecError> {
        let mut args = Vec::with_capacity(rest.len() + 1);
        args.push(&first);
        args.extend_from_slice(rest);
        self.eval(id, node, &args)
    }

    /// Memory held by a value, for the scheduler's live-bytes accounting.
    fn value_bytes(&self, v: &Self::Value) -> usize;

    /// Evaluates a hoisting group: `Rotate` nodes (`group[i] = (id, node)`) that all read
    /// `operand`, returning one value per node in order. Evaluators that can share work between
    /// the rotations (one key-switching decomposition for all of them) override this; the
    /// default evaluates them one by one.
    fn eval_hoisted(
        &self,
        group: &[(ValueId, &Node)],
        operand: &Self::Value,
    ) -> Result<Vec<Self::Value>, ExecError> {
        group
            .iter()
            .map(|(id, node)| self.eval(*id, node, &[operand]))
            .collect()
    }
}

/// How to run a schedule.
#[derive(Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// Size of the dedicated thread pool; 0 = one thread per core.
    pub threads: usize,
    /// Called after each finished node with (nodes done, total nodes); may be called from
    /// several threads at once.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// Soft limit on the live bytes: above it the scheduler prefers nodes that free values
    /// over the critical path. `None`: always the critical path (fastest, most memory).
    pub memory_limit: Option<usize>,
}

impl RunOptions<'_> {
    /// The number of threads a run with these options uses (`threads`, or one per core).
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
    }
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

/// The outputs of a run and how it went.
#[derive(Debug)]
pub struct RunResult<V> {
    /// The values the schedule's outputs read, by node (sorted by id, no duplicates).
    pub outputs: Vec<(ValueId, V)>,
    pub stats: RunStats,
}

impl<V> RunResult<V> {
    /// The value of output node `id`, if it is one.
    pub fn output(&self, id: ValueId) -> Option<&V> {
        self.outputs
            .binary_search_by_key(&id, |(v, _)| *v)
            .ok()
            .map(|i| &self.outputs[i].1)
    }
}

/// Measurements of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Wall-clock time of the run (pool creation excluded).
    pub seconds: f64,
    /// Threads of the pool the run used.
    pub threads: usize,
    /// Largest total of [`Evaluator::value_bytes`] over the values alive at any moment.
    pub peak_bytes: usize,
    /// Operations executed, by [`crate::schedule::Instr::name`].
    pub ops: BTreeMap<String, u64>,
    /// Operations executed, by the level they execute at (the operand's level; an input's own
    /// level), then by name.
    pub ops_by_level: BTreeMap<u32, BTreeMap<String, u64>>,
    /// Time spent inside the evaluator, summed over threads, by operation name. A hoisting
    /// group's time is split evenly among its rotations.
    pub op_seconds: BTreeMap<String, f64>,
    /// Hoisting groups evaluated together.
    pub hoisted_groups: usize,
}

/// Why a run stopped. Node errors name the node, its operation and where in the source it
/// comes from.
#[derive(Debug, Error, PartialEq)]
pub enum ExecError {
    #[error("{}: {source}", site(*node, op, *tensor_node, span))]
    Ckks {
        node: ValueId,
        op: &'static str,
        tensor_node: u32,
        span: Option<String>,
        source: CkksError,
    },
    /// The evaluated value disagrees with what the compiler recorded for the node.
    #[error("{}: {detail}", site(*node, op, *tensor_node, span))]
    Mismatch {
        node: ValueId,
        op: &'static str,
        tensor_node: u32,
        span: Option<String>,
        detail: String,
    },
    /// The debug evaluator found an encrypted value further from the plaintext reference than
    /// the compiler's bound.
    #[error(
        "{}: encrypted result diverged from the plaintext reference: max error {error:.3e} \
         exceeds the predicted bound {bound:.3e}\n  expected (first slots): {}\n  actual   \
         (first slots): {}",
        site(*node, op, *tensor_node, span),
        slots(expected),
        slots(actual)
    )]
    Diverged {
        node: ValueId,
        op: &'static str,
        span: Option<String>,
        tensor_node: u32,
        /// First 8 slots of the plaintext reference.
        expected: Vec<f64>,
        /// First 8 slots of the decrypted value.
        actual: Vec<f64>,
        /// Largest absolute difference over all slots.
        error: f64,
        bound: f64,
    },
    /// Something a node reads is not available (a public input, a derived tensor).
    #[error("{}: {what} is missing", site(*node, op, *tensor_node, span))]
    Missing {
        node: ValueId,
        op: &'static str,
        tensor_node: u32,
        span: Option<String>,
        what: String,
    },
    /// The inputs given to an evaluator do not fit the schedule.
    #[error("bad input: {0}")]
    Input(String),
    /// The schedule is structurally unusable (checked before anything runs).
    #[error("invalid schedule: {0}")]
    Invalid(String),
    #[error("cannot create a thread pool: {0}")]
    ThreadPool(String),
    /// A round's state could not be refreshed into the next round's inputs ([`Refresher`]).
    #[error("refreshing the state between rounds: {0}")]
    Refresh(String),
    #[error(transparent)]
    CostTable(#[from] hel_schedule::cost::CostTableError),
}

impl ExecError {
    /// A [`CkksError`] raised while evaluating `node`.
    pub(crate) fn ckks(id: ValueId, node: &Node, source: CkksError) -> Self {
        ExecError::Ckks {
            node: id,
            op: node.instr.name(),
            tensor_node: node.origin.tensor_node,
            span: node.origin.span.clone(),
            source,
        }
    }

    /// The evaluated value of `node` is not what the schedule recorded.
    pub(crate) fn mismatch(id: ValueId, node: &Node, detail: String) -> Self {
        ExecError::Mismatch {
            node: id,
            op: node.instr.name(),
            tensor_node: node.origin.tensor_node,
            span: node.origin.span.clone(),
            detail,
        }
    }

    /// Something `node` reads is unavailable.
    pub(crate) fn missing(id: ValueId, node: &Node, what: impl Into<String>) -> Self {
        ExecError::Missing {
            node: id,
            op: node.instr.name(),
            tensor_node: node.origin.tensor_node,
            span: node.origin.span.clone(),
            what: what.into(),
        }
    }

    /// The node an error is about, if any.
    pub fn node(&self) -> Option<ValueId> {
        match self {
            ExecError::Ckks { node, .. }
            | ExecError::Mismatch { node, .. }
            | ExecError::Diverged { node, .. }
            | ExecError::Missing { node, .. } => Some(*node),
            _ => None,
        }
    }
}

/// `node 12 (rotate) of tensor %5 at f.hel:3:4`.
fn site(node: ValueId, op: &str, tensor_node: u32, span: &Option<String>) -> String {
    match span {
        Some(s) => format!("node {node} ({op}) of tensor %{tensor_node} at {s}"),
        None => format!("node {node} ({op}) of tensor %{tensor_node} (no source location)"),
    }
}

fn slots(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", items.join(", "))
}

pub(crate) use hel_schedule::rules::scales_match;
