//! A receive queue: per-queue attach (82599 datasheet 4.6.7.1), batched
//! receive with descriptor recycling, and a clean detach (4.6.7.1.2).
//!
//! The ring holds advanced one-buffer descriptors (7.1.6). Each descriptor
//! owns one buffer of the caller's [`Mempool`]; a received buffer is handed
//! to the app as a [`Packet`] and replaced by a fresh one from the pool.
//!
//! What a device writes back is checked, never trusted (docs/DESIGN.md 5): only
//! a descriptor with DD, EOP and a length that fits its buffer becomes a
//! packet. A frame spanning several descriptors is dropped whole, a
//! nonsensical write-back ([`desc::RxDescKind::Bad`]) alone; both are
//! counted. The driver keeps one descriptor to itself, the one at RDT
//! (7.1.4: the device uses those from RDH up to RDT - 1): a write-back
//! there means the device does not follow the ring protocol, and the queue
//! is reset (disabled, its ring re-armed, enabled again).

use crate::desc::{self, Ring, RxDescKind};
use crate::error::{Error, ErrorKind, Result};
use crate::ixgbe::Ixgbe;
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
    /// Descriptors the device wrote back with nonsense (a length larger
    /// than the buffer, no EOP on a buffer that is not full), dropped.
    pub bad_descriptors: u64,
    /// Resets of the queue after the device wrote back the descriptor it
    /// was never given (the one at RDT).
    pub resets: u64,
}

/// An attached receive queue.
pub struct IxgbeRx<'a> {
    dev: &'a Ixgbe,
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
    /// SRRCTL as programmed (8.2.3.8.7), again at every reset.
    srrctl: u32,
    attached: bool,
    /// A reset failed: the queue receives nothing more.
    dead: bool,
}

impl<'a> IxgbeRx<'a> {
    /// Attaches Rx queue `queue` of `dev` with a ring of `size` descriptors
    /// (a power of two from 8 to 8192) filled from `pool` (4.6.7.1).
    /// `drop_en` sets SRRCTL.DROP_EN: a full ring then drops this queue's
    /// frames instead of blocking the shared packet buffer (docs/DESIGN.md 5).
    pub fn attach(
        dev: &'a Ixgbe,
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
        // 8.2.3.8.7: advanced one-buffer descriptors, buffer size in KiB.
        let mut srrctl = regs::SRRCTL_DESCTYPE_ADV_ONEBUF
            | (pool.buf_size() >> regs::SRRCTL_BSIZEPKT_SHIFT) as u32;
        if drop_en {
            srrctl |= regs::SRRCTL_DROP_EN;
        }
        let mut q = IxgbeRx {
            dev,
            tail: dev.regs().tail(regs::rdt(queue)),
            pool,
            queue,
            ring,
            bufs: bufs.into_boxed_slice(),
            next: 0,
            discarding: false,
            counters: RxCounters::default(),
            srrctl,
            // From the ENABLE write on, a failure leaves the queue to Drop,
            // which frees the ring only once the device confirms it off.
            attached: true,
            dead: false,
        };
        q.enable()?;
        log::debug!(
            "{name}: rx queue {queue} attached, {size} descriptors at {:#x}, DROP_EN {drop_en}",
            q.ring.bus_addr()
        );
        Ok(q)
    }

