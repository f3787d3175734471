//! `sgscan audit`: where the SendGrid account stands against least privilege — keys, subusers,
//! teammates, IP access, webhooks, TLS, SSO — read-only; the report is rendered in `report::audit`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::args::{AuditArgs, FormatArg};
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};
use crate::account::{self, AuditOptions, Severity};
use crate::report::audit as render;
use crate::revoke::AdminKey;
use crate::sendgrid::Api;
use crate::text::Safe;
use crate::verify::Policy;

pub fn run(args: AuditArgs) -> Result<i32> {
    let Some(admin) = AdminKey::load(args.admin_key_file.as_deref())? else {
        bail!(
            "the audit needs an admin key holding api_keys.read (and the read scopes the README lists): set SGSCAN_ADMIN_KEY or pass --admin-key-file"
        );
    };
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    let api = Api::new(args.api.options())?;
    let posture = account::audit(&AuditOptions {
        api: &api,
        admin: &admin,
        policy: policy.as_ref(),
        reports: &args.report,
        audit_log: args.audit_log.as_deref(),
    })?;
    let text = match args.output.format {
        FormatArg::Human => render::human(&posture),
        FormatArg::Json => render::json(&posture)?,
        FormatArg::Jsonl => render::jsonl(&posture)?,
        FormatArg::Sarif => render::sarif(&posture)?,
        FormatArg::Html => render::html(&posture),
    };
    emit(&text, args.output.output.as_deref())?;
    // An audit that did not read every listed key, or assessed nothing, must not pass.
    Ok(if let Some(why) = posture.keys_missed() {
        eprintln!("sgscan: error: audit incomplete: {}", Safe(&why));
        EXIT_ERROR
    } else if posture.assessed.is_empty() {
        eprintln!("sgscan: error: audit incomplete: nothing was assessed (see not_checked)");
        EXIT_ERROR
    } else if posture.worst() >= Some(Severity::High) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
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
