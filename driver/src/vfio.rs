//! The VFIO backend (docs/DESIGN.md 3): BAR0 mapped from a VFIO device
//! descriptor, DMA through IOVAs mapped in the IOMMU with
//! `VFIO_IOMMU_MAP_DMA`, and no root needed once the group's device node is
//! accessible to the user.
//!
//! The few ioctls used are written here by hand from the kernel's UAPI header
//! `include/uapi/linux/vfio.h`, following the container/group/device
//! sequence of the kernel's VFIO documentation
//! (`Documentation/driver-api/vfio.rst`).
//!
//! Why not rust-vmm's `vfio-ioctls`: it is written for VMMs. Its default
//! features (`kvm`, `kvm-ioctls`, `kvm-bindings`) pull in KVM; turning them
//! off removes KVM but it still depends on `vfio-bindings` and
//! `vmm-sys-util`, and this crate allows no dependency beyond libc, nix and
//! log. A user-space NIC driver needs nine ioctls and four small structures,
//! which are checked against the kernel's numbers and sizes in the tests
//! below.
//!
//! A VFIO group can be opened by one process at a time; other processes of
//! the same device share it by inheriting the descriptors across `fork`.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::size_of;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;

use crate::error::{Error, ErrorKind, Result};
use crate::memory::IovaAllocator;
use crate::pci::{self, PciAddress};
use std::sync::{Arc, Mutex};

/// Directory of the VFIO character devices: the container `vfio` and one
/// node per IOMMU group.
pub const VFIO_DEV_DIR: &str = "/dev/vfio";

// ---------------------------------------------------------------------------
// ioctl request numbers (include/uapi/linux/ioctl.h, asm-generic/ioctl.h)
// ---------------------------------------------------------------------------

/// `_IOC_NONE` already shifted into the direction bits, and the direction
/// shift: 0 and 30 on most architectures, 1 and 29 on those whose
/// `asm/ioctl.h` uses 13 size bits (powerpc, mips, sparc).
#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
const IOC_NONE_BITS: u32 = 1 << 29;
#[cfg(not(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
const IOC_NONE_BITS: u32 = 0;

/// `_IO(type, nr)`: an ioctl number with no direction and no size
/// (`_IOC(_IOC_NONE, type, nr, 0)`; type in bits 15:8, nr in bits 7:0).
pub const fn io(ty: u8, nr: u8) -> u32 {
    IOC_NONE_BITS | ((ty as u32) << 8) | nr as u32
}

/// `VFIO_TYPE`, the ioctl type of all VFIO requests (`';'`).
pub const VFIO_TYPE: u8 = b';';
/// `VFIO_BASE`, the first VFIO request number.
pub const VFIO_BASE: u8 = 100;

/// A VFIO request: `_IO(VFIO_TYPE, VFIO_BASE + n)`. VFIO encodes no size in
/// its numbers; the structures carry their size in `argsz` instead.
pub const fn vfio_io(n: u8) -> u32 {
    io(VFIO_TYPE, VFIO_BASE + n)
}

/// `VFIO_API_VERSION`, what `VFIO_GET_API_VERSION` returns.
pub const VFIO_API_VERSION: i32 = 0;
/// Container: report the API version (`VFIO_BASE + 0`).
pub const VFIO_GET_API_VERSION: u32 = vfio_io(0);
/// Container: whether an extension (an IOMMU type) is supported (`+ 1`).
pub const VFIO_CHECK_EXTENSION: u32 = vfio_io(1);
/// Container: select the IOMMU type, once a group is attached (`+ 2`).
pub const VFIO_SET_IOMMU: u32 = vfio_io(2);
/// Group: read [`VfioGroupStatus`] (`+ 3`).
pub const VFIO_GROUP_GET_STATUS: u32 = vfio_io(3);
/// Group: attach the group to a container, argument a pointer to the
/// container descriptor (`+ 4`).
pub const VFIO_GROUP_SET_CONTAINER: u32 = vfio_io(4);
/// Group: a device descriptor for a device named by its address string
/// (`+ 6`).
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = vfio_io(6);
/// Device: read a [`VfioRegionInfo`] (`+ 8`).
pub const VFIO_DEVICE_GET_REGION_INFO: u32 = vfio_io(8);
/// Container, Type1 IOMMU: map process memory at an IOVA (`+ 13`).
pub const VFIO_IOMMU_MAP_DMA: u32 = vfio_io(13);
/// Container, Type1 IOMMU: unmap an IOVA range (`+ 14`).
pub const VFIO_IOMMU_UNMAP_DMA: u32 = vfio_io(14);

