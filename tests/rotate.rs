//! `sgscan audit` and `sgscan rotate` end to end: the built binary against the fake SendGrid API
//! (`util::mock`), one mock per test. Every key, the admin key and the keys the mock
//! creates included, exists only at run time; every run is checked for keys in its output, its
//! report and the audit log.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::util::mock::{self, Behavior, Hostile, MockSendGrid};
use crate::util::{KeyGen, Run, assert_no_key, assert_run_leaks_nothing, id, run, scrub};

/// What an admin key that can audit and rotate holds.
const ADMIN_SCOPES: &[&str] = &[
    "api_keys.create",
    "api_keys.read",
    "api_keys.delete",
    "mail.send",
    "stats.read",
    "templates.read",
    "user.profile.read",
];

/// The binary in `dir` with `SGSCAN_ADMIN_KEY` set to `admin`.
fn sgscan(dir: &Path, admin: &str) -> Command {
    let mut cmd = crate::util::sgscan(dir);
    cmd.env("SGSCAN_ADMIN_KEY", admin);
    cmd
}

struct Setup {
    tmp: TempDir,
    mock: MockSendGrid,
    admin: String,
    keys: KeyGen,
}

impl Setup {
    fn new(seed: u64) -> Setup {
        let mut keys = KeyGen::new(seed);
        let mock = MockSendGrid::start();
        let admin = keys.key();
        mock.set(&admin, Behavior::live(ADMIN_SCOPES));
        mock.set_name(&admin, "ops admin");
        Setup {
            tmp: tempfile::tempdir().unwrap(),
            mock,
            admin,
            keys,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A key of the account with these scopes and name.
    fn key(&mut self, name: &str, scopes: &[&str]) -> String {
        let k = self.keys.key();
        self.mock.set(&k, Behavior::live(scopes));
        self.mock.set_name(&k, name);
        k
    }

    fn audit_log(&self) -> String {
        std::fs::read_to_string(self.path("audit.jsonl")).unwrap_or_default()
    }

    /// The audit log's (event, step) pairs, in order.
    fn audit_steps(&self) -> Vec<(String, String)> {
        self.audit_log()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {}", scrub(l)));
                let step = v["step"].as_str().unwrap_or("revoke").to_string();
                (v["event"].as_str().unwrap_or_default().to_string(), step)
            })
            .collect()
    }

    /// `sgscan rotate --key-id OLD --api-url … --audit-log … --revoke-wait 5 -f json EXTRA…`
    fn rotate(&self, old: &str, extra: &[&str]) -> Run {
        self.rotate_waiting(old, "5", extra)
    }

    /// [`Setup::rotate`] with `--revoke-wait WAIT`.
    fn rotate_waiting(&self, old: &str, wait: &str, extra: &[&str]) -> Run {
        run(sgscan(self.tmp.path(), &self.admin)
            .args(["rotate", "--key-id", &id(old), "--api-url", &self.mock.url()])
            .arg("--audit-log")
            .arg(self.path("audit.jsonl"))
            .args(["--revoke-wait", wait, "-f", "json"])
            .args(extra))
    }

    /// The DELETE requests, as `DELETE PATH`.
    fn deletes(&self) -> Vec<String> {
        self.trace()
            .into_iter()
            .filter(|t| t.starts_with("DELETE"))
            .collect()
    }

    /// `POST /v3/api_keys` by the admin key answers 201 with `api_key` and `api_key_id` (and the
    /// name asked for), creating nothing.
    fn create_answers(&self, api_key: &str, api_key_id: &str, scopes: Option<&[&str]>) {
        self.mock.hostile(
            &self.admin,
            "POST",
            "/v3/api_keys",
            Hostile::Created {
                api_key: api_key.to_string(),
                api_key_id: api_key_id.to_string(),
                scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            },
        );
    }

    /// The admin key reads only (an audit key): a key that can create or delete keys is itself a
    /// high finding of the audit, which exits 1.
    fn read_only_admin(&self) {
        self.mock
            .set_scopes(&self.admin, &["api_keys.read", "stats.read", "templates.read"]);
    }

    fn audit(&self, extra: &[&str]) -> Run {
        self.audit_as("json", extra)
    }

    /// [`Setup::audit`] in this output format.
    fn audit_as(&self, format: &str, extra: &[&str]) -> Run {
        run(sgscan(self.tmp.path(), &self.admin)
            .args(["audit", "--api-url", &self.mock.url(), "-f", format])
            .args(extra))
    }

    /// No key — the admin key, `others`, every key the mock created — in the run's output or the
    /// audit log.
    fn assert_leaks_nothing(&self, r: &Run, others: &[&String]) {
        let created = self.mock.created();
        let mut all: Vec<&String> = created.iter().collect();
        all.push(&self.admin);
        all.extend_from_slice(others);
        assert_run_leaks_nothing(r, &all);
        assert_no_key(&self.audit_log(), "the audit log", &all);
    }

    /// Requests as `METHOD PATH`, in arrival order.
    fn trace(&self) -> Vec<String> {
        self.mock
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn rotation(r: &Run) -> Value {
    let doc = r.json();
    let all = doc["rotations"]
        .as_array()
        .unwrap_or_else(|| panic!("no rotations:\n{r}"));
    assert_eq!(all.len(), 1, "{r}");
    all[0].clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn today() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// audit
// ---------------------------------------------------------------------------------------------

#[test]
fn audit_lists_every_key_with_its_privilege_and_marks_the_one_a_scan_found() {
    let mut s = Setup::new(0xa0d1);
    let send = s.key("mailer", &["mail.send"]);
    let elevated = s.key("reporting", &["mail.send", "stats.read"]);
    let leaked = s.key("old ci key", &["mail.send", "templates.read"]);
    // A real scan report of a tree holding the leaked key.
    let tree = s.path("repo");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("config.env"), format!("SENDGRID_API_KEY={leaked}\n")).unwrap();
    let scan = run(sgscan(s.tmp.path(), &s.admin).args(["dir", "repo", "-f", "json", "-o", "report.json"]));
    assert_eq!(scan.code, 1, "the scan finds the key:\n{scan}");

    let r = s.audit(&["--report", "report.json"]);
    assert_eq!(r.code, 1, "a leaked key still in the account exits 1:\n{r}");
    s.assert_leaks_nothing(&r, &[&send, &elevated, &leaked]);
    let doc = r.json();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "{r}");
    let by_id = |k: &String| {
        keys.iter()
            .find(|e| e["api_key_id"] == id(k).as_str())
            .unwrap_or_else(|| panic!("key {} not listed:\n{r}", id(k)))
            .clone()
    };
    let a = by_id(&s.admin);
    assert_eq!(
        (a["privilege"].as_str(), a["admin_key"].as_bool()),
        (Some("full-access"), Some(true))
    );
    assert_eq!(a["name"], "ops admin");
    let e = by_id(&send);
    assert_eq!(
        (e["privilege"].as_str(), e["leaked"].as_bool()),
        (Some("send-only"), Some(false))
    );
    let e = by_id(&elevated);
    assert_eq!(e["privilege"], "elevated");
    assert_eq!(strings(&e["above_send_only"]), ["stats.read"]);
    assert_eq!(strings(&e["scopes"]), ["mail.send", "stats.read"]);
    let e = by_id(&leaked);
    assert_eq!(e["leaked"], true, "{r}");
    assert_eq!(strings(&e["locations"]), ["repo/config.env:1"], "{r}");
    assert_eq!(doc["summary"]["leaked"], 1);
    let leak_findings: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "key-leaked")
        .collect();
    assert_eq!(leak_findings.len(), 1, "{r}");
    assert_eq!(
        leak_findings[0]["subject"],
        format!("key {}", id(&leaked)).as_str()
    );
    assert_eq!(leak_findings[0]["severity"], "critical");
    // Only reads: nothing created, nothing deleted.
    s.mock.assert_only_reads();
    assert!(
        s.trace().iter().any(|t| t.starts_with("GET /v3/api_keys/")),
        "{:?}",
        s.trace()
    );

