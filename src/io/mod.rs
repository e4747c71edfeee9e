//! File handling shared by the commands.

pub mod atomic;
