//! The ixgbe driver of ixy-mp: a user-space driver for the Intel 82599
//! family (82599ES / X520, X540, X550) that runs unchanged on hardware and
//! on the simulator.
//!
//! Follow a packet: [`Device::open`] maps BAR0 ([`Registers`], in `mmio`) through VFIO,
//! sysfs or the simulator ([`simdev`]); [`Device::init`] runs the global
//! init with RSS ([`rss`]); a worker creates its [`Mempool`] in DMA memory
//! ([`memory`]), attaches an [`RxQueue`] and a [`TxQueue`], and moves
//! [`Packet`]s with [`RxQueue::rx_batch`] and [`TxQueue::tx_batch`]. The
//! supervisor reads [`stats`]; [`timestamp`] gives IEEE 1588 times.
//! Register names and bits are in [`regs`], with datasheet sections.
//! Programs take their devices through [`Owned::take`] ([`claim`]): an
//! exclusive lock per device, then reset, then the memory of dead owners
//! reclaimed.
//!
//! # The API in one page
//!
//! `driver/README.md` points here; `cargo test -p ixy-driver --doc`
//! compiles this example, so it stays true to the API.
//!
//! ```no_run
//! use ixy_driver::{InitConfig, Mempool, OpenOptions, Owned, RssConfig, RssKey, RxQueue, TxQueue};
//!
//! fn main() -> ixy_driver::Result<()> {
//!     // Supervisor: claim the device (an exclusive lock: no other program
//!     // takes it), open it, reset it and initialise it globally (datasheet
//!     // 4.6.3-4.6.8), then reclaim what dead owners left. Device::open and
//!     // Device::init do the same without the claim.
//!     let init = InitConfig {
//!         rss: Some(RssConfig::new(4, RssKey::Default)?), // RSS over queues 0..3
//!         promisc: false,
//!         ..InitConfig::default() // waits up to 10 s for the link
//!     };
//!     let spec = "sim:demo/0".to_string(); // or a PCI address, "0000:03:00.0"
//!     let devs = Owned::take(&[spec], &OpenOptions::default(), &init, "example")?;
//!     let dev = &devs[0];
//!
//!     // Worker (after fork and pinning): its own pool, its own queue pair.
//!     let pool = Mempool::new(dev.dma(), "w0", 4096, 2048)?; // 4096 buffers of 2 KiB
//!     let mut rx = RxQueue::attach(dev, 0, &pool, 1024, true)?; // DROP_EN on
//!     let mut tx = TxQueue::attach(dev, 0, 1024)?;
//!     let mut batch = Vec::with_capacity(32); // reused: no allocation per batch
//!     for _ in 0..1_000_000 {
//!         // Packet<'pool>: data(), data_mut(), len(), rss_hash(), rss_type(), timestamped()
//!         rx.rx_batch(&mut batch, 32);
//!         for p in batch.iter_mut() {
//!             p.data_mut()[0] ^= 0;
//!         }
//!         tx.tx_batch(&mut batch); // sends from the front, removes what it sent
//!         batch.clear(); // unsent packets go back to the pool
//!     }
//!     // Disable, wait for the device to read back 0, then free (drop does
//!     // the same); the pool goes after its queues.
//!     rx.detach()?;
//!     tx.detach()?;
//!     Ok(())
//! }
//! ```

pub mod checksum;
pub mod claim;
pub mod desc;
pub mod device;
pub mod error;
pub mod fuzz;
pub mod ixgbe;
pub mod memory;
pub mod mempool;
mod mmio;
pub mod pcap;
mod pci;
mod queue;
pub mod regs;
pub mod rss;
pub mod rx;
pub mod shm;
pub mod simdev;
pub mod simfmt;
pub mod stats;
pub mod timestamp;
pub mod tsc;
pub mod tx;
mod vfio;
pub mod virtio;

pub use claim::{Claim, Owned};
pub use device::{Device, InitConfig, LinkStatus, OpenOptions};
pub use error::{Error, ErrorKind, Result};
pub use ixgbe::Ixgbe;
pub use mempool::{Mempool, Packet};
pub use mmio::{Bar, Registers};
pub use pci::PciAddress;
pub use queue::{RxQueue, TxQueue};
pub use rss::{RssConfig, RssKey};
pub use virtio::VirtioNet;
