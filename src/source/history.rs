//! Git history (gitoxide, no `git` process): every blob reachable from every ref, each distinct blob
//! scanned once, attributed to the first commit (oldest first) that has it and the path it has there;
//! or, with a range, only the blobs the range's commits introduce.

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::objs::tree::EntryMode;
use gix::prelude::FindExt;
use gix::revision::walk::Sorting;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::findings::{Collector, CommitInfo, Origin};

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    pub threads: usize,
    pub max_file_size: u64,
    /// `BASE..HEAD`: only what the commits in the range introduce.
    pub range: Option<String>,
    /// With a range whose BASE is missing (shallow CI checkout), scan what is there instead of failing.
    pub shallow_ok: bool,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
    /// `(i, n)`: scan only the objects in shard `i` of `n` (0-based).
    pub shard: Option<(u64, u64)>,
    /// Also sweep the repositories of submodules that have a local clone.
    pub submodules: bool,
    /// Prepended to every reported path (a submodule's path in its superproject).
    pub prefix: String,
}

/// How deep `--submodules` follows submodules of submodules.
const MAX_SUBMODULE_DEPTH: usize = 8;

/// Which of `n` shards an object belongs to: its id's first 8 bytes, modulo `n`. Object ids are
/// uniformly distributed, so shards are even; the split depends on the id alone, so `n` jobs together
/// scan every object exactly once whatever order they run in.
pub fn shard_of(id: &gix::oid, n: u64) -> u64 {
    let bytes = id.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first) % n.max(1)
}

/// Parses `I/N` (0 <= I < N).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not I/N (e.g. 0/4)"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': I must be a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': N must be a number"))?;
    if n == 0 || i >= n {
        return Err(format!("'{s}': need 0 <= I < N"));
    }
    Ok((i, n))
}

/// A blob to scan and where it was first seen.
struct BlobJob {
    id: ObjectId,
    path: BString,
    commit: ObjectId,
}

/// Opens the repository at or above `path`; bare repositories work too.
pub fn open_repo(path: &Path) -> Result<gix::Repository> {
    if let Err(e) = std::fs::metadata(path) {
        bail!("cannot read {}: {e}", path.display());
    }
    let mut repo =
        gix::discover(path).map_err(|e| anyhow!("{} is not a git repository ({e})", path.display()))?;
    // Trees are read once each, blobs once each: a small cache serves delta bases.
    repo.object_cache_size_if_unset(16 << 20);
    Ok(repo)
}

pub fn scan(path: &Path, opts: &HistoryOptions, sink: &Collector) -> Result<()> {
    let repo = open_repo(path)?;
    note_partial_clone(&repo, sink);
    if opts.range.is_none() {
        scan_tag_messages(&repo, opts, sink);
    }
    if repo.is_shallow().unwrap_or(false) {
        sink.note("shallow clone: history before the shallow boundary is not in this repository and was not scanned");
    }
    let progress = progress_bar(opts.progress);
    let lfs = AtomicU64::new(0);
    let shared = repo.clone().into_sync();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .context("cannot start worker threads")?;
    // Enumeration (reading commits and trees, one thread) and scanning (blob inflation and
    // detection, the pool) overlap: each batch of new blobs is scanned while the walk goes on.
    // Repository handles are reused across batches: each carries a delta-base cache that later
    // blobs of the same files hit.
    let handles: std::sync::Mutex<Vec<(gix::Repository, Vec<u8>)>> = Default::default();
    let workers = pool.current_num_threads();
    let (mut commits, submodules) = pool.in_place_scope(|scope| -> Result<_> {
        let handles = &handles;
        let mut send = |batch: Vec<BlobJob>, last: bool| {
            // While the walk goes on it keeps one core busy, so a batch is one task; the last batch
            // is split across all workers. Contiguous runs of the path-sorted batch keep a file's
            // versions together.
            let chunk = if last {
                batch.len().div_ceil(workers).max(1)
            } else {
                batch.len().max(1)
            };
            let batch = std::sync::Arc::new(batch);
            for start in (0..batch.len()).step_by(chunk) {
                let (batch, shared, lfs, progress) = (batch.clone(), &shared, &lfs, &progress);
                scope.spawn(move |_| {
                    let taken = handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let (repo, mut buf) = taken.unwrap_or_else(|| (shared.to_thread_local(), Vec::new()));
                    for job in &batch[start..batch.len().min(start + chunk)] {
                        scan_blob(&repo, job, opts.max_file_size, &mut buf, sink, lfs, &opts.prefix);
                        progress.inc(1);
                    }
                    handles
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((repo, buf));
                });
            }
        };
        let mut plan = Plan::new(opts.shard, &mut send);
        let commits = match &opts.range {
            None => plan_full(&repo, sink, &mut plan)?,
            Some(range) => plan_range(&repo, range, opts.shallow_ok, sink, &mut plan)?,
        };
        plan.flush(true);
        progress.set_length(plan.planned);
        progress.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} blobs ({per_sec}, ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Ok((commits, std::mem::take(&mut plan.submodules)))
    })?;
    progress.finish_and_clear();
    if let Some((i, n)) = opts.shard {
        commits.retain(|c| shard_of(c, n) == i);
    }
    for &commit in &commits {
        scan_message(&repo, commit, &opts.prefix, sink);
    }
    let lfs = lfs.into_inner();
    if lfs > 0 {
        sink.note(format!(
            "{lfs} Git LFS pointer files: their content is on the LFS server and was not scanned"
        ));
    }
    follow_submodules(&repo, &submodules, opts, sink)
}

