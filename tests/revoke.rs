//! `sgscan dir --revoke` and `sgscan revoke --key-id` end to end: the built binary against a fake
//! SendGrid API (`util::mock`), one mock per test (tests run in parallel threads).
//!
//! No key literal appears in this file: every key, the admin key included, is generated at run time
//! (`util::KeyGen`). The admin key reaches sgscan through `SGSCAN_ADMIN_KEY` or
//! `--admin-key-file`, never the command line. Diagnostics scrub anything shaped like a key, and
//! every run is checked for keys in its standard output, standard error and audit log.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::util::mock::{self, Behavior, DeleteStep, Hostile, MockSendGrid};
use crate::util::{
    KeyGen, Run, Tree, assert_no_key, assert_run_leaks_nothing, cut, finding, findings, fp, id, jsonl, run,
    scrub, sgscan, sgscan_process, text, verification,
};

/// Asserts that neither output stream of `run`, nor the audit log, holds a key.
fn assert_leaks_nothing(run: &Run, tree: &Tree, keys: &[&String]) {
    assert_run_leaks_nothing(run, keys);
    assert_no_key(&tree.audit_text(), "the audit log", keys);
}

/// What sgscan reports as `by` / `revoked_by` for an admin key.
fn admin_who(admin: &str) -> String {
    format!("admin:{}", &fp(admin)[..16])
}

// The audit log lives beside the scan, outside it.
impl Tree {
    fn audit(&self) -> PathBuf {
        self.outside("audit.jsonl")
    }

    /// The audit log's text; empty if it does not exist.
    fn audit_text(&self) -> String {
        match std::fs::read_to_string(self.audit()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("cannot read the audit log: {e}"),
        }
    }

    /// The audit log's lines, each parsed (and required to be one JSON object per line).
    fn audit_lines(&self) -> Vec<Value> {
        jsonl(&self.audit_text(), "the audit log")
    }

    /// The audit log's lines of one `event` (`attempt` before a DELETE, `result` after).
    fn audit_events(&self, event: &str) -> Vec<Value> {
        self.audit_lines()
            .into_iter()
            .filter(|l| l["event"] == event)
            .collect()
    }

    /// The `result` lines: one per key sgscan tried to revoke.
    fn audit_results(&self) -> Vec<Value> {
        self.audit_events("result")
    }

    /// The `attempt` lines: one before each DELETE.
    fn audit_attempts(&self) -> Vec<Value> {
        self.audit_events("attempt")
    }

    /// Writes the admin key to a file outside the scan, for `--admin-key-file`.
    fn admin_file(&self, admin: &str) -> PathBuf {
        let path = self.outside("admin.key");
        std::fs::write(&path, format!("{admin}\n")).unwrap();
        path
    }
}

/// How sgscan gets the admin key.
#[derive(Clone, Copy)]
enum Admin<'a> {
    None,
    /// `SGSCAN_ADMIN_KEY`
    Env(&'a str),
    /// `--admin-key-file`
    File(&'a Path),
}

/// The binary in `tree`'s directory. `admin`: `SGSCAN_ADMIN_KEY` is set here; `--admin-key-file`
/// goes after the subcommand's arguments (see [`admin_args`]).
fn sgscan_as(tree: &Tree, admin: Admin) -> Command {
    let mut cmd = sgscan(tree.root());
    if let Admin::Env(key) = admin {
        cmd.env("SGSCAN_ADMIN_KEY", key);
    }
    cmd
}

/// `--admin-key-file FILE` for [`Admin::File`], nothing otherwise.
fn admin_args(admin: Admin) -> Vec<String> {
    match admin {
        Admin::File(path) => vec!["--admin-key-file".into(), path.to_str().unwrap().into()],
        _ => Vec::new(),
    }
}

/// The arguments of `sgscan dir SCAN --revoke --api-url URL --audit-log AUDIT --revoke-wait 5
/// -f json EXTRA…` (an `--revoke-wait` or `-f` in EXTRA replaces the default).
fn revoke_args(tree: &Tree, url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["dir".into(), tree.scan_dir().to_str().unwrap().into()];
    args.extend(["--revoke", "--api-url", url].map(String::from));
    args.push("--audit-log".into());
    args.push(tree.audit().to_str().unwrap().into());
    if !extra.contains(&"--revoke-wait") {
        args.extend(["--revoke-wait", "5"].map(String::from));
    }
    if !extra.contains(&"-f") {
        args.extend(["-f", "json"].map(String::from));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `sgscan dir SCAN --revoke … EXTRA…` (no `--yes` unless in EXTRA).
fn revoke_run(tree: &Tree, mock: &MockSendGrid, admin: Admin, extra: &[&str]) -> Run {
    run(sgscan_as(tree, admin)
        .args(revoke_args(tree, &mock.url(), extra))
        .args(admin_args(admin)))
}

/// `sgscan dir SCAN --revoke --yes … EXTRA…`, which must exit 1 (findings) with a JSON report.
fn revoke_yes(tree: &Tree, mock: &MockSendGrid, admin: Admin, extra: &[&str]) -> (Run, Value) {
    let mut all = vec!["--yes"];
    all.extend_from_slice(extra);
    let r = revoke_run(tree, mock, admin, &all);
    assert_eq!(r.code, 1, "expected exit 1 (findings):\n{r}");
    let doc = r.json();
    (r, doc)
}

/// `sgscan revoke --key-id ID --api-url URL --audit-log AUDIT EXTRA…`
fn revoke_id(tree: &Tree, mock: &MockSendGrid, admin: Admin, key_id: &str, extra: &[&str]) -> Run {
    run(sgscan_as(tree, admin)
        .args(["revoke", "--key-id", key_id, "--api-url", &mock.url()])
        .arg("--audit-log")
        .arg(tree.audit())
        .args(extra)
        .args(admin_args(admin)))
}

fn revocation<'a>(doc: &'a Value, key: &str) -> &'a Value {
    let v = &finding(doc, key)["revocation"];
    assert!(
        v.is_object(),
        "finding for key id {} has no `revocation` object: {}",
        id(key),
        finding(doc, key)
    );
    v
}

/// Every request the mock saw, as `METHOD PATH WHO STATUS`, `WHO` naming the bearer among `names`.
fn trace(mock: &MockSendGrid, names: &[(&str, &String)]) -> Vec<String> {
    mock.requests()
        .iter()
        .map(|r| {
            let who = r
                .fingerprint
                .as_deref()
                .and_then(|f| names.iter().find(|(_, k)| fp(k) == f).map(|(n, _)| *n))
                .unwrap_or("?");
            format!("{} {} {who} {}", r.method, r.path, r.status)
        })
        .collect()
}

/// The paths of the DELETE requests the mock saw, sorted.
fn delete_paths(mock: &MockSendGrid) -> Vec<String> {
    let mut paths: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    paths.sort();
    paths
}

fn key_path(key: &str) -> String {
    format!("/v3/api_keys/{}", id(key))
}

/// An admin key holding what revocation by id needs.
fn admin_scopes() -> Behavior {
    Behavior::live(&["api_keys.read", "api_keys.delete"])
}

/// Checks the fields every audit line carries.
fn assert_audit_line(line: &Value, key: &str, revoked_by: &str, result: &str) {
    let l = scrub(&line.to_string());
    assert_eq!(line["fingerprint"], fp(key).as_str(), "{l}");
    assert_eq!(line["key_id"], id(key).as_str(), "{l}");
    assert_eq!(line["revoked_by"], revoked_by, "{l}");
    assert_eq!(line["result"], result, "{l}");
    let ts = text(line, "timestamp");
    assert!(
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
            .unwrap()
            .is_match(&ts),
        "timestamp {ts:?} is not RFC 3339: {l}"
    );
    assert!(line["reason"].is_string(), "{l}");
    assert!(line["found_at"].as_str().is_some_and(|s| !s.is_empty()), "{l}");
}

// Revocation by the leaked key itself

#[test]
fn a_key_holding_api_keys_delete_revokes_itself_and_is_polled_until_dead() {
    let mock = MockSendGrid::start();
    let leaked = KeyGen::new(0x7e01).key();
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    let tree = Tree::new();
    tree.put_key("app/.env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::None, &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked]);
    assert_eq!(
        trace(&mock, &[("leaked", &leaked)]),
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("DELETE {} leaked 204", key_path(&leaked)),
            "GET /v3/scopes leaked 401".to_string(),
        ],
        "verify, DELETE its own id with itself, then re-check until it no longer authenticates"
    );
    assert!(mock.is_revoked(&leaked));
    assert_eq!(verification(&doc, &leaked)["status"], "live");
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{rv}");
    assert_eq!(rv["by"], "self", "{rv}");
    assert!(rv["manual_step"].is_null(), "{rv}");

    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1, "one audit line per attempt");
    assert_audit_line(&lines[0], &leaked, "self", "revoked");
    let found_at = text(&lines[0], "found_at");
    assert!(
        found_at.contains("app") && found_at.ends_with(".env:2"),
        "found_at {found_at:?} should name the file and line"
    );
}