    let r = run(sgscan(s.tmp.path(), &s.admin).args([
        "audit",
        "--api-url",
        &s.mock.url(),
        "--report",
        "report.json",
    ]));
    assert!(
        r.stdout.contains("LEAKED") && r.stdout.contains("this is the admin key"),
        "{r}"
    );
}

#[test]
fn audit_exit_code_follows_the_policy() {
    let mut s = Setup::new(0xa0d2);
    s.read_only_admin();
    s.key("mailer", &["mail.send"]);
    let elevated = s.key("reporting", &["mail.send", "stats.read"]);
    let r = s.audit(&[]);
    assert_eq!(r.code, 0, "no policy, no report: nothing to act on:\n{r}");

    std::fs::write(
        s.path("policy.toml"),
        "allowed_scopes = [\"mail.send\", \"api_keys.*\", \"user.*\", \"templates.read\"]\n",
    )
    .unwrap();
    let r = s.audit(&["--policy", "policy.toml"]);
    assert_eq!(r.code, 1, "a key beyond the policy exits 1:\n{r}");
    let doc = r.json();
    let bad: Vec<&Value> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| !k["policy_violations"].as_array().unwrap().is_empty())
        .collect();
    // The admin key holds stats.read too.
    assert_eq!(bad.len(), 2, "{r}");
    assert!(bad.iter().any(|k| k["api_key_id"] == id(&elevated).as_str()));
    assert!(
        bad.iter()
            .all(|k| strings(&k["policy_violations"]) == ["stats.read"]),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// rotate
// ---------------------------------------------------------------------------------------------

#[test]
fn rotation_creates_hands_over_and_only_then_revokes_the_old_key() {
    let mut s = Setup::new(0xa0d3);
    let old = s.key("prod mailer", &["mail.send", "stats.read"]);
    let r = s.rotate(&old, &["--new-key-file", "new.key", "--yes"]);
    assert_eq!(r.code, 0, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let created = s.mock.created();
    assert_eq!(created.len(), 1);
    let new = &created[0];

    let file = s.path("new.key");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{new}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("rotated"), Some("done")),
        "{r}"
    );
    assert_eq!(rot["new_key_id"], id(new).as_str());
    assert_eq!(
        rot["new_name"],
        format!("prod mailer (rotated {})", today()).as_str()
    );
    assert_eq!(strings(&rot["new_scopes"]), ["mail.send", "stats.read"]);
    assert!(s.mock.is_revoked(&old));
    assert!(!s.mock.is_revoked(new));

    // The order: create, hand-over (the new key authenticating comes after it), then the DELETE.
    let trace = s.trace();
    let at = |what: &str| {
        trace
            .iter()
            .position(|t| t == what)
            .unwrap_or_else(|| panic!("no {what} in {trace:?}"))
    };
    let create = at("POST /v3/api_keys");
    let delete_old = at(&format!("DELETE /v3/api_keys/{}", id(&old)));
    let new_checked = s
        .mock
        .requests()
        .iter()
        .position(|q| q.fingerprint.as_deref() == Some(mock::fingerprint(new).as_str()))
        .expect("the new key is checked");
    assert!(create < new_checked && new_checked < delete_old, "{trace:?}");
    assert_eq!(
        trace.iter().filter(|t| t.starts_with("DELETE")).count(),
        1,
        "{trace:?}"
    );
    let post = &s.mock.requests()[create];
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(strings(&body["scopes"]), ["mail.send", "stats.read"]);

    let steps = s.audit_steps();
    let want: Vec<(String, String)> = [
        ("attempt", "create"),
        ("result", "create"),
        ("attempt", "hand-over"),
        ("result", "hand-over"),
        ("attempt", "revoke"),
        ("result", "revoke"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, want, "{}", scrub(&s.audit_log()));
}

#[test]
fn rotation_with_a_policy_keeps_only_the_allowed_scopes() {
    let mut s = Setup::new(0xa0d4);
    let old = s.key("newsletter", &["mail.send", "stats.read", "templates.read"]);
    std::fs::write(
        s.path("policy.toml"),
        "allowed_scopes = [\"mail.send\", \"mail.batch.*\"]\n",
    )
    .unwrap();
    let r = s.rotate(&old, &["--policy", "policy.toml", "--new-key-file", "k", "--yes"]);
    assert_eq!(r.code, 0, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let rot = rotation(&r);
    assert_eq!(strings(&rot["new_scopes"]), ["mail.send"], "{r}");
    let post = s
        .mock
        .requests()
        .into_iter()
        .find(|q| q.method == "POST")
        .expect("a create");
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(strings(&body["scopes"]), ["mail.send"]);
    assert!(s.mock.is_revoked(&old));
}

#[test]
fn explicit_scopes_beyond_the_old_keys_are_refused_before_anything_is_created() {
    let mut s = Setup::new(0xa0d5);
    let old = s.key("mailer", &["mail.send"]);
    let r = s.rotate(
        &old,
        &["--scopes", "mail.send,stats.read", "--new-key-file", "k", "--yes"],
    );
    assert_eq!(r.code, 2, "{r}");
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("refused"), Some("scopes"))
    );
    assert_eq!(s.mock.count("POST", "/"), 0);
    assert_eq!(s.mock.count("DELETE", "/"), 0);
    assert!(!s.path("k").exists());
}

