//! The packet buffer pool of one owner (a worker, a tool): fixed-size
//! buffers in one DMA region, a free stack of indices, bulk operations, no
//! reference counting and no heap allocation per packet (docs/DESIGN.md 4).
//!
//! A [`Packet`] borrows its pool for its whole life (`Packet<'pool>`), so
//! the borrow checker, not a counter, guarantees that buffers are never
//! used after their pool is gone. A packet that is dropped goes back to
//! its pool. Packets are neither `Send` nor `Sync`: they never leave the
//! owner's thread, and neither does the pool.

use crate::desc::RxWriteBack;
use crate::error::{Error, ErrorKind, Result};
use crate::memory::{DmaContext, DmaRegion, HUGE_PAGE};
use crate::shm::SharedMap;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Default buffer size: one 2 KiB buffer holds a standard frame.
pub const DEFAULT_BUF_SIZE: usize = 2048;

/// A pool of DMA buffers.
#[derive(Debug)]
pub struct Mempool {
    /// The memory the buffers live in; it goes when the pool goes, unless
    /// `keep` is set.
    memory: Option<Memory>,
    /// A device may still write buffers of this pool ([`Mempool::keep_memory`]).
    keep: Cell<bool>,
    /// log2 of the buffer size.
    shift: u32,
    count: u32,
    /// The bus address of every buffer, computed once (the sysfs backend's
    /// pages are not contiguous).
    bus: Box<[u64]>,
    /// The virtual address of every buffer: one load in the receive loop
    /// instead of a shift by the buffer size and an add.
    virt: Box<[NonNull<u8>]>,
    /// The free stack: `stack[..top]` are free buffer indices. Cells, not a
    /// `RefCell<Vec>`: the pool is single-threaded and no borrow of the
    /// stack outlives a call, so there is nothing to check at run time.
    stack: Box<[Cell<u32>]>,
    top: Cell<u32>,
    /// Not Sync or Send: the free stack has no locks.
    _single_thread: PhantomData<*const ()>,
}

/// What a pool's buffers live in: held, never read, so that it is
/// unmapped (and for DMA memory, unmapped from the IOMMU) with the pool.
#[derive(Debug)]
#[allow(dead_code)]
enum Memory {
    /// DMA memory a device reaches.
    Dma(DmaRegion),
    /// Ordinary memory no device reaches ([`Mempool::detached`]).
    Detached(SharedMap),
}

impl Mempool {
    /// Allocates `count` buffers of `buf_size` bytes (a power of two from
    /// 1 KiB to 16 KiB, so no buffer crosses a 2 MiB page and the size fits
    /// SRRCTL.BSIZEPACKET, 82599 datasheet 8.2.3.8.7).
    pub fn new(ctx: &DmaContext, tag: &str, count: u32, buf_size: usize) -> Result<Mempool> {
        check_size(&ctx.device, count, buf_size)?;
        let region = ctx.alloc(tag, count as usize * buf_size)?;
        debug_assert!(HUGE_PAGE.is_multiple_of(buf_size));
        log::debug!(
            "{}: mempool {tag}: {count} buffers of {buf_size} bytes",
            ctx.device
        );
        let bus = (0..count as usize)
            .map(|i| region.bus_addr(i * buf_size))
            .collect();
        let base = region.as_ptr();
        Ok(Self::over(Memory::Dma(region), base, bus, count, buf_size))
    }

    /// A pool of `count` buffers of `buf_size` bytes in ordinary memory
    /// that no device can reach (a buffer's "bus address" is its offset in
    /// that memory, which a unit test playing the device uses): for unit tests
    /// of apps, which build packets with [`Mempool::alloc`] and
    /// [`Packet::data_mut`] and hand them to `App::process` without a NIC
    /// or a simulator. The same size rules as [`Mempool::new`].
    pub fn detached(count: u32, buf_size: usize) -> Result<Mempool> {
        check_size("detached mempool", count, buf_size)?;
        let map = SharedMap::anonymous(count as usize * buf_size)
            .map_err(|e| Error::io("detached mempool", "mapping memory for the buffers", e))?;
        let base = map.as_ptr();
        let bus = (0..count as usize).map(|i| (i * buf_size) as u64).collect();
        Ok(Self::over(
            Memory::Detached(map),
            base,
            bus,
            count,
            buf_size,
        ))
    }

