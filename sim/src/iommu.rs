//! The lab's IOMMU table: which I/O virtual addresses (IOVAs) the simulated
//! ports may reach by DMA, and which file backs each of them.
//!
//! Layout of `LAB/iommu` (little-endian, documented in `sim/README.md`):
//! a 64-byte header — magic `"IXYIOMMU"` (u64), version (u32), capacity
//! (u32), generation (u64, bumped on every change), next free IOVA (u64,
//! the lab-wide IOVA allocator) — followed by `capacity`
//! entries of [`ENTRY_SIZE`] bytes: state (u32: 0 free, 1 being written,
//! 2 valid), reserved (u32), iova (u64), len (u64), file offset (u64),
//! NUL-terminated path of the backing file (the rest of the entry).
//!
//! Drivers map a region by claiming a free entry (compare-and-swap 0 → 1),
//! filling it, publishing it (state 2) and bumping the generation; they
//! unmap by swapping 2 → 0 and bumping the generation. The simulator
//! rebuilds its translations whenever the generation changes; a DMA outside
//! every valid entry is an IOMMU fault.

use crate::mem::Mapping;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Magic at the start of the table.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IXYIOMMU");
/// Table layout version.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 64;
/// Size of one entry in bytes.
pub const ENTRY_SIZE: usize = 256;
/// Bytes available for the path in an entry (NUL included).
pub const PATH_MAX: usize = ENTRY_SIZE - 32;
/// Entries in a table created by the simulator.
pub const CAPACITY: u32 = 1024;
/// Entry state: free.
pub const STATE_FREE: u32 = 0;
/// Entry state: claimed by a writer, not yet valid.
pub const STATE_BUSY: u32 = 1;
/// Entry state: valid mapping.
pub const STATE_VALID: u32 = 2;

const OFF_VERSION: usize = 8;
const OFF_CAPACITY: usize = 12;
const OFF_GENERATION: usize = 16;
const OFF_NEXT_IOVA: usize = 24;
/// The first IOVA the lab-wide allocator hands out.
pub const FIRST_IOVA: u64 = 1 << 32;
/// IOVAs are handed out in multiples of this (a 2 MiB huge page).
pub const IOVA_ALIGN: u64 = 2 * 1024 * 1024;

/// An open IOMMU table, usable by the simulator and by drivers.
#[derive(Debug)]
pub struct Table {
    map: Mapping,
    capacity: u32,
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
    /// Creates an empty table at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let size = HEADER_SIZE + CAPACITY as usize * ENTRY_SIZE;
        let map = Mapping::create(path, size)?;
        let t = Table {
            map,
            capacity: CAPACITY,
        };
        t.u32(OFF_VERSION).store(VERSION, Ordering::Relaxed);
        t.u32(OFF_CAPACITY).store(CAPACITY, Ordering::Relaxed);
        t.u64(OFF_NEXT_IOVA).store(FIRST_IOVA, Ordering::Relaxed);
        t.u64(0).store(MAGIC, Ordering::Release);
        Ok(t)
    }

    /// Opens an existing table.
    pub fn open(path: &Path) -> io::Result<Self> {
        let head = Mapping::open(path, 0, HEADER_SIZE)?;
        let bad = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not an ixy-sim IOMMU table ({what})", path.display()),
            )
        };
        let word = |off| head.u32_at(off).map(|w| w.load(Ordering::Acquire));
        if head.u64_at(0).map(|w| w.load(Ordering::Acquire)) != Some(MAGIC) {
            return Err(bad("bad magic"));
        }
        if word(OFF_VERSION) != Some(VERSION) {
            return Err(bad("unknown version"));
        }
        let capacity = word(OFF_CAPACITY).ok_or_else(|| bad("no capacity"))?;
        let map = Mapping::open(path, 0, HEADER_SIZE + capacity as usize * ENTRY_SIZE)?;
        Ok(Table { map, capacity })
    }

    fn u32(&self, off: usize) -> &std::sync::atomic::AtomicU32 {
        self.map.u32_at(off).expect("IOMMU table offset in bounds")
    }

    fn u64(&self, off: usize) -> &std::sync::atomic::AtomicU64 {
        self.map.u64_at(off).expect("IOMMU table offset in bounds")
    }

    fn entry_off(slot: u32) -> usize {
        HEADER_SIZE + slot as usize * ENTRY_SIZE
    }

    /// The generation counter; it changes whenever a mapping is added or removed.
    pub fn generation(&self) -> u64 {
        self.u64(OFF_GENERATION).load(Ordering::Acquire)
    }

    /// Reserves `len` bytes of IOVA space (rounded up to 2 MiB) from the
    /// lab-wide allocator in the header, shared by every process of the lab.
    pub fn alloc_iova(&self, len: u64) -> u64 {
        let len = len.div_ceil(IOVA_ALIGN) * IOVA_ALIGN;
        self.u64(OFF_NEXT_IOVA).fetch_add(len, Ordering::AcqRel)
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
            let state = self.u32(off);
            if state
                .compare_exchange(STATE_FREE, STATE_BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            self.u64(off + 8).store(iova, Ordering::Relaxed);
            self.u64(off + 16).store(len, Ordering::Relaxed);
            self.u64(off + 24).store(file_offset, Ordering::Relaxed);
            let mut name = [0u8; PATH_MAX];
            name[..bytes.len()].copy_from_slice(bytes);
            self.map.write_bytes(off + 32, &name);
            state.store(STATE_VALID, Ordering::Release);
            self.u64(OFF_GENERATION).fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
        Err(io::Error::other("IOMMU table full: unmap regions first"))
    }

    /// Removes the mapping that starts at `iova`.
    pub fn unmap(&self, iova: u64) -> io::Result<()> {
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            if self.u32(off).load(Ordering::Acquire) == STATE_VALID
                && self.u64(off + 8).load(Ordering::Acquire) == iova
                && self
                    .u32(off)
                    .compare_exchange(STATE_VALID, STATE_FREE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.u64(OFF_GENERATION).fetch_add(1, Ordering::AcqRel);
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("IOVA {iova:#x} is not mapped"),
        ))
    }

    /// Every valid entry.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for slot in 0..self.capacity {
            let off = Self::entry_off(slot);
            if self.u32(off).load(Ordering::Acquire) != STATE_VALID {
                continue;
            }
            let mut name = [0u8; PATH_MAX];
            self.map.read_bytes(off + 32, &mut name);
            let end = name.iter().position(|&b| b == 0).unwrap_or(PATH_MAX);
            let path = PathBuf::from(String::from_utf8_lossy(&name[..end]).into_owned());
            out.push(Entry {
                slot,
                iova: self.u64(off + 8).load(Ordering::Acquire),
                len: self.u64(off + 16).load(Ordering::Acquire),
                file_offset: self.u64(off + 24).load(Ordering::Acquire),
                path,
            });
        }
        out
    }
}