#[test]
fn an_existing_new_key_file_is_refused_before_any_request() {
    let mut s = Setup::new(0xa0d6);
    let old = s.key("mailer", &["mail.send"]);
    std::fs::write(s.path("new.key"), "keep me\n").unwrap();
    let r = s.rotate(&old, &["--new-key-file", "new.key", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("already exists"), "{r}");
    assert!(s.mock.requests().is_empty(), "{:?}", s.trace());
    assert_eq!(std::fs::read_to_string(s.path("new.key")).unwrap(), "keep me\n");
    assert_eq!(s.audit_log(), "");
}

#[test]
fn a_failing_new_key_command_deletes_the_new_key_and_leaves_the_old_one() {
    let mut s = Setup::new(0xa0d7);
    let old = s.key("prod mailer", &["mail.send"]);
    // The command echoes what it got to stderr, then fails: sgscan must not pass the key on.
    let r = s.rotate(
        &old,
        &[
            "--new-key-command",
            "cat >&2; echo vault unreachable >&2; exit 3",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let created = s.mock.created();
    assert_eq!(created.len(), 1);
    let new = &created[0];
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("rolled-back"), Some("hand-over")),
        "{r}"
    );
    // The command's output may hold the key (here it does): only its size is reported.
    let reason = rot["reason"].as_str().unwrap();
    assert!(!reason.contains("vault unreachable"), "{r}");
    assert!(
        reason.contains("exit status: 3") && reason.contains("88 bytes of output"),
        "{r}"
    );
    assert!(s.mock.is_revoked(new), "the new key is deleted again");
    assert!(!s.mock.is_revoked(&old), "the old key is left alone");
    let deletes: Vec<String> = s
        .trace()
        .into_iter()
        .filter(|t| t.starts_with("DELETE"))
        .collect();
    assert_eq!(deletes, [format!("DELETE /v3/api_keys/{}", id(new))]);
    let steps = s.audit_steps();
    assert!(
        steps.contains(&("attempt".into(), "rollback".into())),
        "{steps:?}"
    );
    assert!(steps.contains(&("result".into(), "rollback".into())), "{steps:?}");
    assert!(!steps.iter().any(|(_, step)| step == "revoke"), "{steps:?}");
}

#[test]
fn the_new_key_command_gets_the_key_on_stdin_and_not_the_admin_key() {
    let mut s = Setup::new(0xa0d8);
    let old = s.key("mailer", &["mail.send"]);
    let r = s.rotate(
        &old,
        &["--new-key-command", "cat > got.txt; env > env.txt", "--yes"],
    );
    assert_eq!(r.code, 0, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let new = &s.mock.created()[0];
    assert_eq!(
        std::fs::read_to_string(s.path("got.txt")).unwrap(),
        format!("{new}\n")
    );
    let env = std::fs::read_to_string(s.path("env.txt")).unwrap();
    assert!(
        !env.contains(&s.admin) && !env.contains(new.as_str()),
        "the command's environment holds a key"
    );
    assert!(s.mock.is_revoked(&old));
}

#[test]
fn at_the_key_limit_nothing_is_created_and_the_old_key_stays() {
    let mut s = Setup::new(0xa0d9);
    let old = s.key("mailer", &["mail.send"]);
    s.mock.set_key_limit(2);
    let r = s.rotate(&old, &["--new-key-file", "k", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("refused"), Some("create")),
        "{r}"
    );
    assert!(
        rot["reason"]
            .as_str()
            .unwrap()
            .contains("maximum number of API keys"),
        "{r}"
    );
    assert!(s.mock.created().is_empty());
    assert_eq!(s.mock.count("DELETE", "/"), 0);
    assert!(!s.mock.is_revoked(&old));
    assert!(!s.path("k").exists());
}

#[test]
fn dry_run_looks_up_and_creates_nothing() {
    let mut s = Setup::new(0xa0da);
    let old = s.key("mailer", &["mail.send"]);
    let r = s.rotate(&old, &["--new-key-file", "k", "--dry-run"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(rotation(&r)["status"], "planned");
    assert_eq!(s.trace(), [format!("GET /v3/api_keys/{}", id(&old))]);
    assert_eq!(s.audit_log(), "");
}

#[test]
fn a_create_answer_that_is_not_sendgrids_is_a_failure_and_nothing_is_deleted() {
    let mut s = Setup::new(0xa0db);
    let old = s.key("mailer", &["mail.send"]);
    // A 201 that names an id but carries no key: the id is not proven to be a new key's.
    let stray = s.keys.key();
    s.mock.set(&stray, Behavior::live(&["mail.send"]));
    let body =
        serde_json::json!({"api_key_id": id(&stray), "name": "x", "scopes": ["mail.send"]}).to_string();
    s.mock.hostile(
        &s.admin,
        "POST",
        "/v3/api_keys",
        Hostile::Raw {
            status: 201,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        },
    );
    let r = s.rotate(&old, &["--new-key-file", "k", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old, &stray]);
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("failed"), Some("create")),
        "{r}"
    );
    let manual = rot["manual_step"].as_str().unwrap_or_default();
    assert!(
        manual.contains("(rotated ") && manual.contains(&id(&stray)) && manual.contains(&id(&old)),
        "{r}"
    );
    assert!(s.deletes().is_empty(), "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&stray));
    assert!(!s.mock.is_revoked(&old));
    assert!(!s.path("k").exists());

    // A proxy's 403 page: not SendGrid saying no, so a key may exist; nothing is deleted.
    let mut s = Setup::new(0xa0dc);
    let old = s.key("mailer", &["mail.send"]);
    s.mock
        .hostile(&s.admin, "POST", "/v3/api_keys", Hostile::html_403());
    let r = s.rotate(&old, &["--new-key-file", "k", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("failed"), Some("create")),
        "{r}"
    );
    assert!(rot["reason"].as_str().unwrap().contains("not SendGrid's"), "{r}");
    assert!(rot["manual_step"].as_str().is_some(), "{r}");
    assert_eq!(s.mock.count("DELETE", "/"), 0);
}

/// Each create answer names the old key's id somewhere; a failing hand-over command is there to
/// reach every rollback. The old key must never be deleted.
#[test]
fn a_create_answer_naming_the_old_keys_id_never_deletes_it() {
    let cases: [(&str, u64); 3] = [
        ("bare id", 0xa0e1),
        ("other key", 0xa0e2),
        ("old id, more scopes", 0xa0e3),
    ];
    for (case, seed) in cases {
        let mut s = Setup::new(seed);
        let old = s.key("mailer", &["mail.send"]);
        let (other, other_id, secret) = s.keys.parts();
        let posing = format!("SG.{}.{secret}", id(&old));
        match case {
            // 201 {"api_key_id": OLD}: no key, no name, no scopes.
            "bare id" => s.mock.hostile(
                &s.admin,
                "POST",
                "/v3/api_keys",
                Hostile::Raw {
                    status: 201,
                    content_type: "application/json",
                    body: serde_json::json!({ "api_key_id": id(&old) }).to_string(),
                    headers: Vec::new(),
                },
            ),
            // A real-looking key whose id is not the api_key_id (the old key's).
            "other key" => s.create_answers(&other, &id(&old), None),
            // SendGrid's shape, but the old key's id and a scope beyond those asked for.
            _ => s.create_answers(&posing, &id(&old), Some(&["mail.send", "stats.read"])),
        }
        let r = s.rotate(&old, &["--new-key-command", "cat > got.key; exit 1", "--yes"]);
        assert_eq!(r.code, 2, "{case}: {r}");
        s.assert_leaks_nothing(&r, &[&old, &other, &posing]);
        let rot = rotation(&r);
        assert_eq!(
            (rot["status"].as_str(), rot["step"].as_str()),
            (Some("failed"), Some("create")),
            "{case}: {r}"
        );
        assert_eq!(rot["new_key_id"], Value::Null, "{case}: {r}");
        let manual = rot["manual_step"].as_str().unwrap_or_default();
        assert!(
            manual.contains("'mailer (rotated ") && manual.contains(&id(&old)),
            "{case}: {r}"
        );
        if case == "other key" {
            assert!(manual.contains(&other_id), "{case}: both ids are named: {r}");
        }
        assert!(s.deletes().is_empty(), "{case}: {:?}", s.trace());
        assert!(!s.mock.is_revoked(&old), "{case}");
        assert!(!s.path("got.key").exists(), "{case}: nothing is handed over");
    }
}

#[test]
fn a_create_answer_with_the_admin_keys_id_is_never_handed_over_or_deleted() {
    let mut s = Setup::new(0xa0e4);
    let old = s.key("mailer", &["mail.send"]);
    let (_, _, secret) = s.keys.parts();
    let posing = format!("SG.{}.{secret}", id(&s.admin));
    s.create_answers(&posing, &id(&s.admin), None);
    let r = s.rotate(&old, &["--new-key-command", "cat > got.key; exit 1", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old, &posing]);
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("failed"), Some("create")),
        "{r}"
    );
    assert!(rot["reason"].as_str().unwrap().contains("admin key"), "{r}");
    assert!(
        rot["manual_step"]
            .as_str()
            .unwrap_or_default()
            .contains(&id(&s.admin)),
        "{r}"
    );
    assert!(s.deletes().is_empty(), "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&s.admin));
    assert!(!s.mock.is_revoked(&old));
    assert!(!s.path("got.key").exists(), "nothing is handed over");
}

#[test]
fn a_second_create_answering_with_the_first_replacement_does_not_delete_it() {
    let mut s = Setup::new(0xa0e5);
    let old1 = s.key("mailer one", &["mail.send"]);
    let old2 = s.key("mailer two", &["mail.send"]);
    // Once the first old key is revoked, creates answer with the first replacement again.
    s.mock
        .hostile_after_deletes(1, &s.admin, "POST", "/v3/api_keys", Hostile::ReplayCreated(0));
    // The first hand-over works, any later one fails: the failure would roll back.
    let cmd = "if [ -e first.key ]; then cat > second.key; exit 1; fi; cat > first.key";
    let r = s.rotate(
        &old1,
        &["--key-id", &id(&old2), "--new-key-command", cmd, "--yes"],
    );
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old1, &old2]);
    let created = s.mock.created();
    assert_eq!(created.len(), 1, "{r}");
    let first = &created[0];
    let doc = r.json();
    let rots = doc["rotations"].as_array().unwrap();
    assert_eq!(rots.len(), 2, "{r}");
    assert_eq!(rots[0]["status"], "rotated", "{r}");
    assert_eq!(
        (rots[1]["status"].as_str(), rots[1]["step"].as_str()),
        (Some("failed"), Some("create")),
        "{r}"
    );
    assert!(rots[1]["reason"].as_str().unwrap().contains(&id(first)), "{r}");
    assert_eq!(s.deletes(), [format!("DELETE /v3/api_keys/{}", id(&old1))]);
    assert!(!s.mock.is_revoked(first), "the first replacement stays");
    assert!(!s.mock.is_revoked(&old2));
    assert!(!s.path("second.key").exists(), "nothing is handed over");
}

