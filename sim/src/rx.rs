//! The receive path of a port: MAC checks, L2 filtering, statistics, RSS,
//! 1588 timestamps and the shared Rx packet buffer (82599 datasheet 7.1),
//! then DMA into the queues' descriptor rings with write-back (7.1.6).

use crate::control::WriteBackFault;
use crate::frame::{self, Parsed};
use crate::iommu::Translator;
use crate::port::{ring_add, Port};
use crate::wire::WireFrame;
use driver::desc::RxWriteBack;
use driver::regs;
use driver::simfmt::bar::SimCounter;
use std::collections::VecDeque;

/// Frames received into the packet buffer before they are moved on into
/// host memory while more arrive.
const RX_DMA_BURST: usize = 32;
/// Queues whose registers one delivery keeps at once (direct-mapped by
/// queue number).
const TURN_CACHE: usize = 16;
/// Frames moved from the packet buffer to host memory per port and pass.
const RX_BUDGET: usize = 64;
/// Legacy Rx write-back status bits (7.1.5.1): DD and EOP.
const LEGACY_STAT_DD: u64 = 0x01;
const LEGACY_STAT_EOP: u64 = 0x02;

/// The receive registers as a pass reads them, once, before its first
/// frame: every write a driver made before its last TDT write applies to
/// the frames that TDT sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct RxConfig {
    /// HLREG0 (JUMBOEN, RXLNGTHERREN, RXCRCSTRP).
    hlreg0: u32,
    /// Longest frame accepted, FCS included (MAXFRS with JUMBOEN).
    max_len: u32,
    /// RXCTRL.RXEN.
    rxen: bool,
    /// FCTRL.
    fctrl: u32,
    /// Packet buffer 0's size in bytes (RXPBSIZE\[0\]).
    capacity: usize,
    /// RDRXCTL.CRCSTRIP.
    rdrxctl_strip: bool,
    /// The unicast addresses of RAL/RAH entries with AV set, as (RAL,
    /// RAH & 0xFFFF), valid ones first; `unicast_count` of them.
    unicast: [(u32, u32); 16],
    unicast_count: usize,
}

/// Write-back faults still to inject on a port (`corrupt` control command,
/// `sim/README.md` 5.15): the next `remaining` frames delivered into host
/// memory get `kind`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Corruption {
    kind: Option<WriteBackFault>,
    remaining: u64,
}

impl Corruption {
    /// The next `count` frames delivered get `kind` (replacing what was
    /// pending; 0 cancels).
    pub fn set(&mut self, kind: WriteBackFault, count: u64) {
        *self = Corruption {
            kind: Some(kind),
            remaining: count,
        };
    }

    /// The fault for the frame being delivered now, if any.
    fn take(&mut self) -> Option<WriteBackFault> {
        self.remaining = self.remaining.checked_sub(1)?;
        self.kind
    }
}

/// A frame in the Rx packet buffer, classified and waiting for DMA.
#[derive(Debug)]
pub struct RxEntry {
    /// The frame without FCS.
    data: Vec<u8>,
    queue: u32,
    hash: u32,
    /// RSS type and packet type, as the advanced write-back's low dword
    /// has them.
    info: u32,
    timestamped: bool,
}

impl Port {
    /// Receives the frames of `wire` whose last bit has arrived by `now`
    /// (checked, filtered, counted, classified and stored in the packet
    /// buffer, or dropped and counted: 7.1.1), and moves them on into
    /// host memory a burst at a time as they come: DMA keeps pace with
    /// the wire. Returns the frames handled.
    pub fn receive_arrived(
        &mut self,
        wire: &mut VecDeque<WireFrame>,
        now: u64,
        iommu: &mut Translator,
        free: &mut Vec<Vec<u8>>,
    ) -> usize {
        let mut work = 0;
        while wire.front().is_some_and(|f| f.arrival_ps <= now) {
            let Some(frame) = wire.pop_front() else {
                break;
            };
            work += 1;
            if let Some(rejected) = self.receive(frame) {
                free.push(rejected);
            }
            if self.rx_fifo.len() >= RX_DMA_BURST {
                work += self.deliver(iommu, free);
            }
        }
        work
    }

