//! The BAR file of one simulated port and the two views of it.
//!
//! The file is [`BAR_SIZE`] bytes of little-endian 32-bit registers at
//! datasheet offsets. Its last 8 KiB (the *sim page*, at offsets the 82599
//! does not decode) carry what a register file cannot: the actual enable
//! state of each queue, read back through RXDCTL/TXDCTL, the 1588 clock's
//! anchor and the simulator's own counters. `sim/README.md` documents the
//! layout; [`driver::simfmt::bar`] defines it, for the driver and for the
//! model.
//!
//! [`Regs`] is the device's side: plain loads and stores plus the atomic
//! read-modify-write operations the model needs. [`Bar`] is a driver's side:
//! reads apply the read side effects of silicon (docs/DESIGN.md 3), through the
//! same accessor as the driver's ([`driver::simfmt::bar::read`]).

use driver::shm::SharedMap;
use driver::simfmt::bar::{
    self as fmt, ClockAnchor, SimCounter, BAR_SIZE, RX_QUEUE_STATE, SIM_COUNTERS, SIM_MAGIC,
    SIM_MAGIC_VALUE, SIM_PAGE, SIM_VERSION, SIM_VERSION_VALUE,
};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;

/// The device's view of a BAR file: no read side effects.
#[derive(Debug)]
pub struct Regs {
    map: SharedMap,
}

impl Regs {
    /// Creates the BAR file at `path`, zeroed, with the sim page header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let regs = Regs {
            map: SharedMap::create(path, BAR_SIZE)?,
        };
        regs.write(SIM_MAGIC, SIM_MAGIC_VALUE);
        regs.write(SIM_VERSION, SIM_VERSION_VALUE);
        Ok(regs)
    }

    fn word(&self, reg: u32) -> &std::sync::atomic::AtomicU32 {
        // Register offsets come from `driver::regs` and the sim page
        // constants, all aligned and inside the BAR: a miss is a bug here.
        self.map
            .get_u32(reg as usize)
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
        if let Some(w) = self.map.get_u64(counter.offset()) {
            w.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Publishes the 1588 clock's anchor under its seqlock
    /// ([`ClockAnchor::publish`]).
    pub fn publish_clock_anchor(&self, anchor: &ClockAnchor) {
        anchor.publish(&self.map);
    }

    /// Reads one of the simulator's own counters.
    pub fn sim_count(&self, counter: SimCounter) -> u64 {
        counter.read(&self.map)
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
/// report the actual queue state from the sim page, as the driver's
/// accessor does ([`driver::simfmt::bar::read`]; SYSTIML/H read plainly).
/// Tests, benchmarks and tools use it to drive a port register by register.
#[derive(Debug)]
pub struct Bar {
    map: SharedMap,
}

impl Bar {
    /// Maps the BAR file of a port (`LAB/portN/bar0`).
    pub fn open(path: &Path) -> io::Result<Self> {
        let map = SharedMap::open(path, 0, BAR_SIZE)?;
        let magic = map
            .get_u32(SIM_MAGIC as usize)
            .map(|w| w.load(Ordering::Acquire));
        if magic != Some(SIM_MAGIC_VALUE) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a simulated 82599 BAR (bad magic)", path.display()),
            ));
        }
        Ok(Bar { map })
    }

    /// Reads a register with the side effects silicon applies.
    pub fn read(&self, reg: u32) -> u32 {
        fmt::read(&self.map, reg)
    }

    /// Writes a register. Tail writes need no extra fence here: the store
    /// is a release, which orders the descriptor writes before it.
    pub fn write(&self, reg: u32, value: u32) {
        fmt::write(&self.map, reg, value)
    }

    /// Reads one of the simulator's own counters.
    pub fn sim_counter(&self, counter: SimCounter) -> u64 {
        counter.read(&self.map)
    }
}