#[test]
fn a_gateway_error_on_create_may_have_created_a_key() {
    let gateway = Hostile::Raw {
        status: 504,
        content_type: "application/json",
        body: r#"{"message":"Gateway Timeout"}"#.to_string(),
        headers: Vec::new(),
    };
    let sendgrid_500 = Hostile::Raw {
        status: 500,
        content_type: "application/json",
        body: r#"{"errors":[{"field":null,"message":"internal server error"}]}"#.to_string(),
        headers: Vec::new(),
    };
    for (answer, seed) in [(gateway, 0xa0e6), (sendgrid_500, 0xa0e7)] {
        let mut s = Setup::new(seed);
        let old = s.key("mailer", &["mail.send"]);
        s.mock.hostile(&s.admin, "POST", "/v3/api_keys", answer);
        let r = s.rotate(&old, &["--new-key-file", "k", "--yes"]);
        assert_eq!(r.code, 2, "{r}");
        let rot = rotation(&r);
        assert_eq!(
            (rot["status"].as_str(), rot["step"].as_str()),
            (Some("failed"), Some("create")),
            "{r}"
        );
        assert!(
            rot["manual_step"]
                .as_str()
                .unwrap_or_default()
                .contains("for a key named 'mailer (rotated "),
            "{r}"
        );
        assert!(s.deletes().is_empty(), "{:?}", s.trace());
        assert!(!s.mock.is_revoked(&old));
    }
}

#[test]
fn the_new_key_commands_output_reaches_neither_report_nor_audit_log() {
    let mut s = Setup::new(0xa0e8);
    let old = s.key("mailer", &["mail.send"]);
    // The key, cut in two lines: no redaction of the whole key can catch it.
    let r = s.rotate(&old, &["--new-key-command", "fold -w 35; exit 1", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let new = &s.mock.created()[0];
    let rot = rotation(&r);
    assert_eq!(rot["status"], "rolled-back", "{r}");
    let log = s.audit_log();
    for piece in [&new[..35], &new[35..]] {
        assert!(
            !r.stdout.contains(piece) && !r.stderr.contains(piece),
            "{}",
            scrub(&r.to_string())
        );
        assert!(!log.contains(piece), "the audit log holds part of the key");
    }
    assert!(rot["reason"].as_str().unwrap().contains("bytes of output"), "{r}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("audit.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the audit log is the user's only");
    }
}

/// Whether process `pid` has ended (a zombie waiting for its reaper has).
#[cfg(target_os = "linux")]
fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
    }
}

