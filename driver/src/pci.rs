//! PCI devices through sysfs: addresses, identification, the checks made
//! before a device is touched, and the `resource0` mapping of the sysfs
//! backend (docs/DESIGN.md 3).
//!
//! Everything here reads or writes files under a sysfs root, by default
//! `/sys/bus/pci/devices`; [`PciDevice::open_at`] takes another root so the
//! tests can build a fake tree. The files used are those of the kernel's
//! sysfs PCI ABI (`Documentation/ABI/testing/sysfs-bus-pci`): `vendor`,
//! `device`, `numa_node`, `config`, `resource0`, and the `driver` and
//! `iommu_group` symlinks.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::str::FromStr;

use nix::sys::mman::{mmap, MapFlags, ProtFlags};

use crate::error::{Error, ErrorKind, Result};

/// Where the kernel lists PCI devices, one directory (a symlink) per address.
pub const SYSFS_PCI_DEVICES: &str = "/sys/bus/pci/devices";

/// PCI vendor id of Intel.
pub const INTEL_VENDOR_ID: u16 = 0x8086;

/// Name of the kernel driver that hands a device to user space through VFIO.
pub const VFIO_PCI_DRIVER: &str = "vfio-pci";

/// Offset of the 16-bit Command register in configuration space (PCI Local
/// Bus Specification 3.0, 6.2.2; 82599 datasheet 9.3.3).
pub const PCI_COMMAND: u64 = 0x04;

/// Command register: Bus Master Enable, lets the function issue memory
/// requests, i.e. DMA (PCI Local Bus Specification 3.0, 6.2.2).
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// The physical functions this driver programs: device ids of the 82599
/// family (X520 adapters carry 82599 silicon), X540 and X550, with their
/// names as in Linux `ixgbe_type.h` (`IXGBE_DEV_ID_*`).
///
/// Left out on purpose: the 82598 (a different register layout) and the
/// virtual functions (`*_VF`, driven by ixgbevf, with a VF register set).
pub const SUPPORTED: &[(u16, &str)] = &[
    // 82599 / X520
    (0x10F7, "82599_KX4"),
    (0x1514, "82599_KX4_MEZZ"),
    (0x1517, "82599_KR"),
    (0x151C, "82599_T3_LOM"),
    (0x10F9, "82599_CX4"),
    (0x10FB, "82599_SFP"),
    (0x152A, "82599_BACKPLANE_FCOE"),
    (0x1529, "82599_SFP_FCOE"),
    (0x1507, "82599_SFP_EM"),
    (0x154D, "82599_SFP_SF2"),
    (0x1557, "82599EN_SFP"),
    (0x10FC, "82599_XAUI_LOM"),
    (0x10F8, "82599_COMBO_BACKPLANE"),
    (0x154F, "82599_LS"),
    (0x154A, "82599_SFP_SF_QP"),
    (0x1558, "82599_QSFP_SF_QP"),
    // X540
    (0x1528, "X540T"),
    (0x1560, "X540T1"),
    // X550
    (0x1563, "X550T"),
    (0x15D1, "X550T1"),
    (0x15AA, "X550EM_X_KX4"),
    (0x15AB, "X550EM_X_KR"),
    (0x15AC, "X550EM_X_SFP"),
    (0x15AD, "X550EM_X_10G_T"),
    (0x15AE, "X550EM_X_1G_T"),
    (0x15B0, "X550EM_X_XFI"),
    (0x15C2, "X550EM_A_KR"),
    (0x15C3, "X550EM_A_KR_L"),
    (0x15C4, "X550EM_A_SFP_N"),
    (0x15C6, "X550EM_A_SGMII"),
    (0x15C7, "X550EM_A_SGMII_L"),
    (0x15C8, "X550EM_A_10G_T"),
    (0x15CE, "X550EM_A_SFP"),
    (0x15E4, "X550EM_A_1G_T"),
    (0x15E5, "X550EM_A_1G_T_L"),
];

/// The name of a supported Intel device id, `None` when this driver does
/// not know the id.
pub fn device_name(id: u16) -> Option<&'static str> {
    SUPPORTED
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, name)| *name)
}

