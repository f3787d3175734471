//! `sgscan rotate --key-id`: the replacement is created and handed over before the old key is revoked.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use super::args::{FormatArg, RotateArgs};
use super::revoke::TerminalConfirm;
use super::{EXIT_CLEAN, EXIT_ERROR};
use crate::report::schema::Tool;
use crate::revoke::AdminKey;
use crate::rotate::{self, Handover, RotateOptions, RotateStatus, Rotation, ScopeChoice};
use crate::sendgrid::Api;
use crate::text::Safe;
use crate::verify::Policy;

pub fn run(args: RotateArgs) -> Result<i32> {
    let handover = match (&args.new_key_file, &args.new_key_command) {
        (Some(f), _) => Handover::File(f.clone()),
        (None, Some(cmd)) => Handover::Command {
            cmd: cmd.clone(),
            timeout: Duration::from_secs(args.new_key_command_timeout.max(1)),
        },
        (None, None) => bail!("say where the new key goes: --new-key-file FILE or --new-key-command CMD"),
    };
    if matches!(args.output.format, FormatArg::Sarif | FormatArg::Html) {
        bail!("sgscan rotate writes human, json or jsonl");
    }
    // Everything that can be refused without the network is refused before the first request.
    let ids = rotate::preflight(&args.key_id, &handover)?;
    let Some(admin) = AdminKey::load(args.admin_key_file.as_deref())? else {
        bail!(
            "rotating needs an admin key holding api_keys.read, api_keys.create and api_keys.delete: set SGSCAN_ADMIN_KEY or pass --admin-key-file"
        );
    };
    let scopes = match (&args.policy, args.scopes.is_empty()) {
        (Some(p), _) => ScopeChoice::Policy(Policy::load(p)?),
        (None, false) => ScopeChoice::Explicit(args.scopes.iter().map(|s| s.trim().to_string()).collect()),
        (None, true) => ScopeChoice::Same,
    };
    let api = Api::new(args.api.options())?;
    let confirm = TerminalConfirm { yes: args.yes };
    let opts = RotateOptions {
        api: &api,
        admin: &admin,
        confirm: &confirm,
        dry_run: args.dry_run,
        wait: Duration::from_secs(args.revoke_wait),
        audit: &args.audit_log,
        scopes,
        handover,
    };
    let results = rotate::rotate_all(&ids, &opts)?;
    let text = match args.output.format {
        FormatArg::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "tool": Tool::this(), "rotations": results }))?
        ),
        FormatArg::Jsonl => results
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), "rotation".into());
                }
                format!("{v}\n")
            })
            .collect(),
        _ => human(&results),
    };
    super::audit::emit(&text, args.output.output.as_deref())?;
    let done = results
        .iter()
        .all(|r| matches!(r.status, RotateStatus::Rotated | RotateStatus::Planned));
    Ok(if done { EXIT_CLEAN } else { EXIT_ERROR })
}

fn human(results: &[Rotation]) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&format!(
            "{}: {} at step {} ({})\n",
            Safe(&r.old_key_id),
            r.status.as_str(),
            r.step,
            Safe(&r.reason)
        ));
        if let (Some(id), Some(name)) = (&r.new_key_id, &r.new_name) {
            out.push_str(&format!(
                "  new key id {} '{}' {}  scopes: {}\n",
                Safe(id),
                Safe(name),
                Safe(r.new_key_redacted.as_deref().unwrap_or("")),
                Safe(&r.new_scopes.join(", "))
            ));
        }
        if let Some(step) = &r.manual_step {
            out.push_str(&format!("  {}\n", Safe(step)));
        }
    }
    out
}
