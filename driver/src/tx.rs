//! A transmit queue: per-queue attach (82599 datasheet 4.6.8.1), batched
//! transmit with advanced data descriptors (7.2.3.2.4) and ixy's batched
//! cleaning, and a clean detach (4.6.8.1.2).

use crate::device::Device;
use crate::error::{Error, ErrorKind, Result};
use crate::memory::DmaRegion;
use crate::mempool::{Mempool, Packet};
use crate::regs;
use std::sync::atomic::Ordering;
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
pub struct TxQueue<'a> {
    dev: &'a Device,
    queue: u32,
    ring: Option<DmaRegion>,
    size: u32,
    /// The buffer each in-flight descriptor carries.
    bufs: Vec<Option<(&'a Mempool, u32)>>,
    tail: u32,
    clean: u32,
    counters: TxCounters,
    attached: bool,
}

impl<'a> TxQueue<'a> {
    /// Attaches Tx queue `queue` of `dev` with a ring of `size` descriptors
    /// (a power of two from 8 to 8192), 4.6.8.1.
    pub fn attach(dev: &'a Device, queue: u32, size: u32) -> Result<Self> {
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
        let ring = dev
            .dma()
            .alloc(&format!("txring{queue}"), size as usize * 16)?;
        let base = ring.bus_addr(0);
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
        Ok(TxQueue {
            dev,
            queue,
            ring: Some(ring),
            size,
            bufs: (0..size).map(|_| None).collect(),
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

    /// Returns the buffers of completed descriptors to their pools, a batch
    /// of [`CLEAN_BATCH`] at a time; returns the free descriptors.
    pub fn clean(&mut self) -> u32 {
        let mask = self.size - 1;
        if let Some(ring) = self.ring.as_ref() {
            let mem = ring.mem();
            loop {
                let in_flight = (self.tail.wrapping_sub(self.clean)) & mask;
                if in_flight == 0 {
                    break;
                }
                let step = in_flight.min(CLEAN_BATCH);
                let last = (self.clean + step - 1) & mask;
                let status =
                    (mem.u64_at(last as usize * 16 + 8).load(Ordering::Acquire) >> 32) as u32;
                if status & regs::TXD_STAT_DD == 0 {
                    break;
                }
                for k in 0..step {
                    if let Some((pool, idx)) = self.bufs[((self.clean + k) & mask) as usize].take()
                    {
                        pool.free_index(idx);
                    }
                }
                self.clean = (self.clean + step) & mask;
            }
        }
        (self.clean.wrapping_sub(self.tail).wrapping_sub(1)) & mask
    }

    /// Sends as many packets from the front of `pkts` as the ring takes,
    /// removing them from `pkts`; returns how many. The unsent ones stay
    /// (the caller retries or drops them). One TDT write per call.
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet<'a>>) -> usize {
        let free = self.clean() as usize;
        let n = free.min(pkts.len());
        if n == 0 {
            return 0;
        }
        let mask = self.size - 1;
        let Some(ring) = self.ring.as_ref() else {
            return 0;
        };
        let mem = ring.mem();
        for p in pkts.drain(..n) {
            let len = p.len() as u32;
            let mut cmd = len
                | regs::TXD_CMD_EOP
                | regs::TXD_CMD_IFCS
                | regs::TXD_CMD_RS
                | regs::TXD_CMD_DEXT
                | regs::ADVTXD_DTYP_DATA;
            if p.timestamped() {
                cmd |= regs::ADVTXD_MAC_TSTAMP;
            }
            let olinfo = len << regs::ADVTXD_PAYLEN_SHIFT;
            self.counters.packets += 1;
            self.counters.bytes += u64::from(len);
            let (pool, idx) = p.into_raw();
            let d = self.tail as usize * 16;
            mem.u64_at(d).store(pool.bus_addr(idx), Ordering::Relaxed);
            mem.u64_at(d + 8)
                .store(u64::from(cmd) | u64::from(olinfo) << 32, Ordering::Relaxed);
            self.bufs[self.tail as usize] = Some((pool, idx));
            self.tail = (self.tail + 1) & mask;
        }
        self.dev.regs().write_tail(regs::tdt(self.queue), self.tail);
        n
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
        for (pool, idx) in self.bufs.iter_mut().filter_map(Option::take) {
            pool.free_index(idx);
        }
        log::debug!("{}: tx queue {q} detached", self.dev.name());
        Ok(())
    }
}

/// Disables Tx queue `q` and waits until the device confirms (4.6.8.1).
pub fn disable(dev: &Device, q: u32) -> Result<()> {
    dev.disable_queue(
        regs::txdctl(q),
        regs::TXDCTL_ENABLE,
        &format!("TXDCTL({q}) (4.6.8.1)"),
    )
}

impl Drop for TxQueue<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.disable() {
            log::error!("{e}; leaking the ring rather than freeing memory the NIC may read");
            std::mem::forget(self.ring.take());
            self.bufs.iter_mut().for_each(|b| *b = None);
        }
    }
}
