//! One simulated 82599 port: its registers as the device sees them, reset,
//! link, interrupt masks, queue enables and the 1588 clock. The data paths
//! live in `rx.rs` and `tx.rs`.

use crate::alias::Aliases;
use crate::bar::Regs;
use crate::clock::Clock;
use crate::iommu::RegionHint;
use crate::rss::PortRss;
use crate::rx::{Corruption, RxConfig, RxEntry};
use crate::stats::Pending;
use driver::regs;
use driver::simfmt::bar::{SimCounter, RX_QUEUE_STATE, TX_QUEUE_STATE};
use std::collections::VecDeque;
use std::path::Path;

/// Timing of a port's state machines, in picoseconds of lab time.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// From CTRL.RST to EEC.ARD / RDRXCTL.DMAIDONE and RST self-clearing.
    pub reset_ps: u64,
    /// From reset or AN restart until the link is up.
    pub link_ps: u64,
}

/// How often the enable bits of all 256 queues (and the aliased
/// registers) are scanned while busy: a scan reads some 500 registers,
/// and drivers wait milliseconds for an enable to take effect.
const QUEUE_SCAN_PS: u64 = 100_000_000;
/// How often a removed port's BAR is filled again with 0xFF.
const REMOVED_REFILL_PS: u64 = 100_000_000_000;

/// The model's state of an Rx queue's descriptor ring, as latched when the
/// queue was enabled (4.6.7.1) and moved on since: what the device knows of
/// a ring that a driver's `driver::RxQueue` programs.
#[derive(Debug, Default, Clone)]
pub struct RxRingState {
    /// Whether the queue is enabled (and reads back as enabled).
    pub enabled: bool,
    /// Ring base IOVA (RDBAL/RDBAH, 128-byte aligned).
    pub base: u64,
    /// Ring size in descriptors (RDLEN / 16).
    pub size: u32,
    /// Next descriptor the device will use (RDH).
    pub head: u32,
    /// RDT as last read: the device uses descriptors up to it before it
    /// reads RDT again.
    pub tail: u32,
    /// RDT at the last IOMMU fault: no DMA until the driver moves the tail.
    pub faulted_tail: Option<u32>,
    /// A fault on this queue was logged since it was enabled.
    pub fault_logged: bool,
    /// The regions of its descriptors and of its buffers, as last hit.
    pub hints: QueueHints,
}

/// Where a queue's DMA went last: its ring's region and its buffers'
/// ([`RegionHint`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct QueueHints {
    /// The descriptor ring's region.
    pub desc: RegionHint,
    /// The buffers' region (a mempool).
    pub data: RegionHint,
}

/// The model's state of a Tx queue's descriptor ring, as latched when the
/// queue was enabled (4.6.8.1) and moved on since: what the device knows of
/// a ring that a driver's `driver::TxQueue` programs.
#[derive(Debug, Default, Clone)]
pub struct TxRingState {
    /// Whether the queue is enabled (and reads back as enabled).
    pub enabled: bool,
    /// Ring base IOVA (TDBAL/TDBAH, 128-byte aligned).
    pub base: u64,
    /// Ring size in descriptors (TDLEN / 16).
    pub size: u32,
    /// Next descriptor the device will fetch (TDH).
    pub head: u32,
    /// TDT at the last IOMMU fault or malformed frame: wait for a new tail.
    pub faulted_tail: Option<u32>,
    /// A fault on this queue was logged since it was enabled.
    pub fault_logged: bool,
    /// The last TDT value seen and when descriptors became available:
    /// (running count of descriptors made available, lab time seen).
    pub seen_tail: u32,
    /// Descriptors made available so far, as a running count.
    pub seen_total: u64,
    /// Descriptors consumed so far, as a running count.
    pub done_total: u64,
    /// When each tail move was first seen: (seen_total after it, lab time).
    pub seen_at: VecDeque<(u64, u64)>,
    /// With TXDCTL.WTHRESH > 0: processed descriptors waiting for their
    /// write-back, as (IOVA, contents when fetched) (7.2.3.5.1).
    pub held: Vec<(u64, [u64; 2])>,
    /// The regions of its descriptors and of its buffers, as last hit.
    pub hints: QueueHints,
}