/// Extension / IOMMU type: Type1 (x86 VT-d, AMD-Vi, ARM SMMU).
pub const VFIO_TYPE1_IOMMU: u32 = 1;
/// Extension / IOMMU type: Type1 version 2 (same map/unmap interface,
/// stricter unmap semantics); preferred when offered.
pub const VFIO_TYPE1V2_IOMMU: u32 = 3;

/// [`VfioGroupStatus::flags`]: every device of the group is bound to a VFIO
/// driver or to no driver.
pub const VFIO_GROUP_FLAGS_VIABLE: u32 = 1 << 0;

/// [`VfioRegionInfo::flags`]: the region supports read.
pub const VFIO_REGION_INFO_FLAG_READ: u32 = 1 << 0;
/// [`VfioRegionInfo::flags`]: the region supports write.
pub const VFIO_REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
/// [`VfioRegionInfo::flags`]: the region supports mmap.
pub const VFIO_REGION_INFO_FLAG_MMAP: u32 = 1 << 2;

/// vfio-pci region index of BAR0 (`VFIO_PCI_BAR0_REGION_INDEX`).
pub const VFIO_PCI_BAR0_REGION_INDEX: u32 = 0;
/// vfio-pci region index of configuration space
/// (`VFIO_PCI_CONFIG_REGION_INDEX`).
pub const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;

/// [`VfioIommuType1DmaMap::flags`]: the device may read the memory.
pub const VFIO_DMA_MAP_FLAG_READ: u32 = 1 << 0;
/// [`VfioIommuType1DmaMap::flags`]: the device may write the memory.
pub const VFIO_DMA_MAP_FLAG_WRITE: u32 = 1 << 1;

/// Alignment the IOMMU requires of DMA mappings (vaddr, IOVA and length):
/// its smallest page, 4 KiB on x86-64 (VT-d, AMD-Vi). A power of two.
pub const DMA_ALIGN: u64 = 4096;

// ---------------------------------------------------------------------------
// ioctl structures (include/uapi/linux/vfio.h)
// ---------------------------------------------------------------------------

/// `struct vfio_group_status`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VfioGroupStatus {
    /// Size of this structure, set by the caller.
    pub argsz: u32,
    /// `VFIO_GROUP_FLAGS_*`, set by the kernel.
    pub flags: u32,
}

impl VfioGroupStatus {
    /// A request with `argsz` set.
    pub fn new() -> Self {
        VfioGroupStatus {
            argsz: size_of::<Self>() as u32,
            flags: 0,
        }
    }
}

/// `struct vfio_region_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VfioRegionInfo {
    /// Size of this structure, set by the caller.
    pub argsz: u32,
    /// `VFIO_REGION_INFO_FLAG_*`, set by the kernel.
    pub flags: u32,
    /// Region index, set by the caller (`VFIO_PCI_*_REGION_INDEX`).
    pub index: u32,
    /// Offset of the first capability (when the CAPS flag is set).
    pub cap_offset: u32,
    /// Region size in bytes; 0 for an unimplemented region.
    pub size: u64,
    /// Offset of the region in the device descriptor, for pread/pwrite/mmap.
    pub offset: u64,
}

impl VfioRegionInfo {
    /// A request for region `index` with `argsz` set.
    pub fn new(index: u32) -> Self {
        VfioRegionInfo {
            argsz: size_of::<Self>() as u32,
            index,
            ..Default::default()
        }
    }
}

/// `struct vfio_iommu_type1_dma_map`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VfioIommuType1DmaMap {
    /// Size of this structure.
    pub argsz: u32,
    /// `VFIO_DMA_MAP_FLAG_*`; READ and/or WRITE required.
    pub flags: u32,
    /// Process virtual address of the memory.
    pub vaddr: u64,
    /// IO virtual address the device will use.
    pub iova: u64,
    /// Length in bytes.
    pub size: u64,
}

impl VfioIommuType1DmaMap {
    /// A read-write mapping request with `argsz` set.
    pub fn new(vaddr: u64, iova: u64, size: u64) -> Self {
        VfioIommuType1DmaMap {
            argsz: size_of::<Self>() as u32,
            flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            vaddr,
            iova,
            size,
        }
    }
}