/// The simulator's translations: each valid entry mapped into this process.
/// Every DMA first checks the table's generation, so a mapping removed by
/// a driver is gone for the device by the time `unmap` returns, as with a
/// real IOMMU after its IOTLB flush.
#[derive(Debug)]
pub struct Translator {
    table: Table,
    generation: Option<u64>,
    regions: Vec<Region>,
    last: usize,
    /// Entries whose file could not be mapped, why, and whether a DMA
    /// there has been reported: a driver may delete a region's file while
    /// unmapping it (`sim/README.md` 4.4), which is no fault until a DMA
    /// actually goes there.
    unmappable: Vec<(Entry, String, bool)>,
}

/// A mapped entry and the identity (device, inode) of the file it maps,
/// so that a file deleted and created again under the same name is mapped
/// anew rather than written through the old mapping.
#[derive(Debug)]
struct Region {
    entry: Entry,
    file: (u64, u64),
    map: Mapping,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Translator {
    /// Translations through `table`.
    pub fn new(table: Table) -> Self {
        Translator {
            table,
            generation: None,
            regions: Vec::new(),
            last: 0,
            unmappable: Vec::new(),
        }
    }

    /// Re-reads the table if it changed since the last call.
    pub fn refresh(&mut self) {
        let table = &self.table;
        let generation = table.generation();
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        let entries = table.entries();
        // Keep mappings of entries that are still there; map new ones.
        let mut old = std::mem::take(&mut self.regions);
        self.unmappable.clear();
        for entry in entries {
            let file = file_id(&entry.path);
            if let Some(pos) = old
                .iter()
                .position(|r| r.entry == entry && Some(r.file) == file)
            {
                self.regions.push(old.swap_remove(pos));
                continue;
            }
            let mapped = usize::try_from(entry.len)
                .map_err(|_| "length too large".to_string())
                .and_then(|len| {
                    Mapping::open(&entry.path, entry.file_offset, len).map_err(|e| e.to_string())
                });
            match (mapped, file) {
                (Ok(map), Some(file)) => self.regions.push(Region { entry, file, map }),
                (Err(why), _) => self.unmap_later(entry, why),
                (Ok(_), None) => self.unmap_later(entry, "the backing file vanished".into()),
            }
        }
        self.regions.sort_by_key(|r| r.entry.iova);
        self.last = 0;
    }

    /// Notes an entry that cannot be mapped now: silent until a DMA goes
    /// there (see `unmappable`).
    fn unmap_later(&mut self, entry: Entry, why: String) {
        log::debug!(
            "IOMMU entry {} at {:#x}: {} not mapped ({why}); a DMA there will fault",
            entry.slot,
            entry.iova,
            entry.path.display()
        );
        self.unmappable.push((entry, why, false));
    }

    /// The mapping and offset holding `len` bytes at `iova`, if one does.
    /// The region of the last hit is tried first, inline: a queue's DMA
    /// stays in one region for long runs.
    #[inline]
    fn find(&mut self, iova: u64, len: usize) -> Option<(&Mapping, usize)> {
        let hit = self.regions.get(self.last).and_then(|r| {
            let off = iova.checked_sub(r.entry.iova)?;
            (off.checked_add(len as u64)? <= r.entry.len).then_some(off as usize)
        });
        match hit {
            Some(off) => Some((&self.regions[self.last].map, off)),
            None => self.find_slow(iova, len),
        }
    }

    /// [`Translator::find`] beyond the last region hit.
    #[cold]
    fn find_slow(&mut self, iova: u64, len: usize) -> Option<(&Mapping, usize)> {
        let found = self.lookup(iova, len);
        if found.is_none() {
            self.explain_fault(iova);
        }
        found.map(|idx| {
            let r = &self.regions[idx];
            (&r.map, (iova - r.entry.iova) as usize)
        })
    }

    /// Says once per entry why a DMA into an entry that could not be
    /// mapped faults (the DMA site reports the fault itself).
    fn explain_fault(&mut self, iova: u64) {
        let hit = self
            .unmappable
            .iter_mut()
            .find(|(e, _, _)| iova >= e.iova && iova - e.iova < e.len);
        if let Some((entry, why, reported)) = hit {
            if !std::mem::replace(reported, true) {
                log::warn!(
                    "IOMMU entry {} at {:#x}: DMA to {iova:#x} faults: {} could not be mapped ({why})",
                    entry.slot,
                    entry.iova,
                    entry.path.display()
                );
            }
        }
    }

    /// The index of the region holding `len` bytes at `iova`. The table
    /// is re-read at every pass of the model (`refresh`) and here on a
    /// miss, so a region mapped since the pass began is found; a region
    /// unmapped since stays reachable until the pass ends, as a stale
    /// IOTLB entry would on silicon until its invalidation completes.
    fn lookup(&mut self, iova: u64, len: usize) -> Option<usize> {
        if let Some(idx) = self.search(iova, len) {
            return Some(idx);
        }
        self.refresh();
        self.search(iova, len)
    }

    fn search(&mut self, iova: u64, len: usize) -> Option<usize> {
        let fits = |e: &Entry| {
            iova >= e.iova
                && iova
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= e.iova + e.len)
        };
        if !self.regions.get(self.last).is_some_and(|r| fits(&r.entry)) {
            let idx = self
                .regions
                .partition_point(|r| r.entry.iova <= iova)
                .checked_sub(1)?;
            if !fits(&self.regions[idx].entry) {
                return None;
            }
            self.last = idx;
        }
        Some(self.last)
    }

