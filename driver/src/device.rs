//! Opening a device by its `--device` string (docs/DESIGN.md 3), whatever
//! it is: the device abstraction that the supervisor, the workers and the
//! tools talk to. A [`Device`] is an 82599-family NIC or the simulated one
//! ([`Ixgbe`]) or a virtio-net device ([`VirtioNet`]); its queues are
//! [`crate::RxQueue`] and [`crate::TxQueue`]. The backend is chosen once,
//! at open; every call then matches on it once, never per packet.

use crate::error::{Error, ErrorKind, Result};
use crate::ixgbe::Ixgbe;
use crate::memory::DmaContext;
use crate::mmio::Registers;
use crate::pci::{PciAddress, PciDevice};
use crate::rss::{RssConfig, RETA_SIZE};
use crate::simdev::SimAddress;
use crate::virtio::{self, VirtioNet};
use std::time::Duration;

/// How to open a device.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Take a PCI device even though a kernel driver is bound to it.
    pub force: bool,
}

/// What the global init configures.
#[derive(Debug, Clone)]
pub struct InitConfig {
    /// Receive every unicast and multicast frame (FCTRL.UPE/MPE).
    pub promisc: bool,
    /// RSS over several queues; `None`: everything to queue 0.
    pub rss: Option<RssConfig>,
    /// A MAC address to program into RAL/RAH\[0\] instead of the EEPROM's.
    pub mac: Option<[u8; 6]>,
    /// Start the IEEE 1588 clock and timestamping of PTP frames.
    pub timestamps: bool,
    /// How long to wait for the link (0: do not wait).
    pub link_timeout: Duration,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig {
            promisc: false,
            rss: None,
            mac: None,
            timestamps: false,
            link_timeout: Duration::from_secs(10),
        }
    }
}

/// Link state from LINKS (8.2.3.22.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s (0 when down).
    pub speed_mbps: u32,
}

/// An opened device.
#[derive(Debug)]
pub enum Device {
    /// An 82599 / X520 / X540 / X550, or the simulated 82599.
    Ixgbe(Ixgbe),
    /// A virtio-net device (virtio 1.0+ PCI), boxed: it is the larger.
    Virtio(Box<VirtioNet>),
}

impl Device {
    /// Opens `spec`: `sim:LAB/PORT`, or a PCI address (`0000:03:00.0`) of
    /// an ixgbe or a virtio-net device (told apart by its vendor and device
    /// id), through VFIO when the device is bound to vfio-pci, else through
    /// sysfs (root). Nothing is written to the device yet except PCI bus
    /// mastering.
    pub fn open(spec: &str, opts: &OpenOptions) -> Result<Device> {
        if let Some(sim) = spec.strip_prefix("sim:") {
            return Ok(Device::Ixgbe(Ixgbe::open_sim(&SimAddress::parse(sim)?)?));
        }
        let addr: PciAddress = spec.parse()?;
        let pci = PciDevice::open(&addr)?;
        if virtio::is_virtio_net(pci.vendor, pci.device_id) {
            pci.check_unbound(opts.force)?;
            log::info!(
                "{addr}: virtio-net ({:04x}:{:04x}), NUMA node {}",
                pci.vendor,
                pci.device_id,
                pci.numa_node.map_or("unknown".into(), |n| n.to_string())
            );
            return Ok(Device::Virtio(Box::new(VirtioNet::open(&pci)?)));
        }
        Ok(Device::Ixgbe(Ixgbe::open_pci(&pci, opts)?))
    }

    /// The ixgbe device, if it is one: its registers, statistics and
    /// 1588 clock.
    pub fn ixgbe(&self) -> Option<&Ixgbe> {
        match self {
            Device::Ixgbe(d) => Some(d),
            Device::Virtio(_) => None,
        }
    }

    /// The virtio-net device, if it is one.
    pub fn virtio(&self) -> Option<&VirtioNet> {
        match self {
            Device::Virtio(d) => Some(d),
            Device::Ixgbe(_) => None,
        }
    }

