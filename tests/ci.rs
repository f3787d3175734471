//! Integration tests of CI use (issue #13): `git --range` on the repositories CI checkouts really
//! are (a new branch, a force-push, a pull request that merged main), `sgscan ci` on synthetic
//! GitHub and GitLab event data, `--fail-on`, the pre-commit hook definition run as pre-commit runs
//! it, and SARIF as GitHub code scanning wants it. Repositories are built with the `git` CLI in
//! temporary directories; keys are generated at run time (`util::KeyGen`).

use std::path::Path;

use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{KeyGen, Run, assert_no_key, env_line, finding, fp, fps, notes, run, set, sgscan};
use serde_json::Value;

const ZEROS: &str = "0000000000000000000000000000000000000000";

/// What a CI runner sets and `sgscan ci` reads: a test run inside a real CI must not inherit it.
const CI_ENV: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_REF",
    "GITLAB_CI",
    "CI_PIPELINE_SOURCE",
    "CI_COMMIT_SHA",
    "CI_COMMIT_BEFORE_SHA",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_DEFAULT_BRANCH",
];

/// `sgscan ARGS` in `cwd` with `envs` as the only CI variables.
fn ci_scan(cwd: &Path, envs: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = sgscan(cwd);
    cmd.env("NO_COLOR", "1").args(args);
    for v in CI_ENV {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// A full clone of `origin` at `dest` (as `actions/checkout` with `fetch-depth: 0` makes one).
fn clone(origin: &Repo, dest: &Path, extra: &[&str]) -> Repo {
    let src = format!("file://{}", origin.path.display());
    let mut args = vec!["clone", "-q"];
    args.extend_from_slice(extra);
    args.extend([src.as_str(), dest.to_str().unwrap()]);
    origin.git(&args);
    Repo::open(dest)
}

fn first_commit(doc: &Value, key: &str) -> String {
    finding(doc, key)["locations"][0]["commit"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An origin whose main once held a key (added, then deleted), cloned as CI clones it.
fn origin_with_old_key(tmp: &Path, old: &str) -> Repo {
    let origin = Repo::init(&tmp.join("origin"));
    origin.write("app.env", &env_line(old));
    origin.commit("config");
    origin.write("app.env", "SENDGRID_API_KEY=${FROM_VAULT}\n");
    origin.commit("key from the vault");
    origin
}

// ---------------------------------------------------------------------------------------------
// git --range
// ---------------------------------------------------------------------------------------------

#[test]
fn range_new_branch_brings_only_its_own_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1301);
    let (old, new) = (keys.key(), keys.key());
    let origin = origin_with_old_key(tmp.path(), &old);
    origin.git(&["checkout", "-q", "-b", "feature"]);
    let ci = clone(&origin, &tmp.path().join("ci"), &["-b", "feature"]);
    // The origin has `feature` checked out; a real remote's HEAD is its default branch (a branch
    // other than the default one at the pushed commit may have come in the same push).
    ci.git(&["remote", "set-head", "origin", "main"]);
    let head = ci.git(&["rev-parse", "HEAD"]);

    // Pushed at main's tip: nothing new. Both the branch name and the commit id, as CI passes it.
    for h in ["feature", head.as_str()] {
        let range = format!("{ZEROS}..{h}");
        let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
        assert_eq!(run.code, 0, "{run}");
        assert_eq!(run.json()["summary"]["commits_scanned"], 0, "{run}");
    }

    // With a commit of its own: that commit's key, not main's old one.
    origin.write("feature.env", &env_line(&new));
    let added = origin.commit("feature config");
    let ci = clone(&origin, &tmp.path().join("ci2"), &["-b", "feature"]);
    let range = format!("{ZEROS}..{added}");
    let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]));
    assert_eq!(first_commit(&doc, &new), added);
}

#[test]
fn range_after_a_force_push_scans_what_no_other_ref_has_in_a_full_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1303);
    let (old, gone, new) = (keys.key(), keys.key(), keys.key());
    let origin = origin_with_old_key(tmp.path(), &old);
    let fork_point = origin.git(&["rev-parse", "HEAD"]);
    origin.git(&["checkout", "-q", "-b", "feature"]);
    origin.write("gone.env", &env_line(&gone));
    let before = origin.commit("to be rewritten");
    // The force-push: feature rewritten from the fork point, `before` no longer on any ref.
    origin.git(&["reset", "-q", "--hard", &fork_point]);
    origin.write("new.env", &env_line(&new));
    let after = origin.commit("rewritten");
    origin.git(&["reflog", "expire", "--expire=now", "--all"]);
    origin.git(&["gc", "-q", "--prune=now"]);
    let ci = clone(&origin, &tmp.path().join("ci"), &["-b", "feature"]);
    assert!(
        !ci.git(&["rev-list", "--all"]).contains(&before),
        "the fresh clone must not have the rewritten commit"
    );
    assert_eq!(ci.git(&["rev-parse", "--is-shallow-repository"]), "false");

    let range = format!("{before}..{after}");
    let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]), "{run}");
    assert_eq!(doc["summary"]["commits_scanned"], 1);
    assert!(
        notes(&doc).iter().any(|n| n.contains("force-push")),
        "{:?}",
        notes(&doc)
    );
}

