//! Git history (gitoxide, no `git` process): every blob reachable from every ref, each distinct blob
//! scanned once, attributed to the first commit (oldest first) that has it and the path it has there;
//! or, with a range, only the blobs the range's commits introduce.
//!
//! A full sweep reads the object store in pack order (`store`), every object once, on all cores,
//! while the commits are walked (`walk`) on a thread of their own; only for the blobs that held
//! something are the trees then walked to say where they were (`attribute`). A range walks its
//! commits and plans the blobs they bring (`plan`), scanned by a pool as they are planned
//! (`sweep`). Submodules come last (`submodules`).

mod attribute;
mod base;
mod fetch;
mod objects;
mod plan;
mod presence;
mod progress;
mod push;
mod receive;
mod refs;
mod repo;
mod shard;
mod store;
mod submodules;
mod sweep;
mod treeindex;
mod treewalk;
mod vet;
mod walk;

use std::path::{Path, PathBuf};

use anyhow::Result;

pub use base::{BaseSide, range_base};
pub(crate) use objects::{Bounded, find_bounded, too_big_reason};
pub use push::{Push, PushedRef};
pub use receive::{Incoming, RefUpdate};
pub(crate) use repo::repo_ignore_files;
pub use repo::{describe, open_repo, open_repo_with_refs, public_url};
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
    /// With a zero BASE: the ref that was pushed, a branch (`NAME` or `refs/heads/NAME`) or a tag
    /// (`refs/tags/NAME`); else the branch taken from the HEAD side or the checkout.
    pub branch: Option<String>,
    /// With a zero BASE: the remote's default branch (from the CI's event data; else the remote's
    /// `HEAD`). The only branch taken as the remote's before the push whatever its tip: another
    /// branch at or past the pushed commit may have come in the same push.
    pub default_branch: Option<String>,
    /// `sgscan ci`: in a shallow clone, fetch from `origin` what the range needs first.
    pub ci: bool,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
    /// `(i, n)`: scan only the objects in shard `i` of `n` (0-based).
    pub shard: Option<(u64, u64)>,
    /// Also sweep the repositories of submodules that have a local clone.
    pub submodules: bool,
    /// Prepended to every reported path (a submodule's path in its superproject).
    pub prefix: String,
    /// Named in every origin, when a run sweeps more than one repository.
    pub repository: Option<String>,
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

/// Several histories in one run (an organisation's mirrors): one report, each finding naming its
/// repository. A repository that cannot be read is recorded and the others are swept; only if none
/// can be read is the run an error.
pub struct Histories {
    pub repos: Vec<PathBuf>,
    pub opts: HistoryOptions,
}

impl Source for Histories {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        if let [repo] = &self.repos[..] {
            return scan_repo(repo, &self.opts, sink);
        }
        let mut failed = Vec::new();
        for repo in &self.repos {
            let opts = HistoryOptions {
                repository: Some(repo.display().to_string()),
                ..self.opts.clone()
            };
            if let Err(e) = scan_repo(repo, &opts, sink) {
                sink.skip(
                    format!("({})", repo.display()),
                    format!("repository not swept: {e:#}"),
                );
                failed.push(e);
            }
        }
        match failed.len() {
            0 => Ok(()),
            n if n == self.repos.len() => Err(failed.swap_remove(0).context(format!(
                "none of the {n} repositories could be swept; the first error"
            ))),
            n => {
                sink.note(format!(
                    "{n} of {} repositories could not be swept (see skipped)",
                    self.repos.len()
                ));
                Ok(())
            }
        }
    }

    fn ignore_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        for f in self.repos.iter().flat_map(|r| repo_ignore_files(r)) {
            if !files.contains(&f) {
                files.push(f);
            }
        }
        files
    }
}

fn scan_repo(path: &Path, opts: &HistoryOptions, sink: &dyn Sink) -> Result<()> {
    // Checked before `git fetch` runs in it: a FIFO in the git directory, reftable refs.
    open_repo_with_refs(path)?;
    let prepared = match opts.ci {
        true => fetch::prepare(path, opts, sink),
        false => plan::Prepared::default(),
    };
    // Opened again: the fetch may have brought packs.
    let repo = open_repo_with_refs(path)?;
    let partial = repo::note_partial_clone(&repo, sink);
    repo::note_shallow(&repo, sink);
    let swept = match &opts.range {
        None => sweep_store(&repo, opts, partial, sink)?,
        Some(range) => {
            store::check_packs(&repo, sink);
            let mut swept = sweep::scan_planned(&repo, opts, sink, |plan| {
                plan::plan_range(&repo, range, opts, &prepared, sink, plan)
            })?;
            if let Some((i, n)) = opts.shard {
                swept.commits.retain(|c| shard::shard_of(c, n) == i);
            }
            for &commit in &swept.commits {
                sweep::scan_message(&repo, commit, &opts.prefix, &[], sink);
            }
            swept
        }
    };
    follow_up(&repo, &swept, opts, sink)
}

