//! The working tree: a parallel, gitignore-aware walk (the `ignore` crate, as ripgrep uses it).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    if roots.is_empty() {
        bail!("no path to scan")
    }
    for root in &roots {
        // The walker would record an unreadable root as one skip and exit 0; but a root is what the
        // user asked for, so not reading it is an error (a CI job must not pass on a tree it never saw).
        // Nor is one that is no regular file: a FIFO or a device is refused, never opened to wait.
        let readable = std::fs::metadata(root).and_then(|m| {
            if m.is_dir() {
                std::fs::read_dir(root).map(drop)
            } else {
                crate::file::open(root, true).map(drop)
            }
        });
        if let Err(e) = readable {
            bail!("cannot read {}: {e}", root.display());
        }
    }
    let respect = !opts.no_ignore;
    // Git applies `.gitignore` to untracked files only: a committed `.env` later listed there is
    // still in every clone. The walk marks off what it visits; what is left is scanned after it.
    let tracked: Tracked = Arc::new(Mutex::new(if respect {
        tracked_files(&roots)
    } else {
        HashSet::new()
    }));
    // The walker opens ignore files itself, in each directory it enters and in every parent of a
    // root: a directory where one is a FIFO or a device is kept from it and walked afterwards with
    // no ignore rules at all (more is scanned, nothing waits, nothing is left out).
    let unruled: Unruled = Arc::default();
    let mut ruled = Vec::new();
    for root in roots {
        let bad = if respect && root.is_dir() {
            unsafe_ignore_files_at_or_above(&root)
        } else {
            Vec::new()
        };
        match bad.is_empty() {
            true => ruled.push(root),
            false => lock(&unruled).push((root, bad)),
        }
    }
    if !ruled.is_empty() {
        run(&ruled, opts, respect, &unruled, &tracked, sink);
    }
    let unruled = std::mem::take(&mut *lock(&unruled));
    // A note, not a skip: the file itself, if it is in the tree, is recorded as skipped when the
    // walk meets it.
    for (dir, bad) in &unruled {
        for (file, e) in bad {
            sink.note(format!(
                "{} is {e}: its ignore rules were not read, and everything under {} was scanned without ignore rules",
                display_path(file),
                display_path(dir)
            ));
        }
    }
    let dirs: Vec<PathBuf> = unruled.into_iter().map(|(dir, _)| dir).collect();
    if !dirs.is_empty() {
        run(&dirs, opts, false, &Arc::default(), &tracked, sink);
    }
    let mut left: Vec<PathBuf> = std::mem::take(&mut *lock(&tracked)).into_iter().collect();
    left.sort();
    let mut buf = AlignedBuf::default();
    let mut scanned = 0u64;
    for path in &left {
        // A tracked file deleted from the work tree (or a sparse checkout's) is not on disk to scan.
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        scanned += 1;
        visit(path, Some(meta.file_type()), opts, sink, &mut buf);
    }
    if scanned > 0 {
        sink.note(format!(
            "{} tracked by git but matching an ignore rule {} scanned all the same: git ignores only untracked files, so {} in every clone",
            crate::text::count(scanned, "file", "files"),
            if scanned == 1 { "was" } else { "were" },
            if scanned == 1 { "it is" } else { "they are" },
        ));
    }
    Ok(())
}

/// The tracked files the walk has not visited yet, as the walker names them (`root/rel`).
type Tracked = Arc<Mutex<HashSet<PathBuf>>>;

/// The files the index of the work tree each directory root is in tracks under that root, named
/// as the walker names them. Empty outside a git work tree; reading the index is one pass over it.
fn tracked_files(roots: &[PathBuf]) -> HashSet<PathBuf> {
    let mut out = HashSet::new();
    for root in roots.iter().filter(|r| r.is_dir()) {
        let Ok(repo) = super::git::open_repo(root) else {
            continue;
        };
        let (Some(workdir), true) = (repo.workdir(), repo.index_path().is_file()) else {
            continue;
        };
        let (Ok(top), Ok(abs)) = (workdir.canonicalize(), root.canonicalize()) else {
            continue;
        };
        let Ok(under) = abs.strip_prefix(&top) else {
            continue;
        };
        let Ok(index) = repo.open_index() else {
            continue;
        };
        for entry in index.entries() {
            if entry.mode.is_submodule() {
                continue;
            }
            let Ok(path) = gix::path::from_bstr(entry.path(&index)) else {
                continue;
            };
            if let Ok(rel) = path.strip_prefix(under) {
                out.insert(root.join(rel));
            }
        }
    }
    out
}

