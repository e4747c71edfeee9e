//! Data sets and client-side preprocessing for logistic regression on encrypted data.
//!
//! Pipeline: load ([`csv::load_csv`] or [`mnist::bundled_train`]) → split ([`split`]) → fit a
//! [`Scaling`] on the training rows → build Z = diag(y)·[1 | scaled x] ([`design_matrix`]) →
//! cut it into minibatches ([`minibatches`]). [`prepare`] strings these together.

pub mod csv;
mod dataset;
mod design;
mod error;
pub mod idx;
mod matrix;
pub mod mnist;
pub mod npy;
pub mod prepare;
mod scaling;
pub mod split;

pub use dataset::Dataset;
pub use design::{batch_index, design_matrix, minibatches};
pub use error::DataError;
pub use matrix::{dot, Matrix};
pub use scaling::{Interval, Scaling};
