//! The lab's IOMMU table (`sim/README.md` 4): which I/O virtual addresses
//! (IOVAs) the simulated ports may reach by DMA, and which file backs each.
//!
//! Layout of `LAB/iommu` (little-endian): a [`HEADER_SIZE`]-byte header —
//! magic `"IXYIOMMU"` (u64), version (u32), capacity (u32), generation
//! (u64, bumped on every change), next free IOVA (u64, the lab-wide IOVA
//! allocator) — followed by `capacity` entries of [`ENTRY_SIZE`] bytes:
//! state (u32: 0 free, 1 being written, 2 valid), reserved (u32), iova
//! (u64), len (u64), file offset (u64), NUL-terminated path of the backing
//! file (the rest of the entry).
//!
//! Drivers map a region by claiming a free entry (compare-and-swap 0 → 1),
//! filling it, publishing it (state 2) and bumping the generation; they
//! unmap by swapping 2 → 0 and bumping the generation. The simulator
//! rebuilds its translations whenever the generation changes; a DMA outside
//! every valid entry is an IOMMU fault. [`Table`] is that protocol, for
//! both sides.

use crate::memory::{IovaAllocator, FIRST_IOVA};
use crate::shm::SharedMap;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Magic at the start of the table.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IXYIOMMU");
/// Table layout version.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 64;
/// Size of one entry in bytes.
pub const ENTRY_SIZE: usize = 256;
/// Entries in a table created by the simulator.
pub const CAPACITY: u32 = 1024;

/// Header: offset of the magic (u64).
pub const OFF_MAGIC: usize = 0;
/// Header: offset of the version (u32).
pub const OFF_VERSION: usize = 8;
/// Header: offset of the capacity, the number of entries (u32).
pub const OFF_CAPACITY: usize = 12;
/// Header: offset of the generation (u64), incremented on every map and unmap.
pub const OFF_GENERATION: usize = 16;
/// Header: offset of the lab-wide IOVA allocator, the next free IOVA (u64).
pub const OFF_NEXT_IOVA: usize = 24;

/// Entry: offset of the state (u32, `STATE_*`).
pub const ENTRY_STATE: usize = 0;
/// Entry: offset of the region's first IOVA (u64).
pub const ENTRY_IOVA: usize = 8;
/// Entry: offset of the region's length in bytes (u64).
pub const ENTRY_LEN: usize = 16;
/// Entry: offset of the region's offset in its backing file (u64).
pub const ENTRY_FILE_OFFSET: usize = 24;
/// Entry: offset of the backing file's NUL-terminated path.
pub const ENTRY_PATH: usize = 32;
/// Bytes available for the path in an entry (NUL included).
pub const PATH_MAX: usize = ENTRY_SIZE - ENTRY_PATH;

/// Entry state: free.
pub const STATE_FREE: u32 = 0;
/// Entry state: claimed by a writer, not yet valid.
pub const STATE_BUSY: u32 = 1;
/// Entry state: valid mapping.
pub const STATE_VALID: u32 = 2;

/// An open IOMMU table, used by the simulator and by drivers.
#[derive(Debug)]
pub struct Table {
    map: Arc<SharedMap>,
    capacity: u32,
    path: PathBuf,
}

/// One valid mapping as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Slot index in the table.
    pub slot: u32,
    /// First IOVA of the region.
    pub iova: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset of the region in its backing file.
    pub file_offset: u64,
    /// Backing file.
    pub path: PathBuf,
}

impl Table {
    /// Creates an empty table at `path` (the simulator does, once per lab).
    pub fn create(path: &Path) -> io::Result<Self> {
        let size = HEADER_SIZE + CAPACITY as usize * ENTRY_SIZE;
        let t = Table {
            map: Arc::new(SharedMap::create(path, size)?),
            capacity: CAPACITY,
            path: path.to_path_buf(),
        };
        t.u32(OFF_VERSION).store(VERSION, Ordering::Relaxed);
        t.u32(OFF_CAPACITY).store(CAPACITY, Ordering::Relaxed);
        t.u64(OFF_NEXT_IOVA).store(FIRST_IOVA, Ordering::Relaxed);
        t.u64(OFF_MAGIC).store(MAGIC, Ordering::Release);
        Ok(t)
    }