    /// A pool over `memory`, whose buffers start at `base` and lie at the
    /// bus addresses `bus`.
    fn over(memory: Memory, base: *mut u8, bus: Box<[u64]>, count: u32, buf_size: usize) -> Self {
        let base = NonNull::new(base).expect("a mapping is never null");
        // SAFETY: i < count and `memory` holds count * buf_size bytes from
        // `base`, so the offset is inside it.
        let virt = (0..count as usize)
            .map(|i| unsafe { base.add(i * buf_size) })
            .collect();
        Mempool {
            shift: buf_size.trailing_zeros(),
            count,
            bus,
            virt,
            stack: (0..count).rev().map(Cell::new).collect(),
            top: Cell::new(count),
            memory: Some(memory),
            keep: Cell::new(false),
            _single_thread: PhantomData,
        }
    }

    /// Size of each buffer.
    pub fn buf_size(&self) -> usize {
        1 << self.shift
    }

    /// Number of buffers.
    pub fn capacity(&self) -> u32 {
        self.count
    }

    /// Buffers currently free.
    pub fn free_count(&self) -> usize {
        self.top.get() as usize
    }

    /// One packet of length 0, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Packet<'_>> {
        self.alloc_index().map(|idx| Packet::new(self, idx, 0))
    }

    /// Appends up to `n` packets of length `len` to `out`; returns how many.
    pub fn alloc_bulk<'a>(&'a self, out: &mut Vec<Packet<'a>>, n: usize, len: usize) -> usize {
        let len = len.min(self.buf_size()) as u16;
        let top = self.top.get() as usize;
        let take = n.min(top);
        let first = top - take;
        self.top.set(first as u32);
        out.reserve(take);
        out.extend(
            self.stack[first..top]
                .iter()
                .rev()
                .map(|idx| Packet::new(self, idx.get(), len)),
        );
        take
    }

    /// Takes up to `n` free buffer indices at once (one stack update);
    /// the caller owns them and must hand every one back or use it.
    #[inline]
    pub(crate) fn take(&self, n: usize) -> &[Cell<u32>] {
        let top = self.top.get() as usize;
        let first = top - n.min(top);
        self.top.set(first as u32);
        &self.stack[first..top]
    }

    #[inline]
    pub(crate) fn alloc_index(&self) -> Option<u32> {
        let top = self.top.get().checked_sub(1)?;
        self.top.set(top);
        Some(self.stack[top as usize].get())
    }

    /// Returns the buffers of `a` and then `b` to the pool with one stack
    /// update.
    #[inline]
    pub(crate) fn free_bulk(&self, a: &[u32], b: &[u32]) {
        let top = self.top.get() as usize;
        // More buffers than the pool has would overflow the stack: a driver
        // bug, and an index out of bounds here, never a corrupted pool.
        let (to_a, to_b) = self.stack[top..top + a.len() + b.len()].split_at(a.len());
        copy_into_cells(to_a, a);
        copy_into_cells(to_b, b);
        self.top.set((top + a.len() + b.len()) as u32);
    }

    #[inline]
    pub(crate) fn free_index(&self, idx: u32) {
        debug_assert!(idx < self.count);
        let top = self.top.get();
        // A buffer freed twice would overflow the stack: a driver bug, and
        // an index out of bounds here, never a silently corrupted pool.
        self.stack[top as usize].set(idx);
        self.top.set(top + 1);
    }

    /// The bus address of buffer `idx`, for a descriptor.
    #[inline]
    pub(crate) fn bus_addr(&self, idx: u32) -> u64 {
        self.view().bus_addr(idx)
    }

    /// A copyable view for hot loops: addresses stay in registers where
    /// a `&Mempool` (whose free stack is interior-mutable) would be
    /// reloaded after every store.
    #[inline]
    pub(crate) fn view(&self) -> PoolView<'_> {
        PoolView {
            bus: &self.bus,
            virt: &self.virt,
            max_meta: (1u32 << self.shift << META_LEN_SHIFT) | (0xFFFF & !FLAG_TIMESTAMP),
        }
    }
}

/// The size rules of a pool: a power of two from 1 KiB to 16 KiB per
/// buffer (so no buffer crosses a 2 MiB page and the size fits
/// SRRCTL.BSIZEPACKET, 82599 datasheet 8.2.3.8.7), at least one buffer.
fn check_size(device: &str, count: u32, buf_size: usize) -> Result<()> {
    if !buf_size.is_power_of_two() || !(1024..=16 * 1024).contains(&buf_size) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            device,
            format!("buffer size {buf_size}: use a power of two from 1024 to 16384"),
        ));
    }
    if count == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            device,
            "a mempool needs at least one buffer",
        ));
    }
    Ok(())
}

