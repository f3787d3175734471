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
    let mut repo =
        gix::discover(path).map_err(|e| anyhow!("{} is not a git repository ({e})", path.display()))?;
    // Trees are read once each, blobs once each: a small cache serves delta bases.
    repo.object_cache_size_if_unset(16 << 20);
    Ok(repo)
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
