//! Descriptor rings and the advanced descriptor layouts (82599 datasheet
//! 7.1.6 receive, 7.2.3.2.4 transmit), named once for the driver.
//!
//! A descriptor is two little-endian 64-bit words. The driver reads and
//! writes them with atomics, the way it shares them with the NIC: the NIC
//! sets DD last, so a descriptor whose DD is seen with an acquire load is
//! complete.
//!
//! | ring | word 0 | word 1 |
//! | --- | --- | --- |
//! | Rx, read format (7.1.6.1) | packet buffer address | header buffer address (0), DD clear |
//! | Rx, write-back (7.1.6.2) | RSS type (bits 3:0), packet type, RSS hash (63:32) | status (19:0), error (31:20), length (47:32), VLAN (63:48) |
//! | Tx, data (7.2.3.2.4) | buffer address | DTALEN (15:0), DTYP, DCMD (31:24), STA (35:32) with DD, PAYLEN (63:46) |

use crate::memory::DmaRegion;
use crate::regs;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// One descriptor as the NIC sees it: 16 bytes, two words.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Desc {
    lo: AtomicU64,
    hi: AtomicU64,
}

/// What the NIC wrote back into a receive descriptor (7.1.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxWriteBack {
    /// Word 0: RSS type, packet type, RSS hash.
    pub lo: u64,
    /// Word 1: extended status, error, length, VLAN tag.
    pub hi: u64,
}

/// What a receive write-back means to a queue that gives each frame one
/// buffer of `buf_size` bytes ([`RxWriteBack::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDescKind {
    /// A whole frame in this one buffer: EOP, a length that fits.
    Frame,
    /// The first descriptor of a frame larger than one buffer: no EOP and
    /// the buffer filled (7.1.6: every descriptor of a frame but the last
    /// is filled to the buffer size). Dropped with the rest of the frame,
    /// up to the descriptor with EOP.
    FirstOfMany,
    /// Nonsense no 82599 writes: a length larger than the buffer, or no
    /// EOP on a buffer that is not full. Dropped alone.
    Bad,
}

impl RxWriteBack {
    /// What this write-back means for one-buffer frames of at most
    /// `buf_size` bytes (see [`RxDescKind`]); DD is the caller's business.
    #[inline]
    pub fn classify(self, buf_size: usize) -> RxDescKind {
        let len = usize::from(self.len());
        if len > buf_size {
            RxDescKind::Bad
        } else if self.eop() {
            RxDescKind::Frame
        } else if len == buf_size {
            RxDescKind::FirstOfMany
        } else {
            RxDescKind::Bad
        }
    }

    /// STAT.EOP: the last descriptor of a frame.
    #[inline]
    pub fn eop(self) -> bool {
        self.hi as u32 & regs::RXD_STAT_EOP != 0
    }

    /// The bytes in this descriptor's buffer (PKT_LEN).
    #[inline]
    pub fn len(self) -> u16 {
        (self.hi >> 32) as u16
    }

    /// Whether the descriptor holds no data.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Bits 47:16 of word 1: the length in bits 31:16, the error bits and
    /// the status bits from STAT.TS (bit 0) on below it.
    #[inline]
    pub fn len_and_status(self) -> u32 {
        (self.hi >> 16) as u32
    }

    /// The RSS hash (valid when [`RxWriteBack::rss_type`] is not NONE).
    #[inline]
    pub fn rss_hash(self) -> u32 {
        (self.lo >> 32) as u32
    }

    /// The RSS type (`regs::RXDADV_RSSTYPE_*`).
    #[inline]
    pub fn rss_type(self) -> u8 {
        (self.lo & 0xF) as u8
    }

    /// STAT.TS: the NIC latched an IEEE 1588 timestamp for the frame.
    #[inline]
    pub fn timestamped(self) -> bool {
        self.hi as u32 & regs::RXD_STAT_TS != 0
    }

    /// A write-back from its fields (7.1.6.2), as the NIC (or the
    /// simulator) writes it: `info` the RSS type (bits 3:0) and packet type
    /// (bits 16:4) of word 0, the RSS hash, the extended status and errors
    /// (with DD, EOP, TS) and the length of word 1.
    pub fn new(info: u32, rss_hash: u32, status: u32, len: u16) -> RxWriteBack {
        RxWriteBack {
            lo: u64::from(rss_hash) << 32 | u64::from(info),
            hi: u64::from(len) << 32 | u64::from(status),
        }
    }
}

