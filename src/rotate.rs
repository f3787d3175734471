//! Key rotation (`sgscan rotate --key-id`): a replacement with the old key's scopes (or fewer) is
//! created and handed over before the old key is touched, so that revoking a production key does
//! not stop its mail. Order: look up → create → hand over → check the new key is live → revoke the
//! old one exactly as `revoke --key-id` does. A hand-over that fails deletes the new key again,
//! but only a key the create answer proves is new (SendGrid's exact 201, an id that is neither the
//! old key's, the admin key's, one seen in this run nor one the account listed just before the
//! create): any doubt ends in a manual step instead, since a DELETE of the wrong id revokes a key
//! in use.
//!
//! The new key's value exists only in a [`NewKey`] for the hand-over; reports, the audit log and
//! every message carry its id and redacted form only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::json;

use crate::account::{KeyDetails, key_details, list_keys};
use crate::key::{KeyId, redact};
pub use crate::model::RotateStatus;
use crate::revoke::{self, AdminKey, AuditLog, Confirm, Deleted, Planned, RevokeOptions, RevokeStatus};
use crate::sendgrid::{Answer, Api, Credential, NewKey};
use crate::verify::{self, Policy, Status};

/// Which scopes the replacement gets; never more than the old key holds.
pub enum ScopeChoice {
    /// The old key's.
    Same,
    /// The old key's that the policy allows (least privilege).
    Policy(Policy),
    /// These, each of which the old key must hold.
    Explicit(Vec<String>),
}

/// Where the new key goes before the old one is revoked.
#[derive(Debug, Clone)]
pub enum Handover {
    /// A new file, mode 0600; an existing file is refused before any request.
    File(PathBuf),
    /// `sh -c CMD` with the key on its standard input, given `timeout` to read all of it and finish
    /// with status 0.
    Command { cmd: String, timeout: Duration },
}

pub struct RotateOptions<'a> {
    pub api: &'a Api,
    pub admin: &'a AdminKey,
    pub confirm: &'a dyn Confirm,
    pub dry_run: bool,
    /// How long to poll for the new key to work and for the old one to be gone.
    pub wait: Duration,
    pub audit: &'a Path,
    pub scopes: ScopeChoice,
    pub handover: Handover,
}

/// What happened to one key.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub old_key_id: String,
    pub old_name: Option<String>,
    pub old_scopes: Option<Vec<String>>,
    pub new_name: Option<String>,
    pub new_scopes: Vec<String>,
    pub new_key_id: Option<String>,
    /// `SG.xxxx…`: never the key.
    pub new_key_redacted: Option<String>,
    pub status: RotateStatus,
    /// The step the rotation ended at: lookup, scopes, create, hand-over, verify-new, revoke, done.
    pub step: &'static str,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::model::Revocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_step: Option<String>,
}

impl Rotation {
    fn new(old_key_id: &str) -> Rotation {
        Rotation {
            old_key_id: old_key_id.to_string(),
            old_name: None,
            old_scopes: None,
            new_name: None,
            new_scopes: Vec::new(),
            new_key_id: None,
            new_key_redacted: None,
            status: RotateStatus::Refused,
            step: "lookup",
            reason: String::new(),
            revocation: None,
            manual_step: None,
        }
    }

    fn end(mut self, status: RotateStatus, step: &'static str, reason: impl Into<String>) -> Rotation {
        self.status = status;
        self.step = step;
        self.reason = reason.into();
        self
    }
}

/// Checks what can be checked before any request: the ids, and that the hand-over file is new.
pub fn preflight(ids: &[String], handover: &Handover) -> Result<Vec<KeyId>> {
    let mut valid = Vec::new();
    for id in ids {
        match KeyId::parse(id) {
            // Twice the same id would create two replacements for one key.
            Some(k) if valid.contains(&k) => {}
            Some(k) => valid.push(k),
            // Never echo the value: it may be a whole key pasted by mistake.
            None => bail!(
                "a --key-id value ({} characters) is not a SendGrid key id (the 22 characters between 'SG.' and the second '.'): nothing sent",
                id.chars().count()
            ),
        }
    }
    if matches!(handover, Handover::File(_)) && valid.len() != 1 {
        bail!("--new-key-file takes one key: rotate one --key-id at a time, or use --new-key-command");
    }
    check_handover(handover)?;
    Ok(valid)
}

