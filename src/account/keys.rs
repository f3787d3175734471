//! The keys section: every key of the account (or of a subuser) with its scopes, privilege and
//! policy violations, cross-referenced with scan reports to say which of them leaked, and the
//! findings on them. Also the strict readers of the key-management answers that rotation relies on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Caller, Finding, NotChecked, Section, Severity, practice};
use crate::key::KeyId;
use crate::model::Privilege;
use crate::report::schema::{Line, Report};
use crate::revoke::AdminKey;
use crate::sendgrid::{Answer, Api};
use crate::verify::{self, Policy};

/// SendGrid's limit of keys per account; the audit warns from [`NEAR_LIMIT`] on.
const KEY_LIMIT: usize = 100;
const NEAR_LIMIT: usize = 90;

/// One key of the account, as the audit reports it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountKey {
    pub name: String,
    pub api_key_id: String,
    /// `None` when the key's details could not be read (`error` says why).
    pub scopes: Option<Vec<String>>,
    pub privilege: Option<Privilege>,
    pub above_send_only: Vec<String>,
    pub policy_violations: Vec<String>,
    /// The key the audit ran with.
    pub admin_key: bool,
    /// Its id was found in one of the `--report` files.
    pub leaked: bool,
    /// Where, as `path:line[@commit]`, from the reports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When sgscan's rotation audit log says this key was created by a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_in: Option<String>,
}

/// A key's details as `GET /v3/api_keys/{id}` gives them.
pub struct KeyDetails {
    pub name: String,
    pub scopes: Vec<String>,
}

fn refusal(what: &str, answer: &Answer) -> String {
    match answer {
        Answer::Http {
            status,
            message: Some(m),
            ..
        } => format!("{what}: HTTP {status} {m}"),
        Answer::Http { status, .. } => {
            format!("{what}: HTTP {status} that is not SendGrid's answer (a proxy or gateway?)")
        }
        Answer::Fault { reason, .. } => format!("{what}: {reason}"),
    }
}

/// `GET /v3/api_keys`: 200 `{"result":[{"name": string, "api_key_id": key id}, ...]}` and nothing
/// looser; an id that is not a key id is not SendGrid's and fails the whole answer.
pub fn list_keys(api: &Api, admin: &AdminKey) -> Result<Vec<(String, KeyId)>, String> {
    list_keys_as(&Caller {
        api,
        admin,
        on_behalf_of: None,
    })
    .map_err(|(why, _)| why)
}

/// [`list_keys`] for a caller; the error also says whether SendGrid refused it for want of scope.
fn list_keys_as(caller: &Caller) -> Result<Vec<(String, KeyId)>, (String, bool)> {
    let answer = caller.get(&format!("/v3/api_keys?limit={KEY_LIMIT}"));
    let forbidden = matches!(
        answer,
        Answer::Http {
            status: 403,
            message: Some(_),
            ..
        }
    );
    let Answer::Http {
        status: 200, body, ..
    } = &answer
    else {
        return Err((refusal("cannot list the account's keys", &answer), forbidden));
    };
    let not_shape = || {
        "cannot list the account's keys: HTTP 200 without SendGrid's {\"result\":[{\"name\",\"api_key_id\"}]} body".to_string()
    };
    let not_shape = || (not_shape(), false);
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| not_shape())?;
    let result = v
        .as_object()
        .and_then(|o| o.get("result"))
        .and_then(|r| r.as_array())
        .ok_or_else(not_shape)?;
    // No account holds more keys than SendGrid's limit, the page size asked for: a longer list is
    // not SendGrid's, and each entry would cost a request.
    if result.len() > KEY_LIMIT {
        return Err((
            format!(
                "cannot list the account's keys: HTTP 200 with {} entries, more than SendGrid's limit of {KEY_LIMIT} keys (not SendGrid's answer)",
                result.len()
            ),
            false,
        ));
    }
    result
        .iter()
        .map(|e| {
            let e = e.as_object()?;
            let name = e.get("name")?.as_str()?.to_string();
            let id = KeyId::parse(e.get("api_key_id")?.as_str()?)?;
            Some((name, id))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(not_shape)
}

/// `GET /v3/api_keys/{id}`: 200 with this id, a string name and scope names; anything else is an
/// error that says what came back.
pub fn key_details(api: &Api, admin: &AdminKey, id: &KeyId) -> Result<KeyDetails, String> {
    key_details_as(
        &Caller {
            api,
            admin,
            on_behalf_of: None,
        },
        id,
    )
}

/// [`key_details`] for a caller. The specification wraps the key in `{"result": [key]}`; SendGrid
/// answers it unwrapped too: both are read, nothing looser.
fn key_details_as(caller: &Caller, id: &KeyId) -> Result<KeyDetails, String> {
    let answer = caller.get(&format!("/v3/api_keys/{}", id.as_str()));
    if let Err(why) = crate::revoke::lookup_verdict(&answer, id.as_str()) {
        return Err(why.replace(": nothing deleted", ""));
    }
    let Answer::Http { body, .. } = &answer else {
        return Err(refusal("cannot read the key", &answer));
    };
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let parsed = (|| {
        let mut o = v.as_object()?;
        if let Some(r) = o.get("result") {
            match r.as_array()?.as_slice() {
                [one] if o.len() == 1 => o = one.as_object()?,
                _ => return None,
            }
        }
        let name = o.get("name")?.as_str()?.to_string();
        let scopes = o
            .get("scopes")?
            .as_array()?
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| verify::is_scope_name(s))
                    .map(str::to_string)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(KeyDetails { name, scopes })
    })();
    parsed.ok_or_else(|| {
        format!(
            "the lookup of key id {} answered 200 without a name and SendGrid scope names",
            id.as_str()
        )
    })
}

