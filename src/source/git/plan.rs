//! Planning a range: which blobs its commits bring, and where each was first seen. Each commit's
//! tree is compared with all its parents'.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use gix::ObjectId;
use gix::bstr::BString;
use gix::objs::tree::EntryMode;
use gix::prelude::FindExt;

use super::HistoryOptions;
use super::objects::{join, read_commit, short};
use super::shard::shard_of;
use super::walk::{Walked, walk};
use crate::source::Sink;

/// A blob to scan and where it was first seen.
pub(super) struct BlobJob {
    pub(super) id: ObjectId,
    pub(super) path: BString,
    /// The commit it was first seen in; none for a blob a ref names (directly or through a tree).
    pub(super) commit: Option<ObjectId>,
    /// The pushed refs that bring that commit (`sgscan pre-push`); empty elsewhere.
    pub(super) refs: Vec<String>,
}

/// What a sweep scans: each distinct blob once, with where it was first seen. Blobs are handed on
/// in batches as they are found, so scanning overlaps the walk.
pub(super) struct Plan<'a> {
    seen_blobs: gix::hashtable::HashSet,
    batch: Vec<BlobJob>,
    /// Takes a batch, and whether it is the last.
    send: &'a mut dyn FnMut(Vec<BlobJob>, bool),
    shard: Option<(u64, u64)>,
    /// Blobs handed on so far (after the shard filter).
    pub(super) planned: u64,
    pub(super) submodules: BTreeSet<String>,
}

/// Blobs per batch. Each batch is scanned in path order, which puts the versions of a file next to
/// each other so their delta chains hit the cache; bigger batches cluster better, smaller ones
/// start the workers sooner.
const BATCH: usize = 32768;

impl<'a> Plan<'a> {
    pub(super) fn new(shard: Option<(u64, u64)>, send: &'a mut dyn FnMut(Vec<BlobJob>, bool)) -> Plan<'a> {
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
        refs: &[String],
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
            refs: refs.to_vec(),
        });
        self.planned += 1;
        if self.batch.len() >= BATCH {
            self.flush(false);
        }
    }

    pub(super) fn flush(&mut self, last: bool) {
        if !self.batch.is_empty() {
            let mut batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            batch.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            (self.send)(batch, last);
        }
    }
}

pub(super) fn plan_range(
    repo: &gix::Repository,
    range: &str,
    opts: &HistoryOptions,
    prepared: &Prepared,
    sink: &dyn Sink,
    plan: &mut Plan,
) -> Result<Vec<ObjectId>> {
    let (base, head) = split_range(range)?;
    if is_zero(head) {
        sink.note("--range HEAD side is all zeros: the push deleted the ref, which brings nothing to scan");
        return Ok(Vec::new());
    }
    let head_id =
        resolve(repo, head).with_context(|| format!("--range: cannot resolve HEAD side '{head}'"))?;
    let shallow = repo.is_shallow().unwrap_or(true);
    let mut hidden = if is_zero(base) {
        pre_existing(repo, head, head_id, opts, sink)?
    } else {
        match resolve(repo, base) {
            Ok(id) => vec![id],
            Err(e) if !shallow || prepared.base_gone => {
                // A clone lacks BASE when the push rewrote it away (a force-push): what the
                // remote's other branches do not reach is what the push can have brought.
                sink.note(format!(
                    "--range base '{base}' is not in this clone ({e:#}), {}: a force-push rewrote it away, \
                     so the commits of '{head}' that no other branch of the remote has were scanned",
                    if shallow {
                        "nor on the remote"
                    } else {
                        "which is not shallow"
                    }
                ));
                pre_existing(repo, head, head_id, opts, sink)?
            }
            Err(e) if opts.shallow_ok => {
                sink.note(format!("--range base '{base}' is not in this clone ({e:#}); scanned every commit reachable from '{head}' that is present"));
                Vec::new()
            }
            Err(e) => bail!(
                "--range base '{base}' is not in this shallow clone ({e:#}){}",
                shallow_advice(prepared)
            ),
        }
    };
    hidden.extend(prepared.hidden.iter().copied());
    let commits = walk(repo, &[(head_id, head.to_string())], &hidden, sink);
    if shallow {
        // A commit of the range whose parents the clone lacks would count its whole tree as new:
        // the range is not all here.
        let cut = cut_commits(repo, commits.iter().map(|c| c.id));
        if let Some(first) = cut.first() {
            if !opts.shallow_ok {
                bail!(
                    "the range {base}..{head} reaches past this shallow clone's history ({} commit(s) at its boundary, \
                     first {first}, lack their parents){}",
                    cut.len(),
                    shallow_advice(prepared)
                );
            }
            sink.note(format!(
                "{} commit(s) of the range lack their parents in this shallow clone (first {first}): \
                 everything in their trees was scanned as new (--shallow-ok)",
                cut.len()
            ));
        }
    }
    plan_commits(repo, &commits, &[], sink, plan);
    Ok(commits.into_iter().map(|c| c.id).collect())
}

