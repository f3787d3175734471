//! What the CI gate tells people (issue #22, items 6–9), on real repositories built with `git`:
//! `present_in` (a key that left HEAD but is still at another ref's tip is not "only in history"),
//! SARIF triaged by verification status with history locations that name their commit, the GitHub
//! Actions log (annotations and the job summary), and the hook's and the history's words for keys
//! committed long ago and blobs never committed.

use std::path::Path;

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{
    KeyGen, Run, assert_no_key, assert_run_leaks_nothing, env_line, finding, id, key_block, run, scan, sgscan,
};

/// `git -f FORMAT ARGS…` on `repo`, colourless.
fn git_scan(repo: &Repo, format: &str, extra: &[&str]) -> Run {
    let mut cmd = sgscan(&repo.path);
    cmd.env("NO_COLOR", "1")
        .args(["git", ".", "-f", format])
        .args(extra);
    run(&mut cmd)
}

/// main once held `gone` (added, then deleted) and `moved` (deleted on main, still at the tip of
/// `feature/newsletter` and of tag `v1`); `kept` is in HEAD's tree.
fn repo_with_a_branch_that_keeps_a_key(root: &Path, gone: &str, moved: &str, kept: &str) -> Repo {
    let repo = Repo::init(&root.join("r"));
    repo.write("old.env", &env_line(gone));
    repo.commit("old config");
    repo.write("old.env", "SENDGRID_API_KEY=${VAULT}\n");
    repo.commit("vault");
    repo.write("mail/news.env", &env_line(moved));
    repo.write("app.env", &env_line(kept));
    repo.commit("newsletter");
    repo.git(&["branch", "feature/newsletter"]);
    repo.git(&["tag", "-a", "v1", "-m", "release"]);
    repo.git(&["rm", "-q", "mail/news.env"]);
    repo.commit("newsletter moves to the vault");
    repo
}

fn location<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &finding(doc, key)["locations"][0]
}

