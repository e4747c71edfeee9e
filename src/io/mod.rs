//! File handling shared by the commands.

pub mod atomic;
pub mod tensor_csv;