#[test]
fn range_on_a_shallow_clone_fails_but_still_writes_the_sarif_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1304);
    let origin = origin_with_old_key(tmp.path(), &keys.key());
    let base = origin.git(&["rev-parse", "HEAD~1"]);
    origin.write("b.txt", "b\n");
    origin.commit("b");
    let ci = clone(&origin, &tmp.path().join("ci"), &["--depth", "1"]);
    let sarif = tmp.path().join("out.sarif");

    let range = format!("{base}..HEAD");
    let run = ci_scan(
        &ci.path,
        &[],
        &[
            "git",
            "-q",
            "-f",
            "sarif",
            "-o",
            sarif.to_str().unwrap(),
            "--range",
            &range,
        ],
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("fetch-depth: 0"), "{run}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).expect("the SARIF file")).unwrap();
    let inv = &doc["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    let errors: Vec<&Value> = inv["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{inv:#}");
    assert!(
        errors[0]["message"]["text"].as_str().unwrap().contains("shallow"),
        "{inv:#}"
    );
    assert_eq!(doc["runs"][0]["results"], Value::Array(vec![]));
}

#[test]
fn range_of_a_pull_request_that_merged_main_reports_only_its_own_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1305);
    let (on_main, own) = (keys.key(), keys.key());
    let origin = Repo::init(&tmp.path().join("origin"));
    origin.write("README.md", "# app\n");
    origin.commit("init");
    origin.git(&["checkout", "-q", "-b", "feature"]);
    origin.write("feature.env", &env_line(&own));
    let own_commit = origin.commit("feature config");
    origin.git(&["checkout", "-q", "main"]);
    origin.write("main.env", &env_line(&on_main));
    let main_tip = origin.commit("main config");
    origin.git(&["checkout", "-q", "feature"]);
    origin.git(&["merge", "-q", "--no-edit", "main"]);
    let pr_head = origin.git(&["rev-parse", "HEAD"]);
    let ci = clone(&origin, &tmp.path().join("ci"), &[]);

    // The pull request's base.sha..head.sha: its own commit and the merge.
    let range = format!("{main_tip}..{pr_head}");
    let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(
        fps(&doc),
        set(&[&own]),
        "main's key is not the pull request's: {run}"
    );
    assert_eq!(first_commit(&doc, &own), own_commit);
    assert_eq!(doc["summary"]["commits_scanned"], 2);
}

// ---------------------------------------------------------------------------------------------
// sgscan ci
// ---------------------------------------------------------------------------------------------

/// A CI clone of a repository whose main holds an old deleted key and whose `feature` branch adds
/// a key of its own: (clone, old key, new key, main's tip, feature's tip).
fn ci_scenario(tmp: &Path, seed: u64) -> (Repo, String, String, String, String) {
    let mut keys = KeyGen::new(seed);
    let (old, new) = (keys.key(), keys.key());
    let origin = origin_with_old_key(tmp, &old);
    let main_tip = origin.git(&["rev-parse", "HEAD"]);
    origin.git(&["checkout", "-q", "-b", "feature"]);
    origin.write("feature.env", &env_line(&new));
    let feature_tip = origin.commit("feature config");
    let ci = clone(&origin, &tmp.join("ci"), &["-b", "feature"]);
    (ci, old, new, main_tip, feature_tip)
}

#[test]
fn ci_github_push_and_pull_request_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (ci, old, new, main_tip, feature_tip) = ci_scenario(tmp.path(), 1306);
    let event = tmp.path().join("event.json");
    let event_path = event.to_str().unwrap();

    // A new branch: GitHub sends zeros as `before`.
    std::fs::write(
        &event,
        serde_json::json!({"ref": "refs/heads/feature", "before": ZEROS, "after": feature_tip, "forced": false}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_EVENT_PATH", event_path),
        ("GITHUB_REF", "refs/heads/feature"),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]), "{run}");
    assert!(run.stderr.contains("new ref"), "{run}");
    // The report says it too, first.
    assert!(
        notes(&doc)[0].starts_with("sgscan ci: GitHub Actions push"),
        "{:?}",
        notes(&doc)
    );
    assert!(
        run.stderr.contains(&format!("--range {ZEROS}..{feature_tip}")),
        "{run}"
    );

    // A pull request: base.sha..head.sha.
    std::fs::write(
        &event,
        serde_json::json!({"pull_request": {"number": 7, "base": {"sha": main_tip, "ref": "main"}, "head": {"sha": feature_tip, "ref": "feature"}}}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event_path),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&new]), "{run}");
    assert!(run.stderr.contains("pull request #7"), "{run}");

    // A scheduled run names no range: the whole history, old key included.
    let envs = [
        ("GITHUB_EVENT_NAME", "schedule"),
        ("GITHUB_EVENT_PATH", event_path),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&old, &new]), "{run}");
    assert!(run.stderr.contains("whole history"), "{run}");
}

#[test]
fn ci_gitlab_merge_request_and_branch_pipelines() {
    let tmp = tempfile::tempdir().unwrap();
    let (ci, old, new, main_tip, feature_tip) = ci_scenario(tmp.path(), 1307);
    // GitLab checks out a detached commit.
    ci.git(&["checkout", "-q", "--detach", &feature_tip]);

    let envs = [
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", main_tip.as_str()),
        ("CI_COMMIT_SHA", feature_tip.as_str()),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature"),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&new]), "{run}");
    assert!(run.stderr.contains("GitLab CI merge request"), "{run}");

    // The first push of a branch: zeros before, the branch named by GitLab.
    let envs = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_BEFORE_SHA", ZEROS),
        ("CI_COMMIT_SHA", feature_tip.as_str()),
        ("CI_COMMIT_BRANCH", "feature"),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&new]), "{run}");

    // No CI at all: a full sweep, said so.
    let run = ci_scan(&ci.path, &[], &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&old, &new]), "{run}");
    assert!(run.stderr.contains("no CI event data"), "{run}");
}

// ---------------------------------------------------------------------------------------------
// --fail-on
// ---------------------------------------------------------------------------------------------

