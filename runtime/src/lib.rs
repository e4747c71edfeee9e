pub mod ckks;
pub mod schedule;
