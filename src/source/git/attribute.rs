//! Where the blobs that matter were. After the scan, only for the blobs that held something (and
//! those too big to scan): the oldest commit, in the walk's order, whose tree has each, and its path
//! there; whether HEAD still has it; a few refs that reach that commit. A clean repository walks
//! no tree at all.
//!
//! The trees are walked on all workers, commits handed out in order, with one shared map from tree
//! to the first commit that reached it: a tree is read again only when an earlier commit reaches it
//! after a later one did, which can happen only between commits walked at the same time. Once
//! every blob has its place, the walk stops.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteVec};
use gix::prelude::FindExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::HistoryOptions;
use super::objects::{read_commit, short};
use super::repo::with_delta_cache;
use super::refs::Tips;
use super::store::{Scanned, pending_path};
use super::sweep::commit_info;
use super::walk::Walked;
use crate::model::Origin;
use crate::source::{Attribute, Sink};

/// How many refs a report names per commit.
const MAX_REFS: usize = 3;

/// Where a tree walk starts: a commit's tree, or a tree a ref names.
struct Root {
    tree: ObjectId,
    commit: Option<ObjectId>,
    /// For a tree a ref names: the ref.
    ref_name: Option<String>,
    reachable: bool,
    /// Tips reaching the commit (see [`Walked::refs`]).
    refs: u64,
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
    /// Blobs a ref names directly (`git tag x <blob>`), under the ref's name.
    named_blobs: HashMap<ObjectId, String>,
    /// Reachable commits, with the tips that reach each: for the messages that matter.
    commits: HashMap<ObjectId, u64>,
    /// Paths of the submodules (gitlinks) seen.
    pub(super) submodules: BTreeSet<String>,
}

/// Finds the places of `scanned`'s hits. `walked` is the reachable history, oldest first, walked
/// from `tips` (in that order: bit `i` of a commit's refs is `tips[i]`).
pub(super) fn places<'a>(
    repo: &'a gix::Repository,
    opts: &'a HistoryOptions,
    tips: &Tips,
    walked: &[Walked],
    scanned: &Scanned,
    sink: &dyn Sink,
    threads: usize,
) -> Places<'a> {
    let targets: HashSet<ObjectId> = scanned
        .hits
        .iter()
        .copied()
        .chain(scanned.too_big.iter().map(|(id, _)| *id))
        .collect();
    let mut places = Places {
        repo,
        opts,
        tip_names: tips.commits.iter().map(|(_, name)| name.clone()).collect(),
        roots: Vec::new(),
        blobs: HashMap::new(),
        named_blobs: HashMap::new(),
        commits: HashMap::new(),
        submodules: BTreeSet::new(),
    };
    if !scanned.message_hits.is_empty() {
        places.commits = walked.iter().map(|w| (w.id, w.refs)).collect();
    }
    // A gitlink in a commit's own tree has its name for a path; one deeper needs the walk, until
    // a path is found for each such name.
    let top: HashSet<ObjectId> = scanned.commits.iter().filter_map(|(_, t)| *t).collect();
    let mut nested = HashSet::new();
    for (tree, names) in &scanned.gitlinks {
        if top.contains(tree) {
            places.submodules.extend(names.iter().map(|n| n.to_string()));
        } else {
            nested.extend(names.iter().cloned());
        }
    }
    drop(top);
    if targets.is_empty() && nested.is_empty() {
        return places;
    }
    let mut roots: Vec<Root> = walked
        .iter()
        .filter_map(|w| {
            Some(Root {
                tree: w.tree?,
                commit: Some(w.id),
                ref_name: None,
                reachable: true,
                refs: w.refs,
            })
        })
        .collect();
    roots.extend(tips.trees.iter().map(|(tree, name)| Root {
        tree: *tree,
        commit: None,
        ref_name: Some(name.clone()),
        reachable: true,
        refs: 0,
    }));
    let mut walk = TreeWalk {
        targets: &targets,
        labels: (0..SHARDS).map(|_| Mutex::default()).collect(),
        found: Mutex::default(),
        submodules: Mutex::default(),
        nested: Mutex::new(nested),
        next_max: AtomicUsize::new(0),
        sink,
        store_blobs: scanned.blobs.as_deref(),
        missing: Mutex::default(),
    };
    let shared = repo.clone().into_sync();
    walk.run(&roots, 0, &shared, threads);
    if std::env::var_os("SGSCAN_TIMINGS").is_some() {
        eprintln!(
            "sgscan timings: walked {} roots of {}; {} of {} blobs placed; gitlink names pending: {:?}",
            walk.next_max.load(Ordering::Relaxed),
            roots.len(),
            walk.found.lock().map(|f| f.len()).unwrap_or(0),
            targets.len(),
            walk.nested.lock().map(|n| n.iter().map(|b| b.to_string()).collect::<Vec<_>>()).unwrap_or_default()
        );
    }
    places
        .submodules
        .append(walk.submodules.get_mut().unwrap_or_else(|e| e.into_inner()));
    places.named_blobs = tips.blobs.iter().map(|(id, name)| (*id, name.clone())).collect();
    if !walk.found_all() {
        // Blobs no ref reaches: look in the commits no ref reaches (amended, rebased, dropped
        // stash entries), oldest first, so a leak still gets the path and author it had.
        let reachable: HashSet<ObjectId> = walked.iter().map(|w| w.id).collect();
        let mut buf = Vec::new();
        let mut lost: Vec<(i64, ObjectId, ObjectId)> = scanned
            .commits
            .iter()
            .map(|(c, _)| c)
            .filter(|c| !reachable.contains(*c))
            .filter_map(|c| {
                let head = read_commit(repo, c, &mut buf).ok()?;
                Some((head.time.unwrap_or(0), *c, head.tree?))
            })
            .collect();
        lost.sort_unstable();
        let start = roots.len();
        roots.extend(lost.into_iter().map(|(_, commit, tree)| Root {
            tree,
            commit: Some(commit),
            ref_name: None,
            reachable: false,
            refs: 0,
        }));
        // Submodules are taken from reachable history only.
        if let Ok(nested) = walk.nested.get_mut() {
            nested.clear();
        }
        walk.run(&roots[start..], start, &shared, threads);
    }
    places.blobs = into_places(walk.found);
    places.roots = roots;
    places.mark_head(repo);
    places
}

