//! The split virtqueue (virtio 1.1 2.6), driver side: the descriptor
//! table, the available ring and the used ring of one queue in DMA memory,
//! read and written with atomics since the device reads and writes them
//! concurrently.
//!
//! Every ixy-mp queue uses its descriptors in fixed pairs: slot `s` is the
//! chain of descriptor `2s` (the virtio-net header, 5.1.6) and descriptor
//! `2s + 1` (the packet buffer), so the frame starts at the start of its
//! mempool buffer as it does on the 82599. The chains are written once;
//! posting a slot rewrites only the buffer descriptor's address and length.
//!
//! After the used ring lies ixy-mp's own bookkeeping, which the device
//! never reads: the used index the owner consumed up to, and a byte per
//! slot saying whether the slot is posted. A worker that replaces a dead
//! one takes the queue over from there (docs/DESIGN.md 4, "virtio").

use crate::shm::SharedMap;
use std::sync::atomic::{fence, Ordering};

/// Descriptor flag: the chain continues at `next` (2.6.5).
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes the buffer (2.6.5).
pub const DESC_F_WRITE: u16 = 2;
/// Available ring flag: the driver wants no interrupt (2.6.7).
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used ring flag: the device wants no notification (2.6.8).
pub const USED_F_NO_NOTIFY: u16 = 1;

/// Where the parts of a queue of `size` entries lie, in bytes from the
/// queue's start: descriptors (16-byte aligned), available ring (2),
/// used ring (4), then the bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Entries (descriptors) in the queue: a power of two.
    pub size: u16,
    /// Offset of the available ring.
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Offset of the bookkeeping: u16 consumed used index, then a byte per slot.
    pub books: usize,
    /// Bytes in all, a multiple of 64.
    pub len: usize,
}

impl Layout {
    /// The layout of a queue of `size` descriptors (`size / 2` slots).
    pub fn new(size: u16) -> Layout {
        let n = usize::from(size);
        let avail = 16 * n;
        // flags, idx, ring[n], used_event
        let used = (avail + 4 + 2 * n + 2).next_multiple_of(4);
        // flags, idx, ring[n] of (id, len), avail_event
        let books = (used + 4 + 8 * n + 2).next_multiple_of(4);
        let len = (books + 2 + n / 2).next_multiple_of(64);
        Layout {
            size,
            avail,
            used,
            books,
            len,
        }
    }

    /// Slots (descriptor pairs) in the queue.
    pub fn slots(&self) -> u16 {
        self.size / 2
    }
}

/// One virtqueue's memory: `layout.len` bytes of `mem` from byte `base`,
/// at bus address `bus`.
#[derive(Debug, Clone, Copy)]
pub struct Vring<'m> {
    mem: &'m SharedMap,
    base: usize,
    bus: u64,
    /// Where the parts lie.
    pub layout: Layout,
}

impl<'m> Vring<'m> {
    /// The queue at byte `base` of `mem` (bus address `bus`).
    ///
    /// # Panics
    /// When the queue does not fit in `mem` or `base` is not 64-byte
    /// aligned (queues are placed by `VirtioNet::init`, never from input).
    pub fn new(mem: &'m SharedMap, base: usize, bus: u64, layout: Layout) -> Self {
        assert!(base.is_multiple_of(64) && base + layout.len <= mem.len());
        Vring {
            mem,
            base,
            bus,
            layout,
        }
    }

    /// Bus address of the descriptor table (`queue_desc`, 4.1.4.3).
    pub fn desc_bus(&self) -> u64 {
        self.bus
    }

    /// Bus address of the available ring (`queue_driver`).
    pub fn avail_bus(&self) -> u64 {
        self.bus + self.layout.avail as u64
    }

    /// Bus address of the used ring (`queue_device`).
    pub fn used_bus(&self) -> u64 {
        self.bus + self.layout.used as u64
    }

    fn mask(&self) -> u16 {
        self.layout.size - 1
    }

