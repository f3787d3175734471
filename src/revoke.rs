//! Revocation of live keys: `DELETE /v3/api_keys/{id}` where the id is the leaked key's own middle
//! segment, never anything else. Only keys verified `live` in this run are touched; each attempt is
//! appended to an fsynced audit log; success is reported only once the key stops authenticating.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::key::{KeyId, fingerprint};
use crate::model::Finding;
pub use crate::model::{Revocation, RevokeStatus};
use crate::sendgrid::{Answer, Api, Credential};
use crate::verify::{self, Status};

/// The admin key: from `SGSCAN_ADMIN_KEY` or a file, never from the command line.
pub struct AdminKey(String);

impl AdminKey {
    pub fn load(file: Option<&Path>) -> Result<Option<AdminKey>> {
        if let Some(path) = file {
            let text = crate::file::read_credential(path, crate::file::SMALL)
                .with_context(|| format!("cannot read admin key file {}", path.display()))?;
            let key = text.trim();
            if key.is_empty() {
                bail!("admin key file {} is empty", path.display());
            }
            return Ok(Some(AdminKey(key.to_string())));
        }
        match std::env::var("SGSCAN_ADMIN_KEY") {
            Ok(k) if !k.trim().is_empty() => Ok(Some(AdminKey(k.trim().to_string()))),
            _ => Ok(None),
        }
    }

    /// The admin key's own id, when it is a SendGrid key: an audit lists it like any other.
    pub(crate) fn key_id(&self) -> Option<KeyId> {
        self.0
            .strip_prefix("SG.")?
            .split('.')
            .next()
            .and_then(KeyId::parse)
    }

    pub(crate) fn who(&self) -> String {
        format!("admin:{}", &fingerprint(&self.0)[..16])
    }

    pub(crate) fn credential(&self) -> Credential<'_> {
        Credential {
            key: &self.0,
            label: format!("admin key (fingerprint {})", &fingerprint(&self.0)[..16]),
        }
    }
}

/// An append-only JSON-lines audit log; each line is flushed and fsynced before the next attempt.
pub struct AuditLog {
    file: File,
    path: PathBuf,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog> {
        // The log names keys, the admin key's fingerprint and who ran what: not for other users.
        let file = crate::file::create(path, crate::file::Write::Append, true)
            .with_context(|| format!("cannot open audit log {}", path.display()))?;
        Ok(AuditLog {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn record(&mut self, entry: serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .and_then(|_| self.file.sync_all())
            .with_context(|| format!("cannot write audit log {}", self.path.display()))
    }
}

/// One key about to be revoked, as the person confirming sees it. Every field may come from
/// outside (paths, the API's scopes): escape before printing.
pub struct Planned {
    /// The redacted key; empty when revoking by id.
    pub redacted: String,
    pub key_id: String,
    /// Where the key was found; empty when revoking by id.
    pub found_at: String,
    /// The key's scopes, as verified; empty when unknown.
    pub scopes: String,
    /// The credential that will send the DELETE.
    pub by: String,
}

/// The person in the loop. The library never reads a terminal: the caller shows the plan and
/// asks (or answers for a `--yes`).
pub trait Confirm {
    /// Shown before anything is sent; a dry run shows it and stops.
    fn show(&self, plan: &[Planned], dry_run: bool);
    /// `Ok(true)` to go ahead; an error when there is nobody to ask.
    fn confirm(&self, question: &str) -> Result<bool>;
}

pub struct RevokeOptions<'a> {
    pub api: &'a Api,
    pub admin: Option<&'a AdminKey>,
    pub confirm: &'a dyn Confirm,
    pub dry_run: bool,
    /// How long to poll for the revocation to take effect.
    pub wait: Duration,
    pub audit: &'a Path,
}

fn where_found(f: &Finding) -> String {
    let Some(l) = f.locations.first() else {
        return String::new();
    };
    let commit = l
        .origin
        .commit
        .as_ref()
        .map(|c| format!("@{}", &c.commit[..12.min(c.commit.len())]))
        .unwrap_or_default();
    let more = if f.location_count > 1 {
        format!(" (+{} more)", f.location_count - 1)
    } else {
        String::new()
    };
    format!("{}:{}{commit}{more}", l.origin.path, l.line)
}

pub(crate) fn manual_step(key_id: &str) -> String {
    format!(
        "revoke it by hand: SendGrid > Settings > API Keys, the key with id {key_id} (or DELETE /v3/api_keys/{key_id} with a key holding api_keys.delete)"
    )
}

/// The audit trail of a run. Once a line cannot be written, nothing more is sent: a DELETE must
/// never go out without its `attempt` line on disk.
struct Audit<'a> {
    path: &'a Path,
    log: Option<AuditLog>,
    /// Why the log cannot be written, once it could not.
    broken: Option<String>,
}

impl<'a> Audit<'a> {
    fn open(path: &'a Path) -> Audit<'a> {
        match AuditLog::open(path) {
            Ok(log) => Audit {
                path,
                log: Some(log),
                broken: None,
            },
            Err(e) => Audit {
                path,
                log: None,
                broken: Some(format!("{e:#}")),
            },
        }
    }

    fn record(&mut self, entry: serde_json::Value) -> Result<(), String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        let Some(log) = self.log.as_mut() else {
            return Err(format!("audit log {} is not open", self.path.display()));
        };
        log.record(entry).map_err(|e| {
            let why = format!("{e:#}");
            self.broken = Some(why.clone());
            why
        })
    }
}

fn nothing_sent(why: &str) -> String {
    format!("audit log unwritable: {why}, nothing sent")
}

/// Who is doing what to which key: the fields both audit lines carry.
struct Subject<'a> {
    fingerprint: Option<&'a str>,
    key_id: &'a str,
    found_at: String,
    by: &'a str,
}

