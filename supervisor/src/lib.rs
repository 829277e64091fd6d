//! `ixy-supervisor` as a library: validate the command line, initialise the
//! devices with RSS, fork the workers, supervise and stop them
//! (DESIGN.md 7). The binary is a thin `main` around [`run`].

pub mod budget;
pub mod cli;
pub mod process;
pub mod rundir;
pub mod summary;
pub mod supervise;

pub use cli::{Args, Config};

/// Runs a validated configuration to the end; returns the exit code.
pub fn run(cfg: Config) -> driver::Result<i32> {
    let debug = cfg.debug_worker;
    let sup = supervise::Supervisor::new(cfg)?;
    match debug {
        Some(k) => sup.run_debug_worker(k),
        None => sup.run(),
    }
}
