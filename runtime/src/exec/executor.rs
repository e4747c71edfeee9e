//! The *executor*: runs a [`Plan`] on a dedicated rayon pool, with dependency counting,
//! critical-path (or memory-first) ordering of the ready tasks, and live-bytes accounting that
//! frees each value as soon as its last consumer has finished.
//!
//! A task becomes ready when the tasks producing its operands have finished; ready tasks wait
//! in a priority queue ordered by the plan's priority (the estimated time of the longest path
//! from the task to a sink), so the chain that bounds the run's length starts first and short
//! side branches fill the gaps. This file holds everything that touches threads and values;
//! what can be decided before the run is in [`super::plan`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::plan::Plan;
use super::{exec_level, Evaluator, ExecError, RunOptions, RunResult, RunStats};
use crate::schedule::cost::CostTable;
use crate::schedule::{Node, Schedule, ValueId};

/// A value and the bytes it was accounted with.
struct Slot<V> {
    value: Arc<V>,
    bytes: usize,
}

/// A ready task in the critical-path queue: highest priority first, then lowest index.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Ready {
    /// Bits of a non-negative f64, which order like the numbers.
    priority: u64,
    task: Reverse<usize>,
}

/// A ready task in the memory queue: the most values freed minus produced first (as known
/// when it became ready), then the critical path.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ReadyMem {
    net_freed: isize,
    by_path: Ready,
}

/// The ready tasks, in two orders. A task popped from one queue stays in the other until it
/// surfaces there and is skipped.
#[derive(Default)]
struct ReadyQueues {
    by_path: BinaryHeap<Ready>,
    by_memory: BinaryHeap<ReadyMem>,
    taken: Vec<bool>,
}

impl ReadyQueues {
    fn pop(&mut self, memory_first: bool) -> Option<usize> {
        loop {
            let t = if memory_first {
                self.by_memory.pop()?.by_path.task.0
            } else {
                self.by_path.pop()?.task.0
            };
            if !std::mem::replace(&mut self.taken[t], true) {
                return Some(t);
            }
        }
    }
}

struct Shared<'a, E: Evaluator> {
    schedule: &'a Schedule,
    evaluator: &'a E,
    plan: &'a Plan,
    values: Vec<Mutex<Option<Slot<E::Value>>>>,
    /// Unfinished producer tasks, per task.
    pending: Vec<AtomicUsize>,
    /// Unfinished consumer tasks, per value.
    readers: Vec<AtomicUsize>,
    ready: Mutex<ReadyQueues>,
    /// Above this many live bytes, tasks that free values go first.
    memory_limit: Option<usize>,
    live: AtomicUsize,
    peak: AtomicUsize,
    failed: AtomicBool,
    error: Mutex<Option<ExecError>>,
    done: AtomicUsize,
    op_seconds: Mutex<BTreeMap<String, f64>>,
    hoisted: AtomicUsize,
    progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// Locks a mutex; a poisoned lock (a panicking evaluator) still holds consistent data here,