#[test]
fn fail_on_live_fails_only_on_a_live_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1308);
    let (dead, live) = (keys.key(), keys.key());
    let mock = MockSendGrid::start();
    mock.set(&dead, Behavior::Invalid);
    mock.set(&live, Behavior::live(&["mail.send"]));
    let dir = tmp.path().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("old.env"), env_line(&dead)).unwrap();
    let url = mock.url();
    let args = [
        "dir",
        ".",
        "-f",
        "json",
        "--verify",
        "--api-url",
        url.as_str(),
        "--fail-on",
        "live",
    ];

    let run = ci_scan(&dir, &[], &args);
    assert_eq!(run.code, 0, "a dead key does not fail the run: {run}");
    assert_eq!(fps(&run.json()), set(&[&dead]));

    std::fs::write(dir.join("new.env"), env_line(&live)).unwrap();
    let run = ci_scan(&dir, &[], &args);
    assert_eq!(run.code, 1, "{run}");
    assert_no_key(&run.stdout, "the report", &[&dead, &live]);

    let run = ci_scan(&dir, &[], &["dir", ".", "-f", "json", "--fail-on", "none"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(fps(&run.json()).len(), 2);

    let run = ci_scan(&dir, &[], &["dir", ".", "--fail-on", "live"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--verify"), "{run}");
}

// ---------------------------------------------------------------------------------------------
// pre-commit
// ---------------------------------------------------------------------------------------------

/// The `entry` of hook `id` in the repository's `.pre-commit-hooks.yaml`, split as pre-commit
/// splits it (shell words; ours has no quoting), after checking it takes file names.
fn hook_entry(id: &str) -> Vec<String> {
    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"))
        .unwrap();
    let block: Vec<&str> = yaml
        .split("\n- ")
        .find(|b| b.trim_start_matches("- ").starts_with(&format!("id: {id}\n")))
        .unwrap_or_else(|| panic!("no hook {id}"))
        .lines()
        .collect();
    let field = |name: &str| {
        block
            .iter()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(field("pass_filenames").as_deref(), Some("true"));
    assert!(field("minimum_pre_commit_version").is_some());
    if id == "sgscan-system" {
        assert_eq!(field("language").as_deref(), Some("system"));
    }
    field("entry")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Runs hook `id` as pre-commit does: from the top of the work tree, `entry` then the file names.
fn run_hook(repo: &Repo, id: &str, files: &[String]) -> Run {
    let entry = hook_entry(id);
    assert_eq!(entry[0], "sgscan");
    let mut args: Vec<&str> = entry[1..].iter().map(String::as_str).collect();
    args.extend(files.iter().map(String::as_str));
    ci_scan(&repo.path, &[], &args)
}

#[test]
fn pre_commit_all_files_finds_a_committed_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(1309).key();
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write(".env", &env_line(&key));
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit("init");

    // `pre-commit run --all-files` passes every tracked file.
    let files: Vec<String> = repo.git(&["ls-files"]).lines().map(str::to_string).collect();
    for id in ["sgscan", "sgscan-system"] {
        let run = run_hook(&repo, id, &files);
        assert_eq!(run.code, 1, "{run}");
        // Nothing is being committed: the key is in history already (issue #22).
        assert!(
            run.stderr.contains("committed already: .env holds a key"),
            "{run}"
        );
        assert!(!run.stderr.contains("commit blocked"), "{run}");
    }
    // `--files src/main.rs`: only that file.
    let run = run_hook(&repo, "sgscan-system", &["src/main.rs".into()]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn pre_commit_on_a_commit_scans_the_staged_content() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(1310).key();
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("app.env", &env_line(&key));
    repo.git(&["add", "app.env"]);
    // Not staged: the commit would still hold the key.
    repo.write("app.env", "SENDGRID_API_KEY=${FROM_VAULT}\n");

    let run = run_hook(&repo, "sgscan-system", &["app.env".into()]);
    assert_eq!(run.code, 1, "{run}");
    assert_no_key(&run.stderr, "stderr", &[&key]);
}

// ---------------------------------------------------------------------------------------------
// SARIF for GitHub code scanning
// ---------------------------------------------------------------------------------------------

fn sarif(run: &Run) -> Value {
    let doc = run.json();
    assert_eq!(doc["version"], "2.1.0");
    doc
}

#[test]
fn sarif_has_what_github_tracks_alerts_by() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1311);
    let (key, in_msg) = (keys.key(), keys.key());
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("conf/app.env", &env_line(&key));
    repo.commit("add");
    // The same key, moved down two lines: its alert must stay the same one.
    repo.write("conf/app.env", &format!("# mailer\n\n{}", env_line(&key)));
    repo.commit(&format!("move\n\ntoken {in_msg}\n"));

    let run = ci_scan(
        &repo.path,
        &[],
        &["git", "-q", "-f", "sarif", "--sarif-category", "nightly"],
    );
    assert_eq!(run.code, 1, "{run}");
    assert_no_key(&run.stdout, "SARIF", &[&key, &in_msg]);
    let doc = sarif(&run);
    let r = &doc["runs"][0];
    assert_eq!(r["automationDetails"]["id"], "sgscan/git/nightly/");
    assert_eq!(r["invocations"][0]["executionSuccessful"], true);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{results:#?}");
    let key_fp = fp(&key);
    let in_file: Vec<&Value> = results
        .iter()
        .filter(|r| r["partialFingerprints"]["sgscan/key/v1"] == key_fp.as_str())
        .collect();
    assert_eq!(in_file.len(), 2);
    let mut lines = Vec::new();
    for res in &in_file {
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "conf/app.env");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let region = &loc["region"];
        let Some(start) = region["startColumn"].as_u64() else {
            // The first version's line 1 is not in HEAD's file: no region, the commit named.
            let text = res["message"]["text"].as_str().unwrap();
            assert!(
                text.contains("The line is from commit") && text.contains("at line 1,"),
                "{text}"
            );
            lines.push(1);
            continue;
        };
        assert_eq!(region["endLine"], region["startLine"]);
        assert_eq!(region["endColumn"].as_u64().unwrap(), start + key.len() as u64);
        lines.push(region["startLine"].as_u64().unwrap());
    }
    lines.sort();
    assert_eq!(lines, [1, 3]);
    let hash = |r: &Value| {
        r["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(hash(in_file[0]), hash(in_file[1]), "a moved line keeps its alert");
    assert!(
        regex::Regex::new("^[0-9a-f]{16}:1$")
            .unwrap()
            .is_match(&hash(in_file[0]))
    );
    let msg = results
        .iter()
        .find(|r| r["partialFingerprints"]["sgscan/key/v1"] == fp(&in_msg).as_str())
        .expect("the commit message's key");
    let uri = msg["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with(".sgscan/commit-message/"), "{uri}");
    assert_ne!(hash(msg), hash(in_file[0]));
}

#[test]
fn sarif_dir_uris_are_relative_to_the_repository_top() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(1312).key();
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("services/mail/.env", &env_line(&key));
    let run = ci_scan(&repo.path.join("services"), &[], &["dir", "mail", "-f", "sarif"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = sarif(&run);
    let loc = &doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(loc["uri"], "services/mail/.env");
    assert_eq!(doc["runs"][0]["automationDetails"]["id"], "sgscan/dir/");
}

#[test]
fn sarif_keeps_githubs_limit_of_25000_results_and_says_what_it_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(1313);
    // 26 keys at 1,001 places each: sgscan keeps 1,000 per key, so 26,000 results, 1,000 too many.
    let mut text = String::new();
    let all: Vec<String> = (0..26).map(|_| keys.key()).collect();
    for k in &all {
        for _ in 0..1001 {
            text.push_str(&env_line(k));
        }
    }
    std::fs::write(tmp.path().join("many.env"), text).unwrap();
    let run = ci_scan(tmp.path(), &[], &["dir", ".", "-f", "sarif"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc = sarif(&run);
    let r = &doc["runs"][0];
    assert_eq!(r["results"].as_array().unwrap().len(), 25_000);
    let notes = r["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    let cut: Vec<&Value> = notes
        .iter()
        .filter(|n| n["descriptor"]["id"] == "results-cut")
        .collect();
    assert_eq!(cut.len(), 1);
    assert!(
        cut[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("1000 were left out"),
        "{:#}",
        cut[0]
    );
    let per_key = notes
        .iter()
        .filter(|n| n["descriptor"]["id"] == "locations-cut")
        .count();
    assert_eq!(per_key, 26);
}

// ---------------------------------------------------------------------------------------------
// The push shapes of issue #22: tags, other refs, shallow checkouts, merge queues, deletions
// ---------------------------------------------------------------------------------------------

/// A GitHub `push` event for `git_ref` from `before` to `after`, written to `dir/event.json`; the
/// variables `sgscan ci` reads, to pass to [`ci_scan`].
fn push_event(dir: &Path, git_ref: &str, before: &str, after: &str) -> Vec<(&'static str, String)> {
    let path = dir.join("event.json");
    std::fs::write(
        &path,
        serde_json::json!({"ref": git_ref, "before": before, "after": after, "forced": false}).to_string(),
    )
    .unwrap();
    vec![
        ("GITHUB_EVENT_NAME", "push".into()),
        ("GITHUB_EVENT_PATH", path.to_str().unwrap().into()),
        ("GITHUB_REF", git_ref.into()),
    ]
}

fn ci_run(ci: &Repo, envs: &[(&'static str, String)], extra: &[&str]) -> Run {
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["ci", "-q", "-f", "json"];
    args.extend_from_slice(extra);
    ci_scan(&ci.path, &envs, &args)
}

/// An origin whose main holds two keys still in its tree (and so in any clone's tip tree), and a
/// `feature` branch adding one more: (origin, main's keys, the new key, main's tip, feature's tip).
fn origin_with_live_keys(tmp: &Path, seed: u64) -> (Repo, [String; 2], String, String, String) {
    let mut keys = KeyGen::new(seed);
    let (a, b, new) = (keys.key(), keys.key(), keys.key());
    let origin = Repo::init(&tmp.join("origin"));
    origin.write("a.env", &env_line(&a));
    origin.commit("a");
    origin.write("b.env", &env_line(&b));
    let main_tip = origin.commit("b");
    origin.git(&["checkout", "-q", "-b", "feature"]);
    origin.write("feature.env", &env_line(&new));
    let feature_tip = origin.commit("feature config");
    origin.git(&["checkout", "-q", "main"]);
    (origin, [a, b], new, main_tip, feature_tip)
}

#[test]
fn ci_new_branch_is_scanned_whatever_tag_or_local_branch_sits_at_its_tip() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, new, _, tip) = origin_with_live_keys(tmp.path(), 2201);
    // `git push --follow-tags`: an annotated tag at the new branch's tip, in the same push.
    origin.git(&["tag", "-a", "v1", "-m", "release", &tip]);
    // A lightweight tag there too.
    origin.git(&["tag", "light", &tip]);
    let ci = clone(&origin, &tmp.path().join("ci"), &["-b", "feature"]);
    // Another local branch at the pushed commit (a reused runner checkout).
    ci.git(&["branch", "other", &tip]);
    assert!(ci.git(&["tag"]).contains("v1"), "the full clone has the tags");

    let envs = push_event(tmp.path(), "refs/heads/feature", ZEROS, &tip);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]), "{run}");
    assert_eq!(doc["summary"]["commits_scanned"], 1, "{run}");
    assert_eq!(first_commit(&doc, &new), tip);
}

#[test]
fn ci_tag_on_no_branch_is_scanned_and_says_nothing_of_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, _, _, _) = origin_with_live_keys(tmp.path(), 2202);
    let key = KeyGen::new(2212).key();
    // A commit on no branch, only an annotated tag names it.
    origin.git(&["checkout", "-q", "--detach", "main"]);
    origin.write("release.env", &env_line(&key));
    let commit = origin.commit("release config");
    origin.git(&["tag", "-a", "v2", "-m", "release", &commit]);
    let tag_object = origin.git(&["rev-parse", "v2"]);
    assert_ne!(tag_object, commit);
    origin.git(&["checkout", "-q", "main"]);

    // GitHub's `after` for an annotated tag is the tag object's id; the checkout is the tag.
    let envs = push_event(tmp.path(), "refs/tags/v2", ZEROS, &tag_object);
    for (name, extra) in [("full", &[][..]), ("depth 1", &["--depth", "1"][..])] {
        let mut args = vec!["-b", "v2"];
        args.extend_from_slice(extra);
        let ci = clone(&origin, &tmp.path().join(format!("ci {name}")), &args);
        let run = ci_run(&ci, &envs, &[]);
        assert_eq!(run.code, 1, "{name}: {run}");
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&key]), "{name}: {run}");
        assert_eq!(doc["summary"]["commits_scanned"], 1, "{name}: {run}");
        assert!(run.stderr.contains("a new tag"), "{name}: {run}");
        // No advice naming a flag `ci` does not take.
        assert!(!run.stderr.contains("--branch"), "{name}: {run}");
        assert!(
            !notes(&doc).iter().any(|n| n.contains("--branch")),
            "{name}: {run}"
        );
    }
}

#[test]
fn ci_tag_pushed_with_its_branch_and_a_tag_event_without_a_ref_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, new, _, tip) = origin_with_live_keys(tmp.path(), 2203);
    origin.git(&["tag", "-a", "v1", "-m", "release", &tip]);
    let tag_object = origin.git(&["rev-parse", "v1"]);
    let ci = clone(&origin, &tmp.path().join("ci"), &["-b", "v1"]);
    // The tag's own event: main's keys are never the tag's.
    let envs = push_event(tmp.path(), "refs/tags/v1", ZEROS, &tag_object);
    let run = ci_run(&ci, &envs, &[]);
    assert_ne!(run.code, 2, "{run}");
    let found = fps(&run.json());
    assert!(found.is_subset(&set(&[&new])), "{run}");
    assert!(!run.stderr.contains("--branch"), "{run}");

    // An event that names no ref: the note says so without advising a flag `ci` lacks.
    let path = tmp.path().join("bare-event.json");
    std::fs::write(
        &path,
        serde_json::json!({"before": ZEROS, "after": tip}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_EVENT_PATH", path.to_str().unwrap()),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_ne!(run.code, 2, "{run}");
    assert!(!run.stdout.contains("--branch"), "{run}");
    assert!(!run.stderr.contains("--branch"), "{run}");
}

#[test]
fn ci_existing_branch_push_past_a_depth_1_checkout_fetches_its_base() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(2204);
    let (old, new) = (keys.key(), keys.key());
    let origin = origin_with_old_key(tmp.path(), &old);
    let before = origin.git(&["rev-parse", "HEAD"]);
    origin.write("new.env", &env_line(&new));
    let added = origin.commit("new config");
    origin.write("README.md", "# app\n");
    let after = origin.commit("docs");
    // actions/checkout's default: one commit.
    let ci = clone(&origin, &tmp.path().join("ci"), &["--depth", "1", "-b", "main"]);
    assert_eq!(ci.git(&["rev-list", "--count", "HEAD"]), "1");

    let envs = push_event(tmp.path(), "refs/heads/main", &before, &after);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]), "exactly the push's key: {run}");
    assert_eq!(doc["summary"]["commits_scanned"], 2, "{run}");
    assert_eq!(first_commit(&doc, &new), added);
    assert!(
        notes(&doc).iter().any(|n| n.contains("fetched from origin")),
        "{:?}",
        notes(&doc)
    );
}

