//! Receive-side scaling (82599 datasheet 7.1.2.8): the hash key, the
//! redirection table, the MRQC field enables, and a software Toeplitz hash
//! that predicts which queue the NIC picks for a flow.
//!
//! The NIC hashes selected header fields with the Toeplitz function
//! (7.1.2.8.1) under a 40-byte key (RSSRK), uses the low 7 bits of the hash
//! to index a 128-entry redirection table (RETA, 7.1.2.8.2) and delivers the
//! packet to the queue found there. Frames that match no enabled hash type
//! (non-IP frames among them) get hash 0, RSS type 0 and queue 0 (7.1.2.8).
//! [`toeplitz`] is checked against the published verification suite
//! (7.1.2.8.3) in `tests/rss_vectors.rs`.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};
use crate::mmio::Registers;
use crate::regs;

/// Length of the RSS hash key in bytes: ten RSSRK registers of four bytes
/// (7.1.2.8.1).
pub const KEY_LEN: usize = 40;

/// Number of redirection table entries, indexed by the low 7 bits of the
/// hash (7.1.2.8.2).
pub const RETA_SIZE: usize = 128;

/// Most RSS queues the 82599 can spread to: a redirection table entry has
/// 4 significant bits (7.1.2.8.2).
pub const MAX_RSS_QUEUES: u16 = 16;

/// The key of the published RSS verification suite (7.1.2.8.3), also the
/// driver's default key.
pub const MICROSOFT_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The symmetric key: 0x6d5a repeated. Its bit pattern repeats every 16
/// bits, so swapping source and destination (addresses and ports) leaves the
/// Toeplitz hash (7.1.2.8.1) unchanged and both directions of a flow land on
/// one queue.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = {
    let mut k = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// The Toeplitz hash of `input` under `key` (82599 datasheet 7.1.2.8.1):
/// for every set bit `i` of the input (most significant bit of byte 0
/// first), the 32 key bits starting at bit `i` are XORed into the result.
///
/// The NIC hashes at most 36 bytes (two IPv6 addresses and two ports); key
/// bits past the end of the 40-byte key count as zero for longer inputs.
pub fn toeplitz(key: &[u8; KEY_LEN], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    // Key bits i..i+32 for the input bit i being processed.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, &byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    hash
}

/// Which RSS key to program into RSSRK (7.1.2.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssKey {
    /// [`MICROSOFT_KEY`], the key of the verification suite (7.1.2.8.3).
    Default,
    /// 40 bytes from `/dev/urandom`.
    Random,
    /// [`SYMMETRIC_KEY`]: both directions of a flow hash alike.
    Symmetric,
    /// A key given byte for byte (byte 0 hashes against the first input bits).
    Given([u8; KEY_LEN]),
}

impl RssKey {
    /// The 40 key bytes (7.1.2.8.1); reads `/dev/urandom` for
    /// [`RssKey::Random`], the only case that can fail.
    pub fn bytes(&self) -> Result<[u8; KEY_LEN]> {
        match self {
            RssKey::Default => Ok(MICROSOFT_KEY),
            RssKey::Symmetric => Ok(SYMMETRIC_KEY),
            RssKey::Given(k) => Ok(*k),
            RssKey::Random => {
                let what = "reading a random RSS key from /dev/urandom";
                let mut k = [0u8; KEY_LEN];
                File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut k))
                    .map_err(|e| Error::io("", what, e))?;
                Ok(k)
            }
        }
    }
}

impl FromStr for RssKey {
    type Err = Error;

    /// Parses `default`, `random`, `symmetric` (any case) or exactly 80 hex
    /// digits (the 40 key bytes of 7.1.2.8.1 in hashing order).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "default" => return Ok(RssKey::Default),
            "random" => return Ok(RssKey::Random),
            "symmetric" => return Ok(RssKey::Symmetric),
            _ => {}
        }
        let accepted = "expected \"default\", \"random\", \"symmetric\" \
                        or 80 hex digits (40 key bytes)";
        let bad = |why: String| {
            Error::new(
                ErrorKind::InvalidInput,
                "",
                format!("invalid RSS key \"{s}\": {why}; {accepted}"),
            )
        };
        if let Some((pos, c)) = t.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(bad(format!("'{c}' at position {pos} is not a hex digit")));
        }
        if t.len() != 2 * KEY_LEN {
            return Err(bad(format!("{} hex digits", t.len())));
        }
        let mut key = [0u8; KEY_LEN];
        for (i, b) in key.iter_mut().enumerate() {
            // All ASCII hex digits (checked above), so this cannot fail.
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)
                .map_err(|e| bad(format!("byte {i}: {e}")))?;
        }
        Ok(RssKey::Given(key))
    }
}

