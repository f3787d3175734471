//! What the refs name: branches, tags, stash entries, other worktrees' HEADs, peeled through
//! annotated tags to the commits, trees and blobs a sweep starts from.

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::prelude::FindExt;

use super::objects::header_id;
use crate::source::Sink;

/// What the refs point at, peeled through tags: commits to walk, and trees and blobs that a ref
/// names directly (`git tag x <blob>`), each with the first ref name that reached it.
#[derive(Default)]
pub(super) struct Tips {
    pub(super) commits: Vec<(ObjectId, String)>,
    pub(super) trees: Vec<(ObjectId, String)>,
    pub(super) blobs: Vec<(ObjectId, String)>,
    /// Annotated tag objects peeled through (tags of tags too), each with the ref that reached it,
    /// in the order of the refs: their own text is scanned under that name.
    pub(super) tags: Vec<(ObjectId, String)>,
    /// Refs (and HEADs) that name an object at all.
    pub(super) named: usize,
    /// Why the first unreadable ref target could not be read, for the error if nothing could.
    pub(super) first_error: Option<String>,
}

/// Every ref (branches, remote-tracking branches, tags, stash, notes), HEAD, older stash entries and
/// other worktrees' HEADs, peeled. Unreadable refs and targets are recorded and skipped.
pub(super) fn ref_tips(repo: &gix::Repository, sink: &dyn Sink) -> Result<Tips> {
    ref_tips_except(repo, sink, &|_, _| false)
}

/// [`ref_tips`] without the refs `leave_out(name, id)` picks, decided before tips are merged by
/// commit: a branch at the same commit as another must not take that other ref out with it.
pub(super) fn ref_tips_except(
    repo: &gix::Repository,
    sink: &dyn Sink,
    leave_out: &dyn Fn(&str, &ObjectId) -> bool,
) -> Result<Tips> {
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
        // A symbolic ref (`refs/remotes/origin/HEAD`) is left out with the ref it points to.
        let target = match r.target() {
            gix::refs::TargetRef::Symbolic(t) => Some(t.as_bstr().to_string()),
            gix::refs::TargetRef::Object(_) => None,
        };
        match r.follow_to_object() {
            Ok(id) if target.as_deref().is_some_and(|t| leave_out(t, &id.detach())) => {}
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
    named.retain(|(id, name)| !leave_out(name, id));
    // Tips at the same commit are merged under the first name: let it be the one a reader knows.
    let head = repo.head_name().ok().flatten().map(|n| n.as_bstr().to_string());
    named.sort_by_key(|(_, name)| rank(name, head.as_deref()));
    let mut tips = Tips {
        named: named.len(),
        ..Tips::default()
    };
    let mut seen = gix::hashtable::HashSet::default();
    let mut buf = Vec::new();
    for (id, name) in named {
        let Some((id, kind)) = peel(repo, id, &name, sink, &mut buf, &mut tips) else {
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
pub(super) fn peel(
    repo: &gix::Repository,
    mut id: ObjectId,
    name: &str,
    sink: &dyn Sink,
    buf: &mut Vec<u8>,
    tips: &mut Tips,
) -> Option<(ObjectId, gix::object::Kind)> {
    let first_error = &mut tips.first_error;
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
        tips.tags.push((id, name.to_string()));
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

/// Branches first (HEAD's own before the rest), then tags, remote-tracking branches, the others
/// (stash, notes, worktrees), and HEAD last, since its branch names it better.
fn rank(name: &str, head: Option<&str>) -> u8 {
    match name {
        _ if Some(name) == head => 0,
        "HEAD" => 5,
        _ if name.starts_with("refs/heads/") => 1,
        _ if name.starts_with("refs/tags/") => 2,
        _ if name.starts_with("refs/remotes/") => 3,
        _ => 4,
    }
}