/// A simulated port.
#[derive(Debug)]
pub struct Port {
    /// Port number in the lab.
    pub index: usize,
    /// The BAR, device side.
    pub regs: Regs,
    /// The MAC address loaded into RAL0/RAH0 at reset ("from the EEPROM").
    pub mac: [u8; 6],
    pub(crate) timing: Timing,
    /// Rx queues.
    pub rxq: Vec<RxRingState>,
    /// Tx queues.
    pub txq: Vec<TxRingState>,
    /// Enabled Tx queues, for the transmit scheduler.
    pub tx_enabled: Vec<u32>,
    pub(crate) tx_next: usize,
    /// Scratch for the transmit path: the descriptors of the frame being
    /// sent, with their IOVAs, kept for their write-back.
    pub(crate) tx_fetched: Vec<(u64, [u64; 2])>,
    /// The DD write-backs (descriptor IOVA, words) of a run of
    /// single-descriptor frames, written together at its end
    /// (`Port::transmit_run`). Kept here, not on the stack, so that no
    /// run clears it.
    pub(crate) tx_run_write_backs: [(u64, [u64; 2]); crate::tx::TX_BURST],
    /// Rx write-backs (descriptor IOVA, queue, words) of the frames a
    /// [`Port::deliver`] moved, written together at its end
    /// (`rx::flush_write_backs`).
    pub(crate) rx_write_backs: Vec<(u64, u32, [u64; 2])>,
    /// Rx queues whose head moved since the last [`Port::publish`], a bit
    /// per queue.
    pub(crate) rx_dirty: u128,
    /// Tx queues whose head moved since the last [`Port::publish`].
    pub(crate) tx_dirty: u128,
    /// Some Tx queue holds descriptor write-backs (TXDCTL.WTHRESH > 0).
    pub(crate) tx_holding: bool,
    /// Lab time at which a reset in progress completes.
    resetting_until: Option<u64>,
    /// Lab time at which auto-negotiation completes.
    an_done_at: Option<u64>,
    /// Forced down by the control interface.
    pub forced_down: bool,
    /// Surprise-removed: registers read 0xFFFFFFFF, no DMA.
    pub removed: bool,
    last_refill_ps: u64,
    /// The link state as published in LINKS.
    pub link_up: bool,
    eims: u32,
    last_queue_scan_ps: Option<u64>,
    /// The port's 1588 clock.
    pub clock: Clock,
    /// Host monotonic time (ns) at lab time 0, for the clock's anchor.
    pub epoch_host_ns: u64,
    /// Registers decoded at two addresses, kept equal (`alias`).
    aliases: Aliases,
    /// The receive registers, re-read every pass that receives
    /// (`rx_cfg_current` says whether this pass did).
    pub(crate) rx_cfg: RxConfig,
    /// RSS state from the registers, re-read with `rx_cfg`.
    pub(crate) rss: PortRss,
    pub(crate) rx_cfg_current: bool,
    /// The shared Rx packet buffer (7.1.3): frames waiting for DMA.
    pub(crate) rx_fifo: VecDeque<RxEntry>,
    /// Bytes held in `rx_fifo`.
    pub(crate) rx_fifo_bytes: usize,
    /// Lab time at which the Tx wire is free for the next frame.
    pub(crate) wire_free_ps: u64,
    /// Frames still to be dropped on arrival (`drop` control command).
    pub(crate) drop_next: u64,
    /// Write-back faults still to inject (`corrupt` control command).
    pub(crate) corrupt: Corruption,
    /// Statistics gathered during the current pass.
    pub(crate) stats: Pending,
    warned: Vec<&'static str>,
}

