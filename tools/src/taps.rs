//! Every packet's latency from two cable captures (what MoonSniff needs
//! fiber taps for): the simulator's `capture P PATH` records each frame on
//! a cable with the time its first bit left the sender; given a capture
//! before the device under test and one after it, a frame's latency is the
//! difference of its two times. Frames are matched by the tag `ixy-pktgen`
//! writes into every frame ([`crate::flows::parse_tag`]: stream, flow,
//! sequence); untagged frames are ignored.

use crate::flows;
use crate::histogram::Latencies;
use std::collections::HashMap;

/// What two captures say.
#[derive(Debug, Default)]
pub struct TapLatencies {
    /// The latency of every frame seen in both captures, ns.
    pub latencies: Latencies,
    /// Tagged frames of the first capture never seen in the second.
    pub lost: u64,
    /// Tagged frames of the second capture never seen in the first, or
    /// seen there later than here.
    pub unmatched: u64,
}

/// Matches the tagged frames of `before` and `after` (records of
/// [`driver::pcap::records`]: Unix ns and frame): a frame's first
/// appearance in each counts.
pub fn latencies(before: &[(u64, &[u8])], after: &[(u64, &[u8])]) -> TapLatencies {
    let mut sent: HashMap<(u32, u32, u64), (u64, bool)> = HashMap::with_capacity(before.len());
    for &(t, frame) in before {
        if let Some(tag) = flows::parse_tag(frame) {
            sent.entry(tag).or_insert((t, false));
        }
    }
    let mut out = TapLatencies::default();
    for &(t, frame) in after {
        let Some(tag) = flows::parse_tag(frame) else {
            continue;
        };
        match sent.get_mut(&tag) {
            Some((t0, seen)) if !*seen && t >= *t0 => {
                *seen = true;
                out.latencies.record(t - *t0);
            }
            Some((_, true)) => {} // a later copy of a frame already matched
            _ => out.unmatched += 1,
        }
    }
    out.lost = sent.values().filter(|(_, seen)| !seen).count() as u64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{FlowSpec, Generator};

    #[test]
    fn latency_is_the_difference_of_the_two_times_of_each_tagged_frame() {
        let spec = FlowSpec {
            flows: 2,
            size: 64,
            src_mac: [2; 6],
            dst_mac: [4; 6],
            stream: 0,
        };
        let mut gen = Generator::new(spec);
        let frames: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                let mut f = vec![0; 64];
                gen.fill(&mut f);
                f
            })
            .collect();
        let before: Vec<(u64, &[u8])> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (1000 * i as u64, f.as_slice()))
            .collect();
        // Frame 2 is lost; frame 1 arrives twice; an untagged frame too.
        let untagged = vec![0u8; 64];
        let after: Vec<(u64, &[u8])> = vec![
            (500, frames[0].as_slice()),
            (1700, frames[1].as_slice()),
            (1800, frames[1].as_slice()),
            (3900, frames[3].as_slice()),
            (4000, untagged.as_slice()),
        ];
        let l = latencies(&before, &after);
        assert_eq!((l.latencies.count(), l.lost, l.unmatched), (3, 1, 0));
        assert_eq!(l.latencies.percentile(0.0), Some(500));
        assert_eq!(l.latencies.percentile(100.0), Some(900));
        // A frame seen after the DUT before it was seen before it is not a
        // latency.
        let l = latencies(&before[1..2], &[(10, frames[1].as_slice())]);
        assert_eq!((l.latencies.count(), l.unmatched, l.lost), (0, 1, 1));
    }
}
