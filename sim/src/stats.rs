//! Statistics counters gathered during one pass of the model and added to
//! the clear-on-read registers at its end: one atomic add per counter and
//! pass instead of one per frame. A driver sees counters lag the
//! descriptors by at most one pass (microseconds), as it may on silicon,
//! where the statistics unit is not synchronised with descriptor write-back.
//!
//! The counters every frame touches (packets and octets per port and per
//! queue statistics index) are plain sums in `Traffic` fields; the rest
//! sit in a small direct-mapped table keyed by register address, so that
//! adding to any counter costs a hash and a compare, not a search.

use crate::bar::Regs;
use driver::regs;

/// Queue statistics indexes (QPRC/QPTC and friends, 0..16).
const STAT_INDEXES: usize = 16;

/// A pending count of frames and octets.
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    frames: u64,
    octets: u64,
}

impl Traffic {
    fn add(&mut self, octets: u64) {
        self.frames += 1;
        self.octets += octets;
    }

    /// Adds the sums to a frame counter and a 64-bit octet counter, and
    /// clears them.
    fn flush(&mut self, r: &Regs, frames: u32, octets: (u32, u32)) {
        if self.frames > 0 {
            r.count(frames, self.frames as u32);
            r.count64(octets.0, octets.1, self.octets);
        }
        *self = Traffic::default();
    }
}

/// Slots in the table (a power of two well above the counters one pass
/// touches: port totals and a few per-queue counters).
const SLOTS: usize = 64;

/// One pending sum: the counter's register (the low half of a 64-bit
/// counter), its high half if it has one, and the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    reg: u32,
    high: Option<u32>,
    n: u64,
}

/// Pending additions, keyed by register (the low half for 64-bit counters).
#[derive(Debug)]
pub struct Pending {
    /// Direct-mapped by [`slot`]; `None` is free.
    table: [Option<Entry>; SLOTS],
    /// Counters whose slot was taken by another one this pass.
    spill: Vec<Entry>,
    /// Slots in use, in the order they were taken, for the flush.
    used: Vec<u8>,
    /// Frames sent (GPTC, TPT; GOTC with FCS).
    tx: Traffic,
    /// Frames sent per statistics index (QPTC, QBTC without FCS).
    tx_queue: [Traffic; STAT_INDEXES],
    /// Frames seen on the wire, good or bad (TPR, TOR).
    rx_all: Traffic,
    /// Good frames received (GPRC, GORC).
    rx_good: Traffic,
    /// Frames delivered per statistics index (QPRC, QBRC without FCS).
    rx_queue: [Traffic; STAT_INDEXES],
    /// Statistics indexes with pending sums: bit i for Tx, bit 16 + i Rx.
    queues_used: u32,
    /// Broadcast and multicast frames sent and received, in the order of
    /// [`GROUP_COUNTERS`]: plain sums, as every frame of a broadcast
    /// stream (pktgen's default) adds to two of them.
    groups: [u32; 4],
}

/// The registers of [`Pending::groups`]: BPTC, MPTC, BPRC, MPRC.
const GROUP_COUNTERS: [u32; 4] = [regs::BPTC, regs::MPTC, regs::BPRC, regs::MPRC];

impl Default for Pending {
    fn default() -> Self {
        Pending {
            table: [None; SLOTS],
            spill: Vec::new(),
            used: Vec::with_capacity(SLOTS),
            tx: Traffic::default(),
            tx_queue: [Traffic::default(); STAT_INDEXES],
            rx_all: Traffic::default(),
            rx_good: Traffic::default(),
            rx_queue: [Traffic::default(); STAT_INDEXES],
            queues_used: 0,
            groups: [0; 4],
        }
    }
}

/// The slot of register `reg`: a multiplicative hash of its word index.
fn slot(reg: u32) -> usize {
    ((reg >> 2).wrapping_mul(0x9E37_79B1) >> 26) as usize % SLOTS
}

impl Pending {
    /// Adds `n` to the 32-bit counter `reg`.
    pub fn add(&mut self, reg: u32, n: u64) {
        self.add_entry(reg, None, n);
    }

    /// Adds `n` to the counter split into `low` and `high` registers.
    pub fn add64(&mut self, low: u32, high: u32, n: u64) {
        self.add_entry(low, Some(high), n);
    }

    /// A frame of `len` bytes (FCS excluded) sent from a queue mapped to
    /// statistics index `idx` (8.2.3.23: GPTC, TPT, GOTC, QPTC, QBTC).
    pub fn tx_frame(&mut self, idx: u32, len: usize) {
        let i = idx as usize % STAT_INDEXES;
        self.tx.add(len as u64 + 4);
        self.tx_queue[i].add(len as u64);
        self.queues_used |= 1 << i;
    }

