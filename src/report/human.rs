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
/// that is not UTF-8; inside an archive, `outer!member`. The HTML report shows paths the same way.
pub(super) fn shown_path(o: &Origin) -> String {
    let outer = match o.path_bytes.as_deref().and_then(|h| hex::decode(h).ok()) {
        Some(raw) => escape_bytes(&raw),
        None => escape(&o.path).into_owned(),
    };
    let outer = match &o.repository {
        Some(repo) => format!("[{}] {outer}", escape(repo)),
        None => outer,
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
            if loc.line == 0 {
                // Line 0: the key is in the name itself (shown redacted), not in the contents.
                write!(out, "  {PATH}{}{PATH:#} (in its name)", shown_path(&loc.origin))?;
            } else {
                write!(
                    out,
                    "  {PATH}{}{PATH:#}:{}:{}",
                    shown_path(&loc.origin),
                    loc.line,
                    loc.column
                )?;
            }
            if loc.encoding != crate::model::Encoding::Plain {
                write!(out, " ({}-encoded)", loc.encoding.as_str())?;
            }
            if let Some(note) = &loc.note {
                write!(out, " ({})", Safe(note.as_str()))?;
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
            let noun = if hidden == 1 { "location" } else { "locations" };
            writeln!(out, "  … and {hidden} more {noun}")?;
        }
        if !ctx.quiet {
            write_next_steps(out, f)?;
        }
        writeln!(out)?;
    }
    // Each allowed key on a line of its own: an allowance a change brings is seen, not only counted.
    for a in &outcome.allowed {
        write!(out, "allowed {} {}", Safe(&a.rule_name), Safe(&a.redacted))?;
        if let Some(id) = &a.key_id {
            write!(out, "  key id {}", Safe(id))?;
        }
        if let Some(l) = a.locations.first() {
            write!(
                out,
                "  at {PATH}{}{PATH:#}:{}:{}  by {}",
                shown_path(&l.location.origin),
                l.location.line,
                l.location.column,
                Safe(&l.allowed_by.describe())
            )?;
        }
        let more = a.location_count.saturating_sub(1);
        if more > 0 {
            write!(out, " (and {})", count(more, "more location", "more locations"))?;
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
        "{}{} in {}; scanned {} ({mb:.1} MB) in {:.2} s; {} skipped; {} allowed",
        count(outcome.findings.len() as u64, "key", "keys"),
        statuses(outcome),
        count(outcome.location_count(), "location", "locations"),
        count(outcome.stats.blobs_scanned, "blob", "blobs"),
        ctx.elapsed.as_secs_f64(),
        outcome.skipped.len(),
        outcome.stats.allowed,
    )
}

/// ` (1 live, 2 invalid, 0 unknown)` (and how many were not verified) when any key was verified,
/// as the HTML report counts them.
fn statuses(outcome: &Outcome) -> String {
    let (mut live, mut invalid, mut unknown, mut unverified) = (0u64, 0u64, 0u64, 0u64);
    for f in &outcome.findings {
        match f.verification.as_ref().map(|v| v.status) {
            Some(Status::Live) => live += 1,
            Some(Status::Invalid) => invalid += 1,
            Some(Status::Unknown) => unknown += 1,
            None => unverified += 1,
        }
    }
    if unverified == outcome.findings.len() as u64 {
        return String::new();
    }
    let rest = match unverified {
        0 => String::new(),
        n => format!(", {n} not verified"),
    };
    format!(" ({live} live, {invalid} invalid, {unknown} unknown{rest})")
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

/// The lines of [`write_next_steps`]: the one source of the advice, for the HTML report too. Plain
/// text with no markup, each writer adding its own (the HTML report escapes it for HTML); text from
/// outside is already shown as [`Safe`] shows it, so that a control or bidi character in a file name
/// or an API answer is visible, never acted on, in either.
pub(super) fn next_steps(f: &Finding) -> Vec<String> {
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

/// Where the key stands in git: still in HEAD's tree, still at another ref's tip, or only in
/// history; which refs reach it, unreachable objects, blobs never committed, and that rewriting
/// history is no substitute for rotation.
fn history_steps(f: &Finding, dead: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let origins: Vec<&Origin> = f.locations.iter().map(|l| &l.origin).collect();
    let in_git = origins.iter().any(|o| {
        o.commit.is_some()
            || o.in_head.is_some()
            || o.reachable.is_some()
            || !o.refs.is_empty()
            || !o.present_in.is_empty()
    });
    if !in_git {
        return lines;
    }
    let (uncommitted, committed): (Vec<&Origin>, Vec<&Origin>) =
        origins.iter().partition(|o| never_committed(o));
    let mut head_paths: Vec<String> = Vec::new();
    for o in committed.iter().filter(|o| at_head(o)) {
        let p = shown_path(o);
        if !head_paths.contains(&p) {
            head_paths.push(p);
        }
    }
    // Other refs whose tip still has it: on those it is in the code today, not only in history.
    let mut still_on: Vec<&str> = Vec::new();
    let mut still_paths: Vec<String> = Vec::new();
    for o in &committed {
        for r in other_refs(o) {
            if !still_on.contains(&r) {
                still_on.push(r);
            }
            let p = shown_path(o);
            if !still_paths.contains(&p) {
                still_paths.push(p);
            }
        }
    }
    if !head_paths.is_empty() {
        lines.push(format!(
            "still in HEAD's tree at {}: remove it in a new commit",
            first_few(&head_paths, HEAD_PATHS_SHOWN)
        ));
    }
    if !still_on.is_empty() {
        let refs: Vec<String> = still_on.iter().map(|r| Safe(r).to_string()).collect();
        let also = if head_paths.is_empty() { "" } else { "also " };
        lines.push(format!(
            "{also}still on {} (at {}): remove it there in a new commit too",
            first_few(&refs, REFS_SHOWN),
            first_few(&still_paths, HEAD_PATHS_SHOWN)
        ));
    } else if head_paths.is_empty() && committed.iter().any(|o| o.in_head == Some(false)) {
        lines.push("only in history (not in HEAD's tree nor at any ref's tip)".to_string());
    }
    let mut refs: Vec<&str> = Vec::new();
    for r in origins.iter().flat_map(|o| o.refs.iter()) {
        if !refs.contains(&r.as_str()) {
            refs.push(r);
        }
    }
    if !refs.is_empty() {
        let shown: Vec<String> = refs.iter().map(|r| Safe(r).to_string()).collect();
        lines.push(format!("reachable from: {}", first_few(&shown, REFS_SHOWN)));
    }
    if committed.iter().any(|o| o.reachable == Some(false)) {
        lines.push(
            "unreachable object (amended or rebased away): still in clones and on the server until gc"
                .to_string(),
        );
    }
    if !uncommitted.is_empty() {
        let mut staged: Vec<String> = Vec::new();
        for o in uncommitted
            .iter()
            .filter(|o| !o.path.contains("(unreachable blob "))
        {
            let p = shown_path(o);
            if !staged.contains(&p) {
                staged.push(p);
            }
        }
        let at = if staged.is_empty() {
            "staged once and unstaged (the index no longer names its path)".to_string()
        } else {
            format!(
                "staged at {} and not committed",
                first_few(&staged, HEAD_PATHS_SHOWN)
            )
        };
        lines.push(format!(
            "never committed: a blob `git add` wrote, {at}; no commit has it, so `git push` never sent it; \
             it stays in this clone's object store until gc (`git reflog expire --expire-unreachable=now --all && git gc --prune=now` removes it now)"
        ));
    }
    if !dead && !committed.is_empty() {
        lines.push(
            "purging history (git filter-repo, BFG) does not replace rotation: the key was exposed once pushed"
                .to_string(),
        );
    }
    lines
}

/// A blob in no commit's tree (staged with `git add`, then unstaged or replaced, or never
/// committed yet): the git engine gives it no commit and calls it unreachable.
pub(super) fn never_committed(o: &Origin) -> bool {
    o.blob.is_some() && o.commit.is_none() && o.reachable == Some(false)
}

/// The blob is in HEAD's tree (`in_head`), or at this very path (`present_in` names HEAD).
pub(super) fn at_head(o: &Origin) -> bool {
    o.in_head == Some(true) || o.present_in.iter().any(|r| r == "HEAD")
}

/// The analysed commit no longer has the blob at this path: HEAD lacks it, or refs other than
/// HEAD are the only ones that have it.
pub(super) fn moved(o: &Origin) -> bool {
    o.in_head == Some(false) || (!o.present_in.is_empty() && !o.present_in.iter().any(|r| r == "HEAD"))
}

/// The refs other than HEAD whose tip still has the blob at this path.
pub(super) fn other_refs(o: &Origin) -> Vec<&str> {
    o.present_in
        .iter()
        .filter(|r| *r != "HEAD")
        .map(String::as_str)
        .collect()
}

/// `a, b, c and 2 more`.
fn first_few(items: &[String], n: usize) -> String {
    let mut shown = items[..items.len().min(n)].join(", ");
    let more = items.len().saturating_sub(n);
    if more > 0 {
        shown.push_str(&format!(" and {more} more"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommitInfo, Encoding, Location, Revocation, Rotated, Stats};

    const FP: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn loc(origin: Origin) -> Location {
        Location {
            origin,
            line: 2,
            column: 5,
            encoding: Encoding::Plain,
            note: None,
        }
    }

    fn finding(locations: Vec<Location>) -> Finding {
        Finding {
            rule_id: "sendgrid-api-key".into(),
            rule_name: "SendGrid API key".into(),
            fingerprint: FP.into(),
            key_id: Some("AbCdEfGhIjKlMnOpQrStUv".into()),
            redacted: "SG.AbCd…".into(),
            confidence: Default::default(),
            key: String::new(),
            location_count: locations.len() as u64,
            locations,
            verification: None,
            revocation: None,
            rotation: None,
        }
    }

    fn verified(status: Status, privilege: Option<Privilege>, reason: &str) -> Verification {
        Verification {
            status,
            reason: reason.into(),
            http_status: Some(200),
            scopes: None,
            privilege,
            above_send_only: vec![],
            policy_violations: vec![],
            checked_at: "2026-01-01T00:00:00Z".into(),
            attempts: 1,
            cached: false,
            account: None,
        }
    }

    /// A location in git history: introduced by a commit, with what the history engine knows.
    fn in_git(path: &str, in_head: Option<bool>, reachable: Option<bool>, refs: &[&str]) -> Location {
        loc(Origin {
            commit: Some(CommitInfo {
                commit: "c0ffee".repeat(7),
                author_name: "A".into(),
                author_email: "a@example.com".into(),
                date: "2026-01-01T00:00:00Z".into(),
            }),
            in_head,
            reachable,
            refs: refs.iter().map(|r| r.to_string()).collect(),
            ..Origin::file(path)
        })
    }

    fn steps(f: &Finding) -> String {
        next_steps(f).join("\n")
    }

    #[test]
    fn live_full_access_key_gets_revoke_command_page_rotation_and_why() {
        let mut f = finding(vec![loc(Origin::file("app/.env"))]);
        f.verification = Some(verified(Status::Live, Some(Privilege::FullAccess), "ok"));
        let s = steps(&f);
        assert!(
            s.contains("`sgscan revoke --key-id AbCdEfGhIjKlMnOpQrStUv`"),
            "{s}"
        );
        assert!(
            s.contains("SGSCAN_ADMIN_KEY or --admin-key-file") && s.contains("--verify --revoke"),
            "{s}"
        );
        assert!(
            s.contains("rotate: create a replacement with only the scopes it needs"),
            "{s}"
        );
        assert!(s.contains("--revoke --rotate"), "{s}");
        assert!(s.contains(KEYS_PAGE), "{s}");
        assert!(s.contains("full access: it can create keys"), "{s}");
        // A work-tree finding says nothing about history.
        assert!(!s.contains("HEAD") && !s.contains("filter-repo"), "{s}");
        assert!(s.ends_with(&format!("`sgscan ignore {FP}`")), "{s}");

        f.verification = Some(verified(Status::Live, Some(Privilege::Elevated), "ok"));
        assert!(steps(&f).contains("elevated: beyond sending"));
        f.verification = Some(verified(Status::Live, Some(Privilege::SendOnly), "ok"));
        let s = steps(&f);
        assert!(!s.contains("elevated") && !s.contains("full access"), "{s}");
    }

    #[test]
    fn dead_unknown_and_unverified_keys() {
        let mut f = finding(vec![loc(Origin::file("a"))]);
        f.verification = Some(verified(Status::Invalid, None, "401"));
        let s = steps(&f);
        assert!(
            s.starts_with(
                "already dead: remove it from the code (and from history if you like); nothing to revoke"
            ),
            "{s}"
        );
        assert!(!s.contains("sgscan revoke"), "{s}");

        f.verification = Some(verified(Status::Unknown, None, "HTTP 403 from a proxy\x1b[2J"));
        let s = steps(&f);
        assert!(
            s.contains("could not verify: HTTP 403 from a proxy\\x1b[2J; check it on the API-keys page"),
            "{s}"
        );
        assert!(!s.contains('\x1b'), "outside text is escaped: {s:?}");

        f.verification = None;
        assert!(steps(&f).starts_with("not verified: run with --verify"));
    }

    #[test]
    fn what_this_run_did_and_what_is_left() {
        let mut f = finding(vec![loc(Origin::file("a"))]);
        f.verification = Some(verified(Status::Live, Some(Privilege::SendOnly), "ok"));
        f.revocation = Some(Revocation {
            status: RevokeStatus::Revoked,
            reason: "gone".into(),
            by: "self".into(),
            manual_step: None,
        });
        let s = steps(&f);
        assert!(
            s.starts_with("revoked in this run: remove it from the code"),
            "{s}"
        );
        assert!(!s.contains("sgscan revoke"), "nothing left to revoke: {s}");

        f.rotation = Some(Rotated {
            status: RotateStatus::Rotated,
            step: "done".into(),
            reason: "ok".into(),
            new_key_id: Some("NewNewNewNewNewNewNewNe".into()),
            new_key_redacted: Some("SG.NewN…".into()),
            manual_step: None,
        });
        let s = steps(&f);
        assert!(
            s.starts_with("rotated in this run: the replacement (key id NewNewNewNewNewNewNewNe)"),
            "{s}"
        );
        assert!(s.contains("remove the old key from the code"), "{s}");

        f.rotation = None;
        if let Some(r) = f.revocation.as_mut() {
            r.status = RevokeStatus::RevokeFailed;
        }
        let s = steps(&f);
        assert!(
            s.starts_with("revocation failed (see above): revoke it: `sgscan revoke --key-id"),
            "{s}"
        );

        if let Some(r) = f.revocation.as_mut() {
            r.status = RevokeStatus::Planned;
        }
        assert!(steps(&f).starts_with("dry run: nothing was sent"));
    }

    #[test]
    fn where_the_key_stands_in_git() {
        let mut f = finding(vec![
            in_git("config/.env", Some(true), Some(true), &["main", "v1.2"]),
            in_git(
                "old/.env",
                Some(false),
                Some(true),
                &["main", "release", "v1.0", "v0.9"],
            ),
        ]);
        f.verification = Some(verified(Status::Live, None, "ok"));
        let s = steps(&f);
        assert!(
            s.contains("still in HEAD's tree at config/.env: remove it in a new commit"),
            "{s}"
        );
        assert!(!s.contains("only in history"), "{s}");
        assert!(
            s.contains("reachable from: main, v1.2, release and 2 more"),
            "{s}"
        );
        assert!(!s.contains("unreachable"), "{s}");
        assert!(
            s.contains("purging history (git filter-repo, BFG) does not replace rotation"),
            "{s}"
        );

        let mut f = finding(vec![in_git("x\x1b.env", Some(false), Some(false), &[])]);
        f.verification = Some(verified(Status::Invalid, None, "401"));
        let s = steps(&f);
        assert!(
            s.contains("only in history (not in HEAD's tree nor at any ref's tip)"),
            "{s}"
        );
        assert!(
            s.contains(
                "unreachable object (amended or rebased away): still in clones and on the server until gc"
            ),
            "{s}"
        );
        assert!(!s.contains("reachable from"), "{s}");
        assert!(!s.contains("filter-repo"), "a dead key needs no rotation: {s}");

        // History the engine has not attributed yet: a commit but no HEAD or ref facts.
        let f = finding(vec![in_git("a.env", None, None, &[])]);
        let s = steps(&f);
        assert!(!s.contains("HEAD") && !s.contains("reachable"), "{s}");
        assert!(s.contains("filter-repo"), "{s}");

        let paths: Vec<Location> = (0..5)
            .map(|i| in_git(&format!("p{i}"), Some(true), None, &[]))
            .collect();
        let s = steps(&finding(paths));
        assert!(
            s.contains("still in HEAD's tree at p0, p1, p2 and 2 more:"),
            "{s}"
        );
    }

    fn report(outcome: &Outcome, quiet: bool) -> String {
        let mut out = Vec::new();
        let ctx = Context {
            quiet,
            ..Default::default()
        };
        write(&mut out, outcome, &ctx).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn next_block_sits_under_each_key_unless_quiet_and_counts_take_their_number() {
        let mut f = finding(vec![loc(Origin::file("a"))]);
        f.location_count = 1001;
        let mut outcome = Outcome {
            findings: vec![f],
            stats: Stats {
                blobs_scanned: 1,
                ..Default::default()
            },
            skipped: vec![],
            allowed: vec![],
            notes: vec![],
        };
        let text = report(&outcome, false);
        assert!(
            text.contains("  … and 1000 more locations\n  next:\n    not verified"),
            "{text}"
        );
        assert!(
            text.contains(&format!("    not a leak? `sgscan ignore {FP}`\n")),
            "{text}"
        );
        assert!(
            text.contains("1 key in 1001 locations; scanned 1 blob (0.0 MB)"),
            "{text}"
        );
        let quiet = report(&outcome, true);
        assert!(
            !quiet.contains("next:") && !quiet.contains("sgscan ignore"),
            "{quiet}"
        );

        outcome.findings[0].location_count = 2;
        outcome.stats.blobs_scanned = 2;
        let text = report(&outcome, false);
        assert!(text.contains("  … and 1 more location\n"), "{text}");
        assert!(text.contains("1 key in 2 locations; scanned 2 blobs"), "{text}");

        // Verified keys are counted by status, the unverified rest apart.
        let mut dead = outcome.findings[0].clone();
        dead.fingerprint = "other".into();
        dead.verification = Some(verified(Status::Invalid, None, "gone"));
        outcome.findings.push(dead);
        let text = report(&outcome, true);
        assert!(
            text.contains("2 keys (0 live, 1 invalid, 0 unknown, 1 not verified) in 4 locations"),
            "{text}"
        );
        outcome.findings[0].verification = Some(verified(Status::Live, None, "ok"));
        let text = report(&outcome, true);
        assert!(
            text.contains("2 keys (1 live, 1 invalid, 0 unknown) in 4 locations"),
            "{text}"
        );
    }
}