/// Plans the blobs `commits` (a walk's, oldest first) bring: each commit's tree against all its
/// parents'. `tip_names` names the walk's tips, so that each blob carries the refs that bring it;
/// empty: none are named.
pub(super) fn plan_commits(
    repo: &gix::Repository,
    commits: &[Walked],
    tip_names: &[String],
    sink: &dyn Sink,
    plan: &mut Plan,
) {
    let mut trees = Trees::new(repo);
    for c in commits {
        let refs = ref_names(c.refs, tip_names);
        let Some(tree) = c.tree else {
            continue;
        };
        // Against every parent: a merge introduces only what no parent has at that path (its own
        // resolution); what it brings from another parent came from that parent's history, which
        // is in the range itself or was known before it. A parent missing from a shallow clone
        // counts as no parent.
        // The walk keeps only the first parent (memory, on full sweeps); a range is short enough
        // to read its commits' other parents again.
        let all_parents = match c.first_parent {
            Some(first) => read_commit(repo, &c.id, &mut trees.buf)
                .map(|h| h.parents)
                .unwrap_or_else(|_| vec![first]),
            None => Vec::new(),
        };
        let parents: Vec<ObjectId> = all_parents
            .iter()
            .filter_map(|p| read_commit(repo, p, &mut trees.buf).ok()?.tree)
            .collect();
        let at = At::Commit(c.id);
        let mut stack = vec![(parents, tree, BString::default())];
        while let Some((olds, new, prefix)) = stack.pop() {
            if olds.contains(&new) {
                continue;
            }
            let Some(new_entries) = trees.entries(new, &prefix, at, sink) else {
                continue;
            };
            let old_entries: Vec<HashMap<BString, Entry>> = olds
                .iter()
                .map(|t| {
                    trees
                        .entries(*t, &prefix, at, sink)
                        .map(|v| v.into_iter().map(|e| (e.name.clone(), e)).collect())
                        .unwrap_or_default()
                })
                .collect();
            for e in new_entries {
                let befores: Vec<&Entry> = old_entries.iter().filter_map(|o| o.get(&e.name)).collect();
                if befores.iter().any(|b| b.id == e.id) {
                    continue;
                }
                if e.mode.is_tree() {
                    let old_trees = befores
                        .iter()
                        .filter(|b| b.mode.is_tree())
                        .map(|b| b.id)
                        .collect();
                    stack.push((old_trees, e.id, join(&prefix, e.name.as_ref())));
                } else {
                    plan.leaf(
                        e.mode,
                        &e.id,
                        || join(&prefix, e.name.as_ref()),
                        Some(c.id),
                        &refs,
                    );
                }
            }
        }
    }
}

