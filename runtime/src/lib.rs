pub mod ckks;
pub mod client;
pub mod exec;
pub mod schedule;
