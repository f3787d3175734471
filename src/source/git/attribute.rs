//! Where the blobs that matter were. After the scan, only for the blobs that held something (and
//! those too big to scan): the oldest commit, in the walk's order, whose tree has each, and its path
//! there; whether HEAD still has it; a few refs that reach that commit.
//!
//! No history is walked for it (unless the index was too big to keep: `treewalk`): the tree index built during the scan (`treeindex`) gives, for a
//! blob, every tree that holds it, up to the commits' own trees; the first commit in the walk's
//! order among those is the one that introduced it, and its path is read down from that commit's
//! tree through the holders alone. The cost is the trees that hold the blob, not the history.

use std::collections::{BTreeSet, HashMap, HashSet};

use gix::ObjectId;
use gix::bstr::BString;
use gix::prelude::FindExt;

use super::HistoryOptions;
use super::objects::{join, read_commit, short, too_big_reason};
use super::presence::Presence;
use super::refs::Tips;
use super::store::{Scanned, pending_path};
use super::sweep::commit_info;
use super::treeindex::TreeIndex;
use super::treewalk::{Start, walk_trees};
use super::walk::Walked;
use crate::model::Origin;
use crate::source::{Attribute, Sink};

/// How many refs a report names per commit.
const MAX_REFS: usize = 3;
/// Missing blobs recorded one by one; past this many, one note counts the rest.
const MAX_MISSING: usize = 100;

/// Where a path starts: a commit's tree, or a tree a ref names.
struct Root {
    tree: ObjectId,
    commit: Option<ObjectId>,
    /// For a tree a ref names: the ref.
    ref_name: Option<String>,
    reachable: bool,
    /// Tips reaching the commit (see [`Walked::refs`]).
    refs: u64,
}

impl Root {
    /// `path@commit`, or `ref:path` for a tree a ref names: how skips name a place.
    fn place(&self, path: &BString) -> String {
        match (&self.ref_name, self.commit) {
            (Some(name), _) => format!("{name}:{path}"),
            (None, Some(c)) => format!("{path}@{}", short(&c)),
            (None, None) => path.to_string(),
        }
    }
}

/// Where a blob was first seen.
struct Place {
    path: BString,
    root: usize,
    in_head: bool,
}

/// The places found, and what the resolver needs to turn them into origins.
pub(super) struct Places<'a> {
    repo: &'a gix::Repository,
    opts: &'a HistoryOptions,
    tip_names: Vec<String>,
    roots: Vec<Root>,
    blobs: HashMap<ObjectId, Place>,
    /// Trees with a key in an entry's name.
    trees: HashMap<ObjectId, Place>,
    /// Blobs a ref names directly (`git tag x <blob>`), under the ref's name.
    named_blobs: HashMap<ObjectId, String>,
    /// Reachable commits, with the tips that reach each: for the messages that matter.
    commits: HashMap<ObjectId, u64>,
    /// Paths of the submodules (gitlinks) seen in reachable history.
    pub(super) submodules: BTreeSet<String>,
    /// The refs' tips, loaded once something is to be placed: which of them still have a blob.
    presence: Option<Presence>,
    /// The index's paths by blob, read the first time a blob no commit has is placed: a blob staged
    /// and never committed keeps its path there while it stays staged.
    index_paths: std::cell::OnceCell<HashMap<ObjectId, BString>>,
}

