//! The account audit (`sgscan audit`): every key of the admin key's account with its scopes,
//! privilege and policy violations, cross-referenced with scan reports to say which of them leaked.
//! Also the strict readers of the key-management answers that rotation relies on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::key::KeyId;
use crate::model::Privilege;
use crate::report::schema::{Line, Report};
use crate::revoke::AdminKey;
use crate::sendgrid::{Answer, Api};
use crate::verify::{self, Policy};

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
}

pub struct AuditOptions<'a> {
    pub api: &'a Api,
    pub admin: &'a AdminKey,
    pub policy: Option<&'a Policy>,
    pub reports: &'a [PathBuf],
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
    let answer = api.get(&admin.credential(), "/v3/api_keys?limit=100");
    let Answer::Http {
        status: 200, body, ..
    } = &answer
    else {
        return Err(refusal("cannot list the account's keys", &answer));
    };
    let not_shape = || {
        "cannot list the account's keys: HTTP 200 without SendGrid's {\"result\":[{\"name\",\"api_key_id\"}]} body".to_string()
    };
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| not_shape())?;
    let result = v
        .as_object()
        .and_then(|o| o.get("result"))
        .and_then(|r| r.as_array())
        .ok_or_else(not_shape)?;
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
    let answer = api.get(&admin.credential(), &format!("/v3/api_keys/{}", id.as_str()));
    if let Err(why) = crate::revoke::lookup_verdict(&answer, id.as_str()) {
        return Err(why.replace(": nothing deleted", ""));
    }
    let Answer::Http { body, .. } = &answer else {
        return Err(refusal("cannot read the key", &answer));
    };
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let parsed = (|| {
        let o = v.as_object()?;
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
fn leaked_ids(reports: &[PathBuf]) -> Result<BTreeMap<String, Vec<String>>> {
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

/// Lists every key of the admin key's account. Fails when the list itself cannot be read; a key
/// whose details cannot be read is reported with its error.
pub fn audit(opts: &AuditOptions) -> Result<Vec<AccountKey>> {
    let leaked = leaked_ids(opts.reports)?;
    let listed = match list_keys(opts.api, opts.admin) {
        Ok(l) => l,
        Err(why) => bail!("{why}"),
    };
    let admin_id = opts.admin.key_id();
    let mut keys = Vec::with_capacity(listed.len());
    for (listed_name, id) in listed {
        let (name, scopes, error) = match key_details(opts.api, opts.admin, &id) {
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
        let violations = match (opts.policy, &scopes) {
            (Some(p), Some(s)) => p.violations(s),
            _ => Vec::new(),
        };
        let locations = leaked.get(id.as_str()).cloned().unwrap_or_default();
        keys.push(AccountKey {
            name,
            admin_key: admin_id.as_ref() == Some(&id),
            api_key_id: id.as_str().to_string(),
            scopes,
            privilege,
            above_send_only: above,
            policy_violations: violations,
            leaked: !locations.is_empty(),
            locations,
            error,
        });
    }
    Ok(keys)
}

/// Whether the audit calls for action: a leaked key still in the account, or a policy violation.
pub fn needs_action(keys: &[AccountKey]) -> bool {
    keys.iter().any(|k| k.leaked || !k.policy_violations.is_empty())
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
