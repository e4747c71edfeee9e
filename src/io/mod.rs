//! File handling shared by the commands.

pub mod atomic;
pub mod input_args;
pub mod tensor_csv;
pub mod tensor_npy;
pub mod terminal;
