//! The account audit (`sgscan audit`): where the whole SendGrid account stands against least
//! privilege — its keys (and its subusers' keys), teammates and invites, IP access management,
//! event webhooks, enforced TLS and SSO certificates — and what the API cannot show.
//!
//! Every section only reads (GET). A section the audit key may not read (SendGrid's 403 in its
//! error shape) or whose answer is not SendGrid's is `not_checked` with the reason, never a pass.
//! One short file per section; each returns findings and `not_checked` entries.

mod access;
mod keys;
mod rotation;
mod sso;
mod subusers;
mod teammates;
mod tls;
mod webhooks;

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::revoke::AdminKey;
use crate::sendgrid::{Answer, Api};
use crate::verify::Policy;

pub use keys::{AccountKey, KeyDetails, key_details, list_keys, not_assessed};
pub use subusers::Subuser;

/// How bad a finding is; the order is the order of urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The practices findings serve, as the report names them.
pub mod practice {
    pub const LEAST_PRIVILEGE: &str = "least privilege";
    pub const SEGREGATION: &str = "segregation of duties";
    pub const ROLES: &str = "role-based access";
    pub const IP_RESTRICTION: &str = "IP restriction";
    pub const WEBHOOKS: &str = "HTTPS and signed webhooks";
    pub const TLS: &str = "encryption in transit";
    pub const SSO: &str = "single sign-on";
    pub const MFA: &str = "two-factor authentication";
    pub const MONITORING: &str = "monitoring";
    pub const ROTATION: &str = "rotation";
}

/// One thing to change in the account.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id of the check (one SARIF rule each).
    pub check: &'static str,
    /// The object: key id, teammate username, invite email, subuser, webhook id, CIDR, integration.
    pub subject: String,
    pub severity: Severity,
    pub practice: &'static str,
    pub detail: String,
    /// What to change and where (the UI page or the API call).
    pub next_step: String,
}

/// A section (or part of one) the audit could not assess.
#[derive(Debug, Clone, Serialize)]
pub struct NotChecked {
    pub section: String,
    pub reason: String,
    /// The read scope the audit key lacks, when SendGrid refused for want of it.
    pub needs_scope: Option<String>,
}

/// What one section found.
#[derive(Default)]
pub(crate) struct Section {
    pub findings: Vec<Finding>,
    pub not_checked: Vec<NotChecked>,
    /// Something of the section was read and judged.
    pub assessed: bool,
}

impl Section {
    fn merge(&mut self, other: Section) {
        self.findings.extend(other.findings);
        self.not_checked.extend(other.not_checked);
        self.assessed |= other.assessed;
    }

    fn skipped(nc: NotChecked) -> Section {
        Section {
            not_checked: vec![nc],
            ..Section::default()
        }
    }
}

/// What the SendGrid API does not expose, said in every report.
pub const CANNOT_SHOW: &[&str] = &[
    "key age and last use: keys carry no creation or last-used date, so rotation cannot be checked from the API (sgscan's own audit log of rotations is read with --audit-log)",
    "who holds a key: the API knows a key's name and scopes, not the people or systems that have its value",
    "people's MFA status: whether a teammate has two-factor authentication set up (only the 2fa_required / 2fa_exempt pseudo-scopes show, where SendGrid lists them)",
];

/// The read scopes a dedicated, least-privilege audit key needs (listed in the README too).
pub const AUDIT_SCOPES: &[&str] = &[
    "api_keys.read",
    "teammates.read",
    "subusers.read",
    "access_settings.whitelist.read",
    "access_settings.activity.read",
    "user.webhooks.event.settings.read",
    "user.settings.enforced_tls.read",
    "sso.settings.read",
];

pub struct AuditOptions<'a> {
    pub api: &'a Api,
    pub admin: &'a AdminKey,
    pub policy: Option<&'a Policy>,
    pub reports: &'a [PathBuf],
    /// sgscan's rotation audit log (`sgscan rotate --audit-log`), for rotation dates.
    pub audit_log: Option<&'a std::path::Path>,
}

/// The whole audit.
pub struct Posture {
    /// `None` when the account's key list could not be read (see `not_checked`).
    pub keys: Option<Vec<AccountKey>>,
    pub subusers: Vec<Subuser>,
    pub findings: Vec<Finding>,
    pub not_checked: Vec<NotChecked>,
    /// Sections read and judged.
    pub assessed: Vec<&'static str>,
}

