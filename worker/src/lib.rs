//! The ixy-mp worker runtime: one process per rx/tx queue pair, pinned to
//! its core, with its own mempool, running an [`App`] in a busy-poll loop
//! (DESIGN.md 7) and publishing live counters in its stats file (8).
//!
//! Users write apps by implementing [`App`]; the built-in ones are in
//! [`apps`]. `examples/flow_counter.rs` shows one written outside the crate.

pub mod app;
pub mod apps;
pub mod portfile;
pub mod runtime;
pub mod statsfile;

pub use app::{App, Outputs};
pub use runtime::{run, Idle, Poller, WorkerSpec, EXIT_DEVICE_LOST};
