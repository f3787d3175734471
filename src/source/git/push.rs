//! What a `git push` sends, as its pre-push hook is told: the commits of the pushed refs that the
//! remote does not have, judged by what this clone knows of it (its remote-tracking branches and
//! the remote's old value of each ref). Planned and scanned as a pre-receive hook's push is
//! (`sweep::scan_brought`), for every ref at once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gix::ObjectId;

use super::objects::short;
use super::plan::{self, is_zero, peel_to_commit};
use super::walk::Walked;
use super::{HistoryOptions, open_repo_with_refs, repo, store, sweep};
use crate::source::{Sink, Source};

/// One ref a push updates: `<local ref> <local sha> <remote ref> <remote sha>`, as git gives it.
#[derive(Debug, Clone)]
pub struct PushedRef {
    /// What the pusher named (`refs/heads/main`, or `HEAD~1` as typed).
    pub local_ref: String,
    /// The object pushed (all zeros: the ref is deleted). Any revision this clone resolves.
    pub local: String,
    pub remote_ref: String,
    /// The remote's value before the push (all zeros: the ref is new there).
    pub remote: String,
}

impl PushedRef {
    pub fn deletes(&self) -> bool {
        is_zero(&self.local)
    }

    /// The ref as findings name it: the one the push updates on the remote (what a `HEAD:main`
    /// push is about), else the local side.
    pub fn name(&self) -> &str {
        if self.remote_ref.is_empty() {
            &self.local_ref
        } else {
            &self.remote_ref
        }
    }
}

/// The push: its refs, to the remote named `remote` (none, or a URL: no remote-tracking branches
/// say what it has).
pub struct Push {
    pub repo: PathBuf,
    pub remote: Option<String>,
    pub refs: Vec<PushedRef>,
    pub opts: HistoryOptions,
}

impl Source for Push {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        scan_push(&self.repo, self, sink)
    }

    fn ignore_files(&self) -> Vec<PathBuf> {
        repo::repo_ignore_files(&self.repo)
    }
}

fn scan_push(path: &Path, push: &Push, sink: &dyn Sink) -> Result<()> {
    let repo = open_repo_with_refs(path)?;
    repo::note_partial_clone(&repo, sink);
    repo::note_shallow(&repo, sink);
    store::check_packs(&repo, sink);
    let opts = &push.opts;
    let pushed = pushed_tips(&repo, push, sink)?;
    let swept = sweep::scan_brought(&repo, &pushed.tips, &pushed.hidden, &[], opts, sink, |commits| {
        note_cut(&repo, commits, sink)
    })?;
    sweep::scan_tag_messages(&repo, &pushed.tags, opts, sink);
    super::follow_up(&repo, &swept, opts, sink)
}

/// What the push sends, as tips to walk from and commits the remote has.
struct Pushed {
    /// The commits the pushed refs name, with the refs' names.
    tips: Vec<(ObjectId, String)>,
    /// The commits the remote has, as far as this clone knows.
    hidden: Vec<ObjectId>,
    /// The annotated tags the push brings.
    tags: Vec<(ObjectId, String)>,
}

/// Resolves the pushed refs to the commits the walk starts from, and what the remote has to the
/// commits it stops at.
fn pushed_tips(repo: &gix::Repository, push: &Push, sink: &dyn Sink) -> Result<Pushed> {
    let mut tips: Vec<(ObjectId, String)> = Vec::new();
    let mut tags = Vec::new();
    let mut hidden = remote_tips(repo, push.remote.as_deref(), sink)?;
    for r in &push.refs {
        if r.deletes() {
            continue;
        }
        // Fail closed: git names what it is about to send, so what cannot be read is an error,
        // not a pass.
        let id = repo
            .rev_parse_single(r.local.as_str())
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot resolve {} ({}) in this repository", r.local_ref, r.local))?
            .detach();
        let object = repo
            .find_object(id)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot read {} ({id})", r.local_ref))?;
        let kind = object.kind;
        let remote = (!is_zero(&r.remote))
            .then(|| repo.rev_parse_single(r.remote.as_str()).ok())
            .flatten()
            .map(|id| id.detach());
        if kind == gix::objs::Kind::Tag && remote != Some(id) {
            tags.push((id, r.name().to_string()));
        }
        match peel_to_commit(repo, id) {
            Some(commit) => tips.push((commit, r.name().to_string())),
            None if kind == gix::objs::Kind::Tag || kind == gix::objs::Kind::Commit => sink.skip(
                r.name().to_string(),
                format!("{id} cannot be peeled to a commit: its history was not scanned"),
            ),
            None => sink.skip(
                r.name().to_string(),
                format!("{id} is a {kind}, not a commit: not scanned"),
            ),
        }
        // The remote's old value, when this clone has it: what the push builds on.
        match remote {
            Some(old) => hidden.extend(peel_to_commit(repo, old)),
            None if !is_zero(&r.remote) => sink.note(format!(
                "the remote's {} is at {}, which this clone does not have (fetch first): what {} brings was judged \
                 by the remote-tracking branches only",
                r.remote_ref,
                r.remote.get(..12).unwrap_or(&r.remote),
                r.local_ref
            )),
            None => {}
        }
    }
    Ok(Pushed { tips, hidden, tags })
}

/// In a shallow clone, pushed commits whose parents are missing had their whole trees scanned.
fn note_cut(repo: &gix::Repository, commits: &[Walked], sink: &dyn Sink) {
    if !repo.is_shallow().unwrap_or(false) {
        return;
    }
    let cut = plan::cut_commits(repo, commits.iter().map(|c| c.id));
    if let Some(first) = cut.first() {
        sink.note(format!(
            "{} pushed commit(s) lack their parents in this shallow clone (first {}): everything in their \
             trees was scanned as new",
            cut.len(),
            short(first)
        ));
    }
}

/// The commits `refs/remotes/<remote>/*` name: what this clone knows the remote has.
fn remote_tips(repo: &gix::Repository, remote: Option<&str>, sink: &dyn Sink) -> Result<Vec<ObjectId>> {
    let Some(remote) = remote.filter(|r| !r.is_empty()) else {
        sink.note(
            "no remote named: every commit of the pushed refs not at the remote's old value was scanned",
        );
        return Ok(Vec::new());
    };
    let prefix = format!("refs/remotes/{remote}/");
    let platform = repo.references().context("cannot read the repository's refs")?;
    let mut tips = Vec::new();
    for r in platform.all().context("cannot read the repository's refs")? {
        let Ok(mut r) = r else { continue };
        // `origin/HEAD` names a branch that is listed in its own right.
        if matches!(r.target(), gix::refs::TargetRef::Symbolic(_)) {
            continue;
        }
        let name = r.name().as_bstr().to_string();
        if !name.starts_with(&prefix) {
            continue;
        }
        match r.peel_to_id() {
            Ok(id) => tips.extend(peel_to_commit(repo, id.detach())),
            Err(e) => sink.skip(name, format!("cannot resolve ref: {e}")),
        }
    }
    if tips.is_empty() {
        // Pushed to a URL, the remote is named by that URL, token and all.
        sink.note(format!(
            "no remote-tracking branches of '{}' here: every commit of the pushed refs not at the remote's old \
             value was scanned",
            super::repo::public_url(remote)
        ));
    }
    Ok(tips)
}
