//! Reports: the same [`Outcome`] rendered for people (`human`) or machines (`json`, `jsonl`, `sarif`).
//! Field names of the machine formats are documented in README.md and kept stable.

mod human;
mod json;
mod sarif;

use std::io::Write;

use crate::findings::{Finding, Outcome};
use crate::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
}

/// What a report needs besides the outcome.
pub struct Context<'a> {
    pub rules: &'a [Rule],
    /// Print full keys (`--show-secrets`). Never honoured by SARIF, which is made to be uploaded.
    pub show_secrets: bool,
    pub elapsed: std::time::Duration,
}

pub fn write(out: &mut dyn Write, format: Format, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    match format {
        Format::Human => human::write(out, outcome, ctx),
        Format::Json => json::write(out, outcome, ctx),
        Format::Jsonl => json::write_lines(out, outcome, ctx),
        Format::Sarif => sarif::write(out, outcome, ctx),
    }
}

/// A finding as a JSON object, with the key added only when asked for.
fn finding_value(f: &Finding, show_secrets: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(f).unwrap_or(serde_json::Value::Null);
    if let (true, Some(obj)) = (show_secrets, v.as_object_mut()) {
        obj.insert("secret".into(), serde_json::Value::String(f.key.clone()));
    }
    v
}
