//! Register access: the one small type every register read and write goes
//! through (docs/DESIGN.md 3).
//!
//! On hardware a register is a volatile 32-bit load or store in BAR0. On the
//! simulator it is an atomic on the shared BAR file, and this type applies
//! the read side effects that silicon performs (clear-on-read counters,
//! timestamp unlock, [`regs::read_effect`]) and reads RXDCTL/TXDCTL.ENABLE
//! from the simulator's queue-state words ([`simbar::read`], `sim/README.md`
//! 3.3), so that the device model sees exactly what silicon would.

use crate::regs;
use crate::shm::SharedMap;
use crate::simfmt::bar::{self as simbar, ClockAnchor};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// What every register of a device that has left the bus reads.
pub const ALL_ONES: u32 = 0xFFFF_FFFF;

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
    map: SharedMap,
    kind: Kind,
    /// SYSTIMH as latched by the last SYSTIML read on the simulator, with
    /// bit 32 set once there was one (8.2.3.26.6: reading SYSTIML latches
    /// SYSTIMH; SYSTIMH reads the latched value).
    systimh_latch: AtomicU64,
}

impl Registers {
    /// Takes ownership of a mapping of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be a live `mmap` of BAR0 (or a BAR file)
    /// that nothing else unmaps; this value unmaps it on drop.
    pub unsafe fn from_mapping(base: NonNull<u8>, len: usize, kind: Kind) -> Self {
        Registers {
            // SAFETY: the caller hands over a live mapping nothing else
            // unmaps, as `SharedMap::from_raw` requires.
            map: unsafe { SharedMap::from_raw(base, len) },
            kind,
            systimh_latch: AtomicU64::new(0),
        }
    }

    /// The registers of a simulated port, in its mapped BAR file
    /// (`crate::simdev::open_bar` checks the file first).
    pub fn simulator(bar: SharedMap) -> Self {
        Registers {
            map: bar,
            kind: Kind::Simulator,
            systimh_latch: AtomicU64::new(0),
        }
    }

    /// Whether this is a simulated device.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the device has vanished from the bus: STATUS reads
    /// all ones, the PCI surprise-removal signature (a read that no
    /// device answers completes with all ones; STATUS has reserved bits
    /// that a present device reads as 0, 82599 datasheet 8.2.3.1.2). One
    /// register read, without side effects.
    pub fn vanished(&self) -> bool {
        self.read(regs::STATUS) == ALL_ONES
    }