    /// What kind of device it is, for messages: `ixgbe` or `virtio-net`.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Ixgbe(_) => "ixgbe",
            Device::Virtio(_) => "virtio-net",
        }
    }

    /// The device's name (its `--device` string, normalised).
    pub fn name(&self) -> &str {
        match self {
            Device::Ixgbe(d) => d.name(),
            Device::Virtio(d) => d.name(),
        }
    }

    /// The ixgbe registers, `None` on a virtio device: the 82599's
    /// statistics registers and 1588 clock exist only there.
    pub fn regs(&self) -> Option<&Registers> {
        self.ixgbe().map(Ixgbe::regs)
    }

    /// Where this device's DMA memory comes from.
    pub fn dma(&self) -> &DmaContext {
        match self {
            Device::Ixgbe(d) => d.dma(),
            Device::Virtio(d) => d.dma(),
        }
    }

    /// The NUMA node of the device, if known: allocate its memory there.
    pub fn numa_node(&self) -> Option<u32> {
        match self {
            Device::Ixgbe(d) => d.numa_node(),
            Device::Virtio(d) => d.numa_node(),
        }
    }

    /// Whether the device is still there; a [`ErrorKind::DeviceLost`]
    /// error naming it otherwise (see [`Ixgbe::check_present`]).
    pub fn check_present(&self) -> Result<()> {
        match self {
            Device::Ixgbe(d) => d.check_present(),
            Device::Virtio(d) => d.check_present(),
        }
    }

    /// The global init: reset, then RSS over `cfg.rss` queues (or pairs),
    /// then the link. Run once, by the supervisor or a tool, before any
    /// queue is attached.
    pub fn init(&self, cfg: &InitConfig) -> Result<()> {
        match self {
            Device::Ixgbe(d) => d.init(cfg),
            Device::Virtio(d) => d.init(cfg),
        }
    }

    /// The link state.
    pub fn link(&self) -> LinkStatus {
        match self {
            Device::Ixgbe(d) => d.link(),
            Device::Virtio(d) => d.link(),
        }
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        match self {
            Device::Ixgbe(d) => d.mac(),
            Device::Virtio(d) => d.mac(),
        }
    }

    /// Resets the device, leaving it quiet (no DMA): used on shutdown.
    pub fn reset(&self) -> Result<()> {
        match self {
            Device::Ixgbe(d) => d.reset(),
            Device::Virtio(d) => d.reset(),
        }
    }

    /// Replaces the RSS redirection table (82599: RETA, 7.1.2.8.2;
    /// virtio: the indirection table, through the control queue).
    pub fn set_reta(&self, reta: &[u8; RETA_SIZE]) -> Result<()> {
        match self {
            Device::Ixgbe(d) => {
                crate::rss::write_reta(d.regs(), reta);
                Ok(())
            }
            Device::Virtio(d) => d.set_reta(reta),
        }
    }

    /// Stops queue (pair) `q` so that the device no longer touches its
    /// rings or buffers, waiting until it confirms: the 82599 clears
    /// RXDCTL/TXDCTL.ENABLE and waits for 0 to read back (4.6.7.1.2,
    /// 4.6.8.1.2); virtio resets the queue pair and re-enables it empty
    /// (`VIRTIO_F_RING_RESET`). Ok(false) when the device cannot stop one
    /// queue (virtio without RING_RESET): its buffers stay with it until
    /// the device is reset (docs/DESIGN.md 4).
    pub fn stop_queue(&self, q: u32) -> Result<bool> {
        match self {
            Device::Ixgbe(d) => {
                let rx = crate::rx::disable(d, q);
                let tx = crate::tx::disable(d, q);
                rx.and(tx).map(|()| true)
            }
            Device::Virtio(d) => match u16::try_from(q) {
                Ok(pair) => d.reset_queue_pair(pair),
                Err(_) => Err(self.unsupported(&format!("queue pair {q}"))),
            },
        }
    }

    /// Whether the device timestamps IEEE 1588 frames (the 82599 does;
    /// virtio has no clock: tools use software timestamps there).
    pub fn has_ptp_clock(&self) -> bool {
        matches!(self, Device::Ixgbe(_))
    }

    /// An error for an operation this kind of device does not have.
    pub fn unsupported(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            self.name(),
            format!("{what} is not available on a {} device", self.kind()),
        )
    }
}
