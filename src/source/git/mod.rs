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
pub mod remote;
mod repo;
mod shard;
mod store;
mod submodules;
mod sweep;
mod treeindex;
mod treewalk;
mod vet;
mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use gix::ObjectId;

pub use base::{BaseSide, range_base};
pub(crate) use objects::{Bounded, find_bounded, too_big_reason};
pub use push::{Push, PushedRef};
pub use receive::{Incoming, RefUpdate};
pub use remote::{Remote, Target, parse_target, repo_shard};
pub(crate) use repo::repo_ignore_files;
pub use repo::{describe, open_repo, open_repo_with_refs, public_url};
pub use shard::parse_shard;

use super::{Sink, Source};

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Worker threads; 0: one per core.
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

impl HistoryOptions {
    /// How many workers `threads` means: what a rayon pool makes of 0 (one per core), for the
    /// threads started outside one (gitoxide's delta resolver, the tree walk). Taken as 1 there,
    /// 0 had left one core of two idle through every pack.
    pub(crate) fn workers(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
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

/// Several histories in one run (an organisation's mirrors, or URLs cloned here): one report,
/// each finding naming its repository. A repository that cannot be fetched or read is recorded and
/// the others are swept; only if none can be is the run an error.
///
/// The next repository is cloned while the current one is swept; the clone waits until the sweep
/// is done (and, in a temporary directory, its mirror removed) before the one after it starts, so
/// at most two mirrors are on disk at a time.
#[derive(Default)]
pub struct Histories {
    pub targets: Vec<Target>,
    pub opts: HistoryOptions,
    /// `--clone-dir`: mirrors kept there and fetched into by the next run; none: a temporary one.
    pub clone_dir: Option<PathBuf>,
    /// Name every location's repository (set for several repositories, for URLs and with a state).
    pub named: bool,
    /// `--state`: the tips past runs swept, per repository. With it, a repository is swept only
    /// for what its refs reach that those tips do not; without it, whole.
    pub known: Option<BTreeMap<String, Vec<Tip>>>,
    /// With `known`: the tips of each repository whose sweep succeeded, to keep for the next run.
    pub swept: Mutex<BTreeMap<String, Vec<Tip>>>,
}

/// A ref tip a sweep started from: the ref's name, what it names (peeled) and its kind (`commit`,
/// `tree`, `blob`, or `tag` for an annotated tag object whose text was scanned).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tip {
    pub name: String,
    pub kind: String,
    pub id: String,
}

impl Source for Histories {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        if let [Target::Path(repo)] = &self.targets[..]
            && self.known.is_none()
            && !self.named
        {
            return scan_repo(repo, &self.opts, sink);
        }
        if self.targets.is_empty() {
            sink.note("no repository to sweep (none falls in this shard)");
            return Ok(());
        }
        let clones = match self.targets.iter().any(|t| matches!(t, Target::Remote(_))) {
            true => Some(remote::Clones::new(self.clone_dir.as_deref())?),
            false => None,
        };
        let timings = Timings::new();
        let mut failed = Vec::new();
        let (mut scanning, mut waiting) = (Duration::ZERO, Duration::ZERO);
        let cloning = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(&Target, Result<PathBuf>)>(0);
            let (targets, clones) = (&self.targets, clones.as_ref());
            let cloner = s.spawn(move || {
                let mut took = Duration::ZERO;
                for t in targets {
                    let started = Instant::now();
                    let got = match (t, clones) {
                        (Target::Path(p), _) => Ok(p.clone()),
                        (Target::Remote(r), Some(c)) => c.fetch(r),
                        (Target::Remote(r), None) => Err(anyhow::anyhow!("no clone directory for {}", r.url)),
                    };
                    took += started.elapsed();
                    // The sweep gave up: no more clones.
                    if tx.send((t, got)).is_err() {
                        break;
                    }
                }
                took
            });
            loop {
                let asked = Instant::now();
                let Ok((target, got)) = rx.recv() else { break };
                waiting += asked.elapsed();
                let name = target.name();
                let started = Instant::now();
                let result = got.and_then(|path| {
                    let swept = self.sweep_one(&path, &name, sink);
                    if let (Target::Remote(_), Some(c)) = (target, clones) {
                        c.done(&path);
                    }
                    swept
                });
                scanning += started.elapsed();
                timings.stage(&format!("{} swept", crate::text::escape(&name)));
                if let Err(e) = result {
                    sink.skip(format!("({name})"), format!("repository not swept: {e:#}"));
                    failed.push(e);
                }
            }
            cloner.join().unwrap_or_default()
        });
        if clones.is_some() {
            timings.stage(&format!(
                "fetching {:.3} s (beside the sweeps), sweeping {:.3} s, waiting for a fetch {:.3} s",
                cloning.as_secs_f64(),
                scanning.as_secs_f64(),
                waiting.as_secs_f64()
            ));
        }
        match failed.len() {
            0 => Ok(()),
            n if n == self.targets.len() => Err(failed.swap_remove(0).context(format!(
                "none of the {n} repositories could be swept; the first error"
            ))),
            n => {
                sink.note(format!(
                    "{n} of {} repositories could not be swept (see skipped)",
                    self.targets.len()
                ));
                Ok(())
            }
        }
    }

    fn ignore_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        let paths = self.targets.iter().filter_map(|t| match t {
            Target::Path(p) => Some(p),
            Target::Remote(_) => None,
        });
        for f in paths.flat_map(|r| repo_ignore_files(r)) {
            if !files.contains(&f) {
                files.push(f);
            }
        }
        files
    }
}

