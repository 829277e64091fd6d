//! The simulator backend: `--device sim:LAB/PORT` (docs/DESIGN.md 3).
//!
//! A simulated port is reached like a PCI device: its BAR0 is the file
//! `$IXY_SIM_DIR/LAB/portPORT/bar0` and its IOMMU is the lab's table
//! `$IXY_SIM_DIR/LAB/iommu`, whose format `sim/README.md` (section 4)
//! documents. This module knows those two files and nothing else of the
//! simulator.

use crate::error::{Error, ErrorKind, Result};
use crate::memory::{IovaAllocator, SharedMap};
use crate::mmio::{Kind, Registers, ALL_ONES, SIM_MAGIC, SIM_MAGIC_VALUE};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Environment variable naming the directory that holds labs.
pub const ENV_DIR: &str = "IXY_SIM_DIR";
/// Labs live here unless `IXY_SIM_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm/ixy-sim";
/// Size of a BAR file.
pub const BAR_SIZE: usize = crate::regs::BAR0_SIZE;

const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"IXYIOMMU");
const TABLE_VERSION: u32 = 1;
const HEADER: usize = 64;
const ENTRY: usize = 256;
const PATH_MAX: usize = ENTRY - 32;
/// Header offset of the lab-wide IOVA allocator counter.
pub const TABLE_NEXT_IOVA: usize = 24;
const FREE: u32 = 0;
const BUSY: u32 = 1;
const VALID: u32 = 2;

/// A parsed `sim:LAB/PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAddress {
    /// Lab name.
    pub lab: String,
    /// Port number.
    pub port: u32,
}

impl SimAddress {
    /// Parses the part after `sim:`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidInput,
                "",
                format!("simulated device {spec:?}: expected sim:LAB/PORT, e.g. sim:demo/0"),
            )
        };
        let (lab, port) = spec.split_once('/').ok_or_else(bad)?;
        let lab_ok = !lab.is_empty()
            && !lab.starts_with('.')
            && lab
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let port = port
            .parse::<u32>()
            .ok()
            .filter(|_| lab_ok)
            .ok_or_else(bad)?;
        Ok(SimAddress {
            lab: lab.to_string(),
            port,
        })
    }

    /// The lab directory.
    pub fn lab_dir(&self) -> PathBuf {
        let root =
            std::env::var_os(ENV_DIR).map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
        root.join(&self.lab)
    }
}

impl std::fmt::Display for SimAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sim:{}/{}", self.lab, self.port)
    }
}

/// What is wrong with `meta` as a BAR file, if anything: it must be a
/// regular file of exactly [`BAR_SIZE`] bytes. Mapping anything else would
/// fault (SIGBUS) on the first access beyond its end.
fn bar_file_problem(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return (meta.len() != BAR_SIZE as u64).then(|| {
            format!(
                "has {} bytes, a BAR file has {BAR_SIZE}; the lab is damaged: restart it",
                meta.len()
            )
        });
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device node"
    } else {
        "not a file"
    };
    Some(format!(
        "is {kind}, not a regular file; a BAR file is made by ixy-sim"
    ))
}