    /// A frame arrives from the wire (7.1.1): checked, filtered, counted,
    /// classified and stored in the packet buffer, or dropped and counted.
    /// Returns the frame's buffer when it was not kept.
    #[inline]
    fn receive(&mut self, frame: WireFrame) -> Option<Vec<u8>> {
        if !self.operational() || !self.link_up {
            self.count_sim(SimCounter::RxLinkDown);
            return Some(frame.data);
        }
        if self.drop_next > 0 {
            self.drop_next -= 1;
            self.count_sim(SimCounter::CableDropped);
            return Some(frame.data);
        }
        if !self.rx_cfg_current {
            self.read_rx_registers();
        }
        let cfg = &self.rx_cfg;
        let r = &self.regs;
        let wire_len = frame.data.len() as u64 + 4;
        // 8.2.3.23: TPR/TOR count every frame, good or bad.
        self.stats.rx_seen(wire_len);
        if !frame.fcs_ok {
            r.count(regs::CRCERRS, 1);
            return Some(frame.data);
        }
        if wire_len < 64 {
            r.count(regs::RUC, 1);
            return Some(frame.data);
        }
        if wire_len > u64::from(cfg.max_len) {
            r.count(regs::ROC, 1);
            return Some(frame.data);
        }
        let parsed = frame::parse(&frame.data);
        if cfg.hlreg0 & regs::HLREG0_RXLNGTHERREN != 0 && length_error(&parsed, frame.data.len()) {
            r.count(regs::RLEC, 1);
            return Some(frame.data);
        }
        if !cfg.rxen {
            self.count_sim(SimCounter::RxWhileDisabled);
            return Some(frame.data);
        }
        if !self.address_filter(&parsed.dst) {
            self.count_sim(SimCounter::RxFiltered);
            return Some(frame.data);
        }
        if self.rx_fifo_bytes + wire_len as usize > cfg.capacity {
            self.stats.add(regs::mpc(0), 1);
            // The 82599 counts a missed frame in GPRC as well, against its
            // datasheet (8.2.3.23.3): Linux and FreeBSD subtract MPC from
            // GPRC to "work around hardware counting issue".
            self.stats.add(regs::GPRC, 1);
            return Some(frame.data);
        }
        self.stats.rx_good(wire_len);
        if parsed.dst[0] & 1 != 0 {
            self.stats.rx_group(parsed.dst == [0xFF; 6]);
        }
        let rss = self.rss.classify(&parsed);
        let timestamped = parsed.ptp.is_some() && self.latch_rx_timestamp(&parsed, frame.rx_sfd_ps);
        self.rx_fifo_bytes += wire_len as usize;
        self.rx_fifo.push_back(RxEntry {
            queue: rss.queue,
            hash: rss.hash,
            info: rss.rss_type | frame::packet_type(&parsed),
            timestamped,
            data: frame.data,
        });
        None
    }

    /// Unicast: RAL/RAH entries with AV (as read this pass), or FCTRL.UPE;
    /// broadcast: FCTRL.BAM; multicast: FCTRL.MPE, or MCSTCTRL.MFE and the
    /// frame's bit in the multicast table (7.1.1.1, 7.1.1.1.2).
    fn address_filter(&self, dst: &[u8; 6]) -> bool {
        let fctrl = self.rx_cfg.fctrl;
        if dst[0] & 1 == 0 {
            if fctrl & regs::FCTRL_UPE != 0 {
                return true;
            }
            let low = u32::from_le_bytes([dst[0], dst[1], dst[2], dst[3]]);
            let high = u32::from(u16::from_le_bytes([dst[4], dst[5]]));
            let cfg = &self.rx_cfg;
            return cfg.unicast[..cfg.unicast_count].contains(&(low, high));
        }
        if *dst == [0xFF; 6] {
            return fctrl & regs::FCTRL_BAM != 0;
        }
        if fctrl & regs::FCTRL_MPE != 0 {
            return true;
        }
        let mcstctrl = self.regs.read(regs::MCSTCTRL);
        if mcstctrl & regs::MCSTCTRL_MFE == 0 {
            return false;
        }
        let index = regs::mta_index(*dst, mcstctrl);
        self.regs.read(regs::mta(index / 32)) & (1 << (index % 32)) != 0
    }