/// `pid` from `file`, and a SIGKILL to it afterwards whatever the test found.
#[cfg(target_os = "linux")]
fn left_behind(file: &Path) -> String {
    let pid = std::fs::read_to_string(file).unwrap().trim().to_string();
    assert!(
        pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty(),
        "{pid:?}"
    );
    let gone = process_gone(&pid);
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .stderr(std::process::Stdio::null())
        .status();
    assert!(gone, "process {pid} the command started is still running");
    pid
}

#[cfg(target_os = "linux")]
#[test]
fn a_timed_out_new_key_command_leaves_no_process_behind() {
    let mut s = Setup::new(0xa0e9);
    let old = s.key("mailer", &["mail.send"]);
    // The background process would hand the key on after sgscan deleted it.
    let r = s.rotate(
        &old,
        &[
            "--new-key-command",
            "sleep 300 & echo $! > bg.pid; cat >/dev/null; sleep 300",
            "--new-key-command-timeout",
            "1",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2, "{r}");
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("rolled-back"), Some("hand-over")),
        "{r}"
    );
    left_behind(&s.path("bg.pid"));
    assert!(!s.mock.is_revoked(&old));
}

#[test]
fn a_new_key_that_does_not_authenticate_leaves_a_manual_step() {
    let mut s = Setup::new(0xa0ea);
    let old = s.key("mailer", &["mail.send"]);
    s.mock.set_created_behavior(Behavior::Invalid);
    let r = s.rotate_waiting(&old, "1", &["--new-key-file", "new.key", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let new = &s.mock.created()[0];
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("failed"), Some("verify-new")),
        "{r}"
    );
    assert!(
        rot["manual_step"].as_str().unwrap_or_default().contains(&id(new)),
        "{r}"
    );
    assert!(!s.mock.is_revoked(&old));
    assert!(s.deletes().is_empty(), "{:?}", s.trace());
}

#[test]
fn audit_takes_a_report_whose_commit_is_not_ascii() {
    let mut s = Setup::new(0xa0eb);
    let leaked = s.key("old ci key", &["mail.send"]);
    let tree = s.path("repo");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("config.env"), format!("SENDGRID_API_KEY={leaked}\n")).unwrap();
    let scan = run(sgscan(s.tmp.path(), &s.admin).args(["dir", "repo", "-f", "json"]));
    assert_eq!(scan.code, 1, "{scan}");
    let mut doc = scan.json();
    // Twelve bytes end inside an 'é'.
    let commit = format!("a{}", "é".repeat(7));
    let location = doc["findings"][0]["locations"][0]
        .as_object_mut()
        .expect("a location");
    location.insert("commit".into(), commit.clone().into());
    location.insert("author_name".into(), "A".into());
    location.insert("author_email".into(), "a@example.com".into());
    location.insert("date".into(), "2024-01-01T00:00:00Z".into());
    std::fs::write(s.path("report.json"), doc.to_string()).unwrap();

    let r = s.audit(&["--report", "report.json"]);
    assert_eq!(r.code, 1, "{r}");
    let keys = r.json()["keys"].clone();
    let entry = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["api_key_id"] == id(&leaked).as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        strings(&entry["locations"]),
        [format!("repo/config.env:1@{commit}")],
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// who owns a leaked key
// ---------------------------------------------------------------------------------------------

#[test]
fn verify_names_the_account_of_a_live_key_that_may_read_it() {
    let mut s = Setup::new(0xa0dd);
    let named = s.key("a", &["mail.send", "user.username.read", "user.profile.read"]);
    let company = s.key("b", &["mail.send", "user.profile.read"]);
    let plain = s.key("c", &["mail.send"]);
    let tree = s.path("repo");
    std::fs::create_dir(&tree).unwrap();
    for (i, k) in [&named, &company, &plain].iter().enumerate() {
        std::fs::write(tree.join(format!("k{i}.env")), format!("SENDGRID_API_KEY={k}\n")).unwrap();
    }
    let r = run(sgscan(s.tmp.path(), &s.admin).args([
        "dir",
        "repo",
        "--verify",
        "-f",
        "json",
        "--api-url",
        &s.mock.url(),
    ]));
    assert_eq!(r.code, 1, "{r}");
    s.assert_leaks_nothing(&r, &[&named, &company, &plain]);
    let doc = r.json();
    let account = |k: &String| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key_id"] == id(k).as_str())
            .unwrap_or_else(|| panic!("no finding for {}:\n{r}", id(k)))["verification"]["account"]
            .clone()
    };
    assert_eq!(account(&named), "default-owner", "{r}");
    assert_eq!(account(&company), "sgscan tests", "{r}");
    assert_eq!(account(&plain), Value::Null, "{r}");
    assert_eq!(s.mock.count_for(&plain, "GET", "/v3/user"), 0);
    // Personal data beyond the username or company never reaches the report.
    assert!(
        !r.stdout.contains("first_name") && !r.stdout.contains("Test"),
        "{r}"
    );
}

#[test]
fn the_admin_key_itself_is_not_rotated_with_itself() {
    let mut s = Setup::new(0xa0de);
    let other = s.key("mailer", &["mail.send"]);
    let admin = s.admin.clone();
    let r = s.rotate(&admin, &["--new-key-command", "cat >/dev/null", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&other]);
    let rot = rotation(&r);
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("refused"), Some("lookup")),
        "{r}"
    );
    assert!(s.mock.requests().is_empty(), "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&admin));
}

