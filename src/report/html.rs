//! `--format html`: one self-contained page for the person who acts on a sweep, not the one who ran
//! it. It opens from disk, offline, under `default-src 'none'; style-src 'unsafe-inline'`: no script,
//! no fetched asset, inline CSS, an SVG drawn here. Keys are always redacted (the page is made to be
//! passed around), and every string from the scan is escaped for HTML.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;

use super::Context;
use super::human::{at_head, never_committed, next_steps, shown_path};
use crate::model::{
    CommitInfo, Finding, Location, Outcome, Privilege, Repository, RevokeStatus, RotateStatus, Target,
};
use crate::text::{count, escape};
use crate::verify::Status;

/// Also in a `<meta>`, so the page holds itself to it wherever it is opened from. Written into a
/// double-quoted attribute as it is: it holds no `"`, `&` or `<`.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// Skipped files listed before "and N more": the page stays readable after a sweep of thousands.
const SKIPS_SHOWN: usize = 200;

/// `s` for HTML text or a quoted attribute value.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text from outside (file names, git metadata, API answers): control and bidi characters shown
/// as the terminal report shows them (HTML has no safe rendering of most of them, and a bidi
/// override would make a path read as another), then escaped for HTML.
fn esc(s: &str) -> String {
    escape_html(&escape(s))
}