/// An advanced transmit data descriptor for a one-buffer frame (7.2.3.2.4):
/// EOP, IFCS (the NIC appends the FCS), RS (report status: the NIC sets DD
/// when done), PAYLEN = the frame length.
#[inline]
pub fn tx_data(len: u16, timestamp: bool) -> u64 {
    let len = u32::from(len);
    let mut cmd = len
        | regs::TXD_CMD_EOP
        | regs::TXD_CMD_IFCS
        | regs::TXD_CMD_RS
        | regs::TXD_CMD_DEXT
        | regs::ADVTXD_DTYP_DATA;
    if timestamp {
        cmd |= regs::ADVTXD_MAC_TSTAMP;
    }
    u64::from(cmd) | u64::from(len << regs::ADVTXD_PAYLEN_SHIFT) << 32
}

impl Desc {
    /// A descriptor holding the two words `lo` and `hi`, outside any ring
    /// (tests and fuzzing feed [`rx_frames_ready`] with such).
    pub fn from_words(lo: u64, hi: u64) -> Desc {
        Desc {
            lo: AtomicU64::new(lo),
            hi: AtomicU64::new(hi),
        }
    }

    /// Gives the descriptor to the NIC in receive read format (7.1.6.1):
    /// buffer at bus address `buf`, no header buffer, DD clear.
    #[inline]
    pub fn rx_arm(&self, buf: u64) {
        self.lo.store(buf, Ordering::Relaxed);
        self.hi.store(0, Ordering::Relaxed);
    }

    /// The receive write-back, once the NIC has set DD (acquire: the data
    /// and the descriptor were written before DD).
    #[inline]
    pub fn rx_done(&self) -> Option<RxWriteBack> {
        let hi = self.hi.load(Ordering::Acquire);
        (hi as u32 & regs::RXD_STAT_DD != 0).then(|| RxWriteBack {
            lo: self.lo.load(Ordering::Relaxed),
            hi,
        })
    }

    /// The receive write-back as it is, for a descriptor already seen
    /// complete by [`Desc::rx_done`].
    #[inline]
    pub fn written_back(&self) -> RxWriteBack {
        RxWriteBack {
            lo: self.lo.load(Ordering::Relaxed),
            hi: self.hi.load(Ordering::Relaxed),
        }
    }

    /// Writes a transmit data descriptor: buffer at bus address `buf`,
    /// word 1 from [`tx_data`].
    #[inline]
    pub fn tx_write(&self, buf: u64, cmd: u64) {
        self.lo.store(buf, Ordering::Relaxed);
        self.hi.store(cmd, Ordering::Relaxed);
    }

    /// Whether the NIC has written STA.DD back into a transmit descriptor.
    #[inline]
    pub fn tx_done(&self) -> bool {
        (self.hi.load(Ordering::Acquire) >> 32) as u32 & regs::TXD_STAT_DD != 0
    }
}

/// A descriptor ring in DMA memory: a power-of-two number of [`Desc`],
/// indexed modulo its size, so that no index can leave the ring.
#[derive(Debug)]
pub struct Ring {
    /// The memory; `None` once leaked (see [`Ring::leak`]).
    region: Option<DmaRegion>,
    base: NonNull<Desc>,
    mask: u32,
}

impl Ring {
    /// Lays a ring of `size` descriptors (a power of two) over `region`.
    ///
    /// # Panics
    /// When `size` is not a power of two or the region is too small (the
    /// queues check both first).
    pub fn new(region: DmaRegion, size: u32) -> Ring {
        assert!(size.is_power_of_two() && region.len() >= size as usize * 16);
        // The checks above and the base below hold for the ring's whole
        // life: the region is only ever leaked, never unmapped early.
        let base = NonNull::new(region.as_ptr().cast::<Desc>()).expect("a mapping is never null");
        assert!(base.as_ptr().is_aligned(), "DMA regions are page-aligned");
        Ring {
            region: Some(region),
            base,
            mask: size - 1,
        }
    }

