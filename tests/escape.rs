//! Text from outside never reaches the terminal raw: file names, skipped paths, git authors and
//! the API's answers are escaped in human output, and kept exact in JSON.
//!
//! No key literal appears in this file: keys are generated at run time.

use std::os::unix::ffi::OsStrExt;
use std::process::Command as Std;

use crate::util::mock::{Behavior, Hostile, MockSendGrid};
use crate::util::{KeyGen, Run, Tree, run, scan, scrub};

/// A name that would set the window title, clear the screen and forge a report line.
const HOSTILE: &str = "evil\x1b]0;pwned\x07\x1b[2J\nsgscan: 0 keys\r\u{9b}31m.env";
const HOSTILE_SHOWN: &str = "evil\\x1b]0;pwned\\x07\\x1b[2J\\nsgscan: 0 keys\\r\\x9b31m.env";

/// No byte of the output may be a control character other than the newline that ends a line
/// (colour is off: stdout is not a terminal).
fn assert_no_controls(run: &Run) {
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
        assert!(
            bad.is_empty(),
            "{what} holds control characters {bad:?}:\n{}",
            scrub(text)
        );
    }
}

sgtest!(
    hostile_file_name_is_escaped_in_human_output_and_exact_in_json,
    |dir, cmd| {
        let key = KeyGen::new(1).key();
        std::fs::write(dir.root().join(HOSTILE), format!("SENDGRID_API_KEY={key}\n")).unwrap();

        let human = scan(dir.root(), &["dir", "."]);
        assert_eq!(human.code, 1);
        assert_no_controls(&human);
        let text = human.stdout;
        assert!(text.contains(HOSTILE_SHOWN), "{}", scrub(&text));
        assert!(
            !text.lines().any(|l| l.starts_with("sgscan: 0 keys")),
            "a forged line:\n{text}"
        );

        let json = scan(dir.root(), &["dir", ".", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&json.out).unwrap();
        assert_eq!(v["findings"][0]["locations"][0]["path"], HOSTILE);
    }
);

sgtest!(invalid_utf8_file_name_keeps_its_bytes, |dir, cmd| {
    let key = KeyGen::new(2).key();
    let name = std::ffi::OsStr::from_bytes(b"conf\xff\xfe.env");
    std::fs::write(dir.root().join(name), format!("k={key}\n")).unwrap();

    let human = scan(dir.root(), &["dir", "."]);
    assert_eq!(human.code, 1);
    assert!(
        human.stdout.contains("conf\\xff\\xfe.env"),
        "{}",
        human.stdout.replace(&key, "<key>")
    );

    let json = scan(dir.root(), &["dir", ".", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.out).unwrap();
    let loc = &v["findings"][0]["locations"][0];
    assert_eq!(loc["path_bytes"], hex::encode(b"conf\xff\xfe.env"));
    assert_eq!(loc["path"], "conf\u{fffd}\u{fffd}.env");
});

sgtest!(skipped_path_and_error_path_are_escaped, |dir, cmd| {
    std::os::unix::fs::symlink("nowhere", dir.root().join(HOSTILE)).unwrap();
    let human = scan(dir.root(), &["dir", "."]);
    assert_eq!(human.code, 0);
    assert_no_controls(&human);
    assert!(human.stdout.contains(HOSTILE_SHOWN), "{}", human.stdout);

    let missing = scan(dir.root(), &["dir", "no\x1b[2Jsuch"]);
    assert_eq!(missing.code, 2);
    assert_no_controls(&missing);
    assert!(missing.stderr.contains("no\\x1b[2Jsuch"));
});

sgtest!(git_author_and_path_are_escaped, |dir, cmd| {
    let git = |args: &[&str]| {
        let ok = Std::new("git")
            .current_dir(dir.root())
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
    std::fs::write(dir.root().join(HOSTILE), format!("k={key}\n")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "add"]);

    let human = run(cmd.env("NO_COLOR", "1").args(["git", ".", "-q"]));
    assert_eq!(human.code, 1, "{}", scrub(&human.stdout));
    assert_no_controls(&human);
    let text = human.stdout;
    assert!(text.contains("Mal\\x1b]0;pwned\\x07lory"), "{}", scrub(&text));
    assert!(text.contains(HOSTILE_SHOWN), "{}", scrub(&text));
});

sgtest!(api_text_is_escaped, |dir, cmd| {
    let key = KeyGen::new(4).key();
    std::fs::write(dir.root().join(".env"), format!("k={key}\n")).unwrap();
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
    let human = run(cmd
        .env("NO_COLOR", "1")
        .args(["dir", ".", "--verify", "--api-url", &mock.url()]));
    assert_eq!(human.code, 1);
    assert_no_controls(&human);
    let text = human.stdout;
    assert!(
        text.contains("forbidden\\x1b]0;pwned\\x07\\n[forged]"),
        "{}",
        scrub(&text)
    );
    assert!(!text.lines().any(|l| l.starts_with("[forged]")));
});

/// `sgscan dir` on a root it may not read exits 2: a CI job must not pass on a tree it never saw.
/// Root reads everything, so as root the scan runs as `nobody` (through `setpriv`).
#[test]
fn unreadable_root_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Tree::new();
    std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.root().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("a.txt"), "nothing").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    // A copy the unprivileged user can execute wherever the build directory is (CI clones under
    // root's home, which `nobody` cannot enter).
    let bin = dir.root().join("sgscan");
    std::fs::copy(assert_cmd::cargo::cargo_bin("sgscan"), &bin).unwrap();
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
        .current_dir(dir.root())
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
