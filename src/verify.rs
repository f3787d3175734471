//! Verification: is each distinct key live, which scopes does it hold, is it over-privileged?
//!
//! The API's answers are read conservatively: a key is `invalid` only when SendGrid itself says the
//! grant is invalid, expired or revoked; anything that is not SendGrid speaking (a proxy's HTML, a
//! timeout, a 5xx, a 429 after retries) is `unknown`, never `invalid` and never `live`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::model::Finding;
pub use crate::model::{Privilege, Status, Verification};
use crate::sendgrid::{Answer, Api, Credential, sendgrid_error};

/// Scopes a send-only key may hold: sending, and what SendGrid attaches to every key.
fn is_send_scope(s: &str) -> bool {
    s == "mail.send"
        || s.starts_with("mail.batch.")
        || s.starts_with("sender_verification_")
        || matches!(s, "2fa_exempt" | "2fa_required")
}

/// Scopes that administer the account: keys, users, teammates, subusers, credentials, IP access.
fn is_admin_scope(s: &str) -> bool {
    if s.starts_with("api_keys.") {
        return true;
    }
    let writes = !s.ends_with(".read");
    let family = ["teammates.", "subusers.", "credentials.", "access_settings."]
        .iter()
        .any(|f| s.starts_with(f));
    let user_admin =
        s.starts_with("user.") && !s.starts_with("user.settings.") && !s.starts_with("user.webhooks.");
    writes && (family || user_admin)
}

/// The privilege level of a scope set, and the scopes that put it above send-only.
pub fn assess(scopes: &[String]) -> (Privilege, Vec<String>) {
    let above: Vec<String> = scopes.iter().filter(|s| !is_send_scope(s)).cloned().collect();
    let level = if scopes.iter().any(|s| is_admin_scope(s)) {
        Privilege::FullAccess
    } else if !above.is_empty() {
        Privilege::Elevated
    } else {
        Privilege::SendOnly
    };
    (level, above)
}

/// `--policy FILE`: `allowed_scopes = ["mail.send", "mail.batch.*"]` (a trailing `*` matches any rest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub allowed_scopes: Vec<String>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy> {
        let text = crate::file::read_to_string(path, crate::file::SMALL)
            .with_context(|| format!("cannot read policy {}", path.display()))?;
        toml::from_str(&text).with_context(|| {
            format!(
                "{}: malformed policy (expected `allowed_scopes = [\"mail.send\", ...]`)",
                path.display()
            )
        })
    }

    pub fn violations(&self, scopes: &[String]) -> Vec<String> {
        let allowed = |s: &str| {
            self.allowed_scopes.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => s.starts_with(prefix),
                None => s == p,
            })
        };
        scopes.iter().filter(|s| !allowed(s)).cloned().collect()
    }
}

pub fn now_rfc3339() -> String {
    gix::date::Time::now_utc()
        .format(gix::date::time::format::ISO8601_STRICT)
        .unwrap_or_default()
}

/// SendGrid's 401 message for a key that no longer authenticates (dead: revoked, expired or never
/// valid). Source: shared/sendgrid-api.md, "Status codes".
pub const GRANT_INVALID_MESSAGE: &str = "The provided authorization grant is invalid, expired, or revoked";

/// 401 messages SendGrid returns to keys that are valid, each with where it is documented. Only
/// these, compared whole (trimmed, case-insensitive), make a 401 `live`: a message that merely
/// resembles one may come from anything that sits in front of the API.
pub const LIVE_401_MESSAGES: &[(&str, &str)] = &[
    (
        "Maximum credits exceeded",
        "shared/sendgrid-api.md, \"Status codes\": 401 returned to live keys",
    ),
    (
        "Authenticated user is not authorized to send mail",
        "shared/sendgrid-api.md, \"Status codes\": 401 returned to live keys",
    ),
];

fn same_message(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// What SendGrid's 401 error messages say about the key, when they all say the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Says401 {
    Dead,
    Live,
}

