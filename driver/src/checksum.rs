//! The Internet checksum (RFC 1071) of IPv4 headers and UDP datagrams:
//! defined once for everything that builds or checks frames in software
//! (the tools' generators and probes, the simulator's test harness). The
//! driver itself never computes one; the 82599 can offload them.
//!
//! The checksum is the ones' complement of the ones' complement sum of the
//! data as big-endian 16-bit words (an odd last byte padded with a zero
//! byte). Computed over data whose checksum field is 0 it is the value to
//! put there; computed over data with a right checksum in place it is 0.

/// Adds `data` to a running ones' complement sum `sum` (start with 0):
/// big-endian 16-bit words, an odd last byte padded with 0. Data in
/// several pieces can be added piece by piece if every piece but the last
/// has an even length. The result keeps its carries folded in (at most
/// 0xFFFF), so a few small numbers can be added to it directly.
#[inline]
pub fn sum(sum: u32, data: &[u8]) -> u32 {
    let mut s = u64::from(sum);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        s += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        s += u64::from(*last) << 8;
    }
    fold(s) as u32
}

/// The checksum of a running sum: its carries folded in, complemented.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !(fold(u64::from(sum)) as u16)
}

fn fold(mut s: u64) -> u64 {
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    s
}

/// The checksum of an IPv4 header `header` (its 20 or more bytes): the
/// value of the checksum field when that is 0; 0 when the header is right.
#[inline]
pub fn ipv4_header(header: &[u8]) -> u16 {
    finish(sum(0, header))
}

/// The sum of the UDP pseudo header (RFC 768) of a datagram of `udp_len`
/// bytes in an IPv4 packet with header `ip`: its source and destination
/// addresses (bytes 12 to 20), protocol 17 and the UDP length.
///
/// # Panics
/// If `ip` is shorter than 20 bytes.
#[inline]
fn udp_pseudo_header(ip: &[u8], udp_len: usize) -> u32 {
    sum(0, &ip[12..20]) + 17 + udp_len as u32
}

/// The UDP checksum of datagram `udp` (header and payload, its checksum
/// field 0) in an IPv4 packet with header `ip`, over the pseudo header and
/// the datagram. A computed 0 is sent as 0xFFFF (0 means "no checksum").
///
/// # Panics
/// If `ip` is shorter than 20 bytes.
#[inline]
pub fn udp_ipv4(ip: &[u8], udp: &[u8]) -> u16 {
    match finish(sum(udp_pseudo_header(ip, udp.len()), udp)) {
        0 => 0xFFFF,
        c => c,
    }
}

/// Whether datagram `udp` in an IPv4 packet with header `ip` has a right
/// UDP checksum, or none (a checksum field of 0).
///
/// # Panics
/// If `ip` is shorter than 20 bytes or `udp` shorter than 8.
pub fn udp_ipv4_ok(ip: &[u8], udp: &[u8]) -> bool {
    udp[6..8] == [0, 0] || finish(sum(udp_pseudo_header(ip, udp.len()), udp)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textbook IPv4 header (192.168.0.1 to 192.168.0.199, UDP, 115
    /// bytes, TTL 64) whose checksum is 0xB861.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn ipv4_header_checksum() {
        assert_eq!(ipv4_header(&HEADER), 0xb861);
        let mut h = HEADER;
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(ipv4_header(&h), 0, "a right header sums to 0");
        h[8] = 0x3f;
        assert_ne!(ipv4_header(&h), 0, "TTL changed");
    }

    #[test]
    fn rfc_1071_example_and_odd_lengths() {
        // RFC 1071 1.(3): 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(0, &data), 0xddf2);
        assert_eq!(finish(sum(0, &data)), !0xddf2);
        // In pieces of even length, or with an odd last byte padded.
        assert_eq!(sum(sum(0, &data[..4]), &data[4..]), 0xddf2);
        assert_eq!(sum(0, &[0xab]), 0xab00);
        assert_eq!(finish(0), 0xffff);
        // Long data keeps folding without overflow.
        assert_eq!(sum(0, &vec![0xff; 1 << 20]), 0xffff);
    }

    #[test]
    fn udp_checksums_round_trip_and_zero_is_sent_as_ffff() {
        let mut packet = HEADER.to_vec();
        packet.extend_from_slice(&[
            0x04, 0x00, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, 0x61, 0x62, 0x63,
        ]);
        let (ip, udp) = packet.split_at_mut(20);
        let c = udp_ipv4(ip, udp);
        assert_ne!(c, 0);
        assert!(udp_ipv4_ok(ip, udp), "no checksum is fine");
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(udp_ipv4_ok(ip, udp));
        udp[10] ^= 1;
        assert!(!udp_ipv4_ok(ip, udp));
        // Payload words that make the sum 0xFFFF: the checksum is 0, sent
        // as 0xFFFF, which checks as right.
        udp[6..8].copy_from_slice(&[0, 0]);
        udp[8..10].copy_from_slice(&[0, 0]);
        let c = udp_ipv4(ip, udp);
        udp[8..10].copy_from_slice(&c.to_be_bytes());
        assert_eq!(udp_ipv4(ip, udp), 0xffff);
        udp[6..8].copy_from_slice(&[0xff, 0xff]);
        assert!(udp_ipv4_ok(ip, udp));
    }
}
