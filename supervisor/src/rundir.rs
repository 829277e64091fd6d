//! The run directory (docs/DESIGN.md 8): checked before anything is touched
//! ([`check`]), held by one supervisor at a time and cleared of the files of
//! earlier runs ([`RunDir::claim`]), so that everything the supervisor, its
//! workers and `ixy-stats` find there belongs to this run and no name in it
//! leads anywhere else.

use driver::{Error, ErrorKind, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The lock file a supervisor holds for its whole life.
pub const LOCK_FILE: &str = "supervisor.lock";

/// Creates `dir` if it is missing (mode 0755 before the umask) and checks
/// that only this user can change what is in it: the directory belongs to
/// the effective user and is writable by no one else, and every directory
/// above it belongs to root or to this user and is writable by no one else
/// unless it has the sticky bit (like `/tmp`). Returns the directory's
/// canonical path, which the supervisor uses from then on. The error is one
/// line for `--run-dir`.
pub fn check(dir: &Path) -> std::result::Result<PathBuf, String> {
    let shown = dir.display();
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| format!("--run-dir {shown}: cannot create it: {e}"))?;
    }
    let real = dir
        .canonicalize()
        .map_err(|e| format!("--run-dir {shown}: {e}"))?;
    let me = nix::unistd::geteuid().as_raw();
    let meta = std::fs::metadata(&real).map_err(|e| format!("--run-dir {shown}: {e}"))?;
    if !meta.is_dir() {
        return Err(format!("--run-dir {shown}: not a directory"));
    }
    if meta.uid() != me {
        return Err(format!(
            "--run-dir {shown}: belongs to uid {}, not to this user (uid {me}): use a directory of your own",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "--run-dir {shown}: writable by other users (mode {:04o}): run chmod go-w on it or use another directory",
            meta.mode() & 0o7777
        ));
    }
    for above in real.ancestors().skip(1) {
        let m = std::fs::metadata(above).map_err(|e| format!("--run-dir {shown}: {e}"))?;
        let others_write = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
        if (m.uid() != 0 && m.uid() != me) || others_write {
            return Err(format!(
                "--run-dir {shown}: {} above it can be changed by other users (uid {}, mode {:04o}): use a run dir under a directory only you or root can change",
                above.display(),
                m.uid(),
                m.mode() & 0o7777
            ));
        }
    }
    let probe = real.join(format!(".probe-{}", std::process::id()));
    worker::statsfile::create_fresh(&probe)
        .map_err(|e| format!("--run-dir {shown}: not writable: {e}"))?;
    let _ = std::fs::remove_file(probe);
    Ok(real)
}

/// Whether `name` is a file a supervisor's run leaves in its run dir:
/// `worker-N.stats`, `worker-N.dma`, `port-N.stats`, `port-N.stats.tmp`,
/// `.probe-N`.
pub fn is_run_file(name: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let numbered = |prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
            .is_some_and(number)
    };
    numbered("worker-", ".stats")
        || numbered("worker-", ".dma")
        || numbered("port-", ".stats")
        || numbered("port-", ".stats.tmp")
        || numbered(".probe-", "")
}

/// A run directory held by this supervisor: an exclusive `flock` on its
/// [`LOCK_FILE`], released by the kernel when the supervisor and its
/// workers are gone.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: Flock<File>,
}

impl RunDir {
    /// Takes `dir` (checked by [`check`]) for this supervisor, or fails
    /// with [`ErrorKind::Busy`] naming the pid that holds it; then removes
    /// every file an earlier run left ([`is_run_file`]), so that each is
    /// created afresh. Unlinking removes a link, never its target.
    pub fn claim(dir: &Path) -> Result<RunDir> {
        let what = |e: std::io::Error, doing: &str| {
            Error::io("", format!("{doing} in run dir {}", dir.display()), e)
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| what(e, &format!("opening {LOCK_FILE}")))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                return Err(Error::new(
                    ErrorKind::Busy,
                    "",
                    format!(
                        "run dir {} is in use by pid {} (ixy-supervisor)",
                        dir.display(),
                        if pid.is_empty() { "?" } else { pid }
                    ),
                )
                .hint("give this instance its own --name or --run-dir"));
            }
            Err((_, e)) => return Err(what(e.into(), &format!("locking {LOCK_FILE}"))),
        };
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|_| writeln!(lock, "{}", std::process::id()))
            .map_err(|e| what(e, &format!("writing {LOCK_FILE}")))?;
        let entries = std::fs::read_dir(dir).map_err(|e| what(e, "listing the files"))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(is_run_file) {
                std::fs::remove_file(entry.path())
                    .map_err(|e| what(e, &format!("removing {}", name.to_string_lossy())))?;
            }
        }
        Ok(RunDir {
            path: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ixy-rundir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn run_files_are_recognised() {
        for n in [
            "worker-0.stats",
            "worker-15.dma",
            "port-1.stats",
            "port-0.stats.tmp",
            ".probe-123",
        ] {
            assert!(is_run_file(n), "{n}");
        }
        for n in [
            "worker-.stats",
            "worker-x.stats",
            "port-1.statsx",
            "supervisor.lock",
            "notes.txt",
            "worker-1.stats.bak",
        ] {
            assert!(!is_run_file(n), "{n}");
        }
    }

    #[test]
    fn a_missing_dir_is_created_private_and_an_open_one_refused() {
        let d = scratch("check");
        let real = check(&d.join("a/b")).unwrap();
        let mode = std::fs::metadata(&real).unwrap().mode();
        assert_eq!(mode & 0o022, 0, "{mode:o}");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&real).unwrap_err();
        assert!(e.contains("writable by other users"), "{e}");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(check(&real).is_err(), "group-writable too");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("a"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&real).unwrap_err();
        assert!(e.contains("above it can be changed"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_claimed_dir_is_cleared_and_refused_to_a_second_claim() {
        let d = scratch("claim");
        let d = check(&d).unwrap();
        let target = d.join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, d.join("worker-0.stats")).unwrap();
        std::fs::write(d.join("port-3.stats"), b"old").unwrap();
        std::fs::write(d.join("worker-2.dma"), b"old").unwrap();
        let held = RunDir::claim(&d).unwrap();
        let left: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, [LOCK_FILE, "target"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        let e = RunDir::claim(&d).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(
            e.to_string()
                .contains(&format!("in use by pid {}", std::process::id())),
            "{e}"
        );
        drop(held);
        RunDir::claim(&d).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