fn into_places(found: Mutex<HashMap<ObjectId, (usize, BString)>>) -> HashMap<ObjectId, Place> {
    found
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
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
        .collect()
}

const SHARDS: usize = 64;

/// The shared state of one labelled walk.
struct TreeWalk<'a> {
    targets: &'a HashSet<ObjectId>,
    /// Tree → the first root (its index) that reached it, in shards by the id's first byte.
    labels: Vec<Mutex<gix::hashtable::HashMap<ObjectId, usize>>>,
    /// Target blob → (first root, path there).
    found: Mutex<HashMap<ObjectId, (usize, BString)>>,
    submodules: Mutex<BTreeSet<String>>,
    /// Roots handed out so far (for the timings).
    next_max: AtomicUsize,
    /// Names of gitlinks below the top whose path is not known yet.
    nested: Mutex<HashSet<BString>>,
    sink: &'a dyn Sink,
    /// Every blob in the store, sorted, to tell a missing one; none in a partial clone, which
    /// lacks blobs by design.
    store_blobs: Option<&'a [ObjectId]>,
    /// Missing blobs recorded so far: each once, however many trees name it.
    missing: Mutex<HashSet<ObjectId>>,
}

impl TreeWalk<'_> {
    fn found_all(&self) -> bool {
        self.found.lock().map(|f| f.len()).unwrap_or(0) >= self.targets.len()
            && self.nested.lock().map(|n| n.is_empty()).unwrap_or(true)
    }

    /// Whether `tree` is new to root `label`: no root before it reached the tree yet. Claims it.
    fn claim(&self, tree: &gix::oid, label: usize) -> bool {
        let shard = &self.labels[usize::from(tree.as_bytes()[0]) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(tree) {
            Some(l) if *l <= label => false,
            Some(l) => {
                *l = label;
                true
            }
            None => {
                map.insert(tree.to_owned(), label);
                true
            }
        }
    }

    /// Hands the roots out in order, one at a time, to `threads` workers that each keep their own
    /// handle (and its delta cache). A worker finishes the root it has before it stops, so when
    /// every target is found, every root before the last one handed out has been walked: no
    /// later root can place a blob earlier.
    fn run(&self, roots: &[Root], offset: usize, shared: &gix::ThreadSafeRepository, threads: usize) {
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    let repo = with_delta_cache(shared.to_thread_local());
                    let mut buf = Vec::new();
                    while !self.found_all() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        self.next_max.fetch_max(i + 1, Ordering::Relaxed);
                        let Some(root) = roots.get(i) else {
                            break;
                        };
                        self.root(&repo, &mut buf, root, offset + i);
                    }
                });
            }
        });
    }

    /// Depth first over the trees of one root that no earlier root reached.
    fn root(&self, repo: &gix::Repository, buf: &mut Vec<u8>, root: &Root, label: usize) {
        if !self.claim(&root.tree, label) {
            return;
        }
        let mut stack = vec![(root.tree, BString::default())];
        while let Some((tree, prefix)) = stack.pop() {
            let iter = match repo.objects.find_tree_iter(&tree, buf) {
                Ok(iter) => iter,
                Err(e) => {
                    self.sink.skip(
                        where_(root, &prefix),
                        format!("missing or corrupt tree {tree}: {e}"),
                    );
                    continue;
                }
            };
            for e in iter {
                let e = match e {
                    Ok(e) => e,
                    Err(err) => {
                        self.sink
                            .skip(where_(root, &prefix), format!("corrupt tree {tree}: {err}"));
                        break;
                    }
                };
                if e.mode.is_tree() {
                    if self.claim(e.oid, label) {
                        stack.push((e.oid.to_owned(), join(&prefix, e.filename)));
                    }
                } else if e.mode.is_commit() {
                    if root.reachable {
                        self.nested.lock().unwrap_or_else(|e| e.into_inner()).remove(e.filename);
                        let path = join(&prefix, e.filename).to_string();
                        self.submodules
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(path);
                    }
                } else if self
                    .store_blobs
                    .is_some_and(|all| all.binary_search_by(|b| b.as_ref().cmp(e.oid)).is_err())
                {
                    let first = self
                        .missing
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(e.oid.to_owned());
                    if !first {
                        continue;
                    }
                    let path = join(&prefix, e.filename);
                    self.sink.skip(
                        where_(root, &path),
                        format!("missing blob {}: not in the object store", e.oid),
                    );
                } else if self.targets.contains(e.oid) {
                    let path = join(&prefix, e.filename);
                    let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
                    match found.get_mut(e.oid) {
                        Some(place) if (place.0, &place.1) <= (label, &path) => {}
                        Some(place) => *place = (label, path),
                        None => {
                            found.insert(e.oid.to_owned(), (label, path));
                        }
                    }
                }
            }
        }
    }
}

