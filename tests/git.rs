//! Integration tests of the git modes (`sgscan git`, `sgscan staged`, `sgscan install-hook`): each
//! builds real repositories with the `git` CLI in a temporary directory and drives the built binary.
//! Keys are generated at run time (see `util::KeyGen`); no key literal is written here.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::git::{AUTHOR_EMAIL, AUTHOR_NAME, Repo, check, git_command};
use crate::util::{
    KeyGen, Run, env_line, finding, findings, fp, fps, has_note, notes, run, scan, set, sgscan, summary,
};
use serde_json::Value;

const ZEROS: &str = "0000000000000000000000000000000000000000";

/// `sgscan git -q -f json REPO EXTRA...`, run from `cwd`.
pub(crate) fn scan_git(cwd: &Path, repo: &Path, extra: &[&str]) -> Run {
    let repo = repo.to_str().unwrap();
    let mut args = vec!["git", "-q", "-f", "json", repo];
    args.extend_from_slice(extra);
    scan(cwd, &args)
}

/// `sgscan staged -f json REPO`, run from `cwd`.
fn scan_staged(cwd: &Path, repo: &Path) -> Run {
    scan(cwd, &["staged", "-f", "json", repo.to_str().unwrap()])
}

// sgscan git: where keys hide

sgtest!(git_key_added_then_deleted_is_found_in_its_commit, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let (key, id, _) = KeyGen::new(1).parts();
    repo.write("README.md", "# app\n");
    repo.write("config/app.env", &format!("# mail\n{}", env_line(&key)));
    repo.git(&["add", "-A"]);
    // An author date in another time zone, and a committer who is not the author.
    check(
        repo.run(
            &[("GIT_AUTHOR_DATE", "1700000000 +0130")],
            &["commit", "-q", "-m", "add config"],
        ),
        "commit",
    );
    let c1 = repo.head();
    std::fs::remove_file(repo.path.join("config/app.env")).unwrap();
    let c2 = repo.commit("remove config");
    assert_ne!(c1, c2);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 1);
    assert_eq!(summary(&doc, "locations"), 1);
    assert_eq!(summary(&doc, "commits_scanned"), 2);
    let f = finding(&doc, &key);
    assert_eq!(f["key_id"], id.as_str());
    assert_eq!(f["redacted"], format!("{}…", &key[..7]).as_str());
    assert_eq!(f["location_count"], 1);
    let loc = &f["locations"][0];
    assert_eq!(loc["path"], "config/app.env");
    assert_eq!(loc["line"], 2);
    assert_eq!(loc["column"], 18);
    assert_eq!(loc["encoding"], "plain");
    assert_eq!(loc["commit"], c1.as_str());
    assert_eq!(loc["author_name"], AUTHOR_NAME);
    assert_eq!(loc["author_email"], AUTHOR_EMAIL);
    assert_eq!(loc["date"], "2023-11-14T23:43:20+01:30");
});

sgtest!(git_key_only_on_an_unmerged_side_branch, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(2).key();
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.git(&["checkout", "-q", "-b", "experiment"]);
    repo.write("mail.env", &env_line(&key));
    let side = repo.commit("try mail");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README.md", "# app v2\n");
    repo.commit("docs");
    assert!(!repo.path.join("mail.env").exists());

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "mail.env");
    assert_eq!(loc["commit"], side.as_str());
});

/// A commit on no branch (detached HEAD), then back to main: only `tag` keeps it.
fn dangling_tagged_commit(repo: &Repo, key: &str, tag: &[&str]) -> String {
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.git(&["checkout", "-q", "--detach"]);
    repo.write("secrets/prod.env", &env_line(key));
    let c = repo.commit("release build");
    repo.git(tag);
    repo.git(&["checkout", "-q", "main"]);
    assert_eq!(
        repo.git(&["branch", "--contains", &c]),
        "",
        "the commit must be on no branch"
    );
    c
}

sgtest!(git_key_only_in_a_lightweight_tag, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(3).key();
    let c = dangling_tagged_commit(&repo, &key, &["tag", "v1.0-light"]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "secrets/prod.env");
    assert_eq!(loc["commit"], c.as_str());
});

sgtest!(git_key_only_in_an_annotated_tag, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(4).key();
    let c = dangling_tagged_commit(&repo, &key, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    assert_eq!(repo.git(&["cat-file", "-t", "v1.0"]), "tag");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "secrets/prod.env");
    assert_eq!(loc["commit"], c.as_str());
});

sgtest!(git_key_only_in_the_stash, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(5).key();
    repo.write("app.env", "SENDGRID_API_KEY=\n");
    repo.commit("init");
    repo.write("app.env", &env_line(&key));
    repo.git(&["stash", "-q"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "app.env");
    assert_eq!(loc["commit"], repo.rev("refs/stash").as_str());
});

sgtest!(git_key_only_in_a_stashed_untracked_file, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(6).key();
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("local.env", &env_line(&key));
    repo.git(&["stash", "-q", "-u"]);
    assert!(!repo.path.join("local.env").exists());

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(finding(&doc, &key)["locations"][0]["path"], "local.env");
});

sgtest!(git_key_only_in_an_older_stash_entry, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(7).key();
    repo.write("app.env", "SENDGRID_API_KEY=\n");
    repo.commit("init");
    repo.write("app.env", &env_line(&key));
    repo.git(&["stash", "-q"]);
    // A second stash: the first is now stash@{1}, kept only by the reflog of refs/stash.
    repo.write("app.env", "SENDGRID_API_KEY=\nDEBUG=1\n");
    repo.git(&["stash", "-q"]);
    assert_eq!(repo.git(&["stash", "list"]).lines().count(), 2);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(
        finding(&doc, &key)["locations"][0]["commit"],
        repo.rev("stash@{1}").as_str()
    );
});

sgtest!(git_key_only_in_a_git_note, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(32).key();
    repo.write("README.md", "# app\n");
    let c = repo.commit("init");
    repo.git(&["notes", "add", "-m", &format!("deployed with {key}"), "HEAD"]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    // A note is a blob named after the commit it annotates, in the notes ref's own commit.
    assert_eq!(loc["path"], c.as_str());
    assert_eq!(loc["commit"], repo.rev("refs/notes/commits").as_str());
});

sgtest!(git_key_only_on_a_linked_worktrees_detached_head, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(33).key();
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.git(&["worktree", "add", "-q", "--detach", "../wt"]);
    let wt = Repo::open(&dir.root().join("wt"));
    wt.write("wt.env", &env_line(&key));
    let c = wt.commit("work in progress");
    // git counts that HEAD as reachable (rev-list --all, gc keep it).
    assert!(repo.git(&["rev-list", "--all"]).lines().any(|l| l == c));

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(finding(&doc, &key)["locations"][0]["commit"], c.as_str());
});

sgtest!(git_key_in_a_merge_conflict_resolution, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(8).key();
    repo.write("conf.txt", "mode=a\n");
    repo.commit("init");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("conf.txt", "mode=b\n");
    let side = repo.commit("side: mode b");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("conf.txt", "mode=c\n");
    let base = repo.commit("main: mode c");
    let merge = repo.run(&[], &["merge", "-q", "side"]);
    assert!(!merge.status.success(), "the merge must conflict");
    repo.write("conf.txt", &format!("mode=b\n{}", env_line(&key)));
    repo.git(&["add", "conf.txt"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    let m = repo.head();
    assert_eq!(repo.rev("HEAD^2"), side);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "conf.txt");
    assert_eq!(loc["line"], 2);
    assert_eq!(loc["commit"], m.as_str());

    // The range of the push that merged `side`: the side commit and the merge.
    let range = format!("{base}..{m}");
    let run = scan_git(dir.root(), &repo.path, &["--range", &range]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(summary(&doc, "commits_scanned"), 2);
    assert_eq!(finding(&doc, &key)["locations"][0]["commit"], m.as_str());
});

// sgscan git: each blob once

sgtest!(git_renamed_file_is_one_finding_and_one_blob, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(9).key();
    repo.write("README.md", "# app\n");
    repo.write("a.env", &env_line(&key));
    let c1 = repo.commit("add a.env");
    repo.git(&["mv", "a.env", "b.env"]);
    repo.commit("rename to b.env");
    std::fs::create_dir(repo.path.join("deploy")).unwrap();
    repo.git(&["mv", "b.env", "deploy/c.env"]);
    repo.commit("move to deploy/");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 1);
    let f = finding(&doc, &key);
    assert_eq!(f["location_count"], 1);
    assert_eq!(f["locations"][0]["path"], "a.env");
    assert_eq!(f["locations"][0]["commit"], c1.as_str());
    let blobs = repo.distinct_blobs();
    assert_eq!(blobs, 2);
    assert_eq!(summary(&doc, "blobs_scanned"), blobs);
    assert_eq!(summary(&doc, "commits_scanned"), 3);
});

