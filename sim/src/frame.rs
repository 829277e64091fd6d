//! Frame parsing as done by the 82599 Rx packet parser, and the Ethernet FCS.
//!
//! The parser recognises what the 82599 recognises for its Rx write-back
//! descriptor (82599 datasheet 7.1.6.2), for RSS (7.1.2.8) and for IEEE 1588
//! time stamping (7.9): an Ethernet II header with at most one VLAN tag, IPv4
//! (with or without options) or IPv6 (with the common extension headers), TCP
//! or UDP, and PTP event messages over L2 or UDP.
//!
//! Everything here works on borrowed bytes: no allocation and no panic on any
//! input. A truncated or malformed header makes that layer, and every layer
//! above it, absent.

#![forbid(unsafe_code)]

use driver::regs;

/// Length of an Ethernet II header without VLAN tag (IEEE 802.3 clause 3.2).
pub const ETH_HEADER_LEN: usize = 14;
/// EtherType of IPv4 (82599 datasheet 7.1.2.8.1).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6 (82599 datasheet 7.1.2.8.1).
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType of IEEE 1588 PTP over L2 (82599 datasheet 7.9).
pub const ETHERTYPE_PTP: u16 = 0x88F7;
/// TPID of an 802.1Q VLAN tag (82599 datasheet 7.4).
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// TPID of an 802.1ad service VLAN tag (82599 datasheet 7.4).
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// UDP destination port of PTP event messages (82599 datasheet 7.9).
pub const PTP_EVENT_PORT: u16 = 319;
/// IP protocol number of TCP (82599 datasheet 7.1.2.8.1).
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP (82599 datasheet 7.1.2.8.1).
pub const IPPROTO_UDP: u8 = 17;

/// Most IPv6 extension headers the parser skips before giving up
/// (82599 datasheet 7.1.6.2, IPV6E).
const MAX_IPV6_EXT_HEADERS: usize = 8;
const IPV6_HEADER_LEN: usize = 40;
const TCP_MIN_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;

/// Layer-3 header as recognised by the 82599 parser (82599 datasheet 7.1.6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L3 {
    /// Not IP, or a malformed/truncated IP header.
    #[default]
    None,
    /// IPv4 header (82599 datasheet 7.1.6.2, packet type IPV4 / IPV4E).
    Ipv4 {
        /// Source address, network order.
        src: [u8; 4],
        /// Destination address, network order.
        dst: [u8; 4],
        /// IHL > 5: the header carries options.
        options: bool,
        /// MF set or fragment offset != 0.
        fragment: bool,
        /// Protocol field.
        proto: u8,
    },
    /// IPv6 header (82599 datasheet 7.1.6.2, packet type IPV6 / IPV6E).
    Ipv6 {
        /// Source address, network order.
        src: [u8; 16],
        /// Destination address, network order.
        dst: [u8; 16],
        /// At least one extension header follows the fixed header.
        ext_headers: bool,
        /// A fragment header with M set or offset != 0.
        fragment: bool,
        /// Next header after skipping hop-by-hop (0), routing (43),
        /// destination options (60) and fragment (44) headers, at most 8;
        /// if the chain is truncated, the type of the header not skipped.
        proto: u8,
    },
}

/// Layer-4 header as recognised by the 82599 parser (82599 datasheet 7.1.6.2).
///
/// Present only for non-fragmented IP packets whose whole minimal L4 header
/// (TCP 20 bytes, UDP 8 bytes) lies inside the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4 {
    /// No (recognised, complete) TCP or UDP header.
    #[default]
    None,
    /// TCP header (82599 datasheet 7.1.6.2, packet type TCP).
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// UDP header (82599 datasheet 7.1.6.2, packet type UDP).
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
}

/// Fields of a PTP message header that the 82599 time-sync logic looks at
/// (82599 datasheet 7.9, PTP v1 and v2 message formats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ptp {
    /// versionPTP: low nibble of byte 1.
    pub version: u8,
    /// v2: messageType, low nibble of byte 0; v1: control field, byte 32.
    pub message_type: u8,
    /// sequenceId, bytes 30..32.
    pub sequence_id: u16,
    /// v2: sourcePortIdentity (clockIdentity + portNumber), bytes 20..30;
    /// v1: sourceUuid (6) + sourcePortId (2), bytes 22..30, zero padded.
    pub source_id: [u8; 10],
    /// Carried directly over Ethernet (EtherType 0x88F7) rather than UDP.
    pub l2: bool,
}