/// Submodules are separate repositories: noted, or with `--submodules` swept in turn when a local
/// clone exists (under the superproject's `.git/modules/`, or checked out in the work tree).
fn follow_submodules(
    repo: &gix::Repository,
    paths: &BTreeSet<String>,
    opts: &HistoryOptions,
    sink: &Collector,
) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let depth = opts.prefix.matches('/').count();
    if !opts.submodules || depth >= MAX_SUBMODULE_DEPTH {
        let list: Vec<&str> = paths.iter().map(String::as_str).take(10).collect();
        let more = paths.len().saturating_sub(list.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        sink.note(format!(
            "submodules are not followed (--submodules follows those cloned locally): {}{}{more}",
            opts.prefix,
            list.join(&format!(", {}", opts.prefix))
        ));
        return Ok(());
    }
    for path in paths {
        let shown = format!("{}{path}", opts.prefix);
        let candidates = [
            Some(repo.common_dir().join("modules").join(path)),
            repo.workdir().map(|w| w.join(path)),
        ];
        let found = candidates.into_iter().flatten().find(|c| gix::open(c).is_ok());
        let Some(dir) = found else {
            sink.note(format!(
                "submodule {shown} has no local clone (git submodule update --init): not scanned"
            ));
            continue;
        };
        let sub = HistoryOptions {
            prefix: format!("{shown}/"),
            range: None,
            ..opts.clone()
        };
        if let Err(e) = scan(&dir, &sub, sink) {
            sink.skip(shown, format!("submodule not scanned: {e:#}"));
        }
    }
    Ok(())
}

fn progress_bar(enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {pos} blobs scanned ({per_sec}), reading history…")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// The commit tips of every ref (branches, remote-tracking branches, tags, stash, notes) and HEAD.
fn ref_tips(repo: &gix::Repository, sink: &Collector) -> Result<Vec<ObjectId>> {
    let mut tips = BTreeSet::new();
    let platform = repo.references().context("cannot read the repository's refs")?;
    for r in platform.all().context("cannot read the repository's refs")? {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                sink.skip("(refs)", format!("unreadable ref: {e}"));
                continue;
            }
        };
        let name = r.name().as_bstr().to_string();
        match r.into_fully_peeled_id() {
            Ok(id) => match repo.find_header(id) {
                Ok(h) if h.kind().is_commit() => {
                    tips.insert(id.detach());
                }
                Ok(h) => sink.note(format!(
                    "ref {name} points to a {}, not a commit: not scanned",
                    h.kind()
                )),
                Err(e) => sink.skip(name, format!("ref target {id} is missing: {e}")),
            },
            Err(e) => sink.skip(name, format!("cannot resolve ref: {e}")),
        }
    }
    if let Ok(id) = repo.head_id() {
        tips.insert(id.detach());
    }
    // Older stash entries live only in the reflog of refs/stash.
    if let Ok(Some(stash)) = repo.try_find_reference("refs/stash") {
        let mut log = stash.log_iter();
        if let Ok(Some(lines)) = log.all() {
            for line in lines.flatten() {
                if let Ok(id) = ObjectId::from_hex(line.new_oid) {
                    tips.insert(id);
                }
            }
        }
    }
    // Other worktrees' HEADs (a detached HEAD there has commits no ref has; git keeps them).
    if let Ok(worktrees) = repo.worktrees() {
        for wt in worktrees {
            let id = wt
                .into_repo_with_possibly_inaccessible_worktree()
                .ok()
                .and_then(|r| r.head_id().ok().map(|id| id.detach()));
            if let Some(id) = id {
                tips.insert(id);
            }
        }
    }
    tips.retain(|id| repo.find_header(*id).is_ok_and(|h| h.kind().is_commit()));
    Ok(tips.into_iter().collect())
}