sgtest!(git_same_blob_in_100_commits_is_scanned_once, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(10).key();
    repo.write("mail.env", &env_line(&key));
    repo.write("counter.txt", "0\n");
    let c1 = repo.commit("add mail.env");
    for i in 1..100 {
        repo.write("counter.txt", &format!("{i}\n"));
        repo.git(&["commit", "-q", "-a", "-m", &format!("bump {i}")]);
    }
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]), "100");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 1);
    assert_eq!(summary(&doc, "locations"), 1);
    assert_eq!(summary(&doc, "commits_scanned"), 100);
    let blobs = repo.distinct_blobs();
    assert_eq!(blobs, 101, "mail.env + 100 versions of counter.txt");
    assert_eq!(summary(&doc, "blobs_scanned"), blobs);
    let f = finding(&doc, &key);
    assert_eq!(f["location_count"], 1);
    assert_eq!(f["locations"][0]["commit"], c1.as_str());
});

sgtest!(git_key_in_a_commit_message, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(11).key();
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("README.md", "# app\nmail via sendgrid\n");
    let c = repo.commit(&format!("Configure mailer\n\nold key was {key}\n"));

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(summary(&doc, "commits_scanned"), 2);
    let f = finding(&doc, &key);
    assert_eq!(f["location_count"], 1);
    let loc = &f["locations"][0];
    assert_eq!(loc["path"], "(commit message)");
    assert_eq!(loc["commit"], c.as_str());
    assert_eq!(loc["line"], 3);
    assert_eq!(loc["column"], 13);
    assert_eq!(loc["author_name"], AUTHOR_NAME);
    assert_eq!(loc["author_email"], AUTHOR_EMAIL);
});

// sgscan git: kinds of repositories

sgtest!(git_bare_clone_finds_the_same_fingerprints, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("src"));
    let mut keys = KeyGen::new(12);
    let (k1, k2, k3) = (keys.key(), keys.key(), keys.key());
    repo.write("a.env", &env_line(&k1));
    repo.commit("add a");
    std::fs::remove_file(repo.path.join("a.env")).unwrap();
    repo.commit("remove a");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("b.env", &env_line(&k2));
    repo.commit("add b");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.txt", &format!("token: {k3}\n"));
    repo.commit("add c");
    let bare = dir.root().join("bare.git");
    check(
        git_command(dir.root())
            .args(["clone", "-q", "--bare", "src", "bare.git"])
            .output()
            .unwrap(),
        "clone --bare",
    );
    assert!(bare.join("HEAD").is_file() && !bare.join(".git").exists());

    let work = scan_git(dir.root(), &repo.path, &[]);
    work.expect_code(1);
    let bare_run = scan_git(dir.root(), &bare, &[]);
    bare_run.expect_code(1);
    let (w, b) = (work.json(), bare_run.json());
    assert_eq!(fps(&w), set(&[&k1, &k2, &k3]));
    assert_eq!(fps(&b), fps(&w));
    for k in [&k1, &k2, &k3] {
        assert_eq!(finding(&b, k)["locations"], finding(&w, k)["locations"]);
    }
    // The same from inside the bare repository, with the default path.
    let inside = scan(&bare, &["git", "-q", "-f", "json"]);
    inside.expect_code(1);
    assert_eq!(fps(&inside.json()), fps(&w));
});

/// src: commit 1 adds old.env (key 1); commit 2 removes it and adds new.env (key 2).
fn shallow_pair(tmp: &Path, k1: &str, k2: &str) -> (Repo, Repo) {
    let src = Repo::init(&tmp.join("src"));
    src.write("old.env", &env_line(k1));
    src.commit("old");
    std::fs::remove_file(src.path.join("old.env")).unwrap();
    src.write("new.env", &env_line(k2));
    src.commit("new");
    let url = format!("file://{}", src.path.display());
    check(
        git_command(tmp)
            .args(["clone", "-q", "--depth", "1", &url, "shallow"])
            .output()
            .unwrap(),
        "clone --depth 1",
    );
    let shallow = Repo::open(&tmp.join("shallow"));
    assert_eq!(shallow.git(&["rev-parse", "--is-shallow-repository"]), "true");
    (src, shallow)
}

sgtest!(git_shallow_clone_scans_what_it_has_and_says_so, |dir, cmd| {
    let mut keys = KeyGen::new(13);
    let (k1, k2) = (keys.key(), keys.key());
    let (src, shallow) = shallow_pair(dir.root(), &k1, &k2);

    let run = scan_git(dir.root(), &shallow.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&k2]));
    assert_eq!(summary(&doc, "commits_scanned"), 1);
    assert!(has_note(&doc, "shallow"), "notes: {:?}", notes(&doc));
    assert_eq!(finding(&doc, &k2)["locations"][0]["commit"], src.head().as_str());
    // A shallow boundary is a normal state, not an unreadable object.
    assert_eq!(doc["skipped"], serde_json::json!([]));

    // And a clean shallow clone exits 0, still with the note.
    let clean = Repo::init(&dir.root().join("clean-src"));
    clean.write("README.md", "# a\n");
    clean.commit("one");
    clean.write("README.md", "# b\n");
    clean.commit("two");
    let url = format!("file://{}", clean.path.display());
    check(
        git_command(dir.root())
            .args(["clone", "-q", "--depth", "1", &url, "clean-shallow"])
            .output()
            .unwrap(),
        "clone --depth 1",
    );
    let run = scan_git(dir.root(), &dir.root().join("clean-shallow"), &[]);
    run.expect_code(0);
    assert!(has_note(&run.json(), "shallow"));
});

sgtest!(git_not_a_repository_is_a_one_line_error, |dir, cmd| {
    let plain = dir.root().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("a.env"), env_line(&KeyGen::new(14).key())).unwrap();

    let run = scan_git(dir.root(), &plain, &[]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("sgscan: error:"), "{}", run.stderr);
    assert!(run.stderr.contains("not a git repository"), "{}", run.stderr);

    let run = scan_git(dir.root(), &dir.root().join("missing"), &[]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("sgscan: error:"), "{}", run.stderr);
});