/// What the 82599 parser learnt about a frame (82599 datasheet 7.1.6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
    /// EtherType after at most one 802.1Q / 802.1ad tag; for a tagged frame
    /// too short to hold the inner EtherType, the tag's TPID.
    pub ethertype: u16,
    /// Offset of the header after the L2 header (IP / PTP): 14, or 18 when
    /// tagged; 0 for frames shorter than 14 bytes.
    pub l3_offset: usize,
    /// The IP header, if complete and well formed.
    pub l3: L3,
    /// The TCP / UDP header, if complete and not a fragment.
    pub l4: L4,
    /// PTP message: EtherType 0x88F7, or UDP to port 319; the caller
    /// filters on version and message type (TSYNCRXCTL, RXMTRL).
    pub ptp: Option<Ptp>,
}

/// Reads `N` bytes at `off`, if they are all inside `buf`.
fn bytes_at<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..)?.first_chunk::<N>().copied()
}

/// Reads a big-endian u16 at `off`, if it is inside `buf`.
fn be16_at(buf: &[u8], off: usize) -> Option<u16> {
    bytes_at::<2>(buf, off).map(u16::from_be_bytes)
}

/// Parses the frame as the 82599 Rx parser does (82599 datasheet 7.1.6.2,
/// 7.1.2.8.1, 7.9). `frame` starts at the destination MAC address and may
/// or may not carry the FCS (the parser never looks at it).
///
/// Never panics and never allocates; frames shorter than 14 bytes give
/// `Parsed::default()`.
#[inline]
pub fn parse(frame: &[u8]) -> Parsed {
    plain_ipv4(frame).unwrap_or_else(|| parse_any(frame))
}

/// The frame most traffic is, parsed with one bounds check: untagged
/// IPv4 without options, not a fragment, carrying a whole TCP or UDP
/// header (and not PTP). `None` for anything else, which [`parse_any`]
/// handles; the two agree wherever this one answers (a property test).
#[inline]
fn plain_ipv4(frame: &[u8]) -> Option<Parsed> {
    const L3: usize = ETH_HEADER_LEN;
    const L4_AT: usize = L3 + 20;
    let h = frame.first_chunk::<{ L4_AT + 4 }>()?;
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    if be16(12) != ETHERTYPE_IPV4 || h[L3] != 0x45 || be16(L3 + 6) & 0x3FFF != 0 {
        return None;
    }
    let (sport, dport) = (be16(L4_AT), be16(L4_AT + 2));
    let proto = h[L3 + 9];
    let l4 = match proto {
        IPPROTO_UDP if frame.len() >= L4_AT + UDP_HEADER_LEN && dport != PTP_EVENT_PORT => {
            L4::Udp { sport, dport }
        }
        IPPROTO_TCP if frame.len() >= L4_AT + TCP_MIN_HEADER_LEN => L4::Tcp { sport, dport },
        _ => return None,
    };
    let four = |at: usize| [h[at], h[at + 1], h[at + 2], h[at + 3]];
    Some(Parsed {
        dst: [h[0], h[1], h[2], h[3], h[4], h[5]],
        src: [h[6], h[7], h[8], h[9], h[10], h[11]],
        ethertype: ETHERTYPE_IPV4,
        l3_offset: L3,
        l3: L3::Ipv4 {
            src: four(L3 + 12),
            dst: four(L3 + 16),
            options: false,
            fragment: false,
            proto,
        },
        l4,
        ptp: None,
    })
}

/// [`parse`] for every frame: VLAN / QinQ tags, IPv4 with options and
/// fragments, IPv6 with extension headers, PTP, truncated headers.
fn parse_any(frame: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    let (Some(dst), Some(src), Some(outer)) = (
        bytes_at::<6>(frame, 0),
        bytes_at::<6>(frame, 6),
        be16_at(frame, 12),
    ) else {
        return p;
    };
    p.dst = dst;
    p.src = src;
    p.ethertype = outer;
    p.l3_offset = ETH_HEADER_LEN;
    if outer == ETHERTYPE_VLAN || outer == ETHERTYPE_QINQ {
        match be16_at(frame, ETH_HEADER_LEN + 2) {
            Some(inner) => {
                p.ethertype = inner;
                p.l3_offset = ETH_HEADER_LEN + 4;
            }
            None => return p,
        }
    }
    let l3 = frame.get(p.l3_offset..).unwrap_or_default();

    let ip = match p.ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(l3),
        ETHERTYPE_IPV6 => parse_ipv6(l3),
        ETHERTYPE_PTP => {
            p.ptp = parse_ptp(l3, true);
            None
        }
        _ => None,
    };
    let Some((l3_hdr, l4_off)) = ip else {
        return p;
    };
    p.l3 = l3_hdr;

    let (fragment, proto) = match l3_hdr {
        L3::Ipv4 {
            fragment, proto, ..
        }
        | L3::Ipv6 {
            fragment, proto, ..
        } => (fragment, proto),
        L3::None => return p,
    };
    if fragment {
        return p;
    }
    let l4 = l3.get(l4_off..).unwrap_or_default();
    p.l4 = parse_l4(proto, l4);
    if let L4::Udp {
        dport: PTP_EVENT_PORT,
        ..
    } = p.l4
    {
        p.ptp = parse_ptp(l4.get(UDP_HEADER_LEN..).unwrap_or_default(), false);
    }
    p
}

