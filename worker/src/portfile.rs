//! The port statistics file `RUN_DIR/port-P.stats` (docs/DESIGN.md 8), written
//! by the supervisor once a second: the hardware counters as 64-bit totals.
//!
//! Format, version 1: UTF-8 text, one `key value` pair per line, the first
//! line being `ixy-port-stats 1`. Keys: `device` (the --device string),
//! `port`, `updated_unix_ns`, then every field of `driver::stats::PortStats`
//! (`rx_packets`, `rx_bytes`, `tx_packets`, `tx_bytes`, `rx_missed`,
//! `rx_no_buffer`, `rx_crc_errors`, `rx_length_errors`, `rx_undersize`,
//! `rx_oversize`, `rx_total`) and per statistics set i (= queue i)
//! `queue.I.rx_packets`, `.rx_bytes`, `.rx_dropped`, `.tx_packets`,
//! `.tx_bytes`. The file is replaced atomically (write, then rename). Once
//! the device is lost (docs/DESIGN.md 7) the file keeps its last good totals:
//! the all-ones reads of a vanished device are never counted.
//! `.tx_bytes`. The file is replaced atomically: written to a fresh
//! `port-P.stats.tmp` (created with [`crate::statsfile::create_fresh`], so a
//! link planted there is removed, never followed), then renamed over
//! `port-P.stats` (a rename replaces a link, never its target).
//! Readers ([`parse`], [`read`]) ignore keys they do not know.

use driver::stats::PortStats;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// First line of a port statistics file.
pub const HEADER: &str = "ixy-port-stats 1";

/// The path of port `port`'s file.
pub fn path(run_dir: &Path, port: usize) -> PathBuf {
    run_dir.join(format!("port-{port}.stats"))
}

/// Renders the file's text.
pub fn render(device: &str, port: usize, s: &PortStats) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = format!("{HEADER}\ndevice {device}\nport {port}\nupdated_unix_ns {now}\n");
    let fields = [
        ("rx_packets", s.rx_packets),
        ("rx_bytes", s.rx_bytes),
        ("tx_packets", s.tx_packets),
        ("tx_bytes", s.tx_bytes),
        ("rx_missed", s.rx_missed),
        ("rx_no_buffer", s.rx_no_buffer),
        ("rx_crc_errors", s.rx_crc_errors),
        ("rx_length_errors", s.rx_length_errors),
        ("rx_undersize", s.rx_undersize),
        ("rx_oversize", s.rx_oversize),
        ("rx_total", s.rx_total),
    ];
    for (k, v) in fields {
        let _ = writeln!(out, "{k} {v}");
    }
    for (i, q) in s.queues.iter().enumerate() {
        let _ = writeln!(out, "queue.{i}.rx_packets {}", q.rx_packets);
        let _ = writeln!(out, "queue.{i}.rx_bytes {}", q.rx_bytes);
        let _ = writeln!(out, "queue.{i}.rx_dropped {}", q.rx_dropped);
        let _ = writeln!(out, "queue.{i}.tx_packets {}", q.tx_packets);
        let _ = writeln!(out, "queue.{i}.tx_bytes {}", q.tx_bytes);
    }
    out
}

/// Writes the file atomically, never following a link (see above).
pub fn write(run_dir: &Path, device: &str, port: usize, s: &PortStats) -> io::Result<()> {
    use std::io::Write as _;
    let target = path(run_dir, port);
    let tmp = target.with_extension("stats.tmp");
    crate::statsfile::create_fresh(&tmp)?.write_all(render(device, port, s).as_bytes())?;
    std::fs::rename(tmp, target)
}

/// A parsed port statistics file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortFile {
    /// The `--device` string of the port.
    pub device: String,
    /// Port index (the order of `--device` on the supervisor's command line).
    pub port: usize,
    /// When the supervisor wrote the file, Unix ns.
    pub updated_unix_ns: u128,
    /// The counters.
    pub stats: PortStats,
}

