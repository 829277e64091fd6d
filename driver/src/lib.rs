//! The ixgbe driver of ixy-mp: a user-space driver for the Intel 82599
//! family (82599ES / X520, X540, X550) that runs unchanged on hardware and
//! on the simulator.
//!
//! Follow a packet: [`Device::open`] maps BAR0 ([`mmio`]) through VFIO,
//! sysfs or the simulator ([`simdev`]); [`Device::init`] runs the global
//! init with RSS ([`rss`]); a worker creates its [`Mempool`] in DMA memory
//! ([`memory`]), attaches an [`RxQueue`] and a [`TxQueue`], and moves
//! [`Packet`]s with [`RxQueue::rx_batch`] and [`TxQueue::tx_batch`]. The
//! supervisor reads [`stats`]; [`timestamp`] gives IEEE 1588 times.
//! Register names and bits are in [`regs`], with datasheet sections.
//! Programs take their devices through [`Owned::take`] ([`claim`]): an
//! exclusive lock per device, then reset, then the memory of dead owners
//! reclaimed.

pub mod checksum;
pub mod claim;
pub mod desc;
pub mod device;
pub mod error;
pub mod fuzz;
pub mod memory;
pub mod mempool;
pub mod mmio;
pub mod pci;
pub mod regs;
pub mod rss;
pub mod rx;
pub mod simdev;
pub mod stats;
pub mod timestamp;
pub mod tsc;
pub mod tx;
pub mod vfio;

pub use claim::{Claim, Owned};
pub use device::{Device, InitConfig, LinkStatus, OpenOptions};
pub use error::{Error, ErrorKind, Result};
pub use mempool::{Mempool, Packet};
pub use rss::{RssConfig, RssKey};
pub use rx::RxQueue;
pub use tx::TxQueue;
