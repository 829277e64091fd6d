//! Register access: the one small type every register read and write goes
//! through (docs/DESIGN.md 3).
//!
//! On hardware a register is a volatile 32-bit load or store in BAR0. On the
//! simulator it is an atomic on the shared BAR file, and this type applies
//! the read side effects that silicon performs (clear-on-read counters,
//! timestamp unlock, [`regs::read_effect`]) and reads RXDCTL/TXDCTL.ENABLE
//! from the simulator's queue-state words (`sim/README.md` 3.3), so that the
//! device model sees exactly what silicon would.

use crate::regs::{self, ReadEffect, WriteEffect};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Sim page: actual state of Rx queue `q` at `+ 4q` (`sim/README.md` 3.2).
pub const SIM_RX_QUEUE_STATE: u32 = 0x7F000;
/// Sim page: actual state of Tx queue `q` at `+ 4q`.
pub const SIM_TX_QUEUE_STATE: u32 = 0x7F200;
/// Sim page: magic "IXYS" as a little-endian u32.
pub const SIM_MAGIC: u32 = 0x7E000;
/// Value of [`SIM_MAGIC`].
pub const SIM_MAGIC_VALUE: u32 = u32::from_le_bytes(*b"IXYS");

/// What every register of a device that has left the bus reads.
pub const ALL_ONES: u32 = 0xFFFF_FFFF;

/// Sim page: the 1588 clock's anchor, a seqlock of four u64 words
/// (`sim/README.md` 3.2): the sequence (odd while the model writes), the
/// host `CLOCK_MONOTONIC` time in ns at the anchor, SYSTIM at the anchor,
/// and TIMINCA in force. A read of SYSTIML computes the time from it.
pub const SIM_CLOCK_ANCHOR: u32 = 0x7E200;

/// The IEEE 1588 clock's anchor as the simulator publishes it.
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
}

/// The host's `CLOCK_MONOTONIC` in ns, the time line of the anchor.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// How a BAR is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Memory-mapped I/O of a real device (resource0 or VFIO region).
    Hardware,
    /// The BAR file of a simulated port.
    Simulator,
}

/// A mapped BAR0. Unmapped on drop.
#[derive(Debug)]
pub struct Registers {
    base: NonNull<u8>,
    len: usize,
    kind: Kind,
    /// SYSTIMH as latched by the last SYSTIML read on the simulator, with
    /// bit 32 set once there was one (8.2.3.26.6: reading SYSTIML latches
    /// SYSTIMH; SYSTIMH reads the latched value).
    systimh_latch: AtomicU64,
}

// SAFETY: the mapping is device memory shared with the NIC (or the sim);
// every access is a volatile or atomic 32-bit operation, so concurrent use
// from several threads is as safe as the device semantics allow.
unsafe impl Send for Registers {}
// SAFETY: see `Send`: no method hands out references into the mapping.
unsafe impl Sync for Registers {}

impl Registers {
    /// Takes ownership of a mapping of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be a live `mmap` of BAR0 (or a BAR file)
    /// that nothing else unmaps; this value unmaps it on drop.
    pub unsafe fn from_mapping(base: NonNull<u8>, len: usize, kind: Kind) -> Self {
        Registers {
            base,
            len,
            kind,
            systimh_latch: AtomicU64::new(0),
        }
    }

    /// Whether this is a simulated device.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the device has vanished from the bus: STATUS reads
    /// [`ALL_ONES`], the PCI surprise-removal signature (a read that no
    /// device answers completes with all ones; STATUS has reserved bits
    /// that a present device reads as 0, 82599 datasheet 8.2.3.1.2). One
    /// register read, without side effects.
    pub fn vanished(&self) -> bool {
        self.read(regs::STATUS) == ALL_ONES
    }

    fn word(&self, reg: u32) -> *mut u32 {
        let off = reg as usize;
        assert!(
            off.is_multiple_of(4) && off + 4 <= self.len,
            "register offset {reg:#x} outside BAR0 ({} bytes)",
            self.len
        );
        // SAFETY: the offset is in bounds (checked above) of the live mapping.
        unsafe { self.base.as_ptr().add(off).cast::<u32>() }
    }

