//! The virtio queues against a device played by the test: it reads the
//! available ring and the descriptors as a virtio device does (2.6), writes
//! frames into the buffers and completes them in the used ring.

use super::device::{QueueAccess, QueueMem};
use super::ring::{Layout, Vring, DESC_F_NEXT, DESC_F_WRITE, USED_F_NO_NOTIFY};
use super::{VirtioRx, VirtioTx, HDR_SLOT};
use crate::mempool::{Mempool, Packet};
use crate::mmio::Bar;
use crate::regs;
use crate::rss::{RssConfig, RssKey};
use crate::shm::SharedMap;
use std::net::Ipv4Addr;

/// Queue memory, a notify BAR and the place of one queue of 16 entries.
struct Rig {
    mem: SharedMap,
    notify: Bar,
    place: QueueMem,
    rss: RssConfig,
    /// The receive queues' notifications: queues 2 and 6.
    kicks: [(usize, u16); 2],
}

const NOTIFY_OFF: usize = 8;

impl Rig {
    fn new() -> Rig {
        let layout = Layout::new(16);
        Rig {
            mem: SharedMap::anonymous(64 * 1024).expect("memory"),
            notify: Bar::in_memory(SharedMap::anonymous(4096).expect("bar")),
            place: QueueMem {
                base: 0,
                layout,
                extra: layout.len,
                notify_off: NOTIFY_OFF,
            },
            rss: RssConfig::new(4, RssKey::Default).expect("rss"),
            kicks: [(NOTIFY_OFF, 2), (NOTIFY_OFF + 4, 6)],
        }
    }

    fn access(&self, hash_report: bool) -> QueueAccess<'_> {
        QueueAccess {
            ring: self.ring(),
            mem: self.place,
            hdr_bus: 0x10_0000 + self.place.extra as u64,
            hdr_len: if hash_report { 20 } else { 12 },
            rss: Some(&self.rss),
            hash_report,
            notify: &self.notify,
            rx_kicks: &self.kicks,
        }
    }

    fn ring(&self) -> Vring<'_> {
        Vring::new(&self.mem, 0, 0x10_0000, self.place.layout)
    }
}

/// A UDP/IPv4 frame of 60 bytes from 10.0.0.`n`:`1000 + n` to 10.1.0.1:80.
fn frame(n: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, n]);
    f[30..34].copy_from_slice(&[10, 1, 0, 1]);
    f[34..36].copy_from_slice(&(1000 + u16::from(n)).to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f
}

/// The device receives `frames` into the next posted buffers, from
/// position `*at` of the available ring, with `hdr_len`-byte headers;
/// a hash report of `report` when given.
fn device_receive(
    q: &Vring,
    pool: &Mempool,
    at: &mut u16,
    frames: &[Vec<u8>],
    hdr_len: usize,
    report: Option<(u32, u16)>,
    hdrs: &SharedMap,
) {
    for f in frames {
        assert_ne!(*at, q.avail_idx(), "the device has a buffer");
        let head = q.avail_entry(*at);
        let (hdr_addr, hdr_len_d, flags, next) = q.desc(head);
        assert_eq!(flags, DESC_F_NEXT | DESC_F_WRITE);
        assert_eq!(hdr_len_d as usize, hdr_len);
        let (buf, cap, bflags, _) = q.desc(next);
        assert_eq!(bflags, DESC_F_WRITE);
        assert!(cap as usize >= f.len());
        if let Some((hash, kind)) = report {
            // The queue memory sits at bus address 0x10_0000.
            let off = (hdr_addr - 0x10_0000) as usize;
            let mut h = [0u8; 20];
            h[12..16].copy_from_slice(&hash.to_le_bytes());
            h[16..18].copy_from_slice(&kind.to_le_bytes());
            hdrs.write_bytes(off, &h);
        }
        pool.detached_memory().write_bytes(buf as usize, f);
        q.device_complete(q.used_idx(), head, (hdr_len + f.len()) as u32);
        *at = at.wrapping_add(1);
    }
}

#[test]
fn frames_arrive_in_order_with_the_hash_the_82599_would_compute() {
    let rig = Rig::new();
    let pool = Mempool::detached(64, 2048).expect("pool");
    let mut rx = VirtioRx::take(rig.access(false), 0, "test", &pool).expect("attach");
    let q = rig.ring();
    assert_eq!(q.avail_idx(), 8, "every slot posted");
    assert_eq!(pool.free_count(), 64 - 8);
    assert!(!rx.ready());
    let frames: Vec<Vec<u8>> = (1..=5).map(frame).collect();
    let mut at = 0;
    device_receive(&q, &pool, &mut at, &frames, 12, None, &rig.mem);
    assert!(rx.ready());
    let mut out = Vec::new();
    assert_eq!(rx.rx_batch(&mut out, 3), 3, "at most max");
    assert_eq!(rx.rx_batch(&mut out, 32), 2);
    for (n, (p, f)) in out.iter().zip(&frames).enumerate() {
        assert_eq!(p.data(), &f[..]);
        let src = Ipv4Addr::new(10, 0, 0, n as u8 + 1);
        let want = rig
            .rss
            .hash_ipv4(src, Ipv4Addr::new(10, 1, 0, 1), Some((1001 + n as u16, 80)));
        assert_eq!(p.rss_hash(), want, "software Toeplitz over the 4-tuple");
        assert_eq!(u32::from(p.rss_type()), regs::RXDADV_RSSTYPE_IPV4_UDP);
    }
    assert_eq!(q.avail_idx(), 13, "five slots re-posted");
    assert_eq!(rx.counters().packets, 5);
    drop(out);
    assert_eq!(pool.free_count(), 64 - 8);
}

