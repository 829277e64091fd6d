//! The transmit path of a port: descriptor fetch (legacy 7.2.3.2.2 and
//! advanced 7.2.3.2.3-4), data DMA, DD write-back on RS, TDH advance,
//! statistics, 1588 Tx timestamps and 10 Gbit/s pacing onto the cable.

use crate::frame;
use crate::iommu::Translator;
use crate::port::{ring_add, Port, TxRingState};
use crate::wire::{wire_time_ps, WireFrame};
use driver::regs;
use driver::simfmt::bar::SimCounter;
use std::collections::VecDeque;

/// Frames sent per port and pass of the polling loop.
const TX_BUDGET: usize = 128;
/// Frames one queue sends in a turn of the round robin: its tail and
/// registers are read once per turn, not once per frame.
pub(crate) const TX_BURST: usize = 32;
/// Largest frame the model assembles from descriptors (no TSO).
const MAX_TX_FRAME: usize = 16 * 1024;
/// Minimum frame without FCS, reached by padding when HLREG0.TXPADEN is set.
const MIN_PADDED: usize = 60;

/// Where a pass of the transmit path sends its frames.
pub struct TxContext<'a> {
    /// Lab time of this pass.
    pub now_ps: u64,
    /// Pace frames at 10 Gbit/s (false: as fast as the model runs).
    pub line_rate: bool,
    /// Propagation delay of the cable.
    pub cable_delay_ps: u64,
    /// DMA translations.
    pub iommu: &'a mut Translator,
    /// Recycled frame buffers.
    pub free: &'a mut Vec<Vec<u8>>,
    /// Frames in flight to the peer port, `None` without a cable.
    pub wire: Option<&'a mut VecDeque<WireFrame>>,
}

/// Outcome of one attempt to send a frame from a queue.
enum Tx {
    /// Nothing (complete) to send.
    Idle,
    /// A frame went out, or was consumed and dropped.
    Sent,
}

/// A queue's registers as one turn of the transmit path reads them.
struct Turn {
    /// TDT.
    tail: u32,
    /// TXDCTL.WTHRESH.
    wthresh: u32,
    /// The statistics index TQSM maps the queue to.
    stat_idx: u32,
    /// HLREG0 (TXCRCEN, TXPADEN).
    hlreg0: u32,
}

/// What the descriptors of one frame said.
struct FrameDesc {
    /// Descriptors used, context descriptors included.
    count: u32,
    timestamp: bool,
    ifcs: bool,
    malformed: Option<&'static str>,
}

impl Port {
    /// Sends up to a budget of frames from the enabled Tx queues, round
    /// robin, while the wire is free. Returns the number of frames handled.
    pub fn transmit(&mut self, cx: &mut TxContext) -> usize {
        if !self.operational() {
            return 0;
        }
        if self.tx_holding {
            self.flush_held(cx.iommu);
        }
        if self.regs.read(regs::DMATXCTL) & regs::DMATXCTL_TE == 0 {
            return 0;
        }
        // With the link down the MAC sends nothing and the Tx DMA fetches
        // nothing: descriptors stay pending (no DD, TDH still) until the
        // link returns or the queue is disabled (Linux flushes its Tx rings
        // in the watchdog for this reason).
        if !self.link_up {
            return 0;
        }
        let n = self.tx_enabled.len();
        let (mut sent, mut idle) = (0, 0);
        while sent < TX_BUDGET && idle < n {
            if cx.line_rate && self.wire_free_ps > cx.now_ps {
                break;
            }
            let q = self.tx_enabled[self.tx_next % n];
            self.tx_next = self.tx_next.wrapping_add(1);
            match self.transmit_turn(q, cx, (TX_BUDGET - sent).min(TX_BURST)) {
                0 => idle += 1,
                done => {
                    sent += done;
                    idle = 0;
                }
            }
        }
        sent
    }