#[test]
fn ci_new_branch_in_a_depth_1_checkout_is_judged_against_the_remotes_branches() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, new, _, tip) = origin_with_live_keys(tmp.path(), 2205);
    // A second commit on the branch, and a branch of the remote that forked elsewhere.
    origin.git(&["checkout", "-q", "feature"]);
    origin.write("README.md", "# feature\n");
    let tip2 = origin.commit("docs");
    origin.git(&["checkout", "-q", "-b", "side", "main~1"]);
    origin.write("side.txt", "side\n");
    origin.commit("side");
    origin.git(&["checkout", "-q", "main"]);
    let ci = clone(
        &origin,
        &tmp.path().join("ci"),
        &["--depth", "1", "-b", "feature"],
    );

    let envs = push_event(tmp.path(), "refs/heads/feature", ZEROS, &tip2);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(
        fps(&doc),
        set(&[&new]),
        "main's keys in the tip's tree are not new: {run}"
    );
    assert_eq!(doc["summary"]["commits_scanned"], 2, "{run}");
    assert_eq!(first_commit(&doc, &new), tip);

    // A branch pushed at main's tip brings nothing, in a depth-1 checkout too.
    let main_tip = origin.git(&["rev-parse", "main"]);
    origin.git(&["branch", "release", "main"]);
    let ci = clone(
        &origin,
        &tmp.path().join("ci2"),
        &["--depth", "1", "-b", "release"],
    );
    let envs = push_event(tmp.path(), "refs/heads/release", ZEROS, &main_tip);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["summary"]["commits_scanned"], 0, "{run}");
}

