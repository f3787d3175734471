//! SARIF 2.1.0, as GitHub code scanning accepts it: one result per location, rule metadata with a
//! `security-severity`, URIs relative to the repository's top against `%SRCROOT%`, full regions,
//! a `primaryLocationLineHash` of sgscan's own (GitHub can only compute one for files in the
//! checkout), `automationDetails`, and GitHub's upload limits kept with a notification.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::human::{moved, never_committed, other_refs};
use super::{Context, Paths};
use crate::model::{AllowKind, Encoding, Layer, Location, MAX_LOCATIONS, Outcome};
use crate::verify::Status;

/// Characters that cannot appear raw in a relative URI reference path.
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// GitHub code scanning rejects a run with more results than this.
pub const MAX_RESULTS: usize = 25_000;

/// Where a key starts to where it ends: its length as written, for an encoded key the length of
/// its encoding (on the line it starts on).
fn end_column(column: u64, key_len: usize, encoding: Encoding) -> u64 {
    column.saturating_add(written_len(key_len, encoding) as u64)
}

/// Characters the key takes written in `encoding`. Text escapes vary in length; their usual form
/// (the two dots escaped, `\u002e` or `&#46;`) stands for them, as every byte escaped stands for
/// percent-encoding.
fn written_len(key_len: usize, encoding: Encoding) -> usize {
    let layer = |l: Layer, n: usize| match l {
        Layer::Base64 | Layer::Base64url => n.div_ceil(3) * 4,
        Layer::Percent => n * 3,
    };
    match encoding {
        Encoding::Plain => key_len,
        Encoding::Base64 | Encoding::Base64url => key_len.div_ceil(3) * 4,
        Encoding::Percent => key_len * 3,
        Encoding::UnicodeEscape => key_len + 2 * 5,
        Encoding::HtmlEntity => key_len + 2 * 4,
        Encoding::Nested(outer, inner) => layer(outer, layer(inner, key_len)),
    }
}

/// GitHub tracks an alert across commits by this hash. Made from the key and the path, not the
/// line's text, so it stays put when lines move and needs no file (history findings in deleted
/// files have none to hash); `:n` tells apart the same key at several places in one file.
fn line_hash(fingerprint: &str, uri: &str, nth: u32) -> String {
    let mut h = Sha256::new();
    h.update(b"sgscan/primaryLocationLineHash/v1\0");
    h.update(fingerprint.as_bytes());
    h.update(b"\0");
    h.update(uri.as_bytes());
    format!("{}:{nth}", hex::encode(&h.finalize()[..8]))
}

/// How a result is triaged, from what `--verify` learnt of its key. GitHub takes
/// `security-severity` from the rule only, so each status other than "not verified" has a rule of
/// its own (`<rule>/live`, `<rule>/unknown`, `<rule>/invalid`), listed when a result needs it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Triage {
    /// The rule id's suffix; none: the rule's own id (not verified).
    suffix: Option<&'static str>,
    level: &'static str,
    /// `properties.status`.
    status: &'static str,
    /// Kept first when GitHub's limit cuts results.
    rank: u8,
    security_severity: &'static str,
}

const TRIAGES: [Triage; 4] = [
    Triage {
        suffix: None,
        level: "warning",
        status: "unverified",
        rank: 1,
        security_severity: "7.5",
    },
    Triage {
        suffix: Some("live"),
        level: "error",
        status: "live",
        rank: 0,
        security_severity: "9.5",
    },
    Triage {
        suffix: Some("unknown"),
        level: "warning",
        status: "unknown",
        rank: 2,
        security_severity: "7.0",
    },
    Triage {
        suffix: Some("invalid"),
        level: "note",
        status: "invalid",
        rank: 3,
        security_severity: "2.0",
    },
];

fn triage(status: Option<Status>) -> Triage {
    match status {
        None => TRIAGES[0],
        Some(Status::Live) => TRIAGES[1],
        Some(Status::Unknown) => TRIAGES[2],
        Some(Status::Invalid) => TRIAGES[3],
    }
}

fn rule_id(id: &str, t: Triage) -> String {
    match t.suffix {
        Some(s) => format!("{id}/{s}"),
        None => id.to_string(),
    }
}

