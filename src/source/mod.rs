//! Sources of bytes. Each source walks its own kind of storage and hands every blob, with its
//! provenance, to a [`crate::findings::Collector`]; none of them knows what is being detected.

pub mod history;
pub mod staged;
pub mod worktree;

/// Files larger than this are skipped unless `--max-file-size` says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;
