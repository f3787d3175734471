//! Reports: the same [`Outcome`] rendered for people (`human`, and `html` to pass around) or machines
//! (`json`, `jsonl`, `sarif`).
//! Field names of the machine formats are documented in README.md and kept stable.

pub mod audit;
pub mod github;
mod html;
mod human;
mod json;
pub mod merge;
mod sarif;
pub mod schema;
pub mod state;

use std::io::Write;

use crate::model::{Outcome, Target};
use crate::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
    Html,
}

/// What a report needs besides the outcome.
#[derive(Default)]
pub struct Context<'a> {
    pub rules: &'a [Rule],
    /// Print full keys (`--show-secrets`). Never honoured by SARIF, which is made to be uploaded, nor
    /// by HTML, which is made to be passed around.
    pub show_secrets: bool,
    pub elapsed: std::time::Duration,
    /// `--quiet`: the human report leaves out each key's next steps.
    pub quiet: bool,
    /// Why the scan failed: the report is still written (CI uploads it `if: always()`), saying so.
    pub error: Option<String>,
    /// The scanning mode (`dir`, `git`, `staged`, `ci`), for SARIF's `automationDetails`.
    pub mode: &'static str,
    /// What was scanned, for every report to name.
    pub target: Option<Target>,
    /// `--sarif-category`.
    pub category: Option<String>,
    /// Relative paths in the outcome are relative to `base`; SARIF wants them relative to `root`
    /// (the repository's top). Unset: paths are relative to the root already.
    pub paths: Option<Paths>,
}

impl Context<'_> {
    /// What the machine reports say of the run, as of `generated` (RFC 3339, UTC).
    fn run_info<'s>(&'s self, generated: &'s str) -> schema::RunInfo<'s> {
        schema::RunInfo {
            show_secrets: self.show_secrets,
            elapsed: self.elapsed,
            target: self.target.as_ref(),
            generated_at: generated,
        }
    }
}

/// See [`Context::paths`].
pub struct Paths {
    pub base: std::path::PathBuf,
    pub root: std::path::PathBuf,
}

pub fn write(out: &mut dyn Write, format: Format, outcome: &Outcome, ctx: &Context) -> std::io::Result<()> {
    match format {
        Format::Human => human::write(out, outcome, ctx),
        Format::Json => json::write(out, outcome, ctx),
        Format::Jsonl => json::write_lines(out, outcome, ctx),
        Format::Sarif => sarif::write(out, outcome, ctx),
        Format::Html => html::write(out, outcome, ctx),
    }
}