    /// Latches RXSTMPL/H and the attributes for a PTP frame matching
    /// TSYNCRXCTL, unless a previous timestamp is still unread (7.9.2.1).
    fn latch_rx_timestamp(&mut self, parsed: &Parsed, sfd_ps: u64) -> bool {
        let Some(ptp) = parsed.ptp else {
            return false;
        };
        let ctl = self.regs.read(regs::TSYNCRXCTL);
        if ctl & regs::TSYNCRXCTL_ENABLED == 0 || ctl & regs::TSYNCRXCTL_VALID != 0 {
            return false;
        }
        if !ptp_matches(ctl, self.regs.read(regs::RXMTRL), &ptp) {
            return false;
        }
        let t = self.clock.value_at(sfd_ps);
        let r = &self.regs;
        let id = ptp.source_id;
        r.write(regs::RXSTMPL, t as u32);
        r.write(regs::RXSTMPH, (t >> 32) as u32);
        r.write(
            regs::RXSATRL,
            u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
        );
        r.write(
            regs::RXSATRH,
            u32::from(u16::from_le_bytes([id[4], id[5]])) | (u32::from(ptp.sequence_id) << 16),
        );
        r.set_bits(regs::TSYNCRXCTL, regs::TSYNCRXCTL_VALID);
        true
    }

    /// Reads the receive registers and the RSS registers once per pass,
    /// before the first frame the pass receives ([`RxConfig`]).
    #[cold]
    pub(crate) fn read_rx_registers(&mut self) {
        self.rx_cfg_current = true;
        let r = &self.regs;
        let hlreg0 = r.read(regs::HLREG0);
        let mut unicast = [(0, 0); 16];
        let mut unicast_count = 0;
        for i in 0..16 {
            let rah = r.read(regs::rah(i));
            if rah & regs::RAH_AV != 0 {
                unicast[unicast_count] = (r.read(regs::ral(i)), rah & 0xFFFF);
                unicast_count += 1;
            }
        }
        self.rx_cfg = RxConfig {
            hlreg0,
            max_len: if hlreg0 & regs::HLREG0_JUMBOEN != 0 {
                r.read(regs::MAXFRS) >> regs::MAXFRS_MFS_SHIFT
            } else {
                regs::MAX_STD_FRAME
            },
            rxen: r.read(regs::RXCTRL) & regs::RXCTRL_RXEN != 0,
            fctrl: r.read(regs::FCTRL),
            capacity: ((r.read(regs::rxpbsize(0)) >> regs::RXPBSIZE_SHIFT) & 0x3FF) as usize * 1024,
            rdrxctl_strip: r.read(regs::RDRXCTL) & regs::RDRXCTL_CRCSTRIP != 0,
            unicast,
            unicast_count,
        };
        let key = std::array::from_fn(|i| r.read(regs::rssrk(i as u32)));
        let reta = std::array::from_fn(|i| r.read(regs::reta(i as u32)));
        self.rss.update(r.read(regs::MRQC), &key, &reta);
    }