#[test]
fn ci_shallow_checkout_without_a_remote_fails_with_advice_ci_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(2206);
    let (old, new) = (keys.key(), keys.key());
    let origin = origin_with_old_key(tmp.path(), &old);
    let before = origin.git(&["rev-parse", "HEAD"]);
    origin.write("new.env", &env_line(&new));
    origin.commit("new config");
    origin.write("README.md", "# app\n");
    let after = origin.commit("docs");
    let ci = clone(&origin, &tmp.path().join("ci"), &["--depth", "1", "-b", "main"]);
    ci.git(&["remote", "remove", "origin"]);

    let envs = push_event(tmp.path(), "refs/heads/main", &before, &after);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("no `origin` remote"), "{run}");
    assert!(run.stderr.contains("fetch-depth: 0"), "{run}");
    assert!(run.stderr.contains("--shallow-ok"), "{run}");
    // The advice works: `ci` takes --shallow-ok, and scans what is there.
    let run = ci_run(&ci, &envs, &["--shallow-ok"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(fps(&run.json()).contains(&fp(&new)), "{run}");
}

#[test]
fn ci_merge_group_scans_its_range_and_a_deletion_scans_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (ci, old, new, main_tip, feature_tip) = ci_scenario(tmp.path(), 2207);
    let _ = old;
    let path = tmp.path().join("mq.json");
    std::fs::write(
        &path,
        serde_json::json!({"merge_group": {"base_sha": main_tip, "head_sha": feature_tip, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7"}}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "merge_group"),
        ("GITHUB_EVENT_PATH", path.to_str().unwrap()),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        fps(&run.json()),
        set(&[&new]),
        "the group's range, not the history: {run}"
    );
    assert!(
        run.stderr.contains(&format!("--range {main_tip}..{feature_tip}")),
        "{run}"
    );

    // A branch deletion: `after` all zeros.
    let envs = push_event(tmp.path(), "refs/heads/feature", &feature_tip, ZEROS);
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    assert_eq!(doc["summary"]["commits_scanned"], 0, "{run}");
    assert!(
        notes(&doc).iter().any(|n| n.contains("deleted")),
        "{:?}",
        notes(&doc)
    );
}

#[test]
fn ci_pull_request_in_a_depth_1_merge_checkout_fetches_its_head_and_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, new, main_tip, feature_tip) = origin_with_live_keys(tmp.path(), 2208);
    // actions/checkout checks out the pull request's merge commit, one commit deep.
    origin.git(&["checkout", "-q", "-b", "pr-merge", "main"]);
    origin.git(&["merge", "-q", "--no-ff", "--no-edit", "feature"]);
    origin.git(&["checkout", "-q", "main"]);
    let ci = clone(
        &origin,
        &tmp.path().join("ci"),
        &["--depth", "1", "-b", "pr-merge"],
    );
    let path = tmp.path().join("pr.json");
    std::fs::write(
        &path,
        serde_json::json!({"pull_request": {"number": 9, "base": {"sha": main_tip, "ref": "main"}, "head": {"sha": feature_tip, "ref": "feature"}}}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", path.to_str().unwrap()),
    ];
    let run = ci_scan(&ci.path, &envs, &["ci", "-q", "-f", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]), "{run}");
    assert_eq!(doc["summary"]["commits_scanned"], 1, "{run}");
}

// ---------------------------------------------------------------------------------------------
// Allow lists in a range come from its base side, and every allowance is listed (issue #22)
// ---------------------------------------------------------------------------------------------

/// An origin whose main has some code (and `base` files), and a pull request branch adding `files`
/// on top; cloned on the pull request's branch as actions/checkout does. Returns the clone, main's
/// tip and the pull request's.
fn pull_request(tmp: &Path, base: &[(&str, &[u8])], files: &[(&str, &[u8])]) -> (Repo, String, String) {
    let origin = Repo::init(&tmp.join("origin"));
    origin.write("src/app.py", "print('hello')\n");
    for (name, data) in base {
        crate::util::write(&origin.path, name, data);
    }
    let main_tip = origin.commit("app");
    origin.git(&["checkout", "-q", "-b", "feature"]);
    for (name, data) in files {
        crate::util::write(&origin.path, name, data);
    }
    let pr_tip = origin.commit("feature");
    origin.git(&["checkout", "-q", "main"]);
    let ci = clone(&origin, &tmp.join("ci"), &["-b", "feature"]);
    (ci, main_tip, pr_tip)
}

/// `sgscan ci ARGS` on a GitHub `pull_request` event from `base` to `head`.
fn ci_pull_request(ci: &Repo, base: &str, head: &str, args: &[&str]) -> Run {
    let event = ci.path.parent().unwrap().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"pull_request": {"number": 9, "base": {"sha": base, "ref": "main"}, "head": {"sha": head, "ref": "feature"}}}).to_string(),
    )
    .unwrap();
    let envs = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
    ];
    let mut all = vec!["ci", "-q"];
    all.extend_from_slice(args);
    ci_scan(&ci.path, &envs, &all)
}

