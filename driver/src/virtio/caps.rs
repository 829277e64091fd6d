//! The virtio PCI capabilities (virtio 1.1 4.1.4): where the common
//! configuration, notification, ISR and device configuration structures
//! lie in the device's memory BARs. Parsed from a copy of configuration
//! space, so that it is tested without a device.

use std::fmt;

/// Capabilities List bit of the PCI Status register (offset 0x06).
const PCI_STATUS_CAP_LIST: u16 = 1 << 4;
/// Offset of the Capabilities Pointer.
const PCI_CAPABILITY_LIST: usize = 0x34;
/// Vendor-specific capability id, which virtio uses (4.1.4).
const PCI_CAP_ID_VNDR: u8 = 0x09;
/// `cfg_type` values (4.1.4).
const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
const VIRTIO_PCI_CAP_ISR_CFG: u8 = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG: u8 = 4;
/// Length of `struct virtio_pci_cap`; the notify capability adds a le32.
const CAP_LEN: usize = 16;

/// A structure in a BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// BAR index (0 to 5).
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BAR{} {:#x}+{:#x}", self.bar, self.offset, self.length)
    }
}

/// The structures a virtio-net driver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// `struct virtio_pci_common_cfg` (4.1.4.3).
    pub common: Region,
    /// The notification area (4.1.4.4).
    pub notify: Region,
    /// Bytes between the notification addresses of two queues.
    pub notify_off_multiplier: u32,
    /// The ISR status byte (4.1.4.5), unused while polling.
    pub isr: Option<Region>,
    /// The device configuration (`struct virtio_net_config`, 5.1.4).
    pub device: Region,
}

