//! Findings: matches grouped by key. The same key in several places is one finding with several
//! locations; the [`Collector`] is what every source feeds, from any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::detect::Detector;
use crate::key::{fingerprint, redact, redact_in_place, redact_origin};
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
    /// Distinct keys in `findings`, for a progress line to read without the lock.
    keys: AtomicU64,
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
            keys: AtomicU64::new(0),
        }
    }

    /// Markers off: a key on a `sgscan:allow` line is reported like any other.
    pub fn without_inline_allow(mut self) -> Self {
        self.inline_allow = false;
        self
    }

    /// `origin(i)` places a match; `in_name`: `data` is names, one a line, and a match is at
    /// line 0 of the origin of its own name (`i`, 0-based).
    fn record(&self, data: &[u8], in_name: bool, origin: impl FnMut(usize) -> Origin) {
        self.record_owned(data, in_name, data.len(), origin);
    }

    /// [`Self::record`] of the matches that start before `owned`.
    fn record_owned(
        &self,
        data: &[u8],
        in_name: bool,
        owned: usize,
        mut origin: impl FnMut(usize) -> Origin,
    ) {
        let (mut matches, mut allowed) = self.detector.scan_with_allowed(data);
        matches.retain(|m| m.offset < owned);
        allowed.retain(|m| m.offset < owned);
        if !self.inline_allow {
            matches.append(&mut allowed);
        }
        if matches.is_empty() && allowed.is_empty() {
            return;
        }
        // Names come from outside, and may hold the very key found: redacted before they are kept.
        let mut current: Option<(usize, Origin)> = None;
        let mut place = |i: usize| match &current {
            Some((at, o)) if *at == i => o.clone(),
            _ => {
                let mut o = origin(i);
                redact_origin(&mut o);
                current.insert((i, o)).1.clone()
            }
        };
        // A poisoned lock means another thread panicked mid-insert; its data is still sound to keep.
        if !allowed.is_empty() {
            let mut map = self.allowed_inline.lock().unwrap_or_else(|e| e.into_inner());
            self.insert(&mut map, allowed, in_name, &mut place);
        }
        if !matches.is_empty() {
            let mut map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            self.insert(&mut map, matches, in_name, &mut place);
            self.keys.store(map.len() as u64, Ordering::Relaxed);
        }
    }

    fn insert(
        &self,
        map: &mut HashMap<String, Finding>,
        matches: Vec<crate::detect::Match>,
        in_name: bool,
        place: &mut dyn FnMut(usize) -> Origin,
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
            // A key read only after removing invisible characters is `medium`; the same key
            // found as it is elsewhere is as sure as its form makes it, whichever came first.
            entry.confidence = entry.confidence.min(m.confidence);
            entry.location_count = entry.location_count.saturating_add(1);
            if entry.locations.len() < MAX_LOCATIONS {
                // Lines are 1-based: a name's line says which name, and line 0 says "in the name".
                let i = if in_name {
                    usize::try_from(m.line.saturating_sub(1)).unwrap_or(usize::MAX)
                } else {
                    0
                };
                entry.locations.push(Location {
                    origin: place(i),
                    line: if in_name { 0 } else { m.line },
                    column: m.column,
                    encoding: m.encoding,
                    note: m.note,
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

/// Longest dot-free run after a `.` that counts as an extension.
const MAX_EXTENSION: usize = 10;

/// `names` with every `.` that starts a short dot-free run (an extension: `.env`, `.tar`, `.gz`)
/// made a space: the rule takes a key glued to `.token` for part of a longer token, but in a file
/// name (`SG.….env`) that is its extension. A key's own dots start runs of 22 and 43 characters,
/// so no key loses one. Same length, so columns hold; linear, each run looked at up to its 11th byte.
fn split_extensions(names: &[u8]) -> Vec<u8> {
    let mut out = names.to_vec();
    for i in memchr::memchr_iter(b'.', names) {
        let run = names[i + 1..]
            .iter()
            .take(MAX_EXTENSION + 1)
            .take_while(|&&b| b != b'.' && b != b'\n')
            .count();
        if (1..=MAX_EXTENSION).contains(&run) {
            out[i] = b' ';
        }
    }
    out
}

impl Sink for Collector<'_> {
    fn blob(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.record(data, false, |_| origin());
    }

    fn names(&self, names: &[u8], origin: &dyn Fn(usize) -> Origin) {
        self.record(&split_extensions(names), true, origin);
    }

    /// Bytes are counted once: those it owns.
    fn window(&self, data: &[u8], owned: usize, origin: &dyn Fn() -> Origin) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        let owned = owned.min(data.len());
        self.bytes.fetch_add(owned as u64, Ordering::Relaxed);
        self.record_owned(data, false, owned, |_| origin());
    }

    /// Counted apart from blobs, so the blob count says what was read from the object store.
    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.record(data, false, |_| origin());
    }

    fn header(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.record(data, false, |_| origin());
    }

    fn skipped(&self, mut skip: Skip) {
        // Paths and error texts come from outside: a tar error can quote the block after a header.
        redact_in_place(&mut skip.path);
        redact_in_place(&mut skip.reason);
        // A poisoned lock means another thread panicked mid-push; the list is still sound.
        self.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(skip);
    }

    fn noted(&self, mut note: String) {
        redact_in_place(&mut note);
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
    }

    fn keys_found(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
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
                redact_origin(&mut origin);
                loc.origin = origin;
            }
        }
        drop((map, inline));
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        for skip in skipped.iter_mut() {
            if let Some(mut path) = places.skip_path(&skip.path) {
                redact_in_place(&mut path);
                skip.path = path;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_extensions;

    #[test]
    fn extensions_are_split_off_names_and_key_dots_are_kept() {
        let id = "a".repeat(22);
        let secret = "b".repeat(43);
        let name = format!("x.SG.{id}.{secret}.tar.gz\nREADME.md\n...\n.\n");
        let want = format!("x SG.{id}.{secret} tar gz\nREADME md\n...\n.\n");
        assert_eq!(split_extensions(name.as_bytes()), want.as_bytes());
        // A run of 11 or more is no extension.
        assert_eq!(split_extensions(b"a.bcdefghijkl"), b"a.bcdefghijkl");
        assert_eq!(split_extensions(b"a.bcdefghijk"), b"a bcdefghijk");
    }
}
