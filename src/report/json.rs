use std::io::Write;

use super::Context;
use super::schema;
use crate::model::Outcome;

/// One JSON document: `{tool, summary, findings, skipped, notes}`.
pub fn write(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    let doc = schema::document(outcome, ctx.show_secrets, ctx.elapsed);
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One JSON object per line: a `finding` line per location (so shards and streams merge by
/// `fingerprint`), a `skipped` line per skip, a `note` line per note, and a final `summary` line.
pub fn write_lines(out: &mut dyn Write, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    for line in schema::lines(outcome, ctx.show_secrets, ctx.elapsed) {
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}
