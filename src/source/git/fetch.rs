//! `sgscan ci` in a shallow clone (actions/checkout fetches one commit, GitLab CI 20 to 50): before
//! the range is planned, fetch from the `origin` remote what it needs, with the `git` program, so
//! that exactly the range is scanned. A push to a branch the remote had: deepen until BASE and the
//! commits between are here. A new ref (or a BASE the remote no longer has): the commits of HEAD
//! that none of the remote's other branches reach (`--shallow-exclude` of each, by name), and the
//! parents they start from (their trees are what the range's first commits are compared with).
//!
//! Only commit ids (checked hex) and branch names the remote lists go on git's command line, each
//! as one argument; the URL is the clone's own `origin`. Nothing from the work tree steers the
//! fetch: no submodules, no tags, no hooks.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use gix::ObjectId;

use super::HistoryOptions;
use super::plan::{Prepared, Pushed, cut_commits, is_zero, pushed_ref, split_range};
use super::repo::open_repo;
use super::walk::walk;
use crate::source::Sink;

/// How far each deepening goes before the next (then the whole history of HEAD).
const DEEPEN: &[u32] = &[50, 500, 5000];

/// What git may print on stdout (`ls-remote` of a remote with many branches) and stderr.
const MAX_OUT: u64 = 64 << 20;
const MAX_ERR: u64 = 64 << 10;

/// Fetches what `opts.range` needs if the clone at `path` is shallow. Never fails: what it could not
/// fetch is in [`Prepared::failed`], for the planner's error if the range then is not all here.
pub(super) fn prepare(path: &Path, opts: &HistoryOptions, sink: &dyn Sink) -> Prepared {
    let mut out = Prepared::default();
    let Some(range) = &opts.range else { return out };
    let Ok((base, head)) = split_range(range) else {
        return out;
    };
    let Ok(mut repo) = open_repo(path) else { return out };
    if !repo.is_shallow().unwrap_or(false) || is_zero(head) {
        return out;
    }
    let git = Git {
        git_dir: repo.git_dir().to_path_buf(),
    };
    if !repo.remote_names().iter().any(|n| *n == "origin") {
        out.failed = Some("this clone has no `origin` remote".into());
        return out;
    }
    // A pull request's checkout is its merge commit: the head it names is fetched by id.
    if commit_id(&repo, head).is_err()
        && ObjectId::from_hex(head.as_bytes()).is_ok()
        && let Err(e) = git.fetch(&["--depth=1", "origin", head])
    {
        out.failed = Some(e);
        return out;
    }
    if let Ok(r) = open_repo(path) {
        repo = r;
    }
    let Ok(head_id) = commit_id(&repo, head) else {
        return out;
    };
    let pushed = pushed_ref(&repo, head, head_id, opts);
    let pushed = (&pushed, opts.default_branch.as_deref());
    let result = if is_zero(base) {
        new_ref(&git, path, head_id, pushed, sink)
    } else {
        match ObjectId::from_hex(base.as_bytes()) {
            Ok(base_id) => existing(&git, path, head_id, base_id, pushed, sink),
            Err(_) => Err(format!(
                "BASE '{base}' is not a commit id, so it cannot be fetched"
            )),
        }
    };
    match result {
        Ok(p) => {
            sink.note("shallow clone: sgscan ci fetched from origin what the range needs");
            p
        }
        Err(e) => {
            out.failed = Some(e);
            out
        }
    }
}

