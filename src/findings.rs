//! Findings: matches grouped by key. The same key in several places is one finding with several
//! locations; the [`Collector`] is what every source feeds, from any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detect::{Detector, Encoding};

/// SHA-256 of the key, lower-case hex: stable across runs and machines, safe to store in baselines.
pub fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The first characters of a key and an ellipsis, e.g. `SG.abcd…`: enough to recognise it, far too
/// little to use it.
pub fn redact(key: &str) -> String {
    let keep = if key.starts_with("SG.") {
        7
    } else {
        (key.len() / 5).min(6)
    };
    let cut = key.char_indices().nth(keep).map_or(key.len(), |(i, _)| i);
    format!("{}…", &key[..cut])
}

/// Where bytes came from. Sources fill what they know; git history adds the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The path as UTF-8; invalid sequences become U+FFFD, and then `path_bytes` has the original.
    pub path: String,
    /// Hex of the path's bytes, present only when they are not valid UTF-8 (a name git or the file
    /// system allows), so a report still leads back to the exact file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub commit: Option<CommitInfo>,
}

impl Origin {
    pub fn file(path: impl Into<String>) -> Origin {
        Origin {
            path: path.into(),
            path_bytes: None,
            commit: None,
        }
    }

    /// A path given as raw bytes (git paths, Unix file names), kept losslessly.
    pub fn from_bytes(path: &[u8]) -> Origin {
        match std::str::from_utf8(path) {
            Ok(s) => Origin::file(s),
            Err(_) => Origin {
                path: String::from_utf8_lossy(path).into_owned(),
                path_bytes: Some(hex::encode(path)),
                commit: None,
            },
        }
    }

    /// The path for a terminal: control characters escaped, invalid bytes as `\xNN`.
    pub fn shown_path(&self) -> String {
        match self.path_bytes.as_deref().and_then(|h| hex::decode(h).ok()) {
            Some(raw) => crate::text::escape_bytes(&raw),
            None => crate::text::escape(&self.path).into_owned(),
        }
    }
}

/// The commit that introduced a blob at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub commit: String,
    pub author_name: String,
    pub author_email: String,
    /// RFC 3339.
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(flatten)]
    pub origin: Origin,
    pub line: u64,
    pub column: u64,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub fingerprint: String,
    pub key_id: Option<String>,
    pub redacted: String,
    /// The full key. Serialized only when the user asked for it (`--show-secrets`): reports copy it
    /// explicitly, so a plain `serde_json::to_string(&finding)` never leaks it.
    #[serde(skip)]
    pub key: String,
    /// How many locations were seen in all; `locations` keeps at most [`MAX_LOCATIONS`].
    pub location_count: u64,
    #[serde(default)]
    pub locations: Vec<Location>,
    /// Set by `--verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verify::Verification>,
    /// Set by `--revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::revoke::Revocation>,
}

/// Locations kept per key, so a key committed in 100k places does not grow memory without bound.
pub const MAX_LOCATIONS: usize = 1000;

/// Something the scan could not look at, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub path: String,
    pub reason: String,
}

/// Counters for the summary line and the JSON `summary` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub blobs_scanned: u64,
    pub bytes_scanned: u64,
    /// Commit messages scanned (git history), counted apart from blobs.
    pub commits_scanned: u64,
    /// Findings dropped by `.sgscanignore` or `--baseline`.
    pub allowed: u64,
}

/// Everything a scan produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub stats: Stats,
    pub skipped: Vec<Skip>,
    /// Things the user should know about the scan as a whole (a shallow clone, submodules not
    /// followed, LFS pointers), one line each.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn location_count(&self) -> u64 {
        self.findings.iter().map(|f| f.location_count).sum()
    }
}

/// Shared sink for every source: runs the detector on a blob and records what it finds.
pub struct Collector<'d> {
    detector: &'d Detector,
    findings: Mutex<HashMap<String, Finding>>,
    skipped: Mutex<Vec<Skip>>,
    notes: Mutex<Vec<String>>,
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
            blobs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        }
    }

    pub fn detector(&self) -> &Detector {
        self.detector
    }

    /// Scans one blob and records its matches under `origin`.
    pub fn scan(&self, data: &[u8], origin: &Origin) {
        self.scan_lazy(data, || origin.clone());
    }

    /// Like [`Collector::scan`], for sources whose provenance is costly to build (a commit to
    /// read): `origin` runs only if something is found.
    pub fn scan_lazy(&self, data: &[u8], origin: impl FnOnce() -> Origin) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.record(data, origin);
    }

    /// Scans a commit message (counted apart from blobs, so the blob count says what was read
    /// from the object store).
    pub fn scan_message(&self, data: &[u8], origin: impl FnOnce() -> Origin) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.record(data, origin);
    }

    fn record(&self, data: &[u8], origin: impl FnOnce() -> Origin) {
        let matches = self.detector.scan(data);
        if matches.is_empty() {
            return;
        }
        let rules = self.detector.rules();
        let origin = origin();
        // A poisoned lock means another thread panicked mid-insert; its data is still sound to keep.
        let mut map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        for m in matches {
            let rule = &rules[m.rule];
            let fp = fingerprint(&m.key);
            let entry = map.entry(fp.clone()).or_insert_with(|| Finding {
                rule_id: rule.spec.id.clone(),
                rule_name: rule.spec.name.clone(),
                fingerprint: fp,
                key_id: m.key_id.clone(),
                redacted: redact(&m.key),
                key: m.key.clone(),
                location_count: 0,
                locations: Vec::new(),
                verification: None,
                revocation: None,
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

    pub fn note(&self, note: impl Into<String>) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note.into());
    }

    pub fn skip(&self, path: impl Into<String>, reason: impl Into<String>) {
        let skip = Skip {
            path: path.into(),
            reason: reason.into(),
        };
        self.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(skip);
    }

    /// The findings in a stable order (by first location), each with its locations sorted.
    pub fn finish(self) -> Outcome {
        let map = self.findings.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut findings: Vec<Finding> = map.into_values().collect();
        for f in &mut findings {
            f.locations.sort_by(|a, b| {
                (&a.origin.path, a.line, a.column, a.encoding).cmp(&(
                    &b.origin.path,
                    b.line,
                    b.column,
                    b.encoding,
                ))
            });
        }
        findings.sort_by(|a, b| {
            let ka = a.locations.first().map(|l| (&l.origin.path, l.line, l.column));
            let kb = b.locations.first().map(|l| (&l.origin.path, l.line, l.column));
            ka.cmp(&kb).then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        let mut skipped = self.skipped.into_inner().unwrap_or_else(|e| e.into_inner());
        skipped.sort_by(|a, b| (&a.path, &a.reason).cmp(&(&b.path, &b.reason)));
        let notes = self.notes.into_inner().unwrap_or_else(|e| e.into_inner());
        Outcome {
            findings,
            notes,
            stats: Stats {
                blobs_scanned: self.blobs.into_inner(),
                bytes_scanned: self.bytes.into_inner(),
                commits_scanned: self.messages.into_inner(),
                allowed: 0,
            },
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_prefix_only() {
        let key = format!("SG.{}.{}", "a1".repeat(11), "b2".repeat(21) + "c");
        assert_eq!(redact(&key), "SG.a1a1…");
        assert_eq!(fingerprint("abc").len(), 64);
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