/// Finds the places of `scanned`'s hits, its gitlinks and its missing blobs. `walked` is the
/// reachable history, oldest first, walked from `tips` (bit `i` of a commit's refs is `tips[i]`).
pub(super) fn places<'a>(
    repo: &'a gix::Repository,
    opts: &'a HistoryOptions,
    tips: &Tips,
    walked: &[Walked],
    scanned: &Scanned,
    sink: &dyn Sink,
) -> Places<'a> {
    let mut places = Places {
        repo,
        opts,
        tip_names: tips.commits.iter().map(|(_, name)| name.clone()).collect(),
        roots: Vec::new(),
        blobs: HashMap::new(),
        trees: HashMap::new(),
        named_blobs: tips.blobs.iter().map(|(id, name)| (*id, name.clone())).collect(),
        commits: HashMap::new(),
        submodules: BTreeSet::new(),
        presence: None,
        index_paths: std::cell::OnceCell::new(),
    };
    if !scanned.message_hits.is_empty() {
        places.commits = walked.iter().map(|w| (w.id, w.refs)).collect();
    }
    let mut targets: Vec<ObjectId> = scanned
        .hits
        .iter()
        .copied()
        .chain(scanned.too_big.iter().map(|(id, _)| *id))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let missing = match (&scanned.index, &scanned.blobs) {
        (Some(index), Some(blobs)) => index.missing_blobs(blobs),
        _ => Vec::new(),
    };
    if targets.is_empty() && scanned.gitlinks.is_empty() && missing.is_empty() && scanned.tree_hits.is_empty()
    {
        return places;
    }
    if !scanned.hits.is_empty() {
        places.presence = Some(Presence::load(repo, sink));
    }
    // Roots in the order that decides: reachable commits oldest first, trees refs name, then
    // commits no ref reaches (amended, rebased, dropped stash entries), oldest first.
    let mut root_of: HashMap<ObjectId, usize> = HashMap::new();
    let mut add = |roots: &mut Vec<Root>, tree: ObjectId, root: Root| {
        root_of.entry(tree).or_insert(roots.len());
        roots.push(root);
    };
    let mut roots = Vec::new();
    for w in walked {
        if let Some(tree) = w.tree {
            let root = Root {
                tree,
                commit: Some(w.id),
                ref_name: None,
                reachable: true,
                refs: w.refs,
            };
            add(&mut roots, tree, root);
        }
    }
    for (tree, name) in &tips.trees {
        let root = Root {
            tree: *tree,
            commit: None,
            ref_name: Some(name.clone()),
            reachable: true,
            refs: 0,
        };
        add(&mut roots, *tree, root);
    }
    let reachable: HashSet<ObjectId> = walked.iter().map(|w| w.id).collect();
    let mut buf = Vec::new();
    let mut lost: Vec<(i64, ObjectId, ObjectId)> = scanned
        .commits
        .iter()
        .filter(|(c, _)| !reachable.contains(c))
        .filter_map(|(c, tree)| {
            let time = read_commit(repo, c, &mut buf).ok().and_then(|h| h.time);
            // No date: not the oldest (it would win every blob in its tree), the newest.
            Some((time.unwrap_or(i64::MAX), *c, (*tree)?))
        })
        .collect();
    lost.sort_unstable();
    for (_, commit, tree) in lost {
        let root = Root {
            tree,
            commit: Some(commit),
            ref_name: None,
            reachable: false,
            refs: 0,
        };
        add(&mut roots, tree, root);
    }
    let head_tree = repo.head_tree_id().ok().map(|t| t.detach());
    let Some(index) = &scanned.index else {
        // Walking is costly: only for what findings (and too-big skips) need placed. A blob whose
        // origin was asked for only to name a skip keeps its id for a path.
        let needed: HashSet<ObjectId> = sink
            .pending_blobs()
            .iter()
            .filter_map(|b| ObjectId::from_hex(b.as_bytes()).ok())
            .chain(scanned.too_big.iter().map(|(id, _)| *id))
            .collect();
        targets.retain(|t| needed.contains(t));
        places.walk_trees(roots, &root_of, &targets, scanned, sink);
        places.mark_head(head_tree);
        return places;
    };
    let mut find = Finder {
        repo,
        index,
        root_of: &root_of,
        buf: Vec::new(),
    };
    for id in &targets {
        if let Some((root, path, holders)) = find.first_place(id, false) {
            let in_head = head_tree.is_some_and(|h| holders.contains(&h));
            places.blobs.insert(*id, Place { path, root, in_head });
        }
    }
    for id in &scanned.tree_hits {
        // A commit's own tree is no holder of itself: its place is the top of that commit.
        let top = root_of.get(id).map(|&r| (r, BString::default(), HashSet::new()));
        let below = find.first_place(id, true);
        let first = match (top, below) {
            (Some(t), Some(b)) => Some(if b.0 < t.0 { b } else { t }),
            (t, b) => t.or(b),
        };
        if let Some((root, path, holders)) = first {
            let in_head = head_tree.is_some_and(|h| h == *id || holders.contains(&h));
            places.trees.insert(*id, Place { path, root, in_head });
        }
    }
    // Submodules: a gitlink in a commit's own tree has its name for a path; a deeper one gets the
    // path of the first reachable commit whose tree holds its tree, once per name.
    let mut named: HashSet<&BString> = HashSet::new();
    for (tree, names) in &scanned.gitlinks {
        match root_of.get(tree) {
            Some(&r) if roots[r].reachable => {
                places.submodules.extend(names.iter().map(|n| n.to_string()));
            }
            Some(_) => {}
            None => {
                if names.iter().all(|n| named.contains(n)) {
                    continue;
                }
                if let Some((r, path, _)) = find.first_place(tree, true)
                    && roots[r].reachable
                {
                    for name in names {
                        named.insert(name);
                        places.submodules.insert(join(&path, name.as_ref()).to_string());
                    }
                }
            }
        }
    }
    places.roots = roots;
    places.record_missing(&mut find, &missing, sink);
    places
}