/// Directories kept from the ruled walk, each with its ignore files that are no regular file.
type Unruled = Arc<Mutex<Vec<(PathBuf, Vec<(PathBuf, std::io::Error)>)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One parallel walk of `roots` (none empty), with the ignore files or without any.
fn run(
    roots: &[PathBuf],
    opts: &WalkOptions,
    respect: bool,
    unruled: &Unruled,
    tracked: &Tracked,
    sink: &dyn Sink,
) {
    let mut builder = WalkBuilder::new(&roots[0]);
    for root in &roots[1..] {
        builder.add(root);
    }
    let unruled = Arc::clone(unruled);
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
        .filter_entry(move |e| {
            if e.file_name() == ".git" {
                return false;
            }
            if respect && e.depth() > 0 && e.file_type().is_some_and(|t| t.is_dir()) {
                let bad = unsafe_ignore_files(e.path());
                if !bad.is_empty() {
                    lock(&unruled).push((e.path().to_path_buf(), bad));
                    return false;
                }
            }
            true
        });
    // Checked once: outside a git work tree the walk takes no lock per file.
    let tracking = !lock(tracked).is_empty();
    builder.build_parallel().run(|| {
        let mut buf = AlignedBuf::default();
        Box::new(move |entry| {
            match entry {
                Ok(entry) => {
                    if tracking {
                        lock(tracked).remove(entry.path());
                    }
                    visit(entry.path(), entry.file_type(), opts, sink, &mut buf)
                }
                Err(err) => sink.skip(error_path(&err), one_line(&err)),
            }
            WalkState::Continue
        })
    });
}

/// The ignore files the walker would open on entering `dir` that are there but no regular file
/// (links followed, as the walker opens them): `.gitignore`, `.ignore`, and git's `info/exclude`
/// of a checkout whose `.git` is here, through a `gitdir:` file as the walker resolves one.
fn unsafe_ignore_files(dir: &Path) -> Vec<(PathBuf, std::io::Error)> {
    let mut bad = Vec::new();
    let mut check = |p: PathBuf| match crate::file::regular_or_absent(&p) {
        // Other errors (permission denied) make the walker's own open fail at once.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            bad.push((p, e));
            false
        }
        Err(_) => false,
        Ok(()) => p.is_file(),
    };
    check(dir.join(".gitignore"));
    check(dir.join(".ignore"));
    let git = dir.join(".git");
    match std::fs::metadata(&git) {
        Ok(m) if m.is_dir() => {
            check(git.join("info").join("exclude"));
        }
        Ok(m) if m.is_file() => {
            // A worktree's or submodule's pointer: `gitdir: X`, then `X/commondir`.
            let first_line = |p: &Path| {
                crate::file::read_to_string(p, crate::file::SMALL)
                    .ok()
                    .and_then(|t| t.lines().next().map(str::to_string))
            };
            let Some(real) = first_line(&git).and_then(|l| l.strip_prefix("gitdir: ").map(PathBuf::from))
            else {
                return bad;
            };
            let commondir = real.join("commondir");
            if check(commondir.clone())
                && let Some(line) = first_line(&commondir)
            {
                let common = match line.starts_with('.') {
                    true => real.join(line),
                    false => PathBuf::from(line),
                };
                check(common.join("info").join("exclude"));
            }
        }
        _ => {}
    }
    bad
}

/// [`unsafe_ignore_files`] of `root` and of every directory above it, whose ignore files the walker
/// reads for a root.
fn unsafe_ignore_files_at_or_above(root: &Path) -> Vec<(PathBuf, std::io::Error)> {
    let mut bad = unsafe_ignore_files(root);
    if let Ok(abs) = root.canonicalize() {
        for parent in abs.ancestors().skip(1) {
            bad.extend(unsafe_ignore_files(parent));
        }
    }
    bad
}