    /// Moves frames from the packet buffer into host memory (7.1.6),
    /// head of line first. Returns the number of frames handled and the
    /// buffers of frames no longer needed.
    pub fn deliver(&mut self, iommu: &mut Translator, free: &mut Vec<Vec<u8>>) -> usize {
        if self.rx_fifo.is_empty() {
            return 0;
        }
        if !self.rx_cfg_current {
            self.read_rx_registers();
        }
        let strip = self.rx_cfg.hlreg0 & regs::HLREG0_RXCRCSTRP != 0;
        if strip != self.rx_cfg.rdrxctl_strip {
            self.warn_once("crcstrip", || {
                "HLREG0.RXCRCSTRP and RDRXCTL.CRCSTRIP disagree (datasheet 8.2.3.8.8 requires both equal); HLREG0 wins".into()
            });
        }
        // Each queue's registers, read once per delivery: with RSS the
        // frames alternate between queues, and reading them per run would
        // read them per frame.
        let mut turns: [Option<RxTurn>; TURN_CACHE] = [None; TURN_CACHE];
        // The common case needs the FCS stripped and no write-back fault
        // pending ([`Port::place`]).
        let common = strip && self.corrupt.remaining == 0;
        let mut done = 0;
        while done < RX_BUDGET {
            // Taken out for its DMA, put back at the head when blocked.
            let Some(mut entry) = self.rx_fifo.pop_front() else {
                break;
            };
            let q = entry.queue;
            let slot = &mut turns[q as usize % TURN_CACHE];
            let t = match slot {
                Some(t) if t.q == q => t,
                _ => slot.insert(self.rx_turn(q)),
            };
            if common {
                match self.place(t, entry, iommu, free) {
                    Ok(()) => {
                        done += 1;
                        continue;
                    }
                    Err(back) => entry = back,
                }
            }
            let t = *t;
            // The general path may move the queue's head and tail: its
            // registers are read again for the next frame.
            turns[q as usize % TURN_CACHE] = None;
            match self.dma_frame(t, strip, &mut entry, iommu) {
                Dma::Blocked => {
                    self.rx_fifo.push_front(entry);
                    break;
                }
                Dma::Done | Dma::Dropped => {}
            }
            self.rx_fifo_bytes -= entry.data.len() + 4;
            free.push(entry.data);
            done += 1;
        }
        self.flush_write_backs(iommu);
        if self.rx_fifo.is_empty() {
            // Back to the deque's first slot (see `Engine::pass`).
            self.rx_fifo.clear();
        }
        done
    }

    /// DMA of a frame in the common case: one buffer, FCS stripped (the
    /// caller checks), into queue `t.q` while `t.known` descriptors up to
    /// the RDT last read remain. Data now, the write-back with the burst's
    /// ([`Port::flush_write_backs`]). Any other case, and an IOMMU fault,
    /// hands the frame back for [`Port::dma_frame`], which handles (and
    /// reports) every case.
    #[inline]
    fn place(
        &mut self,
        t: &mut RxTurn,
        entry: RxEntry,
        iommu: &mut Translator,
        free: &mut Vec<Vec<u8>>,
    ) -> Result<(), RxEntry> {
        let len = entry.data.len();
        if t.known == 0 || len > t.bsize {
            return Err(entry);
        }
        let ring = &mut self.rxq[t.q as usize];
        let (size, head) = (ring.size, ring.head);
        let at = ring.base + u64::from(head) * 16;
        let hints = &mut ring.hints;
        if !iommu
            .read_desc_in(at, &mut hints.desc)
            .is_some_and(|d| iommu.write_in(d[0], &entry.data, &mut hints.data))
        {
            return Err(entry);
        }
        t.known -= 1;
        self.rx_write_backs
            .push((at, t.q, write_back(&entry, t.advanced, true, len)));
        self.rxq[t.q as usize].head = ring_add(head, 1, size);
        self.rx_dirty |= 1 << t.q;
        self.stats.rx_queued(t.stat_idx, len);
        self.rx_fifo_bytes -= len + 4;
        free.push(entry.data);
        Ok(())
    }

