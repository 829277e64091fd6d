//! Opening a virtio-net device on the modern PCI transport and its global
//! initialisation (virtio 1.1 3.1.1): reset, feature negotiation, every
//! queue's rings, DRIVER_OK, then RSS through the control queue. The
//! supervisor runs it once, before any worker takes a queue pair.

use super::caps::{self, Caps, Region};
use super::ctrl::{self, Scratch, CLASS_MQ, MQ_RSS_CONFIG, MQ_VQ_PAIRS_SET};
use super::ring::{Layout, Vring, AVAIL_F_NO_INTERRUPT};
use super::{common, feature, net_cfg, status, HDR_SLOT};
use crate::device::{InitConfig, LinkStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::memory::{DmaContext, DmaRegion, Mapper};
use crate::mmio::Bar;
use crate::pci::PciDevice;
use crate::vfio::Vfio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Largest queue size ixy-mp asks for (QEMU offers 256 by default and at
/// most 1024).
const MAX_QUEUE_SIZE: u16 = 1024;
/// `VIRTIO_MSI_NO_VECTOR`: no interrupt for this queue (4.1.4.3).
const NO_VECTOR: u16 = 0xFFFF;

/// An opened virtio-net device.
#[derive(Debug)]
pub struct VirtioNet {
    name: String,
    /// The mapped BARs that hold the structures. Dropped before `dma`,
    /// which may hold the VFIO device they were mapped from.
    bars: Vec<Bar>,
    /// Where the common configuration, the notification area and the
    /// device configuration lie in `bars`.
    common: Place,
    notify: Place,
    device: Place,
    caps: Caps,
    /// Queue memory and negotiated state, set by [`VirtioNet::init`].
    state: OnceLock<State>,
    /// The control queue's next available index (the supervisor's).
    ctrl_avail: Mutex<u16>,
    dma: DmaContext,
    numa_node: Option<u32>,
}

/// Where a virtio structure lies: a BAR of `VirtioNet::bars`, an offset.
#[derive(Debug, Clone, Copy)]
struct Place {
    bar: usize,
    offset: usize,
}

/// What [`VirtioNet::init`] set up.
#[derive(Debug)]
struct State {
    features: u64,
    /// Queue pairs receiving (RSS spreads over them).
    pairs: u16,
    /// Queue pairs the device has.
    max_pairs: u16,
    /// Bytes of the virtio-net header in front of every frame.
    hdr_len: usize,
    /// Every queue's rings, headers and (for the control queue) scratch.
    memory: DmaRegion,
    /// Per virtqueue index: where its ring starts in `memory`, its layout
    /// and its notification address (offset in the notify BAR).
    queues: Vec<QueueMem>,
    /// The RSS set-up, for the software hash when the device reports none.
    rss: Option<crate::rss::RssConfig>,
    /// Every receive queue in use: (notification offset, queue index).
    rx_kicks: Vec<(usize, u16)>,
}

/// One virtqueue's place in the queue memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueMem {
    pub(crate) base: usize,
    pub(crate) layout: Layout,
    /// Offset of the per-slot headers (or the control scratch) from `base`.
    pub(crate) extra: usize,
    pub(crate) notify_off: usize,
}

impl VirtioNet {
    /// Opens the virtio-net PCI device `pci` (vendor 1af4, checked by the
    /// caller): through VFIO when it is bound to vfio-pci, else through
    /// sysfs (root). Maps the BARs its capabilities name. Nothing is
    /// written to the device yet except PCI bus mastering.
    pub(crate) fn open(pci: &PciDevice) -> Result<VirtioNet> {
        let name = pci.address.to_string();
        let mut config = vec![0u8; 256];
        let vfio = match (pci.driver.as_deref(), pci.iommu_group) {
            (Some("vfio-pci"), Some(group)) => Some(Arc::new(Vfio::open(&pci.address, group)?)),
            _ => None,
        };
        match &vfio {
            Some(v) => v.read_config(0, &mut config)?,
            None => pci.read_config(0, &mut config)?,
        }
        let caps = caps::parse(&config).map_err(|why| {
            Error::new(ErrorKind::Unsupported, &name, why).hint(
                "ixy-mp drives virtio 1.0+ devices (QEMU: virtio-net-pci, not a legacy-only one)",
            )
        })?;
        log::debug!(
            "{name}: virtio common {}, notify {} (x{}), device {}",
            caps.common,
            caps.notify,
            caps.notify_off_multiplier,
            caps.device
        );
        // Each BAR the structures name is mapped once; each structure is
        // then (index in `bars`, offset), checked to lie inside it.
        let mut bars: Vec<(u8, Bar)> = Vec::new();
        let mut place = |region: Region| -> Result<Place> {
            let at = match bars.iter().position(|(b, _)| *b == region.bar) {
                Some(at) => at,
                None => {
                    let (ptr, len) = match &vfio {
                        Some(v) => v.map_bar(u32::from(region.bar))?,
                        None => pci.map_resource(u32::from(region.bar))?,
                    };
                    // SAFETY: a fresh mapping of the BAR, owned from now on.
                    bars.push((region.bar, unsafe { Bar::from_mapping(ptr, len) }));
                    bars.len() - 1
                }
            };
            let len = bars[at].1.len();
            if region.offset as usize + region.length as usize > len {
                return Err(Error::new(
                    ErrorKind::Hardware,
                    &name,
                    format!("virtio structure at {region} lies outside its {len}-byte BAR"),
                ));
            }
            Ok(Place {
                bar: at,
                offset: region.offset as usize,
            })
        };
        let common = place(caps.common)?;
        let notify = place(caps.notify)?;
        let device = place(caps.device)?;
        let bars = bars.into_iter().map(|(_, b)| b).collect();
        match (&vfio, pci.iommu_group) {
            (Some(_), Some(group)) => {
                log::info!("{name}: through VFIO (IOMMU group {group}), bus addresses are IOVAs")
            }
            _ => log::info!("{name}: through sysfs, bus addresses are physical"),
        }
        let mapper = match vfio {
            Some(v) => {
                v.enable_bus_master()?;
                let iova = v.iova_allocator();
                Mapper::Vfio(v, iova)
            }
            None => {
                pci.enable_bus_master()?;
                Mapper::Physical
            }
        };
        let dma = DmaContext::new(&name, mapper)?;
        Ok(VirtioNet {
            name,
            bars,
            common,
            notify,
            device,
            caps,
            state: OnceLock::new(),
            ctrl_avail: Mutex::new(0),
            dma,
            numa_node: pci.numa_node,
        })
    }

    /// The device's name (its PCI address).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where this device's DMA memory comes from.
    pub fn dma(&self) -> &DmaContext {
        &self.dma
    }

    /// The NUMA node of the device, if known.
    pub fn numa_node(&self) -> Option<u32> {
        self.numa_node
    }

    fn common(&self) -> (&Bar, usize) {
        (&self.bars[self.common.bar], self.common.offset)
    }

    fn device_cfg(&self) -> (&Bar, usize) {
        (&self.bars[self.device.bar], self.device.offset)
    }

    /// The notify BAR, for the queues.
    pub(crate) fn notify_bar(&self) -> &Bar {
        &self.bars[self.notify.bar]
    }

    fn status(&self) -> u8 {
        let (b, c) = self.common();
        b.read8(c + common::DEVICE_STATUS)
    }

    fn set_status(&self, s: u8) {
        let (b, c) = self.common();
        b.write8(c + common::DEVICE_STATUS, s);
    }

    fn err(&self, kind: ErrorKind, what: impl Into<String>) -> Error {
        Error::new(kind, &self.name, what)
    }

    /// Resets the device (4.1.4.3.1: write 0, then wait until it reads 0):
    /// from then on it does no DMA.
    pub fn reset(&self) -> Result<()> {
        self.set_status(0);
        let start = Instant::now();
        while self.status() != 0 {
            if self.status() == 0xFF {
                return Err(self.err(ErrorKind::DeviceLost, "device lost: its status reads 0xFF"));
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err(self.err(
                    ErrorKind::Timeout,
                    "device status did not read 0 after a reset (4.1.4.3.1)",
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }

    /// Whether the device is still there: its status neither reads all
    /// ones (gone from the bus) nor has DEVICE_NEEDS_RESET.
    pub fn check_present(&self) -> Result<()> {
        let s = self.status();
        if s == 0xFF {
            return Err(self.err(
                ErrorKind::DeviceLost,
                "device lost: its status reads 0xFF (surprise removal)",
            ));
        }
        if s & status::DEVICE_NEEDS_RESET != 0 {
            return Err(self.err(
                ErrorKind::Hardware,
                "the device set DEVICE_NEEDS_RESET (virtio 2.1.1): it met an error and stopped",
            ));
        }
        Ok(())
    }

    fn device_features(&self) -> u64 {
        let (b, c) = self.common();
        b.write32(c + common::DEVICE_FEATURE_SELECT, 0);
        let lo = b.read32(c + common::DEVICE_FEATURE);
        b.write32(c + common::DEVICE_FEATURE_SELECT, 1);
        let hi = b.read32(c + common::DEVICE_FEATURE);
        u64::from(hi) << 32 | u64::from(lo)
    }

    fn set_driver_features(&self, f: u64) {
        let (b, c) = self.common();
        b.write32(c + common::DRIVER_FEATURE_SELECT, 0);
        b.write32(c + common::DRIVER_FEATURE, f as u32);
        b.write32(c + common::DRIVER_FEATURE_SELECT, 1);
        b.write32(c + common::DRIVER_FEATURE, (f >> 32) as u32);
    }

    /// Chooses the features to accept from those `offered`, for `pairs`
    /// receiving queue pairs; Err when the device lacks what that needs.
    fn choose_features(&self, offered: u64, pairs: u16) -> Result<u64> {
        if offered & feature::VERSION_1 == 0 {
            return Err(self
                .err(
                    ErrorKind::Unsupported,
                    "the device does not offer VIRTIO_F_VERSION_1: a legacy-only device",
                )
                .hint(
                    "use a modern virtio-net device (QEMU: virtio-net-pci with disable-modern=off)",
                ));
        }
        let multi = [
            (feature::CTRL_VQ, "VIRTIO_NET_F_CTRL_VQ"),
            (feature::MQ, "VIRTIO_NET_F_MQ"),
            (feature::RSS, "VIRTIO_NET_F_RSS"),
        ];
        if pairs > 1 {
            if let Some((_, missing)) = multi.iter().find(|(bit, _)| offered & bit == 0) {
                return Err(self
                    .err(
                        ErrorKind::Unsupported,
                        format!("{pairs} workers need RSS over {pairs} queue pairs, but the device does not offer {missing}"),
                    )
                    .hint("run one worker on it, or give QEMU's virtio-net-pci mq=on,rss=on and a multiqueue netdev (queues=N)"));
            }
        }
        let wanted = feature::VERSION_1
            | feature::ACCESS_PLATFORM
            | feature::MAC
            | feature::STATUS
            | feature::CTRL_VQ
            | feature::MQ
            | feature::RSS
            | feature::HASH_REPORT
            | feature::RING_RESET;
        Ok(offered & wanted)
    }

    /// The global init (virtio 1.1 3.1.1): reset, ACKNOWLEDGE and DRIVER,
    /// features, the rings of every queue pair RSS uses and of the control
    /// queue, DRIVER_OK, then the RSS configuration; waits for the link.
    /// `cfg.rss` sets the queue pairs (one without). The MAC address of
    /// `cfg.mac`, `cfg.promisc` and `cfg.timestamps` have no virtio
    /// counterpart here and are ignored with a log line. Once per opened
    /// device: a second call is refused.
    pub fn init(&self, cfg: &InitConfig) -> Result<()> {
        if self.state.get().is_some() {
            // The queues' memory is set once: a second set-up would leave
            // the device pointing at memory this one frees.
            return Err(self
                .err(ErrorKind::InvalidInput, "the device is initialised already")
                .hint("open it again (Device::open) to initialise it afresh"));
        }
        log::info!("{}: resetting and initialising (virtio-net)", self.name);
        self.reset()?;
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);
        let pairs = cfg.rss.as_ref().map_or(1, |r| r.queues);
        let offered = self.device_features();
        log::debug!("{}: device features {offered:#018x}", self.name);
        let features = self.choose_features(offered, pairs)?;
        self.set_driver_features(features);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        if self.status() & status::FEATURES_OK == 0 {
            self.set_status(status::FAILED);
            return Err(self.err(
                ErrorKind::Unsupported,
                format!("the device refused the features {features:#018x} (FEATURES_OK did not stay set, 3.1.1)"),
            ));
        }
        log::debug!("{}: features accepted {features:#018x}", self.name);
        let (d, dc) = self.device_cfg();
        let max_pairs = if features & feature::MQ != 0 {
            d.read16(dc + net_cfg::MAX_VIRTQUEUE_PAIRS)
        } else {
            1
        };
        if pairs > max_pairs {
            self.set_status(status::FAILED);
            return Err(self
                .err(
                    ErrorKind::InvalidInput,
                    format!("{pairs} workers need {pairs} queue pairs; the device has {max_pairs}"),
                )
                .hint(format!(
                    "run at most {max_pairs} workers on it (QEMU: queues=N on the netdev)"
                )));
        }
        for (ignored, what) in [
            (cfg.mac.is_some(), "a MAC address override"),
            (
                cfg.promisc,
                "promiscuous mode (QEMU's virtio-net receives every frame by default)",
            ),
            (
                cfg.timestamps,
                "IEEE 1588 timestamps (virtio has none: tools use software timestamps)",
            ),
        ] {
            if ignored {
                log::info!("{}: virtio-net: {what} ignored", self.name);
            }
        }
        let hdr_len = if features & feature::HASH_REPORT != 0 {
            20
        } else {
            12
        };
        let state = self.setup_queues(features, pairs, max_pairs, hdr_len, cfg)?;
        self.set_status(
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        log::debug!("{}: DRIVER_OK", self.name);
        // Checked empty at the start, and `&self` methods run on one thread
        // (the supervisor's, or a tool's).
        let state = self.state.get_or_init(|| state);
        if features & feature::CTRL_VQ != 0 && features & feature::MQ != 0 {
            self.configure_rss(state, state.rss.as_ref())?;
        }
        if !cfg.link_timeout.is_zero() && features & feature::STATUS != 0 {
            let start = Instant::now();
            while !self.link().up {
                self.check_present()?;
                if start.elapsed() >= cfg.link_timeout {
                    return Err(self.err(
                        ErrorKind::Timeout,
                        format!(
                            "timed out after {:?} waiting for the link (VIRTIO_NET_S_LINK_UP)",
                            cfg.link_timeout
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        log::info!(
            "{}: virtio-net up: {pairs} of {max_pairs} queue pairs, header {hdr_len} bytes, hash report {}",
            self.name,
            if features & feature::HASH_REPORT != 0 { "on" } else { "off (software hash)" }
        );
        Ok(())
    }

    /// Allocates and programs the rings of the first `pairs` queue pairs
    /// and of the control queue (4.1.5.1.3); the other queues stay off.
    fn setup_queues(
        &self,
        features: u64,
        pairs: u16,
        max_pairs: u16,
        hdr_len: usize,
        cfg: &InitConfig,
    ) -> Result<State> {
        let (b, c) = self.common();
        let num_queues = b.read16(c + common::NUM_QUEUES);
        let ctrl_q = 2 * max_pairs;
        let has_ctrl = features & feature::CTRL_VQ != 0;
        if has_ctrl && num_queues <= ctrl_q {
            return Err(self.err(ErrorKind::Hardware, format!("the device has {num_queues} queues, too few for {max_pairs} pairs and a control queue")));
        }
        let mut used: Vec<u16> = (0..2 * pairs).collect();
        if has_ctrl {
            used.push(ctrl_q);
        }
        // First pass: sizes and places.
        let mut places = Vec::new();
        let mut at = 0usize;
        for &q in &used {
            b.write16(c + common::QUEUE_SELECT, q);
            let max = b.read16(c + common::QUEUE_SIZE);
            if max < 4 {
                return Err(self.err(
                    ErrorKind::Hardware,
                    format!("queue {q} is not available (size {max})"),
                ));
            }
            // A power of two: the split ring allows others, the fixed
            // slot pairs and the index masks do not.
            let size = 1u16 << (15 - max.min(MAX_QUEUE_SIZE).leading_zeros());
            let layout = Layout::new(size);
            let extra_len = if q == ctrl_q {
                ctrl::SCRATCH_LEN
            } else {
                usize::from(layout.slots()) * HDR_SLOT
            };
            let notify_off = usize::from(b.read16(c + common::QUEUE_NOTIFY_OFF))
                * self.caps.notify_off_multiplier as usize
                + self.caps.notify.offset as usize;
            if notify_off + 2 > self.caps.notify.offset as usize + self.caps.notify.length as usize
            {
                return Err(self.err(
                    ErrorKind::Hardware,
                    format!("queue {q}'s notification address lies outside the notify structure"),
                ));
            }
            places.push((
                q,
                QueueMem {
                    base: at,
                    layout,
                    extra: layout.len,
                    notify_off,
                },
            ));
            at += (layout.len + extra_len).next_multiple_of(64);
        }
        let memory = self.dma.alloc("vq", at)?;
        memory.mem().fill(0, at, 0);
        let mut queues = vec![
            QueueMem {
                base: 0,
                layout: Layout::new(2),
                extra: 0,
                notify_off: 0
            };
            usize::from(ctrl_q) + 1
        ];
        for (q, m) in places {
            self.program_queue(&memory, q, m);
            queues[usize::from(q)] = m;
        }
        b.write16(c + common::CONFIG_MSIX_VECTOR, NO_VECTOR);
        let rx_kicks = (0..pairs)
            .map(|p| (queues[usize::from(2 * p)].notify_off, 2 * p))
            .collect();
        Ok(State {
            rx_kicks,
            features,
            pairs,
            max_pairs,
            hdr_len,
            memory,
            queues,
            rss: cfg.rss.clone(),
        })
    }

    /// Notifies every receive queue in use: the device retries frames it
    /// could not place (QEMU: those it parked when a queue had no
    /// buffers), steering them anew.
    pub fn kick_receive_queues(&self) {
        if let Some(s) = self.state.get() {
            for &(off, q) in &s.rx_kicks {
                self.notify_bar().write16(off, q);
            }
        }
    }

    /// Gives queue `q` its rings in `memory` at `m` and enables it
    /// (4.1.5.1.3); its memory must be zero (indices at 0).
    fn program_queue(&self, memory: &DmaRegion, q: u16, m: QueueMem) {
        let (b, c) = self.common();
        let ring = Vring::new(memory.mem(), m.base, memory.bus_addr(m.base), m.layout);
        // Polling: no interrupts wanted.
        ring.set_avail_flags(AVAIL_F_NO_INTERRUPT);
        b.write16(c + common::QUEUE_SELECT, q);
        b.write16(c + common::QUEUE_SIZE, m.layout.size);
        b.write16(c + common::QUEUE_MSIX_VECTOR, NO_VECTOR);
        b.write64(c + common::QUEUE_DESC, ring.desc_bus());
        b.write64(c + common::QUEUE_DRIVER, ring.avail_bus());
        b.write64(c + common::QUEUE_DEVICE, ring.used_bus());
        b.write16(c + common::QUEUE_ENABLE, 1);
        log::debug!(
            "{}: queue {q}: {} entries at bus {:#x}",
            self.name,
            m.layout.size,
            ring.desc_bus()
        );
    }

    /// Stops queue pair `pair` and gives it fresh, empty rings, so that no
    /// buffer of its former owner stays with the device (virtio 1.2 2.6.1:
    /// `queue_reset`, then re-enable). Ok(false) when the device did not
    /// offer `VIRTIO_F_RING_RESET`: the buffers stay with the device until
    /// it is reset (docs/DESIGN.md 4).
    pub fn reset_queue_pair(&self, pair: u16) -> Result<bool> {
        let state = self.initialised()?;
        if state.features & feature::RING_RESET == 0 {
            return Ok(false);
        }
        if pair >= state.pairs {
            return Err(self.err(ErrorKind::InvalidInput, format!("no queue pair {pair}")));
        }
        let (b, c) = self.common();
        for q in [2 * pair, 2 * pair + 1] {
            b.write16(c + common::QUEUE_SELECT, q);
            b.write16(c + common::QUEUE_RESET, 1);
            let start = Instant::now();
            // Virtio 1.2 4.1.4.3.1: the device presents 1 in queue_reset
            // while the reset is ongoing, then 0 in queue_reset and in
            // queue_enable once it is complete (Linux waits for both).
            let done = || {
                b.read16(c + common::QUEUE_RESET) == 0 && b.read16(c + common::QUEUE_ENABLE) == 0
            };
            while !done() {
                self.check_present()?;
                if start.elapsed() > Duration::from_secs(5) {
                    return Err(self.err(
                        ErrorKind::Timeout,
                        format!("queue {q}: queue_reset and queue_enable did not read back 0 within 5 s (virtio 1.2 4.1.4.3.1)"),
                    ));
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            let m = state.queues[usize::from(q)];
            let len = m.extra + usize::from(m.layout.slots()) * HDR_SLOT;
            state.memory.mem().fill(m.base, m.base + len, 0);
            self.program_queue(&state.memory, q, m);
        }
        log::info!(
            "{}: queue pair {pair} reset and re-enabled, empty",
            self.name
        );
        Ok(true)
    }

    /// Sends the RSS configuration `rss` (key, indirection table, hash
    /// types, as the 82599 is programmed) or, without RSS, the number of
    /// queue pairs, on the control queue.
    fn configure_rss(&self, state: &State, rss: Option<&crate::rss::RssConfig>) -> Result<()> {
        let ctrl_q = usize::from(2 * state.max_pairs);
        let pairs = state.pairs;
        let m = state.queues[ctrl_q];
        let ring = Vring::new(
            state.memory.mem(),
            m.base,
            state.memory.bus_addr(m.base),
            m.layout,
        );
        let scratch = Scratch {
            bus: state.memory.bus_addr(m.base + m.extra),
            offset: m.extra,
        };
        let notify = || self.notify_bar().write16(m.notify_off, ctrl_q as u16);
        let mut avail = self.ctrl_avail.lock().unwrap_or_else(|e| e.into_inner());
        let mut send = |cmd: (u8, u8), data: &[u8]| {
            ctrl::exchange(&ring, &scratch, &notify, &mut avail, cmd, data)
                .map_err(|why| self.err(ErrorKind::Hardware, why))
        };
        match rss.filter(|_| state.features & feature::RSS != 0) {
            Some(rss) => {
                let (d, dc) = self.device_cfg();
                let supported = d.read32(dc + net_cfg::SUPPORTED_HASH_TYPES);
                let max_key = usize::from(d.read8(dc + net_cfg::RSS_MAX_KEY_SIZE));
                let max_table =
                    usize::from(d.read16(dc + net_cfg::RSS_MAX_INDIRECTION_TABLE_LENGTH));
                if max_key < rss.key.len() || max_table < rss.reta.len() {
                    return Err(self.err(
                        ErrorKind::Unsupported,
                        format!(
                            "the device's RSS takes keys of {max_key} bytes and tables of {max_table} entries; ixy-mp needs {} and {}",
                            rss.key.len(),
                            rss.reta.len()
                        ),
                    ));
                }
                let wanted = ctrl::hash_types(&rss.fields);
                if wanted & !supported != 0 {
                    log::warn!(
                        "{}: the device cannot hash types {:#x}; those frames go to queue pair 0",
                        self.name,
                        wanted & !supported
                    );
                }
                send(
                    (CLASS_MQ, MQ_RSS_CONFIG),
                    &ctrl::rss_config(rss, wanted & supported),
                )?;
                log::debug!(
                    "{}: RSS over {pairs} queue pairs, hash types {:#x}",
                    self.name,
                    wanted & supported
                );
            }
            None => {
                send((CLASS_MQ, MQ_VQ_PAIRS_SET), &pairs.to_le_bytes())?;
                log::debug!("{}: {pairs} queue pairs, no RSS", self.name);
            }
        }
        Ok(())
    }

    /// Sends a new indirection table (the supervisor moves a dead
    /// worker's share, docs/DESIGN.md 5), keeping key and hash types.
    pub fn set_reta(&self, reta: &[u8; crate::rss::RETA_SIZE]) -> Result<()> {
        let state = self.initialised()?;
        let Some(mut rss) = state.rss.clone() else {
            return Ok(());
        };
        rss.reta = *reta;
        self.configure_rss(state, Some(&rss))
    }

    fn initialised(&self) -> Result<&State> {
        self.state.get().ok_or_else(|| {
            self.err(ErrorKind::InvalidInput, "the device is not initialised")
                .hint("the supervisor (or the tool) runs init before queues are taken")
        })
    }

    /// The link state (VIRTIO_NET_S_LINK_UP, 5.1.4); always up without
    /// VIRTIO_NET_F_STATUS. Virtio reports its speed only with
    /// SPEED_DUPLEX: 10 Gbit/s is reported as a nominal figure.
    pub fn link(&self) -> LinkStatus {
        let up = match self.state.get() {
            Some(s) if s.features & feature::STATUS != 0 => {
                let (d, dc) = self.device_cfg();
                d.read16(dc + net_cfg::STATUS) & net_cfg::S_LINK_UP != 0
            }
            _ => true,
        };
        LinkStatus {
            up,
            speed_mbps: if up { 10_000 } else { 0 },
        }
    }

    /// The device's MAC address (device configuration, 5.1.4), or zeros
    /// when it offers none.
    pub fn mac(&self) -> [u8; 6] {
        let (d, dc) = self.device_cfg();
        std::array::from_fn(|i| d.read8(dc + net_cfg::MAC + i))
    }

    /// Queue pairs receiving, once initialised.
    pub fn pairs(&self) -> u16 {
        self.state.get().map_or(0, |s| s.pairs)
    }

    /// The memory, place and header length of virtqueue `q`, for a queue
    /// taking it; Err when `q` is not one of the configured queues.
    pub(crate) fn queue(&self, q: u16) -> Result<QueueAccess<'_>> {
        let s = self.initialised()?;
        if q >= 2 * s.pairs {
            return Err(self.err(
                ErrorKind::InvalidInput,
                format!(
                    "queue pair {}: the device was set up with {} pairs (0 to {})",
                    q / 2,
                    s.pairs,
                    s.pairs - 1
                ),
            ));
        }
        let m = s.queues[usize::from(q)];
        let ring = Vring::new(s.memory.mem(), m.base, s.memory.bus_addr(m.base), m.layout);
        Ok(QueueAccess {
            ring,
            mem: m,
            hdr_bus: s.memory.bus_addr(m.base + m.extra),
            hdr_len: s.hdr_len,
            rss: s.rss.as_ref(),
            hash_report: s.features & feature::HASH_REPORT != 0,
            notify: self.notify_bar(),
            rx_kicks: &s.rx_kicks,
        })
    }
}

/// What a queue needs of its device: its ring, where its headers lie, how
/// to notify the device, and how frames are hashed.
pub(crate) struct QueueAccess<'d> {
    pub(crate) ring: Vring<'d>,
    pub(crate) mem: QueueMem,
    /// Bus address of the queue's first header slot.
    pub(crate) hdr_bus: u64,
    pub(crate) hdr_len: usize,
    pub(crate) rss: Option<&'d crate::rss::RssConfig>,
    pub(crate) hash_report: bool,
    pub(crate) notify: &'d Bar,
    /// Every receive queue of the device: (notification offset, queue).
    pub(crate) rx_kicks: &'d [(usize, u16)],
}
