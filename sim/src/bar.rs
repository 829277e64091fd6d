//! The BAR file of one simulated port and the two views of it.
//!
//! The file is [`driver::regs::BAR0_SIZE`] bytes of little-endian 32-bit
//! registers at datasheet offsets. Its last 8 KiB (the *sim page*, at
//! offsets the 82599 does not decode) carry what a register file cannot:
//! the actual enable state of each queue, read back through RXDCTL/TXDCTL,
//! and the simulator's own counters. `sim/README.md` documents the layout.
//!
//! [`Regs`] is the device's side: plain loads and stores plus the atomic
//! read-modify-write operations the model needs. [`Bar`] is a driver's side:
//! reads apply the read side effects of silicon (docs/DESIGN.md 3).

use crate::mem::Mapping;
use driver::regs::{self, ReadEffect, WriteEffect};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;

/// Size of a BAR file: the 82599's BAR0 window.
pub const BAR_SIZE: usize = regs::BAR0_SIZE;
/// First byte of the sim page; registers end here.
pub const SIM_PAGE: u32 = 0x7E000;
/// Sim page: magic `"IXYS"` as a little-endian u32.
pub const SIM_MAGIC: u32 = SIM_PAGE;
/// Value of [`SIM_MAGIC`].
pub const SIM_MAGIC_VALUE: u32 = u32::from_le_bytes(*b"IXYS");
/// Sim page: layout version.
pub const SIM_VERSION: u32 = SIM_PAGE + 4;
/// Current value of [`SIM_VERSION`].
pub const SIM_VERSION_VALUE: u32 = 1;
/// Sim page: first simulator counter (u64 each, see [`SimCounter`]).
pub const SIM_COUNTERS: u32 = SIM_PAGE + 0x100;
/// Sim page: actual enable state of Rx queue `q` is the u32 at `+ 4q`.
pub const RX_QUEUE_STATE: u32 = 0x7F000;
/// Sim page: actual enable state of Tx queue `q` is the u32 at `+ 4q`.
pub const TX_QUEUE_STATE: u32 = 0x7F200;

/// Counters the simulator keeps beyond the 82599's own statistics. They are
/// never cleared on read; each is a u64 at `SIM_COUNTERS + 8 * index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SimCounter {
    /// DMA to an address the lab's IOMMU table does not map.
    IommuFaults = 0,
    /// Frames sent to a disabled Rx queue (also counted in QPRDC).
    RxToDisabledQueue = 1,
    /// Frames that arrived while RXCTRL.RXEN was clear.
    RxWhileDisabled = 2,
    /// Frames rejected by the L2 address filter (FCTRL, RAL/RAH).
    RxFiltered = 3,
    /// Frames that arrived while the link was down or the port removed.
    RxLinkDown = 4,
    /// Tx descriptors the model could not interpret (bad DTYP, PAYLEN, length).
    TxMalformed = 5,
    /// Frames lost because the link fell between their descriptor fetch and
    /// the wire (a port with its link down fetches nothing: Tx waits).
    TxLinkDown = 6,
    /// Frames dropped on purpose by the `drop` control command.
    CableDropped = 7,
    /// Frames dropped because their Rx queue uses an unmodelled descriptor type.
    RxUnsupportedDescType = 8,
}

impl SimCounter {
    /// Every counter, in index order.
    pub const ALL: [SimCounter; 9] = [
        SimCounter::IommuFaults,
        SimCounter::RxToDisabledQueue,
        SimCounter::RxWhileDisabled,
        SimCounter::RxFiltered,
        SimCounter::RxLinkDown,
        SimCounter::TxMalformed,
        SimCounter::TxLinkDown,
        SimCounter::CableDropped,
        SimCounter::RxUnsupportedDescType,
    ];

    /// The counter's name in the control interface and in logs.
    pub fn name(self) -> &'static str {
        match self {
            SimCounter::IommuFaults => "iommu_faults",
            SimCounter::RxToDisabledQueue => "rx_to_disabled_queue",
            SimCounter::RxWhileDisabled => "rx_while_disabled",
            SimCounter::RxFiltered => "rx_filtered",
            SimCounter::RxLinkDown => "rx_link_down",
            SimCounter::TxMalformed => "tx_malformed",
            SimCounter::TxLinkDown => "tx_link_down",
            SimCounter::CableDropped => "cable_dropped",
            SimCounter::RxUnsupportedDescType => "rx_unsupported_desc_type",
        }
    }

    fn offset(self) -> usize {
        (SIM_COUNTERS + 8 * self as u32) as usize
    }
}

