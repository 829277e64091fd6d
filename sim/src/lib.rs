//! A register-level model of the Intel 82599 10 GbE controller.
//!
//! A *lab* is a set of simulated ports and the cables between them, living
//! in a directory (`$IXY_SIM_DIR/LAB`, default `/dev/shm/ixy-sim/LAB`): one
//! BAR file per port with the registers at datasheet offsets, one IOMMU
//! table, and a control socket. A driver maps the BAR file as it would map
//! BAR0 of a PCI device and registers its DMA memory in the IOMMU table; the
//! model's polling thread does what the silicon would. `sim/README.md`
//! documents the files precisely enough to write a driver in any language.
//!
//! The path of a frame: [`tx`] fetches descriptors and data from a port's
//! Tx queues and puts the frame on the cable ([`wire`]); [`rx`] takes it off
//! at the peer port, checks, filters, hashes ([`rss`]) and buffers it, then
//! writes it into the chosen Rx queue's ring. [`port`] handles everything
//! else a driver writes (reset, link, queue enables), [`clock`] the IEEE
//! 1588 time, [`lab`] the loop and [`control`] fault injection.
//!
//! ```no_run
//! let lab = ixy_sim::Lab::start(ixy_sim::LabConfig::new("demo")).expect("lab");
//! let bar = ixy_sim::Bar::open(&lab.bar_path(0)).expect("bar");
//! assert_ne!(bar.read(driver::regs::EEC) & driver::regs::EEC_ARD, 0);
//! ```
//!
//! The crate holds one `unsafe` block, the ioctl that creates a TAP device
//! ([`tap`]): shared files are reached through the driver's
//! [`driver::shm::SharedMap`], and their formats are the driver's
//! [`driver::simfmt`].

#![deny(unsafe_code)]

pub mod alias;
pub mod bar;
pub mod clock;
pub mod control;
pub(crate) mod crossing;
pub mod frame;
pub mod fuzz;
pub mod harness;
pub mod iommu;
pub mod lab;
pub mod port;
pub mod rss;
pub mod rx;
pub mod shard;
pub mod stats;
pub mod tap;
pub mod tx;
pub mod wire;

pub use bar::Bar;
pub use driver::simfmt::bar::SimCounter;
pub use lab::{Lab, LabConfig};