/// A push to a branch the remote had at `base`.
fn existing(
    git: &Git,
    path: &Path,
    head: ObjectId,
    base: ObjectId,
    pushed: (&Pushed, Option<&str>),
    sink: &dyn Sink,
) -> Result<Prepared, String> {
    let complete = || -> Result<bool, String> {
        let repo = open_repo(path).map_err(|e| format!("{e:#}"))?;
        if !repo.has_object(base) {
            return Ok(false);
        }
        let commits = walk(&repo, &[(head, String::new())], &[base], &super::Quiet);
        Ok(cut_commits(&repo, commits.iter().map(|c| c.id)).is_empty())
    };
    if complete()? {
        return Ok(Prepared::default());
    }
    let base_hex = base.to_string();
    let head_hex = head.to_string();
    if !open_repo(path).is_ok_and(|r| r.has_object(base))
        && let Err(e) = git.fetch(&["--depth=1", "origin", &base_hex])
    {
        // The remote answers but has no BASE: a force-push rewrote it away (and it was collected).
        git.run(&["ls-remote", "--heads", "origin"]).map_err(|_| e)?;
        let mut p = new_ref(git, path, head, pushed, sink)?;
        p.base_gone = true;
        return Ok(p);
    }
    for n in DEEPEN {
        git.fetch(&[&format!("--deepen={n}"), "origin", &head_hex])?;
        if complete()? {
            return Ok(Prepared::default());
        }
    }
    git.fetch(&["--unshallow", "origin", &head_hex])?;
    Ok(Prepared::default())
}

/// A new ref (or one whose BASE the remote no longer has): what none of the remote's other branches
/// reach. `pushed`: the pushed ref, and the remote's default branch if the CI named it.
fn new_ref(
    git: &Git,
    path: &Path,
    head: ObjectId,
    (pushed, default): (&Pushed, Option<&str>),
    sink: &dyn Sink,
) -> Result<Prepared, String> {
    let listing = git.run(&["ls-remote", "--heads", "origin"])?;
    let default = match default {
        Some(d) => Some(d.to_string()),
        None => remote_head(git),
    };
    let mut others = Vec::new();
    for line in listing.lines() {
        let Some((id, name)) = line.split_once('\t') else {
            continue;
        };
        let (Ok(id), Some(branch)) = (
            ObjectId::from_hex(id.as_bytes()),
            name.strip_prefix("refs/heads/"),
        ) else {
            continue;
        };
        let pushed_itself = match pushed {
            Pushed::Branch(b) => b == branch,
            Pushed::Tag(_) => false,
            Pushed::Unknown => id == head,
        };
        if !pushed_itself {
            others.push((id, name.to_string(), default.as_deref() == Some(branch)));
        }
    }
    // A branch at the pushed commit may have come in the same push (see `plan::pre_existing`):
    // only the default branch there means the push brings nothing new.
    if others
        .iter()
        .any(|(id, _, is_default)| *id == head && *is_default)
    {
        return Ok(Prepared {
            hidden: vec![head],
            ..Prepared::default()
        });
    }
    let passed: Vec<&str> = others
        .iter()
        .filter(|(id, _, is_default)| *id == head && !is_default)
        .map(|(_, n, _)| n.strip_prefix("refs/heads/").unwrap_or(n))
        .collect();
    if !passed.is_empty() {
        sink.note(format!(
            "branch(es) {} of the remote are at '{head}' and are not its default branch: they may have \
             come in the same push, so their commits were not taken as known before it",
            passed.join(", ")
        ));
    }
    others.retain(|(id, _, is_default)| *id != head || *is_default);
    match exclude_fetch(git, path, head, &others)? {
        Some(p) => Ok(p),
        None => {
            // Every commit of HEAD is on another branch. If that is not the default branch, it
            // may have come in the same push: judged against the default branch alone.
            let defaults: Vec<_> = others.iter().filter(|o| o.2).cloned().collect();
            if defaults.len() == others.len() {
                return Ok(Prepared {
                    hidden: vec![head],
                    ..Prepared::default()
                });
            }
            sink.note(format!(
                "every commit of '{head}' is on a branch of the remote other than its default one, \
                 which may have come in the same push: judged against the default branch alone"
            ));
            Ok(exclude_fetch(git, path, head, &defaults)?.unwrap_or(Prepared {
                hidden: vec![head],
                ..Prepared::default()
            }))
        }
    }
}