fn classify_401(messages: &[String]) -> Option<Says401> {
    let one = |m: &String| {
        if same_message(m, GRANT_INVALID_MESSAGE) {
            Some(Says401::Dead)
        } else if LIVE_401_MESSAGES.iter().any(|(l, _)| same_message(m, l)) {
            Some(Says401::Live)
        } else {
            None
        }
    };
    let first = one(messages.first()?)?;
    messages.iter().all(|m| one(m) == Some(first)).then_some(first)
}

/// Whether this is SendGrid saying, in its own shape and words, that the calling key is dead.
pub fn is_grant_invalid(answer: &Answer) -> bool {
    match answer {
        Answer::Http {
            status: 401, body, ..
        } => sendgrid_error(body).is_some_and(|m| classify_401(&m) == Some(Says401::Dead)),
        _ => false,
    }
}

/// Whether this is SendGrid's own 404 (its error shape), e.g. for an id that is not in the account.
pub fn is_sendgrid_404(answer: &Answer) -> bool {
    matches!(answer, Answer::Http { status: 404, body, .. } if sendgrid_error(body).is_some())
}

/// What an answer to `GET /v3/scopes` says about the key that made the call. Only SendGrid's exact
/// shapes give `live` or `invalid`: 200 `{"scopes":[strings]}`; 401 with SendGrid's error body and a
/// message of [`GRANT_INVALID_MESSAGE`] or [`LIVE_401_MESSAGES`]; 403 with SendGrid's error body.
pub fn interpret(answer: &Answer) -> Verification {
    let mut v = Verification {
        status: Status::Unknown,
        reason: String::new(),
        http_status: None,
        scopes: None,
        privilege: None,
        above_send_only: Vec::new(),
        policy_violations: Vec::new(),
        checked_at: now_rfc3339(),
        attempts: 0,
        cached: false,
        account: None,
    };
    match answer {
        Answer::Fault { reason, attempts, .. } => {
            v.reason = reason.clone();
            v.attempts = *attempts;
        }
        Answer::Http {
            status,
            body,
            attempts,
            ..
        } => {
            v.http_status = Some(*status);
            v.attempts = *attempts;
            let messages = sendgrid_error(body);
            let msg = messages.as_deref().map(|m| m.join("; ")).unwrap_or_default();
            match (*status, &messages) {
                (200, _) => match parse_scopes(body) {
                    Ok(scopes) => {
                        let (level, above) = assess(&scopes);
                        v.status = Status::Live;
                        v.reason = "the API accepted the key".into();
                        v.privilege = Some(level);
                        v.above_send_only = above;
                        v.scopes = Some(scopes);
                    }
                    Err(why) => v.reason = why,
                },
                (401, Some(m)) => match classify_401(m) {
                    Some(Says401::Dead) => {
                        v.status = Status::Invalid;
                        v.reason = msg;
                    }
                    Some(Says401::Live) => {
                        v.status = Status::Live;
                        v.reason = format!("live key refused by the API: {msg}");
                    }
                    None => {
                        v.reason = format!(
                            "HTTP 401 with a message that is not one SendGrid documents for live or dead keys: {msg}"
                        )
                    }
                },
                (403, Some(_)) => {
                    v.status = Status::Live;
                    v.reason = format!(
                        "valid key without permission to list its scopes, or blocked by IP access management: {msg}"
                    );
                }
                (code, Some(_)) => v.reason = format!("HTTP {code}: {msg}"),
                (code, None) => {
                    v.reason = format!(
                        "HTTP {code} that is not SendGrid's error JSON (a proxy, gateway or firewall?)"
                    )
                }
            }
        }
    }
    v
}

