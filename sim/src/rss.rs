//! Receive-side scaling as done by the 82599 (82599 datasheet 7.1.2.8):
//! field selection from MRQC, the Toeplitz hash keyed by RSSRK, and queue
//! selection through the 128-entry RETA.
//!
//! No allocation and no panic on any input.

#![forbid(unsafe_code)]

use crate::frame::{Parsed, L3, L4};
use driver::regs;

/// Longest hash input: two IPv6 addresses and two ports
/// (82599 datasheet 7.1.2.8.1).
pub const MAX_HASH_INPUT: usize = 36;
/// Number of RETA entries (82599 datasheet 7.1.2.8.2).
pub const RETA_ENTRIES: usize = 128;
/// RSS key length in bytes, RSSRK\[0..10\] (82599 datasheet 8.2.3.7.14).
pub const KEY_LEN: usize = 40;

/// Toeplitz hash of `input` under `key` (82599 datasheet 7.1.2.8.1): for
/// every set bit of the input, most significant bit of byte 0 first, XOR the
/// 32 key bits starting at that bit position into the result.
///
/// Only the first 36 bytes of `input` are used (the 320-bit key covers no
/// more); longer inputs are truncated rather than rejected.
pub fn toeplitz(key: &[u8; KEY_LEN], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    // Window i holds key bytes i..i+5: the 32-bit key windows for the 8 bits
    // of input byte i start at bit offsets 0..8 of it. 36 windows in all.
    for (&byte, window) in input.iter().zip(key.windows(5)) {
        let k40 = window
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        for bit in 0..8u32 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (k40 >> (8 - bit)) as u32;
            }
        }
    }
    hash
}

/// The Toeplitz hash of one key as table lookups: for every nibble of the
/// input (two per byte, up to [`MAX_HASH_INPUT`] bytes) and each of its 16
/// values, the XOR of the key windows its set bits select. Equal to
/// [`toeplitz`] for every input; 24 lookups hash an IPv4 4-tuple where the
/// bitwise form takes 96 steps.
#[derive(Clone)]
pub struct KeyTable {
    table: Box<[[u32; 16]; 2 * MAX_HASH_INPUT]>,
}

impl KeyTable {
    /// The table for `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut table = Box::new([[0u32; 16]; 2 * MAX_HASH_INPUT]);
        for (n, row) in table.iter_mut().enumerate() {
            for (v, cell) in row.iter_mut().enumerate() {
                // Nibble n holds input bits 4n..4n+4; value v placed there.
                let mut input = [0u8; MAX_HASH_INPUT];
                input[n / 2] = if n % 2 == 0 { (v as u8) << 4 } else { v as u8 };
                *cell = toeplitz(key, &input[..=n / 2]);
            }
        }
        KeyTable { table }
    }

    /// The Toeplitz hash of `input` (its first [`MAX_HASH_INPUT`] bytes).
    pub fn hash(&self, input: &[u8]) -> u32 {
        let rows = self.table.chunks_exact(2);
        input.iter().zip(rows).fold(0, |h, (&b, row)| {
            h ^ row[0][usize::from(b >> 4)] ^ row[1][usize::from(b & 0xF)]
        })
    }
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTable")
    }
}

/// RSS as a port's receive path uses it: the [`RssState`] decoded from
/// the registers and the hash table of its key, both rebuilt only when a
/// register changed, so that reading them at every pass costs 43 loads.
#[derive(Debug)]
pub struct PortRss {
    /// MRQC, RSSRK\[0..10\], RETA\[0..32\] as last read.
    raw: [u32; 43],
    cfg: RssState,
    key: KeyTable,
}

impl Default for PortRss {
    fn default() -> Self {
        let cfg = RssState::default();
        PortRss {
            raw: [0; 43],
            key: KeyTable::new(&cfg.key),
            cfg,
        }
    }
}

