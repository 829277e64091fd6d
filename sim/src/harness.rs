//! A register-level harness for driving simulated ports without the driver's
//! device code: DMA regions registered in the IOMMU table, the global init
//! sequence, and one Rx and one Tx ring with advanced descriptors.
//!
//! It exists so that the simulator's own tests, its benchmark and its demo
//! exercise the model exactly as the datasheet describes, independently of
//! the driver's init, queues and rings (which must not be tested against
//! themselves); it shares only the register definitions and the file
//! formats (`driver::regs`, `driver::simfmt`). Each step cites the
//! datasheet section it follows.

use crate::bar::Bar;
use crate::iommu::Table;
use driver::regs;
use driver::shm::SharedMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Polls `cond` with a short back-off until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_micros(10);
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

fn timeout_err(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out waiting for {what}"),
    )
}

/// DMA memory: a file mapped here and registered in the lab's IOMMU table.
/// Dropping it unmaps the IOVA range and deletes the file.
#[derive(Debug)]
pub struct Dma {
    map: SharedMap,
    table: Table,
    iova: u64,
    path: PathBuf,
    mapped: bool,
}

impl Dma {
    /// Creates `len` bytes (rounded up to 4 KiB) backed by `path`, mapped
    /// at an IOVA from the lab-wide allocator of the IOMMU table.
    pub fn new(table_path: &Path, path: &Path, len: usize) -> io::Result<Dma> {
        let len = len.div_ceil(4096) * 4096;
        let map = SharedMap::create(path, len)?;
        let table = Table::open(table_path)?;
        let iova = table.alloc_iova(len as u64);
        table.map(iova, len as u64, path, 0)?;
        Ok(Dma {
            map,
            table,
            iova,
            path: path.to_path_buf(),
            mapped: true,
        })
    }

    /// First IOVA of the region.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the region is empty (never).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Removes the IOVA range from the IOMMU table, keeping the memory.
    pub fn unmap(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.mapped, false) {
            self.table.unmap(self.iova)?;
        }
        Ok(())
    }

    /// Reads a little-endian u64 at `off`.
    pub fn read_u64(&self, off: usize) -> u64 {
        self.map
            .get_u64(off)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// Writes a little-endian u64 at `off`.
    pub fn write_u64(&self, off: usize, v: u64) {
        if let Some(w) = self.map.get_u64(off) {
            w.store(v, Ordering::Release);
        }
    }

    /// Copies bytes out of the region.
    pub fn read(&self, off: usize, out: &mut [u8]) -> bool {
        self.map.read_bytes(off, out)
    }

    /// Copies bytes into the region.
    pub fn write(&self, off: usize, data: &[u8]) -> bool {
        self.map.write_bytes(off, data)
    }
}

