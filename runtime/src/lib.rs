pub mod ckks;
pub mod exec;
pub mod schedule;
