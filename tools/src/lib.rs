//! Shared code of the ixy-mp tools (`ixy-pktgen`, `ixy-latency`,
//! `ixy-stats`), which arrive with issues 4 and 5.
