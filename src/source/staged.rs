//! The staged index, for pre-commit hooks: only blobs that are staged and differ from HEAD; or,
//! given the files the pre-commit framework passes, each file's staged content where it is staged
//! (a commit) and its work-tree content where it is not (`pre-commit run --all-files`/`--files`,
//! which pass files that are committed already).
//!
//! Cost follows the staged change, not the repository: the index's cache-tree extension names the
//! directories whose staged tree equals HEAD's, and those are never read.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::prelude::FindExt;

use super::git::{Bounded, find_bounded, open_repo_with_refs, repo_ignore_files, too_big_reason};
use super::{Sink, Source};
use crate::model::Origin;

/// What is staged in the repository at or above `repo`.
pub struct Staged {
    pub repo: PathBuf,
    pub max_file_size: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Only these files (relative to the current directory, or absolute), as above.
    pub files: Option<Vec<PathBuf>>,
    /// Filled by the scan: the files named in `files` that are not staged and that HEAD has at
    /// that path (paths from the top of the work tree), read from the work tree. A key in one was
    /// committed already: blocking a commit does not keep it out (`pre-commit run --all-files`).
    pub committed: std::sync::Mutex<Vec<String>>,
}

impl Source for Staged {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        let repo = open_repo_with_refs(&self.repo)?;
        let mut blobs = staged_blobs(&repo, &self.repo)?;
        let Some(files) = &self.files else {
            return scan_blobs(repo, &blobs, self.max_file_size, self.threads, sink);
        };
        let top = repo
            .workdir()
            .map(|w| std::fs::canonicalize(w).unwrap_or_else(|_| w.to_path_buf()))
            .context("the repository has no work tree")?;
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let mut wanted = HashSet::new();
        let mut on_disk = Vec::new();
        for file in files {
            let full = cwd.join(file);
            let full = std::fs::canonicalize(&full).unwrap_or(full);
            match full.strip_prefix(&top).ok().and_then(|r| r.to_str()) {
                Some(rel) => {
                    let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
                    wanted.insert(BString::from(rel.as_str()));
                    on_disk.push((full.clone(), rel));
                }
                None => sink.skip(
                    file.display().to_string(),
                    "not in the repository's work tree: not scanned".to_string(),
                ),
            }
        }
        blobs.retain(|(_, path)| wanted.contains(path));
        let staged: HashSet<BString> = blobs.iter().map(|(_, p)| p.clone()).collect();
        on_disk.retain(|(_, rel)| !staged.contains(BStr::new(rel.as_bytes())));
        let head_tree = repo
            .head_commit()
            .ok()
            .and_then(|c| c.tree_id().ok())
            .map(|t| t.detach());
        let mut head = HeadTree::new(&repo, head_tree);
        let committed: Vec<String> = on_disk
            .iter()
            .filter(|(_, rel)| head.blob_at(BStr::new(rel.as_bytes())).is_some())
            .map(|(_, rel)| rel.clone())
            .collect();
        drop(head);
        *self.committed.lock().unwrap_or_else(|e| e.into_inner()) = committed;
        for (full, rel) in on_disk {
            scan_file(&full, &rel, self.max_file_size, sink);
        }
        scan_blobs(repo, &blobs, self.max_file_size, self.threads, sink)
    }

    /// `.sgscanignore` at the top of the work tree, then in the current directory.
    fn ignore_files(&self) -> Vec<PathBuf> {
        repo_ignore_files(&self.repo)
    }
}

/// The staged blobs that differ from HEAD, each once, with a path it is staged at. Only ids are
/// read here (the index, and HEAD's trees where the index does not vouch for them).
fn staged_blobs(repo: &gix::Repository, path: &Path) -> Result<Vec<(ObjectId, BString)>> {
    if repo.is_bare() {
        bail!(
            "{} is a bare repository: it has no index to scan (use `sgscan git`)",
            path.display()
        );
    }
    if !repo.index_path().exists() {
        // A fresh repository where nothing was ever added: nothing is staged.
        return Ok(Vec::new());
    }
    let index = repo
        .open_index()
        .with_context(|| format!("cannot read the index of {}", path.display()))?;
    let head_tree = match repo.head_commit() {
        Ok(c) => Some(c.tree_id().context("cannot read HEAD's tree")?.detach()),
        // An unborn branch (first commit): everything staged is new.
        Err(_) if repo.head().is_ok_and(|h| h.is_unborn()) => None,
        Err(e) => bail!("cannot read HEAD: {e}"),
    };
    let mut head = HeadTree::new(repo, head_tree);
    let clean = match (index.tree(), head_tree) {
        (Some(cache), Some(root)) => head.clean_dirs(cache, root),
        _ => HashSet::new(),
    };
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    let empty_blob = ObjectId::empty_blob(repo.object_hash());
    for entry in index.entries() {
        let path = entry.path(&index);
        if entry.mode.is_submodule() || entry.id == empty_blob || is_under(&clean, path) {
            continue;
        }
        if head.blob_at(path) == Some(entry.id) || !seen.insert(entry.id) {
            continue;
        }
        blobs.push((entry.id, path.to_owned()));
    }
    Ok(blobs)
}

