//! Shared code of the ixy-mp tools (`ixy-pktgen`, `ixy-latency`,
//! `ixy-stats`), which arrive with issues 4 and 5.
//!
//! - [`stats`]: reading a run directory's stats files and turning two
//!   samples into the rows, tables and JSON that `ixy-stats` prints.

pub mod flows;
pub mod stats;
