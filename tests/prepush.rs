//! `sgscan pre-push` and `sgscan install-hook --pre-push`: real `git push`es from a clone into a
//! bare origin, with the hook installed, and the pre-commit framework's form of the same hook.
//! Keys are generated at run time (see `util::KeyGen`); no key literal is written here.

use std::path::Path;
use std::process::Output;

use crate::util::git::{Repo, check, git_command};
use crate::util::{KeyGen, Run, Tree, assert_no_key, env_line, id, scan, sgscan};

const ZEROS: &str = "0000000000000000000000000000000000000000";

/// A bare `origin.git` and a clone `c` of it holding one clean commit on main, pushed; the pre-push
/// hook installed in the clone with `sgscan install-hook --pre-push`.
fn setup(dir: &Tree) -> (Repo, Repo) {
    let origin = Repo::open(&dir.root().join("origin.git"));
    check(
        git_command(dir.root())
            .args(["init", "-q", "--bare", "origin.git"])
            .output()
            .unwrap(),
        "init --bare",
    );
    check(
        git_command(dir.root())
            .args(["clone", "-q", "origin.git", "c"])
            .output()
            .unwrap(),
        "clone",
    );
    let clone = Repo::open(&dir.root().join("c"));
    clone.write("README.md", "# app\n");
    clone.commit("init");
    clone.git(&["push", "-q", "origin", "main"]);
    scan(&clone.path, &["install-hook", "--pre-push"]).expect_code(0);
    (origin, clone)
}

