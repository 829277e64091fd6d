//! A transmit queue: per-queue attach (82599 datasheet 4.6.8.1), batched
//! transmit with advanced data descriptors (7.2.3.2.4) and ixy's batched
//! cleaning, and a clean detach (4.6.8.1.2).

use crate::desc::{self, Ring};
use crate::error::{Error, ErrorKind, Result};
use crate::ixgbe::Ixgbe;
use crate::mempool::{Mempool, Packet};
use crate::mmio::Tail;
use crate::regs;
use std::time::Duration;

/// Descriptors reclaimed at once: DD is checked on the last of a batch
/// only, since the device completes descriptors in order (as ixy does).
pub const CLEAN_BATCH: u32 = 32;

/// Counters the queue keeps itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxCounters {
    /// Frames handed to the device.
    pub packets: u64,
    /// Bytes handed to the device.
    pub bytes: u64,
}

/// An attached transmit queue.
pub struct IxgbeTx<'a> {
    dev: &'a Ixgbe,
    /// TDT (8.2.3.9.9), written once per batch.
    tail_reg: Tail<'a>,
    queue: u32,
    /// The descriptor ring (leaked, not freed, after a failed detach).
    ring: Ring,
    /// The buffer each descriptor carried last; those from `clean` up to
    /// `tail` are in flight.
    pools: Box<[Option<&'a Mempool>]>,
    idxs: Box<[u32]>,
    /// The pool of the first packet sent: completed buffers go back to it
    /// in one step while none of another pool is in flight.
    home: Option<&'a Mempool>,
    /// Buffers in flight that belong to another pool than `home`.
    foreign: u32,
    tail: u32,
    clean: u32,
    counters: TxCounters,
    attached: bool,
}

