//! Which refs still have a blob at a path at their tip: a key found in history may have left HEAD
//! and still sit at the tip of another branch, a tag or a remote-tracking branch, where it is in the
//! code today. Asked only for the places of findings, each by looking the path up in each tip's
//! tree (tips sharing a tree, or a subtree, are read once).

use std::collections::HashMap;
use std::sync::Mutex;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::prelude::FindExt;

use super::objects::header_id;
use crate::source::Sink;

/// Refs consulted at most: a repository with tens of thousands of tags (or of pull-request refs
/// fetched as remote-tracking branches) would cost a tree lookup each per finding.
pub(super) const MAX_REFS: usize = 1000;

/// The tips' trees, and what has been looked up in them.
pub(super) struct Presence {
    /// Ref names in report order (`HEAD` first), each with its tip's tree (an index in `trees`).
    refs: Vec<(String, usize)>,
    trees: Vec<ObjectId>,
    /// `(tree, path below it)` → the id there: tips share most of their subtrees.
    memo: Mutex<HashMap<(ObjectId, BString), Option<ObjectId>>>,
    /// Every blob in HEAD's tree, read the first time it is asked for (a range, which has no tree
    /// index to tell).
    head_blobs: std::sync::OnceLock<gix::hashtable::HashSet<ObjectId>>,
}

impl Presence {
    /// HEAD, then branches, tags and remote-tracking branches, each by name; the first
    /// [`MAX_REFS`] of them (a note says when more were left out). The branch HEAD is on is not
    /// listed apart: `HEAD` says it (and tells a report the checkout has it).
    pub(super) fn load(repo: &gix::Repository, sink: &dyn Sink) -> Presence {
        let head = repo.head_id().ok().map(|id| id.detach());
        let head_branch = head
            .and(repo.head_name().ok().flatten())
            .map(|n| n.as_bstr().to_string());
        let mut named: Vec<(u8, String, ObjectId)> = Vec::new();
        if let Ok(platform) = repo.references()
            && let Ok(all) = platform.all()
        {
            for r in all.filter_map(Result::ok) {
                let name = r.name().as_bstr().to_string();
                let rank = if name.starts_with("refs/heads/") {
                    1
                } else if name.starts_with("refs/tags/") {
                    2
                } else if name.starts_with("refs/remotes/") {
                    3
                } else {
                    continue;
                };
                if Some(&name) == head_branch.as_ref() {
                    continue;
                }
                // `refs/remotes/origin/HEAD` names another ref, which is listed itself.
                if let gix::refs::TargetRef::Object(id) = r.target() {
                    named.push((rank, name, id.to_owned()));
                }
            }
        }
        named.sort();
        if let Some(id) = head {
            named.insert(0, (0, "HEAD".into(), id));
        }
        if named.len() > MAX_REFS {
            sink.note(format!(
                "{} refs: where a key still is (`present_in`) was looked up at the tips of the first {MAX_REFS} \
                 (HEAD, branches, tags, then remote-tracking branches, by name)",
                named.len()
            ));
            named.truncate(MAX_REFS);
        }
        let mut presence = Presence {
            refs: Vec::new(),
            trees: Vec::new(),
            memo: Mutex::new(HashMap::new()),
            head_blobs: std::sync::OnceLock::new(),
        };
        let mut index: HashMap<ObjectId, usize> = HashMap::new();
        let mut buf = Vec::new();
        for (_, name, id) in named {
            let Some(tree) = tree_of(repo, id, &mut buf) else {
                continue;
            };
            let i = *index.entry(tree).or_insert_with(|| {
                presence.trees.push(tree);
                presence.trees.len() - 1
            });
            presence.refs.push((name, i));
        }
        presence
    }

    /// The refs whose tip's tree has `blob` at `path`, in report order.
    pub(super) fn refs_with(&self, repo: &gix::Repository, path: &[u8], blob: &gix::oid) -> Vec<String> {
        if path.is_empty() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let holds: Vec<bool> = self
            .trees
            .iter()
            .map(|t| self.lookup(repo, *t, path, &mut buf).is_some_and(|id| id == blob))
            .collect();
        self.refs
            .iter()
            .filter(|(_, t)| holds[*t])
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether HEAD's tree has `blob` at any path (`in_head`).
    pub(super) fn in_head(&self, repo: &gix::Repository, blob: &gix::oid) -> bool {
        let blobs = self.head_blobs.get_or_init(|| {
            let mut blobs = gix::hashtable::HashSet::default();
            let Some(&(_, head)) = self.refs.first().filter(|(name, _)| name == "HEAD") else {
                return blobs;
            };
            let mut seen = gix::hashtable::HashSet::default();
            let mut stack = vec![self.trees[head]];
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
                    } else if !e.mode.is_commit() {
                        blobs.insert(e.oid.to_owned());
                    }
                }
            }
            blobs
        });
        blobs.contains(blob)
    }

    /// The id at `path` below `tree`, one directory at a time, each `(subtree, rest)` once.
    fn lookup(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        path: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<ObjectId> {
        let key = (tree, BString::from(path));
        if let Some(hit) = self.memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return *hit;
        }
        let (name, rest) = match path.find_byte(b'/') {
            Some(i) => (&path[..i], Some(&path[i + 1..])),
            None => (path, None),
        };
        let entry = repo.objects.find_tree_iter(&tree, buf).ok().and_then(|iter| {
            iter.filter_map(Result::ok)
                .find(|e| e.filename == name)
                .map(|e| (e.oid.to_owned(), e.mode.is_tree()))
        });
        let found = match (entry, rest) {
            (Some((id, false)), None) => Some(id),
            (Some((id, true)), Some(rest)) if !rest.is_empty() => self.lookup(repo, id, rest, buf),
            _ => None,
        };
        self.memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found);
        found
    }
}

/// The tree a ref's target finally names, through annotated tags and a commit.
fn tree_of(repo: &gix::Repository, mut id: ObjectId, buf: &mut Vec<u8>) -> Option<ObjectId> {
    // Tags of tags exist; a long chain is not worth following (the sweep records it).
    for _ in 0..32 {
        let data = repo.objects.find(&id, buf).ok()?;
        match data.kind {
            gix::object::Kind::Tree => return Some(id),
            gix::object::Kind::Commit => return header_id(data.data, b"tree "),
            gix::object::Kind::Tag => id = header_id(data.data, b"object ")?,
            gix::object::Kind::Blob => return None,
        }
    }
    None
}
