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

/// A fingerprint as `sgscan ignore` takes it: 64 hex digits, returned lower-case. The report's
/// header shows only 16, which an ignore file cannot use: refused with where to find the rest.
pub fn full_fingerprint(text: &str) -> Result<String> {
    let fp = text.trim();
    let hex = fp.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && fp.len() == 64 {
        return Ok(fp.to_ascii_lowercase());
    }
    let shown = crate::text::escape(fp);
    if hex && !fp.is_empty() && fp.len() < 64 {
        bail!(
            "'{shown}' is {} of a fingerprint's 64 hex digits: copy the whole one from the human report's \
             `sgscan ignore …` line (or the `fingerprint` of --format json)",
            fp.len()
        );
    }
    bail!("'{shown}' is not a fingerprint (64 hex digits, as the report's `sgscan ignore …` line gives it)");
}

/// Appends each of `fingerprints` (see [`full_fingerprint`]) that the ignore file at `path` does not
/// list yet, as `FP  # REASON (added DATE)`; creates the file if need be. Returns those added.
pub fn append_ignores(
    path: &Path,
    fingerprints: &[String],
    reason: Option<&str>,
    date: &str,
) -> Result<Vec<String>> {
    let existing = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut known: HashSet<String> = String::from_utf8_lossy(&existing)
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|fp| !fp.is_empty())
        .collect();
    let added: Vec<String> = fingerprints
        .iter()
        .filter(|fp| known.insert(fp.to_ascii_lowercase()))
        .map(|fp| fp.to_ascii_lowercase())
        .collect();
    if added.is_empty() {
        return Ok(added);
    }
    // The comment must stay on its line: a newline in it would start an entry the reader rejects.
    let reason: Option<String> = reason
        .map(|r| {
            r.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
        })
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let comment = match &reason {
        Some(r) => format!("{r} (added {date})"),
        None => format!("added {date}"),
    };
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        text.push('\n');
    }
    for fp in &added {
        text.push_str(&format!("{fp}  # {comment}\n"));
    }
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_for_the_ignore_command() {
        let fp = "AB".repeat(32);
        assert_eq!(full_fingerprint(&fp).unwrap(), "ab".repeat(32));
        let err = full_fingerprint(&fp[..16]).unwrap_err().to_string();
        assert!(err.contains("16 of a fingerprint's 64 hex digits"), "{err}");
        let err = full_fingerprint("SG.x\x1b").unwrap_err().to_string();
        assert!(
            err.contains("not a fingerprint") && !err.contains('\x1b'),
            "{err}"
        );
        assert!(full_fingerprint(&format!("{fp}0")).is_err());
    }

    #[test]
    fn appended_ignores_read_back_and_skip_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".sgscanignore");
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        // An existing file without a final newline, listing `a` in upper case.
        std::fs::write(&path, format!("# fixtures\n{}", a.to_ascii_uppercase())).unwrap();
        let added = append_ignores(
            &path,
            &[a.clone(), b.clone(), b.clone()],
            Some("test\nkey"),
            "2026-01-02",
        )
        .unwrap();
        assert_eq!(added, vec![b.clone()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(&format!("\n{b}  # test key (added 2026-01-02)\n")),
            "{text:?}"
        );
        let mut list = Allowlist::default();
        list.add_ignore_file(&text, "x").unwrap();
        assert!(list.fingerprints.contains(&a) && list.fingerprints.contains(&b));
        assert!(
            append_ignores(&path, &[b], None, "2026-01-03")
                .unwrap()
                .is_empty()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

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
