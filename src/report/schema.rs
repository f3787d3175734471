//! The machine report formats as types: what `--format json` and `jsonl` write, and what
//! `sgscan merge` and `--baseline` read back. One definition, so the writer and the readers cannot
//! drift apart. Field names are documented in README.md and kept stable.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Allowed, Finding, Location, Outcome, Skip, Stats, Target};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: "sgscan".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The `summary` object (and the JSONL `summary` line).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Summary {
    pub keys: u64,
    pub locations: u64,
    pub blobs_scanned: u64,
    pub bytes_scanned: u64,
    pub commits_scanned: u64,
    pub skipped: u64,
    pub allowed: u64,
    pub elapsed_ms: u64,
}

impl Summary {
    pub fn of(outcome: &Outcome, elapsed: std::time::Duration) -> Summary {
        Summary {
            keys: outcome.findings.len() as u64,
            locations: outcome.location_count(),
            blobs_scanned: outcome.stats.blobs_scanned,
            bytes_scanned: outcome.stats.bytes_scanned,
            commits_scanned: outcome.stats.commits_scanned,
            skipped: outcome.skipped.len() as u64,
            allowed: outcome.stats.allowed,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            blobs_scanned: self.blobs_scanned,
            bytes_scanned: self.bytes_scanned,
            commits_scanned: self.commits_scanned,
            allowed: self.allowed,
        }
    }
}

/// A finding as reports carry it: the key itself only with `--show-secrets`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FindingRecord {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl FindingRecord {
    pub fn of(f: &Finding, show_secrets: bool) -> FindingRecord {
        FindingRecord {
            finding: f.clone(),
            secret: show_secrets.then(|| f.key.clone()),
        }
    }

    /// The finding, with the key restored if the report carried it.
    pub fn into_finding(self) -> Finding {
        let mut f = self.finding;
        f.key = self.secret.unwrap_or_default();
        f
    }
}

/// `--format json`: one document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Document {
    pub tool: Tool,
    /// When the report was written: RFC 3339, UTC.
    #[serde(default)]
    pub generated_at: String,
    /// What was scanned: absent only in reports of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub summary: Summary,
    pub findings: Vec<FindingRecord>,
    #[serde(default)]
    pub skipped: Vec<Skip>,
    /// Keys an allow list let through, each location with what allowed it (`summary.allowed`
    /// counts them). Redacted only, even with `--show-secrets`.
    #[serde(default)]
    pub allowed: Vec<Allowed>,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A JSONL `finding` line: one location, with its finding's fields (without `locations`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LocationLine {
    #[serde(flatten)]
    pub finding: FindingRecord,
    #[serde(flatten)]
    pub location: Location,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SummaryLine {
    #[serde(flatten)]
    pub summary: Summary,
    pub tool: Tool,
    /// When the report was written: RFC 3339, UTC.
    #[serde(default)]
    pub generated_at: String,
    /// What was scanned: absent only in reports of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// What a report says of its run besides the outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunInfo<'a> {
    pub show_secrets: bool,
    pub elapsed: std::time::Duration,
    pub target: Option<&'a Target>,
    /// RFC 3339, UTC.
    pub generated_at: &'a str,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NoteLine {
    pub message: String,
}

/// `--format jsonl`: one of these per line, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Finding(Box<LocationLine>),
    Skipped(Skip),
    /// A key an allow list let through, with its locations.
    Allowed(Box<Allowed>),
    Note(NoteLine),
    Summary(SummaryLine),
}

/// Every string of a report read back (values and names) with key-shaped text redacted: a report
/// is input like any other, and one made by hand can carry a key in any field. On the parsed
/// value, since a JSON escape (`\u0053G.`) hides a key from the text.
fn redact_strings(mut v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    // A stack, not recursion: nesting depth is the input's to choose (serde caps it at 128 anyway).
    let mut stack = vec![&mut v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => crate::key::redact_in_place(s),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                if map
                    .keys()
                    .any(|k| matches!(crate::key::redact_text(k), std::borrow::Cow::Owned(_)))
                {
                    let old = std::mem::take(map);
                    *map = old
                        .into_iter()
                        .map(|(k, v)| (crate::key::redact_text(&k).into_owned(), v))
                        .collect();
                }
                stack.extend(map.values_mut());
            }
            _ => {}
        }
    }
    v
}