// Revocation with an admin key

fn admin_key_revokes_a_send_only_key(seed: u64, use_file: bool) {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(seed);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("svc/.env", &leaked);
    let file = tree.admin_file(&admin);
    let how = if use_file {
        Admin::File(&file)
    } else {
        Admin::Env(&admin)
    };

    let (r, doc) = revoke_yes(&tree, &mock, how, &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let path = key_path(&leaked);
    assert_eq!(
        trace(&mock, &[("leaked", &leaked), ("admin", &admin)]),
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("GET {path} admin 200"),
            format!("DELETE {path} admin 204"),
            "GET /v3/scopes leaked 401".to_string(),
        ],
        "look the id up with the admin key, DELETE it with the admin key, re-check the leaked key"
    );
    assert!(mock.is_revoked(&leaked));
    assert!(!mock.is_revoked(&admin), "the admin key itself is left alone");
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{rv}");
    let by = text(rv, "by");
    assert_eq!(by, admin_who(&admin));
    assert!(
        regex::Regex::new("^admin:[0-9a-f]{16}$").unwrap().is_match(&by),
        "{by}"
    );
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1);
    assert_audit_line(&lines[0], &leaked, &by, "revoked");
}

#[test]
fn admin_key_from_the_environment_revokes_a_send_only_key() {
    admin_key_revokes_a_send_only_key(0x7e02, false);
}

#[test]
fn admin_key_from_a_file_revokes_a_send_only_key() {
    admin_key_revokes_a_send_only_key(0x7e03, true);
}

// Refusals and failures

#[test]
fn without_admin_key_or_api_keys_delete_nothing_is_deleted() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e04);
    let (reader, no_scopes) = (g.key(), g.key());
    // Can read keys but not delete them.
    mock.set(&reader, Behavior::live(&["mail.send", "api_keys.read"]));
    // Live, scopes unknown (401 "Maximum credits exceeded").
    mock.set(&no_scopes, Behavior::LiveNoCredits);
    let tree = Tree::new();
    tree.put_key("a/.env", &reader);
    tree.put_key("b/.env", &no_scopes);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::None, &[]);
    assert_leaks_nothing(&r, &tree, &[&reader, &no_scopes]);
    assert_eq!(mock.count("DELETE", "/"), 0, "no DELETE may be sent");
    assert_eq!(
        mock.requests().len(),
        2,
        "only the two verifications: {:?}",
        trace(&mock, &[("reader", &reader), ("no_scopes", &no_scopes)])
    );
    for k in [&reader, &no_scopes] {
        assert_eq!(verification(&doc, k)["status"], "live");
        let rv = revocation(&doc, k);
        assert_eq!(rv["status"], "revoke-failed", "{rv}");
        assert!(text(rv, "reason").contains("no permission"), "{rv}");
        let step = text(rv, "manual_step");
        assert!(step.contains(&id(k)), "the manual step names the key id: {step}");
        assert!(!mock.is_revoked(k));
    }
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 2, "one line per attempt, failed ones too");
    for k in [&reader, &no_scopes] {
        let line = lines
            .iter()
            .find(|l| l["key_id"] == id(k).as_str())
            .expect("an audit line per key");
        assert_audit_line(line, k, "self", "revoke-failed");
    }
}

#[test]
fn admin_key_of_another_account_deletes_nothing() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e05);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set_account(&leaked, "other");
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    assert_eq!(
        trace(&mock, &[("leaked", &leaked), ("admin", &admin)]),
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("GET {} admin 404", key_path(&leaked)),
        ]
    );
    assert_eq!(mock.count("DELETE", "/"), 0);
    assert!(!mock.is_revoked(&leaked));
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    assert!(text(rv, "reason").contains("not in this account"), "{rv}");
    assert!(text(rv, "manual_step").contains(&id(&leaked)), "{rv}");
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1);
    assert_audit_line(&lines[0], &leaked, &admin_who(&admin), "revoke-failed");
}

#[test]
fn a_403_on_delete_is_revoke_failed_with_the_reason() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e06);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    // Can look keys up, cannot delete them.
    mock.set(&admin, Behavior::live(&["api_keys.read"]));
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let path = key_path(&leaked);
    assert_eq!(
        trace(&mock, &[("leaked", &leaked), ("admin", &admin)]),
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("GET {path} admin 200"),
            format!("DELETE {path} admin 403"),
        ],
        "a 403 is not retried, and a refused DELETE is not followed by polling"
    );
    assert!(!mock.is_revoked(&leaked));
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    let reason = text(rv, "reason");
    assert!(
        reason.contains("403") && reason.contains(mock::FORBIDDEN_MESSAGE),
        "{rv}"
    );
    assert!(text(rv, "manual_step").contains(&id(&leaked)), "{rv}");
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1);
    assert_audit_line(&lines[0], &leaked, &admin_who(&admin), "revoke-failed");
    assert!(text(&lines[0], "reason").contains("403"), "{}", lines[0]);
}

#[test]
fn a_404_on_delete_counts_as_revoked_self() {
    // SendGrid already deleted the key (e.g. its own leak scanner) but, within the propagation
    // delay, it still authenticates: the verification says live, the DELETE says 404.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e07);
    let (leaked, other_admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&other_admin, admin_scopes());
    mock.set_revoke_propagation(2);
    assert_eq!(mock.send("DELETE", &key_path(&leaked), Some(&other_admin)).0, 204);
    let before = mock.requests().len();
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::None, &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &other_admin]);
    assert_eq!(
        trace(&mock, &[("leaked", &leaked)])[before..],
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("DELETE {} leaked 404", key_path(&leaked)),
            "GET /v3/scopes leaked 401".to_string(),
        ],
        "a 404 is believed only once the key itself no longer authenticates"
    );
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{rv}");
    assert_eq!(rv["by"], "self", "{rv}");
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1);
    assert_audit_line(&lines[0], &leaked, "self", "revoked");
}

#[test]
fn a_404_on_delete_while_the_key_still_authenticates_is_not_revoked() {
    // The DELETE says "no such id" but the key keeps working: a 404 proves nothing by itself.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e08);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.script_deletes(&[DeleteStep::Status(404)]);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let t = trace(&mock, &[("leaked", &leaked), ("admin", &admin)]);
    assert_eq!(mock.count("DELETE", "/"), 1, "a 404 is not retried: {t:?}");
    assert!(
        t.iter()
            .skip_while(|l| !l.starts_with("DELETE"))
            .any(|l| l == "GET /v3/scopes leaked 200"),
        "the key is re-checked after the 404: {t:?}"
    );
    assert!(!mock.is_revoked(&leaked));
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    assert!(text(rv, "reason").contains("404"), "{rv}");
    assert!(text(rv, "manual_step").contains(&id(&leaked)), "{rv}");
    assert_eq!(text(rv, "by"), admin_who(&admin));
    assert_audit_line(
        &tree.audit_results()[0],
        &leaked,
        &admin_who(&admin),
        "revoke-failed",
    );
}

// Retries

#[test]
fn a_429_on_delete_is_retried_after_retry_after() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e09);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.script_deletes(&[DeleteStep::Status(429)]);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let deletes: Vec<_> = mock
        .requests_for(&admin)
        .into_iter()
        .filter(|q| q.method == "DELETE")
        .collect();
    assert_eq!(
        deletes.iter().map(|q| q.status).collect::<Vec<_>>(),
        [429, 204],
        "{:?}",
        trace(&mock, &[("leaked", &leaked), ("admin", &admin)])
    );
    assert!(deletes.iter().all(|q| q.path == key_path(&leaked)));
    let gap = deletes[1].at - deletes[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured ({gap:?} between the attempts)"
    );
    assert!(mock.is_revoked(&leaked));
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{rv}");
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1, "one result line, retries included");
    assert_audit_line(&lines[0], &leaked, &admin_who(&admin), "revoked");
    let attempts = tree.audit_attempts();
    assert_eq!(attempts.len(), 2, "an attempt line before each DELETE sent");
    let events: Vec<Value> = tree.audit_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(events, ["attempt", "attempt", "result"]);
}

