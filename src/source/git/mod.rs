//! Git history (gitoxide, no `git` process): every blob reachable from every ref, each distinct blob
//! scanned once, attributed to the first commit (oldest first) that has it and the path it has there;
//! or, with a range, only the blobs the range's commits introduce.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::objs::tree::EntryMode;
use gix::prelude::FindExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Sink;
use crate::model::{CommitInfo, Origin};

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
    /// The commit it was first seen in; none for a blob a ref names (directly or through a tree).
    commit: Option<ObjectId>,
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

pub fn scan(path: &Path, opts: &HistoryOptions, sink: &dyn Sink) -> Result<()> {
    let repo = open_repo(path)?;
    note_partial_clone(&repo, sink);
    if opts.range.is_none() {
        scan_tag_messages(&repo, opts, sink);
    }
    if repo.is_shallow().unwrap_or(false) {
        sink.note("shallow clone: history before the shallow boundary is not in this repository and was not scanned");
    }
    let bad_packs = check_packs(&repo, sink);
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
            None => plan_full(&repo, &bad_packs, sink, &mut plan)?,
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
    sink: &dyn Sink,
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
        // Paths come from tree entries, which anyone can craft: `..` or an absolute path would
        // make the joins below point outside the repository (at the directory's own repository).
        if !is_plain_relative(path) {
            sink.note(format!(
                "submodule path '{shown}' is not a plain relative path inside the repository: refused, not followed"
            ));
            continue;
        }
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

/// `a/b/c`: no empty, `.`, `..` or `.git` component, not absolute.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git") && !c.contains('\\')
        })
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

/// What the refs point at, peeled through tags: commits to walk, and trees and blobs that a ref
/// names directly (`git tag x <blob>`), each with the first ref name that reached it.
#[derive(Default)]
struct Tips {
    commits: Vec<(ObjectId, String)>,
    trees: Vec<(ObjectId, String)>,
    blobs: Vec<(ObjectId, String)>,
    /// Refs (and HEADs) that name an object at all.
    named: usize,
    /// Why the first unreadable ref target could not be read, for the error if nothing could.
    first_error: Option<String>,
}

/// Every ref (branches, remote-tracking branches, tags, stash, notes), HEAD, older stash entries and
/// other worktrees' HEADs, peeled. Unreadable refs and targets are recorded and skipped.
fn ref_tips(repo: &gix::Repository, sink: &dyn Sink) -> Result<Tips> {
    let mut named: Vec<(ObjectId, String)> = Vec::new();
    let platform = repo.references().context("cannot read the repository's refs")?;
    for r in platform.all().context("cannot read the repository's refs")? {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => {
                sink.skip("(refs)", format!("unreadable ref: {e}"));
                continue;
            }
        };
        let name = r.name().as_bstr().to_string();
        match r.follow_to_object() {
            Ok(id) => named.push((id.detach(), name)),
            // A symbolic ref to a ref that does not exist names nothing (git ignores it too).
            Err(_) if r.try_id().is_none() => {}
            Err(e) => sink.skip(name, format!("cannot resolve ref: {e}")),
        }
    }
    if let Ok(id) = repo.head_id() {
        named.push((id.detach(), "HEAD".into()));
    }
    // Older stash entries live only in the reflog of refs/stash.
    if let Ok(Some(stash)) = repo.try_find_reference("refs/stash") {
        let mut log = stash.log_iter();
        if let Ok(Some(lines)) = log.all() {
            // The reflog is oldest first; git numbers entries newest first.
            let ids: Vec<ObjectId> = lines
                .flatten()
                .filter_map(|l| ObjectId::from_hex(l.new_oid).ok())
                .collect();
            let n = ids.len();
            for (i, id) in ids.into_iter().enumerate() {
                named.push((id, format!("stash@{{{}}}", n - 1 - i)));
            }
        }
    }
    // Other worktrees' HEADs (a detached HEAD there has commits no ref has; git keeps them).
    if let Ok(worktrees) = repo.worktrees() {
        for wt in worktrees {
            let name = match wt.id() {
                Ok(id) => format!("worktree {id} HEAD"),
                Err(_) => "a linked worktree's HEAD".into(),
            };
            let id = wt
                .into_repo_with_possibly_inaccessible_worktree()
                .ok()
                .and_then(|r| r.head_id().ok().map(|id| id.detach()));
            if let Some(id) = id {
                named.push((id, name));
            }
        }
    }
    let mut tips = Tips {
        named: named.len(),
        ..Tips::default()
    };
    let mut seen = gix::hashtable::HashSet::default();
    let mut buf = Vec::new();
    for (id, name) in named {
        let Some((id, kind)) = peel(repo, id, &name, sink, &mut buf, &mut tips.first_error) else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        match kind {
            gix::object::Kind::Commit => tips.commits.push((id, name)),
            gix::object::Kind::Tree => tips.trees.push((id, name)),
            gix::object::Kind::Blob => tips.blobs.push((id, name)),
            gix::object::Kind::Tag => {}
        }
    }
    Ok(tips)
}