/// What the reader of one result should do, by the key's status.
fn advice(status: Option<Status>, key_id: Option<&str>) -> String {
    match status {
        Some(Status::Live) => {
            let how = key_id
                .map(|id| format!(" (`sgscan revoke --key-id {id}`)"))
                .unwrap_or_default();
            format!(
                "It is live: SendGrid accepts it. Revoke it now{how}, deploy a replacement with only the scopes it needs, then remove it from the code."
            )
        }
        Some(Status::Unknown) => "It could not be verified: check it on SendGrid's API-keys page (or rerun with --verify) and revoke it if it is live; then remove it from the code.".to_string(),
        Some(Status::Invalid) => "It is invalid: SendGrid rejects it, so there is nothing to revoke; remove it from the code.".to_string(),
        None => "It was not verified: check whether it is live (sgscan --verify) and revoke it if so; then remove it from the code.".to_string(),
    }
}

pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let descriptor = |s: &crate::rules::RuleSpec, t: Triage| {
        let (name, short) = match t.suffix {
            Some(sfx) => (
                format!("{}{}", pascal(&s.name), pascal(sfx)),
                format!("{} ({sfx})", s.name),
            ),
            None => (pascal(&s.name), s.name.clone()),
        };
        json!({
            "id": rule_id(&s.id, t),
            "name": name,
            "shortDescription": { "text": short },
            "fullDescription": { "text": s.description },
            "helpUri": s.help_uri,
            "help": { "text": s.description, "markdown": s.description },
            "defaultConfiguration": { "level": t.level },
            "properties": { "tags": ["security", "secret"], "precision": "high", "security-severity": t.security_severity },
        })
    };
    let mut rules: Vec<Value> = ctx
        .rules
        .iter()
        .map(|r| descriptor(&r.spec, TRIAGES[0]))
        .collect();
    // The status rules results need, in a fixed order after the rules themselves.
    for t in &TRIAGES[1..] {
        for r in ctx.rules {
            let used = outcome
                .findings
                .iter()
                .any(|f| f.rule_id == r.spec.id && triage(f.verification.as_ref().map(|v| v.status)) == *t);
            if used {
                rules.push(descriptor(&r.spec, *t));
            }
        }
    }
    let rule_index: HashMap<String, usize> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((r["id"].as_str()?.to_string(), i)))
        .collect();
    // (rank, result): live keys first, so a cut to GitHub's limit drops the least urgent ones.
    let mut results: Vec<(u8, Value)> = Vec::new();
    // Occurrences of a key in one file as one commit has it: the `:n` of the hash.
    let mut nth = Nth::new();
    let mut notifications: Vec<Value> = Vec::new();
    for f in &outcome.findings {
        let verified = f.verification.as_ref().map(|v| v.status);
        let t = triage(verified);
        let (level, status, rank) = (t.level, t.status, t.rank);
        // A rule sgscan does not list (a merged report from other patterns) keeps the id it had.
        let known = ctx.rules.iter().any(|r| r.spec.id == f.rule_id);
        let result_rule = if known {
            rule_id(&f.rule_id, t)
        } else {
            f.rule_id.clone()
        };
        let rule_index = rule_index.get(&result_rule).copied();
        let advice = advice(verified, f.key_id.as_deref());
        if f.location_count > f.locations.len() as u64 {
            notifications.push(json!({
                "level": "warning",
                "message": { "text": format!(
                    "key {} ({}) was found at {} places; the first {} are reported (sgscan keeps at most {MAX_LOCATIONS} per key)",
                    f.redacted, f.fingerprint, f.location_count, f.locations.len()
                ) },
                "descriptor": { "id": "locations-cut" },
            }));
        }
        // Reports merged from JSON have no key: a SendGrid key's usual length stands in.
        let key_len = if f.key.is_empty() { 69 } else { f.key.len() };
        let privilege = f
            .verification
            .as_ref()
            .and_then(|v| v.privilege)
            .map(|p| p.as_str());
        let scopes = f.verification.as_ref().and_then(|v| v.scopes.clone());
        for loc in &f.locations {
            let encoded = match loc.encoding {
                crate::model::Encoding::Plain => String::new(),
                e => format!(" ({}-encoded)", e.as_str()),
            };
            let key_id = f
                .key_id
                .as_deref()
                .map(|k| format!(", key id {k}"))
                .unwrap_or_default();
            let (artifact, location_hash) = placed(&f.fingerprint, &loc.origin, ctx, &mut nth);
            let mut result = json!({
                "ruleId": result_rule,
                "level": level,
                "message": { "text": format!("{} {}{key_id}{encoded}. {advice}", f.rule_name, f.redacted) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": region(loc, key_len),
                    }
                }],
                "partialFingerprints": {
                    "primaryLocationLineHash": location_hash,
                    "sgscan/key/v1": f.fingerprint,
                },
                "properties": { "fingerprint": f.fingerprint, "key_id": f.key_id, "encoding": loc.encoding, "confidence": f.confidence, "status": status, "privilege": privilege, "scopes": scopes, "security-severity": t.security_severity },
            });
            history_location(&mut result, &loc.origin, loc.line, loc.column);
            if loc.line == 0 {
                // In the file's name: SARIF lines start at 1, and no region of the file holds it.
                without_region(&mut result, "The key is in the file's name.");
            }
            if let (Some(i), Some(obj)) = (rule_index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            if let Some(c) = &loc.origin.commit
                && let Some(props) = result.get_mut("properties").and_then(|p| p.as_object_mut())
            {
                props.insert("commit".into(), json!(c.commit));
                props.insert("author".into(), json!(c.author_email));
                props.insert("date".into(), json!(c.date));
            }
            if let Some(m) = &loc.origin.member {
                archive_member(&mut result, m, loc.line);
            }
            results.push((rank, result));
        }
    }
    results.extend(
        allowed_results(outcome, ctx, &mut nth)
            .into_iter()
            .map(|r| (4, r)),
    );
    results.sort_by_key(|(rank, _)| *rank);
    let total = results.len();
    results.truncate(MAX_RESULTS);
    let results: Vec<Value> = results.into_iter().map(|(_, r)| r).collect();
    if total > MAX_RESULTS {
        notifications.push(json!({
            "level": "warning",
            "message": { "text": format!(
                "{total} results, more than the {MAX_RESULTS} GitHub code scanning accepts in one run: {} were left out \
                 (live keys are kept first; the JSON report has them all)",
                total - MAX_RESULTS
            ) },
            "descriptor": { "id": "results-cut" },
        }));
    }
    if let Some(e) = &ctx.error {
        notifications.push(json!({
            "level": "error",
            "message": { "text": format!("the scan failed: {e}") },
            "descriptor": { "id": "error" },
        }));
    }
    notifications.extend(outcome.skipped.iter().map(|s| {
        json!({
            "level": "warning",
            "message": { "text": format!("skipped {}: {}", s.path, s.reason) },
            "descriptor": { "id": "skipped" },
        })
    }));
    notifications.extend(
        outcome
            .notes
            .iter()
            .map(|n| json!({ "level": "note", "message": { "text": n }, "descriptor": { "id": "note" } })),
    );
    let mut doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "sgscan",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/sgscan/sgscan",
                "rules": rules,
            }},
            "automationDetails": { "id": automation_id(ctx) },
            "columnKind": "unicodeCodePoints",
            "invocations": [{ "executionSuccessful": ctx.error.is_none(), "toolExecutionNotifications": notifications }],
            "results": results,
        }],
    });
    let provenance = provenance(ctx);
    if let (false, Some(run)) = (provenance.is_empty(), doc["runs"][0].as_object_mut()) {
        run.insert("versionControlProvenance".into(), Value::Array(provenance));
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// SARIF's `versionControlProvenance`: each scanned repository by its remote URL (a `file:` URI of
/// its path where it has none that is a URI), with HEAD's commit and branch.
fn provenance(ctx: &Context) -> Vec<Value> {
    let Some(target) = &ctx.target else {
        return Vec::new();
    };
    target
        .repositories
        .iter()
        .filter_map(|r| {
            let uri = r
                .remote_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok().filter(|u| u.has_host()))
                .or_else(|| url::Url::from_directory_path(&r.path).ok())?;
            let mut v = json!({ "repositoryUri": uri.as_str() });
            if let Some(head) = &r.head {
                v["revisionId"] = json!(head);
            }
            if let Some(branch) = &r.branch {
                v["branch"] = json!(branch);
            }
            Some(v)
        })
        .collect()
}

