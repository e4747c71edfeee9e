//! File handling shared by the commands.

// Atomic writes live in the library (the Python package writes the same files the same way).
pub use hel::atomic;
pub mod input_args;
pub mod tensor_csv;
pub mod tensor_npy;
pub mod terminal;