/// The remote's default branch: what its `HEAD` names.
fn remote_head(git: &Git) -> Option<String> {
    let listing = git.run(&["ls-remote", "--symref", "origin", "HEAD"]).ok()?;
    listing.lines().find_map(|l| {
        let (target, name) = l.strip_prefix("ref: ")?.split_once('\t')?;
        (name == "HEAD").then(|| target.strip_prefix("refs/heads/").map(str::to_string))?
    })
}

/// Fetches the commits of `head` that none of `others` (id, ref name, default) reach, and the
/// parents they start from; none if there are no such commits.
fn exclude_fetch(
    git: &Git,
    path: &Path,
    head: ObjectId,
    others: &[(ObjectId, String, bool)],
) -> Result<Option<Prepared>, String> {
    let head_hex = head.to_string();
    if others.is_empty() {
        // The remote's only branch: everything is new.
        git.fetch(&["--unshallow", "origin", &head_hex])?;
        return Ok(Some(Prepared::default()));
    }
    let mut args: Vec<String> = others
        .iter()
        .map(|(_, n, _)| format!("--shallow-exclude={n}"))
        .collect();
    args.extend(["origin".into(), head_hex]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = git.fetch(&args) {
        if e.contains("no commits selected") {
            return Ok(None);
        }
        return Err(e);
    }
    // The oldest commits fetched start from commits the other branches have: fetch those (their
    // trees only matter) and end the range at them.
    let repo = open_repo(path).map_err(|e| format!("{e:#}"))?;
    let commits = walk(&repo, &[(head, String::new())], &[], &super::Quiet);
    let mut buf = Vec::new();
    let mut parents: Vec<ObjectId> = Vec::new();
    for c in cut_commits(&repo, commits.iter().map(|c| c.id)) {
        if let Ok(h) = super::objects::read_commit(&repo, &c, &mut buf) {
            parents.extend(h.parents.into_iter().filter(|p| !repo.has_object(p)));
        }
    }
    parents.sort_unstable();
    parents.dedup();
    if !parents.is_empty() {
        let hex: Vec<String> = parents.iter().map(ObjectId::to_string).collect();
        let mut args = vec!["--depth=1", "origin"];
        args.extend(hex.iter().map(String::as_str));
        git.fetch(&args)?;
    }
    Ok(Some(Prepared {
        hidden: parents,
        ..Prepared::default()
    }))
}

fn commit_id(repo: &gix::Repository, spec: &str) -> anyhow::Result<ObjectId> {
    let id = repo.rev_parse_single(spec)?.detach();
    Ok(repo.find_object(id)?.peel_to_commit()?.id)
}

struct Git {
    git_dir: std::path::PathBuf,
}

impl Git {
    fn fetch(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec![
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-recurse-submodules",
            "--no-write-fetch-head",
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `git ARGS` on this repository: stdout, or what went wrong.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let shown = format!("git {}", args.join(" "));
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(&self.git_dir)
            // No hook runs for a fetch but `reference-transaction`: none at all.
            .args(["-c", "core.hooksPath=/dev/null"])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(s) = stderr {
                let mut limited = s.take(MAX_ERR);
                let _ = limited.read_to_end(&mut text);
                // Drain the rest so git never blocks on a full pipe.
                let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
            }
            text
        });
        let mut text = Vec::new();
        if let Some(s) = child.stdout.take() {
            let mut limited = s.take(MAX_OUT);
            let _ = limited.read_to_end(&mut text);
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        let status = child.wait().map_err(|e| format!("`{shown}`: {e}"))?;
        let err = err_reader.join().unwrap_or_default();
        if status.success() {
            Ok(String::from_utf8_lossy(&text).into_owned())
        } else {
            let err = String::from_utf8_lossy(&err);
            Err(format!(
                "`{shown}` failed ({status}): {}",
                err.trim().replace('\n', "; ")
            ))
        }
    }
}