/// A result per location of each allowed key, with a suppression naming what allowed it (`inSource`
/// for a marker on the line, `external` for an ignore file, a config or a baseline): code
/// scanning shows the allowance to whoever reviews the change instead of nothing at all.
fn allowed_results(outcome: &Outcome, ctx: &Context, nth: &mut Nth) -> Vec<Value> {
    let mut out = Vec::new();
    for a in &outcome.allowed {
        let rule_index = ctx.rules.iter().position(|r| r.spec.id == a.rule_id);
        let key_id = a
            .key_id
            .as_deref()
            .map(|k| format!(", key id {k}"))
            .unwrap_or_default();
        for l in &a.locations {
            let loc = &l.location;
            let by = l.allowed_by.describe();
            let (artifact, location_hash) = placed(&a.fingerprint, &loc.origin, ctx, nth);
            let kind = match l.allowed_by.kind {
                AllowKind::Inline => "inSource",
                _ => "external",
            };
            let mut result = json!({
                "ruleId": a.rule_id,
                "level": "note",
                "message": { "text": format!("{} {}{key_id}, allowed by {by}: not reported as a leak. Check the allowance is meant.", a.rule_name, a.redacted) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": region(loc, 69),
                    }
                }],
                "suppressions": [{ "kind": kind, "status": "accepted", "justification": by }],
                "partialFingerprints": {
                    "primaryLocationLineHash": location_hash,
                    "sgscan/key/v1": a.fingerprint,
                },
                "properties": { "fingerprint": a.fingerprint, "key_id": a.key_id, "encoding": loc.encoding, "status": "allowed", "allowed_by": l.allowed_by },
            });
            if let (Some(i), Some(obj)) = (rule_index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            if let Some(m) = &loc.origin.member {
                archive_member(&mut result, m, loc.line);
            }
            out.push(result);
        }
    }
    out
}