fn present_in(loc: &Value) -> Vec<String> {
    loc["present_in"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 6. present_in
// ---------------------------------------------------------------------------------------------

#[test]
fn a_key_at_another_refs_tip_is_still_on_it_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(0x22_06);
    let (gone, moved, kept) = (g.key(), g.key(), g.key());
    let repo = repo_with_a_branch_that_keeps_a_key(tmp.path(), &gone, &moved, &kept);
    let keys = [&gone, &moved, &kept];

    let r = git_scan(&repo, "json", &[]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &keys);
    let doc = r.json();
    let loc = location(&doc, &moved);
    assert_eq!(loc["in_head"], false, "{loc}");
    assert_eq!(
        present_in(loc),
        ["refs/heads/feature/newsletter", "refs/tags/v1"],
        "{loc}"
    );
    let loc = location(&doc, &kept);
    assert_eq!(loc["in_head"], true);
    assert_eq!(
        present_in(loc),
        ["HEAD", "refs/heads/feature/newsletter", "refs/tags/v1"],
        "HEAD stands for main"
    );
    let loc = location(&doc, &gone);
    assert_eq!(loc["in_head"], false);
    assert!(loc.get("present_in").is_none(), "no tip has it: {loc}");

    let r = git_scan(&repo, "human", &[]);
    let b = key_block(&r, &moved);
    assert!(
        b.contains("still on refs/heads/feature/newsletter, refs/tags/v1 (at mail/news.env): remove it there in a new commit too"),
        "{b}"
    );
    assert!(!b.contains("only in history"), "{b}");
    let b = key_block(&r, &gone);
    assert!(b.contains("only in history"), "{b}");
    assert!(!b.contains("still on"), "{b}");
    let b = key_block(&r, &kept);
    assert!(b.contains("still in HEAD's tree at app.env"), "{b}");
    assert!(
        b.contains("also still on refs/heads/feature/newsletter, refs/tags/v1 (at app.env)"),
        "{b}"
    );

    let r = git_scan(&repo, "html", &[]);
    assert_no_key(&r.stdout, "the HTML report", &keys);
    let row = r
        .stdout
        .split("<g class=\"row\"")
        .skip(1)
        .find(|g| g.contains(&id(&moved)))
        .unwrap_or_else(|| panic!("no timeline row for the moved key:\n{}", r.stdout));
    assert!(row.contains("still on refs/heads/feature/newsletter"), "{row}");
    assert!(!row.contains("removed after"), "{row}");
    assert!(row.contains("bar present"), "{row}");
    let row = r
        .stdout
        .split("<g class=\"row\"")
        .skip(1)
        .find(|g| g.contains(&id(&gone)))
        .unwrap();
    assert!(row.contains("removed after"), "{row}");

    let r = git_scan(&repo, "sarif", &[]);
    let doc = r.json();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let of = |key: &str| {
        results
            .iter()
            .find(|res| res["properties"]["key_id"] == id(key).as_str())
            .unwrap_or_else(|| panic!("no result for a key"))
    };
    let res = of(&moved);
    let text = res["message"]["text"].as_str().unwrap();
    let commit = repo.rev("feature/newsletter");
    assert!(
        text.contains(&format!("The line is from commit {}", &commit[..12])),
        "{text}"
    );
    assert!(
        text.contains("still on refs/heads/feature/newsletter, refs/tags/v1"),
        "{text}"
    );
    assert!(!text.contains("only in history"), "{text}");
    assert!(
        res["locations"][0]["physicalLocation"].get("region").is_none(),
        "HEAD's file does not hold it: no region: {res}"
    );
    let res = of(&kept);
    assert!(
        res["locations"][0]["physicalLocation"]["region"]["startLine"] == 1,
        "{res}"
    );
}

#[test]
fn a_range_names_what_is_left_at_head_and_what_the_range_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(0x22_1a);
    let (removed, kept) = (g.key(), g.key());
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("README.md", "app\n");
    let base = repo.commit("init");
    repo.write("a.env", &env_line(&removed));
    repo.write("b.env", &env_line(&kept));
    repo.commit("keys");
    repo.git(&["rm", "-q", "a.env"]);
    let head = repo.commit("oops, one out");

    let range = format!("{base}..{head}");
    let r = git_scan(&repo, "json", &["--range", &range]);
    r.expect_code(1);
    let doc = r.json();
    assert!(location(&doc, &removed).get("present_in").is_none());
    assert_eq!(present_in(location(&doc, &kept)), ["HEAD"]);

    let r = git_scan(&repo, "sarif", &["--range", &range]);
    let doc = r.json();
    for res in doc["runs"][0]["results"].as_array().unwrap() {
        let pl = &res["locations"][0]["physicalLocation"];
        let text = res["message"]["text"].as_str().unwrap();
        if pl["artifactLocation"]["uri"] == "a.env" {
            assert!(pl.get("region").is_none(), "{res}");
            assert!(text.contains("The line is from commit"), "{text}");
            assert!(text.contains("only in history"), "{text}");
        } else {
            assert_eq!(pl["region"]["startLine"], 1, "{res}");
            assert!(!text.contains("The line is from commit"), "{text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. SARIF that triages itself
// ---------------------------------------------------------------------------------------------

#[test]
fn sarif_level_severity_and_message_follow_the_verification_status() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x22_07);
    let (live, unknown, invalid) = (g.key(), g.key(), g.key());
    mock.set(&live, Behavior::live(&["mail.send"]));
    mock.set(&unknown, Behavior::Forbidden403Html);
    mock.set(&invalid, Behavior::Invalid);
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("live.env", &env_line(&live));
    repo.write("unknown.env", &env_line(&unknown));
    repo.write("invalid.env", &env_line(&invalid));
    repo.commit("keys");

    let r = git_scan(&repo, "sarif", &["--verify", "--api-url", &mock.url()]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&live, &unknown, &invalid]);
    let doc = r.json();
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let severity = |rule_id: &str| -> f64 {
        let rule = rules
            .iter()
            .find(|r| r["id"] == rule_id)
            .unwrap_or_else(|| panic!("no rule {rule_id}"));
        rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let results = doc["runs"][0]["results"].as_array().unwrap();
    for (key, level, rule, says, low, high) in [
        (
            &live,
            "error",
            "sendgrid-api-key/live",
            "Revoke it now",
            9.0,
            10.0,
        ),
        (
            &unknown,
            "warning",
            "sendgrid-api-key/unknown",
            "check it",
            4.0,
            8.9,
        ),
        (
            &invalid,
            "note",
            "sendgrid-api-key/invalid",
            "nothing to revoke; remove it from the code",
            0.1,
            3.9,
        ),
    ] {
        let res = results
            .iter()
            .find(|res| res["properties"]["key_id"] == id(key).as_str())
            .unwrap();
        assert_eq!(res["level"], level, "{res}");
        assert_eq!(res["ruleId"], rule, "{res}");
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], rule);
        let sev = severity(rule);
        assert!((low..=high).contains(&sev), "{rule}: {sev}");
        let text = res["message"]["text"].as_str().unwrap();
        assert!(text.contains(says), "{text}");
        if key != &live {
            assert!(!text.contains("Revoke it"), "{text}");
        }
    }

    // Not verified: a warning, "check it", under the rule's own id.
    let r = git_scan(&repo, "sarif", &[]);
    let doc = r.json();
    for res in doc["runs"][0]["results"].as_array().unwrap() {
        assert_eq!(res["level"], "warning", "{res}");
        assert_eq!(res["ruleId"], "sendgrid-api-key", "{res}");
        assert!(
            res["message"]["text"]
                .as_str()
                .unwrap()
                .contains("It was not verified")
        );
    }
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules.iter().all(|r| !r["id"].as_str().unwrap().contains('/')),
        "only the rules results use"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. The Action's log
// ---------------------------------------------------------------------------------------------

/// `sgscan ci` as the Action runs it on GitHub: GITHUB_ACTIONS set, no event (the whole history).
fn ci_on_github(repo: &Repo, summary: &Path, extra: &[&str]) -> Run {
    let mut cmd = sgscan(&repo.path);
    cmd.env("NO_COLOR", "1")
        .env_remove("GITHUB_EVENT_NAME")
        .env_remove("CI_PIPELINE_SOURCE")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary)
        .args(["ci", "."])
        .args(extra);
    run(&mut cmd)
}

