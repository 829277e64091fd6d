//! A receive queue: per-queue attach (82599 datasheet 4.6.7.1), batched
//! receive with descriptor recycling, and a clean detach (4.6.7.1.2).
//!
//! The ring holds advanced one-buffer descriptors (7.1.6). Each descriptor
//! owns one buffer of the caller's [`Mempool`]; a received buffer is handed
//! to the app as a [`Packet`] and replaced by a fresh one from the pool.

use crate::desc::{self, Ring};
use crate::device::Device;
use crate::error::{Error, ErrorKind, Result};
use crate::memory::HUGE_PAGE;
use crate::mempool::{self, Mempool, Packet};
use crate::mmio::Tail;
use crate::regs;
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
    /// RDT (8.2.3.8.5), written once per batch.
    tail: Tail<'a>,
    pool: &'a Mempool,
    queue: u32,
    /// The descriptor ring (leaked, not freed, after a failed detach).
    ring: Ring,
    /// Buffer index owned by each descriptor (as many as descriptors).
    bufs: Box<[u32]>,
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
        let region = dev
            .dma()
            .alloc(&format!("rxring{queue}"), size as usize * 16)?;
        debug_assert!(size as usize * 16 <= HUGE_PAGE);
        let ring = Ring::new(region, size);
        let mut bufs = Vec::with_capacity(size as usize);
        for i in 0..size {
            let idx = pool.alloc_index().ok_or_else(|| {
                Error::new(
                    ErrorKind::Memory,
                    name,
                    "mempool exhausted while filling the ring",
                )
            })?;
            // 7.1.6.1: read format, the buffer's bus address.
            ring.at(i).rx_arm(pool.bus_addr(idx));
            bufs.push(idx);
        }
        let mut q = RxQueue {
            dev,
            tail: dev.regs().tail(regs::rdt(queue)),
            pool,
            queue,
            ring,
            bufs: bufs.into_boxed_slice(),
            next: 0,
            discarding: false,
            counters: RxCounters::default(),
            attached: false,
        };
        // 8.2.3.8.7: advanced one-buffer descriptors, buffer size in KiB.
        let mut srrctl = regs::SRRCTL_DESCTYPE_ADV_ONEBUF
            | (pool.buf_size() >> regs::SRRCTL_BSIZEPKT_SHIFT) as u32;
        if drop_en {
            srrctl |= regs::SRRCTL_DROP_EN;
        }
        r.write(regs::srrctl(queue), srrctl);
        let base = q.ring.bus_addr();
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

    /// The queue number.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// What this queue received so far.
    pub fn counters(&self) -> RxCounters {
        self.counters
    }

    /// Receives up to `max` frames, appending them to `out`; returns how
    /// many. Each descriptor read is re-armed at once with a fresh buffer
    /// (7.1.6.1); one RDT write per call, none when nothing arrived.
    #[inline]
    pub fn rx_batch(&mut self, out: &mut Vec<Packet<'a>>, max: usize) -> usize {
        // The common empty poll: one descriptor load, no call.
        if self.ready() {
            self.receive(out, max)
        } else {
            0
        }
    }

    /// Whether the NIC has written back the next descriptor: the check of
    /// an empty poll, one load.
    #[inline]
    pub fn ready(&self) -> bool {
        self.ring.at(self.next).rx_done().is_some()
    }

    #[inline(always)]
    fn receive(&mut self, out: &mut Vec<Packet<'a>>, max: usize) -> usize {
        let ring_ref = &self.ring;
        let (ring, mask) = (ring_ref.view(), ring_ref.size() - 1);
        let pool = self.pool;
        let view = pool.view();
        let start = self.next;
        let mut i = start;
        let mut received = 0;
        let mut bytes = 0;
        while received < max {
            // Count the complete one-descriptor frames ready in a row, up to
            // the end of the ring (a wrap is the next round).
            let run_max = (max - received).min((mask + 1 - i) as usize);
            let run = ring_ref.run(i, run_max as u32);
            let ready = if self.discarding {
                0
            } else {
                desc::rx_frames_ready(run)
            };
            // Hand them out, re-arming each descriptor with a buffer taken
            // from the pool in one step. Descriptors, their buffers and the
            // fresh buffers are three slices of one length: no index is
            // masked or bounds-checked per frame.
            let fresh = pool.take(ready);
            if fresh.len() < ready {
                self.counters.pool_empty += 1;
            }
            let n = fresh.len();
            let descs = &run[..n];
            let bufs = &mut self.bufs[i as usize..i as usize + n];
            let mut sum = 0;
            let batch = descs
                .iter()
                .zip(bufs.iter_mut())
                .zip(fresh)
                .map(|((d, slot), fresh)| {
                    let wb = d.written_back();
                    let fresh = fresh.get();
                    let idx = std::mem::replace(slot, fresh);
                    d.rx_arm(view.bus_addr(fresh));
                    let buf = view.buf(idx);
                    mempool::prefetch(buf);
                    let p = Packet::received(pool, view, idx, buf, wb);
                    sum += p.len() as u64;
                    p
                });
            Packet::push_batch(out, batch);
            bytes += sum;
            received += n;
            i = (i + n as u32) & mask;
            if n < ready || received == max {
                break;
            }
            if ready == run_max {
                // The end of the ring: go on from descriptor 0.
                continue;
            }
            // What stopped the run: nothing more, or part of a frame
            // larger than one buffer (7.1.6), dropped whole and counted.
            let d = ring.at(i);
            let Some(wb) = d.rx_done() else {
                break;
            };
            if wb.eop() && !self.discarding {
                // A whole frame written back since it was counted: the
                // next round takes it.
                continue;
            }
            if !self.discarding {
                self.counters.multi_descriptor_drops += 1;
            }
            self.discarding = !wb.eop();
            d.rx_arm(view.bus_addr(self.bufs[i as usize]));
            i = (i + 1) & mask;
        }
        if i != start {
            self.next = i;
            self.counters.packets += received as u64;
            self.counters.bytes += bytes;
            // 7.1.4: RDT is the last descriptor the NIC may use.
            self.tail.write(i.wrapping_sub(1) & mask);
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
        for &idx in self.bufs.iter() {
            self.pool.free_index(idx);
        }
        self.bufs = Box::default();
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
        match self.disable() {
            Ok(()) => {}
            // A device that is gone does no DMA: the ring can go.
            Err(e) if e.kind() == ErrorKind::DeviceLost => log::debug!("{e}"),
            Err(e) => {
                // The device still owns the ring: keep the memory mapped
                // rather than let the NIC write into freed memory (DESIGN.md 4).
                log::error!("{e}; leaking the ring rather than freeing memory the NIC may write");
                self.ring.leak();
                self.bufs = Box::default();
            }
        }
    }
}
