//! `sgscan ci`: picks the range a CI job should scan from the CI's own event data (GitHub Actions,
//! GitLab CI), says which and why, and scans it like `sgscan git --range`; the whole history where
//! there is no event data to go by.

use anyhow::Result;
use serde_json::Value;

use super::args::{CiArgs, GitArgs};
use super::scan;
use crate::text::Safe;

const ZEROS: &str = "0000000000000000000000000000000000000000";

/// What to scan, and why.
#[derive(Debug, PartialEq, Eq)]
struct Choice {
    /// `BASE..HEAD`; none: the whole history.
    range: Option<String>,
    branch: Option<String>,
    /// The remote's default branch, as the event data names it.
    default_branch: Option<String>,
    why: String,
}

impl Choice {
    fn sweep(why: impl Into<String>) -> Choice {
        Choice {
            range: None,
            branch: None,
            default_branch: None,
            why: why.into(),
        }
    }

    fn range(base: &str, head: &str, branch: Option<String>, why: String) -> Choice {
        Choice {
            range: Some(format!("{base}..{head}")),
            branch,
            default_branch: None,
            why,
        }
    }

    fn default_branch(mut self, name: Option<String>) -> Choice {
        self.default_branch = name.filter(|n| !n.is_empty());
        self
    }
}

pub fn run(args: CiArgs) -> Result<i32> {
    let choice = choose(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let why = match &choice.range {
        Some(range) => format!("sgscan ci: {}: scanning --range {range}", choice.why),
        None => format!("sgscan ci: {}: scanning the whole history", choice.why),
    };
    eprintln!("{}", Safe(&crate::key::redact_text(&why)));
    let git = GitArgs {
        repos: vec![args.repo],
        repos_file: None,
        range: choice.range,
        shallow_ok: args.shallow_ok,
        branch: choice.branch,
        default_branch: choice.default_branch,
        shard: None,
        submodules: false,
        sweep: Default::default(),
        common: args.common,
    };
    scan::git(git, "ci", Some(why))
}

/// The CI's event data, read through `env` (the environment; a map in tests).
fn choose(env: &dyn Fn(&str) -> Option<String>) -> Choice {
    if let Some(event) = env("GITHUB_EVENT_NAME") {
        return github(&event, env);
    }
    if let Some(source) = env("CI_PIPELINE_SOURCE") {
        return gitlab(&source, env);
    }
    Choice::sweep("no CI event data (neither GITHUB_EVENT_NAME nor CI_PIPELINE_SOURCE is set)")
}

fn github(event: &str, env: &dyn Fn(&str) -> Option<String>) -> Choice {
    let payload = match env("GITHUB_EVENT_PATH") {
        None => return Choice::sweep(format!("GitHub Actions {event} event without GITHUB_EVENT_PATH")),
        Some(path) => match crate::file::read(std::path::Path::new(&path), crate::file::REPORT)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                return Choice::sweep(format!(
                    "GitHub Actions {event} event whose payload {path} cannot be read ({e})"
                ));
            }
        },
    };
    let sha = |v: &Value| v.as_str().filter(|s| is_sha(s)).map(str::to_string);
    match event {
        "push" => {
            let (Some(before), Some(after)) = (sha(&payload["before"]), sha(&payload["after"])) else {
                return Choice::sweep("GitHub Actions push event without before/after commits");
            };
            let git_ref = env("GITHUB_REF").or_else(|| payload["ref"].as_str().map(str::to_string));
            let shown = git_ref.as_deref().unwrap_or("a ref");
            let why = if is_zero(&after) {
                format!("GitHub Actions push deleting {shown}: nothing to scan")
            } else if is_zero(&before) {
                let what = match git_ref.as_deref() {
                    Some(r) if r.starts_with("refs/tags/") => "a new tag",
                    _ => "a new ref",
                };
                format!(
                    "GitHub Actions push of {shown}, {what}: the commits none of the remote's other branches has"
                )
            } else if payload["forced"].as_bool() == Some(true) {
                format!(
                    "GitHub Actions force-push of {shown}: what it brings since {before} (if the force-push rewrote that away, the commits none of the remote's other branches has)"
                )
            } else {
                format!("GitHub Actions push of {shown}")
            };
            // The full ref, so that a pushed tag is known for one (`refs/tags/…`).
            Choice::range(&before, &after, git_ref.filter(|r| r.starts_with("refs/")), why).default_branch(
                payload["repository"]["default_branch"]
                    .as_str()
                    .map(str::to_string),
            )
        }
        "merge_group" => {
            let group = &payload["merge_group"];
            let (Some(base), Some(head)) = (sha(&group["base_sha"]), sha(&group["head_sha"])) else {
                return Choice::sweep("GitHub Actions merge_group event without base_sha/head_sha");
            };
            let shown = group["head_ref"].as_str().unwrap_or("a merge queue group");
            Choice::range(
                &base,
                &head,
                None,
                format!("GitHub Actions merge queue group {shown}: the commits it adds to its base"),
            )
        }
        "pull_request" | "pull_request_target" => {
            let pr = &payload["pull_request"];
            let (Some(base), Some(head)) = (sha(&pr["base"]["sha"]), sha(&pr["head"]["sha"])) else {
                return Choice::sweep(format!("GitHub Actions {event} event without base/head commits"));
            };
            let number = pr["number"]
                .as_u64()
                .map(|n| format!(" #{n}"))
                .unwrap_or_default();
            let branch = pr["head"]["ref"].as_str().map(str::to_string);
            Choice::range(
                &base,
                &head,
                branch,
                format!("GitHub Actions pull request{number}: the commits it adds to its base"),
            )
        }
        other => Choice::sweep(format!("GitHub Actions {other} event, which names no range")),
    }
}