impl fmt::Display for RssKey {
    /// The form [`RssKey::from_str`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RssKey::Default => f.write_str("default"),
            RssKey::Random => f.write_str("random"),
            RssKey::Symmetric => f.write_str("symmetric"),
            RssKey::Given(k) => k.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// The MRQC hash field enables (7.1.2.8.1, MRQC 8.2.3.7.12): which packet
/// types are hashed, and over which fields. The default enables all six.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashFields {
    /// IPv4 packets: hash source and destination address.
    pub ipv4: bool,
    /// IPv4/TCP packets: hash addresses and ports.
    pub ipv4_tcp: bool,
    /// IPv4/UDP packets: hash addresses and ports.
    pub ipv4_udp: bool,
    /// IPv6 packets: hash source and destination address.
    pub ipv6: bool,
    /// IPv6/TCP packets: hash addresses and ports.
    pub ipv6_tcp: bool,
    /// IPv6/UDP packets: hash addresses and ports.
    pub ipv6_udp: bool,
}

impl Default for HashFields {
    /// All six field enables set.
    fn default() -> Self {
        HashFields {
            ipv4: true,
            ipv4_tcp: true,
            ipv4_udp: true,
            ipv6: true,
            ipv6_tcp: true,
            ipv6_udp: true,
        }
    }
}

impl HashFields {
    /// The MRQC field-enable bits (8.2.3.7.12) for these fields.
    pub fn mrqc_bits(&self) -> u32 {
        self.select([
            regs::MRQC_RSS_FIELD_IPV4,
            regs::MRQC_RSS_FIELD_IPV4_TCP,
            regs::MRQC_RSS_FIELD_IPV4_UDP,
            regs::MRQC_RSS_FIELD_IPV6,
            regs::MRQC_RSS_FIELD_IPV6_TCP,
            regs::MRQC_RSS_FIELD_IPV6_UDP,
        ])
    }

    /// `bits[i]` OR-ed for every enabled field `i`, in the order IPv4,
    /// IPv4/TCP, IPv4/UDP, IPv6, IPv6/TCP, IPv6/UDP: these fields in
    /// another device's encoding (virtio's hash types).
    pub fn select(&self, bits: [u32; 6]) -> u32 {
        [
            self.ipv4,
            self.ipv4_tcp,
            self.ipv4_udp,
            self.ipv6,
            self.ipv6_tcp,
            self.ipv6_udp,
        ]
        .iter()
        .zip(bits)
        .filter(|(on, _)| **on)
        .fold(0, |acc, (_, bit)| acc | bit)
    }
}

/// The values of RETA[0..31] for a redirection table (7.1.2.8.2,
/// 8.2.3.7.15): entry `4i` in bits 7:0 of register `i`.
pub fn reta_words(reta: &[u8; RETA_SIZE]) -> [u32; RETA_SIZE / 4] {
    let mut w = [0u32; RETA_SIZE / 4];
    for (i, chunk) in reta.chunks_exact(4).enumerate() {
        w[i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

/// Writes a redirection table into RETA[0..31] (82599 datasheet 7.1.2.8.2,
/// 8.2.3.7.15). The NIC looks the table up for every frame it receives, so
/// the table may be rewritten while traffic flows (Linux does so for
/// `ethtool -X`): each register write redirects its four entries at once,
/// and a frame goes to the queue its entry names when it is looked up.
pub fn write_reta(regs: &Registers, reta: &[u8; RETA_SIZE]) {
    for (i, w) in reta_words(reta).iter().enumerate() {
        regs.write(regs::reta(i as u32), *w);
    }
}

/// A complete RSS configuration (7.1.2.8): key, redirection table, number of
/// queues and hash field enables, with the register values to program and a
/// software model of the queue choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConfig {
    /// The hash key (RSSRK, 7.1.2.8.1).
    pub key: [u8; KEY_LEN],
    /// The redirection table: entry `hash & 0x7f` is the queue (7.1.2.8.2).
    pub reta: [u8; RETA_SIZE],
    /// Number of RSS queues, 1 to [`MAX_RSS_QUEUES`].
    pub queues: u16,
    /// Which packet types are hashed (MRQC field enables).
    pub fields: HashFields,
}

fn check_queues(queues: u16) -> Result<()> {
    if (1..=MAX_RSS_QUEUES).contains(&queues) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            "",
            format!(
                "invalid RSS queue count {queues}: expected 1 to {MAX_RSS_QUEUES} \
                 (82599 redirection table entries select one of 16 queues)"
            ),
        ))
    }
}

