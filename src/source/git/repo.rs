//! Opening a repository, and what is said about it before anything is read: a shallow or partial
//! clone, pack files that cannot be opened.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::source::{IGNORE_FILE, Sink};

/// Opens the repository at or above `path`; bare repositories work too.
pub fn open_repo(path: &Path) -> Result<gix::Repository> {
    if let Err(e) = std::fs::metadata(path) {
        bail!("cannot read {}: {e}", path.display());
    }
    if let Err(e) = refuse_special_files(path) {
        bail!("cannot read the repository at {}: {e}", path.display());
    }
    let mut repo =
        gix::discover(path).map_err(|e| anyhow!("{} is not a git repository ({e})", path.display()))?;
    // Trees are read once each, blobs once each: a small cache serves delta bases.
    repo.object_cache_size_if_unset(16 << 20);
    Ok(repo)
}

/// Files gitoxide opens on its own in a git directory, as it finds the repository or reads its refs.
const GIT_FILES: &[&str] = &[
    "HEAD",
    "config",
    "commondir",
    "gitdir",
    "packed-refs",
    "shallow",
    "index",
];

/// Directories whose every file gitoxide may open (a loose ref or object is a file each).
const GIT_TREES: &[&str] = &["refs", "objects"];

/// How many alternates deep gitoxide follows, as git does.
const ALTERNATES_DEPTH: usize = 5;

/// An error naming the first file gitoxide would open in the repository at or above `path` that
/// is there but no regular file: opening a FIFO waits for a writer, a device may never end, and
/// gitoxide opens them as files (`objects/info/alternates` as a FIFO stopped a scan forever).
/// Checked before gitoxide opens anything; found as gitoxide finds a repository, upwards.
pub(super) fn refuse_special_files(path: &Path) -> std::io::Result<()> {
    let Ok(abs) = path.canonicalize() else {
        return Ok(());
    };
    for dir in abs.ancestors() {
        let dot_git = dir.join(".git");
        let git_dir = match std::fs::metadata(&dot_git) {
            Ok(m) if m.is_dir() => dot_git,
            // `gitdir: X`, as a worktree or a submodule has.
            Ok(_) => {
                let text = crate::file::read_to_string(&dot_git, crate::file::SMALL)
                    .map_err(|e| named(&dot_git, e))?;
                match text.lines().next().and_then(|l| l.strip_prefix("gitdir: ")) {
                    Some(p) => dir.join(p.trim_end()),
                    None => return Ok(()),
                }
            }
            // A bare repository: gitoxide reads its `HEAD` to tell.
            Err(_) if dir.join("HEAD").exists() && dir.join("objects").is_dir() => dir.to_path_buf(),
            Err(_) => continue,
        };
        check_git_dir(&git_dir)?;
        let commondir = git_dir.join("commondir");
        if commondir.is_file()
            && let Ok(text) = crate::file::read_to_string(&commondir, crate::file::SMALL)
            && let Some(line) = text.lines().next()
        {
            check_git_dir(&git_dir.join(line.trim_end()))?;
        }
        return Ok(());
    }
    Ok(())
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{} is {e}", path.display()))
}

/// [`GIT_FILES`] and [`GIT_TREES`] of one git directory, and the object directories its
/// alternates name.
fn check_git_dir(git_dir: &Path) -> std::io::Result<()> {
    for name in GIT_FILES {
        let p = git_dir.join(name);
        crate::file::regular_or_absent(&p).map_err(|e| named(&p, e))?;
    }
    for name in GIT_TREES {
        check_tree(&git_dir.join(name))?;
    }
    let mut objects = vec![(git_dir.join("objects"), 0)];
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, depth)) = objects.pop() {
        let alternates = dir.join("info").join("alternates");
        if depth > ALTERNATES_DEPTH || !seen.insert(dir.canonicalize().unwrap_or(dir.clone())) {
            continue;
        }
        if depth > 0 {
            check_tree(&dir)?;
        }
        let text = match crate::file::read_to_string(&alternates, crate::file::SMALL) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(named(&alternates, e)),
            Err(_) => continue,
        };
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            objects.push((dir.join(line), depth + 1));
        }
    }
    Ok(())
}

/// Every file under `top` (links followed, directories behind links not entered): one that is no
/// regular file is an error. File types come from the directory listing, so this costs one read
/// per directory.
fn check_tree(top: &Path) -> std::io::Result<()> {
    let mut dirs = vec![top.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(mut ft) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if ft.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => continue,
                    Ok(m) => ft = m.file_type(),
                    Err(_) => continue,
                }
            }
            if ft.is_dir() {
                dirs.push(path);
            } else if !ft.is_file() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is {}, not a regular file",
                        path.display(),
                        crate::file::kind(ft)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// [`open_repo`] for what reads refs (history, a range, the staged index against HEAD). gitoxide
/// reads only the files ref store: in a reftable repository it finds no ref and no HEAD, and a
/// sweep would call every key unreachable. Refused in one line instead.
pub fn open_repo_with_refs(path: &Path) -> Result<gix::Repository> {
    let repo = open_repo(path)?;
    let storage = repo
        .config_snapshot()
        .string("extensions.refStorage")
        .map(|v| v.to_string());
    match storage.as_deref() {
        None | Some("files") => Ok(repo),
        Some("reftable") => bail!("reftable refs are not supported: {}", path.display()),
        Some(other) => bail!("ref storage '{other}' is not supported: {}", path.display()),
    }
}

/// Delta bases kept per handle, as git's `core.deltaBaseCacheLimit` (96 MiB there): a walk reads
/// the versions of a tree one after the other, each a delta on the last.
const DELTA_CACHE: usize = 64 << 20;

/// `repo` with a memory-capped delta-base cache instead of gitoxide's 64-entry default, whose
/// linear lookups cost more than they save on a long walk.
pub(super) fn with_delta_cache(mut repo: gix::Repository) -> gix::Repository {
    repo.objects
        .set_pack_cache(|| Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(DELTA_CACHE)));
    repo
}

/// `.sgscanignore` at the top of the repository's work tree (if it has one), then in the current
/// directory.
pub(crate) fn repo_ignore_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(IGNORE_FILE)];
    if let Some(top) = open_repo(path)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.join(IGNORE_FILE)))
    {
        files.insert(0, top);
    }
    files
}

/// A shallow clone lacks history by design: said once, not as a skip per missing parent.
pub(super) fn note_shallow(repo: &gix::Repository, sink: &dyn Sink) {
    if repo.is_shallow().unwrap_or(false) {
        sink.note("shallow clone: history before the shallow boundary is not in this repository and was not scanned");
    }
}

/// A partial clone (`--filter=blob:none`) lacks blobs by design: say so instead of a skip per blob.
pub(super) fn note_partial_clone(repo: &gix::Repository, sink: &dyn Sink) -> bool {
    let config = repo.config_snapshot();
    let partial = config.string("extensions.partialClone").is_some()
        || config
            .sections_by_name("remote")
            .into_iter()
            .flatten()
            .any(|s| s.value("promisor").is_some_and(|v| v.as_slice() == b"true"));
    if partial {
        sink.note("partial clone: blobs that were never fetched are not in this repository and were not scanned (fetch them, or scan a full clone)");
    }
    partial
}
