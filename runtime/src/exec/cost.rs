//! The [`CostEvaluator`]: runs a schedule "dry" — tracking only each value's level, degree and
//! scale by the contract's bookkeeping rules — to count operations, check the recorded levels
//! and scales, and estimate the run time (from a [`CostTable`]) and memory without computing
//! anything.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::ckks::{plain_key, plain_operand};
use super::plan::critical_path_seconds;
use super::{Evaluator, ExecError};
use crate::schedule::cost::{CostTable, ENCODE, ROTATE_HOISTED};
use crate::schedule::rules::{self, exec_level, CtState};
use crate::schedule::{Node, Schedule, ValueId};

/// What the cost evaluator knows about a value: the bookkeeping state alone.
pub type ValueShape = CtState;

/// Operation counts and time estimates of a dry run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub log_n: u32,
    /// Operation name -> execution level -> count.
    pub ops: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Distinct plaintext encodings (what the CKKS evaluator's cache computes).
    pub plaintext_encodings: u64,
    /// Estimated single-thread seconds per operation name ([`ENCODE`] included).
    pub seconds_by_op: BTreeMap<String, f64>,
    /// Estimated single-thread seconds of the whole run.
    pub work_seconds: f64,
    /// Estimated single-thread seconds of the longest dependency chain.
    pub critical_path_seconds: f64,
}

impl CostReport {
    /// Total count of one operation over all levels.
    pub fn count(&self, op: &str) -> u64 {
        self.ops.get(op).map_or(0, |l| l.values().sum())
    }

    /// Estimated wall-clock seconds on `threads` threads, assuming the work divides evenly
    /// (independent nodes run side by side, and a lone node's limbs are split among threads).
    /// Optimistic for low-level chains, where one or two limbs leave threads idle.
    pub fn estimated_seconds(&self, threads: usize) -> f64 {
        self.work_seconds / threads.max(1) as f64
    }
}

#[derive(Default)]
struct Tally {
    ops: BTreeMap<String, BTreeMap<u32, u64>>,
    seconds_by_op: BTreeMap<String, f64>,
    plaintexts: HashSet<Vec<u8>>,
}

/// Dry-run evaluator: values are [`ValueShape`]s. Every node's level, degree and scale are
/// derived from its operands by the CKKS rules and checked against the schedule (so a dry run
/// catches what a real run would refuse, in microseconds); operations are counted by kind and
/// level and priced with a [`CostTable`]. [`Evaluator::value_bytes`] is the size the real
/// ciphertext would have, so the run's peak bytes estimate the real run's memory.
pub struct CostEvaluator<'a> {
    schedule: &'a Schedule,
    table: CostTable,
    /// Data primes, for the scale after a rescale.
    q: Vec<u64>,
    tally: Mutex<Tally>,
}

impl<'a> CostEvaluator<'a> {
    pub fn new(schedule: &'a Schedule, table: CostTable) -> Result<Self, ExecError> {
        let q = schedule
            .params
            .primes()
            .map_err(|e| ExecError::Invalid(format!("parameters: {e}")))?
            .q;
        Ok(CostEvaluator {
            schedule,
            table,
            q,
            tally: Mutex::new(Tally::default()),
        })
    }

    /// Counts and estimates of what has been evaluated so far (all of it after a run).
    pub fn report(&self) -> Result<CostReport, ExecError> {
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        Ok(CostReport {
            log_n: self.schedule.params.log_n,
            ops: tally.ops.clone(),
            plaintext_encodings: tally.plaintexts.len() as u64,
            seconds_by_op: tally.seconds_by_op.clone(),
            work_seconds: tally.seconds_by_op.values().sum(),
            critical_path_seconds: critical_path_seconds(self.schedule, &self.table)?,
        })
    }

    /// The result by the schedule's bookkeeping rules ([`rules::result`]), checked against the
    /// node's record: what the engine would refuse is refused here.
    fn predict(&self, id: ValueId, node: &Node, args: &[&CtState]) -> Result<CtState, ExecError> {
        let args: Vec<CtState> = args.iter().map(|a| **a).collect();
        let bad = |e: rules::RuleError| match e {
            rules::RuleError::MissingOperand(_) | rules::RuleError::MissingInput(_) => {
                ExecError::missing(id, node, e.to_string())
            }
            _ => ExecError::mismatch(id, node, e.to_string()),
        };
        let v =
            rules::result(&node.instr, &args, &self.schedule.ct_inputs, &self.q).map_err(bad)?;
        rules::check_recorded(node, v).map_err(bad)?;
        Ok(v)
    }

    /// Counts one node, charging it `seconds`, and its plaintext encoding if new.
    fn count(&self, node: &Node, seconds: f64) {
        let log_n = self.schedule.params.log_n;
        let level = exec_level(&self.schedule.nodes, node);
        let name = node.instr.name();
        let plain = plain_operand(self.schedule, node);
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        *tally
            .ops
            .entry(name.to_string())
            .or_default()
            .entry(level)
            .or_default() += 1;
        *tally.seconds_by_op.entry(name.to_string()).or_default() += seconds;
        if let Some((plain, plain_level, scale)) = plain {
            if tally
                .plaintexts
                .insert(plain_key(&plain, plain_level, scale))
            {
                let t = self.table.seconds(log_n, ENCODE, plain_level as usize + 1);
                *tally.seconds_by_op.entry(ENCODE.to_string()).or_default() += t;
            }
        }
    }
}

impl Evaluator for CostEvaluator<'_> {
    type Value = ValueShape;

    fn eval(
        &self,
        id: ValueId,
        node: &Node,
        args: &[&ValueShape],
    ) -> Result<ValueShape, ExecError> {
        let v = self.predict(id, node, args)?;
        let t = self.table.node_seconds(self.schedule, node);
        self.count(node, t);
        Ok(v)
    }

    fn value_bytes(&self, v: &ValueShape) -> usize {
        (v.degree as usize + 1) * (v.level as usize + 1) * self.schedule.params.n() * 8
    }

    /// Charges the group as the CKKS evaluator runs it: hoisted (the first rotation fully,
    /// the others as [`ROTATE_HOISTED`]) when that is cheaper, else as separate rotations.
    fn eval_hoisted(
        &self,
        group: &[(ValueId, &Node)],
        operand: &ValueShape,
    ) -> Result<Vec<ValueShape>, ExecError> {
        let log_n = self.schedule.params.log_n;
        let limbs = operand.level as usize + 1;
        let (_, hoist) = self.table.rotations_seconds(log_n, limbs, group.len());
        group
            .iter()
            .enumerate()
            .map(|(i, (id, node))| {
                let v = self.predict(*id, node, &[operand])?;
                let op = if hoist && i > 0 {
                    ROTATE_HOISTED
                } else {
                    "rotate"
                };
                self.count(node, self.table.seconds(log_n, op, limbs));
                Ok(v)
            })
            .collect()
    }
}
