//! The commit walk: every commit reachable from some tips and not from others, oldest first,
//! going on past commits that cannot be read.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use gix::ObjectId;

use super::objects::{CommitHeader, read_commit, short};
use crate::source::Sink;

/// A commit the walk reached and could read.
pub(super) struct Walked {
    pub(super) id: ObjectId,
    pub(super) tree: Option<ObjectId>,
    pub(super) first_parent: Option<ObjectId>,
    /// Which of the first 64 tips reach it (bit `i` for `tips[i]`), for the few refs a report
    /// names. Exact unless a child's clock is behind its parent's.
    pub(super) refs: u64,
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
    refs: u64,
}

/// Commits reachable from `tips` but not from `hidden`, oldest first (newest first by committer
/// time, reversed: a commit always comes after its parents). The walk is written here, not taken
/// from gitoxide, so that a commit that cannot be read or decoded costs that commit (recorded, with
/// the ref or child it was reached from) and not the rest of history: its parents, as far as they
/// can be read, are walked on.
pub(super) fn walk(
    repo: &gix::Repository,
    tips: &[(ObjectId, String)],
    hidden: &[ObjectId],
    sink: &dyn Sink,
) -> Vec<Walked> {
    walk_known(repo, tips, hidden, sink, &mut Default::default())
}

/// [`walk`], taking each commit from `known` (headers the store sweep has read) before reading it
/// from the object store: read again through gitoxide's own map of a pack, every commit spread
/// through a fast-import pack had brought most of the pack into memory a second time.
pub(super) fn walk_known(
    repo: &gix::Repository,
    tips: &[(ObjectId, String)],
    hidden: &[ObjectId],
    sink: &dyn Sink,
    known: &mut gix::hashtable::HashMap<ObjectId, CommitHeader>,
) -> Vec<Walked> {
    let mut nodes: gix::hashtable::HashMap<ObjectId, Node> = Default::default();
    // Max-heap on (time, -seq): newest first, ties in the order they were found.
    let mut queue: BinaryHeap<(i64, Reverse<u64>, ObjectId)> = BinaryHeap::new();
    let mut seq = 0u64;
    // Queued commits not known to be hidden: once there are none, nothing more is in the range.
    let mut interesting = 0usize;
    let mut order = Vec::new();
    let mut buf = Vec::new();
    // A shallow clone's boundary commits name parents it does not have, by design: not a skip.
    let shallow: gix::hashtable::HashSet = repo
        .shallow_commits()
        .ok()
        .flatten()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    // (commit, hidden, how it was reached, the time of the child that reached it, the tips that
    // reach it). A commit whose date cannot be read is queued at its child's time, that is where
    // the walk reached it; a tip has no child and is taken first. Time 0 instead would make it the
    // oldest commit of all, and so the one that introduced everything in its tree.
    let mut pending: Vec<(ObjectId, bool, Via, i64, u64)> = tips
        .iter()
        .enumerate()
        .rev()
        .map(|(i, (id, _))| {
            (
                *id,
                false,
                Via::Ref(i),
                i64::MAX,
                1u64.checked_shl(i as u32).unwrap_or(0),
            )
        })
        .chain(hidden.iter().map(|id| (*id, true, Via::Hidden, i64::MAX, 0)))
        .collect();
    loop {
        while let Some((id, hide, via, child_time, refs)) = pending.pop() {
            if let Some(node) = nodes.get_mut(&id) {
                node.refs |= refs;
                let was_hidden = node.hidden;
                if hide && !was_hidden {
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
            let read = known
                .remove(&id)
                .map_or_else(|| read_commit(repo, &id, &mut buf), Ok);
            let head = match read {
                Ok(mut h) => {
                    // Its parents that a later fetch brought in are followed like any others.
                    if shallow.contains(&id) {
                        h.parents.retain(|p| repo.has_object(p));
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
                        refs,
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
                refs: 0,
            };
            let node = Node {
                hidden: hide,
                queued: true,
                parents: head.parents,
                walked: Some(walked),
                refs,
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
        let refs = node.refs;
        pending.extend(
            parents
                .into_iter()
                .rev()
                .map(|p| (p, hide, Via::Child(id), time, refs)),
        );
    }
    order
        .into_iter()
        .rev()
        .filter_map(|id| {
            let node = nodes.get_mut(&id).filter(|n| !n.hidden)?;
            let mut walked = node.walked.take()?;
            walked.refs = node.refs;
            Some(walked)
        })
        .collect()
}
