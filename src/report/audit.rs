//! The account audit's report (`sgscan audit`) in every format: human (grouped by practice, worst
//! first, a next step each), json, jsonl, sarif (one rule per check) and html (the scan report's
//! page family). Every string from the API is escaped for the terminal or the page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::html::{escape_html, page};
use super::schema::Tool;
use crate::account::{AUDIT_SCOPES, CANNOT_SHOW, Finding, Posture, Severity};
use crate::model::Privilege;
use crate::text::{Safe, count, escape};

/// Findings grouped by practice: groups by their worst finding, findings worst first.
fn by_practice(p: &Posture) -> Vec<(&'static str, Vec<&Finding>)> {
    let mut groups: BTreeMap<&'static str, Vec<&Finding>> = BTreeMap::new();
    for f in &p.findings {
        groups.entry(f.practice).or_default().push(f);
    }
    let mut out: Vec<(&'static str, Vec<&Finding>)> = groups.into_iter().collect();
    for (_, fs) in &mut out {
        fs.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    out.sort_by(|a, b| {
        let worst = |fs: &[&Finding]| fs.iter().map(|f| f.severity).max();
        worst(&b.1).cmp(&worst(&a.1)).then(a.0.cmp(b.0))
    });
    out
}

fn keys(p: &Posture) -> &[crate::account::AccountKey] {
    p.keys.as_deref().unwrap_or_default()
}

pub fn summary(p: &Posture) -> Value {
    let missed = p.keys_missed();
    let ks = keys(p);
    let mut by_severity = serde_json::Map::new();
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = p.findings.iter().filter(|f| f.severity == s).count();
        by_severity.insert(s.as_str().into(), n.into());
    }
    json!({
        // Every listed key read, as before the posture sections; those have their own figure.
        "complete": missed.is_none(),
        "all_sections_checked": missed.is_none() && p.not_checked.is_empty() && p.keys.is_some(),
        "not_assessed": missed,
        "keys": ks.len(),
        "leaked": ks.iter().filter(|k| k.leaked).count(),
        "policy_violations": ks.iter().filter(|k| !k.policy_violations.is_empty()).count(),
        "full_access": ks.iter().filter(|k| k.privilege == Some(Privilege::FullAccess)).count(),
        "unreadable": ks.iter().filter(|k| k.error.is_some()).count(),
        "findings": p.findings.len(),
        "by_severity": by_severity,
        "worst": p.worst().map(Severity::as_str),
        "sections_assessed": p.assessed,
        "not_checked": p.not_checked.len(),
    })
}

pub fn json(p: &Posture) -> serde_json::Result<String> {
    let doc = json!({
        "tool": Tool::this(),
        "summary": summary(p),
        "keys": keys(p),
        "subusers": p.subusers,
        "findings": p.findings,
        "not_checked": p.not_checked,
        "cannot_show": CANNOT_SHOW,
        "audit_key_scopes": AUDIT_SCOPES,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
}

pub fn jsonl(p: &Posture) -> serde_json::Result<String> {
    let mut out = String::new();
    let mut line = |kind: &str, v: Value| {
        let mut v = v;
        if let Some(o) = v.as_object_mut() {
            o.insert("type".into(), kind.into());
        }
        out.push_str(&format!("{v}\n"));
    };
    for k in keys(p) {
        line("key", serde_json::to_value(k)?);
    }
    for s in &p.subusers {
        line("subuser", serde_json::to_value(s)?);
    }
    for f in &p.findings {
        line("finding", serde_json::to_value(f)?);
    }
    for n in &p.not_checked {
        line("not_checked", serde_json::to_value(n)?);
    }
    line("cannot_show", json!({ "cannot_show": CANNOT_SHOW }));
    line("summary", json!({ "tool": Tool::this(), "summary": summary(p) }));
    Ok(out)
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

pub fn sarif(p: &Posture) -> serde_json::Result<String> {
    // One rule per check, at the severity of its worst finding.
    let mut rules: BTreeMap<&str, (&Finding, Severity)> = BTreeMap::new();
    for f in &p.findings {
        let e = rules.entry(f.check).or_insert((f, f.severity));
        e.1 = e.1.max(f.severity);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let rules: Vec<Value> = rules
        .iter()
        .map(|(check, (f, worst))| {
            json!({
                "id": check,
                "name": check,
                "shortDescription": { "text": format!("{check} ({})", f.practice) },
                "help": { "text": format!("Practice: {}. Each result says what to change and where.", f.practice) },
                "defaultConfiguration": { "level": sarif_level(*worst) },
                "properties": { "tags": ["security", "sendgrid-account", f.practice], "security-severity": security_severity(*worst) },
            })
        })
        .collect();
    let results: Vec<Value> = p
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.check,
                "ruleIndex": index.get(f.check),
                "level": sarif_level(f.severity),
                "message": { "text": format!("{}: {}. Next step: {}", f.subject, f.detail, f.next_step) },
                "locations": [{ "logicalLocations": [{ "name": f.subject, "kind": "resource" }] }],
                "properties": { "severity": f.severity, "practice": f.practice, "subject": f.subject },
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "sgscan",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/sgscan/sgscan",
                "rules": rules,
            }},
            "automationDetails": { "id": "sgscan/audit/" },
            "results": results,
            "properties": { "not_checked": p.not_checked, "cannot_show": CANNOT_SHOW },
        }],
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
}

pub fn human(p: &Posture) -> String {
    let mut out = String::new();
    match &p.keys {
        Some(ks) => {
            let _ = writeln!(
                out,
                "sgscan audit: {} in the account",
                count(ks.len() as u64, "key", "keys")
            );
        }
        None => out.push_str("sgscan audit: the account's keys could not be listed (see Not checked)\n"),
    }
    for k in keys(p) {
        let level = k.privilege.map_or("unknown", |p| p.as_str());
        let _ = writeln!(out, "{}  id {}  {level}", Safe(&k.name), Safe(&k.api_key_id));
        if k.admin_key {
            out.push_str("  this is the admin key the audit ran with");
            if level == "full-access" {
                out.push_str(" (full access: keep it out of CI and rotate it too)");
            }
            out.push('\n');
        }
        if k.leaked {
            let _ = writeln!(
                out,
                "  LEAKED, still in the account: found at {}",
                Safe(&k.locations.join(", "))
            );
        }
        if !k.above_send_only.is_empty() {
            let _ = writeln!(out, "  above send-only: {}", Safe(&k.above_send_only.join(", ")));
        }
        if !k.policy_violations.is_empty() {
            let _ = writeln!(
                out,
                "  policy violations: {}",
                Safe(&k.policy_violations.join(", "))
            );
        }
        if let Some(at) = &k.rotated_in {
            let _ = writeln!(out, "  created by a rotation on {}", Safe(at));
        }
        if let Some(e) = &k.error {
            let _ = writeln!(out, "  NOT ASSESSED, not read: {}", Safe(e));
        }
    }
    for s in &p.subusers {
        let _ = writeln!(
            out,
            "subuser {} (id {}, region {}){}{}",
            Safe(&s.username),
            s.id,
            Safe(s.region.as_deref().unwrap_or("not given")),
            if s.disabled { ", disabled" } else { "" },
            match &s.keys {
                Some(k) => format!(": {}", count(k.len() as u64, "key", "keys")),
                None => String::new(),
            }
        );
    }
    if p.findings.is_empty() {
        out.push_str("\nNo findings in the sections assessed.\n");
    } else {
        let _ = writeln!(
            out,
            "\nFindings ({}), by practice, worst first:",
            p.findings.len()
        );
        for (practice, fs) in by_practice(p) {
            let _ = writeln!(out, "\n{practice}");
            for f in fs {
                let _ = writeln!(
                    out,
                    "  [{}] {} — {}: {}\n      next step: {}",
                    f.severity.as_str().to_uppercase(),
                    f.check,
                    Safe(&f.subject),
                    Safe(&f.detail),
                    Safe(&f.next_step)
                );
            }
        }
    }
    if !p.not_checked.is_empty() {
        let _ = writeln!(out, "\nNot checked ({}): not a pass", p.not_checked.len());
        for n in &p.not_checked {
            let _ = write!(out, "  {}: {}", Safe(&n.section), Safe(&n.reason));
            if let Some(s) = &n.needs_scope {
                let _ = write!(out, " [needs {}]", Safe(s));
            }
            out.push('\n');
        }
    }
    out.push_str("\nWhat the API cannot show:\n");
    for c in CANNOT_SHOW {
        let _ = writeln!(out, "  - {c}");
    }
    if let Some(why) = p.keys_missed() {
        let _ = writeln!(out, "audit incomplete: {}", Safe(&why));
    }
    if p.assessed.is_empty() {
        out.push_str("audit incomplete: nothing was assessed\n");
    }
    out
}

/// Text from the API for the page: made visible as the terminal shows it, then HTML-escaped.
fn h(s: &str) -> String {
    escape_html(&escape(s))
}

pub fn html(p: &Posture) -> String {
    let mut body = String::new();
    let s = summary(p);
    let _ = writeln!(
        body,
        "<section><p class=\"figures\"><span class=\"fig\"><b>{}</b> findings</span> · <span class=\"fig\"><b>{}</b> keys</span> · <span class=\"fig\"><b>{}</b> not checked</span> · worst: <b>{}</b></p></section>",
        p.findings.len(),
        keys(p).len(),
        p.not_checked.len(),
        h(s["worst"].as_str().unwrap_or("none"))
    );
    if p.assessed.is_empty() || p.keys_missed().is_some() {
        let why = p.keys_missed().unwrap_or_else(|| "nothing was assessed".into());
        let _ = writeln!(
            body,
            "<p class=\"error\" role=\"alert\">The audit is incomplete: {}.</p>",
            h(&why)
        );
    }
    body.push_str("<h2>Findings</h2>\n");
    if p.findings.is_empty() {
        body.push_str("<p class=\"none\">No findings in the sections assessed.</p>\n");
    }
    for (practice, fs) in by_practice(p) {
        let _ = writeln!(
            body,
            "<h2>{}</h2>\n<div class=\"scroll\"><table>\n<tr><th>Severity</th><th>Check</th><th>Subject</th><th>Detail</th><th>Next step</th></tr>",
            h(practice)
        );
        for f in fs {
            let live = matches!(f.severity, Severity::Critical | Severity::High);
            let _ = writeln!(
                body,
                "<tr><td><span class=\"badge {}\">{}</span></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td class=\"next\"><p>{}</p></td></tr>",
                if live { "live" } else { "unknown" },
                f.severity.as_str(),
                h(f.check),
                h(&f.subject),
                h(&f.detail),
                h(&f.next_step)
            );
        }
        body.push_str("</table></div>\n");
    }
    if !p.not_checked.is_empty() {
        body.push_str("<h2>Not checked (not a pass)</h2>\n<ul class=\"notes\">\n");
        for n in &p.not_checked {
            let scope = n
                .needs_scope
                .as_deref()
                .map(|s| format!(" <span class=\"tag\">needs {}</span>", h(s)))
                .unwrap_or_default();
            let _ = writeln!(body, "<li><b>{}</b>: {}{scope}</li>", h(&n.section), h(&n.reason));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<h2>Keys</h2>\n<div class=\"scroll\"><table>\n<tr><th>Name</th><th>Id</th><th>Privilege</th><th>Scopes</th></tr>\n");
    for k in keys(p) {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td class=\"id\"><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            h(&k.name),
            h(&k.api_key_id),
            k.privilege.map_or("unknown", |p| p.as_str()),
            h(&k.scopes
                .as_ref()
                .map(|s| s.join(", "))
                .unwrap_or_else(|| "not read".into()))
        );
    }
    body.push_str("</table></div>\n<h2>What the API cannot show</h2>\n<ul class=\"notes\">\n");
    for c in CANNOT_SHOW {
        let _ = writeln!(body, "<li>{}</li>", h(c));
    }
    body.push_str("</ul>\n");
    page("sgscan audit: SendGrid account", &body)
}