/// A file a commit writes: its path and bytes.
type File<'a> = (&'a str, &'a [u8]);

#[test]
fn ci_pull_request_cannot_allow_its_own_key() {
    let mut keys = KeyGen::new(0x22_01);
    let key = keys.key();
    let line = env_line(&key);
    let tgz = crate::archive::gz(&crate::archive::tar(&[("conf/app.env", line.as_bytes())]));
    let ignore_fp = format!("# a fixture\n{}\n", fp(&key));
    // What a hostile pull request adds beside its key, and the file the report names.
    let cases: [(&str, Vec<File>, &str); 5] = [
        (
            "an ignore file allowing every path",
            vec![("app.env", line.as_bytes()), (".sgscanignore", b"*\n")],
            ".sgscanignore",
        ),
        (
            "an ignore file listing the key",
            vec![
                ("app.env", line.as_bytes()),
                (".sgscanignore", ignore_fp.as_bytes()),
            ],
            ".sgscanignore",
        ),
        (
            "a config ignoring every path",
            vec![
                ("app.env", line.as_bytes()),
                (".sgscan.toml", b"[ignore]\npaths = [\"**\"]\n"),
            ],
            ".sgscan.toml",
        ),
        (
            "a config that never fails",
            vec![
                ("app.env", line.as_bytes()),
                (".sgscan.toml", b"[scan]\nfail_on = \"none\"\n"),
            ],
            ".sgscan.toml",
        ),
        (
            "a config that opens no archive, the key in a .tgz",
            vec![
                ("dist/conf.tgz", &tgz),
                (".sgscan.toml", b"[archive]\nmax_depth = 0\n"),
            ],
            ".sgscan.toml",
        ),
    ];
    for (what, files, changed) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (ci, main_tip, pr_tip) = pull_request(tmp.path(), &[], &files);
        let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "json"]);
        assert_eq!(run.code, 1, "{what}: {run}");
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&key]), "{what}: {run}");
        let note = format!("the range changes {changed}: what it writes there takes effect once merged");
        assert!(
            notes(&doc).iter().any(|n| n.contains(&note)),
            "{what}: {:?}",
            notes(&doc)
        );
        // SARIF: the result, and the note as a notification.
        let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "sarif"]);
        assert_eq!(run.code, 1, "{what}: {run}");
        let doc = run.json();
        assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 1, "{what}");
        let notified = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["message"]["text"].as_str().unwrap().contains(&note));
        assert!(notified, "{what}: {run}");
        assert_no_key(&run.stdout, "stdout", &[&key]);
    }
}

