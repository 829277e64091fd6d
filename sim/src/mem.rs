//! Shared memory: the one module of the simulator that holds `unsafe`.
//!
//! Everything the simulator shares with drivers — BAR files, the IOMMU table
//! and the DMA regions drivers register — is a file mapped `MAP_SHARED`.
//! [`Mapping`] owns such a mapping and offers bounds-checked atomic word
//! access and byte copies, so that the rest of the crate is safe Rust.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// A file mapped shared into this process.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all access goes through atomics
// or raw copies that tolerate concurrent writers (other processes do the
// same), so it may be used from any thread.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`; no method hands out non-atomic references.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Creates (or truncates) `path` with `len` zero bytes and maps it.
    pub fn create(path: &Path, len: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len as u64)?;
        Self::map(&file, 0, len)
    }

    /// Maps `len` bytes of the existing file `path` from `offset` on.
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
        Self::map(&file, offset, len)
    }

    fn map(file: &File, offset: u64, len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        // SAFETY: a fresh shared mapping of a file we opened read-write; the
        // kernel picks the address, so no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null pointer"))?;
        Ok(Mapping { ptr, len })
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true: empty mappings are refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn in_bounds(&self, offset: usize, size: usize) -> bool {
        offset.checked_add(size).is_some_and(|end| end <= self.len)
    }

    /// The 32-bit word at `offset`, or `None` when out of bounds or unaligned.
    pub fn u32_at(&self, offset: usize) -> Option<&AtomicU32> {
        if !self.in_bounds(offset, 4) || !offset.is_multiple_of(4) {
            return None;
        }
        // SAFETY: in bounds and 4-byte aligned (the mapping is page aligned);
        // AtomicU32 has the layout of u32 and every bit pattern is valid; the
        // reference lives no longer than `self`, which keeps the mapping.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() })
    }

    /// The 64-bit word at `offset`, or `None` when out of bounds or unaligned.
    pub fn u64_at(&self, offset: usize) -> Option<&AtomicU64> {
        if !self.in_bounds(offset, 8) || !offset.is_multiple_of(8) {
            return None;
        }
        // SAFETY: as in `u32_at`, with 8-byte alignment.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() })
    }

    /// Copies `out.len()` bytes from `offset` into `out`; false when out of bounds.
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

    /// Sets every byte of the mapping in `start..end` to `byte`.
    pub fn fill(&self, start: usize, end: usize, byte: u8) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        // SAFETY: `start..end` lies inside the writable mapping.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(start), byte, end - start) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mapped in `map`; every reference
        // handed out borrowed `self`, so none outlives this call.
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
        let dir = std::env::temp_dir().join(format!("ixy-sim-mem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m");
        let m = Mapping::create(&path, 4096).unwrap();
        m.u32_at(8).unwrap().store(0xdead_beef, Ordering::Relaxed);
        let again = Mapping::open(&path, 0, 4096).unwrap();
        assert_eq!(
            again.u32_at(8).unwrap().load(Ordering::Relaxed),
            0xdead_beef
        );
        assert!(m.u32_at(4094).is_none());
        assert!(m.u32_at(6).is_none());
        assert!(m.u64_at(4).is_none());
        assert!(!m.write_bytes(4090, &[0; 8]));
        assert!(m.write_bytes(100, b"abc"));
        let mut out = [0u8; 3];
        assert!(again.read_bytes(100, &mut out));
        assert_eq!(&out, b"abc");
        assert!(Mapping::open(&path, 4096, 1).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
