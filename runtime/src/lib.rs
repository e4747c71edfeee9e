pub mod ckks;
pub mod client;
pub mod schedule;
