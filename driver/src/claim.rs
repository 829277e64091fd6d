//! Who owns a port (docs/DESIGN.md 4, "Ownership and reclaim"): every program
//! that takes a device holds an exclusive `flock` on a lock file named
//! after the device for its whole life. The kernel releases the lock when
//! the process (and every worker forked from it) is gone, so a crash never
//! leaves a device locked. A second taker gets one line, "DEVICE is in use
//! by pid N (PROGRAM)", and a [`ErrorKind::Busy`] error (exit code 2).
//!
//! [`Owned::take`] is the whole sequence a program runs: refuse the same
//! device twice, claim every device, open and reset/initialise it, then
//! reclaim the DMA memory that dead owners left behind, before anything is
//! allocated.

use crate::error::{Error, ErrorKind, Result};
use crate::pci::PciAddress;
use crate::simdev::SimAddress;
use crate::{Device, InitConfig, OpenOptions};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the lock directory.
pub const ENV_LOCK_DIR: &str = "IXY_LOCK_DIR";
/// The lock directory when it can be created and written (root).
pub const RUN_LOCK_DIR: &str = "/run/ixy-mp";

/// The canonical name of a `--device` string: a PCI address in its full
/// form (`03:00.0` becomes `0000:03:00.0`), or `sim:LAB/PORT` with the
/// port as a plain number. Two strings name the same device exactly when
/// their canonical names are equal.
pub fn canonical(spec: &str) -> Result<String> {
    match spec.strip_prefix("sim:") {
        Some(sim) => Ok(SimAddress::parse(sim)?.to_string()),
        None => Ok(spec.parse::<PciAddress>()?.to_string()),
    }
}

/// The canonical names of `specs`; `InvalidInput` when one device appears
/// twice, under any spelling.
pub fn check_distinct(specs: &[String]) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = canonical(spec)?;
        if let Some(i) = names.iter().position(|n| *n == name) {
            let spelled = if specs[i] == *spec {
                String::new()
            } else {
                format!(" (as {:?} and {spec:?})", specs[i])
            };
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "",
                format!("--device {name} is given twice{spelled}: give each device once"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// The lock file name of a canonical device name: `0000:03:00.0.lock`, or
/// `sim-LAB-port-PORT.lock`.
fn lock_name(canonical: &str) -> String {
    match canonical
        .strip_prefix("sim:")
        .and_then(|s| s.rsplit_once('/'))
    {
        Some((lab, port)) => format!("sim-{lab}-port-{port}.lock"),
        None => format!("{canonical}.lock"),
    }
}

/// The lock directory: `$IXY_LOCK_DIR`, else `/run/ixy-mp` where it can be
/// created and written, else `TMPDIR/ixy-mp-locks-UID`.
pub fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(ENV_LOCK_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let run = Path::new(RUN_LOCK_DIR);
    let writable =
        make_dir(run).is_ok() && nix::unistd::access(run, nix::unistd::AccessFlags::W_OK).is_ok();
    if writable {
        return run.to_path_buf();
    }
    std::env::temp_dir().join(format!("ixy-mp-locks-{}", nix::unistd::getuid()))
}

/// Creates `dir` (mode 0755) unless it exists; it must then be a real
/// directory (not a link) owned by this user or root.
fn make_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = nix::unistd::getuid().as_raw();
    if !meta.is_dir() || (meta.uid() != uid && meta.uid() != 0) {
        return Err(std::io::Error::other(
            "not a directory owned by this user or root",
        ));
    }
    Ok(())
}

/// The exclusive ownership of one device, held until dropped (or until the
/// process and every child that inherited it are gone). Dropping it
/// unlocks the lock for every process sharing it, so a forked child must
/// not drop it: workers end with `std::process::exit`, which runs no
/// destructors.
#[derive(Debug)]
pub struct Claim {
    device: String,
    path: PathBuf,
    _lock: Flock<File>,
}

impl Claim {
    /// Claims the device `spec` for `program` in [`lock_dir`].
    pub fn take(spec: &str, program: &str) -> Result<Claim> {
        Self::take_in(&lock_dir(), spec, program)
    }

    /// Claims the device `spec` for `program` with lock files in `dir`:
    /// a non-blocking exclusive `flock` on `dir/NAME.lock`, which then
    /// holds "PID PROGRAM". `Busy` with the line "DEVICE is in use by pid N
    /// (PROGRAM)" when another process (or another claim of this one)
    /// holds it.
    pub fn take_in(dir: &Path, spec: &str, program: &str) -> Result<Claim> {
        let device = canonical(spec)?;
        make_dir(dir).map_err(|e| {
            Error::io(
                &device,
                format!("creating the lock directory {}", dir.display()),
                e,
            )
            .hint(format!("set {ENV_LOCK_DIR} to a directory of yours"))
        })?;
        let path = dir.join(lock_name(&device));
        // A holder removes its file when it lets go: a lock on a file that
        // is no longer the one at `path` is worth nothing, so try again.
        let mut tries = 0;
        let lock = loop {
            let lock = lock_file(&device, &path)?;
            let (held, named) = (lock.metadata(), std::fs::symlink_metadata(&path));
            if let (Ok(h), Ok(n)) = (held, named) {
                if (h.dev(), h.ino()) == (n.dev(), n.ino()) {
                    break lock;
                }
            }
            tries += 1;
            if tries == 100 {
                return Err(Error::new(
                    ErrorKind::Io,
                    &device,
                    format!("the lock file {} keeps being replaced", path.display()),
                ));
            }
        };
        let line = format!("{} {program}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.write_all_at(line.as_bytes(), 0))
            .map_err(|e| Error::io(&device, format!("writing {}", path.display()), e))?;
        log::debug!("{device}: claimed ({})", path.display());
        Ok(Claim {
            device,
            path,
            _lock: lock,
        })
    }

    /// The canonical name of the claimed device.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens (creating it) and locks the lock file `path` of `device`.
fn lock_file(device: &str, path: &Path) -> Result<Flock<File>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            Error::io(
                device,
                format!("opening the lock file {}", path.display()),
                e,
            )
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::new(
            ErrorKind::Busy,
            "",
            format!("{device} is in use by {}", holder(&file)),
        )),
        Err((_, errno)) => Err(Error::io(
            device,
            format!("locking {}", path.display()),
            errno.into(),
        )),
    }
}