#[test]
fn range_allow_lists_of_the_base_side_are_honoured_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(0x22_02);
    let (fixture, marked) = (keys.key(), keys.key());
    // main already allows the fixture (line 2 of its ignore file); the pull request brings the
    // fixture and a key on a line marked `sgscan:allow`, which a reviewer sees in the diff.
    let ignore = format!("# test fixtures\n{}\n", fp(&fixture));
    let fixture_line = env_line(&fixture);
    let marked_line = format!("# demo\nKEY={marked}  # sgscan:allow revoked demo key\n");
    let (ci, main_tip, pr_tip) = pull_request(
        tmp.path(),
        &[(".sgscanignore", ignore.as_bytes())],
        &[
            ("test/fixture.env", fixture_line.as_bytes()),
            ("docs/demo.sh", marked_line.as_bytes()),
        ],
    );

    let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "json"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    assert!(fps(&doc).is_empty(), "{run}");
    assert_eq!(doc["summary"]["allowed"], 2, "{run}");
    let allowed = doc["allowed"].as_array().expect("`allowed` is an array");
    let entry = |key: &str| {
        allowed
            .iter()
            .find(|a| a["fingerprint"] == fp(key).as_str())
            .unwrap_or_else(|| panic!("not listed as allowed: {run}"))
    };
    let f = entry(&fixture);
    assert_eq!(f["key_id"], crate::util::id(&fixture).as_str());
    assert!(f["redacted"].as_str().unwrap().starts_with("SG."));
    assert_eq!(f["locations"][0]["path"], "test/fixture.env");
    assert_eq!(
        f["locations"][0]["allowed_by"],
        serde_json::json!({"kind": "ignore-file", "file": ".sgscanignore", "line": 2, "commit": main_tip})
    );
    let m = entry(&marked);
    assert_eq!(m["locations"][0]["path"], "docs/demo.sh");
    assert_eq!(m["locations"][0]["line"], 2);
    assert_eq!(m["locations"][0]["allowed_by"]["kind"], "inline");
    assert_eq!(m["locations"][0]["allowed_by"]["file"], "docs/demo.sh");
    assert_eq!(m["locations"][0]["allowed_by"]["line"], 2);
    crate::util::assert_run_leaks_nothing(&run, &[&fixture, &marked]);

    // SARIF: a suppressed result each, saying what allowed it.
    let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "sarif"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let mut kinds: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            let s = &r["suppressions"][0];
            assert!(s["justification"].as_str().is_some_and(|j| !j.is_empty()), "{r}");
            (
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                s["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("docs/demo.sh".to_string(), "inSource".to_string()),
            ("test/fixture.env".to_string(), "external".to_string())
        ]
    );
    crate::util::assert_run_leaks_nothing(&run, &[&fixture, &marked]);

    // Human: one line each.
    let run = ci_pull_request(&ci, &main_tip, &pr_tip, &[]);
    assert_eq!(run.code, 0, "{run}");
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("allowed ")).collect();
    assert_eq!(lines.len(), 2, "{run}");
    assert!(
        lines.iter().any(|l| l.contains("test/fixture.env:1:")
            && l.contains(&format!("by ignore entry .sgscanignore@{}:2", &main_tip[..12]))),
        "{run}"
    );
    assert!(
        lines.iter().any(|l| l.contains("docs/demo.sh:2:")
            && l.contains(&format!("by sgscan:allow at docs/demo.sh@{}:2", &pr_tip[..12]))),
        "{run}"
    );

    // Markers off by flag: the marked key is reported, the base's ignore entry still allows.
    let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "json", "--no-inline-allow"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&marked]), "{run}");
    // `--no-config`: nothing of the tree's, neither the base's ignore file nor the marker.
    let run = ci_pull_request(&ci, &main_tip, &pr_tip, &["-f", "json", "--no-config"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&fixture, &marked]), "{run}");

    // A new branch pushed (zero `before`): the base is where it leaves main.
    let range = format!("{ZEROS}..{pr_tip}");
    let run = ci_scan(
        &ci.path,
        &[],
        &[
            "git", "-q", "-f", "json", "--range", &range, "--branch", "feature",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["summary"]["allowed"], 2, "{run}");
}

