//! `sgscan audit`: every key of the account, its privilege, and whether it leaked.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::args::{AuditArgs, FormatArg};
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};
use crate::account::{self, AccountKey, AuditOptions};
use crate::report::schema::Tool;
use crate::revoke::AdminKey;
use crate::sendgrid::Api;
use crate::text::{Safe, count};
use crate::verify::Policy;

pub fn run(args: AuditArgs) -> Result<i32> {
    let Some(admin) = AdminKey::load(args.admin_key_file.as_deref())? else {
        bail!(
            "the audit needs an admin key holding api_keys.read: set SGSCAN_ADMIN_KEY or pass --admin-key-file"
        );
    };
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    let api = Api::new(args.api.options())?;
    let keys = account::audit(&AuditOptions {
        api: &api,
        admin: &admin,
        policy: policy.as_ref(),
        reports: &args.report,
    })?;
    let missed = account::not_assessed(&keys);
    let text = match args.output.format {
        FormatArg::Human => human(&keys, missed.as_deref()),
        FormatArg::Json => {
            let doc =
                json!({ "tool": Tool::this(), "summary": summary(&keys, missed.as_deref()), "keys": keys });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
        FormatArg::Jsonl => {
            let mut out = String::new();
            for k in &keys {
                let mut line = serde_json::to_value(k)?;
                if let Some(o) = line.as_object_mut() {
                    o.insert("type".into(), "key".into());
                }
                out.push_str(&format!("{line}\n"));
            }
            let line = json!({ "type": "summary", "tool": Tool::this(), "summary": summary(&keys, missed.as_deref()) });
            out.push_str(&format!("{line}\n"));
            out
        }
        FormatArg::Sarif | FormatArg::Html => {
            bail!(
                "sgscan audit writes human, json or jsonl (SARIF and HTML report scanned files; an account has none)"
            )
        }
    };
    emit(&text, args.output.output.as_deref())?;
    // An audit that did not read every key is incomplete, whatever it found in the others.
    Ok(if let Some(why) = missed {
        eprintln!("sgscan: error: audit incomplete: {}", Safe(&why));
        EXIT_ERROR
    } else if account::needs_action(&keys) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
}

fn summary(keys: &[AccountKey], missed: Option<&str>) -> serde_json::Value {
    json!({
        "complete": missed.is_none(),
        "not_assessed": missed,
        "keys": keys.len(),
        "leaked": keys.iter().filter(|k| k.leaked).count(),
        "policy_violations": keys.iter().filter(|k| !k.policy_violations.is_empty()).count(),
        "full_access": keys.iter().filter(|k| k.privilege == Some(crate::model::Privilege::FullAccess)).count(),
        "unreadable": keys.iter().filter(|k| k.error.is_some()).count(),
    })
}

fn human(keys: &[AccountKey], missed: Option<&str>) -> String {
    let mut out = format!(
        "sgscan audit: {} in the account\n",
        count(keys.len() as u64, "key", "keys")
    );
    for k in keys {
        let level = k.privilege.map_or("unknown", |p| p.as_str());
        out.push_str(&format!(
            "{}  id {}  {level}\n",
            Safe(&k.name),
            Safe(&k.api_key_id)
        ));
        if k.admin_key {
            out.push_str("  this is the admin key the audit ran with");
            if level == "full-access" {
                out.push_str(" (full access: keep it out of CI and rotate it too)");
            }
            out.push('\n');
        }
        if k.leaked {
            out.push_str(&format!(
                "  LEAKED, still in the account: found at {}\n",
                Safe(&k.locations.join(", "))
            ));
        }
        if !k.above_send_only.is_empty() {
            out.push_str(&format!(
                "  above send-only: {}\n",
                Safe(&k.above_send_only.join(", "))
            ));
        }
        if !k.policy_violations.is_empty() {
            out.push_str(&format!(
                "  policy violations: {}\n",
                Safe(&k.policy_violations.join(", "))
            ));
        }
        if let Some(e) = &k.error {
            out.push_str(&format!("  NOT ASSESSED, not read: {}\n", Safe(e)));
        }
    }
    if let Some(why) = missed {
        out.push_str(&format!("audit incomplete: {}\n", Safe(why)));
    }
    out
}

/// Writes a command's output to `path` or standard output.
pub(super) fn emit(text: &str, path: Option<&Path>) -> Result<()> {
    match path {
        Some(p) => crate::file::create(p, crate::file::Write::Truncate, false)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write to standard output"),
            }
        }
    }
}