/// A PCI address, `domain:bus:device.function`, as sysfs and `lspci -D`
/// print it (PCI Firmware Specification: segment group, bus, device,
/// function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI domain (segment group).
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=0x1f.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

const ADDRESS_FORM: &str =
    "expected DDDD:BB:DD.F or BB:DD.F in hexadecimal (device <= 1f, function <= 7), e.g. 0000:03:00.0";

/// Parses exactly `digits` hexadecimal digits (no sign, no prefix).
fn parse_hex_field(field: &str, digits: usize) -> Option<u32> {
    if field.len() != digits || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(field, 16).ok()
}

impl FromStr for PciAddress {
    type Err = Error;

    /// Accepts `0000:03:00.0` and `03:00.0` (domain 0), hex digits of either
    /// case, with exactly 4, 2, 2 and 1 digits per field.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidInput,
                "",
                format!("invalid PCI address \"{s}\": {why}; {ADDRESS_FORM}"),
            )
            .hint("list the PCI devices with their full addresses with `lspci -D`")
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, devfn) = match parts.as_slice() {
            [d, b, df] => (
                parse_hex_field(d, 4).ok_or_else(|| bad("the domain is not 4 hex digits"))?,
                *b,
                *df,
            ),
            [b, df] => (0, *b, *df),
            _ => return Err(bad("wrong number of ':'-separated fields")),
        };
        let bus = parse_hex_field(bus, 2).ok_or_else(|| bad("the bus is not 2 hex digits"))?;
        let (dev, func) = devfn
            .split_once('.')
            .ok_or_else(|| bad("missing '.' between device and function"))?;
        let device =
            parse_hex_field(dev, 2).ok_or_else(|| bad("the device is not 2 hex digits"))?;
        if device > 0x1f {
            return Err(bad("the device number is above 1f"));
        }
        let function =
            parse_hex_field(func, 1).ok_or_else(|| bad("the function is not 1 hex digit"))?;
        if function > 7 {
            return Err(bad("the function number is above 7"));
        }
        // The field widths above bound every value to its type.
        Ok(PciAddress {
            domain: domain as u16,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl fmt::Display for PciAddress {
    /// The full form, `0000:03:00.0`, as sysfs names the device directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// A PCI function as sysfs describes it, read once at [`PciDevice::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciDevice {
    /// The device's address.
    pub address: PciAddress,
    /// Its sysfs directory, e.g. `/sys/bus/pci/devices/0000:03:00.0`.
    pub sysfs: PathBuf,
    /// Vendor id (`vendor`).
    pub vendor: u16,
    /// Device id (`device`).
    pub device_id: u16,
    /// Name of the bound kernel driver (`driver` symlink), `None` if unbound.
    pub driver: Option<String>,
    /// NUMA node of the device (`numa_node`), `None` when the kernel reports
    /// -1 or the file is absent (no NUMA).
    pub numa_node: Option<u32>,
    /// IOMMU group (`iommu_group` symlink), `None` without an IOMMU.
    pub iommu_group: Option<u32>,
}

impl PciDevice {
    /// Reads the device at `addr` from `/sys/bus/pci/devices`.
    pub fn open(addr: &PciAddress) -> Result<Self> {
        Self::open_at(Path::new(SYSFS_PCI_DEVICES), addr)
    }

    /// Reads the device at `addr` from a sysfs device list rooted at `root`
    /// (a directory holding one directory per address).
    pub fn open_at(root: &Path, addr: &PciAddress) -> Result<Self> {
        let name = addr.to_string();
        let sysfs = root.join(&name);
        log::debug!("{name}: looking up the device in {}", sysfs.display());
        match fs::metadata(&sysfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    &name,
                    format!("{} is not a device directory", sysfs.display()),
                )
                .hint("list the PCI devices with `lspci -D`"))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    &name,
                    format!("no such PCI device ({} does not exist)", sysfs.display()),
                )
                .hint("list the PCI devices with `lspci -D` and pass one of their addresses"))
            }
            Err(e) => return Err(Error::io(&name, format!("reading {}", sysfs.display()), e)),
        }

        let vendor = read_id(&name, &sysfs, "vendor")?;
        let device_id = read_id(&name, &sysfs, "device")?;
        log::debug!("{name}: vendor {vendor:#06x}, device {device_id:#06x}");
        let driver = read_link_name(&name, &sysfs, "driver")?;
        log::debug!(
            "{name}: kernel driver {}",
            driver.as_deref().unwrap_or("(none)")
        );
        let numa_node = read_numa_node(&name, &sysfs)?;
        log::debug!("{name}: NUMA node {numa_node:?}");
        let iommu_group = match read_link_name(&name, &sysfs, "iommu_group")? {
            None => None,
            Some(g) => Some(g.parse::<u32>().map_err(|_| {
                Error::new(
                    ErrorKind::Io,
                    &name,
                    format!(
                        "{}/iommu_group points to \"{g}\", not a numbered IOMMU group",
                        sysfs.display()
                    ),
                )
            })?),
        };
        log::debug!("{name}: IOMMU group {iommu_group:?}");

        Ok(PciDevice {
            address: *addr,
            sysfs,
            vendor,
            device_id,
            driver,
            numa_node,
            iommu_group,
        })
    }

    fn name(&self) -> String {
        self.address.to_string()
    }

    /// Fails with [`ErrorKind::Unsupported`] unless the device is an Intel
    /// device listed in [`SUPPORTED`].
    pub fn check_supported(&self) -> Result<()> {
        if self.vendor == INTEL_VENDOR_ID {
            if let Some(model) = device_name(self.device_id) {
                log::debug!(
                    "{}: supported ixgbe device {model} ({:#06x})",
                    self.name(),
                    self.device_id
                );
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            self.name(),
            format!(
                "not a supported ixgbe device: found vendor {:04x} device {:04x}, \
                 expected vendor 8086 with an 82599/X520/X540/X550 device id",
                self.vendor, self.device_id
            ),
        )
        .hint("check the address with `lspci -D -nn -d 8086:`"))
    }

    /// Fails with [`ErrorKind::Busy`] when a kernel driver other than
    /// vfio-pci is bound to the device, unless `force` is set (then it only
    /// logs a warning: both the kernel and this driver would program it).
    pub fn check_unbound(&self, force: bool) -> Result<()> {
        let name = self.name();
        match self.driver.as_deref() {
            None => {
                log::debug!("{name}: no kernel driver bound");
                Ok(())
            }
            Some(VFIO_PCI_DRIVER) => {
                log::debug!("{name}: bound to vfio-pci");
                Ok(())
            }
            Some(drv) if force => {
                log::warn!(
                    "{name}: kernel driver {drv} is still bound; going on because of --force"
                );
                Ok(())
            }
            Some(drv) => {
                let dir = self.sysfs.display();
                Err(Error::new(
                    ErrorKind::Busy,
                    &name,
                    format!("the kernel driver {drv} is bound to the device"),
                )
                .hint(format!(
                    "as root, unbind it with `echo {name} > {dir}/driver/unbind` \
                     (then, for VFIO, `echo vfio-pci > {dir}/driver_override` and \
                     `echo {name} > /sys/bus/pci/drivers_probe`), or pass --force to use it anyway"
                )))
            }
        }
    }

    /// Sets Bus Master Enable in the Command register through the sysfs
    /// `config` file, so the device may DMA.
    pub fn enable_bus_master(&self) -> Result<()> {
        let name = self.name();
        let path = self.sysfs.join("config");
        log::debug!("{name}: enabling bus mastering through {}", path.display());
        let config = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                let err = Error::io(&name, format!("opening {}", path.display()), e);
                match err.kind() {
                    ErrorKind::Permission => err.hint("run as root, or use the VFIO backend"),
                    _ => err,
                }
            })?;
        set_bus_master(&name, &config, 0, &path.display().to_string())
    }

    /// Maps BAR0 through the sysfs `resource0` file; see
    /// [`PciDevice::map_resource`].
    pub fn map_resource0(&self) -> Result<(NonNull<u8>, usize)> {
        self.map_resource(0)
    }

    /// Maps memory BAR `bar` through the sysfs `resource<bar>` file,
    /// read-write and shared, over the file's whole length; returns the
    /// address and the length.
    ///
    /// The caller owns the mapping and must `munmap` it with that length when
    /// done. Needs root (CAP_SYS_ADMIN); without it this fails with
    /// [`ErrorKind::Permission`].
    pub fn map_resource(&self, bar: u32) -> Result<(NonNull<u8>, usize)> {
        let name = self.name();
        let path = self.sysfs.join(format!("resource{bar}"));
        log::debug!("{name}: mapping BAR{bar} from {}", path.display());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| resource_open_error(&name, &path, bar, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&name, format!("reading the size of {}", path.display()), e))?
            .len();
        let len = usize::try_from(len)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Hardware,
                    &name,
                    format!("{} has length {len}, cannot map BAR{bar}", path.display()),
                )
                .hint("check the device's BARs with `lspci -vv -s ADDRESS`")
            })?;
        let ptr = map_shared(&name, &file, len, 0, &path.display().to_string())?;
        log::debug!("{name}: BAR{bar} mapped, {} bytes at {ptr:p}", len.get());
        Ok((ptr, len.get()))
    }

    /// Reads `out.len()` bytes of configuration space from `offset`
    /// through the sysfs `config` file (beyond the first 64 bytes, root
    /// only).
    pub fn read_config(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let path = self.sysfs.join("config");
        let file = File::open(&path)
            .map_err(|e| Error::io(self.name(), format!("opening {}", path.display()), e))?;
        file.read_exact_at(out, offset)
            .map_err(|e| Error::io(self.name(), format!("reading {}", path.display()), e))
    }
}