impl Drop for Dma {
    fn drop(&mut self) {
        // Best effort: the lab may be gone already.
        let _ = self.unmap();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The global init sequence of 82599 datasheet 4.6.3: mask interrupts,
/// reset, wait for the EEPROM and DMA handshakes, configure the MAC, Rx and
/// Tx globally, restart auto-negotiation and wait for the link.
pub fn init_port(bar: &Bar, promisc: bool, timeout: Duration) -> io::Result<()> {
    // 4.6.3.1: disable interrupts; 4.6.3.2: global reset.
    bar.write(regs::EIMC, regs::IRQ_CLEAR_MASK);
    bar.write(regs::CTRL, regs::CTRL_RST_MASK);
    if !wait_for(timeout, || bar.read(regs::CTRL) & regs::CTRL_RST_MASK == 0) {
        return Err(timeout_err("CTRL.RST to clear"));
    }
    bar.write(regs::EIMC, regs::IRQ_CLEAR_MASK);
    // 4.6.3: EEPROM auto-read and DMA init done.
    if !wait_for(timeout, || bar.read(regs::EEC) & regs::EEC_ARD != 0) {
        return Err(timeout_err("EEC.ARD"));
    }
    if !wait_for(timeout, || {
        bar.read(regs::RDRXCTL) & regs::RDRXCTL_DMAIDONE != 0
    }) {
        return Err(timeout_err("RDRXCTL.DMAIDONE"));
    }
    // 4.6.7: Rx global setup: CRC strip in both places, broadcast accept.
    bar.write(
        regs::HLREG0,
        bar.read(regs::HLREG0) | regs::HLREG0_RXCRCSTRP | regs::HLREG0_TXPADEN,
    );
    bar.write(
        regs::RDRXCTL,
        bar.read(regs::RDRXCTL) | regs::RDRXCTL_CRCSTRIP,
    );
    let mut fctrl = bar.read(regs::FCTRL) | regs::FCTRL_BAM;
    if promisc {
        fctrl |= regs::FCTRL_UPE | regs::FCTRL_MPE;
    }
    bar.write(regs::FCTRL, fctrl);
    // 4.6.8: Tx global setup.
    bar.write(regs::DMATXCTL, regs::DMATXCTL_TE);
    // 4.6.7: enable receive last.
    bar.write(regs::RXCTRL, bar.read(regs::RXCTRL) | regs::RXCTRL_RXEN);
    // 4.6.4: link setup with auto-negotiation restart.
    bar.write(regs::AUTOC, bar.read(regs::AUTOC) | regs::AUTOC_AN_RESTART);
    if !wait_for(timeout, || bar.read(regs::LINKS) & regs::LINKS_UP != 0) {
        return Err(timeout_err("LINKS.UP"));
    }
    Ok(())
}

/// Programs a ring's base, length, head and tail (`[BAL, BAH, LEN, H, T]`)
/// and enables it through `ctl`, waiting for the read-back (4.6.7.1, 4.6.8.1).
fn enable_ring(
    bar: &Bar,
    ring: [u32; 5],
    ctl: u32,
    enable: u32,
    iova: u64,
    bytes: usize,
) -> io::Result<()> {
    let [bal, bah, len, head, tail] = ring;
    bar.write(bal, iova as u32);
    bar.write(bah, (iova >> 32) as u32);
    bar.write(len, bytes as u32);
    bar.write(head, 0);
    bar.write(tail, 0);
    bar.write(ctl, bar.read(ctl) | enable);
    if wait_for(Duration::from_secs(5), || bar.read(ctl) & enable != 0) {
        Ok(())
    } else {
        Err(timeout_err("the queue enable to read back"))
    }
}

/// An Rx ring of advanced one-buffer descriptors and its buffers.
#[derive(Debug)]
pub struct RxRing {
    /// Queue number.
    pub queue: u32,
    /// Descriptors followed by `size` buffers of `buf_size` bytes.
    pub mem: Dma,
    /// Ring size in descriptors.
    pub size: u32,
    /// Buffer size in bytes (a multiple of 1 KiB).
    pub buf_size: usize,
    next: u32,
}

/// One received descriptor's write-back fields (7.1.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxDesc {
    /// RSS type (bits 3:0) and packet type (bits 16:4), as written.
    pub info: u32,
    /// RSS hash.
    pub hash: u32,
    /// Extended status and errors.
    pub status: u32,
    /// Bytes in this descriptor's buffer.
    pub len: u16,
}

impl RxDesc {
    /// The RSS type field.
    pub fn rss_type(&self) -> u32 {
        self.info & 0xF
    }
}

impl RxRing {
    /// Sets up and enables Rx queue `queue` (4.6.7.1): ring in `mem`,
    /// SRRCTL with advanced one-buffer descriptors, all descriptors armed.
    pub fn new(
        bar: &Bar,
        queue: u32,
        mem: Dma,
        size: u32,
        buf_size: usize,
        drop_en: bool,
    ) -> io::Result<RxRing> {
        let ring_bytes = size as usize * 16;
        if mem.len() < ring_bytes + size as usize * buf_size || !buf_size.is_multiple_of(1024) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Rx ring memory too small",
            ));
        }
        let ring = RxRing {
            queue,
            mem,
            size,
            buf_size,
            next: 0,
        };
        for i in 0..size {
            ring.arm(i);
        }
        let mut srrctl =
            regs::SRRCTL_DESCTYPE_ADV_ONEBUF | (buf_size >> regs::SRRCTL_BSIZEPKT_SHIFT) as u32;
        if drop_en {
            srrctl |= regs::SRRCTL_DROP_EN;
        }
        bar.write(regs::srrctl(queue), srrctl);
        let regs = [
            regs::rdbal(queue),
            regs::rdbah(queue),
            regs::rdlen(queue),
            regs::rdh(queue),
            regs::rdt(queue),
        ];
        enable_ring(
            bar,
            regs,
            regs::rxdctl(queue),
            regs::RXDCTL_ENABLE,
            ring.mem.iova(),
            ring_bytes,
        )?;
        // 4.6.7.1: hand all but one descriptor to the device.
        bar.write(regs::rdt(queue), size - 1);
        Ok(ring)
    }

    fn buf_off(&self, i: u32) -> usize {
        self.size as usize * 16 + i as usize * self.buf_size
    }

    fn arm(&self, i: u32) {
        let d = i as usize * 16;
        self.mem
            .write_u64(d, self.mem.iova() + self.buf_off(i) as u64);
        self.mem.write_u64(d + 8, 0);
    }

    /// Takes the next completed descriptor, if any: its write-back and its
    /// bytes. The descriptor is re-armed and returned to the device.
    pub fn poll(&mut self, bar: &Bar) -> Option<(RxDesc, Vec<u8>)> {
        let d = self.next as usize * 16;
        let hi = self.mem.read_u64(d + 8);
        if hi as u32 & regs::RXD_STAT_DD == 0 {
            return None;
        }
        let lo = self.mem.read_u64(d);
        let desc = RxDesc {
            info: lo as u32,
            hash: (lo >> 32) as u32,
            status: hi as u32,
            len: (hi >> 32) as u16,
        };
        let mut data = vec![0; usize::from(desc.len).min(self.buf_size)];
        self.mem.read(self.buf_off(self.next), &mut data);
        self.arm(self.next);
        bar.write(regs::rdt(self.queue), self.next);
        self.next = (self.next + 1) % self.size;
        Some((desc, data))
    }

    /// Returns every completed descriptor to the device without copying
    /// the data, with one RDT write; returns how many frames completed.
    pub fn recycle(&mut self, bar: &Bar) -> usize {
        let mut n = 0;
        loop {
            let d = self.next as usize * 16;
            if self.mem.read_u64(d + 8) as u32 & regs::RXD_STAT_DD == 0 {
                break;
            }
            self.arm(self.next);
            self.next = (self.next + 1) % self.size;
            n += 1;
        }
        if n > 0 {
            bar.write(
                regs::rdt(self.queue),
                (self.next + self.size - 1) % self.size,
            );
        }
        n
    }

    /// Disables the queue and waits until it reads back disabled (4.6.7.1.2).
    pub fn disable(&self, bar: &Bar) -> io::Result<()> {
        bar.write(
            regs::rxdctl(self.queue),
            bar.read(regs::rxdctl(self.queue)) & !regs::RXDCTL_ENABLE,
        );
        if wait_for(Duration::from_secs(5), || {
            bar.read(regs::rxdctl(self.queue)) & regs::RXDCTL_ENABLE == 0
        }) {
            Ok(())
        } else {
            Err(timeout_err("RXDCTL.ENABLE to clear"))
        }
    }
}