    fn atomic(&self, reg: u32) -> &AtomicU32 {
        // SAFETY: `word` returns an aligned pointer into the mapping, which
        // lives as long as `self`; AtomicU32 has the layout of u32.
        unsafe { &*self.word(reg).cast::<AtomicU32>() }
    }

    /// Reads a register (82599 datasheet 8.2.3), with its read side effects.
    pub fn read(&self, reg: u32) -> u32 {
        match self.kind {
            // SAFETY: aligned, in-bounds MMIO word; volatile as device memory requires.
            Kind::Hardware => unsafe { self.word(reg).read_volatile() },
            Kind::Simulator => self.read_sim(reg),
        }
    }

    fn read_sim(&self, reg: u32) -> u32 {
        // The 1588 clock is computed at read time from the anchor the model
        // publishes (sim/README.md 3.3), so a read is never a pass behind.
        if reg == regs::SYSTIML || reg == regs::SYSTIMH {
            if reg == regs::SYSTIMH {
                let latched = self.systimh_latch.load(Ordering::Acquire);
                if latched >> 32 != 0 {
                    return latched as u32;
                }
            }
            if let Some(now) = self.clock_anchor().map(|a| a.systim_at(monotonic_ns())) {
                if reg == regs::SYSTIMH {
                    return (now >> 32) as u32;
                }
                self.systimh_latch
                    .store(1 << 32 | (now >> 32), Ordering::Release);
                return now as u32;
            }
        }
        if let Some((state, bit)) = queue_state_word(reg) {
            let value = self.atomic(reg).load(Ordering::Acquire);
            return (value & !bit) | (self.atomic(state).load(Ordering::Acquire) & bit);
        }
        match regs::read_effect(reg) {
            ReadEffect::None => self.atomic(reg).load(Ordering::Acquire),
            ReadEffect::ClearOnRead => self.atomic(reg).swap(0, Ordering::AcqRel),
            ReadEffect::ClearBit { reg: other, bit } => {
                let value = self.atomic(reg).load(Ordering::Acquire);
                self.atomic(other).fetch_and(!bit, Ordering::AcqRel);
                value
            }
            ReadEffect::ReadsFrom(other) => self.atomic(other).load(Ordering::Acquire),
        }
    }

    /// The 1588 clock's anchor from the sim page, read under its seqlock;
    /// `None` while the model has not published one (sequence 0).
    fn clock_anchor(&self) -> Option<ClockAnchor> {
        let word = |i: u32| self.atomic64(SIM_CLOCK_ANCHOR + 8 * i);
        for _ in 0..100 {
            let seq = word(0).load(Ordering::Acquire);
            if seq == 0 {
                return None;
            }
            if seq % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let anchor = ClockAnchor {
                host_ns: word(1).load(Ordering::Acquire),
                systim: word(2).load(Ordering::Acquire),
                timinca: word(3).load(Ordering::Acquire) as u32,
            };
            if word(0).load(Ordering::Acquire) == seq {
                return Some(anchor);
            }
        }
        None
    }

    fn atomic64(&self, off: u32) -> &AtomicU64 {
        let off = off as usize;
        assert!(off.is_multiple_of(8) && off + 8 <= self.len);
        // SAFETY: aligned and in bounds (checked above) of the live mapping;
        // AtomicU64 has the layout of u64.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// Writes a register.
    pub fn write(&self, reg: u32, value: u32) {
        match self.kind {
            // SAFETY: aligned, in-bounds MMIO word; volatile as device memory requires.
            Kind::Hardware => unsafe { self.word(reg).write_volatile(value) },
            // The write side effects of silicon (`regs::write_effect`).
            Kind::Simulator => match regs::write_effect(reg) {
                WriteEffect::Store => self.atomic(reg).store(value, Ordering::Release),
                WriteEffect::ClearBits => {
                    self.atomic(reg).fetch_and(!value, Ordering::AcqRel);
                }
                WriteEffect::SetBitsOf(other) => {
                    self.atomic(other).fetch_or(value, Ordering::AcqRel);
                }
            },
        }
    }

    /// Writes a tail register (RDT/TDT) after a release fence, so that the
    /// descriptors written before are visible to the device first (the
    /// `wmb()` of Linux drivers, 82599 datasheet 7.1.4 / 7.2.2).
    pub fn write_tail(&self, reg: u32, value: u32) {
        fence(Ordering::Release);
        self.write(reg, value);
    }

    /// A handle on tail register `reg` (RDT/TDT) for the hot path: checked
    /// once here, written with [`Tail::write`] without a bounds check or a
    /// register lookup.
    ///
    /// # Panics
    /// When `reg` is outside BAR0 (offsets come from `regs`, never from
    /// input).
    pub fn tail(&self, reg: u32) -> Tail<'_> {
        Tail {
            word: NonNull::new(self.word(reg)).expect("BAR0 is mapped"),
            kind: self.kind,
            _regs: std::marker::PhantomData,
        }
    }