/// The device's view of a BAR file: no read side effects.
#[derive(Debug)]
pub struct Regs {
    map: Mapping,
}

impl Regs {
    /// Creates the BAR file at `path`, zeroed, with the sim page header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let regs = Regs {
            map: Mapping::create(path, BAR_SIZE)?,
        };
        regs.write(SIM_MAGIC, SIM_MAGIC_VALUE);
        regs.write(SIM_VERSION, SIM_VERSION_VALUE);
        Ok(regs)
    }

    fn word(&self, reg: u32) -> &std::sync::atomic::AtomicU32 {
        // Register offsets come from `driver::regs` and the sim page
        // constants, all aligned and inside the BAR: a miss is a bug here.
        self.map
            .u32_at(reg as usize)
            .unwrap_or_else(|| panic!("register offset {reg:#x} outside the BAR"))
    }

    /// Reads a register as the device sees it.
    pub fn read(&self, reg: u32) -> u32 {
        self.word(reg).load(Ordering::Acquire)
    }

    /// Writes a register.
    pub fn write(&self, reg: u32, value: u32) {
        self.word(reg).store(value, Ordering::Release);
    }

    /// Sets `bits` in a register.
    pub fn set_bits(&self, reg: u32, bits: u32) {
        self.word(reg).fetch_or(bits, Ordering::AcqRel);
    }

    /// Clears `bits` in a register.
    pub fn clear_bits(&self, reg: u32, bits: u32) {
        self.word(reg).fetch_and(!bits, Ordering::AcqRel);
    }

    /// Replaces `current` by `new` if the register still holds `current`.
    pub fn compare_exchange(&self, reg: u32, current: u32, new: u32) -> bool {
        self.word(reg)
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Adds to a 32-bit clear-on-read counter (wrapping, as silicon does).
    pub fn count(&self, reg: u32, n: u32) {
        self.word(reg).fetch_add(n, Ordering::AcqRel);
    }

    /// Adds to a counter split into a low and a high register. A reader
    /// that clears both between our two updates still sees every unit once
    /// across its reads (the carry lands in its next read of the high word).
    pub fn count64(&self, low: u32, high: u32, n: u64) {
        let lo = n as u32;
        let old = self.word(low).fetch_add(lo, Ordering::AcqRel);
        let carry = u32::from(old.checked_add(lo).is_none());
        let hi = (n >> 32) as u32 + carry;
        if hi != 0 {
            self.word(high).fetch_add(hi, Ordering::AcqRel);
        }
    }

    /// Adds to one of the simulator's own counters.
    pub fn count_sim(&self, counter: SimCounter, n: u64) {
        if let Some(w) = self.map.u64_at(counter.offset()) {
            w.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Publishes the 1588 clock's anchor under its seqlock
    /// (`driver::mmio::SIM_CLOCK_ANCHOR`): the sequence turns odd, the
    /// fields change, the sequence turns even again.
    pub fn publish_clock_anchor(&self, anchor: &driver::mmio::ClockAnchor) {
        let base = driver::mmio::SIM_CLOCK_ANCHOR as usize;
        let word = |i: usize| self.map.u64_at(base + 8 * i);
        let (Some(seq), Some(host), Some(systim), Some(timinca)) =
            (word(0), word(1), word(2), word(3))
        else {
            return;
        };
        let s = seq.load(Ordering::Acquire);
        seq.store(s | 1, Ordering::Release);
        std::sync::atomic::fence(Ordering::Release);
        host.store(anchor.host_ns, Ordering::Release);
        systim.store(anchor.systim, Ordering::Release);
        timinca.store(u64::from(anchor.timinca), Ordering::Release);
        seq.store((s | 1) + 1, Ordering::Release);
    }

    /// Reads one of the simulator's own counters.
    pub fn sim_count(&self, counter: SimCounter) -> u64 {
        self.map
            .u64_at(counter.offset())
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// Zeroes the register space (not the sim page), as a reset does.
    /// CTRL (offset 0) is left alone: its RST bit must read 1 throughout.
    pub fn clear_registers(&self) {
        self.map.fill(4, SIM_PAGE as usize, 0);
    }

    /// Makes every register and queue state read 0xFFFFFFFF, like a PCI
    /// device that is gone. The sim counters stay readable.
    pub fn fill_removed(&self) {
        self.map.fill(0, SIM_COUNTERS as usize, 0xFF);
        self.map.fill(RX_QUEUE_STATE as usize, BAR_SIZE, 0xFF);
    }
}

/// A driver's view of a BAR file: reads apply the 82599's read side
/// effects (clear-on-read counters, timestamp unlock) and RXDCTL/TXDCTL
/// report the actual queue state from the sim page. Tests, benchmarks and
/// tools use it to drive a port register by register.
#[derive(Debug)]
pub struct Bar {
    map: Mapping,
}

impl Bar {
    /// Maps the BAR file of a port (`LAB/portN/bar0`).
    pub fn open(path: &Path) -> io::Result<Self> {
        let map = Mapping::open(path, 0, BAR_SIZE)?;
        let magic = map
            .u32_at(SIM_MAGIC as usize)
            .map(|w| w.load(Ordering::Acquire));
        if magic != Some(SIM_MAGIC_VALUE) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a simulated 82599 BAR (bad magic)", path.display()),
            ));
        }
        Ok(Bar { map })
    }

    fn word(&self, reg: u32) -> &std::sync::atomic::AtomicU32 {
        self.map
            .u32_at(reg as usize)
            .unwrap_or_else(|| panic!("register offset {reg:#x} outside the BAR"))
    }

    /// Reads a register with the side effects silicon applies.
    pub fn read(&self, reg: u32) -> u32 {
        if let Some(q) = queue_enable_state(reg) {
            let value = self.word(reg).load(Ordering::Acquire);
            let state = self.word(q.0).load(Ordering::Acquire);
            return (value & !q.1) | (state & q.1);
        }
        match regs::read_effect(reg) {
            ReadEffect::None => self.word(reg).load(Ordering::Acquire),
            ReadEffect::ClearOnRead => self.word(reg).swap(0, Ordering::AcqRel),
            ReadEffect::ClearBit { reg: other, bit } => {
                let value = self.word(reg).load(Ordering::Acquire);
                self.word(other).fetch_and(!bit, Ordering::AcqRel);
                value
            }
            ReadEffect::ReadsFrom(other) => self.word(other).load(Ordering::Acquire),
        }
    }

    /// Writes a register. Tail writes need no extra fence here: the store
    /// is a release, which orders the descriptor writes before it.
    pub fn write(&self, reg: u32, value: u32) {
        match regs::write_effect(reg) {
            WriteEffect::Store => self.word(reg).store(value, Ordering::Release),
            WriteEffect::ClearBits => {
                self.word(reg).fetch_and(!value, Ordering::AcqRel);
            }
            WriteEffect::SetBitsOf(other) => {
                self.word(other).fetch_or(value, Ordering::AcqRel);
            }
        }
    }

    /// Reads one of the simulator's own counters.
    pub fn sim_counter(&self, counter: SimCounter) -> u64 {
        self.map
            .u64_at(counter.offset())
            .map_or(0, |w| w.load(Ordering::Acquire))
    }
}

