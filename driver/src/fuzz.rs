//! Entry points of the fuzz targets (`fuzz/`, `make fuzz`) for the
//! driver's parsers of untrusted bytes, and the replay of their committed
//! corpus by `cargo test` (`tests/fuzz_corpus.rs`) on stable Rust.
//!
//! Each check takes arbitrary bytes, runs the parser and asserts what its
//! callers rely on; a failed assertion is a finding. The fuzz target and
//! the replay call the same function.

use crate::desc::{rx_frames_ready, Desc, RxDescKind, RxWriteBack};
use crate::regs;
use std::path::{Path, PathBuf};

/// Receive write-back decoding (`desc`): byte 0 picks the buffer size
/// (1 KiB << (byte % 5)); every 16 bytes after it are one descriptor as
/// the device left it (two little-endian words). Checks the field
/// decoders against the layout of 82599 datasheet 7.1.6.2, the
/// classification against its definition, and that the ready count of
/// [`rx_frames_ready`] covers exactly the leading whole frames.
pub fn rx_writeback(data: &[u8]) {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let buf_size = 1024usize << (size % 5);
    let descs: Vec<Desc> = rest
        .chunks_exact(16)
        .map(|c| {
            let word = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or_default());
            Desc::from_words(word(0), word(8))
        })
        .collect();
    let frame = |d: &Desc| {
        d.rx_done()
            .is_some_and(|wb| wb.classify(buf_size) == RxDescKind::Frame)
    };
    for d in &descs {
        let wb = d.written_back();
        // Fields where 7.1.6.2 puts them, and back.
        assert_eq!(u64::from(wb.len()), (wb.hi >> 32) & 0xFFFF);
        assert_eq!(wb.len_and_status() >> 16, u32::from(wb.len()));
        assert_eq!(wb.len_and_status() & 0xFFFF, (wb.hi as u32) >> 16);
        assert_eq!(u64::from(wb.rss_hash()), wb.lo >> 32);
        assert_eq!(u64::from(wb.rss_type()), wb.lo & 0xF);
        assert_eq!(wb.eop(), wb.hi & u64::from(regs::RXD_STAT_EOP) != 0);
        assert_eq!(
            d.rx_done().is_some(),
            wb.hi & u64::from(regs::RXD_STAT_DD) != 0
        );
        let again = RxWriteBack::new(wb.lo as u32, wb.rss_hash(), wb.hi as u32, wb.len());
        assert_eq!((again.lo, again.hi), (wb.lo, wb.hi & 0x0000_FFFF_FFFF_FFFF));
        // A packet is made only of what fits one buffer and ends a frame.
        let len = usize::from(wb.len());
        match wb.classify(buf_size) {
            RxDescKind::Frame => assert!(wb.eop() && len <= buf_size),
            RxDescKind::FirstOfMany => assert!(!wb.eop() && len == buf_size),
            RxDescKind::Bad => assert!(len > buf_size || (!wb.eop() && len != buf_size)),
        }
    }
    let n = rx_frames_ready(&descs, buf_size);
    assert!(n <= descs.len());
    assert!(descs[..n].iter().all(frame), "only whole frames counted");
    assert!(
        n == descs.len() || !frame(&descs[n]),
        "every leading frame counted"
    );
}

/// The committed corpus of fuzz target `target` in this source tree
/// (`fuzz/corpus/TARGET`), for the replay tests of every crate.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Replays every file of the corpus directory `dir` through `check`;
/// returns how many. Each file's name goes to stderr before its check, so
/// a failing test names the input.
///
/// # Panics
/// When `dir` cannot be read, holds no file, or a check fails.
pub fn replay(dir: &Path, check: fn(&[u8])) -> usize {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for path in &files {
        let data =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        eprintln!("replaying {}", path.display());
        check(&data);
    }
    files.len()
}