/// Key id → where each report found it.
pub(super) fn leaked_ids(reports: &[PathBuf]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |id: Option<&String>, place: String| {
        if let Some(id) = id.and_then(|i| KeyId::parse(i)) {
            let at = out.entry(id.as_str().to_string()).or_default();
            if !at.contains(&place) {
                at.push(place);
            }
        }
    };
    let place = |l: &crate::model::Location| {
        let commit = l
            .origin
            .commit
            .as_ref()
            // A report is outside input: its commit need not be ASCII hex.
            .map(|c| format!("@{}", c.commit.chars().take(12).collect::<String>()))
            .unwrap_or_default();
        format!("{}:{}{commit}", l.origin.path, l.line)
    };
    for path in reports {
        let text = crate::file::read_to_string(path, crate::file::REPORT)
            .with_context(|| format!("cannot read report {}", path.display()))?;
        let report = Report::parse(&text).with_context(|| format!("report {}", path.display()))?;
        match report {
            Report::Document(d) => {
                for r in &d.findings {
                    for l in &r.finding.locations {
                        add(r.finding.key_id.as_ref(), place(l));
                    }
                    if r.finding.locations.is_empty() {
                        add(r.finding.key_id.as_ref(), path.display().to_string());
                    }
                }
            }
            Report::Lines(lines) => {
                for line in &lines {
                    if let Line::Finding(f) = line {
                        add(f.finding.finding.key_id.as_ref(), place(&f.location));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Every key of the caller's account (a subuser's with `subuser`), and the findings on them. The
/// keys are `None` when the list could not be read; a key whose details cannot be read is listed
/// with its error and is `not_checked`.
pub(super) fn audit_keys(
    caller: &Caller,
    policy: Option<&Policy>,
    leaked: &BTreeMap<String, Vec<String>>,
    subuser: Option<&str>,
) -> (Option<Vec<AccountKey>>, Section) {
    let mut section = Section::default();
    let listed = match list_keys_as(caller) {
        Ok(l) => l,
        Err((why, forbidden)) => {
            section.not_checked.push(NotChecked {
                section: caller.section("keys"),
                reason: why,
                needs_scope: forbidden.then(|| "api_keys.read".to_string()),
            });
            return (None, section);
        }
    };
    let admin_id = caller.admin.key_id();
    let mut keys = Vec::with_capacity(listed.len());
    for (listed_name, id) in listed {
        let (name, scopes, error) = match key_details_as(caller, &id) {
            Ok(d) => (d.name, Some(d.scopes), None),
            Err(why) => (listed_name, None, Some(why)),
        };
        let (privilege, above) = match &scopes {
            Some(s) => {
                let (p, above) = verify::assess(s);
                (Some(p), above)
            }
            None => (None, Vec::new()),
        };
        let violations = match (policy, &scopes) {
            (Some(p), Some(s)) => p.violations(s),
            _ => Vec::new(),
        };
        let locations = leaked.get(id.as_str()).cloned().unwrap_or_default();
        let key = AccountKey {
            name,
            admin_key: subuser.is_none() && admin_id.as_ref() == Some(&id),
            api_key_id: id.as_str().to_string(),
            scopes,
            privilege,
            above_send_only: above,
            policy_violations: violations,
            leaked: !locations.is_empty(),
            locations,
            error,
            rotated_in: None,
        };
        match &key.error {
            Some(why) => section.not_checked.push(NotChecked {
                section: caller.section(&format!("key {}", key.api_key_id)),
                reason: why.clone(),
                needs_scope: None,
            }),
            None => section.assessed = true,
        }
        findings(&key, subuser, &mut section.findings);
        keys.push(key);
    }
    if keys.len() >= NEAR_LIMIT {
        section.findings.push(Finding {
            check: "key-limit",
            subject: subuser.map_or("account".to_string(), |u| format!("subuser {u}")),
            severity: Severity::Medium,
            practice: practice::MONITORING,
            detail: format!(
                "{} of SendGrid's {KEY_LIMIT}: at the limit no replacement key can be created, so a leaked key cannot be rotated",
                crate::text::count(keys.len() as u64, "key", "keys")
            ),
            next_step: "Delete the keys nobody uses (Settings > API Keys, or DELETE /v3/api_keys/{id}); one key per application and environment".into(),
        });
    }
    (Some(keys), section)
}

/// Scopes that administer the account: writes on keys, teammates, IP access, subusers, the user
/// (its settings aside) and credentials. A key holding them can mint a key that outlives its own
/// revocation, or let someone in.
fn admin_writes(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| {
            let family = [
                "api_keys.",
                "teammates.",
                "access_settings.",
                "subusers.",
                "credentials.",
            ]
            .iter()
            .any(|f| s.starts_with(f))
                || (s.starts_with("user.")
                    && !s.starts_with("user.settings.")
                    && !s.starts_with("user.webhooks."));
            family && !s.ends_with(".read")
        })
        .cloned()
        .collect()
}

/// The findings on one readable key.
fn findings(k: &AccountKey, subuser: Option<&str>, out: &mut Vec<Finding>) {
    let Some(scopes) = &k.scopes else { return };
    let subject = match subuser {
        Some(u) => format!("subuser {u}: key {}", k.api_key_id),
        None => format!("key {}", k.api_key_id),
    };
    let named = format!("'{}'", k.name);
    let edit = format!(
        "Settings > API Keys > {named} > Edit (or PUT /v3/api_keys/{}{})",
        k.api_key_id,
        subuser.map_or(String::new(), |u| format!(" with on-behalf-of: {u}"))
    );
    let mut add = |check, severity, practice, detail: String, next_step: String| {
        out.push(Finding {
            check,
            subject: subject.clone(),
            severity,
            practice,
            detail,
            next_step,
        })
    };
    if k.leaked {
        add(
            "key-leaked",
            Severity::Critical,
            practice::ROTATION,
            format!(
                "{named} was found by a scan and is still in the account: {}",
                k.locations.join(", ")
            ),
            format!(
                "Rotate it now (sgscan rotate --key-id {id}) or revoke it (sgscan revoke --key-id {id}, or DELETE /v3/api_keys/{id}); then remove it from where it was found",
                id = k.api_key_id
            ),
        );
    }
    let writes = admin_writes(scopes);
    let audit_key = if k.admin_key {
        " (the key this audit ran with: a dedicated audit key needs only read scopes)"
    } else {
        ""
    };
    if !writes.is_empty() {
        add(
            "key-admin-scopes",
            Severity::High,
            practice::LEAST_PRIVILEGE,
            format!(
                "{named} can administer the account ({}): it can mint keys or let people in, and a key it mints outlives its own revocation{audit_key}",
                writes.join(", ")
            ),
            format!(
                "Take these scopes away: {edit}; keep account administration to people, or to one key kept out of applications and CI"
            ),
        );
    }
    if !writes.is_empty() && scopes.iter().any(|s| s == "mail.send") {
        add(
            "key-send-and-admin",
            Severity::High,
            practice::SEGREGATION,
            format!(
                "{named} both sends mail and administers the account: the application that sends holds the keys to the account"
            ),
            format!("Split it: a send-only key for the application, administration elsewhere ({edit})"),
        );
    }
    let billing: Vec<&String> = scopes.iter().filter(|s| s.starts_with("billing.")).collect();
    if !billing.is_empty() && billing.len() < scopes.len() {
        add(
            "key-billing-mixed",
            Severity::Medium,
            practice::LEAST_PRIVILEGE,
            format!(
                "{named} holds billing scopes ({}) beside others: billing belongs on a Billing Access key of its own",
                billing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            format!(
                "Remove the billing scopes ({edit}); create a Billing Access key where billing is needed"
            ),
        );
    }
    if !k.policy_violations.is_empty() {
        add(
            "key-policy",
            Severity::High,
            practice::LEAST_PRIVILEGE,
            format!(
                "{named} holds scopes the policy does not allow: {}",
                k.policy_violations.join(", ")
            ),
            format!(
                "Remove them ({edit}), or rotate onto a narrower key: sgscan rotate --key-id {} --policy POLICY",
                k.api_key_id
            ),
        );
    }
}

/// What the audit could not assess, said in its output; `None` when every key was assessed. A
/// scheduled audit must not pass on keys it never read: an unread key's privilege and policy
/// violations are unknown, and an empty list cannot be right (the admin key is a key of the
/// account).
pub fn not_assessed(keys: &[AccountKey]) -> Option<String> {
    let unread = keys.iter().filter(|k| k.scopes.is_none()).count();
    if keys.is_empty() {
        Some(
            "the account listed no keys, not even the admin key the audit runs with: nothing was assessed"
                .into(),
        )
    } else if unread == keys.len() {
        Some(format!(
            "no key could be read ({}): nothing was assessed",
            crate::text::count(keys.len() as u64, "key listed", "keys listed")
        ))
    } else if unread > 0 {
        Some(format!(
            "{unread} of {} not assessed: their details could not be read, so their privilege and policy violations are unknown",
            crate::text::count(keys.len() as u64, "key", "keys")
        ))
    } else {
        None
    }
}