/// Whose account a live key belongs to, so a sweep of many repositories knows whom to call: the
/// username (`GET /v3/user/username`), else the company (`GET /v3/user/profile`), asked only when
/// the key holds the scope, and read only from a 200 with that string member.
fn account_owner(api: &Api, cred: &Credential, scopes: &[String]) -> Option<String> {
    let read = |path: &str, field: &str| -> Option<String> {
        let Answer::Http {
            status: 200, body, ..
        } = api.get(cred, path)
        else {
            return None;
        };
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let s = v.as_object()?.get(field)?.as_str()?.trim().to_string();
        (!s.is_empty() && s.chars().count() <= 256).then_some(s)
    };
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if has("user.username.read")
        && let Some(u) = read("/v3/user/username", "username")
    {
        return Some(u);
    }
    has("user.profile.read")
        .then(|| read("/v3/user/profile", "company"))
        .flatten()
}

/// Whether `s` can be a SendGrid scope name (`^[a-z0-9_.-]{1,128}$`). Every scope SendGrid
/// documents fits; anything else (escape sequences, spaces, a pasted key) is not SendGrid's and
/// must not reach the report, the cache or a terminal.
pub fn is_scope_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

/// `{"scopes":[scope names]}` and nothing else; the error says why an answer is not that.
fn parse_scopes(body: &str) -> Result<Vec<String>, String> {
    let not_shape =
        || "HTTP 200 without SendGrid's {\"scopes\":[...]} body (a proxy or captive portal?)".to_string();
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| not_shape())?;
    let top = v.as_object().ok_or_else(not_shape)?;
    if top.len() != 1 {
        return Err(not_shape());
    }
    let arr = top
        .get("scopes")
        .and_then(|s| s.as_array())
        .ok_or_else(not_shape)?;
    let scopes: Vec<String> = arr
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(not_shape)?;
    match scopes.iter().filter(|s| !is_scope_name(s)).count() {
        0 => Ok(scopes),
        bad => Err(format!(
            "HTTP 200 with {bad} scope(s) that are not SendGrid scope names (lower-case a-z, 0-9, '_', '.', '-', at most 128): not SendGrid's answer"
        )),
    }
}

/// Results kept across runs (`--cache FILE`), by fingerprint; never the key itself.
pub struct Cache {
    path: PathBuf,
    entries: HashMap<String, Verification>,
    max_age: Duration,
}

impl Cache {
    pub fn load(path: &Path, max_age: Duration) -> Result<Cache> {
        let entries = match crate::file::read_to_string(path, crate::file::REPORT) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{}: not an sgscan verification cache", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => bail!("cannot read cache {}: {e}", path.display()),
        };
        Ok(Cache {
            path: path.to_path_buf(),
            entries,
            max_age,
        })
    }

    /// A cached result still fresh enough to stand in for a request. `unknown` is never reused.
    fn get(&self, fingerprint: &str) -> Option<Verification> {
        let v = self.entries.get(fingerprint)?;
        let checked = gix::date::parse(&v.checked_at, None).ok()?.seconds;
        let age = gix::date::Time::now_utc().seconds.saturating_sub(checked);
        (v.status != Status::Unknown && age >= 0 && (age as u64) < self.max_age.as_secs()).then(|| {
            Verification {
                cached: true,
                ..v.clone()
            }
        })
    }

    /// Drops what is known of a key (after its revocation, a cached `live` would be a lie).
    pub fn forget(&mut self, fingerprint: &str) {
        self.entries.remove(fingerprint);
    }

    pub fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string_pretty(&self.entries)?;
        crate::file::create(&tmp, crate::file::Write::Truncate, true)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .with_context(|| format!("cannot write cache {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write cache {}", self.path.display()))
    }
}

pub struct VerifyOptions<'a> {
    /// `None` with `--no-network`: no request is made.
    pub api: Option<&'a Api>,
    pub concurrency: usize,
    pub policy: Option<&'a Policy>,
    pub cache: Option<&'a mut Cache>,
    /// Ask the API even when the cache has an answer (revocation acts only on this run's answers).
    pub fresh: bool,
    /// The rules whose matches are SendGrid keys (`sendgrid_key = true`): only their findings are
    /// sent to SendGrid, so a custom rule's secrets never reach a third party.
    pub sendgrid_rules: &'a [String],
}

