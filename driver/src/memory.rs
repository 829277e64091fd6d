//! DMA memory (docs/DESIGN.md 4): hugepage-backed regions with the bus address
//! the NIC uses for them, mapped into the device's IOMMU when it has one.
//!
//! A [`DmaRegion`] is (virtual address, bus address, length, backing file).
//! Bus addresses are IOVAs for VFIO and the simulator, handed out by an
//! [`IovaAllocator`] that every process of a device shares, or physical
//! addresses from `/proc/self/pagemap` for the sysfs backend. Regions live in
//! files on hugetlbfs (2 MiB pages); only the simulator may fall back to
//! `/dev/shm` when no hugepages are set up. Dropping a region unmaps it from
//! the IOMMU first, then from memory, then deletes its file.

use crate::error::{Error, ErrorKind, Result};
use crate::shm::SharedMap;
use crate::vfio::Vfio;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Size of a huge page.
pub const HUGE_PAGE: usize = 2 * 1024 * 1024;
/// Where hugetlbfs is mounted unless /proc/mounts says otherwise.
pub const DEFAULT_HUGE_MOUNT: &str = "/mnt/huge";
/// Where simulator DMA memory goes when no hugepages are set up.
pub const SHM_FALLBACK_DIR: &str = "/dev/shm/ixy-dma";
/// Set to `off` to make the simulator backend use the `/dev/shm` fallback
/// even when hugepages exist (tests run both ways).
pub const ENV_HUGEPAGES: &str = "IXY_HUGEPAGES";
/// First IOVA handed out: clear of address 0 and of the 32-bit range.
pub const FIRST_IOVA: u64 = 1 << 32;

/// Hands out IOVAs, in 2 MiB steps, from a counter in shared memory.
#[derive(Debug, Clone)]
pub struct IovaAllocator {
    map: Arc<SharedMap>,
    offset: usize,
}

impl IovaAllocator {
    /// A counter in anonymous shared memory: create it before `fork` and
    /// every child allocates from the same space.
    pub fn anonymous() -> Result<Self> {
        let map = SharedMap::anonymous(4096)
            .map_err(|e| Error::new(ErrorKind::Memory, "", "IOVA allocator").source(e))?;
        map.u64_at(0).store(FIRST_IOVA, Ordering::Release);
        Ok(IovaAllocator {
            map: Arc::new(map),
            offset: 0,
        })
    }

    /// The counter at byte `offset` of an existing shared mapping (the
    /// simulator's IOMMU table keeps one for the whole lab).
    pub fn in_shared(map: Arc<SharedMap>, offset: usize) -> Self {
        let counter = map.u64_at(offset);
        // A fresh table holds 0: start at FIRST_IOVA (only one wins).
        let _ = counter.compare_exchange(0, FIRST_IOVA, Ordering::AcqRel, Ordering::Acquire);
        IovaAllocator { map, offset }
    }

    /// Reserves `len` bytes of IOVA space, 2 MiB aligned.
    pub fn alloc(&self, len: usize) -> u64 {
        let len = len.div_ceil(HUGE_PAGE) as u64 * HUGE_PAGE as u64;
        self.map
            .u64_at(self.offset)
            .fetch_add(len, Ordering::AcqRel)
    }
}

/// How bus addresses are made: which IOMMU (if any) the device sits behind.
#[derive(Debug, Clone)]
pub enum Mapper {
    /// No IOMMU (sysfs backend): physical addresses from /proc/self/pagemap.
    Physical,
    /// VFIO: IOVAs mapped with `VFIO_IOMMU_MAP_DMA`.
    Vfio(Arc<Vfio>, IovaAllocator),
    /// The simulator: IOVAs registered in the lab's IOMMU table.
    Sim(Arc<crate::simdev::IommuTable>, IovaAllocator),
}

impl Mapper {
    fn is_sim(&self) -> bool {
        matches!(self, Mapper::Sim(..))
    }
}

/// Bus address(es) of a region.
#[derive(Debug, Clone)]
enum Bus {
    /// One contiguous IOVA range.
    Iova(u64),
    /// The physical address of each 2 MiB page.
    Pages(Vec<u64>),
}

/// Where this process records the DMA regions it allocates, one line
/// `IOVA LEN PATH` each (IOVA 0 for physical memory). A worker sets it so
/// that the supervisor can reclaim the memory of a worker that died
/// ([`DmaContext::reclaim`]).
static MANIFEST: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Records every region this process allocates from now on in `path`.
pub fn set_manifest(path: &Path) {
    if let Ok(mut m) = MANIFEST.lock() {
        *m = Some(path.to_path_buf());
    }
}