impl<'a> IxgbeTx<'a> {
    /// Attaches Tx queue `queue` of `dev` with a ring of `size` descriptors
    /// (a power of two from 8 to 8192), 4.6.8.1.
    pub fn attach(dev: &'a Ixgbe, queue: u32, size: u32) -> Result<Self> {
        let name = dev.name();
        if queue >= regs::NUM_QUEUES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                format!("tx queue {queue}: the 82599 has queues 0 to 127"),
            ));
        }
        if !size.is_power_of_two() || !(8..=crate::rx::MAX_RING).contains(&size) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                format!(
                    "ring size {size}: use a power of two from 8 to {}",
                    crate::rx::MAX_RING
                ),
            ));
        }
        let r = dev.regs();
        if r.read(regs::txdctl(queue)) & regs::TXDCTL_ENABLE != 0 {
            return Err(Error::new(
                ErrorKind::Busy,
                name,
                format!("tx queue {queue} is already enabled"),
            )
            .hint("is another worker attached to it?"));
        }
        let ring = Ring::new(
            dev.dma()
                .alloc(&format!("txring{queue}"), size as usize * 16)?,
            size,
        );
        let base = ring.bus_addr();
        r.write(regs::tdbal(queue), base as u32);
        r.write(regs::tdbah(queue), (base >> 32) as u32);
        r.write(regs::tdlen(queue), size * 16);
        r.write(regs::tdh(queue), 0);
        r.write(regs::tdt(queue), 0);
        r.set_bits(regs::txdctl(queue), regs::TXDCTL_ENABLE);
        dev.wait(
            &format!("TXDCTL({queue}).ENABLE to read back 1 (4.6.8.1)"),
            Duration::from_secs(5),
            || r.read(regs::txdctl(queue)) & regs::TXDCTL_ENABLE != 0,
        )?;
        log::debug!("{name}: tx queue {queue} attached, {size} descriptors at {base:#x}");
        Ok(IxgbeTx {
            dev,
            tail_reg: dev.regs().tail(regs::tdt(queue)),
            queue,
            ring,
            pools: (0..size).map(|_| None).collect(),
            idxs: vec![0; size as usize].into_boxed_slice(),
            home: None,
            foreign: 0,
            tail: 0,
            clean: 0,
            counters: TxCounters::default(),
            attached: true,
        })
    }

    /// The queue number.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// What this queue sent so far.
    pub fn counters(&self) -> TxCounters {
        self.counters
    }

    /// Returns the buffers of every completed descriptor to their pools;
    /// returns the free descriptors.
    pub fn clean(&mut self) -> u32 {
        self.reclaim(1)
    }

    /// Returns buffers of completed descriptors to their pools, [`CLEAN_BATCH`]
    /// at a time and only once at least `min` are in flight (ixy's rule:
    /// a few completed descriptors may wait, so that cleaning costs little
    /// per packet at any batch size); returns the free descriptors.
    fn reclaim(&mut self, min: u32) -> u32 {
        let mask = self.ring.size() - 1;
        loop {
            let in_flight = self.tail.wrapping_sub(self.clean) & mask;
            if in_flight == 0 || in_flight < min {
                break;
            }
            let step = in_flight.min(CLEAN_BATCH);
            // 7.2.3.2.4: with RS on every descriptor and in-order
            // completion, DD on the last of a batch means all are done.
            if !self.ring.at(self.clean + step - 1).tx_done() {
                break;
            }
            // The entries stay behind as stale copies; only those from
            // `clean` to `tail` are in flight.
            self.free(self.clean, step, mask);
            self.clean = (self.clean + step) & mask;
        }
        self.clean.wrapping_sub(self.tail).wrapping_sub(1) & mask
    }

    /// Returns the buffers of descriptors `from..from + n` to their pools:
    /// in one step when they share one pool (the common case).
    fn free(&mut self, from: u32, n: u32, mask: u32) {
        let (from, n) = (from as usize, n as usize);
        let head = from..from + n.min(mask as usize + 1 - from);
        let tail = 0..n - head.len();
        match self.home {
            // Every buffer in flight is the home pool's: one step.
            Some(home) if self.foreign == 0 => home.free_bulk(&self.idxs[head], &self.idxs[tail]),
            _ => {
                for k in head.chain(tail) {
                    if let Some(pool) = self.pools[k] {
                        pool.free_index(self.idxs[k]);
                        if self.home.is_some_and(|h| !std::ptr::eq(h, pool)) {
                            self.foreign -= 1;
                        }
                    }
                }
            }
        }
    }

    /// Sends as many packets from the front of `pkts` as the ring takes,
    /// removing them from `pkts`; returns how many. The unsent ones stay
    /// (the caller retries or drops them). One TDT write per call.
    #[inline(always)]
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet<'a>>) -> usize {
        // Clean in whole batches: at most CLEAN_BATCH (or half the ring)
        // completed descriptors wait for the next call.
        let size = self.ring.size();
        let min = CLEAN_BATCH.min(size / 2);
        let in_flight = self.tail.wrapping_sub(self.clean) & (size - 1);
        let free = if in_flight >= min {
            self.reclaim(min)
        } else {
            size - 1 - in_flight
        } as usize;
        let n = free.min(pkts.len());
        // With a full ring (n == 0) what follows writes nothing and TDT
        // gets the value it has: harmless, and no branch on the way.
        let Some(first) = pkts.first() else {
            return 0;
        };
        let home = *self.home.get_or_insert(first.parts().0);
        let tail = self.tail as usize;
        // At most two runs of descriptors that do not wrap (the second
        // only when the batch wraps), walked with slice iterators: no index
        // masked or bounds-checked per packet.
        let head = n.min(size as usize - tail);
        let (mut bytes, mut foreign) = self.write_run(tail, &pkts[..head], home);
        if head < n {
            let (b, f) = self.write_run(0, &pkts[head..n], home);
            bytes += b;
            foreign += f;
        }
        self.foreign += foreign;
        // The ring owns the buffers now: the handles go without a free.
        Packet::forget_front(pkts, n);
        self.tail = (self.tail + n as u32) & (size - 1);
        self.counters.packets += n as u64;
        self.counters.bytes += bytes;
        // 7.2.2: TDT one past the last descriptor handed to the NIC.
        self.tail_reg.write(self.tail);
        n
    }

    /// Writes advanced data descriptors (7.2.3.2.4) for `run` from
    /// descriptor `at` on (the run must not wrap) and records the buffers;
    /// returns the bytes and how many buffers are not `home`'s.
    #[inline(always)]
    fn write_run(&mut self, at: usize, run: &[Packet<'a>], home: &Mempool) -> (u64, u32) {
        let descs = self.ring.run(at as u32, run.len() as u32);
        let pools = &mut self.pools[at..at + run.len()];
        let idxs = &mut self.idxs[at..at + run.len()];
        let (mut bytes, mut foreign) = (0, 0);
        let home_view = home.view();
        for (((d, pool_slot), idx_slot), p) in descs.iter().zip(pools).zip(idxs).zip(run) {
            let len = p.len() as u16;
            bytes += u64::from(len);
            let (pool, idx) = p.parts();
            let bus = if std::ptr::eq(pool, home) {
                home_view.bus_addr(idx)
            } else {
                foreign += 1;
                pool.bus_addr(idx)
            };
            d.tx_write(bus, desc::tx_data(len, p.timestamped()));
            *pool_slot = Some(pool);
            *idx_slot = idx;
        }
        (bytes, foreign)
    }

    /// Waits (bounded) for in-flight frames to go out, disables the queue
    /// and waits until the device confirms (4.6.8.1.2); only then do the
    /// ring and the buffers go back.
    pub fn detach(mut self) -> Result<()> {
        self.disable()
    }

    fn disable(&mut self) -> Result<()> {
        if !std::mem::replace(&mut self.attached, false) {
            return Ok(());
        }
        let r = self.dev.regs();
        let q = self.queue;
        // Let queued frames leave first; a dead link must not block us.
        let _ = self
            .dev
            .wait("the Tx ring to drain", Duration::from_millis(500), || {
                r.read(regs::tdh(q)) == r.read(regs::tdt(q))
            });
        disable(self.dev, q)?;
        let mask = self.idxs.len() as u32 - 1;
        while self.clean != self.tail {
            if let Some(pool) = self.pools[self.clean as usize] {
                pool.free_index(self.idxs[self.clean as usize]);
            }
            self.clean = (self.clean + 1) & mask;
        }
        log::debug!("{}: tx queue {q} detached", self.dev.name());
        Ok(())
    }
}

/// Disables Tx queue `q` and waits until the device confirms (4.6.8.1).
pub fn disable(dev: &Ixgbe, q: u32) -> Result<()> {
    dev.disable_queue(
        regs::txdctl(q),
        regs::TXDCTL_ENABLE,
        &format!("TXDCTL({q}) (4.6.8.1)"),
    )
}

impl Drop for IxgbeTx<'_> {
    fn drop(&mut self) {
        match self.disable() {
            Ok(()) => {}
            // A device that is gone does no DMA: the ring can go.
            Err(e) if e.kind() == ErrorKind::DeviceLost => log::debug!("{e}"),
            Err(e) => {
                log::error!("{e}; leaking the ring rather than freeing memory the NIC may read");
                self.ring.leak();
                self.clean = self.tail;
            }
        }
    }
}
