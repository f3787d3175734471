//! Allowing known findings: `.sgscanignore` files of fingerprints and `--baseline` reports, so a team
//! can adopt sgscan on an old repository and fail only on new leaks. (The inline `sgscan:allow`
//! marker is handled by the detector, which sees the line.)

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::model::Outcome;
use crate::report::schema::Report;

#[derive(Debug, Default)]
pub struct Allowlist {
    fingerprints: HashSet<String>,
}

impl Allowlist {
    /// Reads every `.sgscanignore` among `ignore_files` that exists, and the baseline report if given.
    pub fn load(ignore_files: &[PathBuf], baseline: Option<&Path>) -> Result<Allowlist> {
        let mut list = Allowlist::default();
        let mut read = HashSet::new();
        for path in ignore_files {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !path.is_file() || !read.insert(canonical) {
                continue;
            }
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            list.add_ignore_file(&text, &path.display().to_string())?;
        }
        if let Some(path) = baseline {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read baseline {}", path.display()))?;
            list.add_baseline(&text).with_context(|| {
                format!(
                    "baseline {} is not an sgscan JSON or JSONL report",
                    path.display()
                )
            })?;
        }
        Ok(list)
    }

    /// One SHA-256 fingerprint per line; `#` starts a comment.
    pub fn add_ignore_file(&mut self, text: &str, origin: &str) -> Result<()> {
        for (i, line) in text.lines().enumerate() {
            let fp = line.split('#').next().unwrap_or("").trim();
            if fp.is_empty() {
                continue;
            }
            if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{origin}:{}: not a SHA-256 fingerprint (64 hex digits): '{fp}'",
                    i + 1
                );
            }
            self.fingerprints.insert(fp.to_ascii_lowercase());
        }
        Ok(())
    }

    /// A previous `--format json` (or `jsonl`) report: its findings' fingerprints.
    pub fn add_baseline(&mut self, text: &str) -> Result<()> {
        let report = Report::parse(text)?;
        self.fingerprints
            .extend(report.fingerprints().into_iter().map(str::to_ascii_lowercase));
        Ok(())
    }

    /// Drops allowed findings; returns how many.
    pub fn apply(&self, outcome: &mut Outcome) -> u64 {
        let before = outcome.findings.len();
        outcome
            .findings
            .retain(|f| !self.fingerprints.contains(&f.fingerprint));
        let allowed = (before - outcome.findings.len()) as u64;
        outcome.stats.allowed += allowed;
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_file_format() {
        let mut a = Allowlist::default();
        let fp = "ab".repeat(32);
        a.add_ignore_file(&format!("# comment\n\n{fp}  # fixture\n"), "x")
            .unwrap();
        assert!(a.fingerprints.contains(&fp));
        let err = a.add_ignore_file("nothex\n", ".sgscanignore").unwrap_err();
        assert!(err.to_string().contains(".sgscanignore:1"));
    }

    #[test]
    fn baseline_json_and_jsonl() {
        use crate::model::{Encoding, Finding, Location, Origin, Stats};
        use crate::report::schema;
        let finding = |fp: &str| Finding {
            rule_id: "r".into(),
            rule_name: "r".into(),
            fingerprint: fp.into(),
            key_id: None,
            redacted: "SG.x…".into(),
            confidence: Default::default(),
            key: String::new(),
            location_count: 1,
            locations: vec![Location {
                origin: Origin::file("a"),
                line: 1,
                column: 1,
                encoding: Encoding::Plain,
            }],
            verification: None,
            revocation: None,
            rotation: None,
        };
        let outcome = |fp: &str| Outcome {
            findings: vec![finding(fp)],
            stats: Stats::default(),
            skipped: vec![],
            notes: vec![],
        };
        let zero = std::time::Duration::ZERO;
        let doc = serde_json::to_string(&schema::document(&outcome("AA"), false, zero)).unwrap();
        let lines: Vec<String> = schema::lines(&outcome("bb"), false, zero)
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        let mut a = Allowlist::default();
        a.add_baseline(&doc).unwrap();
        a.add_baseline(&lines.join("\n")).unwrap();
        assert!(a.fingerprints.contains("aa") && a.fingerprints.contains("bb"));
        assert!(a.add_baseline("garbage").is_err());
        assert!(a.add_baseline(r#"{"type":"finding"}"#).is_err());
    }
}
