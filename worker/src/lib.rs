//! The ixy-mp worker runtime: one process per rx/tx queue pair, pinned to
//! its core, with its own mempool, running an [`App`] in a busy-poll loop
//! (docs/DESIGN.md 7) and publishing live counters in its stats file (8).
//!
//! Users write apps by implementing [`App`] and run them under the
//! supervisor library with an [`AppFactory`] (`ixy_supervisor::main`; the
//! README's "Write your own app"); the built-in ones are in [`apps`].

#![forbid(unsafe_code)]

pub mod app;
pub mod apps;
pub mod pcap;
pub mod portfile;
pub mod runtime;
pub mod statsfile;

pub use app::{factory, App, AppFactory, Outputs, WorkerInfo};
pub use runtime::{run, run_with, Idle, Poller, WorkerSpec, EXIT_BAD_APP, EXIT_DEVICE_LOST};