    /// Writes the descriptors of the one-buffer frames this delivery
    /// moved, in ring order, in one burst after all their data (7.1.6:
    /// the 82599 writes back whole cache lines of descriptors, not one
    /// per frame). A driver polling DD flat out then takes the line from
    /// the model once per burst, not once per frame.
    fn flush_write_backs(&mut self, iommu: &mut Translator) {
        for &(at, q, wb) in &self.rx_write_backs {
            let hint = &mut self.rxq[q as usize].hints.desc;
            if !iommu.write_desc_in(at, wb, hint) {
                // The descriptor was read at this address in the same
                // pass; only an unmap since then gets here.
                self.regs.count_sim(SimCounter::IommuFaults, 1);
            }
        }
        self.rx_write_backs.clear();
    }

    /// Queue `q`'s registers for a run of frames into it.
    fn rx_turn(&self, q: u32) -> RxTurn {
        let srrctl = self.regs.read(regs::srrctl(q));
        let desc_type = srrctl & regs::SRRCTL_DESCTYPE_MASK;
        let bsize = (srrctl & regs::SRRCTL_BSIZEPKT_MASK) as usize * 1024;
        let advanced = desc_type == regs::SRRCTL_DESCTYPE_ADV_ONEBUF;
        let supported = bsize != 0 && (advanced || desc_type == regs::SRRCTL_DESCTYPE_LEGACY);
        let ring = &self.rxq[q as usize];
        let usable = ring.enabled
            && supported
            && ring.tail < ring.size
            && ring.faulted_tail != Some(ring.tail);
        RxTurn {
            q,
            srrctl,
            bsize,
            advanced,
            supported,
            stat_idx: self.stat_index(regs::rqsmr(q / 4), q),
            known: if usable {
                ring_add(ring.tail, ring.size - ring.head, ring.size)
            } else {
                0
            },
        }
    }

    fn drop_for_queue(&self, t: RxTurn, counter: Option<SimCounter>) {
        self.regs.count(regs::qprdc(t.stat_idx), 1);
        if let Some(c) = counter {
            self.count_sim(c);
        }
    }

    /// Descriptors free in queue `q` for the device (RDT known, or read
    /// again when those known run short of `needed`), and the tail.
    fn rx_available(&mut self, q: u32, needed: u32) -> (u32, u32) {
        let ring = &self.rxq[q as usize];
        let count = |tail: u32| {
            if tail >= ring.size || ring.faulted_tail == Some(tail) {
                0
            } else {
                ring_add(tail, ring.size - ring.head, ring.size)
            }
        };
        let known = count(ring.tail);
        if known >= needed {
            return (known, ring.tail);
        }
        // The driver's line is read only when the tail last seen is used
        // up, not once per frame (`sim/README.md` 5.8).
        let tail = self.regs.read(regs::rdt(q));
        let available = count(tail);
        self.rxq[q as usize].tail = tail;
        (available, tail)
    }