/// Refuses a `--new-key-file` that exists already (a scan checks this before it starts).
pub fn check_handover(handover: &Handover) -> Result<()> {
    if let Handover::File(path) = handover
        && std::fs::symlink_metadata(path).is_ok()
    {
        bail!(
            "--new-key-file {} already exists: refusing to overwrite it (nothing sent)",
            path.display()
        );
    }
    Ok(())
}

/// The replacement's scopes, or why there are none to give.
fn choose_scopes(old: &[String], choice: &ScopeChoice) -> Result<Vec<String>, String> {
    let chosen: Vec<String> = match choice {
        ScopeChoice::Same => old.to_vec(),
        ScopeChoice::Policy(p) => {
            let banned = p.violations(old);
            old.iter().filter(|s| !banned.contains(s)).cloned().collect()
        }
        ScopeChoice::Explicit(wanted) => {
            let extra: Vec<&String> = wanted.iter().filter(|s| !old.contains(s)).collect();
            if !extra.is_empty() {
                let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "--scopes asks for scopes the old key does not hold ({}): a replacement never gets more",
                    extra.join(", ")
                ));
            }
            wanted.clone()
        }
    };
    // A create without scopes makes a full-access key: an empty set must never be sent.
    if chosen.is_empty() {
        return Err(
            "the replacement would have no scopes (a create without scopes is full access): nothing created"
                .into(),
        );
    }
    Ok(chosen)
}

/// The audit trail: once a line cannot be written, nothing more is sent.
struct Trail {
    log: Result<AuditLog, String>,
}

impl Trail {
    fn line(
        &mut self,
        event: &str,
        step: &str,
        key_id: &str,
        by: &str,
        extra: serde_json::Value,
    ) -> Result<(), String> {
        let log = self.log.as_mut().map_err(|e| e.clone())?;
        let mut entry = json!({
            "event": event,
            "timestamp": verify::now_rfc3339(),
            "step": step,
            "key_id": key_id,
            "rotated_by": by,
        });
        if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        log.record(entry).map_err(|e| {
            let why = format!("audit log unwritable: {e:#}");
            self.log = Err(why.clone());
            why
        })
    }
}

/// Says yes without showing anything: the rotation's plan was shown and confirmed already.
struct Confirmed;

impl Confirm for Confirmed {
    fn show(&self, _: &[Planned], _: bool) {}
    fn confirm(&self, _: &str) -> Result<bool> {
        Ok(true)
    }
}