#[test]
fn a_500_on_delete_is_not_resent_and_the_key_is_re_checked() {
    // A 5xx says nothing of whether the DELETE took effect: it is not sent again, the key is.
    let mock = MockSendGrid::start();
    let leaked = KeyGen::new(0x7e0a).key();
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.script_deletes(&[DeleteStep::Status(500)]);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::None, &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked]);
    let t = trace(&mock, &[("leaked", &leaked)]);
    assert_eq!(mock.count("DELETE", "/"), 1, "the DELETE was resent: {t:?}");
    assert_eq!(
        t[..3],
        [
            "GET /v3/scopes leaked 200".to_string(),
            format!("DELETE {} leaked 500", key_path(&leaked)),
            "GET /v3/scopes leaked 200".to_string(),
        ]
    );
    assert!(!mock.is_revoked(&leaked));
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    let reason = text(rv, "reason");
    assert!(
        reason.contains("500") && reason.contains("may or may not"),
        "{rv}"
    );
    assert!(text(rv, "manual_step").contains(&id(&leaked)), "{rv}");
    assert_eq!(tree.audit_attempts().len(), 1);
    assert_audit_line(&tree.audit_results()[0], &leaked, "self", "revoke-failed");
}

/// A DELETE that revoked the key but whose answer was lost (`step`): never resent (a second one
/// would get 404 and be misread as "already deleted"), and the key's own 401 proves the revocation.
fn a_delete_that_took_effect_is_not_resent(seed: u64, step: DeleteStep, extra: &[&str], reason_has: &str) {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(seed);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.script_deletes(std::slice::from_ref(&step));
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), extra);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let t = trace(&mock, &[("leaked", &leaked), ("admin", &admin)]);
    assert_eq!(
        mock.count("DELETE", "/"),
        1,
        "{step:?}: the DELETE was resent: {t:?}"
    );
    assert_eq!(
        t.last().map(String::as_str),
        Some("GET /v3/scopes leaked 401"),
        "{step:?}: the key was re-checked: {t:?}"
    );
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{step:?}: {rv}");
    let reason = text(rv, "reason");
    assert!(!reason.contains("already deleted"), "{step:?}: {rv}");
    assert!(reason.contains(reason_has), "{step:?}: {rv}");
    assert!(reason.contains("no longer authenticates"), "{step:?}: {rv}");
    let events: Vec<Value> = tree.audit_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(events, ["attempt", "result"]);
    assert_audit_line(&tree.audit_results()[0], &leaked, &admin_who(&admin), "revoked");
}

#[test]
fn a_delete_that_took_effect_but_answered_500_is_not_resent() {
    a_delete_that_took_effect_is_not_resent(0x7e30, DeleteStep::DeletedThen(500), &[], "HTTP 500");
}

#[test]
fn a_delete_that_took_effect_but_timed_out_is_not_resent() {
    a_delete_that_took_effect_is_not_resent(
        0x7e31,
        DeleteStep::DeletedThenHang { secs: 4 },
        &["--verify-timeout", "1"],
        "timed out",
    );
}

#[test]
fn a_429_on_delete_that_is_not_sendgrids_is_not_resent() {
    // Only SendGrid's own 429 says "not processed"; a gateway's may have let the DELETE through.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e32);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.hostile(
        &admin,
        "DELETE",
        "/v3/api_keys/",
        Hostile::Raw {
            status: 429,
            content_type: "text/html",
            body: "<html>Slow down</html>".into(),
            // Asks for an immediate retry: nothing but the rule keeps the DELETE from going again.
            headers: vec![("Retry-After".into(), "0".into())],
        },
    );
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let t = trace(&mock, &[("leaked", &leaked), ("admin", &admin)]);
    assert_eq!(mock.count("DELETE", "/"), 1, "the DELETE was resent: {t:?}");
    assert!(
        t.iter()
            .skip_while(|l| !l.starts_with("DELETE"))
            .any(|l| l == "GET /v3/scopes leaked 200"),
        "the key is re-checked after the DELETE: {t:?}"
    );
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    assert!(
        text(rv, "reason").contains("HTTP 429 that is not SendGrid's"),
        "{rv}"
    );
    assert_eq!(tree.audit_attempts().len(), 1);
}

#[test]
fn a_404_on_delete_that_is_not_sendgrids_is_not_not_found() {
    // A proxy's 404 page says nothing about the id: the key is re-checked, and the reason does not
    // claim "no such id".
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e33);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.hostile(
        &admin,
        "DELETE",
        "/v3/api_keys/",
        Hostile::Raw {
            status: 404,
            content_type: "text/html",
            body: "<html>Not Found</html>".into(),
            headers: Vec::new(),
        },
    );
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    let reason = text(rv, "reason");
    assert!(!reason.contains("no such id"), "{rv}");
    assert!(reason.contains("HTTP 404 that is not SendGrid's"), "{rv}");
}

// Propagation delay

#[test]
fn revocation_is_reported_only_once_the_key_stops_authenticating() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e0b);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.set_revoke_propagation(2);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let t = trace(&mock, &[("leaked", &leaked), ("admin", &admin)]);
    let del = t
        .iter()
        .position(|l| l.starts_with("DELETE"))
        .unwrap_or_else(|| panic!("no DELETE: {t:?}"));
    let after: Vec<&String> = t[del + 1..]
        .iter()
        .filter(|l| l.starts_with("GET /v3/scopes leaked"))
        .collect();
    assert!(after.len() >= 3, "{t:?}");
    assert_eq!(
        after,
        [
            "GET /v3/scopes leaked 200",
            "GET /v3/scopes leaked 200",
            "GET /v3/scopes leaked 401"
        ],
        "polled through the propagation delay, stopped at the first 401: {t:?}"
    );
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoked", "{rv}");
    assert_audit_line(&tree.audit_results()[0], &leaked, &admin_who(&admin), "revoked");
}

#[test]
fn a_key_still_live_after_revoke_wait_is_revoke_pending() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e0c);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.set_revoke_propagation(1000);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    assert!(
        // The default wait is 60 s: well under that means --revoke-wait was honoured.
        r.elapsed < Duration::from_secs(25),
        "--revoke-wait 1 took {:?}",
        r.elapsed
    );
    assert!(mock.is_revoked(&leaked), "the DELETE was accepted");
    assert_eq!(mock.count("DELETE", "/"), 1);
    let polls = mock.count_for(&leaked, "GET", "/v3/scopes") - 1;
    assert!(polls >= 1, "the key was re-checked after the DELETE");
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-pending", "{rv}");
    assert!(rv["manual_step"].is_null() || rv["manual_step"].is_string());
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1);
    assert_audit_line(&lines[0], &leaked, &admin_who(&admin), "revoke-pending");
}

// Dry run and confirmation

#[test]
fn dry_run_sends_no_delete_and_writes_no_audit_line() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e0d);
    let (leaked, self_revocable, admin) = (g.key(), g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&self_revocable, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("a/.env", &leaked);
    tree.put_key("b/.env", &self_revocable);

    for admin_how in [Admin::Env(&admin), Admin::None] {
        let before = mock.requests().len();
        // No --yes and no terminal: a dry run needs no confirmation.
        let r = revoke_run(&tree, &mock, admin_how, &["--dry-run"]);
        assert_eq!(r.code, 1, "{r}");
        assert_leaks_nothing(&r, &tree, &[&leaked, &self_revocable, &admin]);
        let doc = r.json();
        let new = &mock.requests()[before..];
        assert_eq!(
            new.len(),
            2,
            "only the verifications: {:?}",
            &trace(
                &mock,
                &[("leaked", &leaked), ("self", &self_revocable), ("admin", &admin)]
            )[before..]
        );
        assert!(new.iter().all(|q| q.method == "GET" && q.path == "/v3/scopes"));
        for k in [&leaked, &self_revocable] {
            let rv = revocation(&doc, k);
            assert_eq!(rv["status"], "planned", "{rv}");
            assert!(r.stderr.contains(&id(k)), "the plan names key id {}:\n{r}", id(k));
            assert!(!mock.is_revoked(k));
        }
        assert!(tree.audit_results().is_empty(), "a dry run writes no audit line");
    }
}