/// Follows `id` through annotated tags to what they finally name. A tag object that does not
/// decode is followed by its `object` line if that can still be read; what cannot be followed is
/// recorded.
fn peel(
    repo: &gix::Repository,
    mut id: ObjectId,
    name: &str,
    sink: &dyn Sink,
    buf: &mut Vec<u8>,
    first_error: &mut Option<String>,
) -> Option<(ObjectId, gix::object::Kind)> {
    let mut fail = |path: String, reason: String| {
        first_error.get_or_insert_with(|| format!("{path}: {reason}"));
        sink.skip(path, reason);
    };
    // Tags of tags exist; a cycle cannot (ids are hashes), but a long chain is not worth following.
    for _ in 0..32 {
        let kind = match repo.find_header(id) {
            Ok(h) => h.kind(),
            Err(e) => {
                fail(
                    name.to_string(),
                    format!("ref target {id} is missing or unreadable: {e}"),
                );
                return None;
            }
        };
        if kind != gix::object::Kind::Tag {
            return Some((id, kind));
        }
        let data = match repo.objects.find(&id, buf) {
            Ok(d) => d.data,
            Err(e) => {
                fail(
                    format!("(tag {id})"),
                    format!("unreadable tag object (reached from {name}): {e}"),
                );
                return None;
            }
        };
        id = match gix::objs::TagRef::from_bytes(data, repo.object_hash()) {
            Ok(tag) => tag.target(),
            Err(e) => match header_id(data, b"object ") {
                Some(target) => {
                    sink.skip(
                        format!("(tag {id})"),
                        format!("malformed tag object (reached from {name}): {e}; followed its object line to {target}"),
                    );
                    target
                }
                None => {
                    fail(
                        format!("(tag {id})"),
                        format!(
                            "malformed tag object (reached from {name}): {e}; what it tags is unknown, not scanned"
                        ),
                    );
                    return None;
                }
            },
        };
    }
    sink.skip(name.to_string(), "tag chain longer than 32 tags: not followed");
    None
}

/// The id on the first header line starting with `field` (`b"tree "`, `b"object "`), read without
/// decoding the rest of the object.
fn header_id(data: &[u8], field: &[u8]) -> Option<ObjectId> {
    header_lines(data)
        .find_map(|l| l.strip_prefix(field))
        .and_then(|hex| ObjectId::from_hex(hex.trim_ascii_end()).ok())
}

/// Header lines of a commit or tag: up to the first empty line.
fn header_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n').take_while(|l| !l.is_empty())
}

/// The message of a commit or tag: what follows the header's empty line.
fn raw_message(data: &[u8]) -> &[u8] {
    data.find(b"\n\n").map_or(&[][..], |i| &data[i + 2..])
}

/// What the walk needs of a commit.
struct CommitHeader {
    tree: Option<ObjectId>,
    parents: Vec<ObjectId>,
    /// Committer time, seconds; `None` if unreadable.
    time: Option<i64>,
    /// Why the commit does not decode cleanly, if it does not.
    problem: Option<String>,
    /// Its parent ids could not all be read: history behind it is unknown from here.
    parents_lost: bool,
}