#[test]
fn ci_on_github_actions_annotates_each_location_and_writes_a_job_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(0x22_08);
    let (here, old) = (g.key(), g.key());
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("old.env", &env_line(&old));
    repo.commit("old");
    repo.git(&["rm", "-q", "old.env"]);
    repo.write("conf/a:b,c.env", &format!("# x\n{}", env_line(&here)));
    let head = repo.commit("new");
    let summary = tmp.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();

    let r = ci_on_github(&repo, &summary, &["--format", "sarif", "--output", "out.sarif"]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&here, &old]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one annotation per location:\n{r}");
    let at_head = lines
        .iter()
        .find(|l| l.contains(&id(&here)))
        .expect("an annotation for the key in HEAD");
    assert!(
        at_head.starts_with(
            "::error file=conf/a%3Ab%2Cc.env,line=2,col=18,title=SendGrid API key (not verified)::SendGrid API key SG."
        ),
        "{at_head}"
    );
    let old_line = lines.iter().find(|l| l.contains(&id(&old))).unwrap();
    assert!(
        old_line.starts_with("::error title="),
        "no file for a line HEAD does not have: {old_line}"
    );
    let first = repo.rev(&format!("{head}~1"));
    assert!(
        old_line.contains(&format!("in commit {}", &first[..12])),
        "{old_line}"
    );
    assert!(old_line.contains("only in history"), "{old_line}");

    let written = std::fs::read_to_string(&summary).unwrap();
    assert_no_key(&written, "the job summary", &[&here, &old]);
    assert!(
        written.starts_with("earlier step\n## sgscan\n"),
        "appended:\n{written}"
    );
    assert!(
        written.contains("| key | key id | status | where | next |"),
        "{written}"
    );
    // Punctuation from outside is escaped: no link, image, tag or cell can start in a path.
    assert!(
        written.contains(&format!(
            "| {} | not verified | conf\\/a\\:b\\,c\\.env\\:2 |",
            id(&here).replace('-', "\\-").replace('_', "\\_")
        )),
        "{written}"
    );

    // A summary path planted as a link is not written through.
    let target = tmp.path().join("victim");
    std::fs::write(&target, "keep\n").unwrap();
    let link = tmp.path().join("link.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = ci_on_github(&repo, &link, &["--format", "sarif", "--output", "out.sarif"]);
    r.expect_code(1);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(r.stderr.contains("cannot write the job summary"), "{r}");

    // Off GitHub Actions: no annotation, and a report on standard output stays whole.
    let mut cmd = sgscan(&repo.path);
    cmd.env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_EVENT_NAME")
        .args(["ci", ".", "-f", "json"]);
    let r = run(&mut cmd);
    assert!(!r.all().contains("::error"), "{r}");
    let _ = r.json();
}

