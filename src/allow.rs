//! Allowing known findings: `.sgscanignore` files of fingerprints and path globs, the config
//! file's `[ignore]`, and `--baseline` reports, so a team can adopt sgscan on an old repository and
//! fail only on new leaks. (The inline `sgscan:allow` marker is handled by the detector, which sees
//! the line.) What an allow list lets through is listed in the report with what allowed it, never
//! dropped in silence.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::model::{AllowKind, Allowed, AllowedBy, Origin, Outcome};
use crate::report::schema::Report;

#[derive(Debug, Default)]
pub struct Allowlist {
    /// Each with the first entry that lists it.
    fingerprints: HashMap<String, AllowedBy>,
    paths: Vec<PathRules>,
    /// What relative paths in findings are relative to; none: the current directory.
    base: Option<PathBuf>,
}

/// Ignores given apart from `.sgscanignore` files (the config file's `[ignore]`), and how the
/// paths of findings are read.
#[derive(Debug, Clone, Default)]
pub struct Ignores {
    /// What relative paths in findings are relative to (the repository's top for git sources,
    /// whose paths are the commit's); none: the current directory, as for files on disk.
    pub base: Option<PathBuf>,
    /// SHA-256 fingerprints, lower case, each with where it was written (`FILE:LINE:COLUMN`).
    pub fingerprints: Vec<(String, String)>,
    /// The directory `globs` are relative to.
    pub root: PathBuf,
    /// Gitignore-style globs, each with where it was written (`FILE:LINE:COLUMN`) for errors.
    pub globs: Vec<(String, String)>,
    /// The commit the config was read from (the base of a `--range`), when not from disk.
    pub commit: Option<String>,
    /// Ignore files read from elsewhere than the source's own (a range's base commit).
    pub files: Vec<IgnoreText>,
    /// Leave out the `.sgscanignore` files the source names (the work tree of a `--range`'s head
    /// side, or anything with `--no-config`): written by whoever wrote what is scanned.
    pub no_source_files: bool,
    /// `sgscan:allow` does not allow (`--no-inline-allow`, `--no-config`, `inline_allow = false`).
    pub no_inline: bool,
}

/// An ignore file's text, read from a commit rather than from disk.
#[derive(Debug, Clone)]
pub struct IgnoreText {
    pub text: String,
    /// As reports name it (`.sgscanignore`).
    pub file: String,
    pub commit: Option<String>,
    /// The directory its globs are relative to.
    pub root: PathBuf,
}

/// Gitignore-style globs relative to a directory.
#[derive(Debug)]
struct PathRules {
    /// Absolute and lexically normal; `canonical` is the same directory with links resolved, for
    /// paths that reach it the other way.
    root: PathBuf,
    canonical: Option<PathBuf>,
    globs: Gitignore,
    /// Each glob's entry, by the index the glob carries as its `from`.
    by: Vec<AllowedBy>,
}

/// What allowed by the entry written at `at` (`FILE:LINE` or `FILE:LINE:COLUMN`).
fn entry_at(kind: AllowKind, at: &str, commit: Option<&str>) -> AllowedBy {
    let mut file = at;
    let mut numbers = Vec::new();
    while numbers.len() < 2
        && let Some((rest, n)) = file.rsplit_once(':')
        && let Ok(n) = n.parse::<u64>()
    {
        numbers.push(n);
        file = rest;
    }
    AllowedBy {
        kind,
        file: file.to_string(),
        // FILE:LINE:COLUMN was read right to left.
        line: numbers.last().copied(),
        commit: commit.map(str::to_string),
    }
}

/// Whether `glob` is a gitignore line the matcher accepts.
pub fn check_glob(glob: &str) -> Result<()> {
    let mut b = GitignoreBuilder::new("/");
    b.add_line(None, glob)?;
    b.build()?;
    Ok(())
}