/// Plans every blob of `tree` (named by a ref directly or through a tag, so in no commit), its
/// paths under `name`.
pub(super) fn plan_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    name: &str,
    sink: &dyn Sink,
    plan: &mut Plan,
) {
    let mut trees = Trees::new(repo);
    let mut stack = vec![(tree, BString::from(format!("({name})")))];
    let mut seen = gix::hashtable::HashSet::default();
    while let Some((tree, prefix)) = stack.pop() {
        if !seen.insert(tree) {
            continue;
        }
        let Some(entries) = trees.entries(tree, &prefix, At::Ref, sink) else {
            continue;
        };
        for e in entries {
            let path = join(&prefix, e.name.as_ref());
            if e.mode.is_tree() {
                stack.push((e.id, path));
            } else {
                plan.leaf(e.mode, &e.id, || path, None, &[]);
            }
        }
    }
}

/// Plans a blob a ref names (directly or through a tag).
pub(super) fn plan_blob(id: ObjectId, name: &str, plan: &mut Plan) {
    plan.leaf(
        EntryMode::from(gix::objs::tree::EntryKind::Blob),
        &id,
        || format!("({name})").into(),
        None,
        &[],
    );
}

/// The names of the tips in `mask` (bit `i` for `names[i]`), at most a few.
pub(super) fn ref_names(mask: u64, names: &[String]) -> Vec<String> {
    (0..names.len().min(64))
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| names[i].clone())
        .take(REFS_NAMED)
        .collect()
}

/// Refs named per blob: a push of many refs names a few.
const REFS_NAMED: usize = 3;

/// What `sgscan ci` fetched for a range in a shallow clone (see `fetch`).
#[derive(Default)]
pub(super) struct Prepared {
    /// Commits the remote had before the push (the parents of the range's oldest commits),
    /// fetched so the range ends at them.
    pub(super) hidden: Vec<ObjectId>,
    /// BASE cannot be had from the remote either: a force-push rewrote it away.
    pub(super) base_gone: bool,
    /// Why fetching what the range needs failed.
    pub(super) failed: Option<String>,
}

fn shallow_advice(prepared: &Prepared) -> String {
    let failed = prepared
        .failed
        .as_deref()
        .map(|f| format!("; fetching it failed: {f}"))
        .unwrap_or_default();
    format!(
        "{failed}. Fetch the history (GitHub Actions: `fetch-depth: 0` on actions/checkout; otherwise \
         `git fetch --deepen=<n>` or `git fetch --unshallow`), or pass --shallow-ok to scan what is there"
    )
}

/// `BASE..HEAD` split in two.
pub(super) fn split_range(range: &str) -> Result<(&str, &str)> {
    range
        .split_once("..")
        .filter(|(b, h)| !b.is_empty() && !h.is_empty() && !h.starts_with('.'))
        .ok_or_else(|| anyhow!("--range must be BASE..HEAD (two commits), not '{range}'"))
}

pub(super) fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

/// The commits among `commits` that are shallow and lack a parent.
pub(super) fn cut_commits(repo: &gix::Repository, commits: impl Iterator<Item = ObjectId>) -> Vec<ObjectId> {
    let Ok(Some(shallow)) = repo.shallow_commits() else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    commits
        .filter(|c| shallow.contains(c))
        .filter(|c| {
            read_commit(repo, c, &mut buf)
                .map(|h| h.parents.iter().any(|p| !repo.has_object(p)))
                .unwrap_or(true)
        })
        .collect()
}

/// The ref a push updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pushed {
    Branch(String),
    Tag(String),
    Unknown,
}

impl Pushed {
    /// `--branch` (or the CI's ref): `refs/tags/X` is a tag, anything else a branch.
    pub(super) fn from_name(name: &str) -> Pushed {
        match name.strip_prefix("refs/tags/") {
            Some(tag) => Pushed::Tag(tag.to_string()),
            None => Pushed::Branch(name.strip_prefix("refs/heads/").unwrap_or(name).to_string()),
        }
    }
}