/// Annotated tags' own messages: `(name, tag object id)`.
fn tag_objects(repo: &gix::Repository) -> Vec<(String, ObjectId)> {
    let mut out = Vec::new();
    let Ok(platform) = repo.references() else {
        return out;
    };
    let Ok(tags) = platform.tags() else { return out };
    for r in tags.flatten() {
        if let Some(id) = r.try_id()
            && repo
                .find_header(id)
                .is_ok_and(|h| h.kind() == gix::object::Kind::Tag)
        {
            out.push((r.name().as_bstr().to_string(), id.detach()));
        }
    }
    out
}

fn scan_tag_messages(repo: &gix::Repository, opts: &HistoryOptions, sink: &Collector) {
    let shard = opts.shard;
    let mut buf = Vec::new();
    for (name, id) in tag_objects(repo) {
        if shard.is_some_and(|(i, n)| shard_of(&id, n) != i) {
            continue;
        }
        if let Ok(tag) = repo.objects.find_tag(&id, &mut buf) {
            sink.scan_message(tag.message, || Origin {
                path: format!("{}(tag message {name})", opts.prefix),
                path_bytes: None,
                commit: None,
            });
        }
    }
}

/// A partial clone (`--filter=blob:none`) lacks blobs by design: say so instead of a skip per blob.
fn note_partial_clone(repo: &gix::Repository, sink: &Collector) {
    let config = repo.config_snapshot();
    let partial = config.string("extensions.partialClone").is_some()
        || config
            .sections_by_name("remote")
            .into_iter()
            .flatten()
            .any(|s| s.value("promisor").is_some_and(|v| v.as_slice() == b"true"));
    if partial {
        sink.note("partial clone: blobs that were never fetched are not in this repository and were not scanned (fetch them, or scan a full clone)");
    }
}

/// Commits reachable from `tips` but not from `hidden`, oldest first.
fn walk(
    repo: &gix::Repository,
    tips: Vec<ObjectId>,
    hidden: Vec<ObjectId>,
    sink: &Collector,
) -> Result<Vec<ObjectId>> {
    let mut commits = Vec::new();
    if tips.is_empty() {
        return Ok(commits);
    }
    let walk = repo
        .rev_walk(tips)
        .with_hidden(hidden)
        .sorting(Sorting::ByCommitTime(Default::default()))
        .all()
        .context("cannot walk the commit graph")?;
    for info in walk {
        match info {
            Ok(info) => {
                commits.push(info.id);
            }
            Err(e) => {
                sink.skip(
                    "(history)",
                    format!("commit walk stopped early, history beyond was not scanned: {e}"),
                );
                break;
            }
        }
    }
    commits.reverse();
    Ok(commits)
}

