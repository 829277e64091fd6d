//! A virtio-net transmit queue (virtio 1.1 5.1.6.2): packets sent from
//! their mempool buffers behind a zeroed header (no offloads), the
//! buffers given back to their pools as the device completes them.

use super::device::{QueueAccess, VirtioNet};
use super::ring::DESC_F_NEXT;
use super::HDR_SLOT;
use crate::error::Result;
use crate::mempool::{Mempool, Packet};
use crate::tx::TxCounters;

/// An attached virtio transmit queue (`transmitqN` of queue pair N-1).
pub struct VirtioTx<'a> {
    q: QueueAccess<'a>,
    pair: u16,
    name: &'a str,
    /// Per slot: the buffer in flight, `None` when the slot is free or a
    /// previous owner's buffer is in it (`foreign` says which).
    bufs: Box<[Option<(&'a Mempool, u32)>]>,
    foreign: Box<[bool]>,
    free: Vec<u16>,
    avail: u16,
    used: u16,
    counters: TxCounters,
}

impl<'a> VirtioTx<'a> {
    /// Takes the transmit queue of queue pair `pair` of `dev`. Slots a dead
    /// owner left in flight are reclaimed without freeing their buffers.
    pub fn attach(dev: &'a VirtioNet, pair: u16) -> Result<Self> {
        Self::take(dev.queue(2 * pair + 1)?, pair, dev.name())
    }

    /// [`VirtioTx::attach`] on the queue `q` gives access to.
    pub(crate) fn take(q: QueueAccess<'a>, pair: u16, name: &'a str) -> Result<Self> {
        let slots = q.ring.layout.slots();
        let mut foreign = vec![false; usize::from(slots)].into_boxed_slice();
        let mut free = Vec::with_capacity(usize::from(slots));
        for s in (0..slots).rev() {
            if q.ring.posted(s) {
                foreign[usize::from(s)] = true;
                continue;
            }
            // The header slot stays zero: no checksum, no GSO (5.1.6.2).
            let hdr = q.hdr_bus + (usize::from(s) * HDR_SLOT) as u64;
            q.ring
                .set_desc(2 * s, hdr, q.hdr_len as u32, DESC_F_NEXT, 2 * s + 1);
            q.ring.set_desc(2 * s + 1, 0, 0, 0, 0);
            free.push(s);
        }
        log::debug!(
            "{name}: tx queue pair {pair} attached, {slots} slots ({} left in flight by a previous owner)",
            usize::from(slots) - free.len()
        );
        Ok(VirtioTx {
            avail: q.ring.avail_idx(),
            used: q.ring.consumed(),
            q,
            pair,
            name,
            bufs: (0..slots).map(|_| None).collect(),
            foreign,
            free,
            counters: TxCounters::default(),
        })
    }

    /// The queue pair.
    pub fn pair(&self) -> u16 {
        self.pair
    }

    /// What this queue sent so far.
    pub fn counters(&self) -> TxCounters {
        self.counters
    }

    /// Gives back the buffers the device has sent; returns how many.
    pub fn clean(&mut self) -> u32 {
        let done = self.q.ring.used_idx();
        let slots = self.q.ring.layout.slots();
        let mut n = 0;
        while self.used != done {
            let (id, _) = self.q.ring.used_entry(self.used);
            self.used = self.used.wrapping_add(1);
            let slot = (id / 2) as u16;
            if id % 2 != 0 || slot >= slots {
                continue;
            }
            self.q.ring.set_posted(slot, false);
            if let Some((pool, idx)) = self.bufs[usize::from(slot)].take() {
                pool.free_index(idx);
            }
            self.foreign[usize::from(slot)] = false;
            self.free.push(slot);
            n += 1;
        }
        self.q.ring.set_consumed(self.used);
        n
    }

    /// Sends packets from the front of `pkts` while slots are free, removes
    /// those it sent and returns how many: the rest stay for a later call.
    /// One notification (if the device asks for one) per call. Not
    /// inlined into [`crate::TxQueue`]: one call per batch.
    #[inline(never)]
    #[cold]
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet<'a>>) -> usize {
        self.clean();
        let mut n = 0;
        for p in pkts.iter() {
            let Some(slot) = self.free.pop() else { break };
            let (pool, idx) = p.parts();
            self.q
                .ring
                .set_buffer(2 * slot + 1, pool.bus_addr(idx), p.len() as u32);
            self.bufs[usize::from(slot)] = Some((pool, idx));
            self.q.ring.set_posted(slot, true);
            self.q
                .ring
                .set_avail(self.avail.wrapping_add(n as u16), 2 * slot);
            self.counters.packets += 1;
            self.counters.bytes += p.len() as u64;
            n += 1;
        }
        Packet::forget_front(pkts, n);
        if n > 0 {
            self.avail = self.avail.wrapping_add(n as u16);
            self.q.ring.publish_avail(self.avail);
            if self.q.ring.needs_notify() {
                self.q
                    .notify
                    .write16(self.q.mem.notify_off, 2 * self.pair + 1);
            }
        }
        n
    }

    /// Lets the queue go after giving back what was sent. Buffers still in
    /// flight stay with the device; their pools' memory is kept until the
    /// supervisor resets it (docs/DESIGN.md 4).
    pub fn detach(mut self) -> Result<()> {
        self.clean();
        Ok(())
    }
}

impl Drop for VirtioTx<'_> {
    fn drop(&mut self) {
        self.clean();
        let mut kept = 0;
        for (pool, _) in self.bufs.iter().flatten() {
            pool.keep_memory();
            kept += 1;
        }
        if kept > 0 {
            log::debug!(
                "{}: tx queue pair {}: {kept} buffers still in flight; their memory is kept until the device is reset",
                self.name,
                self.pair
            );
        }
    }
}
