//! Value types of the tensor IR: a shape, whether the value is encrypted, and for sequence
//! inputs (`matrix[r, c][k]`) how many elements the sequence has.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Tensor shapes are part of the contract with the runtime: one type for the IR and the schedule.
pub use hel_schedule::Shape;

/// Who may see a value: `Plain` values are public (constants, public inputs), `Enc` values exist
/// only as ciphertexts on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Secrecy {
    Plain,
    Enc,
}

impl Secrecy {
    /// The secrecy of a value computed from both: encrypted if either is.
    pub fn join(self, other: Secrecy) -> Secrecy {
        self.max(other)
    }
}

impl fmt::Display for Secrecy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Secrecy::Plain => "plain",
            Secrecy::Enc => "enc",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Type {
    pub secrecy: Secrecy,
    pub shape: Shape,
    /// `Some(k)`: a sequence of k values of `shape`.
    pub seq: Option<usize>,
}

impl Type {
    pub fn new(secrecy: Secrecy, shape: Shape) -> Type {
        Type {
            secrecy,
            shape,
            seq: None,
        }
    }

    pub fn plain(shape: Shape) -> Type {
        Type::new(Secrecy::Plain, shape)
    }

    pub fn scalar() -> Type {
        Type::plain(Shape::Scalar)
    }

    pub fn is_enc(self) -> bool {
        self.secrecy == Secrecy::Enc
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.secrecy, self.shape)?;
        if let Some(k) = self.seq {
            write!(f, "[{k}]")?;
        }
        Ok(())
    }
}
