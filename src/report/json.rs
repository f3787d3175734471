use std::io::Write;

use super::Context;
use super::schema;
use crate::model::Outcome;

/// One JSON document: `{tool, generated_at, target, summary, findings, skipped, allowed, notes}`.
pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let generated = crate::verify::now_rfc3339();
    let doc = schema::document(outcome, ctx.run_info(&generated));
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One JSON object per line: a `finding` line per location (so shards and streams merge by
/// `fingerprint`), a `skipped` line per skip, a `note` line per note, and a final `summary` line.
pub fn write_lines(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let generated = crate::verify::now_rfc3339();
    for line in schema::lines(outcome, ctx.run_info(&generated)) {
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}
