pub mod ckks;
pub mod client;
pub mod exec;
/// The schedule and everything else the compiler and runtime agree on (the `hel-schedule`
/// contract crate), re-exported so that `hel_runtime::schedule::…` paths keep working.
pub use hel_schedule as schedule;