fn record(iova: u64, len: usize, path: &Path) {
    use std::io::Write;
    let Ok(guard) = MANIFEST.lock() else { return };
    let Some(manifest) = guard.as_ref() else {
        return;
    };
    let line = format!("{iova:#x} {len} {}\n", path.display());
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(manifest)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        log::warn!(
            "cannot record DMA region {} in {}: {e}",
            path.display(),
            manifest.display()
        );
    }
}

/// A DMA-able memory region.
#[derive(Debug)]
pub struct DmaRegion {
    map: SharedMap,
    bus: Bus,
    path: PathBuf,
    mapper: Mapper,
}

/// Where DMA memory goes, and how it is made visible to the device.
#[derive(Debug, Clone)]
pub struct DmaContext {
    /// The device's IOMMU situation.
    pub mapper: Mapper,
    /// Directory of the backing files (a hugetlbfs mount, or the fallback).
    pub dir: PathBuf,
    /// Whether `dir` is hugetlbfs (files are then sized in 2 MiB pages).
    pub huge: bool,
    /// Device name for error messages.
    pub device: String,
}

/// The hugetlbfs mount to use: the first one in /proc/mounts, if any.
pub fn hugetlbfs_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, fs) = (f.next()?, f.next()?, f.next()?);
            (fs == "hugetlbfs").then(|| PathBuf::from(dir))
        })
        .find(|dir| dir.as_os_str() == DEFAULT_HUGE_MOUNT)
        .or_else(|| {
            mounts.lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(2) == Some(&"hugetlbfs")).then(|| PathBuf::from(f[1]))
            })
        })
}

