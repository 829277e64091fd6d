//! The packet buffer pool of one owner (a worker, a tool): fixed-size
//! buffers in one DMA region, a free stack of indices, bulk operations, no
//! reference counting and no heap allocation per packet (DESIGN.md 4).
//!
//! A [`Packet`] borrows its pool for its whole life (`Packet<'pool>`), so
//! the borrow checker, not a counter, guarantees that buffers are never
//! used after their pool is gone. A packet that is dropped goes back to
//! its pool. Packets are neither `Send` nor `Sync`: they never leave the
//! owner's thread, and neither does the pool.

use crate::error::{Error, ErrorKind, Result};
use crate::memory::{DmaContext, DmaRegion, HUGE_PAGE};
use std::cell::RefCell;
use std::marker::PhantomData;

/// Default buffer size: one 2 KiB buffer holds a standard frame.
pub const DEFAULT_BUF_SIZE: usize = 2048;

/// A pool of DMA buffers.
#[derive(Debug)]
pub struct Mempool {
    region: DmaRegion,
    buf_size: usize,
    count: u32,
    free: RefCell<Vec<u32>>,
    /// Not Sync or Send: the free stack has no locks.
    _single_thread: PhantomData<*const ()>,
}

impl Mempool {
    /// Allocates `count` buffers of `buf_size` bytes (a power of two from
    /// 1 KiB to 16 KiB, so no buffer crosses a 2 MiB page and the size fits
    /// SRRCTL.BSIZEPACKET, 82599 datasheet 8.2.3.8.7).
    pub fn new(ctx: &DmaContext, tag: &str, count: u32, buf_size: usize) -> Result<Mempool> {
        if !buf_size.is_power_of_two() || !(1024..=16 * 1024).contains(&buf_size) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                &ctx.device,
                format!("buffer size {buf_size}: use a power of two from 1024 to 16384"),
            ));
        }
        if count == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                &ctx.device,
                "a mempool needs at least one buffer",
            ));
        }
        let region = ctx.alloc(tag, count as usize * buf_size)?;
        debug_assert!(HUGE_PAGE.is_multiple_of(buf_size));
        log::debug!(
            "{}: mempool {tag}: {count} buffers of {buf_size} bytes",
            ctx.device
        );
        Ok(Mempool {
            region,
            buf_size,
            count,
            free: RefCell::new((0..count).rev().collect()),
            _single_thread: PhantomData,
        })
    }

    /// Size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Number of buffers.
    pub fn capacity(&self) -> u32 {
        self.count
    }

    /// Buffers currently free.
    pub fn free_count(&self) -> usize {
        self.free.borrow().len()
    }

    /// One packet of length 0, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Packet<'_>> {
        self.alloc_index().map(|idx| Packet::new(self, idx, 0))
    }

    /// Appends up to `n` packets of length `len` to `out`; returns how many.
    pub fn alloc_bulk<'a>(&'a self, out: &mut Vec<Packet<'a>>, n: usize, len: usize) -> usize {
        let len = len.min(self.buf_size) as u16;
        let mut free = self.free.borrow_mut();
        let take = n.min(free.len());
        for _ in 0..take {
            if let Some(idx) = free.pop() {
                out.push(Packet::new(self, idx, len));
            }
        }
        take
    }

    pub(crate) fn alloc_index(&self) -> Option<u32> {
        self.free.borrow_mut().pop()
    }

    pub(crate) fn free_index(&self, idx: u32) {
        debug_assert!(idx < self.count);
        self.free.borrow_mut().push(idx);
    }

    /// The bus address of buffer `idx`, for a descriptor.
    pub(crate) fn bus_addr(&self, idx: u32) -> u64 {
        self.region.bus_addr(idx as usize * self.buf_size)
    }

    fn ptr(&self, idx: u32) -> *mut u8 {
        debug_assert!(idx < self.count);
        // SAFETY: idx < count, so the offset is inside the region.
        unsafe { self.region.as_ptr().add(idx as usize * self.buf_size) }
    }

    /// Hints the CPU to load the start of buffer `idx` (the headers) into
    /// cache before the app touches it.
    pub(crate) fn prefetch(&self, idx: u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch has no architectural effect and cannot fault;
        // SSE is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                self.ptr(idx).cast::<i8>(),
                std::arch::x86_64::_MM_HINT_T0,
            );
        }
    }
}

