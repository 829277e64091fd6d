//! Shared memory: the one type through which every shared file is reached.
//!
//! The simulator's BAR files and IOMMU table, DMA regions, the worker
//! statistics files and the IOVA allocator are memory mapped `MAP_SHARED`
//! and read and written by several processes at once. [`SharedMap`] owns
//! such a mapping and offers atomic word access and byte copies, checked
//! against its bounds, so that the code using it is safe Rust. The driver,
//! the simulator (`sim`) and the worker all use this one type.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

/// A shared memory mapping (of a file, or anonymous and shared across
/// `fork`) with bounds-checked atomic word access. Unmapped on drop.
#[derive(Debug)]
pub struct SharedMap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all access goes through atomics
// or raw copies that tolerate concurrent writers (other processes do the
// same), so it may be used from any thread.
unsafe impl Send for SharedMap {}
// SAFETY: see `Send`; no method hands out non-atomic references.
unsafe impl Sync for SharedMap {}

impl SharedMap {
    /// Maps `len` bytes of `file` from `offset` on, shared, populated
    /// (`MAP_POPULATE`: a hugetlbfs file gets its pages now, and they have
    /// physical addresses at once).
    pub fn file(file: &File, offset: u64, len: usize) -> io::Result<Self> {
        Self::map(
            Some(file),
            offset,
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
        )
    }