/// `struct vfio_iommu_type1_dma_unmap` (without the trailing flexible
/// `data[]`, used only by the dirty-bitmap flag).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VfioIommuType1DmaUnmap {
    /// Size of this structure.
    pub argsz: u32,
    /// `VFIO_DMA_UNMAP_FLAG_*`; 0 for a plain unmap.
    pub flags: u32,
    /// IO virtual address of the range.
    pub iova: u64,
    /// Length in bytes; the kernel writes back how much it unmapped.
    pub size: u64,
}

impl VfioIommuType1DmaUnmap {
    /// An unmap request with `argsz` set.
    pub fn new(iova: u64, size: u64) -> Self {
        VfioIommuType1DmaUnmap {
            argsz: size_of::<Self>() as u32,
            flags: 0,
            iova,
            size,
        }
    }
}

// ---------------------------------------------------------------------------
// ioctl calls
// ---------------------------------------------------------------------------

/// `ioctl(fd, req, arg)` with an integer argument; returns the result.
fn ioctl_value(file: &File, req: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: `file` is an open descriptor for the call's duration; the
    // requests used with this helper (GET_API_VERSION, CHECK_EXTENSION,
    // SET_IOMMU) take an integer by value, so the kernel reads no memory.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), req as libc::Ioctl, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `ioctl(fd, req, ptr)`; `arg` must be the structure the request expects.
fn ioctl_ptr<T>(file: &File, req: u32, arg: &mut T) -> io::Result<libc::c_int> {
    // SAFETY: `file` is open for the call; `arg` is a live, exclusive
    // reference to a #[repr(C)] value of the type (and, through `argsz`,
    // the size) the request is defined with, so the kernel reads and writes
    // only memory we own.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), req as libc::Ioctl, arg as *mut T) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

// ---------------------------------------------------------------------------
// The backend
// ---------------------------------------------------------------------------

/// An ixgbe device opened through VFIO: container, group and device
/// descriptors, and where BAR0 and configuration space lie in the device
/// descriptor. Dropping it closes the device, then the group, then the
/// container (which also removes the container's DMA mappings).
#[derive(Debug)]
pub struct Vfio {
    // Field order is drop order: the reverse of the order of opening.
    device: File,
    /// Held open, never used after `open`: the container works only while
    /// the group stays attached to it.
    _group: Arc<File>,
    container: Arc<File>,
    iova: IovaAllocator,
    address: PciAddress,
    /// Configuration space: (offset in the device descriptor, size).
    config: (u64, u64),
}

/// The one VFIO container of this process and the groups attached to it.
/// Every device joins the same container, so one DMA mapping (and one IOVA
/// space, one allocator) serves all of them: a mempool allocated for one
/// port can be sent on another, as `forward` does. Children forked later
/// inherit the descriptors and share it too.
struct Shared {
    container: Arc<File>,
    iommu_set: bool,
    groups: Vec<(u32, Arc<File>)>,
    iova: IovaAllocator,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

impl Vfio {
    /// Opens the device at `address`, a member of IOMMU group `group`
    /// (`PciDevice::iommu_group`), through `/dev/vfio`.
    pub fn open(address: &PciAddress, group: u32) -> Result<Vfio> {
        Self::open_in(Path::new(VFIO_DEV_DIR), address, group)
    }

    /// [`Vfio::open`] with the VFIO device nodes in `dir`.
    fn open_in(dir: &Path, address: &PciAddress, group: u32) -> Result<Vfio> {
        let name = address.to_string();

        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if shared.is_none() {
            *shared = Some(Self::open_container(dir, &name)?);
        }
        let Some(shared) = shared.as_mut() else {
            return Err(Error::new(
                ErrorKind::Io,
                &name,
                "VFIO container state lost",
            ));
        };
        let container = shared.container.clone();
        let iommu_type = Self::iommu_type(&container, &name)?;

        let group_file = match shared.groups.iter().find(|(g, _)| *g == group) {
            Some((_, f)) => f.clone(),
            None => {
                let f = Arc::new(Self::attach_group(dir, &name, group, &container)?);
                shared.groups.push((group, f.clone()));
                f
            }
        };

        // 7. Select the IOMMU, once per container (after its first group).
        if !shared.iommu_set {
            ioctl_value(&container, VFIO_SET_IOMMU, iommu_type.into()).map_err(|e| {
                Error::io(&name, format!("VFIO_SET_IOMMU({iommu_type})"), e)
                    .hint("see `dmesg` for the IOMMU's complaint")
            })?;
            shared.iommu_set = true;
            log::debug!("{name}: IOMMU type {iommu_type} set");
        }
        let iova = shared.iova.clone();

        // 8. The device.
        let cname = CString::new(name.as_str()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                &name,
                "PCI address contains a NUL byte",
            )
        })?;
        // SAFETY: the group descriptor is open; the argument is a
        // NUL-terminated string that outlives the call, which the kernel only
        // reads (VFIO_GROUP_GET_DEVICE_FD takes `char *`).
        let fd = unsafe {
            libc::ioctl(
                group_file.as_raw_fd(),
                VFIO_GROUP_GET_DEVICE_FD as libc::Ioctl,
                cname.as_ptr(),
            )
        };
        if fd < 0 {
            return Err(Error::io(
                &name,
                format!("VFIO_GROUP_GET_DEVICE_FD in group {group}"),
                io::Error::last_os_error(),
            )
            .hint(format!(
                "check that the device is in IOMMU group {group} \
                 (/sys/bus/pci/devices/{name}/iommu_group) and bound to vfio-pci"
            )));
        }
        // SAFETY: on success the ioctl returns a new descriptor that nothing
        // else owns; OwnedFd takes it over and closes it once.
        let device = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        log::debug!("{name}: device descriptor {fd}");

        // 9. Regions: configuration space now, BARs when mapped.
        let config = region_info(&name, &device, VFIO_PCI_CONFIG_REGION_INDEX, "config space")?;
        log::debug!(
            "{name}: config space at offset {:#x}, {} bytes, flags {:#x}",
            config.offset,
            config.size,
            config.flags
        );
        let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        if config.size < 64 || config.flags & rw != rw {
            return Err(Error::new(
                ErrorKind::Hardware,
                &name,
                format!(
                    "the config region is unusable ({} bytes, flags {:#x})",
                    config.size, config.flags
                ),
            ));
        }

        log::debug!("{name}: opened through VFIO");
        Ok(Vfio {
            device,
            _group: group_file,
            container,
            iova,
            address: *address,
            config: (config.offset, config.size),
        })
    }

    fn name(&self) -> String {
        self.address.to_string()
    }

    /// The IOVA allocator of the container, shared by every device in it.
    pub fn iova_allocator(&self) -> IovaAllocator {
        self.iova.clone()
    }

    /// Opens `/dev/vfio/vfio` and checks the API version (steps 1 and 2 of
    /// the kernel's sequence).
    fn open_container(dir: &Path, name: &str) -> Result<Shared> {
        let name = name.to_string();
        // 1. The container.
        let container_path = dir.join("vfio");
        log::debug!(
            "{name}: opening the VFIO container {}",
            container_path.display()
        );
        let container = open_rw(&container_path).map_err(|e| {
            let err = Error::io(&name, format!("opening {}", container_path.display()), e);
            match err.kind() {
                ErrorKind::NotFound => Error::new(
                    ErrorKind::NotFound,
                    &name,
                    format!(
                        "VFIO is not available: {} does not exist",
                        container_path.display()
                    ),
                )
                .hint(
                    "load VFIO with `modprobe vfio-pci` (needs an enabled IOMMU, e.g. \
                     intel_iommu=on on the kernel command line), or run as root to use \
                     the sysfs backend",
                ),
                ErrorKind::Permission => {
                    err.hint("run as root, or make it readable and writable by this user")
                }
                _ => err,
            }
        })?;

        // 2. API version.
        let version = ioctl_value(&container, VFIO_GET_API_VERSION, 0).map_err(|e| {
            Error::io(
                &name,
                format!("VFIO_GET_API_VERSION on {}", container_path.display()),
                e,
            )
            .hint("that file is not a VFIO container; check that the vfio module is loaded")
        })?;
        log::debug!("{name}: VFIO API version {version}");
        if version != VFIO_API_VERSION {
            return Err(Error::new(
                ErrorKind::Unsupported,
                &name,
                format!("the kernel's VFIO API version is {version}, this driver speaks {VFIO_API_VERSION}"),
            )
            .hint("use the sysfs backend (run as root with the device unbound from VFIO)"));
        }

        Ok(Shared {
            container: Arc::new(container),
            iommu_set: false,
            groups: Vec::new(),
            iova: IovaAllocator::anonymous()?,
        })
    }

    /// The Type1 IOMMU type the container offers, v2 preferred (step 3).
    fn iommu_type(container: &File, name: &str) -> Result<u32> {
        let name = name.to_string();
        // 3. The Type1 IOMMU, v2 preferred.
        let mut iommu_type = None;
        for t in [VFIO_TYPE1V2_IOMMU, VFIO_TYPE1_IOMMU] {
            let r = ioctl_value(container, VFIO_CHECK_EXTENSION, t.into())
                .map_err(|e| Error::io(&name, format!("VFIO_CHECK_EXTENSION({t})"), e))?;
            if r > 0 {
                iommu_type = Some(t);
                break;
            }
        }
        let iommu_type = iommu_type.ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                &name,
                "the VFIO container offers no Type1 IOMMU",
            )
            .hint(
                "load it with `modprobe vfio_iommu_type1` and check that the IOMMU is \
                 enabled (intel_iommu=on or amd_iommu=on; see `dmesg | grep -i iommu`)",
            )
        })?;
        log::debug!("{name}: Type1 IOMMU supported (type {iommu_type})");
        Ok(iommu_type)
    }

    /// Opens group `group`, checks it is viable and attaches it to the
    /// container (steps 4 to 6).
    fn attach_group(dir: &Path, name: &str, group: u32, container: &File) -> Result<File> {
        let name = name.to_string();
        // 4. The group.
        let group_path = dir.join(group.to_string());
        log::debug!(
            "{name}: opening IOMMU group {group} at {}",
            group_path.display()
        );
        let group_file = open_rw(&group_path).map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                return Error::new(
                    ErrorKind::Busy,
                    &name,
                    format!("IOMMU group {group} is open in another process"),
                )
                .source(e)
                .hint("a VFIO group can be opened by one process at a time: stop the other user of the device");
            }
            let err = Error::io(&name, format!("opening {}", group_path.display()), e);
            match err.kind() {
                ErrorKind::NotFound => err.hint(format!(
                    "the device is not bound to vfio-pci: as root, unbind it from its driver, \
                     then `echo vfio-pci > /sys/bus/pci/devices/{name}/driver_override` and \
                     `echo {name} > /sys/bus/pci/drivers_probe`"
                )),
                ErrorKind::Permission => err.hint(format!(
                    "run as root, or give this user the group node: `chown $USER {}`",
                    group_path.display()
                )),
                _ => err,
            }
        })?;

        // 5. Viability.
        let mut status = VfioGroupStatus::new();
        ioctl_ptr(&group_file, VFIO_GROUP_GET_STATUS, &mut status)
            .map_err(|e| Error::io(&name, format!("VFIO_GROUP_GET_STATUS on group {group}"), e))?;
        log::debug!("{name}: group {group} status flags {:#x}", status.flags);
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(Error::new(
                ErrorKind::Busy,
                &name,
                format!("IOMMU group {group} is not viable"),
            )
            .hint(format!(
                "every device in /sys/kernel/iommu_groups/{group}/devices must be bound to \
                 vfio-pci or to no driver"
            )));
        }

        // 6. Attach the group to the container.
        let mut container_fd: libc::c_int = container.as_raw_fd();
        ioctl_ptr(&group_file, VFIO_GROUP_SET_CONTAINER, &mut container_fd).map_err(|e| {
            Error::io(
                &name,
                format!("VFIO_GROUP_SET_CONTAINER for group {group}"),
                e,
            )
            .hint("the group may already belong to another container")
        })?;
        log::debug!("{name}: group {group} attached to the container");

        Ok(group_file)
    }

    /// Maps BAR0 read-write and shared from the device descriptor; see
    /// [`Vfio::map_bar`].
    pub fn map_bar0(&self) -> Result<(NonNull<u8>, usize)> {
        self.map_bar(VFIO_PCI_BAR0_REGION_INDEX)
    }

    /// Maps memory BAR `index` (0 to 5) read-write and shared from the
    /// device descriptor; returns the address and the length. The caller
    /// owns the mapping and must `munmap` it with that length before the
    /// `Vfio` is dropped.
    pub fn map_bar(&self, index: u32) -> Result<(NonNull<u8>, usize)> {
        let name = self.name();
        let what = format!("BAR{index}");
        let info = region_info(&name, &self.device, index, &what)?;
        log::debug!(
            "{name}: {what} at offset {:#x}, {} bytes, flags {:#x}",
            info.offset,
            info.size,
            info.flags
        );
        if info.size == 0 {
            return Err(
                Error::new(ErrorKind::Hardware, &name, format!("{what} has size 0"))
                    .hint("check the device's BARs with `lspci -vv`"),
            );
        }
        if info.flags & VFIO_REGION_INFO_FLAG_MMAP == 0 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                &name,
                format!("vfio-pci does not allow mapping {what}"),
            )
            .hint("use the sysfs backend (run as root)"));
        }
        let len = usize::try_from(info.size)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Memory,
                    &name,
                    format!("{what} size {} cannot be mapped", info.size),
                )
            })?;
        let ptr = pci::map_shared(
            &name,
            &self.device,
            len,
            info.offset,
            &format!("{what} of the VFIO device"),
        )?;
        log::debug!("{name}: {what} mapped at {ptr:p}");
        Ok((ptr, len.get()))
    }

    /// Reads `out.len()` bytes of configuration space from `offset`.
    pub fn read_config(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.device, out, self.config.0 + offset)
            .map_err(|e| Error::io(self.name(), "reading configuration space through VFIO", e))
    }

    /// Sets Bus Master Enable in the Command register through the VFIO
    /// configuration-space region.
    pub fn enable_bus_master(&self) -> Result<()> {
        let name = self.name();
        log::debug!("{name}: enabling bus mastering through VFIO");
        pci::set_bus_master(&name, &self.device, self.config.0, "the VFIO config region")
    }

    /// Maps `len` bytes of this process's memory at `vaddr` into the IOMMU at
    /// `iova`, readable and writable by the device. The memory must stay
    /// mapped in the process until [`Vfio::unmap_dma`] (the kernel pins it).
    /// `vaddr`, `iova` and `len` must be multiples of [`DMA_ALIGN`].
    pub fn map_dma(&self, vaddr: *mut u8, iova: u64, len: usize) -> Result<()> {
        let name = self.name();
        let vaddr = vaddr as usize as u64;
        check_dma_range(&name, Some(vaddr), iova, len)?;
        let mut map = VfioIommuType1DmaMap::new(vaddr, iova, len as u64);
        log::debug!("{name}: VFIO DMA map {len} bytes at {vaddr:#x} -> IOVA {iova:#x}");
        ioctl_ptr(&self.container, VFIO_IOMMU_MAP_DMA, &mut map)
            .map_err(|e| dma_map_error(&name, iova, len, e))?;
        Ok(())
    }

    /// Removes the IOMMU mapping of `len` bytes at `iova`, made by an earlier
    /// [`Vfio::map_dma`] with the same range.
    pub fn unmap_dma(&self, iova: u64, len: usize) -> Result<()> {
        let name = self.name();
        check_dma_range(&name, None, iova, len)?;
        let mut unmap = VfioIommuType1DmaUnmap::new(iova, len as u64);
        log::debug!("{name}: VFIO DMA unmap {len} bytes at IOVA {iova:#x}");
        ioctl_ptr(&self.container, VFIO_IOMMU_UNMAP_DMA, &mut unmap).map_err(|e| {
            Error::io(
                &name,
                format!("VFIO_IOMMU_UNMAP_DMA of {len} bytes at IOVA {iova:#x}"),
                e,
            )
            .hint("unmap exactly the ranges that were mapped")
        })?;
        if unmap.size != len as u64 {
            return Err(Error::new(
                ErrorKind::Memory,
                &name,
                format!(
                    "VFIO_IOMMU_UNMAP_DMA at IOVA {iova:#x} removed {} of {len} bytes",
                    unmap.size
                ),
            )
            .hint("unmap exactly the ranges that were mapped"));
        }
        Ok(())
    }
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// `VFIO_DEVICE_GET_REGION_INFO` for region `index`.
fn region_info(name: &str, device: &File, index: u32, what: &str) -> Result<VfioRegionInfo> {
    let mut info = VfioRegionInfo::new(index);
    ioctl_ptr(device, VFIO_DEVICE_GET_REGION_INFO, &mut info).map_err(|e| {
        Error::io(
            name,
            format!("VFIO_DEVICE_GET_REGION_INFO for {what} (region {index})"),
            e,
        )
    })?;
    Ok(info)
}

