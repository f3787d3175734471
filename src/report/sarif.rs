//! SARIF 2.1.0, as GitHub code scanning accepts it: one result per location, rule metadata with a
//! `security-severity`, relative URIs against `%SRCROOT%`, and `partialFingerprints`.

use std::io::Write;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::Context;
use crate::model::Outcome;
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

pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let rules: Vec<Value> = ctx
        .rules
        .iter()
        .map(|r| {
            let s = &r.spec;
            json!({
                "id": s.id,
                "name": pascal(&s.name),
                "shortDescription": { "text": s.name },
                "fullDescription": { "text": s.description },
                "helpUri": s.help_uri,
                "help": { "text": s.description, "markdown": s.description },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["security", "secret"], "precision": "high", "security-severity": "9.0" },
            })
        })
        .collect();
    let mut results = Vec::new();
    for f in &outcome.findings {
        let rule_index = ctx.rules.iter().position(|r| r.spec.id == f.rule_id);
        let (level, status) = match f.verification.as_ref().map(|v| v.status) {
            Some(Status::Live) => ("error", "live"),
            Some(Status::Unknown) => ("warning", "unknown"),
            Some(Status::Invalid) => ("note", "invalid"),
            None => ("error", "unverified"),
        };
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
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": level,
                "message": { "text": format!("{} {}{key_id}{encoded}. Revoke it, then remove it from the code and its history.", f.rule_name, f.redacted) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(&loc.origin.path),
                        "region": { "startLine": loc.line, "startColumn": loc.column },
                    }
                }],
                "partialFingerprints": { "sgscan/key/v1": f.fingerprint },
                "properties": { "fingerprint": f.fingerprint, "key_id": f.key_id, "encoding": loc.encoding, "status": status, "privilege": privilege, "scopes": scopes },
            });
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
            results.push(result);
        }
    }
    let mut notifications: Vec<Value> = outcome
        .skipped
        .iter()
        .map(|s| {
            json!({
                "level": "warning",
                "message": { "text": format!("skipped {}: {}", s.path, s.reason) },
                "descriptor": { "id": "skipped" },
            })
        })
        .collect();
    notifications.extend(
        outcome
            .notes
            .iter()
            .map(|n| json!({ "level": "note", "message": { "text": n }, "descriptor": { "id": "note" } })),
    );
    let doc = json!({
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
            "columnKind": "unicodeCodePoints",
            "invocations": [{ "executionSuccessful": true, "toolExecutionNotifications": notifications }],
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// A relative path is relative to `%SRCROOT%`; an absolute one becomes a `file://` URI of its own.
fn artifact(path: &str) -> Value {
    let encoded = utf8_percent_encode(path, URI_PATH).to_string();
    if path.starts_with('/') {
        json!({ "uri": format!("file://{encoded}") })
    } else {
        json!({ "uri": encoded, "uriBaseId": "%SRCROOT%" })
    }
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
    if let Some(loc) = result
        .pointer_mut("/locations/0/physicalLocation")
        .and_then(|l| l.as_object_mut())
    {
        loc.remove("region");
    }
    if let Some(text) = result.pointer_mut("/message/text")
        && let Some(t) = text.as_str()
    {
        *text = json!(format!("{t} In archive member {member}, line {line}."));
    }
    if let Some(props) = result.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert("member".into(), json!(member));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris() {
        assert_eq!(
            artifact("src/a b.rs"),
            json!({"uri": "src/a%20b.rs", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(artifact("/abs/x#1.env"), json!({"uri": "file:///abs/x%231.env"}));
        assert_eq!(pascal("SendGrid API key"), "SendgridApiKey");
    }
}