/// Rotates each key: looks them all up, shows the plan, asks once, then rotates one after another.
pub fn rotate_all(ids: &[KeyId], opts: &RotateOptions) -> Result<Vec<Rotation>> {
    let date = verify::now_rfc3339().chars().take(10).collect::<String>();
    let mut looked_up: Vec<(Rotation, Option<KeyDetails>)> = Vec::new();
    for id in ids {
        let mut r = Rotation::new(id.as_str());
        if opts.admin.key_id().as_ref() == Some(id) {
            // Revoking the key that does the revoking leaves nobody to check it is gone.
            looked_up.push((
                r.end(
                    RotateStatus::Refused,
                    "lookup",
                    "this is the admin key sgscan runs with: rotate it with another admin key",
                ),
                None,
            ));
            continue;
        }
        match key_details(opts.api, opts.admin, id) {
            Err(why) => looked_up.push((r.end(RotateStatus::Refused, "lookup", why), None)),
            Ok(d) => {
                r.old_name = Some(d.name.clone());
                r.old_scopes = Some(d.scopes.clone());
                match choose_scopes(&d.scopes, &opts.scopes) {
                    Err(why) => looked_up.push((r.end(RotateStatus::Refused, "scopes", why), None)),
                    Ok(scopes) => {
                        r.new_name = Some(format!("{} (rotated {date})", d.name));
                        r.new_scopes = scopes;
                        looked_up.push((r, Some(d)));
                    }
                }
            }
        }
    }
    let plan: Vec<Planned> = looked_up
        .iter()
        .filter(|(_, d)| d.is_some())
        .map(|(r, _)| Planned {
            redacted: String::new(),
            key_id: r.old_key_id.clone(),
            found_at: format!(
                "rotate: new key '{}' first",
                r.new_name.as_deref().unwrap_or_default()
            ),
            scopes: r.new_scopes.join(", "),
            by: opts.admin.credential().label,
        })
        .collect();
    if plan.is_empty() {
        return Ok(looked_up.into_iter().map(|(r, _)| r).collect());
    }
    opts.confirm.show(&plan, opts.dry_run);
    if opts.dry_run {
        return Ok(looked_up
            .into_iter()
            .map(|(r, d)| match d {
                Some(_) => r.end(
                    RotateStatus::Planned,
                    "lookup",
                    "dry run: nothing created or revoked",
                ),
                None => r,
            })
            .collect());
    }
    let question = if plan.len() == 1 {
        "Create a replacement key, hand it over, then revoke the old one?".to_string()
    } else {
        format!(
            "Create {} replacement keys, hand them over, then revoke the old ones?",
            plan.len()
        )
    };
    if !opts.confirm.confirm(&question)? {
        bail!("rotation not confirmed: nothing was sent");
    }
    let mut trail = Trail {
        log: AuditLog::open(opts.audit).map_err(|e| format!("{e:#}")),
    };
    let mut known = Known {
        admin: opts.admin.key_id(),
        ids: ids.to_vec(),
        existing: Vec::new(),
    };
    Ok(looked_up
        .into_iter()
        .map(|(r, d)| match d {
            Some(_) => rotate_one(r, opts, &mut trail, &mut known),
            None => r,
        })
        .collect())
}

/// What a create answer holds once it is known to be SendGrid's.
struct Created {
    id: KeyId,
    scopes: Vec<String>,
}

/// How a create ended, as far as sgscan can tell.
enum CreateOutcome {
    /// SendGrid's 201, its key's middle segment equal to its `api_key_id`.
    Created(Created),
    /// SendGrid's own error (a 4xx in its shape), or a request known not to have been acted on:
    /// nothing was created.
    Refused(String),
    /// Anything else: a key may exist, and the ids the answer names are not trusted enough to
    /// DELETE (one may be the old key's, the admin key's, or not the created key's at all).
    Uncertain { why: String, ids: Vec<String> },
}

/// 201 `{"api_key", "api_key_id", "name", "scopes"}` with the key's middle segment equal to the id
/// and the name the one asked for; a refusal only in SendGrid's own error shape.
fn read_created(answer: &Answer, key: Option<&NewKey>, name: &str) -> CreateOutcome {
    let body = match answer {
        Answer::Http {
            status: 201, body, ..
        } => body,
        // A 5xx may come after the key was made (a gateway timing out on a slow create).
        Answer::Http {
            status: 400..=499,
            message: Some(_),
            ..
        } => return CreateOutcome::Refused(describe("the create", answer)),
        Answer::Fault {
            unprocessed: true, ..
        } => {
            return CreateOutcome::Refused(format!(
                "{}; nothing was created",
                describe("the create", answer)
            ));
        }
        _ => {
            return CreateOutcome::Uncertain {
                why: format!("{}; a key may have been created", describe("the create", answer)),
                ids: key_segment(key).into_iter().collect(),
            };
        }
    };
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let o = v.as_object();
    let id = o
        .and_then(|o| o.get("api_key_id"))
        .and_then(|i| i.as_str())
        .and_then(KeyId::parse);
    let scopes = o
        .and_then(|o| o.get("scopes"))
        .and_then(|s| s.as_array())
        .and_then(|a| {
            a.iter()
                .map(|s| {
                    s.as_str()
                        .filter(|s| verify::is_scope_name(s))
                        .map(str::to_string)
                })
                .collect::<Option<Vec<_>>>()
        });
    let named = o.and_then(|o| o.get("name")).and_then(|n| n.as_str()) == Some(name);
    let segment = key_segment(key);
    let key_matches = matches!((&segment, &id), (Some(s), Some(id)) if s == id.as_str());
    match (id, scopes) {
        (Some(id), Some(scopes)) if named && key_matches => CreateOutcome::Created(Created { id, scopes }),
        (id, _) => {
            let mut ids: Vec<String> = id.iter().map(|i| i.as_str().to_string()).collect();
            ids.extend(segment.filter(|s| !ids.contains(s)));
            CreateOutcome::Uncertain {
                why: "the create answered 201 without SendGrid's {api_key, api_key_id, name, scopes} body (the key's id equal to api_key_id): a key may have been created".into(),
                ids,
            }
        }
    }
}

