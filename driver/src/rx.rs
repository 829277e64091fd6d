//! A receive queue: per-queue attach (82599 datasheet 4.6.7.1), batched
//! receive with descriptor recycling, and a clean detach (4.6.7.1.2).
//!
//! The ring holds advanced one-buffer descriptors (7.1.6). Each descriptor
//! owns one buffer of the caller's [`Mempool`]; a received buffer is handed
//! to the app as a [`Packet`] and replaced by a fresh one from the pool.

use crate::device::Device;
use crate::error::{Error, ErrorKind, Result};
use crate::memory::{DmaRegion, HUGE_PAGE};
use crate::mempool::{Mempool, Packet};
use crate::regs;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest ring (RDLEN is 20 bits of 128-byte units; one 2 MiB page).
pub const MAX_RING: u32 = 8192;

/// Counters the queue keeps itself (no registers involved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxCounters {
    /// Frames handed to the app.
    pub packets: u64,
    /// Bytes handed to the app.
    pub bytes: u64,
    /// Frames spanning several descriptors, dropped (buffers too small).
    pub multi_descriptor_drops: u64,
    /// Times the pool had no buffer to refill a descriptor.
    pub pool_empty: u64,
}

/// An attached receive queue.
pub struct RxQueue<'a> {
    dev: &'a Device,
    pool: &'a Mempool,
    queue: u32,
    /// The descriptor ring; `None` only after a failed detach leaked it.
    ring: Option<DmaRegion>,
    size: u32,
    /// Buffer index owned by each descriptor.
    bufs: Vec<u32>,
    next: u32,
    /// Inside a multi-descriptor frame being dropped.
    discarding: bool,
    counters: RxCounters,
    attached: bool,
}