#[test]
fn a_new_key_command_that_leaves_a_process_behind_does_not_hold_sgscan() {
    let mut s = Setup::new(0xa0df);
    let old = s.key("mailer", &["mail.send"]);
    // The background sleep keeps the command's stdout open long after the command has exited.
    let r = s.rotate(
        &old,
        &[
            "--new-key-command",
            "cat >/dev/null; sleep 300 & echo $! > bg.pid; exit 0",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(s.mock.is_revoked(&old));
    // And it ends with the command.
    #[cfg(target_os = "linux")]
    left_behind(&s.path("bg.pid"));
}

// ---------------------------------------------------------------------------------------------
// scans with --revoke --rotate
// ---------------------------------------------------------------------------------------------

impl Setup {
    /// `repo/config.env` holding `key`, for a scan of `repo`.
    fn leak(&self, rel: &str, key: &str) {
        let path = self.path("repo").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("SENDGRID_API_KEY={key}\n")).unwrap();
    }

    /// `sgscan dir repo --revoke --rotate --api-url … --audit-log … --revoke-wait 5 EXTRA…` run by
    /// `cmd` (with or without the admin key).
    fn scan_rotating(&self, mut cmd: Command, extra: &[&str]) -> Run {
        run(cmd
            .args([
                "dir",
                "repo",
                "--revoke",
                "--rotate",
                "--api-url",
                &self.mock.url(),
            ])
            .arg("--audit-log")
            .arg(self.path("audit.jsonl"))
            .args(["--revoke-wait", "5"])
            .args(extra))
    }
}

#[test]
fn a_scan_with_revoke_rotate_hands_a_replacement_over_before_revoking_the_leaked_key() {
    let mut s = Setup::new(0xa0e1);
    let old = s.key("prod mailer", &["mail.send", "stats.read"]);
    s.leak("config.env", &old);
    let r = s.scan_rotating(
        sgscan(s.tmp.path(), &s.admin),
        &[
            "--new-key-file",
            "new.key",
            "--yes",
            "-f",
            "json",
            "-o",
            "report.json",
        ],
    );
    // As for --revoke: the leak was found, so 1.
    assert_eq!(r.code, 1, "{r}");
    let created = s.mock.created();
    assert_eq!(created.len(), 1, "{:?}", s.trace());
    let new = &created[0];
    let report = std::fs::read_to_string(s.path("report.json")).unwrap();
    s.assert_leaks_nothing(&r, &[&old]);
    assert_no_key(&report, "the report", &[&old, new, &s.admin]);

    let file = s.path("new.key");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{new}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(s.mock.is_revoked(&old));
    assert!(!s.mock.is_revoked(new));

    // create → the new key authenticating (after its hand-over) → the old key's DELETE, once.
    let trace = s.trace();
    let create = trace
        .iter()
        .position(|t| t == "POST /v3/api_keys")
        .unwrap_or_else(|| panic!("no create in {trace:?}"));
    let new_checked = s
        .mock
        .requests()
        .iter()
        .position(|q| q.fingerprint.as_deref() == Some(mock::fingerprint(new).as_str()))
        .expect("the new key is checked");
    let delete_old = trace
        .iter()
        .position(|t| *t == format!("DELETE /v3/api_keys/{}", id(&old)))
        .unwrap_or_else(|| panic!("no DELETE of the old key in {trace:?}"));
    assert!(create < new_checked && new_checked < delete_old, "{trace:?}");
    assert_eq!(s.deletes().len(), 1, "{trace:?}");
    let steps = s.audit_steps();
    let steps: Vec<(&str, &str)> = steps.iter().map(|(e, st)| (e.as_str(), st.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("attempt", "create"),
            ("result", "create"),
            ("attempt", "hand-over"),
            ("result", "hand-over"),
            ("attempt", "revoke"),
            ("result", "revoke"),
        ],
        "{}",
        scrub(&s.audit_log())
    );

    let doc: Value = serde_json::from_str(&report).unwrap();
    let f = crate::util::finding(&doc, &old);
    let rot = &f["rotation"];
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some("rotated"), Some("done")),
        "{}",
        scrub(&report)
    );
    assert_eq!(rot["new_key_id"], id(new).as_str());
    let redacted = rot["new_key_redacted"].as_str().expect("the new key, redacted");
    assert!(redacted.starts_with("SG.") && new.starts_with(redacted.trim_end_matches('…')));
    assert_eq!(f["revocation"]["status"], "revoked", "{}", scrub(&report));
}

