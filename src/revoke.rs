//! Revocation of live keys: `DELETE /v3/api_keys/{id}` where the id is the leaked key's own middle
//! segment, never anything else. Only keys verified `live` in this run are touched; each attempt is
//! appended to an fsynced audit log; success is reported only once the key stops authenticating.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::findings::{Finding, fingerprint};
use crate::sendgrid::{Answer, Api, Credential};
use crate::verify::{self, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeStatus {
    /// The key no longer authenticates.
    Revoked,
    /// The DELETE was accepted but the key still authenticated when we stopped polling.
    RevokePending,
    RevokeFailed,
    /// `--dry-run`: what would be sent.
    Planned,
}

impl RevokeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeStatus::Revoked => "revoked",
            RevokeStatus::RevokePending => "revoke-pending",
            RevokeStatus::RevokeFailed => "revoke-failed",
            RevokeStatus::Planned => "planned",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    pub status: RevokeStatus,
    pub reason: String,
    /// `self` or `admin:<fingerprint prefix>`.
    pub by: String,
    /// What a person must do when sgscan could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_step: Option<String>,
}

/// The admin key: from `SGSCAN_ADMIN_KEY` or a file, never from the command line.
pub struct AdminKey(String);

impl AdminKey {
    pub fn load(file: Option<&Path>) -> Result<Option<AdminKey>> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
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

    fn who(&self) -> String {
        format!("admin:{}", &fingerprint(&self.0)[..16])
    }

    fn credential(&self) -> Credential<'_> {
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
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
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

pub struct RevokeOptions<'a> {
    pub api: &'a Api,
    pub admin: Option<&'a AdminKey>,
    pub yes: bool,
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

fn manual_step(key_id: &str) -> String {
    format!(
        "revoke it by hand: SendGrid > Settings > API Keys, the key with id {key_id} (or DELETE /v3/api_keys/{key_id} with a key holding api_keys.delete)"
    )
}

/// Asks on the terminal; without one, refuses unless `--yes`.
fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "refusing to revoke without confirmation: no terminal to ask on (pass --yes to revoke, or --dry-run to see the plan)"
        );
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the confirmation")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Revokes every finding verified live in this run. Returns an error only when nothing may be sent
/// (no confirmation); per-key failures are recorded on the findings.
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
    eprintln!("sgscan: {} live key(s) to revoke:", live.len());
    for &i in &live {
        let f = &findings[i];
        let scopes = f
            .verification
            .as_ref()
            .and_then(|v| v.scopes.as_ref())
            .map_or("unknown".to_string(), |s| s.join(", "));
        eprintln!(
            "  {}  key id {}  found at {}  scopes: {scopes}",
            f.redacted,
            f.key_id.as_deref().unwrap_or("?"),
            where_found(f)
        );
    }
    if opts.dry_run {
        eprintln!("sgscan: --dry-run: nothing was sent");
        for &i in &live {
            let by = opts.admin.map_or_else(|| "self".to_string(), AdminKey::who);
            findings[i].revocation = Some(Revocation {
                status: RevokeStatus::Planned,
                reason: "dry run".into(),
                by,
                manual_step: None,
            });
        }
        return Ok(());
    }
    if !confirm(&format!("Revoke these {} key(s) now?", live.len()), opts.yes)? {
        bail!("revocation not confirmed: nothing was sent");
    }
    let mut audit = AuditLog::open(opts.audit)?;
    for &i in &live {
        let r = revoke_one(&findings[i], opts);
        let f = &findings[i];
        audit.record(json!({
            "timestamp": verify::now_rfc3339(),
            "fingerprint": f.fingerprint,
            "key_id": f.key_id,
            "found_at": where_found(f),
            "revoked_by": r.by,
            "result": r.status,
            "reason": r.reason,
        }))?;
        findings[i].revocation = Some(r);
    }
    Ok(())
}