/// The location's artifact, and its `primaryLocationLineHash`: the key's occurrences at that URI
/// (and commit) are counted in `nth`, so that each has its own.
fn placed(fingerprint: &str, origin: &crate::model::Origin, ctx: &Context, nth: &mut Nth) -> (Value, String) {
    let commit = origin.commit.as_ref().map(|c| c.commit.as_str());
    let artifact = artifact(&origin.path, commit, ctx.paths.as_ref());
    let uri = artifact["uri"].as_str().unwrap_or_default().to_string();
    let n = nth
        .entry((fingerprint.to_string(), uri.clone(), commit.map(str::to_string)))
        .or_insert(0);
    *n += 1;
    let hash = line_hash(fingerprint, &uri, *n);
    (artifact, hash)
}

/// Occurrences so far of (fingerprint, artifact URI, commit).
type Nth = HashMap<(String, String, Option<String>), u32>;

/// A location that the analysed commit's file does not hold (the key left it, or it is only on other
/// refs, or it was never committed) keeps its file but loses its region: the region would point at
/// whatever that file holds today. The message names the commit the line is from.
fn history_location(result: &mut Value, o: &crate::model::Origin, line: u64, column: u64) {
    let text = match &o.commit {
        _ if never_committed(o) => {
            "It is in a blob that was staged and never committed: no commit has it, so no push sent it; \
             it stays in the clone's object store until git gc."
                .to_string()
        }
        Some(c) if moved(o) => {
            let short = c.commit.get(..12).unwrap_or(&c.commit);
            let place = if line == 0 {
                "in the file's name".to_string()
            } else {
                format!("at line {line}, column {column}")
            };
            let still = other_refs(o);
            let now = if still.is_empty() {
                "The analysed commit no longer has it there; it is only in history.".to_string()
            } else {
                format!(
                    "The analysed commit no longer has it there, but it is still on {}.",
                    still.join(", ")
                )
            };
            format!(
                "The line is from commit {short} ({}): the key is {place} of this file as that commit has it. {now}",
                c.date
            )
        }
        _ => return,
    };
    without_region(result, &text);
}

/// The result's location keeps its file and loses its region, and its message says why: `note`.
fn without_region(result: &mut Value, note: &str) {
    if let Some(physical) = result
        .pointer_mut("/locations/0/physicalLocation")
        .and_then(|l| l.as_object_mut())
    {
        physical.remove("region");
    }
    if let Some(m) = result.pointer_mut("/message/text")
        && let Some(t) = m.as_str()
    {
        *m = json!(format!("{t} {note}"));
    }
}

/// `sgscan/<mode>/[<category>/]`: GitHub takes everything before the last `/` as the category,
/// so runs of different modes (or `--sarif-category`) on one commit do not replace each other.
fn automation_id(ctx: &Context) -> String {
    let mode = if ctx.mode.is_empty() { "scan" } else { ctx.mode };
    match ctx
        .category
        .as_deref()
        .map(|c| c.trim_matches('/'))
        .filter(|c| !c.is_empty())
    {
        Some(c) => format!("sgscan/{mode}/{c}/"),
        None => format!("sgscan/{mode}/"),
    }
}