pub(super) fn pushed_ref(
    repo: &gix::Repository,
    head: &str,
    head_id: ObjectId,
    opts: &HistoryOptions,
) -> Pushed {
    match &opts.branch {
        Some(b) => Pushed::from_name(b),
        None => pushed_branch(repo, head, head_id).map_or(Pushed::Unknown, Pushed::Branch),
    }
}

/// The branches the remote had before a push of a new ref (a zero BASE), as commits to hide: the
/// remote-tracking branches but the pushed one (a repository with none, such as the remote's own,
/// has its branches for them). Tags, local branches and HEAD are not the remote's branches: one at
/// the pushed commit (a tag pushed with `--follow-tags`) must not hide what the push brings. A
/// branch pushed at main's tip brings nothing new.
pub(super) fn pre_existing(
    repo: &gix::Repository,
    head: &str,
    head_id: ObjectId,
    opts: &HistoryOptions,
    sink: &dyn Sink,
) -> Result<Vec<ObjectId>> {
    let pushed = pushed_ref(repo, head, head_id, opts);
    let platform = repo.references().context("cannot read the repository's refs")?;
    let mut remote = Vec::new();
    let mut local = Vec::new();
    for r in platform.all().context("cannot read the repository's refs")? {
        let Ok(mut r) = r else { continue };
        // A symbolic ref (`origin/HEAD`) names a branch that is listed in its own right.
        if matches!(r.target(), gix::refs::TargetRef::Symbolic(_)) {
            continue;
        }
        let name = r.name().as_bstr().to_string();
        let (list, branch) = if let Some(rest) = name.strip_prefix("refs/remotes/") {
            match rest.split_once('/') {
                Some((_, b)) => (&mut remote, b.to_string()),
                None => continue,
            }
        } else if let Some(b) = name.strip_prefix("refs/heads/") {
            (&mut local, b.to_string())
        } else {
            continue;
        };
        let Ok(id) = r.peel_to_id() else {
            sink.skip(name, "cannot resolve ref".to_string());
            continue;
        };
        let Some(commit) = peel_to_commit(repo, id.detach()) else {
            continue;
        };
        list.push((branch, commit));
    }
    let from_remote = !remote.is_empty();
    let branches = if from_remote { remote } else { local };
    let others: Vec<(String, ObjectId)> = match &pushed {
        Pushed::Branch(b) => branches.into_iter().filter(|(name, _)| name != b).collect(),
        Pushed::Tag(_) => branches,
        Pushed::Unknown => {
            sink.note(format!(
                "cannot tell which branch '{head}' is{}: every branch at that commit was taken for the pushed one",
                if opts.ci { "" } else { " (pass --branch NAME)" }
            ));
            branches.into_iter().filter(|(_, id)| *id != head_id).collect()
        }
    };
    // The default branch was there before any push that is not to it. Another branch at or past
    // the pushed commit may have come in the same push (`git push origin a b`, both new): taken
    // for the remote's, each would hide the other's commits and neither would be scanned. So
    // such a branch counts only if it is the default one; one that was there before costs a
    // report of keys it already had, never a key missed.
    let default = opts
        .default_branch
        .clone()
        .or_else(|| default_branch(repo, from_remote));
    let (defaults, rest): (Vec<_>, Vec<_>) = others
        .into_iter()
        .partition(|(name, _)| default.as_deref() == Some(name.as_str()));
    let mut hidden: Vec<ObjectId> = defaults.iter().map(|(_, id)| *id).collect();
    let reach = reaching(repo, &rest, head_id, &hidden);
    let mut passed = Vec::new();
    for ((name, id), reaches) in rest.into_iter().zip(reach) {
        if reaches {
            passed.push(name);
        } else {
            hidden.push(id);
        }
    }
    if !passed.is_empty() {
        sink.note(format!(
            "branch(es) {} of the remote are at or past '{head}' and are not its default branch{}: \
             they may have come in the same push, so their commits were not taken as known before it",
            passed.join(", "),
            default
                .as_deref()
                .map(|d| format!(" ('{d}')"))
                .unwrap_or_default()
        ));
    }
    Ok(hidden)
}