/// For RXDCTL(q) / TXDCTL(q): the sim-page word holding the actual state
/// and the ENABLE bit it provides.
fn queue_enable_state(reg: u32) -> Option<(u32, u32)> {
    let rx_lo = regs::rxdctl(0);
    let rx_hi = regs::rxdctl(64);
    let queue_of =
        |base: u32| (reg >= base && (reg - base).is_multiple_of(0x40)).then(|| (reg - base) / 0x40);
    if let Some(q) = queue_of(rx_lo).filter(|&q| q < 64) {
        return Some((RX_QUEUE_STATE + 4 * q, regs::RXDCTL_ENABLE));
    }
    if let Some(q) = queue_of(rx_hi).filter(|&q| q < 64) {
        return Some((RX_QUEUE_STATE + 4 * (q + 64), regs::RXDCTL_ENABLE));
    }
    if let Some(q) = queue_of(regs::txdctl(0)).filter(|&q| q < regs::NUM_QUEUES) {
        return Some((TX_QUEUE_STATE + 4 * q, regs::TXDCTL_ENABLE));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_state_words_cover_all_queues() {
        assert_eq!(
            queue_enable_state(regs::rxdctl(0)),
            Some((RX_QUEUE_STATE, regs::RXDCTL_ENABLE))
        );
        assert_eq!(
            queue_enable_state(regs::rxdctl(127)),
            Some((RX_QUEUE_STATE + 4 * 127, regs::RXDCTL_ENABLE))
        );
        assert_eq!(
            queue_enable_state(regs::txdctl(5)),
            Some((TX_QUEUE_STATE + 20, regs::TXDCTL_ENABLE))
        );
        assert_eq!(queue_enable_state(regs::rdt(0)), None);
        assert_eq!(queue_enable_state(regs::tdt(0)), None);
        assert!(TX_QUEUE_STATE + 4 * 128 <= BAR_SIZE as u32);
    }
}
