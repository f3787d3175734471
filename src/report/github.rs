//! What a GitHub Actions job shows of a scan besides the SARIF upload: a workflow-command
//! annotation per location (`::error file=…,line=…,title=…::…`, on the run's summary page and in the
//! pull request's diff) and a Markdown table for `$GITHUB_STEP_SUMMARY`. Keys appear redacted only;
//! every value from outside is escaped so it cannot end the command or forge Markdown.

use std::io::Write;

use super::human::{at_head, moved, never_committed, other_refs, shown_path};
use crate::model::{Finding, Location, Outcome, Status};
use crate::text::{count, escape};

/// GitHub shows at most 10 annotations of each level per step and 50 per job: the rest would be
/// dropped in silence, so the last line says how many more the report has.
pub const MAX_ANNOTATIONS: usize = 50;
/// Rows of the summary table; the report has the rest.
pub const MAX_ROWS: usize = 100;

/// A workflow command's message: `%`, CR and LF encoded (what the runner decodes).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: as [`escape_data`], and `:` and `,` too, which would end it.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `error`, `warning` or `notice`, by the key's status: what fails the gate is an error.
fn level(f: &Finding) -> &'static str {
    match f.verification.as_ref().map(|v| v.status) {
        Some(Status::Live) | None => "error",
        Some(Status::Unknown) => "warning",
        Some(Status::Invalid) => "notice",
    }
}

fn status(f: &Finding) -> &'static str {
    match f.verification.as_ref().map(|v| v.status) {
        Some(Status::Live) => "live",
        Some(Status::Unknown) => "unknown",
        Some(Status::Invalid) => "invalid",
        None => "not verified",
    }
}

/// What to do, in a few words, by status.
fn todo(f: &Finding) -> &'static str {
    match f.verification.as_ref().map(|v| v.status) {
        Some(Status::Live) => "revoke it now, then remove it from the code",
        Some(Status::Unknown) => "check it on SendGrid's API-keys page; revoke it if it is live",
        Some(Status::Invalid) => "already dead: remove it from the code",
        None => "treat it as live: check it (--verify), revoke it, remove it from the code",
    }
}

/// Whether the file at the analysed commit holds the key where the location says: only then do a
/// file's line and column point at it (see the SARIF report's history locations).
fn in_checkout(l: &Location) -> bool {
    let o = &l.origin;
    // A path the log would show otherwise than it is (a control or bidi character) names no file
    // GitHub could match either.
    if never_committed(o) || o.path.starts_with('(') || o.path.contains("/(") || escape(&o.path) != o.path {
        return false;
    }
    !moved(o) && o.repository.is_none()
}

/// Where the key is, in words, for a location the checkout does not show.
fn where_(l: &Location) -> String {
    let o = &l.origin;
    if never_committed(o) {
        return "in a blob staged and never committed".to_string();
    }
    let mut s = match &o.commit {
        Some(c) => format!(
            "at line {} of {} in commit {}",
            l.line,
            shown_path(o),
            c.commit.get(..12).unwrap_or(&c.commit)
        ),
        None => format!("in {}", shown_path(o)),
    };
    let still = other_refs(o);
    if at_head(o) {
        s.push_str(", still in HEAD");
    } else if !still.is_empty() {
        s.push_str(&format!(", still on {}", escape(&still.join(", "))));
    } else if o.in_head == Some(false) {
        s.push_str(", only in history");
    }
    s
}

/// One annotation per location, live keys first, at most [`MAX_ANNOTATIONS`].
pub fn annotations(out: &mut dyn Write, outcome: &Outcome) -> std::io::Result<()> {
    let mut ordered: Vec<&Finding> = outcome.findings.iter().collect();
    ordered.sort_by_key(|f| match level(f) {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    });
    let all: Vec<(&Finding, &Location)> = ordered
        .iter()
        .flat_map(|f| f.locations.iter().map(move |l| (*f, l)))
        .collect();
    for (f, l) in all.iter().take(MAX_ANNOTATIONS) {
        let title = format!("{} ({})", f.rule_name, status(f));
        let key_id = f
            .key_id
            .as_deref()
            .map(|k| format!(", key id {k}"))
            .unwrap_or_default();
        let mut props = String::new();
        if in_checkout(l) {
            props.push_str(&format!("file={}", escape_property(&l.origin.path)));
            if l.line > 0 {
                props.push_str(&format!(",line={},col={}", l.line, l.column));
            }
            props.push(',');
        }
        props.push_str(&format!("title={}", escape_property(&title)));
        let message = format!(
            "{} {}{key_id} {}: {}",
            f.rule_name,
            f.redacted,
            where_(l),
            todo(f)
        );
        writeln!(out, "::{} {props}::{}", level(f), escape_data(&message))?;
    }
    if all.len() > MAX_ANNOTATIONS {
        writeln!(
            out,
            "::warning title=sgscan::{}",
            escape_data(&format!(
                "{} more locations than the {MAX_ANNOTATIONS} annotated: the report has them all",
                all.len() - MAX_ANNOTATIONS
            ))
        )?;
    }
    Ok(())
}

/// Text for a Markdown table cell, already shown as the human report shows it (control characters
/// escaped): every ASCII punctuation character backslash-escaped, so a path cannot open a link, an
/// image, a tag or a new cell.
fn md(shown: &str) -> String {
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// The job summary: counts, then a row per location (at most [`MAX_ROWS`]).
pub fn summary(out: &mut dyn Write, outcome: &Outcome) -> std::io::Result<()> {
    writeln!(out, "## sgscan")?;
    writeln!(out)?;
    if outcome.findings.is_empty() {
        writeln!(out, "No SendGrid API keys found.")?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} in {}.",
        count(outcome.findings.len() as u64, "leaked key", "leaked keys"),
        count(outcome.location_count(), "location", "locations")
    )?;
    writeln!(out)?;
    writeln!(out, "| key | key id | status | where | next |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    let mut rows = 0;
    for f in &outcome.findings {
        for l in &f.locations {
            rows += 1;
            if rows > MAX_ROWS {
                continue;
            }
            let line = if l.line > 0 {
                format!("{}:{}", shown_path(&l.origin), l.line)
            } else {
                format!("{} (in its name)", shown_path(&l.origin))
            };
            let place = if in_checkout(l) { line } else { where_(l) };
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&escape(&f.redacted)),
                md(&escape(f.key_id.as_deref().unwrap_or(""))),
                status(f),
                md(&place),
                md(todo(f))
            )?;
        }
    }
    if rows > MAX_ROWS {
        writeln!(out)?;
        writeln!(
            out,
            "… and {} more locations: the report has them all.",
            rows - MAX_ROWS
        )?;
    }
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(md("a|b](x)<img>"), "a\\|b\\]\\(x\\)\\<img\\>");
        assert_eq!(md("x\ny"), "x y");
    }
}