#[test]
fn without_a_terminal_or_yes_nothing_is_sent_and_the_report_is_still_written() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e0e);
    let (a, b, admin) = (g.key(), g.key(), g.key());
    mock.set(&a, Behavior::live(&["mail.send"]));
    mock.set(&b, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("a/.env", &a);
    tree.put_key("b/.env", &b);

    // Report on stdout.
    let r = revoke_run(&tree, &mock, Admin::Env(&admin), &[]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&a, &b, &admin]);
    assert!(r.stderr.contains("--yes"), "stderr says to pass --yes:\n{r}");
    assert_eq!(mock.count("DELETE", "/"), 0);
    assert_eq!(
        mock.count("GET", "/v3/api_keys"),
        0,
        "nothing beyond the verification"
    );
    let doc = r.json();
    assert_eq!(findings(&doc).len(), 2, "{r}");
    for k in [&a, &b] {
        assert_eq!(verification(&doc, k)["status"], "live");
        assert!(!mock.is_revoked(k));
    }

    // Report to a file (-o), without an admin key (b could revoke itself).
    let out = tree.outside("report.json");
    let r = revoke_run(&tree, &mock, Admin::None, &["-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&a, &b, &admin]);
    assert!(r.stderr.contains("--yes"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0);
    let report = std::fs::read_to_string(&out).expect("the report file was written");
    assert_no_key(&report, "the report file", &[&a, &b, &admin]);
    let doc: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(findings(&doc).len(), 2);
    for k in [&a, &b] {
        assert_eq!(verification(&doc, k)["status"], "live");
    }
    assert!(tree.audit_results().is_empty(), "nothing was attempted");
}

// Only keys verified live in this run

#[test]
fn unknown_and_invalid_keys_are_never_deleted() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e0f);
    let (proxy, portal, hang, invalid, admin) = (g.key(), g.key(), g.key(), g.key(), g.key());
    mock.set(&proxy, Behavior::Forbidden403Html);
    mock.set_scopes(&proxy, &["mail.send", "api_keys.delete"]);
    mock.set(&portal, Behavior::Html200);
    mock.set(&hang, Behavior::Hang { secs: 4 });
    mock.set_scopes(&hang, &["mail.send", "api_keys.delete"]);
    mock.set(&invalid, Behavior::Invalid);
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("a/.env", &proxy);
    tree.put_key("b/.env", &portal);
    tree.put_key("c/.env", &hang);
    tree.put_key("d/.env", &invalid);
    let all = [&proxy, &portal, &hang, &invalid, &admin];

    for admin_how in [Admin::Env(&admin), Admin::None] {
        let (r, doc) = revoke_yes(
            &tree,
            &mock,
            admin_how,
            &["--verify-timeout", "1", "--verify-deadline", "2"],
        );
        assert_leaks_nothing(&r, &tree, &all);
        for (k, st) in [
            (&proxy, "unknown"),
            (&portal, "unknown"),
            (&hang, "unknown"),
            (&invalid, "invalid"),
        ] {
            assert_eq!(verification(&doc, k)["status"], st, "key id {}", id(k));
            assert!(
                finding(&doc, k)["revocation"].is_null(),
                "key id {} was considered for revocation: {}",
                id(k),
                finding(&doc, k)
            );
        }
        assert_eq!(
            mock.count("DELETE", "/"),
            0,
            "no DELETE for unknown or invalid keys"
        );
        assert_eq!(mock.count("GET", "/v3/api_keys"), 0, "no lookup either");
        assert!(tree.audit_results().is_empty());
    }
    for k in all {
        assert!(!mock.is_revoked(k));
    }
}

#[test]
fn a_cached_live_result_does_not_make_a_key_revocable() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e10);
    let (turned_unknown, still_live, admin) = (g.key(), g.key(), g.key());
    mock.set(&turned_unknown, Behavior::live(&["mail.send"]));
    mock.set(&still_live, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("a/.env", &turned_unknown);
    tree.put_key("b/.env", &still_live);
    let cache = tree.outside("cache.json");
    let cache_arg = cache.to_str().unwrap();

    // An earlier run records both keys as live.
    let r = run(sgscan_as(&tree, Admin::None).args([
        "dir",
        tree.scan_dir().to_str().unwrap(),
        "--verify",
        "--api-url",
        &mock.url(),
        "--cache",
        cache_arg,
        "-f",
        "json",
    ]));
    assert_eq!(r.code, 1, "{r}");
    for k in [&turned_unknown, &still_live] {
        assert_eq!(verification(&r.json(), k)["status"], "live");
    }
    let cached = std::fs::read_to_string(&cache).unwrap();
    assert!(
        cached.contains(&fp(&turned_unknown)),
        "the first run cached the key"
    );

    // Now a proxy answers for one key: the cache still says live, the API says nothing.
    mock.set(&turned_unknown, Behavior::Forbidden403Html);
    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--cache", cache_arg]);
    assert_leaks_nothing(&r, &tree, &[&turned_unknown, &still_live, &admin]);
    assert_eq!(
        mock.count_for(&turned_unknown, "GET", "/v3/scopes"),
        2,
        "with --revoke, verification is fresh"
    );
    let v = verification(&doc, &turned_unknown);
    assert_eq!(v["status"], "unknown", "{v}");
    assert_eq!(v["cached"], false, "{v}");
    assert!(finding(&doc, &turned_unknown)["revocation"].is_null());
    assert!(!mock.is_revoked(&turned_unknown));

    assert_eq!(
        mock.count_for(&still_live, "GET", "/v3/scopes"),
        3,
        "verified again (not from the cache), then re-checked after the DELETE"
    );
    assert_eq!(verification(&doc, &still_live)["cached"], false);
    assert_eq!(revocation(&doc, &still_live)["status"], "revoked");
    assert_eq!(delete_paths(&mock), [key_path(&still_live)]);
    assert_eq!(tree.audit_results().len(), 1);
}

#[test]
fn the_cache_does_not_report_a_revoked_key_as_live_afterwards() {
    let mock = MockSendGrid::start();
    let leaked = KeyGen::new(0x7e11).key();
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    let tree = Tree::new();
    tree.put_key(".env", &leaked);
    let cache = tree.outside("cache.json");
    let cache_arg = cache.to_str().unwrap();

    let (_, doc) = revoke_yes(&tree, &mock, Admin::None, &["--cache", cache_arg]);
    assert_eq!(revocation(&doc, &leaked)["status"], "revoked");

    let r = run(sgscan_as(&tree, Admin::None).args([
        "dir",
        tree.scan_dir().to_str().unwrap(),
        "--verify",
        "--api-url",
        &mock.url(),
        "--cache",
        cache_arg,
        "-f",
        "json",
    ]));
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    let v = verification(&doc, &leaked);
    assert_ne!(
        v["status"], "live",
        "sgscan revoked this key (and saw it answer 401) in the previous run, yet reports it live: {v}"
    );
}

// Exactly the leaked keys' own ids

#[test]
fn exactly_one_delete_per_leaked_key_and_only_their_own_ids() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e12);
    let (a, b, bystander, admin) = (g.key(), g.key(), g.key(), g.key());
    mock.set(&a, Behavior::live(&["mail.send"]));
    mock.set(&b, Behavior::live(&["mail.send", "stats.read"]));
    // In the same account, not leaked.
    mock.set(&bystander, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("one/.env", &a);
    tree.put("two/config.json", &format!("{{\"sendgrid\": \"{a}\"}}\n"));
    tree.put_key("three/.env", &b);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&a, &b, &bystander, &admin]);
    assert_eq!(finding(&doc, &a)["location_count"], 2);
    let mut expected = vec![key_path(&a), key_path(&b)];
    expected.sort();
    assert_eq!(
        delete_paths(&mock),
        expected,
        "one DELETE per distinct key, of its own id"
    );
    assert_eq!(mock.count_for(&admin, "DELETE", "/"), 2, "all with the admin key");
    let mut lookups: Vec<String> = mock
        .requests_for(&admin)
        .into_iter()
        .filter(|q| q.method == "GET")
        .map(|q| q.path)
        .collect();
    lookups.sort();
    assert_eq!(lookups, expected, "one lookup per key, of its own id");
    for k in [&a, &b] {
        assert!(mock.is_revoked(k));
        assert_eq!(revocation(&doc, k)["status"], "revoked");
    }
    assert!(!mock.is_revoked(&bystander), "an unrelated key was revoked");
    assert!(!mock.is_revoked(&admin), "the admin key was revoked");
    assert_eq!(mock.requests_for(&bystander).len(), 0);
    assert_eq!(tree.audit_results().len(), 2);
}

#[test]
fn a_leaked_admin_key_is_revoked_after_the_keys_it_revokes() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e13);
    let (admin, leaked) = (g.key(), g.key());
    mock.set(&admin, admin_scopes());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    // The admin key leaked too, in a file that sorts first.
    tree.put_key("a_admin/.env", &admin);
    tree.put_key("b_app/.env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&admin, &leaked]);
    assert_eq!(
        revocation(&doc, &leaked)["status"],
        "revoked",
        "{}\n{:?}",
        scrub(&doc.to_string()),
        trace(&mock, &[("admin", &admin), ("leaked", &leaked)])
    );
    assert_eq!(revocation(&doc, &admin)["status"], "revoked");
}

