//! IEEE 1588 timestamps (82599 datasheet 7.9, registers 8.2.3.26): the
//! SYSTIM clock and the Rx/Tx timestamp latches, as MoonGen uses them for
//! hardware latency measurements.
//!
//! SYSTIM advances by TIMINCA.IV every TIMINCA.IP periods of 6.4 ns at
//! 10 Gbit/s (7.9.1.2). With IP = 1 and IV = 6.4 * 2^21 (0xCCCCCC), as
//! Linux does, SYSTIM counts in 2^-21 ns: nanoseconds are SYSTIM >> 21.

use crate::mmio::Registers;
use crate::regs;

/// TIMINCA: one increment of 6.4 ns in units of 2^-21 ns per clock period.
pub const TIMINCA_10G: u32 = (1 << regs::TIMINCA_IP_SHIFT) | 0x00CC_CCCC;
/// Bits of SYSTIM below one nanosecond.
pub const SYSTIM_FRACTION_BITS: u32 = 21;

/// Starts the clock at 0 and timestamps PTP v2 event messages on Rx (L2 or
/// UDP port 319) and frames that ask for it on Tx.
pub fn enable(r: &Registers) {
    r.write(regs::TIMINCA, 0);
    r.write(regs::SYSTIML, 0);
    r.write(regs::SYSTIMH, 0);
    r.write(regs::TIMINCA, TIMINCA_10G);
    r.write(
        regs::RXMTRL,
        u32::from(regs::PTP_EVENT_UDP_PORT) << regs::RXMTRL_UDPT_SHIFT,
    );
    r.write(
        regs::TSYNCRXCTL,
        regs::TSYNCRXCTL_ENABLED | regs::TSYNCRXCTL_TYPE_EVENT_V2,
    );
    r.write(regs::TSYNCTXCTL, regs::TSYNCTXCTL_ENABLED);
    // Unlock both latches in case they hold stale values.
    r.read(regs::RXSTMPH);
    r.read(regs::TXSTMPH);
}

/// Nanoseconds from SYSTIML and SYSTIMH (2^-21 ns units).
pub fn to_ns(lo: u32, hi: u32) -> u64 {
    ((u64::from(hi) << 32) | u64::from(lo)) >> SYSTIM_FRACTION_BITS
}

/// The Rx timestamp in ns, if one is latched; reading it unlocks the next.
pub fn rx(r: &Registers) -> Option<u64> {
    if r.read(regs::TSYNCRXCTL) & regs::TSYNCRXCTL_VALID == 0 {
        return None;
    }
    let lo = r.read(regs::RXSTMPL);
    Some(to_ns(lo, r.read(regs::RXSTMPH)))
}

/// The Tx timestamp in ns, if one is latched; reading it unlocks the next.
pub fn tx(r: &Registers) -> Option<u64> {
    if r.read(regs::TSYNCTXCTL) & regs::TSYNCTXCTL_VALID == 0 {
        return None;
    }
    let lo = r.read(regs::TXSTMPL);
    Some(to_ns(lo, r.read(regs::TXSTMPH)))
}

/// The clock now, in ns (SYSTIML first, then SYSTIMH, 7.9.1.1).
pub fn now(r: &Registers) -> u64 {
    let lo = r.read(regs::SYSTIML);
    to_ns(lo, r.read(regs::SYSTIMH))
}
