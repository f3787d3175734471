use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Context;
use crate::model::Origin;
use crate::model::{Finding, Outcome};
use crate::text::{Safe, escape, escape_bytes};
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
            writeln!(out, "  … and {hidden} more locations")?;
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
    let keys = outcome.findings.len();
    let mb = outcome.stats.bytes_scanned as f64 / 1e6;
    writeln!(
        out,
        "{} {} in {} {}; scanned {} blobs ({mb:.1} MB) in {:.2} s; {} skipped; {} allowed",
        keys,
        if keys == 1 { "key" } else { "keys" },
        outcome.location_count(),
        if outcome.location_count() == 1 {
            "location"
        } else {
            "locations"
        },
        outcome.stats.blobs_scanned,
        ctx.elapsed.as_secs_f64(),
        outcome.skipped.len(),
        outcome.stats.allowed,
    )
}
