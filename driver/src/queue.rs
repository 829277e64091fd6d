//! The queues of a [`Device`], whatever its backend: [`RxQueue`] and
//! [`TxQueue`] are what workers and tools hold. Each call matches on the
//! backend once and then runs that backend's batch loop, inlined: the
//! choice costs one predictable branch per batch, never a call through a
//! pointer per packet (docs/DESIGN.md 3, "The device abstraction").

use crate::device::Device;
use crate::error::Result;
use crate::mempool::{Mempool, Packet};
use crate::rx::{IxgbeRx, RxCounters};
use crate::tx::{IxgbeTx, TxCounters};
use crate::virtio::{VirtioRx, VirtioTx};

/// An attached receive queue.
#[allow(
    clippy::large_enum_variant,
    reason = "the 82599's queue inline is the hot path; boxing it would add a load per call"
)]
pub enum RxQueue<'a> {
    /// An 82599 Rx queue.
    Ixgbe(IxgbeRx<'a>),
    /// The receive queue of a virtio-net queue pair, boxed: the enum then
    /// stays the size of the 82599's queue, which the poll loop walks
    /// (75.6 instead of 76.4 instructions per forwarded packet).
    Virtio(Box<VirtioRx<'a>>),
}

/// An attached transmit queue.
#[allow(
    clippy::large_enum_variant,
    reason = "the 82599's queue inline is the hot path; boxing it would add a load per call"
)]
pub enum TxQueue<'a> {
    /// An 82599 Tx queue.
    Ixgbe(IxgbeTx<'a>),
    /// The transmit queue of a virtio-net queue pair, boxed (see
    /// [`RxQueue::Virtio`]).
    Virtio(Box<VirtioTx<'a>>),
}

impl<'a> RxQueue<'a> {
    /// Attaches receive queue `queue` of `dev`, filled from `pool`.
    ///
    /// 82599: a ring of `size` descriptors (a power of two from 8 to
    /// 8192), `drop_en` sets SRRCTL.DROP_EN (a full ring drops this queue's
    /// frames instead of blocking the others, docs/DESIGN.md 5). virtio:
    /// the receive queue of queue pair `queue`, at the size the device's
    /// init chose (`size` and `drop_en` do not apply: a virtio queue
    /// without buffers drops its own frames).
    pub fn attach(
        dev: &'a Device,
        queue: u32,
        pool: &'a Mempool,
        size: u32,
        drop_en: bool,
    ) -> Result<Self> {
        match dev {
            Device::Ixgbe(d) => Ok(RxQueue::Ixgbe(IxgbeRx::attach(
                d, queue, pool, size, drop_en,
            )?)),
            Device::Virtio(d) => Ok(RxQueue::Virtio(Box::new(VirtioRx::attach(
                d,
                pair(dev, queue)?,
                pool,
            )?))),
        }
    }

    /// Receives up to `max` frames, appending them to `out`; returns how
    /// many.
    #[inline(always)]
    pub fn rx_batch(&mut self, out: &mut Vec<Packet<'a>>, max: usize) -> usize {
        match self {
            RxQueue::Ixgbe(q) => q.rx_batch(out, max),
            RxQueue::Virtio(q) => q.rx_batch(out, max),
        }
    }

    /// Whether a frame is waiting: the check of an empty poll.
    #[inline(always)]
    pub fn ready(&self) -> bool {
        match self {
            RxQueue::Ixgbe(q) => q.ready(),
            RxQueue::Virtio(q) => q.ready(),
        }
    }

    /// The queue number (virtio: the queue pair).
    pub fn queue(&self) -> u32 {
        match self {
            RxQueue::Ixgbe(q) => q.queue(),
            RxQueue::Virtio(q) => u32::from(q.pair()),
        }
    }

    /// What this queue received so far.
    pub fn counters(&self) -> RxCounters {
        match self {
            RxQueue::Ixgbe(q) => q.counters(),
            RxQueue::Virtio(q) => q.counters(),
        }
    }

    /// Lets the queue go: the 82599 disables it and waits until the device
    /// stopped using it, then frees the ring; virtio leaves its buffers
    /// with the device until a reset (docs/DESIGN.md 4).
    pub fn detach(self) -> Result<()> {
        match self {
            RxQueue::Ixgbe(q) => q.detach(),
            RxQueue::Virtio(q) => (*q).detach(),
        }
    }
}

impl<'a> TxQueue<'a> {
    /// Attaches transmit queue `queue` of `dev`. 82599: a ring of `size`
    /// descriptors (a power of two from 8 to 8192). virtio: the transmit
    /// queue of queue pair `queue`, at the size the device's init chose.
    pub fn attach(dev: &'a Device, queue: u32, size: u32) -> Result<Self> {
        match dev {
            Device::Ixgbe(d) => Ok(TxQueue::Ixgbe(IxgbeTx::attach(d, queue, size)?)),
            Device::Virtio(d) => Ok(TxQueue::Virtio(Box::new(VirtioTx::attach(
                d,
                pair(dev, queue)?,
            )?))),
        }
    }

    /// Sends packets from the front of `pkts` while the ring has room,
    /// removes those it sent and returns how many.
    #[inline(always)]
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet<'a>>) -> usize {
        match self {
            TxQueue::Ixgbe(q) => q.tx_batch(pkts),
            TxQueue::Virtio(q) => q.tx_batch(pkts),
        }
    }

    /// Gives back the buffers the device has sent; returns how many.
    pub fn clean(&mut self) -> u32 {
        match self {
            TxQueue::Ixgbe(q) => q.clean(),
            TxQueue::Virtio(q) => q.clean(),
        }
    }

    /// The queue number (virtio: the queue pair).
    pub fn queue(&self) -> u32 {
        match self {
            TxQueue::Ixgbe(q) => q.queue(),
            TxQueue::Virtio(q) => u32::from(q.pair()),
        }
    }

    /// What this queue sent so far.
    pub fn counters(&self) -> TxCounters {
        match self {
            TxQueue::Ixgbe(q) => q.counters(),
            TxQueue::Virtio(q) => q.counters(),
        }
    }

    /// Lets the queue go (see [`RxQueue::detach`]).
    pub fn detach(self) -> Result<()> {
        match self {
            TxQueue::Ixgbe(q) => q.detach(),
            TxQueue::Virtio(q) => (*q).detach(),
        }
    }
}

/// Queue `queue` as a virtio queue pair number.
fn pair(dev: &Device, queue: u32) -> Result<u16> {
    u16::try_from(queue).map_err(|_| {
        crate::Error::new(
            crate::ErrorKind::InvalidInput,
            dev.name(),
            format!("queue pair {queue} does not exist"),
        )
    })
}
