//! Helpers shared by every topic of the integration tests: the command builder and its [`Run`],
//! generated keys, the SendGrid mock, git repositories, scratch trees, and the accessors of the
//! JSON report. No key literal appears here or in any test: keys are generated at run time.
#![allow(dead_code)]

pub mod forge;
pub mod git;
pub mod githttp;
pub mod keys;
pub mod mock;
pub mod run;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

pub use keys::{KeyGen, expand};
pub use run::{
    Run, assert_no_key, assert_run_leaks_nothing, cut, jsonl, run, run_peak_rss, scan, scrub, sgscan,
    sgscan_process,
};

/// A test with a fresh scratch tree (`dir`, a [`Tree`]) and an `sgscan` command (`cmd`) whose
/// current directory is the tree's root: `sgtest!(name, |dir, cmd| { ... });`.
macro_rules! sgtest {
    ($name:ident, |$dir:ident, $cmd:ident| $body:block) => {
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            let $dir = $crate::util::Tree::new();
            #[allow(unused_mut, unused_variables)]
            let mut $cmd = $crate::util::sgscan($dir.root());
            $body
        }
    };
}

/// A temporary directory. Tests that scan all of it write with [`Tree::write`]; tests that keep
/// files outside the scan (policy, cache, audit log, reports) scan [`Tree::scan_dir`] and write there
/// with [`Tree::put`].
pub struct Tree {
    tmp: TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            tmp: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `scan/`, created on first use.
    pub fn scan_dir(&self) -> PathBuf {
        let dir = self.root().join("scan");
        std::fs::create_dir_all(&dir).expect("create scan/");
        dir
    }

    /// A path outside the scanned directory.
    pub fn outside(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// Writes `root/rel`.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        write(self.root(), rel, contents);
    }

    /// Writes `scan/rel`.
    pub fn put(&self, rel: &str, contents: &str) {
        write(&self.scan_dir(), rel, contents);
    }

    /// Writes `scan/rel` holding `key` as an environment assignment (on line 2).
    pub fn put_key(&self, rel: &str, key: &str) {
        self.put(rel, &format!("# mail settings\nSENDGRID_API_KEY={key}\n"));
    }
}

/// Writes `contents` to `root/rel`, creating parent directories.
pub fn write(root: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
}

/// A FIFO at `path` (its directory created): what no scan may open and wait on. Runs that meet one
/// keep the timeout of [`sgscan`], so a hang fails the test instead of blocking it.
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// SHA-256 of the key, lower-case hex: the fingerprint sgscan reports, computed independently.
pub fn fp(key: &str) -> String {
    mock::fingerprint(key)
}

/// The key id (middle segment) of a key.
pub fn id(key: &str) -> String {
    mock::key_id(key)
}

/// A human report's block for `key` (found by its key id): from its header line to the blank line
/// after it.
pub fn key_block<'a>(r: &'a Run, key: &str) -> &'a str {
    let key_id = id(key);
    r.stdout
        .split("\n\n")
        .find(|b| b.contains(&format!("key id {key_id}")))
        .unwrap_or_else(|| panic!("no block for key id {key_id}:\n{r}"))
}

/// `SENDGRID_API_KEY=<key>` and a newline.
pub fn env_line(key: &str) -> String {
    format!("SENDGRID_API_KEY={key}\n")
}

pub fn findings(doc: &Value) -> &Vec<Value> {
    doc["findings"].as_array().expect("`findings` is an array")
}

/// The finding for `key`, if any.
pub fn find<'a>(doc: &'a Value, key: &str) -> Option<&'a Value> {
    let fp = fp(key);
    findings(doc).iter().find(|f| f["fingerprint"] == fp.as_str())
}

/// The finding for `key`; fails with the (scrubbed) report if there is none.
pub fn finding<'a>(doc: &'a Value, key: &str) -> &'a Value {
    find(doc, key).unwrap_or_else(|| {
        panic!(
            "no finding for key id {}:\n{}",
            id(key),
            cut(&scrub(&doc.to_string()))
        )
    })
}

/// `(path, line)` of every location of `key`'s finding, in the report's order.
pub fn path_lines(doc: &Value, key: &str) -> Vec<(String, u64)> {
    finding(doc, key)["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The fingerprints of every finding.
pub fn fps(doc: &Value) -> BTreeSet<String> {
    findings(doc)
        .iter()
        .map(|f| str_at(f, "fingerprint").to_string())
        .collect()
}

/// The fingerprints of `keys`.
pub fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| fp(k)).collect()
}

/// The finding's `verification` object.
pub fn verification<'a>(doc: &'a Value, key: &str) -> &'a Value {
    let v = &finding(doc, key)["verification"];
    assert!(
        v.is_object(),
        "finding for key id {} has no `verification` object: {v}",
        id(key)
    );
    v
}

pub fn summary(doc: &Value, field: &str) -> u64 {
    u64_at(&doc["summary"], field)
}

pub fn notes(doc: &Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .expect("`notes` is an array")
        .iter()
        .map(|n| n.as_str().expect("a note is a string").to_string())
        .collect()
}

pub fn has_note(doc: &Value, needle: &str) -> bool {
    notes(doc).iter().any(|n| n.contains(needle))
}

/// The skipped entries as (path, reason).
pub fn skipped(doc: &Value) -> Vec<(String, String)> {
    doc["skipped"]
        .as_array()
        .expect("`skipped` is an array")
        .iter()
        .map(|s| (str_at(s, "path").to_string(), str_at(s, "reason").to_string()))
        .collect()
}

pub fn u64_at(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| {
        panic!(
            "`{field}` is not an unsigned integer in {}",
            scrub(&v.to_string())
        )
    })
}

pub fn str_at<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {}", scrub(&v.to_string())))
}

pub fn text(v: &Value, field: &str) -> String {
    str_at(v, field).to_string()
}

/// `path!member` of every location of `key`'s finding (`path` alone outside an archive).
pub fn places(doc: &Value, key: &str) -> Vec<String> {
    let fp = fp(key);
    doc["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["fingerprint"] == fp.as_str())
        .flat_map(|f| f["locations"].as_array().cloned().unwrap_or_default())
        .map(|l| match l["member"].as_str() {
            Some(m) => format!("{}!{m}", l["path"].as_str().unwrap()),
            None => l["path"].as_str().unwrap().to_string(),
        })
        .collect()
}