/// Finds first places through the index.
struct Finder<'a> {
    repo: &'a gix::Repository,
    index: &'a TreeIndex,
    root_of: &'a HashMap<ObjectId, usize>,
    buf: Vec<u8>,
}

impl Finder<'_> {
    /// The first root (in the deciding order) whose tree holds `id`, the path to `id` there, and
    /// every tree that holds `id`.
    fn first_place(&mut self, id: &gix::oid, is_tree: bool) -> Option<(usize, BString, HashSet<ObjectId>)> {
        let holders = self.index.holders(id, is_tree);
        let mut candidates: Vec<(usize, ObjectId)> = holders
            .iter()
            .filter_map(|t| Some((*self.root_of.get(t)?, *t)))
            .collect();
        candidates.sort_unstable();
        // The index's keys are short: a candidate is taken only once its tree really leads there.
        for (root, tree) in candidates {
            if let Some(path) = self.path_to(tree, id, is_tree, &holders) {
                return Some((root, path, holders));
            }
        }
        None
    }

    /// The first path (in tree order) from `top` down to `id`, through `holders` only.
    fn path_to(
        &mut self,
        top: ObjectId,
        id: &gix::oid,
        is_tree: bool,
        holders: &HashSet<ObjectId>,
    ) -> Option<BString> {
        let mut seen = HashSet::new();
        // Depth first in tree order: entries are pushed in reverse so the first is popped first.
        let mut stack = vec![(top, BString::default())];
        while let Some((tree, prefix)) = stack.pop() {
            if !seen.insert(tree) {
                continue;
            }
            let Ok(iter) = self.repo.objects.find_tree_iter(&tree, &mut self.buf) else {
                continue;
            };
            let mut below = Vec::new();
            for e in iter.filter_map(Result::ok) {
                if e.oid == id && e.mode.is_tree() == is_tree && !e.mode.is_commit() {
                    return Some(join(&prefix, e.filename));
                }
                if e.mode.is_tree() && holders.contains(e.oid) {
                    below.push((e.oid.to_owned(), join(&prefix, e.filename)));
                }
            }
            stack.extend(below.into_iter().rev());
        }
        None
    }
}

