//! A virtio-net receive queue (virtio 1.1 5.1.6.3-4): the worker's
//! mempool buffers posted in slots, frames handed out as [`Packet`]s with
//! their RSS hash, the slots re-posted at once.

use super::device::{QueueAccess, VirtioNet};
use super::ring::{DESC_F_NEXT, DESC_F_WRITE};
use super::HDR_SLOT;
use crate::error::{Error, ErrorKind, Result};
use crate::mempool::{Mempool, Packet};
use crate::regs;
use crate::rx::RxCounters;

/// A slot with no buffer of this queue's owner in it.
const EMPTY: u32 = u32::MAX;
/// A slot a previous owner posted: its buffer is not ours.
const FOREIGN: u32 = u32::MAX - 1;

/// An attached virtio receive queue (`receiveqN` of queue pair N-1).
pub struct VirtioRx<'a> {
    q: QueueAccess<'a>,
    pair: u16,
    name: &'a str,
    pool: &'a Mempool,
    /// Per slot: the pool buffer posted in it, [`EMPTY`] or [`FOREIGN`].
    bufs: Box<[u32]>,
    /// Slots free to post.
    free: Vec<u16>,
    /// Next position in the available ring.
    avail: u16,
    /// Next position in the used ring to consume.
    used: u16,
    counters: RxCounters,
    /// Completed slots whose buffer belonged to a previous owner.
    foreign: u64,
}

impl<'a> VirtioRx<'a> {
    /// Takes the receive queue of queue pair `pair` of `dev` (set up by
    /// [`VirtioNet::init`]) and fills it from `pool`. A queue a dead owner
    /// left behind is taken over: its posted slots complete as foreign
    /// (their frames are dropped, their buffers are not ours) and are
    /// re-posted with ours.
    pub fn attach(dev: &'a VirtioNet, pair: u16, pool: &'a Mempool) -> Result<Self> {
        Self::take(dev.queue(2 * pair)?, pair, dev.name(), pool)
    }