fn plan_full(repo: &gix::Repository, sink: &Collector, plan: &mut Plan) -> Result<Vec<ObjectId>> {
    let tips = ref_tips(repo, sink)?;
    if tips.is_empty() {
        sink.note("the repository has no commits");
    }
    let commits = walk(repo, tips, Vec::new(), sink)?;
    let mut trees = Trees::new(repo);
    let mut seen_trees = gix::hashtable::HashSet::default();
    let mut stack = Vec::new();
    for &commit in &commits {
        let Some(tree) = trees.commit_tree(commit, sink) else {
            continue;
        };
        // Depth-first over trees not seen before: each tree (and so each blob) is visited once in
        // all. Paths are built only for what is new: most entries of most trees were seen before.
        if seen_trees.insert(tree) {
            stack.push((tree, BString::default()));
        }
        while let Some((tree, prefix)) = stack.pop() {
            let _ = trees.visit(tree, &prefix, commit, sink, |e| {
                if e.mode.is_tree() {
                    if seen_trees.insert(e.oid.to_owned()) {
                        stack.push((e.oid.to_owned(), join(&prefix, e.filename)));
                    }
                } else {
                    plan.leaf(e.mode, e.oid, &prefix, e.filename, commit);
                }
            });
        }
    }
    Ok(commits)
}

fn plan_range(
    repo: &gix::Repository,
    range: &str,
    shallow_ok: bool,
    sink: &Collector,
    plan: &mut Plan,
) -> Result<Vec<ObjectId>> {
    let (base, head) = range
        .split_once("..")
        .filter(|(b, h)| !b.is_empty() && !h.is_empty() && !h.starts_with('.'))
        .ok_or_else(|| anyhow!("--range must be BASE..HEAD (two commits), not '{range}'"))?;
    let head_id =
        resolve(repo, head).with_context(|| format!("--range: cannot resolve HEAD side '{head}'"))?;
    let hidden = if !base.is_empty() && base.bytes().all(|b| b == b'0') {
        // A new branch: what no other ref already has.
        ref_tips(repo, sink)?
            .into_iter()
            .filter(|id| *id != head_id)
            .collect()
    } else {
        match resolve(repo, base) {
            Ok(id) => vec![id],
            Err(e) if shallow_ok => {
                sink.note(format!("--range base '{base}' is not in this clone ({e:#}); scanned every commit reachable from '{head}' that is present"));
                Vec::new()
            }
            Err(e) => bail!(
                "--range base '{base}' is not in this repository ({e:#}). A shallow CI checkout does not have it: fetch the history \
                 (GitHub Actions: `fetch-depth: 0` on actions/checkout; otherwise `git fetch --deepen=<n>` or `git fetch --unshallow`), \
                 or pass --shallow-ok to scan what is there"
            ),
        }
    };
    let commits = walk(repo, vec![head_id], hidden, sink)?;
    let mut trees = Trees::new(repo);
    for &commit in &commits {
        let Some(tree) = trees.commit_tree(commit, sink) else {
            continue;
        };
        // Against the first parent: a merge's other parents are in the range themselves, or were
        // already known before it. A parent missing from a shallow clone counts as no parent.
        let parent = trees
            .first_parent(commit)
            .and_then(|p| trees.commit_tree_quiet(p));
        let mut stack = vec![(parent, tree, BString::default())];
        while let Some((old, new, prefix)) = stack.pop() {
            if old == Some(new) {
                continue;
            }
            let Some(new_entries) = trees.entries(new, &prefix, commit, sink) else {
                continue;
            };
            let old_entries: HashMap<BString, Entry> = old
                .and_then(|t| trees.entries(t, &prefix, commit, sink))
                .map(|v| v.into_iter().map(|e| (e.name.clone(), e)).collect())
                .unwrap_or_default();
            for e in new_entries {
                let before = old_entries.get(&e.name);
                if before.is_some_and(|b| b.id == e.id) {
                    continue;
                }
                if e.mode.is_tree() {
                    let old_tree = before.filter(|b| b.mode.is_tree()).map(|b| b.id);
                    stack.push((old_tree, e.id, join(&prefix, e.name.as_ref())));
                } else {
                    plan.leaf(e.mode, &e.id, &prefix, e.name.as_ref(), commit);
                }
            }
        }
    }
    Ok(commits)
}

