//! The simulator's files, defined once for both sides of them
//! (`sim/README.md` 2–4, a contract: programs in other languages read and
//! write them too).
//!
//! The driver reaches a simulated port through these files as it reaches a
//! PCI device through its BAR and its IOMMU ([`crate::simdev`]); the
//! simulator (`sim`) is the device behind them and uses the same
//! definitions: where a lab keeps its files (this module), the BAR file and
//! its sim page ([`bar`]), and the IOMMU table ([`iommu`]). Shared files
//! are reached through [`crate::shm::SharedMap`].

pub mod bar;
pub mod iommu;

use std::path::{Path, PathBuf};

/// Environment variable naming the directory that holds labs.
pub const ENV_DIR: &str = "IXY_SIM_DIR";
/// Labs live here unless `IXY_SIM_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm/ixy-sim";

/// The directory that holds labs: `$IXY_SIM_DIR`, else [`DEFAULT_DIR`].
/// Lab `LAB` lives in its subdirectory `LAB`.
pub fn labs_root() -> PathBuf {
    std::env::var_os(ENV_DIR).map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// Name of the IOMMU table in a lab directory.
pub const IOMMU_FILE: &str = "iommu";

/// The BAR file of `port` in the lab directory `lab_dir`: `portN/bar0`.
pub fn bar_path(lab_dir: &Path, port: usize) -> PathBuf {
    lab_dir.join(format!("port{port}")).join("bar0")
}

/// The IOMMU table of the lab in `lab_dir`.
pub fn iommu_path(lab_dir: &Path) -> PathBuf {
    lab_dir.join(IOMMU_FILE)
}

/// The lock file a running lab holds an exclusive `flock` on for its whole
/// life: `ROOT/LAB.lock`, beside the lab directory `ROOT/LAB`
/// (`sim/README.md` 2).
pub fn lock_path(lab_dir: &Path) -> PathBuf {
    let mut name = lab_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    lab_dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_keeps_its_files_where_the_readme_says() {
        let lab = Path::new("/dev/shm/ixy-sim/demo");
        assert_eq!(
            bar_path(lab, 3),
            Path::new("/dev/shm/ixy-sim/demo/port3/bar0")
        );
        assert_eq!(iommu_path(lab), Path::new("/dev/shm/ixy-sim/demo/iommu"));
        assert_eq!(lock_path(lab), Path::new("/dev/shm/ixy-sim/demo.lock"));
    }
}