#[test]
fn range_inline_allow_off_by_the_base_sides_config_only() {
    let tmp = tempfile::tempdir().unwrap();
    let marked = KeyGen::new(0x22_04).key();
    let marked_line = format!("KEY={marked}  # sgscan:allow\n");
    // On the base side, markers are off: the pull request's marker allows nothing.
    let (ci, main_tip, pr_tip) = pull_request(
        tmp.path(),
        &[(".sgscan.toml", b"[scan]\ninline_allow = false\n")],
        &[("demo.sh", marked_line.as_bytes())],
    );
    let range = format!("{main_tip}..{pr_tip}");
    let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fps(&run.json()), set(&[&marked]), "{run}");

    // A pull request that turns markers back on changes nothing until it is merged.
    let tmp = tempfile::tempdir().unwrap();
    let (ci, main_tip, pr_tip) = pull_request(
        tmp.path(),
        &[(".sgscan.toml", b"[scan]\ninline_allow = false\n")],
        &[
            ("demo.sh", marked_line.as_bytes()),
            (".sgscan.toml", b"[scan]\ninline_allow = true\n"),
        ],
    );
    let range = format!("{main_tip}..{pr_tip}");
    let run = ci_scan(&ci.path, &[], &["git", "-q", "-f", "json", "--range", &range]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&marked]), "{run}");
    assert!(
        notes(&doc)
            .iter()
            .any(|n| n.contains("the range changes .sgscan.toml")
                && n.contains(&format!("the base commit {}'s", &main_tip[..12]))),
        "{:?}",
        notes(&doc)
    );
}

// ---------------------------------------------------------------------------------------------
// Red team of issue #22
// ---------------------------------------------------------------------------------------------

#[test]
fn ci_two_new_branches_in_one_push_do_not_hide_each_others_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _, new, _, tip) = origin_with_live_keys(tmp.path(), 2291);
    // `git push origin feature twin`: two new branches at one commit; and `child`, a third new
    // branch one commit past them.
    origin.git(&["branch", "twin", &tip]);
    origin.git(&["checkout", "-q", "-b", "child", &tip]);
    origin.write("README.md", "# child\n");
    let child = origin.commit("docs");
    origin.git(&["checkout", "-q", "main"]);
    for (name, extra) in [("full", &[][..]), ("depth 1", &["--depth", "1"][..])] {
        for pushed in ["feature", "twin"] {
            let mut args = vec!["-b", pushed];
            args.extend_from_slice(extra);
            let ci = clone(&origin, &tmp.path().join(format!("ci {name} {pushed}")), &args);
            let envs = push_event(tmp.path(), &format!("refs/heads/{pushed}"), ZEROS, &tip);
            let run = ci_run(&ci, &envs, &[]);
            assert_eq!(run.code, 1, "{name} {pushed}: {run}");
            assert_eq!(fps(&run.json()), set(&[&new]), "{name} {pushed}: {run}");
        }
        // The child's push does not need to scan the key: its parent's branch is scanned.
        let mut args = vec!["-b", "child"];
        args.extend_from_slice(extra);
        let ci = clone(&origin, &tmp.path().join(format!("ci {name} child")), &args);
        let envs = push_event(tmp.path(), "refs/heads/child", ZEROS, &child);
        let run = ci_run(&ci, &envs, &[]);
        assert_ne!(run.code, 2, "{name} child: {run}");
    }
    // The default branch (from the event data) at the pushed commit: nothing new.
    let path = tmp.path().join("default-event.json");
    let main_tip = origin.git(&["rev-parse", "main"]);
    origin.git(&["branch", "release", "main"]);
    std::fs::write(
        &path,
        serde_json::json!({"ref": "refs/heads/release", "before": ZEROS, "after": main_tip,
            "repository": {"default_branch": "main"}})
        .to_string(),
    )
    .unwrap();
    let ci = tmp.path().join("ci release");
    origin.git(&[
        "clone",
        "-q",
        "-b",
        "release",
        &format!("file://{}", origin.path.display()),
        ci.to_str().unwrap(),
    ]);
    let ci = Repo::open(&ci);
    // As actions/checkout leaves it: no origin/HEAD.
    ci.git(&["remote", "set-head", "origin", "-d"]);
    let envs = [
        ("GITHUB_EVENT_NAME", "push".to_string()),
        ("GITHUB_EVENT_PATH", path.to_str().unwrap().to_string()),
        ("GITHUB_REF", "refs/heads/release".to_string()),
    ];
    let run = ci_run(&ci, &envs, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["summary"]["commits_scanned"], 0, "{run}");
}