    /// Number of descriptors.
    pub fn size(&self) -> u32 {
        self.mask + 1
    }

    /// The bus address of descriptor 0, for RDBAL/TDBAL.
    pub fn bus_addr(&self) -> u64 {
        self.region.as_ref().map_or(0, |r| r.bus_addr(0))
    }

    /// Keeps the ring's memory mapped for the rest of the process: for a
    /// queue the device would not confirm disabled, whose ring it may
    /// still write (docs/DESIGN.md 4). The ring stays usable.
    pub fn leak(&mut self) {
        std::mem::forget(self.region.take());
    }

    /// Descriptor `i` modulo the ring size.
    #[inline]
    pub fn at(&self, i: u32) -> &Desc {
        self.view().at(i)
    }

    /// Descriptors `from..from + len`, which must not wrap around the end
    /// of the ring (hot loops walk a batch in at most two such runs).
    ///
    /// # Panics
    /// When the run leaves the ring.
    #[inline]
    pub fn run(&self, from: u32, len: u32) -> &[Desc] {
        assert!(from.checked_add(len).is_some_and(|end| end <= self.size()));
        // SAFETY: `from + len <= size` (checked above) and `new` checked
        // that `size` descriptors fit the region, which lives as long as
        // `self`; Desc is two atomics, valid for any bit pattern.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(from as usize), len as usize) }
    }

    /// A copyable handle on the ring for hot loops: its base and mask
    /// stay in registers, where a `&Ring` would be reloaded after every
    /// descriptor store.
    #[inline]
    pub fn view(&self) -> RingView<'_> {
        RingView {
            base: self.base,
            mask: self.mask,
            _ring: PhantomData,
        }
    }
}

/// How many of the leading descriptors of `run` hold a whole received
/// frame each (DD, EOP and a length of at most `buf_size`, a power of two:
/// a [`RxDescKind::Frame`]), in a row. Four at a time while they keep
/// coming: one test of the four status words ANDed, one of the four
/// lengths ORed against the bits of `buf_size` and above (the OR has every
/// bit of every length, so no length of `buf_size` or more passes it; a
/// quad with one is checked again descriptor by descriptor, exactly).
#[inline]
pub fn rx_frames_ready(run: &[Desc], buf_size: usize) -> usize {
    const DONE: u64 = (regs::RXD_STAT_DD | regs::RXD_STAT_EOP) as u64;
    const LEN: u64 = 0xFFFF << 32;
    let max_len = (buf_size as u64) << 32;
    // The length bits that only a length of `buf_size` or more has.
    let long = !(max_len.wrapping_sub(1 << 32)) & LEN;
    // Acquire on every load: the data of each counted frame must be
    // visible before the frame is used.
    let word = |d: &Desc| d.hi.load(Ordering::Acquire);
    let mut n = 0;
    let mut quads = run.chunks_exact(4);
    for q in quads.by_ref() {
        let w = [word(&q[0]), word(&q[1]), word(&q[2]), word(&q[3])];
        if w[0] & w[1] & w[2] & w[3] & DONE != DONE || (w[0] | w[1] | w[2] | w[3]) & long != 0 {
            break;
        }
        n += 4;
    }
    for d in &run[n..] {
        let w = word(d);
        if w & DONE != DONE || w & LEN > max_len {
            break;
        }
        n += 1;
    }
    n
}

/// A borrowed, copyable view of a [`Ring`] (see [`Ring::view`]).
#[derive(Debug, Clone, Copy)]
pub struct RingView<'r> {
    base: NonNull<Desc>,
    mask: u32,
    _ring: PhantomData<&'r Ring>,
}