/// `sgscan ARGS` in `cwd` with no CI event data but `envs`.
fn ci_run(cwd: &Path, envs: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = sgscan(cwd);
    cmd.env("NO_COLOR", "1").args(args);
    for v in [
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_REF",
        "CI_PIPELINE_SOURCE",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Every command that reads a repository's refs (and `install-hook`) fails on `path` with exit 2
/// and one line naming what is not supported.
fn refused_everywhere(cwd: &Path, path: &Path, message: &str) {
    let p = path.to_str().unwrap();
    let runs = [
        ("git", scan(cwd, &["git", "-q", p])),
        (
            "git --range",
            scan(cwd, &["git", "-q", p, "--range", "HEAD~1..HEAD"]),
        ),
        ("staged", scan(cwd, &["staged", p])),
        ("ci", ci_run(cwd, &[], &["ci", "-q", p])),
        // The hook it would install runs `staged`, which would block every commit.
        ("install-hook", scan(cwd, &["install-hook", p])),
    ];
    for (what, run) in runs {
        run.expect_code(2);
        assert_eq!(run.stdout, "", "{what}");
        let last = run.stderr.trim_end().lines().last().unwrap_or("").to_string();
        assert_eq!(last, format!("sgscan: error: {message}: {p}"), "{what}: {run}");
        assert!(!run.stderr.contains("HEAD"), "{what}: {run}");
    }
}

sgtest!(git_reftable_repository_is_refused_in_one_line, |dir, cmd| {
    let mut keys = KeyGen::new(2101);
    let path = dir.root().join("r");
    std::fs::create_dir_all(&path).unwrap();
    let repo = Repo::open(&path);
    // git 2.45 and later write reftable; with an older git the configuration that says so is
    // written by hand, which is what sgscan reads.
    let reftable = repo
        .run(&[], &["init", "-q", "--ref-format=reftable"])
        .status
        .success();
    if !reftable {
        repo.git(&["init", "-q"]);
    }
    repo.write("a.env", &env_line(&keys.key()));
    repo.commit("one");
    repo.write("b.txt", "b\n");
    repo.commit("two");
    if !reftable {
        let config = repo.path.join(".git/config");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("repositoryformatversion = 0", "repositoryformatversion = 1");
        std::fs::write(&config, text + "[extensions]\n\trefStorage = reftable\n").unwrap();
    }
    refused_everywhere(dir.root(), &path, "reftable refs are not supported");
    assert!(!path.join(".git/hooks/pre-commit").exists());

    // Among several repositories: that one is recorded, the others swept.
    let other = Repo::init(&dir.root().join("other"));
    let key = keys.key();
    other.write("c.env", &env_line(&key));
    other.commit("c");
    let run = scan(
        dir.root(),
        &[
            "git",
            "-q",
            "-f",
            "json",
            path.to_str().unwrap(),
            other.path.to_str().unwrap(),
        ],
    );
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let reason = skip_of(&doc, path.to_str().unwrap())["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("reftable refs are not supported"), "{reason}");
});

sgtest!(git_sha256_repository_is_read_by_every_command, |dir, cmd| {
    let mut keys = KeyGen::new(2102);
    let (old, staged) = (keys.key(), keys.key());
    let path = dir.root().join("r");
    std::fs::create_dir_all(&path).unwrap();
    let repo = Repo::open(&path);
    repo.git(&["init", "-q", "--object-format=sha256"]);
    repo.write("README.md", "# app\n");
    let c0 = repo.commit("init");
    assert_eq!(c0.len(), 64, "a SHA-256 id");
    repo.write("mail.env", &env_line(&old));
    let c1 = repo.commit(&format!("add mail\n\nkey {old}\n"));
    std::fs::remove_file(repo.path.join("mail.env")).unwrap();
    let c2 = repo.commit("remove mail");
    let p = path.to_str().unwrap();

    let check_old = |run: &Run, what: &str| {
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&old]), "{what}");
        let f = finding(&doc, &old);
        let paths: BTreeSet<(String, String)> = f["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["path"].as_str().unwrap().to_string(),
                    l["commit"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String)> = [("mail.env", &c1), ("(commit message)", &c1)]
            .into_iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        assert_eq!(paths, want, "{what}");
        f["locations"][0]["reachable"] != false
    };
    // A sweep that read no ref would call the key unreachable.
    assert!(check_old(&scan_git(dir.root(), &path, &[]), "git"));
    repo.git(&["gc", "-q"]);
    assert!(check_old(&scan_git(dir.root(), &path, &[]), "git (packed)"));
    check_old(
        &scan_git(dir.root(), &path, &["--range", &format!("{c0}..{c2}")]),
        "git --range",
    );
    let event = dir.root().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({ "before": c0, "after": c2, "ref": "refs/heads/main" }).to_string(),
    )
    .unwrap();
    let ci = ci_run(
        dir.root(),
        &[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ],
        &["ci", "-q", "-f", "json", p],
    );
    check_old(&ci, "ci");

    repo.write("new.env", &env_line(&staged));
    repo.git(&["add", "new.env"]);
    let run = scan_staged(dir.root(), &path);
    run.expect_code(1);
    assert_eq!(fps(&run.json()), set(&[&staged]));
});

sgtest!(git_repository_without_commits, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    // Staged but never committed: no commit has it, but `git add` wrote it to the object store,
    // which the sweep reads whole. It is reported as an object no ref reaches, at the path the
    // index stages it at.
    let key = KeyGen::new(15).key();
    repo.write("a.env", &env_line(&key));
    repo.git(&["add", "a.env"]);
    let blob = repo.rev(":a.env");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert!(has_note(&doc, "no commits"), "notes: {:?}", notes(&doc));
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &doc["findings"][0]["locations"][0];
    assert_eq!(loc["reachable"], false, "{loc}");
    assert_eq!(loc["blob"], blob.as_str(), "{loc}");
    assert_eq!(loc["path"], "a.env", "{loc}");
    assert!(loc.get("commit").is_none(), "{loc}");
    assert_eq!(summary(&doc, "commits_scanned"), 0);
    assert_eq!(summary(&doc, "blobs_scanned"), 1);
});

sgtest!(git_missing_blob_is_skipped_and_the_rest_reported, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(16);
    let (k1, k2) = (keys.key(), keys.key());
    repo.write("a.env", &env_line(&k1));
    repo.write("b.env", &env_line(&k2));
    repo.commit("add");
    let blob = repo.rev("HEAD:b.env");
    let loose = repo.path.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    assert!(loose.is_file(), "objects must be loose (no gc)");
    std::fs::remove_file(&loose).unwrap();

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&k1]));
    assert_eq!(summary(&doc, "skipped"), 1);
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    let s = &skipped[0];
    assert!(s["path"].as_str().unwrap().starts_with("b.env"), "skipped: {s}");
    assert!(s["reason"].as_str().unwrap().contains(&blob), "skipped: {s}");
});

sgtest!(git_submodules_are_noted_not_followed, |dir, cmd| {
    let lib = Repo::init(&dir.root().join("lib"));
    lib.write("lib.env", &env_line(&KeyGen::new(17).key()));
    lib.commit("lib");
    let repo = Repo::init(&dir.root().join("r"));
    repo.write("README.md", "# app\n");
    repo.commit("init");
    let lib_path = lib.path.to_str().unwrap().to_string();
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &lib_path,
        "vendor/lib",
    ]);
    repo.commit("add submodule");
    assert_eq!(
        repo.git(&["ls-tree", "HEAD", "vendor/lib"]).split(' ').nth(1),
        Some("commit")
    );

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 0);
    let n = notes(&doc);
    assert!(
        n.iter()
            .any(|n| n.contains("submodules are not followed") && n.contains("vendor/lib")),
        "notes: {n:?}"
    );
});

sgtest!(git_submodules_flag_follows_cloned_submodules, |dir, cmd| {
    let key = KeyGen::new(18).key();
    let lib = Repo::init(&dir.root().join("lib"));
    lib.write("conf/lib.env", &env_line(&key));
    let lib_commit = lib.commit("lib");
    let repo = Repo::init(&dir.root().join("r"));
    repo.write("README.md", "# app\n");
    repo.commit("init");
    let lib_path = lib.path.to_str().unwrap().to_string();
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &lib_path,
        "vendor/lib",
    ]);
    repo.commit("add submodule");

    let run = scan_git(dir.root(), &repo.path, &["--submodules"]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "vendor/lib/conf/lib.env");
    assert_eq!(loc["commit"], lib_commit.as_str());
    assert!(
        !has_note(&doc, "submodules are not followed"),
        "notes: {:?}",
        notes(&doc)
    );
});