impl Posture {
    /// Why the key audit is incomplete: the keys could not be listed, or some listed were not read.
    /// Keys are what the audit key is sure to be able to read (`api_keys.read`), and what
    /// `--report` asks about: an audit that never listed them must not pass on them.
    pub fn keys_missed(&self) -> Option<String> {
        match &self.keys {
            Some(keys) => not_assessed(keys),
            None => Some(self.not_checked.iter().find(|n| n.section == "keys").map_or_else(
                || "the account's keys could not be listed".to_string(),
                |n| format!("the account's keys could not be listed ({})", n.reason),
            )),
        }
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Runs every section. Fails only on bad local input (a report or audit log that cannot be read).
pub fn audit(opts: &AuditOptions) -> Result<Posture> {
    let leaked = keys::leaked_ids(opts.reports)?;
    let rotations = match opts.audit_log {
        Some(p) => Some(rotation::read_log(p)?),
        None => None,
    };
    let caller = Caller {
        api: opts.api,
        admin: opts.admin,
        on_behalf_of: None,
    };
    let mut posture = Posture {
        keys: None,
        subusers: Vec::new(),
        findings: Vec::new(),
        not_checked: Vec::new(),
        assessed: Vec::new(),
    };
    let add = |posture: &mut Posture, name: &'static str, s: Section| {
        if s.assessed {
            posture.assessed.push(name);
        }
        posture.findings.extend(s.findings);
        posture.not_checked.extend(s.not_checked);
    };

    let (mut account_keys, s) = keys::audit_keys(&caller, opts.policy, &leaked, None);
    let mut s = s;
    if let (Some(k), Some(log)) = (account_keys.as_mut(), &rotations) {
        s.merge(rotation::apply(k, log));
    }
    posture.keys = account_keys;
    add(&mut posture, "keys", s);

    let (subs, s) = subusers::audit(&caller, opts.policy, &leaked);
    posture.subusers = subs;
    add(&mut posture, "subusers", s);
    add(&mut posture, "teammates", teammates::audit(&caller));
    add(&mut posture, "ip access", access::audit(&caller));
    add(&mut posture, "event webhooks", webhooks::audit(&caller));
    add(&mut posture, "enforced tls", tls::audit(&caller));
    add(&mut posture, "sso", sso::audit(&caller));
    Ok(posture)
}

/// The audit key, calling for the account itself or for one of its subusers.
pub(crate) struct Caller<'a> {
    pub api: &'a Api,
    pub admin: &'a AdminKey,
    pub on_behalf_of: Option<&'a str>,
}

impl Caller<'_> {
    pub fn get(&self, path: &str) -> Answer {
        let cred = self.admin.credential();
        match self.on_behalf_of {
            Some(user) => self.api.get_on_behalf_of(&cred, path, user),
            None => self.api.get(&cred, path),
        }
    }

    /// The section's name as the report gives it: prefixed with the subuser it was read for.
    pub fn section(&self, name: &str) -> String {
        match self.on_behalf_of {
            Some(u) => format!("subuser {u}: {name}"),
            None => name.to_string(),
        }
    }

    /// `GET path` answered 200 with JSON; anything else is `not_checked` with the reason, and a
    /// 403 in SendGrid's error shape names the scope the audit key lacks.
    pub fn read(&self, section: &str, scope: &str, path: &str) -> Result<Value, NotChecked> {
        let answer = self.get(path);
        let nc = |reason: String, needs: Option<&str>| NotChecked {
            section: self.section(section),
            reason,
            needs_scope: needs.map(str::to_string),
        };
        match &answer {
            Answer::Http {
                status: 200, body, ..
            } => serde_json::from_str(body).map_err(|_| {
                nc(
                    format!("GET {path}: HTTP 200 that is not JSON (not SendGrid's answer)"),
                    None,
                )
            }),
            Answer::Http {
                status: 403,
                message: Some(m),
                ..
            } => Err(nc(
                format!(
                    "GET {path}: HTTP 403 {m}: the audit key lacks {scope} (or IP access management blocks this address)"
                ),
                Some(scope),
            )),
            Answer::Http {
                status,
                message: Some(m),
                ..
            } => Err(nc(format!("GET {path}: HTTP {status} {m}"), None)),
            Answer::Http { status, .. } => Err(nc(
                format!("GET {path}: HTTP {status} that is not SendGrid's answer (a proxy or gateway?)"),
                None,
            )),
            Answer::Fault { reason, .. } => Err(nc(format!("GET {path}: {reason}"), None)),
        }
    }

    /// The `not_checked` entry of an answer that is not in the shape SendGrid documents.
    pub fn not_shape(&self, section: &str, path: &str, expected: &str) -> NotChecked {
        NotChecked {
            section: self.section(section),
            reason: format!("GET {path}: HTTP 200 not in SendGrid's shape (expected {expected})"),
            needs_scope: None,
        }
    }
}