/// Parses an IPv4 header; returns it and the offset of the L4 header.
/// Requires version 4, IHL >= 5 and the whole header inside `h`.
fn parse_ipv4(h: &[u8]) -> Option<(L3, usize)> {
    let b0 = *h.first()?;
    if b0 >> 4 != 4 {
        return None;
    }
    let hlen = usize::from(b0 & 0x0F) * 4;
    if hlen < 20 || h.len() < hlen {
        return None;
    }
    let flags_frag = be16_at(h, 6)?;
    // MF is bit 13, the fragment offset bits 12:0.
    let fragment = flags_frag & 0x3FFF != 0;
    let proto = *h.get(9)?;
    let src = bytes_at::<4>(h, 12)?;
    let dst = bytes_at::<4>(h, 16)?;
    Some((
        L3::Ipv4 {
            src,
            dst,
            options: hlen > 20,
            fragment,
            proto,
        },
        hlen,
    ))
}

/// Parses an IPv6 header and its extension-header chain; returns it and the
/// offset of the header after the chain.
fn parse_ipv6(h: &[u8]) -> Option<(L3, usize)> {
    let b0 = *h.first()?;
    if b0 >> 4 != 6 || h.len() < IPV6_HEADER_LEN {
        return None;
    }
    let mut next = *h.get(6)?;
    let src = bytes_at::<16>(h, 8)?;
    let dst = bytes_at::<16>(h, 24)?;
    let mut off = IPV6_HEADER_LEN;
    let mut ext_headers = false;
    let mut fragment = false;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-octet
            // units, not counting the first 8 octets.
            0 | 43 | 60 => {
                ext_headers = true;
                let (Some(&nh), Some(&len)) = (h.get(off), h.get(off + 1)) else {
                    break;
                };
                let size = (usize::from(len) + 1) * 8;
                if h.len() - off < size {
                    break;
                }
                next = nh;
                off += size;
            }
            // Fragment header: fixed 8 octets; offset in bits 15:3, M bit 0.
            44 => {
                ext_headers = true;
                let (Some(&nh), Some(fo)) = (h.get(off), be16_at(h, off + 2)) else {
                    break;
                };
                if h.len() - off < 8 {
                    break;
                }
                next = nh;
                off += 8;
                let offset = fo >> 3;
                let more = fo & 1 != 0;
                if more || offset != 0 {
                    fragment = true;
                }
                if offset != 0 {
                    // What follows is the middle of a datagram, not headers.
                    break;
                }
            }
            _ => break,
        }
    }
    Some((
        L3::Ipv6 {
            src,
            dst,
            ext_headers,
            fragment,
            proto: next,
        },
        off,
    ))
}

/// Parses the L4 header if it is TCP or UDP and complete.
fn parse_l4(proto: u8, l4: &[u8]) -> L4 {
    let ports = |min_len: usize| -> Option<(u16, u16)> {
        if l4.len() < min_len {
            return None;
        }
        Some((be16_at(l4, 0)?, be16_at(l4, 2)?))
    };
    match proto {
        IPPROTO_TCP => match ports(TCP_MIN_HEADER_LEN) {
            Some((sport, dport)) => L4::Tcp { sport, dport },
            None => L4::None,
        },
        IPPROTO_UDP => match ports(UDP_HEADER_LEN) {
            Some((sport, dport)) => L4::Udp { sport, dport },
            None => L4::None,
        },
        _ => L4::None,
    }
}

/// Parses the PTP common header at the start of `m` (82599 datasheet 7.9).
/// v1 (versionPTP 1) needs 33 bytes (up to the control field), any other
/// version is read with the v2 layout and needs 32 bytes.
fn parse_ptp(m: &[u8], l2: bool) -> Option<Ptp> {
    let version = *m.get(1)? & 0x0F;
    let sequence_id = be16_at(m, 30)?;
    let mut source_id = [0u8; 10];
    let message_type = if version == 1 {
        let uuid_port = bytes_at::<8>(m, 22)?;
        for (d, s) in source_id.iter_mut().zip(uuid_port) {
            *d = s;
        }
        *m.get(32)?
    } else {
        source_id = bytes_at::<10>(m, 20)?;
        *m.first()? & 0x0F
    };
    Some(Ptp {
        version,
        message_type,
        sequence_id,
        source_id,
        l2,
    })
}

