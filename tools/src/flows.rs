//! Flow generation and verification: the one module every tool and test
//! that needs traffic uses (MoonGen's job, as in ixy's benchmark).
//!
//! Frames are IPv4/UDP with valid IP and UDP checksums. Flows differ by
//! their source IP (10.0.0.0 + flow), like ixy's benchmark script. The UDP
//! payload starts with a tag: magic `"IXYG"`, the stream id (one per
//! direction), the flow number and a per-flow sequence number, so that the
//! receiver finds loss, duplicates and reordering per flow (order is only
//! promised within a flow, docs/DESIGN.md 9).

use driver::checksum;
use std::net::Ipv4Addr;

/// Ethernet + IPv4 + UDP header length.
pub const HEADERS: usize = 14 + 20 + 8;
/// Tag length: magic (4), stream (4), flow (4), sequence (8).
pub const TAG: usize = 20;
/// Smallest frame (without FCS) that holds headers and tag; 60 is the
/// Ethernet minimum without FCS anyway.
pub const MIN_SIZE: usize = 64;
/// Largest standard frame without FCS.
pub const MAX_SIZE: usize = 1514;
/// Tag magic.
pub const MAGIC: [u8; 4] = *b"IXYG";
/// UDP destination port of generated traffic.
pub const DST_PORT: u16 = 4321;
/// UDP source port of generated traffic.
pub const SRC_PORT: u16 = 1234;

/// What to generate.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    /// Number of flows (distinct source IPs), at least 1.
    pub flows: u32,
    /// Frame size without FCS (`MIN_SIZE..=MAX_SIZE`; 60 + FCS = 64 on the wire).
    pub size: usize,
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC (the device under test's port).
    pub dst_mac: [u8; 6],
    /// Stream id written into every tag (e.g. the direction).
    pub stream: u32,
}

impl FlowSpec {
    /// Checks the numbers; `Err` says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.flows == 0 || self.flows > 1 << 24 {
            return Err(format!("--flows {}: use 1 to 16777216", self.flows));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(format!(
                "--size {}: use {MIN_SIZE} to {MAX_SIZE} bytes (without FCS)",
                self.size
            ));
        }
        Ok(())
    }

    /// The source IP of flow `f`.
    pub fn src_ip(&self, f: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + f)
    }

    /// The destination IP of every flow.
    pub fn dst_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 1, 0, 1)
    }
}

/// Makes frames flow after flow, round robin, numbering each flow's frames.
#[derive(Debug, Clone)]
pub struct Generator {
    spec: FlowSpec,
    template: Vec<u8>,
    /// Where the flow's own address goes: the source IP (26), or the
    /// destination IP (30) in replies.
    flow_ip_at: usize,
    next_flow: u32,
    sent: Vec<u64>,
}

impl Generator {
    /// A generator for `spec` (validated by the caller).
    pub fn new(spec: FlowSpec) -> Self {
        Self::with_direction(spec, false)
    }

    /// A generator of the replies to `spec`'s flows: source and
    /// destination IP and UDP port swapped (10.1.0.1:4321 to 10.0.0.0 +
    /// i:1234), the frames the far end of each flow sends back. The tags
    /// are the same as for the flows themselves.
    pub fn replies(spec: FlowSpec) -> Self {
        Self::with_direction(spec, true)
    }

