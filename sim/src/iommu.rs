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
    /// The region of the last hit per kind of access ([`DATA`],
    /// [`DESC`]), for callers without a [`RegionHint`] of their own.
    last: [RegionHint; 2],
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

/// The region a caller's last DMA hit, tried first on its next one: a
/// queue's ring and buffers stay in one region for long runs. A queue
/// keeps its own (`RxRingState`, `TxRingState`), so that DMA alternating
/// between queues (RSS) and their pools still finds each region at once;
/// the hint is at hand before the address is (the address often comes
/// from a descriptor just read). A stale or wrong hint only costs a
/// search of the table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RegionHint(usize);

/// [`Translator`]'s own hint for packet data.
const DATA: usize = 0;
/// [`Translator`]'s own hint for descriptors.
const DESC: usize = 1;

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
            last: [RegionHint::default(); 2],
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
        self.last = [RegionHint::default(); 2];
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

    /// The region index and offset holding `len` bytes at `iova`, if one
    /// does: the `hint`'s region, inline, then the table.
    #[inline]
    fn locate(&mut self, iova: u64, len: usize, hint: &mut RegionHint) -> Option<(usize, usize)> {
        let idx = hint.0;
        match self.offset_in(idx, iova, len) {
            Some(off) => Some((idx, off)),
            None => self.locate_slow(iova, len, hint),
        }
    }

    /// The offset of `len` bytes at `iova` in region `idx`, if it holds them.
    #[inline]
    fn offset_in(&self, idx: usize, iova: u64, len: usize) -> Option<usize> {
        let r = self.regions.get(idx)?;
        let off = iova.checked_sub(r.entry.iova)?;
        (off.checked_add(len as u64)? <= r.entry.len).then_some(off as usize)
    }

    /// [`Translator::locate`] beyond the hinted region; the hint follows.
    #[cold]
    fn locate_slow(
        &mut self,
        iova: u64,
        len: usize,
        hint: &mut RegionHint,
    ) -> Option<(usize, usize)> {
        let Some(idx) = self.lookup(iova, len) else {
            self.explain_fault(iova);
            return None;
        };
        *hint = RegionHint(idx);
        Some((idx, (iova - self.regions[idx].entry.iova) as usize))
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
        self.with_own_hint(DATA, |t, hint| {
            t.locate(iova, out.len(), hint)
                .is_some_and(|(idx, off)| t.regions[idx].map.read_bytes(off, out))
        })
    }

    /// Runs `f` with the translator's own hint for this `kind` of access,
    /// for callers without one.
    #[inline]
    fn with_own_hint<R>(
        &mut self,
        kind: usize,
        f: impl FnOnce(&mut Self, &mut RegionHint) -> R,
    ) -> R {
        let mut hint = self.last[kind];
        let r = f(self, &mut hint);
        self.last[kind] = hint;
        r
    }

    /// DMA read of `len` bytes appended to `out`; false is an IOMMU fault
    /// (and `out` is unchanged).
    pub fn read_append(&mut self, iova: u64, len: usize, out: &mut Vec<u8>) -> bool {
        self.with_own_hint(DATA, |t, hint| t.read_append_in(iova, len, out, hint))
    }

    /// [`Translator::read_append`] with the caller's hint.
    #[inline]
    pub fn read_append_in(
        &mut self,
        iova: u64,
        len: usize,
        out: &mut Vec<u8>,
        hint: &mut RegionHint,
    ) -> bool {
        self.locate(iova, len, hint)
            .is_some_and(|(idx, off)| self.regions[idx].map.append_bytes(off, len, out))
    }

    /// DMA write; false is an IOMMU fault.
    pub fn write(&mut self, iova: u64, data: &[u8]) -> bool {
        self.with_own_hint(DATA, |t, hint| t.write_in(iova, data, hint))
    }

    /// [`Translator::write`] with the caller's hint.
    #[inline]
    pub fn write_in(&mut self, iova: u64, data: &[u8], hint: &mut RegionHint) -> bool {
        self.locate(iova, data.len(), hint)
            .is_some_and(|(idx, off)| self.regions[idx].map.write_bytes(off, data))
    }

    /// Reads a 16-byte descriptor as two little-endian qwords.
    pub fn read_desc(&mut self, iova: u64) -> Option<[u64; 2]> {
        self.with_own_hint(DESC, |t, hint| t.read_desc_in(iova, hint))
    }

    /// [`Translator::read_desc`] with the caller's hint.
    #[inline]
    pub fn read_desc_in(&mut self, iova: u64, hint: &mut RegionHint) -> Option<[u64; 2]> {
        let (idx, off) = self.locate(iova, 16, hint)?;
        let [lo, hi] = self.regions[idx].map.get_u64_pair(off)?;
        Some([lo.load(Ordering::Acquire), hi.load(Ordering::Acquire)])
    }

    /// Writes a 16-byte descriptor; the second qword (which holds DD) is
    /// stored last, with release ordering, so a driver that sees DD sees
    /// the whole descriptor and the data before it.
    pub fn write_desc(&mut self, iova: u64, desc: [u64; 2]) -> bool {
        self.with_own_hint(DESC, |t, hint| t.write_desc_in(iova, desc, hint))
    }

    /// [`Translator::write_desc`] with the caller's hint.
    #[inline]
    pub fn write_desc_in(&mut self, iova: u64, desc: [u64; 2], hint: &mut RegionHint) -> bool {
        let Some([lo, hi]) = self
            .locate(iova, 16, hint)
            .and_then(|(idx, off)| self.regions[idx].map.get_u64_pair(off))
        else {
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
    fn a_hint_only_speeds_a_lookup_never_misdirects_it() {
        let dir = std::env::temp_dir().join(format!("ixy-iommu-hints-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let table = Table::create(&dir.join("iommu")).unwrap();
        let iovas = [0x20_0000u64, 0x60_0000, 0x40_0000];
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
        // One hint shared by every access (always the wrong region for
        // the next), one per region, and hints beyond the table: every
        // DMA lands in its own file.
        let mut shared = RegionHint::default();
        let mut own = [RegionHint::default(); 3];
        let mut bogus = RegionHint(99);
        for round in 0..4u8 {
            for (i, &iova) in iovas.iter().enumerate() {
                let hint = match round % 3 {
                    0 => &mut shared,
                    1 => &mut own[i],
                    _ => &mut bogus,
                };
                assert!(t.write_in(iova + 100, &[round, i as u8], hint));
            }
            for (i, m) in maps.iter().enumerate() {
                let mut got = [0u8; 2];
                assert!(m.read_bytes(100, &mut got));
                assert_eq!(got, [round, i as u8], "region {i}, round {round}");
            }
        }
        // Past a region's end faults, whatever the hint says.
        let mut at_0 = own[0];
        assert!(!t.write_in(iovas[0] + 4095, &[0, 0], &mut at_0));
        assert!(t.read_desc_in(iovas[1] + 4090, &mut own[1]).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