#[test]
fn a_dry_run_scan_with_rotate_shows_the_plan_in_human_output_and_creates_nothing() {
    let mut s = Setup::new(0xa0e2);
    let old = s.key("prod mailer", &["mail.send"]);
    s.leak("config.env", &old);
    let r = s.scan_rotating(
        sgscan(s.tmp.path(), &s.admin),
        &["--new-key-command", "cat >/dev/null", "--dry-run"],
    );
    assert_eq!(r.code, 1, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    assert!(r.stdout.contains("rotation planned at step lookup"), "{r}");
    assert_eq!(s.mock.count("POST", "/"), 0, "{:?}", s.trace());
    assert_eq!(s.mock.count("DELETE", "/"), 0, "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&old));
}

#[test]
fn rotate_without_revoke_is_a_usage_error() {
    let mut s = Setup::new(0xa0e3);
    let old = s.key("mailer", &["mail.send"]);
    s.leak("config.env", &old);
    let r = run(sgscan(s.tmp.path(), &s.admin).args([
        "dir",
        "repo",
        "--rotate",
        "--new-key-file",
        "new.key",
        "--api-url",
        &s.mock.url(),
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("required arguments were not provided") && r.stderr.contains("--revoke"),
        "{r}"
    );
    assert!(s.mock.requests().is_empty(), "{:?}", s.trace());
}

#[test]
fn a_scan_with_rotate_and_no_admin_key_is_refused_before_any_request() {
    let mut s = Setup::new(0xa0e4);
    let old = s.key("mailer", &["mail.send"]);
    s.leak("config.env", &old);
    let r = s.scan_rotating(
        crate::util::sgscan(s.tmp.path()),
        &["--new-key-file", "new.key", "--yes", "-f", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "one line:\n{r}");
    assert!(r.stderr.contains("--rotate needs an admin key"), "{r}");
    assert!(s.mock.requests().is_empty(), "{:?}", s.trace());
    assert!(!s.path("new.key").exists());
    assert_eq!(s.audit_log(), "");
}

#[test]
fn a_scan_with_rotate_refuses_an_existing_new_key_file_before_any_request() {
    let mut s = Setup::new(0xa0e5);
    let old = s.key("mailer", &["mail.send"]);
    s.leak("config.env", &old);
    std::fs::write(s.path("new.key"), "keep me\n").unwrap();
    let r = s.scan_rotating(
        sgscan(s.tmp.path(), &s.admin),
        &["--new-key-file", "new.key", "--yes", "-f", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("already exists"), "{r}");
    assert!(s.mock.requests().is_empty(), "{:?}", s.trace());
    assert_eq!(std::fs::read_to_string(s.path("new.key")).unwrap(), "keep me\n");
    assert_eq!(s.audit_log(), "");
    assert!(!s.mock.is_revoked(&old));
}

#[test]
fn a_new_key_file_takes_one_key_so_two_live_leaks_rotate_nothing() {
    let mut s = Setup::new(0xa0e6);
    let a = s.key("mailer a", &["mail.send"]);
    let b = s.key("mailer b", &["mail.send"]);
    s.leak("a.env", &a);
    s.leak("b.env", &b);
    let r = s.scan_rotating(
        sgscan(s.tmp.path(), &s.admin),
        &["--new-key-file", "new.key", "--yes", "-f", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&a, &b]);
    assert!(r.stderr.contains("--new-key-file takes one key"), "{r}");
    assert_eq!(s.mock.count("POST", "/"), 0, "{:?}", s.trace());
    assert_eq!(s.mock.count("DELETE", "/"), 0, "{:?}", s.trace());
    let doc = r.json();
    for k in [&a, &b] {
        assert_eq!(
            crate::util::finding(&doc, k)["rotation"]["status"],
            "refused",
            "{r}"
        );
    }
    assert!(!s.path("new.key").exists());
}

// ---------------------------------------------------------------------------------------------
// the hand-over must be proven (issue 21)
// ---------------------------------------------------------------------------------------------

/// The rotation ended in `status` at `step`, its reason saying `why`.
fn assert_ended(rot: &Value, (status, step): (&str, &str), why: &str, context: &dyn std::fmt::Display) {
    assert_eq!(
        (rot["status"].as_str(), rot["step"].as_str()),
        (Some(status), Some(step)),
        "{context}"
    );
    assert!(rot["reason"].as_str().unwrap().contains(why), "{context}");
}

impl Setup {
    /// The hand-over to `cmd` left bytes unread and was rolled back: the new key is deleted again,
    /// and nothing else.
    fn assert_unread_rolled_back(&self, rot: &Value, old: &str, new: &str, cmd: &str, r: &Run) {
        let context = format!("{cmd}: {r}");
        assert_ended(rot, ("rolled-back", "hand-over"), "bytes unread", &context);
        assert!(self.mock.is_revoked(new), "{cmd}: the new key is deleted again");
        assert!(!self.mock.is_revoked(old), "{cmd}: the old key is left alone");
        assert_eq!(
            self.deletes(),
            [format!("DELETE /v3/api_keys/{}", id(new))],
            "{cmd}"
        );
    }
}

/// Commands that exit 0 without reading the whole key: the key fits in the pipe's buffer, so the
/// write succeeds and only the bytes left unread tell. Each is a rolled-back hand-over, and the old
/// key is never deleted.
const NOT_READING: [(&str, u64); 3] = [
    ("true", 0xa101),
    ("sleep 0.3; exit 0", 0xa102),
    ("head -c 10 >/dev/null", 0xa103),
];

#[cfg(unix)]
#[test]
fn a_new_key_command_that_exits_0_without_reading_the_key_is_rolled_back() {
    for (cmd, seed) in NOT_READING {
        let mut s = Setup::new(seed);
        let old = s.key("prod mailer", &["mail.send"]);
        let r = s.rotate(&old, &["--new-key-command", cmd, "--yes"]);
        assert_eq!(r.code, 2, "{cmd}: {r}");
        s.assert_leaks_nothing(&r, &[&old]);
        let created = s.mock.created();
        assert_eq!(created.len(), 1, "{cmd}: {r}");
        let new = &created[0];
        s.assert_unread_rolled_back(&rotation(&r), &old, new, cmd, &r);
        let steps = s.audit_steps();
        assert!(
            !steps.iter().any(|(_, step)| step == "revoke"),
            "{cmd}: {steps:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_new_key_command_that_reads_the_whole_key_hands_it_over() {
    for (cmd, seed) in [
        ("cat > got.key", 0xa104),
        ("read -r k; printf '%s\\n' \"$k\" > got.key", 0xa105),
    ] {
        let mut s = Setup::new(seed);
        let old = s.key("prod mailer", &["mail.send"]);
        let r = s.rotate(&old, &["--new-key-command", cmd, "--yes"]);
        assert_eq!(r.code, 0, "{cmd}: {r}");
        s.assert_leaks_nothing(&r, &[&old]);
        let new = &s.mock.created()[0];
        assert_eq!(rotation(&r)["status"], "rotated", "{cmd}: {r}");
        assert_eq!(
            std::fs::read_to_string(s.path("got.key")).unwrap(),
            format!("{new}\n"),
            "{cmd}"
        );
        assert!(s.mock.is_revoked(&old), "{cmd}");
        assert!(!s.mock.is_revoked(new), "{cmd}");
    }
}

#[cfg(unix)]
#[test]
fn a_scan_with_revoke_rotate_rolls_back_a_hand_over_that_did_not_read_the_key() {
    for (cmd, seed) in NOT_READING {
        let mut s = Setup::new(seed + 0x10);
        let old = s.key("prod mailer", &["mail.send"]);
        s.leak("config.env", &old);
        let r = s.scan_rotating(
            sgscan(s.tmp.path(), &s.admin),
            &["--new-key-command", cmd, "--yes", "-f", "json"],
        );
        assert_eq!(r.code, 2, "{cmd}: {r}");
        s.assert_leaks_nothing(&r, &[&old]);
        let created = s.mock.created();
        assert_eq!(created.len(), 1, "{cmd}: {r}");
        let new = &created[0];
        let doc = r.json();
        let rot = &crate::util::finding(&doc, &old)["rotation"];
        s.assert_unread_rolled_back(rot, &old, new, cmd, &r);
    }
}

#[cfg(unix)]
#[test]
fn a_scan_with_revoke_rotate_hands_over_to_a_command_that_reads_the_key() {
    let mut s = Setup::new(0xa116);
    let old = s.key("prod mailer", &["mail.send"]);
    s.leak("config.env", &old);
    let r = s.scan_rotating(
        sgscan(s.tmp.path(), &s.admin),
        &["--new-key-command", "cat > got.key", "--yes", "-f", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let new = &s.mock.created()[0];
    let doc = r.json();
    assert_eq!(
        crate::util::finding(&doc, &old)["rotation"]["status"],
        "rotated",
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(s.path("got.key")).unwrap(),
        format!("{new}\n")
    );
    assert!(s.mock.is_revoked(&old));
}

/// A 201 in SendGrid's shape that hands back another key of the account, real key and id: without
/// the account's ids from before the create it would pass for new, and the failed hand-over's
/// rollback would DELETE a key in use.
#[test]
fn a_create_answer_naming_another_existing_key_never_deletes_it() {
    let mut s = Setup::new(0xa117);
    let old = s.key("mailer", &["mail.send"]);
    let other = s.key("billing mailer", &["mail.send"]);
    s.create_answers(&other, &id(&other), None);
    let r = s.rotate(&old, &["--new-key-command", "cat > got.key; exit 1", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    s.assert_leaks_nothing(&r, &[&old, &other]);
    let rot = rotation(&r);
    assert_ended(&rot, ("failed", "create"), "held before the create", &r);
    assert_eq!(rot["new_key_id"], Value::Null, "{r}");
    assert!(
        rot["manual_step"]
            .as_str()
            .unwrap_or_default()
            .contains(&id(&other)),
        "{r}"
    );
    assert!(s.deletes().is_empty(), "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&other));
    assert!(!s.mock.is_revoked(&old));
    assert!(!s.path("got.key").exists(), "nothing is handed over");
    // The list came before the create.
    let trace = s.trace();
    let list = trace.iter().position(|t| t.starts_with("GET /v3/api_keys?"));
    let create = trace.iter().position(|t| t == "POST /v3/api_keys");
    assert!(matches!((list, create), (Some(l), Some(c)) if l < c), "{trace:?}");
}

#[test]
fn a_rotation_whose_key_list_cannot_be_read_creates_nothing() {
    let mut s = Setup::new(0xa118);
    let old = s.key("mailer", &["mail.send"]);
    s.mock
        .hostile(&s.admin, "GET", "/v3/api_keys?", Hostile::gateway_403());
    let r = s.rotate(&old, &["--new-key-command", "cat > got.key", "--yes"]);
    assert_eq!(r.code, 2, "{r}");
    assert_ended(
        &rotation(&r),
        ("refused", "create"),
        "cannot list the account's keys",
        &r,
    );
    assert_eq!(s.mock.count("POST", "/"), 0, "{:?}", s.trace());
    assert!(s.deletes().is_empty(), "{:?}", s.trace());
    assert!(!s.mock.is_revoked(&old));
    assert!(!s.path("got.key").exists());
}

// ---------------------------------------------------------------------------------------------
// an audit that could not read a key says so and does not pass (issue 21)
// ---------------------------------------------------------------------------------------------

/// 401 with SendGrid's dead-key message, in SendGrid's shape.
fn invalid_401() -> Hostile {
    Hostile::Raw {
        status: 401,
        content_type: "application/json",
        body: serde_json::json!({"errors": [{"field": null, "message": mock::INVALID_MESSAGE}]}).to_string(),
        headers: Vec::new(),
    }
}

#[test]
fn an_audit_that_could_read_no_key_exits_2_and_says_nothing_was_assessed() {
    let mut s = Setup::new(0xa119);
    s.key("mailer", &["mail.send"]);
    s.key("reporting", &["mail.send", "stats.read"]);
    // The list answers; every key's lookup is refused.
    s.mock.hostile(&s.admin, "GET", "/v3/api_keys/", invalid_401());
    let r = s.audit(&[]);
    assert_eq!(r.code, 2, "an audit that assessed nothing must not pass:\n{r}");
    s.assert_leaks_nothing(&r, &[]);
    let doc = r.json();
    assert_eq!(doc["summary"]["complete"], false, "{r}");
    assert!(
        doc["summary"]["not_assessed"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was assessed"),
        "{r}"
    );
    assert_eq!(doc["keys"].as_array().map(Vec::len), Some(3), "{r}");
    assert!(r.stderr.contains("audit incomplete"), "{r}");

    let r = s.audit_as("human", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stdout.contains("NOT ASSESSED"), "{r}");
    assert!(r.stdout.contains("nothing was assessed"), "{r}");

    let r = s.audit_as("jsonl", &[]);
    assert_eq!(r.code, 2, "{r}");
    let lines = r.lines();
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["summary"]["complete"], false, "{r}");
}

#[test]
fn an_audit_with_one_unread_key_names_it_and_exits_2() {
    let mut s = Setup::new(0xa11a);
    s.key("mailer", &["mail.send"]);
    let hidden = s.key("reporting", &["mail.send", "stats.read"]);
    s.mock.hostile(
        &s.admin,
        "GET",
        &format!("/v3/api_keys/{}", id(&hidden)),
        Hostile::html_403(),
    );
    let r = s.audit(&[]);
    assert_eq!(r.code, 2, "{r}");
    let doc = r.json();
    assert_eq!(doc["summary"]["complete"], false, "{r}");
    assert!(
        doc["summary"]["not_assessed"]
            .as_str()
            .unwrap_or_default()
            .starts_with("1 of 3 keys not assessed"),
        "{r}"
    );
    let entry = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["api_key_id"] == id(&hidden).as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(entry["error"].is_string(), "{r}");
    // Every key read: complete, and exit 0 as before.
    let mut s = Setup::new(0xa11b);
    s.read_only_admin();
    s.key("mailer", &["mail.send"]);
    let r = s.audit(&[]);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert_eq!(doc["summary"]["complete"], true, "{r}");
    assert_eq!(doc["summary"]["not_assessed"], Value::Null, "{r}");
}

#[test]
fn an_audit_of_an_empty_key_list_exits_2() {
    let s = Setup::new(0xa11c);
    s.mock.hostile(
        &s.admin,
        "GET",
        "/v3/api_keys?",
        Hostile::json_200(r#"{"result":[]}"#),
    );
    let r = s.audit_as("human", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stdout.contains("nothing was assessed"), "{r}");
}

/// The key read whole and its newline left in the pipe (`head -c 69`): a hand-over. Counting it as
/// failed would delete a key the command stored and may already have deployed.
#[cfg(unix)]
#[test]
fn a_new_key_command_that_reads_the_key_but_not_its_newline_hands_it_over() {
    let mut s = Setup::new(0xbb01);
    let old = s.key("prod mailer", &["mail.send"]);
    let r = s.rotate(&old, &["--new-key-command", "head -c 69 > got.key", "--yes"]);
    assert_eq!(r.code, 0, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    let new = &s.mock.created()[0];
    assert_eq!(rotation(&r)["status"], "rotated", "{r}");
    assert_eq!(std::fs::read_to_string(s.path("got.key")).unwrap(), *new);
    assert!(s.mock.is_revoked(&old));
    assert!(!s.mock.is_revoked(new));
}

/// The command's process group is killed by sgscan itself: with no kill(1) on PATH (a slim
/// container) a process it left behind must not outlive the hand-over.
#[cfg(target_os = "linux")]
#[test]
fn a_process_the_new_key_command_left_is_killed_without_kill_on_path() {
    let mut s = Setup::new(0xbb03);
    let old = s.key("prod mailer", &["mail.send"]);
    let bin = s.path("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["sh", "sleep", "cat"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let at = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(at.trim(), bin.join(tool)).unwrap();
    }
    let r = run(sgscan(s.tmp.path(), &s.admin)
        .env("PATH", &bin)
        .args(["rotate", "--key-id", &id(&old), "--api-url", &s.mock.url()])
        .arg("--audit-log")
        .arg(s.path("audit.jsonl"))
        .args(["--revoke-wait", "5", "-f", "json", "--yes"])
        .args([
            "--new-key-command",
            "sleep 300 & echo $! > bg.pid; cat >/dev/null",
        ]));
    assert_eq!(r.code, 0, "{r}");
    s.assert_leaks_nothing(&r, &[&old]);
    left_behind(&s.path("bg.pid"));
}