impl Places<'_> {
    /// Without an index (too big to keep): the trees are walked until every target is placed.
    fn walk_trees(
        &mut self,
        roots: Vec<Root>,
        root_of: &HashMap<ObjectId, usize>,
        targets: &[ObjectId],
        scanned: &Scanned,
        sink: &dyn Sink,
    ) {
        let mut nested = HashSet::new();
        for (tree, names) in &scanned.gitlinks {
            match root_of.get(tree) {
                Some(&r) if roots[r].reachable => {
                    self.submodules.extend(names.iter().map(|n| n.to_string()));
                }
                Some(_) => {}
                None if self.opts.submodules => nested.extend(names.iter().cloned()),
                // Their paths would cost a walk: named as found, below some directory.
                None => self.submodules.extend(names.iter().map(|n| format!("…/{n}"))),
            }
        }
        if targets.is_empty() && nested.is_empty() {
            self.roots = roots;
            return;
        }
        let starts: Vec<Start<'_>> = roots
            .iter()
            .map(|r| Start {
                tree: r.tree,
                commit: r.commit,
                ref_name: r.ref_name.as_deref(),
                reachable: r.reachable,
            })
            .collect();
        let targets: HashSet<ObjectId> = targets.iter().copied().collect();
        let found = walk_trees(
            self.repo,
            &starts,
            &targets,
            nested,
            scanned.blobs.as_deref(),
            sink,
            self.opts.workers(),
        );
        drop(starts);
        self.submodules.extend(found.submodules);
        self.blobs = found
            .places
            .into_iter()
            .map(|(id, (root, path))| {
                (
                    id,
                    Place {
                        path,
                        root,
                        in_head: false,
                    },
                )
            })
            .collect();
        self.roots = roots;
    }

    /// Marks the places whose blob is in HEAD's tree: the key is in the code today.
    fn mark_head(&mut self, head_tree: Option<ObjectId>) {
        let Some(tree) = head_tree.filter(|_| !self.blobs.is_empty()) else {
            return;
        };
        let mut seen = gix::hashtable::HashSet::default();
        let mut stack = vec![tree];
        let mut buf = Vec::new();
        while let Some(tree) = stack.pop() {
            let Ok(iter) = self.repo.objects.find_tree_iter(&tree, &mut buf) else {
                continue;
            };
            for e in iter.filter_map(Result::ok) {
                if e.mode.is_tree() {
                    if seen.insert(e.oid.to_owned()) {
                        stack.push(e.oid.to_owned());
                    }
                } else if let Some(place) = self.blobs.get_mut(e.oid) {
                    place.in_head = true;
                }
            }
        }
    }

    /// Blobs that trees name but the store lacks (deleted loose objects, a damaged copy), each
    /// recorded once at the first place that has it.
    fn record_missing(&self, find: &mut Finder<'_>, missing: &[(u64, ObjectId)], sink: &dyn Sink) {
        for (k, tree) in missing.iter().take(MAX_MISSING) {
            // The index keeps a short key: the real tree says which entry it was.
            let mut buf = Vec::new();
            let Ok(iter) = self.repo.objects.find_tree_iter(tree, &mut buf) else {
                continue;
            };
            let Some((id, name)) = iter
                .filter_map(Result::ok)
                .find(|e| !e.mode.is_tree() && !e.mode.is_commit() && TreeIndex::has_key(e.oid, *k))
                .map(|e| (e.oid.to_owned(), e.filename.to_owned()))
            else {
                continue;
            };
            let top = find
                .root_of
                .get(tree)
                .map(|&r| (r, BString::default(), HashSet::new()));
            let place = match top.or_else(|| find.first_place(tree, true)) {
                Some((r, path, _)) => self.roots[r].place(&join(&path, name.as_ref())),
                // No commit or ref has the tree: an object no ref reaches.
                None => name.to_string(),
            };
            sink.skip(place, format!("missing blob {id}: not in the object store"));
        }
        if missing.len() > MAX_MISSING {
            sink.note(format!(
                "{} more blobs named by trees are missing from the object store (`git fsck` lists them)",
                missing.len() - MAX_MISSING
            ));
        }
    }

    /// Each blob the index stages, with the first path it is staged at.
    fn index_paths(&self) -> &HashMap<ObjectId, BString> {
        self.index_paths.get_or_init(|| {
            let mut paths = HashMap::new();
            if let Ok(index) = self.repo.index_or_empty() {
                for e in index.entries() {
                    if !e.mode.is_submodule() {
                        paths.entry(e.id).or_insert_with(|| e.path(&index).to_owned());
                    }
                }
            }
            paths
        })
    }

    /// The names of a few tips in `mask`, the branch HEAD is on first; `HEAD` itself only when it
    /// is detached (else its branch says it).
    fn ref_names(&self, mask: u64) -> Vec<String> {
        let names: Vec<&String> = (0..self.tip_names.len().min(64))
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| &self.tip_names[i])
            .collect();
        let only_head = names.iter().all(|n| *n == "HEAD");
        names
            .into_iter()
            .filter(|n| only_head || *n != "HEAD")
            .take(MAX_REFS)
            .cloned()
            .collect()
    }

    /// `path@commit` (or `ref:path`) for a blob's skips, as the walk's own skips name places.
    fn shown(&self, id: &gix::oid) -> Option<String> {
        let prefix = &self.opts.prefix;
        if let Some(place) = self.blobs.get(id) {
            return Some(format!("{prefix}{}", self.roots[place.root].place(&place.path)));
        }
        self.named_blobs.get(id).map(|name| format!("{prefix}{name}"))
    }

    /// Records a skip for each blob over `--max-file-size`, at its place.
    pub(super) fn skip_too_big(&self, too_big: &[(ObjectId, u64)], sink: &dyn Sink) {
        for (id, size) in too_big {
            let place = self
                .shown(id)
                .unwrap_or_else(|| pending_path(&self.opts.prefix, id));
            sink.skip(place, too_big_reason(id, *size, self.opts.max_file_size));
        }
    }
}