fn resolve(repo: &gix::Repository, spec: &str) -> Result<ObjectId> {
    let id = repo.rev_parse_single(spec).map_err(|e| anyhow!("{e}"))?.detach();
    let commit = repo
        .find_object(id)
        .map_err(|e| anyhow!("{e}"))?
        .peel_to_commit()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(commit.id)
}

struct Entry {
    name: BString,
    mode: gix::objs::tree::EntryMode,
    id: ObjectId,
}

/// What a sweep scans: each distinct blob once, with where it was first seen. Blobs are handed on
/// in batches as they are found, so scanning overlaps the walk.
struct Plan<'a> {
    seen_blobs: gix::hashtable::HashSet,
    batch: Vec<BlobJob>,
    /// Takes a batch, and whether it is the last.
    send: &'a mut dyn FnMut(Vec<BlobJob>, bool),
    shard: Option<(u64, u64)>,
    /// Blobs handed on so far (after the shard filter).
    planned: u64,
    submodules: BTreeSet<String>,
}

/// Blobs per batch. Each batch is scanned in path order, which puts the versions of a file next to
/// each other so their delta chains hit the cache; bigger batches cluster better, smaller ones
/// start the workers sooner.
const BATCH: usize = 32768;

impl<'a> Plan<'a> {
    fn new(shard: Option<(u64, u64)>, send: &'a mut dyn FnMut(Vec<BlobJob>, bool)) -> Plan<'a> {
        Plan {
            seen_blobs: Default::default(),
            batch: Vec::with_capacity(BATCH),
            send,
            shard,
            planned: 0,
            submodules: BTreeSet::new(),
        }
    }

    /// A tree entry that is not a tree: a submodule is noted (not followed), a blob not seen
    /// before (and in this shard) is scanned.
    fn leaf(&mut self, mode: EntryMode, id: &gix::oid, prefix: &BString, name: &BStr, commit: ObjectId) {
        if mode.is_commit() {
            self.submodules.insert(join(prefix, name).to_string());
            return;
        }
        if !self.seen_blobs.insert(id.to_owned()) || self.shard.is_some_and(|(i, n)| shard_of(id, n) != i) {
            return;
        }
        self.batch.push(BlobJob {
            id: id.to_owned(),
            path: join(prefix, name),
            commit,
        });
        self.planned += 1;
        if self.batch.len() >= BATCH {
            self.flush(false);
        }
    }

    fn flush(&mut self, last: bool) {
        if !self.batch.is_empty() {
            let mut batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            batch.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            (self.send)(batch, last);
        }
    }
}

/// Reads commits and trees with reused buffers, recording what cannot be read.
struct Trees<'r> {
    repo: &'r gix::Repository,
    buf: Vec<u8>,
}

impl<'r> Trees<'r> {
    fn new(repo: &'r gix::Repository) -> Self {
        Trees {
            repo,
            buf: Vec::new(),
        }
    }

    fn commit_tree(&mut self, commit: ObjectId, sink: &Collector) -> Option<ObjectId> {
        match self
            .repo
            .objects
            .find_commit_iter(&commit, &mut self.buf)
            .map(|mut c| c.tree_id())
        {
            Ok(Ok(tree)) => Some(tree),
            Ok(Err(e)) => {
                sink.skip(format!("(commit {commit})"), format!("corrupt commit: {e}"));
                None
            }
            Err(e) => {
                sink.skip(
                    format!("(commit {commit})"),
                    format!("missing or corrupt commit: {e}"),
                );
                None
            }
        }
    }

    fn commit_tree_quiet(&mut self, commit: ObjectId) -> Option<ObjectId> {
        self.repo
            .objects
            .find_commit_iter(&commit, &mut self.buf)
            .ok()?
            .tree_id()
            .ok()
    }

    fn first_parent(&mut self, commit: ObjectId) -> Option<ObjectId> {
        self.repo
            .objects
            .find_commit_iter(&commit, &mut self.buf)
            .ok()?
            .parent_ids()
            .next()
    }