/// Reads a commit's tree, parents and time. A commit that does not decode (a bad date, a missing
/// author, garbage in its header) is read leniently, line by line, as far as it goes.
fn read_commit(repo: &gix::Repository, id: &gix::oid, buf: &mut Vec<u8>) -> Result<CommitHeader, String> {
    let data = repo.objects.find(id, buf).map_err(|e| e.to_string())?;
    if data.kind != gix::object::Kind::Commit {
        return Err(format!("is a {}, not a commit", data.kind));
    }
    let data = data.data;
    match gix::objs::CommitRef::from_bytes(data, repo.object_hash()) {
        Ok(c) => {
            let author = c.author().map_err(|e| format!("bad author line: {e}"));
            let committer = c.committer().map_err(|e| format!("bad committer line: {e}"));
            let time = committer
                .as_ref()
                .ok()
                .and_then(|s| s.time().ok())
                .map(|t| t.seconds);
            let problem = match (&author, &committer) {
                (Err(e), _) | (_, Err(e)) => Some(e.clone()),
                (Ok(a), Ok(c)) => a
                    .time()
                    .err()
                    .map(|e| format!("bad author date: {e}"))
                    .or_else(|| c.time().err().map(|e| format!("bad committer date: {e}"))),
            };
            Ok(CommitHeader {
                tree: Some(c.tree()),
                parents: c.parents().collect(),
                time,
                problem,
                parents_lost: false,
            })
        }
        Err(e) => {
            let mut head = CommitHeader {
                tree: None,
                parents: Vec::new(),
                time: None,
                problem: None,
                parents_lost: false,
            };
            let (mut author, mut committer) = (false, false);
            for line in header_lines(data) {
                if let Some(hex) = line.strip_prefix(b"tree ") {
                    head.tree = head
                        .tree
                        .or_else(|| ObjectId::from_hex(hex.trim_ascii_end()).ok());
                } else if let Some(hex) = line.strip_prefix(b"parent ") {
                    match ObjectId::from_hex(hex.trim_ascii_end()) {
                        Ok(p) => head.parents.push(p),
                        Err(_) => head.parents_lost = true,
                    }
                } else if line.starts_with(b"author ") {
                    author = true;
                } else if let Some(sig) = line.strip_prefix(b"committer ") {
                    committer = true;
                    // `Name <email> SECONDS ZONE`
                    head.time = sig
                        .rsplit(|&b| b == b' ')
                        .nth(1)
                        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
                }
            }
            // gitoxide's own error says only that parsing failed: say what is wrong where it is clear.
            head.problem = Some(match (head.tree.is_some(), author, committer) {
                (false, _, _) => format!("{e} (no readable tree line)"),
                (_, false, _) => format!("{e} (no author line)"),
                (_, _, false) => format!("{e} (no committer line)"),
                _ => format!("{e} (a bad author or committer line)"),
            });
            // Without even a tree line the header is unreadable: a parent list found in it, or
            // none, cannot be trusted to be complete.
            if head.tree.is_none() && head.parents.is_empty() {
                head.parents_lost = true;
            }
            Ok(head)
        }
    }
}

/// Packs whose index or data file gitoxide cannot open: it leaves them out of the object store
/// without a word, and their objects would just seem missing. Each is recorded; returns them.
fn check_packs(repo: &gix::Repository, sink: &dyn Sink) -> Vec<String> {
    let dir = repo.objects.store_ref().path().join("pack");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut bad = Vec::new();
    for entry in entries.flatten() {
        let idx = entry.path();
        if idx.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let pack = idx.with_extension("pack");
        let problem = match gix::odb::pack::index::File::at(&idx, repo.object_hash()) {
            Err(e) => Some(format!("unreadable pack index: {e}")),
            Ok(index) => match gix::odb::pack::data::File::at(&pack, repo.object_hash()) {
                Err(e) => Some(format!("unreadable pack: {e}")),
                Ok(data) if data.num_objects() != index.num_objects() => Some(format!(
                    "pack holds {} objects, its index {}: they do not belong together",
                    data.num_objects(),
                    index.num_objects()
                )),
                Ok(_) => None,
            },
        };
        if let Some(problem) = problem {
            let name = pack.file_name().unwrap_or_default().to_string_lossy();
            let path = format!("(objects/pack/{name})");
            bad.push(format!("{path}: {problem}"));
            sink.skip(path, format!("{problem}; the objects in it were not read"));
        }
    }
    bad.sort();
    bad
}

/// A commit the walk reached and could read.
struct Walked {
    id: ObjectId,
    tree: Option<ObjectId>,
    first_parent: Option<ObjectId>,
}

/// How the walk reached a commit, for the reasons it records.
#[derive(Clone, Copy)]
enum Via {
    Ref(usize),
    Child(ObjectId),
    Hidden,
}

struct Node {
    hidden: bool,
    queued: bool,
    parents: Vec<ObjectId>,
    walked: Option<Walked>,
}