    /// DMA read; false is an IOMMU fault.
    pub fn read(&mut self, iova: u64, out: &mut [u8]) -> bool {
        self.find(iova, out.len())
            .is_some_and(|(m, off)| m.read_bytes(off, out))
    }

    /// DMA read of `len` bytes appended to `out`; false is an IOMMU fault
    /// (and `out` is unchanged).
    pub fn read_append(&mut self, iova: u64, len: usize, out: &mut Vec<u8>) -> bool {
        self.find(iova, len)
            .is_some_and(|(m, off)| m.append_bytes(off, len, out))
    }

    /// DMA write; false is an IOMMU fault.
    pub fn write(&mut self, iova: u64, data: &[u8]) -> bool {
        self.find(iova, data.len())
            .is_some_and(|(m, off)| m.write_bytes(off, data))
    }

    /// Reads a 16-byte descriptor as two little-endian qwords.
    pub fn read_desc(&mut self, iova: u64) -> Option<[u64; 2]> {
        let (m, off) = self.find(iova, 16)?;
        Some([
            m.u64_at(off)?.load(Ordering::Acquire),
            m.u64_at(off + 8)?.load(Ordering::Acquire),
        ])
    }

    /// Writes a 16-byte descriptor; the second qword (which holds DD) is
    /// stored last, with release ordering, so a driver that sees DD sees
    /// the whole descriptor and the data before it.
    pub fn write_desc(&mut self, iova: u64, desc: [u64; 2]) -> bool {
        let Some((m, off)) = self.find(iova, 16) else {
            return false;
        };
        match (m.u64_at(off), m.u64_at(off + 8)) {
            (Some(lo), Some(hi)) => {
                lo.store(desc[0], Ordering::Relaxed);
                hi.store(desc[1], Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Number of regions currently mapped.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Whether no region is mapped.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}