sgtest!(git_lfs_pointers_are_noted, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let pointer = |oid: char, size: u32| {
        format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {size}\n",
            oid.to_string().repeat(64)
        )
    };
    repo.write(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n");
    repo.write("assets/model.bin", &pointer('a', 1234));
    repo.write("assets/data.bin", &pointer('b', 99));
    repo.commit("lfs");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(0);
    let doc = run.json();
    let n = notes(&doc);
    assert!(
        n.iter().any(|n| n.starts_with("2 Git LFS pointer")),
        "notes: {n:?}"
    );
});

// sgscan git --range

sgtest!(git_range_scans_only_what_the_range_introduces, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(18);
    let (old, new, old_msg, new_msg) = (keys.key(), keys.key(), keys.key(), keys.key());
    repo.write("old.env", &env_line(&old));
    repo.commit(&format!("old\n\nkey {old_msg}\n"));
    repo.write("README.md", "# app\n");
    let base = repo.commit("docs");
    repo.write("new.env", &env_line(&new));
    let c3 = repo.commit(&format!("new\n\nkey {new_msg}\n"));
    repo.write("README.md", "# app v2\n");
    repo.commit("docs v2");

    let range = format!("{base}..HEAD");
    let run = scan_git(dir.root(), &repo.path, &["--range", &range]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new, &new_msg]));
    assert_eq!(summary(&doc, "commits_scanned"), 2);
    // new.env and README.md v2: old.env and README.md v1 were there before BASE.
    assert_eq!(summary(&doc, "blobs_scanned"), 2);
    let loc = &finding(&doc, &new)["locations"][0];
    assert_eq!(loc["path"], "new.env");
    assert_eq!(loc["commit"], c3.as_str());

    // Branch names work as well; an empty range is clean.
    let run = scan_git(dir.root(), &repo.path, &["--range", "HEAD..main"]);
    run.expect_code(0);
    assert_eq!(summary(&run.json(), "commits_scanned"), 0);
});

sgtest!(
    git_range_with_zero_base_scans_what_no_other_ref_has,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keys = KeyGen::new(19);
        let (k_main, k_feature) = (keys.key(), keys.key());
        repo.write("main.env", &env_line(&k_main));
        repo.commit("main");
        repo.git(&["checkout", "-q", "-b", "feature"]);
        repo.write("feature.env", &env_line(&k_feature));
        let f1 = repo.commit("feature 1");
        repo.write("README.md", "# feature\n");
        repo.commit("feature 2");
        repo.git(&["checkout", "-q", "main"]);

        let range = format!("{ZEROS}..feature");
        let run = scan_git(dir.root(), &repo.path, &["--range", &range]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&k_feature]));
        assert_eq!(summary(&doc, "commits_scanned"), 2);
        assert_eq!(finding(&doc, &k_feature)["locations"][0]["commit"], f1.as_str());
    }
);

sgtest!(
    git_range_on_a_shallow_clone_needs_history_or_shallow_ok,
    |dir, cmd| {
        let mut keys = KeyGen::new(20);
        let (k1, k2) = (keys.key(), keys.key());
        let (src, shallow) = shallow_pair(dir.root(), &k1, &k2);
        let base = src.rev("HEAD~1");

        let range = format!("{base}..HEAD");
        let run = scan_git(dir.root(), &shallow.path, &["--range", &range]);
        run.expect_code(2);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("fetch-depth: 0"), "{}", run.stderr);
        assert!(run.stderr.contains("--shallow-ok"), "{}", run.stderr);

        let run = scan_git(dir.root(), &shallow.path, &["--range", &range, "--shallow-ok"]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&k2]));
        assert!(has_note(&doc, "shallow"), "notes: {:?}", notes(&doc));
        assert!(has_note(&doc, "not in this clone"), "notes: {:?}", notes(&doc));
    }
);

// sgscan git: allowing known findings

sgtest!(git_sgscanignore_at_the_repository_root, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(21).key();
    repo.write("test/fixture.env", &env_line(&key));
    repo.commit("fixture");
    let first = scan_git(dir.root(), &repo.path, &[]);
    first.expect_code(1);
    let fingerprint = first.json()["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint, fp(&key));

    repo.write(
        ".sgscanignore",
        &format!("# test fixture, revoked\n{fingerprint}\n"),
    );
    // From outside the repository, naming it...
    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 0);
    assert_eq!(summary(&doc, "allowed"), 1);
    // ...and from a subdirectory, with the default path.
    let sub = repo.path.join("test");
    let run = scan(&sub, &["git", "-q", "-f", "json"]);
    run.expect_code(0);
    assert_eq!(summary(&run.json(), "allowed"), 1);
});

sgtest!(git_baseline_hides_old_findings_only, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(22);
    let (old, new) = (keys.key(), keys.key());
    repo.write("old.env", &env_line(&old));
    repo.commit("old");
    let first = scan(
        dir.root(),
        &[
            "git",
            "-q",
            "-f",
            "json",
            "-o",
            "old.json",
            repo.path.to_str().unwrap(),
        ],
    );
    first.expect_code(1);
    assert_eq!(first.stdout, "");
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.root().join("old.json")).unwrap()).unwrap();
    assert_eq!(fps(&baseline), set(&[&old]));

    repo.write("new.env", &env_line(&new));
    repo.commit("new");
    let run = scan_git(dir.root(), &repo.path, &["--baseline", "old.json"]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&new]));
    assert_eq!(summary(&doc, "allowed"), 1);
});

sgtest!(git_inline_allow_marker, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(23);
    let (allowed, leaked) = (keys.key(), keys.key());
    repo.write(
        "docs/setup.md",
        &format!("export SENDGRID_API_KEY={allowed}  # sgscan:allow revoked demo key\nother={leaked}\n"),
    );
    repo.commit("docs");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&leaked]));
    assert_eq!(finding(&doc, &leaked)["locations"][0]["line"], 2);
    // A key seen only on marked lines counts as allowed (issue #14), as an ignore-file entry does.
    assert_eq!(summary(&doc, "allowed"), 1);
});

// sgscan staged

/// A repository with one commit of harmless files in a few directories.
fn staged_repo(tmp: &Path) -> Repo {
    let repo = Repo::init(&tmp.join("r"));
    repo.write("README.md", "# app\n");
    repo.write("src/main.rs", "fn main() {}\n");
    repo.write("src/mail/mod.rs", "// mail\n");
    repo.write("config/app.toml", "debug = false\n");
    repo.commit("init");
    repo
}

sgtest!(staged_key_blocks_with_advice, |dir, cmd| {
    let repo = staged_repo(dir.root());
    let (key, id, _) = KeyGen::new(24).parts();
    repo.write("config/.env", &format!("DEBUG=1\n{}", env_line(&key)));
    repo.git(&["add", "config/.env"]);

    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let f = finding(&doc, &key);
    assert_eq!(f["key_id"], id.as_str());
    let loc = &f["locations"][0];
    assert_eq!(loc["path"], "config/.env");
    assert_eq!(loc["line"], 2);
    assert_eq!(loc["column"], 18);
    assert!(loc.get("commit").is_none(), "a staged blob has no commit");
    for needle in ["git restore --staged", "sgscan:allow", ".sgscanignore"] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
});

sgtest!(staged_ignores_unstaged_working_tree_changes, |dir, cmd| {
    let repo = staged_repo(dir.root());
    repo.write(
        "config/app.toml",
        &format!("debug = false\nsendgrid = \"{}\"\n", KeyGen::new(25).key()),
    );
    assert_eq!(repo.git(&["diff", "--cached", "--name-only"]), "");

    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 0);
    assert_eq!(summary(&doc, "blobs_scanned"), 0);
    assert_eq!(run.stderr, "");
});

sgtest!(staged_ignores_keys_committed_earlier, |dir, cmd| {
    let repo = staged_repo(dir.root());
    repo.write("config/.env", &env_line(&KeyGen::new(26).key()));
    repo.commit("oops");
    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(0);
    assert_eq!(summary(&run.json(), "blobs_scanned"), 0);

    // Staging an unrelated change does not bring the committed key back.
    repo.write("README.md", "# app v2\n");
    repo.git(&["add", "README.md"]);
    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(summary(&doc, "keys"), 0);
    assert_eq!(summary(&doc, "blobs_scanned"), 1);
});