    fn with_direction(spec: FlowSpec, reply: bool) -> Self {
        let mut t = vec![0u8; spec.size];
        t[0..6].copy_from_slice(&spec.dst_mac);
        t[6..12].copy_from_slice(&spec.src_mac);
        t[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip_len = (spec.size - 14) as u16;
        t[14] = 0x45;
        t[16..18].copy_from_slice(&ip_len.to_be_bytes());
        t[22] = 64; // TTL
        t[23] = 17; // UDP
                    // The address that is the same in every flow, and the ports.
        let (fixed_at, sport, dport) = if reply {
            (26, DST_PORT, SRC_PORT)
        } else {
            (30, SRC_PORT, DST_PORT)
        };
        t[fixed_at..fixed_at + 4].copy_from_slice(&spec.dst_ip().octets());
        t[34..36].copy_from_slice(&sport.to_be_bytes());
        t[36..38].copy_from_slice(&dport.to_be_bytes());
        t[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
        t[42..46].copy_from_slice(&MAGIC);
        t[46..50].copy_from_slice(&spec.stream.to_be_bytes());
        let sent = vec![0; spec.flows as usize];
        Generator {
            spec,
            template: t,
            flow_ip_at: if reply { 30 } else { 26 },
            next_flow: 0,
            sent,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// Frame length.
    pub fn size(&self) -> usize {
        self.spec.size
    }

    /// Writes the next frame into `buf` (at least `size()` bytes); returns
    /// its length.
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let f = self.next_flow;
        self.next_flow = (f + 1) % self.spec.flows;
        let seq = self.sent[f as usize];
        self.sent[f as usize] += 1;
        self.write(buf, f, seq)
    }

    /// Writes frame `seq` of flow `f` into `buf`.
    pub fn write(&self, buf: &mut [u8], f: u32, seq: u64) -> usize {
        let n = self.spec.size;
        let frame = &mut buf[..n];
        frame.copy_from_slice(&self.template);
        let at = self.flow_ip_at;
        frame[at..at + 4].copy_from_slice(&self.spec.src_ip(f).octets());
        frame[50..54].copy_from_slice(&f.to_be_bytes());
        frame[54..62].copy_from_slice(&seq.to_be_bytes());
        let ip = checksum::ipv4_header(&frame[14..34]);
        frame[24..26].copy_from_slice(&ip.to_be_bytes());
        let udp = checksum::udp_ipv4(&frame[14..34], &frame[34..n]);
        frame[40..42].copy_from_slice(&udp.to_be_bytes());
        n
    }

    /// Frames generated per flow so far.
    pub fn sent(&self) -> &[u64] {
        &self.sent
    }

    /// Frames generated in total.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// Forgets the last `n` frames handed out (not sent after all), so
    /// that sequence numbers stay gap-free.
    pub fn unsend(&mut self, n: u32) {
        for _ in 0..n {
            self.next_flow = (self.next_flow + self.spec.flows - 1) % self.spec.flows;
            let s = &mut self.sent[self.next_flow as usize];
            *s = s.saturating_sub(1);
        }
    }
}

/// The tag of a generated frame: (stream, flow, sequence), if it has one
/// and its IPv4 header checksum is right.
pub fn parse_tag(frame: &[u8]) -> Option<(u32, u32, u64)> {
    let tag = frame.get(HEADERS..HEADERS + TAG)?;
    if tag[0..4] != MAGIC || checksum::ipv4_header(frame.get(14..34)?) != 0 {
        return None;
    }
    let word = |r: std::ops::Range<usize>| {
        tag.get(r)
            .map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
    };
    Some((word(4..8)? as u32, word(8..12)? as u32, word(12..20)?))
}

/// Per-flow results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowResult {
    /// Frames sent.
    pub sent: u64,
    /// Distinct frames received.
    pub received: u64,
    /// Frames not received.
    pub lost: u64,
    /// Frames received more than once (each extra copy counts).
    pub duplicated: u64,
    /// Frames that arrived after a later frame of the same flow.
    pub reordered: u64,
}

/// Checks received frames of one stream against what was sent.
#[derive(Debug, Clone)]
pub struct Verifier {
    stream: u32,
    seen: Vec<Vec<u64>>,
    highest: Vec<Option<u64>>,
    results: Vec<FlowResult>,
    foreign: u64,
}

impl Verifier {
    /// A verifier for `flows` flows of stream `stream`.
    pub fn new(stream: u32, flows: u32) -> Self {
        Verifier {
            stream,
            seen: vec![Vec::new(); flows as usize],
            highest: vec![None; flows as usize],
            results: vec![FlowResult::default(); flows as usize],
            foreign: 0,
        }
    }

    /// Takes one received frame into account; `sent` is what the
    /// generator has sent per flow so far. A tag with a sequence number
    /// never sent is foreign: whatever a frame says, the record of what
    /// was seen grows only with what was sent.
    pub fn check(&mut self, frame: &[u8], sent: &[u64]) {
        let Some((stream, flow, seq)) = parse_tag(frame) else {
            self.foreign += 1;
            return;
        };
        let f = flow as usize;
        let generated = sent.get(f).is_some_and(|&n| seq < n);
        if stream != self.stream || f >= self.results.len() || !generated {
            self.foreign += 1;
            return;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        let bits = &mut self.seen[f];
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let r = &mut self.results[f];
        if bits[word] & bit != 0 {
            r.duplicated += 1;
            return;
        }
        bits[word] |= bit;
        r.received += 1;
        match self.highest[f] {
            Some(h) if seq < h => r.reordered += 1,
            _ => self.highest[f] = Some(seq),
        }
    }

    /// Frames that were not of this stream (or not generated at all).
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// Results per flow, given what the generator sent per flow.
    pub fn results(&self, sent: &[u64]) -> Vec<FlowResult> {
        self.results
            .iter()
            .zip(sent)
            .map(|(r, &s)| FlowResult {
                sent: s,
                lost: s.saturating_sub(r.received),
                ..*r
            })
            .collect()
    }
}

/// Sums per-flow results.
pub fn total(results: &[FlowResult]) -> FlowResult {
    results
        .iter()
        .fold(FlowResult::default(), |a, r| FlowResult {
            sent: a.sent + r.sent,
            received: a.received + r.received,
            lost: a.lost + r.lost,
            duplicated: a.duplicated + r.duplicated,
            reordered: a.reordered + r.reordered,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(flows: u32, size: usize) -> FlowSpec {
        FlowSpec {
            flows,
            size,
            src_mac: [2, 0, 0, 0, 0, 2],
            dst_mac: [2, 0, 0, 0, 0, 1],
            stream: 7,
        }
    }

    #[test]
    fn replies_swap_addresses_and_ports_and_keep_checksums_and_tags() {
        let mut gen = Generator::new(spec(4, 64));
        let mut rep = Generator::replies(spec(4, 64));
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        for _ in 0..6 {
            gen.fill(&mut a);
            rep.fill(&mut b);
            assert_eq!(a[26..30], b[30..34], "flow address");
            assert_eq!(a[30..34], b[26..30], "fixed address");
            assert_eq!(a[34..36], b[36..38], "ports swapped");
            assert_eq!(a[36..38], b[34..36]);
            assert_eq!(parse_tag(&a), parse_tag(&b), "the same tags");
            assert_eq!(
                checksum::ipv4_header(&b[14..34]),
                0,
                "IPv4 checksum of a reply"
            );
            assert!(
                checksum::udp_ipv4_ok(&b[14..34], &b[34..64]),
                "UDP checksum"
            );
        }
    }

    #[test]
    fn frames_have_valid_checksums_and_tags() {
        let mut g = Generator::new(spec(3, 128));
        let mut buf = [0u8; 2048];
        for i in 0..7u64 {
            let n = g.fill(&mut buf);
            let f = &buf[..n];
            assert_eq!(checksum::ipv4_header(&f[14..34]), 0, "IPv4 checksum");
            assert_ne!(&f[40..42], &[0, 0], "a UDP checksum is sent");
            assert!(checksum::udp_ipv4_ok(&f[14..34], &f[34..n]), "UDP checksum");
            assert_eq!(parse_tag(f), Some((7, (i % 3) as u32, i / 3)));
            assert_eq!(&f[26..30], &[10, 0, 0, (i % 3) as u8]);
        }
        assert_eq!(g.sent(), &[3, 2, 2]);
        g.unsend(2);
        assert_eq!(
            g.sent(),
            &[2, 2, 1],
            "the last two frames were flows 2 and 0"
        );
        assert_eq!(
            spec(0, 64).validate().unwrap_err(),
            "--flows 0: use 1 to 16777216"
        );
        assert!(spec(1, 63).validate().is_err() && spec(1, 1515).validate().is_err());
    }

    #[test]
    fn the_verifier_finds_loss_duplicates_and_reordering_per_flow() {
        let mut g = Generator::new(spec(2, 64));
        let frames: Vec<Vec<u8>> = (0..10)
            .map(|_| {
                let mut b = vec![0u8; 64];
                g.fill(&mut b);
                b
            })
            .collect();
        // flow 0: seq 0..5 = frames 0,2,4,6,8; flow 1: frames 1,3,5,7,9.
        let mut v = Verifier::new(7, 2);
        for i in [0, 4, 2, 6, 6, 1, 3, 5, 7] {
            v.check(&frames[i], g.sent());
        }
        v.check(b"not a generated frame at all, far too short", g.sent());
        let r = v.results(g.sent());
        assert_eq!(
            r[0],
            FlowResult {
                sent: 5,
                received: 4,
                lost: 1,
                duplicated: 1,
                reordered: 1
            }
        );
        assert_eq!(
            r[1],
            FlowResult {
                sent: 5,
                received: 4,
                lost: 1,
                duplicated: 0,
                reordered: 0
            }
        );
        assert_eq!(v.foreign(), 1);
        assert_eq!(total(&r).lost, 2);
        // Another stream's frames are foreign.
        let mut other = Verifier::new(8, 2);
        other.check(&frames[0], g.sent());
        assert_eq!(other.foreign(), 1);
    }

    #[test]
    fn a_sequence_number_never_sent_is_foreign_and_costs_no_memory() {
        // A frame with a valid tag for flow 0 and sequence 2^39 (found by
        // fuzzing: the verifier grew its record to 2^33 words for it).
        let g = Generator::new(spec(1, 64));
        let mut frame = vec![0u8; 64];
        g.write(&mut frame, 0, 1 << 39);
        let mut v = Verifier::new(7, 1);
        v.check(&frame, &[3]);
        assert_eq!(v.foreign(), 1);
        assert_eq!(v.seen[0].len(), 0, "nothing recorded");
        g.write(&mut frame, 0, 2);
        v.check(&frame, &[3]);
        assert_eq!((v.foreign(), v.results(&[3])[0].received), (1, 1));
        g.write(&mut frame, 0, 3);
        v.check(&frame, &[3]);
        assert_eq!(v.foreign(), 2, "one past the last sent");
    }
}