/// The id segment of a created key, when it is a valid key id.
fn key_segment(key: Option<&NewKey>) -> Option<String> {
    key.and_then(|k| k.expose().split('.').nth(1))
        .and_then(KeyId::parse)
        .map(|id| id.as_str().to_string())
}

fn describe(what: &str, answer: &Answer) -> String {
    match answer {
        Answer::Http {
            status,
            message: Some(m),
            ..
        } => format!("{what} was refused: HTTP {status} {m}"),
        Answer::Http { status, .. } => {
            format!("{what} answered HTTP {status} that is not SendGrid's (a proxy or gateway?)")
        }
        Answer::Fault { reason, .. } => format!("{what} got no answer: {reason}"),
    }
}

/// What to do by hand when a create may have made a key sgscan will not delete.
fn check_account(name: &str, old_id: &str, ids: &[String]) -> String {
    let named = if ids.is_empty() {
        String::new()
    } else {
        format!(" (the answer named key id {})", ids.join(" and "))
    };
    format!(
        "check SendGrid > Settings > API Keys for a key named '{name}'{named} and delete it by hand; the old key {old_id} was left alone and must not be deleted before its replacement works"
    )
}

/// Ids a create must never answer with: the old key's, the admin key's, every id this run has
/// rotated or created, and every id the account listed just before the create. Deleting one of
/// them in a rollback would revoke a key in use.
struct Known {
    admin: Option<KeyId>,
    ids: Vec<KeyId>,
    /// The account's ids as `GET /v3/api_keys` gave them before the current create.
    existing: Vec<KeyId>,
}

impl Known {
    fn what(&self, id: &KeyId, old_id: &str) -> Option<&'static str> {
        if id.as_str() == old_id {
            Some("the old key's own id")
        } else if self.admin.as_ref() == Some(id) {
            Some("the admin key's id")
        } else if self.ids.contains(id) {
            Some("the id of a key this run already rotated or created")
        } else if self.existing.contains(id) {
            Some("the id of a key the account held before the create")
        } else {
            None
        }
    }
}

