//! The pcap capture format, defined once: [`PcapFile`] writes it (the
//! workers' captures of `ixy-pcap`, the simulator's cable captures) and
//! [`records`] reads it back (`ixy-latency --captures`). Standard pcap
//! with nanosecond timestamps (magic `0xa1b23c4d`, little-endian, link
//! type 1, Ethernet), readable by tcpdump, tshark and Wireshark.
//!
//! A [`PcapFile`] is a shared mapping grown in large steps ([`GROW`]): a
//! packet costs two copies into the mapping and no system call. When the
//! writer goes the file is cut to what was written; a writer killed
//! mid-run leaves the unused rest of the last step as zeros after the last
//! packet, which [`records`] reads as the end.

use crate::shm::SharedMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How much the file grows at a time.
pub const GROW: usize = 16 << 20;
/// Nanosecond pcap magic, little-endian on disk.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Length of the file header and of a record header.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;
/// Largest frame captured whole (the snap length).
const SNAPLEN: u32 = 65_535;

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
            .custom_flags(libc::O_NOFOLLOW)
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

/// The records of the pcap file `bytes` as (Unix ns, frame), in file
/// order; `Err` when the header is not that of a nanosecond (or
/// microsecond) little-endian pcap file. A truncated last record, or
/// zeroed space after the last one, ends the list.
pub fn records(bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let scale = match word(0) {
        Some(MAGIC_NS) => 1,
        Some(0xa1b2_c3d4) => 1000,
        _ => return Err("not a little-endian pcap file".into()),
    };
    let mut out = Vec::new();
    let mut at = FILE_HEADER;
    while let (Some(sec), Some(frac), Some(caplen)) = (word(at), word(at + 4), word(at + 8)) {
        let start = at + RECORD_HEADER;
        let Some(data) = bytes.get(start..start + caplen as usize) else {
            break;
        };
        if caplen == 0 && sec == 0 && frac == 0 {
            break;
        }
        out.push((
            u64::from(sec) * 1_000_000_000 + u64::from(frac) * scale,
            data,
        ));
        at = start + caplen as usize;
    }
    Ok(out)
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
        let p = dir.join("a.pcap");
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
        let r = records(&b).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], (1_700_000_000_123_456_789, &[1u8, 2, 3][..]));
        assert_eq!((r[1].0, r[1].1.len()), (1_700_000_001_000_000_000, 60));
        let mut zeros = b.clone();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(
            records(&zeros).unwrap().len(),
            2,
            "zeroed space ends the list"
        );
        assert!(records(b"junk").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_limit_stops_the_capture_and_growth_spans_steps() {
        let dir = std::env::temp_dir().join(format!("ixy-pcap-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = PcapFile::create(&dir.join("b.pcap"), 24 + 2 * (16 + 100)).unwrap();
        assert!(f.append(0, &[0; 100]) && f.append(0, &[0; 100]));
        assert!(!f.append(0, &[0; 1]), "full");
        drop(f);
        let mut big = PcapFile::create(&dir.join("c.pcap"), 3 * GROW).unwrap();
        let frame = vec![7u8; 1500];
        let n = GROW / 1516 + 10;
        assert!(
            (0..n).all(|_| big.append(0, &frame)),
            "grows past the first step"
        );
        assert_eq!(big.len(), 24 + n * 1516);
        drop(big);
        assert_eq!(
            std::fs::metadata(dir.join("c.pcap")).unwrap().len() as usize,
            24 + n * 1516
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