fn visit(
    path: &Path,
    file_type: Option<std::fs::FileType>,
    opts: &WalkOptions,
    sink: &dyn Sink,
    buf: &mut AlignedBuf,
) {
    // Each entry's own name, once: a key in a directory's name is reported at the directory, not
    // again for every file below it.
    if let Some(name) = path.file_name() {
        sink.scan_name(name.as_encoded_bytes(), || origin(path));
    }
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
        sink.skip(shown, format!("{}, not a regular file", crate::file::kind(ft)));
        return;
    }
    match read_bounded(path, opts.max_file_size, opts.follow, buf) {
        Ok(Some(data)) => sink.scan(data, &origin(path)),
        Ok(None) => sink.skip(
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

/// Reads the file into `buf`; `None` if it is larger than `max` (checked by reading, not by
/// trusting metadata, since files grow while being walked).
fn read_bounded<'b>(
    path: &Path,
    max: u64,
    follow: bool,
    buf: &'b mut AlignedBuf,
) -> std::io::Result<Option<&'b [u8]>> {
    let mut file = crate::file::open(path, follow)?;
    let size = file.metadata()?.len();
    if size > max {
        return Ok(None);
    }
    // One byte past the expected size, so the read that meets EOF needs no growth, and one past
    // `max`, so a file that grew beyond it is seen without reading it all.
    let limit = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let mut filled = 0;
    buf.reserve(
        usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(limit),
        limit,
    );
    loop {
        if filled >= limit {
            return Ok(None);
        }
        if filled == buf.capacity() {
            // The file grew since its metadata was read (or reports no size, like /proc).
            buf.grow(filled, filled.saturating_mul(2).max(READ_BLOCK).min(limit), limit);
        }
        let end = buf.capacity().min(limit);
        match file.read(&mut buf.spare(filled)[..end - filled]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(buf.filled(filled)))
}

/// The smallest buffer a growth makes, so a file without a size does not grow it byte by byte.
const READ_BLOCK: usize = 64 * 1024;

/// The alignment of read buffers: on some CPUs the kernel's copy into a buffer off a 32-byte
/// boundary costs ~3x the kernel time of an aligned one (issue #15); 64 covers every cache line.
const ALIGN: usize = 64;

/// A read buffer whose bytes start on an [`ALIGN`]-byte boundary, kept per walker thread so its
/// allocation is reused from file to file. Safe code only: an over-allocated `Vec<u8>` used from
/// its first aligned byte, never resized in place (a reallocation could move it off alignment).
#[derive(Default)]
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    /// Usable bytes from the aligned start.
    fn capacity(&self) -> usize {
        self.raw.len() - self.start
    }

    /// Makes room for at least `want` bytes (at most `cap` unless `want` is more); the contents
    /// are not kept.
    fn reserve(&mut self, want: usize, cap: usize) {
        if want > self.capacity() {
            self.grow(0, want, cap);
        }
    }

    /// Reallocates to at least `want` usable bytes, keeping the first `keep`. The size at least
    /// doubles (up to `cap`), so a thread meeting ever larger files reallocates only a few times.
    fn grow(&mut self, keep: usize, want: usize, cap: usize) {
        let size = self
            .capacity()
            .saturating_mul(2)
            .min(cap)
            .max(want)
            .max(ALIGN)
            .saturating_add(ALIGN - 1);
        let mut raw = vec![0u8; size];
        let start = raw.as_ptr().align_offset(ALIGN);
        raw[start..start + keep].copy_from_slice(&self.raw[self.start..self.start + keep]);
        self.raw = raw;
        self.start = start;
    }

    /// The buffer from byte `from` of the aligned part to its end.
    fn spare(&mut self, from: usize) -> &mut [u8] {
        &mut self.raw[self.start + from..]
    }

    /// The first `len` bytes of the aligned part.
    fn filled(&self, len: usize) -> &[u8] {
        &self.raw[self.start..self.start + len]
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "vanished while scanning".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        // Swapped for a FIFO or a device since the walk saw it: refused, not waited on.
        std::io::ErrorKind::InvalidInput => e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::DEFAULT_MAX_FILE_SIZE;

    fn aligned(data: &[u8]) -> bool {
        data.as_ptr().addr().is_multiple_of(ALIGN)
    }

    /// One buffer across files small and large, in an order that makes it grow more than once
    /// and then serve smaller files from the grown allocation: every slice starts aligned.
    #[test]
    fn reads_land_aligned_for_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = AlignedBuf::default();
        for (i, size) in [
            0,
            1,
            15,
            63,
            64,
            65,
            4095,
            4097,
            100_003,
            3,
            1 << 20,
            17,
            (1 << 21) + 17,
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("f{i}"));
            let content: Vec<u8> = (0..size).map(|b| (b % 251) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            let data = read_bounded(&path, DEFAULT_MAX_FILE_SIZE, true, &mut buf)
                .unwrap()
                .unwrap();
            assert!(aligned(data), "size {size}: starts at {:p}", data.as_ptr());
            assert_eq!(data, &content[..], "size {size}");
        }
    }

    #[test]
    fn growth_keeps_contents_and_alignment() {
        let mut buf = AlignedBuf::default();
        buf.reserve(10, usize::MAX);
        buf.spare(0)[..10].copy_from_slice(b"0123456789");
        for _ in 0..5 {
            let cap = buf.capacity();
            buf.grow(10, cap + 1, usize::MAX);
            assert!(buf.capacity() > cap);
            assert!(aligned(buf.filled(10)));
            assert_eq!(buf.filled(10), b"0123456789");
        }
    }

    #[test]
    fn larger_than_max_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'x'; 100]).unwrap();
        let mut buf = AlignedBuf::default();
        assert!(read_bounded(&path, 99, true, &mut buf).unwrap().is_none());
        assert_eq!(
            read_bounded(&path, 100, true, &mut buf).unwrap().unwrap().len(),
            100
        );
        // A buffer grown past the file does not lift the limit.
        assert!(read_bounded(&path, 99, true, &mut buf).unwrap().is_none());
    }

    /// procfs files report size 0 but have contents: the read loop grows the buffer past the
    /// size from metadata, stays aligned, and still stops at the limit.
    #[cfg(target_os = "linux")]
    #[test]
    fn files_longer_than_their_metadata_grow_the_buffer() {
        let path = Path::new("/proc/self/status");
        let mut buf = AlignedBuf::default();
        let data = read_bounded(path, DEFAULT_MAX_FILE_SIZE, true, &mut buf)
            .unwrap()
            .unwrap();
        assert!(data.len() > 64 && aligned(data));
        assert!(data.starts_with(b"Name:"));
        assert!(read_bounded(path, 10, true, &mut buf).unwrap().is_none());
        assert!(
            read_bounded(path, 10, true, &mut AlignedBuf::default())
                .unwrap()
                .is_none()
        );
    }
}