fn push(repo: &Repo, args: &[&str]) -> Output {
    let mut all = vec!["push"];
    all.extend_from_slice(args);
    repo.run(&[], &all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The redacted form reports give a key.
fn redacted(key: &str) -> String {
    format!("{}…", &key[..7])
}

fn origin_has(origin: &Repo, refname: &str) -> Option<String> {
    let out = origin.run(&[], &["rev-parse", "--verify", "-q", refname]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

sgtest!(pre_push_hook_blocks_a_key_then_passes_a_clean_push, |dir, cmd| {
    let (origin, clone) = setup(&dir);
    let hook = std::fs::read_to_string(clone.path.join(".git/hooks/pre-push")).unwrap();
    assert!(hook.contains(env!("CARGO_BIN_EXE_sgscan")), "{hook}");
    assert!(hook.contains("pre-push \"$@\""), "{hook}");
    let before = origin_has(&origin, "main").unwrap();

    // Committed with `--no-verify` (no pre-commit hook here at all): the push must catch it.
    let key = KeyGen::new(2301).key();
    clone.write("config/.env", &env_line(&key));
    let keyed = clone.commit("add env");
    let out = push(&clone, &["origin", "main"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "the push must be blocked:\n{err}");
    assert_eq!(
        origin_has(&origin, "main").unwrap(),
        before,
        "origin's main moved"
    );
    let sent = origin.run(&[], &["cat-file", "-e", &keyed]);
    assert!(!sent.status.success(), "the commit reached origin's object store");
    assert!(err.contains("push blocked"), "{err}");
    assert!(err.contains(&redacted(&key)), "{err}");
    assert!(err.contains(&id(&key)), "{err}");
    assert!(err.contains("refs/heads/main"), "the ref is named:\n{err}");
    assert!(err.contains(&keyed[..12]), "the commit is named:\n{err}");
    assert!(err.contains("config/.env:1"), "path:line:\n{err}");
    assert!(
        err.contains("git rebase -i") && err.contains("--no-verify"),
        "{err}"
    );
    assert_no_key(&err, "git push's stderr", &[&key]);
    assert_no_key(
        &String::from_utf8_lossy(&out.stdout),
        "git push's stdout",
        &[&key],
    );

    // The key taken out of the commit: the push goes through.
    clone.git(&["reset", "-q", "--hard", "HEAD~1"]);
    clone.write("docs/usage.md", "Set SENDGRID_API_KEY in the environment.\n");
    let clean = clone.commit("docs");
    let out = push(&clone, &["origin", "main"]);
    assert!(out.status.success(), "a clean push must pass:\n{}", stderr(&out));
    assert_eq!(origin_has(&origin, "main").unwrap(), clean);
});

sgtest!(a_key_the_remote_has_already_does_not_block, |dir, cmd| {
    let (origin, clone) = setup(&dir);
    let key = KeyGen::new(2302).key();
    clone.write("old.env", &env_line(&key));
    clone.commit("old key");
    let out = push(&clone, &["--no-verify", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Only a clean commit is new to origin: nothing to block, on main and on a new branch alike.
    clone.write("README.md", "# app v2\n");
    let head = clone.commit("docs");
    let out = push(&clone, &["origin", "main"]);
    assert!(out.status.success(), "nothing new holds a key:\n{}", stderr(&out));
    let out = push(&clone, &["origin", "main:refs/heads/copy"]);
    assert!(
        out.status.success(),
        "a new branch of known commits:\n{}",
        stderr(&out)
    );
    assert_eq!(origin_has(&origin, "copy").unwrap(), head);
});

sgtest!(a_new_branch_is_judged_by_what_the_remote_lacks, |dir, cmd| {
    let (origin, clone) = setup(&dir);
    let mut keys = KeyGen::new(2303);
    let (old, new) = (keys.key(), keys.key());
    clone.write("old.env", &env_line(&old));
    clone.commit("old key");
    push(&clone, &["--no-verify", "origin", "main"]);

    clone.git(&["switch", "-q", "-c", "feature"]);
    clone.write("src/mail.py", "import os\n");
    clone.commit("mail");
    clone.write("src/settings.py", &format!("SENDGRID = '{new}'\n"));
    clone.commit("settings");
    let out = push(&clone, &["origin", "feature"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "the new key must block:\n{err}");
    assert!(origin_has(&origin, "feature").is_none());
    assert!(err.contains(&id(&new)), "{err}");
    assert!(
        !err.contains(&id(&old)),
        "the key origin has already is not named:\n{err}"
    );
    assert!(err.contains("1 key "), "{err}");
    assert!(err.contains("refs/heads/feature"), "{err}");
    assert_no_key(&err, "git push's stderr", &[&old, &new]);
});

sgtest!(a_deletion_push_passes, |dir, cmd| {
    let (origin, clone) = setup(&dir);
    clone.git(&["switch", "-q", "-c", "leaky"]);
    clone.write("k.env", &env_line(&KeyGen::new(2304).key()));
    clone.commit("key");
    push(&clone, &["--no-verify", "origin", "leaky"]);
    assert!(origin_has(&origin, "leaky").is_some());
    let out = push(&clone, &["origin", "--delete", "leaky"]);
    assert!(
        out.status.success(),
        "a deletion sends nothing:\n{}",
        stderr(&out)
    );
    assert!(origin_has(&origin, "leaky").is_none());
});

sgtest!(keys_in_a_commit_message_and_a_tag_message_block, |dir, cmd| {
    let (origin, clone) = setup(&dir);
    let mut keys = KeyGen::new(2305);
    let (in_commit, in_tag) = (keys.key(), keys.key());
    clone.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        &format!("debug\n\nkey {in_commit}\n"),
    ]);
    let out = push(&clone, &["origin", "main"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&id(&in_commit)), "{err}");
    clone.git(&["reset", "-q", "--hard", "origin/main"]);

    clone.git(&["tag", "-a", "v1", "-m", &format!("release\n\n{in_tag}\n")]);
    let out = push(&clone, &["origin", "v1"]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a tag message with a key must block:\n{err}"
    );
    assert!(origin_has(&origin, "refs/tags/v1").is_none());
    assert!(err.contains(&id(&in_tag)), "{err}");
    assert_no_key(&err, "git push's stderr", &[&in_commit, &in_tag]);
});

/// `sgscan pre-push` as the pre-commit framework runs it: no refs on standard input, the range in
/// `PRE_COMMIT_*` variables; the entry is the one `.pre-commit-hooks.yaml` declares.
fn pre_commit_run(repo: &Path, envs: &[(&str, &str)]) -> Run {
    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"))
        .unwrap();
    let block = yaml
        .split("\n- ")
        .find(|b| b.starts_with("id: sgscan-pre-push\n"))
        .expect("a sgscan-pre-push hook");
    for line in [
        "entry: sgscan pre-push",
        "stages: [pre-push]",
        "pass_filenames: false",
        "always_run: true",
    ] {
        assert!(block.contains(line), "sgscan-pre-push lacks `{line}`:\n{block}");
    }
    let mut cmd = sgscan(repo);
    cmd.env("NO_COLOR", "1").arg("pre-push").write_stdin("");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    crate::util::run(&mut cmd)
}

sgtest!(pre_commit_framework_form_blocks, |dir, cmd| {
    let (_, clone) = setup(&dir);
    let from = clone.head();
    let key = KeyGen::new(2306).key();
    clone.write("app.env", &env_line(&key));
    let to = clone.commit("key");
    let env = [
        ("PRE_COMMIT_FROM_REF", from.as_str()),
        ("PRE_COMMIT_TO_REF", to.as_str()),
        ("PRE_COMMIT_REMOTE_NAME", "origin"),
        ("PRE_COMMIT_REMOTE_URL", "unused"),
        ("PRE_COMMIT_LOCAL_BRANCH", "refs/heads/main"),
        ("PRE_COMMIT_REMOTE_BRANCH", "refs/heads/main"),
    ];
    let run = pre_commit_run(&clone.path, &env);
    run.expect_code(1);
    assert!(run.stderr.contains("push blocked"), "{run}");
    assert!(run.stderr.contains(&id(&key)), "{run}");
    assert_no_key(&run.stderr, "stderr", &[&key]);
    assert_no_key(&run.stdout, "stdout", &[&key]);

    // A range with no key in it passes.
    let run = pre_commit_run(
        &clone.path,
        &[("PRE_COMMIT_FROM_REF", &from), ("PRE_COMMIT_TO_REF", &from)],
    );
    run.expect_code(0);
});

sgtest!(malformed_refs_on_standard_input_are_an_error, |dir, cmd| {
    let (_, clone) = setup(&dir);
    let head = clone.head();
    for input in [
        "refs/heads/main\n".to_string(),
        format!("refs/heads/main {head} refs/heads/main nothex\n"),
        format!("refs/heads/main {} refs/heads/main {ZEROS}\n", &head[..20]),
    ] {
        let run = crate::util::run(
            sgscan(&clone.path)
                .args(["pre-push", "origin", "url"])
                .write_stdin(input),
        );
        run.expect_code(2);
        assert!(run.stderr.contains("standard input line 1"), "{run}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "one line:\n{run}");
    }
    // A sha the repository does not have: fail closed.
    let missing = "1".repeat(40);
    let run = crate::util::run(
        sgscan(&clone.path)
            .args(["pre-push", "origin", "url"])
            .write_stdin(format!("refs/heads/main {missing} refs/heads/main {ZEROS}\n")),
    );
    run.expect_code(2);
});

sgtest!(install_hook_pre_push_refuses_to_replace_a_hook, |dir, cmd| {
    let (_, clone) = setup(&dir);
    let hook = clone.path.join(".git/hooks/pre-push");
    let custom = "#!/bin/sh\nexit 0\n";
    std::fs::write(&hook, custom).unwrap();
    let run = scan(&clone.path, &["install-hook", "--pre-push"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--force"), "{run}");
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), custom);

    // A link where the hook goes is not written through, even with --force.
    let target = dir.root().join("elsewhere");
    std::fs::write(&target, "precious\n").unwrap();
    std::fs::remove_file(&hook).unwrap();
    std::os::unix::fs::symlink(&target, &hook).unwrap();
    scan(&clone.path, &["install-hook", "--pre-push"]).expect_code(2);
    let run = scan(&clone.path, &["install-hook", "--pre-push", "--force"]);
    run.expect_code(2);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    std::fs::remove_file(&hook).unwrap();
    scan(&clone.path, &["install-hook", "--pre-push"]).expect_code(0);
    // The pre-commit hook is another file, left alone.
    assert!(!clone.path.join(".git/hooks/pre-commit").exists());
});

sgtest!(
    a_push_to_a_url_with_a_token_does_not_show_the_token,
    |dir, cmd| {
        let (_, clone) = setup(&dir);
        let from = clone.head();
        let key = KeyGen::new(2307).key();
        clone.write("app.env", &env_line(&key));
        let to = clone.commit("key");
        // `git push https://…` with no remote: git names the remote by its URL, token and all.
        let url = "https://ci:tok2307@git.example.com:99999/o/r.git";
        let env = [
            ("PRE_COMMIT_FROM_REF", from.as_str()),
            ("PRE_COMMIT_TO_REF", to.as_str()),
            ("PRE_COMMIT_REMOTE_NAME", url),
            ("PRE_COMMIT_REMOTE_URL", url),
        ];
        let run = pre_commit_run(&clone.path, &env);
        run.expect_code(1);
        assert!(run.stderr.contains("push blocked"), "{run}");
        assert!(run.stderr.contains("git.example.com:99999/o/r.git"), "{run}");
        assert!(!run.stderr.contains("tok2307"), "the token is shown:\n{run}");
        assert!(!run.stdout.contains("tok2307"), "the token is shown:\n{run}");
    }
);
