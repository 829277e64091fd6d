//! The `pcap` app of `ixy-pcap`: what a worker receives, written to
//! `RUN_DIR/worker-I.pcap` ([`driver::pcap`], nanosecond pcap, no system
//! call per packet).
//!
//! Timestamps come from the host's realtime clock, read once per batch
//! (through the vDSO, no system call): the 82599 timestamps at most one
//! PTP frame at a time (7.9), not every frame, so packets of one batch
//! share the time their batch was taken.

use crate::app::{App, Outputs};
use driver::pcap::PcapFile;
use driver::Packet;
use std::io;
use std::path::{Path, PathBuf};

/// The path of worker `index`'s capture in `run_dir`.
pub fn path(run_dir: &Path, index: u32) -> PathBuf {
    run_dir.join(format!("worker-{index}.pcap"))
}

/// The app `ixy-pcap` runs: writes every packet its worker receives to
/// its capture file and frees it, until a packet count or the file's size
/// limit is reached; later packets are only counted.
pub struct Pcap {
    file: PcapFile,
    max_packets: u64,
    /// The values of [`PCAP_COUNTERS`].
    counts: [u64; 3],
}

/// The counters of [`Pcap`]: packets captured, bytes captured (frames),
/// packets received after the capture was full.
pub const PCAP_COUNTERS: [&str; 3] = ["captured", "captured_bytes", "not_captured"];

impl Pcap {
    /// A capture into `path` of at most `max_packets` packets and
    /// `max_bytes` bytes of file.
    pub fn create(path: &Path, max_packets: u64, max_bytes: usize) -> io::Result<Pcap> {
        Ok(Pcap {
            file: PcapFile::create(path, max_bytes)?,
            max_packets,
            counts: [0; 3],
        })
    }
}

fn realtime_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

impl App for Pcap {
    fn name(&self) -> &'static str {
        "pcap"
    }

    fn ports(&self) -> usize {
        1
    }

    fn process<'a>(
        &mut self,
        _port: usize,
        packets: &mut Vec<Packet<'a>>,
        _out: &mut Outputs<'a, '_>,
    ) {
        let now = realtime_ns();
        for p in packets.iter() {
            if self.counts[0] < self.max_packets && self.file.append(now, p.data()) {
                self.counts[0] += 1;
                self.counts[1] += p.len() as u64;
            } else {
                self.counts[2] += 1;
            }
        }
        packets.clear();
    }

    fn counter_names(&self) -> &[&str] {
        &PCAP_COUNTERS
    }

    fn counters(&self, values: &mut [u64]) {
        values.copy_from_slice(&self.counts);
    }
}