/// Checks a DMA range before the kernel sees it: non-empty, aligned to
/// [`DMA_ALIGN`], and not wrapping around the IOVA space.
fn check_dma_range(name: &str, vaddr: Option<u64>, iova: u64, len: usize) -> Result<()> {
    let len64 = len as u64;
    let bad = |why: String| {
        Error::new(
            ErrorKind::InvalidInput,
            name,
            format!("bad DMA range: {why}"),
        )
        .hint("DMA memory comes from 2 MiB hugepages; map whole pages")
    };
    if len == 0 {
        return Err(bad("length 0".into()));
    }
    if len64 & (DMA_ALIGN - 1) != 0 {
        return Err(bad(format!(
            "length {len:#x} is not a multiple of {DMA_ALIGN:#x}"
        )));
    }
    if iova & (DMA_ALIGN - 1) != 0 {
        return Err(bad(format!("IOVA {iova:#x} is not {DMA_ALIGN:#x}-aligned")));
    }
    if let Some(v) = vaddr {
        if v == 0 || v & (DMA_ALIGN - 1) != 0 {
            return Err(bad(format!(
                "address {v:#x} is not a {DMA_ALIGN:#x}-aligned pointer"
            )));
        }
    }
    if iova.checked_add(len64).is_none() {
        return Err(bad(format!("IOVA {iova:#x} + {len:#x} overflows")));
    }
    Ok(())
}

