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