fn attempt_line(s: &Subject) -> serde_json::Value {
    json!({
        "event": "attempt",
        "timestamp": verify::now_rfc3339(),
        "fingerprint": s.fingerprint,
        "key_id": s.key_id,
        "found_at": s.found_at,
        "revoked_by": s.by,
        "action": format!("DELETE /v3/api_keys/{}", s.key_id),
    })
}

fn result_line(s: &Subject, r: &Revocation) -> serde_json::Value {
    json!({
        "event": "result",
        "timestamp": verify::now_rfc3339(),
        "fingerprint": s.fingerprint,
        "key_id": s.key_id,
        "found_at": s.found_at,
        "revoked_by": s.by,
        "result": r.status,
        "reason": r.reason,
    })
}

/// Revokes every finding verified live in this run. Returns an error when nothing may be sent (no
/// confirmation) or the audit log could not be written; per-key outcomes, that one included, are
/// recorded on the findings.
pub fn revoke_all(findings: &mut [Finding], opts: &RevokeOptions) -> Result<()> {
    let mut live: Vec<usize> = (0..findings.len())
        .filter(|&i| {
            findings[i]
                .verification
                .as_ref()
                .is_some_and(|v| v.status == Status::Live && !v.cached)
        })
        .collect();
    // If the admin key leaked too, it goes last: revoking it first would leave it unable to
    // revoke the others.
    if let Some(admin) = opts.admin {
        live.sort_by_key(|&i| findings[i].key == admin.0);
    }
    if live.is_empty() {
        return Ok(());
    }
    let by = opts.admin.map_or_else(|| "self".to_string(), AdminKey::who);
    let plan: Vec<Planned> = live
        .iter()
        .map(|&i| {
            let f = &findings[i];
            Planned {
                redacted: f.redacted.clone(),
                key_id: f.key_id.clone().unwrap_or_default(),
                found_at: where_found(f),
                scopes: f
                    .verification
                    .as_ref()
                    .and_then(|v| v.scopes.as_ref())
                    .map(|s| s.join(", "))
                    .unwrap_or_default(),
                by: by.clone(),
            }
        })
        .collect();
    opts.confirm.show(&plan, opts.dry_run);
    if opts.dry_run {
        for &i in &live {
            findings[i].revocation = Some(Revocation {
                status: RevokeStatus::Planned,
                reason: "dry run".into(),
                by: by.clone(),
                manual_step: None,
            });
        }
        return Ok(());
    }
    if !opts.confirm.confirm(&format!(
        "Revoke {} now?",
        if live.len() == 1 {
            "this key".to_string()
        } else {
            format!("these {} keys", live.len())
        }
    ))? {
        bail!("revocation not confirmed: nothing was sent");
    }
    let mut audit = Audit::open(opts.audit);
    for &i in &live {
        let r = match &audit.broken {
            Some(why) => Revocation {
                status: RevokeStatus::RevokeFailed,
                reason: nothing_sent(why),
                by: opts.admin.map_or_else(|| "self".to_string(), AdminKey::who),
                manual_step: Some(manual_step(findings[i].key_id.as_deref().unwrap_or("?"))),
            },
            None => revoke_one(&findings[i], opts, &mut audit),
        };
        findings[i].revocation = Some(r);
    }
    match audit.broken {
        Some(why) => bail!("audit log unwritable: {why}; no DELETE was sent after that"),
        None => Ok(()),
    }
}

