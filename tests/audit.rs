//! `sgscan audit` of the whole account (#27): keys, subusers (with `on-behalf-of`), teammates and
//! invites, IP access, event webhooks, enforced TLS and SSO, against the fake SendGrid API. Each
//! problem has a clean counterpart that must not be flagged; a section the audit key cannot read,
//! or whose answer is not SendGrid's, is `not_checked`, never a pass; the audit only reads.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::util::mock::{Behavior, Hostile, MockSendGrid};
use crate::util::{KeyGen, Run, assert_run_leaks_nothing, id, run};

/// The read scopes a dedicated audit key holds (as the README lists them).
const AUDIT_SCOPES: &[&str] = &[
    "api_keys.read",
    "teammates.read",
    "subusers.read",
    "access_settings.whitelist.read",
    "access_settings.activity.read",
    "user.webhooks.event.settings.read",
    "user.settings.enforced_tls.read",
    "sso.settings.read",
];

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Account {
    tmp: TempDir,
    mock: MockSendGrid,
    admin: String,
    keys: KeyGen,
    /// Every key made, for the no-key-in-output checks.
    all: Vec<String>,
}

impl Account {
    fn new(seed: u64, admin_scopes: &[&str]) -> Account {
        let mut keys = KeyGen::new(seed);
        let mock = MockSendGrid::start();
        let admin = keys.key();
        mock.set(&admin, Behavior::live(admin_scopes));
        mock.set_name(&admin, "audit");
        Account {
            tmp: tempfile::tempdir().unwrap(),
            mock,
            all: vec![admin.clone()],
            admin,
            keys,
        }
    }

    /// A key of `account` ("default": the audited account; else a subuser's) with these scopes.
    fn key(&mut self, account: &str, name: &str, scopes: &[&str]) -> String {
        let k = self.keys.key();
        self.mock.set(&k, Behavior::live(scopes));
        self.mock.set_name(&k, name);
        self.mock.set_account(&k, account);
        self.all.push(k.clone());
        k
    }

    fn posture(&self, path: &str, body: Value) {
        self.mock.set_posture("default", path, body);
    }

    fn audit(&self, format: &str, extra: &[&str]) -> Run {
        let mut cmd = crate::util::sgscan(self.tmp.path());
        cmd.env("SGSCAN_ADMIN_KEY", &self.admin)
            .args(["audit", "--api-url", &self.mock.url(), "-f", format])
            .args(extra);
        let r = run(&mut cmd);
        let all: Vec<&String> = self.all.iter().collect();
        assert_run_leaks_nothing(&r, &all);
        self.mock.assert_only_reads();
        r
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }
}