fn rotate_one(mut r: Rotation, opts: &RotateOptions, trail: &mut Trail, known: &mut Known) -> Rotation {
    let by = opts.admin.who();
    let old_id = r.old_key_id.clone();
    let name = r.new_name.clone().unwrap_or_default();
    // Without the account's ids just before the create, a created id cannot be told new: an
    // answer naming another key of the account would get that key deleted on rollback.
    match list_keys(opts.api, opts.admin) {
        Ok(listed) => known.existing = listed.into_iter().map(|(_, id)| id).collect(),
        Err(why) => {
            return r.end(
                RotateStatus::Refused,
                "create",
                format!("{why}: a created key could not be told from an existing one, nothing created"),
            );
        }
    }
    let body = json!({ "name": name, "scopes": r.new_scopes });
    let detail = json!({ "action": "POST /v3/api_keys", "name": name, "scopes": r.new_scopes });
    if let Err(why) = trail.line("attempt", "create", &old_id, &by, detail) {
        return r.end(RotateStatus::Refused, "create", format!("{why}, nothing sent"));
    }
    let (answer, new_key) = opts.api.create_key(&opts.admin.credential(), &body);
    let created = match read_created(&answer, new_key.as_ref(), &name) {
        CreateOutcome::Created(c) => c,
        CreateOutcome::Refused(why) => {
            let _ = trail.line(
                "result",
                "create",
                &old_id,
                &by,
                json!({ "result": "refused", "reason": why }),
            );
            return r.end(RotateStatus::Refused, "create", why);
        }
        CreateOutcome::Uncertain { why, ids } => {
            let _ = trail.line(
                "result",
                "create",
                &old_id,
                &by,
                json!({ "result": "failed", "reason": why, "named_key_ids": ids }),
            );
            r.manual_step = Some(check_account(&name, &old_id, &ids));
            return r.end(
                RotateStatus::Failed,
                "create",
                format!("{why}; nothing was deleted"),
            );
        }
    };
    if let Some(what) = known.what(&created.id, &old_id) {
        let why = format!(
            "the create answered with key id {}, {what}: nothing handed over, nothing deleted",
            created.id.as_str()
        );
        let _ = trail.line(
            "result",
            "create",
            &old_id,
            &by,
            json!({ "result": "failed", "reason": why, "named_key_ids": [created.id.as_str()] }),
        );
        r.manual_step = Some(check_account(&name, &old_id, &[created.id.as_str().to_string()]));
        return r.end(RotateStatus::Failed, "create", why);
    }
    known.ids.push(created.id.clone());
    // `read_created` accepts a 201 only with the key in it.
    let Some(key) = new_key else {
        r.manual_step = Some(check_account(&name, &old_id, &[created.id.as_str().to_string()]));
        return r.end(RotateStatus::Failed, "create", "no key in the create answer");
    };
    r.new_key_id = Some(created.id.as_str().to_string());
    r.new_key_redacted = Some(redact(key.expose()));
    let new_id = created.id.as_str();
    let _ = trail.line(
        "result",
        "create",
        &old_id,
        &by,
        json!({ "result": "created", "new_key_id": new_id, "new_key": r.new_key_redacted }),
    );
    if !created.scopes.iter().all(|s| r.new_scopes.contains(s)) {
        r.new_scopes = created.scopes.clone();
        return roll_back(
            r,
            opts,
            trail,
            &created.id,
            "create",
            "the new key came back with scopes beyond those asked for".into(),
        );
    }
    r.new_scopes = created.scopes.clone();

    let target = match &opts.handover {
        Handover::File(p) => format!("file {}", p.display()),
        Handover::Command { .. } => "--new-key-command".to_string(),
    };
    if let Err(why) = trail.line(
        "attempt",
        "hand-over",
        &old_id,
        &by,
        json!({ "new_key_id": new_id, "to": target }),
    ) {
        return roll_back(r, opts, trail, &created.id, "hand-over", why);
    }
    let handed = match &opts.handover {
        Handover::File(p) => hand_over_file(p, &key),
        Handover::Command { cmd, timeout } => hand_over_command(cmd, &key, *timeout),
    };
    let _ = trail.line("result", "hand-over", &old_id, &by, json!({ "new_key_id": new_id, "result": if handed.is_ok() { "handed-over" } else { "failed" }, "reason": handed.as_ref().err() }));
    if let Err(why) = handed {
        return roll_back(
            r,
            opts,
            trail,
            &created.id,
            "hand-over",
            format!("hand-over failed: {why}"),
        );
    }

    // The old key goes only once the new one works: mail must not stop.
    let cred = Credential {
        key: key.expose(),
        label: format!("new key id {new_id}"),
    };
    let (live, last) = revoke::poll(opts.wait, || {
        let v = verify::interpret(&opts.api.get(&cred, "/v3/scopes"));
        (v.status == Status::Live, v.reason)
    });
    drop(key);
    if !live {
        // The new key was handed over: whoever took it decides whether it stays.
        r.manual_step = Some(format!(
            "the new key (id {new_id}) was handed over but did not authenticate: find out why, then either retry the rotation or delete the new key by hand (SendGrid > Settings > API Keys, the key with id {new_id}, and the copy that was handed over); the old key {old_id} still works"
        ));
        return r.end(
            RotateStatus::Failed,
            "verify-new",
            format!(
                "the new key was handed over but did not authenticate ('{last}'): the old key was left alone"
            ),
        );
    }
    let revoke_opts = RevokeOptions {
        api: opts.api,
        admin: Some(opts.admin),
        confirm: &Confirmed,
        dry_run: false,
        wait: opts.wait,
        audit: opts.audit,
    };
    match revoke::revoke_by_id(&old_id, &revoke_opts) {
        Err(e) => r.end(
            RotateStatus::Failed,
            "revoke",
            format!("new key live and handed over; revoking the old key failed: {e:#}"),
        ),
        Ok((rev, audit_error)) => {
            let done = rev.status == RevokeStatus::Revoked && audit_error.is_none();
            let reason = format!("new key live and handed over; old key: {}", rev.reason);
            r.manual_step = rev.manual_step.clone();
            r.revocation = Some(rev);
            if done {
                r.end(RotateStatus::Rotated, "done", reason)
            } else {
                r.end(RotateStatus::Failed, "revoke", reason)
            }
        }
    }
}