    /// Calls `f` for each entry of `tree`, without copying the entries out of the read buffer.
    /// Returns false if the tree could not be read at all (recorded as skipped); a tree corrupt
    /// part-way is recorded too, and its readable entries are still visited.
    fn visit(
        &mut self,
        tree: ObjectId,
        prefix: &BString,
        commit: ObjectId,
        sink: &Collector,
        mut f: impl FnMut(gix::objs::tree::EntryRef<'_>),
    ) -> bool {
        let where_ = || {
            let dir = if prefix.is_empty() {
                "/".into()
            } else {
                prefix.to_string()
            };
            format!("{dir}@{}", short(&commit))
        };
        let iter = match self.repo.objects.find_tree_iter(&tree, &mut self.buf) {
            Ok(iter) => iter,
            Err(e) => {
                sink.skip(where_(), format!("missing or corrupt tree {tree}: {e}"));
                return false;
            }
        };
        for e in iter {
            match e {
                Ok(e) => f(e),
                Err(err) => {
                    sink.skip(where_(), format!("corrupt tree {tree}: {err}"));
                    break;
                }
            }
        }
        true
    }

    /// The entries of `tree`, copied out (for comparing two trees).
    fn entries(
        &mut self,
        tree: ObjectId,
        prefix: &BString,
        commit: ObjectId,
        sink: &Collector,
    ) -> Option<Vec<Entry>> {
        let mut out = Vec::new();
        let read = self.visit(tree, prefix, commit, sink, |e| {
            out.push(Entry {
                name: e.filename.to_owned(),
                mode: e.mode,
                id: e.oid.to_owned(),
            })
        });
        read.then_some(out)
    }
}

fn join(prefix: &BString, name: &BStr) -> BString {
    let mut p = prefix.clone();
    if !p.is_empty() {
        p.push_byte(b'/');
    }
    p.push_str(name);
    p
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

fn scan_message(repo: &gix::Repository, commit: ObjectId, prefix: &str, sink: &Collector) {
    let mut buf = Vec::new();
    if let Ok(c) = repo.objects.find_commit(&commit, &mut buf) {
        let msg = c.message;
        sink.scan_message(msg, || Origin {
            path: format!("{prefix}(commit message)"),
            path_bytes: None,
            commit: Some(commit_info(repo, commit)),
        });
    }
}

/// Author and date of a commit, read only when a finding needs them.
pub fn commit_info(repo: &gix::Repository, commit: ObjectId) -> CommitInfo {
    let mut buf = Vec::new();
    let mut info = CommitInfo {
        commit: commit.to_string(),
        author_name: String::new(),
        author_email: String::new(),
        date: String::new(),
    };
    let author = repo
        .objects
        .find_commit(&commit, &mut buf)
        .ok()
        .and_then(|c| c.author().ok());
    if let Some(a) = author {
        info.author_name = a.name.to_str_lossy().trim().to_string();
        info.author_email = a.email.to_str_lossy().trim().to_string();
        info.date = a
            .time()
            .ok()
            .and_then(|t| t.format(gix::date::time::format::ISO8601_STRICT).ok())
            .unwrap_or_default();
    }
    info
}

fn scan_blob(
    repo: &gix::Repository,
    job: &BlobJob,
    max: u64,
    buf: &mut Vec<u8>,
    sink: &Collector,
    lfs: &AtomicU64,
    prefix: &str,
) {
    let where_ = || format!("{prefix}{}@{}", job.path, short(&job.commit));
    match repo.find_header(job.id) {
        Ok(h) if h.size() > max => {
            sink.skip(
                where_(),
                format!("blob {} larger than --max-file-size ({} bytes)", job.id, max),
            );
            return;
        }
        Ok(_) => {}
        Err(e) => {
            sink.skip(where_(), format!("missing or corrupt blob {}: {e}", job.id));
            return;
        }
    }
    match repo.objects.find_blob(&job.id, buf) {
        Ok(blob) => {
            if blob
                .data
                .starts_with(b"version https://git-lfs.github.com/spec/v1")
            {
                lfs.fetch_add(1, Ordering::Relaxed);
            }
            sink.scan_lazy(blob.data, || Origin {
                path: format!("{prefix}{}", job.path),
                path_bytes: None,
                commit: Some(commit_info(repo, job.commit)),
            });
        }
        Err(e) => sink.skip(where_(), format!("missing or corrupt blob {}: {e}", job.id)),
    }
}