sgtest!(staged_first_commit_on_an_unborn_branch, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(27).key();
    repo.write("README.md", "# app\n");
    repo.write("deploy/prod.env", &env_line(&key));
    repo.git(&["add", "-A"]);
    assert!(repo.run(&[], &["rev-parse", "--verify", "HEAD"]).status.code() != Some(0));

    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(finding(&doc, &key)["locations"][0]["path"], "deploy/prod.env");
    assert_eq!(summary(&doc, "blobs_scanned"), 2);
});

sgtest!(staged_scans_only_files_that_differ_from_head, |dir, cmd| {
    let repo = staged_repo(dir.root());
    let key = KeyGen::new(28).key();
    // Two staged changes: a modified file deep in src/ and a new file at the top.
    repo.write(
        "src/mail/mod.rs",
        &format!("// mail\nconst K: &str = \"{key}\";\n"),
    );
    repo.write("NOTES.txt", "notes\n");
    repo.git(&["add", "-A"]);
    // Re-adding unchanged files stages nothing new.
    repo.git(&["add", "README.md", "src/main.rs", "config/app.toml"]);
    let changed = repo.git(&["diff", "--cached", "--name-only"]);
    assert_eq!(changed.lines().count(), 2, "{changed}");

    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(summary(&doc, "blobs_scanned"), 2);
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "src/mail/mod.rs");
    assert_eq!(loc["line"], 2);
});

sgtest!(staged_in_a_fresh_repository_without_an_index, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    assert!(!repo.path.join(".git/index").exists());
    let run = scan_staged(dir.root(), &repo.path);
    run.expect_code(0);
    assert_eq!(summary(&run.json(), "blobs_scanned"), 0);
});

// sgscan install-hook, and the hook in real commits

fn hook_path(repo: &Repo) -> PathBuf {
    repo.path.join(".git/hooks/pre-commit")
}

fn install_hook(repo: &Repo, extra: &[&str]) -> Run {
    let mut args = vec!["install-hook", repo.path.to_str().unwrap()];
    args.extend_from_slice(extra);
    scan(repo.path.parent().unwrap(), &args)
}

sgtest!(install_hook_writes_refuses_then_forces, |dir, cmd| {
    use std::os::unix::fs::PermissionsExt;
    let repo = staged_repo(dir.root());
    let hook = hook_path(&repo);
    assert!(!hook.exists());

    install_hook(&repo, &[]).expect_code(0);
    let script = std::fs::read_to_string(&hook).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains(" staged"), "{script}");
    let exe = env!("CARGO_BIN_EXE_sgscan");
    assert!(script.contains(exe), "the hook must name {exe}: {script}");
    let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");

    let custom = "#!/bin/sh\necho custom\n";
    std::fs::write(&hook, custom).unwrap();
    let again = install_hook(&repo, &[]);
    again.expect_code(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), custom);

    install_hook(&repo, &["--force"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), script);
});

sgtest!(installed_hook_blocks_a_real_commit_with_a_key, |dir, cmd| {
    let repo = staged_repo(dir.root());
    install_hook(&repo, &[]).expect_code(0);
    let before = repo.head();

    let key = KeyGen::new(29).key();
    repo.write("config/.env", &env_line(&key));
    repo.git(&["add", "config/.env"]);
    let out = repo.run(&[], &["commit", "-q", "-m", "add env"]);
    assert!(!out.status.success(), "the commit must be blocked");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("commit blocked"), "{stderr}");
    assert_eq!(repo.head(), before);

    // Unstage the key, stage something harmless: the commit goes through.
    repo.git(&["restore", "--staged", "config/.env"]);
    std::fs::remove_file(repo.path.join("config/.env")).unwrap();
    repo.write("README.md", "# app v2\n");
    repo.git(&["add", "README.md"]);
    let out = repo.run(&[], &["commit", "-q", "-m", "docs"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(repo.head(), before);
});

sgtest!(installed_hook_blocks_commit_all_with_a_key, |dir, cmd| {
    let repo = staged_repo(dir.root());
    install_hook(&repo, &[]).expect_code(0);
    let before = repo.head();

    // `git commit -a` stages tracked changes into a temporary index (GIT_INDEX_FILE) for the hook.
    let key = KeyGen::new(30).key();
    repo.write("config/app.toml", &format!("sendgrid = \"{key}\"\n"));
    let out = repo.run(&[], &["commit", "-q", "-a", "-m", "tune config"]);
    assert!(
        !out.status.success(),
        "`git commit -a` with a key must be blocked"
    );
    assert_eq!(repo.head(), before);

    // Same for `git commit PATH` (an "only" commit through a temporary index).
    let out = repo.run(&[], &["commit", "-q", "-m", "tune config", "config/app.toml"]);
    assert!(
        !out.status.success(),
        "`git commit PATH` with a key must be blocked"
    );
    assert_eq!(repo.head(), before);
});

sgtest!(installed_hook_allows_an_empty_first_commit, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    install_hook(&repo, &[]).expect_code(0);
    let out = repo.run(&[], &["commit", "-q", "--allow-empty", "-m", "init"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]), "1");
});

sgtest!(
    install_hook_from_a_linked_worktree_guards_its_commits,
    |dir, cmd| {
        let repo = staged_repo(dir.root());
        repo.git(&["worktree", "add", "-q", "-b", "wt-branch", "../wt"]);
        let wt = Repo::open(&dir.root().join("wt"));
        install_hook(&wt, &[]).expect_code(0);
        let before = wt.head();

        wt.write("config/.env", &env_line(&KeyGen::new(34).key()));
        wt.git(&["add", "config/.env"]);
        let out = wt.run(&[], &["commit", "-q", "-m", "add env"]);
        assert!(
            !out.status.success(),
            "a commit with a key in the worktree where the hook was installed must be blocked"
        );
        assert_eq!(wt.head(), before);
    }
);

sgtest!(install_hook_with_core_hooks_path, |dir, cmd| {
    let repo = staged_repo(dir.root());
    // What husky and similar tools set up.
    std::fs::create_dir(repo.path.join(".githooks")).unwrap();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    let before = repo.head();

    let run = install_hook(&repo, &[]);
    if run.code == 2 {
        // Refusing is fine, if it says why.
        assert!(run.stderr.contains("hooksPath"), "{}", run.stderr);
        return;
    }
    run.expect_code(0);
    repo.write("config/.env", &env_line(&KeyGen::new(35).key()));
    repo.git(&["add", "config/.env"]);
    let out = repo.run(&[], &["commit", "-q", "-m", "add env"]);
    assert!(
        !out.status.success(),
        "install-hook succeeded, yet git (core.hooksPath=.githooks) committed a key"
    );
    assert_eq!(repo.head(), before);
});

// Secrets stay out of the output

sgtest!(no_full_key_in_output_without_show_secrets, |dir, cmd| {
    let repo = staged_repo(dir.root());
    let mut keys = KeyGen::new(31);
    let (committed, in_message, staged) = (keys.key(), keys.key(), keys.key());
    repo.write("old.env", &env_line(&committed));
    repo.commit(&format!("old\n\nkey {in_message}\n"));
    repo.write("new.env", &env_line(&staged));
    repo.git(&["add", "new.env"]);
    let r = repo.path.to_str().unwrap();

    let secret_of = |k: &str| k.rsplit('.').next().unwrap().to_string();
    let check_run = |args: &[&str], want: &[&String]| {
        let run = scan(dir.root(), args);
        run.expect_code(1);
        for k in want {
            for text in [&run.stdout, &run.stderr] {
                assert!(!text.contains(k.as_str()), "full key in output of {args:?}");
                assert!(!text.contains(&secret_of(k)), "key secret in output of {args:?}");
            }
            assert!(
                run.stdout.contains(&k[..7]),
                "the redacted key must be shown by {args:?}"
            );
        }
    };
    for format in ["human", "json", "jsonl", "sarif"] {
        check_run(&["git", "-q", "-f", format, r], &[&committed, &in_message]);
        check_run(&["staged", "-f", format, r], &[&staged]);
    }

    // The control: with --show-secrets the full key is there, so the checks above can fail.
    let run = scan(dir.root(), &["git", "-q", "-f", "json", "--show-secrets", r]);
    run.expect_code(1);
    assert!(run.stdout.contains(&committed));
    let run = scan(dir.root(), &["staged", "--show-secrets", r]);
    run.expect_code(1);
    assert!(run.stdout.contains(&staged));
});

