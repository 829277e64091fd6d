//! Entry points of the fuzz targets (`fuzz/`, `make fuzz`) for the
//! model's parsers of untrusted bytes, and of the replay of their
//! committed corpus by `cargo test` (`tests/fuzz_corpus.rs`) on stable
//! Rust.
//!
//! Each check takes arbitrary bytes, runs the parser and asserts what its
//! callers rely on; a failed assertion is a finding.

use crate::control::{self, Command};
use crate::frame::{self, Parsed, L3, L4};
use crate::rss;
use driver::regs;
use driver::rss::{HashFields, RssConfig, RssKey, KEY_LEN};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The frame parser ([`frame::parse`]): never claims a header the frame
/// does not hold, and every field it reports is the frame's bytes at the
/// place the header layout puts it; the packet type agrees; the FCS of
/// the frame checks.
pub fn frame(data: &[u8]) {
    let p = frame::parse(data);
    if data.len() < frame::ETH_HEADER_LEN {
        assert_eq!(p, Parsed::default());
        return;
    }
    assert_eq!((&p.dst[..], &p.src[..]), (&data[0..6], &data[6..12]));
    assert!(p.l3_offset == 14 || p.l3_offset == 18);
    assert!(p.l3_offset <= data.len());
    let l3 = &data[p.l3_offset.min(data.len())..];
    let l4_at = match p.l3 {
        L3::None => {
            assert_eq!(p.l4, L4::None, "no L4 without L3");
            None
        }
        L3::Ipv4 {
            src,
            dst,
            options,
            proto,
            ..
        } => {
            assert_eq!(p.ethertype, frame::ETHERTYPE_IPV4);
            let ihl = usize::from(l3[0] & 0xF) * 4;
            assert!(l3[0] >> 4 == 4 && ihl >= 20 && ihl <= l3.len());
            assert_eq!(
                (&src[..], &dst[..], proto),
                (&l3[12..16], &l3[16..20], l3[9])
            );
            assert_eq!(options, ihl > 20);
            Some(ihl)
        }
        L3::Ipv6 {
            src,
            dst,
            ext_headers,
            ..
        } => {
            assert_eq!(p.ethertype, frame::ETHERTYPE_IPV6);
            assert!(l3[0] >> 4 == 6 && l3.len() >= 40);
            assert_eq!((&src[..], &dst[..]), (&l3[8..24], &l3[24..40]));
            // The L4 header follows the fixed header when nothing else does.
            (!ext_headers).then_some(40)
        }
    };
    let fragment = matches!(
        p.l3,
        L3::Ipv4 { fragment: true, .. } | L3::Ipv6 { fragment: true, .. }
    );
    if let L4::Tcp { sport, dport } | L4::Udp { sport, dport } = p.l4 {
        assert!(!fragment, "no L4 header in a fragment");
        if let Some(at) = l4_at {
            let min = if matches!(p.l4, L4::Tcp { .. }) {
                20
            } else {
                8
            };
            let l4 = l3.get(at..at + min).expect("the whole L4 header is inside");
            assert_eq!(
                (sport.to_be_bytes(), dport.to_be_bytes()),
                ([l4[0], l4[1]], [l4[2], l4[3]])
            );
        }
    }
    let pt = frame::packet_type(&p);
    assert_eq!(
        pt & regs::RXDADV_PKTTYPE_IPV4 != 0,
        matches!(p.l3, L3::Ipv4 { .. })
    );
    assert_eq!(
        pt & regs::RXDADV_PKTTYPE_IPV6 != 0,
        matches!(p.l3, L3::Ipv6 { .. })
    );
    assert_eq!(
        pt & regs::RXDADV_PKTTYPE_UDP != 0,
        matches!(p.l4, L4::Udp { .. })
    );
    assert_eq!(
        pt & regs::RXDADV_PKTTYPE_TCP != 0,
        matches!(p.l4, L4::Tcp { .. })
    );
    let mut with_fcs = data.to_vec();
    with_fcs.extend_from_slice(&frame::crc32(data).to_le_bytes());
    assert!(frame::fcs_ok(&with_fcs));
}