// The audit log

#[test]
fn the_audit_log_has_a_line_per_attempt_and_is_appended_across_runs() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e14);
    let (revocable, stuck1, stuck2) = (g.key(), g.key(), g.key());
    mock.set(&revocable, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&stuck1, Behavior::live(&["mail.send"]));
    mock.set(&stuck2, Behavior::live(&["mail.send", "templates.read"]));
    let tree = Tree::new();
    tree.put_key("a/.env", &revocable);
    tree.put_key("b/.env", &stuck1);
    tree.put_key("c/.env", &stuck2);
    let all = [&revocable, &stuck1, &stuck2];

    let (r, _) = revoke_yes(&tree, &mock, Admin::None, &[]);
    assert_leaks_nothing(&r, &tree, &all);
    let first_text = tree.audit_text();
    let first = tree.audit_results();
    assert_eq!(first.len(), 3, "3 keys, 3 attempts, 3 lines");
    assert_audit_line(&first[0], &revocable, "self", "revoked");
    assert_audit_line(&first[1], &stuck1, "self", "revoke-failed");
    assert_audit_line(&first[2], &stuck2, "self", "revoke-failed");

    // The revoked key is now invalid; the other two are attempted (and fail) again.
    let (r, doc) = revoke_yes(&tree, &mock, Admin::None, &[]);
    assert_leaks_nothing(&r, &tree, &all);
    assert_eq!(verification(&doc, &revocable)["status"], "invalid");
    let text = tree.audit_text();
    assert!(
        text.starts_with(&first_text),
        "the second run rewrote the first run's lines"
    );
    let lines = tree.audit_results();
    assert_eq!(lines.len(), 5, "3 lines, then 2 more");
    assert_audit_line(&lines[3], &stuck1, "self", "revoke-failed");
    assert_audit_line(&lines[4], &stuck2, "self", "revoke-failed");
    assert_eq!(mock.count("DELETE", "/"), 1);
}

#[test]
fn the_audit_log_survives_the_process_being_killed_mid_run() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e15);
    let (a, b, c, admin) = (g.key(), g.key(), g.key(), g.key());
    for k in [&a, &b, &c] {
        mock.set(k, Behavior::live(&["mail.send"]));
    }
    mock.set(&admin, admin_scopes());
    // The first DELETE goes through; the second hangs.
    mock.script_deletes(&[DeleteStep::Pass, DeleteStep::Hang { secs: 60 }]);
    let tree = Tree::new();
    tree.put_key("a/.env", &a);
    tree.put_key("b/.env", &b);
    tree.put_key("c/.env", &c);

    let mut child = sgscan_process(tree.root())
        .env("SGSCAN_ADMIN_KEY", &admin)
        .args(revoke_args(
            &tree,
            &mock.url(),
            &["--yes", "--verify-timeout", "30", "--verify-deadline", "60"],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sgscan starts");

    // Wait for the first audit line and for the second DELETE to be in flight.
    let started = Instant::now();
    loop {
        let hanging = mock
            .requests()
            .iter()
            .any(|q| q.method == "DELETE" && q.status == 0);
        if tree.audit_text().contains('\n') && hanging {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("sgscan ended ({status}) before the hang:\n{}", scrub(&err));
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no audit line / no hanging DELETE after 30 s: {:?}",
            trace(&mock, &[("a", &a), ("b", &b), ("c", &c), ("admin", &admin)])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill sgscan");
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_no_key(&out, "stdout", &[&a, &b, &c, &admin]);
    assert_no_key(&err, "stderr", &[&a, &b, &c, &admin]);

    let lines = tree.audit_results();
    assert_eq!(lines.len(), 1, "{}", scrub(&tree.audit_text()));
    assert_audit_line(&lines[0], &a, &admin_who(&admin), "revoked");
    let attempts = tree.audit_attempts();
    let attempted: Vec<&Value> = attempts.iter().map(|l| &l["fingerprint"]).collect();
    assert_eq!(
        attempted,
        [&Value::from(fp(&a)), &Value::from(fp(&b))],
        "an attempt line for each DELETE sent, the hanging one included"
    );
    assert_no_key(&tree.audit_text(), "the audit log", &[&a, &b, &c, &admin]);
    assert!(mock.is_revoked(&a));
    assert_eq!(
        mock.count_for(&admin, "DELETE", &key_path(&c)),
        0,
        "the third key was not reached"
    );
}

#[test]
fn an_unwritable_audit_log_means_nothing_is_deleted() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e16);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);
    let audit = tree.outside("no-such-dir/audit.jsonl");

    let r = run(sgscan_as(&tree, Admin::Env(&admin)).args([
        "dir",
        tree.scan_dir().to_str().unwrap(),
        "--revoke",
        "--yes",
        "--api-url",
        &mock.url(),
        "--audit-log",
        audit.to_str().unwrap(),
        "--revoke-wait",
        "5",
        "-f",
        "json",
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    assert!(r.stderr.contains("audit log"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0, "a DELETE without an audit trail");
    assert!(!mock.is_revoked(&leaked));
    assert_eq!(findings(&r.json()).len(), 1, "the report is still written");
}

// sgscan revoke --key-id

#[test]
fn revoke_by_id_deletes_exactly_that_id() {
    for use_file in [false, true] {
        let mock = MockSendGrid::start();
        let mut g = KeyGen::new(0x7e17);
        let (target, neighbour, admin) = (g.key(), g.key(), g.key());
        mock.set(&target, Behavior::live(&["mail.send"]));
        mock.set(&neighbour, Behavior::live(&["mail.send"]));
        mock.set(&admin, admin_scopes());
        let tree = Tree::new();
        let file = tree.admin_file(&admin);
        let how = if use_file {
            Admin::File(&file)
        } else {
            Admin::Env(&admin)
        };

        let r = revoke_id(&tree, &mock, how, &id(&target), &["--yes"]);
        assert_eq!(r.code, 0, "{r}");
        assert_leaks_nothing(&r, &tree, &[&target, &neighbour, &admin]);
        let path = key_path(&target);
        assert_eq!(
            trace(&mock, &[("admin", &admin)]),
            [
                format!("GET {path} admin 200"),
                format!("DELETE {path} admin 204"),
                format!("GET {path} admin 404"),
            ],
            "look the id up, DELETE it, then check that it is gone"
        );
        assert!(mock.is_revoked(&target));
        assert!(!mock.is_revoked(&neighbour) && !mock.is_revoked(&admin));
        assert!(
            r.stdout.contains(&id(&target)) && r.stdout.contains("revoked"),
            "{r}"
        );
        let attempts = tree.audit_attempts();
        assert_eq!(attempts.len(), 1, "an attempt line before the DELETE");
        assert_eq!(attempts[0]["key_id"], id(&target).as_str());
        assert_eq!(
            tree.audit_lines()[0]["event"],
            "attempt",
            "the attempt line comes first"
        );
        let lines = tree.audit_results();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(l["key_id"], id(&target).as_str(), "{l}");
        assert_eq!(l["revoked_by"], admin_who(&admin).as_str(), "{l}");
        assert_eq!(l["result"], "revoked", "{l}");
        assert!(l["timestamp"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
        // Only the account was asked (the key itself is not at hand): the reason says just that.
        assert_eq!(
            l["reason"],
            "deleted; the id is no longer in the account; the key itself could not be re-checked",
            "{l}"
        );
    }
}

/// `--admin-key-file <(pass …)`: a pipe the user names on purpose is read (files sgscan finds in
/// a tree are never opened when they are FIFOs; this one nothing in a tree can name).
#[test]
fn revoke_by_id_reads_the_admin_key_from_a_pipe() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e19);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    let fifo = tree.outside("admin.pipe");
    crate::util::mkfifo(&fifo);
    let writer = {
        let (fifo, admin) = (fifo.clone(), admin.clone());
        std::thread::spawn(move || std::fs::write(&fifo, format!("{admin}\n")))
    };
    let r = revoke_id(&tree, &mock, Admin::File(&fifo), &id(&target), &["--yes"]);
    writer.join().unwrap().unwrap();
    assert_eq!(r.code, 0, "{r}");
    assert!(mock.is_revoked(&target));
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
}

#[test]
fn revoke_by_id_without_an_admin_key_is_refused() {
    let mock = MockSendGrid::start();
    let target = KeyGen::new(0x7e18).key();
    mock.set(&target, Behavior::live(&["mail.send", "api_keys.delete"]));
    let tree = Tree::new();

    let r = revoke_id(&tree, &mock, Admin::None, &id(&target), &["--yes"]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target]);
    assert!(r.stderr.contains("SGSCAN_ADMIN_KEY"), "{r}");
    assert!(mock.requests().is_empty(), "{:?}", trace(&mock, &[]));
    assert!(tree.audit_results().is_empty());
}

#[test]
fn revoke_by_id_of_another_account_deletes_nothing() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e19);
    let (stranger, admin) = (g.key(), g.key());
    mock.set(&stranger, Behavior::live(&["mail.send"]));
    mock.set_account(&stranger, "other");
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&stranger), &["--yes"]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&stranger, &admin]);
    assert!(r.stderr.contains("not in"), "{r}");
    assert_eq!(
        trace(&mock, &[("admin", &admin)]),
        [format!("GET {} admin 404", key_path(&stranger))]
    );
    assert!(!mock.is_revoked(&stranger));
}

