//! The base side of a range: the commit whose allow lists and config a `--range` scan uses. Files
//! the range itself brings were written by whoever wrote the range, so they take effect once it is
//! merged, not in the scan that judges it; they are read from git objects, never from the work tree
//! (which is the head side in CI).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use gix::ObjectId;

use super::plan::{pre_existing, resolve, split_range};
use super::walk::walk;
use super::{objects::short, open_repo};

/// What the base side of a range holds of some files at the repository's top.
#[derive(Debug, Default)]
pub struct BaseSide {
    /// The base commit (full id); none when the range has none in this clone: it reaches back to
    /// the first commit, or its base is missing from a shallow clone.
    pub commit: Option<String>,
    /// `(name, text)` of each file asked for that the base commit has.
    pub files: Vec<(String, String)>,
    /// The files asked for that the head side has otherwise than the base (added, changed, removed).
    pub changed: Vec<String>,
}

/// The base of `range` (`BASE..HEAD`) as the range's scan computes it: BASE itself when this clone
/// has it; for a new branch (a zero BASE) or a BASE a force-push rewrote away, the commit where the
/// head's first-parent line leaves the scanned commits (the fork point). `names` (at the top of the
/// tree, each at most [`crate::file::SMALL`] bytes) are read there and compared with the head's.
/// `branch`: the pushed branch and the remote's default one, as [`super::HistoryOptions`] has them.
pub fn range_base(
    repo: &Path,
    range: &str,
    branch: (Option<&str>, Option<&str>),
    names: &[&str],
) -> Result<BaseSide> {
    let repo = open_repo(repo)?;
    let (base, head) = split_range(range)?;
    let head_id =
        resolve(&repo, head).with_context(|| format!("--range: cannot resolve HEAD side '{head}'"))?;
    let zero = base.bytes().all(|b| b == b'0');
    let base_id = match (zero, resolve(&repo, base)) {
        (false, Ok(id)) => Some(id),
        (false, Err(_)) if repo.is_shallow().unwrap_or(true) => None,
        _ => fork_point(&repo, head, head_id, branch)?,
    };
    let mut side = BaseSide {
        commit: base_id.map(|id| id.to_string()),
        ..BaseSide::default()
    };
    for name in names {
        let at_base = match base_id {
            Some(id) => top_blob(&repo, id, name)?,
            None => None,
        };
        let at_head = top_blob(&repo, head_id, name)?;
        if at_base.as_ref().map(|(id, _)| id) != at_head.as_ref().map(|(id, _)| id) {
            side.changed.push(name.to_string());
        }
        if let Some((_, text)) = at_base {
            side.files.push((name.to_string(), text));
        }
    }
    Ok(side)
}

/// Where the head's first-parent line leaves the commits the range scans; none if it never does.
fn fork_point(
    repo: &gix::Repository,
    head: &str,
    head_id: ObjectId,
    (branch, default_branch): (Option<&str>, Option<&str>),
) -> Result<Option<ObjectId>> {
    // The range's own scan says what is worth saying about the refs and the walk.
    let quiet = super::Quiet;
    let opts = super::HistoryOptions {
        branch: branch.map(str::to_string),
        default_branch: default_branch.map(str::to_string),
        ..Default::default()
    };
    let hidden = pre_existing(repo, head, head_id, &opts, &quiet)?;
    let walked = walk(repo, &[(head_id, head.to_string())], &hidden, &quiet);
    let parents: HashMap<ObjectId, Option<ObjectId>> =
        walked.iter().map(|w| (w.id, w.first_parent)).collect();
    let mut at = head_id;
    // Each step is to a scanned commit's first parent: at most one step per scanned commit.
    for _ in 0..=parents.len() {
        match parents.get(&at) {
            None => return Ok(Some(at)),
            Some(Some(parent)) => at = *parent,
            Some(None) => return Ok(None),
        }
    }
    Ok(None)
}

/// The blob `name` at the top of `commit`'s tree, with its text.
fn top_blob(repo: &gix::Repository, commit: ObjectId, name: &str) -> Result<Option<(ObjectId, String)>> {
    let shown = || format!("{name} in commit {}", short(&commit));
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read the tree of commit {}", short(&commit)))?;
    let Some(entry) = tree
        .find_entry(name)
        .filter(|e| e.mode().is_blob() || e.mode().is_executable())
    else {
        return Ok(None);
    };
    let id = entry.object_id();
    let size = repo
        .find_header(id)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read {}", shown()))?
        .size();
    if size > crate::file::SMALL {
        bail!(
            "{} is {size} bytes, more than an ignore or config file may be",
            shown()
        );
    }
    let blob = repo
        .find_blob(id)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read {}", shown()))?;
    Ok(Some((id, String::from_utf8_lossy(&blob.data).into_owned())))
}