/// How logs name a key: its id and fingerprint, never the key.
pub fn label(f: &Finding) -> String {
    format!(
        "key id {} (fingerprint {})",
        f.key_id.as_deref().unwrap_or("?"),
        &f.fingerprint[..16]
    )
}

/// Verifies each finding once (findings are already one per distinct key).
/// Verifies every finding of a SendGrid rule; returns how many findings were left unverified because
/// their rule does not declare `sendgrid_key`.
pub fn verify_all(findings: &mut [Finding], opts: VerifyOptions) -> usize {
    let VerifyOptions {
        api,
        concurrency,
        policy,
        mut cache,
        fresh,
        sendgrid_rules,
    } = opts;
    let mut todo = Vec::new();
    let mut skipped = 0usize;
    for (i, f) in findings.iter_mut().enumerate() {
        if !sendgrid_rules.contains(&f.rule_id) {
            skipped += 1;
            let mut v = interpret(&Answer::Fault {
                reason: String::new(),
                attempts: 0,
                unprocessed: true,
            });
            v.reason = format!(
                "not checked: rule '{}' does not declare sendgrid_key = true",
                f.rule_id
            );
            f.verification = Some(v);
            continue;
        }
        match cache
            .as_deref()
            .filter(|_| !fresh)
            .and_then(|c| c.get(&f.fingerprint))
        {
            Some(v) => f.verification = Some(v),
            None => todo.push(i),
        }
    }
    let results: Mutex<Vec<(usize, Verification)>> = Mutex::new(Vec::new());
    match api {
        None => {
            for &i in &todo {
                let mut v = interpret(&Answer::Fault {
                    reason: "not checked: --no-network".into(),
                    attempts: 0,
                    unprocessed: true,
                });
                v.reason = "not checked: --no-network".into();
                results.lock().unwrap_or_else(|e| e.into_inner()).push((i, v));
            }
        }
        Some(api) => {
            let next = AtomicUsize::new(0);
            let shared: &[Finding] = findings;
            std::thread::scope(|s| {
                for _ in 0..concurrency.max(1).min(todo.len().max(1)) {
                    s.spawn(|| {
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = todo.get(n) else { break };
                            let f = &shared[i];
                            let cred = Credential {
                                key: &f.key,
                                label: label(f),
                            };
                            let mut v = interpret(&api.get(&cred, "/v3/scopes"));
                            if let Some(scopes) = v.scopes.as_deref().filter(|_| v.status == Status::Live) {
                                v.account = account_owner(api, &cred, scopes);
                            }
                            results.lock().unwrap_or_else(|e| e.into_inner()).push((i, v));
                        }
                    });
                }
            });
        }
    }
    for (i, v) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if let Some(c) = cache.as_deref_mut()
            && v.status != Status::Unknown
        {
            c.entries.insert(findings[i].fingerprint.clone(), v.clone());
        }
        findings[i].verification = Some(v);
    }
    if let Some(policy) = policy {
        for f in findings.iter_mut() {
            if let Some(v) = f.verification.as_mut() {
                v.policy_violations = v
                    .scopes
                    .as_deref()
                    .map(|s| policy.violations(s))
                    .unwrap_or_default();
            }
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn privilege_levels() {
        assert_eq!(
            assess(&s(&["mail.send", "2fa_required", "sender_verification_eligible"])).0,
            Privilege::SendOnly
        );
        let (lvl, above) = assess(&s(&["mail.send", "templates.read", "stats.read"]));
        assert_eq!(
            (lvl, above),
            (Privilege::Elevated, s(&["templates.read", "stats.read"]))
        );
        assert_eq!(
            assess(&s(&["mail.send", "api_keys.create"])).0,
            Privilege::FullAccess
        );
        assert_eq!(assess(&s(&["teammates.create"])).0, Privilege::FullAccess);
        assert_eq!(assess(&s(&["user.profile.read"])).0, Privilege::Elevated);
        assert_eq!(assess(&s(&["user.profile.update"])).0, Privilege::FullAccess);
        assert_eq!(
            assess(&s(&["user.settings.enforced_tls.update"])).0,
            Privilege::Elevated
        );
    }

    fn http(status: u16, body: &str) -> Answer {
        let message = sendgrid_error(body).map(|m| m.join("; "));
        Answer::Http {
            status,
            body: body.into(),
            message,
            attempts: 1,
        }
    }

    fn err(message: &str) -> String {
        serde_json::json!({"errors": [{"field": null, "message": message}]}).to_string()
    }

    #[test]
    fn only_exact_shapes_and_messages_are_live_or_invalid() {
        let unknown = [
            (403, r#"{"message":"Forbidden"}"#.to_string()),
            (403, "{}".to_string()),
            (403, "<html>Forbidden</html>".to_string()),
            (401, err("Maximum credits exceeded for this proxy")),
            (401, err("not authorized")),
            (401, err("credits")),
            (401, err("expired")),
            (401, err("The provided authorization grant is invalid")),
            (401, r#"{"message":"Maximum credits exceeded"}"#.to_string()),
            (
                401,
                r#"{"errors":[{"message":"Maximum credits exceeded"},"x"]}"#.to_string(),
            ),
            (
                401,
                r#"{"errors":[{"message":"Maximum credits exceeded","field":1}]}"#.to_string(),
            ),
            (200, "{}".to_string()),
            (200, r#"{"scopes":["mail.send"],"proxy":true}"#.to_string()),
            (200, r#"{"scopes":["mail.send",1]}"#.to_string()),
            (200, r#"{"scopes":["mail.send","Mail.Send"]}"#.to_string()),
            (200, r#"{"scopes":["mail.send","\u001b]0;x\u0007"]}"#.to_string()),
            (200, r#"{"scopes":["mail.send",""]}"#.to_string()),
            (200, format!(r#"{{"scopes":["{}"]}}"#, "a".repeat(129))),
        ];
        for (status, body) in &unknown {
            let v = interpret(&http(*status, body));
            assert_eq!(v.status, Status::Unknown, "{status} {body}");
            assert!(!v.reason.is_empty(), "{status} {body}");
        }
        for (message, _) in LIVE_401_MESSAGES {
            let padded = format!("  {}  ", message.to_ascii_uppercase());
            assert_eq!(interpret(&http(401, &err(&padded))).status, Status::Live);
        }
        assert_eq!(
            interpret(&http(401, &err(&GRANT_INVALID_MESSAGE.to_ascii_lowercase()))).status,
            Status::Invalid
        );
        assert!(is_grant_invalid(&http(401, &err(GRANT_INVALID_MESSAGE))));
        assert!(!is_grant_invalid(&http(403, &err(GRANT_INVALID_MESSAGE))));
        assert!(!is_grant_invalid(&http(
            401,
            &format!("{{\"message\":\"{GRANT_INVALID_MESSAGE}\"}}")
        )));
    }

    /// An independent reading of the exact shapes, to hold `interpret` to in the fuzz test.
    fn oracle(status: u16, body: &str) -> Option<Status> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let top = v.as_object()?;
        if top.len() != 1 {
            return None;
        }
        if status == 200 {
            let names = top.get("scopes")?.as_array()?.iter().all(|s| {
                s.as_str()
                    .is_some_and(|s| regex::Regex::new("^[a-z0-9_.-]{1,128}$").unwrap().is_match(s))
            });
            return names.then_some(Status::Live);
        }
        let errors = top.get("errors")?.as_array()?;
        let mut messages = Vec::new();
        for e in errors {
            let e = e.as_object()?;
            if !matches!(
                e.get("field"),
                None | Some(serde_json::Value::Null | serde_json::Value::String(_))
            ) {
                return None;
            }
            messages.push(e.get("message")?.as_str()?.trim().to_ascii_lowercase());
        }
        if messages.is_empty() {
            return None;
        }
        match status {
            403 => Some(Status::Live),
            401 => {
                let dead = GRANT_INVALID_MESSAGE.to_ascii_lowercase();
                let live: Vec<String> = LIVE_401_MESSAGES
                    .iter()
                    .map(|(m, _)| m.to_ascii_lowercase())
                    .collect();
                if messages.iter().all(|m| *m == dead) {
                    Some(Status::Invalid)
                } else if messages.iter().all(|m| live.contains(m)) {
                    Some(Status::Live)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Random statuses and bodies assembled from the pieces of the real shapes: nothing panics,
    /// and only the exact shapes come out `live` or `invalid`.
    #[test]
    fn fuzz_interpretation() {
        let mut rng = fastrand::Rng::with_seed(0x1e7c);
        let mut pieces: Vec<String> = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"errors\"",
            "\"message\"",
            "\"field\"",
            "\"scopes\"",
            "null",
            "1",
            "\"mail.send\"",
            "\"Forbidden\"",
            "{\"errors\":[",
            "{\"message\":",
            "]}",
            "\"api_keys.delete\"",
            " ",
            "<html>",
            "\u{0}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for m in LIVE_401_MESSAGES.iter().map(|(m, _)| *m).chain([
            GRANT_INVALID_MESSAGE,
            "credits",
            "not authorized",
        ]) {
            pieces.push(format!("{m:?}"));
            pieces.push(format!("{:?}", m.to_ascii_uppercase()));
            pieces.push(format!("{{\"errors\":[{{\"field\":null,\"message\":{m:?}}}]}}"));
        }
        let statuses = [200u16, 401, 403, 404, 429, 500, 302, 0, 999];
        let (mut live, mut invalid) = (0, 0);
        for _ in 0..20_000 {
            let status = statuses[rng.usize(..statuses.len())];
            let n = rng.usize(0..10);
            let body: String = (0..n)
                .map(|_| pieces[rng.usize(..pieces.len())].as_str())
                .collect();
            let got = interpret(&http(status, &body)).status;
            let want = oracle(status, &body).unwrap_or(Status::Unknown);
            assert_eq!(got, want, "HTTP {status} {body}");
            assert_eq!(
                is_grant_invalid(&http(status, &body)),
                want == Status::Invalid,
                "HTTP {status} {body}"
            );
            live += usize::from(got == Status::Live);
            invalid += usize::from(got == Status::Invalid);
        }
        // The pieces do assemble into the exact shapes now and then: the loop is not vacuous.
        assert!(live > 0 && invalid > 0, "live {live}, invalid {invalid}");
    }

    #[test]
    fn reading_answers() {
        assert_eq!(
            interpret(&http(200, r#"{"scopes":["mail.send"]}"#)).status,
            Status::Live
        );
        assert_eq!(interpret(&http(200, "<html>hi</html>")).status, Status::Unknown);
        let dead = r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked"}]}"#;
        assert_eq!(interpret(&http(401, dead)).status, Status::Invalid);
        let credits = r#"{"errors":[{"field":null,"message":"Maximum credits exceeded"}]}"#;
        assert_eq!(interpret(&http(401, credits)).status, Status::Live);
        assert_eq!(
            interpret(&http(401, r#"{"errors":[{"message":"something new"}]}"#)).status,
            Status::Unknown
        );
        assert_eq!(
            interpret(&http(
                403,
                r#"{"errors":[{"field":null,"message":"access forbidden"}]}"#
            ))
            .status,
            Status::Live
        );
        assert_eq!(
            interpret(&http(403, "<html>Forbidden by proxy</html>")).status,
            Status::Unknown
        );
        assert_eq!(interpret(&http(401, "<html>401</html>")).status, Status::Unknown);
        assert_eq!(
            interpret(&Answer::Fault {
                reason: "timed out".into(),
                attempts: 5,
                unprocessed: false,
            })
            .status,
            Status::Unknown
        );
    }

    #[test]
    fn policy() {
        let p = Policy {
            allowed_scopes: s(&["mail.send", "mail.batch.*"]),
        };
        assert_eq!(
            p.violations(&s(&["mail.send", "mail.batch.read", "stats.read"])),
            s(&["stats.read"])
        );
    }
}
