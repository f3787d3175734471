use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Context;
use crate::model::Origin;
use crate::model::{Finding, Outcome, Privilege, RevokeStatus, RotateStatus};
use crate::text::{Safe, count, escape, escape_bytes};
use crate::verify::{Status, Verification};

const LIVE: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default();

fn write_verification(out: &mut dyn Write, v: &Verification) -> std::io::Result<()> {
    match v.status {
        Status::Live => {
            let level = v.privilege.map_or("privilege unknown", |p| p.as_str());
            writeln!(out, "  {LIVE}LIVE{LIVE:#} ({level}): {}", Safe(&v.reason))?;
            if let Some(scopes) = &v.scopes {
                writeln!(out, "    scopes: {}", Safe(&scopes.join(", ")))?;
            }
            if let Some(account) = &v.account {
                writeln!(out, "    account: {}", Safe(account))?;
            }
            if !v.above_send_only.is_empty() {
                writeln!(
                    out,
                    "    above send-only: {}",
                    Safe(&v.above_send_only.join(", "))
                )?;
            }
            if !v.policy_violations.is_empty() {
                writeln!(
                    out,
                    "    {WARN}beyond policy: {}{WARN:#}",
                    Safe(&v.policy_violations.join(", "))
                )?;
            }
        }
        Status::Unknown => writeln!(out, "  {WARN}unknown{WARN:#}: {}", Safe(&v.reason))?,
        Status::Invalid => writeln!(out, "  invalid: {}", Safe(&v.reason))?,
    }
    Ok(())
}

/// The path for a terminal: control characters escaped, and the exact bytes (as `\xNN`) of a name
/// that is not UTF-8; inside an archive, `outer!member`.
fn shown_path(o: &Origin) -> String {
    let outer = match o.path_bytes.as_deref().and_then(|h| hex::decode(h).ok()) {
        Some(raw) => escape_bytes(&raw),
        None => escape(&o.path).into_owned(),
    };
    match &o.member {
        Some(m) => format!("{outer}!{}", escape(m)),
        None => outer,
    }
}

const KEY: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();
const PATH: Style = AnsiColor::Cyan.on_default();

/// Skipped files listed one per line before "and N more".
const SKIPS_SHOWN: usize = 10;

/// Live keys first, highest privilege first; then unknown, then invalid; unverified keep their order.
fn rank(f: &Finding) -> (u8, u8) {
    match &f.verification {
        Some(v) => match v.status {
            Status::Live => (0, v.privilege.map_or(3, |p| p as u8)),
            Status::Unknown => (1, 0),
            Status::Invalid => (2, 0),
        },
        None => (0, 0),
    }
}

pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let mut ordered: Vec<&Finding> = outcome.findings.iter().collect();
    ordered.sort_by_key(|f| rank(f));
    for f in ordered {
        write!(out, "{KEY}{} {}{KEY:#}", Safe(&f.rule_name), Safe(&f.redacted))?;
        if ctx.show_secrets {
            write!(out, " {}", f.key)?;
        }
        if let Some(id) = &f.key_id {
            write!(out, "  key id {}", Safe(id))?;
        }
        write!(out, "  confidence {}", f.confidence.as_str())?;
        writeln!(
            out,
            "  {DIM}fingerprint {}{DIM:#}",
            &f.fingerprint[..16.min(f.fingerprint.len())]
        )?;
        if let Some(v) = &f.verification {
            write_verification(out, v)?;
        }
        if let Some(r) = &f.revocation {
            writeln!(
                out,
                "  {LIVE}{}{LIVE:#} (by {}): {}",
                r.status.as_str(),
                Safe(&r.by),
                Safe(&r.reason)
            )?;
            if let Some(step) = &r.manual_step {
                writeln!(out, "    {}", Safe(step))?;
            }
        }
        if let Some(r) = &f.rotation {
            writeln!(
                out,
                "  {LIVE}rotation {}{LIVE:#} at step {}: {}",
                r.status.as_str(),
                Safe(&r.step),
                Safe(&r.reason)
            )?;
            if let Some(id) = &r.new_key_id {
                let redacted = r.new_key_redacted.as_deref().unwrap_or("");
                writeln!(out, "    new key {}  key id {}", Safe(redacted), Safe(id))?;
            }
            // The revocation's own manual step is shown above already.
            let shown = f.revocation.as_ref().and_then(|v| v.manual_step.as_ref());
            if let Some(step) = r.manual_step.as_ref().filter(|s| Some(*s) != shown) {
                writeln!(out, "    {}", Safe(step))?;
            }
        }
        for loc in &f.locations {
            write!(
                out,
                "  {PATH}{}{PATH:#}:{}:{}",
                shown_path(&loc.origin),
                loc.line,
                loc.column
            )?;
            if loc.encoding != crate::model::Encoding::Plain {
                write!(out, " ({}-encoded)", loc.encoding.as_str())?;
            }
            if let Some(c) = &loc.origin.commit {
                let short = Safe(c.commit.get(..12).unwrap_or(&c.commit));
                write!(
                    out,
                    "  {DIM}commit {short} {} <{}> {}{DIM:#}",
                    Safe(&c.author_name),
                    Safe(&c.author_email),
                    Safe(&c.date)
                )?;
            }
            writeln!(out)?;
        }
        let hidden = f.location_count.saturating_sub(f.locations.len() as u64);
        if hidden > 0 {
            writeln!(out, "  … and {} more", count(hidden, "location", "locations"))?;
        }
        if !ctx.quiet {
            write_next_steps(out, f)?;
        }
        writeln!(out)?;
    }
    for s in outcome.skipped.iter().take(SKIPS_SHOWN) {
        writeln!(out, "{DIM}skipped {}: {}{DIM:#}", Safe(&s.path), Safe(&s.reason))?;
    }
    if outcome.skipped.len() > SKIPS_SHOWN {
        writeln!(
            out,
            "{DIM}… and {} more skipped (--format json lists all){DIM:#}",
            outcome.skipped.len() - SKIPS_SHOWN
        )?;
    }
    for n in &outcome.notes {
        writeln!(out, "note: {}", Safe(n))?;
    }
    let mb = outcome.stats.bytes_scanned as f64 / 1e6;
    writeln!(
        out,
        "{} in {}; scanned {} ({mb:.1} MB) in {:.2} s; {} skipped; {} allowed",
        count(outcome.findings.len() as u64, "key", "keys"),
        count(outcome.location_count(), "location", "locations"),
        count(outcome.stats.blobs_scanned, "blob", "blobs"),
        ctx.elapsed.as_secs_f64(),
        outcome.skipped.len(),
        outcome.stats.allowed,
    )
}

const KEYS_PAGE: &str = "https://app.sendgrid.com/settings/api_keys";

/// Refs named per key: enough to tell a release tag from a stale branch.
const REFS_SHOWN: usize = 3;
/// Paths named in the "still in HEAD" line.
const HEAD_PATHS_SHOWN: usize = 3;