/// Seconds since the epoch of an RFC 3339 time (`2023-11-14T22:13:20+00:00`, `…Z`, fractions
/// ignored); `None` for anything else, so a malformed date in a merged report is only left out.
pub fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| num_in(s, r);
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (num_in(rest, 1..3)? * 3600 + num_in(rest, 4..6)? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm): no calendar crate for one subtraction.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// The digits of `s[r]` as a number; `None` unless all of it is ASCII digits.
fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let t = s.get(r)?;
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// The calendar day of an RFC 3339 time, as written (the committer's own day, not UTC's).
fn day(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

/// Live keys first, most privileged first (privilege unknown after send-only); then unknown, not
/// verified, invalid. The sort is stable and the outcome comes ordered by first location, so ties
/// keep that order.
fn rank(f: &Finding) -> (u8, u8) {
    match &f.verification {
        Some(v) => match v.status {
            Status::Live => (0, v.privilege.map_or(3, |p| p as u8)),
            Status::Unknown => (1, 0),
            Status::Invalid => (3, 0),
        },
        None => (2, 0),
    }
}

/// What the page shows of one key besides the finding itself.
struct Row<'a> {
    f: &'a Finding,
    /// The oldest commit among the kept locations, and its time.
    first: Option<(&'a CommitInfo, Option<i64>)>,
    /// The newest commit date among the kept locations.
    last: Option<(&'a str, i64)>,
    in_head: bool,
    /// Refs other than HEAD whose tip still has the key where a location says.
    still_on: Vec<&'a str>,
    only_history: bool,
    unreachable: bool,
    never_committed: bool,
}

impl<'a> Row<'a> {
    fn of(f: &'a Finding) -> Row<'a> {
        let commits: Vec<(&CommitInfo, Option<i64>)> = f
            .locations
            .iter()
            .filter_map(|l| l.origin.commit.as_ref())
            .map(|c| (c, unix_seconds(&c.date)))
            .collect();
        // Dated commits order by time; an undated one is taken only when none is dated.
        let first = commits
            .iter()
            .filter(|(_, t)| t.is_some())
            .min_by_key(|(_, t)| *t)
            .or_else(|| commits.first())
            .copied();
        let last = commits
            .iter()
            .filter_map(|(c, t)| t.map(|t| (c.date.as_str(), t)))
            .max_by_key(|(_, t)| *t);
        let origins = || f.locations.iter().map(|l| &l.origin);
        let committed = || origins().filter(|o| !never_committed(o));
        let in_head = committed().any(at_head);
        let mut still_on: Vec<&str> = Vec::new();
        for r in committed().flat_map(|o| o.present_in.iter()) {
            if r != "HEAD" && !still_on.contains(&r.as_str()) {
                still_on.push(r);
            }
        }
        Row {
            f,
            first,
            last,
            in_head,
            only_history: !in_head && still_on.is_empty() && committed().any(|o| o.in_head == Some(false)),
            still_on,
            unreachable: committed().any(|o| o.reachable == Some(false)),
            never_committed: origins().any(never_committed),
        }
    }

    /// "still on REF" (and how many more), for the table and the timeline.
    fn still_on_label(&self) -> Option<String> {
        let first = self.still_on.first()?;
        Some(match self.still_on.len() {
            1 => format!("still on {first}"),
            n => format!("still on {first} and {} more", n - 1),
        })
    }

    /// "still in HEAD" / "still on REF" / "only in history" / "unreachable" / "never committed", as
    /// far as the git engine knows; HTML-escaped.
    fn git_labels(&self) -> Vec<String> {
        let mut labels = Vec::new();
        if self.in_head {
            labels.push("still in HEAD".to_string());
        }
        if let Some(l) = self.still_on_label() {
            labels.push(esc(&l));
        } else if self.only_history {
            labels.push("only in history".to_string());
        }
        if self.unreachable {
            labels.push("unreachable".to_string());
        }
        if self.never_committed {
            labels.push("never committed".to_string());
        }
        labels
    }
}

/// The figures of the summary line.
#[derive(Default)]
struct Figures<'a> {
    live: u64,
    invalid: u64,
    unknown: u64,
    unverified: u64,
    full_access: u64,
    elevated: u64,
    send_only: u64,
    revoked: u64,
    rotated: u64,
    repositories: BTreeSet<&'a str>,
    refs: BTreeSet<&'a str>,
}

impl<'a> Figures<'a> {
    fn of(outcome: &'a Outcome) -> Figures<'a> {
        let mut n = Figures::default();
        for f in &outcome.findings {
            match &f.verification {
                Some(v) => {
                    match v.status {
                        Status::Live => n.live += 1,
                        Status::Invalid => n.invalid += 1,
                        Status::Unknown => n.unknown += 1,
                    }
                    match v.privilege {
                        Some(Privilege::FullAccess) => n.full_access += 1,
                        Some(Privilege::Elevated) => n.elevated += 1,
                        Some(Privilege::SendOnly) => n.send_only += 1,
                        None => {}
                    }
                }
                None => n.unverified += 1,
            }
            if f.revocation.as_ref().map(|r| r.status) == Some(RevokeStatus::Revoked) {
                n.revoked += 1;
            }
            if f.rotation.as_ref().map(|r| r.status) == Some(RotateStatus::Rotated) {
                n.rotated += 1;
            }
            for l in &f.locations {
                if let Some(r) = &l.origin.repository {
                    n.repositories.insert(r);
                }
                n.refs.extend(l.origin.refs.iter().map(String::as_str));
            }
        }
        n
    }
}

/// `<span class="fig"><b data-figure="NAME">N</b> noun</span>`: the number in an element of its
/// own, so it can be read back without parsing prose.
fn figure(page: &mut String, name: &str, n: u64, one: &str, many: &str) {
    let noun = if n == 1 { one } else { many };
    let _ = write!(
        page,
        "<span class=\"fig\"><b data-figure=\"{name}\" data-value=\"{n}\">{}</b> {noun}</span> ",
        indicatif::HumanCount(n)
    );
}

pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let generated = crate::verify::now_rfc3339();
    out.write_all(render(outcome, ctx, &generated).as_bytes())
}

/// The page, as of `generated` (RFC 3339: the time of the run, and the end of "still present").
fn render(outcome: &Outcome, ctx: &Context, generated: &str) -> String {
    let mut rows: Vec<Row> = outcome.findings.iter().map(Row::of).collect();
    rows.sort_by_key(|r| rank(r.f));
    let mut page = String::with_capacity(8192 + 2048 * rows.len());
    // Merged reports of one kind of scan (shards) are that scan.
    let mode = ctx.target.as_ref().map_or(ctx.mode, |t| t.mode.as_str());
    let mut title = match mode {
        "" => "sgscan report".to_string(),
        "merge" => "sgscan report: merged reports".to_string(),
        mode => format!("sgscan report: {mode} scan"),
    };
    if let Some([one]) = ctx.target.as_ref().map(|t| t.repositories.as_slice()) {
        let name = one.path.rsplit(['/', '\\']).find(|s| !s.is_empty());
        if let Some(name) = name {
            let _ = write!(title, " of {name}");
        }
    }
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape_html(&title)
    );
    let _ = write!(
        page,
        "<header><h1>{}</h1><p class=\"meta\">sgscan {} · generated <time datetime=\"{g}\">{g}</time></p>",
        esc(&title),
        escape_html(env!("CARGO_PKG_VERSION")),
        g = esc(generated)
    );
    if let Some(t) = &ctx.target {
        target(&mut page, t);
    }
    page.push_str("</header>\n");
    if let Some(e) = &ctx.error {
        let _ = writeln!(
            page,
            "<p class=\"error\" role=\"alert\">The scan failed: {}. What is below is incomplete.</p>",
            esc(e)
        );
    }
    summary(&mut page, outcome, ctx, generated);
    table(&mut page, &rows);
    timeline(&mut page, &rows, generated);
    notes(&mut page, outcome);
    page.push_str("</body>\n</html>\n");
    page
}

/// Repositories named in the header before the rest go under "and N more".
const REPOSITORIES_SHOWN: usize = 20;

/// What was scanned, in the header: the mode, the roots, and each repository with its remote,
/// branch, HEAD commit and range.
fn target(page: &mut String, t: &Target) {
    let _ = write!(
        page,
        "<dl id=\"target\"><dt>mode</dt><dd data-target=\"mode\">{}</dd>",
        esc(&t.mode)
    );
    if !t.roots.is_empty() {
        let roots: Vec<String> = t
            .roots
            .iter()
            .map(|r| format!("<code class=\"path\">{}</code>", esc(r)))
            .collect();
        let _ = write!(
            page,
            "<dt>scanned</dt><dd data-target=\"roots\">{}</dd>",
            roots.join(", ")
        );
    }
    let (shown, rest) = t
        .repositories
        .split_at(t.repositories.len().min(REPOSITORIES_SHOWN));
    for r in shown {
        repository(page, r);
    }
    if !rest.is_empty() {
        let _ = write!(
            page,
            "<dt>and</dt><dd><details><summary>{}</summary><dl>",
            count(rest.len() as u64, "more repository", "more repositories")
        );
        for r in rest {
            repository(page, r);
        }
        page.push_str("</dl></details></dd>");
    }
    page.push_str("</dl>");
}

fn repository(page: &mut String, r: &Repository) {
    let _ = write!(
        page,
        "<dt>repository</dt><dd class=\"repository\" data-head=\"{}\"><code class=\"path\">{}</code>",
        esc(r.head.as_deref().unwrap_or("")),
        esc(&r.path)
    );
    if let Some(u) = &r.remote_url {
        let _ = write!(page, " · remote <code class=\"path\">{}</code>", esc(u));
    }
    match &r.branch {
        Some(b) => {
            let _ = write!(page, " · branch <code>{}</code>", esc(b));
        }
        None => page.push_str(" · detached HEAD"),
    }
    if let Some(h) = &r.head {
        let _ = write!(
            page,
            " · commit <code title=\"{h}\">{}</code>",
            esc(h.get(..12).unwrap_or(h)),
            h = esc(h)
        );
    }
    for range in &r.ranges {
        let _ = write!(page, " · range <code class=\"path\">{}</code>", esc(range));
    }
    page.push_str("</dd>");
}

fn summary(page: &mut String, outcome: &Outcome, ctx: &Context, generated: &str) {
    let n = Figures::of(outcome);
    let s = &outcome.stats;
    page.push_str("<section id=\"summary\">\n<p class=\"figures\">");
    figure(page, "keys", outcome.findings.len() as u64, "key", "keys");
    page.push_str("in ");
    figure(
        page,
        "locations",
        outcome.location_count(),
        "location",
        "locations",
    );
    page.push_str("</p>\n<p class=\"figures\">");
    figure(page, "live", n.live, "live", "live");
    figure(page, "invalid", n.invalid, "invalid", "invalid");
    figure(page, "unknown", n.unknown, "unknown", "unknown");
    figure(page, "unverified", n.unverified, "not verified", "not verified");
    page.push_str("· ");
    figure(page, "full-access", n.full_access, "full-access", "full-access");
    figure(page, "elevated", n.elevated, "elevated", "elevated");
    figure(page, "send-only", n.send_only, "send-only", "send-only");
    page.push_str("· ");
    figure(page, "revoked", n.revoked, "revoked", "revoked");
    figure(
        page,
        "rotated",
        n.rotated,
        "rotated in this run",
        "rotated in this run",
    );
    page.push_str("</p>\n<p class=\"figures scanned\">scanned ");
    if !n.repositories.is_empty() {
        figure(
            page,
            "repositories",
            n.repositories.len() as u64,
            "repository",
            "repositories",
        );
    }
    if !n.refs.is_empty() {
        // Refs are known only through the keys' locations: the ones that reach a key.
        figure(
            page,
            "refs",
            n.refs.len() as u64,
            "ref reaching a key",
            "refs reaching a key",
        );
    }
    if s.commits_scanned > 0 {
        figure(page, "commits", s.commits_scanned, "commit", "commits");
    }
    figure(page, "blobs", s.blobs_scanned, "blob", "blobs");
    figure(page, "bytes", s.bytes_scanned, "byte", "bytes");
    let _ = write!(
        page,
        "({:.1} MB) in {:.2} s, at <time datetime=\"{g}\">{g}</time>; ",
        s.bytes_scanned as f64 / 1e6,
        ctx.elapsed.as_secs_f64(),
        g = esc(generated)
    );
    figure(
        page,
        "skipped",
        outcome.skipped.len() as u64,
        "skipped",
        "skipped",
    );
    figure(page, "allowed", s.allowed, "allowed", "allowed");
    page.push_str("</p>\n");
    if !n.repositories.is_empty() {
        page.push_str("<details><summary>repositories</summary><ul>");
        for r in &n.repositories {
            let _ = write!(page, "<li><code>{}</code></li>", esc(r));
        }
        page.push_str("</ul></details>\n");
    }
    page.push_str("</section>\n");
}

fn status_cell(f: &Finding) -> (String, &'static str) {
    let mut cell = String::new();
    let class = match &f.verification {
        Some(v) => {
            let (label, class) = match v.status {
                Status::Live => ("live", "live"),
                Status::Invalid => ("invalid", "invalid"),
                Status::Unknown => ("unknown", "unknown"),
            };
            let _ = write!(cell, "<span class=\"badge {class}\">{label}</span>");
            match v.status {
                // SendGrid's one sentence for every dead key, on every row: said short, whole on hover.
                Status::Invalid => {
                    let http = v.http_status.map(|c| format!(" (HTTP {c})")).unwrap_or_default();
                    let _ = write!(
                        cell,
                        "<div class=\"why\" title=\"{}\">does not authenticate{http}</div>",
                        esc(&v.reason)
                    );
                }
                _ => {
                    let _ = write!(cell, "<div class=\"why\">{}</div>", esc(&v.reason));
                }
            }
            if let Some(a) = &v.account {
                let _ = write!(
                    cell,
                    "<div class=\"account\">account <code data-account>{}</code></div>",
                    esc(a)
                );
            }
            class
        }
        None => {
            cell.push_str("<span class=\"badge unverified\">not verified</span>");
            "unverified"
        }
    };
    if let Some(r) = &f.revocation {
        let _ = write!(
            cell,
            "<div class=\"action\">{} (by {}): {}</div>",
            escape_html(r.status.as_str()),
            esc(&r.by),
            esc(&r.reason)
        );
        if let Some(step) = &r.manual_step {
            let _ = write!(cell, "<div class=\"why\">{}</div>", esc(step));
        }
    }
    if let Some(r) = &f.rotation {
        let _ = write!(
            cell,
            "<div class=\"action\">rotation {} at step {}: {}</div>",
            escape_html(r.status.as_str()),
            esc(&r.step),
            esc(&r.reason)
        );
        if let Some(id) = &r.new_key_id {
            // The replacement by id and redacted form only, as every report shows it.
            let _ = write!(
                cell,
                "<div class=\"why\">new key <code>{}</code> key id <code>{}</code></div>",
                esc(r.new_key_redacted.as_deref().unwrap_or("")),
                esc(id)
            );
        }
        let shown = f.revocation.as_ref().and_then(|v| v.manual_step.as_ref());
        if let Some(step) = r.manual_step.as_ref().filter(|s| Some(*s) != shown) {
            let _ = write!(cell, "<div class=\"why\">{}</div>", esc(step));
        }
    }
    (cell, class)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"none\">—</span>".to_string();
    }
    // Scope names break after a dot, never inside a word.
    let shown: Vec<String> = items
        .iter()
        .map(|s| format!("<code>{}</code>", esc(s).replace('.', ".<wbr>")))
        .collect();
    shown.join(", ")
}

