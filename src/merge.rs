//! `sgscan merge`: combines the JSONL (or JSON) reports of several runs — typically the shards of
//! `sgscan git --shard I/N` — into one outcome, one finding per fingerprint.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::findings::{Finding, Location, MAX_LOCATIONS, Outcome, Skip, Stats};

#[derive(Default)]
pub struct Merger {
    findings: HashMap<String, Finding>,
    stats: Stats,
    skipped: Vec<Skip>,
    notes: Vec<String>,
}

impl Merger {
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read report {}", path.display()))?;
        self.add_report(&text)
            .with_context(|| format!("{}: not an sgscan JSON or JSONL report", path.display()))
    }

    pub fn add_report(&mut self, text: &str) -> Result<()> {
        if let Ok(doc) = serde_json::from_str::<Value>(text)
            && doc.get("findings").is_some()
        {
            return self.add_document(doc);
        }
        // Each finding's own count is on each of its lines: count it once per report.
        let mut counted = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
            match v.get("type").and_then(Value::as_str) {
                Some("finding") => {
                    let location: Location = serde_json::from_value(v.clone())
                        .with_context(|| format!("line {}: bad location", i + 1))?;
                    let f = self
                        .finding(&v)
                        .with_context(|| format!("line {}: bad finding", i + 1))?;
                    if counted.insert(f.fingerprint.clone()) {
                        f.location_count += v.get("location_count").and_then(Value::as_u64).unwrap_or(1);
                    }
                    push_location(f, location);
                }
                Some("skipped") => self.skipped.push(serde_json::from_value(v)?),
                Some("note") => {
                    let n = v
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if !self.notes.contains(&n) {
                        self.notes.push(n);
                    }
                }
                Some("summary") => self.add_stats(&v),
                other => bail!("line {}: unknown record type {other:?}", i + 1),
            }
        }
        Ok(())
    }

    fn add_document(&mut self, doc: Value) -> Result<()> {
        for f in doc
            .get("findings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let incoming: Finding = serde_json::from_value(f.clone()).context("bad finding")?;
            let entry = self.finding(&f)?;
            entry.location_count += incoming.location_count;
            for l in incoming.locations {
                push_location(entry, l);
            }
        }
        if let Some(s) = doc.get("summary") {
            self.add_stats(s);
        }
        if let Some(skipped) = doc.get("skipped") {
            self.skipped
                .extend(serde_json::from_value::<Vec<Skip>>(skipped.clone())?);
        }
        for n in doc
            .get("notes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !self.notes.iter().any(|m| m == n) {
                self.notes.push(n.to_string());
            }
        }
        Ok(())
    }

    fn finding(&mut self, v: &Value) -> Result<&mut Finding> {
        let fp = v
            .get("fingerprint")
            .and_then(Value::as_str)
            .context("no fingerprint")?
            .to_string();
        if !self.findings.contains_key(&fp) {
            let mut f: Finding = serde_json::from_value(v.clone())?;
            f.key = v
                .get("secret")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            f.location_count = 0;
            f.locations.clear();
            self.findings.insert(fp.clone(), f);
        }
        self.findings.get_mut(&fp).context("finding vanished")
    }

    fn add_stats(&mut self, s: &Value) {
        let get = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.stats.blobs_scanned += get("blobs_scanned");
        self.stats.bytes_scanned += get("bytes_scanned");
        self.stats.commits_scanned += get("commits_scanned");
        self.stats.allowed += get("allowed");
    }

    pub fn finish(self) -> Outcome {
        let mut findings: Vec<Finding> = self.findings.into_values().collect();
        for f in &mut findings {
            f.locations
                .sort_by(|a, b| (&a.origin.path, a.line, a.column).cmp(&(&b.origin.path, b.line, b.column)));
            f.location_count = f.location_count.max(f.locations.len() as u64);
        }
        findings.sort_by(|a, b| {
            let ka = a.locations.first().map(|l| (&l.origin.path, l.line));
            let kb = b.locations.first().map(|l| (&l.origin.path, l.line));
            ka.cmp(&kb).then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        Outcome {
            findings,
            stats: self.stats,
            skipped: self.skipped,
            notes: self.notes,
        }
    }
}

fn push_location(f: &mut Finding, l: Location) {
    if f.locations.len() < MAX_LOCATIONS && !f.locations.contains(&l) {
        f.locations.push(l);
    }
}
