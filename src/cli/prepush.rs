//! `sgscan pre-push`: git's pre-push hook. Scans the commits a push sends that the remote does not
//! have yet (for the developer who committed with `--no-verify`); exit 1 stops the push.
//!
//! git passes the remote's name and URL as arguments and one `<local ref> <local sha> <remote ref>
//! <remote sha>` line per pushed ref on standard input. The pre-commit framework reads those lines
//! itself and hands its hooks one range in `PRE_COMMIT_*` variables instead: both are taken.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, anyhow, bail};

use super::args::PrePushArgs;
use super::scan::{self, Run, Settings, repo_top};
use super::{EXIT_CLEAN, EXIT_FINDINGS, is_object_id};
use crate::key::redact_text;
use crate::model::{Finding, Outcome, Target};
use crate::source::IGNORE_FILE;
use crate::source::git::{self, PushedRef};
use crate::text::{Safe, count};

/// The most standard input may hold: a `--mirror` push of 100,000 refs is about 15 MB.
const MAX_INPUT: u64 = 64 << 20;

/// Locations listed per key before "and N more".
const LOCATIONS_SHOWN: usize = 5;

const USAGE: &str = "`<local ref> <local sha> <remote ref> <remote sha>`";

pub fn run(args: PrePushArgs) -> Result<i32> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (input, terminal) = read_input()?;
    let mut refs = parse(&input)?;
    if refs.is_empty() {
        refs.extend(from_pre_commit(&var));
    }
    if refs.is_empty() && terminal {
        bail!(
            "pre-push reads the pushed refs on standard input, {USAGE} lines as git gives a pre-push hook \
             (or PRE_COMMIT_TO_REF as the pre-commit framework sets it): none given"
        );
    }
    let Some(first) = refs.iter().find(|r| !r.deletes()) else {
        // Nothing pushed, or only deletions: nothing leaves this machine.
        return Ok(EXIT_CLEAN);
    };
    let remote = args.remote.clone().or_else(|| var("PRE_COMMIT_REMOTE_NAME"));
    let url = args.url.clone().or_else(|| var("PRE_COMMIT_REMOTE_URL"));
    // Allow lists and config as the remote knows them, as `git --range` takes them: from the
    // commit the first ref's push builds on, not from what the push itself brings.
    let range = format!("{}..{}", first.remote, first.local);
    let branch = Some(first.remote_ref.as_str()).filter(|b| !b.is_empty());
    let top = repo_top(&args.repo);
    let settings = Settings::load_range(&args.common, &args.repo, &range, (branch, None), top)?;
    let mut repository = scan::repository(&args.repo);
    repository.ranges = refs
        .iter()
        .filter(|r| !r.deletes())
        .map(|r| redact_text(&format!("{}..{} {}", r.remote, r.local, r.remote_ref)).into_owned())
        .collect();
    let source = git::Push {
        repo: args.repo.clone(),
        remote: remote.clone(),
        refs,
        opts: settings.hook_history(&args.common),
    };
    let run = Run {
        mode: "pre-push",
        paths: None,
        why: None,
        quiet: true,
        target: Target {
            repositories: vec![repository],
            ..Target::new("pre-push")
        },
        finish: None,
    };
    let (outcome, code) = run.go(&source, &args.common, settings)?;
    if code == EXIT_FINDINGS {
        // Pushed to a URL rather than a remote, git names the remote by that URL, token and all.
        let to = remote
            .or(url)
            .map_or_else(|| "the remote".to_string(), |r| git::public_url(&r));
        blocked(&outcome, &to);
    }
    Ok(code)
}

/// Standard input, bounded, and whether it is a terminal (then it is not read: no one is typing
/// refs, and reading would wait for them).
fn read_input() -> Result<(Vec<u8>, bool)> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok((Vec::new(), true));
    }
    let mut buf = Vec::new();
    stdin
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .context("cannot read the pushed refs from standard input")?;
    if buf.len() as u64 > MAX_INPUT {
        bail!("standard input holds more than {MAX_INPUT} bytes: not the refs of a push");
    }
    Ok((buf, false))
}