fn free_hugepages() -> usize {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl DmaContext {
    /// Chooses where DMA memory lives for a device behind `mapper`:
    /// hugetlbfs when mounted with free pages, else (simulator only) the
    /// `/dev/shm` fallback with a one-line warning.
    pub fn new(device: &str, mapper: Mapper) -> Result<Self> {
        let forced_off = std::env::var(ENV_HUGEPAGES).is_ok_and(|v| v == "off");
        let huge = if forced_off && mapper.is_sim() {
            None
        } else {
            hugetlbfs_mount()
        };
        match huge {
            Some(dir) if free_hugepages() > 0 || !mapper.is_sim() => Ok(DmaContext {
                mapper,
                dir,
                huge: true,
                device: device.to_string(),
            }),
            _ if mapper.is_sim() => {
                if !forced_off {
                    log::warn!("{device}: no free 2 MiB hugepages on a hugetlbfs mount; simulator DMA memory falls back to {SHM_FALLBACK_DIR} (run scripts/setup-hugepages.sh)");
                }
                std::fs::create_dir_all(SHM_FALLBACK_DIR)
                    .map_err(|e| Error::io(device, format!("creating {SHM_FALLBACK_DIR}"), e))?;
                Ok(DmaContext {
                    mapper,
                    dir: PathBuf::from(SHM_FALLBACK_DIR),
                    huge: false,
                    device: device.to_string(),
                })
            }
            _ => Err(Error::new(
                ErrorKind::Memory,
                device,
                "no hugetlbfs mount with 2 MiB pages",
            )
            .hint("run 'sudo scripts/setup-hugepages.sh' (512 pages on /mnt/huge)")),
        }
    }

    /// Allocates a region of at least `len` bytes, named after `tag` (the
    /// owner, e.g. `w3-rx0`) so that a supervisor can find a dead
    /// worker's files, and maps it for the device. The file is
    /// `ixy-DEVICE-TAG-PID-SEQ`: it names its owner pid, so that
    /// [`DmaContext::reclaim_orphans`] can tell when the owner is gone.
    pub fn alloc(&self, tag: &str, len: usize) -> Result<DmaRegion> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let unit = if self.huge { HUGE_PAGE } else { 4096 };
        let len = len.max(1).div_ceil(unit) * unit;
        let path = self.dir.join(format!(
            "{}{tag}-{}-{}",
            self.file_prefix(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let err = |what: &str, e: std::io::Error| {
            Error::io(&self.device, format!("{what} {}", path.display()), e)
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| err("creating DMA file", e))?;
        let cleanup = |e: Error| {
            let _ = std::fs::remove_file(&path);
            e
        };
        file.set_len(len as u64)
            .map_err(|e| cleanup(err("sizing DMA file", e)))?;
        let map = SharedMap::file(&file, 0, len).map_err(|e| {
            cleanup(
                Error::new(
                    ErrorKind::Memory,
                    &self.device,
                    format!("mapping {len} bytes of DMA memory"),
                )
                .source(e)
                .hint(
                    "not enough free hugepages? see /proc/meminfo and scripts/setup-hugepages.sh",
                ),
            )
        })?;
        let bus = match &self.mapper {
            Mapper::Physical => Bus::Pages(physical_pages(&map, &self.device).map_err(cleanup)?),
            Mapper::Vfio(vfio, iova) => {
                let at = iova.alloc(len);
                vfio.map_dma(map.as_ptr(), at, len).map_err(cleanup)?;
                Bus::Iova(at)
            }
            Mapper::Sim(table, iova) => {
                let at = iova.alloc(len);
                table.map(at, len as u64, &path).map_err(cleanup)?;
                Bus::Iova(at)
            }
        };
        log::debug!(
            "{}: DMA region {} ({len} bytes) at bus {:?}",
            self.device,
            path.display(),
            bus
        );
        record(if let Bus::Iova(at) = bus { at } else { 0 }, len, &path);
        Ok(DmaRegion {
            map,
            bus,
            path,
            mapper: self.mapper.clone(),
        })
    }
}

impl DmaContext {
    /// Reclaims the DMA memory another process of this device recorded in
    /// `manifest` (see [`set_manifest`]) and did not free: unmaps each
    /// region from the IOMMU, then deletes its file. Call it only once that
    /// process's queues read back disabled (docs/DESIGN.md 4). Returns how many
    /// regions were reclaimed; the manifest is removed.
    pub fn reclaim(&self, manifest: &Path) -> Result<usize> {
        let text = match std::fs::read_to_string(manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(Error::io(
                    &self.device,
                    format!("reading {}", manifest.display()),
                    e,
                ))
            }
        };
        let mut reclaimed = 0;
        for line in text.lines() {
            let mut f = line.splitn(3, ' ');
            let (Some(iova), Some(len), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let path = Path::new(path);
            if !path.exists() {
                continue; // freed by its owner
            }
            let iova = u64::from_str_radix(iova.trim_start_matches("0x"), 16).unwrap_or(0);
            let len: usize = len.parse().unwrap_or(0);
            let unmapped = match &self.mapper {
                Mapper::Vfio(vfio, _) if iova != 0 => vfio.unmap_dma(iova, len),
                Mapper::Sim(table, _) if iova != 0 => table.unmap(iova),
                _ => Ok(()),
            };
            if let Err(e) = unmapped {
                log::debug!("{}: reclaiming {}: {e}", self.device, path.display());
            }
            std::fs::remove_file(path)
                .map_err(|e| Error::io(&self.device, format!("removing {}", path.display()), e))?;
            reclaimed += 1;
        }
        let _ = std::fs::remove_file(manifest);
        Ok(reclaimed)
    }
}

impl DmaContext {
    /// The name prefix of this device's DMA files: `ixy-DEVICE-` (see
    /// [`DmaContext::alloc`]).
    fn file_prefix(&self) -> String {
        format!("ixy-{}-", dma_device_name(&self.device))
    }

    /// Reclaims the DMA memory that dead processes left behind on this
    /// device (docs/DESIGN.md 4, "Ownership and reclaim"): every file
    /// `ixy-DEVICE-TAG-PID-SEQ` whose owner PID no longer exists is
    /// unmapped from the IOMMU (the simulator's table; VFIO mappings die
    /// with their process) and deleted. Files of live processes are kept.
    ///
    /// Call it only while holding the device's [`crate::claim::Claim`] and
    /// after resetting the device ([`crate::Device::init`]), so that no
    /// queue can still reach that memory, and before allocating anything.
    /// Returns how many files were reclaimed.
    pub fn reclaim_orphans(&self) -> Result<usize> {
        let mut dirs = vec![self.dir.clone()];
        let fallback = Path::new(SHM_FALLBACK_DIR);
        if self.mapper.is_sim() && self.dir != fallback && fallback.is_dir() {
            dirs.push(fallback.to_path_buf()); // an earlier run without hugepages
        }
        let prefix = self.file_prefix();
        let mut reclaimed = 0;
        for dir in dirs {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Error::io(&self.device, format!("listing {}", dir.display()), e))?;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| owner_pid(n, &prefix)) else {
                    continue;
                };
                if process_alive(pid) {
                    continue;
                }
                let path = dir.join(&name);
                if let Mapper::Sim(table, _) = &self.mapper {
                    table.unmap_path(&path);
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => reclaimed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::io(
                            &self.device,
                            format!("removing the orphaned DMA file {}", path.display()),
                            e,
                        ))
                    }
                }
            }
        }
        Ok(reclaimed)
    }
}