/// Packet-type bits of the advanced Rx write-back descriptor
/// (82599 datasheet 7.1.6.2): `RXDADV_PKTTYPE_IPV4` (plus `_IPV4_EX` when
/// the header has options), `RXDADV_PKTTYPE_IPV6` (plus `_IPV6_EX` with
/// extension headers), `RXDADV_PKTTYPE_TCP` / `_UDP`. 0 for non-IP frames.
pub fn packet_type(p: &Parsed) -> u32 {
    let l3 = match p.l3 {
        L3::None => return 0,
        L3::Ipv4 { options, .. } => {
            regs::RXDADV_PKTTYPE_IPV4
                | if options {
                    regs::RXDADV_PKTTYPE_IPV4_EX
                } else {
                    0
                }
        }
        L3::Ipv6 { ext_headers, .. } => {
            regs::RXDADV_PKTTYPE_IPV6
                | if ext_headers {
                    regs::RXDADV_PKTTYPE_IPV6_EX
                } else {
                    0
                }
        }
    };
    let l4 = match p.l4 {
        L4::None => 0,
        L4::Tcp { .. } => regs::RXDADV_PKTTYPE_TCP,
        L4::Udp { .. } => regs::RXDADV_PKTTYPE_UDP,
    };
    l3 | l4
}

/// Reflected IEEE 802.3 CRC-32 polynomial.
const CRC32_POLY: u32 = 0xEDB8_8320;

/// Byte-wise lookup table for [`crc32`], built at compile time.
const CRC32_TABLE: [u32; 256] = crc32_table();

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// IEEE 802.3 frame check sequence (CRC-32, reflected polynomial
/// 0xEDB88320, initial value !0, final inversion), as appended by the 82599
/// when HLREG0.TXCRCEN is set and checked/stripped on receive
/// (82599 datasheet 8.2.3.22.8). The FCS goes on the wire as
/// `crc32(frame).to_le_bytes()`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC32_TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8)
    })
}

