//! The fallback when the tree index was too big to keep (a history with more tree entries than
//! [`super::treeindex::MAX_EDGES`]): the trees are walked, commits handed out in order to all
//! workers, with one shared map from tree to the first commit that reached it. A tree is read again
//! only when an earlier commit reaches it after a later one did, which can happen only between
//! commits walked at the same time. Once every target has its place, the walk stops.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gix::ObjectId;
use gix::bstr::BString;
use gix::prelude::FindExt;

use super::objects::{join, short};
use super::repo::with_delta_cache;
use crate::source::Sink;

/// Where a walk starts: a commit's tree, or a tree a ref names.
pub(super) struct Start<'a> {
    pub(super) tree: ObjectId,
    pub(super) commit: Option<ObjectId>,
    pub(super) ref_name: Option<&'a str>,
    pub(super) reachable: bool,
}

/// What a walk found: target → (first start, path there); submodule paths.
pub(super) struct Found {
    pub(super) places: HashMap<ObjectId, (usize, BString)>,
    pub(super) submodules: BTreeSet<String>,
}

const SHARDS: usize = 64;

/// Walks `starts` in order until every target (and a path for every name in `nested`) is found.
/// With `store_blobs` (every blob in the store, sorted), a blob entry the store lacks is recorded.
pub(super) fn walk_trees(
    repo: &gix::Repository,
    starts: &[Start<'_>],
    targets: &HashSet<ObjectId>,
    nested: HashSet<BString>,
    store_blobs: Option<&[ObjectId]>,
    sink: &dyn Sink,
    threads: usize,
) -> Found {
    let walk = TreeWalk {
        targets,
        labels: (0..SHARDS).map(|_| Mutex::default()).collect(),
        found: Mutex::default(),
        submodules: Mutex::default(),
        nested: Mutex::new(nested),
        sink,
        store_blobs,
        missing: Mutex::default(),
    };
    walk.run(starts, &repo.clone().into_sync(), threads);
    Found {
        places: walk.found.into_inner().unwrap_or_else(|e| e.into_inner()),
        submodules: walk.submodules.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}

struct TreeWalk<'a> {
    targets: &'a HashSet<ObjectId>,
    /// Tree → the first start (its index) that reached it, in shards by the id's first byte.
    labels: Vec<Mutex<gix::hashtable::HashMap<ObjectId, usize>>>,
    found: Mutex<HashMap<ObjectId, (usize, BString)>>,
    submodules: Mutex<BTreeSet<String>>,
    /// Names of gitlinks below the top whose path is not known yet.
    nested: Mutex<HashSet<BString>>,
    sink: &'a dyn Sink,
    store_blobs: Option<&'a [ObjectId]>,
    /// Missing blobs recorded so far: each once, however many trees name it.
    missing: Mutex<HashSet<ObjectId>>,
}

impl TreeWalk<'_> {
    fn found_all(&self) -> bool {
        self.found.lock().map(|f| f.len()).unwrap_or(0) >= self.targets.len()
            && self.nested.lock().map(|n| n.is_empty()).unwrap_or(true)
    }

    /// Whether `tree` is new to start `label`: no start before it reached the tree yet. Claims it.
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

    /// Hands the starts out in order, one at a time, to `threads` workers that each keep their own
    /// handle (and its delta cache). A worker finishes the start it has before it stops, so when
    /// every target is found, every start before the last one handed out has been walked: no
    /// later start can place a blob earlier.
    fn run(&self, starts: &[Start<'_>], shared: &gix::ThreadSafeRepository, threads: usize) {
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    let repo = with_delta_cache(shared.to_thread_local());
                    let mut buf = Vec::new();
                    while !self.found_all() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(start) = starts.get(i) else {
                            break;
                        };
                        self.start(&repo, &mut buf, start, i);
                    }
                });
            }
        });
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        // A poisoned lock means a worker panicked mid-insert; the data is still sound.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Depth first over the trees of one start that no earlier start reached.
    fn start(&self, repo: &gix::Repository, buf: &mut Vec<u8>, start: &Start<'_>, label: usize) {
        if !self.claim(&start.tree, label) {
            return;
        }
        let mut stack = vec![(start.tree, BString::default())];
        while let Some((tree, prefix)) = stack.pop() {
            let iter = match repo.objects.find_tree_iter(&tree, buf) {
                Ok(iter) => iter,
                Err(e) => {
                    self.sink.skip(
                        where_(start, &prefix),
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
                            .skip(where_(start, &prefix), format!("corrupt tree {tree}: {err}"));
                        break;
                    }
                };
                if e.mode.is_tree() {
                    if self.claim(e.oid, label) {
                        stack.push((e.oid.to_owned(), join(&prefix, e.filename)));
                    }
                } else if e.mode.is_commit() {
                    if start.reachable {
                        Self::lock(&self.nested).remove(e.filename);
                        Self::lock(&self.submodules).insert(join(&prefix, e.filename).to_string());
                    }
                } else if self
                    .store_blobs
                    .is_some_and(|all| all.binary_search_by(|b| b.as_ref().cmp(e.oid)).is_err())
                {
                    if Self::lock(&self.missing).insert(e.oid.to_owned()) {
                        self.sink.skip(
                            where_(start, &join(&prefix, e.filename)),
                            format!("missing blob {}: not in the object store", e.oid),
                        );
                    }
                } else if self.targets.contains(e.oid) {
                    let path = join(&prefix, e.filename);
                    let mut found = Self::lock(&self.found);
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
fn where_(start: &Start<'_>, prefix: &BString) -> String {
    match (start.ref_name, start.commit) {
        (Some(name), _) => format!("{name}:{prefix}"),
        (None, Some(commit)) if prefix.is_empty() => format!("/@{}", short(&commit)),
        (None, Some(commit)) => format!("{prefix}@{}", short(&commit)),
        (None, None) => prefix.to_string(),
    }
}
