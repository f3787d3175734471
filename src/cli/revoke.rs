//! `sgscan revoke --key-id`, and the terminal prompt every revocation goes through.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::args::RevokeIdArgs;
use super::{EXIT_CLEAN, EXIT_ERROR};
use crate::revoke::{self, AdminKey, Confirm, Planned, RevokeOptions, RevokeStatus};
use crate::sendgrid::Api;
use crate::text::{Safe, count};

/// Shows the plan on stderr and asks on the terminal, unless `--yes` answered already.
pub struct TerminalConfirm {
    pub yes: bool,
}

impl Confirm for TerminalConfirm {
    fn show(&self, plan: &[Planned], dry_run: bool) {
        match plan {
            [one] if one.found_at.is_empty() => eprintln!(
                "sgscan: key id {} will be revoked with {}",
                Safe(&one.key_id),
                Safe(&one.by)
            ),
            _ => {
                eprintln!(
                    "sgscan: {} to revoke:",
                    count(plan.len() as u64, "live key", "live keys")
                );
                for p in plan {
                    let scopes = if p.scopes.is_empty() { "unknown" } else { &p.scopes };
                    eprintln!(
                        "  {}  key id {}  found at {}  scopes: {}",
                        Safe(&p.redacted),
                        Safe(if p.key_id.is_empty() { "?" } else { &p.key_id }),
                        Safe(&p.found_at),
                        Safe(scopes)
                    );
                }
            }
        }
        if dry_run {
            eprintln!("sgscan: --dry-run: nothing was sent");
        }
    }

    fn confirm(&self, question: &str) -> Result<bool> {
        if self.yes {
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
}

pub fn run(args: RevokeIdArgs) -> Result<i32> {
    let api = Api::new(args.api.options())?;
    let admin = AdminKey::load(args.admin_key_file.as_deref())?;
    let confirm = TerminalConfirm { yes: args.yes };
    let opts = RevokeOptions {
        api: &api,
        admin: admin.as_ref(),
        confirm: &confirm,
        dry_run: args.dry_run,
        wait: Duration::from_secs(args.revoke_wait),
        audit: &args.audit_log,
    };
    let (result, audit_error) = revoke::revoke_by_id(&args.key_id, &opts)?;
    println!(
        "{}: {} ({})",
        Safe(&args.key_id),
        result.status.as_str(),
        Safe(&result.reason)
    );
    if let Some(step) = &result.manual_step {
        println!("  {}", Safe(step));
    }
    if let Some(why) = audit_error {
        eprintln!("sgscan: error: audit log unwritable: {}", Safe(&why));
        return Ok(EXIT_ERROR);
    }
    Ok(match result.status {
        RevokeStatus::RevokeFailed => EXIT_ERROR,
        _ => EXIT_CLEAN,
    })
}