/// A Tx ring of advanced data descriptors, one buffer per frame.
#[derive(Debug)]
pub struct TxRing {
    /// Queue number.
    pub queue: u32,
    /// Descriptors followed by `size` buffers of `buf_size` bytes.
    pub mem: Dma,
    /// Ring size in descriptors.
    pub size: u32,
    /// Buffer size in bytes.
    pub buf_size: usize,
    tail: u32,
    clean: u32,
}

impl TxRing {
    /// Sets up and enables Tx queue `queue` (4.6.8.1).
    pub fn new(bar: &Bar, queue: u32, mem: Dma, size: u32, buf_size: usize) -> io::Result<TxRing> {
        let ring_bytes = size as usize * 16;
        if mem.len() < ring_bytes + size as usize * buf_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Tx ring memory too small",
            ));
        }
        let regs = [
            regs::tdbal(queue),
            regs::tdbah(queue),
            regs::tdlen(queue),
            regs::tdh(queue),
            regs::tdt(queue),
        ];
        enable_ring(
            bar,
            regs,
            regs::txdctl(queue),
            regs::TXDCTL_ENABLE,
            mem.iova(),
            ring_bytes,
        )?;
        Ok(TxRing {
            queue,
            mem,
            size,
            buf_size,
            tail: 0,
            clean: 0,
        })
    }

    fn buf_off(&self, i: u32) -> usize {
        self.size as usize * 16 + i as usize * self.buf_size
    }

    /// Free descriptors after reclaiming those the device has completed.
    /// The device completes in order, so one DD probe at the end of a
    /// batch of up to 32 descriptors reclaims the batch (as ixy does).
    pub fn free_slots(&mut self) -> u32 {
        loop {
            let outstanding = (self.tail + self.size - self.clean) % self.size;
            if outstanding == 0 {
                break;
            }
            let step = outstanding.min(32);
            let probe = (self.clean + step - 1) % self.size;
            let hi = self.mem.read_u64(probe as usize * 16 + 8);
            if (hi >> 32) as u32 & regs::TXD_STAT_DD == 0 {
                break;
            }
            self.clean = (self.clean + step) % self.size;
        }
        (self.clean + self.size - self.tail - 1) % self.size
    }

    /// Queues one frame (without FCS) without writing the tail; `extra_cmd`
    /// adds command bits such as [`regs::ADVTXD_MAC_TSTAMP`]. False when the
    /// ring is full or the frame does not fit a buffer.
    pub fn push(&mut self, frame: &[u8], extra_cmd: u32) -> bool {
        if frame.len() > self.buf_size || frame.is_empty() || self.free_slots() == 0 {
            return false;
        }
        self.mem.write(self.buf_off(self.tail), frame);
        self.queue_desc(frame.len(), extra_cmd);
        true
    }

    /// Writes `frame` into every buffer of the ring once, for
    /// [`TxRing::push_again`]. False when it does not fit a buffer.
    pub fn prefill(&mut self, frame: &[u8]) -> bool {
        self.prefill_flows(std::slice::from_ref(&frame))
    }

    /// Writes `frames[i % frames.len()]` into buffer `i` of the ring, for
    /// [`TxRing::push_again`] (the frames must be of one length): a
    /// generator cycling through flows. False when one does not fit a
    /// buffer, or there are none.
    pub fn prefill_flows<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> bool {
        let fits = |f: &F| !f.as_ref().is_empty() && f.as_ref().len() <= self.buf_size;
        if frames.is_empty() || !frames.iter().all(fits) {
            return false;
        }
        (0..self.size).all(|i| {
            let frame = frames[i as usize % frames.len()].as_ref();
            self.mem.write(self.buf_off(i), frame)
        })
    }

    /// Queues the `len`-byte frame [`TxRing::prefill`] wrote, writing only
    /// its descriptor, as a packet generator resends its buffers. False
    /// when the ring is full.
    pub fn push_again(&mut self, len: usize) -> bool {
        if len > self.buf_size || len == 0 || self.free_slots() == 0 {
            return false;
        }
        self.queue_desc(len, 0);
        true
    }

    /// Writes the data descriptor of the buffer at the tail and advances it.
    fn queue_desc(&mut self, len: usize, extra_cmd: u32) {
        let i = self.tail;
        let off = self.buf_off(i);
        let cmd = regs::TXD_CMD_EOP
            | regs::TXD_CMD_IFCS
            | regs::TXD_CMD_RS
            | regs::TXD_CMD_DEXT
            | regs::ADVTXD_DTYP_DATA
            | extra_cmd
            | len as u32;
        let olinfo = (len as u32) << regs::ADVTXD_PAYLEN_SHIFT;
        self.mem
            .write_u64(i as usize * 16, self.mem.iova() + off as u64);
        self.mem.write_u64(
            i as usize * 16 + 8,
            u64::from(cmd) | (u64::from(olinfo) << 32),
        );
        self.tail = (self.tail + 1) % self.size;
    }

    /// Hands queued frames to the device: one TDT write (4.6.8.1).
    pub fn flush(&self, bar: &Bar) {
        std::sync::atomic::fence(Ordering::Release);
        bar.write(regs::tdt(self.queue), self.tail);
    }

    /// Queues and flushes one frame.
    pub fn send(&mut self, bar: &Bar, frame: &[u8], extra_cmd: u32) -> bool {
        let ok = self.push(frame, extra_cmd);
        if ok {
            self.flush(bar);
        }
        ok
    }

    /// Whether every queued frame has been completed by the device.
    pub fn idle(&mut self) -> bool {
        self.free_slots() == self.size - 1
    }
}

