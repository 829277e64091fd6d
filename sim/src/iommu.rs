//! The device side of the lab's IOMMU table: the simulator's translations
//! from I/O virtual addresses (IOVAs) to the files drivers registered.
//!
//! The table itself — its layout (`sim/README.md` 4) and the map / unmap
//! protocol — is [`driver::simfmt::iommu`], shared with the driver;
//! [`Table`] and [`Entry`] are re-exported here. [`Translator`] maps every
//! valid entry into the simulator's process and rebuilds its view whenever
//! the table's generation changes; a DMA outside every valid entry is an
//! IOMMU fault.

use driver::shm::SharedMap;
pub use driver::simfmt::iommu::{Entry, Table};
use std::path::Path;
use std::sync::atomic::Ordering;

/// The simulator's translations: each valid entry mapped into this process.
/// Every DMA first checks the table's generation, so a mapping removed by
/// a driver is gone for the device by the time `unmap` returns, as with a
/// real IOMMU after its IOTLB flush.
#[derive(Debug)]
pub struct Translator {
    table: Table,
    generation: Option<u64>,
    regions: Vec<Region>,
    /// The region of the last hit in each 2 MiB window of IOVAs, by the
    /// window's number modulo [`HINTS`]: every queue's ring and buffers,
    /// and each worker's mempool, sit in windows of their own, so DMA that
    /// alternates between queues (RSS) and pools still finds its region
    /// at once instead of searching the table.
    hints: [u32; HINTS],
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
    map: SharedMap,
}

/// Windows of IOVAs whose last region [`Translator::find`] remembers.
const HINTS: usize = 256;
/// Bits of an IOVA below its window number (2 MiB, a huge page).
const HINT_SHIFT: u32 = 21;

/// [`Translator::find`]'s slot for `iova`.
#[inline]
fn hint_slot(iova: u64) -> usize {
    (iova >> HINT_SHIFT) as usize % HINTS
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
            hints: [0; HINTS],
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
                    SharedMap::open(&entry.path, entry.file_offset, len).map_err(|e| e.to_string())
                });
            match (mapped, file) {
                (Ok(map), Some(file)) => self.regions.push(Region { entry, file, map }),
                (Err(why), _) => self.unmap_later(entry, why),
                (Ok(_), None) => self.unmap_later(entry, "the backing file vanished".into()),
            }
        }
        self.regions.sort_by_key(|r| r.entry.iova);
        self.hints = [0; HINTS];
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
    /// The region last hit in the same 2 MiB window is tried first,
    /// inline: a queue's DMA stays in one region for long runs.
    #[inline]
    fn find(&mut self, iova: u64, len: usize) -> Option<(&SharedMap, usize)> {
        let hint = self.hints[hint_slot(iova)] as usize;
        let hit = self.regions.get(hint).and_then(|r| {
            let off = iova.checked_sub(r.entry.iova)?;
            (off.checked_add(len as u64)? <= r.entry.len).then_some(off as usize)
        });
        match hit {
            Some(off) => Some((&self.regions[hint].map, off)),
            None => self.find_slow(iova, len),
        }
    }

    /// [`Translator::find`] beyond the hinted region.
    #[cold]
    fn find_slow(&mut self, iova: u64, len: usize) -> Option<(&SharedMap, usize)> {
        let found = self.lookup(iova, len);
        if let Some(idx) = found {
            self.hints[hint_slot(iova)] = idx as u32;
        }
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

    fn search(&self, iova: u64, len: usize) -> Option<usize> {
        let fits = |e: &Entry| {
            iova >= e.iova
                && iova
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= e.iova + e.len)
        };
        let idx = self
            .regions
            .partition_point(|r| r.entry.iova <= iova)
            .checked_sub(1)?;
        fits(&self.regions[idx].entry).then_some(idx)
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
        let [lo, hi] = m.get_u64_pair(off)?;
        Some([lo.load(Ordering::Acquire), hi.load(Ordering::Acquire)])
    }

    /// Writes a 16-byte descriptor; the second qword (which holds DD) is
    /// stored last, with release ordering, so a driver that sees DD sees
    /// the whole descriptor and the data before it.
    pub fn write_desc(&mut self, iova: u64, desc: [u64; 2]) -> bool {
        let Some((m, off)) = self.find(iova, 16) else {
            return false;
        };
        let Some([lo, hi]) = m.get_u64_pair(off) else {
            return false;
        };
        lo.store(desc[0], Ordering::Relaxed);
        hi.store(desc[1], Ordering::Release);
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_sharing_a_hint_slot_each_translate_to_their_own_file() {
        let dir = std::env::temp_dir().join(format!("ixy-iommu-hints-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let table = Table::create(&dir.join("iommu")).unwrap();
        // Three regions: a and b in IOVA windows that share a hint slot
        // (HINTS windows apart), c in a slot of its own.
        let window = 1u64 << HINT_SHIFT;
        let iovas = [window, window * (HINTS as u64 + 1), window * 3];
        assert_eq!(hint_slot(iovas[0]), hint_slot(iovas[1]));
        let maps: Vec<SharedMap> = (0..3)
            .map(|i| {
                let path = dir.join(format!("r{i}"));
                let m = SharedMap::create(&path, 4096).unwrap();
                table.map(iovas[i], 4096, &path, 0).unwrap();
                m
            })
            .collect();
        let mut t = Translator::new(Table::open(&dir.join("iommu")).unwrap());
        t.refresh();
        // Alternating between them, every DMA lands in the right file.
        for round in 0..4u8 {
            for (i, &iova) in iovas.iter().enumerate() {
                assert!(t.write(iova + 100, &[round, i as u8]));
            }
            for (i, m) in maps.iter().enumerate() {
                let mut got = [0u8; 2];
                assert!(m.read_bytes(100, &mut got));
                assert_eq!(got, [round, i as u8], "region {i}, round {round}");
            }
        }
        // Just past a region's end faults, hint or not.
        assert!(!t.write(iovas[0] + 4095, &[0, 0]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
