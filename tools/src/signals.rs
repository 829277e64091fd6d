//! SIGINT, SIGTERM and SIGHUP for `ixy-pktgen` and `ixy-latency`: a signal
//! only sets a flag, which their send loops check. They then stop sending,
//! let the frames in flight come back, print their summary and return, so
//! that every destructor runs: queues are disabled and the DMA memory (the
//! hugepage files `ixy-DEVICE-TAG-PID-N`) is freed before the process exits.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process: `ctrlc` runs it on a thread of
/// its own, not in signal context) and returns the flag it sets. Call it
/// before allocating any DMA memory: until then a signal kills the process
/// with nothing to free.
pub fn stop_on_signals() -> Result<&'static AtomicBool, String> {
    ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed))
        .map_err(|e| format!("installing the SIGINT/SIGTERM handler: {e}"))?;
    Ok(&STOP)
}