/// A work-tree file, for a file named to the hook that is not staged.
fn scan_file(full: &Path, rel: &str, max_file_size: u64, sink: &dyn Sink) {
    sink.scan_name(rel.as_bytes(), || Origin::file(rel));
    match std::fs::metadata(full) {
        Ok(m) if m.len() > max_file_size => sink.skip(
            rel.to_string(),
            format!("larger than --max-file-size ({max_file_size} bytes)"),
        ),
        Ok(m) if !m.is_file() => {}
        Ok(_) => match crate::file::read(full, max_file_size) {
            Ok(data) => sink.scan(&data, &Origin::file(rel)),
            Err(e) => sink.skip(rel.to_string(), format!("cannot read: {e}")),
        },
        Err(e) => sink.skip(rel.to_string(), format!("cannot read: {e}")),
    }
}

/// Reads and scans `blobs` on `threads` workers, each with its own repository handle.
fn scan_blobs(
    repo: gix::Repository,
    blobs: &[(ObjectId, BString)],
    max_file_size: u64,
    threads: usize,
    sink: &dyn Sink,
) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let shared = repo.into_sync();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")?;
    let next = AtomicUsize::new(0);
    pool.broadcast(|_| {
        let repo = shared.to_thread_local();
        let mut buf = Vec::new();
        while let Some((id, path)) = blobs.get(next.fetch_add(1, Ordering::Relaxed)) {
            sink.scan_name(path, || Origin::from_bytes(path));
            // The header first: a staged blob over the limit is never inflated.
            match find_bounded(&repo, id, max_file_size, &mut buf) {
                Ok(Some(Bounded::Read(blob))) => sink.scan(blob.data, &Origin::from_bytes(path)),
                Ok(Some(Bounded::TooBig(_, size))) => {
                    sink.skip(path.to_string(), too_big_reason(id, size, max_file_size))
                }
                Ok(None) => sink.skip(path.to_string(), format!("staged blob {id} is missing")),
                Err(e) => sink.skip(path.to_string(), format!("staged blob {id} is corrupt: {e}")),
            }
        }
    });
    Ok(())
}

/// `clean` holds directory prefixes ending in `/`; the empty prefix means everything.
fn is_under(clean: &HashSet<BString>, path: &BStr) -> bool {
    if clean.is_empty() {
        return false;
    }
    clean.contains(BStr::new("")) || path.find_iter("/").any(|i| clean.contains(&path[..=i]))
}

/// One directory of HEAD: name → (is a tree, id).
type Listing = HashMap<BString, (bool, ObjectId)>;

/// HEAD's tree, read one directory at a time and only where needed.
struct HeadTree<'r> {
    repo: &'r gix::Repository,
    root: Option<ObjectId>,
    dirs: HashMap<BString, Option<Listing>>,
    buf: Vec<u8>,
}

impl<'r> HeadTree<'r> {
    fn new(repo: &'r gix::Repository, root: Option<ObjectId>) -> Self {
        HeadTree {
            repo,
            root,
            dirs: HashMap::new(),
            buf: Vec::new(),
        }
    }

    fn read(&mut self, tree: ObjectId) -> Option<Listing> {
        let iter = self.repo.objects.find_tree_iter(&tree, &mut self.buf).ok()?;
        Some(
            iter.filter_map(Result::ok)
                .map(|e| (e.filename.to_owned(), (e.mode.is_tree(), e.oid.to_owned())))
                .collect(),
        )
    }

    /// The tree id of directory `dir` ("" is the root) in HEAD.
    fn dir_tree(&mut self, dir: &BStr) -> Option<ObjectId> {
        if dir.is_empty() {
            return self.root;
        }
        let (parent, name) = match dir.rfind_byte(b'/') {
            Some(i) => (dir[..i].as_bstr(), dir[i + 1..].as_bstr()),
            None => (BStr::new(""), dir),
        };
        let (is_tree, id) = *self.listing(parent)?.get(name)?;
        is_tree.then_some(id)
    }

    fn listing(&mut self, dir: &BStr) -> Option<&Listing> {
        if !self.dirs.contains_key(dir) {
            let listing = self.dir_tree(dir).and_then(|t| self.read(t));
            self.dirs.insert(dir.to_owned(), listing);
        }
        self.dirs.get(dir)?.as_ref()
    }

    fn blob_at(&mut self, path: &BStr) -> Option<ObjectId> {
        let (dir, name) = match path.rfind_byte(b'/') {
            Some(i) => (path[..i].as_bstr(), path[i + 1..].as_bstr()),
            None => (BStr::new(""), path),
        };
        let (is_tree, id) = *self.listing(dir)?.get(name)?;
        (!is_tree).then_some(id)
    }

    /// Directories whose cache-tree entry is valid and equal to HEAD's tree there.
    fn clean_dirs(&mut self, cache: &gix::index::extension::Tree, root: ObjectId) -> HashSet<BString> {
        let mut clean = HashSet::new();
        let mut stack = vec![(cache, BString::default(), Some(root))];
        while let Some((node, prefix, head_id)) = stack.pop() {
            if node.num_entries.is_some() && head_id == Some(node.id) {
                let mut p = prefix.clone();
                if !p.is_empty() {
                    p.push(b'/');
                }
                clean.insert(p);
                continue;
            }
            for child in &node.children {
                let mut path = prefix.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&child.name);
                let id = self.dir_tree(path.as_bstr());
                stack.push((child, path, id));
            }
        }
        clean
    }
}
