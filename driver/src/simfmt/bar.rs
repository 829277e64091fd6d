//! The BAR file of a simulated port (`sim/README.md` 3).
//!
//! The file is [`BAR_SIZE`] bytes of little-endian 32-bit registers at the
//! 82599's BAR0 offsets ([`crate::regs`]). Its last 8 KiB, the *sim page*
//! at offsets the 82599 does not decode, carry what a register file cannot:
//! a magic and a version, the simulator's own counters ([`SimCounter`]),
//! the 1588 clock's anchor ([`ClockAnchor`]) and the actual enable state of
//! each queue, which RXDCTL/TXDCTL read back ([`queue_state_word`]).
//!
//! [`read()`] and [`write()`] are a register access on a mapped BAR file with
//! the side effects silicon has (`sim/README.md` 3.3 rules 1–3, 3.5); the
//! driver's [`crate::mmio::Registers`] and the simulator's driver-side view
//! (`sim::Bar`) both go through them.

use crate::regs::{self, ReadEffect, WriteEffect};
use crate::shm::SharedMap;
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
/// Sim page: the 1588 clock's anchor, a seqlock of four u64 words: the
/// sequence (odd while the model writes, 0 before the first anchor), the
/// host `CLOCK_MONOTONIC` time in ns at the anchor, SYSTIM at the anchor,
/// and TIMINCA in force (see [`ClockAnchor`]).
pub const SIM_CLOCK_ANCHOR: u32 = SIM_PAGE + 0x200;
/// Sim page: actual enable state of Rx queue `q` is the u32 at `+ 4q`
/// (q < 128): [`regs::RXDCTL_ENABLE`] when enabled, else 0.
pub const RX_QUEUE_STATE: u32 = 0x7F000;
/// Sim page: actual enable state of Tx queue `q` is the u32 at `+ 4q`
/// (q < 128): [`regs::TXDCTL_ENABLE`] when enabled, else 0.
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

    /// Byte offset of the counter's u64 in the BAR file.
    #[inline]
    pub fn offset(self) -> usize {
        (SIM_COUNTERS + 8 * self as u32) as usize
    }

    /// The counter's value in the mapped BAR file `bar` (one 64-bit load:
    /// two 32-bit halves could tear); 0 when `bar` is too short to hold it.
    pub fn read(self, bar: &SharedMap) -> u64 {
        bar.get_u64(self.offset())
            .map_or(0, |w| w.load(Ordering::Acquire))
    }
}

/// For RXDCTL(q)/TXDCTL(q): the sim-page word that holds the queue's actual
/// state and the ENABLE bit it provides (`sim/README.md` 3.3 rule 3);
/// `None` for every other register.
pub fn queue_state_word(reg: u32) -> Option<(u32, u32)> {
    let queue = |base: u32, count: u32| {
        (reg >= base && (reg - base).is_multiple_of(0x40) && (reg - base) / 0x40 < count)
            .then(|| (reg - base) / 0x40)
    };
    if let Some(q) = queue(regs::rxdctl(0), 64) {
        return Some((RX_QUEUE_STATE + 4 * q, regs::RXDCTL_ENABLE));
    }
    if let Some(q) = queue(regs::rxdctl(64), 64) {
        return Some((RX_QUEUE_STATE + 4 * (q + 64), regs::RXDCTL_ENABLE));
    }
    queue(regs::txdctl(0), regs::NUM_QUEUES).map(|q| (TX_QUEUE_STATE + 4 * q, regs::TXDCTL_ENABLE))
}

/// Reads register `reg` of the mapped BAR file `bar` with the side effects
/// silicon applies (`sim/README.md` 3.3 rules 1–3): RXDCTL/TXDCTL.ENABLE
/// from the queue's state word, then [`regs::read_effect`] (clear-on-read
/// as an atomic swap, a timestamp register clearing its VALID bit, EICS
/// reading EICR). SYSTIML/H read plainly here; the driver's
/// [`crate::mmio::Registers`] computes them from the [`ClockAnchor`] (rule 4).
///
/// # Panics
/// When `reg` is not an aligned offset inside `bar` (offsets come from
/// [`crate::regs`], never from input).
pub fn read(bar: &SharedMap, reg: u32) -> u32 {
    let word = |r: u32| bar.u32_at(r as usize);
    if let Some((state, bit)) = queue_state_word(reg) {
        let value = word(reg).load(Ordering::Acquire);
        return (value & !bit) | (word(state).load(Ordering::Acquire) & bit);
    }
    match regs::read_effect(reg) {
        ReadEffect::None => word(reg).load(Ordering::Acquire),
        ReadEffect::ClearOnRead => word(reg).swap(0, Ordering::AcqRel),
        ReadEffect::ClearBit { reg: other, bit } => {
            let value = word(reg).load(Ordering::Acquire);
            word(other).fetch_and(!bit, Ordering::AcqRel);
            value
        }
        ReadEffect::ReadsFrom(other) => word(other).load(Ordering::Acquire),
    }
}

/// Writes register `reg` of the mapped BAR file `bar` with the side effects
/// silicon applies ([`regs::write_effect`], `sim/README.md` 3.5): a plain
/// store with release ordering (so a tail write orders the descriptor
/// writes before it), EICR write-1-to-clear, EICS setting bits in EICR.
///
/// # Panics
/// As [`read`].
pub fn write(bar: &SharedMap, reg: u32, value: u32) {
    let word = |r: u32| bar.u32_at(r as usize);
    match regs::write_effect(reg) {
        WriteEffect::Store => word(reg).store(value, Ordering::Release),
        WriteEffect::ClearBits => {
            word(reg).fetch_and(!value, Ordering::AcqRel);
        }
        WriteEffect::SetBitsOf(other) => {
            word(other).fetch_or(value, Ordering::AcqRel);
        }
    }
}