/// The remote's default branch as the clone knows it: what `origin/HEAD` names, or for a
/// repository without remote-tracking branches (the remote's own) its `HEAD`.
fn default_branch(repo: &gix::Repository, from_remote: bool) -> Option<String> {
    let name = if from_remote {
        "refs/remotes/origin/HEAD"
    } else {
        "HEAD"
    };
    let r = repo.try_find_reference(name).ok()??;
    let gix::refs::TargetRef::Symbolic(target) = r.target() else {
        return None;
    };
    let target = target.as_bstr().to_string();
    let short = if from_remote {
        target.strip_prefix("refs/remotes/origin/")
    } else {
        target.strip_prefix("refs/heads/")
    };
    short.map(str::to_string)
}

/// For each of `branches`: whether its tip is `head` or reaches it (not through `hidden`). One walk
/// per 64 branches (the walk tells which of its first 64 tips reach each commit).
fn reaching(
    repo: &gix::Repository,
    branches: &[(String, ObjectId)],
    head: ObjectId,
    hidden: &[ObjectId],
) -> Vec<bool> {
    let mut out = Vec::with_capacity(branches.len());
    for chunk in branches.chunks(64) {
        let tips: Vec<(ObjectId, String)> = chunk.iter().map(|(n, id)| (*id, n.clone())).collect();
        let refs = if chunk.iter().any(|(_, id)| *id != head) {
            walk(repo, &tips, hidden, &super::Quiet)
                .into_iter()
                .find(|w| w.id == head)
                .map_or(0, |w| w.refs)
        } else {
            0
        };
        out.extend(
            chunk
                .iter()
                .enumerate()
                .map(|(i, (_, id))| *id == head || refs & (1u64 << i) != 0),
        );
    }
    out
}

pub(super) fn peel_to_commit(repo: &gix::Repository, id: ObjectId) -> Option<ObjectId> {
    Some(repo.find_object(id).ok()?.peel_to_commit().ok()?.id)
}

/// The branch name behind the HEAD side of a range: the ref it names, else the branch checked out
/// at that commit.
fn pushed_branch(repo: &gix::Repository, head: &str, head_id: ObjectId) -> Option<String> {
    let short_name = |full: &str| -> Option<String> {
        if let Some(b) = full.strip_prefix("refs/heads/") {
            return Some(b.to_string());
        }
        let (_, b) = full.strip_prefix("refs/remotes/")?.split_once('/')?;
        Some(b.to_string())
    };
    if head != "HEAD"
        && let Ok(Some(r)) = repo.try_find_reference(head)
    {
        return short_name(&r.name().as_bstr().to_string());
    }
    let h = repo.head().ok()?;
    let name = h.referent_name()?.as_bstr().to_string();
    (repo.head_id().ok()?.detach() == head_id).then_some(())?;
    short_name(&name)
}

pub(super) fn resolve(repo: &gix::Repository, spec: &str) -> Result<ObjectId> {
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

/// Where a tree was reached, for the skips it records.
#[derive(Clone, Copy)]
enum At {
    Commit(ObjectId),
    Ref,
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
        at: At,
        sink: &dyn Sink,
        mut f: impl FnMut(gix::objs::tree::EntryRef<'_>),
    ) -> bool {
        let where_ = || match at {
            At::Commit(commit) if prefix.is_empty() => format!("/@{}", short(&commit)),
            At::Commit(commit) => format!("{prefix}@{}", short(&commit)),
            At::Ref => prefix.to_string(),
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
    fn entries(&mut self, tree: ObjectId, prefix: &BString, at: At, sink: &dyn Sink) -> Option<Vec<Entry>> {
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