impl Places<'_> {
    /// A tree entry with a key in its name (`(tree <id>)/name`, the name redacted already): its
    /// tree's place and the name.
    fn tree_entry(&self, pending: &Origin) -> Option<Origin> {
        let raw = match &pending.path_bytes {
            Some(hexed) => hex::decode(hexed).ok()?,
            None => pending.path.as_bytes().to_vec(),
        };
        let rest = raw
            .strip_prefix(self.opts.prefix.as_bytes())?
            .strip_prefix(b"(tree ")?;
        let close = rest.iter().position(|&b| b == b')')?;
        let id = ObjectId::from_hex(&rest[..close]).ok()?;
        let name = rest[close + 1..].strip_prefix(b"/")?;
        let place = self.trees.get(&id)?;
        let root = &self.roots[place.root];
        let mut path = self.opts.prefix.as_bytes().to_vec();
        if let Some(ref_name) = &root.ref_name {
            path.extend_from_slice(format!("{ref_name}:").as_bytes());
        }
        path.extend_from_slice(&join(&place.path, name.into()));
        Some(Origin {
            commit: root.commit.map(|c| commit_info(self.repo, c)),
            reachable: Some(root.reachable),
            in_head: Some(place.in_head),
            refs: self.ref_names(root.refs),
            repository: self.opts.repository.clone(),
            ..Origin::from_bytes(&path)
        })
    }
}

impl Attribute for Places<'_> {
    fn origin(&self, pending: &Origin) -> Option<Origin> {
        let opts = self.opts;
        if let Some(hex) = &pending.blob {
            let id = ObjectId::from_hex(hex.as_bytes()).ok()?;
            let mut path = opts.prefix.as_bytes().to_vec();
            let origin = if let Some(place) = self.blobs.get(&id) {
                let root = &self.roots[place.root];
                if let Some(name) = &root.ref_name {
                    path.extend_from_slice(format!("{name}:").as_bytes());
                }
                path.extend_from_slice(&place.path);
                // A path below a tree a ref names is not a path in the tips' trees.
                let present_in = match &self.presence {
                    Some(p) if root.reachable && root.ref_name.is_none() => {
                        p.refs_with(self.repo, &place.path, &id)
                    }
                    _ => Vec::new(),
                };
                Origin {
                    commit: root.commit.map(|c| commit_info(self.repo, c)),
                    reachable: Some(root.reachable),
                    in_head: Some(place.in_head),
                    refs: self.ref_names(root.refs),
                    present_in,
                    ..Origin::from_bytes(&path)
                }
            } else if let Some(name) = self.named_blobs.get(&id) {
                path.extend_from_slice(name.as_bytes());
                Origin {
                    reachable: Some(true),
                    in_head: Some(false),
                    ..Origin::from_bytes(&path)
                }
            } else {
                // In no tree of any commit: written by `git add` (or a tool) and never committed;
                // the index names it while it stays staged.
                match self.index_paths().get(&id) {
                    Some(staged) => path.extend_from_slice(staged),
                    None => path.extend_from_slice(format!("(unreachable blob {id})").as_bytes()),
                }
                Origin {
                    reachable: Some(false),
                    in_head: Some(false),
                    ..Origin::from_bytes(&path)
                }
            };
            return Some(Origin {
                blob: Some(hex.clone()),
                repository: opts.repository.clone(),
                ..origin
            });
        }
        if let Some(origin) = self.tree_entry(pending) {
            return Some(origin);
        }
        let commit = pending.commit.as_ref()?;
        let id = ObjectId::from_hex(commit.commit.as_bytes()).ok()?;
        let refs = self.commits.get(&id);
        Some(Origin {
            reachable: Some(refs.is_some()),
            refs: refs.map(|m| self.ref_names(*m)).unwrap_or_default(),
            ..pending.clone()
        })
    }

    fn skip_path(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(&self.opts.prefix)?.strip_prefix("(blob ")?;
        let (hex, rest) = rest.split_once(')')?;
        let id = ObjectId::from_hex(hex.as_bytes()).ok()?;
        Some(format!("{}{rest}", self.shown(&id)?))
    }
}
