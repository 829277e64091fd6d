//! Port and queue statistics (82599 datasheet 8.2.3.23). The registers
//! clear when read, so only one reader per device may exist: the
//! supervisor (docs/DESIGN.md 5). [`PortStats::update`] adds what each read
//! returns to 64-bit totals.

use crate::mmio::Registers;
use crate::regs;

/// Counters of one queue's statistics set (8.2.3.23.74 - .80).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames written to host memory (QPRC).
    pub rx_packets: u64,
    /// Bytes written to host memory (QBRC).
    pub rx_bytes: u64,
    /// Frames dropped for want of descriptors, DROP_EN (QPRDC).
    pub rx_dropped: u64,
    /// Frames sent (QPTC).
    pub tx_packets: u64,
    /// Bytes sent (QBTC).
    pub tx_bytes: u64,
}

/// Totals of a port's counters since the driver started reading them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Good frames received: GPRC less the missed frames, which the 82599
    /// counts in GPRC too (Linux subtracts them the same way).
    pub rx_packets: u64,
    /// Good octets received, FCS included (GORC).
    pub rx_bytes: u64,
    /// Good frames sent (GPTC).
    pub tx_packets: u64,
    /// Good octets sent, FCS included (GOTC).
    pub tx_bytes: u64,
    /// Frames missed because the packet buffer was full (MPC).
    pub rx_missed: u64,
    /// Frames dropped for want of descriptors: every queue's QPRDC added up
    /// (the 82599 has no RNBC; 0x03FC0 is an 82598 register).
    pub rx_no_buffer: u64,
    /// Frames with a bad FCS (CRCERRS).
    pub rx_crc_errors: u64,
    /// 802.3 length errors (RLEC).
    pub rx_length_errors: u64,
    /// Frames shorter than 64 bytes (RUC).
    pub rx_undersize: u64,
    /// Frames longer than the maximum (ROC).
    pub rx_oversize: u64,
    /// Every frame seen by the MAC (TPR).
    pub rx_total: u64,
    /// Per statistics set, set i being queue i after [`crate::Device::init`].
    pub queues: [QueueStats; regs::NUM_QUEUE_STATS as usize],
    /// GPRC as read, missed frames included (what `rx_packets` is
    /// computed from).
    pub rx_gprc: u64,
}

fn read64(r: &Registers, low: u32, high: u32) -> u64 {
    // Low first, then high (8.2.3.23.27).
    let lo = u64::from(r.read(low));
    lo | u64::from(r.read(high)) << 32
}

impl PortStats {
    /// Reads every counter once and adds it to the totals. Returns false,
    /// adding nothing, when the device has vanished before or while the
    /// counters were read (STATUS reads all ones, [`Registers::vanished`]):
    /// the all-ones reads of a device that is gone are not counts.
    pub fn update(&mut self, r: &Registers) -> bool {
        if r.vanished() {
            return false;
        }
        let read = Self::read(r);
        if r.vanished() {
            return false;
        }
        self.add(&read);
        true
    }

    /// One read of every counter (each clears on read): the counts since
    /// the last read, `rx_packets` left 0.
    fn read(r: &Registers) -> PortStats {
        let c = |reg| u64::from(r.read(reg));
        let mut s = PortStats {
            rx_gprc: c(regs::GPRC),
            tx_packets: c(regs::GPTC),
            rx_bytes: read64(r, regs::GORCL, regs::GORCH),
            tx_bytes: read64(r, regs::GOTCL, regs::GOTCH),
            rx_missed: (0..8).map(|i| c(regs::mpc(i))).sum::<u64>(),
            rx_crc_errors: c(regs::CRCERRS),
            rx_length_errors: c(regs::RLEC),
            rx_undersize: c(regs::RUC),
            rx_oversize: c(regs::ROC),
            rx_total: c(regs::TPR),
            ..PortStats::default()
        };
        for (i, q) in s.queues.iter_mut().enumerate() {
            let i = i as u32;
            q.rx_packets = c(regs::qprc(i));
            q.rx_bytes = read64(r, regs::qbrc_l(i), regs::qbrc_h(i));
            q.rx_dropped = c(regs::qprdc(i));
            q.tx_packets = c(regs::qptc(i));
            q.tx_bytes = read64(r, regs::qbtc_l(i), regs::qbtc_h(i));
        }
        s.rx_no_buffer = s.queues.iter().map(|q| q.rx_dropped).sum();
        s
    }

    /// Adds the counts of one [`PortStats::read`] to the totals.
    fn add(&mut self, d: &PortStats) {
        self.rx_gprc += d.rx_gprc;
        self.tx_packets += d.tx_packets;
        self.rx_bytes += d.rx_bytes;
        self.tx_bytes += d.tx_bytes;
        self.rx_missed += d.rx_missed;
        // The two are read at slightly different times: the difference of
        // the totals is right once the counters have settled.
        self.rx_packets = self.rx_gprc.saturating_sub(self.rx_missed);
        self.rx_no_buffer += d.rx_no_buffer;
        self.rx_crc_errors += d.rx_crc_errors;
        self.rx_length_errors += d.rx_length_errors;
        self.rx_undersize += d.rx_undersize;
        self.rx_oversize += d.rx_oversize;
        self.rx_total += d.rx_total;
        for (q, dq) in self.queues.iter_mut().zip(&d.queues) {
            q.rx_packets += dq.rx_packets;
            q.rx_bytes += dq.rx_bytes;
            q.rx_dropped += dq.rx_dropped;
            q.tx_packets += dq.tx_packets;
            q.tx_bytes += dq.tx_bytes;
        }
    }
}

/// Reads (and so clears) every statistics register (4.6.5).
pub fn clear(r: &Registers) {
    PortStats::read(r);
    let (first, last) = regs::STATS_BLOCK;
    for reg in (first..=last).step_by(4) {
        r.read(reg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::test_registers;

    #[test]
    fn a_vanished_device_adds_nothing() {
        let r = test_registers(0);
        r.write(regs::GPRC, 7);
        r.write(regs::qptc(3), 5);
        let mut s = PortStats::default();
        assert!(s.update(&r));
        assert_eq!((s.rx_gprc, s.rx_packets, s.queues[3].tx_packets), (7, 7, 5));
        let before = s.clone();
        // Removed: every register reads all ones.
        let gone = test_registers(0xFF);
        assert!(!s.update(&gone));
        assert_eq!(s, before, "all ones is not a count");
        assert!(!s.update(&gone));
        assert_eq!(s, before);
    }
}