fn location_item(page: &mut String, l: &Location) {
    if l.line == 0 {
        // Line 0: the key is in the name itself (shown redacted).
        let _ = write!(
            page,
            "<li><code>{}</code> (in its name)",
            esc(&shown_path(&l.origin))
        );
    } else {
        let _ = write!(
            page,
            "<li><code>{}</code>:{}:{}",
            esc(&shown_path(&l.origin)),
            l.line,
            l.column
        );
    }
    if l.encoding != crate::model::Encoding::Plain {
        let _ = write!(page, " ({}-encoded)", escape_html(l.encoding.as_str()));
    }
    if let Some(r) = &l.origin.repository {
        let _ = write!(page, " in <code>{}</code>", esc(r));
    }
    if let Some(c) = &l.origin.commit {
        let _ = write!(
            page,
            " <span class=\"commit\">commit <code>{}</code> {} &lt;{}&gt; {}</span>",
            esc(c.commit.get(..12).unwrap_or(&c.commit)),
            esc(&c.author_name),
            esc(&c.author_email),
            esc(&c.date)
        );
    }
    let mut tags = Vec::new();
    let on_refs = l.origin.present_in.iter().any(|r| r != "HEAD");
    if never_committed(&l.origin) {
        tags.push("never committed");
    } else if at_head(&l.origin) {
        tags.push("in HEAD");
    } else if l.origin.in_head == Some(false) && !on_refs {
        tags.push("history only");
    }
    if l.origin.reachable == Some(false) && !never_committed(&l.origin) {
        tags.push("unreachable");
    }
    for t in tags {
        let _ = write!(page, " <span class=\"tag\">{t}</span>");
    }
    let still: Vec<String> = l
        .origin
        .present_in
        .iter()
        .filter(|r| *r != "HEAD")
        .map(|r| esc(r))
        .collect();
    if !still.is_empty() {
        let _ = write!(page, " <span class=\"tag\">still on {}</span>", still.join(", "));
    }
    if !l.origin.refs.is_empty() {
        let refs: Vec<String> = l.origin.refs.iter().map(|r| esc(r)).collect();
        let _ = write!(page, " <span class=\"refs\">from {}</span>", refs.join(", "));
    }
    page.push_str("</li>");
}

