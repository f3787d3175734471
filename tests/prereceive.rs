//! `sgscan pre-receive` end to end: real `git push`es into a bare repository with the hook installed
//! (a local push runs the hook with the objects in quarantine, as a server does).

use std::process::Output;

use tempfile::TempDir;

use crate::archive::{gz, tar};
use crate::util::git::Repo;
use crate::util::{KeyGen, assert_no_key, fp, id, sgscan_process};

/// A bare server repository with the hook installed and a clone of it to push from.
struct Push {
    _tmp: TempDir,
    server: Repo,
    client: Repo,
}

impl Push {
    /// `hook_args`: none installs the hook with `sgscan install-hook --server`; else a hook script
    /// running `sgscan pre-receive` with these arguments.
    fn new(hook_args: Option<&str>) -> Push {
        let tmp = TempDir::new().unwrap();
        let server = Repo::open(&tmp.path().join("server.git"));
        std::fs::create_dir_all(&server.path).unwrap();
        server.git(&["init", "-q", "--bare"]);
        let client = Repo::init(&tmp.path().join("client"));
        client.git(&["remote", "add", "origin", server.path.to_str().unwrap()]);
        let push = Push {
            _tmp: tmp,
            server,
            client,
        };
        push.install(hook_args);
        push
    }

    fn install(&self, hook_args: Option<&str>) {
        match hook_args {
            None => {
                let out = sgscan_process(&self.client.path)
                    .args(["install-hook", "--server"])
                    .arg(&self.server.path)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            Some(args) => {
                let hook = self.server.path.join("hooks/pre-receive");
                std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
                let script = format!(
                    "#!/bin/sh\nexec '{}' pre-receive {args}\n",
                    env!("CARGO_BIN_EXE_sgscan")
                );
                std::fs::write(&hook, script).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }

    fn push(&self, args: &[&str]) -> Output {
        let mut all = vec!["push", "origin"];
        all.extend_from_slice(args);
        self.client.run(&[], &all)
    }

    /// The server's id for `spec`, if it has one.
    fn server_rev(&self, spec: &str) -> Option<String> {
        let out = self.server.run(&[], &["rev-parse", "--verify", "-q", spec]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn server_has(&self, object: &str) -> bool {
        self.server.run(&[], &["cat-file", "-e", object]).status.success()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn accepted(out: &Output) -> String {
    let err = stderr(out);
    assert!(out.status.success(), "push rejected:\n{err}");
    err
}

fn rejected(out: &Output) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "push accepted:\n{err}");
    assert!(err.contains("pre-receive hook declined"), "{err}");
    err
}

fn env_file(key: &str) -> String {
    format!("SENDGRID_API_KEY={key}\n")
}

#[test]
fn a_key_in_a_new_commit_is_rejected_and_never_lands() {
    let p = Push::new(None);
    p.client.write("README.md", "hello\n");
    let clean = p.client.commit("clean");
    // A clean push: accepted.
    accepted(&p.push(&["main"]));
    assert_eq!(p.server_rev("main").as_deref(), Some(clean.as_str()));
    let key = KeyGen::new(2301).key();
    p.client.write("config/app.env", &env_file(&key));
    let leaky = p.client.commit("add config");
    let blob = p.client.rev("HEAD:config/app.env");
    let err = rejected(&p.push(&["main"]));
    assert!(err.contains("remote: sgscan: push rejected"), "{err}");
    assert!(err.contains("refs/heads/main"), "{err}");
    assert!(err.contains(&leaky[..12]), "{err}");
    assert!(err.contains("config/app.env:1"), "{err}");
    assert!(err.contains(&id(&key)), "{err}");
    assert!(err.contains(&fp(&key)), "{err}");
    assert!(
        err.contains("git rebase -i") && err.contains("sgscan.allow="),
        "{err}"
    );
    assert!(err.contains("receive.advertisePushOptions"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    // The server's ref did not move, and the quarantined blob was dropped.
    assert_eq!(p.server_rev("main").as_deref(), Some(clean.as_str()));
    assert!(
        !p.server_has(&blob),
        "the key's blob reached the server's object store"
    );
    assert!(!p.server_has(&leaky));
}

#[test]
fn one_push_of_two_refs_is_rejected_when_only_the_second_brings_a_key() {
    let p = Push::new(None);
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    accepted(&p.push(&["main"]));
    p.client.write("b.txt", "b\n");
    p.client.commit("clean change");
    p.client.git(&["checkout", "-q", "-b", "feature", "HEAD~1"]);
    let key = KeyGen::new(2302).key();
    p.client.write("deploy/secrets.env", &env_file(&key));
    p.client.commit("feature with key");
    let before = p.server_rev("main");
    let err = rejected(&p.push(&["main", "feature"]));
    assert!(err.contains("refs/heads/feature"), "{err}");
    assert!(err.contains("deploy/secrets.env:1"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    // The whole push is rejected: the clean ref did not move either.
    assert_eq!(p.server_rev("main"), before);
    assert_eq!(p.server_rev("feature"), None);
}

#[test]
fn an_annotated_tag_bringing_a_key_is_rejected() {
    let p = Push::new(None);
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    accepted(&p.push(&["main"]));
    let key = KeyGen::new(2303).key();
    p.client
        .git(&["tag", "-a", "v1.0", "-m", &format!("release notes\nkey: {key}\n")]);
    let err = rejected(&p.push(&["v1.0"]));
    assert!(err.contains("refs/tags/v1.0"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    assert_eq!(p.server_rev("refs/tags/v1.0"), None);
}

#[test]
fn a_key_only_in_a_commit_message_is_rejected() {
    let p = Push::new(None);
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    accepted(&p.push(&["main"]));
    let key = KeyGen::new(2304).key();
    p.client.write("a.txt", "b\n");
    p.client.commit(&format!("rotate the key\n\nold one was {key}"));
    let err = rejected(&p.push(&["main"]));
    assert!(err.contains("(commit message)"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
}

#[test]
fn a_new_branch_at_a_commit_the_server_has_brings_nothing() {
    // The server's history holds a key from before the hook was installed: a new branch at that
    // commit brings nothing, so nothing is scanned and the push is accepted.
    let p = Push::new(Some(""));
    std::fs::remove_file(p.server.path.join("hooks/pre-receive")).unwrap();
    let key = KeyGen::new(2305).key();
    p.client.write("old.env", &env_file(&key));
    p.client.commit("old leak");
    accepted(&p.push(&["main"]));
    p.install(None);
    let err = accepted(&p.push(&["main:refs/heads/other"]));
    assert!(!err.contains("sgscan"), "{err}");
    assert_eq!(p.server_rev("other"), p.server_rev("main"));
    // A clean commit on top of it is accepted too: the old key is not the push's.
    p.client.write("new.txt", "new\n");
    p.client.commit("clean");
    accepted(&p.push(&["main"]));
    // A deletion needs nothing.
    accepted(&p.push(&[":refs/heads/other"]));
}

/// A commit only a hidden ref keeps (GitLab's `refs/keep-around/*`, hidden by `transfer.hideRefs`)
/// is on the server but in no clone: a branch pushed at it publishes it, so it is scanned.
#[test]
fn a_commit_only_a_hidden_ref_keeps_is_scanned_when_a_branch_publishes_it() {
    let p = Push::new(Some(""));
    std::fs::remove_file(p.server.path.join("hooks/pre-receive")).unwrap();
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    accepted(&p.push(&["main"]));
    let key = KeyGen::new(2312).key();
    p.client.write("old.env", &env_file(&key));
    p.client.commit("kept around");
    accepted(&p.push(&["main:refs/keep-around/kept"]));
    p.server.git(&["config", "transfer.hideRefs", "refs/keep-around"]);
    p.install(None);
    let err = rejected(&p.push(&["main:refs/heads/published"]));
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    assert_eq!(p.server_rev("published"), None);
    // Not hidden: the server has shown it, and a branch at it brings nothing.
    p.server.git(&["config", "--unset", "transfer.hideRefs"]);
    accepted(&p.push(&["main:refs/heads/published"]));
}

#[test]
fn the_bypass_option_lets_only_the_right_fingerprint_through_and_is_logged() {
    let p = Push::new(None);
    p.server.git(&["config", "receive.advertisePushOptions", "true"]);
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    accepted(&p.push(&["main"]));
    let key = KeyGen::new(2306).key();
    p.client.write("tests/fixture.env", &env_file(&key));
    let leaky = p.client.commit("fixture");
    let wrong = format!("sgscan.allow={}", "0".repeat(64));
    let err = rejected(&p.push(&["-o", &wrong, "main"]));
    assert!(err.contains("matches no key"), "{err}");
    let log = p.server.path.join("sgscan-audit.jsonl");
    assert!(!log.exists(), "a wrong fingerprint was logged as a bypass");
    let right = format!("sgscan.allow={}", fp(&key));
    let err = accepted(
        &p.client
            .run(&[("USER", "carol")], &["push", "-o", &right, "origin", "main"]),
    );
    assert!(err.contains("let through by push option"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    assert_eq!(p.server_rev("main").as_deref(), Some(leaky.as_str()));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["event"], "push-bypass");
    assert_eq!(line["ref"], "refs/heads/main");
    assert_eq!(line["fingerprint"], fp(&key).as_str());
    assert_eq!(line["key_id"], id(&key).as_str());
    assert_eq!(line["commits"][0], leaky.as_str());
    assert!(line["pusher"].as_str().unwrap().contains("carol"), "{line}");
    assert_no_key(&text, "the audit log", &[&key]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_key_inside_a_pushed_archive_is_rejected() {
    let p = Push::new(None);
    let key = KeyGen::new(2307).key();
    let archive = gz(&tar(&[("app/.env", env_file(&key).as_bytes())]));
    std::fs::write(p.client.path.join("backup.tar.gz"), archive).unwrap();
    p.client.commit("backup");
    let err = rejected(&p.push(&["main"]));
    assert!(err.contains("backup.tar.gz!app/.env:1"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
}

fn big_push(p: &Push) {
    for i in 0..40 {
        p.client
            .write(&format!("src/file{i}.txt"), &format!("line {i}\n").repeat(200));
    }
    p.client.commit("many files");
}

#[test]
fn a_push_over_the_time_budget_is_rejected_by_default() {
    let p = Push::new(Some("--time-budget 1ms"));
    big_push(&p);
    let err = rejected(&p.push(&["main"]));
    assert!(
        err.contains("time budget") && err.contains("--on-timeout reject"),
        "{err}"
    );
    assert_eq!(p.server_rev("main"), None);
}

#[test]
fn a_push_over_the_time_budget_is_accepted_with_on_timeout_accept() {
    let p = Push::new(Some("--time-budget 1ms --on-timeout accept"));
    big_push(&p);
    let err = accepted(&p.push(&["main"]));
    assert!(
        err.contains("without a complete scan") && err.contains("--on-timeout accept"),
        "{err}"
    );
}

#[test]
fn malformed_input_fails_closed() {
    let tmp = TempDir::new().unwrap();
    let server = Repo::open(&tmp.path().join("s.git"));
    std::fs::create_dir_all(&server.path).unwrap();
    server.git(&["init", "-q", "--bare"]);
    let mut cmd = sgscan_process(&server.path);
    cmd.arg("pre-receive")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"not a ref line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("push rejected") && err.contains("ref line 1"),
        "{err}"
    );
}

#[test]
fn install_hook_server_refuses_a_work_tree_and_an_existing_hook() {
    let p = Push::new(None);
    let again = sgscan_process(&p.client.path)
        .args(["install-hook", "--server"])
        .arg(&p.server.path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let forced = sgscan_process(&p.client.path)
        .args(["install-hook", "--server", "--force"])
        .arg(&p.server.path)
        .output()
        .unwrap();
    assert!(forced.status.success());
    let work_tree = sgscan_process(&p.client.path)
        .args(["install-hook", "--server", "."])
        .output()
        .unwrap();
    assert_eq!(work_tree.status.code(), Some(2));
    assert!(stderr(&work_tree).contains("not a bare repository"));
}

#[test]
fn a_sgscan_allow_marker_the_push_brings_lets_nothing_through() {
    // The marker is the pusher's own word: honouring it would be a bypass with no audit line.
    let p = Push::new(None);
    let key = KeyGen::new(2321).key();
    p.client
        .write("app.env", &format!("SENDGRID_API_KEY={key} # sgscan:allow\n"));
    p.client.commit("marked");
    let err = rejected(&p.push(&["main"]));
    assert!(err.contains("app.env:1"), "{err}");
    assert_no_key(&err, "the push's remote: lines", &[&key]);
    assert_eq!(p.server_rev("main"), None);
}

#[test]
fn a_blob_too_big_to_read_is_not_let_through_unscanned() {
    // A key past --max-file-size is not read: the push was not scanned in full.
    let p = Push::new(Some("--max-file-size 1K"));
    let key = KeyGen::new(2322).key();
    p.client
        .write("big.txt", &format!("{}\n{}", "x".repeat(3000), env_file(&key)));
    p.client.commit("big");
    let err = rejected(&p.push(&["main"]));
    assert!(
        err.contains("larger than --max-file-size") && err.contains("not scanned in full"),
        "{err}"
    );
    assert_eq!(p.server_rev("main"), None);
    // The administrator may choose to let such pushes through, as a push over the budget.
    p.install(Some("--max-file-size 1K --on-timeout accept"));
    let err = accepted(&p.push(&["main"]));
    assert!(err.contains("without a complete scan"), "{err}");
}

#[test]
fn a_key_in_a_ref_name_is_rejected() {
    let p = Push::new(None);
    p.client.write("a.txt", "a\n");
    p.client.commit("base");
    let key = KeyGen::new(2323).key();
    let err = rejected(&p.push(&[&format!("main:refs/heads/{key}")]));
    assert!(err.contains("ref name"), "{err}");
    // git's own lines name the ref as the pusher typed it; the hook's (`remote:`) must not.
    let hook: String = err.lines().filter(|l| l.starts_with("remote:")).collect();
    assert_no_key(&hook, "the push's remote: lines", &[&key]);
    let refs = p.server.run(&[], &["for-each-ref"]);
    assert!(
        refs.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&refs.stdout)
    );
}