    /// Sets `bits` in a register (read-modify-write).
    pub fn set_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) | bits);
    }

    /// Clears `bits` in a register (read-modify-write).
    pub fn clear_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) & !bits);
    }
}

/// A tail register (RDT/TDT) of a mapped BAR0, from [`Registers::tail`].
#[derive(Debug, Clone, Copy)]
pub struct Tail<'r> {
    word: NonNull<u32>,
    kind: Kind,
    _regs: std::marker::PhantomData<&'r Registers>,
}

impl Tail<'_> {
    /// Writes the tail after a release fence, so that the descriptors
    /// written before are visible to the device first (the `wmb()` of
    /// Linux drivers, 82599 datasheet 7.1.4 / 7.2.2).
    #[inline]
    pub fn write(self, value: u32) {
        fence(Ordering::Release);
        match self.kind {
            // SAFETY: `Registers::tail` checked that the word is an aligned
            // register inside the live mapping, which outlives 'r.
            Kind::Hardware => unsafe { self.word.as_ptr().write_volatile(value) },
            Kind::Simulator => {
                // SAFETY: as above; AtomicU32 has the layout of u32.
                let word = unsafe { &*self.word.as_ptr().cast::<AtomicU32>() };
                word.store(value, Ordering::Release)
            }
        }
    }
}

impl Drop for Registers {
    fn drop(&mut self) {
        // SAFETY: the mapping was handed over in `from_mapping` and nothing
        // borrows it beyond `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// For RXDCTL(q)/TXDCTL(q) on the simulator: the word that holds the
/// actual queue state and the ENABLE bit it provides.
fn queue_state_word(reg: u32) -> Option<(u32, u32)> {
    let queue = |base: u32, count: u32| {
        (reg >= base && (reg - base).is_multiple_of(0x40) && (reg - base) / 0x40 < count)
            .then(|| (reg - base) / 0x40)
    };
    if let Some(q) = queue(regs::rxdctl(0), 64) {
        return Some((SIM_RX_QUEUE_STATE + 4 * q, regs::RXDCTL_ENABLE));
    }
    if let Some(q) = queue(regs::rxdctl(64), 64) {
        return Some((SIM_RX_QUEUE_STATE + 4 * (q + 64), regs::RXDCTL_ENABLE));
    }
    queue(regs::txdctl(0), regs::NUM_QUEUES)
        .map(|q| (SIM_TX_QUEUE_STATE + 4 * q, regs::TXDCTL_ENABLE))
}

/// A simulator BAR in anonymous memory, every byte `fill`, for unit tests.
#[cfg(test)]
pub(crate) fn test_registers(fill: u8) -> Registers {
    let map = crate::memory::SharedMap::anonymous(regs::BAR0_SIZE).expect("anonymous mapping");
    map.write_bytes(0, &vec![fill; map.len()]);
    let (ptr, len) = (map.as_ptr(), map.len());
    std::mem::forget(map);
    // SAFETY: a live mapping of `len` bytes whose owner was forgotten: the
    // Registers unmap it once, on drop.
    unsafe { Registers::from_mapping(NonNull::new(ptr).expect("mapped"), len, Kind::Simulator) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ones_in_status_is_a_vanished_device() {
        assert!(test_registers(0xFF).vanished());
        let r = test_registers(0);
        assert!(!r.vanished());
        r.write(regs::STATUS, regs::STATUS_LU);
        assert!(!r.vanished());
    }

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
            queue_state_word(regs::txdctl(127)),
            Some((0x7F200 + 4 * 127, regs::TXDCTL_ENABLE))
        );
        assert_eq!(queue_state_word(regs::rdt(0)), None);
    }
}
