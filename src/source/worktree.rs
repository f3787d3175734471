//! The working tree: a parallel, gitignore-aware walk (the `ignore` crate, as ripgrep uses it).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use ignore::{WalkBuilder, WalkState};

use super::{IGNORE_FILE, Sink, Source};
use crate::model::Origin;

#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub threads: usize,
    /// Scan files that `.gitignore`/`.ignore` exclude.
    pub no_ignore: bool,
    /// Follow symbolic links (loops are detected and recorded as skipped).
    pub follow: bool,
    pub max_file_size: u64,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            threads: 0,
            no_ignore: false,
            follow: false,
            max_file_size: super::DEFAULT_MAX_FILE_SIZE,
        }
    }
}

/// Files on disk under some roots.
pub struct Worktree {
    pub roots: Vec<PathBuf>,
    pub opts: WalkOptions,
}

impl Source for Worktree {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        walk(&self.roots, &self.opts, sink)
    }

    /// `.sgscanignore` in each root directory and in the current directory.
    fn ignore_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .roots
            .iter()
            .filter(|p| p.is_dir())
            .map(|p| p.join(IGNORE_FILE))
            .collect();
        files.push(PathBuf::from(IGNORE_FILE));
        files
    }
}

/// Walks `roots` and scans every file. A root that cannot be read is an error (nothing is scanned);
/// anything below a root that cannot be read is recorded as skipped.
fn walk(roots: &[PathBuf], opts: &WalkOptions, sink: &dyn Sink) -> Result<()> {
    let roots = distinct_roots(roots);
    let Some((first, rest)) = roots.split_first() else {
        bail!("no path to scan")
    };
    for root in &roots {
        // The walker would record an unreadable root as one skip and exit 0; but a root is what the
        // user asked for, so not reading it is an error (a CI job must not pass on a tree it never saw).
        let readable = std::fs::metadata(root).and_then(|m| {
            if m.is_dir() {
                std::fs::read_dir(root).map(drop)
            } else {
                File::open(root).map(drop)
            }
        });
        if let Err(e) = readable {
            bail!("cannot read {}: {e}", root.display());
        }
    }
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    let respect = !opts.no_ignore;
    builder
        .hidden(false)
        .ignore(respect)
        .git_ignore(respect)
        .git_global(respect)
        .git_exclude(respect)
        .parents(respect)
        // `.gitignore` means the same to users whether or not the tree is a git checkout.
        .require_git(false)
        .follow_links(opts.follow)
        .threads(opts.threads)
        .filter_entry(|e| e.file_name() != ".git");
    builder.build_parallel().run(|| {
        let mut buf = Vec::new();
        Box::new(move |entry| {
            match entry {
                Ok(entry) => visit(entry.path(), entry.file_type(), opts, sink, &mut buf),
                Err(err) => sink.skip(error_path(&err), one_line(&err)),
            }
            WalkState::Continue
        })
    });
    Ok(())
}

fn visit(
    path: &Path,
    file_type: Option<std::fs::FileType>,
    opts: &WalkOptions,
    sink: &dyn Sink,
    buf: &mut Vec<u8>,
) {
    let shown = display_path(path);
    let Some(ft) = file_type else {
        // Only stdin has no file type; roots are paths here.
        return;
    };
    if ft.is_dir() {
        return;
    }
    if ft.is_symlink() {
        sink.skip(shown, "symbolic link not followed (--follow follows links)");
        return;
    }
    if !ft.is_file() {
        sink.skip(shown, "not a regular file");
        return;
    }
    match read_bounded(path, opts.max_file_size, buf) {
        Ok(true) => sink.scan(buf, &origin(path)),
        Ok(false) => sink.skip(
            shown,
            format!("larger than --max-file-size ({} bytes)", opts.max_file_size),
        ),
        Err(e) => sink.skip(shown, io_reason(&e)),
    }
}

/// The roots to walk: each path once, none inside another (so `sgscan dir . src` does not scan
/// `src` twice), and `-` as the file named `-` rather than standard input.
fn distinct_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    let canon: Vec<PathBuf> = roots
        .iter()
        .map(|r| r.canonicalize().unwrap_or_else(|_| r.clone()))
        .collect();
    let mut out = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let covered = canon
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && canon[i].starts_with(other) && (canon[i] != *other || j < i));
        if !covered {
            out.push(if root.as_os_str() == "-" {
                PathBuf::from("./-")
            } else {
                root.clone()
            });
        }
    }
    out
}

/// Reads the file into `buf`; `Ok(false)` if it is larger than `max` (checked by reading, not by
/// trusting metadata, since files grow while being walked).
fn read_bounded(path: &Path, max: u64, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let file = File::open(path)?;
    if file.metadata()?.len() > max {
        return Ok(false);
    }
    file.take(max.saturating_add(1)).read_to_end(buf)?;
    Ok(buf.len() as u64 <= max)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "vanished while scanning".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("read error: {e}"),
    }
}

/// `./src/x` → `src/x`: the form users, GitHub and SARIF viewers expect.
pub fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    match s.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => s.into_owned(),
    }
}

/// The [`Origin`] of a file, with its exact bytes when its name is not UTF-8.
fn origin(path: &Path) -> Origin {
    let raw = path.as_os_str().as_encoded_bytes();
    Origin::from_bytes(raw.strip_prefix(b"./").filter(|r| !r.is_empty()).unwrap_or(raw))
}

fn error_path(err: &ignore::Error) -> String {
    match err {
        ignore::Error::WithPath { path, .. } => display_path(path),
        ignore::Error::Loop { child, .. } => display_path(child),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        _ => String::new(),
    }
}

fn one_line(err: &ignore::Error) -> String {
    let reason = match err {
        ignore::Error::Loop { ancestor, .. } => {
            format!("symbolic link loop (points back to {})", display_path(ancestor))
        }
        ignore::Error::WithPath { err, .. } => err.to_string(),
        ignore::Error::WithDepth { err, .. } => return one_line(err),
        other => other.to_string(),
    };
    reason.replace('\n', " ")
}