fn gitlab(source: &str, env: &dyn Fn(&str) -> Option<String>) -> Choice {
    let sha = |name: &str| env(name).filter(|s| is_sha(s));
    let Some(head) = sha("CI_COMMIT_SHA") else {
        return Choice::sweep(format!("GitLab CI {source} pipeline without CI_COMMIT_SHA"));
    };
    match source {
        "merge_request_event" => {
            let Some(base) = sha("CI_MERGE_REQUEST_DIFF_BASE_SHA") else {
                return Choice::sweep(
                    "GitLab CI merge request pipeline without CI_MERGE_REQUEST_DIFF_BASE_SHA",
                );
            };
            let branch = env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME");
            let iid = env("CI_MERGE_REQUEST_IID")
                .map(|n| format!(" !{n}"))
                .unwrap_or_default();
            Choice::range(
                &base,
                &head,
                branch,
                format!("GitLab CI merge request{iid}: the commits it adds to its base"),
            )
        }
        "push" => {
            let git_ref = env("CI_COMMIT_BRANCH")
                .map(|b| format!("refs/heads/{b}"))
                .or_else(|| env("CI_COMMIT_TAG").map(|t| format!("refs/tags/{t}")));
            let shown = env("CI_COMMIT_BRANCH")
                .or_else(|| env("CI_COMMIT_TAG"))
                .or_else(|| env("CI_COMMIT_REF_NAME"))
                .unwrap_or_else(|| "a ref".into());
            // GitLab gives zeros for the first push of a branch or a tag (and when it does not know).
            let before = sha("CI_COMMIT_BEFORE_SHA").unwrap_or_else(|| ZEROS.into());
            let why = if is_zero(&before) {
                format!(
                    "GitLab CI push of {shown}, a new ref: the commits none of the remote's other branches has"
                )
            } else {
                format!("GitLab CI push of {shown}")
            };
            Choice::range(&before, &head, git_ref, why).default_branch(env("CI_DEFAULT_BRANCH"))
        }
        other => Choice::sweep(format!("GitLab CI {other} pipeline, which names no range")),
    }
}

/// A full commit id (SHA-1 or SHA-256): anything else from the environment is not trusted as one.
fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn gitlab_choices() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let c = choose(&env(&[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", &b),
            ("CI_COMMIT_BEFORE_SHA", ZEROS),
            ("CI_COMMIT_BRANCH", "feature"),
        ]));
        assert_eq!(c.range, Some(format!("{ZEROS}..{b}")));
        assert_eq!(c.branch.as_deref(), Some("refs/heads/feature"));
        let c = choose(&env(&[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", &b),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", &a),
        ]));
        assert_eq!(c.range, Some(format!("{a}..{b}")));
        // A value that is not a commit id is not passed on as one.
        let c = choose(&env(&[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", "HEAD;rm"),
        ]));
        assert_eq!(c.range, None);
        assert_eq!(choose(&env(&[])).range, None);
    }
}