/// The `not_checked` entry of a list answer longer than the `limit` asked for: not SendGrid's
/// answer, and reading on would let the server set how many requests the audit sends.
pub(crate) fn over_page(
    caller: &Caller,
    section: &str,
    path: &str,
    n: usize,
    limit: usize,
) -> Option<NotChecked> {
    (n > limit).then(|| NotChecked {
        section: caller.section(section),
        reason: format!(
            "GET {path}: HTTP 200 with {n} entries, more than the {limit} asked for (not SendGrid's answer)"
        ),
        needs_scope: None,
    })
}

/// The `not_checked` entry of a list answer that filled its page (`limit`): more may follow, and
/// sgscan reads one page. Fewer than `limit` is the whole list.
pub(crate) fn full_page(
    caller: &Caller,
    section: &str,
    path: &str,
    n: usize,
    limit: usize,
) -> Option<NotChecked> {
    (n >= limit).then(|| NotChecked {
        section: caller.section(section),
        reason: format!(
            "GET {path}: a full page of {limit}: the list may go on, and what follows it was not read"
        ),
        needs_scope: None,
    })
}

/// An optional member: absent or null → `Some(None)`; present with another type → `None` (the
/// answer is not SendGrid's shape).
pub(crate) fn field<'v, T>(
    o: &'v Map<String, Value>,
    k: &str,
    f: impl Fn(&'v Value) -> Option<T>,
) -> Option<Option<T>> {
    match o.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(v) => f(v).map(Some),
    }
}

/// An optional list of strings (scopes).
pub(crate) fn strings(o: &Map<String, Value>, k: &str) -> Option<Vec<String>> {
    field(o, k, |v| {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
    })
    .map(Option::unwrap_or_default)
}

/// `{"result": [objects]}`: the list answers' shape. A missing `result` is not taken as an empty
/// list: `{}` is also what a proxy answers.
pub(crate) fn result_objects(v: &Value) -> Option<Vec<&Map<String, Value>>> {
    v.as_object()?
        .get("result")?
        .as_array()?
        .iter()
        .map(Value::as_object)
        .collect()
}

/// A bare array of objects (the subuser and SSO answers).
pub(crate) fn objects(v: &Value) -> Option<Vec<&Map<String, Value>>> {
    v.as_array()?.iter().map(Value::as_object).collect()
}

/// What a path segment may hold unencoded: RFC 3986's unreserved characters but the dot.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// A path segment from the API (a username, an id), percent-encoded: it must not add segments,
/// a query or a fragment to the path it goes into. `None` for an empty name or one made of dots
/// only: URL parsing reads `..` (encoded or not) as "go up", and `.` as "stay".
pub(crate) fn segment(s: &str) -> Option<String> {
    if s.bytes().all(|b| b == b'.') {
        return None;
    }
    Some(percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
}

/// The `not_checked` entry of a name that cannot be put in a path.
pub(crate) fn bad_segment(caller: &Caller, section: &str, name: &str) -> NotChecked {
    NotChecked {
        section: caller.section(section),
        reason: format!("the name '{name}' cannot be used in a request path (empty or dots only)"),
        needs_scope: None,
    }
}

/// A Unix time as an RFC 3339 date and time (UTC).
pub(crate) fn date(secs: i64) -> String {
    gix::date::Time::new(secs, 0)
        .format(gix::date::time::format::ISO8601_STRICT)
        .unwrap_or_else(|_| secs.to_string())
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stay_one_segment() {
        assert_eq!(segment("sso-ok_1~").as_deref(), Some("sso-ok_1~"));
        assert_eq!(segment("a/../b?x#y").as_deref(), Some("a%2F%2E%2E%2Fb%3Fx%23y"));
        assert_eq!(segment("a\r\nb").as_deref(), Some("a%0D%0Ab"));
        for bad in ["", ".", "..", "..."] {
            assert_eq!(segment(bad), None, "{bad}");
        }
        let base = url::Url::parse("https://api.sendgrid.com").unwrap();
        let joined = base
            .join(&format!(
                "/v3/teammates/{}/subuser_access",
                segment("x/%2e%2e/..").unwrap()
            ))
            .unwrap();
        assert!(joined.path().starts_with("/v3/teammates/x%2F"), "{joined}");
        assert_eq!(joined.path().matches('/').count(), 4, "{joined}");
    }
}