    /// DMA of the frame at the head of the packet buffer into queue `t.q`.
    fn dma_frame(
        &mut self,
        t: RxTurn,
        strip: bool,
        entry: &mut RxEntry,
        iommu: &mut Translator,
    ) -> Dma {
        let (q, qi) = (t.q, t.q as usize);
        if !self.rxq[qi].enabled {
            self.drop_for_queue(t, Some(SimCounter::RxToDisabledQueue));
            return Dma::Dropped;
        }
        let (srrctl, bsize, advanced) = (t.srrctl, t.bsize, t.advanced);
        if !t.supported {
            self.warn_once("desctype", || {
                format!("rx queue {q}: SRRCTL {srrctl:#010x} asks for an unmodelled descriptor type or a zero buffer size; frames dropped")
            });
            self.count_sim(SimCounter::RxUnsupportedDescType);
            return Dma::Dropped;
        }
        let len = entry.data.len() + if strip { 0 } else { 4 };
        let needed = if len <= bsize {
            1
        } else {
            len.div_ceil(bsize) as u32
        };
        let (available, tail) = self.rx_available(q, needed);
        if available < needed {
            // The 82599 has no RNBC (0x03FC0 is an 82598 register, with
            // another meaning on newer parts): a drop for want of
            // descriptors counts in the queue's QPRDC only.
            if srrctl & regs::SRRCTL_DROP_EN != 0 {
                self.drop_for_queue(t, None);
                return Dma::Dropped;
            }
            return Dma::Blocked;
        }
        let fault = self.corrupt.take();
        let fast = needed == 1 && fault.is_none();
        if !fast {
            // Rarer frames write their descriptors at once, after those
            // of the frames before them.
            self.flush_write_backs(iommu);
        }
        let ring = &self.rxq[qi];
        if !strip {
            let fcs = frame::crc32(&entry.data).to_le_bytes();
            entry.data.extend_from_slice(&fcs);
        }
        // All data first, then the write-backs: a fault part way through a
        // frame leaves no descriptor done (7.1.6: DD means complete).
        let (base, size) = (ring.base, ring.size);
        let desc_at = |i: u32| base + u64::from(ring_add(ring.head, i, size)) * 16;
        let faulted = if fast {
            // One buffer, nothing to corrupt: the common case. The
            // write-back waits for the end of the burst.
            let at = desc_at(0);
            let data = &entry.data;
            let ok = iommu.read_desc(at).is_some_and(|d| iommu.write(d[0], data));
            if ok {
                let wb = write_back(entry, advanced, true, data.len());
                self.rx_write_backs.push((at, q, wb));
            }
            !ok
        } else {
            let chunks = entry.data.chunks(bsize);
            let data_ok = chunks.clone().enumerate().all(|(i, chunk)| {
                iommu
                    .read_desc(desc_at(i as u32))
                    .is_some_and(|d| iommu.write(d[0], chunk))
            });
            !data_ok
                || !chunks.enumerate().all(|(i, chunk)| {
                    let last = (i + 1) as u32 == needed;
                    let mut wb = write_back(entry, advanced, last, chunk.len());
                    if let Some(f) = fault {
                        corrupt(&mut wb, f, advanced, last, bsize);
                    }
                    iommu.write_desc(desc_at(i as u32), wb)
                })
        };
        if !faulted && fault == Some(WriteBackFault::StrayDd) {
            // A frame's write-back on descriptor RDT, the one the driver
            // kept (RDT itself is never the device's, 7.1.4); its data is
            // not written. A failed write is one more IOMMU fault.
            let rdt = self.regs.read(regs::rdt(q));
            if rdt < size {
                let stray = write_back(entry, advanced, true, len);
                if !iommu.write_desc(base + u64::from(rdt) * 16, stray) {
                    self.regs.count_sim(SimCounter::IommuFaults, 1);
                }
            }
        }
        let head = ring_add(ring.head, needed, size);
        if !strip {
            entry.data.truncate(len - 4);
        }
        let ring = &mut self.rxq[qi];
        if faulted {
            ring.faulted_tail = Some(tail);
            let first = !std::mem::replace(&mut ring.fault_logged, true);
            self.count_sim(SimCounter::IommuFaults);
            if first {
                log::warn!(
                    "sim port {}: IOMMU fault on rx queue {q} (ring at {base:#x}): DMA to an unmapped address; frame dropped",
                    self.index
                );
            }
            return Dma::Dropped;
        }
        ring.head = head;
        self.rx_dirty |= 1 << q;
        self.stats.rx_queued(t.stat_idx, len);
        Dma::Done
    }
}