    /// [`VirtioRx::attach`] on the queue `q` gives access to.
    pub(crate) fn take(
        q: QueueAccess<'a>,
        pair: u16,
        name: &'a str,
        pool: &'a Mempool,
    ) -> Result<Self> {
        let slots = q.ring.layout.slots();
        if pool.free_count() < usize::from(slots) {
            return Err(Error::new(
                ErrorKind::Memory,
                name,
                format!(
                    "rx queue pair {pair}: the pool has {} free buffers, the queue needs {slots}",
                    pool.free_count()
                ),
            )
            .hint("create the mempool with more buffers than the queues it feeds"));
        }
        if pool.buf_size() < 1514 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                format!(
                    "rx buffers of {} bytes cannot hold a 1514-byte frame (no MRG_RXBUF)",
                    pool.buf_size()
                ),
            ));
        }
        let mut bufs = vec![EMPTY; usize::from(slots)].into_boxed_slice();
        let mut free = Vec::with_capacity(usize::from(slots));
        for s in (0..slots).rev() {
            if q.ring.posted(s) {
                bufs[usize::from(s)] = FOREIGN;
                continue;
            }
            let hdr = q.hdr_bus + (usize::from(s) * HDR_SLOT) as u64;
            q.ring.set_desc(
                2 * s,
                hdr,
                q.hdr_len as u32,
                DESC_F_NEXT | DESC_F_WRITE,
                2 * s + 1,
            );
            q.ring.set_desc(2 * s + 1, 0, 0, DESC_F_WRITE, 0);
            free.push(s);
        }
        let taken_over = usize::from(slots) - free.len();
        let mut rx = VirtioRx {
            avail: q.ring.avail_idx(),
            used: q.ring.consumed(),
            q,
            pair,
            name,
            pool,
            bufs,
            free,
            counters: RxCounters::default(),
            foreign: 0,
        };
        rx.refill();
        log::debug!(
            "{}: rx queue pair {pair} attached, {slots} slots ({taken_over} left by a previous owner)",
            rx.name
        );
        Ok(rx)
    }

    /// The queue pair.
    pub fn pair(&self) -> u16 {
        self.pair
    }

    /// What this queue received so far.
    pub fn counters(&self) -> RxCounters {
        self.counters
    }

    /// Whether the device has completed a buffer not yet consumed.
    #[inline]
    pub fn ready(&self) -> bool {
        self.q.ring.used_idx() != self.used
    }

    /// Receives up to `max` frames, appending them to `out`; returns how
    /// many. Consumed slots are re-posted with fresh buffers, one
    /// notification (if the device asks for one) per call. Not inlined
    /// into the backend-neutral [`crate::RxQueue`]: one call per batch.
    #[inline(never)]
    #[cold]
    pub fn rx_batch(&mut self, out: &mut Vec<Packet<'a>>, max: usize) -> usize {
        let done = self.q.ring.used_idx();
        if done == self.used {
            return 0;
        }
        let slots = self.q.ring.layout.slots();
        let mut n = 0;
        while self.used != done && n < max {
            let (id, len) = self.q.ring.used_entry(self.used);
            self.used = self.used.wrapping_add(1);
            let slot = (id / 2) as u16;
            if id % 2 != 0 || slot >= slots {
                // Not a chain head we posted: nothing to give back.
                self.counters.bad_descriptors += 1;
                continue;
            }
            self.q.ring.set_posted(slot, false);
            let buf = std::mem::replace(&mut self.bufs[usize::from(slot)], EMPTY);
            self.free.push(slot);
            match buf {
                FOREIGN => self.foreign += 1,
                EMPTY => self.counters.bad_descriptors += 1,
                idx => {
                    let len = (len as usize).checked_sub(self.q.hdr_len);
                    match len.filter(|&l| l <= self.pool.buf_size()) {
                        Some(len) => {
                            out.push(self.received(slot, idx, len));
                            self.counters.packets += 1;
                            self.counters.bytes += len as u64;
                            n += 1;
                        }
                        None => {
                            self.counters.bad_descriptors += 1;
                            self.pool.free_index(idx);
                        }
                    }
                }
            }
        }
        self.q.ring.set_consumed(self.used);
        self.refill();
        n
    }

    /// The packet in buffer `idx`, with the hash the device reported in
    /// the header of `slot` (5.1.6.4.3.4), or the software hash.
    fn received(&self, slot: u16, idx: u32, len: usize) -> Packet<'a> {
        if self.q.hash_report {
            let mut h = [0u8; 8];
            self.q
                .ring
                .read_bytes(self.q.mem.extra + usize::from(slot) * HDR_SLOT + 12, &mut h);
            let hash = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let report = u16::from_le_bytes([h[4], h[5]]);
            return Packet::from_device(self.pool, idx, len, hash, rss_type(report));
        }
        let mut p = Packet::from_device(self.pool, idx, len, 0, regs::RXDADV_RSSTYPE_NONE);
        if let Some(rss) = self.q.rss {
            let (hash, kind) = rss.hash_frame(p.data());
            p.set_rss(hash, kind);
        }
        p
    }

    /// Posts a fresh buffer in every free slot and tells the device.
    fn refill(&mut self) {
        let mut added = 0u16;
        let size = self.pool.buf_size() as u32;
        while let Some(&slot) = self.free.last() {
            let Some(idx) = self.pool.alloc_index() else {
                self.counters.pool_empty += 1;
                break;
            };
            self.free.pop();
            self.q
                .ring
                .set_buffer(2 * slot + 1, self.pool.bus_addr(idx), size);
            self.bufs[usize::from(slot)] = idx;
            self.q.ring.set_posted(slot, true);
            self.q
                .ring
                .set_avail(self.avail.wrapping_add(added), 2 * slot);
            added += 1;
        }
        if added > 0 {
            self.avail = self.avail.wrapping_add(added);
            self.q.ring.publish_avail(self.avail);
            if self.q.ring.needs_notify() {
                // The device ran dry on this queue. QEMU's software RSS
                // parks a frame steered here on the queue it came in on,
                // and retries it only when *that* queue is notified: so
                // every receive queue is, not only this one (a spurious
                // notification is harmless, 2.6.10).
                for &(off, queue) in self.q.rx_kicks {
                    self.q.notify.write16(off, queue);
                }
            }
        }
    }

    /// Lets the queue go. Virtio cannot take buffers back from one queue
    /// without a device reset, so the posted buffers stay with the device
    /// and the pool's memory is kept until the supervisor resets it
    /// (docs/DESIGN.md 4); a new owner takes the queue over.
    pub fn detach(self) -> Result<()> {
        let posted = self.bufs.iter().filter(|&&b| b != EMPTY).count();
        if posted > 0 {
            self.pool.keep_memory();
            log::debug!(
                "{}: rx queue pair {} detached with {posted} buffers still posted; their memory is kept until the device is reset",
                self.name,
                self.pair
            );
        }
        Ok(())
    }

    /// Completed slots that carried a previous owner's buffer.
    pub fn foreign_completions(&self) -> u64 {
        self.foreign
    }
}

impl Drop for VirtioRx<'_> {
    fn drop(&mut self) {
        if self.bufs.iter().any(|&b| b != EMPTY && b != FOREIGN) {
            self.pool.keep_memory();
        }
    }
}

/// The 82599 RSS type (`regs::RXDADV_RSSTYPE_*`) for a virtio hash report
/// (`VIRTIO_NET_HASH_REPORT_*`, 5.1.6.4.3.4).
fn rss_type(report: u16) -> u32 {
    match report {
        1 => regs::RXDADV_RSSTYPE_IPV4,
        2 => regs::RXDADV_RSSTYPE_IPV4_TCP,
        3 => regs::RXDADV_RSSTYPE_IPV4_UDP,
        4 => regs::RXDADV_RSSTYPE_IPV6,
        5 => regs::RXDADV_RSSTYPE_IPV6_TCP,
        6 => regs::RXDADV_RSSTYPE_IPV6_UDP,
        _ => regs::RXDADV_RSSTYPE_NONE,
    }
}