/// Maps the BAR file of a simulated port, after checking that the file is
/// one (regular, [`BAR_SIZE`] bytes: nothing else is mapped) and that a lab
/// process serves it ([`LabWatch`]).
pub fn open_bar(addr: &SimAddress) -> Result<Registers> {
    let dir = addr.lab_dir();
    let name = addr.to_string();
    if !dir.is_dir() {
        return Err(Error::new(
            ErrorKind::NotFound,
            &name,
            format!("lab {} does not exist", dir.display()),
        )
        .hint(format!("start it with 'ixy-sim --lab {}'", addr.lab)));
    }
    let path = dir.join(format!("port{}", addr.port)).join("bar0");
    let bad_file = |problem: String| {
        Error::new(
            ErrorKind::Unsupported,
            &name,
            format!("{} {problem}", path.display()),
        )
    };
    // Checked before opening (a FIFO would block an open) and again on the
    // opened file (it may have been replaced meanwhile).
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::io(&name, format!("opening {}", path.display()), e)
            .hint("is the port number below the lab's --ports?")
    })?;
    if let Some(problem) = bar_file_problem(&meta) {
        return Err(bad_file(problem));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&name, format!("opening {}", path.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(&name, format!("reading the size of {}", path.display()), e))?;
    if let Some(problem) = bar_file_problem(&meta) {
        return Err(bad_file(problem));
    }
    let map = SharedMap::file(&file, 0, BAR_SIZE)
        .map_err(|e| Error::io(&name, format!("mapping {}", path.display()), e))?;
    let magic = map.u32_at(SIM_MAGIC as usize).load(Ordering::Acquire);
    if magic == ALL_ONES {
        return Err(Error::new(
            ErrorKind::NotFound,
            &name,
            "the port was removed (surprise removal: its registers read 0xFFFFFFFF)",
        )
        .hint(format!("restart lab {} to get it back", addr.lab)));
    }
    if magic != SIM_MAGIC_VALUE {
        return Err(Error::new(
            ErrorKind::Unsupported,
            &name,
            format!("{} is not a simulated 82599 BAR", path.display()),
        ));
    }
    let (ptr, len) = (map.as_ptr(), map.len());
    std::mem::forget(map);
    // SAFETY: `ptr..ptr+len` is the live shared mapping just made; ownership
    // passes to `Registers` (the SharedMap was forgotten, so it is unmapped once).
    Ok(unsafe {
        Registers::from_mapping(
            std::ptr::NonNull::new(ptr)
                .ok_or_else(|| Error::new(ErrorKind::Memory, &name, "null mapping"))?,
            len,
            Kind::Simulator,
        )
    })
}

/// Whether the lab behind a simulated device still runs.
///
/// A lab holds an exclusive `flock` on `ROOT/LAB.lock` for its whole life,
/// which the kernel releases when the process dies, however it dies
/// (`sim/README.md` 2). The watch keeps that file open and test-locks it:
/// a shared, non-blocking `flock` that fails while the lab holds its lock;
/// when it succeeds the lab is gone, and the lock is dropped at once. A lab
/// that stopped cleanly unlinked the file first, and the watch's open file
/// is then one that nobody locks: gone as well. It costs one system call
/// and never depends on the model thread being scheduled (a heartbeat
/// would, on a loaded machine).
#[derive(Debug)]
pub struct LabWatch {
    lab: String,
    /// The open lock file (taken by the lock while it is tested).
    file: std::sync::Mutex<Option<std::fs::File>>,
    /// Set once the lab was found gone.
    gone: std::sync::atomic::AtomicBool,
}

impl LabWatch {
    /// Opens the lock file of the lab of `addr`; an error naming the lab
    /// (`NotFound`: "lab LAB is not running") when no process holds it.
    pub fn open(addr: &SimAddress) -> Result<Self> {
        let mut lock = addr.lab_dir().into_os_string();
        lock.push(".lock");
        Self::open_lock(Path::new(&lock), addr)
    }

    fn open_lock(lock: &Path, addr: &SimAddress) -> Result<Self> {
        let not_running = || {
            Error::new(
                ErrorKind::NotFound,
                addr.to_string(),
                format!("lab {} is not running", addr.lab),
            )
            .hint(format!(
                "no ixy-sim holds {}; start it with 'ixy-sim --lab {}'",
                lock.display(),
                addr.lab
            ))
        };
        let file = std::fs::File::open(lock).map_err(|_| not_running())?;
        let watch = LabWatch {
            lab: addr.lab.clone(),
            file: std::sync::Mutex::new(Some(file)),
            gone: std::sync::atomic::AtomicBool::new(false),
        };
        if !watch.alive() {
            return Err(not_running());
        }
        Ok(watch)
    }