/// and the panic itself propagates out of the scope.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<E: Evaluator> Shared<'_, E> {
    fn push_ready(&self, t: usize) {
        let by_path = || Ready {
            priority: self.plan.priority[t].to_bits(),
            task: Reverse(t),
        };
        let mut ready = lock(&self.ready);
        ready.by_path.push(by_path());
        if self.memory_limit.is_some() {
            // Values this task would free if it ran now (it is their only unfinished reader).
            let task = &self.plan.tasks[t];
            let freed = task
                .reads
                .iter()
                .filter(|v| {
                    !self.plan.is_output[**v as usize]
                        && self.readers[**v as usize].load(Ordering::Acquire) == 1
                })
                .count();
            ready.by_memory.push(ReadyMem {
                net_freed: freed as isize - task.nodes.len() as isize,
                by_path: by_path(),
            });
        }
    }

    /// The next task to run: by critical path, or by memory freed while over the limit.
    fn pop_ready(&self) -> Option<usize> {
        let pressure = self
            .memory_limit
            .is_some_and(|limit| self.live.load(Ordering::Acquire) >= limit);
        lock(&self.ready).pop(pressure)
    }

    fn get(&self, v: ValueId) -> Result<Arc<E::Value>, ExecError> {
        lock(&self.values[v as usize])
            .as_ref()
            .map(|s| s.value.clone())
            .ok_or_else(|| ExecError::Invalid(format!("value {v} was freed before it was read")))
    }

    /// Takes value `v` out of its slot when the task about to run is its last reader, it is
    /// not an output and it is read once by the node (`operands`), so the evaluator can reuse
    /// it. Returns it with the bytes it is accounted with: they stay in the live count until
    /// the result is stored (an evaluator that does not reuse it holds both meanwhile).
    fn take_last(&self, v: ValueId, operands: &[ValueId]) -> Option<(E::Value, usize)> {
        let vi = v as usize;
        if self.plan.is_output[vi]
            || self.readers[vi].load(Ordering::Acquire) != 1
            || operands.iter().filter(|&&a| a == v).count() != 1
        {
            return None;
        }
        let mut slot = lock(&self.values[vi]);
        let Slot { value, bytes } = slot.take()?;
        match Arc::try_unwrap(value) {
            Ok(value) => Some((value, bytes)),
            // Still shared (cannot happen for the last reader): leave it for `get`.
            Err(value) => {
                *slot = Some(Slot { value, bytes });
                None
            }
        }
    }

    fn free(&self, v: ValueId) {
        if let Some(slot) = lock(&self.values[v as usize]).take() {
            self.live.fetch_sub(slot.bytes, Ordering::AcqRel);
        }
    }

    fn run_task(&self, t: usize) -> Result<(), ExecError> {
        let task = &self.plan.tasks[t];
        let nodes = &self.schedule.nodes;
        let start = Instant::now();
        // Bytes of an operand the evaluator consumed: no longer in its slot.
        let mut consumed_bytes = 0;
        let results = if let [id] = task.nodes[..] {
            let node = &nodes[id as usize];
            let operands = node.instr.operands();
            let owned = operands.first().and_then(|&a| self.take_last(a, &operands));
            let skip = usize::from(owned.is_some());
            consumed_bytes = owned.as_ref().map_or(0, |o| o.1);
            let args = operands[skip..]
                .iter()
                .map(|a| self.get(*a))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&E::Value> = args.iter().map(|a| a.as_ref()).collect();
            vec![match owned {
                Some((first, _)) => self.evaluator.eval_consuming(id, node, first, &refs)?,
                None => self.evaluator.eval(id, node, &refs)?,
            }]
        } else {
            let group: Vec<(ValueId, &Node)> = task
                .nodes
                .iter()
                .map(|m| (*m, &nodes[*m as usize]))
                .collect();
            let operand = match task.reads[..] {
                [a] => self.get(a)?,
                _ => {
                    return Err(ExecError::Invalid(format!(
                        "hoisting group at node {} reads several values",
                        task.nodes[0]
                    )))
                }
            };
            self.hoisted.fetch_add(1, Ordering::Relaxed);
            self.evaluator.eval_hoisted(&group, &operand)?
        };
        let elapsed = start.elapsed().as_secs_f64();
        if results.len() != task.nodes.len() {
            return Err(ExecError::Invalid(format!(
                "the evaluator returned {} values for {} nodes at node {}",
                results.len(),
                task.nodes.len(),
                task.nodes[0]
            )));
        }
        {
            let share = elapsed / task.nodes.len() as f64;
            let mut times = lock(&self.op_seconds);
            for id in &task.nodes {
                *times
                    .entry(nodes[*id as usize].instr.name().to_string())
                    .or_default() += share;
            }
        }
        // Results are stored before the operands are freed: for a moment both exist, and
        // the peak must see that.
        for (id, value) in task.nodes.iter().zip(results) {
            let bytes = self.evaluator.value_bytes(&value);
            let now = self.live.fetch_add(bytes, Ordering::AcqRel) + bytes;
            self.peak.fetch_max(now, Ordering::AcqRel);
            *lock(&self.values[*id as usize]) = Some(Slot {
                value: Arc::new(value),
                bytes,
            });
            if self.plan.consumers[*id as usize] == 0 && !self.plan.is_output[*id as usize] {
                self.free(*id);
            }
        }
        self.live.fetch_sub(consumed_bytes, Ordering::AcqRel);
        for v in &task.reads {
            let before = self.readers[*v as usize].fetch_sub(1, Ordering::AcqRel);
            if before == 1 && !self.plan.is_output[*v as usize] {
                self.free(*v);
            }
        }
        let done = self.done.fetch_add(task.nodes.len(), Ordering::AcqRel) + task.nodes.len();
        if let Some(progress) = self.progress {
            progress(done, nodes.len());
        }
        Ok(())
    }

    fn fail(&self, e: ExecError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// One unit of rayon work: runs the best ready task (not necessarily the one whose readiness
/// spawned this job) and spawns one job per task it makes ready. Jobs and queue entries are
/// created in pairs, so every ready task is eventually taken.
fn job<'s, E: Evaluator>(scope: &rayon::Scope<'s>, shared: &'s Shared<'s, E>) {
    if shared.failed.load(Ordering::Acquire) {
        return;
    }
    let Some(t) = shared.pop_ready() else {
        return;
    };
    if let Err(e) = shared.run_task(t) {
        shared.fail(e);
        return;
    }
    for &d in &shared.plan.dependents[t] {
        if shared.pending[d].fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.push_ready(d);
            scope.spawn(move |s| job(s, shared));
        }
    }
}