fn table(page: &mut String, rows: &[Row]) {
    page.push_str("<section>\n<h2>Keys</h2>\n");
    if rows.is_empty() {
        page.push_str("<p class=\"clean\">No keys found.</p>\n</section>\n");
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table id=\"keys\">\n<thead><tr><th>key</th><th>status</th>\
         <th>privilege</th><th>first commit</th><th>in git</th><th>locations</th><th>next step</th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        let f = r.f;
        let (status, class) = status_cell(f);
        let v = f.verification.as_ref();
        let _ = write!(
            page,
            "<tr class=\"{class}\" data-status=\"{class}\" data-fingerprint=\"{}\" data-key-id=\"{}\">",
            esc(&f.fingerprint),
            esc(f.key_id.as_deref().unwrap_or(""))
        );
        let _ = write!(
            page,
            "<td class=\"key\"><code title=\"{}\">{}</code><div class=\"id\"><code>{}</code></div>\
             <div class=\"why\">confidence {}</div></td>",
            esc(&f.rule_name),
            esc(&f.redacted),
            esc(f.key_id.as_deref().unwrap_or("—")),
            f.confidence.as_str()
        );
        let _ = write!(page, "<td class=\"status\">{status}</td>");
        let privilege = v.and_then(|v| v.privilege).map_or("—", |p| p.as_str());
        let _ = write!(
            page,
            "<td class=\"privilege\"><div class=\"level\">{privilege}</div>"
        );
        if let Some(v) = v.filter(|v| !v.above_send_only.is_empty()) {
            let _ = write!(
                page,
                "<div class=\"why\">above send-only:</div><div class=\"above\">{}</div>",
                list(&v.above_send_only)
            );
        }
        if let Some(v) = v.filter(|v| !v.policy_violations.is_empty()) {
            let _ = write!(
                page,
                "<div class=\"why\">beyond policy:</div><div class=\"policy\">{}</div>",
                list(&v.policy_violations)
            );
        }
        page.push_str("</td>");
        match r.first {
            Some((c, _)) => {
                let _ = write!(
                    page,
                    "<td class=\"first\"><code>{}</code><div>{}</div><div class=\"why\">{}</div></td>",
                    esc(c.commit.get(..12).unwrap_or(&c.commit)),
                    esc(day(&c.date)),
                    esc(&c.author_name)
                );
            }
            None => page.push_str("<td class=\"first\"><span class=\"none\">—</span></td>"),
        }
        let labels = r.git_labels();
        let git = if labels.is_empty() {
            "<span class=\"none\">—</span>".to_string()
        } else {
            labels.join(", ")
        };
        let _ = write!(page, "<td class=\"git\">{git}</td>");
        // The first few open, so that a printout names the files; the rest one click away.
        let (open, folded) = f.locations.split_at(f.locations.len().min(LOCATIONS_OPEN));
        let total = f.location_count.max(f.locations.len() as u64);
        page.push_str("<td class=\"locations\"><ul class=\"open\">");
        for l in open {
            location_item(page, l);
        }
        page.push_str("</ul>");
        let hidden = total.saturating_sub(f.locations.len() as u64);
        if !folded.is_empty() {
            let _ = write!(
                page,
                "<details><summary>{}</summary><ul>",
                count(total - open.len() as u64, "more location", "more locations")
            );
            for l in folded {
                location_item(page, l);
            }
            if hidden > 0 {
                let _ = write!(
                    page,
                    "<li>… and {} not kept (--format json has the count)</li>",
                    count(hidden, "more", "more")
                );
            }
            page.push_str("</ul></details>");
        } else if hidden > 0 {
            let _ = write!(
                page,
                "<p class=\"why\">… and {}</p>",
                count(hidden, "more location", "more locations")
            );
        }
        page.push_str("</td>");
        let steps = next_steps(f);
        page.push_str("<td class=\"next\">");
        if let Some((head, rest)) = steps.split_first() {
            let _ = write!(page, "<p>{}</p>", code_spans(&esc(head)));
            if !rest.is_empty() {
                page.push_str("<details><summary>more</summary><ul>");
                for s in rest {
                    let _ = write!(page, "<li>{}</li>", code_spans(&esc(s)));
                }
                page.push_str("</ul></details>");
            }
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</tbody>\n</table></div>\n</section>\n");
}

/// Locations of a key shown open in the table; the rest fold under "N more locations".
const LOCATIONS_OPEN: usize = 3;

/// Markdown's inline code in text already escaped for HTML: each pair of backticks becomes
/// `<code>`; an unpaired one stays as it is. Escaping first means nothing inside can be markup.
fn code_spans(escaped: &str) -> String {
    let parts: Vec<&str> = escaped.split('`').collect();
    let pairs = (parts.len() - 1) / 2;
    let mut out = String::with_capacity(escaped.len() + 16 * pairs);
    for (i, part) in parts.iter().enumerate() {
        match (i % 2 == 1, i <= 2 * pairs) {
            (true, true) => {
                let _ = write!(out, "<code>{part}</code>");
            }
            (true, false) => {
                out.push('`');
                out.push_str(part);
            }
            (false, _) => out.push_str(part),
        }
    }
    out
}

/// Geometry of the timeline, in SVG user units.
const WIDTH: i64 = 1100;
const BAR_X0: i64 = 210;
const BAR_X1: i64 = 760;
const ROW_H: i64 = 24;
const TOP: i64 = 8;

/// One row per key, from the oldest commit holding it to "still present" (the run's time) when a
/// location is still in HEAD, else to the newest commit holding it: sgscan does not record the
/// commit that removed a key, only that it is gone after the last one that had it.
fn timeline(page: &mut String, rows: &[Row], generated: &str) {
    if !rows.iter().any(|r| r.first.is_some()) {
        return;
    }
    let now = unix_seconds(generated);
    struct Span {
        start: i64,
        end: i64,
        label: String,
        present: bool,
    }
    let spans: Vec<Option<Span>> = rows
        .iter()
        .map(|r| {
            let start = r.first.and_then(|(_, t)| t)?;
            let present = r.in_head || !r.still_on.is_empty();
            let (end, label, present) = match (present, now) {
                (true, Some(now)) => {
                    let label = match r.still_on_label() {
                        Some(l) if !r.in_head => l,
                        _ => "still present".to_string(),
                    };
                    (now.max(start), label, true)
                }
                _ => {
                    let (date, t) = r.last?;
                    (t, format!("removed after {}", day(date)), false)
                }
            };
            Some(Span {
                start,
                end,
                label,
                present,
            })
        })
        .collect();
    let lo = spans.iter().flatten().map(|s| s.start).min();
    let hi = spans.iter().flatten().map(|s| s.end).max();
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return;
    };
    let range = (hi - lo).max(1);
    let x = |t: i64| BAR_X0 + ((t - lo) as i128 * (BAR_X1 - BAR_X0) as i128 / range as i128) as i64;
    let height = TOP + ROW_H * rows.len() as i64 + 28;
    let _ = write!(
        page,
        "<section>\n<h2>Exposure timeline</h2>\n<p class=\"why\">From the commit that introduced each key \
         to the last commit that still held it; sgscan does not record the removing commit itself.</p>\n\
         <svg id=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"exposure window of each key\" \
         preserveAspectRatio=\"xMinYMin meet\">\n"
    );
    for (i, (r, span)) in rows.iter().zip(&spans).enumerate() {
        let y = TOP + ROW_H * i as i64;
        let mid = y + ROW_H / 2;
        let _ = write!(
            page,
            "<g class=\"row\" data-key-id=\"{}\"><text class=\"label\" x=\"0\" y=\"{}\">{}</text>",
            esc(r.f.key_id.as_deref().unwrap_or("")),
            mid + 4,
            // The key id, as the table and `sgscan revoke --key-id` name the key.
            esc(r.f.key_id.as_deref().unwrap_or(&r.f.redacted))
        );
        match span {
            Some(s) => {
                let (x0, x1) = (x(s.start), x(s.end));
                let class = if s.present { "bar present" } else { "bar gone" };
                let from = r.first.map_or("", |(c, _)| c.date.as_str());
                let _ = write!(
                    page,
                    "<rect class=\"{class}\" x=\"{x0}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\">\
                     <title>{}: from {} to {}</title></rect>\
                     <text class=\"end\" x=\"{}\" y=\"{}\">{} → {}</text>",
                    y + 5,
                    (x1 - x0).max(4),
                    ROW_H - 10,
                    esc(&r.f.redacted),
                    esc(from),
                    escape_html(&s.label),
                    BAR_X1 + 10,
                    mid + 4,
                    esc(day(from)),
                    escape_html(&s.label)
                );
            }
            None => {
                let _ = write!(
                    page,
                    "<text class=\"end\" x=\"{BAR_X0}\" y=\"{}\">no commit date</text>",
                    mid + 4
                );
            }
        }
        page.push_str("</g>\n");
    }
    let axis = TOP + ROW_H * rows.len() as i64 + 6;
    let _ = write!(
        page,
        "<line class=\"axis\" x1=\"{BAR_X0}\" y1=\"{axis}\" x2=\"{BAR_X1}\" y2=\"{axis}\"/>\
         <text class=\"tick\" x=\"{BAR_X0}\" y=\"{}\">{}</text>\
         <text class=\"tick\" x=\"{BAR_X1}\" y=\"{}\" text-anchor=\"end\">{}</text>\n</svg>\n</section>\n",
        axis + 16,
        day_of(lo),
        axis + 16,
        day_of(hi)
    );
}

/// `YYYY-MM-DD` (UTC) of seconds since the epoch: the inverse of the day count in [`unix_seconds`].
fn day_of(t: i64) -> String {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn notes(page: &mut String, outcome: &Outcome) {
    if outcome.notes.is_empty() && outcome.skipped.is_empty() && outcome.allowed.is_empty() {
        return;
    }
    page.push_str("<section>\n<h2>Notes</h2>\n<ul class=\"notes\">");
    for n in &outcome.notes {
        let _ = write!(page, "<li>{}</li>", esc(n));
    }
    for a in &outcome.allowed {
        let id = a
            .key_id
            .as_deref()
            .map(|k| format!(" key id {}", esc(k)))
            .unwrap_or_default();
        let at = a.locations.first().map(|l| {
            format!(
                " at <code>{}:{}:{}</code> by {}",
                esc(&shown_path(&l.location.origin)),
                l.location.line,
                l.location.column,
                esc(&l.allowed_by.describe())
            )
        });
        let _ = write!(
            page,
            "<li class=\"allowed\">allowed <code>{}</code>{id}{}</li>",
            esc(&a.redacted),
            at.unwrap_or_default()
        );
    }
    for s in outcome.skipped.iter().take(SKIPS_SHOWN) {
        let _ = write!(
            page,
            "<li class=\"skip\">skipped <code>{}</code>: {}</li>",
            esc(&s.path),
            esc(&s.reason)
        );
    }
    if outcome.skipped.len() > SKIPS_SHOWN {
        let _ = write!(
            page,
            "<li class=\"skip\">… and {} more skipped (--format json lists all)</li>",
            outcome.skipped.len() - SKIPS_SHOWN
        );
    }
    page.push_str("</ul>\n</section>\n");
}

/// A page of the same family (head, CSP, style) around `body`, already escaped HTML: for the
/// account audit's report.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>{t}</h1><p class=\"meta\">sgscan {v} · generated <time>{g}</time></p></header>\n{body}</body>\n</html>\n",
        t = escape_html(title),
        v = escape_html(env!("CARGO_PKG_VERSION")),
        g = esc(&crate::verify::now_rfc3339()),
    )
}