/// A queue's registers as read for a run of frames into it.
#[derive(Debug, Clone, Copy)]
struct RxTurn {
    q: u32,
    /// SRRCTL: descriptor type, buffer size, DROP_EN.
    srrctl: u32,
    /// SRRCTL.BSIZEPACKET in bytes.
    bsize: usize,
    /// SRRCTL.DESCTYPE is advanced one-buffer (else legacy).
    advanced: bool,
    /// A descriptor type the model handles and a buffer size above 0.
    supported: bool,
    /// The statistics index RQSMR maps the queue to.
    stat_idx: u32,
    /// Descriptors up to the RDT last read that [`Port::place`] may still
    /// use; 0 when the queue is disabled, its descriptor type unsupported
    /// or its tail invalid or at a fault (the general path then decides).
    known: u32,
}

enum Dma {
    Done,
    Dropped,
    Blocked,
}

/// The write-back form of one Rx descriptor (7.1.6.2 advanced, 7.1.5.1 legacy).
fn write_back(e: &RxEntry, advanced: bool, last: bool, len: usize) -> [u64; 2] {
    let len = len as u64 & 0xFFFF;
    if !advanced {
        let status = LEGACY_STAT_DD | if last { LEGACY_STAT_EOP } else { 0 };
        return [0, len | (status << 32)];
    }
    let mut status = regs::RXD_STAT_DD;
    if last {
        status |= regs::RXD_STAT_EOP;
        if e.timestamped {
            status |= regs::RXD_STAT_TS;
        }
    }
    let wb = RxWriteBack::new(e.info, e.hash, status, len as u16);
    [wb.lo, wb.hi]
}

/// Makes the write-back `wb` of one descriptor (the frame's last when
/// `last`) the nonsense `fault` asks for; `bsize` is the buffer size.
fn corrupt(wb: &mut [u64; 2], fault: WriteBackFault, advanced: bool, last: bool, bsize: usize) {
    let (eop, len_shift) = if advanced {
        (u64::from(regs::RXD_STAT_EOP | regs::RXD_STAT_TS), 32)
    } else {
        (LEGACY_STAT_EOP << 32, 0)
    };
    match fault {
        // No EOP, and so no STAT.TS, which only the last descriptor has.
        WriteBackFault::NoEop => wb[1] &= !eop,
        WriteBackFault::Len if last => {
            let len = (bsize as u64 + 1).min(0xFFFF);
            wb[1] = (wb[1] & !(0xFFFF << len_shift)) | len << len_shift;
        }
        WriteBackFault::Len | WriteBackFault::StrayDd => {}
    }
}

/// An 802.3 length field (EtherType < 0x600) that disagrees with the frame
/// (8.2.3.23.8): longer than the payload, or unequal to an unpadded payload.
fn length_error(p: &Parsed, frame_len: usize) -> bool {
    let field = usize::from(p.ethertype);
    if field >= 0x600 {
        return false;
    }
    let payload = frame_len.saturating_sub(p.l3_offset);
    field > payload || (payload > 46 && field != payload)
}

/// Whether a PTP frame is one TSYNCRXCTL.TYPE asks to timestamp (8.2.3.26.1).
fn ptp_matches(ctl: u32, rxmtrl: u32, ptp: &frame::Ptp) -> bool {
    let v1_control = (rxmtrl & 0xFF) as u8;
    let v2_message = ((rxmtrl >> 8) & 0xFF) as u8;
    match ctl & regs::TSYNCRXCTL_TYPE_MASK {
        regs::TSYNCRXCTL_TYPE_L2_V2 => ptp.l2 && ptp.version == 2 && ptp.message_type == v2_message,
        regs::TSYNCRXCTL_TYPE_L4_V1 => {
            !ptp.l2 && ptp.version == 1 && ptp.message_type == v1_control
        }
        regs::TSYNCRXCTL_TYPE_L2_L4_V2 => ptp.version == 2 && ptp.message_type == v2_message,
        regs::TSYNCRXCTL_TYPE_EVENT_V2 => ptp.version == 2 && ptp.message_type < 4,
        _ => false,
    }
}