impl PortRss {
    /// Takes the register values; decodes them when they changed.
    pub fn update(&mut self, mrqc: u32, rssrk: &[u32; 10], reta: &[u32; 32]) {
        let mut raw = [0u32; 43];
        raw[0] = mrqc;
        raw[1..11].copy_from_slice(rssrk);
        raw[11..].copy_from_slice(reta);
        if raw == self.raw {
            return;
        }
        self.raw = raw;
        let cfg = RssState::from_registers(mrqc, rssrk, reta);
        if cfg.key != self.cfg.key {
            self.key = KeyTable::new(&cfg.key);
        }
        self.cfg = cfg;
    }

    /// [`classify`] under the current registers.
    pub fn classify(&self, p: &Parsed) -> RssResult {
        classify_by(&self.cfg, p, |input| self.key.hash(input))
    }
}

/// The RSS state of the 82599, decoded from its registers
/// (82599 datasheet 7.1.2.8, 8.2.3.7.12 MRQC, 8.2.3.7.14 RSSRK,
/// 8.2.3.7.15 RETA): what the device does with what a driver's
/// `driver::RssConfig` wrote there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssState {
    /// MRQC register: MRQE in bits 3:0, hash field enables in bits 31:16.
    pub mrqc: u32,
    /// The 40-byte RSS key, byte 0 first (most significant in the hash).
    pub key: [u8; KEY_LEN],
    /// RETA entries; the 82599 uses bits 3:0 of each as the queue index.
    pub reta: [u8; RETA_ENTRIES],
}

impl Default for RssState {
    /// The reset state: RSS disabled, zero key, all entries queue 0
    /// (82599 datasheet 8.2.3.7.12, 8.2.3.7.14, 8.2.3.7.15).
    fn default() -> Self {
        Self {
            mrqc: 0,
            key: [0; KEY_LEN],
            reta: [0; RETA_ENTRIES],
        }
    }
}

impl RssState {
    /// Decodes the register values (82599 datasheet 8.2.3.7.12, 8.2.3.7.14, 8.2.3.7.15):
    /// RSSRK\[i\] holds key bytes 4i..4i+3 with byte 4i in bits 7:0, and
    /// RETA\[i\] holds entries 4i..4i+3 with entry 4i in bits 7:0.
    pub fn from_registers(mrqc: u32, rssrk: &[u32; 10], reta: &[u32; 32]) -> Self {
        let mut cfg = Self {
            mrqc,
            ..Self::default()
        };
        let key_bytes = rssrk.iter().flat_map(|r| r.to_le_bytes());
        for (d, s) in cfg.key.iter_mut().zip(key_bytes) {
            *d = s;
        }
        let entries = reta.iter().flat_map(|r| r.to_le_bytes());
        for (d, s) in cfg.reta.iter_mut().zip(entries) {
            *d = s;
        }
        cfg
    }

    /// Whether MRQC.MRQE selects RSS only (82599 datasheet 8.2.3.7.12).
    pub fn rss_enabled(&self) -> bool {
        self.mrqc & regs::MRQC_MRQE_MASK == regs::MRQC_RSSEN
    }

    /// Rx queue for a hash: RETA entry `hash[6:0]`, bits 3:0
    /// (82599 datasheet 7.1.2.8.2).
    pub fn queue_for_hash(&self, hash: u32) -> u32 {
        self.reta
            .get((hash & 0x7F) as usize)
            .map_or(0, |&e| u32::from(e & 0x0F))
    }
}

/// Outcome of RSS for one packet, as written back in the advanced Rx
/// descriptor (82599 datasheet 7.1.6.2: RSS hash, RSS type).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RssResult {
    /// The 32-bit Toeplitz hash; 0 when no hash was computed.
    pub hash: u32,
    /// One of `driver::regs::RXDADV_RSSTYPE_*`.
    pub rss_type: u32,
    /// Selected Rx queue index (0..16).
    pub queue: u32,
}

const NO_RSS: RssResult = RssResult {
    hash: 0,
    rss_type: regs::RXDADV_RSSTYPE_NONE,
    queue: 0,
};

/// Hash input assembled on the stack.
struct HashInput {
    buf: [u8; MAX_HASH_INPUT],
    len: usize,
}

