//! `sgscan merge`: combines the JSONL (or JSON) reports of several runs — typically the shards of
//! `sgscan git --shard I/N` — into one outcome, one finding per fingerprint.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};

use super::schema::{FindingRecord, Line, Report, Summary};
use crate::model::{Allowed, Finding, Location, MAX_LOCATIONS, Outcome, Repository, Skip, Stats, Target};

/// Roots and repositories a merged target lists; a note counts the rest. A report's own are few,
/// and a hostile one's thousands would only bloat every merged report.
const TARGET_ENTRIES: usize = 1000;

#[derive(Default)]
pub struct Merger {
    findings: HashMap<String, Finding>,
    stats: Stats,
    skipped: Vec<Skip>,
    allowed: HashMap<String, Allowed>,
    notes: Vec<String>,
    /// The notes, roots and repositories seen so far, listed or not: each is taken once, and
    /// looking it up in the lists would make a merge quadratic in what a report holds.
    seen_notes: HashSet<String>,
    seen_roots: HashSet<String>,
    seen_repositories: HashSet<Repository>,
    /// What the reports scanned, taken together; none if no report said.
    target: Option<Target>,
    /// Distinct roots and repositories beyond [`TARGET_ENTRIES`].
    unlisted_roots: u64,
    unlisted_repositories: u64,
}

impl Merger {
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = crate::file::read_to_string(path, crate::file::REPORT)
            .with_context(|| format!("cannot read report {}", path.display()))?;
        self.add_report(&text)
            .with_context(|| format!("{}: not an sgscan JSON or JSONL report", path.display()))
    }

    pub fn add_report(&mut self, text: &str) -> Result<()> {
        match Report::parse(text)? {
            Report::Document(doc) => {
                self.target(doc.target);
                for record in doc.findings {
                    let incoming = record.finding.location_count;
                    let locations = record.finding.locations.clone();
                    let entry = self.finding(record);
                    entry.location_count = entry.location_count.saturating_add(incoming);
                    for l in locations {
                        push_location(entry, l);
                    }
                }
                self.add_stats(&doc.summary);
                self.skipped.extend(doc.skipped);
                for a in doc.allowed {
                    self.allowed(a);
                }
                for n in doc.notes {
                    self.note(n);
                }
            }
            Report::Lines(lines) => {
                // Each finding's own count is on each of its lines: count it once per report.
                let mut counted = HashSet::new();
                for line in lines {
                    match line {
                        Line::Finding(l) => {
                            let count = l.finding.finding.location_count.max(1);
                            let first = counted.insert(l.finding.finding.fingerprint.clone());
                            let l = *l;
                            let entry = self.finding(l.finding);
                            if first {
                                entry.location_count = entry.location_count.saturating_add(count);
                            }
                            push_location(entry, l.location);
                        }
                        Line::Skipped(s) => self.skipped.push(s),
                        Line::Allowed(a) => self.allowed(*a),
                        Line::Note(n) => self.note(n.message),
                        Line::Summary(s) => {
                            self.add_stats(&s.summary);
                            self.target(s.target);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// One entry per allowed key, its locations from every report.
    fn allowed(&mut self, a: Allowed) {
        match self.allowed.get_mut(&a.fingerprint) {
            None => {
                self.allowed.insert(a.fingerprint.clone(), a);
            }
            Some(entry) => {
                entry.location_count += a.location_count;
                for l in a.locations {
                    if entry.locations.len() < MAX_LOCATIONS && !entry.locations.contains(&l) {
                        entry.locations.push(l);
                    }
                }
            }
        }
    }

    /// Another report's target taken in: roots and repositories once each, up to
    /// [`TARGET_ENTRIES`]; the mode stays only if all name the same. A remote URL is cleaned again:
    /// the report may not be ours.
    fn target(&mut self, t: Option<Target>) {
        let Some(t) = t else { return };
        let mine = self.target.get_or_insert_with(|| Target::new(&t.mode));
        if mine.mode != t.mode {
            mine.mode = "merge".to_string();
        }
        for r in t.roots {
            if self.seen_roots.insert(r.clone()) {
                match mine.roots.len() < TARGET_ENTRIES {
                    true => mine.roots.push(r),
                    false => self.unlisted_roots += 1,
                }
            }
        }
        for mut r in t.repositories {
            r.remote_url = r.remote_url.map(|u| crate::source::git::public_url(&u));
            if self.seen_repositories.insert(r.clone()) {
                match mine.repositories.len() < TARGET_ENTRIES {
                    true => mine.repositories.push(r),
                    false => self.unlisted_repositories += 1,
                }
            }
        }
    }

    fn note(&mut self, n: String) {
        if self.seen_notes.insert(n.clone()) {
            self.notes.push(n);
        }
    }

    /// The merged finding for this record's fingerprint, created empty on first sight.
    fn finding(&mut self, record: FindingRecord) -> &mut Finding {
        let fp = record.finding.fingerprint.clone();
        self.findings.entry(fp).or_insert_with(|| {
            let mut f = record.into_finding();
            f.location_count = 0;
            f.locations.clear();
            f
        })
    }

    /// Counts are the input's to choose: they saturate rather than overflow.
    fn add_stats(&mut self, s: &Summary) {
        let s = s.stats();
        let t = &mut self.stats;
        t.blobs_scanned = t.blobs_scanned.saturating_add(s.blobs_scanned);
        t.bytes_scanned = t.bytes_scanned.saturating_add(s.bytes_scanned);
        t.commits_scanned = t.commits_scanned.saturating_add(s.commits_scanned);
        t.allowed = t.allowed.saturating_add(s.allowed);
    }

    /// The merged outcome, and what the reports scanned.
    pub fn finish(mut self) -> (Outcome, Option<Target>) {
        for (n, one, many) in [
            (self.unlisted_roots, "root", "roots"),
            (self.unlisted_repositories, "repository", "repositories"),
        ] {
            if n > 0 {
                self.note(format!(
                    "{} of the merged reports not listed in `target`: it lists the first {TARGET_ENTRIES}",
                    crate::text::count(n, &format!("more {one}"), &format!("more {many}"))
                ));
            }
        }
        let mut findings: Vec<Finding> = self.findings.into_values().collect();
        for f in &mut findings {
            f.location_count = f.location_count.max(f.locations.len() as u64);
        }
        let mut outcome = Outcome {
            findings,
            stats: self.stats,
            skipped: self.skipped,
            allowed: self.allowed.into_values().collect(),
            notes: self.notes,
        };
        outcome.sort();
        (outcome, self.target)
    }
}

fn push_location(f: &mut Finding, l: Location) {
    if f.locations.len() < MAX_LOCATIONS && !f.locations.contains(&l) {
        f.locations.push(l);
    }
}