impl Allowlist {
    /// Reads every `.sgscanignore` among `ignore_files` that exists, and the baseline report if given.
    pub fn load(ignore_files: &[PathBuf], baseline: Option<&Path>) -> Result<Allowlist> {
        let mut list = Allowlist::default();
        let mut read = HashSet::new();
        for path in ignore_files {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            // One that is there but is no regular file (a FIFO would block the read) is an error,
            // not a list left out in silence.
            if !path.exists() || !read.insert(canonical) {
                continue;
            }
            let text = crate::file::read_to_string(path, crate::file::SMALL)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let dir = path.parent().unwrap_or(Path::new(""));
            let shown = crate::source::worktree::display_path(path);
            list.add_ignore_file_at(&text, &shown, dir)?;
        }
        if let Some(path) = baseline {
            let text = crate::file::read_to_string(path, crate::file::REPORT)
                .with_context(|| format!("cannot read baseline {}", path.display()))?;
            list.add_baseline(&text, &path.display().to_string())
                .with_context(|| {
                    format!(
                        "baseline {} is not an sgscan JSON or JSONL report",
                        path.display()
                    )
                })?;
        }
        Ok(list)
    }

    /// One SHA-256 fingerprint or one gitignore-style path glob (relative to `root`, the file's
    /// directory) per line; `#` starts a comment.
    pub fn add_ignore_file_at(&mut self, text: &str, origin: &str, root: &Path) -> Result<()> {
        self.add_ignore_text(text, origin, None, root)
    }

    /// [`Allowlist::add_ignore_file_at`] of a file read from `commit`.
    fn add_ignore_text(&mut self, text: &str, origin: &str, commit: Option<&str>, root: &Path) -> Result<()> {
        let shown = match commit {
            Some(c) => format!("{origin}@{}", c.get(..12).unwrap_or(c)),
            None => origin.to_string(),
        };
        let mut globs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let hex = entry.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && entry.len() == 64 {
                let by = entry_at(AllowKind::IgnoreFile, &format!("{origin}:{}", i + 1), commit);
                self.fingerprints.entry(entry.to_ascii_lowercase()).or_insert(by);
            } else if hex && entry.len() >= 8 {
                // A short or cut fingerprint pasted from a report would otherwise become a glob that
                // matches no file, and the key would stay reported without a word.
                bail!(
                    "{shown}:{}: not a SHA-256 fingerprint (64 hex digits): '{entry}' (a file of that name: write /{entry})",
                    i + 1
                );
            } else {
                globs.push((entry.to_string(), format!("{origin}:{}", i + 1)));
            }
        }
        self.add_globs(root, &globs, AllowKind::IgnoreFile, commit)
    }

    /// The config file's ignores, and how finding paths are read.
    pub fn add_ignores(&mut self, ignores: &Ignores) -> Result<()> {
        for f in &ignores.files {
            self.add_ignore_text(&f.text, &f.file, f.commit.as_deref(), &f.root)?;
        }
        let commit = ignores.commit.as_deref();
        for (fp, at) in &ignores.fingerprints {
            self.fingerprints
                .entry(fp.clone())
                .or_insert_with(|| entry_at(AllowKind::Config, at, commit));
        }
        if ignores.base.is_some() {
            self.base = ignores.base.clone();
        }
        self.add_globs(&ignores.root, &ignores.globs, AllowKind::Config, commit)
    }

    fn add_globs(
        &mut self,
        root: &Path,
        globs: &[(String, String)],
        kind: AllowKind,
        commit: Option<&str>,
    ) -> Result<()> {
        if globs.is_empty() {
            return Ok(());
        }
        let root = absolute(root)?;
        let mut builder = GitignoreBuilder::new(&root);
        let mut by = Vec::with_capacity(globs.len());
        for (i, (glob, at)) in globs.iter().enumerate() {
            // The glob's `from` carries the index of its entry, for the report to name it.
            builder
                .add_line(Some(PathBuf::from(i.to_string())), glob)
                .with_context(|| format!("{at}: bad path glob '{glob}'"))?;
            by.push(entry_at(kind, at, commit));
        }
        let globs = builder
            .build()
            .with_context(|| format!("cannot build the path globs of {}", globs[0].1))?;
        self.paths.push(PathRules {
            canonical: root.canonicalize().ok().filter(|c| *c != root),
            root,
            globs,
            by,
        });
        Ok(())
    }

    /// A previous `--format json` (or `jsonl`) report, `file`: its findings' fingerprints.
    pub fn add_baseline(&mut self, text: &str, file: &str) -> Result<()> {
        let report = Report::parse(text)?;
        for fp in report.fingerprints() {
            self.fingerprints
                .entry(fp.to_ascii_lowercase())
                .or_insert_with(|| AllowedBy {
                    kind: AllowKind::Baseline,
                    file: file.to_string(),
                    line: None,
                    commit: None,
                });
        }
        Ok(())
    }

    /// Moves allowed findings to `outcome.allowed`, each location with what allowed it, and drops
    /// the locations path globs match; returns how many findings were allowed. A finding is
    /// allowed by path only when every location it had matches: the key is reported if it is
    /// anywhere else.
    pub fn apply(&self, outcome: &mut Outcome) -> u64 {
        let base = match &self.base {
            _ if self.paths.is_empty() => None,
            Some(b) => absolute(b).ok(),
            None => std::env::current_dir().ok(),
        };
        let mut allowed = Vec::new();
        for mut f in std::mem::take(&mut outcome.findings) {
            if let Some(by) = self.fingerprints.get(&f.fingerprint) {
                allowed.push(Allowed::of(f, |_| by.clone()));
                continue;
            }
            if self.paths.is_empty() {
                outcome.findings.push(f);
                continue;
            }
            let matched: Vec<Option<AllowedBy>> = f
                .locations
                .iter()
                .map(|l| self.path_allowed(&l.origin, base.as_deref()))
                .collect();
            let dropped = matched.iter().flatten().count() as u64;
            // Locations past the kept maximum were never seen here: they keep the finding.
            if dropped > 0 && f.location_count == dropped {
                let mut by = matched.into_iter().flatten();
                let fallback = AllowedBy {
                    kind: AllowKind::Config,
                    file: String::new(),
                    line: None,
                    commit: None,
                };
                allowed.push(Allowed::of(f, |_| by.next().unwrap_or_else(|| fallback.clone())));
                continue;
            }
            let mut keep = matched.iter().map(Option::is_none);
            f.locations.retain(|_| keep.next().unwrap_or(true));
            f.location_count = f.location_count.saturating_sub(dropped);
            outcome.findings.push(f);
        }
        let n = allowed.len() as u64;
        outcome.stats.allowed += n;
        outcome.allowed.extend(allowed);
        outcome.sort_allowed();
        n
    }

    /// What allows a key at `origin` by its path, if anything.
    fn path_allowed(&self, origin: &Origin, base: Option<&Path>) -> Option<AllowedBy> {
        let path = Path::new(&origin.path);
        let path = match base {
            _ if path.is_absolute() => normal(path),
            Some(base) => normal(&base.join(path)),
            // No current directory to read a relative path against: nothing matches.
            None => return None,
        };
        self.paths.iter().find_map(|rules| {
            let rel = std::iter::once(&rules.root)
                .chain(rules.canonical.as_ref())
                .find_map(|root| path.strip_prefix(root).ok())
                .filter(|rel| !rel.as_os_str().is_empty())?;
            let m = rules.globs.matched_path_or_any_parents(rel, false);
            if !m.is_ignore() {
                return None;
            }
            let i: usize = m.inner()?.from()?.to_str()?.parse().ok()?;
            rules.by.get(i).cloned()
        })
    }
}

