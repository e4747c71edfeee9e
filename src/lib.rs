//! The `hel` application library: everything the CLI does beyond compiling (data sets, the
//! plaintext reference trainer, metrics), kept here so tests and benches can call it directly.

pub mod data;
pub mod examples;
pub mod metrics;
pub mod reference;
pub mod train;