    /// The lab's name.
    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// Whether the lab's process still holds its lock. Once gone, always
    /// gone (a new lab of the same name is another device). When the test
    /// itself fails for another reason it answers alive.
    pub fn alive(&self) -> bool {
        use nix::fcntl::{Flock, FlockArg};
        if self.gone.load(Ordering::Relaxed) {
            return false;
        }
        let mut slot = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Some(file) = slot.take() else {
            return !self.gone.load(Ordering::Relaxed);
        };
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Err((file, _)) => {
                *slot = Some(file);
                true
            }
            Ok(locked) => {
                self.gone.store(true, Ordering::Relaxed);
                // Unlocked at once, so that a new lab of that name can start;
                // dropping the lock on an error unlocks it as well.
                if let Ok(file) = locked.unlock() {
                    *slot = Some(file);
                }
                false
            }
        }
    }
}

/// A client of the lab's IOMMU table.
#[derive(Debug)]
pub struct IommuTable {
    map: Arc<SharedMap>,
    capacity: usize,
    path: PathBuf,
}

impl IommuTable {
    /// Opens the table of the lab of `addr`.
    pub fn open(addr: &SimAddress) -> Result<Self> {
        let path = addr.lab_dir().join("iommu");
        let name = addr.to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&name, format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&name, "reading the IOMMU table size", e))?
            .len() as usize;
        if len < HEADER {
            return Err(Error::new(
                ErrorKind::Unsupported,
                &name,
                format!("{} is too short for an IOMMU table", path.display()),
            ));
        }
        let map = SharedMap::file(&file, 0, len)
            .map_err(|e| Error::io(&name, format!("mapping {}", path.display()), e))?;
        let magic = map.u64_at(0).load(Ordering::Acquire);
        let version = map.u32_at(8).load(Ordering::Acquire);
        let capacity = map.u32_at(12).load(Ordering::Acquire) as usize;
        if magic != TABLE_MAGIC || version != TABLE_VERSION || HEADER + capacity * ENTRY > len {
            return Err(Error::new(
                ErrorKind::Unsupported,
                &name,
                format!(
                    "{} is not an ixy-sim IOMMU table of version 1",
                    path.display()
                ),
            ));
        }
        Ok(IommuTable {
            map: Arc::new(map),
            capacity,
            path,
        })
    }

    /// The lab-wide IOVA allocator kept in the table's header.
    pub fn allocator(&self) -> IovaAllocator {
        IovaAllocator::in_shared(self.map.clone(), TABLE_NEXT_IOVA)
    }

    fn entry(slot: usize) -> usize {
        HEADER + slot * ENTRY
    }

    fn bump(&self) {
        self.map.u64_at(16).fetch_add(1, Ordering::AcqRel);
    }

    /// Registers `len` bytes of the file `path` (from offset 0) at `iova`.
    pub fn map(&self, iova: u64, len: u64, path: &Path) -> Result<()> {
        let bytes = path.as_os_str().as_encoded_bytes();
        if bytes.len() >= PATH_MAX {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "",
                format!("{}: path too long for the IOMMU table", path.display()),
            ));
        }
        for slot in 0..self.capacity {
            let off = Self::entry(slot);
            let state = self.map.u32_at(off);
            if state
                .compare_exchange(FREE, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            self.map.u64_at(off + 8).store(iova, Ordering::Relaxed);
            self.map.u64_at(off + 16).store(len, Ordering::Relaxed);
            self.map.u64_at(off + 24).store(0, Ordering::Relaxed);
            let mut name = [0u8; PATH_MAX];
            name[..bytes.len()].copy_from_slice(bytes);
            self.map.write_bytes(off + 32, &name);
            state.store(VALID, Ordering::Release);
            self.bump();
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Memory,
            "",
            format!("IOMMU table {} is full", self.path.display()),
        ))
    }

    /// Removes the mapping at `iova`; once this returns the device can no
    /// longer reach it (the simulator checks the table on every DMA).
    pub fn unmap(&self, iova: u64) -> Result<()> {
        for slot in 0..self.capacity {
            let off = Self::entry(slot);
            let state = self.map.u32_at(off);
            if state.load(Ordering::Acquire) == VALID
                && self.map.u64_at(off + 8).load(Ordering::Acquire) == iova
                && state
                    .compare_exchange(VALID, FREE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.bump();
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            "",
            format!("IOVA {iova:#x} is not in {}", self.path.display()),
        ))
    }
}