sgtest!(git_key_in_an_annotated_tag_message, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(71).key();
    repo.write("README", "hello\n");
    repo.commit("init");
    repo.git(&[
        "tag",
        "-a",
        "v2.0",
        "-m",
        &format!("release notes\n\nsmtp key {key}\n"),
    ]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "(tag message refs/tags/v2.0)");
    assert_eq!(loc["line"], 3);
});

/// `(path, line)` of every location of `key`.
fn places_of(doc: &Value, key: &str) -> BTreeSet<(String, u64)> {
    crate::util::path_lines(doc, key).into_iter().collect()
}

fn pairs(list: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    list.iter().map(|(p, l)| (p.to_string(), *l)).collect()
}

sgtest!(git_keys_in_commit_and_tag_headers, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(2103);
    let (in_author, in_extra, in_sig, in_message, in_tagger) =
        (keys.key(), keys.key(), keys.key(), keys.key(), keys.key());
    repo.write("README", "hello\n");
    let base = repo.commit("init");
    let tree = repo.rev("HEAD^{tree}");
    // Header lines git writes (a signature, continued on lines that start with a space) and one
    // it does not know, which it keeps and shows with `git cat-file`.
    let text = format!(
        "tree {tree}\nparent {base}\nauthor Eve {in_author} <eve@x.test> 1700000000 +0000\n\
         committer Carl <carl@x.test> 1700000000 +0000\nx-deploy-note {in_extra}\n\
         gpgsig -----BEGIN PGP SIGNATURE-----\n \n {in_sig}\n -----END PGP SIGNATURE-----\n\n\
         subject\n\n{in_message}\n"
    );
    let c = repo.literal("commit", text.as_bytes());
    repo.git(&["update-ref", "refs/heads/main", &c]);
    let tag_text = format!(
        "object {c}\ntype commit\ntag v1\ntagger Tom {in_tagger} <tom@x.test> 1700000000 +0000\n\nrelease\n"
    );
    // Without --literally: git checks that this is a valid tag.
    let tag_file = dir.root().join("tag.txt");
    std::fs::write(&tag_file, tag_text).unwrap();
    let tag = repo.git(&["hash-object", "-t", "tag", "-w", tag_file.to_str().unwrap()]);
    repo.git(&["update-ref", "refs/tags/v1", &tag]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    // The author's name is printed with every location of the commit: redacted there too.
    crate::util::assert_run_leaks_nothing(&run, &[&in_author, &in_extra, &in_sig, &in_message, &in_tagger]);
    let doc = run.json();
    assert_eq!(
        fps(&doc),
        set(&[&in_author, &in_extra, &in_sig, &in_message, &in_tagger])
    );
    // Header lines are counted from the object's first line, a message's from its own.
    assert_eq!(places_of(&doc, &in_author), pairs(&[("(commit header)", 3)]));
    assert_eq!(places_of(&doc, &in_extra), pairs(&[("(commit header)", 5)]));
    assert_eq!(places_of(&doc, &in_sig), pairs(&[("(commit header)", 8)]));
    assert_eq!(places_of(&doc, &in_message), pairs(&[("(commit message)", 3)]));
    assert_eq!(
        places_of(&doc, &in_tagger),
        pairs(&[("(tag header refs/tags/v1)", 4)])
    );
    let loc = &finding(&doc, &in_extra)["locations"][0];
    assert_eq!(loc["commit"], c.as_str());
    assert_eq!(loc["reachable"], true);
    assert_eq!(loc["refs"][0], "refs/heads/main");
    // Each commit and tag once, header and message together.
    assert_eq!(summary(&doc, "commits_scanned"), 3);

    let run = scan_git(dir.root(), &repo.path, &["--range", &format!("{base}..{c}")]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&in_author, &in_extra, &in_sig, &in_message]));
    assert_eq!(places_of(&doc, &in_sig), pairs(&[("(commit header)", 8)]));
    assert_eq!(summary(&doc, "commits_scanned"), 1);

    let run = scan(
        dir.root(),
        &["git", "-q", "-f", "sarif", repo.path.to_str().unwrap()],
    );
    run.expect_code(1);
    assert!(
        run.stdout.contains(&format!(".sgscan/commit-header/{c}"))
            && run.stdout.contains(".sgscan/tag-header/v1"),
        "{run}"
    );
});

sgtest!(git_unreachable_annotated_tag_message, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(2104);
    let (gone, kept) = (keys.key(), keys.key());
    repo.write("README", "hello\n");
    repo.commit("init");
    repo.git(&[
        "tag",
        "-a",
        "v0.9",
        "-m",
        &format!("release notes\n\nsmtp key {gone}\n"),
    ]);
    let tag = repo.rev("refs/tags/v0.9");
    repo.git(&["tag", "-d", "v0.9"]);
    assert_eq!(repo.git(&["cat-file", "-t", &tag]), "tag");
    // A tag a ref still names: read through the ref, once.
    repo.git(&["tag", "-a", "v1.0", "-m", &format!("notes\n\n{kept}\n")]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&gone, &kept]));
    let f = finding(&doc, &gone);
    assert_eq!(f["location_count"], 1);
    let loc = &f["locations"][0];
    assert_eq!(loc["path"], format!("(tag message {tag})"), "{loc}");
    assert_eq!(loc["line"], 3);
    assert_eq!(loc["reachable"], false, "{loc}");
    let f = finding(&doc, &kept);
    assert_eq!(f["location_count"], 1, "{f}");
    assert_eq!(f["locations"][0]["path"], "(tag message refs/tags/v1.0)");
    assert_eq!(summary(&doc, "commits_scanned"), 3);
});

sgtest!(git_partial_clone_is_noted, |dir, cmd| {
    let origin = Repo::init(&dir.root().join("origin"));
    origin.write("a.txt", "a\n");
    origin.commit("one");
    origin.git(&["config", "uploadpack.allowFilter", "true"]);
    let url = format!("file://{}", origin.path.display());
    let clone = dir.root().join("clone");
    check(
        git_command(dir.root())
            .args(["clone", "-q", "--no-checkout", "--filter=blob:none", &url])
            .arg(&clone)
            .output()
            .unwrap(),
        "partial clone",
    );
    let run = scan_git(dir.root(), &clone, &[]);
    let doc = run.json();
    assert!(has_note(&doc, "partial clone"), "notes: {:?}", notes(&doc));
    // A full clone has no such note.
    let run = scan_git(dir.root(), &origin.path, &[]);
    assert!(!has_note(&run.json(), "partial clone"));
});