/// A relative path is relative to `%SRCROOT%` (the repository's top: `paths` moves one relative to
/// another directory there); an absolute one becomes a `file://` URI of its own. A commit
/// message has no file: it is reported at `.sgscan/commit-message/<commit>` (a tag's message at
/// `.sgscan/tag-message/<tag>`), paths GitHub accepts and shows, with the line within the message;
/// a commit's or tag's header lines likewise at `.sgscan/commit-header/…` and `.sgscan/tag-header/…`,
/// with the line within the object.
fn artifact(path: &str, commit: Option<&str>, paths: Option<&Paths>) -> Value {
    let (prefix, name) = match path.rfind('(') {
        Some(i) if path.ends_with(')') => (&path[..i], &path[i..]),
        _ => ("", path),
    };
    let part = |p: &str| matches!(p, "message" | "header");
    let relative = if let Some(p) = name
        .strip_prefix("(commit ")
        .and_then(|p| p.strip_suffix(')'))
        .filter(|p| part(p))
    {
        format!("{prefix}.sgscan/commit-{p}/{}", commit.unwrap_or("unknown"))
    } else if let Some((p, tag)) = name
        .strip_prefix("(tag ")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.split_once(' '))
        .filter(|(p, _)| part(p))
    {
        format!(
            "{prefix}.sgscan/tag-{p}/{}",
            tag.strip_prefix("refs/tags/").unwrap_or(tag)
        )
    } else {
        match paths.map(|p| rebase(path, p)) {
            Some(Some(rel)) => rel,
            Some(None) => path.to_string(),
            None => path.to_string(),
        }
    };
    let absolute = Path::new(&relative).is_absolute();
    let encoded = utf8_percent_encode(&relative, URI_PATH).to_string();
    if absolute {
        json!({ "uri": format!("file://{encoded}") })
    } else {
        json!({ "uri": encoded, "uriBaseId": "%SRCROOT%" })
    }
}

/// `path` (relative to `p.base`, or absolute) relative to `p.root`; absolute if it is outside.
fn rebase(path: &str, p: &Paths) -> Option<String> {
    let full = normalize(&p.base.join(path));
    match full.strip_prefix(&p.root) {
        Ok(rel) if rel.as_os_str().is_empty() => Some(".".into()),
        Ok(rel) => Some(rel.to_str()?.to_string()),
        Err(_) => Some(full.to_str()?.to_string()),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system (the file may be gone).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// "SendGrid API key" → "SendgridApiKey": SARIF `name`s are identifiers.
fn pascal(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A key inside an archive: the result points at the outer file (the artifact a code host can
/// show), the line and column are the member's so they leave the region, and the member is named
/// in the message and the properties.
fn archive_member(result: &mut Value, member: &str, line: u64) {
    without_region(result, &format!("In archive member {member}, line {line}."));
    if let Some(props) = result.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert("member".into(), json!(member));
    }
}

/// A location's region in the file: its line, from its column over the key as it is written.
fn region(loc: &Location, key_len: usize) -> Value {
    json!({
        "startLine": loc.line,
        "startColumn": loc.column,
        "endLine": loc.line,
        "endColumn": end_column(loc.column, key_len, loc.encoding),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris() {
        assert_eq!(
            artifact("src/a b.rs", None, None),
            json!({"uri": "src/a%20b.rs", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact("/abs/x#1.env", None, None),
            json!({"uri": "file:///abs/x%231.env"})
        );
        let paths = Paths {
            base: "/r/sub".into(),
            root: "/r".into(),
        };
        assert_eq!(artifact("./x/../a.env", None, Some(&paths))["uri"], "sub/a.env");
        assert_eq!(
            artifact("../../o/a.env", None, Some(&paths))["uri"],
            "file:///o/a.env"
        );
        assert_eq!(
            artifact("vendor/(commit message)", Some("abc"), None)["uri"],
            "vendor/.sgscan/commit-message/abc"
        );
        assert_eq!(
            artifact("(commit header)", Some("abc"), None)["uri"],
            ".sgscan/commit-header/abc"
        );
        assert_eq!(
            artifact("(tag header refs/tags/v1)", None, None)["uri"],
            ".sgscan/tag-header/v1"
        );
        assert_eq!(end_column(5, 69, Encoding::Plain), 74);
        assert_eq!(end_column(1, 69, Encoding::Base64), 93);
        // 69 bytes are 92 base64 characters, which are 124 more.
        assert_eq!(
            end_column(1, 69, Encoding::Nested(Layer::Base64, Layer::Base64)),
            125
        );
        assert_eq!(end_column(1, 69, Encoding::UnicodeEscape), 80);
        assert_eq!(pascal("SendGrid API key"), "SendgridApiKey");
    }
}