impl Port {
    /// Creates port `index` with its BAR file at `bar_path`, in power-on state.
    pub fn create(
        index: usize,
        bar_path: &Path,
        mac: [u8; 6],
        timing: Timing,
    ) -> std::io::Result<Self> {
        let regs = Regs::create(bar_path)?;
        let mut port = Port {
            index,
            regs,
            mac,
            timing,
            rxq: vec![RxRingState::default(); regs::NUM_QUEUES as usize],
            txq: vec![TxRingState::default(); regs::NUM_QUEUES as usize],
            tx_enabled: Vec::new(),
            tx_next: 0,
            tx_fetched: Vec::new(),
            tx_run_write_backs: [(0, [0; 2]); crate::tx::TX_BURST],
            rx_write_backs: Vec::new(),
            tx_holding: false,
            rx_dirty: 0,
            tx_dirty: 0,
            resetting_until: None,
            an_done_at: None,
            forced_down: false,
            removed: false,
            last_refill_ps: 0,
            link_up: false,
            eims: 0,
            last_queue_scan_ps: None,
            clock: Clock::default(),
            epoch_host_ns: 0,
            aliases: Aliases::default(),
            rss: PortRss::default(),
            rx_cfg: RxConfig::default(),
            rx_cfg_current: false,
            rx_fifo: VecDeque::new(),
            rx_fifo_bytes: 0,
            wire_free_ps: 0,
            drop_next: 0,
            corrupt: Corruption::default(),
            stats: Pending::default(),
            warned: Vec::new(),
        };
        // Power-on: like a completed reset, with the link coming up.
        port.start_reset(0);
        port.finish_reset(0);
        Ok(port)
    }

    /// Logs `msg` at warn level the first time `key` is seen on this port.
    pub(crate) fn warn_once(&mut self, key: &'static str, msg: impl FnOnce() -> String) {
        if !self.warned.contains(&key) {
            self.warned.push(key);
            log::warn!("sim port {}: {}", self.index, msg());
        }
    }

    /// Whether auto-negotiation has completed on this port.
    pub fn an_done(&self, now_ps: u64) -> bool {
        !self.removed
            && self.resetting_until.is_none()
            && self.an_done_at.is_some_and(|t| t <= now_ps)
    }

    /// Whether the port processes DMA at all (not resetting, not removed).
    pub fn operational(&self) -> bool {
        !self.removed && self.resetting_until.is_none()
    }

    /// CTRL.RST seen: everything returns to defaults (4.6.3.2, 8.2.3.1.1).
    fn start_reset(&mut self, now_ps: u64) {
        log::debug!("sim port {}: reset", self.index);
        self.regs.clear_registers();
        for q in 0..regs::NUM_QUEUES {
            self.regs.write(RX_QUEUE_STATE + 4 * q, 0);
            self.regs.write(TX_QUEUE_STATE + 4 * q, 0);
        }
        // RST reads 1 until the reset completes; EEC.ARD and DMAIDONE read 0.
        self.regs.write(regs::CTRL, regs::CTRL_RST);
        self.rxq
            .iter_mut()
            .for_each(|q| *q = RxRingState::default());
        self.txq
            .iter_mut()
            .for_each(|q| *q = TxRingState::default());
        (self.rx_dirty, self.tx_dirty) = (0, 0);
        self.tx_enabled.clear();
        self.rx_fifo.clear();
        self.rx_fifo_bytes = 0;
        self.clock.reset();
        self.aliases.reset();
        self.stats = Pending::default();
        self.eims = 0;
        self.link_up = false;
        self.an_done_at = None;
        self.last_queue_scan_ps = None;
        self.resetting_until = Some(now_ps + self.timing.reset_ps);
    }