/// The error for a failed open of `resource<bar>`, with what to do about it.
fn resource_open_error(name: &str, path: &Path, bar: u32, e: io::Error) -> Error {
    let err = Error::io(name, format!("opening {}", path.display()), e);
    match err.kind() {
        ErrorKind::Permission => err.hint(
            "mapping resource0 needs root: run as root, or bind the device to vfio-pci \
             and use the VFIO backend",
        ),
        ErrorKind::NotFound => err.hint(format!("the device has no memory BAR{bar}")),
        _ => err,
    }
}

/// Reads a sysfs id file such as `vendor` ("0x8086\n").
fn read_id(name: &str, dir: &Path, file: &str) -> Result<u16> {
    let path = dir.join(file);
    let text = fs::read_to_string(&path)
        .map_err(|e| Error::io(name, format!("reading {}", path.display()), e))?;
    let t = text.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    u16::from_str_radix(digits, 16).map_err(|_| {
        Error::new(
            ErrorKind::Io,
            name,
            format!("{} holds \"{t}\", not a 16-bit hex id", path.display()),
        )
    })
}

/// The last component of the symlink `dir/link`, `None` if there is none.
fn read_link_name(name: &str, dir: &Path, link: &str) -> Result<Option<String>> {
    let path = dir.join(link);
    match fs::read_link(&path) {
        Ok(target) => match target.file_name().and_then(|n| n.to_str()) {
            Some(n) => Ok(Some(n.to_string())),
            None => Err(Error::new(
                ErrorKind::Io,
                name,
                format!(
                    "{} points to {}, which has no usable name",
                    path.display(),
                    target.display()
                ),
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(name, format!("reading {}", path.display()), e)),
    }
}

/// `numa_node`: a node number, or -1 when the platform does not say.
fn read_numa_node(name: &str, dir: &Path) -> Result<Option<u32>> {
    let path = dir.join("numa_node");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(name, format!("reading {}", path.display()), e)),
    };
    let t = text.trim();
    match t.parse::<i64>() {
        Ok(n) if n < 0 => Ok(None),
        Ok(n) => u32::try_from(n).map(Some).map_err(|_| {
            Error::new(
                ErrorKind::Io,
                name,
                format!("{} holds {n}, out of range", path.display()),
            )
        }),
        Err(_) => Err(Error::new(
            ErrorKind::Io,
            name,
            format!("{} holds \"{t}\", not a number", path.display()),
        )),
    }
}

