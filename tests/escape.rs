//! Text from outside never reaches the terminal raw: file names, skipped paths, git authors and
//! the API's answers are escaped in human output, and kept exact in JSON.
//!
//! No key literal appears in this file: keys are generated at run time.

use crate::util as common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;
use common::KeyGen;
use common::mock::{Behavior, Hostile, MockSendGrid};

/// A name that would set the window title, clear the screen and forge a report line.
const HOSTILE: &str = "evil\x1b]0;pwned\x07\x1b[2J\nsgscan: 0 keys\r\u{9b}31m.env";
const HOSTILE_SHOWN: &str = "evil\\x1b]0;pwned\\x07\\x1b[2J\\nsgscan: 0 keys\\r\\x9b31m.env";

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// No byte of the output may be a control character other than the newline that ends a line
    /// (colour is off: stdout is not a terminal).
    fn assert_no_controls(&self) {
        for (what, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
            assert!(
                bad.is_empty(),
                "{what} holds control characters {bad:?}:\n{}",
                common::run::scrub(&text)
            );
        }
    }
}

fn sgscan(cwd: &Path, args: &[&str]) -> Out {
    let out = Command::cargo_bin("sgscan")
        .expect("binary")
        .current_dir(cwd)
        .env_remove("SGSCAN_API_URL")
        .env_remove("SGSCAN_ADMIN_KEY")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run sgscan");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

#[test]
fn hostile_file_name_is_escaped_in_human_output_and_exact_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyGen::new(1).key();
    std::fs::write(dir.path().join(HOSTILE), format!("SENDGRID_API_KEY={key}\n")).unwrap();

    let human = sgscan(dir.path(), &["dir", "."]);
    assert_eq!(human.code, 1);
    human.assert_no_controls();
    let text = human.text();
    assert!(text.contains(HOSTILE_SHOWN), "{}", common::run::scrub(&text));
    assert!(
        !text.lines().any(|l| l.starts_with("sgscan: 0 keys")),
        "a forged line:\n{text}"
    );

    let json = sgscan(dir.path(), &["dir", ".", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["findings"][0]["locations"][0]["path"], HOSTILE);
}

#[test]
fn invalid_utf8_file_name_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyGen::new(2).key();
    let name = std::ffi::OsStr::from_bytes(b"conf\xff\xfe.env");
    std::fs::write(dir.path().join(name), format!("k={key}\n")).unwrap();

    let human = sgscan(dir.path(), &["dir", "."]);
    assert_eq!(human.code, 1);
    assert!(
        human.text().contains("conf\\xff\\xfe.env"),
        "{}",
        human.text().replace(&key, "<key>")
    );

    let json = sgscan(dir.path(), &["dir", ".", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let loc = &v["findings"][0]["locations"][0];
    assert_eq!(loc["path_bytes"], hex::encode(b"conf\xff\xfe.env"));
    assert_eq!(loc["path"], "conf\u{fffd}\u{fffd}.env");
}

#[test]
fn skipped_path_and_error_path_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("nowhere", dir.path().join(HOSTILE)).unwrap();
    let human = sgscan(dir.path(), &["dir", "."]);
    assert_eq!(human.code, 0);
    human.assert_no_controls();
    assert!(human.text().contains(HOSTILE_SHOWN), "{}", human.text());

    let missing = sgscan(dir.path(), &["dir", "no\x1b[2Jsuch"]);
    assert_eq!(missing.code, 2);
    missing.assert_no_controls();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no\\x1b[2Jsuch"));
}

#[test]
fn git_author_and_path_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = Std::new("git")
            .current_dir(dir.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "Mal\x1b]0;pwned\x07lory")
            .env("GIT_AUTHOR_EMAIL", "m@example.invalid\x1b[2J")
            .env("GIT_COMMITTER_NAME", "c")
            .env("GIT_COMMITTER_EMAIL", "c@example.invalid")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    let key = KeyGen::new(3).key();
    std::fs::write(dir.path().join(HOSTILE), format!("k={key}\n")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "add"]);

    let human = sgscan(dir.path(), &["git", ".", "-q"]);
    assert_eq!(human.code, 1, "{}", common::run::scrub(&human.text()));
    human.assert_no_controls();
    let text = human.text();
    assert!(
        text.contains("Mal\\x1b]0;pwned\\x07lory"),
        "{}",
        common::run::scrub(&text)
    );
    assert!(text.contains(HOSTILE_SHOWN), "{}", common::run::scrub(&text));
}

#[test]
fn api_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyGen::new(4).key();
    std::fs::write(dir.path().join(".env"), format!("k={key}\n")).unwrap();
    let mock = MockSendGrid::start();
    mock.set(&key, Behavior::live(&["mail.send"]));
    // A scope that is not a scope name makes the answer not SendGrid's (it is never shown): the
    // API text that does reach the output is SendGrid's error message.
    let message = "forbidden\x1b]0;pwned\x07\n[forged]";
    mock.hostile(
        &key,
        "GET",
        "/v3/scopes",
        Hostile::Raw {
            status: 403,
            content_type: "application/json",
            body: serde_json::json!({"errors": [{"field": null, "message": message}]}).to_string(),
            headers: Vec::new(),
        },
    );
    let human = sgscan(dir.path(), &["dir", ".", "--verify", "--api-url", &mock.url()]);
    assert_eq!(human.code, 1);
    human.assert_no_controls();
    let text = human.text();
    assert!(
        text.contains("forbidden\\x1b]0;pwned\\x07\\n[forged]"),
        "{}",
        common::run::scrub(&text)
    );
    assert!(!text.lines().any(|l| l.starts_with("[forged]")));
}

/// `sgscan dir` on a root it may not read exits 2: a CI job must not pass on a tree it never saw.
/// Root reads everything, so as root the scan runs as `nobody` (through `setpriv`).
#[test]
fn unreadable_root_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("a.txt"), "nothing").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    let bin = assert_cmd::cargo::cargo_bin("sgscan");
    let as_root = unsafe { libc_geteuid() } == 0;
    let mut cmd = if as_root {
        let mut c = Std::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Std::new(&bin)
    };
    let out = cmd
        .current_dir(dir.path())
        .args(["dir", "locked"])
        .output()
        .unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read locked"), "{stderr}");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