const STYLE: &str = "
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#59636e;--line:#d1d9e0;--live:#c62828;--warn:#9a6700;--ok:#1a7f37;--bar:#c62828;--gone:#8c959f}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;--live:#ff7b72;--warn:#d29922;--ok:#3fb950;--bar:#ff7b72;--gone:#6e7681}}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg);margin:1.5rem auto;max-width:1400px;padding:0 1rem}
h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code.path,td.locations code{overflow-wrap:anywhere}
#target{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.6rem 0 0}
#target dt{color:var(--muted)}#target dd{margin:0;overflow-wrap:anywhere}
.meta,.why,.none{color:var(--muted)}.why{font-size:12px}
.error{border:1px solid var(--live);color:var(--live);padding:.5rem .8rem;border-radius:6px}
.figures{margin:.3rem 0}.fig b{font-size:1.1em}.scanned{color:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:.45rem .5rem;text-align:left;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);white-space:nowrap}
td.key code,td.id code,td.first code{white-space:nowrap}
ul.open{margin:0;padding-left:1.1rem}td.locations{min-width:16rem}
.account{font-size:12px}
tr.live td.key>code{color:var(--live);font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:0 .5rem;font-size:12px;font-weight:600;border:1px solid}
.badge.live{color:var(--live)}.badge.unknown,.badge.unverified{color:var(--warn)}.badge.invalid{color:var(--muted)}
.action{font-weight:600;margin-top:.2rem}
td.next p{margin:0}td.next{min-width:13rem;overflow-wrap:anywhere}td.git{min-width:8rem;overflow-wrap:anywhere}td.privilege{min-width:7rem}
td.privilege .why{margin-top:.2rem}.policy code{color:var(--warn)}
details summary{cursor:pointer;color:var(--muted)}
details ul{margin:.3rem 0;padding-left:1.1rem}
.tag{font-size:11px;border:1px solid var(--line);border-radius:8px;padding:0 .35rem}
.commit,.refs{color:var(--muted);font-size:12px}
#timeline{width:100%;height:auto;max-width:1100px}
#timeline text{font:12px ui-monospace,Menlo,Consolas,monospace;fill:var(--fg)}
#timeline .tick{fill:var(--muted)}
#timeline .bar.present{fill:var(--bar)}#timeline .bar.gone{fill:var(--gone)}
#timeline .axis{stroke:var(--line)}
.notes li{margin:.15rem 0}
@page{size:landscape;margin:1cm}
@media print{body{max-width:none;margin:0;font-size:11px}code{font-size:10px}.scroll{overflow:visible}
td.git,td.privilege{min-width:0}td.locations{min-width:0;width:30%}td.next{min-width:0;width:28%}details>summary{list-style:none}
details::details-content{content-visibility:visible;display:contents}details:not([open])>*{display:block}}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attribute_values() {
        assert_eq!(
            escape_html(r#"<img src=x onerror="a('1')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;1&#39;)&quot;&gt;&amp;"
        );
        // Control and bidi characters are made visible before markup escaping.
        assert_eq!(esc("a\u{202e}b\x1b<"), "a\\u{202e}b\\x1b&lt;");
    }

    #[test]
    fn backticks_become_code_after_escaping() {
        assert_eq!(
            code_spans(&esc("run `sgscan <x>` then `y`")),
            "run <code>sgscan &lt;x&gt;</code> then <code>y</code>"
        );
        assert_eq!(code_spans("a `b` c `d"), "a <code>b</code> c `d");
        assert_eq!(code_spans("no ticks"), "no ticks");
        assert_eq!(code_spans("`"), "`");
    }

    #[test]
    fn rfc3339_to_seconds_and_back() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2023-11-14T22:13:20+00:00"), Some(1_700_000_000));
        assert_eq!(unix_seconds("2023-11-15T00:13:20+02:00"), Some(1_700_000_000));
        assert_eq!(unix_seconds("2023-11-14T17:13:20.5-05:00"), Some(1_700_000_000));
        assert_eq!(unix_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "x023-11-14T22:13:20Z",
            "2023-11-14T22:13:20+0000",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
        assert_eq!(day_of(1_700_000_000), "2023-11-14");
        assert_eq!(day_of(951_782_400), "2000-02-29");
        assert_eq!(day_of(-1), "1969-12-31");
    }
}