impl HashInput {
    fn new() -> Self {
        Self {
            buf: [0; MAX_HASH_INPUT],
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(MAX_HASH_INPUT - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Runs RSS on a parsed packet (82599 datasheet 7.1.2.8).
///
/// With MRQC.MRQE != 1 (RSS only) nothing is hashed. Otherwise the hash
/// fields come from the MRQC field enables: IPv4+TCP with
/// `MRQC_RSS_FIELD_IPV4_TCP` hashes addresses and ports (type IPV4_TCP),
/// IPv4+UDP with `MRQC_RSS_FIELD_IPV4_UDP` likewise (IPV4_UDP), any other
/// IPv4 packet (fragments included) with `MRQC_RSS_FIELD_IPV4` hashes the
/// addresses only (IPV4); IPv6 the same with the IPV6 enables. The IPv6 `_EX`
/// variants are not modelled. Anything else gets hash 0, type NONE, queue 0.
///
/// The hash input is source address, destination address, source port,
/// destination port, in network byte order; the queue is
/// `reta[hash & 0x7F] & 0xF`.
pub fn classify(cfg: &RssState, p: &Parsed) -> RssResult {
    classify_by(cfg, p, |input| toeplitz(&cfg.key, input))
}

/// [`classify`] with the Toeplitz hash of the key given as `hash`.
fn classify_by(cfg: &RssState, p: &Parsed, hash: impl Fn(&[u8]) -> u32) -> RssResult {
    if !cfg.rss_enabled() {
        return NO_RSS;
    }
    let on = |field: u32| cfg.mrqc & field != 0;
    let ports = match p.l4 {
        L4::Tcp { sport, dport } | L4::Udp { sport, dport } => Some((sport, dport)),
        L4::None => None,
    };
    let is_tcp = matches!(p.l4, L4::Tcp { .. });
    let is_udp = matches!(p.l4, L4::Udp { .. });

    let mut input = HashInput::new();
    let (rss_type, with_ports) = match p.l3 {
        L3::Ipv4 { src, dst, .. } => {
            input.push(&src);
            input.push(&dst);
            if is_tcp && on(regs::MRQC_RSS_FIELD_IPV4_TCP) {
                (regs::RXDADV_RSSTYPE_IPV4_TCP, true)
            } else if is_udp && on(regs::MRQC_RSS_FIELD_IPV4_UDP) {
                (regs::RXDADV_RSSTYPE_IPV4_UDP, true)
            } else if on(regs::MRQC_RSS_FIELD_IPV4) {
                (regs::RXDADV_RSSTYPE_IPV4, false)
            } else {
                return NO_RSS;
            }
        }
        L3::Ipv6 { src, dst, .. } => {
            input.push(&src);
            input.push(&dst);
            if is_tcp && on(regs::MRQC_RSS_FIELD_IPV6_TCP) {
                (regs::RXDADV_RSSTYPE_IPV6_TCP, true)
            } else if is_udp && on(regs::MRQC_RSS_FIELD_IPV6_UDP) {
                (regs::RXDADV_RSSTYPE_IPV6_UDP, true)
            } else if on(regs::MRQC_RSS_FIELD_IPV6) {
                (regs::RXDADV_RSSTYPE_IPV6, false)
            } else {
                return NO_RSS;
            }
        }
        L3::None => return NO_RSS,
    };
    if let (true, Some((sport, dport))) = (with_ports, ports) {
        input.push(&sport.to_be_bytes());
        input.push(&dport.to_be_bytes());
    }
    let hash = hash(input.as_slice());
    RssResult {
        hash,
        rss_type,
        queue: cfg.queue_for_hash(hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::parse;
    use crate::frame::tests::{eth, ipv4, ipv6, tcp, udp};
    use crate::frame::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP};
    use proptest::prelude::*;

    /// The Microsoft verification key (82599 datasheet 7.1.2.8.3).
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    const ALL_FIELDS: u32 = regs::MRQC_RSS_FIELD_IPV4
        | regs::MRQC_RSS_FIELD_IPV4_TCP
        | regs::MRQC_RSS_FIELD_IPV4_UDP
        | regs::MRQC_RSS_FIELD_IPV6
        | regs::MRQC_RSS_FIELD_IPV6_TCP
        | regs::MRQC_RSS_FIELD_IPV6_UDP;

    fn cfg(fields: u32) -> RssState {
        let mut reta = [0u8; 128];
        for (i, e) in reta.iter_mut().enumerate() {
            // Upper nibble set to check that only bits 3:0 are used.
            *e = 0xA0 | (i as u8 % 16);
        }
        RssState {
            mrqc: regs::MRQC_RSSEN | fields,
            key: MS_KEY,
            reta,
        }
    }

    const V4_SRC: [u8; 4] = [66, 9, 149, 187];
    const V4_DST: [u8; 4] = [161, 142, 100, 80];

    fn v4_frame(proto: u8, flags_frag: u16) -> Vec<u8> {
        let mut f = eth(ETHERTYPE_IPV4);
        let l4 = if proto == IPPROTO_TCP {
            tcp(2794, 1766)
        } else {
            udp(2794, 1766, &[0; 8])
        };
        f.extend(ipv4(V4_SRC, V4_DST, proto, flags_frag, 0, l4.len()));
        f.extend(l4);
        f
    }

    #[test]
    fn toeplitz_ms_vector() {
        let mut inp = [0u8; 12];
        inp[..4].copy_from_slice(&V4_SRC);
        inp[4..8].copy_from_slice(&V4_DST);
        inp[8..10].copy_from_slice(&2794u16.to_be_bytes());
        inp[10..12].copy_from_slice(&1766u16.to_be_bytes());
        assert_eq!(toeplitz(&MS_KEY, &inp[..8]), 0x323e_8fc2);
        assert_eq!(toeplitz(&MS_KEY, &inp), 0x51cc_c178);
        assert_eq!(toeplitz(&MS_KEY, &[]), 0);
        // Input longer than 36 bytes is truncated, not a panic.
        let long = [0xFFu8; 100];
        assert_eq!(toeplitz(&MS_KEY, &long), toeplitz(&MS_KEY, &long[..36]));
    }

    /// Bit-by-bit reference: the key as a bit string, window at bit i.
    fn toeplitz_reference(key: &[u8; 40], input: &[u8]) -> u32 {
        let key_bit = |i: usize| (key[i / 8] >> (7 - i % 8)) & 1;
        let mut hash = 0u32;
        for i in 0..input.len().min(36) * 8 {
            if (input[i / 8] >> (7 - i % 8)) & 1 == 1 {
                let mut w = 0u32;
                for j in 0..32 {
                    w = (w << 1) | u32::from(key_bit(i + j));
                }
                hash ^= w;
            }
        }
        hash
    }

    #[test]
    fn register_unpacking() {
        let mut rssrk = [0u32; 10];
        for (i, r) in rssrk.iter_mut().enumerate() {
            let b = 4 * i as u32;
            *r = b | (b + 1) << 8 | (b + 2) << 16 | (b + 3) << 24;
        }
        let mut reta = [0u32; 32];
        for (i, r) in reta.iter_mut().enumerate() {
            let e = 4 * i as u32;
            *r = e | (e + 1) << 8 | (e + 2) << 16 | (e + 3) << 24;
        }
        let c = RssState::from_registers(0x1234_0001, &rssrk, &reta);
        assert_eq!(c.mrqc, 0x1234_0001);
        for i in 0..40 {
            assert_eq!(usize::from(c.key[i]), i);
        }
        for j in 0..128 {
            assert_eq!(usize::from(c.reta[j]), j);
        }
        // Queue uses bits 3:0 of the entry selected by hash bits 6:0.
        assert_eq!(c.queue_for_hash(0xFFFF_FF80 | 0x25), 0x25 & 0xF);
        assert_eq!(c.queue_for_hash(0x7F), 0xF);

        // The MS key packed the way a driver writes it.
        let mut rssrk = [0u32; 10];
        for (r, k) in rssrk.iter_mut().zip(MS_KEY.chunks_exact(4)) {
            *r = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
        }
        assert_eq!(rssrk[0], 0xda56_5a6d);
        assert_eq!(RssState::from_registers(0, &rssrk, &[0; 32]).key, MS_KEY);
    }

    #[test]
    fn field_selection_ipv4() {
        let tcp_p = parse(&v4_frame(IPPROTO_TCP, 0));
        let udp_p = parse(&v4_frame(IPPROTO_UDP, 0));
        let frag_p = parse(&v4_frame(IPPROTO_TCP, 0x2000));

        let r = classify(&cfg(ALL_FIELDS), &tcp_p);
        assert_eq!(
            (r.hash, r.rss_type),
            (0x51cc_c178, regs::RXDADV_RSSTYPE_IPV4_TCP)
        );
        assert_eq!(r.queue, 0x51cc_c178 & 0x7F & 0xF);
        let r = classify(&cfg(ALL_FIELDS), &udp_p);
        assert_eq!(
            (r.hash, r.rss_type),
            (0x51cc_c178, regs::RXDADV_RSSTYPE_IPV4_UDP)
        );
        let r = classify(&cfg(ALL_FIELDS), &frag_p);
        assert_eq!(
            (r.hash, r.rss_type),
            (0x323e_8fc2, regs::RXDADV_RSSTYPE_IPV4)
        );

        // L4 field disabled: falls back to addresses.
        let r = classify(&cfg(regs::MRQC_RSS_FIELD_IPV4), &tcp_p);
        assert_eq!(
            (r.hash, r.rss_type),
            (0x323e_8fc2, regs::RXDADV_RSSTYPE_IPV4)
        );
        let r = classify(
            &cfg(regs::MRQC_RSS_FIELD_IPV4 | regs::MRQC_RSS_FIELD_IPV4_TCP),
            &udp_p,
        );
        assert_eq!(
            (r.hash, r.rss_type),
            (0x323e_8fc2, regs::RXDADV_RSSTYPE_IPV4)
        );
        // Only the TCP field: UDP and fragments are not hashed.
        let c = cfg(regs::MRQC_RSS_FIELD_IPV4_TCP);
        assert_eq!(classify(&c, &udp_p), NO_RSS);
        assert_eq!(classify(&c, &frag_p), NO_RSS);
        // IPv6-only enables do not hash IPv4.
        let c = cfg(regs::MRQC_RSS_FIELD_IPV6 | regs::MRQC_RSS_FIELD_IPV6_TCP);
        assert_eq!(classify(&c, &tcp_p), NO_RSS);
        // RSS disabled or another MRQE mode.
        for mrqe in [0u32, 2, 8, 0xF] {
            let mut c = cfg(ALL_FIELDS);
            c.mrqc = (c.mrqc & !regs::MRQC_MRQE_MASK) | mrqe;
            assert_eq!(classify(&c, &tcp_p), NO_RSS);
        }
        // Non-IP.
        assert_eq!(classify(&cfg(ALL_FIELDS), &parse(&eth(0x88F7))), NO_RSS);
    }

    #[test]
    fn field_selection_ipv6() {
        let src: [u8; 16] = [
            0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 7,
        ];
        let dst: [u8; 16] = [
            0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let build = |proto: u8| {
            let mut f = eth(ETHERTYPE_IPV6);
            let l4 = if proto == IPPROTO_TCP {
                tcp(2794, 1766)
            } else {
                udp(2794, 1766, &[])
            };
            f.extend(ipv6(src, dst, proto, l4.len()));
            f.extend(l4);
            parse(&f)
        };
        let c = cfg(ALL_FIELDS);
        let r = classify(&c, &build(IPPROTO_TCP));
        assert_eq!(
            (r.hash, r.rss_type),
            (0x4020_7d3d, regs::RXDADV_RSSTYPE_IPV6_TCP)
        );
        let r = classify(&c, &build(IPPROTO_UDP));
        assert_eq!(
            (r.hash, r.rss_type),
            (0x4020_7d3d, regs::RXDADV_RSSTYPE_IPV6_UDP)
        );
        let r = classify(&c, &build(59)); // no next header
        assert_eq!(
            (r.hash, r.rss_type),
            (0x2cc1_8cd5, regs::RXDADV_RSSTYPE_IPV6)
        );
        let r = classify(&cfg(regs::MRQC_RSS_FIELD_IPV6), &build(IPPROTO_TCP));
        assert_eq!(
            (r.hash, r.rss_type),
            (0x2cc1_8cd5, regs::RXDADV_RSSTYPE_IPV6)
        );
        assert_eq!(
            classify(
                &cfg(regs::MRQC_RSS_FIELD_IPV4 | regs::MRQC_RSS_FIELD_IPV6_TCP),
                &build(IPPROTO_UDP)
            ),
            NO_RSS
        );
    }

    fn arb_cfg() -> impl Strategy<Value = RssState> {
        (
            any::<u32>(),
            prop::array::uniform32(any::<u8>()),
            prop::array::uniform8(any::<u8>()),
            prop::collection::vec(any::<u8>(), 128),
            any::<bool>(),
        )
            .prop_map(|(mrqc, k0, k1, reta, force_rss)| {
                let mut c = RssState {
                    mrqc: if force_rss { (mrqc & !0xF) | 1 } else { mrqc },
                    ..RssState::default()
                };
                c.key[..32].copy_from_slice(&k0);
                c.key[32..].copy_from_slice(&k1);
                c.reta.copy_from_slice(&reta);
                c
            })
    }

    proptest! {
        #[test]
        fn toeplitz_matches_reference(
            k0 in prop::array::uniform32(any::<u8>()),
            k1 in prop::array::uniform8(any::<u8>()),
            input in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut key = [0u8; 40];
            key[..32].copy_from_slice(&k0);
            key[32..].copy_from_slice(&k1);
            prop_assert_eq!(toeplitz(&key, &input), toeplitz_reference(&key, &input));
        }

        #[test]
        fn key_table_matches_bitwise_toeplitz(
            k0 in prop::array::uniform32(any::<u8>()),
            k1 in prop::array::uniform8(any::<u8>()),
            input in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut key = [0u8; 40];
            key[..32].copy_from_slice(&k0);
            key[32..].copy_from_slice(&k1);
            prop_assert_eq!(KeyTable::new(&key).hash(&input), toeplitz(&key, &input));
        }

        #[test]
        fn port_rss_classifies_as_the_registers_say(
            c in arb_cfg(),
            frame in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut rss = PortRss::default();
            let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let rssrk: [u32; 10] = std::array::from_fn(|i| word(&c.key[4 * i..]));
            let reta: [u32; 32] = std::array::from_fn(|i| word(&c.reta[4 * i..]));
            rss.update(c.mrqc, &rssrk, &reta);
            let p = parse(&frame);
            prop_assert_eq!(rss.classify(&p), classify(&c, &p));
        }

        #[test]
        fn classify_never_panics(
            c in arb_cfg(),
            frame in prop::collection::vec(any::<u8>(), 0..2000),
        ) {
            let r = classify(&c, &parse(&frame));
            prop_assert!(r.queue < 16);
            if r.rss_type == regs::RXDADV_RSSTYPE_NONE {
                prop_assert_eq!(r, NO_RSS);
            } else {
                prop_assert_eq!(r.queue, c.queue_for_hash(r.hash));
            }
        }

        #[test]
        fn classify_ip_frames(
            c in arb_cfg(),
            v6 in any::<bool>(),
            proto in prop::sample::select(vec![IPPROTO_TCP, IPPROTO_UDP, 1, 44]),
            flags_frag in any::<u16>(),
            tail in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut f = if v6 { eth(ETHERTYPE_IPV6) } else { eth(ETHERTYPE_IPV4) };
            if v6 {
                f.extend(ipv6([1; 16], [2; 16], proto, tail.len()));
            } else {
                f.extend(ipv4([1; 4], [2; 4], proto, flags_frag, 0, tail.len()));
            }
            f.extend(tail);
            let r = classify(&c, &parse(&f));
            prop_assert!(r.queue < 16);
        }
    }
}