/// What a sweep leaves to others: the LFS server's content (noted) and the submodules' histories.
fn follow_up(
    repo: &gix::Repository,
    swept: &sweep::Swept,
    opts: &HistoryOptions,
    sink: &dyn Sink,
) -> Result<()> {
    if swept.lfs > 0 {
        sink.note(format!(
            "{} Git LFS pointer files: their content is on the LFS server and was not scanned",
            swept.lfs
        ));
    }
    submodules::follow(repo, &swept.submodules, opts, sink)
}

/// The full sweep: every object in the store, then the places of those that held something.
fn sweep_store(
    repo: &gix::Repository,
    opts: &HistoryOptions,
    partial: bool,
    sink: &dyn Sink,
) -> Result<sweep::Swept> {
    let tips = refs::ref_tips(repo, sink)?;
    if tips.named == 0 {
        sink.note("the repository has no commits");
    }
    // Annotated tags are read through the refs that reach them, under their names; the store
    // reads those no ref reaches (a tag whose ref was deleted).
    sweep::scan_tag_messages(repo, &tips.tags, opts, sink);
    let named_tags: gix::hashtable::HashSet = tips.tags.iter().map(|(id, _)| *id).collect();
    // The commit walk is needed only to place what the scan finds, but costs little and overlaps it.
    let walker_repo = repo::with_delta_cache(repo.clone());
    let timings = Timings::new();
    let (scanned, walked) = std::thread::scope(|s| {
        let tips = &tips;
        let walker = s.spawn(move || {
            let walked = walk::walk(&walker_repo, &tips.commits, &[], sink);
            timings.stage("walk (commits, beside the scan)");
            walked
        });
        let scanned = store::scan_store(repo, opts, &named_tags, sink);
        timings.stage("store (inflate and scan every object)");
        (scanned, walker.join())
    });
    let mut scanned = scanned?;
    if partial {
        scanned.blobs = None;
    }
    let walked = walked.map_err(|_| anyhow::anyhow!("the commit walk failed"))?;
    if tips.named > 0 && walked.is_empty() && tips.trees.is_empty() && tips.blobs.is_empty() {
        // Refs that name objects none of which can be read: a damaged object store, not an empty
        // history. Saying "no keys" here would be a lie.
        let packs = match scanned.bad_packs.first() {
            Some(p) => format!(
                "; {} pack file(s) cannot be opened, first: {p}",
                scanned.bad_packs.len()
            ),
            None => String::new(),
        };
        anyhow::bail!(
            "nothing in this repository could be read: {} ref(s) name objects that are missing or unreadable ({}){packs}; \
             its object store is damaged (`git fsck` says more)",
            tips.named,
            tips.first_error
                .as_deref()
                .unwrap_or("every commit reached is unreadable"),
        );
    }
    let places = attribute::places(repo, opts, &tips, &walked, &scanned, sink);
    sink.attribute(&places);
    timings.stage(&format!(
        "attribute ({} objects read, {} blobs and {} messages to place)",
        scanned.objects,
        scanned.hits.len(),
        scanned.message_hits.len()
    ));
    places.skip_too_big(&scanned.too_big, sink);
    Ok(sweep::Swept {
        commits: Vec::new(),
        submodules: places.submodules.clone(),
        lfs: scanned.lfs,
    })
}

/// Stage times on stderr when `SGSCAN_TIMINGS` is set: what the README's per-stage breakdown is
/// measured with.
#[derive(Clone, Copy)]
struct Timings(Option<std::time::Instant>);

impl Timings {
    fn new() -> Timings {
        Timings(std::env::var_os("SGSCAN_TIMINGS").map(|_| std::time::Instant::now()))
    }

    fn stage(&self, what: &str) {
        if let Some(start) = self.0 {
            eprintln!("sgscan timings: {:>8.3} s  {what}", start.elapsed().as_secs_f64());
        }
    }
}

/// A sink that keeps nothing: for the walks that only plan (is the range all here? where does the
/// head leave it?), whose findings and skips the range's own scan reports.
struct Quiet;

impl Sink for Quiet {
    fn blob(&self, _: &[u8], _: &dyn Fn() -> crate::model::Origin) {}
    fn message(&self, _: &[u8], _: &dyn Fn() -> crate::model::Origin) {}
    fn header(&self, _: &[u8], _: &dyn Fn() -> crate::model::Origin) {}
    fn skipped(&self, _: crate::model::Skip) {}
    fn noted(&self, _: String) {}
    fn attribute(&self, _: &dyn super::Attribute) {}
    fn pending_blobs(&self) -> Vec<String> {
        Vec::new()
    }
}
