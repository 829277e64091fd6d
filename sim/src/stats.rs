//! Statistics counters gathered during one pass of the model and added to
//! the clear-on-read registers at its end: one atomic add per counter and
//! pass instead of one per frame. A driver sees counters lag the
//! descriptors by at most one pass (microseconds), as it may on silicon,
//! where the statistics unit is not synchronised with descriptor write-back.

use crate::bar::Regs;

/// Pending additions, keyed by register (the high half for 64-bit counters).
#[derive(Debug, Default)]
pub struct Pending {
    entries: Vec<(u32, Option<u32>, u64)>,
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

    fn add_entry(&mut self, reg: u32, high: Option<u32>, n: u64) {
        match self.entries.iter_mut().find(|e| e.0 == reg) {
            Some(e) => e.2 += n,
            None => self.entries.push((reg, high, n)),
        }
    }

    /// Adds everything pending to the registers.
    pub fn flush(&mut self, regs: &Regs) {
        for (reg, high, n) in self.entries.drain(..) {
            match high {
                Some(h) => regs.count64(reg, h, n),
                None => regs.count(reg, n as u32),
            }
        }
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
            p.entries,
            vec![(0x4074, None, 3), (0x4088, Some(0x408C), 128)]
        );
    }
}