    /// The register's word, for volatile access on hardware.
    fn word(&self, reg: u32) -> *mut u32 {
        let off = reg as usize;
        let len = self.map.len();
        assert!(
            off.is_multiple_of(4) && off + 4 <= len,
            "register offset {reg:#x} outside BAR0 ({len} bytes)"
        );
        // SAFETY: the offset is in bounds (checked above) of the live mapping.
        unsafe { self.map.as_ptr().add(off).cast::<u32>() }
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
            if let Some(now) = self
                .clock_anchor()
                .map(|a| a.systim_at(crate::tsc::monotonic_ns()))
            {
                if reg == regs::SYSTIMH {
                    return (now >> 32) as u32;
                }
                self.systimh_latch
                    .store(1 << 32 | (now >> 32), Ordering::Release);
                return now as u32;
            }
        }
        simbar::read(&self.map, reg)
    }

    /// The 1588 clock's anchor from the sim page, read under its seqlock;
    /// `None` while the model has not published one (sequence 0).
    fn clock_anchor(&self) -> Option<ClockAnchor> {
        ClockAnchor::read(&self.map)
    }

    /// Writes a register.
    pub fn write(&self, reg: u32, value: u32) {
        match self.kind {
            // SAFETY: aligned, in-bounds MMIO word; volatile as device memory requires.
            Kind::Hardware => unsafe { self.word(reg).write_volatile(value) },
            // The write side effects of silicon (`regs::write_effect`).
            Kind::Simulator => simbar::write(&self.map, reg, value),
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
    /// once here, written with `Tail::write` without a bounds check or a
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

/// A mapped memory BAR read and written in naturally aligned 8, 16 and
/// 32-bit volatile accesses at byte offsets: the virtio PCI structures
/// (virtio 1.1 4.1.3.1: the driver accesses each field with its own
/// width; 64-bit fields as two 32-bit halves, low first). Unmapped on drop.
#[derive(Debug)]
pub struct Bar {
    map: SharedMap,
}

impl Bar {
    /// Takes ownership of a mapping of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be a live `mmap` of the BAR that nothing
    /// else unmaps; this value unmaps it on drop.
    pub unsafe fn from_mapping(base: NonNull<u8>, len: usize) -> Self {
        Bar {
            // SAFETY: the caller hands over a live mapping nothing else
            // unmaps, as `SharedMap::from_raw` requires.
            map: unsafe { SharedMap::from_raw(base, len) },
        }
    }

    /// A BAR in ordinary memory (for unit tests of what reads it).
    pub fn in_memory(map: SharedMap) -> Self {
        Bar { map }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the BAR is empty (never, once mapped).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The field of width `W` at `off`.
    ///
    /// # Panics
    /// When the field is outside the BAR or misaligned: offsets come from
    /// the device's capabilities, checked against the BAR when mapped.
    fn field<W>(&self, off: usize) -> *mut W {
        let width = std::mem::size_of::<W>();
        assert!(
            off.is_multiple_of(width) && off + width <= self.map.len(),
            "{width}-byte field at {off:#x} outside a {}-byte BAR or misaligned",
            self.map.len()
        );
        // SAFETY: in bounds (checked above) of the live mapping.
        unsafe { self.map.as_ptr().add(off).cast::<W>() }
    }

    /// Reads the byte at `off`.
    pub fn read8(&self, off: usize) -> u8 {
        // SAFETY: an aligned, in-bounds field of the mapping; volatile as
        // device memory requires.
        unsafe { self.field::<u8>(off).read_volatile() }
    }

    /// Reads the little-endian 16-bit field at `off`.
    pub fn read16(&self, off: usize) -> u16 {
        // SAFETY: as in `read8`.
        u16::from_le(unsafe { self.field::<u16>(off).read_volatile() })
    }

    /// Reads the little-endian 32-bit field at `off`.
    pub fn read32(&self, off: usize) -> u32 {
        // SAFETY: as in `read8`.
        u32::from_le(unsafe { self.field::<u32>(off).read_volatile() })
    }

    /// Writes the byte at `off`.
    pub fn write8(&self, off: usize, value: u8) {
        // SAFETY: as in `read8`.
        unsafe { self.field::<u8>(off).write_volatile(value) }
    }

    /// Writes the little-endian 16-bit field at `off`.
    pub fn write16(&self, off: usize, value: u16) {
        // SAFETY: as in `read8`.
        unsafe { self.field::<u16>(off).write_volatile(value.to_le()) }
    }

    /// Writes the little-endian 32-bit field at `off`.
    pub fn write32(&self, off: usize, value: u32) {
        // SAFETY: as in `read8`.
        unsafe { self.field::<u32>(off).write_volatile(value.to_le()) }
    }

    /// Writes a 64-bit field as two 32-bit halves, low first.
    pub fn write64(&self, off: usize, value: u64) {
        self.write32(off, value as u32);
        self.write32(off + 4, (value >> 32) as u32);
    }
}

/// A simulator BAR in anonymous memory, every byte `fill`, for unit tests.
#[cfg(test)]
pub(crate) fn test_registers(fill: u8) -> Registers {
    let map = SharedMap::anonymous(regs::BAR0_SIZE).expect("anonymous mapping");
    map.fill(0, map.len(), fill);
    Registers::simulator(map)
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
}