/// Finds the virtio structures in `config` (at least the first 256 bytes
/// of configuration space). The first capability of each type with a
/// valid BAR wins (4.1.4: "the driver SHOULD use the first instance").
/// An error says what is missing or malformed.
pub fn parse(config: &[u8]) -> Result<Caps, String> {
    let byte = |off: usize| config.get(off).copied();
    let le16 = |off: usize| Some(u16::from_le_bytes([byte(off)?, byte(off + 1)?]));
    let le32 = |off: usize| {
        Some(u32::from_le_bytes([
            byte(off)?,
            byte(off + 1)?,
            byte(off + 2)?,
            byte(off + 3)?,
        ]))
    };
    let status = le16(0x06).ok_or("configuration space shorter than 64 bytes")?;
    if status & PCI_STATUS_CAP_LIST == 0 {
        return Err("no PCI capability list: not a modern (virtio 1.0+) device".into());
    }
    let (mut common, mut notify, mut isr, mut device) = (None, None, None, None);
    let mut mult = 0;
    let mut at = usize::from(byte(PCI_CAPABILITY_LIST).unwrap_or(0) & 0xFC);
    // 48 capabilities at most fit in 256 bytes: a longer walk is a loop.
    for _ in 0..48 {
        if at == 0 {
            break;
        }
        let (Some(id), Some(next)) = (byte(at), byte(at + 1)) else {
            return Err(format!(
                "capability at {at:#x} lies outside configuration space"
            ));
        };
        if id == PCI_CAP_ID_VNDR {
            let len = usize::from(byte(at + 2).unwrap_or(0));
            let (Some(cfg_type), Some(bar), Some(offset), Some(length)) =
                (byte(at + 3), byte(at + 4), le32(at + 8), le32(at + 12))
            else {
                return Err(format!("virtio capability at {at:#x} is cut short"));
            };
            let region = Region {
                bar,
                offset,
                length,
            };
            if len >= CAP_LEN && bar <= 5 {
                match cfg_type {
                    VIRTIO_PCI_CAP_COMMON_CFG => {
                        common.get_or_insert(region);
                    }
                    VIRTIO_PCI_CAP_NOTIFY_CFG if notify.is_none() && len >= CAP_LEN + 4 => {
                        notify = Some(region);
                        mult = le32(at + 16).unwrap_or(0);
                    }
                    VIRTIO_PCI_CAP_ISR_CFG => {
                        isr.get_or_insert(region);
                    }
                    VIRTIO_PCI_CAP_DEVICE_CFG => {
                        device.get_or_insert(region);
                    }
                    _ => {}
                }
            }
        }
        at = usize::from(next & 0xFC);
    }
    let missing = |what: &str| format!("no virtio {what} capability: not a modern virtio device");
    Ok(Caps {
        common: common.ok_or_else(|| missing("common configuration"))?,
        notify: notify.ok_or_else(|| missing("notification"))?,
        notify_off_multiplier: mult,
        isr,
        device: device.ok_or_else(|| missing("device configuration"))?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Configuration space as QEMU's virtio-net-pci lays it out: an MSI-X
    /// capability, then the five virtio capabilities in BAR 4.
    pub(crate) fn qemu_like_config() -> Vec<u8> {
        let mut c = vec![0u8; 256];
        c[0..2].copy_from_slice(&0x1AF4u16.to_le_bytes());
        c[2..4].copy_from_slice(&0x1041u16.to_le_bytes());
        c[6] = PCI_STATUS_CAP_LIST as u8;
        c[0x34] = 0x98;
        // MSI-X (id 0x11) pointing on to the virtio ones.
        c[0x98] = 0x11;
        c[0x99] = 0x84;
        let mut cap =
            |at: usize, next: u8, cfg_type: u8, offset: u32, length: u32, extra: Option<u32>| {
                c[at] = PCI_CAP_ID_VNDR;
                c[at + 1] = next;
                c[at + 2] = if extra.is_some() { 20 } else { 16 };
                c[at + 3] = cfg_type;
                c[at + 4] = 4;
                c[at + 8..at + 12].copy_from_slice(&offset.to_le_bytes());
                c[at + 12..at + 16].copy_from_slice(&length.to_le_bytes());
                if let Some(x) = extra {
                    c[at + 16..at + 20].copy_from_slice(&x.to_le_bytes());
                }
            };
        cap(0x84, 0x70, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0x1000, None);
        cap(0x70, 0x60, VIRTIO_PCI_CAP_ISR_CFG, 0x1000, 0x1000, None);
        cap(0x60, 0x4C, VIRTIO_PCI_CAP_DEVICE_CFG, 0x2000, 0x1000, None);
        cap(
            0x4C,
            0xA8,
            VIRTIO_PCI_CAP_NOTIFY_CFG,
            0x3000,
            0x1000,
            Some(4),
        );
        // A PCI_CFG access capability (type 5), which the driver ignores.
        cap(0xA8, 0x00, 5, 0, 0, None);
        c
    }

    #[test]
    fn finds_the_four_structures_of_a_qemu_device() {
        let caps = parse(&qemu_like_config()).expect("parses");
        assert_eq!(
            caps.common,
            Region {
                bar: 4,
                offset: 0,
                length: 0x1000
            }
        );
        assert_eq!(caps.notify.offset, 0x3000);
        assert_eq!(caps.notify_off_multiplier, 4);
        assert_eq!(caps.isr.map(|r| r.offset), Some(0x1000));
        assert_eq!(caps.device.offset, 0x2000);
        assert_eq!(caps.device.to_string(), "BAR4 0x2000+0x1000");
    }

    #[test]
    fn a_legacy_device_or_a_loop_is_refused_not_followed() {
        let mut c = qemu_like_config();
        c[6] = 0;
        assert!(parse(&c).unwrap_err().contains("not a modern"));
        let mut c = qemu_like_config();
        c[0xA9] = 0x84; // the last capability points back to the first
        assert!(parse(&c).is_ok(), "a loop ends after 48 steps");
        let mut c = qemu_like_config();
        c[0x99] = 0x00; // MSI-X ends the list: no virtio capability
        assert!(parse(&c).unwrap_err().contains("common configuration"));
        assert!(parse(&c[..16]).is_err());
    }
}
