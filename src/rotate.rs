//! Key rotation (`sgscan rotate --key-id`): a replacement with the old key's scopes (or fewer) is
//! created and handed over before the old key is touched, so that revoking a production key does
//! not stop its mail. Order: look up → create → hand over → check the new key is live → revoke the
//! old one exactly as `revoke --key-id` does. A hand-over that fails deletes the new key again.
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

use crate::account::{KeyDetails, key_details};
use crate::key::{KeyId, redact};
use crate::revoke::{self, AdminKey, AuditLog, Confirm, Deleted, Planned, RevokeOptions, RevokeStatus};
use crate::sendgrid::{Answer, Api, Credential, NewKey, redact_text};
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
pub enum Handover {
    /// A new file, mode 0600; an existing file is refused before any request.
    File(PathBuf),
    /// `sh -c CMD` with the key on its standard input, given `timeout` to finish with status 0.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotateStatus {
    Rotated,
    /// `--dry-run`: what would be done.
    Planned,
    /// Nothing was created.
    Refused,
    /// The new key was created, the hand-over failed, and the new key was deleted again.
    RolledBack,
    Failed,
}

impl RotateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RotateStatus::Rotated => "rotated",
            RotateStatus::Planned => "planned",
            RotateStatus::Refused => "refused",
            RotateStatus::RolledBack => "rolled-back",
            RotateStatus::Failed => "failed",
        }
    }
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
    if let Handover::File(path) = handover {
        if valid.len() != 1 {
            bail!("--new-key-file takes one key: rotate one --key-id at a time, or use --new-key-command");
        }
        if std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "--new-key-file {} already exists: refusing to overwrite it (nothing sent)",
                path.display()
            );
        }
    }
    Ok(valid)
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
                    "--scopes asks for scope(s) the old key does not hold ({}): a replacement never gets more",
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
    if !opts.confirm.confirm(&format!(
        "Create {} replacement key(s), hand them over, then revoke the old ones?",
        plan.len()
    ))? {
        bail!("rotation not confirmed: nothing was sent");
    }
    let mut trail = Trail {
        log: AuditLog::open(opts.audit).map_err(|e| format!("{e:#}")),
    };
    Ok(looked_up
        .into_iter()
        .map(|(r, d)| match d {
            Some(_) => rotate_one(r, opts, &mut trail),
            None => r,
        })
        .collect())
}

/// What a create answer holds once it is known to be SendGrid's.
struct Created {
    id: KeyId,
    scopes: Vec<String>,
}

