//! An 82599-family device (or the simulated one): opening it and the global
//! half of the 82599 init sequence (datasheet 4.6.3 - 4.6.8) that the
//! supervisor runs once, before any worker attaches its queues.

use crate::device::{InitConfig, LinkStatus, OpenOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::memory::{DmaContext, Mapper};
use crate::mmio::{Kind, Registers, ALL_ONES};
use crate::pci::PciDevice;
use crate::regs;
use crate::simdev::{self, IommuTable, LabWatch, SimAddress};
use crate::vfio::Vfio;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An opened ixgbe device: its registers and its DMA context.
#[derive(Debug)]
pub struct Ixgbe {
    name: String,
    regs: Registers,
    dma: DmaContext,
    numa_node: Option<u32>,
    /// On the simulator: whether the lab process still runs.
    lab: Option<LabWatch>,
}

/// Per-register wait used during init: generous, the simulator shares two
/// cores with everything else.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl Ixgbe {
    /// Opens the ixgbe PCI device `pci` through VFIO when it is bound to
    /// vfio-pci, else through sysfs (root). Nothing is written to the
    /// device yet except PCI bus mastering.
    pub(crate) fn open_pci(pci: &PciDevice, opts: &OpenOptions) -> Result<Ixgbe> {
        let addr = pci.address;
        pci.check_supported()?;
        pci.check_unbound(opts.force)?;
        let name = addr.to_string();
        log::info!(
            "{name}: {} (8086:{:04x}), NUMA node {}",
            crate::pci::device_name(pci.device_id).unwrap_or("ixgbe"),
            pci.device_id,
            pci.numa_node.map_or("unknown".into(), |n| n.to_string())
        );
        let vfio_bound = pci.driver.as_deref() == Some("vfio-pci");
        let (regs, mapper) = match (vfio_bound, pci.iommu_group) {
            (true, Some(group)) => {
                log::debug!("{name}: using VFIO (IOMMU group {group})");
                let vfio = Vfio::open(&addr, group)?;
                vfio.enable_bus_master()?;
                let (ptr, len) = vfio.map_bar0()?;
                // SAFETY: a fresh mapping of BAR0 from VFIO, owned from now on.
                let regs = unsafe { Registers::from_mapping(ptr, len, Kind::Hardware) };
                // One container and IOVA space for every device of the process.
                let iova = vfio.iova_allocator();
                (regs, Mapper::Vfio(Arc::new(vfio), iova))
            }
            _ => {
                log::debug!("{name}: using sysfs resource0 and physical addresses");
                pci.enable_bus_master()?;
                let (ptr, len) = pci.map_resource0()?;
                // SAFETY: a fresh mapping of resource0, owned from now on.
                let regs = unsafe { Registers::from_mapping(ptr, len, Kind::Hardware) };
                (regs, Mapper::Physical)
            }
        };
        let dma = DmaContext::new(&name, mapper)?;
        Ok(Ixgbe {
            name,
            regs,
            dma,
            numa_node: pci.numa_node,
            lab: None,
        })
    }

    /// Opens simulated port `addr`.
    pub(crate) fn open_sim(addr: &SimAddress) -> Result<Ixgbe> {
        let name = addr.to_string();
        log::debug!("{name}: simulated 82599 in {}", addr.lab_dir().display());
        let regs = simdev::open_bar(addr)?;
        let lab = LabWatch::open(addr)?;
        let table = IommuTable::open(addr)?;
        let iova = table.allocator();
        let dma = DmaContext::new(&name, Mapper::Sim(Arc::new(table), iova))?;
        Ok(Ixgbe {
            name,
            regs,
            dma,
            numa_node: None,
            lab: Some(lab),
        })
    }

    /// The device's name (its `--device` string, normalised).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Register access.
    pub fn regs(&self) -> &Registers {
        &self.regs
    }

    /// Where this device's DMA memory comes from.
    pub fn dma(&self) -> &DmaContext {
        &self.dma
    }

    /// The NUMA node of the device, if known: allocate its memory there.
    pub fn numa_node(&self) -> Option<u32> {
        self.numa_node
    }

    /// Polls `cond` until it holds; `Timeout` naming `what` otherwise.
    pub(crate) fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(10);
        loop {
            if cond() {
                return Ok(());
            }
            self.check_present()?;
            if start.elapsed() >= timeout {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    &self.name,
                    format!("timed out after {timeout:?} waiting for {what}"),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Clears `enable` in the queue control register `ctl` and waits until
    /// the device reads it back as 0: from then on it does no DMA for that
    /// queue (docs/DESIGN.md 4). `what` names the register for the error.
    pub(crate) fn disable_queue(&self, ctl: u32, enable: u32, what: &str) -> Result<()> {
        self.regs.clear_bits(ctl, enable);
        self.wait(
            &format!("{what}.ENABLE to read back 0"),
            Duration::from_secs(5),
            || self.regs.read(ctl) & enable == 0,
        )
    }

    /// Whether the device is still there; a [`ErrorKind::DeviceLost`]
    /// error naming it otherwise: its registers read all ones (PCI surprise
    /// removal, [`Registers::vanished`]) or, on the simulator, the lab's
    /// process is gone ([`LabWatch`]). One register read, plus one system
    /// call on the simulator: call it when a poll is empty or every few
    /// milliseconds, never per packet. Every handshake wait calls it, so no
    /// wait outlasts a lost device.
    pub fn check_present(&self) -> Result<()> {
        if self.regs.vanished() {
            return Err(Error::new(
                ErrorKind::DeviceLost,
                &self.name,
                "device lost: its registers read 0xFFFFFFFF (surprise removal)",
            ));
        }
        if let Some(lab) = self.lab.as_ref().filter(|l| !l.alive()) {
            return Err(Error::new(
                ErrorKind::DeviceLost,
                &self.name,
                format!(
                    "device lost: lab {} is not running (its ixy-sim process is gone)",
                    lab.lab()
                ),
            ));
        }
        Ok(())
    }

    /// The global init (82599 datasheet 4.6.3): reset, EEPROM and DMA
    /// handshakes, link, statistics, Rx and Tx global set-up, RSS, queue
    /// statistics mapping, Rx enable; then waits for the link.
    pub fn init(&self, cfg: &InitConfig) -> Result<()> {
        let r = &self.regs;
        self.check_present()?;
        log::info!("{}: resetting and initialising", self.name);
        // 4.6.3.1: mask all interrupts; 4.6.3.2: global reset.
        r.write(regs::EIMC, regs::IRQ_CLEAR_MASK);
        r.write(regs::CTRL, regs::CTRL_RST_MASK);
        self.wait(
            "CTRL.RST to self-clear (4.6.3.2)",
            HANDSHAKE_TIMEOUT,
            || r.read(regs::CTRL) & regs::CTRL_RST_MASK == 0,
        )?;
        if r.kind() == Kind::Hardware {
            // 4.6.3.2: wait at least 10 ms after the reset before any access.
            std::thread::sleep(Duration::from_millis(10));
        }
        r.write(regs::EIMC, regs::IRQ_CLEAR_MASK);
        log::debug!("{}: reset done", self.name);
        // 4.6.3: EEPROM auto-read and DMA initialisation done.
        self.wait(
            "EEC.ARD (EEPROM auto-read, 4.6.3)",
            HANDSHAKE_TIMEOUT,
            || r.read(regs::EEC) & regs::EEC_ARD != 0,
        )?;
        self.wait("RDRXCTL.DMAIDONE (4.6.3)", HANDSHAKE_TIMEOUT, || {
            r.read(regs::RDRXCTL) & regs::RDRXCTL_DMAIDONE != 0
        })?;
        log::debug!("{}: EEPROM and DMA init done", self.name);
        // 4.6.4: link set-up, 10G serial with auto-negotiation restart.
        let autoc = r.read(regs::AUTOC) & !regs::AUTOC_LMS_MASK;
        r.write(regs::AUTOC, autoc | regs::AUTOC_LMS_10G_SERIAL);
        r.write(
            regs::AUTOC,
            r.read(regs::AUTOC) & !regs::AUTOC_10G_PMA_PMD_MASK,
        );
        r.set_bits(regs::AUTOC, regs::AUTOC_AN_RESTART);
        // 4.6.5: statistics clear on read.
        crate::stats::clear(r);
        self.init_rx(cfg);
        self.init_tx();
        if cfg.timestamps {
            crate::timestamp::enable(r);
        }
        // 4.6.7: enable receive last.
        r.set_bits(regs::RXCTRL, regs::RXCTRL_RXEN);
        log::debug!("{}: Rx and Tx enabled", self.name);
        if !cfg.link_timeout.is_zero() {
            self.wait("the link to come up (4.6.4)", cfg.link_timeout, || {
                self.link().up
            })?;
            log::info!(
                "{}: link up at {} Mbit/s",
                self.name,
                self.link().speed_mbps
            );
        }
        Ok(())
    }

    /// Rx global set-up (4.6.7): packet buffer, CRC strip, filters, MAC,
    /// RSS (7.1.2.8) and queue statistics mapping (8.2.3.23.71).
    fn init_rx(&self, cfg: &InitConfig) {
        let r = &self.regs;
        r.clear_bits(regs::RXCTRL, regs::RXCTRL_RXEN);
        r.write(regs::rxpbsize(0), regs::RXPBSIZE_DEFAULT);
        for i in 1..8 {
            r.write(regs::rxpbsize(i), 0);
        }
        r.set_bits(regs::HLREG0, regs::HLREG0_RXCRCSTRP);
        r.set_bits(regs::RDRXCTL, regs::RDRXCTL_CRCSTRIP);
        let mut fctrl = r.read(regs::FCTRL) | regs::FCTRL_BAM;
        if cfg.promisc {
            fctrl |= regs::FCTRL_UPE | regs::FCTRL_MPE;
        } else {
            fctrl &= !(regs::FCTRL_UPE | regs::FCTRL_MPE);
        }
        r.write(regs::FCTRL, fctrl);
        if let Some(mac) = cfg.mac {
            r.write(
                regs::ral(0),
                u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
            );
            r.write(
                regs::rah(0),
                u32::from(u16::from_le_bytes([mac[4], mac[5]])) | regs::RAH_AV,
            );
        }
        // 8.2.3.1.3: no snoop disable, as Linux and ixy do.
        r.set_bits(regs::CTRL_EXT, regs::CTRL_EXT_NS_DIS);
        match &cfg.rss {
            Some(rss) => {
                for (i, w) in rss.rssrk_words().iter().enumerate() {
                    r.write(regs::rssrk(i as u32), *w);
                }
                crate::rss::write_reta(r, &rss.reta);
                r.write(regs::MRQC, rss.mrqc());
                log::debug!(
                    "{}: RSS over {} queues, MRQC {:#010x}",
                    self.name,
                    rss.queues,
                    rss.mrqc()
                );
            }
            None => r.write(regs::MRQC, 0),
        }
        // Queue i counts in statistics set i (8.2.3.23.71 / .73).
        for i in 0..regs::NUM_QUEUE_STATS / 4 {
            let map = (4 * i) | (4 * i + 1) << 8 | (4 * i + 2) << 16 | (4 * i + 3) << 24;
            r.write(regs::rqsmr(i), map);
            r.write(regs::tqsm(i), map);
        }
    }

    /// Tx global set-up (4.6.8): CRC and padding, packet buffer, DMA
    /// request size, DCB arbiter, transmit enable.
    fn init_tx(&self) {
        let r = &self.regs;
        r.set_bits(regs::HLREG0, regs::HLREG0_TXCRCEN | regs::HLREG0_TXPADEN);
        r.write(regs::txpbsize(0), regs::TXPBSIZE_DEFAULT);
        for i in 1..8 {
            r.write(regs::txpbsize(i), 0);
        }
        r.write(regs::DTXMXSZRQ, 0xFFFF);
        r.clear_bits(regs::RTTDCS, regs::RTTDCS_ARBDIS);
        r.set_bits(regs::DMATXCTL, regs::DMATXCTL_TE);
    }

    /// The link state (8.2.3.22.20).
    pub fn link(&self) -> LinkStatus {
        let links = self.regs.read(regs::LINKS);
        if links == ALL_ONES || links & regs::LINKS_UP == 0 {
            return LinkStatus {
                up: false,
                speed_mbps: 0,
            };
        }
        let speed_mbps = match links & regs::LINKS_SPEED_MASK {
            regs::LINKS_SPEED_10G => 10_000,
            regs::LINKS_SPEED_1G => 1_000,
            regs::LINKS_SPEED_100M => 100,
            _ => 0,
        };
        LinkStatus {
            up: true,
            speed_mbps,
        }
    }

    /// The MAC address in RAL/RAH\[0\] (8.2.3.7.8).
    pub fn mac(&self) -> [u8; 6] {
        let lo = self.regs.read(regs::ral(0)).to_le_bytes();
        let hi = self.regs.read(regs::rah(0)).to_le_bytes();
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]]
    }

    /// Resets the device (CTRL.RST), leaving it quiet: used on shutdown.
    pub fn reset(&self) -> Result<()> {
        self.regs.write(regs::EIMC, regs::IRQ_CLEAR_MASK);
        self.regs.write(regs::CTRL, regs::CTRL_RST_MASK);
        self.wait("CTRL.RST to self-clear", HANDSHAKE_TIMEOUT, || {
            self.regs.read(regs::CTRL) & regs::CTRL_RST_MASK == 0
        })
    }
}
