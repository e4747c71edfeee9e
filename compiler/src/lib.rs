//! hel compiler