/// Every location of a JSON report, as comparable tuples.
fn all_locations(doc: &Value) -> BTreeSet<(String, String, String, u64)> {
    let mut out = BTreeSet::new();
    for f in findings(doc) {
        for l in f["locations"].as_array().unwrap() {
            out.insert((
                f["fingerprint"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().to_string(),
                l["commit"].as_str().unwrap_or("").to_string(),
                l["line"].as_u64().unwrap(),
            ));
        }
    }
    out
}

sgtest!(
    git_shards_together_equal_the_whole_and_scan_each_blob_once,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keys = KeyGen::new(90);
        for i in 0..30 {
            let content = if i % 3 == 0 {
                env_line(&keys.key())
            } else {
                format!("value {i}\n")
            };
            repo.write(&format!("dir{}/f{i}.env", i % 4), &content);
            let msg = if i == 7 {
                format!("fix\n\nold key {}\n", keys.key())
            } else {
                format!("commit {i}")
            };
            repo.commit(&msg);
        }
        repo.git(&["tag", "-a", "v1", "-m", &format!("tag with {}", keys.key())]);
        let whole = scan_git(dir.root(), &repo.path, &[]).json();
        let total_blobs = summary(&whole, "blobs_scanned");
        let total_commits = summary(&whole, "commits_scanned");
        assert_eq!(total_blobs, repo.distinct_blobs());
        assert_eq!(whole["findings"].as_array().unwrap().len(), 12);

        let n = 3;
        let (mut blobs, mut commits) = (0, 0);
        let mut shard_files = Vec::new();
        for i in 0..n {
            let shard = format!("{i}/{n}");
            let out = dir.root().join(format!("shard-{i}.jsonl"));
            let run = scan(
                dir.root(),
                &[
                    "git",
                    "-q",
                    repo.path.to_str().unwrap(),
                    "--shard",
                    &shard,
                    "-f",
                    "jsonl",
                    "-o",
                    out.to_str().unwrap(),
                ],
            );
            assert!(run.code == 0 || run.code == 1, "shard {shard}: {}", run.stderr);
            let text = std::fs::read_to_string(&out).unwrap();
            let summary_line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
            assert_eq!(summary_line["type"], "summary");
            blobs += summary_line["blobs_scanned"].as_u64().unwrap();
            commits += summary_line["commits_scanned"].as_u64().unwrap();
            shard_files.push(out);
        }
        // Disjoint and complete: the shards' counts add up to the whole's exactly.
        assert_eq!(blobs, total_blobs);
        assert_eq!(commits, total_commits);

        let mut args = vec!["merge".to_string(), "-f".into(), "json".into()];
        args.extend(shard_files.iter().map(|p| p.to_str().unwrap().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let merged = scan(dir.root(), &args);
        assert_eq!(merged.code, 1, "{}", merged.stderr);
        let merged = merged.json();
        assert_eq!(fps(&merged), fps(&whole));
        assert_eq!(all_locations(&merged), all_locations(&whole));
        assert_eq!(summary(&merged, "blobs_scanned"), total_blobs);
    }
);

// sgscan git: damaged repositories

/// The `skipped` entry whose path names `id`; panics with the report if there is none.
pub(crate) fn skip_of<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().contains(id))
        .unwrap_or_else(|| panic!("no skip for {id} in {doc:#}"))
}

/// A commit git would refuse to write: `header` goes between the tree/parent lines and the message.
fn malformed_commit(repo: &Repo, tree: &str, parent: &str, header: &str) -> String {
    let text = format!("tree {tree}\nparent {parent}\n{header}\nmalformed\n");
    repo.literal("commit", text.as_bytes())
}

sgtest!(
    git_malformed_commits_at_branch_tips_cost_only_themselves,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let key = KeyGen::new(40).key();
        repo.write("a.env", &env_line(&key));
        let base = repo.commit("add key");
        let empty = repo.git(&["mktree"]);
        let bad_date = malformed_commit(
            &repo,
            &empty,
            &base,
            "author A <a@a.test> notadate +0000\ncommitter C <c@c.test> notadate +0000\n",
        );
        let no_author = malformed_commit(&repo, &empty, &base, "committer C <c@c.test> 1700000000 +0000\n");
        // The key's commit is now reachable only through the malformed ones.
        repo.git(&["update-ref", "refs/heads/main", &bad_date]);
        repo.git(&["update-ref", "refs/heads/side", &no_author]);
        assert!(repo.git(&["log", "--oneline", "--all"]).contains("add key"));

        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&key]));
        assert_eq!(finding(&doc, &key)["locations"][0]["commit"], base.as_str());
        for (id, branch) in [(&bad_date, "refs/heads/main"), (&no_author, "refs/heads/side")] {
            let reason = skip_of(&doc, id)["reason"].as_str().unwrap().to_string();
            assert!(reason.contains("malformed commit"), "{reason}");
            assert!(reason.contains(branch), "{reason}");
        }
        assert!(
            skip_of(&doc, &no_author)["reason"]
                .as_str()
                .unwrap()
                .contains("no author line")
        );
        assert_eq!(summary(&doc, "skipped"), 2);
    }
);

sgtest!(
    git_malformed_commit_in_the_middle_hides_nothing_older,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keys = KeyGen::new(41);
        let (old, new) = (keys.key(), keys.key());
        repo.write("old.env", &env_line(&old));
        let first = repo.commit("old key");
        let tree = repo.rev("HEAD^{tree}");
        let middle = malformed_commit(&repo, &tree, &first, "committer C <c@c.test> 1700000100 +0000\n");
        std::fs::remove_file(repo.path.join("old.env")).unwrap();
        repo.write("new.env", &env_line(&new));
        repo.git(&["add", "-A"]);
        let new_tree = repo.git(&["write-tree"]);
        let top = repo.git(&["commit-tree", &new_tree, "-p", &middle, "-m", "new key"]);
        repo.git(&["update-ref", "refs/heads/main", &top]);

        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&old, &new]));
        assert_eq!(finding(&doc, &old)["locations"][0]["commit"], first.as_str());
        assert_eq!(finding(&doc, &new)["locations"][0]["commit"], top.as_str());
        let reason = skip_of(&doc, &middle)["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(&format!("parent of {}", &top[..12])), "{reason}");
        assert_eq!(summary(&doc, "commits_scanned"), 3);

        // A range through it: each commit against its first parent, the malformed one included.
        let range = format!("{first}..{top}");
        let run = scan_git(dir.root(), &repo.path, &["--range", &range]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&new]));
        assert!(
            skip_of(&doc, &middle)["reason"]
                .as_str()
                .unwrap()
                .contains("malformed commit")
        );
        assert_eq!(summary(&doc, "commits_scanned"), 2);
    }
);

sgtest!(
    git_commit_with_an_unreadable_header_costs_only_its_ref,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keys = KeyGen::new(46);
        let (on_main, behind_garbage) = (keys.key(), keys.key());
        repo.write("a.env", &env_line(&on_main));
        repo.commit("main");
        repo.git(&["checkout", "-q", "-b", "side"]);
        repo.write("b.env", &env_line(&behind_garbage));
        let hidden = repo.commit("only behind the garbage");
        repo.git(&["checkout", "-q", "main"]);
        // Not a header at all: neither its tree nor its parents can be known.
        let garbage = repo.literal(
            "commit",
            format!("this is not a commit\nparent of {hidden}\n").as_bytes(),
        );
        // git will not point a ref at it (`bogus commit object`): write the ref file itself.
        std::fs::write(repo.path.join(".git/refs/heads/side"), format!("{garbage}\n")).unwrap();

        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let doc = run.json();
        let reason = skip_of(&doc, &garbage)["reason"].as_str().unwrap().to_string();
        assert!(
            reason.contains("refs/heads/side") && reason.contains("header is unreadable"),
            "{reason}"
        );
        // No ref reaches the commit behind the garbage any more, but it is in the object store:
        // its key is found, in that commit, marked unreachable.
        assert_eq!(fps(&doc), set(&[&on_main, &behind_garbage]));
        let lost = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["locations"].as_array().unwrap())
            .find(|l| l["path"] == "b.env")
            .expect("b.env located");
        assert_eq!(lost["reachable"], false, "{lost}");
        assert_eq!(lost["commit"], hidden.as_str(), "{lost}");
    }
);