fn revoke_one(f: &Finding, opts: &RevokeOptions) -> Revocation {
    let failed = |by: &str, reason: String, id: &str| Revocation {
        status: RevokeStatus::RevokeFailed,
        reason,
        by: by.into(),
        manual_step: Some(manual_step(id)),
    };
    let Some(key_id) = f.key_id.as_deref() else {
        return failed("-", "the key has no id segment".into(), "?");
    };
    let leaked = Credential {
        key: &f.key,
        label: verify::label(f),
    };
    let path = format!("/v3/api_keys/{key_id}");
    let (cred, by) = match opts.admin {
        Some(admin) => {
            let by = admin.who();
            // The id must belong to the admin's account: never delete in an account the key is not from.
            match opts.api.get(&admin.credential(), &path) {
                Answer::Http { status: 200, .. } => {}
                Answer::Http { status: 404, .. } => {
                    return failed(
                        &by,
                        "not in this account: the admin key's account has no key with this id".into(),
                        key_id,
                    );
                }
                Answer::Http { status, message, .. } => {
                    return failed(
                        &by,
                        format!(
                            "cannot look the key up with the admin key: HTTP {status} {}",
                            message.unwrap_or_default()
                        ),
                        key_id,
                    );
                }
                Answer::Fault { reason, .. } => {
                    return failed(&by, format!("cannot look the key up: {reason}"), key_id);
                }
            }
            (admin.credential(), by)
        }
        None => {
            let can_delete = f
                .verification
                .as_ref()
                .and_then(|v| v.scopes.as_ref())
                .is_some_and(|s| s.iter().any(|s| s == "api_keys.delete"));
            if !can_delete {
                return failed("self", "no permission: no admin key (SGSCAN_ADMIN_KEY or --admin-key-file) and the leaked key does not hold api_keys.delete".into(), key_id);
            }
            (leaked, "self".to_string())
        }
    };
    match opts.api.delete(&cred, &path) {
        Answer::Http {
            status: 200 | 202 | 204,
            ..
        } => {}
        Answer::Http { status: 404, .. } => {
            return Revocation {
                status: RevokeStatus::Revoked,
                reason: "already deleted (404)".into(),
                by,
                manual_step: None,
            };
        }
        Answer::Http { status, message, .. } => {
            return failed(
                &by,
                format!("DELETE refused: HTTP {status} {}", message.unwrap_or_default()),
                key_id,
            );
        }
        Answer::Fault { reason, .. } => return failed(&by, format!("DELETE failed: {reason}"), key_id),
    }
    // Revocation propagates with a delay: report success only once the key stops working.
    let leaked = Credential {
        key: &f.key,
        label: verify::label(f),
    };
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let check = verify::interpret(&opts.api.get(&leaked, "/v3/scopes"));
        if check.status == Status::Invalid {
            return Revocation {
                status: RevokeStatus::Revoked,
                reason: "deleted; the key no longer authenticates".into(),
                by,
                manual_step: None,
            };
        }
        if started.elapsed() + pause > opts.wait {
            return Revocation {
                status: RevokeStatus::RevokePending,
                reason: format!(
                    "deleted, but the key still answered '{}' after {}s: check again shortly",
                    check.reason,
                    opts.wait.as_secs()
                ),
                by,
                manual_step: None,
            };
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(8));
    }
}

/// `sgscan revoke --key-id ID`: for security teams working from a report.
pub fn revoke_by_id(key_id: &str, opts: &RevokeOptions) -> Result<Revocation> {
    if key_id.len() != 22
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        // Never echo the value: a user may have pasted the whole key.
        bail!(
            "the --key-id value ({} characters) is not a SendGrid key id: a key id is the 22 characters \
             (A-Z a-z 0-9 - _) between 'SG.' and the second '.'. Never pass a whole key on the command line",
            key_id.chars().count()
        );
    }
    let Some(admin) = opts.admin else {
        bail!(
            "revoking by id needs an admin key holding api_keys.read and api_keys.delete: set SGSCAN_ADMIN_KEY or pass --admin-key-file"
        );
    };
    let path = format!("/v3/api_keys/{key_id}");
    match opts.api.get(&admin.credential(), &path) {
        Answer::Http { status: 200, .. } => {}
        Answer::Http { status: 404, .. } => {
            bail!("key id {key_id} is not in the admin key's account: nothing deleted")
        }
        Answer::Http { status, message, .. } => bail!(
            "cannot look key id {key_id} up: HTTP {status} {}",
            message.unwrap_or_default()
        ),
        Answer::Fault { reason, .. } => bail!("cannot look key id {key_id} up: {reason}"),
    }
    eprintln!(
        "sgscan: key id {key_id} will be revoked with {}",
        admin.credential().label
    );
    if opts.dry_run {
        eprintln!("sgscan: --dry-run: nothing was sent");
        return Ok(Revocation {
            status: RevokeStatus::Planned,
            reason: "dry run".into(),
            by: admin.who(),
            manual_step: None,
        });
    }
    if !confirm(&format!("Revoke key id {key_id} now?"), opts.yes)? {
        bail!("revocation not confirmed: nothing was sent");
    }
    let by = admin.who();
    let result = match opts.api.delete(&admin.credential(), &path) {
        Answer::Http {
            status: 200 | 202 | 204,
            ..
        }
        | Answer::Http { status: 404, .. } => Revocation {
            status: RevokeStatus::Revoked,
            reason: "deleted".into(),
            by,
            manual_step: None,
        },
        Answer::Http { status, message, .. } => Revocation {
            status: RevokeStatus::RevokeFailed,
            reason: format!("DELETE refused: HTTP {status} {}", message.unwrap_or_default()),
            by,
            manual_step: Some(manual_step(key_id)),
        },
        Answer::Fault { reason, .. } => Revocation {
            status: RevokeStatus::RevokeFailed,
            reason: format!("DELETE failed: {reason}"),
            by,
            manual_step: Some(manual_step(key_id)),
        },
    };
    AuditLog::open(opts.audit)?.record(json!({
        "timestamp": verify::now_rfc3339(),
        "fingerprint": null,
        "key_id": key_id,
        "found_at": "(revoke --key-id)",
        "revoked_by": result.by,
        "result": result.status,
        "reason": result.reason,
    }))?;
    Ok(result)
}