impl Drop for Claim {
    /// Removes the lock file while still holding the lock (the field drops
    /// after this and unlocks): a taker that opened it meanwhile sees that
    /// it is stale. A holder that dies leaves its file, harmlessly.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// "pid N (PROGRAM)" from a lock file; the holder may be between taking
/// the lock and writing its line, so an empty file is read again briefly.
fn holder(mut file: &File) -> String {
    for _ in 0..50 {
        let mut text = String::new();
        let read = file
            .read_to_string(&mut text)
            .and_then(|_| std::io::Seek::rewind(&mut file));
        if read.is_ok() {
            let line = text.lines().next().unwrap_or("");
            if let Some((pid, program)) = line.split_once(' ') {
                if pid.parse::<u32>().is_ok() && !program.is_empty() {
                    return format!("pid {pid} ({program})");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    "another process".to_string()
}

/// Devices this process owns: claimed, opened, reset and initialised, with
/// the memory of their dead owners reclaimed. Derefs to the devices, in
/// the order given; the claims are released after the devices are dropped.
#[derive(Debug)]
pub struct Owned {
    devices: Vec<Device>,
    claims: Vec<Claim>,
}

impl Owned {
    /// Takes `specs` for `program`: checks that no device appears twice,
    /// claims them all (nothing is touched if one is in use), then opens
    /// and initialises each with `init` (the reset stops any DMA a former
    /// owner left running) and reclaims the DMA files of dead owners
    /// ([`crate::memory::DmaContext::reclaim_orphans`]).
    pub fn take(
        specs: &[String],
        opts: &OpenOptions,
        init: &InitConfig,
        program: &str,
    ) -> Result<Owned> {
        check_distinct(specs)?;
        let claims = specs
            .iter()
            .map(|spec| Claim::take(spec, program))
            .collect::<Result<Vec<_>>>()?;
        let mut devices = Vec::with_capacity(specs.len());
        for spec in specs {
            let dev = Device::open(spec, opts)?;
            dev.init(init)?;
            let reclaimed = dev.dma().reclaim_orphans()?;
            if reclaimed > 0 {
                log::info!(
                    "{}: reclaimed {reclaimed} DMA file(s) of processes that died",
                    dev.name()
                );
            }
            devices.push(dev);
        }
        Ok(Owned { devices, claims })
    }

    /// The claims held.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }
}

impl Drop for Owned {
    /// Resets the virtio devices and then frees the buffers their queues
    /// had to leave with them ([`crate::memory::release_kept`]): virtio
    /// cannot take buffers back from one queue, only a reset stops its DMA.
    fn drop(&mut self) {
        let virtio: Vec<&Device> = self
            .devices
            .iter()
            .filter(|d| d.virtio().is_some())
            .collect();
        if virtio.is_empty() {
            return;
        }
        for dev in virtio {
            if let Err(e) = dev.reset() {
                log::warn!("{e}; its buffers stay allocated");
                return;
            }
        }
        let n = crate::memory::release_kept();
        if n > 0 {
            log::debug!("{n} DMA region(s) freed after the virtio reset");
        }
    }
}

impl std::ops::Deref for Owned {
    type Target = [Device];

    fn deref(&self) -> &[Device] {
        &self.devices
    }
}

impl<'a> IntoIterator for &'a Owned {
    type Item = &'a Device;
    type IntoIter = std::slice::Iter<'a, Device>;

    fn into_iter(self) -> Self::IntoIter {
        self.devices.iter()
    }
}
