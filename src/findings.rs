//! Findings: matches grouped by key. The same key in several places is one finding with several
//! locations; the [`Collector`] is what every source feeds, from any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::detect::Detector;
use crate::key::{fingerprint, redact};
use crate::model::{
    AllowKind, Allowed, AllowedBy, Finding, Location, MAX_LOCATIONS, Origin, Outcome, Skip, Stats,
};
use crate::source::{Attribute, Sink};

/// Shared sink for every source: runs the detector on a blob and records what it finds.
pub struct Collector<'d> {
    detector: &'d Detector,
    findings: Mutex<HashMap<String, Finding>>,
    skipped: Mutex<Vec<Skip>>,
    notes: Mutex<Vec<String>>,
    /// Keys matched on a `sgscan:allow` line, with where: listed as allowed unless the key is also
    /// found elsewhere.
    allowed_inline: Mutex<HashMap<String, Finding>>,
    /// Whether `sgscan:allow` counts (`--no-inline-allow`, `--no-config`: it does not).
    inline_allow: bool,
    blobs: AtomicU64,
    bytes: AtomicU64,
    messages: AtomicU64,
}

impl<'d> Collector<'d> {
    pub fn new(detector: &'d Detector) -> Collector<'d> {
        Collector {
            detector,
            findings: Mutex::new(HashMap::new()),
            skipped: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            allowed_inline: Mutex::new(HashMap::new()),
            inline_allow: true,
            blobs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        }
    }

    /// Markers off: a key on a `sgscan:allow` line is reported like any other.
    pub fn without_inline_allow(mut self) -> Self {
        self.inline_allow = false;
        self
    }

    fn record(&self, data: &[u8], origin: impl FnOnce() -> Origin) {
        let (mut matches, allowed) = self.detector.scan_with_allowed(data);
        let mut allowed = Some(allowed).filter(|a| !a.is_empty());
        if !self.inline_allow
            && let Some(a) = allowed.take()
        {
            matches.extend(a);
        }
        if matches.is_empty() && allowed.is_none() {
            return;
        }
        let origin = origin();
        if let Some(allowed) = allowed {
            let mut map = self.allowed_inline.lock().unwrap_or_else(|e| e.into_inner());
            self.insert(&mut map, allowed, &origin);
        }
        if !matches.is_empty() {
            // A poisoned lock means another thread panicked mid-insert; its data is still sound.
            let mut map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            self.insert(&mut map, matches, &origin);
        }
    }

    fn insert(
        &self,
        map: &mut HashMap<String, Finding>,
        matches: Vec<crate::detect::Match>,
        origin: &Origin,
    ) {
        let rules = self.detector.rules();
        for m in matches {
            let rule = &rules[m.rule];
            let fp = fingerprint(&m.key);
            let entry = map.entry(fp.clone()).or_insert_with(|| Finding {
                rule_id: rule.spec.id.clone(),
                rule_name: rule.spec.name.clone(),
                fingerprint: fp,
                key_id: m.key_id.clone(),
                redacted: redact(&m.key),
                confidence: m.confidence,
                key: m.key.clone(),
                location_count: 0,
                locations: Vec::new(),
                verification: None,
                revocation: None,
                rotation: None,
            });
            entry.location_count += 1;
            if entry.locations.len() < MAX_LOCATIONS {
                entry.locations.push(Location {
                    origin: origin.clone(),
                    line: m.line,
                    column: m.column,
                    encoding: m.encoding,
                });
            }
        }
    }

    /// The findings in a stable order (by first location), each with its locations sorted.
    pub fn finish(self) -> Outcome {
        let map = self.findings.into_inner().unwrap_or_else(|e| e.into_inner());
        let inline = self
            .allowed_inline
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        // A key also found on an unmarked line is reported there: its marked lines allow nothing.
        let allowed: Vec<Allowed> = inline
            .into_values()
            .filter(|f| !map.contains_key(&f.fingerprint))
            .map(|f| {
                Allowed::of(f, |l| AllowedBy {
                    kind: AllowKind::Inline,
                    file: inline_file(&l.origin),
                    line: Some(l.line),
                    commit: l.origin.commit.as_ref().map(|c| c.commit.clone()),
                })
            })
            .collect();
        let findings: Vec<Finding> = map.into_values().collect();
        let skipped = self.skipped.into_inner().unwrap_or_else(|e| e.into_inner());
        let notes = self.notes.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut outcome = Outcome {
            findings,
            notes,
            stats: Stats {
                blobs_scanned: self.blobs.into_inner(),
                bytes_scanned: self.bytes.into_inner(),
                commits_scanned: self.messages.into_inner(),
                allowed: allowed.len() as u64,
            },
            skipped,
            allowed,
        };
        outcome.sort();
        outcome
    }
}

/// The file a marker is in: the path, `path!member` inside an archive.
fn inline_file(o: &Origin) -> String {
    match &o.member {
        Some(m) => format!("{}!{m}", o.path),
        None => o.path.clone(),
    }
}

impl Sink for Collector<'_> {
    fn blob(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.record(data, origin);
    }

    /// Counted apart from blobs, so the blob count says what was read from the object store.
    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.record(data, origin);
    }

    fn skipped(&self, skip: Skip) {
        // A poisoned lock means another thread panicked mid-push; the list is still sound.
        self.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(skip);
    }

    fn noted(&self, note: String) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
    }

    fn pending_blobs(&self) -> Vec<String> {
        let map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        let inline = self.allowed_inline.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .chain(inline.values())
            .flat_map(|f| &f.locations)
            .filter(|l| l.origin.pending)
            .filter_map(|l| l.origin.blob.clone())
            .collect()
    }

    /// One pass over what was recorded: findings are few, so this costs nothing next to the scan.
    fn attribute(&self, places: &dyn Attribute) {
        let mut map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        let mut inline = self.allowed_inline.lock().unwrap_or_else(|e| e.into_inner());
        for loc in map
            .values_mut()
            .chain(inline.values_mut())
            .flat_map(|f| f.locations.iter_mut())
        {
            if !loc.origin.pending {
                continue;
            }
            if let Some(mut origin) = places.origin(&loc.origin) {
                origin.member = loc.origin.member.take();
                origin.pending = false;
                loc.origin = origin;
            }
        }
        drop((map, inline));
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        for skip in skipped.iter_mut() {
            if let Some(path) = places.skip_path(&skip.path) {
                skip.path = path;
            }
        }
    }
}