/// A packet: a buffer of a [`Mempool`] with a length and what the NIC said
/// about it. Dropping it returns the buffer to its pool.
#[derive(Debug)]
pub struct Packet<'a> {
    pool: &'a Mempool,
    idx: u32,
    len: u16,
    rss_type: u8,
    flags: u8,
    rss_hash: u32,
}

/// Packet flag: the NIC latched an IEEE 1588 timestamp for this frame (Rx)
/// or is asked to (Tx).
const FLAG_TIMESTAMP: u8 = 1;

impl<'a> Packet<'a> {
    fn new(pool: &'a Mempool, idx: u32, len: u16) -> Self {
        Packet {
            pool,
            idx,
            len,
            rss_type: 0,
            flags: 0,
            rss_hash: 0,
        }
    }

    /// The frame (without FCS).
    pub fn data(&self) -> &[u8] {
        // SAFETY: the buffer belongs to this packet alone (it is neither in
        // the free stack nor in a ring) and `len <= buf_size`.
        unsafe { std::slice::from_raw_parts(self.pool.ptr(self.idx), usize::from(self.len)) }
    }

    /// The frame, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.pool.ptr(self.idx), usize::from(self.len)) }
    }

    /// Frame length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the frame length (capped at the buffer size); new bytes keep
    /// whatever the buffer held.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.pool.buf_size) as u16;
    }

    /// The buffer size: the largest possible length.
    pub fn capacity(&self) -> usize {
        self.pool.buf_size
    }

    /// The RSS hash the NIC computed (0 when none).
    pub fn rss_hash(&self) -> u32 {
        self.rss_hash
    }

    /// The RSS type from the write-back descriptor (`regs::RXDADV_RSSTYPE_*`).
    pub fn rss_type(&self) -> u8 {
        self.rss_type
    }

    /// Whether the NIC latched an IEEE 1588 timestamp for this frame (Rx),
    /// or will be asked to on transmit.
    pub fn timestamped(&self) -> bool {
        self.flags & FLAG_TIMESTAMP != 0
    }

    /// Asks the NIC to latch a Tx timestamp when this frame is sent.
    pub fn request_timestamp(&mut self, on: bool) {
        self.flags = if on {
            self.flags | FLAG_TIMESTAMP
        } else {
            self.flags & !FLAG_TIMESTAMP
        };
    }

    pub(crate) fn set_rx_info(&mut self, len: u16, rss_hash: u32, rss_type: u8, timestamped: bool) {
        self.len = len;
        self.rss_hash = rss_hash;
        self.rss_type = rss_type;
        self.flags = if timestamped { FLAG_TIMESTAMP } else { 0 };
    }

    /// Gives up the buffer without returning it to the pool: the caller
    /// (a queue) now owns `(pool, index)`.
    pub(crate) fn into_raw(self) -> (&'a Mempool, u32) {
        let raw = (self.pool, self.idx);
        std::mem::forget(self);
        raw
    }

    /// Takes back ownership of buffer `idx` of `pool`, with length `len`.
    pub(crate) fn from_raw(pool: &'a Mempool, idx: u32, len: u16) -> Self {
        Packet::new(pool, idx, len)
    }

    /// The pool the packet belongs to.
    pub fn pool(&self) -> &'a Mempool {
        self.pool
    }
}

impl Drop for Packet<'_> {
    fn drop(&mut self) {
        self.pool.free_index(self.idx);
    }
}
