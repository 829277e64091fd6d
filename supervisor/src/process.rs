//! Creating worker processes. `fork` is the one unsafe operation of the
//! supervisor; it is sound here because the supervisor never starts a
//! thread (signals come through a signalfd), so the child inherits a
//! consistent, single-threaded copy of the process.

use driver::{Device, Error, ErrorKind, Result};
use nix::sys::signal::Signal;
use nix::unistd::ForkResult;
use worker::{AppFactory, WorkerSpec};

/// Forks the process.
#[allow(unsafe_code)]
pub fn fork() -> Result<ForkResult> {
    // SAFETY: the supervisor is single-threaded whenever it forks (it never
    // spawns threads outside --debug-worker, which does not fork), so the
    // child may run arbitrary code, allocation included.
    unsafe { nix::unistd::fork() }
        .map_err(|e| Error::new(ErrorKind::Io, "ixy-supervisor", format!("fork: {e}")))
}

/// The body of a worker process: runs the app `factory` makes for it;
/// returns its exit status.
pub fn worker_child<F: AppFactory>(spec: &WorkerSpec, devices: &[Device], factory: &F) -> i32 {
    // Die with the supervisor rather than run on unsupervised.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        log::warn!("worker {}: PR_SET_PDEATHSIG: {e}", spec.index);
    }
    match worker::run_with(spec, devices, |w| factory.make(w)) {
        Ok(()) => 0,
        // The supervisor stops the run: a restart would fail the same way.
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            log::error!("worker {}: {e}", spec.index);
            worker::EXIT_BAD_APP
        }
        // The supervisor names the device (one line) and does not restart
        // a worker that exits with this.
        Err(e) if e.kind() == ErrorKind::DeviceLost => {
            log::debug!("worker {}: {e}", spec.index);
            worker::EXIT_DEVICE_LOST
        }
        Err(e) => {
            log::error!("worker {}: {e}", spec.index);
            1
        }
    }
}