#[test]
fn revoke_by_id_refuses_a_malformed_id_without_any_request() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1a);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    let good = id(&target);
    let bad = [
        String::new(),
        good[..21].to_string(),
        format!("{good}A"),
        format!("{}/.", &good[..20]),
        format!("../{}", &good[..19]),
        format!("{}%2F", &good[..19]),
        format!("{} ", &good[..21]),
    ];
    for b in &bad {
        // `--key-id=ID`, so that clap passes every one of them on to sgscan's own check.
        let r = run(sgscan_as(&tree, Admin::Env(&admin))
            .args([
                "revoke",
                &format!("--key-id={b}"),
                "--yes",
                "--api-url",
                &mock.url(),
            ])
            .arg("--audit-log")
            .arg(tree.audit()));
        assert_eq!(r.code, 2, "id {b:?}: {r}");
        assert!(r.stderr.contains("is not a SendGrid key id"), "id {b:?}: {r}");
        assert_leaks_nothing(&r, &tree, &[&target, &admin]);
        assert!(
            mock.requests().is_empty(),
            "id {b:?}: {:?}",
            trace(&mock, &[("admin", &admin)])
        );
    }
    assert!(!mock.is_revoked(&target));
    assert!(tree.audit_results().is_empty());
}

#[test]
fn revoke_by_id_given_a_whole_key_does_not_echo_it() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1b);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    // A user pastes the key instead of its id.
    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &target, &["--yes"]);
    assert_eq!(r.code, 2, "{r}");
    assert!(mock.requests().is_empty());
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
}

#[test]
fn revoke_by_id_dry_run_and_no_confirmation_send_no_delete() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1c);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&target), &["--dry-run"]);
    assert_eq!(r.code, 0, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    assert!(r.stdout.contains("planned"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0);

    // No --yes, no terminal.
    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&target), &[]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    assert!(r.stderr.contains("--yes"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0);
    assert!(!mock.is_revoked(&target));
    assert!(tree.audit_results().is_empty());
}

// No key in any output

#[test]
fn no_key_in_stdout_stderr_report_or_audit_log_verbose_and_human() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1d);
    let (by_self, by_admin, stranger, refused, admin) = (g.key(), g.key(), g.key(), g.key(), g.key());
    mock.set(&by_self, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&by_admin, Behavior::live(&["mail.send"]));
    mock.set(&stranger, Behavior::live(&["mail.send"]));
    mock.set_account(&stranger, "other");
    mock.set(&refused, Behavior::Forbidden403Json);
    mock.set(&admin, admin_scopes());
    mock.set_revoke_propagation(1);
    let tree = Tree::new();
    tree.put_key("a/.env", &by_self);
    tree.put_key("b/.env", &by_admin);
    tree.put_key("c/.env", &stranger);
    tree.put_key("d/.env", &refused);
    let all = [&by_self, &by_admin, &stranger, &refused, &admin];
    let file = tree.admin_file(&admin);
    let report = tree.outside("report.json");

    // JSON to a file, verbose, admin key from a file; the first DELETE gets a 429.
    mock.script_deletes(&[DeleteStep::Status(429)]);
    let r = revoke_run(
        &tree,
        &mock,
        Admin::File(&file),
        &["--yes", "-v", "-o", report.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{r}");
    assert_leaks_nothing(&r, &tree, &all);
    assert!(
        r.stderr.contains("DELETE"),
        "-v logs the requests (without keys):\n{r}"
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert_no_key(&text, "the report file", &all);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(revocation(&doc, &by_self)["status"], "revoked");
    assert_eq!(revocation(&doc, &by_admin)["status"], "revoked");
    assert_eq!(revocation(&doc, &stranger)["status"], "revoke-failed");
    // 403 JSON is live: with an admin key it is looked up and deleted.
    assert_eq!(revocation(&doc, &refused)["status"], "revoked");

    // Human output, verbose, admin key from the environment, a second run (stranger fails again).
    let r = revoke_run(&tree, &mock, Admin::Env(&admin), &["--yes", "-v", "-f", "human"]);
    assert_eq!(r.code, 1, "{r}");
    assert_leaks_nothing(&r, &tree, &all);
    assert!(r.stdout.contains("revoke-failed"), "{r}");

    // Revocation by id, verbose.
    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&stranger), &["--yes", "-v"]);
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &all);

    // --show-secrets prints the leaked keys by request, never the admin key.
    let r = revoke_run(
        &tree,
        &mock,
        Admin::Env(&admin),
        &["--yes", "-v", "--show-secrets", "-f", "human"],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout.contains(stranger.as_str()),
        "--show-secrets shows the key"
    );
    for (what, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        let secret = admin.rsplit('.').next().unwrap();
        assert!(!out.contains(secret), "{what} holds the admin key");
    }
    assert_no_key(&r.stderr, "stderr", &all);
    assert_no_key(&tree.audit_text(), "the audit log", &all);
    assert_eq!(tree.audit_results().len(), 4 + 1 + 1);
    assert!(!mock.is_revoked(&admin));
}

// No network

#[test]
fn revoke_with_no_network_is_refused_before_any_request() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1e);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    for admin_how in [Admin::None, Admin::Env(&admin)] {
        let r = revoke_run(&tree, &mock, admin_how, &["--yes", "--no-network"]);
        assert_eq!(r.code, 2, "{r}");
        assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
        assert!(r.stderr.contains("--no-network"), "{r}");
        assert!(
            r.elapsed < Duration::from_secs(20),
            "not immediate: {:?}",
            r.elapsed
        );
    }
    assert!(mock.requests().is_empty(), "{:?}", trace(&mock, &[]));
    assert!(!tree.audit().exists());
}

/// A key whose id starts with '-' (one in 64 does: ids are base64url).
fn hyphen_key(g: &mut KeyGen) -> String {
    loop {
        let k = g.key();
        if id(&k).starts_with('-') {
            return k;
        }
    }
}

#[test]
fn revoke_by_id_accepts_a_hyphen_id_given_with_equals() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e20);
    let admin = g.key();
    let target = hyphen_key(&mut g);
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    let r = run(sgscan_as(&tree, Admin::Env(&admin))
        .args(["revoke", &format!("--key-id={}", id(&target)), "--yes"])
        .args(["--api-url", &mock.url()])
        .arg("--audit-log")
        .arg(tree.audit()));
    assert_eq!(r.code, 0, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    assert_eq!(delete_paths(&mock), [key_path(&target)]);
    assert!(mock.is_revoked(&target));
}

#[test]
fn revoke_by_id_accepts_an_id_that_starts_with_a_hyphen() {
    // Key ids are base64url: one in 64 starts with '-', and reports print it as is.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e1f);
    let admin = g.key();
    let target = hyphen_key(&mut g);
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&target), &["--yes"]);
    assert_eq!(r.code, 0, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    assert_eq!(delete_paths(&mock), [key_path(&target)]);
    assert!(mock.is_revoked(&target));
}

// A hostile or broken server: nothing but SendGrid's exact answers lets a DELETE out