/// What the reader should do about one key, from what this run learnt of it: one `next:` block of
/// a few lines, the last of them the command that ignores it (with the full fingerprint, the only
/// form `.sgscanignore` takes).
fn write_next_steps(out: &mut dyn Write, f: &Finding) -> std::io::Result<()> {
    writeln!(out, "  next:")?;
    for line in next_steps(f) {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

/// The lines of [`write_next_steps`], escaped already.
fn next_steps(f: &Finding) -> Vec<String> {
    let mut lines = Vec::new();
    let id = f.key_id.as_deref().map(|i| Safe(i).to_string());
    let revoke_cmd = match &id {
        Some(id) => format!(
            "revoke it: `sgscan revoke --key-id {id}` (with an admin key in SGSCAN_ADMIN_KEY or --admin-key-file), or rerun with --verify --revoke"
        ),
        None => format!("revoke it on the API-keys page ({KEYS_PAGE}), or rerun with --verify --revoke"),
    };
    let revoked = f.revocation.as_ref().map(|r| r.status);
    let rotated = f.rotation.as_ref().map(|r| r.status);
    let status = f.verification.as_ref().map(|v| v.status);
    // Whether the key can still be used by whoever found it: only then does history matter for
    // more than tidiness.
    let mut dead = false;
    if revoked == Some(RevokeStatus::Revoked) || rotated == Some(RotateStatus::Rotated) {
        dead = true;
        match (rotated, f.rotation.as_ref().and_then(|r| r.new_key_id.as_deref())) {
            (Some(RotateStatus::Rotated), Some(new)) => lines.push(format!(
                "rotated in this run: the replacement (key id {}) is handed over and this key is revoked; remove the old key from the code",
                Safe(new)
            )),
            _ => lines.push(
                "revoked in this run: remove it from the code; whatever sent mail with it needs a new key (create one with only the scopes it needs)"
                    .to_string(),
            ),
        }
    } else if revoked == Some(RevokeStatus::Planned) || rotated == Some(RotateStatus::Planned) {
        lines.push("dry run: nothing was sent; rerun without --dry-run to do it".to_string());
    } else {
        match status {
            Some(Status::Live) => {
                match revoked {
                    Some(RevokeStatus::RevokePending) => lines.push(format!(
                        "revocation pending: SendGrid accepted it, but the key still worked when sgscan stopped checking: check the API-keys page ({KEYS_PAGE})"
                    )),
                    Some(RevokeStatus::RevokeFailed) => {
                        lines.push(format!("revocation failed (see above): {revoke_cmd}"))
                    }
                    _ => lines.push(revoke_cmd.clone()),
                }
                if rotated.is_some_and(RotateStatus::incomplete) {
                    lines.push("rotation did not finish (see above): the leaked key was not replaced".to_string());
                }
                lines.push(
                    "rotate: create a replacement with only the scopes it needs, deploy it, then revoke this one (--revoke --rotate does all three)"
                        .to_string(),
                );
                lines.push(format!("API-keys page: {KEYS_PAGE}"));
                match f.verification.as_ref().and_then(|v| v.privilege) {
                    Some(Privilege::FullAccess) => lines.push(
                        "full access: it can create keys and users, so whoever holds it may have made another key: look for keys you did not make (sgscan audit)"
                            .to_string(),
                    ),
                    Some(Privilege::Elevated) => lines.push(
                        "elevated: beyond sending, it reads or changes account data (contacts, stats, settings): treat that data as exposed"
                            .to_string(),
                    ),
                    _ => {}
                }
            }
            Some(Status::Invalid) => {
                dead = true;
                lines.push(
                    "already dead: remove it from the code (and from history if you like); nothing to revoke"
                        .to_string(),
                );
            }
            Some(Status::Unknown) => {
                let reason = f.verification.as_ref().map_or("", |v| v.reason.as_str());
                lines.push(format!(
                    "could not verify: {}; check it on the API-keys page ({KEYS_PAGE}), or rerun with --verify later",
                    Safe(reason)
                ));
            }
            None => lines.push(format!(
                "not verified: run with --verify to learn whether it is live; until then treat it as live ({KEYS_PAGE})"
            )),
        }
    }
    lines.extend(history_steps(f, dead));
    lines.push(format!("not a leak? `sgscan ignore {}`", Safe(&f.fingerprint)));
    lines
}

/// Where the key stands in git: still in HEAD's tree or only in history, which refs reach it,
/// unreachable objects, and that rewriting history is no substitute for rotation.
fn history_steps(f: &Finding, dead: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let origins: Vec<&Origin> = f.locations.iter().map(|l| &l.origin).collect();
    let in_git = origins
        .iter()
        .any(|o| o.commit.is_some() || o.in_head.is_some() || o.reachable.is_some() || !o.refs.is_empty());
    if !in_git {
        return lines;
    }
    let mut head_paths: Vec<String> = Vec::new();
    for o in origins.iter().filter(|o| o.in_head == Some(true)) {
        let p = shown_path(o);
        if !head_paths.contains(&p) {
            head_paths.push(p);
        }
    }
    if !head_paths.is_empty() {
        let more = head_paths.len().saturating_sub(HEAD_PATHS_SHOWN);
        let mut shown = head_paths[..head_paths.len().min(HEAD_PATHS_SHOWN)].join(", ");
        if more > 0 {
            shown.push_str(&format!(" and {more} more"));
        }
        lines.push(format!(
            "still in HEAD's tree at {shown}: remove it in a new commit"
        ));
    } else if origins.iter().any(|o| o.in_head == Some(false)) {
        lines.push("only in history (not in HEAD's tree)".to_string());
    }
    let mut refs: Vec<&str> = Vec::new();
    for r in origins.iter().flat_map(|o| o.refs.iter()) {
        if !refs.contains(&r.as_str()) {
            refs.push(r);
        }
    }
    if !refs.is_empty() {
        let shown: Vec<String> = refs
            .iter()
            .take(REFS_SHOWN)
            .map(|r| Safe(r).to_string())
            .collect();
        let more = refs.len().saturating_sub(REFS_SHOWN);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        lines.push(format!("reachable from: {}{tail}", shown.join(", ")));
    }
    if origins.iter().any(|o| o.reachable == Some(false)) {
        lines.push(
            "unreachable object (amended or rebased away): still in clones and on the server until gc"
                .to_string(),
        );
    }
    if !dead {
        lines.push(
            "purging history (git filter-repo, BFG) does not replace rotation: the key was exposed once pushed"
                .to_string(),
        );
    }
    lines
}
