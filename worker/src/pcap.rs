//! Capture files: what a worker receives, in the standard pcap format with
//! nanosecond timestamps (magic `0xa1b23c4d`, link type 1, Ethernet),
//! readable by tcpdump, tshark and Wireshark. The [`Pcap`] app writes one
//! file per worker, `RUN_DIR/worker-I.pcap`, for `ixy-pcap`.
//!
//! The file is a shared mapping grown in large steps ([`GROW`]): a packet
//! costs two copies into the mapping and no system call. When the writer
//! goes (the worker stops) the file is cut to what was written; a worker
//! killed mid-run leaves the unused rest of the last step as zeros after
//! the last packet.
//!
//! Timestamps come from the host's realtime clock, read once per batch
//! (through the vDSO, no system call): the 82599 timestamps at most one
//! PTP frame at a time (7.9), not every frame, so packets of one batch
//! share the time their batch was taken.

use crate::app::{App, Outputs};
use driver::shm::SharedMap;
use driver::Packet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How much the file grows at a time.
pub const GROW: usize = 16 << 20;
/// Nanosecond pcap magic, little-endian on disk.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Length of the file header and of a record header.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;
/// Largest frame captured whole (the snap length).
const SNAPLEN: u32 = 65_535;

/// The path of worker `index`'s capture in `run_dir`.
pub fn path(run_dir: &Path, index: u32) -> PathBuf {
    run_dir.join(format!("worker-{index}.pcap"))
}

/// A pcap file being written.
#[derive(Debug)]
pub struct PcapFile {
    file: File,
    map: SharedMap,
    /// Bytes written so far (the file header included).
    len: usize,
    /// Largest size the file may reach.
    max_bytes: usize,
}

impl PcapFile {
    /// Creates `path` afresh (an old file or link there is replaced, never
    /// followed) holding the file header, to grow up to `max_bytes`.
    pub fn create(path: &Path, max_bytes: usize) -> io::Result<PcapFile> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)?;
        let size = GROW.min(max_bytes.max(FILE_HEADER));
        file.set_len(size as u64)?;
        let map = SharedMap::file(&file, 0, size)?;
        let mut header = [0u8; FILE_HEADER];
        header[0..4].copy_from_slice(&MAGIC_NS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        map.write_bytes(0, &header);
        Ok(PcapFile {
            file,
            map,
            len: FILE_HEADER,
            max_bytes: max_bytes.max(FILE_HEADER),
        })
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing but the file header was written.
    pub fn is_empty(&self) -> bool {
        self.len == FILE_HEADER
    }

    /// Appends a record of `data` at `unix_ns`; false when the file would
    /// grow past its limit (or cannot grow): nothing is written then.
    pub fn append(&mut self, unix_ns: u64, data: &[u8]) -> bool {
        let caplen = data.len().min(SNAPLEN as usize);
        let need = self.len + RECORD_HEADER + caplen;
        if need > self.max_bytes || (need > self.map.len() && !self.grow(need)) {
            return false;
        }
        let mut head = [0u8; RECORD_HEADER];
        head[0..4].copy_from_slice(&((unix_ns / 1_000_000_000) as u32).to_le_bytes());
        head[4..8].copy_from_slice(&((unix_ns % 1_000_000_000) as u32).to_le_bytes());
        head[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        head[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.map.write_bytes(self.len, &head);
        self.map
            .write_bytes(self.len + RECORD_HEADER, &data[..caplen]);
        self.len = need;
        true
    }

    /// Grows the file and its mapping by steps of [`GROW`] to hold `need`
    /// bytes (at most `max_bytes`). Out of line: once per 16 MiB.
    #[cold]
    fn grow(&mut self, need: usize) -> bool {
        let size = need.div_ceil(GROW).saturating_mul(GROW).min(self.max_bytes);
        let grown = self
            .file
            .set_len(size as u64)
            .and_then(|()| SharedMap::file(&self.file, 0, size));
        match grown {
            Ok(map) => {
                self.map = map;
                true
            }
            Err(e) => {
                log::warn!("pcap: cannot grow the capture to {size} bytes: {e}; capture stops");
                self.max_bytes = self.len;
                false
            }
        }
    }
}

impl Drop for PcapFile {
    fn drop(&mut self) {
        // Cut the unused rest of the last step, so readers see no zeros.
        if let Err(e) = self.file.set_len(self.len as u64) {
            log::warn!("pcap: cannot trim the capture to {} bytes: {e}", self.len);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_u32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn records_follow_the_nanosecond_header_and_the_file_is_cut_to_them() {
        let dir = std::env::temp_dir().join(format!("ixy-pcap-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = path(&dir, 0);
        let mut f = PcapFile::create(&p, 1 << 20).unwrap();
        assert!(f.append(1_700_000_000_123_456_789, &[1, 2, 3]));
        assert!(f.append(1_700_000_001_000_000_000, &[9; 60]));
        drop(f);
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), 24 + 16 + 3 + 16 + 60, "cut to what was written");
        assert_eq!(read_u32(&b, 0), 0xa1b2_3c4d);
        assert_eq!(read_u32(&b, 20), 1, "Ethernet");
        assert_eq!(
            [
                read_u32(&b, 24),
                read_u32(&b, 28),
                read_u32(&b, 32),
                read_u32(&b, 36)
            ],
            [1_700_000_000, 123_456_789, 3, 3]
        );
        assert_eq!(&b[40..43], &[1, 2, 3]);
        assert_eq!(read_u32(&b, 43 + 8), 60);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_limit_stops_the_capture_and_growth_spans_steps() {
        let dir = std::env::temp_dir().join(format!("ixy-pcap-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = PcapFile::create(&path(&dir, 1), 24 + 2 * (16 + 100)).unwrap();
        assert!(f.append(0, &[0; 100]) && f.append(0, &[0; 100]));
        assert!(!f.append(0, &[0; 1]), "full");
        drop(f);
        let mut big = PcapFile::create(&path(&dir, 2), 3 * GROW).unwrap();
        let frame = vec![7u8; 1500];
        let n = GROW / 1516 + 10;
        assert!(
            (0..n).all(|_| big.append(0, &frame)),
            "grows past the first step"
        );
        assert_eq!(big.len(), 24 + n * 1516);
        drop(big);
        assert_eq!(
            std::fs::metadata(path(&dir, 2)).unwrap().len() as usize,
            24 + n * 1516
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