/// 201 `{"api_key", "api_key_id", "name", "scopes"}` with the key's middle segment equal to the id.
/// `Err((id if any, why))`: the id is what a rollback needs when a 201 is not SendGrid-shaped.
fn read_created(answer: &Answer, key: Option<&NewKey>) -> Result<Created, (Option<KeyId>, String)> {
    let Answer::Http {
        status: 201, body, ..
    } = answer
    else {
        return Err((None, describe("the create", answer)));
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
    let named = o.and_then(|o| o.get("name")).is_some_and(|n| n.is_string());
    let key_matches = match (key, &id) {
        (Some(k), Some(id)) => k.expose().split('.').nth(1) == Some(id.as_str()),
        _ => false,
    };
    match (id, scopes) {
        (Some(id), Some(scopes)) if named && key_matches => Ok(Created { id, scopes }),
        (id, _) => Err((
            id,
            "the create answered 201 without SendGrid's {api_key, api_key_id, name, scopes} body".into(),
        )),
    }
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

fn rotate_one(mut r: Rotation, opts: &RotateOptions, trail: &mut Trail) -> Rotation {
    let by = opts.admin.who();
    let old_id = r.old_key_id.clone();
    let name = r.new_name.clone().unwrap_or_default();
    let body = json!({ "name": name, "scopes": r.new_scopes });
    let detail = json!({ "action": "POST /v3/api_keys", "name": name, "scopes": r.new_scopes });
    if let Err(why) = trail.line("attempt", "create", &old_id, &by, detail) {
        return r.end(RotateStatus::Refused, "create", format!("{why}, nothing sent"));
    }
    let (answer, new_key) = opts.api.create_key(&opts.admin.credential(), &body);
    let created = read_created(&answer, new_key.as_ref());
    let created = match created {
        Ok(c) if c.scopes.iter().all(|s| r.new_scopes.contains(s)) => Ok(c),
        Ok(c) => Err((
            Some(c.id),
            "the new key came back with scopes beyond those asked for".to_string(),
        )),
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(c) => c,
        Err((id, why)) => {
            let _ = trail.line(
                "result",
                "create",
                &old_id,
                &by,
                json!({ "result": "failed", "reason": why, "new_key_id": id.as_ref().map(KeyId::as_str) }),
            );
            return match id {
                Some(id) => {
                    r.new_key_id = Some(id.as_str().to_string());
                    roll_back(r, opts, trail, &id, "create", why)
                }
                None => {
                    let unsure = matches!(
                        answer,
                        Answer::Fault {
                            unprocessed: false,
                            ..
                        }
                    ) || matches!(&answer, Answer::Http { status, .. } if *status < 300);
                    if unsure {
                        r.manual_step = Some(format!(
                            "check SendGrid > Settings > API Keys for a key named '{name}' and delete it"
                        ));
                        r.end(
                            RotateStatus::Failed,
                            "create",
                            format!("{why}; a key may have been created"),
                        )
                    } else {
                        r.end(RotateStatus::Refused, "create", why)
                    }
                }
            };
        }
    };
    let Some(key) = new_key else {
        return roll_back(
            r,
            opts,
            trail,
            &created.id,
            "create",
            "no key in the create answer".into(),
        );
    };
    r.new_key_id = Some(created.id.as_str().to_string());
    r.new_key_redacted = Some(redact(key.expose()));
    r.new_scopes = created.scopes.clone();
    let new_id = created.id.as_str();
    let _ = trail.line(
        "result",
        "create",
        &old_id,
        &by,
        json!({ "result": "created", "new_key_id": new_id, "new_key": r.new_key_redacted }),
    );

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

/// Output kept from the hand-over command, for its error message.
const MAX_COMMAND_OUTPUT: u64 = 64 * 1024;

fn hand_over_command(cmd: &str, key: &NewKey, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        // The command gets the new key on stdin and nothing else of ours.
        .env_remove("SGSCAN_ADMIN_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the --new-key-command: {e}"))?;
    // The readers report through a channel: a background process of the command's that keeps a
    // pipe open must not hold sgscan past the command's own end.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let streams = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
    ];
    let mut readers = 0;
    for stream in streams.into_iter().flatten() {
        readers += 1;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut r = stream.take(MAX_COMMAND_OUTPUT);
            let _ = r.read_to_end(&mut out);
            let _ = tx.send(out);
            // Drain the rest so the command never blocks on a full pipe.
            let _ = std::io::copy(&mut r.into_inner(), &mut std::io::sink());
        });
    }
    drop(tx);
    let fed = child.stdin.take().map(|mut stdin| {
        stdin
            .write_all(key.expose().as_bytes())
            .and_then(|_| stdin.write_all(b"\n"))
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "the --new-key-command did not finish within {}s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("cannot wait for the --new-key-command: {e}")),
        }
    };
    let mut said: Vec<u8> = Vec::new();
    let grace = Instant::now() + Duration::from_secs(2);
    for _ in 0..readers {
        match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok(out) => said.extend(out),
            Err(_) => break,
        }
    }
    let said = redact_text(String::from_utf8_lossy(&said).trim(), key.expose());
    let tail: String = {
        let chars: Vec<char> = said.chars().collect();
        chars[chars.len().saturating_sub(300)..].iter().collect()
    };
    let status = status?;
    if let Some(Err(e)) = fed
        && !status.success()
    {
        return Err(format!(
            "the --new-key-command did not take the key ({e}) and exited with {status}"
        ));
    }
    if !status.success() {
        return Err(if tail.is_empty() {
            format!("the --new-key-command exited with {status}")
        } else {
            format!("the --new-key-command exited with {status}: {tail}")
        });
    }
    Ok(())
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
}