/// The IEEE 1588 clock's anchor as the simulator publishes it at
/// [`SIM_CLOCK_ANCHOR`]: a reader computes SYSTIM at the moment of a read
/// from it (`sim/README.md` 3.3 rule 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockAnchor {
    /// Host `CLOCK_MONOTONIC` time (ns) at the anchor.
    pub host_ns: u64,
    /// SYSTIM at the anchor.
    pub systim: u64,
    /// TIMINCA in force from the anchor on.
    pub timinca: u32,
}

impl ClockAnchor {
    /// SYSTIM at host time `now_ns`: TIMINCA.IV added every TIMINCA.IP
    /// periods of 6.4 ns (82599 datasheet 7.9.1.2), as the model counts.
    pub fn systim_at(&self, now_ns: u64) -> u64 {
        let iv = u64::from(self.timinca & regs::TIMINCA_IV_MASK);
        let ip = u64::from(self.timinca >> regs::TIMINCA_IP_SHIFT);
        if iv == 0 || ip == 0 {
            return self.systim;
        }
        let elapsed_ps = now_ns.saturating_sub(self.host_ns).saturating_mul(1000);
        let periods = elapsed_ps / (ip * regs::SYSTIM_CLOCK_PERIOD_PS_10G);
        self.systim.wrapping_add(periods.wrapping_mul(iv))
    }

    /// The word `i` of the anchor's seqlock in `bar`.
    fn word(bar: &SharedMap, i: usize) -> Option<&std::sync::atomic::AtomicU64> {
        bar.get_u64(SIM_CLOCK_ANCHOR as usize + 8 * i)
    }

    /// The anchor in the mapped BAR file `bar`, read under its seqlock;
    /// `None` while the model has not published one (sequence 0), or while
    /// it keeps writing one.
    pub fn read(bar: &SharedMap) -> Option<ClockAnchor> {
        let word = |i: usize| Self::word(bar, i);
        let seq_word = word(0)?;
        for _ in 0..100 {
            let seq = seq_word.load(Ordering::Acquire);
            if seq == 0 {
                return None;
            }
            if seq % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let anchor = ClockAnchor {
                host_ns: word(1)?.load(Ordering::Acquire),
                systim: word(2)?.load(Ordering::Acquire),
                timinca: word(3)?.load(Ordering::Acquire) as u32,
            };
            if seq_word.load(Ordering::Acquire) == seq {
                return Some(anchor);
            }
        }
        None
    }

    /// Publishes the anchor in the mapped BAR file `bar` under its seqlock
    /// (the model's side): the sequence turns odd, the fields change, the
    /// sequence turns even again.
    pub fn publish(&self, bar: &SharedMap) {
        let word = |i: usize| Self::word(bar, i);
        let (Some(seq), Some(host), Some(systim), Some(timinca)) =
            (word(0), word(1), word(2), word(3))
        else {
            return;
        };
        let s = seq.load(Ordering::Acquire);
        seq.store(s | 1, Ordering::Release);
        std::sync::atomic::fence(Ordering::Release);
        host.store(self.host_ns, Ordering::Release);
        systim.store(self.systim, Ordering::Release);
        timinca.store(u64::from(self.timinca), Ordering::Release);
        seq.store((s | 1) + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_state_words_match_the_sim_page() {
        assert_eq!(
            queue_state_word(regs::rxdctl(0)),
            Some((0x7F000, regs::RXDCTL_ENABLE))
        );
        assert_eq!(
            queue_state_word(regs::rxdctl(65)),
            Some((0x7F000 + 4 * 65, regs::RXDCTL_ENABLE))
        );
        assert_eq!(
            queue_state_word(regs::rxdctl(127)),
            Some((RX_QUEUE_STATE + 4 * 127, regs::RXDCTL_ENABLE))
        );
        assert_eq!(
            queue_state_word(regs::txdctl(5)),
            Some((TX_QUEUE_STATE + 20, regs::TXDCTL_ENABLE))
        );
        assert_eq!(
            queue_state_word(regs::txdctl(127)),
            Some((0x7F200 + 4 * 127, regs::TXDCTL_ENABLE))
        );
        assert_eq!(queue_state_word(regs::rdt(0)), None);
        assert_eq!(queue_state_word(regs::tdt(0)), None);
        assert!(TX_QUEUE_STATE + 4 * 128 <= BAR_SIZE as u32);
    }

    #[test]
    fn the_sim_page_is_where_the_readme_says() {
        assert_eq!(SIM_MAGIC_VALUE, 0x5359_5849);
        assert_eq!(SimCounter::IommuFaults.offset(), 0x7E100);
        assert_eq!(SimCounter::RxUnsupportedDescType.offset(), 0x7E140);
        assert!(SimCounter::ALL
            .iter()
            .enumerate()
            .all(|(i, &c)| c as usize == i));
        assert_eq!(SIM_CLOCK_ANCHOR, 0x7E200);
    }

    #[test]
    fn a_published_anchor_reads_back() {
        let bar = SharedMap::anonymous(BAR_SIZE).unwrap();
        assert_eq!(ClockAnchor::read(&bar), None, "none published yet");
        let anchor = ClockAnchor {
            host_ns: 7,
            systim: 1 << 40,
            timinca: 0x0100_0002,
        };
        anchor.publish(&bar);
        assert_eq!(ClockAnchor::read(&bar), Some(anchor));
        assert_eq!(
            bar.u64_at(SIM_CLOCK_ANCHOR as usize)
                .load(Ordering::Relaxed),
            2
        );
    }
}