/// Deletes the new key again; the old one is left alone.
fn roll_back(
    r: Rotation,
    opts: &RotateOptions,
    trail: &mut Trail,
    new_id: &KeyId,
    step: &'static str,
    why: String,
) -> Rotation {
    let by = opts.admin.who();
    let old_id = r.old_key_id.clone();
    let path = format!("/v3/api_keys/{}", new_id.as_str());
    let manual = |mut r: Rotation, reason: String| {
        r.manual_step = Some(revoke::manual_step(new_id.as_str()));
        r.end(RotateStatus::Failed, step, reason)
    };
    if let Err(e) = trail.line(
        "attempt",
        "rollback",
        &old_id,
        &by,
        json!({ "new_key_id": new_id.as_str(), "action": format!("DELETE {path}") }),
    ) {
        return manual(
            r,
            format!("{why}; the new key could not be deleted ({e}, nothing sent)"),
        );
    }
    let outcome = revoke::read_delete(opts.api.delete(&opts.admin.credential(), &path, &mut || Ok(())));
    let (ok, note) = match &outcome {
        Deleted::Yes => (true, "deleted".to_string()),
        Deleted::NotFound => (true, "already gone (404)".to_string()),
        Deleted::Unknown(w) | Deleted::Refused(w) => (false, w.clone()),
    };
    let _ = trail.line("result", "rollback", &old_id, &by, json!({ "new_key_id": new_id.as_str(), "result": if ok { "rolled-back" } else { "failed" }, "reason": note }));
    if ok {
        r.end(
            RotateStatus::RolledBack,
            step,
            format!("{why}; the new key was deleted again, the old key left alone"),
        )
    } else {
        manual(
            r,
            format!("{why}; deleting the new key failed: {note}; the old key was left alone"),
        )
    }
}