/// Read-modify-write of the Command register at `base + PCI_COMMAND` in a
/// configuration-space file (sysfs `config` or the VFIO config region);
/// configuration space is little-endian.
pub(crate) fn set_bus_master(name: &str, config: &File, base: u64, what: &str) -> Result<()> {
    let offset = base + PCI_COMMAND;
    let mut buf = [0u8; 2];
    config.read_exact_at(&mut buf, offset).map_err(|e| {
        Error::io(
            name,
            format!("reading the PCI command register from {what}"),
            e,
        )
    })?;
    let cmd = u16::from_le_bytes(buf);
    if cmd & PCI_COMMAND_MASTER != 0 {
        log::debug!("{name}: bus mastering already enabled (command {cmd:#06x})");
        return Ok(());
    }
    let new = cmd | PCI_COMMAND_MASTER;
    config
        .write_all_at(&new.to_le_bytes(), offset)
        .map_err(|e| {
            Error::io(
                name,
                format!("writing the PCI command register to {what}"),
                e,
            )
        })?;
    log::debug!("{name}: bus mastering enabled (command {cmd:#06x} -> {new:#06x})");
    Ok(())
}

/// `mmap` of `len` bytes of `file` at `offset`, read-write, MAP_SHARED.
pub(crate) fn map_shared(
    name: &str,
    file: &File,
    len: NonZeroUsize,
    offset: u64,
    what: &str,
) -> Result<NonNull<u8>> {
    let off = libc::off_t::try_from(offset).map_err(|_| {
        Error::new(
            ErrorKind::Memory,
            name,
            format!("offset {offset:#x} of {what} does not fit in off_t"),
        )
    })?;
    // SAFETY: a fresh mapping chosen by the kernel (no address hint, no
    // MAP_FIXED), so it cannot overlap memory Rust already uses; the file is
    // a device/resource file kept open for the call, and the mapping outlives
    // it as mmap(2) allows. Ownership of the mapping passes to the caller.
    let ptr = unsafe {
        mmap(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            file,
            off,
        )
    }
    .map_err(|errno| {
        Error::io(
            name,
            format!("mapping {} bytes of {what}", len.get()),
            io::Error::from(errno),
        )
        .hint("check that no other process holds the device and that enough address space is free")
    })?;
    Ok(ptr.cast::<u8>())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary directory removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "ixy-mp-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    struct Fake {
        dir: TempDir,
        root: PathBuf,
        addr: PciAddress,
    }

    /// A fake sysfs: `root/devices/ADDR` with the files a real one has.
    fn fake(
        vendor: &str,
        device: &str,
        driver: Option<&str>,
        numa: &str,
        group: Option<&str>,
    ) -> Fake {
        let dir = TempDir::new("pci");
        let root = dir.0.join("devices");
        let addr: PciAddress = "0000:03:00.0".parse().unwrap();
        let dev = root.join(addr.to_string());
        fs::create_dir_all(&dev).unwrap();
        fs::write(dev.join("vendor"), format!("{vendor}\n")).unwrap();
        fs::write(dev.join("device"), format!("{device}\n")).unwrap();
        fs::write(dev.join("numa_node"), format!("{numa}\n")).unwrap();
        let mut config = vec![0u8; 64];
        config[4] = 0x02; // memory space enabled, bus master off
        config[5] = 0x01; // SERR# enable
        fs::write(dev.join("config"), config).unwrap();
        if let Some(d) = driver {
            let drv = dir.0.join("drivers").join(d);
            fs::create_dir_all(&drv).unwrap();
            symlink(&drv, dev.join("driver")).unwrap();
        }
        if let Some(g) = group {
            let grp = dir.0.join("kernel/iommu_groups").join(g);
            fs::create_dir_all(&grp).unwrap();
            symlink(
                format!("../../../kernel/iommu_groups/{g}"),
                dev.join("iommu_group"),
            )
            .unwrap();
        }
        Fake { dir, root, addr }
    }

    #[test]
    fn parses_full_and_short_addresses() {
        let a: PciAddress = "0000:03:00.0".parse().unwrap();
        assert_eq!(
            a,
            PciAddress {
                domain: 0,
                bus: 3,
                device: 0,
                function: 0
            }
        );
        let b: PciAddress = "af:1f.7".parse().unwrap();
        assert_eq!(
            b,
            PciAddress {
                domain: 0,
                bus: 0xaf,
                device: 0x1f,
                function: 7
            }
        );
        let c: PciAddress = "ABCD:EF:0A.1".parse().unwrap();
        assert_eq!(c.to_string(), "abcd:ef:0a.1");
        assert_eq!(b.to_string(), "0000:af:1f.7");
        assert_eq!(a.to_string().parse::<PciAddress>().unwrap(), a);
    }

    #[test]
    fn rejects_malformed_addresses_with_the_input_and_the_form() {
        for bad in [
            "",
            "0000:03:00",
            "0000:03:00.",
            "0000:03:00.8",
            "0000:03:20.0",
            "000:03:00.0",
            "00000:03:00.0",
            "0000:3:00.0",
            "0000:03:0.0",
            "0000:03:00.00",
            "0000:0g:00.0",
            "+000:03:00.0",
            "0000:+3:00.0",
            "0000:03:00.0 ",
            " 03:00.0",
            "0:0000:03:00.0",
            "03.00.0",
            "sim:demo/0",
        ] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            let s = e.to_string();
            assert!(s.contains(&format!("\"{bad}\"")), "{s}");
            assert!(s.contains("DDDD:BB:DD.F"), "{s}");
            assert!(s.contains("lspci -D"), "{s}");
            assert!(!s.contains('\n'));
        }
    }

    #[test]
    fn supported_ids_are_unique_and_named() {
        for (i, (id, name)) in SUPPORTED.iter().enumerate() {
            assert!(!name.is_empty());
            assert!(
                SUPPORTED[i + 1..].iter().all(|(other, _)| other != id),
                "{id:#x}"
            );
            assert_eq!(device_name(*id), Some(*name));
        }
        assert_eq!(device_name(0x10FB), Some("82599_SFP"));
        assert_eq!(device_name(0x1528), Some("X540T"));
        assert_eq!(device_name(0x1563), Some("X550T"));
        assert_eq!(device_name(0x10ED), None); // 82599 VF
        assert_eq!(device_name(0x10B6), None); // 82598
    }

    #[test]
    fn reads_a_supported_unbound_device() {
        let f = fake("0x8086", "0x10fb", None, "-1", Some("17"));
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        assert_eq!(d.address, f.addr);
        assert_eq!(d.sysfs, f.root.join("0000:03:00.0"));
        assert_eq!((d.vendor, d.device_id), (0x8086, 0x10fb));
        assert_eq!(d.driver, None);
        assert_eq!(d.numa_node, None);
        assert_eq!(d.iommu_group, Some(17));
        d.check_supported().unwrap();
        d.check_unbound(false).unwrap();
        drop(f.dir);
    }

    #[test]
    fn numa_node_and_missing_group() {
        let f = fake("0x8086", "0x1563", Some("vfio-pci"), "1", None);
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        assert_eq!(d.numa_node, Some(1));
        assert_eq!(d.iommu_group, None);
        assert_eq!(d.driver.as_deref(), Some("vfio-pci"));
        d.check_unbound(false).unwrap();
    }

    #[test]
    fn unsupported_devices_are_refused_naming_what_was_found() {
        let f = fake("0x8086", "0x10ed", None, "0", None);
        let e = PciDevice::open_at(&f.root, &f.addr)
            .unwrap()
            .check_supported()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("device 10ed"), "{e}");
        assert!(e.to_string().starts_with("0000:03:00.0: "), "{e}");

        let f = fake("0x15b3", "0x1017", None, "0", None);
        let e = PciDevice::open_at(&f.root, &f.addr)
            .unwrap()
            .check_supported()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("vendor 15b3 device 1017"), "{e}");
    }

    #[test]
    fn bound_kernel_driver_is_refused_unless_forced() {
        let f = fake("0x8086", "0x10fb", Some("ixgbe"), "0", Some("3"));
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        assert_eq!(d.driver.as_deref(), Some("ixgbe"));
        let e = d.check_unbound(false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        let s = e.to_string();
        assert!(s.contains("ixgbe is bound"), "{s}");
        let unbind = format!(
            "echo 0000:03:00.0 > {}/driver/unbind",
            f.root.join("0000:03:00.0").display()
        );
        assert!(s.contains(&unbind), "{s}");
        assert!(s.contains("vfio-pci"), "{s}");
        assert!(s.contains("--force"), "{s}");
        d.check_unbound(true).unwrap();
    }

    #[test]
    fn missing_device_is_not_found_with_a_hint() {
        let f = fake("0x8086", "0x10fb", None, "0", None);
        let other: PciAddress = "0000:04:00.1".parse().unwrap();
        let e = PciDevice::open_at(&f.root, &other).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let s = e.to_string();
        assert!(s.starts_with("0000:04:00.1: no such PCI device"), "{s}");
        assert!(s.contains("lspci -D"), "{s}");
        assert!(e.is_user_error());
    }

    #[test]
    fn garbage_in_sysfs_is_an_error_not_a_panic() {
        let f = fake("banana", "0x10fb", None, "x", None);
        let e = PciDevice::open_at(&f.root, &f.addr).unwrap_err();
        assert!(e.to_string().contains("not a 16-bit hex id"), "{e}");
        let f = fake("0x8086", "0x10fb", None, "zero", None);
        let e = PciDevice::open_at(&f.root, &f.addr).unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
    }

    #[test]
    fn enable_bus_master_sets_bit_2_and_keeps_the_others() {
        let f = fake("0x8086", "0x10fb", None, "0", None);
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        d.enable_bus_master().unwrap();
        let cfg = fs::read(d.sysfs.join("config")).unwrap();
        assert_eq!(cfg.len(), 64);
        assert_eq!(u16::from_le_bytes([cfg[4], cfg[5]]), 0x0106);
        // Idempotent.
        d.enable_bus_master().unwrap();
        let cfg = fs::read(d.sysfs.join("config")).unwrap();
        assert_eq!(u16::from_le_bytes([cfg[4], cfg[5]]), 0x0106);
    }

    #[test]
    fn enable_bus_master_on_a_short_config_fails_cleanly() {
        let f = fake("0x8086", "0x10fb", None, "0", None);
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        fs::write(d.sysfs.join("config"), [0u8; 3]).unwrap();
        let e = d.enable_bus_master().unwrap_err();
        assert!(e.to_string().contains("command register"), "{e}");
    }

    #[test]
    fn map_resource0_maps_the_file_shared() {
        let f = fake("0x8086", "0x10fb", None, "0", None);
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        let res = d.sysfs.join("resource0");
        fs::write(&res, vec![0u8; 8192]).unwrap();
        let (ptr, len) = d.map_resource0().unwrap();
        assert_eq!(len, 8192);
        // SAFETY: ptr maps 8192 writable bytes; offset 0x1000 is in range and
        // 4-aligned (page-aligned mapping).
        unsafe {
            ptr.as_ptr()
                .add(0x1000)
                .cast::<u32>()
                .write_volatile(0xdead_beef)
        };
        // SAFETY: the mapping is ours, of `len` bytes, and not used after.
        unsafe { nix::sys::mman::munmap(ptr.cast(), len) }.unwrap();
        let data = fs::read(&res).unwrap();
        assert_eq!(&data[0x1000..0x1004], &0xdead_beefu32.to_ne_bytes());
    }

    #[test]
    fn map_resource0_errors() {
        let f = fake("0x8086", "0x10fb", None, "0", None);
        let d = PciDevice::open_at(&f.root, &f.addr).unwrap();
        let e = d.map_resource0().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("resource0"), "{e}");
        fs::write(d.sysfs.join("resource0"), b"").unwrap();
        let e = d.map_resource0().unwrap_err();
        assert!(e.to_string().contains("length 0"), "{e}");
    }

    #[test]
    fn permission_denied_on_resource0_says_run_as_root_or_use_vfio() {
        let e = resource_open_error(
            "0000:03:00.0",
            Path::new("/sys/bus/pci/devices/0000:03:00.0/resource0"),
            0,
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind(), ErrorKind::Permission);
        let s = e.to_string();
        assert!(
            s.starts_with("0000:03:00.0: opening /sys/bus/pci/devices/0000:03:00.0/resource0: "),
            "{s}"
        );
        assert!(s.contains("run as root"), "{s}");
        assert!(s.contains("VFIO"), "{s}");
    }
}