/// Buffer addresses of a [`Mempool`] (see [`Mempool::view`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolView<'p> {
    bus: &'p [u64],
    virt: &'p [NonNull<u8>],
    /// The largest `Packet::meta` a buffer holds: the buffer size as the
    /// length, and every status bit but STAT.TS (a write-back with every
    /// status and error bit set, or a longer length, ends up here).
    max_meta: u32,
}

impl PoolView<'_> {
    /// The bus address of buffer `idx`, an index this pool handed out.
    #[inline]
    pub(crate) fn bus_addr(self, idx: u32) -> u64 {
        debug_assert!((idx as usize) < self.bus.len());
        // SAFETY: buffer indices exist only as handed out by the pool's
        // free stack, which holds 0..count, and `bus` has count entries.
        unsafe { *self.bus.get_unchecked(idx as usize) }
    }

    /// The start of buffer `idx`, an index this pool handed out.
    #[inline]
    pub(crate) fn buf(self, idx: u32) -> NonNull<u8> {
        debug_assert!((idx as usize) < self.virt.len());
        // SAFETY: as in `bus_addr`: `virt` has count entries.
        unsafe { *self.virt.get_unchecked(idx as usize) }
    }
}

/// Copies `src` into `dst` (of the same length) as one memcpy: a loop of
/// `Cell::set` is not vectorised.
#[inline]
fn copy_into_cells(dst: &[Cell<u32>], src: &[u32]) {
    assert_eq!(dst.len(), src.len());
    // SAFETY: `Cell<u32>` has the layout of `u32`; the pool is not shared
    // between threads and no reference into `dst`'s values exists while
    // this copies (a Cell hands out none); the lengths are equal and the
    // two do not overlap (`src` is a queue's slice, `dst` the pool's stack).
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr() as *mut u32, src.len());
    }
}

/// Hints the CPU to load the start of a buffer (the headers) into cache
/// before the app touches it.
#[inline]
pub(crate) fn prefetch(buf: NonNull<u8>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch has no architectural effect and cannot fault; SSE
    // is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch(buf.as_ptr().cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
}

/// A packet: a buffer of a [`Mempool`] with a length and what the NIC said
/// about it. Dropping it returns the buffer to its pool.
#[derive(Debug)]
pub struct Packet<'a> {
    pool: &'a Mempool,
    /// The start of the buffer, so that the data is one load away.
    buf: NonNull<u8>,
    /// The length in bits 31:16 and flags below ([`FLAG_TIMESTAMP`]): on
    /// receive, bits 47:16 of write-back word 1 as they are (7.1.6.2: the
    /// length, then the error and status bits from STAT.TS on), one shift.
    meta: u32,
    /// Word 0 of the receive write-back as the NIC wrote it (RSS hash and
    /// type, 82599 datasheet 7.1.6.2), kept whole: one store on receive,
    /// decoded only when asked.
    rss: u64,
    /// The buffer's index in its pool.
    idx: u32,
}

/// Where the length starts in `Packet::meta`.
const META_LEN_SHIFT: u32 = 16;
/// Packet flag: the NIC latched an IEEE 1588 timestamp for this frame (Rx,
/// STAT.TS) or is asked to (Tx).
const FLAG_TIMESTAMP: u32 = 1;

impl<'a> Packet<'a> {
    #[inline]
    fn new(pool: &'a Mempool, idx: u32, len: u16) -> Self {
        Packet {
            pool,
            buf: pool.view().buf(idx),
            idx,
            meta: u32::from(len) << META_LEN_SHIFT,
            rss: 0,
        }
    }

    /// The frame (without FCS).
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: the buffer belongs to this packet alone (it is neither in
        // the free stack nor in a ring) and `len <= buf_size` (set_len caps
        // it, `received` clamps what a device wrote back).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr(), self.len()) }
    }