    /// Programs the queue's ring (every descriptor armed) and enables it
    /// (4.6.7.1); then hands all descriptors but one to the device.
    fn enable(&mut self) -> Result<()> {
        let (r, queue, size) = (self.dev.regs(), self.queue, self.ring.size());
        r.write(regs::srrctl(queue), self.srrctl);
        let base = self.ring.bus_addr();
        r.write(regs::rdbal(queue), base as u32);
        r.write(regs::rdbah(queue), (base >> 32) as u32);
        r.write(regs::rdlen(queue), size * 16);
        r.write(regs::rdh(queue), 0);
        r.write(regs::rdt(queue), 0);
        r.set_bits(regs::rxdctl(queue), regs::RXDCTL_ENABLE);
        self.dev.wait(
            &format!("RXDCTL({queue}).ENABLE to read back 1 (4.6.7.1)"),
            Duration::from_secs(5),
            || r.read(regs::rxdctl(queue)) & regs::RXDCTL_ENABLE != 0,
        )?;
        // 7.1.4: the device uses descriptors RDH to RDT - 1; the one at
        // RDT stays the driver's.
        r.write_tail(regs::rdt(queue), size - 1);
        Ok(())
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
        if self.dead {
            return 0;
        }
        let ring_ref = &self.ring;
        let (ring, mask) = (ring_ref.view(), ring_ref.size() - 1);
        let pool = self.pool;
        let view = pool.view();
        let buf_size = pool.buf_size();
        let start = self.next;
        // The descriptor at RDT, which the device was never given: the
        // loop stops before it, and checks it at the end.
        let kept = start.wrapping_sub(1) & mask;
        let mut i = start;
        let mut received = 0;
        let mut bytes = 0;
        while received < max {
            // Count the complete one-descriptor frames ready in a row, up to
            // the end of the ring (a wrap is the next round) or the kept
            // descriptor.
            let room = kept.wrapping_sub(i) & mask;
            let run_max = (max - received)
                .min((mask + 1 - i) as usize)
                .min(room as usize);
            if run_max == 0 {
                break;
            }
            let run = ring_ref.run(i, run_max as u32);
            let ready = if self.discarding {
                0
            } else {
                desc::rx_frames_ready(run, buf_size)
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
            // What stopped the run: nothing more, part of a frame larger
            // than one buffer (7.1.6), dropped whole, or nonsense, dropped
            // alone; both counted.
            let d = ring.at(i);
            let Some(wb) = d.rx_done() else {
                break;
            };
            if self.discarding {
                self.discarding = !wb.eop();
            } else {
                match wb.classify(buf_size) {
                    // A whole frame written back since it was counted: the
                    // next round takes it.
                    RxDescKind::Frame => continue,
                    RxDescKind::FirstOfMany => {
                        self.counters.multi_descriptor_drops += 1;
                        self.discarding = true;
                    }
                    RxDescKind::Bad => self.counters.bad_descriptors += 1,
                }
            }
            d.rx_arm(view.bus_addr(self.bufs[i as usize]));
            i = (i + 1) & mask;
        }
        if i != start {
            self.counters.packets += received as u64;
            self.counters.bytes += bytes;
            if ring.at(kept).rx_done().is_some() {
                self.reset(kept);
            } else {
                self.next = i;
                // 7.1.4: the device may use descriptors up to RDT - 1.
                self.tail.write(i.wrapping_sub(1) & mask);
            }
        }
        received
    }

    /// The device wrote back descriptor `kept`, which it was never given:
    /// it does not follow the ring protocol, and nothing in the ring can
    /// be trusted. Disables the queue and waits until the device confirms
    /// (4.6.7.1.2), re-arms every descriptor with the buffer it owns (no
    /// buffer changes hands: none leaks, none is freed twice) and enables
    /// the queue again (4.6.7.1). Frames in the ring are lost. A queue the
    /// device will not disable or enable receives nothing more.
    #[cold]
    #[inline(never)]
    fn reset(&mut self, kept: u32) {
        self.counters.resets += 1;
        let (dev, q) = (self.dev, self.queue);
        log::warn!(
            "{}: rx queue {q}: the device wrote back descriptor {kept}, which it was never given; resetting the queue",
            dev.name()
        );
        let result = disable(dev, q).and_then(|()| {
            for (k, &idx) in self.bufs.iter().enumerate() {
                self.ring.at(k as u32).rx_arm(self.pool.bus_addr(idx));
            }
            self.next = 0;
            self.discarding = false;
            self.enable()
        });
        if let Err(e) = result {
            log::error!("{e}; rx queue {q} receives nothing more");
            self.dead = true;
        }
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
pub fn disable(dev: &Ixgbe, q: u32) -> Result<()> {
    dev.disable_queue(
        regs::rxdctl(q),
        regs::RXDCTL_ENABLE,
        &format!("RXDCTL({q}) (4.6.7.1.2)"),
    )
}

impl Drop for IxgbeRx<'_> {
    fn drop(&mut self) {
        match self.disable() {
            Ok(()) => {}
            // A device that is gone does no DMA: the ring can go.
            Err(e) if e.kind() == ErrorKind::DeviceLost => log::debug!("{e}"),
            Err(e) => {
                // The device still owns the ring: keep the memory mapped
                // rather than let the NIC write into freed memory (docs/DESIGN.md 4).
                log::error!("{e}; leaking the ring rather than freeing memory the NIC may write");
                self.ring.leak();
                self.bufs = Box::default();
            }
        }
    }
}