#[test]
fn the_reported_hash_is_passed_on() {
    let rig = Rig::new();
    let pool = Mempool::detached(64, 2048).expect("pool");
    let mut rx = VirtioRx::take(rig.access(true), 0, "test", &pool).expect("attach");
    let q = rig.ring();
    let mut at = 0;
    device_receive(
        &q,
        &pool,
        &mut at,
        &[frame(9)],
        20,
        Some((0xDEAD_BEEF, 2)),
        &rig.mem,
    );
    let mut out = Vec::new();
    assert_eq!(rx.rx_batch(&mut out, 32), 1);
    assert_eq!(out[0].rss_hash(), 0xDEAD_BEEF);
    assert_eq!(u32::from(out[0].rss_type()), regs::RXDADV_RSSTYPE_IPV4_TCP);
}

#[test]
fn the_device_is_notified_only_when_it_asks() {
    let rig = Rig::new();
    let pool = Mempool::detached(64, 2048).expect("pool");
    let q = rig.ring();
    q.device_set_used_flags(USED_F_NO_NOTIFY);
    let mut rx = VirtioRx::take(rig.access(false), 1, "test", &pool).expect("attach");
    assert_eq!(
        rig.notify.read16(NOTIFY_OFF),
        0,
        "no notification while NO_NOTIFY"
    );
    q.device_set_used_flags(0);
    let mut at = 0;
    device_receive(&q, &pool, &mut at, &[frame(1)], 12, None, &rig.mem);
    let mut out = Vec::new();
    rx.rx_batch(&mut out, 32);
    assert_eq!(
        rig.notify.read16(NOTIFY_OFF),
        2,
        "receiveq of pair 1 is queue 2"
    );
    assert_eq!(
        rig.notify.read16(NOTIFY_OFF + 4),
        6,
        "and every other receive queue is notified too"
    );
}

#[test]
fn a_new_owner_drops_what_the_dead_one_posted_and_reposts_the_slots() {
    let rig = Rig::new();
    let old_pool = Mempool::detached(64, 2048).expect("pool");
    let rx = VirtioRx::take(rig.access(false), 0, "test", &old_pool).expect("attach");
    // The owner dies: its queue object goes, its buffers stay posted.
    std::mem::forget(rx);
    let pool = Mempool::detached(64, 2048).expect("pool");
    let mut rx = VirtioRx::take(rig.access(false), 0, "test", &pool).expect("take over");
    assert_eq!(pool.free_count(), 64, "every slot is still the old owner's");
    let q = rig.ring();
    let mut at = 0;
    device_receive(
        &q,
        &old_pool,
        &mut at,
        &[frame(1), frame(2)],
        12,
        None,
        &rig.mem,
    );
    let mut out = Vec::new();
    assert_eq!(
        rx.rx_batch(&mut out, 32),
        0,
        "the old owner's frames are not ours"
    );
    assert_eq!(rx.foreign_completions(), 2);
    assert_eq!(pool.free_count(), 62, "both slots now hold our buffers");
    device_receive(&q, &pool, &mut at, &vec![frame(3); 7], 12, None, &rig.mem);
    assert_eq!(
        rx.rx_batch(&mut out, 32),
        1,
        "six old buffers first, then ours"
    );
    assert_eq!(out[0].data(), &frame(3)[..]);
}

#[test]
fn sent_packets_go_out_behind_a_zero_header_and_come_back_to_their_pool() {
    let rig = Rig::new();
    let pool = Mempool::detached(64, 2048).expect("pool");
    let mut tx = VirtioTx::take(rig.access(false), 0, "test").expect("attach");
    let q = rig.ring();
    let mut pkts: Vec<Packet> = Vec::new();
    for n in 1..=10 {
        let mut p = pool.alloc().expect("buffer");
        p.set_len(60);
        p.data_mut().copy_from_slice(&frame(n));
        pkts.push(p);
    }
    assert_eq!(tx.tx_batch(&mut pkts), 8, "eight slots");
    assert_eq!(pkts.len(), 2, "the rest stay with the caller");
    assert_eq!(q.avail_idx(), 8);
    for i in 0..8u16 {
        let head = q.avail_entry(i);
        let (_, hlen, flags, next) = q.desc(head);
        assert_eq!((hlen, flags), (12, DESC_F_NEXT));
        let (buf, len, bflags, _) = q.desc(next);
        assert_eq!((len, bflags), (60, 0));
        let mut data = [0u8; 60];
        pool.detached_memory().read_bytes(buf as usize, &mut data);
        assert_eq!(&data[..], &frame(i as u8 + 1)[..], "in order");
        let mut hdr = [0xFFu8; 12];
        let off = rig.place.extra + usize::from(head / 2) * HDR_SLOT;
        rig.mem.read_bytes(off, &mut hdr);
        assert_eq!(hdr, [0; 12], "no offloads");
    }
    assert_eq!(pool.free_count(), 64 - 10);
    for i in 0..3 {
        q.device_complete(i, q.avail_entry(i), 0);
    }
    assert_eq!(tx.tx_batch(&mut pkts), 2, "completions free slots");
    assert_eq!(pool.free_count(), 64 - 10 + 3);
    assert_eq!(tx.counters().packets, 10);
}