    /// One turn of queue `q`: up to `budget` frames, while the wire is
    /// free. Returns the frames handled.
    fn transmit_turn(&mut self, q: u32, cx: &mut TxContext, budget: usize) -> usize {
        let Some(tail) = self.observe_tail(q, cx.now_ps) else {
            return 0;
        };
        let turn = Turn {
            tail,
            wthresh: (self.regs.read(regs::txdctl(q)) & regs::TXDCTL_WTHRESH_MASK)
                >> regs::TXDCTL_WTHRESH_SHIFT,
            stat_idx: self.stat_index(regs::tqsm(q / 4), q),
            hlreg0: self.regs.read(regs::HLREG0),
        };
        let mut done = 0;
        while done < budget {
            if turn.wthresh == 0 {
                let run = self.transmit_run(q, &turn, cx, budget - done, done > 0);
                done += run;
                if run > 0 {
                    continue;
                }
            }
            if done > 0 && cx.line_rate && self.wire_free_ps > cx.now_ps {
                break;
            }
            match self.transmit_one(q, &turn, cx) {
                Tx::Sent => done += 1,
                Tx::Idle => break,
            }
        }
        done
    }

    /// Writes back the held descriptors of queues that are disabled or
    /// whose TXDCTL.SWFLSH is set, and clears SWFLSH (8.2.3.9.10). Silicon
    /// also flushes them when the queue's interrupt throttle timer expires;
    /// the model has no interrupt timers, so with EITR as if 0 they wait, as
    /// Linux's ixgbe warns ("could cause false Tx hangs").
    fn flush_held(&mut self, iommu: &mut Translator) {
        let mut holding = false;
        for q in 0..regs::NUM_QUEUES {
            let ring = &mut self.txq[q as usize];
            if ring.held.is_empty() {
                continue;
            }
            let txdctl = self.regs.read(regs::txdctl(q));
            if !ring.enabled || txdctl & regs::TXDCTL_SWFLSH != 0 {
                write_back_held(ring, iommu);
                self.regs.clear_bits(regs::txdctl(q), regs::TXDCTL_SWFLSH);
            } else {
                holding = true;
            }
        }
        self.tx_holding = holding;
    }

    /// Notes a new TDT and returns it when the queue has work.
    fn observe_tail(&mut self, q: u32, now_ps: u64) -> Option<u32> {
        let tail = self.regs.read(regs::tdt(q));
        let ring = &mut self.txq[q as usize];
        if tail >= ring.size {
            self.warn_once("tdt", || {
                format!("tx queue {q}: TDT {tail} beyond the ring; queue stalls")
            });
            return None;
        }
        if tail != ring.seen_tail {
            ring.seen_total += u64::from(ring_add(tail, ring.size - ring.seen_tail, ring.size));
            ring.seen_tail = tail;
            if ring.seen_at.len() >= ring.size as usize {
                ring.seen_at.pop_front();
            }
            ring.seen_at.push_back((ring.seen_total, now_ps));
        }
        (ring.head != tail && ring.faulted_tail != Some(tail)).then_some(tail)
    }

    fn transmit_one(&mut self, q: u32, turn: &Turn, cx: &mut TxContext) -> Tx {
        let tail = turn.tail;
        let ring = &self.txq[q as usize];
        if ring.head == tail || ring.faulted_tail == Some(tail) {
            return Tx::Idle;
        }
        let mut data = cx.free.pop().unwrap_or_default();
        data.clear();
        let (ring, fetched) = (&mut self.txq[q as usize], &mut self.tx_fetched);
        fetched.clear();
        let desc = match fetch_frame(ring, tail, cx.iommu, &mut data, fetched) {
            Ok(Some(d)) => d,
            Ok(None) => {
                cx.free.push(data);
                return Tx::Idle;
            }
            Err(()) => {
                cx.free.push(data);
                self.tx_fault(q, tail);
                return Tx::Sent;
            }
        };
        // Complete the descriptors: DD on those with RS, then TDH. With
        // TXDCTL.WTHRESH > 0 the write-backs are held from the first RS
        // descriptor on and written in a burst once WTHRESH are held, every
        // held descriptor then getting DD (7.2.3.5.1).
        let wthresh = turn.wthresh;
        for &(iova, d) in fetched.iter() {
            let rs = d[1] as u32 & regs::TXD_CMD_RS != 0;
            if wthresh == 0 {
                if rs {
                    write_back(cx.iommu, iova, d);
                }
            } else if rs || !ring.held.is_empty() {
                ring.held.push((iova, d));
            }
        }
        let ring = &mut self.txq[q as usize];
        let idx = ring_add(ring.head, desc.count, ring.size);
        if wthresh > 0 && !ring.held.is_empty() {
            if ring.held.len() >= wthresh as usize {
                write_back_held(ring, cx.iommu);
            } else {
                self.tx_holding = true;
            }
        }
        let ring = &mut self.txq[q as usize];
        ring.head = idx;
        ring.done_total += u64::from(desc.count);
        let ready_ps = ready_ps(ring, cx);
        self.tx_dirty |= 1 << q;
        if let Some(why) = desc.malformed {
            self.warn_once(why, || {
                format!("tx queue {q}: {why}; frame dropped, descriptors completed")
            });
            self.count_sim(SimCounter::TxMalformed);
            cx.free.push(data);
            return Tx::Sent;
        }
        self.send(turn, data, &desc, ready_ps, cx);
        Tx::Sent
    }