sgtest!(git_refs_to_blobs_and_trees_are_scanned, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let mut keys = KeyGen::new(42);
    let (k_light, k_annotated, k_tree) = (keys.key(), keys.key(), keys.key());
    repo.write("README.md", "# app\n");
    repo.commit("init");
    let blob = |name: &str, key: &str| {
        let path = dir.root().join(name);
        std::fs::write(&path, env_line(key)).unwrap();
        repo.git(&["hash-object", "-w", path.to_str().unwrap()])
    };
    let light = blob("light.env", &k_light);
    repo.git(&["tag", "light", &light]);
    let annotated = blob("annotated.env", &k_annotated);
    repo.git(&["tag", "-a", "-m", "a blob", "annotated", &annotated]);
    let in_tree = blob("tree.env", &k_tree);
    let tree = repo.git(&["mktree"]);
    let sub = {
        let mut c = git_command(&repo.path)
            .arg("mktree")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "100644 blob {in_tree}\tconf.env").unwrap();
        check(c.wait_with_output().unwrap(), "mktree")
    };
    assert_ne!(sub, tree);
    repo.git(&["tag", "-a", "-m", "a tree", "snapshot", &sub]);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&k_light, &k_annotated, &k_tree]));
    for (key, path) in [
        (&k_light, "refs/tags/light"),
        (&k_annotated, "refs/tags/annotated"),
        (&k_tree, "refs/tags/snapshot:conf.env"),
    ] {
        let loc = &finding(&doc, key)["locations"][0];
        assert_eq!(loc["path"], path, "{loc}");
        assert!(loc.get("commit").is_none(), "{loc}");
    }
    assert_eq!(doc["skipped"], serde_json::json!([]));
});

sgtest!(
    git_malformed_annotated_tag_is_followed_and_its_message_scanned,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keys = KeyGen::new(45);
        let (in_commit, in_message) = (keys.key(), keys.key());
        let c = dangling_tagged_commit(&repo, &in_commit, &["tag", "v1.0"]);
        // A tagger line without an email: git would not write it, gitoxide does not decode it.
        let text = format!(
            "object {c}\ntype commit\ntag v1.0\ntagger nobody\n\n{}",
            env_line(&in_message)
        );
        let tag = repo.literal("tag", text.as_bytes());
        repo.git(&["update-ref", "refs/tags/v1.0", &tag]);

        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&in_commit, &in_message]));
        assert_eq!(finding(&doc, &in_commit)["locations"][0]["commit"], c.as_str());
        assert_eq!(
            finding(&doc, &in_message)["locations"][0]["path"],
            "(tag message refs/tags/v1.0)"
        );
        let reason = skip_of(&doc, &tag)["reason"].as_str().unwrap().to_string();
        assert!(
            reason.contains("malformed tag object") && reason.contains(&c),
            "{reason}"
        );
    }
);

/// A repository whose objects are all in one pack, the key among them.
fn packed_repo(path: &Path, key: &str) -> (Repo, PathBuf) {
    let repo = Repo::init(path);
    repo.write("a.env", &env_line(key));
    repo.commit("add key");
    repo.git(&["gc", "-q"]);
    let dir = repo.path.join(".git/objects/pack");
    let pack = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("a pack after gc");
    (repo, pack)
}

fn make_writable(path: &Path) {
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).unwrap();
}

sgtest!(
    git_unreadable_pack_is_an_error_not_an_empty_history,
    |dir, cmd| {
        let mut keys = KeyGen::new(43);

        // Entries overwritten after the pack header: every object in it is garbage.
        let (repo, pack) = packed_repo(&dir.root().join("garbled"), &keys.key());
        make_writable(&pack);
        let mut bytes = std::fs::read(&pack).unwrap();
        let end = bytes.len() - 20;
        bytes[12..end].fill(b'X');
        std::fs::write(&pack, bytes).unwrap();
        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(2);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("could be read"), "{}", run.stderr);
        assert!(!run.stderr.contains("no commits"), "{}", run.stderr);

        // A truncated index: gitoxide drops the pack, so its objects seem missing; the error says why.
        let (repo, pack) = packed_repo(&dir.root().join("truncated"), &keys.key());
        let idx = pack.with_extension("idx");
        make_writable(&idx);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&idx)
            .unwrap()
            .set_len(100)
            .unwrap();
        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(2);
        assert!(run.stderr.contains("unreadable pack index"), "{}", run.stderr);

        // Only part of the history in the broken pack: the rest is reported, the pack named as skipped.
        let old = keys.key();
        let (repo, pack) = packed_repo(&dir.root().join("partial"), &old);
        let new = keys.key();
        repo.write("b.env", &env_line(&new));
        let top = repo.commit("loose commit on top");
        let idx = pack.with_extension("idx");
        make_writable(&idx);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&idx)
            .unwrap()
            .set_len(100)
            .unwrap();
        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&new]));
        let pack_name = pack.file_name().unwrap().to_str().unwrap();
        assert!(
            skip_of(&doc, pack_name)["reason"]
                .as_str()
                .unwrap()
                .contains("unreadable pack index")
        );
        let parent = repo.rev("HEAD^");
        let reason = skip_of(&doc, &parent)["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(&format!("parent of {}", &top[..12])), "{reason}");
        assert!(!has_note(&doc, "no commits"), "notes: {:?}", notes(&doc));
    }
);

sgtest!(git_gitlink_outside_the_repository_is_refused, |dir, cmd| {
    // The directory above the scanned repository is a repository with a key of its own.
    let outer = Repo::init(&dir.root().join("outer"));
    let outer_key = KeyGen::new(44).key();
    outer.write("outer.env", &env_line(&outer_key));
    let outer_head = outer.commit("outer key");
    let repo = Repo::init(&outer.path.join("r"));
    repo.write("README.md", "# app\n");
    repo.git(&["add", "-A"]);
    let readme = repo.rev(":README.md");
    // git refuses to make a tree entry named `..`; write the tree's bytes directly.
    let mut tree = Vec::new();
    for (mode, name, id) in [("100644", "README.md", &readme), ("160000", "..", &outer_head)] {
        tree.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        tree.extend_from_slice(&hex::decode(id).unwrap());
    }
    let tree = repo.literal("tree", &tree);
    let commit = repo.git(&["commit-tree", &tree, "-m", "gitlink to the parent directory"]);
    repo.git(&["update-ref", "refs/heads/main", &commit]);

    let run = scan_git(dir.root(), &repo.path, &["--submodules"]);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(fps(&doc), BTreeSet::new());
    let n = notes(&doc);
    assert!(
        n.iter().any(|n| n.contains("'..'") && n.contains("refused")),
        "notes: {n:?}"
    );
});

// gitoxide opens a repository's files on its own: a FIFO at `objects/info/alternates`, at
// `packed-refs` or as a loose ref would make it wait forever. Each is found before gitoxide opens
// anything: a one-line error naming the file, exit 2, in `git`, a range and `staged`.
#[cfg(unix)]
sgtest!(fifo_in_the_git_directory_is_an_error_not_a_wait, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    repo.write("a.txt", "hello\n");
    repo.commit("one");
    let git_dir = repo.path.join(".git");
    for fifo in ["objects/info/alternates", "packed-refs", "refs/heads/stray"] {
        crate::util::mkfifo(&git_dir.join(fifo));
        let r = repo.path.to_str().unwrap();
        for args in [
            vec!["git", "-q", r],
            vec!["git", "-q", r, "--range", "HEAD"],
            vec!["staged", r],
        ] {
            let run = crate::util::run(
                crate::util::sgscan(dir.root())
                    .args(&args)
                    .timeout(std::time::Duration::from_secs(30)),
            );
            assert_eq!(run.code, 2, "{fifo} {args:?}: {run}");
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{fifo} {args:?}: {run}");
            assert!(
                lines[0].contains(fifo) && lines[0].contains("is a FIFO, not a regular file"),
                "{fifo} {args:?}: {run}"
            );
        }
        std::fs::remove_file(git_dir.join(fifo)).unwrap();
    }
    // Without them, the same repository scans.
    let run = scan_git(dir.root(), &repo.path, &[]);
    assert_eq!(run.code, 0, "{run}");
});