/// Splits [`RETA_SIZE`] entries over the weights by largest remainder, then
/// makes sure every queue with a positive weight has at least one entry.
fn apportion(weights: &[u32]) -> [u32; MAX_RSS_QUEUES as usize] {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let size = RETA_SIZE as u64;
    let mut counts = [0u32; MAX_RSS_QUEUES as usize];
    let mut remainders = Vec::with_capacity(weights.len());
    for (q, &w) in weights.iter().enumerate() {
        let scaled = size * u64::from(w);
        counts[q] = (scaled / total) as u32;
        remainders.push((scaled % total, q));
    }
    let assigned: u32 = counts.iter().sum();
    // Largest remainder first; ties go to the lower queue.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, q) in remainders.iter().take(RETA_SIZE - assigned as usize) {
        counts[q] += 1;
    }
    // A queue with a tiny weight may have been rounded to zero entries: give
    // it one from the fullest queue (which has at least 128/16 = 8).
    for q in 0..weights.len() {
        if weights[q] > 0 && counts[q] == 0 {
            let fullest = (0..weights.len())
                .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
                .unwrap_or(0);
            counts[fullest] -= 1;
            counts[q] = 1;
        }
    }
    counts
}

impl RssConfig {
    /// `queues` RSS queues (1 to 16) with redirection table entry `j` set to
    /// queue `j % queues` (7.1.2.8.2), all hash fields enabled.
    pub fn new(queues: u16, key: RssKey) -> Result<Self> {
        check_queues(queues)?;
        let mut reta = [0u8; RETA_SIZE];
        for (j, e) in reta.iter_mut().enumerate() {
            *e = (j % usize::from(queues)) as u8;
        }
        Ok(RssConfig {
            key: key.bytes()?,
            reta,
            queues,
            fields: HashFields::default(),
        })
    }

