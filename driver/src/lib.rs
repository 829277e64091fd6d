//! The ixgbe driver of ixy-mp.

pub mod error;
pub mod regs;

pub use error::{Error, ErrorKind, Result};
