//! The control virtqueue of virtio-net (virtio 1.1 5.1.6.5): the commands
//! ixy-mp sends, as bytes, and the synchronous exchange that sends them.

use super::ring::{Vring, DESC_F_NEXT, DESC_F_WRITE};
use crate::rss::{HashFields, RssConfig};
use std::time::{Duration, Instant};

/// `VIRTIO_NET_CTRL_MQ`, the multiqueue class (5.1.6.5.5).
pub const CLASS_MQ: u8 = 4;
/// `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET`: how many queue pairs receive.
pub const MQ_VQ_PAIRS_SET: u8 = 0;
/// `VIRTIO_NET_CTRL_MQ_RSS_CONFIG`: key, indirection table, hash types.
pub const MQ_RSS_CONFIG: u8 = 1;
/// The device's answer: `VIRTIO_NET_OK`.
const ACK_OK: u8 = 0;

/// `VIRTIO_NET_HASH_TYPE_*` bits (5.1.6.4.3.1) for the six hashes the
/// 82599 also computes.
pub mod hash_type {
    /// Source and destination IPv4 address.
    pub const IPV4: u32 = 1 << 0;
    /// IPv4 addresses and TCP ports.
    pub const TCPV4: u32 = 1 << 1;
    /// IPv4 addresses and UDP ports.
    pub const UDPV4: u32 = 1 << 2;
    /// Source and destination IPv6 address.
    pub const IPV6: u32 = 1 << 3;
    /// IPv6 addresses and TCP ports.
    pub const TCPV6: u32 = 1 << 4;
    /// IPv6 addresses and UDP ports.
    pub const UDPV6: u32 = 1 << 5;
}

/// The hash types that `fields` enables, as the 82599 would hash.
pub fn hash_types(fields: &HashFields) -> u32 {
    use hash_type::*;
    fields.select([IPV4, TCPV4, UDPV4, IPV6, TCPV6, UDPV6])
}

/// `struct virtio_net_rss_config` (5.1.6.5.7.1) for `rss`: its hash types
/// (`types`), its 128-entry redirection table as the indirection table
/// (entry `hash & 127`, as the 82599's RETA), its key, unclassified frames
/// to queue 0, and `rss.queues` transmit queues.
pub fn rss_config(rss: &RssConfig, types: u32) -> Vec<u8> {
    let table = &rss.reta;
    let mut b = Vec::with_capacity(12 + 2 * table.len() + rss.key.len());
    b.extend_from_slice(&types.to_le_bytes());
    b.extend_from_slice(&(table.len() as u16 - 1).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    for &q in table {
        b.extend_from_slice(&u16::from(q).to_le_bytes());
    }
    b.extend_from_slice(&rss.queues.to_le_bytes());
    b.push(rss.key.len() as u8);
    b.extend_from_slice(&rss.key);
    b
}

/// Where the control queue's buffers lie: a header, a data area and the
/// ack byte, after the control queue's ring.
#[derive(Debug, Clone, Copy)]
pub struct Scratch {
    /// Bus address of the scratch area.
    pub bus: u64,
    /// Offset of the scratch area in the control queue's memory.
    pub offset: usize,
}

/// Bytes of the data area: the RSS configuration of a 128-entry table
/// with a 40-byte key is 310.
pub const SCRATCH_DATA: usize = 1024;
/// Bytes of scratch in all: header (16), data, ack (16).
pub const SCRATCH_LEN: usize = 16 + SCRATCH_DATA + 16;

/// Sends command `class`/`command` with `data` on the control queue `q`
/// (descriptors 0-2 of it, posted at `*avail`) and waits for the device's
/// answer; `notify` kicks the device. Err says what went wrong.
pub fn exchange(
    q: &Vring,
    scratch: &Scratch,
    notify: &dyn Fn(),
    avail: &mut u16,
    (class, command): (u8, u8),
    data: &[u8],
) -> Result<(), String> {
    if data.len() > SCRATCH_DATA {
        return Err(format!("command data of {} bytes is too long", data.len()));
    }
    let (hdr, body, ack) = (
        scratch.offset,
        scratch.offset + 16,
        scratch.offset + 16 + SCRATCH_DATA,
    );
    q.write_bytes(hdr, &[class, command]);
    q.write_bytes(body, data);
    q.write_bytes(ack, &[0xFF]);
    let bus = |off: usize| scratch.bus + (off - scratch.offset) as u64;
    q.set_desc(0, bus(hdr), 2, DESC_F_NEXT, 1);
    q.set_desc(1, bus(body), data.len() as u32, DESC_F_NEXT, 2);
    q.set_desc(2, bus(ack), 1, DESC_F_WRITE, 0);
    let used_before = q.used_idx();
    q.set_avail(*avail, 0);
    *avail = avail.wrapping_add(1);
    q.publish_avail(*avail);
    if q.needs_notify() {
        notify();
    }
    // QEMU answers at once; under TCG a guest may wait a while.
    let start = Instant::now();
    while q.used_idx() == used_before {
        if start.elapsed() > Duration::from_secs(5) {
            return Err(format!(
                "no answer to control command {class}/{command} within 5 s"
            ));
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let mut answer = [0xFFu8];
    q.read_bytes(ack, &mut answer);
    if answer[0] != ACK_OK {
        return Err(format!(
            "the device refused control command {class}/{command} (ack {})",
            answer[0]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rss::RssKey;

    #[test]
    fn rss_config_has_the_layout_of_5_1_6_5_7_1() {
        let rss = RssConfig::new(4, RssKey::Default).expect("rss");
        let types = hash_types(&HashFields::default());
        assert_eq!(types, 0x3F);
        let b = rss_config(&rss, types);
        assert_eq!(b.len(), 4 + 2 + 2 + 256 + 2 + 1 + 40);
        assert_eq!(&b[0..4], &0x3Fu32.to_le_bytes());
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 127, "table mask");
        assert_eq!(
            u16::from_le_bytes([b[6], b[7]]),
            0,
            "unclassified to queue 0"
        );
        for i in 0..128 {
            let e = u16::from_le_bytes([b[8 + 2 * i], b[9 + 2 * i]]);
            assert_eq!(e, u16::from(rss.reta[i]));
        }
        assert_eq!(u16::from_le_bytes([b[264], b[265]]), 4, "max_tx_vq");
        assert_eq!(b[266], 40);
        assert_eq!(&b[267..], &rss.key[..]);
        assert!(b.len() <= SCRATCH_DATA);
    }
}