/// The control-line parser ([`control::parse`]), for a lab of 1 to 16
/// ports (byte 0), the line after it: never panics; a command it accepts
/// is `help` or one the help names, about a port the lab has.
pub fn control_line(data: &[u8]) {
    let Some((&ports, line)) = data.split_first() else {
        return;
    };
    let ports = 1 + usize::from(ports) % crate::lab::MAX_PORTS;
    let line = String::from_utf8_lossy(line);
    match control::parse(&line, ports) {
        Ok(cmd) => {
            if let Some(p) = cmd.port() {
                assert!(p < ports, "{cmd:?} for a lab of {ports} ports");
            }
            let verb = line
                .split_whitespace()
                .next()
                .expect("a command has a verb");
            assert!(
                verb == "help"
                    || control::HELP
                        .split(|c: char| c.is_whitespace() || c == '|')
                        .any(|w| w == verb),
                "{verb:?} is not in the help"
            );
            if let Command::Inject { count, .. } = cmd {
                assert!(count <= control::MAX_INJECT);
            }
            if let Command::Sync { wait } = cmd {
                assert!(!wait.is_zero() && wait <= control::MAX_SYNC_WAIT);
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }
}

/// The header extraction that feeds the Toeplitz hash (`frame::parse`
/// and `rss::classify`), against the driver's software Toeplitz that
/// predicts queues (`driver::rss`). Byte 0 picks the hash field enables,
/// byte 1 the queue count, the next 40 bytes are the key, the rest is the
/// frame. The driver's configuration is programmed into the registers as
/// the supervisor does; the model's hash, type and queue for the frame
/// must be what the driver computes from the frame's addresses and ports.
pub fn rss_input(data: &[u8]) {
    let Some((head, frame_bytes)) = data.split_at_checked(2 + KEY_LEN) else {
        return;
    };
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&head[2..]);
    let bits = head[0];
    let mut cfg = RssConfig::new(1 + u16::from(head[1]) % 16, RssKey::Given(key))
        .expect("1 to 16 queues and a given key are valid");
    cfg.fields = HashFields {
        ipv4: bits & 1 != 0,
        ipv4_tcp: bits & 2 != 0,
        ipv4_udp: bits & 4 != 0,
        ipv6: bits & 8 != 0,
        ipv6_tcp: bits & 16 != 0,
        ipv6_udp: bits & 32 != 0,
    };
    let model = rss::RssState::from_registers(cfg.mrqc(), &cfg.rssrk_words(), &cfg.reta_words());
    let p = frame::parse(frame_bytes);
    let got = rss::classify(&model, &p);
    let ports = match p.l4 {
        L4::Tcp { sport, dport } | L4::Udp { sport, dport } => Some((sport, dport)),
        L4::None => None,
    };
    let (tcp, udp) = (
        matches!(p.l4, L4::Tcp { .. }),
        matches!(p.l4, L4::Udp { .. }),
    );
    let f = cfg.fields;
    let want = match p.l3 {
        L3::Ipv4 { src, dst, .. } => {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            if tcp && f.ipv4_tcp {
                Some((
                    cfg.hash_ipv4(src, dst, ports),
                    regs::RXDADV_RSSTYPE_IPV4_TCP,
                ))
            } else if udp && f.ipv4_udp {
                if let Some((sport, dport)) = ports {
                    assert_eq!(
                        cfg.rss_ipv4_udp(src, dst, sport, dport),
                        (got.hash, got.rss_type)
                    );
                }
                Some((
                    cfg.hash_ipv4(src, dst, ports),
                    regs::RXDADV_RSSTYPE_IPV4_UDP,
                ))
            } else if f.ipv4 {
                Some((cfg.hash_ipv4(src, dst, None), regs::RXDADV_RSSTYPE_IPV4))
            } else {
                None
            }
        }
        L3::Ipv6 { src, dst, .. } => {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            if tcp && f.ipv6_tcp {
                Some((
                    cfg.hash_ipv6(src, dst, ports),
                    regs::RXDADV_RSSTYPE_IPV6_TCP,
                ))
            } else if udp && f.ipv6_udp {
                Some((
                    cfg.hash_ipv6(src, dst, ports),
                    regs::RXDADV_RSSTYPE_IPV6_UDP,
                ))
            } else if f.ipv6 {
                Some((cfg.hash_ipv6(src, dst, None), regs::RXDADV_RSSTYPE_IPV6))
            } else {
                None
            }
        }
        L3::None => None,
    };
    match want {
        Some((hash, rss_type)) => {
            assert_eq!((got.hash, got.rss_type), (hash, rss_type), "{p:?}");
            assert_eq!(got.queue, u32::from(cfg.queue_for_hash(hash)));
        }
        None => assert_eq!(
            (got.hash, got.rss_type, got.queue),
            (0, regs::RXDADV_RSSTYPE_NONE, 0),
            "{p:?}"
        ),
    }
}