/// `path` made absolute (against the current directory) and lexically normal.
fn absolute(path: &Path) -> Result<PathBuf> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let abs =
        std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))?;
    Ok(normal(&abs))
}

/// Drops `.` and resolves `..` without touching the file system: finding paths from git history
/// need not exist on disk.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A fingerprint as `sgscan ignore` takes it: 64 hex digits, returned lower-case. The report's
/// header shows only 16, which an ignore file cannot use: refused with where to find the rest.
pub fn full_fingerprint(text: &str) -> Result<String> {
    let fp = text.trim();
    let hex = fp.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && fp.len() == 64 {
        return Ok(fp.to_ascii_lowercase());
    }
    // A key pasted where its fingerprint belongs must not be echoed back into a terminal's log.
    let redacted = crate::key::redact_text(fp);
    if matches!(redacted, std::borrow::Cow::Owned(_)) {
        bail!(
            "'{}' holds a key, not a fingerprint: give the key's fingerprint (the human report's `sgscan ignore …` \
             line, or the `fingerprint` of --format json), never the key itself",
            crate::text::escape(&redacted)
        );
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
    let existing = match crate::file::read(path, crate::file::SMALL) {
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
    crate::file::create(path, crate::file::Write::Append, false)
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
        list.add_ignore_file_at(&text, "x", Path::new("")).unwrap();
        assert!(list.fingerprints.contains_key(&a) && list.fingerprints.contains_key(&b));
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
        a.add_ignore_file_at(&format!("# comment\n\n{fp}  # fixture\n"), "x", Path::new(""))
            .unwrap();
        assert!(a.fingerprints.contains_key(&fp));
        let err = a
            .add_ignore_file_at("\n0123abcd\n", ".sgscanignore", Path::new(""))
            .unwrap_err();
        assert!(err.to_string().contains(".sgscanignore:2"), "{err}");
        let err = a
            .add_ignore_file_at("[z-a]\n", ".sgscanignore", Path::new(""))
            .unwrap_err();
        assert!(format!("{err:#}").contains(".sgscanignore:1"), "{err:#}");
    }

    #[test]
    fn path_globs_drop_locations_and_whole_findings() {
        use crate::model::{Finding, Location};
        let finding = |fp: &str, paths: &[&str], count: u64| Finding {
            rule_id: "r".into(),
            rule_name: "r".into(),
            fingerprint: fp.into(),
            key_id: None,
            redacted: "SG.x…".into(),
            confidence: Default::default(),
            key: String::new(),
            location_count: count,
            locations: paths
                .iter()
                .map(|p| Location {
                    origin: Origin::file(*p),
                    line: 1,
                    column: 1,
                    encoding: crate::model::Encoding::Plain,
                    note: None,
                })
                .collect(),
            verification: None,
            revocation: None,
            rotation: None,
        };
        let mut outcome = Outcome {
            findings: vec![
                finding("a", &["fixtures/x.env", "sub/b.snap"], 2),
                finding("b", &["fixtures/x.env", "src/app.env"], 2),
                // More locations than listed: the unlisted ones may be anywhere.
                finding("c", &["fixtures/y.env"], 5),
                finding("d", &["/elsewhere/fixtures/z"], 1),
            ],
            stats: Default::default(),
            skipped: vec![],
            allowed: vec![],
            notes: vec![],
        };
        let mut a = Allowlist::default();
        a.add_ignores(&Ignores {
            base: Some("/repo".into()),
            root: "/repo".into(),
            globs: vec![
                ("fixtures/**".into(), "x:1:1".into()),
                ("*.snap".into(), "y:2".into()),
            ],
            ..Ignores::default()
        })
        .unwrap();
        assert_eq!(a.apply(&mut outcome), 1);
        let left: Vec<(&str, usize, u64)> = outcome
            .findings
            .iter()
            .map(|f| (f.fingerprint.as_str(), f.locations.len(), f.location_count))
            .collect();
        assert_eq!(left, [("b", 1, 1), ("c", 0, 4), ("d", 1, 1)]);
        assert_eq!(outcome.stats.allowed, 1);
        // Listed with the glob that allowed each location.
        let listed: Vec<(&str, &str)> = outcome.allowed[0]
            .locations
            .iter()
            .map(|l| (l.location.origin.path.as_str(), l.allowed_by.file.as_str()))
            .collect();
        assert_eq!(outcome.allowed[0].fingerprint, "a");
        assert_eq!(listed, [("fixtures/x.env", "x"), ("sub/b.snap", "y")]);
        assert_eq!(outcome.allowed[0].locations[1].allowed_by.line, Some(2));
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
                note: None,
            }],
            verification: None,
            revocation: None,
            rotation: None,
        };
        let outcome = |fp: &str| Outcome {
            findings: vec![finding(fp)],
            stats: Stats::default(),
            skipped: vec![],
            allowed: vec![],
            notes: vec![],
        };
        let run = schema::RunInfo::default();
        let doc = serde_json::to_string(&schema::document(&outcome("AA"), run)).unwrap();
        let lines: Vec<String> = schema::lines(&outcome("bb"), run)
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        let mut a = Allowlist::default();
        a.add_baseline(&doc, "b.json").unwrap();
        a.add_baseline(&lines.join("\n"), "b.jsonl").unwrap();
        assert!(a.fingerprints.contains_key("aa") && a.fingerprints.contains_key("bb"));
        assert_eq!(a.fingerprints["bb"].file, "b.jsonl");
        assert!(a.add_baseline("garbage", "g").is_err());
        assert!(a.add_baseline(r#"{"type":"finding"}"#, "g").is_err());
    }
}
