//! The ixy-mp tools: `ixy-pktgen`, `ixy-latency` and `ixy-stats`. Their
//! binaries only parse the command line; the work is here.
//!
//! - [`cli`]: clap with one-line errors and exit code 2.
//! - [`flows`]: the one traffic generator and verifier (flows, sequence
//!   tags, loss / duplicate / reorder accounting) used by every tool and test.
//! - [`pktgen`]: MoonGen-like load through the device under test.
//! - [`latency`] and [`histogram`]: hardware-timestamped probes, clock
//!   synchronisation, HDR histograms, bar charts, CSV.
//! - [`stats`]: reading a run directory's stats files and turning two
//!   samples into the rows, tables and JSON that `ixy-stats` prints.
//! - [`mac`]: the one MAC address syntax of every option and `lab.conf`.
//! - [`json`]: JSON strings and rounded numbers, through `serde_json`.
//! - [`signals`]: SIGINT/SIGTERM as a flag the send loops check.
//! - [`fuzz`]: the checks the fuzz targets of the tag and probe parsers run.

#![forbid(unsafe_code)]

pub mod cli;
pub mod flows;
pub mod fuzz;
pub mod histogram;
pub mod json;
pub mod latency;
pub mod mac;
pub mod pktgen;
pub mod plot;
pub mod signals;
pub mod stats;
pub mod taps;
