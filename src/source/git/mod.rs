//! Git history (gitoxide, no `git` process): every blob reachable from every ref, each distinct blob
//! scanned once, attributed to the first commit (oldest first) that has it and the path it has there;
//! or, with a range, only the blobs the range's commits introduce.
//!
//! The sweep is one pipeline: open the repository (`repo`), find what the refs name (`refs`),
//! walk the commits (`walk`) and plan the blobs to scan (`plan`) while a pool scans them
//! (`sweep`), then the messages, then the submodules (`submodules`).

mod objects;
mod plan;
mod refs;
mod repo;
mod shard;
mod submodules;
mod sweep;
mod walk;

use std::path::{Path, PathBuf};

use anyhow::Result;

pub use repo::open_repo;
pub(crate) use repo::repo_ignore_files;
pub use shard::parse_shard;

use super::{Sink, Source};

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    pub threads: usize,
    pub max_file_size: u64,
    /// `BASE..HEAD`: only what the commits in the range introduce.
    pub range: Option<String>,
    /// With a range whose BASE is missing (shallow CI checkout), scan what is there instead of failing.
    pub shallow_ok: bool,
    /// With a zero BASE: the branch that was pushed (else taken from the HEAD side or the checkout).
    pub branch: Option<String>,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
    /// `(i, n)`: scan only the objects in shard `i` of `n` (0-based).
    pub shard: Option<(u64, u64)>,
    /// Also sweep the repositories of submodules that have a local clone.
    pub submodules: bool,
    /// Prepended to every reported path (a submodule's path in its superproject).
    pub prefix: String,
}

/// The history of the repository at or above `repo`.
pub struct History {
    pub repo: PathBuf,
    pub opts: HistoryOptions,
}

impl Source for History {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        scan_repo(&self.repo, &self.opts, sink)
    }

    /// `.sgscanignore` at the top of the work tree, then in the current directory.
    fn ignore_files(&self) -> Vec<PathBuf> {
        repo_ignore_files(&self.repo)
    }
}

fn scan_repo(path: &Path, opts: &HistoryOptions, sink: &dyn Sink) -> Result<()> {
    let repo = open_repo(path)?;
    repo::note_partial_clone(&repo, sink);
    if opts.range.is_none() {
        sweep::scan_tag_messages(&repo, opts, sink);
    }
    repo::note_shallow(&repo, sink);
    let bad_packs = repo::check_packs(&repo, sink);
    let mut swept = sweep::scan_planned(&repo, opts, sink, |plan| match &opts.range {
        None => plan::plan_full(&repo, &bad_packs, sink, plan),
        Some(range) => plan::plan_range(&repo, range, opts, sink, plan),
    })?;
    if let Some((i, n)) = opts.shard {
        swept.commits.retain(|c| shard::shard_of(c, n) == i);
    }
    for &commit in &swept.commits {
        sweep::scan_message(&repo, commit, &opts.prefix, sink);
    }
    if swept.lfs > 0 {
        sink.note(format!(
            "{} Git LFS pointer files: their content is on the LFS server and was not scanned",
            swept.lfs
        ));
    }
    submodules::follow(&repo, &swept.submodules, opts, sink)
}