    /// The common case of a turn, a run at a time: frames of one data
    /// descriptor each ([`single_descriptor`]) with WTHRESH 0, without the
    /// general path's bookkeeping for frames of several descriptors and
    /// held write-backs. The run's write-backs go out together at its end
    /// (at most [`TX_BURST`] frames later), in ring order: a driver
    /// polling DD flat out then takes each descriptor line from the model
    /// once, not once per descriptor (4 share a line), as the 82599's
    /// write-backs of whole lines do. Stops at the first other
    /// descriptor and at an IOMMU fault, leaving it to
    /// [`Port::transmit_one`], which handles (and reports) every case;
    /// stops, as the turn does, when paced frames fill the wire (after
    /// the first frame of the turn: `started`). Returns the frames sent.
    fn transmit_run(
        &mut self,
        q: u32,
        turn: &Turn,
        cx: &mut TxContext,
        budget: usize,
        started: bool,
    ) -> usize {
        if self.txq[q as usize].faulted_tail == Some(turn.tail) {
            return 0;
        }
        let mut n = 0;
        let mut held = 0;
        while n < budget.min(TX_BURST) {
            if (started || n > 0) && cx.line_rate && self.wire_free_ps > cx.now_ps {
                break;
            }
            let ring = &mut self.txq[q as usize];
            if ring.head == turn.tail {
                break;
            }
            let iova = ring.base + u64::from(ring.head) * 16;
            let Some(d) = cx.iommu.read_desc_in(iova, &mut ring.hints.desc) else {
                break;
            };
            let Some((len, desc)) = single_descriptor(d) else {
                break;
            };
            let mut data = cx.free.pop().unwrap_or_default();
            data.clear();
            if !cx
                .iommu
                .read_append_in(d[0], len, &mut data, &mut ring.hints.data)
            {
                cx.free.push(data);
                break;
            }
            if d[1] as u32 & regs::TXD_CMD_RS != 0 {
                self.tx_run_write_backs[held] = (iova, done_desc(d));
                held += 1;
            }
            ring.head = ring_add(ring.head, 1, ring.size);
            ring.done_total += 1;
            let ready_ps = ready_ps(ring, cx);
            self.send(turn, data, &desc, ready_ps, cx);
            n += 1;
        }
        let hint = &mut self.txq[q as usize].hints.desc;
        for &(iova, wb) in &self.tx_run_write_backs[..held] {
            // Read from this address in this run: only an unmap since
            // then gets here.
            if !cx.iommu.write_desc_in(iova, wb, hint) {
                self.regs.count_sim(SimCounter::IommuFaults, 1);
            }
        }
        if n > 0 {
            self.tx_dirty |= 1 << q;
        }
        n
    }

    fn tx_fault(&mut self, q: u32, tail: u32) {
        let ring = &mut self.txq[q as usize];
        ring.faulted_tail = Some(tail);
        let first = !std::mem::replace(&mut ring.fault_logged, true);
        let base = ring.base;
        self.count_sim(SimCounter::IommuFaults);
        if first {
            log::warn!(
                "sim port {}: IOMMU fault on tx queue {q} (ring at {base:#x}): DMA from an unmapped address; queue waits for a new tail",
                self.index
            );
        }
    }