    /// Writes descriptor `i` whole (2.6.5).
    pub fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let off = self.base + 16 * usize::from(i);
        self.mem.u64_at(off).store(addr.to_le(), Ordering::Relaxed);
        self.mem
            .u32_at(off + 8)
            .store(len.to_le(), Ordering::Relaxed);
        self.mem
            .u16_at(off + 12)
            .store(flags.to_le(), Ordering::Relaxed);
        self.mem
            .u16_at(off + 14)
            .store(next.to_le(), Ordering::Relaxed);
    }

    /// Rewrites the address and length of descriptor `i`.
    #[inline]
    pub fn set_buffer(&self, i: u16, addr: u64, len: u32) {
        let off = self.base + 16 * usize::from(i);
        self.mem.u64_at(off).store(addr.to_le(), Ordering::Relaxed);
        self.mem
            .u32_at(off + 8)
            .store(len.to_le(), Ordering::Relaxed);
    }

    /// Descriptor `i` as (address, length, flags, next).
    pub fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
        let off = self.base + 16 * usize::from(i);
        (
            u64::from_le(self.mem.u64_at(off).load(Ordering::Relaxed)),
            u32::from_le(self.mem.u32_at(off + 8).load(Ordering::Relaxed)),
            u16::from_le(self.mem.u16_at(off + 12).load(Ordering::Relaxed)),
            u16::from_le(self.mem.u16_at(off + 14).load(Ordering::Relaxed)),
        )
    }

    /// Sets the available ring's flags.
    pub fn set_avail_flags(&self, flags: u16) {
        let off = self.base + self.layout.avail;
        self.mem.u16_at(off).store(flags.to_le(), Ordering::Release);
    }

    /// The available ring's index (what the driver published).
    pub fn avail_idx(&self) -> u16 {
        let off = self.base + self.layout.avail + 2;
        u16::from_le(self.mem.u16_at(off).load(Ordering::Acquire))
    }

    /// Puts chain head `head` in the available ring at position `idx`
    /// (taken modulo the size); visible once [`Vring::publish_avail`].
    #[inline]
    pub fn set_avail(&self, idx: u16, head: u16) {
        let off = self.base + self.layout.avail + 4 + 2 * usize::from(idx & self.mask());
        self.mem.u16_at(off).store(head.to_le(), Ordering::Relaxed);
    }

    /// The chain head at position `idx` of the available ring.
    pub fn avail_entry(&self, idx: u16) -> u16 {
        let off = self.base + self.layout.avail + 4 + 2 * usize::from(idx & self.mask());
        u16::from_le(self.mem.u16_at(off).load(Ordering::Acquire))
    }

    /// Publishes the available index: every entry and descriptor written
    /// before is visible to the device first (2.6.13.1, the `wmb()`).
    #[inline]
    pub fn publish_avail(&self, idx: u16) {
        let off = self.base + self.layout.avail + 2;
        self.mem.u16_at(off).store(idx.to_le(), Ordering::Release);
    }

    /// The used ring's index (what the device completed).
    #[inline]
    pub fn used_idx(&self) -> u16 {
        let off = self.base + self.layout.used + 2;
        u16::from_le(self.mem.u16_at(off).load(Ordering::Acquire))
    }

    /// The used element at position `idx`: (chain head, bytes written).
    #[inline]
    pub fn used_entry(&self, idx: u16) -> (u32, u32) {
        let off = self.base + self.layout.used + 4 + 8 * usize::from(idx & self.mask());
        (
            u32::from_le(self.mem.u32_at(off).load(Ordering::Relaxed)),
            u32::from_le(self.mem.u32_at(off + 4).load(Ordering::Relaxed)),
        )
    }

    /// Whether the device wants to be notified of new buffers (2.6.10.2):
    /// a full fence first, so the published index is visible to the device
    /// before its flags are read (Linux's `virtio_mb`).
    #[inline]
    pub fn needs_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        let off = self.base + self.layout.used;
        u16::from_le(self.mem.u16_at(off).load(Ordering::Acquire)) & USED_F_NO_NOTIFY == 0
    }

    /// The used index the queue's owner has consumed up to (bookkeeping).
    pub fn consumed(&self) -> u16 {
        self.mem
            .u16_at(self.base + self.layout.books)
            .load(Ordering::Acquire)
    }

    /// Records the used index consumed up to.
    #[inline]
    pub fn set_consumed(&self, idx: u16) {
        self.mem
            .u16_at(self.base + self.layout.books)
            .store(idx, Ordering::Release);
    }

    /// Whether slot `s` is posted to the device (bookkeeping).
    pub fn posted(&self, s: u16) -> bool {
        let mut b = [0u8];
        self.mem
            .read_bytes(self.base + self.layout.books + 2 + usize::from(s), &mut b);
        b[0] != 0
    }

    /// Records whether slot `s` is posted.
    #[inline]
    pub fn set_posted(&self, s: u16, posted: bool) {
        self.mem.write_bytes(
            self.base + self.layout.books + 2 + usize::from(s),
            &[u8::from(posted)],
        );
    }

    /// Device side, for tests that play the device: puts (head, len) in
    /// the used ring at position `idx` and publishes `idx + 1`.
    pub fn device_complete(&self, idx: u16, head: u16, len: u32) {
        let off = self.base + self.layout.used + 4 + 8 * usize::from(idx & self.mask());
        self.mem
            .u32_at(off)
            .store(u32::from(head).to_le(), Ordering::Relaxed);
        self.mem
            .u32_at(off + 4)
            .store(len.to_le(), Ordering::Relaxed);
        let idx_off = self.base + self.layout.used + 2;
        self.mem
            .u16_at(idx_off)
            .store(idx.wrapping_add(1).to_le(), Ordering::Release);
    }

    /// Device side: sets the used ring's flags.
    pub fn device_set_used_flags(&self, flags: u16) {
        let off = self.base + self.layout.used;
        self.mem.u16_at(off).store(flags.to_le(), Ordering::Release);
    }

    /// Writes `data` into the queue's memory at `off` from its start (the
    /// headers and scratch areas placed after the ring).
    pub fn write_bytes(&self, off: usize, data: &[u8]) -> bool {
        self.mem.write_bytes(self.base + off, data)
    }

    /// Reads `out.len()` bytes of the queue's memory at `off` from its start.
    pub fn read_bytes(&self, off: usize, out: &mut [u8]) -> bool {
        self.mem.read_bytes(self.base + off, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_alignment_rules_of_2_6() {
        let l = Layout::new(256);
        assert_eq!(l.avail, 4096);
        assert_eq!(l.used, (4096usize + 6 + 512).next_multiple_of(4));
        assert!(l.used.is_multiple_of(4));
        assert!(l.books >= l.used + 6 + 8 * 256);
        assert!(l.len >= l.books + 2 + 128 && l.len.is_multiple_of(64));
        assert_eq!(l.slots(), 128);
    }

    #[test]
    fn entries_wrap_and_land_where_the_device_reads_them() {
        let mem = SharedMap::anonymous(64 * 1024).expect("memory");
        let l = Layout::new(8);
        let q = Vring::new(&mem, 0, 0x1000, l);
        assert_eq!(q.avail_bus(), 0x1000 + 128);
        q.set_desc(3, 0xdead_beef_0000, 1500, DESC_F_WRITE, 0);
        assert_eq!(q.desc(3), (0xdead_beef_0000, 1500, DESC_F_WRITE, 0));
        q.set_buffer(3, 0x42, 64);
        assert_eq!(q.desc(3), (0x42, 64, DESC_F_WRITE, 0));
        // Position 9 of an 8-entry ring is slot 1.
        q.set_avail(9, 6);
        assert_eq!(q.avail_entry(1), 6);
        q.publish_avail(10);
        assert_eq!(q.avail_idx(), 10);
        q.device_complete(65535, 6, 77);
        assert_eq!(q.used_idx(), 0);
        assert_eq!(q.used_entry(65535), (6, 77));
        assert!(q.needs_notify());
        q.device_set_used_flags(USED_F_NO_NOTIFY);
        assert!(!q.needs_notify());
        q.set_posted(3, true);
        assert!(q.posted(3) && !q.posted(2));
        q.set_consumed(12);
        assert_eq!(q.consumed(), 12);
    }
}