impl IommuTable {
    /// Removes every mapping backed by the file `path` (a region whose
    /// owner died without unmapping it); returns how many were removed.
    pub fn unmap_path(&self, path: &Path) -> usize {
        let want = path.as_os_str().as_encoded_bytes();
        let mut removed = 0;
        for slot in 0..self.capacity {
            let off = Self::entry(slot);
            let state = self.map.u32_at(off);
            if state.load(Ordering::Acquire) != VALID {
                continue;
            }
            let mut name = [0u8; PATH_MAX];
            self.map.read_bytes(off + 32, &mut name);
            let end = name.iter().position(|&b| b == 0).unwrap_or(PATH_MAX);
            if &name[..end] == want
                && state
                    .compare_exchange(VALID, FREE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.bump();
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_addresses_parse_strictly() {
        assert_eq!(
            SimAddress::parse("demo/0").unwrap(),
            SimAddress {
                lab: "demo".into(),
                port: 0
            }
        );
        assert_eq!(SimAddress::parse("my-lab_2/13").unwrap().port, 13);
        for bad in [
            "demo", "demo/", "/0", "demo/x", "../etc/0", "a b/1", "demo/-1",
        ] {
            let e = SimAddress::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(e.to_string().contains("sim:LAB/PORT"), "{e}");
        }
    }

    fn scratch(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ixy-simdev-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_lab_is_alive_exactly_while_its_lock_is_held() {
        use nix::fcntl::{Flock, FlockArg};
        let dir = scratch("watch");
        let lock = dir.join("lab.lock");
        let addr = SimAddress::parse("lab/0").unwrap();
        let e = LabWatch::open_lock(&lock, &addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("lab lab is not running"), "{e}");
        std::fs::write(&lock, "").unwrap();
        let e = LabWatch::open_lock(&lock, &addr).unwrap_err();
        assert!(
            e.to_string().contains("is not running"),
            "nobody holds it: {e}"
        );
        // The lab's lock, on an open file of its own, as ixy-sim holds it.
        let held = Flock::lock(
            std::fs::File::create(&lock).unwrap(),
            FlockArg::LockExclusiveNonblock,
        )
        .unwrap();
        let watch = LabWatch::open_lock(&lock, &addr).unwrap();
        assert!(
            watch.alive() && watch.alive(),
            "the test leaves the lock alone"
        );
        drop(held);
        assert!(!watch.alive(), "released: the lab is gone");
        // Gone for good, even if a new lab of that name starts.
        let _again = Flock::lock(
            std::fs::File::create(&lock).unwrap(),
            FlockArg::LockExclusiveNonblock,
        )
        .expect("the test released its shared lock");
        assert!(!watch.alive());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_regular_file_of_bar_size_is_a_bar_file() {
        let dir = scratch("bar");
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        let bar = dir.join("bar0");
        std::fs::write(&bar, vec![0u8; BAR_SIZE]).unwrap();
        assert_eq!(bar_file_problem(&meta(&bar)), None);
        std::fs::write(&bar, [0u8; 100]).unwrap();
        let p = bar_file_problem(&meta(&bar)).unwrap();
        assert!(p.contains("has 100 bytes") && p.contains("524288"), "{p}");
        let p = bar_file_problem(&meta(&dir)).unwrap();
        assert!(p.contains("a directory"), "{p}");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let p = bar_file_problem(&meta(&fifo)).unwrap();
        assert!(p.contains("a FIFO, not a regular file"), "{p}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