/// (check, subject) of every finding.
fn found(doc: &Value) -> BTreeSet<(String, String)> {
    doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array: {doc}"))
        .iter()
        .map(|f| {
            for field in ["severity", "practice", "detail", "next_step"] {
                assert!(
                    f[field].as_str().is_some_and(|s| !s.is_empty()),
                    "finding without {field}: {f}"
                );
            }
            (
                f["check"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn not_checked(doc: &Value) -> Vec<Value> {
    doc["not_checked"].as_array().cloned().unwrap_or_default()
}

/// A webhook in the shape of `/v3/user/webhooks/event/settings/all`.
fn webhook(id: &str, url: &str, enabled: bool, public_key: Option<&str>, oauth: Option<&str>) -> Value {
    let mut w = json!({
        "enabled": enabled, "url": url, "id": id, "friendly_name": null,
        "oauth_client_id": oauth, "oauth_token_url": oauth.map(|_| "https://idp.example.com/token"),
        "group_resubscribe": true, "delivered": true, "group_unsubscribe": true, "spam_report": true,
        "bounce": true, "deferred": true, "unsubscribe": true, "processed": true, "open": true,
        "click": true, "dropped": true, "created_date": "2024-01-01T00:00:00Z",
        "updated_date": "2024-01-01T00:00:00Z",
    });
    if let Some(k) = public_key {
        w["public_key"] = k.into();
    }
    w
}

fn integration(id: &str) -> Value {
    json!({
        "name": format!("IdP {id}"), "enabled": true, "signin_url": "https://idp.example.com/in",
        "signout_url": "https://idp.example.com/out", "entity_id": "https://idp.example.com",
        "completed_integration": true, "last_updated": 1_700_000_000, "id": id,
    })
}

fn certificate(integration: &str, not_after: i64) -> Value {
    json!([{
        "public_certificate": "MIIC...", "id": 1, "not_before": not_after - 365 * DAY,
        "not_after": not_after, "intergration_id": integration,
    }])
}

/// What a clean account has set up: a narrow allow list, a signed https webhook, TLS enforced,
/// an SSO integration with a valid certificate.
fn clean_settings(a: &Account) {
    a.posture(
        "/v3/access_settings/whitelist",
        json!({"result": [{"id": 3, "ip": "203.0.113.0/24", "created_at": 1_700_000_000, "updated_at": 1_700_000_000}]}),
    );
    a.posture(
        "/v3/access_settings/activity",
        json!({"result": [{"allowed": true, "auth_method": "api", "first_at": 1_700_000_000, "ip": "203.0.113.5", "last_at": 1_700_000_100, "location": "Testland"}]}),
    );
    a.posture(
        "/v3/user/webhooks/event/settings/all",
        json!({"max_allowed": 5, "webhooks": [webhook("wh-ok", "https://hooks.example.com/sg", true, Some("MFkw..."), None)]}),
    );
    a.posture(
        "/v3/user/settings/enforced_tls",
        json!({"require_tls": true, "require_valid_cert": true, "version": 1.2}),
    );
    a.posture("/v3/sso/integrations", json!([integration("sso-ok")]));
    a.posture(
        "/v3/sso/integrations/sso-ok/certificates",
        certificate("sso-ok", now() + 400 * DAY),
    );
}

#[test]
fn an_account_with_each_problem_gets_each_finding_and_its_clean_counterpart_none() {
    let mut a = Account::new(0xa2701, AUDIT_SCOPES);
    let _send = a.key("default", "mailer", &["mail.send"]);
    let ops = a.key(
        "default",
        "ops",
        &["mail.send", "api_keys.create", "api_keys.read"],
    );
    let billing = a.key("default", "reports", &["billing.read", "stats.read"]);
    let _billing_only = a.key("default", "billing", &["billing.read", "billing.update"]);
    // Subusers: one audited through on-behalf-of, one disabled.
    a.posture(
        "/v3/subusers",
        json!([
            {"disabled": false, "id": 2, "username": "eu-shop", "email": "shop@example.com", "region": "eu"},
            {"disabled": true, "id": 3, "username": "quiet", "email": "quiet@example.com", "region": "global"},
        ]),
    );
    let sub_ops = a.key("eu-shop", "shop ops", &["mail.send", "teammates.create"]);
    let _sub_send = a.key("eu-shop", "shop mailer", &["mail.send"]);
    // Teammates: the owner, an admin, a key manager, a 2FA exemption, and a mail-only teammate.
    a.mock.add_teammate("default", "boss", "owner", &[]);
    a.mock.add_teammate("default", "alice", "admin", &[]);
    a.mock
        .add_teammate("default", "bob", "teammate", &["mail.send", "api_keys.create"]);
    a.mock
        .add_teammate("default", "carol", "teammate", &["mail.send"]);
    a.mock
        .add_teammate("default", "dave", "teammate", &["mail.send", "2fa_exempt"]);
    a.posture(
        "/v3/teammates/bob/subuser_access",
        json!({"has_restricted_subuser_access": true, "subuser_access": [
            {"id": 2, "username": "eu-shop", "email": "shop@example.com", "disabled": false, "permission_type": "admin", "scopes": []},
        ], "_metadata": {"next_params": {}}}),
    );
    a.posture(
        "/v3/teammates/carol/subuser_access",
        json!({"has_restricted_subuser_access": true, "subuser_access": [
            {"id": 2, "username": "eu-shop", "email": "shop@example.com", "disabled": false, "permission_type": "restricted", "scopes": ["mail.send"]},
        ], "_metadata": {"next_params": {}}}),
    );
    a.posture(
        "/v3/teammates/pending",
        json!({"result": [
            {"email": "new@example.com", "scopes": [], "is_admin": true, "token": "tok-new-secret", "expiration_date": now() + 3 * DAY},
            {"email": "old@example.com", "scopes": ["mail.send"], "is_admin": false, "token": "tok-old", "expiration_date": now() - 30 * DAY},
            {"email": "ok@example.com", "scopes": ["mail.send"], "is_admin": false, "token": "tok-ok", "expiration_date": now() + 6 * DAY},
        ]}),
    );
    a.posture(
        "/v3/access_settings/whitelist",
        json!({"result": [
            {"id": 1, "ip": "0.0.0.0/0", "created_at": 1_700_000_000, "updated_at": 1_700_000_000},
            {"id": 2, "ip": "10.0.0.0/8", "created_at": 1_700_000_000, "updated_at": 1_700_000_000},
            {"id": 3, "ip": "203.0.113.0/24", "created_at": 1_700_000_000, "updated_at": 1_700_000_000},
        ]}),
    );
    a.posture(
        "/v3/access_settings/activity",
        json!({"result": [
            {"allowed": false, "auth_method": "api", "first_at": 1_700_000_000, "ip": "198.51.100.7", "last_at": 1_700_000_100, "location": "Elsewhere"},
            {"allowed": true, "auth_method": "basic", "first_at": 1_700_000_000, "ip": "203.0.113.5", "last_at": 1_700_000_100, "location": "Testland"},
        ]}),
    );
    a.posture(
        "/v3/user/webhooks/event/settings/all",
        json!({"max_allowed": 5, "webhooks": [
            webhook("wh-ok", "https://hooks.example.com/sg", true, Some("MFkw..."), None),
            webhook("wh-http", "http://hooks.example.com/sg", true, None, None),
            webhook("wh-open", "https://hooks.example.com/open", true, None, None),
            webhook("wh-oauth", "https://hooks.example.com/oauth", true, None, Some("client-1")),
            webhook("wh-off", "http://old.example.com/sg", false, None, None),
        ]}),
    );
    a.posture(
        "/v3/user/settings/enforced_tls",
        json!({"require_tls": false, "require_valid_cert": false, "version": 1.1}),
    );
    a.posture(
        "/v3/sso/integrations",
        json!([
            integration("sso-old"),
            integration("sso-soon"),
            integration("sso-ok")
        ]),
    );
    a.posture(
        "/v3/sso/integrations/sso-old/certificates",
        certificate("sso-old", now() - DAY),
    );
    a.posture(
        "/v3/sso/integrations/sso-soon/certificates",
        certificate("sso-soon", now() + 10 * DAY),
    );
    a.posture(
        "/v3/sso/integrations/sso-ok/certificates",
        certificate("sso-ok", now() + 400 * DAY),
    );

    let r = a.audit("json", &[]);
    assert_eq!(r.code, 1, "high findings exit 1:\n{r}");
    let doc = r.json();
    let key = |k: &String| format!("key {}", id(k));
    let sub = format!("subuser eu-shop: key {}", id(&sub_ops));
    let want = pairs(&[
        ("key-admin-scopes", &key(&ops)),
        ("key-send-and-admin", &key(&ops)),
        ("key-billing-mixed", &key(&billing)),
        ("key-admin-scopes", &sub),
        ("key-send-and-admin", &sub),
        ("teammate-admin", "teammate alice"),
        ("teammate-manages-access", "teammate bob"),
        ("teammate-subuser-admin", "teammate bob"),
        ("teammate-2fa-exempt", "teammate dave"),
        ("invite-admin", "invite new@example.com"),
        ("invite-expired", "invite old@example.com"),
        ("ip-range-broad", "0.0.0.0/0"),
        ("ip-range-broad", "10.0.0.0/8"),
        ("ip-denied-attempt", "198.51.100.7"),
        ("webhook-plain-http", "webhook wh-http"),
        ("webhook-unauthenticated", "webhook wh-http"),
        ("webhook-unauthenticated", "webhook wh-open"),
        ("webhook-unsigned", "webhook wh-oauth"),
        ("enforced-tls-off", "account"),
        ("sso-cert-expired", "sso integration sso-old"),
        ("sso-cert-expiring", "sso integration sso-soon"),
    ]);
    assert_eq!(found(&doc), want, "{r}");
    assert!(not_checked(&doc).is_empty(), "{r}");
    // The key list keeps its fields; subusers are listed with their region and keys.
    assert_eq!(doc["keys"].as_array().map(Vec::len), Some(5), "{r}");
    assert_eq!(doc["subusers"][0]["region"], "eu", "{r}");
    assert_eq!(
        doc["subusers"][0]["keys"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );
    assert_eq!(doc["subusers"][1]["disabled"], true, "{r}");
    assert_eq!(doc["summary"]["worst"], "high", "{r}");
    assert!(doc["cannot_show"].as_array().is_some_and(|c| c.len() == 3), "{r}");
    // The subuser's keys were read for it, and only for it.
    let obo: Vec<_> = a
        .mock
        .requests()
        .into_iter()
        .filter(|q| q.on_behalf_of.is_some())
        .collect();
    assert!(!obo.is_empty());
    assert!(
        obo.iter()
            .all(|q| q.on_behalf_of.as_deref() == Some("eu-shop") && q.path.starts_with("/v3/api_keys")),
        "{obo:?}"
    );
    // An invite's token lets its holder in: never shown.
    assert!(!r.stdout.contains("tok-new-secret"), "{r}");

    // The same account in every other format.
    let human = a.audit("human", &[]);
    assert_eq!(human.code, 1, "{human}");
    let out = &human.stdout;
    for want in [
        "least privilege",
        "segregation of duties",
        "role-based access",
        "IP restriction",
        "HTTPS and signed webhooks",
        "next step:",
        "What the API cannot show",
        "[HIGH]",
        "subuser eu-shop (id 2, region eu)",
    ] {
        assert!(out.contains(want), "{want}:\n{human}");
    }
    // Worst first: the high findings come before the informational one.
    assert!(
        out.find("[HIGH]").unwrap() < out.find("[INFO]").unwrap(),
        "{human}"
    );

    let sarif = a.audit("sarif", &[]).json();
    let rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let checks: BTreeSet<String> = want.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(rules.len(), checks.len(), "one rule per check: {rules:?}");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(want.len())
    );

    let jsonl = a.audit("jsonl", &[]);
    let lines = jsonl.lines();
    assert_eq!(
        lines.iter().filter(|l| l["type"] == "finding").count(),
        want.len(),
        "{jsonl}"
    );
    assert_eq!(lines.last().unwrap()["type"], "summary", "{jsonl}");

    let html = a.audit("html", &["-o", "audit.html"]);
    assert_eq!(html.code, 1, "{html}");
    let page = std::fs::read_to_string(a.path().join("audit.html")).unwrap();
    assert!(page.contains("Content-Security-Policy") && page.contains("webhook-plain-http"));
    assert!(page.contains("What the API cannot show"));
}

#[test]
fn a_clean_account_has_no_findings_and_exits_0() {
    let mut a = Account::new(0xa2702, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    a.mock.add_teammate("default", "boss", "owner", &[]);
    a.mock
        .add_teammate("default", "carol", "teammate", &["mail.send"]);
    clean_settings(&a);
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert_eq!(found(&doc), BTreeSet::new(), "{r}");
    assert!(not_checked(&doc).is_empty(), "{r}");
    assert_eq!(doc["summary"]["all_sections_checked"], true, "{r}");
    let human = a.audit("human", &[]);
    assert!(human.stdout.contains("No findings"), "{human}");
    assert!(human.stdout.contains("What the API cannot show"), "{human}");
}

#[test]
fn an_audit_key_without_teammates_read_leaves_teammates_not_checked_and_assesses_the_rest() {
    let scopes: Vec<&str> = AUDIT_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "teammates.read")
        .collect();
    let mut a = Account::new(0xa2703, &scopes);
    a.key("default", "mailer", &["mail.send"]);
    a.mock.add_teammate("default", "alice", "admin", &[]);
    clean_settings(&a);
    a.posture(
        "/v3/access_settings/whitelist",
        json!({"result": [{"id": 1, "ip": "0.0.0.0/0", "created_at": 1, "updated_at": 1}]}),
    );
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 1, "the broad range is still found:\n{r}");
    let doc = r.json();
    assert_eq!(found(&doc), pairs(&[("ip-range-broad", "0.0.0.0/0")]), "{r}");
    let nc = not_checked(&doc);
    assert_eq!(nc.len(), 1, "{r}");
    assert_eq!(nc[0]["section"], "teammates", "{r}");
    assert_eq!(nc[0]["needs_scope"], "teammates.read", "{r}");
    let assessed = doc["summary"]["sections_assessed"].to_string();
    for s in ["keys", "ip access", "event webhooks", "enforced tls", "sso"] {
        assert!(assessed.contains(s), "{s} not assessed:\n{r}");
    }
    assert_eq!(doc["summary"]["all_sections_checked"], false, "{r}");
    let human = a.audit("human", &[]);
    assert!(
        human.stdout.contains("Not checked") && human.stdout.contains("[needs teammates.read]"),
        "{human}"
    );
}

#[test]
fn answers_not_in_sendgrids_shape_are_not_checked_never_a_pass() {
    let mut a = Account::new(0xa2704, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    let admin = a.admin.clone();
    // `{}` would read as an empty allow list (a finding) or no teammates (a pass): it is neither.
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/access_settings/whitelist",
        Hostile::json_200("{}"),
    );
    a.mock
        .hostile(&admin, "GET", "/v3/teammates", Hostile::gateway_403());
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/user/webhooks/event/settings/all",
        Hostile::json_200(r#"{"webhooks":{"enabled":true}}"#),
    );
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/subusers",
        Hostile::json_200(r#"{"result":[]}"#),
    );
    a.mock
        .hostile(&admin, "GET", "/v3/sso/integrations", Hostile::html_403());
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/user/settings/enforced_tls",
        Hostile::json_200(r#"{"require_tls":"yes"}"#),
    );
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert_eq!(
        found(&doc),
        BTreeSet::new(),
        "nothing judged from a wrong shape:\n{r}"
    );
    let nc = not_checked(&doc);
    let sections: BTreeSet<&str> = nc.iter().map(|n| n["section"].as_str().unwrap()).collect();
    assert_eq!(
        sections,
        BTreeSet::from([
            "ip access: allow list",
            "teammates",
            "event webhooks",
            "subusers",
            "sso",
            "enforced tls"
        ]),
        "{r}"
    );
    for n in &nc {
        // Not SendGrid's 403: no scope is blamed.
        assert_eq!(n["needs_scope"], Value::Null, "{n}");
        let reason = n["reason"].as_str().unwrap();
        assert!(
            reason.contains("not in SendGrid's shape") || reason.contains("not SendGrid's answer"),
            "{n}"
        );
    }
    // The key found in the key list is still assessed.
    assert!(
        doc["summary"]["sections_assessed"].to_string().contains("keys"),
        "{r}"
    );
}

#[test]
fn an_audit_that_could_read_nothing_exits_2() {
    let a = Account::new(0xa2705, &["mail.send"]);
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 2, "{r}");
    let doc = r.json();
    assert!(found(&doc).is_empty(), "{r}");
    let nc = not_checked(&doc);
    let needs: BTreeSet<&str> = nc.iter().filter_map(|n| n["needs_scope"].as_str()).collect();
    for s in AUDIT_SCOPES {
        assert!(needs.contains(s), "{s} not named:\n{r}");
    }
    let human = a.audit("human", &[]);
    assert_eq!(human.code, 2, "{human}");
    assert!(human.stdout.contains("nothing was assessed"), "{human}");
    assert!(human.stderr.contains("audit incomplete"), "{human}");
}

#[test]
fn a_subuser_name_that_cannot_be_a_header_is_not_checked_and_nothing_is_sent_for_it() {
    let mut a = Account::new(0xa2706, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    a.posture(
        "/v3/subusers",
        json!([
            {"disabled": false, "id": 2, "username": "evil\r\nX-Injected: yes", "email": "e@example.com"},
            {"disabled": false, "id": 3, "username": "shop", "email": "s@example.com", "region": "global"},
        ]),
    );
    let leaky = a.key("shop", "shop ops", &["mail.send", "api_keys.delete"]);
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(
        found(&doc),
        pairs(&[
            ("key-admin-scopes", &format!("subuser shop: key {}", id(&leaky))),
            ("key-send-and-admin", &format!("subuser shop: key {}", id(&leaky))),
        ]),
        "{r}"
    );
    let nc = not_checked(&doc);
    assert_eq!(nc.len(), 1, "{r}");
    assert!(nc[0]["reason"].as_str().unwrap().contains("on-behalf-of"), "{r}");
    assert!(
        a.mock
            .requests()
            .iter()
            .filter_map(|q| q.on_behalf_of.as_deref())
            .all(|u| u == "shop"),
        "only the valid subuser's name was sent"
    );
    let human = a.audit("human", &[]);
    assert!(
        !human.stdout.contains("\r\nX-Injected"),
        "escaped on the terminal"
    );
}

/// GNU date(1) writes the log's timestamps.
#[cfg(target_os = "linux")]
#[test]
fn the_rotation_log_gives_key_ages_the_api_cannot() {
    let mut a = Account::new(0xa2707, AUDIT_SCOPES);
    let old = a.key("default", "old mailer", &["mail.send"]);
    let fresh = a.key("default", "new mailer", &["mail.send"]);
    clean_settings(&a);
    let at = |days: i64| {
        let t = now() - days * DAY;
        // RFC 3339, UTC, as rotate writes it.
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let log = [
        json!({"event": "attempt", "timestamp": at(200), "step": "create", "key_id": "x", "rotated_by": "y"}),
        json!({"event": "result", "timestamp": at(200), "step": "create", "key_id": "prev", "rotated_by": "y", "result": "created", "new_key_id": id(&old)}),
        json!({"event": "result", "timestamp": at(5), "step": "create", "key_id": "prev2", "rotated_by": "y", "result": "created", "new_key_id": id(&fresh)}),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect::<String>();
    std::fs::write(a.path().join("rotations.jsonl"), log).unwrap();
    let r = a.audit("json", &["--audit-log", "rotations.jsonl"]);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert_eq!(
        found(&doc),
        pairs(&[
            ("key-rotation-due", &format!("key {}", id(&old))),
            // The audit key itself has no rotation on record.
            ("key-rotation-unknown", "account"),
        ]),
        "{r}"
    );
    let fresh_entry = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["api_key_id"] == id(&fresh).as_str())
        .cloned()
        .unwrap();
    assert!(fresh_entry["rotated_in"].is_string(), "{r}");
}

#[test]
fn an_account_near_its_100_key_limit_is_told_so() {
    let mut a = Account::new(0xa2708, AUDIT_SCOPES);
    clean_settings(&a);
    // The audit key and 88 more: 89 keys, under the warning.
    for i in 0..88 {
        a.key("default", &format!("mailer {i}"), &["mail.send"]);
    }
    let r = a.audit("json", &[]);
    assert_eq!(found(&r.json()), BTreeSet::new(), "{r}");
    a.key("default", "mailer 88", &["mail.send"]);
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 0, "a medium finding does not fail the run:\n{r}");
    assert_eq!(found(&r.json()), pairs(&[("key-limit", "account")]), "{r}");
}

// ---- Red team (#27): a hostile or lying server, hostile strings, hostile local input. ----

/// A panic is exit 101; every audit run must end in 0, 1 or 2.
fn no_panic(r: &Run) {
    assert!(
        [0, 1, 2].contains(&r.code) && !r.stderr.contains("panicked"),
        "{r}"
    );
}

#[test]
fn a_webhook_url_with_a_multibyte_character_near_its_scheme_is_judged_not_a_panic() {
    let mut a = Account::new(0xa2709, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    // 'é' takes bytes 6..8: the first seven bytes end inside it.
    a.posture(
        "/v3/user/webhooks/event/settings/all",
        json!({"max_allowed": 5, "webhooks": [
            webhook("wh-utf8", "http:/é.example.com/sg", true, None, None),
            webhook("wh-http", "HTTP://hooks.example.com/sg", true, Some("MFkw..."), None),
        ]}),
    );
    let r = a.audit("json", &[]);
    no_panic(&r);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        found(&r.json()),
        pairs(&[
            ("webhook-unauthenticated", "webhook wh-utf8"),
            ("webhook-plain-http", "webhook wh-http"),
        ]),
        "{r}"
    );
}

#[test]
fn dates_at_the_ends_of_time_from_the_api_are_shown_not_a_panic() {
    let a = Account::new(0xa270a, AUDIT_SCOPES);
    clean_settings(&a);
    a.posture(
        "/v3/teammates/pending",
        json!({"result": [
            {"email": "min@example.com", "scopes": [], "is_admin": false, "token": "t1", "expiration_date": i64::MIN},
            {"email": "max@example.com", "scopes": [], "is_admin": false, "token": "t2", "expiration_date": i64::MAX},
        ]}),
    );
    a.posture(
        "/v3/access_settings/activity",
        json!({"result": [
            {"allowed": false, "auth_method": "api", "first_at": 0, "ip": "198.51.100.1", "last_at": i64::MIN, "location": "x"},
            {"allowed": false, "auth_method": "api", "first_at": 0, "ip": "198.51.100.2", "last_at": i64::MAX, "location": "y"},
        ]}),
    );
    a.posture(
        "/v3/sso/integrations/sso-ok/certificates",
        json!([
            {"public_certificate": "x", "id": 1, "not_before": 0, "not_after": -1e300},
            {"public_certificate": "x", "id": 2, "not_before": 0, "not_after": 1e300},
        ]),
    );
    for format in ["json", "human", "html", "sarif"] {
        let r = a.audit(format, &[]);
        no_panic(&r);
        assert_eq!(r.code, 1, "{r}");
    }
}

#[test]
fn a_hostile_rotation_log_is_read_not_a_panic() {
    let a = Account::new(0xa270b, AUDIT_SCOPES);
    clean_settings(&a);
    let line = |at: &str| {
        format!(
            "{}\n",
            json!({"event": "result", "timestamp": at, "result": "created", "new_key_id": id(&a.admin)})
        )
    };
    // The latest line for a key wins: the one that counts comes last. Both forms parse to
    // i64::MIN seconds.
    for last in ["-9223372036854775808 +0000", "@-9223372036854775808"] {
        let mut log = line("not a date") + &line("9223372036854775807");
        // Malformed lines are passed over.
        log.push_str("{\"event\":\n[]\n\"result\"\nnull\n{\"event\":\"result\",\"result\":\"created\",\"new_key_id\":7}\n");
        log.push_str(&line(last));
        std::fs::write(a.path().join("rot.jsonl"), log).unwrap();
        let r = a.audit("json", &["--audit-log", "rot.jsonl"]);
        no_panic(&r);
        assert_eq!(r.code, 0, "{r}");
        let admin = &r.json()["keys"][0];
        assert_eq!(admin["rotated_in"], last, "{r}");
    }
}

#[test]
fn an_audit_log_that_is_a_fifo_or_a_directory_is_a_clear_error_not_a_hang() {
    let a = Account::new(0xa270c, AUDIT_SCOPES);
    clean_settings(&a);
    std::fs::create_dir(a.path().join("dir")).unwrap();
    let mut targets = vec!["dir"];
    #[cfg(unix)]
    {
        let ok = std::process::Command::new("mkfifo")
            .arg(a.path().join("fifo"))
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            targets.push("fifo");
        }
    }
    for t in targets {
        let r = a.audit("json", &["--audit-log", t]);
        assert_eq!(r.code, 2, "{r}");
        assert!(r.stderr.contains("audit log"), "{r}");
        assert!(r.stdout.is_empty(), "{r}");
    }
}

#[test]
fn an_account_whose_keys_cannot_be_listed_is_incomplete_not_clean() {
    let scopes: Vec<&str> = AUDIT_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "api_keys.read")
        .collect();
    let a = Account::new(0xa270d, &scopes);
    clean_settings(&a);
    let r = a.audit("json", &[]);
    let doc = r.json();
    assert_eq!(doc["summary"]["complete"], false, "{r}");
    assert!(doc["summary"]["not_assessed"].is_string(), "{r}");
    assert_eq!(
        r.code, 2,
        "the keys, and any leaked key still in them, were never read:\n{r}"
    );
    let human = a.audit("human", &[]);
    assert_eq!(human.code, 2, "{human}");
    assert!(human.stderr.contains("audit incomplete"), "{human}");
}

#[test]
fn an_allow_list_of_entries_without_an_address_is_not_checked_never_a_pass() {
    let mut a = Account::new(0xa270e, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    a.posture(
        "/v3/access_settings/whitelist",
        json!({"result": [{"id": 1, "ip": null, "created_at": 1, "updated_at": 1}, {"id": 2, "created_at": 1, "updated_at": 1}]}),
    );
    let r = a.audit("json", &[]);
    let doc = r.json();
    assert!(found(&doc).is_empty(), "{r}");
    let nc = not_checked(&doc);
    assert!(
        nc.iter().any(|n| n["section"] == "ip access: allow list"),
        "entries with no address say nothing of the list's breadth:\n{r}"
    );
}

#[test]
fn an_ipv4_mapped_ipv6_range_as_wide_as_all_of_ipv4_is_broad() {
    let mut a = Account::new(0xa270f, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    a.posture(
        "/v3/access_settings/whitelist",
        json!({"result": [
            {"id": 1, "ip": "::ffff:0.0.0.0/96", "created_at": 1, "updated_at": 1},
            {"id": 2, "ip": "::ffff:203.0.113.0/120", "created_at": 1, "updated_at": 1},
        ]}),
    );
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        found(&r.json()),
        pairs(&[("ip-range-broad", "::ffff:0.0.0.0/96")]),
        "{r}"
    );
}

#[test]
fn a_webhook_that_does_not_say_whether_it_is_enabled_is_not_checked_never_a_pass() {
    let mut a = Account::new(0xa2710, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    let mut hook = webhook("wh-null", "http://hooks.example.com/sg", true, None, None);
    hook["enabled"] = Value::Null;
    a.posture(
        "/v3/user/webhooks/event/settings/all",
        json!({"max_allowed": 5, "webhooks": [hook]}),
    );
    let r = a.audit("json", &[]);
    let doc = r.json();
    assert!(found(&doc).is_empty(), "{r}");
    assert!(
        not_checked(&doc)
            .iter()
            .any(|n| n["section"].as_str().unwrap().contains("wh-null")),
        "{r}"
    );
}

#[test]
fn a_full_page_of_teammates_or_subusers_says_the_list_may_go_on() {
    let mut a = Account::new(0xa2711, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    // Owners and disabled subusers: the audit reads nothing more for them.
    let teammates: Vec<Value> = (0..500)
        .map(|i| json!({"username": format!("t{i}"), "email": "e@example.com", "user_type": "owner", "is_admin": true}))
        .collect();
    a.posture("/v3/teammates", json!({ "result": teammates }));
    let subs: Vec<Value> = (0..500)
        .map(|i| json!({"disabled": true, "id": i, "username": format!("s{i}"), "email": "e@example.com", "region": "global"}))
        .collect();
    a.posture("/v3/subusers", json!(subs));
    let r = a.audit("json", &[]);
    let doc = r.json();
    let nc = not_checked(&doc);
    for section in ["teammates", "subusers"] {
        assert!(
            nc.iter()
                .any(|n| n["section"] == section && n["reason"].as_str().unwrap().contains("500")),
            "{section}: a full page is not the whole list:\n{r}"
        );
    }
    assert_eq!(doc["summary"]["all_sections_checked"], false, "{r}");
}

#[test]
fn hostile_strings_from_the_api_reach_no_terminal_or_page_raw() {
    let mut a = Account::new(0xa2712, AUDIT_SCOPES);
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2J<script>alert(1)</script>\u{202e}gnp.exe\r\nFAKE LINE";
    a.key("default", evil, &["mail.send", "api_keys.delete"]);
    clean_settings(&a);
    a.posture(
        "/v3/user/webhooks/event/settings/all",
        json!({"max_allowed": 5, "webhooks": [webhook(evil, &format!("http://{evil}"), true, None, None)]}),
    );
    a.posture(
        "/v3/teammates/pending",
        json!({"result": [{"email": evil, "scopes": [], "is_admin": true, "token": "t", "expiration_date": 1}]}),
    );
    a.posture(
        "/v3/teammates",
        json!({"result": [{"username": evil, "email": "e@example.com", "user_type": "admin", "is_admin": true}]}),
    );
    a.posture(
        "/v3/access_settings/activity",
        json!({"result": [{"allowed": false, "auth_method": evil, "first_at": 1, "ip": evil, "last_at": 2, "location": evil}]}),
    );
    a.posture(
        "/v3/subusers",
        json!([{"disabled": true, "id": 9, "username": evil, "email": "e@example.com", "region": evil}]),
    );
    for format in ["human", "html"] {
        let r = a.audit(format, &[]);
        assert_eq!(r.code, 1, "{r}");
        for raw in ["\u{1b}", "\u{7}", "\u{202e}", "\r", "\nFAKE LINE"] {
            assert!(
                !r.stdout.contains(raw),
                "{format}: {raw:?} raw in the output:\n{r}"
            );
        }
        if format == "html" {
            assert!(!r.stdout.contains("<script>"), "{r}");
        }
    }
    // The teammate's detail path keeps the name inside one segment.
    assert!(
        a.mock
            .requests()
            .iter()
            .filter(|q| q.path.starts_with("/v3/teammates/"))
            .all(|q| !q.path.contains('<') && q.path.matches('/').count() <= 4),
        "{:?}",
        a.mock
            .requests()
            .iter()
            .map(|q| q.path.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_server_echoing_the_audit_key_in_its_answers_gets_it_into_no_output() {
    let mut a = Account::new(0xa2713, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    let admin = a.admin.clone();
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/teammates",
        Hostile::Echo {
            status: 200,
            body: r#"{"result":[{"username":"{bearer}","user_type":"admin","is_admin":true}]}"#.into(),
        },
    );
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/user/webhooks/event/settings/all",
        Hostile::Echo {
            status: 403,
            body: r#"{"errors":[{"field":null,"message":"bad key {bearer}"}]}"#.into(),
        },
    );
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/access_settings/activity",
        Hostile::Echo {
            status: 200,
            body: r#"{"result":[{"allowed":false,"auth_method":"api","first_at":1,"ip":"{bearer}","last_at":2,"location":"{bearer}"}]}"#.into(),
        },
    );
    // `audit` checks every output for every key, whole or in part.
    for format in ["json", "jsonl", "human", "sarif", "html"] {
        let r = a.audit(format, &[]);
        no_panic(&r);
    }
}

#[test]
fn lists_longer_than_the_page_asked_for_are_not_checked_and_cost_no_requests() {
    let mut a = Account::new(0xa2714, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    let teammates: Vec<Value> = (0..501)
        .map(|i| json!({"username": format!("t{i}"), "email": "e@example.com", "user_type": "admin", "is_admin": true}))
        .collect();
    a.posture("/v3/teammates", json!({ "result": teammates }));
    let subs: Vec<Value> = (0..501)
        .map(|i| json!({"disabled": false, "id": i, "username": format!("s{i}"), "email": "e@example.com"}))
        .collect();
    a.posture("/v3/subusers", json!(subs));
    let r = a.audit("json", &[]);
    let doc = r.json();
    assert!(found(&doc).is_empty(), "{r}");
    let nc = not_checked(&doc);
    for section in ["teammates", "subusers"] {
        assert!(
            nc.iter()
                .any(|n| n["section"] == section
                    && n["reason"].as_str().unwrap().contains("more than the 500")),
            "{section}:\n{r}"
        );
    }
    assert_eq!(a.mock.count("GET", "/v3/teammates/t"), 0);
    assert!(
        a.mock.requests().iter().all(|q| q.on_behalf_of.is_none()),
        "no subuser read"
    );

    // A key list longer than any account can hold.
    let admin = a.admin.clone();
    let keys: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("k{i}"), "api_key_id": format!("{i:0>22}")}))
        .collect();
    a.mock.hostile(
        &admin,
        "GET",
        "/v3/api_keys",
        Hostile::json_200(&json!({ "result": keys }).to_string()),
    );
    let before = a.mock.count("GET", "/v3/api_keys/");
    let r = a.audit("json", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stdout.contains("more than SendGrid's limit of 100"), "{r}");
    assert_eq!(a.mock.count("GET", "/v3/api_keys/"), before, "{r}");
}

#[test]
fn a_teammate_list_of_several_owners_is_not_checked_never_a_pass() {
    let mut a = Account::new(0xa2715, AUDIT_SCOPES);
    a.key("default", "mailer", &["mail.send"]);
    clean_settings(&a);
    a.mock.add_teammate("default", "boss", "owner", &[]);
    a.mock.add_teammate("default", "alice", "owner", &[]);
    let r = a.audit("json", &[]);
    let doc = r.json();
    assert!(
        not_checked(&doc).iter().any(|n| n["section"] == "teammates"),
        "{r}"
    );
    assert_eq!(doc["summary"]["all_sections_checked"], false, "{r}");
}