/// Commits reachable from `tips` but not from `hidden`, oldest first (newest first by committer
/// time, reversed: a commit always comes after its parents). The walk is written here, not taken
/// from gitoxide, so that a commit that cannot be read or decoded costs that commit (recorded, with
/// the ref or child it was reached from) and not the rest of history: its parents, as far as they
/// can be read, are walked on.
fn walk(
    repo: &gix::Repository,
    tips: &[(ObjectId, String)],
    hidden: &[ObjectId],
    sink: &dyn Sink,
) -> Vec<Walked> {
    let mut nodes: gix::hashtable::HashMap<ObjectId, Node> = Default::default();
    // Max-heap on (time, -seq): newest first, ties in the order they were found.
    let mut queue: BinaryHeap<(i64, Reverse<u64>, ObjectId)> = BinaryHeap::new();
    let mut seq = 0u64;
    // Queued commits not known to be hidden: once there are none, nothing more is in the range.
    let mut interesting = 0usize;
    let mut order = Vec::new();
    let mut buf = Vec::new();
    // A shallow clone's boundary commits name parents it does not have, by design.
    let shallow: gix::hashtable::HashSet = repo
        .shallow_commits()
        .ok()
        .flatten()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    // (commit, hidden, how it was reached, the time of the child that reached it)
    let mut pending: Vec<(ObjectId, bool, Via, i64)> = tips
        .iter()
        .enumerate()
        .rev()
        .map(|(i, (id, _))| (*id, false, Via::Ref(i), 0))
        .chain(hidden.iter().map(|id| (*id, true, Via::Hidden, 0)))
        .collect();
    loop {
        while let Some((id, hide, via, child_time)) = pending.pop() {
            if let Some(node) = nodes.get(&id) {
                if hide && !node.hidden {
                    // Reached from hidden history after all: so is everything behind it.
                    let mut stack = vec![id];
                    while let Some(id) = stack.pop() {
                        let Some(node) = nodes.get_mut(&id) else { continue };
                        if node.hidden {
                            continue;
                        }
                        node.hidden = true;
                        if node.queued {
                            interesting -= 1;
                        }
                        stack.extend(node.parents.iter().copied());
                    }
                }
                continue;
            }
            let describe = || match via {
                Via::Ref(i) => format!("tip of {}", tips[i].1),
                Via::Child(c) => format!("parent of {}", short(&c)),
                Via::Hidden => "--range base".to_string(),
            };
            let head = match read_commit(repo, &id, &mut buf) {
                Ok(mut h) => {
                    if shallow.contains(&id) {
                        h.parents.clear();
                    }
                    h
                }
                Err(e) => {
                    if !hide {
                        sink.skip(
                            format!("(commit {id})"),
                            format!(
                                "missing or unreadable commit ({}): {e}; history behind it was not reached from there",
                                describe()
                            ),
                        );
                    }
                    let node = Node {
                        hidden: hide,
                        queued: false,
                        parents: Vec::new(),
                        walked: None,
                    };
                    nodes.insert(id, node);
                    continue;
                }
            };
            if let Some(problem) = head.problem.as_ref().filter(|_| !hide) {
                let what = match (head.tree.is_some(), head.parents_lost) {
                    (true, false) => {
                        "read leniently: its tree and parents were followed; its author or date may be missing from the report"
                    }
                    (true, true) => {
                        "read leniently: its tree was scanned, but a parent id is unreadable and history behind it was not reached from there"
                    }
                    (false, false) => "its tree id is unreadable (not scanned); its parents were followed",
                    (false, true) => {
                        "its header is unreadable: neither its tree nor its parents are known, history behind it was not reached from there"
                    }
                };
                sink.skip(
                    format!("(commit {id})"),
                    format!("malformed commit ({}): {problem}; {what}", describe()),
                );
            }
            seq += 1;
            queue.push((head.time.unwrap_or(child_time), Reverse(seq), id));
            if !hide {
                interesting += 1;
            }
            let walked = Walked {
                id,
                tree: head.tree,
                first_parent: head.parents.first().copied(),
            };
            let node = Node {
                hidden: hide,
                queued: true,
                parents: head.parents,
                walked: Some(walked),
            };
            nodes.insert(id, node);
        }
        if interesting == 0 {
            break;
        }
        let Some((time, _, id)) = queue.pop() else {
            break;
        };
        let Some(node) = nodes.get_mut(&id) else {
            continue;
        };
        node.queued = false;
        let hide = node.hidden;
        if !hide {
            interesting -= 1;
            order.push(id);
        }
        // Without hidden commits nothing needs a commit's parents again: let them go (memory on
        // histories of millions of commits).
        let parents = if hidden.is_empty() {
            std::mem::take(&mut node.parents)
        } else {
            node.parents.clone()
        };
        pending.extend(parents.into_iter().rev().map(|p| (p, hide, Via::Child(id), time)));
    }
    order
        .into_iter()
        .rev()
        .filter_map(|id| nodes.get_mut(&id).filter(|n| !n.hidden)?.walked.take())
        .collect()
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

fn scan_tag_messages(repo: &gix::Repository, opts: &HistoryOptions, sink: &dyn Sink) {
    let shard = opts.shard;
    let mut buf = Vec::new();
    for (name, id) in tag_objects(repo) {
        if shard.is_some_and(|(i, n)| shard_of(&id, n) != i) {
            continue;
        }
        // A tag that does not decode still has its message after the header's empty line.
        if let Ok(data) = repo.objects.find(&id, &mut buf) {
            let message = match gix::objs::TagRef::from_bytes(data.data, repo.object_hash()) {
                Ok(tag) => tag.message,
                Err(_) => raw_message(data.data).as_bstr(),
            };
            sink.scan_message(message, || Origin {
                path: format!("{}(tag message {name})", opts.prefix),
                path_bytes: None,
                commit: None,
            });
        }
    }
}

/// A partial clone (`--filter=blob:none`) lacks blobs by design: say so instead of a skip per blob.
fn note_partial_clone(repo: &gix::Repository, sink: &dyn Sink) {
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

fn plan_full(
    repo: &gix::Repository,
    bad_packs: &[String],
    sink: &dyn Sink,
    plan: &mut Plan,
) -> Result<Vec<ObjectId>> {
    let tips = ref_tips(repo, sink)?;
    if tips.named == 0 {
        sink.note("the repository has no commits");
    }
    let commits = walk(repo, &tips.commits, &[], sink);
    if tips.named > 0 && commits.is_empty() && tips.trees.is_empty() && tips.blobs.is_empty() {
        // Refs that name objects none of which can be read: a damaged object store, not an empty
        // history. Saying "no keys" here would be a lie.
        let packs = match bad_packs.first() {
            Some(p) => format!("; {} pack file(s) cannot be opened, first: {p}", bad_packs.len()),
            None => String::new(),
        };
        bail!(
            "nothing in this repository could be read: {} ref(s) name objects that are missing or unreadable ({}){packs}; \
             its object store is damaged (`git fsck` says more)",
            tips.named,
            tips.first_error
                .as_deref()
                .unwrap_or("every commit reached is unreadable"),
        );
    }
    let mut trees = Trees::new(repo);
    let mut seen_trees = gix::hashtable::HashSet::default();
    let mut stack = Vec::new();
    for c in &commits {
        let Some(tree) = c.tree else {
            continue;
        };
        // Depth-first over trees not seen before: each tree (and so each blob) is visited once in
        // all. Paths are built only for what is new: most entries of most trees were seen before.
        if seen_trees.insert(tree) {
            stack.push((tree, BString::default()));
        }
        let at = At::Commit(c.id);
        while let Some((tree, prefix)) = stack.pop() {
            let _ = trees.visit(tree, &prefix, at, sink, |e| {
                if e.mode.is_tree() {
                    if seen_trees.insert(e.oid.to_owned()) {
                        stack.push((e.oid.to_owned(), join(&prefix, e.filename)));
                    }
                } else {
                    plan.leaf(e.mode, e.oid, || join(&prefix, e.filename), Some(c.id));
                }
            });
        }
    }
    // Trees and blobs that refs name directly, after every commit: a blob that some commit has is
    // reported there. Their paths start with the ref's name (`refs/tags/x:dir/file`).
    for (tree, name) in &tips.trees {
        if !seen_trees.insert(*tree) {
            continue;
        }
        stack.push((*tree, BString::default()));
        let at = At::Ref(name);
        while let Some((tree, prefix)) = stack.pop() {
            let _ = trees.visit(tree, &prefix, at, sink, |e| {
                if e.mode.is_tree() {
                    if seen_trees.insert(e.oid.to_owned()) {
                        stack.push((e.oid.to_owned(), join(&prefix, e.filename)));
                    }
                } else {
                    plan.leaf(
                        e.mode,
                        e.oid,
                        || {
                            let mut path = BString::from(format!("{name}:"));
                            path.push_str(join(&prefix, e.filename));
                            path
                        },
                        None,
                    );
                }
            });
        }
    }
    for (blob, name) in &tips.blobs {
        plan.leaf(
            gix::objs::tree::EntryKind::Blob.into(),
            blob,
            || name.as_str().into(),
            None,
        );
    }
    Ok(commits.into_iter().map(|c| c.id).collect())
}

fn plan_range(
    repo: &gix::Repository,
    range: &str,
    shallow_ok: bool,
    sink: &dyn Sink,
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
            .commits
            .into_iter()
            .map(|(id, _)| id)
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
    let commits = walk(repo, &[(head_id, head.to_string())], &hidden, sink);
    let mut trees = Trees::new(repo);
    for c in &commits {
        let Some(tree) = c.tree else {
            continue;
        };
        // Against the first parent: a merge's other parents are in the range themselves, or were
        // already known before it. A parent missing from a shallow clone counts as no parent.
        let parent = c
            .first_parent
            .and_then(|p| read_commit(repo, &p, &mut trees.buf).ok()?.tree);
        let at = At::Commit(c.id);
        let mut stack = vec![(parent, tree, BString::default())];
        while let Some((old, new, prefix)) = stack.pop() {
            if old == Some(new) {
                continue;
            }
            let Some(new_entries) = trees.entries(new, &prefix, at, sink) else {
                continue;
            };
            let old_entries: HashMap<BString, Entry> = old
                .and_then(|t| trees.entries(t, &prefix, at, sink))
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
                    plan.leaf(e.mode, &e.id, || join(&prefix, e.name.as_ref()), Some(c.id));
                }
            }
        }
    }
    Ok(commits.into_iter().map(|c| c.id).collect())
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
    fn leaf(
        &mut self,
        mode: EntryMode,
        id: &gix::oid,
        path: impl FnOnce() -> BString,
        commit: Option<ObjectId>,
    ) {
        if mode.is_commit() {
            self.submodules.insert(path().to_string());
            return;
        }
        if !self.seen_blobs.insert(id.to_owned()) || self.shard.is_some_and(|(i, n)| shard_of(id, n) != i) {
            return;
        }
        self.batch.push(BlobJob {
            id: id.to_owned(),
            path: path(),
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

/// Where a tree was reached, for the skips it records.
#[derive(Clone, Copy)]
enum At<'a> {
    Commit(ObjectId),
    Ref(&'a str),
}

/// Reads trees with a reused buffer, recording what cannot be read.
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

    /// Calls `f` for each entry of `tree`, without copying the entries out of the read buffer.
    /// Returns false if the tree could not be read at all (recorded as skipped); a tree corrupt
    /// part-way is recorded too, and its readable entries are still visited.
    fn visit(
        &mut self,
        tree: ObjectId,
        prefix: &BString,
        at: At<'_>,
        sink: &dyn Sink,
        mut f: impl FnMut(gix::objs::tree::EntryRef<'_>),
    ) -> bool {
        let where_ = || match at {
            At::Commit(commit) if prefix.is_empty() => format!("/@{}", short(&commit)),
            At::Commit(commit) => format!("{prefix}@{}", short(&commit)),
            At::Ref(name) => format!("{name}:{prefix}"),
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
        at: At<'_>,
        sink: &dyn Sink,
    ) -> Option<Vec<Entry>> {
        let mut out = Vec::new();
        let read = self.visit(tree, prefix, at, sink, |e| {
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

fn scan_message(repo: &gix::Repository, commit: ObjectId, prefix: &str, sink: &dyn Sink) {
    let mut buf = Vec::new();
    // A commit that does not decode still has its message after the header's empty line.
    if let Ok(data) = repo.objects.find(&commit, &mut buf) {
        let msg = match gix::objs::CommitRef::from_bytes(data.data, repo.object_hash()) {
            Ok(c) => c.message,
            Err(_) => raw_message(data.data).as_bstr(),
        };
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
    sink: &dyn Sink,
    lfs: &AtomicU64,
    prefix: &str,
) {
    let where_ = || match job.commit {
        Some(commit) => format!("{prefix}{}@{}", job.path, short(&commit)),
        None => format!("{prefix}{}", job.path),
    };
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
            sink.scan_lazy(blob.data, || {
                let mut path = prefix.as_bytes().to_vec();
                path.extend_from_slice(&job.path);
                Origin {
                    commit: job.commit.map(|c| commit_info(repo, c)),
                    ..Origin::from_bytes(&path)
                }
            });
        }
        Err(e) => sink.skip(where_(), format!("missing or corrupt blob {}: {e}", job.id)),
    }
}