/// The error for a failed `VFIO_IOMMU_MAP_DMA`, with the likely cause.
fn dma_map_error(name: &str, iova: u64, len: usize, e: io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENOMEM) => {
            "VFIO pins DMA memory: raise the locked-memory limit (`ulimit -l`, RLIMIT_MEMLOCK, \
             or LimitMEMLOCK= in a systemd unit)"
        }
        Some(libc::EEXIST) => {
            "that IOVA range is already mapped; IOVAs must come from the shared allocator"
        }
        Some(libc::ENOSPC) => {
            "too many DMA mappings (vfio_iommu_type1 dma_entry_limit); map larger regions"
        }
        Some(libc::EFAULT) => "the address range is not mapped in this process",
        _ => "check the range against the IOMMU's aperture (`dmesg`)",
    };
    let kind = match e.kind() {
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        _ => ErrorKind::Memory,
    };
    Error::new(
        kind,
        name,
        format!("VFIO_IOMMU_MAP_DMA of {len} bytes at IOVA {iova:#x}"),
    )
    .source(e)
    .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::tests::TempDir;
    use std::fs;
    use std::mem::{align_of, offset_of};

    #[cfg(not(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    )))]
    #[test]
    fn ioctl_numbers_match_the_kernel() {
        // _IO(';', 100 + n) = 0x3B00 | (100 + n) with _IOC_NONE = 0.
        assert_eq!(VFIO_GET_API_VERSION, 0x3B64);
        assert_eq!(VFIO_CHECK_EXTENSION, 0x3B65);
        assert_eq!(VFIO_SET_IOMMU, 0x3B66);
        assert_eq!(VFIO_GROUP_GET_STATUS, 0x3B67);
        assert_eq!(VFIO_GROUP_SET_CONTAINER, 0x3B68);
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 0x3B6A);
        assert_eq!(VFIO_DEVICE_GET_REGION_INFO, 0x3B6C);
        assert_eq!(VFIO_IOMMU_MAP_DMA, 0x3B71);
        assert_eq!(VFIO_IOMMU_UNMAP_DMA, 0x3B72);
    }

    #[test]
    fn io_encodes_type_and_number() {
        assert_eq!(io(b';', 100) & 0xFFFF, 0x3B64);
        assert_eq!(vfio_io(14) & 0xFFFF, 0x3B72);
        // No size bits: VFIO passes sizes in argsz.
        assert_eq!(vfio_io(8) & (0x1FFF << 16), 0);
    }

    #[test]
    fn struct_layouts_match_the_kernel() {
        assert_eq!(size_of::<VfioGroupStatus>(), 8);
        assert_eq!(size_of::<VfioRegionInfo>(), 32);
        assert_eq!(offset_of!(VfioRegionInfo, index), 8);
        assert_eq!(offset_of!(VfioRegionInfo, cap_offset), 12);
        assert_eq!(offset_of!(VfioRegionInfo, size), 16);
        assert_eq!(offset_of!(VfioRegionInfo, offset), 24);
        assert_eq!(size_of::<VfioIommuType1DmaMap>(), 32);
        assert_eq!(offset_of!(VfioIommuType1DmaMap, vaddr), 8);
        assert_eq!(offset_of!(VfioIommuType1DmaMap, iova), 16);
        assert_eq!(offset_of!(VfioIommuType1DmaMap, size), 24);
        assert_eq!(size_of::<VfioIommuType1DmaUnmap>(), 24);
        assert_eq!(offset_of!(VfioIommuType1DmaUnmap, iova), 8);
        assert_eq!(offset_of!(VfioIommuType1DmaUnmap, size), 16);
        assert!(align_of::<VfioRegionInfo>() <= 8);
    }

    #[test]
    fn constructors_set_argsz() {
        assert_eq!(VfioGroupStatus::new().argsz, 8);
        let r = VfioRegionInfo::new(VFIO_PCI_CONFIG_REGION_INDEX);
        assert_eq!((r.argsz, r.index), (32, 7));
        let m = VfioIommuType1DmaMap::new(0x7f00_0000_0000, 0x1000, 0x20_0000);
        assert_eq!(m.argsz, 32);
        assert_eq!(m.flags, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
        let u = VfioIommuType1DmaUnmap::new(0x1000, 0x20_0000);
        assert_eq!((u.argsz, u.flags), (24, 0));
    }

    #[test]
    fn open_without_vfio_is_a_clear_not_found() {
        let addr: PciAddress = "0000:03:00.0".parse().unwrap();
        if Path::new("/dev/vfio/vfio").exists() {
            // A machine with VFIO: whatever happens, no panic.
            let _ = Vfio::open(&addr, 4000);
            return;
        }
        let e = Vfio::open(&addr, 17).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let s = e.to_string();
        assert!(s.starts_with("0000:03:00.0: "), "{s}");
        assert!(s.contains("/dev/vfio/vfio"), "{s}");
        assert!(s.contains("modprobe vfio-pci"), "{s}");
        assert!(!s.contains('\n'));
        assert!(e.is_user_error());
    }

    #[test]
    fn open_in_a_directory_without_a_container_is_not_found() {
        let dir = TempDir::new("vfio");
        let addr: PciAddress = "0000:03:00.1".parse().unwrap();
        let e = Vfio::open_in(&dir.0, &addr, 5).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e
            .to_string()
            .contains(&dir.0.join("vfio").display().to_string()));
    }

    #[test]
    fn a_container_that_is_not_vfio_fails_the_version_ioctl_cleanly() {
        let dir = TempDir::new("vfio");
        fs::write(dir.0.join("vfio"), b"").unwrap();
        let addr: PciAddress = "0000:03:00.0".parse().unwrap();
        let e = Vfio::open_in(&dir.0, &addr, 5).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("VFIO_GET_API_VERSION"), "{s}");
        assert!(s.contains("not a VFIO container"), "{s}");
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn dma_ranges_are_checked_before_the_kernel_sees_them() {
        let n = "0000:03:00.0";
        check_dma_range(n, Some(0x7f00_0020_0000), 0x20_0000, 0x20_0000).unwrap();
        check_dma_range(n, None, 0, 4096).unwrap();
        for (vaddr, iova, len) in [
            (Some(0x20_0000), 0x20_0000, 0),
            (Some(0x20_0000), 0x20_0000, 100),
            (Some(0x20_0000), 0x20_0001, 4096),
            (Some(0x20_0010), 0x20_0000, 4096),
            (Some(0), 0x20_0000, 4096),
            (None, u64::MAX - 4095, 8192),
        ] {
            let e = check_dma_range(n, vaddr, iova, len).unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidInput,
                "{vaddr:?} {iova:#x} {len}"
            );
            assert!(e.to_string().contains("bad DMA range"), "{e}");
        }
    }

    #[test]
    fn dma_map_errors_carry_a_hint_per_cause() {
        let e = dma_map_error(
            "d",
            0x1000,
            4096,
            io::Error::from_raw_os_error(libc::ENOMEM),
        );
        assert_eq!(e.kind(), ErrorKind::Memory);
        assert!(e.to_string().contains("ulimit -l"), "{e}");
        assert!(e.to_string().contains("IOVA 0x1000"), "{e}");
        let e = dma_map_error(
            "d",
            0x1000,
            4096,
            io::Error::from_raw_os_error(libc::EEXIST),
        );
        assert!(e.to_string().contains("already mapped"), "{e}");
        let e = dma_map_error("d", 0x1000, 4096, io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.kind(), ErrorKind::Permission);
    }
}