    /// The reset has completed: reset values, EEPROM auto-read done, DMA
    /// init done, MAC address loaded, auto-negotiation started.
    fn finish_reset(&mut self, now_ps: u64) {
        let r = &self.regs;
        r.write(regs::EEC, regs::EEC_PRES | regs::EEC_ARD);
        r.write(regs::RDRXCTL, regs::RDRXCTL_DMAIDONE);
        r.write(regs::HLREG0, regs::HLREG0_DEFAULT);
        r.write(regs::MAXFRS, regs::MAX_STD_FRAME << regs::MAXFRS_MFS_SHIFT);
        r.write(regs::rxpbsize(0), regs::RXPBSIZE_DEFAULT);
        r.write(regs::txpbsize(0), regs::TXPBSIZE_DEFAULT);
        r.write(regs::AUTOC, regs::AUTOC_LMS_10G_SERIAL);
        for q in 0..regs::NUM_QUEUES {
            r.write(regs::srrctl(q), regs::SRRCTL_DEFAULT);
        }
        let m = self.mac;
        r.write(regs::ral(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        r.write(
            regs::rah(0),
            u32::from(u16::from_le_bytes([m[4], m[5]])) | regs::RAH_AV,
        );
        r.write(regs::CTRL, 0);
        // 8.2.3.1.2: GIO master enable reads 1 while CTRL's master disable
        // is clear (set again by `control` when it changes).
        r.set_bits(regs::STATUS, regs::STATUS_GIO_MASTER_ENABLE);
        self.resetting_until = None;
        self.an_done_at = Some(now_ps + self.timing.link_ps);
    }

    /// Surprise removal: the device is gone from the bus.
    pub fn remove(&mut self) {
        self.removed = true;
        self.rxq.iter_mut().for_each(|q| q.enabled = false);
        self.txq.iter_mut().for_each(|q| q.enabled = false);
        self.tx_enabled.clear();
        self.rx_fifo.clear();
        self.rx_fifo_bytes = 0;
        self.link_up = false;
        self.regs.fill_removed();
    }

    /// Sets the published link state (LINKS, STATUS.LU, EICR.LSC).
    pub fn set_link(&mut self, up: bool) {
        if up == self.link_up || self.removed {
            return;
        }
        self.link_up = up;
        log::debug!(
            "sim port {}: link {}",
            self.index,
            if up { "up" } else { "down" }
        );
        if up {
            self.regs
                .write(regs::LINKS, regs::LINKS_UP | regs::LINKS_SPEED_10G);
            self.regs.set_bits(regs::STATUS, regs::STATUS_LU);
        } else {
            self.regs.write(regs::LINKS, 0);
            self.regs.clear_bits(regs::STATUS, regs::STATUS_LU);
        }
        self.regs.set_bits(regs::EICR, regs::EICR_LSC);
    }

    /// STATUS.GIO master enable (8.2.3.1.2) follows CTRL.PCIe master
    /// disable (8.2.3.1.1): the model has no master requests pending, so
    /// the status clears as soon as the disable is set. (The model does not
    /// stop its DMA for it: `sim/README.md` 6.) Returns true on a change.
    fn gio_master_status(&self, ctrl: u32) -> bool {
        let enabled = ctrl & regs::CTRL_PCIE_MASTER_DISABLE == 0;
        let status = self.regs.read(regs::STATUS);
        if (status & regs::STATUS_GIO_MASTER_ENABLE != 0) == enabled {
            return false;
        }
        if enabled {
            self.regs
                .set_bits(regs::STATUS, regs::STATUS_GIO_MASTER_ENABLE);
        } else {
            self.regs
                .clear_bits(regs::STATUS, regs::STATUS_GIO_MASTER_ENABLE);
        }
        true
    }

    /// Handles register writes that need the device to act. Returns true
    /// when something changed.
    pub fn control(&mut self, now_ps: u64, busy: bool) -> bool {
        self.rx_cfg_current = false;
        if self.removed {
            if now_ps.saturating_sub(self.last_refill_ps) >= REMOVED_REFILL_PS {
                self.last_refill_ps = now_ps;
                self.regs.fill_removed();
            }
            return false;
        }
        if let Some(until) = self.resetting_until {
            if now_ps < until {
                return false;
            }
            self.finish_reset(now_ps);
            return true;
        }
        let ctrl = self.regs.read(regs::CTRL);
        if ctrl & regs::CTRL_RST != 0 {
            self.start_reset(now_ps);
            return true;
        }
        let mut changed = self.gio_master_status(ctrl);
        if ctrl & regs::CTRL_LRST != 0 {
            self.regs.clear_bits(regs::CTRL, regs::CTRL_LRST);
            self.restart_an(now_ps);
            changed = true;
        }
        if self.regs.read(regs::AUTOC) & regs::AUTOC_AN_RESTART != 0 {
            self.regs.clear_bits(regs::AUTOC, regs::AUTOC_AN_RESTART);
            self.restart_an(now_ps);
            changed = true;
        }
        changed |= self.interrupt_masks();
        self.clock.poll(&self.regs, now_ps, self.epoch_host_ns);
        let scan_due = self
            .last_queue_scan_ps
            .is_none_or(|t| !busy || now_ps.saturating_sub(t) >= QUEUE_SCAN_PS);
        if scan_due {
            // Aliased registers first: a queue enabled in this scan sees
            // an SRRCTL written at either address.
            changed |= self.aliases.sync(&self.regs);
        }
        if scan_due {
            self.last_queue_scan_ps = Some(now_ps);
            changed |= self.scan_queue_enables();
        }
        changed
    }

    fn restart_an(&mut self, now_ps: u64) {
        self.an_done_at = Some(now_ps + self.timing.link_ps);
        self.set_link(false);
    }

    /// EIMS is write-1-to-set and EIMC write-1-to-clear (8.2.3.5.3-4); the
    /// model keeps the mask and shows it in EIMS.
    fn interrupt_masks(&mut self) -> bool {
        let clear = self.regs.read(regs::EIMC);
        let set = self.regs.read(regs::EIMS);
        if clear == 0 && set == self.eims {
            return false;
        }
        self.eims = (self.eims | set) & !clear;
        self.regs.write(regs::EIMC, 0);
        self.regs.write(regs::EIMS, self.eims);
        true
    }

    /// Applies RXDCTL/TXDCTL.ENABLE requests (4.6.7.1, 4.6.8.1). The
    /// actual state is acknowledged in the sim page only once the device
    /// has stopped or started using the ring.
    fn scan_queue_enables(&mut self) -> bool {
        let mut changed = false;
        for q in 0..regs::NUM_QUEUES {
            let want = self.regs.read(regs::rxdctl(q)) & regs::RXDCTL_ENABLE != 0;
            if want != self.rxq[q as usize].enabled {
                changed = true;
                if want {
                    self.enable_rx(q);
                } else {
                    self.rxq[q as usize].enabled = false;
                    self.regs.write(RX_QUEUE_STATE + 4 * q, 0);
                    log::debug!("sim port {}: rx queue {q} disabled", self.index);
                }
            }
            let txdctl = self.regs.read(regs::txdctl(q));
            if txdctl & regs::TXDCTL_SWFLSH != 0 && self.txq[q as usize].held.is_empty() {
                // Nothing held: the flush is done at once (self-clearing).
                self.regs.clear_bits(regs::txdctl(q), regs::TXDCTL_SWFLSH);
            }
            let want = txdctl & regs::TXDCTL_ENABLE != 0;
            if want != self.txq[q as usize].enabled {
                changed = true;
                if want {
                    self.enable_tx(q);
                } else {
                    // Held write-backs stay until transmit() flushes them.
                    self.txq[q as usize].enabled = false;
                    self.regs.write(TX_QUEUE_STATE + 4 * q, 0);
                    log::debug!("sim port {}: tx queue {q} disabled", self.index);
                }
            }
        }
        if changed {
            self.tx_enabled = (0..regs::NUM_QUEUES)
                .filter(|&q| self.txq[q as usize].enabled)
                .collect();
        }
        changed
    }

    /// Latches a ring; refuses (stays disabled) when it is unusable.
    fn ring(
        &mut self,
        what: &'static str,
        q: u32,
        bal: u32,
        bah: u32,
        len: u32,
    ) -> Option<(u64, u32)> {
        let base = (u64::from(self.regs.read(bah)) << 32) | u64::from(self.regs.read(bal) & !0x7F);
        let bytes = self.regs.read(len);
        if bytes == 0 || !bytes.is_multiple_of(128) {
            self.warn_once(what, || {
                format!("{what} queue {q}: length register {bytes} is not a non-zero multiple of 128; queue stays disabled")
            });
            return None;
        }
        Some((base, bytes / 16))
    }

    fn enable_rx(&mut self, q: u32) {
        let Some((base, size)) = self.ring("rx", q, regs::rdbal(q), regs::rdbah(q), regs::rdlen(q))
        else {
            return;
        };
        let head = self.regs.read(regs::rdh(q)) % size;
        self.rxq[q as usize] = RxRingState {
            enabled: true,
            base,
            size,
            head,
            tail: head,
            faulted_tail: None,
            fault_logged: false,
            hints: QueueHints::default(),
        };
        self.regs.write(RX_QUEUE_STATE + 4 * q, regs::RXDCTL_ENABLE);
        log::debug!(
            "sim port {}: rx queue {q} enabled, {size} descriptors at {base:#x}",
            self.index
        );
    }

    fn enable_tx(&mut self, q: u32) {
        let Some((base, size)) = self.ring("tx", q, regs::tdbal(q), regs::tdbah(q), regs::tdlen(q))
        else {
            return;
        };
        let head = self.regs.read(regs::tdh(q)) % size;
        self.txq[q as usize] = TxRingState {
            enabled: true,
            base,
            size,
            head,
            seen_tail: head,
            ..TxRingState::default()
        };
        self.regs.write(TX_QUEUE_STATE + 4 * q, regs::TXDCTL_ENABLE);
        log::debug!(
            "sim port {}: tx queue {q} enabled, {size} descriptors at {base:#x}",
            self.index
        );
    }

    /// The statistics counter index queue `q` is mapped to by RQSMR or
    /// TQSM (8.2.3.23.71, 8.2.3.23.73): byte `q % 4` of register `q / 4`.
    pub(crate) fn stat_index(&self, map_reg: u32, q: u32) -> u32 {
        (self.regs.read(map_reg) >> (8 * (q % 4))) & 0xF
    }

    /// Publishes what the model did since the last call: the queue heads
    /// it moved (RDH/TDH, once per pass rather than per frame, so a driver
    /// polling its tail registers does not pull the line away from the
    /// model at every frame; still after the write-backs) and the
    /// statistics.
    pub fn publish(&mut self) {
        self.publish_heads();
        self.stats.flush(&self.regs);
    }

    /// Publishes the queue heads the model moved (as [`Port::publish`]),
    /// leaving the statistics for the pass's last publication: flushing
    /// them costs a dozen atomic additions to the BAR, which once per
    /// pass is enough for any reader (`sync` waits for a whole pass).
    pub fn publish_heads(&mut self) {
        for q in queues(std::mem::take(&mut self.rx_dirty)) {
            self.regs.write(regs::rdh(q), self.rxq[q as usize].head);
        }
        for q in queues(std::mem::take(&mut self.tx_dirty)) {
            self.regs.write(regs::tdh(q), self.txq[q as usize].head);
        }
    }

    /// Counts a simulator event on this port.
    pub(crate) fn count_sim(&self, c: SimCounter) {
        self.regs.count_sim(c, 1);
    }
}

/// `(index + n) mod size` for a ring index below `size` and `n` at most
/// `size`, without a division (this runs several times per frame).
pub(crate) fn ring_add(index: u32, n: u32, size: u32) -> u32 {
    let sum = index + n;
    if sum >= size {
        sum - size
    } else {
        sum
    }
}

/// The queue numbers whose bits are set in `mask`, lowest first.
fn queues(mut mask: u128) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let q = mask.trailing_zeros();
            mask &= mask - 1;
            q
        })
    })
}
