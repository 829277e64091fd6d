//! A Linux TAP device as the far end of a port's cable: frames the kernel
//! sends on the TAP arrive on the port's wire, frames the port transmits
//! appear on the TAP (`ixy-sim --tap PORT:NAME`, `sim/README.md` 1.4).
//!
//! The device is created by opening `/dev/net/tun` and naming it with the
//! `TUNSETIFF` ioctl (`IFF_TAP | IFF_NO_PI`: whole Ethernet frames, no
//! packet-information header, so the kernel hands over frames with their
//! checksums complete and never a segmentation-offload super-frame). It
//! exists while the lab holds it open, and may be moved into another
//! network namespace meanwhile (`ip link set NAME netns NS`). The
//! descriptor is non-blocking: the model polls it once per pass, never
//! waits on it except while idle.
//!
//! This is the sim's one module with `unsafe`: the ioctl.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Longest TAP name the kernel takes (`IFNAMSIZ` less the NUL).
pub const MAX_NAME: usize = 15;
/// Largest frame read from a TAP: more than any MTU the lab carries, so a
/// read never truncates.
const MAX_FRAME: usize = 65_536;

/// `IFF_TAP` and `IFF_NO_PI` of `linux/if_tun.h`.
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

nix::ioctl_write_ptr_bad!(
    /// `TUNSETIFF`: `_IOW('T', 202, int)`, but it takes a `struct ifreq *`.
    tun_set_iff,
    0x4004_54ca,
    libc::ifreq
);

/// Checks a TAP name: 1 to 15 characters, none of them `/`, `:`,
/// whitespace or control characters (what `ip link` accepts).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "TAP name {name:?}: use 1 to {MAX_NAME} printable characters without '/' or ':'"
        ))
    }
}

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    buf: Vec<u8>,
}

impl Tap {
    /// Creates (or attaches to) the TAP device `name`.
    pub fn open(name: &str) -> io::Result<Tap> {
        check_name(name).map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        // SAFETY: `ifreq` is plain old data for which all zeroes is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is an open /dev/net/tun, and `req` is a
        // valid, NUL-terminated (name of at most 15 bytes in 16, zeroed)
        // ifreq that the kernel only reads and updates during the call.
        unsafe { tun_set_iff(file.as_raw_fd(), &req) }
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(Tap {
            file,
            name: name.to_string(),
            buf: vec![0; MAX_FRAME],
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame the kernel sent, copied into `out`; `Ok(false)` when
    /// there is none now.
    pub fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        match self.file.read(&mut self.buf) {
            Ok(n) => {
                out.clear();
                out.extend_from_slice(&self.buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Hands `frame` to the kernel. A frame the kernel cannot take now (the
    /// device is down, its queue full) is lost, as on a cable: `Ok(false)`.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        match self.file.write(frame) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(e.kind(), io::ErrorKind::WouldBlock)
                    || e.raw_os_error() == Some(libc::EIO) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_kernels_rules() {
        for good in ["ixy0", "tap-a_1", "x", "abcdefghijklmno"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "abcdefghijklmnop", "a/b", "a:b", "a b", ".", "..", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
