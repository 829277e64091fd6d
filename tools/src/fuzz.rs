//! Entry points of the fuzz targets (`fuzz/`, `make fuzz`) for the tools'
//! parsers of received frames, and of the replay of their committed
//! corpus by `cargo test` (`tests/fuzz_corpus.rs`) on stable Rust.
//!
//! Each check takes arbitrary bytes as a received frame, runs the parser
//! and asserts what its callers rely on; a failed assertion is a finding.

use crate::flows::{self, FlowSpec, Generator, Verifier};
use crate::latency::{self, ProbeId};

/// Flows the verifier of [`flow_tag`] expects.
const FLOWS: u32 = 4;

/// `ixy-pktgen`'s flow and sequence tag ([`flows::parse_tag`]) and its
/// verifier. A tag is only found where the frame has one, with its fields
/// read from their bytes; the verifier counts every frame exactly once
/// (foreign, received or duplicate) and never trusts a sequence number
/// beyond what was sent; a generated frame gives back its tag.
pub fn flow_tag(data: &[u8]) {
    let tag = flows::parse_tag(data);
    if let Some((stream, flow, seq)) = tag {
        let bytes = data.get(flows::HEADERS..flows::HEADERS + flows::TAG);
        let bytes = bytes.expect("a tag is inside the frame");
        assert_eq!(bytes[..4], flows::MAGIC);
        assert_eq!(bytes[4..8], stream.to_be_bytes());
        assert_eq!(bytes[8..12], flow.to_be_bytes());
        assert_eq!(bytes[12..20], seq.to_be_bytes());
    }
    // The stream the frame is checked against is its own and the counts
    // sent come from its bytes, so that the fuzzer finds frames that match.
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let stream = tag.map_or(0, |t| t.0);
    let sent = [u64::from(byte(0)) << 12, u64::from(byte(1)), 0, 1 << 20];
    let mut v = Verifier::new(stream, FLOWS);
    v.check(data, &sent);
    v.check(data, &sent);
    let results = v.results(&sent);
    let total = flows::total(&results);
    assert_eq!(total.received + total.duplicated + v.foreign(), 2);
    assert_eq!(
        total.received, total.duplicated,
        "a second copy is a duplicate"
    );
    for (r, &s) in results.iter().zip(&sent) {
        assert!(r.received <= s, "no flow receives more than was sent");
    }
    // The generator's frames carry their tags.
    let spec = FlowSpec {
        flows: FLOWS,
        size: flows::MIN_SIZE + usize::from(byte(2)) % (flows::MAX_SIZE - flows::MIN_SIZE + 1),
        src_mac: [2, 0, 0, 0, 0, byte(3)],
        dst_mac: [2, 0, 0, 0, 0, byte(4)],
        stream: u32::from(byte(5)),
    };
    let (flow, seq) = (u32::from(byte(6)) % FLOWS, u64::from(byte(7)) << 40 | 5);
    let g = Generator::new(spec.clone());
    let mut buf = vec![0u8; spec.size];
    assert_eq!(g.write(&mut buf, flow, seq), spec.size);
    assert_eq!(flows::parse_tag(&buf), Some((spec.stream, flow, seq)));
}

/// `ixy-latency`'s probe parser ([`latency::parse_probe`]): a probe is
/// only found in a frame with the whole PTP Sync message, its identity
/// read from the PTP header's bytes; a built probe parses back.
pub fn ptp_probe(data: &[u8]) {
    if let Some(id) = latency::parse_probe(data) {
        let ptp = data
            .get(latency::UDP_HEADERS..latency::UDP_HEADERS + latency::PTP_SYNC_LEN)
            .expect("a probe holds a whole Sync message");
        assert_eq!(data[12..14], [0x08, 0x00], "IPv4");
        assert_eq!(data[36..38], latency::PTP_EVENT_PORT.to_be_bytes());
        assert_eq!(id.clock_identity, ptp[20..28]);
        assert_eq!(id.seq.to_be_bytes(), ptp[30..32]);
    }
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let size =
        latency::MIN_SIZE + usize::from(byte(0)) % (latency::MAX_SIZE - latency::MIN_SIZE + 1);
    let src = [2, byte(1), byte(2), byte(3), byte(4), byte(5)];
    let seq = u16::from_be_bytes([byte(6), byte(7)]);
    let probe = latency::probe(size, src, [0xff; 6], seq);
    assert_eq!(
        latency::parse_probe(&probe),
        Some(ProbeId {
            clock_identity: latency::clock_identity(src),
            seq
        })
    );
}