/// Parses the text of a port statistics file (the format above).
///
/// Every scalar key is required; `queue.I.*` keys are optional, unknown keys
/// are ignored. Errors say which line or key is wrong.
pub fn parse(text: &str) -> Result<PortFile, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim_end() == HEADER => {}
        Some(h) if h.starts_with("ixy-port-stats ") => {
            return Err(format!("unsupported version {h:?}, expected {HEADER:?}"));
        }
        _ => return Err(format!("missing header line {HEADER:?}")),
    }
    let mut out = PortFile::default();
    let (mut device, mut port, mut updated) = (false, false, false);
    let mut seen = [false; 11];
    for (n, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let lineno = n + 2;
        let (key, value) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {lineno}: expected `key value`, got {line:?}"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("line {lineno}: {key}: not a number: {value:?}"))
        };
        let s = &mut out.stats;
        let scalar: Option<(usize, &mut u64)> = match key {
            "device" => {
                out.device = value.to_string();
                device = true;
                None
            }
            "port" => {
                out.port = value
                    .parse()
                    .map_err(|_| format!("line {lineno}: port: not a number: {value:?}"))?;
                port = true;
                None
            }
            "updated_unix_ns" => {
                out.updated_unix_ns = value.parse().map_err(|_| {
                    format!("line {lineno}: updated_unix_ns: not a number: {value:?}")
                })?;
                updated = true;
                None
            }
            "rx_packets" => Some((0, &mut s.rx_packets)),
            "rx_bytes" => Some((1, &mut s.rx_bytes)),
            "tx_packets" => Some((2, &mut s.tx_packets)),
            "tx_bytes" => Some((3, &mut s.tx_bytes)),
            "rx_missed" => Some((4, &mut s.rx_missed)),
            "rx_no_buffer" => Some((5, &mut s.rx_no_buffer)),
            "rx_crc_errors" => Some((6, &mut s.rx_crc_errors)),
            "rx_length_errors" => Some((7, &mut s.rx_length_errors)),
            "rx_undersize" => Some((8, &mut s.rx_undersize)),
            "rx_oversize" => Some((9, &mut s.rx_oversize)),
            "rx_total" => Some((10, &mut s.rx_total)),
            _ => {
                if let Some(rest) = key.strip_prefix("queue.") {
                    let (i, field) = rest
                        .split_once('.')
                        .ok_or_else(|| format!("line {lineno}: bad queue key {key:?}"))?;
                    let q = i
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| s.queues.get_mut(i))
                        .ok_or_else(|| format!("line {lineno}: bad queue index in {key:?}"))?;
                    let v = num()?;
                    match field {
                        "rx_packets" => q.rx_packets = v,
                        "rx_bytes" => q.rx_bytes = v,
                        "rx_dropped" => q.rx_dropped = v,
                        "tx_packets" => q.tx_packets = v,
                        "tx_bytes" => q.tx_bytes = v,
                        _ => {}
                    }
                }
                None
            }
        };
        if let Some((i, field)) = scalar {
            *field = num()?;
            seen[i] = true;
        }
    }
    if !device {
        return Err("missing key device".into());
    }
    if !port {
        return Err("missing key port".into());
    }
    if !updated {
        return Err("missing key updated_unix_ns".into());
    }
    const KEYS: [&str; 11] = [
        "rx_packets",
        "rx_bytes",
        "tx_packets",
        "tx_bytes",
        "rx_missed",
        "rx_no_buffer",
        "rx_crc_errors",
        "rx_length_errors",
        "rx_undersize",
        "rx_oversize",
        "rx_total",
    ];
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!("missing key {}", KEYS[i]));
    }
    Ok(out)
}

/// Reads and parses a port statistics file; a malformed one is an
/// [`io::ErrorKind::InvalidData`] error naming the file.
pub fn read(path: &Path) -> io::Result<PortFile> {
    let text = std::fs::read_to_string(path)?;
    parse(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_stats() -> PortStats {
        let mut s = PortStats {
            rx_packets: 1,
            rx_bytes: 2,
            tx_packets: 3,
            tx_bytes: 4,
            rx_missed: 5,
            rx_no_buffer: 6,
            rx_crc_errors: 7,
            rx_length_errors: 8,
            rx_undersize: 9,
            rx_oversize: 10,
            rx_total: u64::MAX,
            ..PortStats::default()
        };
        s.queues[0].rx_packets = 11;
        s.queues[15].tx_bytes = 12;
        s.queues[3].rx_dropped = 13;
        s
    }

    #[test]
    fn render_parse_round_trip() {
        let s = sample_stats();
        let f = parse(&render("sim:demo/1", 1, &s)).unwrap();
        assert_eq!(f.device, "sim:demo/1");
        assert_eq!(f.port, 1);
        assert!(f.updated_unix_ns > 0);
        assert_eq!(f.stats, s);
    }

    #[test]
    fn write_read_round_trip() {
        let dir = std::env::temp_dir().join(format!("ixy-portfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = sample_stats();
        write(&dir, "0000:03:00.0", 0, &s).unwrap();
        let f = read(&path(&dir, 0)).unwrap();
        assert_eq!((f.device.as_str(), f.port), ("0000:03:00.0", 0));
        assert_eq!(f.stats, s);
        std::fs::write(path(&dir, 1), "garbage").unwrap();
        let e = read(&path(&dir, 1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("port-1.stats"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_never_follows_a_planted_link() {
        let dir = std::env::temp_dir().join(format!("ixy-portfile-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"precious").unwrap();
        for name in ["port-0.stats", "port-0.stats.tmp"] {
            std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
        }
        write(&dir, "d", 0, &sample_stats()).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(read(&path(&dir, 0)).unwrap().stats, sample_stats());
        assert!(std::fs::symlink_metadata(path(&dir, 0))
            .unwrap()
            .file_type()
            .is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        let good = render("d", 0, &sample_stats());
        assert!(parse("").is_err());
        assert!(parse("ixy-port-stats 2\n").unwrap_err().contains("version"));
        assert!(parse(HEADER).unwrap_err().contains("device"));
        let no_crc: String = good
            .lines()
            .filter(|l| !l.starts_with("rx_crc_errors"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse(&no_crc).unwrap_err().contains("rx_crc_errors"));
        for bad in [
            "rx_packets x",
            "rx_packets -1",
            "queue.16.rx_packets 1",
            "queue.x.rx_packets 1",
            "queue.1 1",
            "nospace",
            "port 99999999999999999999999",
        ] {
            let text = format!("{good}{bad}\n");
            assert!(parse(&text).is_err(), "{bad}");
        }
        // Every prefix of a good file parses or fails cleanly.
        for n in 0..good.len() {
            if good.is_char_boundary(n) {
                let _ = parse(&good[..n]);
            }
        }
        assert!(parse(&format!("{good}future_key 7\n")).is_ok());
    }
}