    /// The frame, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.buf.as_ptr(), self.len()) }
    }

    /// Frame length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        (self.meta >> META_LEN_SHIFT) as usize
    }

    /// Whether the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the frame length (capped at the buffer size); new bytes keep
    /// whatever the buffer held.
    pub fn set_len(&mut self, len: usize) {
        let len = len.min(self.pool.buf_size()).min(usize::from(u16::MAX)) as u32;
        self.meta = (self.meta & FLAG_TIMESTAMP) | len << META_LEN_SHIFT;
    }

    /// The buffer size: the largest possible length.
    pub fn capacity(&self) -> usize {
        self.pool.buf_size()
    }

    /// The RSS hash the NIC computed (0 when none).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        RxWriteBack {
            lo: self.rss,
            hi: 0,
        }
        .rss_hash()
    }

    /// The RSS type from the write-back descriptor (`regs::RXDADV_RSSTYPE_*`).
    #[inline]
    pub fn rss_type(&self) -> u8 {
        RxWriteBack {
            lo: self.rss,
            hi: 0,
        }
        .rss_type()
    }

    /// Whether the NIC latched an IEEE 1588 timestamp for this frame (Rx),
    /// or will be asked to on transmit.
    #[inline]
    pub fn timestamped(&self) -> bool {
        self.meta & FLAG_TIMESTAMP != 0
    }

    /// Asks the NIC to latch a Tx timestamp when this frame is sent.
    pub fn request_timestamp(&mut self, on: bool) {
        self.meta = if on {
            self.meta | FLAG_TIMESTAMP
        } else {
            self.meta & !FLAG_TIMESTAMP
        };
    }

    /// A received packet of `len` bytes (cut to the buffer size) in
    /// buffer `idx` of `pool`, with the RSS hash and type
    /// (`regs::RXDADV_RSSTYPE_*`) the device or the software computed:
    /// for devices that report them outside an 82599 write-back (virtio).
    #[inline]
    pub(crate) fn from_device(
        pool: &'a Mempool,
        idx: u32,
        len: usize,
        hash: u32,
        rss_type: u32,
    ) -> Self {
        let mut p = Packet::new(pool, idx, 0);
        p.set_len(len);
        p.rss = RxWriteBack::new(rss_type, hash, 0, 0).lo;
        p
    }

    /// Sets the RSS hash and type of a packet (a software hash).
    #[inline]
    pub(crate) fn set_rss(&mut self, hash: u32, rss_type: u32) {
        self.rss = RxWriteBack::new(rss_type, hash, 0, 0).lo;
    }

    /// A received packet: buffer `idx` of `pool` (at `buf`, from
    /// [`PoolView::buf`]), described by the NIC's write-back. The receive
    /// loop drops write-backs whose length exceeds the buffer; should the
    /// device rewrite the descriptor after that check, such a length is
    /// cut to the buffer size here: the packet never reaches past its
    /// buffer, whatever the device does.
    #[inline]
    pub(crate) fn received(
        pool: &'a Mempool,
        view: PoolView<'_>,
        idx: u32,
        buf: NonNull<u8>,
        wb: RxWriteBack,
    ) -> Self {
        Packet {
            pool,
            buf,
            rss: wb.lo,
            idx,
            // A length above the buffer size becomes the buffer size (with
            // the flags cleared: max_meta has STAT.TS clear).
            meta: wb.len_and_status().min(view.max_meta),
        }
    }

    /// Appends the packets of `batch` (an exact-size iterator) to `out`
    /// with one capacity check for all of them.
    #[inline(always)]
    pub(crate) fn push_batch(
        out: &mut Vec<Packet<'a>>,
        batch: impl ExactSizeIterator<Item = Packet<'a>>,
    ) {
        let n = batch.len();
        out.reserve(n);
        let mut written = 0;
        for (slot, p) in out.spare_capacity_mut()[..n].iter_mut().zip(batch) {
            slot.write(p);
            written += 1;
        }
        // SAFETY: the `written` slots after the length were written above
        // (a panic in the iterator leaves the length as it was: the packets
        // written are leaked, never used twice).
        unsafe { out.set_len(out.len() + written) };
    }

    /// The buffer: its pool and index.
    #[inline]
    pub(crate) fn parts(&self) -> (&'a Mempool, u32) {
        (self.pool, self.idx)
    }

    /// Removes the first `n` packets of `pkts` without returning their
    /// buffers to the pool: the caller (a Tx queue, which took
    /// [`Packet::parts`] of each) owns the buffers now. The packets after
    /// them move to the front.
    ///
    /// # Panics
    /// When `n > pkts.len()`.
    #[inline]
    pub(crate) fn forget_front(pkts: &mut Vec<Packet<'a>>, n: usize) {
        assert!(n <= pkts.len());
        let rest = pkts.len() - n;
        // SAFETY: the first `n` elements are given up without a drop
        // (Packet has no other resource than its buffer, now owned by the
        // caller); the `rest` after them are moved down by a bitwise copy
        // (ptr::copy allows the overlap) and the length shrunk to cover
        // exactly them, so each remaining packet is owned once.
        unsafe {
            if rest > 0 {
                let base = pkts.as_mut_ptr();
                std::ptr::copy(base.add(n), base, rest);
            }
            pkts.set_len(rest);
        }
    }

    /// The pool the packet belongs to.
    #[inline]
    pub fn pool(&self) -> &'a Mempool {
        self.pool
    }
}