/// A DMA file as [`DmaContext::alloc`] names it: `ixy-DEVICE-TAG-PID-SEQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmaFile {
    /// Its path.
    pub path: PathBuf,
    /// The device it belongs to, as file names spell it ([`dma_device_name`]).
    pub device: String,
    /// The process that allocated it.
    pub owner: i32,
}

/// How DMA file names spell `device` (a `--device` string): every
/// character but letters and digits becomes `_`.
pub fn dma_device_name(device: &str) -> String {
    sanitize(device)
}

/// Every DMA file in the directories DMA memory is allocated in (the
/// hugetlbfs mount and the `/dev/shm` fallback), for tools and tests that
/// check what is left behind.
pub fn dma_files() -> Vec<DmaFile> {
    let dirs = [
        hugetlbfs_mount().unwrap_or_else(|| PathBuf::from(DEFAULT_HUGE_MOUNT)),
        PathBuf::from(SHM_FALLBACK_DIR),
    ];
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (device, _) = name.strip_prefix("ixy-")?.split_once('-')?;
            let owner = owner_pid(&name, &format!("ixy-{device}-"))?;
            Some(DmaFile {
                path: e.path(),
                device: device.to_string(),
                owner,
            })
        })
        .collect()
}

/// The owner pid of a DMA file named `PREFIX-TAG-PID-SEQ` (the tag may
/// contain '-'); `None` for any other name.
fn owner_pid(name: &str, prefix: &str) -> Option<i32> {
    let rest = name.strip_prefix(prefix)?;
    let mut fields = rest.rsplitn(3, '-');
    let (seq, pid, tag) = (fields.next()?, fields.next()?, fields.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if tag.is_empty() || !digits(seq) || !digits(pid) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Whether process `pid` exists and has not exited (signal 0: ESRCH means
/// it does not exist). A zombie has exited: its memory is gone, only its
/// exit status waits for a reaper, which for a worker orphaned by a
/// `kill -9` of its supervisor may be an init that never reaps.
fn process_alive(pid: i32) -> bool {
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        == Err(nix::errno::Errno::ESRCH)
    {
        return false;
    }
    // /proc/PID/stat: "PID (COMM) STATE ..."; COMM may hold ')' and blanks.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Physical address of every 2 MiB page of `map` (pinned by MAP_POPULATE
/// on hugetlbfs, which never migrates), from /proc/self/pagemap.
fn physical_pages(map: &SharedMap, device: &str) -> Result<Vec<u64>> {
    let pagemap = File::open("/proc/self/pagemap")
        .map_err(|e| Error::io(device, "opening /proc/self/pagemap", e))?;
    (0..map.len().div_ceil(HUGE_PAGE))
        .map(|i| {
            virt_to_phys(&pagemap, map.as_ptr() as usize + i * HUGE_PAGE)
                .map_err(|e| e.with_device(device))
        })
        .collect()
}

/// Translates a virtual address with /proc/self/pagemap (root only: the
/// frame number reads as 0 otherwise).
pub fn virt_to_phys(pagemap: &File, virt: usize) -> Result<u64> {
    let page = 4096;
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (virt / page * 8) as u64)
        .map_err(|e| Error::io("", "reading /proc/self/pagemap", e))?;
    let entry = u64::from_le_bytes(entry);
    let pfn = entry & ((1 << 55) - 1);
    if entry & (1 << 63) == 0 || pfn == 0 {
        return Err(Error::new(
            ErrorKind::Permission,
            "",
            "no physical address for DMA memory (page not present or pagemap hides it)",
        )
        .hint("the sysfs backend needs root; or bind the device to vfio-pci"));
    }
    Ok(pfn * page as u64 + (virt % page) as u64)
}

impl DmaRegion {
    /// Virtual address of the start.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the region is empty (never).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The backing file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bus address of byte `offset`. Objects must not cross a 2 MiB
    /// boundary on the sysfs backend (pages are not physically contiguous).
    pub fn bus_addr(&self, offset: usize) -> u64 {
        match &self.bus {
            Bus::Iova(base) => base + offset as u64,
            Bus::Pages(pages) => pages[offset / HUGE_PAGE] + (offset % HUGE_PAGE) as u64,
        }
    }

    /// The shared mapping, for atomic descriptor access.
    pub fn mem(&self) -> &SharedMap {
        &self.map
    }
}

/// Regions given up while a device may still write them
/// ([`DmaRegion::keep`]), freed by [`release_kept`].
static KEPT: std::sync::Mutex<Vec<DmaRegion>> = std::sync::Mutex::new(Vec::new());

impl DmaRegion {
    /// Gives the region up without freeing it: the mapping, the IOMMU
    /// entry and the file stay, for a device that may still write it,
    /// until [`release_kept`] after the device's reset. If the process
    /// ends first (a worker exits without destructors), the file stays
    /// until a supervisor reclaims it from the manifest after the reset.
    pub fn keep(self) {
        log::debug!(
            "DMA region {}: kept for a device that may still write it",
            self.path.display()
        );
        KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(self);
    }
}

/// Frees the regions this process kept for devices that could not stop
/// writing them ([`DmaRegion::keep`]). Call it once every such device is
/// reset ([`crate::Owned`] does when dropped). Returns how many.
pub fn release_kept() -> usize {
    let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|e| e.into_inner()));
    let n = kept.len();
    drop(kept);
    n
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        // The IOMMU first, so the device can no longer reach the memory.
        let result = match (&self.mapper, &self.bus) {
            (Mapper::Vfio(vfio, _), Bus::Iova(at)) => vfio.unmap_dma(*at, self.map.len()),
            (Mapper::Sim(table, _), Bus::Iova(at)) => table.unmap(*at),
            _ => Ok(()),
        };
        if let Err(e) = result {
            log::warn!("DMA region {}: {e}", self.path.display());
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::warn!(
                "DMA region {}: cannot remove the file: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_files_are_listed_with_their_device_and_owner() {
        std::fs::create_dir_all(SHM_FALLBACK_DIR).expect("fallback dir");
        let device = format!("sim:list-{}/0", std::process::id());
        let name = format!("ixy-{}-w1-rxring0-4242-7", dma_device_name(&device));
        let path = Path::new(SHM_FALLBACK_DIR).join(&name);
        std::fs::write(&path, b"").expect("a DMA file");
        let found: Vec<DmaFile> = dma_files()
            .into_iter()
            .filter(|f| f.device == dma_device_name(&device))
            .collect();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            found,
            vec![DmaFile {
                path,
                device: dma_device_name(&device),
                owner: 4242
            }]
        );
    }

    #[test]
    fn a_zombie_owns_nothing() {
        assert!(process_alive(std::process::id() as i32));
        // A child that exited and is not reaped yet: a zombie, as a worker
        // orphaned by a supervisor's kill -9 stays under a lazy init.
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id() as i32;
        // Waits for the exit and leaves the child unreaped (WNOWAIT).
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        let id = Id::Pid(nix::unistd::Pid::from_raw(pid));
        waitid(id, WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).expect("waitid");
        assert!(!process_alive(pid), "a zombie counts as dead");
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_ok(),
            "still a zombie"
        );
        child.wait().expect("reaped");
        assert!(!process_alive(pid));
    }

    #[test]
    fn dma_file_names_give_their_owner_pid() {
        let p = "ixy-sim_L_0-";
        assert_eq!(owner_pid("ixy-sim_L_0-w1-rxring1-4242-7", p), Some(4242));
        assert_eq!(owner_pid("ixy-sim_L_0-pool-1-0", p), Some(1));
        // Another device, other files, malformed names.
        for other in [
            "ixy-sim_L_1-pool-4242-0",
            "ixy-sim_L_0_1-pool-4242-0",
            "ixy-sim_L_0-4242-0",
            "ixy-sim_L_0-pool-42x-0",
            "ixy-sim_L_0-pool-0-0",
            "ixy-sim_L_0-pool-4242-",
            "rtemap_0",
        ] {
            assert_eq!(owner_pid(other, p), None, "{other}");
        }
    }
}