fn hand_over_file(path: &Path, key: &NewKey) -> Result<(), String> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut file = open
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let written = file
        .write_all(key.expose().as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all());
    if let Err(e) = written {
        // A half-written key file is worse than none: the rollback deletes the key anyway.
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

/// How long the command's output may keep its pipes open after the command is gone.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Runs the command with the key on its standard input. The pipe is ours, and a duplicate of its
/// read end stays here: a `write_all` that succeeded proves nothing (the key fits in any pipe's
/// buffer), but once the command has ended, bytes still in the pipe prove it did not read the key
/// whole. A process the command left behind is killed with its group before the pipe is looked at,
/// so what it read counts as read; what it did with it is beyond what sgscan can see.
fn hand_over_command(cmd: &str, key: &NewKey, timeout: Duration) -> Result<(), String> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| format!("cannot make a pipe for the --new-key-command: {e}"))?;
    let kept = reader
        .try_clone()
        .map_err(|e| format!("cannot make a pipe for the --new-key-command: {e}"))?;
    // The key goes in before the command exists: an empty pipe takes its 70 bytes at once, while
    // a command that filled the pipe first (it can open `/proc/self/fd/0` for writing) would
    // block a later write past the timeout. `feed` drops the write end: the command sees the end
    // of its input.
    let fed = feed(writer, key.expose());
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        // The command gets the new key on stdin and nothing else of ours.
        .env_remove("SGSCAN_ADMIN_KEY")
        .stdin(reader)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a timeout or its end stops everything it started: a leftover
    // process must not hand a key on after sgscan has given up on it, or deleted it.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let spawned = command.spawn();
    drop(command);
    let mut child = spawned.map_err(|e| format!("cannot run the --new-key-command: {e}"))?;
    // The output is only counted: whatever the command prints may hold the key, whole or in
    // pieces, and none of it may reach a report or the audit log. The readers report through a
    // channel: a process that keeps a pipe open must not hold sgscan past the command's own end.
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let streams = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
    ];
    let mut readers = 0;
    for mut stream in streams.into_iter().flatten() {
        readers += 1;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let n = std::io::copy(&mut stream, &mut std::io::sink()).unwrap_or(0);
            let _ = tx.send(n);
        });
    }
    drop(tx);
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(&child);
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "the --new-key-command did not finish within {}s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(&child);
                let _ = child.kill();
                break Err(format!("cannot wait for the --new-key-command: {e}"));
            }
        }
    };
    kill_group(&child);
    let unread = unread(&kept);
    drop(kept);
    let mut bytes = 0u64;
    let mut finished = 0;
    let grace = Instant::now() + OUTPUT_GRACE;
    while finished < readers {
        match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok(n) => {
                bytes += n;
                finished += 1;
            }
            Err(_) => break,
        }
    }
    let output = if finished < readers {
        format!("at least {bytes} bytes of output, not shown")
    } else {
        format!("{bytes} bytes of output, not shown")
    };
    verdict(fed, status, unread, &output)
}

/// How many bytes of the key are still in the hand-over pipe.
#[cfg(unix)]
fn unread(pipe: &std::io::PipeReader) -> Result<u64, String> {
    rustix::io::ioctl_fionread(pipe)
        .map_err(|e| format!("cannot tell whether the --new-key-command read the key (FIONREAD: {e})"))
}

/// Elsewhere there is no FIONREAD on a pipe: only the exit status counts, as the README says.
#[cfg(not(unix))]
fn unread(_: &std::io::PipeReader) -> Result<u64, String> {
    Ok(0)
}

/// The key and a newline on the command's stdin; dropping `stdin` closes it.
fn feed(mut stdin: impl Write, key: &str) -> Result<(), String> {
    stdin
        .write_all(key.as_bytes())
        .and_then(|_| stdin.write_all(b"\n"))
        .and_then(|_| stdin.flush())
        .map_err(|e| e.to_string())
}

/// A hand-over holds only when the key was written whole, the command exited 0, and it left
/// nothing of the key unread: a command that exits 0 without reading its input (`true`, a typo)
/// never got the key, and the old key must not go.
fn verdict(
    fed: Result<(), String>,
    status: Result<std::process::ExitStatus, String>,
    unread: Result<u64, String>,
    output: &str,
) -> Result<(), String> {
    match (fed, status, unread) {
        (_, Err(why), _) => Err(format!("{why} ({output})")),
        (Err(e), Ok(status), _) => Err(format!(
            "the --new-key-command did not take the key ({e}) and exited with {status} ({output})"
        )),
        (Ok(()), Ok(status), _) if !status.success() => {
            Err(format!("the --new-key-command exited with {status} ({output})"))
        }
        (Ok(()), Ok(_), Err(why)) => Err(format!("{why} ({output})")),
        // Bytes leave a pipe from the front: one left is at most the newline after the key
        // (`head -c 69`, `dd bs=69 count=1`), and the key itself was read whole.
        (Ok(()), Ok(status), Ok(n)) if n > 1 => Err(format!(
            "the --new-key-command exited with {status} but left {n} of the key's bytes unread: it did not take the key ({output})"
        )),
        (Ok(()), Ok(_), Ok(_)) => Ok(()),
    }
}

