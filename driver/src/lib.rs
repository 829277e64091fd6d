//! The ixgbe driver of ixy-mp.
//!
//! So far this crate holds the datasheet facts that the driver and the
//! simulator share: register offsets, bit meanings and read side effects
//! ([`regs`]). Device access, DMA memory, the mempool and the queues follow.

pub mod regs;
