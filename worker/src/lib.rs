//! The ixy-mp worker runtime (issue 4): one pinned process per rx/tx queue
//! pair. Not built yet; this crate only holds the workspace place.