    /// Puts a frame on the wire: CRC, padding, pacing, counters, timestamp.
    /// Inlined into its two callers: called, it costs 35 instructions per
    /// frame more (callgrind on `model_profile`).
    #[inline(always)]
    fn send(
        &mut self,
        turn: &Turn,
        mut data: Vec<u8>,
        desc: &FrameDesc,
        ready_ps: u64,
        cx: &mut TxContext,
    ) {
        // The MAC appends the FCS when the descriptor asks (IFCS) and
        // HLREG0.TXCRCEN allows it; otherwise the last four bytes of the
        // buffer are the FCS (7.2.3.2.4, 8.2.3.22.8).
        let append = desc.ifcs && turn.hlreg0 & regs::HLREG0_TXCRCEN != 0;
        let fcs_ok = append || {
            let split = data.len().saturating_sub(4);
            let ok = data.len() >= 4 && frame::fcs_ok(&data);
            data.truncate(split);
            ok
        };
        if data.len() < MIN_PADDED && turn.hlreg0 & regs::HLREG0_TXPADEN != 0 {
            data.resize(MIN_PADDED, 0);
        }
        let len = data.len();
        let departure = if cx.line_rate {
            self.wire_free_ps.max(ready_ps)
        } else {
            cx.now_ps
        };
        let wire_ps = wire_time_ps(len);
        self.wire_free_ps = departure + wire_ps;
        if desc.timestamp {
            self.latch_tx_timestamp(departure);
        }
        let Some(wire) = cx.wire.as_deref_mut().filter(|_| self.link_up) else {
            self.count_sim(SimCounter::TxLinkDown);
            cx.free.push(data);
            return;
        };
        if data.first().is_some_and(|b| b & 1 != 0) {
            self.stats.tx_group(data.get(..6) == Some(&[0xFF; 6]));
        }
        self.stats.tx_frame(turn.stat_idx, len);
        let rx_sfd_ps = departure + cx.cable_delay_ps;
        let arrival_ps = if cx.line_rate {
            rx_sfd_ps + wire_ps
        } else {
            cx.now_ps
        };
        wire.push_back(WireFrame {
            data,
            fcs_ok,
            rx_sfd_ps,
            arrival_ps,
        });
    }

    /// Latches TXSTMPL/H unless the previous timestamp is unread (7.9.2.2).
    fn latch_tx_timestamp(&mut self, departure_ps: u64) {
        let ctl = self.regs.read(regs::TSYNCTXCTL);
        if ctl & regs::TSYNCTXCTL_ENABLED == 0 || ctl & regs::TSYNCTXCTL_VALID != 0 {
            return;
        }
        let t = self.clock.value_at(departure_ps);
        self.regs.write(regs::TXSTMPL, t as u32);
        self.regs.write(regs::TXSTMPH, (t >> 32) as u32);
        self.regs.set_bits(regs::TSYNCTXCTL, regs::TSYNCTXCTL_VALID);
    }
}

/// When the frame just completed on `ring` became available (its TDT
/// write), for pacing; now when unpaced (the record then only needs to
/// stay bounded, which `observe_tail` sees to).
#[inline]
fn ready_ps(ring: &mut TxRingState, cx: &TxContext) -> u64 {
    if !cx.line_rate {
        return cx.now_ps;
    }
    while ring
        .seen_at
        .front()
        .is_some_and(|&(total, _)| total < ring.done_total)
    {
        ring.seen_at.pop_front();
    }
    ring.seen_at
        .front()
        .map_or(cx.now_ps, |&(_, t)| t.min(cx.now_ps))
}

/// Writes a processed Tx descriptor back ([`done_desc`]).
fn write_back(iommu: &mut Translator, iova: u64, d: [u64; 2]) {
    iommu.write_desc(iova, done_desc(d));
}

/// A Tx descriptor as written back: as fetched, DD set in the status
/// (bit 0 of the upper dword, 7.2.3.2.4).
#[inline]
fn done_desc(d: [u64; 2]) -> [u64; 2] {
    [d[0], d[1] | (u64::from(regs::TXD_STAT_DD) << 32)]
}

/// Writes back every descriptor a queue holds (TXDCTL.WTHRESH > 0).
fn write_back_held(ring: &mut TxRingState, iommu: &mut Translator) {
    ring.held
        .drain(..)
        .for_each(|(iova, d)| write_back(iommu, iova, d));
}