/// A report read back: a JSON document or the lines of a JSONL report.
pub enum Report {
    Document(Box<Document>),
    Lines(Vec<Line>),
}

impl Report {
    /// Parses a `--format json` or `jsonl` report; the error says which line is wrong.
    pub fn parse(text: &str) -> anyhow::Result<Report> {
        use anyhow::Context as _;
        if text.trim_start().starts_with('{')
            && let Ok(doc) = serde_json::from_str::<serde_json::Value>(text)
                .map(redact_strings)
                .and_then(serde_json::from_value::<Document>)
        {
            return Ok(Report::Document(Box::new(doc)));
        }
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let parsed: Line = serde_json::from_str::<serde_json::Value>(line)
                .map(redact_strings)
                .and_then(serde_json::from_value)
                .with_context(|| format!("line {}: not an sgscan report record", i + 1))?;
            lines.push(parsed);
        }
        if lines.is_empty() {
            anyhow::bail!("empty report");
        }
        Ok(Report::Lines(lines))
    }

    /// The fingerprints of every finding in the report.
    pub fn fingerprints(&self) -> Vec<&str> {
        match self {
            Report::Document(d) => d
                .findings
                .iter()
                .map(|f| f.finding.fingerprint.as_str())
                .collect(),
            Report::Lines(lines) => lines
                .iter()
                .filter_map(|l| match l {
                    Line::Finding(f) => Some(f.finding.finding.fingerprint.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// The records of a JSONL report for `outcome`, in order: locations, skips, allowed keys, notes,
/// summary.
pub fn lines(outcome: &Outcome, run: RunInfo) -> Vec<Line> {
    let RunInfo {
        show_secrets,
        elapsed,
        ..
    } = run;
    let mut out = Vec::new();
    for f in &outcome.findings {
        let mut head = FindingRecord::of(f, show_secrets);
        head.finding.locations = Vec::new();
        for loc in &f.locations {
            out.push(Line::Finding(Box::new(LocationLine {
                finding: head.clone(),
                location: loc.clone(),
            })));
        }
    }
    out.extend(outcome.skipped.iter().cloned().map(Line::Skipped));
    out.extend(outcome.allowed.iter().map(|a| Line::Allowed(Box::new(a.clone()))));
    out.extend(
        outcome
            .notes
            .iter()
            .map(|n| Line::Note(NoteLine { message: n.clone() })),
    );
    out.push(Line::Summary(SummaryLine {
        summary: Summary::of(outcome, elapsed),
        tool: Tool::this(),
        generated_at: run.generated_at.to_string(),
        target: run.target.cloned(),
    }));
    out
}

pub fn document(outcome: &Outcome, run: RunInfo) -> Document {
    let show_secrets = run.show_secrets;
    Document {
        tool: Tool::this(),
        generated_at: run.generated_at.to_string(),
        target: run.target.cloned(),
        summary: Summary::of(outcome, run.elapsed),
        findings: outcome
            .findings
            .iter()
            .map(|f| FindingRecord::of(f, show_secrets))
            .collect(),
        skipped: outcome.skipped.clone(),
        allowed: outcome.allowed.clone(),
        notes: outcome.notes.clone(),
    }
}

/// Which report a JSON Schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaOf {
    /// `--format json`: the whole document.
    Json,
    /// `--format jsonl`: each line on its own.
    Jsonl,
}

/// The JSON Schema (draft 2020-12) of what sgscan writes, derived from the types above with the
/// serializing contract: a field sgscan always writes is required, one it may leave out is not.
pub fn json_schema(of: SchemaOf) -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let (schema, title) = match of {
        SchemaOf::Json => (generator.into_root_schema_for::<Document>(), "sgscan JSON report"),
        SchemaOf::Jsonl => (
            generator.into_root_schema_for::<Line>(),
            "sgscan JSONL report line",
        ),
    };
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("title".into(), title.into());
    }
    value
}