/// Revokes one key, writing its audit lines; the returned status says what was done.
fn revoke_one(f: &Finding, opts: &RevokeOptions, audit: &mut Audit) -> Revocation {
    let by = opts.admin.map_or_else(|| "self".to_string(), AdminKey::who);
    let subject = Subject {
        fingerprint: Some(&f.fingerprint),
        // An id that is not a key id (a custom rule's id group) is not worth writing down.
        key_id: f
            .key_id
            .as_deref()
            .filter(|k| KeyId::parse(k).is_some())
            .unwrap_or("?"),
        found_at: where_found(f),
        by: &by,
    };
    let mut r = attempt_revocation(f, opts, &subject, audit);
    if audit.broken.is_none()
        && let Err(why) = audit.record(result_line(&subject, &r))
    {
        r.reason = format!(
            "{}; audit log unwritable: {why} (result line not written)",
            r.reason
        );
    }
    r
}

/// What the answer to a DELETE says was done.
pub(crate) enum Deleted {
    /// 200/202/204: SendGrid deleted the key.
    Yes,
    /// SendGrid's own 404: no key with this id (perhaps deleted already).
    NotFound,
    /// No telling (a timeout, a 5xx, an answer that is not SendGrid's): it may have taken effect.
    Unknown(String),
    /// Not done: SendGrid refused it, or it never left.
    Refused(String),
}

pub(crate) fn read_delete(answer: Answer) -> Deleted {
    match answer {
        Answer::Http {
            status: 200 | 202 | 204,
            ..
        } => Deleted::Yes,
        a if verify::is_sendgrid_404(&a) => Deleted::NotFound,
        Answer::Http {
            status,
            message: Some(m),
            ..
        } if status < 500 => Deleted::Refused(format!("DELETE refused: HTTP {status} {m}")),
        Answer::Http { status, message, .. } => Deleted::Unknown(match message {
            Some(m) => format!("HTTP {status} {m}"),
            None => format!("HTTP {status} that is not SendGrid's error JSON"),
        }),
        Answer::Fault {
            reason,
            unprocessed: true,
            ..
        } => Deleted::Refused(format!("DELETE not processed: {reason}")),
        Answer::Fault { reason, .. } => Deleted::Unknown(reason),
    }
}

/// For a reason: a DELETE whose answer says nothing about its effect.
fn uncertain(what: &str) -> String {
    format!("the DELETE answered {what} (it may or may not have taken effect)")
}