/// The frame a descriptor makes on its own, when it is the common one:
/// a data descriptor (legacy, or advanced with DTYP data) with EOP, a
/// length above 0 and within [`MAX_TX_FRAME`], and (advanced) a PAYLEN
/// equal to that length. Its length and what it asks; `None` for any
/// other descriptor, which [`fetch_frame`]'s general loop handles.
#[inline]
fn single_descriptor(d: [u64; 2]) -> Option<(usize, FrameDesc)> {
    let cmd = d[1] as u32;
    let len = (cmd & regs::ADVTXD_DTALEN_MASK) as usize;
    if cmd & regs::TXD_CMD_EOP == 0 || len == 0 || len > MAX_TX_FRAME {
        return None;
    }
    let dext = cmd & regs::TXD_CMD_DEXT != 0;
    if dext
        && (cmd & regs::ADVTXD_DTYP_MASK != regs::ADVTXD_DTYP_DATA
            || ((d[1] >> 32) as u32 >> regs::ADVTXD_PAYLEN_SHIFT) as usize != len)
    {
        return None;
    }
    Some((
        len,
        FrameDesc {
            count: 1,
            timestamp: dext && cmd & regs::ADVTXD_MAC_TSTAMP != 0,
            ifcs: cmd & regs::TXD_CMD_IFCS != 0,
            malformed: None,
        },
    ))
}

/// Reads the descriptors of the frame at the head of `ring` (each
/// with its IOVA into `fetched`) and DMAs its data into `data`.
/// `Ok(None)`: no complete frame before `tail`. `Err`: IOMMU fault.
#[inline]
fn fetch_frame(
    ring: &TxRingState,
    tail: u32,
    iommu: &mut Translator,
    data: &mut Vec<u8>,
    fetched: &mut Vec<(u64, [u64; 2])>,
) -> Result<Option<FrameDesc>, ()> {
    let (base, size) = (ring.base, ring.size);
    let mut idx = ring.head;
    if idx == tail {
        return Ok(None);
    }
    let iova = base + u64::from(idx) * 16;
    let d = iommu.read_desc(iova).ok_or(())?;
    if let Some((len, fd)) = single_descriptor(d) {
        if !iommu.read_append(d[0], len, data) {
            return Err(());
        }
        fetched.push((iova, d));
        return Ok(Some(fd));
    }
    let mut fd = FrameDesc {
        count: 0,
        timestamp: false,
        ifcs: false,
        malformed: None,
    };
    let mut paylen = None;
    loop {
        if idx == tail {
            return Ok(None);
        }
        let iova = base + u64::from(idx) * 16;
        let d = iommu.read_desc(iova).ok_or(())?;
        fetched.push((iova, d));
        fd.count += 1;
        idx = ring_add(idx, 1, size);
        let cmd = d[1] as u32;
        let olinfo = (d[1] >> 32) as u32;
        let dext = cmd & regs::TXD_CMD_DEXT != 0;
        if dext && cmd & regs::ADVTXD_DTYP_MASK == regs::ADVTXD_DTYP_CTXT {
            continue; // offload context: nothing to send (7.2.3.2.3)
        }
        if dext && cmd & regs::ADVTXD_DTYP_MASK != regs::ADVTXD_DTYP_DATA {
            fd.malformed
                .get_or_insert("advanced descriptor with an unknown DTYP");
        }
        let len = (cmd & regs::ADVTXD_DTALEN_MASK) as usize;
        if len == 0 {
            fd.malformed.get_or_insert("data descriptor of length 0");
        } else if data.len() + len > MAX_TX_FRAME {
            fd.malformed
                .get_or_insert("frame longer than 16 KiB without TSO");
        } else if fd.malformed.is_none() && !iommu.read_append(d[0], len, data) {
            return Err(());
        }
        if dext && paylen.is_none() {
            paylen = Some(olinfo >> regs::ADVTXD_PAYLEN_SHIFT);
            fd.timestamp = cmd & regs::ADVTXD_MAC_TSTAMP != 0;
        }
        fd.ifcs |= cmd & regs::TXD_CMD_IFCS != 0;
        if cmd & regs::TXD_CMD_EOP != 0 {
            break;
        }
        if fd.count >= size {
            fd.malformed.get_or_insert("no EOP in the whole ring");
            break;
        }
    }
    if paylen.is_some_and(|p| p as usize != data.len()) && fd.malformed.is_none() {
        fd.malformed = Some("PAYLEN differs from the sum of the data lengths (7.2.3.2.4)");
    }
    Ok(Some(fd))
}
