use std::io::Write;

use serde_json::{Value, json};

use super::{Context, finding_value};
use crate::findings::Outcome;

fn summary(outcome: &Outcome, ctx: &Context) -> Value {
    json!({
        "keys": outcome.findings.len(),
        "locations": outcome.location_count(),
        "blobs_scanned": outcome.stats.blobs_scanned,
        "bytes_scanned": outcome.stats.bytes_scanned,
        "commits_scanned": outcome.stats.commits_scanned,
        "skipped": outcome.skipped.len(),
        "allowed": outcome.stats.allowed,
        "elapsed_ms": ctx.elapsed.as_millis() as u64,
    })
}

fn tool() -> Value {
    json!({ "name": "sgscan", "version": env!("CARGO_PKG_VERSION") })
}

/// One JSON document: `{tool, summary, findings, skipped}`.
pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let doc = json!({
        "tool": tool(),
        "summary": summary(outcome, ctx),
        "findings": outcome.findings.iter().map(|f| finding_value(f, ctx.show_secrets)).collect::<Vec<_>>(),
        "skipped": outcome.skipped,
        "notes": outcome.notes,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One JSON object per line: a `finding` line per location (so shards and streams merge by
/// `fingerprint`), a `skipped` line per skip, and a final `summary` line.
pub fn write_lines(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    for f in &outcome.findings {
        let mut base = finding_value(f, ctx.show_secrets);
        let Some(obj) = base.as_object_mut() else {
            continue;
        };
        obj.remove("locations");
        obj.insert("type".into(), json!("finding"));
        for loc in &f.locations {
            let mut line = obj.clone();
            if let Value::Object(l) = serde_json::to_value(loc).unwrap_or(Value::Null) {
                line.extend(l);
            }
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
    }
    for s in &outcome.skipped {
        serde_json::to_writer(
            &mut *out,
            &json!({"type": "skipped", "path": s.path, "reason": s.reason}),
        )?;
        writeln!(out)?;
    }
    for n in &outcome.notes {
        serde_json::to_writer(&mut *out, &json!({"type": "note", "message": n}))?;
        writeln!(out)?;
    }
    let mut s = summary(outcome, ctx);
    if let Some(obj) = s.as_object_mut() {
        obj.insert("type".into(), json!("summary"));
        obj.insert("tool".into(), tool());
    }
    serde_json::to_writer(&mut *out, &s)?;
    writeln!(out)
}