fn attempt_revocation(f: &Finding, opts: &RevokeOptions, subject: &Subject, audit: &mut Audit) -> Revocation {
    let by = subject.by;
    let failed = |reason: String, id: &str| Revocation {
        status: RevokeStatus::RevokeFailed,
        reason,
        by: by.into(),
        manual_step: Some(manual_step(id)),
    };
    let Some(key_id) = f.key_id.as_deref().and_then(KeyId::parse) else {
        // A custom rule's id group may capture anything, `../` included: only a real key id may
        // go into the DELETE's path.
        return failed(
            "the finding has no valid key id (22 characters of A-Z a-z 0-9 - _): nothing sent".into(),
            "?",
        );
    };
    let key_id = key_id.as_str();
    let leaked = Credential {
        key: &f.key,
        label: verify::label(f),
    };
    let path = format!("/v3/api_keys/{key_id}");
    let cred = match opts.admin {
        Some(admin) => {
            // The id must belong to the admin's account: never delete in an account the key is not from.
            if let Err(why) = confirm_id(opts.api, admin, key_id) {
                return failed(why, key_id);
            }
            admin.credential()
        }
        None => {
            let can_delete = f
                .verification
                .as_ref()
                .and_then(|v| v.scopes.as_ref())
                .is_some_and(|s| s.iter().any(|s| s == "api_keys.delete"));
            if !can_delete {
                return failed("no permission: no admin key (SGSCAN_ADMIN_KEY or --admin-key-file) and the leaked key does not hold api_keys.delete".into(), key_id);
            }
            leaked
        }
    };
    if let Err(why) = audit.record(attempt_line(subject)) {
        return failed(nothing_sent(&why), key_id);
    }
    let outcome = read_delete(opts.api.delete(&cred, &path, &mut || {
        audit
            .record(attempt_line(subject))
            .map_err(|why| nothing_sent(&why))
    }));
    if let Deleted::Refused(why) = outcome {
        return failed(why, key_id);
    }
    // A 204 is not the end (revocation propagates with a delay), and neither a 404 (the id may be
    // wrong while the key still works) nor a timeout is an answer: only the key's own "grant is
    // invalid" is.
    let leaked = Credential {
        key: &f.key,
        label: verify::label(f),
    };
    let (dead, last) = poll(opts.wait, || {
        let answer = opts.api.get(&leaked, "/v3/scopes");
        (
            verify::is_grant_invalid(&answer),
            verify::interpret(&answer).reason,
        )
    });
    let revoked = |reason: String| Revocation {
        status: RevokeStatus::Revoked,
        reason,
        by: by.into(),
        manual_step: None,
    };
    let wait = opts.wait.as_secs();
    match (dead, outcome) {
        (true, Deleted::Yes) => revoked("deleted; the key no longer authenticates".into()),
        (true, Deleted::NotFound) => revoked("already deleted (404); the key no longer authenticates".into()),
        (true, Deleted::Unknown(what)) => revoked(format!(
            "{}, and the key no longer authenticates",
            uncertain(&what)
        )),
        (false, Deleted::Yes) => Revocation {
            status: RevokeStatus::RevokePending,
            reason: format!(
                "deleted, but the key still answered '{last}' after {wait}s: check again shortly"
            ),
            by: by.into(),
            manual_step: None,
        },
        (false, Deleted::NotFound) => failed(
            format!("DELETE answered 404 (no such id), but the key still answered '{last}' after {wait}s"),
            key_id,
        ),
        (false, Deleted::Unknown(what)) => failed(
            format!(
                "{}, and the key still answered '{last}' after {wait}s",
                uncertain(&what)
            ),
            key_id,
        ),
        (_, Deleted::Refused(why)) => failed(why, key_id),
    }
}

/// Asks `check` until it says done or `wait` is over, backing off; returns (done, its last note).
pub(crate) fn poll(wait: Duration, mut check: impl FnMut() -> (bool, String)) -> (bool, String) {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let (done, note) = check();
        if done || started.elapsed().saturating_add(pause) > wait {
            return (done, note);
        }
        std::thread::sleep(pause);
        pause = pause.saturating_mul(2).min(Duration::from_secs(8));
    }
}

/// The strict admin lookup: `GET /v3/api_keys/{id}` must answer 200 with a JSON object whose
/// `api_key_id` is this id. Anything else is a reason not to DELETE.
fn confirm_id(api: &Api, admin: &AdminKey, key_id: &str) -> Result<(), String> {
    let answer = api.get(&admin.credential(), &format!("/v3/api_keys/{key_id}"));
    lookup_verdict(&answer, key_id)
}

pub fn lookup_verdict(answer: &Answer, key_id: &str) -> Result<(), String> {
    match answer {
        Answer::Http {
            status: 200, body, ..
        } => {
            let found = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.as_object()?.get("api_key_id")?.as_str().map(|s| s == key_id));
            match found {
                Some(true) => Ok(()),
                Some(false) => Err(format!(
                    "the admin lookup of key id {key_id} answered another key's id: nothing deleted"
                )),
                None => Err(format!(
                    "the admin lookup of key id {key_id} answered 200 without SendGrid's key object (a proxy?): nothing deleted"
                )),
            }
        }
        a if verify::is_sendgrid_404(a) => {
            Err("not in this account: the admin key's account has no key with this id".into())
        }
        Answer::Http { status, message, .. } => Err(match message {
            Some(m) => format!("cannot look the key up with the admin key: HTTP {status} {m}"),
            None => format!(
                "cannot look the key up with the admin key: HTTP {status} that is not SendGrid's error JSON"
            ),
        }),
        Answer::Fault { reason, .. } => Err(format!("cannot look the key up: {reason}")),
    }
}

