//! The IEEE 1588 system time of one port (82599 datasheet 7.9.1).
//!
//! SYSTIM advances by TIMINCA.IV every TIMINCA.IP periods of the 6.4 ns
//! clock of a 10 Gb/s link (7.9.1.2); with TIMINCA zero it stands still. The
//! model computes SYSTIM from the lab's time line (picoseconds since the lab
//! started), so timestamps of frames are exact, and publishes it into
//! SYSTIML/SYSTIMH on every pass of the polling loop. A driver that writes
//! SYSTIML/H sets the clock: the model notices because its last published
//! value is gone (it publishes with compare-and-swap). The clock's anchor
//! goes into the sim page whenever it changes, so that a reader computes
//! SYSTIM at the moment of its read (`sim/README.md` 3.3).

use crate::bar::Regs;
use driver::regs;
use driver::simfmt::bar::ClockAnchor;

/// The state of one port's 1588 clock.
#[derive(Debug, Default, Clone)]
pub struct Clock {
    /// Lab time (ps) at which `base_value` was the time.
    base_ps: u64,
    /// SYSTIM at `base_ps`.
    base_value: u64,
    /// The TIMINCA value in force.
    timinca: u32,
    /// What the model last wrote into SYSTIML / SYSTIMH.
    published: (u32, u32),
    /// The anchor last published in the sim page (base, value, TIMINCA).
    anchor: Option<(u64, u64, u32)>,
}

impl Clock {
    /// SYSTIM at lab time `ps` (not before the last change).
    pub fn value_at(&self, ps: u64) -> u64 {
        let iv = u64::from(self.timinca & regs::TIMINCA_IV_MASK);
        let ip = u64::from(self.timinca >> regs::TIMINCA_IP_SHIFT);
        if iv == 0 || ip == 0 {
            return self.base_value;
        }
        let periods = ps.saturating_sub(self.base_ps) / (ip * regs::SYSTIM_CLOCK_PERIOD_PS_10G);
        self.base_value.wrapping_add(periods.wrapping_mul(iv))
    }

    /// Applies driver writes to TIMINCA and SYSTIM and publishes the time:
    /// into SYSTIML/H (as of this pass) and, when it changed, the anchor in
    /// the sim page from which a reader computes SYSTIM at any moment
    /// (`epoch_host_ns` is the host monotonic time at lab time 0).
    pub fn poll(&mut self, bar: &Regs, now_ps: u64, epoch_host_ns: u64) {
        let timinca = bar.read(regs::TIMINCA);
        let (lo, hi) = (bar.read(regs::SYSTIML), bar.read(regs::SYSTIMH));
        if (lo, hi) != self.published {
            // The driver set the time.
            self.base_value = (u64::from(hi) << 32) | u64::from(lo);
            self.base_ps = now_ps;
        }
        if timinca != self.timinca {
            self.base_value = self.value_at(now_ps);
            self.base_ps = now_ps;
            self.timinca = timinca;
        }
        let anchor = (self.base_ps, self.base_value, self.timinca);
        if self.anchor != Some(anchor) {
            self.anchor = Some(anchor);
            bar.publish_clock_anchor(&ClockAnchor {
                host_ns: epoch_host_ns + self.base_ps / 1000,
                systim: self.base_value,
                timinca: self.timinca,
            });
        }
        let value = self.value_at(now_ps);
        let (new_lo, new_hi) = (value as u32, (value >> 32) as u32);
        // Publish only over what we read, so that a driver write racing with
        // us is not lost: it shows up as a mismatch, adopted next pass.
        if !bar.compare_exchange(regs::SYSTIML, lo, new_lo) {
            return;
        }
        if !bar.compare_exchange(regs::SYSTIMH, hi, new_hi) {
            self.published = (new_lo, hi);
            return;
        }
        self.published = (new_lo, new_hi);
    }

    /// Returns to the reset state (SYSTIM 0, TIMINCA 0).
    pub fn reset(&mut self) {
        *self = Clock::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systim_advances_by_iv_every_ip_periods() {
        let mut c = Clock {
            timinca: (1 << regs::TIMINCA_IP_SHIFT) | 2,
            ..Clock::default()
        };
        assert_eq!(c.value_at(0), 0);
        assert_eq!(c.value_at(6_399), 0);
        assert_eq!(c.value_at(6_400), 2);
        assert_eq!(c.value_at(64_000), 20);
        c.timinca = 0;
        assert_eq!(c.value_at(1_000_000), 0);
    }
}
