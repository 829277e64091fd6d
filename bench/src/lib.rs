//! `make bench` for ixy-mp: the cost of the driver and the worker per
//! packet against batch size ([`cost`], counted by [`callgrind`]), end to
//! end throughput and scaling ([`e2e`]), tables ([`report`]) and plots
//! ([`plot`]). `BENCHMARKS.md` holds what it printed.

#![forbid(unsafe_code)]

pub mod callgrind;
pub mod cost;
pub mod e2e;
pub mod plot;
pub mod report;