/// Whether the last 4 bytes of `frame_with_fcs` are the correct FCS of the
/// bytes before them (82599 datasheet 8.2.3.22.8). False for frames shorter
/// than 4 bytes.
pub fn fcs_ok(frame_with_fcs: &[u8]) -> bool {
    frame_with_fcs
        .split_last_chunk::<4>()
        .is_some_and(|(data, fcs)| crc32(data).to_le_bytes() == *fcs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    pub(crate) const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    pub(crate) fn eth(ethertype: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// IPv4 header with `opt_words` 4-byte option words; flags_frag is the
    /// raw flags/fragment-offset field.
    pub(crate) fn ipv4(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        flags_frag: u16,
        opt_words: u8,
        payload_len: usize,
    ) -> Vec<u8> {
        let hlen = 20 + 4 * usize::from(opt_words);
        let mut h = vec![0x40 | (5 + opt_words), 0];
        h.extend_from_slice(&u16::try_from(hlen + payload_len).unwrap().to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34]);
        h.extend_from_slice(&flags_frag.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0, 0]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.resize(hlen, 1); // option bytes (NOP)
        h
    }

    pub(crate) fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload_len: usize) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&u16::try_from(payload_len).unwrap().to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h
    }

    pub(crate) fn tcp(sport: u16, dport: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        h
    }

    pub(crate) fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(payload);
        h
    }

    const A4: [u8; 4] = [10, 0, 0, 1];
    const B4: [u8; 4] = [192, 168, 1, 2];
    const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const B6: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn ipv4_udp_frame() -> Vec<u8> {
        let mut f = eth(ETHERTYPE_IPV4);
        let u = udp(1234, 5678, b"hello");
        f.extend(ipv4(A4, B4, IPPROTO_UDP, 0x4000, 0, u.len()));
        f.extend(u);
        f
    }

    fn ipv4_tcp_frame() -> Vec<u8> {
        let mut f = eth(ETHERTYPE_IPV4);
        let t = tcp(80, 40000);
        f.extend(ipv4(A4, B4, IPPROTO_TCP, 0, 0, t.len()));
        f.extend(t);
        f
    }

    /// A v2 PTP Sync header (34 bytes) plus 10 bytes of origin timestamp.
    fn ptp_v2(msg_type: u8, seq: u16) -> Vec<u8> {
        let mut m = vec![0u8; 44];
        m[0] = 0x10 | msg_type; // transportSpecific 1
        m[1] = 0x02;
        m[2..4].copy_from_slice(&44u16.to_be_bytes());
        for (i, b) in m[20..30].iter_mut().enumerate() {
            *b = 0xA0 + u8::try_from(i).unwrap();
        }
        m[30..32].copy_from_slice(&seq.to_be_bytes());
        m
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn fcs_round_trip() {
        let mut f = ipv4_udp_frame();
        let fcs = crc32(&f).to_le_bytes();
        f.extend_from_slice(&fcs);
        assert!(fcs_ok(&f));
        let last = f.len() - 1;
        f[last] ^= 1;
        assert!(!fcs_ok(&f));
        f[last] ^= 1;
        f[20] ^= 0x80;
        assert!(!fcs_ok(&f));
        assert!(!fcs_ok(&[]));
        assert!(!fcs_ok(&[1, 2, 3]));
        // The FCS of an empty frame is crc32("") = 0.
        assert!(fcs_ok(&[0, 0, 0, 0]));
    }

    #[test]
    fn ipv4_udp() {
        let p = parse(&ipv4_udp_frame());
        assert_eq!(p.dst, DST);
        assert_eq!(p.src, SRC);
        assert_eq!(p.ethertype, ETHERTYPE_IPV4);
        assert_eq!(p.l3_offset, 14);
        assert_eq!(
            p.l3,
            L3::Ipv4 {
                src: A4,
                dst: B4,
                options: false,
                fragment: false,
                proto: IPPROTO_UDP
            }
        );
        assert_eq!(
            p.l4,
            L4::Udp {
                sport: 1234,
                dport: 5678
            }
        );
        assert_eq!(p.ptp, None);
        assert_eq!(
            packet_type(&p),
            regs::RXDADV_PKTTYPE_IPV4 | regs::RXDADV_PKTTYPE_UDP
        );
    }

    #[test]
    fn ipv4_tcp() {
        let p = parse(&ipv4_tcp_frame());
        assert!(matches!(
            p.l3,
            L3::Ipv4 {
                proto: IPPROTO_TCP,
                fragment: false,
                options: false,
                ..
            }
        ));
        assert_eq!(
            p.l4,
            L4::Tcp {
                sport: 80,
                dport: 40000
            }
        );
        assert_eq!(
            packet_type(&p),
            regs::RXDADV_PKTTYPE_IPV4 | regs::RXDADV_PKTTYPE_TCP
        );
    }

    #[test]
    fn ipv4_fragments_have_no_l4() {
        // MF set, offset 0 (first fragment), then offset != 0 (later one).
        for flags_frag in [0x2000u16, 0x0001, 0x20B9, 0x1FFF] {
            let mut f = eth(ETHERTYPE_IPV4);
            let t = tcp(80, 40000);
            f.extend(ipv4(A4, B4, IPPROTO_TCP, flags_frag, 0, t.len()));
            f.extend(t);
            let p = parse(&f);
            assert!(
                matches!(
                    p.l3,
                    L3::Ipv4 {
                        fragment: true,
                        proto: IPPROTO_TCP,
                        ..
                    }
                ),
                "{flags_frag:#x}"
            );
            assert_eq!(p.l4, L4::None);
            assert_eq!(packet_type(&p), regs::RXDADV_PKTTYPE_IPV4);
        }
        // DF alone is not a fragment.
        let p = parse(&ipv4_udp_frame());
        assert!(matches!(
            p.l3,
            L3::Ipv4 {
                fragment: false,
                ..
            }
        ));
    }

    #[test]
    fn ipv4_options() {
        let mut f = eth(ETHERTYPE_IPV4);
        let u = udp(53, 53, &[0; 4]);
        f.extend(ipv4(A4, B4, IPPROTO_UDP, 0, 3, u.len()));
        f.extend(u);
        let p = parse(&f);
        assert!(matches!(p.l3, L3::Ipv4 { options: true, .. }));
        assert_eq!(
            p.l4,
            L4::Udp {
                sport: 53,
                dport: 53
            }
        );
        assert_eq!(
            packet_type(&p),
            regs::RXDADV_PKTTYPE_IPV4 | regs::RXDADV_PKTTYPE_IPV4_EX | regs::RXDADV_PKTTYPE_UDP
        );
    }

    #[test]
    fn ipv4_malformed() {
        let good = ipv4_udp_frame();
        // Wrong version.
        let mut f = good.clone();
        f[14] = 0x55;
        assert_eq!(parse(&f).l3, L3::None);
        // IHL < 5.
        let mut f = good.clone();
        f[14] = 0x44;
        let p = parse(&f);
        assert_eq!((p.l3, p.l4), (L3::None, L4::None));
        assert_eq!(packet_type(&p), 0);
        // IHL = 15 does not fit in the frame.
        let mut f = good;
        f[14] = 0x4F;
        f.truncate(14 + 59);
        assert_eq!(parse(&f).l3, L3::None);
    }

    #[test]
    fn ipv6_tcp_with_hop_by_hop() {
        let mut f = eth(ETHERTYPE_IPV6);
        let t = tcp(443, 50000);
        // Hop-by-hop header, 16 bytes (len field 1): next = TCP.
        let mut hbh = vec![IPPROTO_TCP, 1];
        hbh.resize(16, 0);
        f.extend(ipv6(A6, B6, 0, hbh.len() + t.len()));
        f.extend(hbh);
        f.extend(t);
        let p = parse(&f);
        assert_eq!(
            p.l3,
            L3::Ipv6 {
                src: A6,
                dst: B6,
                ext_headers: true,
                fragment: false,
                proto: IPPROTO_TCP
            }
        );
        assert_eq!(
            p.l4,
            L4::Tcp {
                sport: 443,
                dport: 50000
            }
        );
        assert_eq!(
            packet_type(&p),
            regs::RXDADV_PKTTYPE_IPV6 | regs::RXDADV_PKTTYPE_IPV6_EX | regs::RXDADV_PKTTYPE_TCP
        );
    }

    #[test]
    fn ipv6_plain_udp_and_fragments() {
        let mut f = eth(ETHERTYPE_IPV6);
        let u = udp(1, 2, &[]);
        f.extend(ipv6(A6, B6, IPPROTO_UDP, u.len()));
        f.extend(u.clone());
        let p = parse(&f);
        assert!(matches!(
            p.l3,
            L3::Ipv6 {
                ext_headers: false,
                fragment: false,
                proto: IPPROTO_UDP,
                ..
            }
        ));
        assert_eq!(p.l4, L4::Udp { sport: 1, dport: 2 });
        assert_eq!(
            packet_type(&p),
            regs::RXDADV_PKTTYPE_IPV6 | regs::RXDADV_PKTTYPE_UDP
        );

        // Fragment header: (offset, M) -> fragment?
        for (fo, frag) in [(0x0001u16, true), (0x0008, true), (0x0000, false)] {
            let mut f = eth(ETHERTYPE_IPV6);
            f.extend(ipv6(A6, B6, 44, 8 + u.len()));
            f.extend_from_slice(&[IPPROTO_UDP, 0]);
            f.extend_from_slice(&fo.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 7]);
            f.extend(u.clone());
            let p = parse(&f);
            assert_eq!(
                p.l3,
                L3::Ipv6 {
                    src: A6,
                    dst: B6,
                    ext_headers: true,
                    fragment: frag,
                    proto: IPPROTO_UDP
                },
                "{fo:#x}"
            );
            let want = if frag {
                L4::None
            } else {
                L4::Udp { sport: 1, dport: 2 }
            };
            assert_eq!(p.l4, want);
        }
    }

    #[test]
    fn ipv6_ext_chain_limits() {
        // Nine destination-options headers: only eight are skipped.
        let mut f = eth(ETHERTYPE_IPV6);
        f.extend(ipv6(A6, B6, 60, 9 * 8 + 20));
        for i in 0..9 {
            let next = if i == 8 { IPPROTO_TCP } else { 60 };
            f.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]);
        }
        f.extend(tcp(1, 2));
        let p = parse(&f);
        assert!(matches!(
            p.l3,
            L3::Ipv6 {
                ext_headers: true,
                proto: 60,
                ..
            }
        ));
        assert_eq!(p.l4, L4::None);

        // Truncated routing header: L3 present, chain stops there.
        let mut f = eth(ETHERTYPE_IPV6);
        f.extend(ipv6(A6, B6, 43, 24));
        f.extend_from_slice(&[IPPROTO_TCP, 2, 0, 0, 0, 0, 0, 0]); // claims 24 bytes
        let p = parse(&f);
        assert!(matches!(
            p.l3,
            L3::Ipv6 {
                ext_headers: true,
                proto: 43,
                ..
            }
        ));
        assert_eq!(p.l4, L4::None);

        // Wrong version.
        let mut f = eth(ETHERTYPE_IPV6);
        f.extend(ipv6(A6, B6, IPPROTO_TCP, 20));
        f.extend(tcp(1, 2));
        f[14] = 0x40;
        assert_eq!(parse(&f).l3, L3::None);
    }

    #[test]
    fn vlan_tagged() {
        for tpid in [ETHERTYPE_VLAN, ETHERTYPE_QINQ] {
            let inner = ipv4_tcp_frame();
            let mut f = eth(tpid);
            f.extend_from_slice(&[0x20, 0x05]); // PCP 1, VID 5
            f.extend_from_slice(&inner[12..]);
            let p = parse(&f);
            assert_eq!(p.ethertype, ETHERTYPE_IPV4);
            assert_eq!(p.l3_offset, 18);
            assert_eq!(p.l3, parse(&inner).l3);
            assert_eq!(
                p.l4,
                L4::Tcp {
                    sport: 80,
                    dport: 40000
                }
            );
        }
        // Only one tag is skipped.
        let mut f = eth(ETHERTYPE_QINQ);
        f.extend_from_slice(&[0, 5, 0x81, 0x00, 0, 6, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_tcp_frame()[14..]);
        let p = parse(&f);
        assert_eq!(p.ethertype, ETHERTYPE_VLAN);
        assert_eq!(p.l3_offset, 18);
        assert_eq!(p.l3, L3::None);
    }

    #[test]
    fn ptp_v2_over_udp() {
        let mut f = eth(ETHERTYPE_IPV4);
        let u = udp(PTP_EVENT_PORT, PTP_EVENT_PORT, &ptp_v2(0, 0xBEEF));
        f.extend(ipv4(A4, [224, 0, 1, 129], IPPROTO_UDP, 0, 0, u.len()));
        f.extend(u);
        let p = parse(&f);
        let ptp = p.ptp.expect("PTP over UDP 319");
        assert_eq!(ptp.version, 2);
        assert_eq!(ptp.message_type, 0);
        assert_eq!(ptp.sequence_id, 0xBEEF);
        assert_eq!(
            ptp.source_id,
            [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9]
        );
        assert!(!ptp.l2);

        // General messages go to port 320: not an event message.
        let mut f = eth(ETHERTYPE_IPV4);
        let u = udp(320, 320, &ptp_v2(0xB, 1));
        f.extend(ipv4(A4, B4, IPPROTO_UDP, 0, 0, u.len()));
        f.extend(u);
        assert_eq!(parse(&f).ptp, None);
    }

    #[test]
    fn ptp_v2_over_l2_and_vlan() {
        let mut f = eth(ETHERTYPE_PTP);
        f.extend(ptp_v2(1, 7)); // Delay_Req
        let p = parse(&f);
        assert_eq!(p.ethertype, ETHERTYPE_PTP);
        assert_eq!(p.l3, L3::None);
        assert_eq!(packet_type(&p), 0);
        let ptp = p.ptp.expect("L2 PTP");
        assert_eq!(
            (ptp.version, ptp.message_type, ptp.sequence_id, ptp.l2),
            (2, 1, 7, true)
        );

        let mut f = eth(ETHERTYPE_VLAN);
        f.extend_from_slice(&[0, 1]);
        f.extend_from_slice(&ETHERTYPE_PTP.to_be_bytes());
        f.extend(ptp_v2(3, 9));
        let p = parse(&f);
        assert_eq!(p.l3_offset, 18);
        assert_eq!(p.ptp.map(|m| (m.message_type, m.sequence_id)), Some((3, 9)));

        // Too short for the sequenceId.
        let mut f = eth(ETHERTYPE_PTP);
        f.extend_from_slice(&ptp_v2(0, 1)[..31]);
        assert_eq!(parse(&f).ptp, None);
    }

    #[test]
    fn ptp_v1_over_udp() {
        let mut m = vec![0u8; 40];
        m[1] = 1; // versionPTP = 1
        m[20] = 0; // messageType (event)
        m[22..28].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        m[28..30].copy_from_slice(&[0, 9]);
        m[30..32].copy_from_slice(&0x1234u16.to_be_bytes());
        m[32] = 1; // control: Delay_Req
        let mut f = eth(ETHERTYPE_IPV4);
        let u = udp(PTP_EVENT_PORT, PTP_EVENT_PORT, &m);
        f.extend(ipv4(A4, B4, IPPROTO_UDP, 0, 0, u.len()));
        f.extend(u);
        let ptp = parse(&f).ptp.expect("v1 PTP");
        assert_eq!(ptp.version, 1);
        assert_eq!(ptp.message_type, 1);
        assert_eq!(ptp.sequence_id, 0x1234);
        assert_eq!(ptp.source_id, [1, 2, 3, 4, 5, 6, 0, 9, 0, 0]);
    }

    /// Every prefix of a valid frame parses without panic, and each layer
    /// appears exactly when its header is complete.
    #[test]
    fn truncated_at_every_length() {
        let mut vlan_ptp = eth(ETHERTYPE_VLAN);
        vlan_ptp.extend_from_slice(&[0, 1]);
        vlan_ptp.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let u = udp(5, PTP_EVENT_PORT, &ptp_v2(0, 3));
        vlan_ptp.extend(ipv6(A6, B6, IPPROTO_UDP, u.len()));
        vlan_ptp.extend(u);

        // (frame, l3 offset, l3 header length, l4 header length, ptp length)
        let cases = [
            (ipv4_udp_frame(), 14, 20, 8, None),
            (ipv4_tcp_frame(), 14, 20, 20, None),
            (vlan_ptp, 18, 40, 8, Some(32)),
        ];
        for (frame, l3_off, l3_len, l4_len, ptp_len) in cases {
            let full = parse(&frame);
            for len in 0..=frame.len() {
                let p = parse(&frame[..len]);
                if len < 14 {
                    assert_eq!(p, Parsed::default(), "len {len}");
                    continue;
                }
                assert_eq!(p.dst, DST);
                assert_eq!(p.l3 != L3::None, len >= l3_off + l3_len, "len {len}");
                if p.l3 != L3::None {
                    assert_eq!(p.l3, full.l3);
                }
                let l4_end = l3_off + l3_len + l4_len;
                assert_eq!(p.l4 != L4::None, len >= l4_end, "len {len}");
                if let Some(pl) = ptp_len {
                    assert_eq!(p.ptp.is_some(), len >= l4_end + pl, "len {len}");
                }
            }
        }
    }

    #[test]
    fn short_frames_default() {
        assert_eq!(parse(&[]), Parsed::default());
        assert_eq!(parse(&[0xff; 13]), Parsed::default());
        let p = parse(&[0xff; 14]);
        assert_eq!((p.ethertype, p.l3_offset), (0xffff, 14));
        let mut f = eth(ETHERTYPE_VLAN);
        f.push(0);
        let p = parse(&f);
        assert_eq!(
            (p.ethertype, p.l3_offset, p.l3),
            (ETHERTYPE_VLAN, 14, L3::None)
        );
    }

    /// Frames that start with a valid Ethernet + IP header and continue
    /// with arbitrary bytes, to reach the deeper parsers.
    fn ip_prefixed() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![Just(0x0800u16), Just(0x86DD), Just(0x88F7), Just(0x8100)],
            any::<u8>(),
            prop::sample::select(vec![0u8, 6, 17, 43, 44, 60, 59]),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(et, b0, next, rest)| {
                let mut f = eth(et);
                match et {
                    0x0800 => {
                        f.extend_from_slice(&[0x40 | (b0 & 0xF), 0, 0, 0, 0, 0, 0, 0, 0, next])
                    }
                    0x86DD => f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, next, 0]),
                    _ => {}
                }
                f.extend(rest);
                f
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(frame in prop::collection::vec(any::<u8>(), 0..2000)) {
            let p = parse(&frame);
            let _ = packet_type(&p);
            prop_assert!(frame.len() >= 14 || p == Parsed::default());
            let _ = fcs_ok(&frame);
        }

        #[test]
        fn parse_structured_never_panics(frame in ip_prefixed()) {
            let p = parse(&frame);
            let pt = packet_type(&p);
            prop_assert_eq!(pt == 0, p.l3 == L3::None);
            if p.l4 != L4::None {
                prop_assert!(p.l3 != L3::None);
            }
        }

        #[test]
        fn the_plain_ipv4_path_agrees_with_the_general_parser(
            proto in prop::sample::select(vec![IPPROTO_TCP, IPPROTO_UDP, 1, 47]),
            len in 30usize..80,
            dport in prop::sample::select(vec![53u16, PTP_EVENT_PORT, 4000]),
            edits in prop::collection::vec((0usize..60, any::<u8>()), 0..3),
        ) {
            // A plain IPv4 frame, then up to two bytes of it changed:
            // EtherType, version/IHL, flags, protocol, truncation...
            let mut f = vec![0u8; len.max(60)];
            f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            f[14] = 0x45;
            f[23] = proto;
            f[34..36].copy_from_slice(&1234u16.to_be_bytes());
            f[36..38].copy_from_slice(&dport.to_be_bytes());
            for (at, byte) in edits {
                f[at] = byte;
            }
            f.truncate(len);
            if let Some(fast) = plain_ipv4(&f) {
                prop_assert_eq!(fast, parse_any(&f));
            }
            prop_assert_eq!(parse(&f), parse_any(&f));
        }

        #[test]
        fn fcs_detects_single_bit_errors(
            frame in prop::collection::vec(any::<u8>(), 1..300),
            bit in any::<prop::sample::Index>(),
        ) {
            let mut f = frame.clone();
            f.extend_from_slice(&crc32(&frame).to_le_bytes());
            prop_assert!(fcs_ok(&f));
            let i = bit.index(f.len() * 8);
            f[i / 8] ^= 1 << (i % 8);
            prop_assert!(!fcs_ok(&f));
        }
    }
}