impl Histories {
    fn sweep_one(&self, path: &Path, name: &str, sink: &dyn Sink) -> Result<()> {
        let opts = HistoryOptions {
            repository: self.named.then(|| name.to_string()),
            ..self.opts.clone()
        };
        let Some(known) = &self.known else {
            return scan_repo(path, &opts, sink);
        };
        let tips = scan_since(path, &opts, known.get(name).map(Vec::as_slice), sink)?;
        self.swept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), tips);
        Ok(())
    }
}

/// `--state`: sweeps what the refs reach now that the `old` tips did not (everything, with no old
/// tips), and says which tips that was.
fn scan_since(path: &Path, opts: &HistoryOptions, old: Option<&[Tip]>, sink: &dyn Sink) -> Result<Vec<Tip>> {
    let repo = open_repo_with_refs(path)?;
    // Read before the sweep: a ref that moves during it is swept again next time, never missed.
    // Unreadable refs are the sweep's to report.
    let tips = refs::ref_tips(&repo, &Quiet)?;
    let mut now = Vec::new();
    for (list, kind) in [
        (&tips.commits, "commit"),
        (&tips.trees, "tree"),
        (&tips.blobs, "blob"),
        (&tips.tags, "tag"),
    ] {
        now.extend(list.iter().map(|(id, name)| Tip {
            name: name.clone(),
            kind: kind.to_string(),
            id: id.to_string(),
        }));
    }
    let Some(old) = old else {
        scan_repo(path, opts, sink)?;
        return Ok(now);
    };
    repo::note_partial_clone(&repo, sink);
    repo::note_shallow(&repo, sink);
    store::check_packs(&repo, sink);
    let known: gix::hashtable::HashSet = old
        .iter()
        .filter_map(|t| ObjectId::from_hex(t.id.as_bytes()).ok())
        .collect();
    // A tip swept before but gone since (a force-push, then gc) hides nothing: what it reached is
    // swept again.
    let hidden: Vec<ObjectId> = old
        .iter()
        .filter(|t| t.kind == "commit")
        .filter_map(|t| ObjectId::from_hex(t.id.as_bytes()).ok())
        .filter(|id| repo.has_object(id))
        .collect();
    let objects: Vec<(ObjectId, gix::objs::Kind, String)> = tips
        .trees
        .iter()
        .map(|(id, n)| (*id, gix::objs::Kind::Tree, n.clone()))
        .chain(
            tips.blobs
                .iter()
                .map(|(id, n)| (*id, gix::objs::Kind::Blob, n.clone())),
        )
        .filter(|(id, _, _)| !known.contains(id))
        .collect();
    let swept = sweep::scan_brought(&repo, &tips.commits, &hidden, &objects, opts, sink, |_| {})?;
    let tags: Vec<(ObjectId, String)> = tips
        .tags
        .iter()
        .filter(|(id, _)| !known.contains(id))
        .cloned()
        .collect();
    sweep::scan_tag_messages(&repo, &tags, opts, sink);
    follow_up(&repo, &swept, opts, sink)?;
    Ok(now)
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
                sweep::scan_message(&repo, commit, opts, &[], sink);
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
    let timings = Timings::new();
    let mut scanned = store::scan_store(repo, opts, &named_tags, sink)?;
    timings.stage("store (inflate and scan every object)");
    if partial {
        scanned.blobs = None;
    }
    // The commit walk, needed only to place what the scan finds, takes the commits the scan read:
    // only one it did not (in a pack that fails part-way) is read again.
    let walker_repo = repo::with_delta_cache(repo.clone());
    let mut headers = std::mem::take(&mut scanned.headers);
    let walked = walk::walk_known(&walker_repo, &tips.commits, &[], sink, &mut headers);
    drop(headers);
    timings.stage("walk (commits the scan read)");
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