impl<'a> RxQueue<'a> {
    /// Attaches Rx queue `queue` of `dev` with a ring of `size` descriptors
    /// (a power of two from 8 to 8192) filled from `pool` (4.6.7.1).
    /// `drop_en` sets SRRCTL.DROP_EN: a full ring then drops this queue's
    /// frames instead of blocking the shared packet buffer (DESIGN.md 5).
    pub fn attach(
        dev: &'a Device,
        queue: u32,
        pool: &'a Mempool,
        size: u32,
        drop_en: bool,
    ) -> Result<Self> {
        let name = dev.name();
        if queue >= regs::NUM_QUEUES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                format!("rx queue {queue}: the 82599 has queues 0 to 127"),
            ));
        }
        if !size.is_power_of_two() || !(8..=MAX_RING).contains(&size) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                format!("ring size {size}: use a power of two from 8 to {MAX_RING}"),
            ));
        }
        if pool.free_count() < size as usize {
            return Err(Error::new(
                ErrorKind::Memory,
                name,
                format!(
                    "rx queue {queue}: the pool has {} free buffers, the ring needs {size}",
                    pool.free_count()
                ),
            )
            .hint("create the mempool with more buffers than the ring sizes it feeds"));
        }
        let r = dev.regs();
        if r.read(regs::rxdctl(queue)) & regs::RXDCTL_ENABLE != 0 {
            return Err(Error::new(
                ErrorKind::Busy,
                name,
                format!("rx queue {queue} is already enabled"),
            )
            .hint("is another worker attached to it?"));
        }
        let ring = dev
            .dma()
            .alloc(&format!("rxring{queue}"), size as usize * 16)?;
        debug_assert!(size as usize * 16 <= HUGE_PAGE);
        let mut q = RxQueue {
            dev,
            pool,
            queue,
            ring: Some(ring),
            size,
            bufs: Vec::with_capacity(size as usize),
            next: 0,
            discarding: false,
            counters: RxCounters::default(),
            attached: false,
        };
        for i in 0..size {
            let idx = pool.alloc_index().ok_or_else(|| {
                Error::new(
                    ErrorKind::Memory,
                    name,
                    "mempool exhausted while filling the ring",
                )
            })?;
            q.bufs.push(idx);
            q.arm(i);
        }
        // 8.2.3.8.7: advanced one-buffer descriptors, buffer size in KiB.
        let mut srrctl = regs::SRRCTL_DESCTYPE_ADV_ONEBUF
            | (pool.buf_size() >> regs::SRRCTL_BSIZEPKT_SHIFT) as u32;
        if drop_en {
            srrctl |= regs::SRRCTL_DROP_EN;
        }
        r.write(regs::srrctl(queue), srrctl);
        let base = q.ring().bus_addr(0);
        r.write(regs::rdbal(queue), base as u32);
        r.write(regs::rdbah(queue), (base >> 32) as u32);
        r.write(regs::rdlen(queue), size * 16);
        r.write(regs::rdh(queue), 0);
        r.write(regs::rdt(queue), 0);
        r.set_bits(regs::rxdctl(queue), regs::RXDCTL_ENABLE);
        dev.wait(
            &format!("RXDCTL({queue}).ENABLE to read back 1 (4.6.7.1)"),
            Duration::from_secs(5),
            || r.read(regs::rxdctl(queue)) & regs::RXDCTL_ENABLE != 0,
        )?;
        q.attached = true;
        // Hand all descriptors but one to the device (RDT = last owned by it).
        r.write_tail(regs::rdt(queue), size - 1);
        log::debug!(
            "{name}: rx queue {queue} attached, {size} descriptors at {base:#x}, DROP_EN {drop_en}"
        );
        Ok(q)
    }

    /// Points descriptor `i` at its buffer, read format (7.1.6.1).
    fn ring(&self) -> &DmaRegion {
        self.ring
            .as_ref()
            .expect("the ring exists while the queue is usable")
    }

    fn arm(&self, i: u32) {
        let d = i as usize * 16;
        let mem = self.ring().mem();
        mem.u64_at(d)
            .store(self.pool.bus_addr(self.bufs[i as usize]), Ordering::Relaxed);
        mem.u64_at(d + 8).store(0, Ordering::Relaxed);
    }

    /// The queue number.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// What this queue received so far.
    pub fn counters(&self) -> RxCounters {
        self.counters
    }

    /// Receives up to `max` frames, appending them to `out`; returns how
    /// many. One RDT write per call, none when nothing arrived.
    pub fn rx_batch(&mut self, out: &mut Vec<Packet<'a>>, max: usize) -> usize {
        let mask = self.size - 1;
        let Some(ring) = self.ring.as_ref() else {
            return 0;
        };
        let mem = ring.mem();
        let mut received = 0;
        let mut consumed = 0u32;
        while received < max {
            let i = self.next;
            let d = i as usize * 16;
            // Acquire: the descriptor and the data are written before DD.
            let wb_hi = mem.u64_at(d + 8).load(Ordering::Acquire);
            let status = wb_hi as u32;
            if status & regs::RXD_STAT_DD == 0 {
                break;
            }
            let eop = status & regs::RXD_STAT_EOP != 0;
            if !eop || self.discarding {
                // 7.1.6: a frame larger than the buffer spans descriptors;
                // this driver drops such frames whole and counts them.
                if !self.discarding {
                    self.counters.multi_descriptor_drops += 1;
                }
                self.discarding = !eop;
                self.arm(i);
            } else {
                let Some(fresh) = self.pool.alloc_index() else {
                    self.counters.pool_empty += 1;
                    break;
                };
                let wb_lo = mem.u64_at(d).load(Ordering::Relaxed);
                let len = (wb_hi >> 32) as u16;
                let idx = std::mem::replace(&mut self.bufs[i as usize], fresh);
                self.pool.prefetch(idx);
                let mut p = Packet::from_raw(self.pool, idx, 0);
                p.set_rx_info(
                    len,
                    (wb_lo >> 32) as u32,
                    (wb_lo & 0xF) as u8,
                    status & regs::RXD_STAT_TS != 0,
                );
                self.counters.packets += 1;
                self.counters.bytes += u64::from(len);
                out.push(p);
                received += 1;
                self.arm(i);
            }
            consumed += 1;
            self.next = (i + 1) & mask;
        }
        if consumed > 0 {
            self.dev
                .regs()
                .write_tail(regs::rdt(self.queue), (self.next + mask) & mask);
        }
        received
    }

    /// Disables the queue and waits until the device confirms (4.6.7.1.2);
    /// only then do the ring and the buffers go back.
    pub fn detach(mut self) -> Result<()> {
        self.disable()
    }

    fn disable(&mut self) -> Result<()> {
        if !std::mem::replace(&mut self.attached, false) {
            return Ok(());
        }
        let q = self.queue;
        disable(self.dev, q)?;
        for idx in self.bufs.drain(..) {
            self.pool.free_index(idx);
        }
        log::debug!("{}: rx queue {q} detached", self.dev.name());
        Ok(())
    }
}

/// Disables Rx queue `q` and waits until the device confirms (4.6.7.1.2):
/// from then on it does no DMA for that queue. The supervisor uses it on
/// the queues of a worker that died.
pub fn disable(dev: &Device, q: u32) -> Result<()> {
    dev.disable_queue(
        regs::rxdctl(q),
        regs::RXDCTL_ENABLE,
        &format!("RXDCTL({q}) (4.6.7.1.2)"),
    )
}

impl Drop for RxQueue<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.disable() {
            // The device still owns the ring: keep the memory mapped rather
            // than let the NIC write into freed memory (DESIGN.md 4).
            log::error!("{e}; leaking the ring rather than freeing memory the NIC may write");
            std::mem::forget(self.ring.take());
            self.bufs.clear();
        }
    }
}
