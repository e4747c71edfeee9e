//! hel-schedule: the contract between the hel compiler and the hel runtime.
//!
//! The compiler produces a [`Schedule`]; the runtime executes it. Everything both sides must
//! agree on lives here, once:
//!
//! - the schedule itself ([`program`]): the ciphertext instruction set ([`Instr`]), the client's
//!   packing ([`Pack`], [`Layout`]) and precomputation ([`DerivedTensor`]), the outputs, its file
//!   format ([`ScheduleFormat`]), a readable listing ([`Schedule::to_text`]) and structural
//!   validation ([`ScheduleError`]);
//! - the slot-level semantics: [`pack_slots`], [`unpack_output`] and the reference simulation
//!   [`simulate`] (f64 slots with the real packing), which the compiler uses to check its
//!   lowering and the runtime's `plain` evaluator runs;
//! - CKKS parameters ([`params`]): bit sizes, the deterministic prime chain ([`primes`]), the
//!   HomomorphicEncryption.org 128-bit table;
//! - the bookkeeping rules ([`rules`]): the level, scale and degree each instruction produces,
//!   the scale tolerance and the noise constants, used by the compiler's schedule checker and
//!   the runtime's dry-run evaluator alike;
//! - the cost table ([`cost`]): measured seconds per operation, which the compiler's layout
//!   choice and the runtime's cost evaluator both read.
//!
//! The crate has no cryptography: it is plain data and f64 arithmetic, so the compiler can
//! depend on it without linking the CKKS engine.
//!
//! A schedule has two halves:
//! - the **client** side: which tensors the user provides ([`TensorInput`]), which further
//!   tensors the client computes from them ([`DerivedTensor`], e.g. `Z[1] @ transpose(Z[0])`),
//!   how each encrypted input ciphertext is packed ([`CtInput`]: a [`Pack`] at a level and scale),
//!   and how the outputs are unpacked ([`TensorOutput`]);
//! - the **server** side: a DAG of ciphertext instructions ([`Node`]) in topological order; the
//!   value of node `i` is referred to by its index. Every node records the level, scale and
//!   degree the compiler derived for it, so executors can check what they compute.
//!
//! Slots are viewed as a `unit.h × unit.w` grid, row-major: slot `a * w + b` is row `a`,
//! column `b` of the unit (Crockett 2020, after Han et al.).

pub mod bootstrap;
mod bounds;
pub mod cost;
mod cost_default;
pub mod distortion;
mod format;
pub mod limits;
pub mod matmul;
mod pack;
pub mod params;
pub mod primes;
mod print_text;
pub mod program;
mod resources;
pub mod rules;
mod simulate;
mod validate;

pub use bootstrap::BootstrapParams;
pub use distortion::SineDistortion;
pub use format::{
    canonical_bytes, check_file_size, ScheduleFormat, SCHEDULE_HEADER, SCHEDULE_MAGIC,
};
pub use pack::{eval_derived, pack_slots, plain_slots, unpack_output, Tensor};
pub use params::{CkksParams, ParamsError, Security};
pub use program::*;
pub use resources::Resources;
pub use simulate::{
    apply_plain, apply_plain_into, check_inputs, derived_tensors, max_abs, simulate,
    simulate_magnitudes, simulate_magnitudes_prepared, simulate_noise, simulate_noise_prepared,
    simulate_values, source, unpack_outputs, NoiseStats, Prepared, SimulationError,
};
pub use validate::ScheduleError;