impl Mempool {
    /// Keeps the pool's DMA memory when the pool is dropped: its file, its
    /// mapping and its IOMMU entry stay until the process exits, and the
    /// file until a supervisor reclaims it after resetting the device. A
    /// queue that cannot stop its device's DMA (virtio without per-queue
    /// reset) calls it for the buffers it leaves posted (docs/DESIGN.md 4).
    pub(crate) fn keep_memory(&self) {
        self.keep.set(true);
    }
}

impl Mempool {
    /// The memory of a [`Mempool::detached`] pool, which a test playing a
    /// device reads and writes at the buffers' "bus addresses".
    #[cfg(test)]
    pub(crate) fn detached_memory(&self) -> &SharedMap {
        match &self.memory {
            Some(Memory::Detached(m)) => m,
            _ => panic!("not a detached pool"),
        }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        if self.keep.get() {
            if let Some(Memory::Dma(region)) = self.memory.take() {
                region.keep();
            }
        }
    }
}

impl Drop for Packet<'_> {
    #[inline]
    fn drop(&mut self) {
        self.pool.free_index(self.idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_pool_hands_out_and_takes_back_writable_buffers() {
        let pool = Mempool::detached(4, 2048).unwrap();
        let mut pkts = Vec::new();
        assert_eq!(pool.alloc_bulk(&mut pkts, 8, 60), 4, "only 4 buffers");
        assert!(pool.alloc().is_none());
        for (i, p) in pkts.iter_mut().enumerate() {
            p.data_mut().fill(i as u8);
        }
        assert!(pkts
            .iter()
            .enumerate()
            .all(|(i, p)| p.len() == 60 && p.data().iter().all(|&b| b == i as u8)));
        drop(pkts);
        assert_eq!(pool.free_count(), 4, "dropped packets return");
        assert!(Mempool::detached(0, 2048).is_err());
        assert!(Mempool::detached(4, 3000).is_err());
    }
    use crate::{regs, Device, OpenOptions};

    #[test]
    fn a_write_back_length_past_the_buffer_is_cut_to_the_buffer() {
        // DMA memory the simulator's way: a lab of one port.
        let name = format!("drv-clamp-{}", std::process::id());
        let mut cfg = sim::LabConfig::new(&name);
        cfg.root = crate::simdev::DEFAULT_DIR.into();
        cfg.ports = 1;
        cfg.cables.clear();
        let _lab = sim::Lab::start(cfg).expect("lab starts");
        let dev = Device::open(&format!("sim:{name}/0"), &OpenOptions::default()).unwrap();
        let pool = Mempool::new(dev.dma(), "t-clamp", 4, 1024).unwrap();
        let view = pool.view();
        let status = regs::RXD_STAT_DD | regs::RXD_STAT_EOP | regs::RXD_STAT_TS;
        let received = |len| {
            let idx = pool.alloc_index().unwrap();
            Packet::received(
                &pool,
                view,
                idx,
                view.buf(idx),
                RxWriteBack::new(0, 0, status, len),
            )
        };
        let p = received(60);
        assert_eq!((p.len(), p.timestamped()), (60, true));
        for len in [1025, 0xFFFF] {
            let p = received(len);
            assert_eq!(p.len(), 1024, "cut to the buffer");
            assert_eq!(p.data().len(), 1024);
            assert!(
                !p.timestamped(),
                "flags of a nonsense write-back are dropped"
            );
        }
        let p = received(1024);
        assert_eq!((p.len(), p.timestamped()), (1024, true));
    }
}
