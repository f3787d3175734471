//! Reports: the same [`Outcome`] rendered for people (`human`) or machines (`json`, `jsonl`, `sarif`).
//! Field names of the machine formats are documented in README.md and kept stable.

mod human;
mod json;
pub mod merge;
mod sarif;
pub mod schema;

use std::io::Write;

use crate::model::Outcome;
use crate::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