/// `sgscan revoke --key-id ID`: for security teams working from a report. The audit log's failure
/// after a DELETE was sent is returned beside the outcome, which stands.
pub fn revoke_by_id(key_id: &str, opts: &RevokeOptions) -> Result<(Revocation, Option<String>)> {
    let Some(valid_id) = KeyId::parse(key_id) else {
        // Never echo the value: a user may have pasted the whole key.
        bail!(
            "the --key-id value ({} characters) is not a SendGrid key id: a key id is the 22 characters \
             (A-Z a-z 0-9 - _) between 'SG.' and the second '.'. Never pass a whole key on the command line",
            key_id.chars().count()
        );
    };
    let key_id = valid_id.as_str();
    let Some(admin) = opts.admin else {
        bail!(
            "revoking by id needs an admin key holding api_keys.read and api_keys.delete: set SGSCAN_ADMIN_KEY or pass --admin-key-file"
        );
    };
    if let Err(why) = confirm_id(opts.api, admin, key_id) {
        bail!("key id {key_id}: {why}");
    }
    let by = admin.who();
    opts.confirm.show(
        &[Planned {
            redacted: String::new(),
            key_id: key_id.to_string(),
            found_at: String::new(),
            scopes: String::new(),
            by: admin.credential().label,
        }],
        opts.dry_run,
    );
    if opts.dry_run {
        return Ok((
            Revocation {
                status: RevokeStatus::Planned,
                reason: "dry run".into(),
                by,
                manual_step: None,
            },
            None,
        ));
    }
    if !opts.confirm.confirm(&format!("Revoke key id {key_id} now?"))? {
        bail!("revocation not confirmed: nothing was sent");
    }
    let subject = Subject {
        fingerprint: None,
        key_id,
        found_at: "(revoke --key-id)".into(),
        by: &by,
    };
    let mut audit = Audit::open(opts.audit);
    if let Err(why) = audit.record(attempt_line(&subject)) {
        return Ok((
            Revocation {
                status: RevokeStatus::RevokeFailed,
                reason: nothing_sent(&why),
                by: by.clone(),
                manual_step: Some(manual_step(key_id)),
            },
            Some(why),
        ));
    }
    let path = format!("/v3/api_keys/{key_id}");
    let failed = |reason: String| Revocation {
        status: RevokeStatus::RevokeFailed,
        reason,
        by: by.clone(),
        manual_step: Some(manual_step(key_id)),
    };
    let outcome = read_delete(opts.api.delete(&admin.credential(), &path, &mut || {
        audit
            .record(attempt_line(&subject))
            .map_err(|why| nothing_sent(&why))
    }));
    // The key itself is unknown here, so the account is asked instead: the id must be gone. That
    // is all that can be checked, and the reasons say so.
    const CHECKED: &str = "the id is no longer in the account; the key itself could not be re-checked";
    let mut result = match outcome {
        Deleted::Refused(why) => failed(why),
        outcome => {
            let (gone, last) = poll(opts.wait, || {
                let answer = opts.api.get(&admin.credential(), &path);
                let note = match &answer {
                    Answer::Http { status, .. } => format!("HTTP {status}"),
                    Answer::Fault { reason, .. } => reason.clone(),
                };
                (verify::is_sendgrid_404(&answer), note)
            });
            let revoked = |reason: String| Revocation {
                status: RevokeStatus::Revoked,
                reason,
                by: by.clone(),
                manual_step: None,
            };
            let wait = opts.wait.as_secs();
            match (gone, outcome) {
                (true, Deleted::Yes) => revoked(format!("deleted; {CHECKED}")),
                (true, Deleted::NotFound) => revoked(format!("already deleted (404); {CHECKED}")),
                (true, Deleted::Unknown(what)) => revoked(format!("{}; {CHECKED}", uncertain(&what))),
                (false, Deleted::Yes) => Revocation {
                    status: RevokeStatus::RevokePending,
                    reason: format!(
                        "deleted, but the lookup still answered {last} after {wait}s: check again shortly"
                    ),
                    by: by.clone(),
                    manual_step: None,
                },
                (false, Deleted::NotFound) => failed(format!(
                    "DELETE answered 404 (no such id), but the lookup still answered {last} after {wait}s"
                )),
                (false, Deleted::Unknown(what)) => failed(format!(
                    "{}, and the lookup still answered {last} after {wait}s",
                    uncertain(&what)
                )),
                (_, Deleted::Refused(why)) => failed(why),
            }
        }
    };
    let audit_error = audit.record(result_line(&subject, &result)).err();
    if let Some(why) = &audit_error {
        result.reason = format!(
            "{}; audit log unwritable: {why} (result line not written)",
            result.reason
        );
    }
    Ok((result, audit_error))
}