/// git's lines: the ref names may hold spaces (a local side typed as given), the ids cannot.
fn parse(input: &[u8]) -> Result<Vec<PushedRef>> {
    let text = std::str::from_utf8(input)
        .map_err(|e| anyhow!("standard input is not text ({e}): expected {USAGE} lines"))?;
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| anyhow!("standard input line {}: {why}; expected {USAGE}", n + 1);
        let mut parts = line.rsplitn(4, ' ');
        let (Some(remote), Some(remote_ref), Some(local), Some(local_ref)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("fewer than four fields"));
        };
        if local_ref.is_empty() || remote_ref.is_empty() {
            return Err(bad("an empty ref name"));
        }
        for id in [local, remote] {
            if !is_object_id(id) {
                return Err(bad("an object id that is not 40 or 64 hex digits"));
            }
        }
        refs.push(PushedRef {
            local_ref: local_ref.to_string(),
            local: local.to_string(),
            remote_ref: remote_ref.to_string(),
            remote: remote.to_string(),
        });
    }
    Ok(refs)
}

/// The pre-commit framework's form: `PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF`; a branch whose whole
/// history is new to the remote has only `PRE_COMMIT_LOCAL_BRANCH`.
fn from_pre_commit(var: &dyn Fn(&str) -> Option<String>) -> Option<PushedRef> {
    let branch = var("PRE_COMMIT_LOCAL_BRANCH");
    let local = var("PRE_COMMIT_TO_REF").or_else(|| branch.clone())?;
    Some(PushedRef {
        local_ref: branch.unwrap_or_else(|| local.clone()),
        local,
        remote_ref: var("PRE_COMMIT_REMOTE_BRANCH").unwrap_or_default(),
        remote: var("PRE_COMMIT_FROM_REF").unwrap_or_else(|| "0".repeat(40)),
    })
}

/// What stops the push, on standard error (git shows the hook's): each key redacted, where the
/// push brings it, and what to do.
fn blocked(outcome: &Outcome, remote: &str) {
    eprintln!(
        "sgscan: push blocked: {} in commits that {} does not have yet:",
        count(outcome.findings.len() as u64, "key", "keys"),
        Safe(remote)
    );
    for f in &outcome.findings {
        eprintln!("{}", key_lines(f).join("\n"));
    }
    eprintln!(
        "These commits have not left this machine: take each key out of them before pushing. \
         `git commit --amend` mends the last commit; `git rebase -i COMMIT~` (mark it `edit`, or `reword` for a \
         commit message) an older one. Load the key from the environment or a secret store instead. If it may \
         have leaked all the same (pushed elsewhere, shared), rotate it: `sgscan rotate --key-id ID`."
    );
    eprintln!(
        "A false positive? `git push --no-verify` skips this check for one push; better, run the `sgscan ignore` \
         shown for it and commit {IGNORE_FILE}: once the remote has that file, pushes allow the key."
    );
}

fn key_lines(f: &Finding) -> Vec<String> {
    let mut lines = vec![match &f.key_id {
        Some(id) => format!("  {}  key id {}", Safe(&f.redacted), Safe(id)),
        None => format!("  {}", Safe(&f.redacted)),
    }];
    for l in f.locations.iter().take(LOCATIONS_SHOWN) {
        let o = &l.origin;
        let mut at = String::from("    ");
        if !o.refs.is_empty() {
            at.push_str(&format!("{}  ", Safe(&o.refs.join(", "))));
        }
        if let Some(c) = &o.commit {
            at.push_str(&format!(
                "commit {}  ",
                Safe(c.commit.get(..12).unwrap_or(&c.commit))
            ));
        }
        let path = match &o.member {
            Some(m) => format!("{}!{m}", o.path),
            None => o.path.clone(),
        };
        match l.line {
            0 => at.push_str(&format!("{} (in its name)", Safe(&path))),
            line => at.push_str(&format!("{}:{line}", Safe(&path))),
        }
        lines.push(at);
    }
    let more = f
        .location_count
        .saturating_sub(LOCATIONS_SHOWN.min(f.locations.len()) as u64);
    if more > 0 {
        lines.push(format!(
            "    … and {}",
            count(more, "more location", "more locations")
        ));
    }
    lines.push(format!(
        "    not a leak? `sgscan ignore {}`",
        Safe(&f.fingerprint)
    ));
    lines
}
