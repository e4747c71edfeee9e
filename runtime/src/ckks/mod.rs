//! RNS-CKKS engine.