/// Where a tree was reached, for the skips it records.
fn where_(root: &Root, prefix: &BString) -> String {
    match (&root.ref_name, root.commit) {
        (Some(name), _) => format!("{name}:{prefix}"),
        (None, Some(commit)) if prefix.is_empty() => format!("/@{}", short(&commit)),
        (None, Some(commit)) => format!("{prefix}@{}", short(&commit)),
        (None, None) => prefix.to_string(),
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

impl Places<'_> {
    /// Marks the places whose blob is in HEAD's tree: the key is in the code today.
    fn mark_head(&mut self, repo: &gix::Repository) {
        if self.blobs.is_empty() {
            return;
        }
        let Ok(tree) = repo.head_tree_id() else {
            return;
        };
        let mut seen = gix::hashtable::HashSet::default();
        let mut stack = vec![tree.detach()];
        let mut buf = Vec::new();
        while let Some(tree) = stack.pop() {
            let Ok(iter) = repo.objects.find_tree_iter(&tree, &mut buf) else {
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
            let root = &self.roots[place.root];
            return Some(match (&root.ref_name, root.commit) {
                (Some(name), _) => format!("{prefix}{name}:{}", place.path),
                (None, Some(c)) => format!("{prefix}{}@{}", place.path, short(&c)),
                (None, None) => format!("{prefix}{}", place.path),
            });
        }
        self.named_blobs.get(id).map(|name| format!("{prefix}{name}"))
    }

    /// Records a skip for each blob over `--max-file-size`, at its place.
    pub(super) fn skip_too_big(&self, too_big: &[(ObjectId, u64)], sink: &dyn Sink) {
        for (id, _) in too_big {
            let place = self
                .shown(id)
                .unwrap_or_else(|| pending_path(&self.opts.prefix, id));
            sink.skip(
                place,
                format!(
                    "blob {id} larger than --max-file-size ({} bytes)",
                    self.opts.max_file_size
                ),
            );
        }
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
                Origin {
                    commit: root.commit.map(|c| commit_info(self.repo, c)),
                    reachable: Some(root.reachable),
                    in_head: Some(place.in_head),
                    refs: self.ref_names(root.refs),
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
                path.extend_from_slice(format!("(unreachable blob {id})").as_bytes());
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
