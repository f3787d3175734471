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
use super::refs::ref_tips_except;
use super::shard::shard_of;
use super::walk::walk;
use crate::source::Sink;

/// A blob to scan and where it was first seen.
pub(super) struct BlobJob {
    pub(super) id: ObjectId,
    pub(super) path: BString,
    /// The commit it was first seen in; none for a blob a ref names (directly or through a tree).
    pub(super) commit: Option<ObjectId>,
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
    sink: &dyn Sink,
    plan: &mut Plan,
) -> Result<Vec<ObjectId>> {
    let (base, head) = split_range(range)?;
    let head_id =
        resolve(repo, head).with_context(|| format!("--range: cannot resolve HEAD side '{head}'"))?;
    let hidden = if base.bytes().all(|b| b == b'0') {
        new_branch(repo, head, head_id, opts.branch.as_deref(), sink)?
    } else {
        match resolve(repo, base) {
            Ok(id) => vec![id],
            Err(e) if !repo.is_shallow().unwrap_or(true) => {
                // A full clone lacks BASE only when the push rewrote it away (a force-push): what
                // the pushed branch has that no other ref has is what the push can have brought.
                sink.note(format!(
                    "--range base '{base}' is not in this clone ({e:#}), which is not shallow: a force-push rewrote it away, \
                     so the commits of '{head}' that no other ref has were scanned"
                ));
                new_branch(repo, head, head_id, opts.branch.as_deref(), sink)?
            }
            Err(e) if opts.shallow_ok => {
                sink.note(format!("--range base '{base}' is not in this clone ({e:#}); scanned every commit reachable from '{head}' that is present"));
                Vec::new()
            }
            Err(e) => bail!(
                "--range base '{base}' is not in this shallow clone ({e:#}). Fetch the history \
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
                    plan.leaf(e.mode, &e.id, || join(&prefix, e.name.as_ref()), Some(c.id));
                }
            }
        }
    }
    Ok(commits.into_iter().map(|c| c.id).collect())
}

/// `BASE..HEAD` split in two.
pub(super) fn split_range(range: &str) -> Result<(&str, &str)> {
    range
        .split_once("..")
        .filter(|(b, h)| !b.is_empty() && !h.is_empty() && !h.starts_with('.'))
        .ok_or_else(|| anyhow!("--range must be BASE..HEAD (two commits), not '{range}'"))
}

/// The commits to hide for a new branch (a zero BASE): every ref's, but for the pushed branch, its
/// remote-tracking twins and a HEAD that is the pushed commit. A branch pushed at another branch's
/// tip then brings nothing new, instead of its whole history.
pub(super) fn new_branch(
    repo: &gix::Repository,
    head: &str,
    head_id: ObjectId,
    branch: Option<&str>,
    sink: &dyn Sink,
) -> Result<Vec<ObjectId>> {
    let branch = branch
        .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string())
        .or_else(|| pushed_branch(repo, head, head_id));
    let tips = match &branch {
        Some(b) => {
            let local = format!("refs/heads/{b}");
            ref_tips_except(repo, sink, &|name, id| {
                name == local
                    || (name == "HEAD" && *id == head_id)
                    || name
                        .strip_prefix("refs/remotes/")
                        .and_then(|r| r.split_once('/'))
                        .is_some_and(|(_, rest)| rest == b)
            })?
        }
        None => {
            sink.note(format!(
                "cannot tell which branch '{head}' is (pass --branch NAME): every ref at that commit was taken for the pushed branch"
            ));
            ref_tips_except(repo, sink, &|_, id| *id == head_id)?
        }
    };
    Ok(tips.commits.into_iter().map(|(id, _)| id).collect())
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