/// An admin-key revocation run where `GET /v3/scopes` with the leaked key gets `answer`: the key
/// must come out `unknown` (reason holding `reason_has`), with no DELETE and no audit line.
fn hostile_scopes_answer_sends_no_delete(seed: u64, answer: Hostile, extra: &[&str], reason_has: &str) {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(seed);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&admin, admin_scopes());
    mock.hostile(&leaked, "GET", "/v3/scopes", answer.clone());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), extra);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    let t = trace(&mock, &[("leaked", &leaked), ("admin", &admin)]);
    assert_eq!(
        mock.count("DELETE", "/"),
        0,
        "no DELETE sent on {answer:?}: {t:?}"
    );
    assert_eq!(
        mock.requests_for(&admin).len(),
        0,
        "the admin key is not even used: {t:?}"
    );
    let v = verification(&doc, &leaked);
    assert_eq!(v["status"], "unknown", "{answer:?}: {v}");
    assert!(text(v, "reason").contains(reason_has), "{answer:?}: {v}");
    assert!(finding(&doc, &leaked)["revocation"].is_null());
    assert!(tree.audit_text().is_empty(), "{}", scrub(&tree.audit_text()));
    assert!(!mock.is_revoked(&leaked));
}

#[test]
fn hostile_403_from_an_api_gateway_sends_no_delete() {
    hostile_scopes_answer_sends_no_delete(0x7f01, Hostile::gateway_403(), &[], "not SendGrid's error JSON");
}

#[test]
fn hostile_403_empty_json_or_html_sends_no_delete() {
    hostile_scopes_answer_sends_no_delete(0x7f02, Hostile::empty_403(), &[], "not SendGrid's error JSON");
    hostile_scopes_answer_sends_no_delete(0x7f03, Hostile::html_403(), &[], "not SendGrid's error JSON");
}

#[test]
fn hostile_401_with_a_message_similar_to_a_live_one_sends_no_delete() {
    hostile_scopes_answer_sends_no_delete(
        0x7f04,
        Hostile::similar_live_401(),
        &[],
        "not one SendGrid documents",
    );
}

#[test]
fn hostile_401_in_a_shape_that_is_not_sendgrids_sends_no_delete() {
    hostile_scopes_answer_sends_no_delete(0x7f05, Hostile::odd_shape_401(), &[], "not SendGrid's error JSON");
}

#[test]
fn hostile_oversized_answer_is_not_read_and_sends_no_delete() {
    // A valid scope list, 1 MiB and more: read up to the cap, then given up on.
    hostile_scopes_answer_sends_no_delete(
        0x7f06,
        Hostile::huge_scopes_200(&["mail.send", "api_keys.delete"], (1 << 20) + 4096),
        &[],
        "oversized answer",
    );
}

#[test]
fn hostile_slow_trickle_answer_times_out_and_sends_no_delete() {
    hostile_scopes_answer_sends_no_delete(
        0x7f07,
        Hostile::Trickle {
            scopes: vec!["mail.send".into(), "api_keys.delete".into()],
            every: Duration::from_millis(200),
        },
        &["--verify-timeout", "1", "--verify-deadline", "2"],
        "timeout",
    );
}

#[test]
fn hostile_retry_after_of_u64_max_is_unknown_not_a_crash() {
    hostile_scopes_answer_sends_no_delete(
        0x7f08,
        Hostile::retry_after_max(),
        &[],
        "asked to wait 18446744073709551615s (Retry-After), past the per-key deadline",
    );
}

#[test]
fn hostile_far_x_ratelimit_reset_is_unknown_with_the_reason() {
    hostile_scopes_answer_sends_no_delete(
        0x7f09,
        Hostile::reset_max(),
        &[],
        "(X-RateLimit-Reset), past the per-key deadline",
    );
}

#[test]
fn hostile_admin_lookup_without_the_keys_id_sends_no_delete() {
    // 200 to the lookup proves nothing unless it is the key object of this very id.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0a);
    let (leaked, other, admin) = (g.key(), g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);
    for body in [
        "{}".to_string(),
        r#"{"scopes":["mail.send"]}"#.to_string(),
        serde_json::json!({"api_key_id": id(&other), "name": "x"}).to_string(),
    ] {
        mock.hostile(&admin, "GET", "/v3/api_keys/", Hostile::json_200(&body));
        let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
        assert_leaks_nothing(&r, &tree, &[&leaked, &admin, &other]);
        assert_eq!(
            mock.count("DELETE", "/"),
            0,
            "no DELETE after a lookup answered {body}: {:?}",
            trace(&mock, &[("leaked", &leaked), ("admin", &admin)])
        );
        let rv = revocation(&doc, &leaked);
        assert_eq!(rv["status"], "revoke-failed", "{rv}");
        assert!(text(rv, "reason").contains("nothing deleted"), "{rv}");
    }
    assert!(tree.audit_attempts().is_empty());
    assert_eq!(tree.audit_results().len(), 3);
}

#[test]
fn after_delete_only_the_keys_own_grant_invalid_answer_counts_as_revoked() {
    // The DELETE went out, then a gateway answers the re-checks with a dead-sounding 401: the key
    // is not known to be dead.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0b);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.hostile_after_deletes(1, &leaked, "GET", "/v3/scopes", Hostile::similar_dead_401());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &["--revoke-wait", "1"]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    assert_eq!(mock.count("DELETE", "/"), 1);
    assert!(
        mock.count_for(&leaked, "GET", "/v3/scopes") >= 2,
        "re-checked after the DELETE"
    );
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-pending", "{rv}");
    assert!(text(rv, "reason").contains("not one SendGrid documents"), "{rv}");
    assert_audit_line(
        &tree.audit_results()[0],
        &leaked,
        &admin_who(&admin),
        "revoke-pending",
    );
}

#[test]
fn a_retry_after_of_u64_max_on_delete_is_a_failure_with_both_audit_lines() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0c);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.hostile(&admin, "DELETE", "/v3/api_keys/", Hostile::retry_after_max());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let (r, doc) = revoke_yes(&tree, &mock, Admin::Env(&admin), &[]);
    assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    assert_eq!(mock.count("DELETE", "/"), 1, "not retried past the deadline");
    let rv = revocation(&doc, &leaked);
    assert_eq!(rv["status"], "revoke-failed", "{rv}");
    assert!(text(rv, "reason").contains("Retry-After"), "{rv}");
    let events: Vec<Value> = tree.audit_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(events, ["attempt", "result"]);
    assert_audit_line(
        &tree.audit_results()[0],
        &leaked,
        &admin_who(&admin),
        "revoke-failed",
    );
}

// Audit before acting

