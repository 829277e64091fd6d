//! Registers the 82599 decodes at two addresses: the 82599 address and the
//! 82598-compatible one that Linux's `ixgbe_type.h` uses for the 82599 as
//! well (`IXGBE_RAL(i)`/`IXGBE_RAH(i)` for i ≤ 15, `IXGBE_RETA`,
//! `IXGBE_RSSRK`, and `IXGBE_SRRCTL(i)` for i ≤ 15 at the 82598 block).
//!
//! A BAR file is shared memory: the model cannot see a write happen, only
//! its result. It keeps each pair equal instead: on every scan, a word that
//! differs from the value last seen was written by the driver, and its
//! value goes to the other address too (if both changed, the 82599 address
//! wins). A driver may thus use either address, as on silicon; a read of
//! the other address right after a write, before the model's next scan,
//! still shows the old value (`sim/README.md` 3.4).
//!
//! QPTC, a counter the model writes, is counted at both of its addresses
//! instead (`regs::qptc_alias`). The alias addresses are in `driver::regs`.

use crate::bar::Regs;
use driver::regs::{self, mrqc_alias, rah_alias, ral_alias, reta_alias, rssrk_alias, srrctl_alias};

/// Every (82599 address, alias) pair the model keeps equal.
pub fn pairs() -> Vec<(u32, u32)> {
    let mut p = Vec::new();
    for i in 0..16 {
        p.push((regs::ral(i), ral_alias(i)));
        p.push((regs::rah(i), rah_alias(i)));
        p.push((regs::srrctl(i), srrctl_alias(i)));
    }
    p.push((regs::MRQC, mrqc_alias()));
    for i in 0..32 {
        p.push((regs::reta(i), reta_alias(i)));
    }
    for i in 0..10 {
        p.push((regs::rssrk(i), rssrk_alias(i)));
    }
    p
}

/// The aliased pairs of one port and the value each held at the last scan.
#[derive(Debug)]
pub struct Aliases {
    pairs: Vec<(u32, u32)>,
    seen: Vec<u32>,
}

impl Default for Aliases {
    fn default() -> Self {
        let pairs = pairs();
        let seen = vec![0; pairs.len()];
        Aliases { pairs, seen }
    }
}

impl Aliases {
    /// After a reset cleared the registers: every pair reads 0.
    pub fn reset(&mut self) {
        self.seen.iter_mut().for_each(|v| *v = 0);
    }

    /// Copies what the driver wrote at one address of a pair to the other.
    /// Returns true when something was copied.
    pub fn sync(&mut self, r: &Regs) -> bool {
        let mut changed = false;
        for (&(main, alias), seen) in self.pairs.iter().zip(self.seen.iter_mut()) {
            let (m, a) = (r.read(main), r.read(alias));
            if m == *seen && a == *seen {
                continue;
            }
            let value = if m != *seen { m } else { a };
            r.write(main, value);
            r.write(alias, value);
            *seen = value;
            changed = true;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_do_not_collide_with_other_registers_or_each_other() {
        let p = pairs();
        let mut all: Vec<u32> = p.iter().flat_map(|&(a, b)| [a, b]).collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "every address in one pair only");
        assert_eq!(ral_alias(15) + 4, rah_alias(15));
        assert_eq!(srrctl_alias(0), regs::srrctl(16) - 16 * 0x40);
        assert_eq!(regs::qptc_alias(1), 0x06070);
    }
}