impl<'r> RingView<'r> {
    /// Descriptor `i` modulo the ring size.
    #[inline]
    pub fn at(self, i: u32) -> &'r Desc {
        // SAFETY: the index is reduced modulo the size, and `Ring::new`
        // checked that `size` descriptors fit the region, which outlives
        // the view ('r); Desc is two atomics, valid for any bit pattern.
        unsafe { &*self.base.as_ptr().add((i & self.mask) as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_fields_decode_what_encode_wrote() {
        let done = regs::RXD_STAT_DD | regs::RXD_STAT_EOP;
        let wb = RxWriteBack::new(7, 0xDEAD_BEEF, done | regs::RXD_STAT_TS, 1514);
        assert!(wb.eop() && wb.timestamped());
        assert_eq!(wb.len_and_status() >> 16, 1514);
        assert_eq!(wb.len_and_status() & 1, 1, "STAT.TS at bit 0");
        assert_eq!(
            (wb.len(), wb.rss_hash(), wb.rss_type()),
            (1514, 0xDEAD_BEEF, 7)
        );
        assert_ne!(wb.hi as u32 & regs::RXD_STAT_DD, 0);
        let plain = RxWriteBack::new(0, 0, done, 60);
        assert!(!plain.timestamped());
    }

    #[test]
    fn write_backs_classify_as_a_one_buffer_queue_needs() {
        let (dd, eop) = (regs::RXD_STAT_DD, regs::RXD_STAT_EOP);
        let kind = |status, len| RxWriteBack::new(0, 0, status, len).classify(2048);
        assert_eq!(kind(dd | eop, 60), RxDescKind::Frame);
        assert_eq!(kind(dd | eop, 2048), RxDescKind::Frame);
        assert_eq!(
            kind(dd | eop, 2049),
            RxDescKind::Bad,
            "longer than the buffer"
        );
        assert_eq!(kind(dd | eop, 0xFFFF), RxDescKind::Bad);
        assert_eq!(kind(dd, 2048), RxDescKind::FirstOfMany);
        assert_eq!(kind(dd, 60), RxDescKind::Bad, "no EOP on a buffer not full");
        assert_eq!(kind(dd, 2049), RxDescKind::Bad);
    }

    #[test]
    fn frames_ready_stop_at_the_first_descriptor_that_is_not_a_whole_frame() {
        let done = regs::RXD_STAT_DD | regs::RXD_STAT_EOP;
        let run = |lens: &[(u32, u16)]| -> Vec<Desc> {
            lens.iter()
                .map(|&(status, len)| {
                    let wb = RxWriteBack::new(0, 0, status, len);
                    Desc::from_words(wb.lo, wb.hi)
                })
                .collect()
        };
        let good = vec![(done, 60); 9];
        assert_eq!(rx_frames_ready(&run(&good), 2048), 9);
        assert_eq!(rx_frames_ready(&run(&good[..0]), 2048), 0);
        // Lengths of exactly the buffer size count (their OR has the
        // buffer-size bit: checked one by one), one byte more stops.
        let mut full = good.clone();
        full[1] = (done, 2048);
        full[6] = (done, 2048);
        assert_eq!(rx_frames_ready(&run(&full), 2048), 9);
        for at in 0..9 {
            for bad in [
                (done, 2049),
                (done, 0xFFFF),
                (regs::RXD_STAT_DD, 60),
                (0, 60),
            ] {
                let mut r = good.clone();
                r[at] = bad;
                assert_eq!(rx_frames_ready(&run(&r), 2048), at, "{bad:?} at {at}");
            }
        }
    }

    #[test]
    fn tx_data_descriptor_layout() {
        let w = tx_data(60, false);
        assert_eq!(w as u32 & regs::ADVTXD_DTALEN_MASK, 60);
        assert_eq!((w >> 32) as u32 >> (regs::ADVTXD_PAYLEN_SHIFT), 60);
        assert_eq!(w as u32 & regs::ADVTXD_DTYP_MASK, regs::ADVTXD_DTYP_DATA);
        let cmd = regs::TXD_CMD_EOP | regs::TXD_CMD_IFCS | regs::TXD_CMD_RS | regs::TXD_CMD_DEXT;
        assert_eq!(w as u32 & cmd, cmd);
        assert_eq!(w as u32 & regs::ADVTXD_MAC_TSTAMP, 0);
        assert_ne!(tx_data(60, true) as u32 & regs::ADVTXD_MAC_TSTAMP, 0);
        // STA (DD) starts clear: the NIC sets it.
        assert_eq!((w >> 32) as u32 & regs::TXD_STAT_DD, 0);
    }
}