/// Runs `schedule` with `evaluator` and returns the output values.
///
/// A node runs as soon as its operands exist (dependency counting, no per-level barrier);
/// among ready nodes the one with the longest estimated path to a sink goes first — unless
/// [`RunOptions::memory_limit`] is set and the live values exceed it: then the node that frees
/// the most values goes first (the critical-path order can keep many wide intermediate results
/// alive, e.g. all rotations of a vector before any of them is consumed). Each value
/// is freed when the last node reading it has finished — counted per value at run time rather
/// than taken from [`Node::last_use`], because with several threads the topologically last
/// reader is not necessarily the last to finish. Output values are kept.
///
/// Threads: the run happens in a dedicated rayon pool of `options.threads` threads. Each task
/// is a rayon job, and the CKKS operations' own parallelism over RNS limbs (`par_iter`,
/// `join`) lands in the same pool, because rayon's parallel calls use the pool of the thread
/// they are made from. A thread waiting inside an operation's parallel section steals other
/// pending work, so at most `threads` threads are ever busy (no oversubscription): with many
/// ready nodes the threads run nodes side by side, with one ready node they share its limbs.
/// Consequently the per-operation times in [`RunStats::op_seconds`] are approximate when
/// `threads > 1` (they can include stolen work).
pub fn execute<E: Evaluator>(
    schedule: &Schedule,
    evaluator: &E,
    options: &RunOptions,
) -> Result<RunResult<E::Value>, ExecError> {
    let table = CostTable::default();
    let plan = Plan::new(schedule, &table)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.thread_count())
        .thread_name(|i| format!("hel-exec-{i}"))
        // A thread waiting inside an operation's parallel section may run whole other nodes
        // on top of its stack (work stealing), so nesting can get deeper than in plain rayon
        // code: room for it, in virtual memory only.
        .stack_size(16 << 20)
        .build()
        .map_err(|e| ExecError::ThreadPool(e.to_string()))?;
    let n = schedule.nodes.len();
    let shared = Shared {
        schedule,
        evaluator,
        plan: &plan,
        values: (0..n).map(|_| Mutex::new(None)).collect(),
        pending: plan.deps.iter().map(|d| AtomicUsize::new(*d)).collect(),
        readers: plan
            .consumers
            .iter()
            .map(|c| AtomicUsize::new(*c))
            .collect(),
        ready: Mutex::new(ReadyQueues {
            taken: vec![false; plan.tasks.len()],
            ..ReadyQueues::default()
        }),
        memory_limit: options.memory_limit,
        live: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        done: AtomicUsize::new(0),
        op_seconds: Mutex::new(BTreeMap::new()),
        hoisted: AtomicUsize::new(0),
        progress: options.progress,
    };
    let start = Instant::now();
    pool.install(|| {
        rayon::scope(|s| {
            let shared = &shared;
            for (t, d) in plan.deps.iter().enumerate() {
                if *d == 0 {
                    shared.push_ready(t);
                    s.spawn(move |s| job(s, shared));
                }
            }
        })
    });
    let seconds = start.elapsed().as_secs_f64();
    if let Some(e) = lock(&shared.error).take() {
        return Err(e);
    }
    let done = shared.done.load(Ordering::Acquire);
    if done != n {
        return Err(ExecError::Invalid(format!(
            "only {done} of {n} nodes could run (the dependencies do not resolve)"
        )));
    }
    let mut outputs = Vec::new();
    for v in schedule.output_values() {
        let slot = lock(&shared.values[v as usize]).take();
        let value = slot
            .and_then(|s| Arc::try_unwrap(s.value).ok())
            .ok_or_else(|| ExecError::Invalid(format!("output value {v} is not available")))?;
        outputs.push((v, value));
    }
    let mut stats = RunStats {
        seconds,
        threads: pool.current_num_threads(),
        peak_bytes: shared.peak.load(Ordering::Acquire),
        op_seconds: std::mem::take(&mut *lock(&shared.op_seconds)),
        hoisted_groups: shared.hoisted.load(Ordering::Acquire),
        ..RunStats::default()
    };
    for node in &schedule.nodes {
        let name = node.instr.name().to_string();
        *stats.ops.entry(name.clone()).or_default() += 1;
        *stats
            .ops_by_level
            .entry(exec_level(&schedule.nodes, node))
            .or_default()
            .entry(name)
            .or_default() += 1;
    }
    Ok(RunResult { outputs, stats })
}