#[test]
fn the_action_uploads_with_v4_and_the_scan_decides_the_step() {
    let action = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap();
    assert!(
        action.contains("uses: github/codeql-action/upload-sarif@v4"),
        "{action}"
    );
    assert!(!action.contains("upload-sarif@v3"));
    let upload = action
        .split("\n    - ")
        .find(|s| s.contains("upload-sarif@"))
        .unwrap();
    assert!(upload.contains("continue-on-error: true"), "{upload}");
    let last = action.split("\n    - ").last().unwrap();
    assert!(
        last.contains("exit \"$CODE\"") && last.contains("steps.scan.outputs.exit-code"),
        "{last}"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Committed long ago, and never committed
// ---------------------------------------------------------------------------------------------

#[test]
fn hook_on_a_file_committed_long_ago_says_so_and_advises_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(0x22_09).key();
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("config/.env", &env_line(&key));
    repo.write("README.md", "app\n");
    repo.commit("long ago");

    // `pre-commit run --all-files`: every tracked file, nothing staged.
    let r = scan(&repo.path, &["staged", "--files", "config/.env", "README.md"]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&key]);
    assert!(
        r.stderr
            .contains("1 key in a file committed already: config/.env holds a key"),
        "{r}"
    );
    assert!(r.stderr.contains("Rotate it"), "{r}");
    assert!(!r.stderr.contains("commit blocked"), "{r}");
    assert!(!r.stderr.contains("git restore --staged"), "{r}");

    // A staged key is still a blocked commit.
    let new = KeyGen::new(0x22_19).key();
    repo.write("new.env", &env_line(&new));
    repo.git(&["add", "new.env"]);
    let r = scan(&repo.path, &["staged", "--files", "new.env", "config/.env"]);
    r.expect_code(1);
    assert!(r.stderr.contains("commit blocked: 1 staged key"), "{r}");
    assert!(r.stderr.contains("1 key in a file committed already"), "{r}");
}

#[test]
fn a_blob_staged_and_never_committed_is_called_so_with_its_path_while_staged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(0x22_29);
    let (unstaged, staged) = (g.key(), g.key());
    let repo = Repo::init(&tmp.path().join("r"));
    repo.write("README.md", "app\n");
    repo.commit("init");
    // Staged, blocked by the hook, unstaged: only the object store has it.
    repo.write("drop.env", &env_line(&unstaged));
    repo.git(&["add", "drop.env"]);
    repo.git(&["restore", "--staged", "drop.env"]);
    std::fs::remove_file(repo.path.join("drop.env")).unwrap();
    // Staged and not committed yet.
    repo.write("config/.env", &env_line(&staged));
    repo.git(&["add", "config/.env"]);

    let r = git_scan(&repo, "json", &[]);
    r.expect_code(1);
    let doc = r.json();
    let loc = location(&doc, &unstaged);
    assert!(
        loc["path"].as_str().unwrap().starts_with("(unreachable blob "),
        "{loc}"
    );
    assert_eq!(loc["reachable"], false);
    let loc = location(&doc, &staged);
    assert_eq!(loc["path"], "config/.env", "the index names it: {loc}");
    assert!(loc.get("commit").is_none());

    let r = git_scan(&repo, "human", &[]);
    assert_run_leaks_nothing(&r, &[&unstaged, &staged]);
    let b = key_block(&r, &unstaged);
    assert!(
        b.contains("never committed: a blob `git add` wrote, staged once and unstaged"),
        "{b}"
    );
    assert!(
        !b.contains("exposed once pushed") && !b.contains("amended or rebased"),
        "{b}"
    );
    let b = key_block(&r, &staged);
    assert!(
        b.contains("never committed: a blob `git add` wrote, staged at config/.env and not committed"),
        "{b}"
    );

    let r = git_scan(&repo, "sarif", &[]);
    for res in r.json()["runs"][0]["results"].as_array().unwrap() {
        assert!(
            res["locations"][0]["physicalLocation"].get("region").is_none(),
            "{res}"
        );
        assert!(
            res["message"]["text"]
                .as_str()
                .unwrap()
                .contains("staged and never committed"),
            "{res}"
        );
    }
}