#[test]
fn kill_9_after_the_delete_was_sent_leaves_its_attempt_line() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0d);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.script_deletes(&[DeleteStep::Hang { secs: 60 }]);
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    let mut child = sgscan_process(tree.root())
        .env("SGSCAN_ADMIN_KEY", &admin)
        .args(revoke_args(
            &tree,
            &mock.url(),
            &["--yes", "--verify-timeout", "30", "--verify-deadline", "60"],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sgscan starts");
    let started = Instant::now();
    while mock.count("DELETE", "/") == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("sgscan ended ({status}) before its DELETE:\n{}", scrub(&err));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no DELETE after 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SIGKILL: no destructor, no flush, nothing after this point runs in sgscan.
    child.kill().expect("kill -9 sgscan");
    child.wait().unwrap();

    let attempts = tree.audit_attempts();
    assert_eq!(attempts.len(), 1, "{}", scrub(&tree.audit_text()));
    let a = &attempts[0];
    assert_eq!(a["fingerprint"], fp(&leaked).as_str(), "{a}");
    assert_eq!(a["key_id"], id(&leaked).as_str(), "{a}");
    assert_eq!(a["revoked_by"], admin_who(&admin).as_str(), "{a}");
    assert!(a["timestamp"].as_str().is_some_and(|t| t.len() >= 19), "{a}");
    assert!(tree.audit_results().is_empty());
    assert_no_key(&tree.audit_text(), "the audit log", &[&leaked, &admin]);
}

#[test]
fn an_audit_log_that_cannot_be_written_sends_nothing_and_the_report_says_so() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0e);
    let (a, b, admin) = (g.key(), g.key(), g.key());
    mock.set(&a, Behavior::live(&["mail.send"]));
    mock.set(&b, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key("a/.env", &a);
    tree.put_key("b/.env", &b);

    let r = run(sgscan_as(&tree, Admin::Env(&admin)).args([
        "dir",
        tree.scan_dir().to_str().unwrap(),
        "--revoke",
        "--yes",
        "--api-url",
        &mock.url(),
        "--audit-log",
        "/dev/full",
        "-f",
        "json",
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&a, &b, &admin]);
    assert_eq!(
        mock.count("DELETE", "/"),
        0,
        "a DELETE without its attempt line on disk"
    );
    assert!(r.stderr.contains("audit log unwritable"), "{r}");
    let doc = r.json();
    for k in [&a, &b] {
        let rv = revocation(&doc, k);
        assert_eq!(rv["status"], "revoke-failed", "{rv}");
        let reason = text(rv, "reason");
        assert!(
            reason.starts_with("audit log unwritable: ") && reason.ends_with(", nothing sent"),
            "{rv}"
        );
    }
}

#[test]
fn revoke_by_id_with_an_audit_log_that_cannot_be_written_sends_nothing() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f0f);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();

    let r = run(sgscan_as(&tree, Admin::Env(&admin)).args([
        "revoke",
        "--key-id",
        &id(&target),
        "--api-url",
        &mock.url(),
        "--audit-log",
        "/dev/full",
        "--yes",
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    assert_eq!(mock.count("DELETE", "/"), 0);
    assert!(!mock.is_revoked(&target));
    assert!(
        r.stdout.contains("revoke-failed") && r.stdout.contains("nothing sent"),
        "{r}"
    );
}

// sgscan revoke --key-id: the strict lookup before, the re-check after

#[test]
fn revoke_by_id_needs_the_lookup_to_answer_that_id() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f10);
    let (target, other, admin) = (g.key(), g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    for answer in [
        Hostile::json_200("{}"),
        Hostile::json_200(&serde_json::json!({"api_key_id": id(&other)}).to_string()),
        Hostile::gateway_403(),
    ] {
        mock.hostile(&admin, "GET", "/v3/api_keys/", answer.clone());
        let r = revoke_id(&tree, &mock, Admin::Env(&admin), &id(&target), &["--yes"]);
        assert_eq!(r.code, 2, "{answer:?}: {r}");
        assert_leaks_nothing(&r, &tree, &[&target, &admin, &other]);
        assert_eq!(mock.count("DELETE", "/"), 0, "{answer:?}");
    }
    assert!(!mock.is_revoked(&target));
    assert!(tree.audit_text().is_empty());
}

#[test]
fn revoke_by_id_a_404_while_the_id_is_still_in_the_account_is_not_revoked() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f11);
    let (target, admin) = (g.key(), g.key());
    mock.set(&target, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.script_deletes(&[DeleteStep::Status(404)]);
    let tree = Tree::new();

    let r = revoke_id(
        &tree,
        &mock,
        Admin::Env(&admin),
        &id(&target),
        &["--yes", "--revoke-wait", "1"],
    );
    assert_eq!(r.code, 2, "{r}");
    assert_leaks_nothing(&r, &tree, &[&target, &admin]);
    let path = key_path(&target);
    let t = trace(&mock, &[("admin", &admin)]);
    assert_eq!(
        t[..3],
        [
            format!("GET {path} admin 200"),
            format!("DELETE {path} admin 404"),
            format!("GET {path} admin 200"),
        ]
    );
    assert!(r.stdout.contains("revoke-failed"), "{r}");
    let events: Vec<Value> = tree.audit_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(events, ["attempt", "result"]);
    assert_eq!(tree.audit_results()[0]["result"], "revoke-failed");
}

// Flags: sgscan revoke takes only its own; revoke flags need --revoke

#[test]
fn flags_that_would_be_ignored_are_errors_and_nothing_is_sent() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f12);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send", "api_keys.delete"]));
    mock.set(&admin, admin_scopes());
    let tree = Tree::new();
    tree.put_key(".env", &leaked);
    let scan = tree.scan_dir().to_str().unwrap().to_string();
    let audit = tree.audit().to_str().unwrap().to_string();
    let url = mock.url();
    let policy = tree.outside("policy.toml");
    std::fs::write(&policy, "allowed_scopes = [\"mail.send\"]\n").unwrap();
    let policy = policy.to_str().unwrap().to_string();
    let key_id = id(&leaked);
    let cases: Vec<Vec<&str>> = vec![
        vec!["dir", &scan, "--verify", "--api-url", &url, "--yes"],
        vec!["dir", &scan, "--verify", "--api-url", &url, "--dry-run"],
        vec!["dir", &scan, "--verify", "--api-url", &url, "--audit-log", &audit],
        vec!["dir", &scan, "--verify", "--api-url", &url, "--revoke-wait", "1"],
        vec![
            "dir",
            &scan,
            "--revoke",
            "--yes",
            "--no-network",
            "--api-url",
            &url,
        ],
        vec![
            "revoke",
            "--key-id",
            &key_id,
            "--api-url",
            &url,
            "--yes",
            "--no-network",
        ],
        vec![
            "revoke",
            "--key-id",
            &key_id,
            "--api-url",
            &url,
            "--yes",
            "--verify",
        ],
        vec![
            "revoke",
            "--key-id",
            &key_id,
            "--api-url",
            &url,
            "--yes",
            "--cache",
            &audit,
        ],
        vec![
            "revoke",
            "--key-id",
            &key_id,
            "--api-url",
            &url,
            "--yes",
            "--policy",
            &policy,
        ],
    ];
    for args in cases {
        let r = run(sgscan_as(&tree, Admin::Env(&admin)).args(&args));
        assert_eq!(r.code, 2, "{args:?}: {r}");
        assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
        assert!(r.stderr.contains("error"), "{args:?}: {r}");
        assert_eq!(mock.requests().len(), 0, "{args:?} sent requests");
    }
    assert!(!mock.is_revoked(&leaked));
}

// What a hostile server says is not trusted with keys or paths

#[test]
fn a_delete_error_echoing_the_admin_key_is_redacted_in_the_report_and_audit_log() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e40);
    let (leaked, admin) = (g.key(), g.key());
    mock.set(&leaked, Behavior::live(&["mail.send"]));
    mock.set(&admin, admin_scopes());
    mock.hostile(
        &admin,
        "DELETE",
        "/v3/api_keys/",
        Hostile::Echo {
            status: 403,
            body: r#"{"errors":[{"field":null,"message":"forbidden for {bearer}"}]}"#.into(),
        },
    );
    let tree = Tree::new();
    tree.put_key(".env", &leaked);

    for format in ["json", "human"] {
        let r = revoke_run(&tree, &mock, Admin::Env(&admin), &["--yes", "-f", format]);
        assert_eq!(r.code, 1, "{r}");
        assert_leaks_nothing(&r, &tree, &[&leaked, &admin]);
    }
    let redacted = format!("forbidden for {}…", &admin[..7]);
    let results = tree.audit_results();
    assert_eq!(results.len(), 2);
    for l in &results {
        assert_audit_line(l, &leaked, &admin_who(&admin), "revoke-failed");
        assert!(text(l, "reason").contains(&redacted), "{}", scrub(&l.to_string()));
    }
}

#[test]
fn a_custom_rule_whose_id_is_not_a_key_id_sends_no_delete() {
    // A custom `sendgrid_key = true` rule whose `id` group captures `../` or `%2e` must not turn
    // into `DELETE /v3/api_keys/../x`: only a 22-character key id goes into the path.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7e41);
    let tokens: Vec<String> = ["../../v3/user/profile", "%2e%2e/x"]
        .iter()
        .map(|id| format!("acme:{id}:{}", g.token(32).replace(['-', '_'], "a")))
        .collect();
    for t in &tokens {
        mock.set(t, Behavior::live(&["mail.send", "api_keys.delete"]));
    }
    let tree = Tree::new();
    tree.put(
        "app/acme.env",
        &tokens
            .iter()
            .map(|t| format!("ACME_TOKEN=\"{t}\"\n"))
            .collect::<String>(),
    );
    let patterns = tree.outside("patterns");
    std::fs::create_dir(&patterns).unwrap();
    std::fs::write(
        patterns.join("acme.toml"),
        "[[rule]]\nid = \"acme-token\"\nname = \"Acme token\"\ndescription = \"An Acme token.\"\n\
         sendgrid_key = true\nkeywords = [\"acme:\"]\n\
         regex = 'acme:(?P<id>[a-z0-9./%]{2,40}):[A-Za-z0-9]{32}'\n",
    )
    .unwrap();

    let (r, doc) = revoke_yes(
        &tree,
        &mock,
        Admin::None,
        &["--patterns", patterns.to_str().unwrap()],
    );
    let t = trace(&mock, &[("a", &tokens[0]), ("b", &tokens[1])]);
    assert_eq!(mock.count("DELETE", "/"), 0, "a DELETE went out: {t:?}");
    assert_eq!(findings(&doc).len(), 2, "{}", cut(&r.stdout));
    for tok in &tokens {
        assert_eq!(verification(&doc, tok)["status"], "live");
        let rv = revocation(&doc, tok);
        assert_eq!(rv["status"], "revoke-failed", "{rv}");
        assert!(text(rv, "reason").contains("no valid key id"), "{rv}");
    }
    assert!(tree.audit_attempts().is_empty());
}