    /// An anonymous shared mapping: children forked later share it.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        Self::map(None, 0, len, libc::MAP_SHARED | libc::MAP_ANONYMOUS)
    }

    /// Creates (or truncates) `path` with `len` zero bytes and maps it.
    pub fn create(path: &Path, len: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len as u64)?;
        Self::map(Some(&file), 0, len, libc::MAP_SHARED)
    }

    /// Maps `len` bytes of the existing file `path` from `offset` on,
    /// opened read-write; an error, before anything is mapped, when they
    /// reach past the end of the file (an access there would fault).
    pub fn open(path: &Path, offset: u64, len: usize) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let size = file.metadata()?.len();
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: {len} bytes at offset {offset} exceed the file size {size}",
                    path.display()
                ),
            ));
        }
        Self::map(Some(&file), offset, len, libc::MAP_SHARED)
    }

    /// Takes ownership of an existing mapping of `len` bytes at `ptr`
    /// (device memory mapped elsewhere, e.g. a PCI BAR): it is unmapped on
    /// drop.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be a live `mmap` that nothing else unmaps.
    pub unsafe fn from_raw(ptr: NonNull<u8>, len: usize) -> Self {
        SharedMap { ptr, len }
    }

    fn map(file: Option<&File>, offset: u64, len: usize, flags: libc::c_int) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        let fd = file.map_or(-1, |f| f.as_raw_fd());
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        // SAFETY: a fresh mapping at an address the kernel chooses (of a
        // file we opened read-write, or anonymous); no existing memory is
        // affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null pointer"))?;
        Ok(SharedMap { ptr, len })
    }

    /// Start of the mapping.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true: empty mappings are refused).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn in_bounds(&self, offset: usize, size: usize) -> bool {
        offset.checked_add(size).is_some_and(|end| end <= self.len)
    }

    /// The 16-bit word at `offset`, or `None` when out of bounds or unaligned.
    #[inline]
    pub fn get_u16(&self, offset: usize) -> Option<&AtomicU16> {
        if !self.in_bounds(offset, 2) || !offset.is_multiple_of(2) {
            return None;
        }
        // SAFETY: as in `get_u32`, with 2-byte alignment.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU16>() })
    }

    /// The aligned u16 at `off`; panics when out of bounds or unaligned
    /// (for offsets that come from a fixed layout, never from input).
    #[inline]
    pub fn u16_at(&self, off: usize) -> &AtomicU16 {
        self.get_u16(off)
            .unwrap_or_else(|| panic!("u16 at {off:#x} outside a {}-byte mapping", self.len))
    }

    /// The 32-bit word at `offset`, or `None` when out of bounds or unaligned.
    #[inline]
    pub fn get_u32(&self, offset: usize) -> Option<&AtomicU32> {
        if !self.in_bounds(offset, 4) || !offset.is_multiple_of(4) {
            return None;
        }
        // SAFETY: in bounds and 4-byte aligned (the mapping is page aligned);
        // AtomicU32 has the layout of u32 and every bit pattern is valid; the
        // reference lives no longer than `self`, which keeps the mapping.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() })
    }

    /// The 64-bit word at `offset`, or `None` when out of bounds or unaligned.
    #[inline]
    pub fn get_u64(&self, offset: usize) -> Option<&AtomicU64> {
        if !self.in_bounds(offset, 8) || !offset.is_multiple_of(8) {
            return None;
        }
        // SAFETY: as in `get_u32`, with 8-byte alignment.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() })
    }

    /// The two aligned u64s of the 16 bytes at `offset` (a descriptor),
    /// or `None` when out of bounds or unaligned: one check for both.
    #[inline]
    pub fn get_u64_pair(&self, offset: usize) -> Option<[&AtomicU64; 2]> {
        if !self.in_bounds(offset, 16) || !offset.is_multiple_of(8) {
            return None;
        }
        // SAFETY: as in `get_u64`; both words lie inside the mapping
        // (checked above) and are 8-byte aligned.
        Some(unsafe {
            let p = self.ptr.as_ptr().add(offset).cast::<AtomicU64>();
            [&*p, &*p.add(1)]
        })
    }

    /// The aligned u32 at `off`; panics when out of bounds or unaligned
    /// (for offsets that come from a fixed layout, never from input).
    #[inline]
    pub fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.get_u32(off)
            .unwrap_or_else(|| panic!("u32 at {off:#x} outside a {}-byte mapping", self.len))
    }

    /// The aligned u64 at `off`; panics when out of bounds or unaligned.
    #[inline]
    pub fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.get_u64(off)
            .unwrap_or_else(|| panic!("u64 at {off:#x} outside a {}-byte mapping", self.len))
    }

    /// Copies `out.len()` bytes from `offset` into `out`; false when out of bounds.
    #[inline]
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> bool {
        if !self.in_bounds(offset, out.len()) {
            return false;
        }
        // SAFETY: the source range is inside the mapping and `out` is a
        // distinct local buffer. Concurrent writers may change the bytes
        // while we copy; the result is then torn, as a DMA read would be.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        true
    }

    /// Appends `len` bytes from `offset` to `out`; false (and `out`
    /// unchanged) when out of bounds. Saves zeroing a buffer only to
    /// overwrite it.
    #[inline]
    pub fn append_bytes(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> bool {
        if !self.in_bounds(offset, len) {
            return false;
        }
        out.reserve(len);
        let start = out.len();
        // SAFETY: the source range is inside the mapping (checked above)
        // and the destination is `len` bytes of spare capacity reserved
        // just now in a buffer we own, so the two cannot overlap. Every
        // byte up to `start + len` is initialised by the copy before the
        // length covers it. Concurrent writers may tear the bytes, as a
        // DMA read would see them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr().add(start),
                len,
            );
            out.set_len(start + len);
        }
        true
    }

    /// Copies `data` to `offset`; false when out of bounds.
    #[inline]
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> bool {
        if !self.in_bounds(offset, data.len()) {
            return false;
        }
        // SAFETY: the destination range is inside the mapping, which is
        // writable; `data` cannot overlap it as it is borrowed immutably
        // from memory this method never writes through a reference.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
        true
    }

    /// Sets every byte of the mapping in `start..end` to `byte` (`end` is
    /// cut to the mapping's length).
    pub fn fill(&self, start: usize, end: usize, byte: u8) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        // SAFETY: `start..end` lies inside the writable mapping.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(start), byte, end - start) };
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mapped in `map` (or handed over
        // in `from_raw`); every reference handed out borrowed `self`, so
        // none outlives this call.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn words_and_bytes_are_bounds_checked() {
        let dir = std::env::temp_dir().join(format!("ixy-shm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m");
        let m = SharedMap::create(&path, 4096).unwrap();
        m.u32_at(8).store(0xdead_beef, Ordering::Relaxed);
        let again = SharedMap::open(&path, 0, 4096).unwrap();
        assert_eq!(again.u32_at(8).load(Ordering::Relaxed), 0xdead_beef);
        assert!(m.get_u32(4094).is_none());
        assert!(m.get_u32(6).is_none());
        assert!(m.get_u64(4).is_none());
        let [lo, hi] = m.get_u64_pair(4080).unwrap();
        lo.store(1, Ordering::Relaxed);
        hi.store(2, Ordering::Relaxed);
        assert_eq!(again.u64_at(4088).load(Ordering::Relaxed), 2);
        assert!(
            m.get_u64_pair(4088).is_none(),
            "the second word is past the end"
        );
        assert!(m.get_u64_pair(4).is_none(), "unaligned");
        assert!(!m.write_bytes(4090, &[0; 8]));
        assert!(m.write_bytes(100, b"abc"));
        let mut out = [0u8; 3];
        assert!(again.read_bytes(100, &mut out));
        assert_eq!(&out, b"abc");
        let mut tail = b"x".to_vec();
        assert!(!again.append_bytes(4095, 2, &mut tail));
        assert!(again.append_bytes(100, 3, &mut tail));
        assert_eq!(tail, b"xabc");
        m.fill(100, 102, 0xFF);
        assert!(again.read_bytes(100, &mut out));
        assert_eq!(out, [0xFF, 0xFF, b'c']);
        assert!(SharedMap::open(&path, 4096, 1).is_err());
        assert!(SharedMap::anonymous(0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "outside a 4096-byte mapping")]
    fn a_fixed_offset_outside_the_mapping_panics() {
        SharedMap::anonymous(4096).unwrap().u64_at(4096);
    }
}