    /// `queues` RSS queues with the redirection table (7.1.2.8.2) shared out
    /// in proportion to `weights` (one per queue): largest-remainder
    /// rounding, at least one entry for every queue with a positive weight,
    /// none for a zero weight, and each queue's entries spread evenly
    /// through the table rather than in one block.
    pub fn with_weights(queues: u16, key: RssKey, weights: &[u32]) -> Result<Self> {
        check_queues(queues)?;
        if weights.len() != usize::from(queues) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "",
                format!(
                    "invalid RSS weights {weights:?}: {} weights given for {queues} queues; \
                     expected one weight per queue",
                    weights.len()
                ),
            ));
        }
        if weights.iter().all(|&w| w == 0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "",
                format!(
                    "invalid RSS weights {weights:?}: all are zero; \
                     expected at least one positive weight"
                ),
            ));
        }
        let counts = apportion(weights);
        // Spread each queue's entries through the table: the k-th of queue
        // q's n entries ideally sits at (k + 1/2) * RETA_SIZE / n; fill the
        // table in order of those ideal positions (ties: lower queue first).
        let mut slots: Vec<(u64, u64, u8)> = Vec::with_capacity(RETA_SIZE);
        for (q, &n) in counts.iter().enumerate() {
            for k in 0..n {
                // The ideal position as the fraction (2k + 1) / 2n of the table.
                slots.push((u64::from(2 * k + 1), u64::from(2 * n), q as u8));
            }
        }
        slots.sort_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)).then(a.2.cmp(&b.2)));
        let mut reta = [0u8; RETA_SIZE];
        for (e, &(_, _, q)) in reta.iter_mut().zip(&slots) {
            *e = q;
        }
        Ok(RssConfig {
            key: key.bytes()?,
            reta,
            queues,
            fields: HashFields::default(),
        })
    }

    /// The MRQC value (8.2.3.7.12): MRQE = RSS plus the field enables of
    /// [`RssConfig::fields`] (7.1.2.8).
    pub fn mrqc(&self) -> u32 {
        regs::MRQC_RSSEN | self.fields.mrqc_bits()
    }

    /// The values of RSSRK[0..9] (7.1.2.8.1, 8.2.3.7.14): key byte `4i` in
    /// bits 7:0 of register `i`.
    pub fn rssrk_words(&self) -> [u32; KEY_LEN / 4] {
        let mut w = [0u32; KEY_LEN / 4];
        for (i, chunk) in self.key.chunks_exact(4).enumerate() {
            w[i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        w
    }

    /// The values of RETA[0..31] (7.1.2.8.2, 8.2.3.7.15) for
    /// [`RssConfig::reta`]: see [`reta_words`].
    pub fn reta_words(&self) -> [u32; RETA_SIZE / 4] {
        reta_words(&self.reta)
    }

    /// This redirection table with every entry that points to a queue in
    /// `avoid` dealt out, round robin, to the other queues the table uses;
    /// all other entries stay, so no flow of those queues moves. With no
    /// queue left to deal to, the table is returned unchanged.
    pub fn reta_avoiding(&self, avoid: &[u16]) -> [u8; RETA_SIZE] {
        let skip = |q: u8| avoid.contains(&u16::from(q));
        let mut live: Vec<u8> = self.reta.iter().copied().filter(|&q| !skip(q)).collect();
        live.sort_unstable();
        live.dedup();
        let mut reta = self.reta;
        if live.is_empty() {
            return reta;
        }
        for (k, e) in reta.iter_mut().filter(|e| skip(**e)).enumerate() {
            *e = live[k % live.len()];
        }
        reta
    }

    /// The Toeplitz hash (7.1.2.8.1) of an IPv4 packet over source address,
    /// destination address and, if given, source and destination port (all
    /// big-endian, the input order of 7.1.2.8.3). Ignores
    /// [`RssConfig::fields`].
    pub fn hash_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr, ports: Option<(u16, u16)>) -> u32 {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        match ports {
            Some((sp, dp)) => {
                input[8..10].copy_from_slice(&sp.to_be_bytes());
                input[10..12].copy_from_slice(&dp.to_be_bytes());
                toeplitz(&self.key, &input)
            }
            None => toeplitz(&self.key, &input[..8]),
        }
    }

    /// The Toeplitz hash (7.1.2.8.1) of an IPv6 packet over source address,
    /// destination address and, if given, source and destination port (all
    /// big-endian, the input order of 7.1.2.8.3). Ignores
    /// [`RssConfig::fields`].
    pub fn hash_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr, ports: Option<(u16, u16)>) -> u32 {
        let mut input = [0u8; 36];
        input[..16].copy_from_slice(&src.octets());
        input[16..32].copy_from_slice(&dst.octets());
        match ports {
            Some((sp, dp)) => {
                input[32..34].copy_from_slice(&sp.to_be_bytes());
                input[34..36].copy_from_slice(&dp.to_be_bytes());
                toeplitz(&self.key, &input)
            }
            None => toeplitz(&self.key, &input[..32]),
        }
    }

    /// The hash and RSS type (`regs::RXDADV_RSSTYPE_*`) the 82599 computes
    /// for `frame` (7.1.2.8.1), for devices that report none (virtio
    /// without `VIRTIO_NET_F_HASH_REPORT`): an untagged IPv4 or IPv6
    /// (without extension headers) frame, hashed with its TCP or UDP ports
    /// when that type is enabled and the packet is not a fragment, else
    /// over its addresses when that is; (0, NONE) otherwise.
    pub fn hash_frame(&self, frame: &[u8]) -> (u32, u32) {
        self.try_hash_frame(frame)
            .unwrap_or((0, regs::RXDADV_RSSTYPE_NONE))
    }

    fn try_hash_frame(&self, f: &[u8]) -> Option<(u32, u32)> {
        let be16 = |at: usize| Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]));
        let f_ = self.fields;
        match be16(12)? {
            0x0800 => {
                let ihl = usize::from(f.get(14)? & 0x0F) * 4;
                let src: [u8; 4] = f.get(26..30)?.try_into().ok()?;
                let dst: [u8; 4] = f.get(30..34)?.try_into().ok()?;
                let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
                let fragment = be16(20)? & 0x3FFF != 0;
                let l4 = 14 + ihl;
                let ports = || Some((be16(l4)?, be16(l4 + 2)?));
                let with_ports = match f.get(23)? {
                    6 if f_.ipv4_tcp && !fragment => Some(regs::RXDADV_RSSTYPE_IPV4_TCP),
                    17 if f_.ipv4_udp && !fragment => Some(regs::RXDADV_RSSTYPE_IPV4_UDP),
                    _ => None,
                };
                match (with_ports, ports()) {
                    (Some(kind), Some(p)) => Some((self.hash_ipv4(src, dst, Some(p)), kind)),
                    _ if f_.ipv4 => {
                        Some((self.hash_ipv4(src, dst, None), regs::RXDADV_RSSTYPE_IPV4))
                    }
                    _ => None,
                }
            }
            0x86DD => {
                let src: [u8; 16] = f.get(22..38)?.try_into().ok()?;
                let dst: [u8; 16] = f.get(38..54)?.try_into().ok()?;
                let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
                let ports = || Some((be16(54)?, be16(56)?));
                let with_ports = match f.get(20)? {
                    6 if f_.ipv6_tcp => Some(regs::RXDADV_RSSTYPE_IPV6_TCP),
                    17 if f_.ipv6_udp => Some(regs::RXDADV_RSSTYPE_IPV6_UDP),
                    _ => None,
                };
                match (with_ports, ports()) {
                    (Some(kind), Some(p)) => Some((self.hash_ipv6(src, dst, Some(p)), kind)),
                    _ if f_.ipv6 => {
                        Some((self.hash_ipv6(src, dst, None), regs::RXDADV_RSSTYPE_IPV6))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The queue the redirection table (7.1.2.8.2) gives for `hash`: entry
    /// `hash & 0x7f`.
    pub fn queue_for_hash(&self, hash: u32) -> u16 {
        u16::from(self.reta[(hash & 0x7f) as usize])
    }

    /// The hash and RSS type (`regs::RXDADV_RSSTYPE_*`) the NIC writes back
    /// for an unfragmented IPv4/UDP frame (7.1.2.8.1): the 4-tuple hash if
    /// IPv4/UDP hashing is enabled, else the address hash if IPv4 hashing
    /// is, else hash 0 and type `RXDADV_RSSTYPE_NONE`.
    pub fn rss_ipv4_udp(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> (u32, u32) {
        if self.fields.ipv4_udp {
            (
                self.hash_ipv4(src, dst, Some((sport, dport))),
                regs::RXDADV_RSSTYPE_IPV4_UDP,
            )
        } else if self.fields.ipv4 {
            (self.hash_ipv4(src, dst, None), regs::RXDADV_RSSTYPE_IPV4)
        } else {
            (0, regs::RXDADV_RSSTYPE_NONE)
        }
    }

    /// The queue the NIC picks for an unfragmented IPv4/UDP frame (7.1.2.8):
    /// through the redirection table if a hash type applies (see
    /// [`RssConfig::rss_ipv4_udp`]), queue 0 if none does.
    pub fn queue_for_ipv4_udp(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u16 {
        match self.rss_ipv4_udp(src, dst, sport, dport) {
            (_, regs::RXDADV_RSSTYPE_NONE) => 0,
            (hash, _) => self.queue_for_hash(hash),
        }
    }

    /// How many of the given flow hashes each queue receives through the
    /// redirection table (7.1.2.8.2); index `q` counts queue `q`. The vector
    /// has [`RssConfig::queues`] entries (more if the table was edited to
    /// name a higher queue).
    pub fn distribution(&self, flows: impl IntoIterator<Item = u32>) -> Vec<u64> {
        let highest = self.reta.iter().copied().max().unwrap_or(0);
        let len = usize::from(self.queues).max(usize::from(highest) + 1);
        let mut counts = vec![0u64; len];
        for hash in flows {
            counts[usize::from(self.queue_for_hash(hash))] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(cfg: &RssConfig) -> Vec<usize> {
        let mut c = vec![0; usize::from(cfg.queues)];
        for &e in cfg.reta.iter() {
            c[usize::from(e)] += 1;
        }
        c
    }

    #[test]
    fn key_keywords_parse() {
        assert_eq!("default".parse::<RssKey>().unwrap(), RssKey::Default);
        assert_eq!("Random".parse::<RssKey>().unwrap(), RssKey::Random);
        assert_eq!(" symmetric ".parse::<RssKey>().unwrap(), RssKey::Symmetric);
    }

    #[test]
    fn key_hex_parses_and_round_trips() {
        let hex =
            "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
        let k: RssKey = hex.parse().unwrap();
        assert_eq!(k, RssKey::Given(MICROSOFT_KEY));
        assert_eq!(k.to_string(), hex);
        let upper: RssKey = hex.to_uppercase().parse().unwrap();
        assert_eq!(upper, k);
        for k in [RssKey::Default, RssKey::Random, RssKey::Symmetric] {
            assert_eq!(k.to_string().parse::<RssKey>().unwrap(), k);
        }
    }

    #[test]
    fn key_bad_hex_is_reported_with_position() {
        let mut hex = "00".repeat(KEY_LEN);
        hex.replace_range(5..6, "g");
        let e = hex.parse::<RssKey>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(msg.contains(&hex), "{msg}");
        assert!(msg.contains("'g' at position 5"), "{msg}");
        assert!(msg.contains("80 hex digits"), "{msg}");
        assert!(msg.contains("\"symmetric\""), "{msg}");
    }

    #[test]
    fn key_wrong_length_is_reported() {
        for len in [0, 2, 78, 82] {
            let hex = "a".repeat(len);
            let e = hex.parse::<RssKey>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            let msg = e.to_string();
            assert!(msg.contains(&format!("{len} hex digits")), "{msg}");
            assert!(msg.contains("expected"), "{msg}");
        }
        let e = "defualt".parse::<RssKey>().unwrap_err();
        assert!(e.to_string().contains("\"defualt\""), "{e}");
    }

    #[test]
    fn key_bytes() {
        assert_eq!(RssKey::Default.bytes().unwrap(), MICROSOFT_KEY);
        assert_eq!(&SYMMETRIC_KEY[..4], &[0x6d, 0x5a, 0x6d, 0x5a]);
        assert_eq!(RssKey::Symmetric.bytes().unwrap(), SYMMETRIC_KEY);
        assert_eq!(RssKey::Given([7; KEY_LEN]).bytes().unwrap(), [7; KEY_LEN]);
        let a = RssKey::Random.bytes().unwrap();
        let b = RssKey::Random.bytes().unwrap();
        assert_ne!(a, b, "two random keys should differ");
    }

    #[test]
    fn queue_count_is_checked() {
        for bad in [0, 17, 128] {
            let e = RssConfig::new(bad, RssKey::Default).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            let msg = e.to_string();
            assert!(msg.contains(&format!("queue count {bad}")), "{msg}");
            assert!(msg.contains("expected 1 to 16"), "{msg}");
            assert!(RssConfig::with_weights(bad, RssKey::Default, &[]).is_err());
        }
        assert!(RssConfig::new(1, RssKey::Default).is_ok());
        assert!(RssConfig::new(16, RssKey::Default).is_ok());
    }

    #[test]
    fn reta_round_robin_spreads_evenly() {
        for q in 1..=MAX_RSS_QUEUES {
            let cfg = RssConfig::new(q, RssKey::Default).unwrap();
            for (j, &e) in cfg.reta.iter().enumerate() {
                assert_eq!(usize::from(e), j % usize::from(q));
            }
            let c = counts(&cfg);
            let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(max - min <= 1, "{q} queues: {c:?}");
        }
    }

    #[test]
    fn weights_three_to_one() {
        let cfg = RssConfig::with_weights(2, RssKey::Default, &[3, 1]).unwrap();
        assert_eq!(counts(&cfg), [96, 32]);
        // Interleaved: queue 1 in every group of four entries.
        for group in cfg.reta.chunks(4) {
            assert_eq!(group.iter().filter(|&&e| e == 1).count(), 1, "{group:?}");
        }
    }

    #[test]
    fn equal_weights_alternate() {
        let cfg = RssConfig::with_weights(2, RssKey::Default, &[5, 5]).unwrap();
        let rr = RssConfig::new(2, RssKey::Default).unwrap();
        assert_eq!(cfg.reta, rr.reta);
    }

    #[test]
    fn zero_weights_get_no_entries() {
        let cfg = RssConfig::with_weights(3, RssKey::Default, &[1, 0, 1]).unwrap();
        assert_eq!(counts(&cfg), [64, 0, 64]);
        assert_eq!(cfg.queues, 3);
    }

    #[test]
    fn tiny_weight_still_gets_an_entry() {
        let cfg = RssConfig::with_weights(2, RssKey::Default, &[1_000_000, 1]).unwrap();
        assert_eq!(counts(&cfg), [127, 1]);
        let cfg = RssConfig::with_weights(16, RssKey::Default, &{
            let mut w = [1u32; 16];
            w[0] = u32::MAX;
            w
        })
        .unwrap();
        assert!(counts(&cfg).iter().all(|&c| c >= 1));
        assert_eq!(counts(&cfg)[0], 128 - 15);
    }

    #[test]
    fn bad_weights_are_rejected() {
        let e = RssConfig::with_weights(2, RssKey::Default, &[0, 0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("[0, 0]"), "{e}");
        assert!(e.to_string().contains("at least one positive"), "{e}");
        let e = RssConfig::with_weights(3, RssKey::Default, &[1, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains("2 weights given for 3 queues"),
            "{e}"
        );
    }

    #[test]
    fn register_words_are_little_endian_packed() {
        let mut cfg = RssConfig::new(4, RssKey::Default).unwrap();
        let k = cfg.rssrk_words();
        assert_eq!(k[0], 0xda56_5a6d);
        assert_eq!(k[9], 0xfa01_acbe);
        let r = cfg.reta_words();
        assert!(r.iter().all(|&w| w == 0x0302_0100), "{r:x?}");
        cfg.reta[127] = 0xf;
        assert_eq!(cfg.reta_words()[31], 0x0f02_0100);
    }

    #[test]
    fn avoiding_a_queue_deals_its_entries_to_the_others_and_moves_nothing_else() {
        let cfg = RssConfig::new(4, RssKey::Default).unwrap();
        let t = cfg.reta_avoiding(&[1]);
        for (j, (&old, &new)) in cfg.reta.iter().zip(&t).enumerate() {
            if old == 1 {
                assert_ne!(new, 1, "entry {j}");
            } else {
                assert_eq!(new, old, "entry {j} stays");
            }
        }
        let n = |q: u8| t.iter().filter(|&&e| e == q).count();
        assert_eq!((n(0), n(1), n(2), n(3)), (32 + 11, 0, 32 + 11, 32 + 10));
        let t = cfg.reta_avoiding(&[0, 2, 3]);
        assert!(t.iter().all(|&e| e == 1));
        assert_eq!(cfg.reta_avoiding(&[]), cfg.reta);
        assert_eq!(cfg.reta_avoiding(&[0, 1, 2, 3]), cfg.reta, "nowhere to go");
        // Queues without entries (weight 0) get none.
        let w = RssConfig::with_weights(3, RssKey::Default, &[1, 0, 1]).unwrap();
        assert!(w.reta_avoiding(&[0]).iter().all(|&e| e == 2));
    }

    #[test]
    fn mrqc_has_rss_and_field_enables() {
        let mut cfg = RssConfig::new(2, RssKey::Default).unwrap();
        assert_eq!(cfg.mrqc(), 0x00F3_0001);
        cfg.fields = HashFields {
            ipv4: true,
            ipv4_tcp: false,
            ipv4_udp: false,
            ipv6: false,
            ipv6_tcp: false,
            ipv6_udp: true,
        };
        assert_eq!(
            cfg.mrqc(),
            regs::MRQC_RSSEN | regs::MRQC_RSS_FIELD_IPV4 | regs::MRQC_RSS_FIELD_IPV6_UDP
        );
        assert_eq!(cfg.mrqc() & regs::MRQC_MRQE_MASK, regs::MRQC_RSSEN);
    }

    #[test]
    fn ipv4_udp_queue_follows_field_enables() {
        let mut cfg = RssConfig::new(16, RssKey::Default).unwrap();
        let (s, d) = (
            Ipv4Addr::new(66, 9, 149, 187),
            Ipv4Addr::new(161, 142, 100, 80),
        );
        assert_eq!(
            cfg.rss_ipv4_udp(s, d, 2794, 1766),
            (0x51cc_c178, regs::RXDADV_RSSTYPE_IPV4_UDP)
        );
        assert_eq!(cfg.queue_for_ipv4_udp(s, d, 2794, 1766), 0x78 % 16);
        cfg.fields.ipv4_udp = false;
        assert_eq!(
            cfg.rss_ipv4_udp(s, d, 2794, 1766),
            (0x323e_8fc2, regs::RXDADV_RSSTYPE_IPV4)
        );
        assert_eq!(cfg.queue_for_ipv4_udp(s, d, 2794, 1766), 0x42 % 16);
        cfg.fields.ipv4 = false;
        assert_eq!(cfg.rss_ipv4_udp(s, d, 2794, 1766), (0, 0));
        assert_eq!(cfg.queue_for_ipv4_udp(s, d, 2794, 1766), 0);
    }

    #[test]
    fn queue_for_hash_uses_low_seven_bits() {
        let cfg = RssConfig::with_weights(3, RssKey::Default, &[1, 2, 3]).unwrap();
        for j in 0..RETA_SIZE as u32 {
            assert_eq!(
                cfg.queue_for_hash(0xdead_0000 | (1 << 7) | j),
                u16::from(cfg.reta[j as usize])
            );
        }
    }

    #[test]
    fn distribution_counts_per_queue() {
        let cfg = RssConfig::new(4, RssKey::Default).unwrap();
        assert_eq!(cfg.distribution(0..1024u32), vec![256; 4]);
        assert_eq!(cfg.distribution([1u32, 5, 9, 2]), vec![0, 3, 1, 0]);
        assert_eq!(cfg.distribution(std::iter::empty()), vec![0; 4]);
    }

    #[test]
    fn toeplitz_basics() {
        assert_eq!(toeplitz(&MICROSOFT_KEY, &[]), 0);
        assert_eq!(toeplitz(&MICROSOFT_KEY, &[0x80]), 0x6d5a_56da);
        // Input bit 15 selects key bits 15..=46.
        let head = u64::from_be_bytes(MICROSOFT_KEY[..8].try_into().unwrap());
        assert_eq!(toeplitz(&MICROSOFT_KEY, &[0x00, 0x01]), (head >> 17) as u32);
        // Longer than the key allows: no panic.
        let _ = toeplitz(&MICROSOFT_KEY, &[0xff; 64]);
    }

    proptest! {
        #[test]
        fn symmetric_key_hashes_both_directions_alike(
            a: u32, b: u32, sp: u16, dp: u16,
        ) {
            let cfg = RssConfig::new(8, RssKey::Symmetric).unwrap();
            let (a, b) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
            prop_assert_eq!(
                cfg.hash_ipv4(a, b, Some((sp, dp))),
                cfg.hash_ipv4(b, a, Some((dp, sp)))
            );
            prop_assert_eq!(cfg.hash_ipv4(a, b, None), cfg.hash_ipv4(b, a, None));
            prop_assert_eq!(
                cfg.queue_for_ipv4_udp(a, b, sp, dp),
                cfg.queue_for_ipv4_udp(b, a, dp, sp)
            );
        }

        #[test]
        fn symmetric_key_ipv6(a: u128, b: u128, sp: u16, dp: u16) {
            let cfg = RssConfig::new(8, RssKey::Symmetric).unwrap();
            let (a, b) = (Ipv6Addr::from(a), Ipv6Addr::from(b));
            prop_assert_eq!(
                cfg.hash_ipv6(a, b, Some((sp, dp))),
                cfg.hash_ipv6(b, a, Some((dp, sp)))
            );
        }

        #[test]
        fn toeplitz_is_linear(
            key: [u8; 32], tail: [u8; 8],
            x in proptest::collection::vec(any::<u8>(), 36),
            y in proptest::collection::vec(any::<u8>(), 36),
        ) {
            let mut k = [0u8; KEY_LEN];
            k[..32].copy_from_slice(&key);
            k[32..].copy_from_slice(&tail);
            let xy: Vec<u8> = x.iter().zip(&y).map(|(p, q)| p ^ q).collect();
            prop_assert_eq!(toeplitz(&k, &xy), toeplitz(&k, &x) ^ toeplitz(&k, &y));
        }

        #[test]
        fn weights_are_apportioned(
            weights in proptest::collection::vec(0u32..1000, 1..=16)
        ) {
            let queues = weights.len() as u16;
            let res = RssConfig::with_weights(queues, RssKey::Default, &weights);
            if weights.iter().all(|&w| w == 0) {
                prop_assert!(res.is_err());
                return Ok(());
            }
            let cfg = res.unwrap();
            let c = counts(&cfg);
            prop_assert_eq!(c.iter().sum::<usize>(), RETA_SIZE);
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            let ideal_of = |w: u32| RETA_SIZE as f64 * f64::from(w) / total;
            // Entries moved to queues whose share rounded down to zero.
            let moved = weights.iter().filter(|&&w| w > 0 && ideal_of(w) < 1.0).count() as f64;
            for (q, &w) in weights.iter().enumerate() {
                if w == 0 {
                    prop_assert_eq!(c[q], 0);
                } else {
                    prop_assert!(c[q] >= 1);
                    // Within one entry of the ideal share, less what was
                    // moved to queues rounded down to zero.
                    let ideal = ideal_of(w);
                    prop_assert!(c[q] as f64 <= ideal + 1.0, "{:?} {:?}", weights, c);
                    prop_assert!(c[q] as f64 > ideal - 1.0 - moved, "{:?} {:?}", weights, c);
                }
            }
            // Interleaved, not in blocks: no (cyclic) gap between two entries
            // of a queue exceeds its even spacing by more than the queue count.
            for (q, &n) in c.iter().enumerate().filter(|(_, &n)| n > 0) {
                let at: Vec<usize> = (0..RETA_SIZE).filter(|&j| usize::from(cfg.reta[j]) == q).collect();
                let gaps = at.windows(2).map(|w| w[1] - w[0]).chain([at[0] + RETA_SIZE - at[n - 1]]);
                let limit = RETA_SIZE.div_ceil(n) + weights.len();
                for gap in gaps {
                    prop_assert!(gap <= limit, "queue {} gap {} > {}: {:?}", q, gap, limit, cfg.reta);
                }
            }
        }
    }
}