    /// A frame of `wire_len` bytes (FCS included) seen, good or bad (TPR, TOR).
    pub fn rx_seen(&mut self, wire_len: u64) {
        self.rx_all.add(wire_len);
    }

    /// A good frame of `wire_len` bytes (GPRC, GORC).
    pub fn rx_good(&mut self, wire_len: u64) {
        self.rx_good.add(wire_len);
    }

    /// A frame of `len` bytes delivered to a queue mapped to statistics
    /// index `idx` (QPRC, QBRC).
    pub fn rx_queued(&mut self, idx: u32, len: usize) {
        let i = idx as usize % STAT_INDEXES;
        self.rx_queue[i].add(len as u64);
        self.queues_used |= 1 << (16 + i);
    }

    /// A frame to a group address sent (BPTC for broadcast, else MPTC).
    #[inline]
    pub fn tx_group(&mut self, broadcast: bool) {
        self.groups[usize::from(!broadcast)] += 1;
    }

    /// A good frame to a group address received (BPRC for broadcast, else
    /// MPRC).
    #[inline]
    pub fn rx_group(&mut self, broadcast: bool) {
        self.groups[2 + usize::from(!broadcast)] += 1;
    }

    fn add_entry(&mut self, reg: u32, high: Option<u32>, n: u64) {
        let s = slot(reg);
        match &mut self.table[s] {
            Some(e) if e.reg == reg => e.n += n,
            Some(_) => match self.spill.iter_mut().find(|e| e.reg == reg) {
                Some(e) => e.n += n,
                None => self.spill.push(Entry { reg, high, n }),
            },
            free @ None => {
                *free = Some(Entry { reg, high, n });
                self.used.push(s as u8);
            }
        }
    }

    /// Adds everything pending to the registers.
    pub fn flush(&mut self, r: &Regs) {
        for (n, reg) in self.groups.iter_mut().zip(GROUP_COUNTERS) {
            if *n > 0 {
                r.count(reg, std::mem::take(n));
            }
        }
        // TPT counts what GPTC counts: the model sends no bad frames.
        if self.tx.frames > 0 {
            r.count(regs::TPT, self.tx.frames as u32);
        }
        self.tx.flush(r, regs::GPTC, (regs::GOTCL, regs::GOTCH));
        self.rx_all.flush(r, regs::TPR, (regs::TORL, regs::TORH));
        self.rx_good
            .flush(r, regs::GPRC, (regs::GORCL, regs::GORCH));
        let mut used = std::mem::take(&mut self.queues_used);
        while used != 0 {
            let bit = used.trailing_zeros();
            used &= used - 1;
            let i = bit % 16;
            if bit < 16 {
                // QPTC is decoded at its 82598-compatible address too.
                let frames = self.tx_queue[i as usize].frames as u32;
                r.count(regs::qptc_alias(i), frames);
                self.tx_queue[i as usize].flush(
                    r,
                    regs::qptc(i),
                    (regs::qbtc_l(i), regs::qbtc_h(i)),
                );
            } else {
                self.rx_queue[i as usize].flush(
                    r,
                    regs::qprc(i),
                    (regs::qbrc_l(i), regs::qbrc_h(i)),
                );
            }
        }
        let taken = self
            .used
            .drain(..)
            .filter_map(|s| self.table[usize::from(s)].take());
        for e in taken.chain(self.spill.drain(..)) {
            match e.high {
                Some(h) => r.count64(e.reg, h, e.n),
                None => r.count(e.reg, e.n as u32),
            }
        }
    }

    /// The pending sums, in the order the counters were first added
    /// (spilled ones last).
    #[cfg(test)]
    fn sums(&self) -> Vec<(u32, Option<u32>, u64)> {
        let table = self.used.iter().filter_map(|&s| self.table[usize::from(s)]);
        table
            .chain(self.spill.iter().copied())
            .map(|e| (e.reg, e.high, e.n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_merge_by_register() {
        let mut p = Pending::default();
        p.add(0x4074, 1);
        p.add(0x4074, 2);
        p.add64(0x4088, 0x408C, 100);
        p.add64(0x4088, 0x408C, 28);
        assert_eq!(
            p.sums(),
            vec![(0x4074, None, 3), (0x4088, Some(0x408C), 128)]
        );
    }

    #[test]
    fn counters_sharing_a_slot_keep_separate_sums() {
        let mut p = Pending::default();
        let regs: Vec<u32> = (0..4 * SLOTS as u32).map(|i| 0x4000 + 4 * i).collect();
        for _ in 0..3 {
            for &r in &regs {
                p.add(r, u64::from(r));
            }
        }
        let mut sums = p.sums();
        sums.sort_unstable();
        let want: Vec<_> = regs.iter().map(|&r| (r, None, 3 * u64::from(r))).collect();
        assert_eq!(sums, want);
    }
}