    /// Opens an existing table. A file that is not one (too short, another
    /// magic or version, entries beyond its end) is an `InvalidData` error.
    pub fn open(path: &Path) -> io::Result<Self> {
        let bad = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not an ixy-sim IOMMU table of version {VERSION} ({what})",
                    path.display()
                ),
            )
        };
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        if len < HEADER_SIZE {
            return Err(bad("too short"));
        }
        let map = SharedMap::file(&file, 0, len)?;
        if map.u64_at(OFF_MAGIC).load(Ordering::Acquire) != MAGIC {
            return Err(bad("bad magic"));
        }
        if map.u32_at(OFF_VERSION).load(Ordering::Acquire) != VERSION {
            return Err(bad("unknown version"));
        }
        let capacity = map.u32_at(OFF_CAPACITY).load(Ordering::Acquire);
        if HEADER_SIZE + capacity as usize * ENTRY_SIZE > len {
            return Err(bad("its entries reach past its end"));
        }
        Ok(Table {
            map: Arc::new(map),
            capacity,
            path: path.to_path_buf(),
        })
    }

    /// The table's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn u32(&self, off: usize) -> &AtomicU32 {
        self.map.u32_at(off)
    }

    fn u64(&self, off: usize) -> &AtomicU64 {
        self.map.u64_at(off)
    }

    fn entry_off(slot: u32) -> usize {
        HEADER_SIZE + slot as usize * ENTRY_SIZE
    }

    fn bump(&self) {
        self.u64(OFF_GENERATION).fetch_add(1, Ordering::AcqRel);
    }

    /// The generation counter; it changes whenever a mapping is added or removed.
    pub fn generation(&self) -> u64 {
        self.u64(OFF_GENERATION).load(Ordering::Acquire)
    }

    /// The lab-wide IOVA allocator kept in the table's header, shared by
    /// every process of the lab.
    pub fn allocator(&self) -> IovaAllocator {
        IovaAllocator::in_shared(self.map.clone(), OFF_NEXT_IOVA)
    }

    /// Reserves `len` bytes of IOVA space (rounded up to 2 MiB) from the
    /// lab-wide allocator ([`Table::allocator`]).
    pub fn alloc_iova(&self, len: u64) -> u64 {
        self.allocator().alloc(len as usize)
    }

    /// Registers `len` bytes of `path` from `file_offset` on at `iova`.
    pub fn map(&self, iova: u64, len: u64, path: &Path, file_offset: u64) -> io::Result<()> {
        let bytes = path.as_os_str().as_encoded_bytes();
        if bytes.len() >= PATH_MAX || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: path too long for the IOMMU table", path.display()),
            ));
        }
        if len == 0 || iova.checked_add(len).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty or wrapping IOVA range",
            ));
        }
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            let state = self.u32(off + ENTRY_STATE);
            if state
                .compare_exchange(STATE_FREE, STATE_BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            self.u64(off + ENTRY_IOVA).store(iova, Ordering::Relaxed);
            self.u64(off + ENTRY_LEN).store(len, Ordering::Relaxed);
            self.u64(off + ENTRY_FILE_OFFSET)
                .store(file_offset, Ordering::Relaxed);
            let mut name = [0u8; PATH_MAX];
            name[..bytes.len()].copy_from_slice(bytes);
            self.map.write_bytes(off + ENTRY_PATH, &name);
            state.store(STATE_VALID, Ordering::Release);
            self.bump();
            return Ok(());
        }
        Err(io::Error::other(format!(
            "IOMMU table {} is full: unmap regions first",
            self.path.display()
        )))
    }

    /// Removes the mapping that starts at `iova`; once this returns the
    /// device can no longer reach it (the simulator checks the table on
    /// every DMA). A `NotFound` error when no valid entry starts there.
    pub fn unmap(&self, iova: u64) -> io::Result<()> {
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            let state = self.u32(off + ENTRY_STATE);
            if state.load(Ordering::Acquire) == STATE_VALID
                && self.u64(off + ENTRY_IOVA).load(Ordering::Acquire) == iova
                && state
                    .compare_exchange(STATE_VALID, STATE_FREE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.bump();
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("IOVA {iova:#x} is not in {}", self.path.display()),
        ))
    }

    /// The path bytes of the entry at `off` (up to its NUL).
    fn path_bytes(&self, off: usize) -> ([u8; PATH_MAX], usize) {
        let mut name = [0u8; PATH_MAX];
        self.map.read_bytes(off + ENTRY_PATH, &mut name);
        let end = name.iter().position(|&b| b == 0).unwrap_or(PATH_MAX);
        (name, end)
    }

    /// Removes every mapping backed by the file `path` (a region whose
    /// owner died without unmapping it); returns how many were removed.
    pub fn unmap_path(&self, path: &Path) -> usize {
        let want = path.as_os_str().as_encoded_bytes();
        let mut removed = 0;
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            let state = self.u32(off + ENTRY_STATE);
            if state.load(Ordering::Acquire) != STATE_VALID {
                continue;
            }
            let (name, end) = self.path_bytes(off);
            if &name[..end] == want
                && state
                    .compare_exchange(STATE_VALID, STATE_FREE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.bump();
                removed += 1;
            }
        }
        removed
    }

    /// Every valid entry.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            if self.u32(off + ENTRY_STATE).load(Ordering::Acquire) != STATE_VALID {
                continue;
            }
            let (name, end) = self.path_bytes(off);
            let path = PathBuf::from(String::from_utf8_lossy(&name[..end]).into_owned());
            out.push(Entry {
                slot,
                iova: self.u64(off + ENTRY_IOVA).load(Ordering::Acquire),
                len: self.u64(off + ENTRY_LEN).load(Ordering::Acquire),
                file_offset: self.u64(off + ENTRY_FILE_OFFSET).load(Ordering::Acquire),
                path,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_unmap_and_the_header_follow_the_readme() {
        let dir = std::env::temp_dir().join(format!("ixy-simfmt-iommu-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("iommu");
        let table = Table::create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            262_208,
            "sim/README.md 2"
        );
        let other = Table::open(&path).unwrap();
        let iova = other.alloc_iova(1);
        assert_eq!(iova, FIRST_IOVA);
        assert_eq!(table.alloc_iova(1), FIRST_IOVA + 2 * 1024 * 1024);
        let g = table.generation();
        let file = dir.join("region");
        table.map(iova, 4096, &file, 8192).unwrap();
        assert_eq!(other.generation(), g + 1);
        assert_eq!(
            other.entries(),
            vec![Entry {
                slot: 0,
                iova,
                len: 4096,
                file_offset: 8192,
                path: file.clone(),
            }]
        );
        assert_eq!(table.u32(HEADER_SIZE).load(Ordering::Relaxed), STATE_VALID);
        other.unmap(iova).unwrap();
        assert!(table.entries().is_empty());
        assert_eq!(
            table.unmap(iova).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        table.map(iova, 4096, &file, 0).unwrap();
        table.map(iova + 4096, 4096, &file, 4096).unwrap();
        assert_eq!(other.unmap_path(&file), 2);
        let long = dir.join("x".repeat(PATH_MAX));
        assert_eq!(
            table.map(iova, 1, &long, 0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(table.map(iova, 0, &file, 0).is_err());
        std::fs::write(&path, b"IXYIOMMU").unwrap();
        let e = Table::open(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("too short"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
