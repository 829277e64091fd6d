//! The driver's error type: what failed, on which device, and what to do.

use std::fmt;
use std::io;

/// What kind of failure an [`Error`] is; tools map it to exit codes
/// (`InvalidInput`, `NotFound`, `Unsupported`, `Busy` and `Permission` are
/// the user's to fix: exit code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed input: a device string, a configuration value.
    InvalidInput,
    /// The device, file or lab does not exist.
    NotFound,
    /// Not an ixgbe device, or a feature the device lacks.
    Unsupported,
    /// The device is in use (a kernel driver is bound, a queue is taken).
    Busy,
    /// Missing privileges (root, VFIO group access).
    Permission,
    /// The device did not reach a state in time (reset, link, queue enable).
    Timeout,
    /// The device misbehaves (an IOMMU fault, a register it cannot map).
    Hardware,
    /// The device is gone: its registers read 0xFFFFFFFF (PCI surprise
    /// removal), or the simulator lab behind it no longer runs. Nothing it
    /// was asked to do can complete; programs stop (the supervisor with
    /// exit status 3, docs/DESIGN.md 7).
    DeviceLost,
    /// Memory: no hugepages, pool exhausted, mapping failed.
    Memory,
    /// Any other system call failure.
    Io,
}

/// An error with context: device, what was being done, cause, and a hint.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    device: String,
    message: String,
    hint: Option<String>,
    source: Option<io::Error>,
}

impl Error {
    /// A new error on `device` (may be empty when no device is involved).
    pub fn new(kind: ErrorKind, device: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            device: device.into(),
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// Adds what the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the underlying system error.
    pub fn source(mut self, source: io::Error) -> Self {
        self.source = Some(source);
        self
    }

    /// An I/O failure while doing `what` on `device`.
    pub fn io(device: impl Into<String>, what: impl Into<String>, source: io::Error) -> Self {
        let kind = match source.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Permission,
            _ => ErrorKind::Io,
        };
        Error::new(kind, device, what).source(source)
    }

    /// Names the device when the error was made without one.
    pub fn with_device(mut self, device: &str) -> Self {
        if self.device.is_empty() {
            self.device = device.to_string();
        }
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The device the error concerns ("" when none).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Whether the user can fix this by changing the input or the system
    /// set-up (tools exit with code 2 then).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::InvalidInput
                | ErrorKind::NotFound
                | ErrorKind::Unsupported
                | ErrorKind::Busy
                | ErrorKind::Permission
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.device.is_empty() {
            write!(f, "{}: ", self.device)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// The driver's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_device_message_cause_and_hint_on_one_line() {
        let e = Error::io(
            "0000:03:00.0",
            "opening resource0",
            io::Error::from(io::ErrorKind::PermissionDenied),
        )
        .hint("run as root or bind the device to vfio-pci");
        let s = e.to_string();
        assert!(s.starts_with("0000:03:00.0: opening resource0: "), "{s}");
        assert!(
            s.ends_with("; run as root or bind the device to vfio-pci"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        assert_eq!(e.kind(), ErrorKind::Permission);
        assert!(e.is_user_error());
        assert!(!Error::new(ErrorKind::Timeout, "", "link").is_user_error());
    }
}
