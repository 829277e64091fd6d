//! A cable whose two ports run on different model threads (`--threads`
//! beyond the number of cables, `shard::groups`), so that one cable can
//! carry line rate both ways with a thread per direction's sender.
//!
//! Each direction is a [`CrossWire`]: the sending thread hands the frames
//! it sent in a pass over in one lock, the receiving thread takes them in
//! one lock per pass, and both keep their own wire deque in between, so
//! that the per-frame work touches nothing the other thread writes. The
//! receiver hands frame buffers back the same way, so that neither thread
//! allocates in the steady state. The link state of the far port is read
//! from [`LinkFlags`].

use crate::wire::WireFrame;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Frame buffers a receiving thread keeps before it hands the rest back.
const KEEP_FREE: usize = 1024;

/// One direction of a split cable.
#[derive(Debug, Default)]
pub(crate) struct CrossWire {
    /// Frames sent and not yet taken by the receiving thread.
    frames: Mutex<VecDeque<WireFrame>>,
    /// Frames sent and not yet settled by the receiver: received (stored,
    /// or dropped and counted) and moved into host memory as far as its
    /// descriptors allowed. `sync` waits for 0 (`sim/README.md` 1.3).
    in_flight: AtomicU64,
    /// Frame buffers the receiver handed back to the sender.
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Takes a lock whose holder cannot have panicked halfway through: every
/// critical section here is a move between two containers.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A port's end of a split cable.
#[derive(Debug)]
pub(crate) struct SplitEnd {
    /// Lab index of the port at the other end.
    pub peer: usize,
    /// Towards the peer.
    out: Arc<CrossWire>,
    /// From the peer.
    inbound: Arc<CrossWire>,
    /// Frames this port sent in the current pass, handed over at its end.
    pub outbox: VecDeque<WireFrame>,
    /// Frames taken from `inbound` and not yet settled.
    taken: u64,
}

impl SplitEnd {
    /// The two ends of a cable between ports `a` and `b`.
    pub fn pair(a: usize, b: usize) -> (SplitEnd, SplitEnd) {
        let (ab, ba) = (
            Arc::new(CrossWire::default()),
            Arc::new(CrossWire::default()),
        );
        let end = |peer, out: &Arc<CrossWire>, inbound: &Arc<CrossWire>| SplitEnd {
            peer,
            out: Arc::clone(out),
            inbound: Arc::clone(inbound),
            outbox: VecDeque::new(),
            taken: 0,
        };
        (end(b, &ab, &ba), end(a, &ba, &ab))
    }

    /// Hands the frames sent this pass to the peer's thread; takes back
    /// the buffers the peer returned when `free` has run dry.
    pub fn hand_over(&mut self, free: &mut Vec<Vec<u8>>) {
        if !self.outbox.is_empty() {
            let n = self.outbox.len() as u64;
            // Counted before the frames can be seen: the peer settles
            // only what it took.
            self.out.in_flight.fetch_add(n, Ordering::AcqRel);
            lock(&self.out.frames).append(&mut self.outbox);
        }
        if free.is_empty() {
            free.append(&mut lock(&self.out.spare));
        }
    }

    /// Moves the frames the peer sent onto this port's own wire. Takes
    /// the lock only when there are some: everything in flight and not
    /// taken by this end is queued (the sender counts before it queues).
    pub fn take(&mut self, wire: &mut VecDeque<WireFrame>) {
        if self.inbound.in_flight.load(Ordering::Acquire) == self.taken {
            return;
        }
        let mut inbound = lock(&self.inbound.frames);
        self.taken += inbound.len() as u64;
        wire.append(&mut inbound);
    }

    /// Settles the frames taken so far once none of them waits any more
    /// (`settled`: the port's wire is empty and its packet buffer drained
    /// or blocked), and hands surplus buffers back to the peer.
    pub fn settle(&mut self, settled: bool, free: &mut Vec<Vec<u8>>) {
        if settled && self.taken > 0 {
            self.inbound
                .in_flight
                .fetch_sub(std::mem::take(&mut self.taken), Ordering::AcqRel);
        }
        if free.len() > 2 * KEEP_FREE {
            let surplus = free.split_off(KEEP_FREE);
            lock(&self.inbound.spare).extend(surplus);
        }
    }

    /// No frame of this cable in flight either way, as far as this end
    /// can tell.
    pub fn quiet(&self) -> bool {
        self.outbox.is_empty()
            && self.out.in_flight.load(Ordering::Acquire) == 0
            && self.inbound.in_flight.load(Ordering::Acquire) == 0
    }
}

/// Per port of the lab: whether it would bring a link up (its
/// auto-negotiation done and no `link P down`), for the thread that runs
/// the other end of its cable. Written only when it changes.
#[derive(Debug)]
pub(crate) struct LinkFlags(Vec<AtomicBool>);

impl LinkFlags {
    /// Flags for `ports` ports, all down.
    pub fn new(ports: usize) -> Arc<LinkFlags> {
        Arc::new(LinkFlags(
            (0..ports).map(|_| AtomicBool::new(false)).collect(),
        ))
    }

    /// Publishes port `p`'s side.
    pub fn set(&self, p: usize, ready: bool) {
        if self.0[p].load(Ordering::Relaxed) != ready {
            self.0[p].store(ready, Ordering::Release);
        }
    }

    /// Port `p`'s side as last published.
    pub fn get(&self, p: usize) -> bool {
        self.0[p].load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> WireFrame {
        WireFrame {
            data: vec![n; 60],
            fcs_ok: true,
            rx_sfd_ps: 0,
            arrival_ps: 0,
        }
    }

    #[test]
    fn frames_cross_in_order_and_stay_in_flight_until_settled() {
        let (mut a, mut b) = SplitEnd::pair(0, 1);
        let mut free = Vec::new();
        a.outbox.extend((0..3).map(frame));
        assert!(!a.quiet(), "unsent frames");
        a.hand_over(&mut free);
        assert!(!a.quiet() && !b.quiet(), "in flight");
        let mut wire = VecDeque::new();
        b.take(&mut wire);
        let got: Vec<u8> = wire.iter().map(|f| f.data[0]).collect();
        assert_eq!(got, [0, 1, 2]);
        b.settle(false, &mut free);
        assert!(!a.quiet(), "taken but not settled");
        b.settle(true, &mut free);
        assert!(a.quiet() && b.quiet());
    }

    #[test]
    fn surplus_buffers_go_back_to_the_sender() {
        let (mut a, mut b) = SplitEnd::pair(0, 1);
        let mut at_b: Vec<Vec<u8>> = (0..3 * KEEP_FREE).map(|_| vec![0; 60]).collect();
        b.settle(true, &mut at_b);
        assert_eq!(at_b.len(), KEEP_FREE);
        let mut at_a = Vec::new();
        a.hand_over(&mut at_a);
        assert_eq!(at_a.len(), 2 * KEEP_FREE, "taken back when dry");
    }
}
