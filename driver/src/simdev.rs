//! The simulator backend: `--device sim:LAB/PORT` (docs/DESIGN.md 3).
//!
//! A simulated port is reached like a PCI device: its BAR0 is the file
//! `$IXY_SIM_DIR/LAB/portPORT/bar0` and its IOMMU is the lab's table
//! `$IXY_SIM_DIR/LAB/iommu`, whose formats `sim/README.md` (sections 3 and
//! 4) documents and [`crate::simfmt`] defines. This module knows those two
//! files and nothing else of the simulator.

use crate::error::{Error, ErrorKind, Result};
use crate::memory::IovaAllocator;
use crate::mmio::{Registers, ALL_ONES};
use crate::shm::SharedMap;
use crate::simfmt::{self, bar::BAR_SIZE, iommu::Table};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

pub use crate::simfmt::{DEFAULT_DIR, ENV_DIR};

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
        simfmt::labs_root().join(&self.lab)
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
    let path = simfmt::bar_path(&dir, addr.port as usize);
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
    let magic = map
        .u32_at(simfmt::bar::SIM_MAGIC as usize)
        .load(Ordering::Acquire);
    if magic == ALL_ONES {
        return Err(Error::new(
            ErrorKind::NotFound,
            &name,
            "the port was removed (surprise removal: its registers read 0xFFFFFFFF)",
        )
        .hint(format!("restart lab {} to get it back", addr.lab)));
    }
    if magic != simfmt::bar::SIM_MAGIC_VALUE {
        return Err(Error::new(
            ErrorKind::Unsupported,
            &name,
            format!("{} is not a simulated 82599 BAR", path.display()),
        ));
    }
    Ok(Registers::simulator(map))
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
        Self::open_lock(&simfmt::lock_path(&addr.lab_dir()), addr)
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

/// A driver's client of the lab's IOMMU table: the table's protocol
/// ([`simfmt::iommu::Table`]) with the driver's errors.
#[derive(Debug)]
pub struct IommuTable {
    table: Table,
}

impl IommuTable {
    /// Opens the table of the lab of `addr`.
    pub fn open(addr: &SimAddress) -> Result<Self> {
        let path = simfmt::iommu_path(&addr.lab_dir());
        let table = Table::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => {
                Error::new(ErrorKind::Unsupported, addr.to_string(), e.to_string())
            }
            _ => Error::io(addr.to_string(), format!("opening {}", path.display()), e),
        })?;
        Ok(IommuTable { table })
    }

    /// The lab-wide IOVA allocator kept in the table's header.
    pub fn allocator(&self) -> IovaAllocator {
        self.table.allocator()
    }

    /// Registers `len` bytes of the file `path` (from offset 0) at `iova`.
    pub fn map(&self, iova: u64, len: u64, path: &Path) -> Result<()> {
        self.table.map(iova, len, path, 0).map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                _ => ErrorKind::Memory,
            };
            Error::new(kind, "", e.to_string())
        })
    }

    /// Removes the mapping at `iova`; once this returns the device can no
    /// longer reach it (the simulator checks the table on every DMA).
    pub fn unmap(&self, iova: u64) -> Result<()> {
        self.table
            .unmap(iova)
            .map_err(|e| Error::new(ErrorKind::NotFound, "", e.to_string()))
    }

    /// Removes every mapping backed by the file `path` (a region whose
    /// owner died without unmapping it); returns how many were removed.
    pub fn unmap_path(&self, path: &Path) -> usize {
        self.table.unmap_path(path)
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