/// SIGKILL to the command's process group (its id is the command's pid, see `process_group(0)`),
/// sent by sgscan itself: a kill(1) looked up on PATH may be missing (a slim container), and the
/// group would then outlive the hand-over in silence. Once the group is gone (ESRCH) there is
/// nothing to stop.
fn kill_group(child: &std::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = child;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn replacements_never_get_more_scopes() {
        let old = s(&["mail.send", "stats.read", "api_keys.create"]);
        assert_eq!(choose_scopes(&old, &ScopeChoice::Same), Ok(old.clone()));
        let policy = Policy {
            allowed_scopes: s(&["mail.send", "stats.*"]),
        };
        assert_eq!(
            choose_scopes(&old, &ScopeChoice::Policy(policy)),
            Ok(s(&["mail.send", "stats.read"]))
        );
        assert!(
            choose_scopes(
                &old,
                &ScopeChoice::Explicit(s(&["mail.send", "user.profile.read"]))
            )
            .is_err()
        );
        assert!(choose_scopes(&[], &ScopeChoice::Same).is_err());
        let none = Policy {
            allowed_scopes: s(&["templates.read"]),
        };
        assert!(choose_scopes(&old, &ScopeChoice::Policy(none)).is_err());
    }

    /// A writer whose reader is gone, or that takes nothing: the key never reached the command.
    struct Broken(std::io::ErrorKind);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            match self.0 {
                std::io::ErrorKind::WriteZero => Ok(0),
                kind => Err(kind.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_not_written_whole_is_a_failed_hand_over_even_after_exit_0() {
        use std::os::unix::process::ExitStatusExt;
        let key = "SG.not-a-real-key";
        let ok = || Ok(std::process::ExitStatus::from_raw(0));
        for kind in [std::io::ErrorKind::BrokenPipe, std::io::ErrorKind::WriteZero] {
            let fed = feed(Broken(kind), key);
            assert!(fed.is_err(), "{kind:?}");
            assert!(verdict(fed, ok(), Ok(0), "0 bytes").is_err(), "{kind:?}");
        }
        assert!(verdict(feed(Vec::new(), key), ok(), Ok(0), "0 bytes").is_ok());
    }

    /// Written whole and exit 0 is not enough: the command must have read it all.
    #[cfg(unix)]
    #[test]
    fn a_key_left_in_the_pipe_is_a_failed_hand_over() {
        use std::os::unix::process::ExitStatusExt;
        let ok = || Ok(std::process::ExitStatus::from_raw(0));
        let fed = || feed(Vec::new(), "SG.not-a-real-key");
        let left = verdict(fed(), ok(), Ok(60), "0 bytes").unwrap_err();
        assert!(left.contains("left 60 of the key's bytes unread"), "{left}");
        // Only the newline after the key left: the key was read whole.
        assert!(verdict(fed(), ok(), Ok(1), "0 bytes").is_ok());
        assert!(verdict(fed(), ok(), Ok(2), "0 bytes").is_err());
        assert!(verdict(fed(), ok(), Err("FIONREAD failed".into()), "0 bytes").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn unread_counts_what_is_left_in_a_pipe() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        assert_eq!(unread(&reader), Ok(0));
        writer.write_all(b"0123456789").unwrap();
        drop(writer);
        assert_eq!(unread(&reader), Ok(10));
        let mut half = [0u8; 4];
        (&reader).read_exact(&mut half).unwrap();
        assert_eq!(unread(&reader), Ok(6));
    }
}
