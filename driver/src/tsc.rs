//! The CPU's time stamp counter: cycle accounting in the workers' busy
//! loop without a system call (docs/DESIGN.md 8: cycles per packet).

use std::time::{Duration, Instant};

/// The time stamp counter now (a monotonic count of reference cycles on
/// x86_64 with an invariant TSC; nanoseconds elsewhere).
#[inline]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC reads a counter; it has no memory effects and exists on
    // every x86_64 CPU.
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// The time stamp counter, read in program order: every instruction
/// before it has completed and none after it has started (`lfence; rdtsc;
/// lfence`). For timing short regions, where a plain [`now`] may run
/// before the work it should follow.
#[inline]
pub fn now_ordered() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: LFENCE and RDTSC have no memory effects and exist on every
    // x86_64 CPU (SSE2 is baseline).
    unsafe {
        use std::arch::x86_64::{_mm_lfence, _rdtsc};
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        now()
    }
}

/// Measures the counter's frequency over `window` (10 ms is plenty).
pub fn hz(window: Duration) -> u64 {
    let (t0, c0) = (Instant::now(), now());
    std::thread::sleep(window);
    let (secs, cycles) = (t0.elapsed().as_secs_f64(), now().wrapping_sub(c0));
    (cycles as f64 / secs) as u64
}

/// The host's `CLOCK_MONOTONIC` in ns: the time line of the simulator's
/// 1588 clock anchor (`simfmt::bar::ClockAnchor`) and of the workers'
/// heartbeats. Through the vDSO where the clock source allows, no system
/// call.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}