/// Turns RSS on (82599 datasheet 7.1.2.8): `key` into RSSRK, the
/// redirection table spread round robin over `queues` queues, every hash
/// field enabled in MRQC.
pub fn program_rss(bar: &Bar, key: &[u8; 40], queues: u32) {
    for (i, k) in key.chunks_exact(4).enumerate() {
        bar.write(
            regs::rssrk(i as u32),
            u32::from_le_bytes([k[0], k[1], k[2], k[3]]),
        );
    }
    for i in 0..32u32 {
        let e = |j: u32| (4 * i + j) % queues.max(1);
        bar.write(regs::reta(i), e(0) | e(1) << 8 | e(2) << 16 | e(3) << 24);
    }
    bar.write(
        regs::MRQC,
        regs::MRQC_RSSEN
            | regs::MRQC_RSS_FIELD_IPV4
            | regs::MRQC_RSS_FIELD_IPV4_TCP
            | regs::MRQC_RSS_FIELD_IPV4_UDP
            | regs::MRQC_RSS_FIELD_IPV6
            | regs::MRQC_RSS_FIELD_IPV6_TCP
            | regs::MRQC_RSS_FIELD_IPV6_UDP,
    );
}

/// Builds an IPv4/UDP frame (without FCS) of `len` bytes from `src_ip`
/// to `dst_ip` with the given ports, `payload_tag` written after the UDP
/// header (for sequence numbers).
pub fn udp_frame(
    dst_mac: [u8; 6],
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    sport: u16,
    dport: u16,
    len: usize,
    payload_tag: u64,
) -> Vec<u8> {
    let len = len.max(14 + 20 + 8 + 8);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&[0x02, 0x1c, 0x59, 0x7e, 0x57, 0x00]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - 14) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src_ip);
    f[30..34].copy_from_slice(&dst_ip);
    let sum = driver::checksum::ipv4_header(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..50].copy_from_slice(&payload_tag.to_be_bytes());
    f
}

/// Builds a PTP v2 Sync message over UDP port 319 with sequence id `seq`,
/// padded to `len` bytes.
pub fn ptp_frame(dst_mac: [u8; 6], seq: u16, len: usize) -> Vec<u8> {
    let mut f = udp_frame(
        dst_mac,
        [198, 18, 0, 1],
        [198, 18, 0, 2],
        319,
        regs::PTP_EVENT_UDP_PORT,
        len.max(42 + 44),
        0,
    );
    let ptp = &mut f[42..];
    ptp.fill(0);
    ptp[0] = 0x00; // messageType 0: Sync
    ptp[1] = 0x02; // versionPTP 2
    ptp[2..4].copy_from_slice(&44u16.to_be_bytes());
    ptp[20..28].copy_from_slice(&[0x02, 0x1c, 0x59, 0xff, 0xfe, 0x00, 0x00, 0x01]);
    ptp[28..30].copy_from_slice(&1u16.to_be_bytes());
    ptp[30..32].copy_from_slice(&seq.to_be_bytes());
    f
}
