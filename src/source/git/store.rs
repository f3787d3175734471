//! The object store in pack order: every object of every pack (through its index) and every loose
//! object, each read once and blobs and commit messages scanned as they are inflated — the order
//! `git cat-file --batch-all-objects --unordered` reads in, so objects no ref reaches are scanned
//! too. A pack is resolved with gitoxide's delta tree, on all workers: each base is inflated once
//! and each delta applied once onto it, instead of chains decoded again per object.
//!
//! Nothing here knows paths or commits: blobs are handed on as pending (`(blob <id>)`), and
//! `attribute` says where they were once the scan has shown which ones matter.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::objs::Kind;
use gix::odb::pack;
use rayon::prelude::*;

use super::HistoryOptions;
use super::objects::{Bounded, CommitHeader, find_bounded, header_id, parse_commit, scan_text, size_limit};
use super::progress::Progress;
use super::shard::shard_of;
use super::treeindex::{IndexBuilder, TreeEdges, TreeIndex};
use super::vet::{self, Verdict};
use crate::model::{CommitInfo, Origin};
use crate::source::Sink;

/// What the scan leaves for attribution.
#[derive(Default)]
pub(super) struct Scanned {
    /// Blobs whose origin was asked for (they hold something), sorted, each once.
    pub(super) hits: Vec<ObjectId>,
    /// Commits whose message holds something.
    pub(super) message_hits: Vec<ObjectId>,
    /// Trees with a key in an entry's name, sorted, each once.
    pub(super) tree_hits: Vec<ObjectId>,
    /// Blobs over `--max-file-size`, with their size: recorded as skips once their place is known.
    pub(super) too_big: Vec<(ObjectId, u64)>,
    /// Every commit object in the store, reachable or not, with its tree.
    pub(super) commits: Vec<(ObjectId, Option<ObjectId>)>,
    /// What the commit walk needs of each commit in the store, so that it reads none again.
    pub(super) headers: gix::hashtable::HashMap<ObjectId, CommitHeader>,
    /// Trees with gitlinks (submodules), with the gitlinks' names.
    pub(super) gitlinks: Vec<(ObjectId, Vec<BString>)>,
    /// Which trees hold what; none if it outgrew its memory cap.
    pub(super) index: Option<TreeIndex>,
    /// Objects read.
    pub(super) objects: u64,
    /// Git LFS pointer files among the blobs scanned.
    pub(super) lfs: u64,
    /// Every blob in the store, sorted: a tree walk tells a missing one by it. None in a partial
    /// clone, which lacks blobs by design.
    pub(super) blobs: Option<Vec<ObjectId>>,
    /// Packs that do not open, with why.
    pub(super) bad_packs: Vec<String>,
}

/// A pack whose index and data file open and belong together.
struct Pack {
    index: pack::index::File,
    data: pack::data::File,
    /// `objects/pack/<name>.pack`, for the skips it records.
    name: String,
}

/// The path a pending blob has until it is attributed.
pub(super) fn pending_path(prefix: &str, id: &gix::oid) -> String {
    format!("{prefix}(blob {id})")
}

/// The path a tree entry with a key in its name has until it is attributed: `(tree <id>)/name`.
pub(super) fn pending_tree_path(prefix: &str, id: &gix::oid) -> String {
    format!("{prefix}(tree {id})")
}

/// Reads every object of the repository's object store (and its alternates) once.
/// `named_tags`: the tag objects the refs reach, whose text is read through them.
pub(super) fn scan_store(
    repo: &gix::Repository,
    opts: &HistoryOptions,
    named_tags: &gix::hashtable::HashSet,
    sink: &dyn Sink,
) -> Result<Scanned> {
    let hash = repo.object_hash();
    let mut dirs = vec![repo.objects.store_ref().path().to_path_buf()];
    match gix::odb::alternate::resolve(dirs[0].clone(), &std::env::current_dir().unwrap_or_default()) {
        Ok(more) => dirs.extend(more),
        Err(e) => sink.skip("(objects/info/alternates)", format!("unreadable alternates: {e}")),
    }
    let mut bad_packs = Vec::new();
    let packs: Vec<Pack> = dirs
        .iter()
        .flat_map(|d| open_packs(d, hash, sink, &mut bad_packs))
        .collect();
    let loose: Vec<gix::odb::loose::Store> =
        dirs.iter().map(|d| gix::odb::loose::Store::at(d, hash)).collect();
    let loose_ids: Vec<(usize, ObjectId)> = loose
        .iter()
        .enumerate()
        .flat_map(|(i, store)| store.iter().filter_map(Result::ok).map(move |id| (i, id)))
        .filter(|(_, id)| !packs.iter().any(|p| p.index.lookup(id).is_some()))
        .collect();
    let total = packs
        .iter()
        .map(|p| u64::from(p.index.num_objects()))
        .sum::<u64>()
        + loose_ids.len() as u64;
    let progress = Progress::objects(opts.progress, total, sink);
    let scanner = Scanner {
        sink,
        opts,
        named_tags,
        hash,
        progress: &progress,
        state: Default::default(),
        index: IndexBuilder::default(),
        lfs: AtomicU64::new(0),
        verified: Mutex::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .context("cannot start worker threads")?;
    for k in 0..packs.len() {
        scanner.pack(k, &packs, repo, &pool);
    }
    pool.install(|| {
        loose_ids.par_iter().for_each_init(
            || (Vec::new(), scanner.local()),
            |(buf, local), (i, id)| {
                // The header first (its first inflated bytes): nothing over its limit is inflated.
                match loose[*i].try_header(id) {
                    Ok(Some((size, kind))) if size > size_limit(kind, opts.max_file_size) => {
                        scanner.too_big(id, kind, size);
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        sink.skip(format!("(object {id})"), format!("unreadable loose object: {e}"));
                        return;
                    }
                }
                match loose[*i].try_find(id, buf) {
                    Ok(Some(data)) => scanner.object(local, id, data.kind, data.data),
                    // Gone between listing and reading: pruned while we ran.
                    Ok(None) => {}
                    Err(e) => sink.skip(format!("(object {id})"), format!("unreadable loose object: {e}")),
                }
            },
        );
    });
    progress.finish();
    let state = scanner.state.into_inner().unwrap_or_else(|e| e.into_inner());
    let index = scanner.index.seal(&pool);
    let mut too_big = state.too_big;
    // A blob in two packs is over the limit in both.
    too_big.sort_unstable();
    too_big.dedup();
    let mut hits = state.hits;
    hits.sort_unstable();
    hits.dedup();
    let mut blobs = state.blobs;
    blobs.sort_unstable();
    let mut tree_hits = state.tree_hits;
    tree_hits.sort_unstable();
    tree_hits.dedup();
    blobs.dedup();
    let mut message_hits = state.message_hits;
    message_hits.sort_unstable();
    message_hits.dedup();
    Ok(Scanned {
        hits,
        message_hits,
        tree_hits,
        too_big,
        commits: state.commits,
        headers: state.headers.into_iter().collect(),
        gitlinks: state.gitlinks,
        index,
        objects: state.objects,
        lfs: scanner.lfs.into_inner(),
        blobs: Some(blobs),
        bad_packs,
    })
}

/// Records each pack of the repository that does not open (what a range, which reads objects by
/// id, would otherwise find only as objects that seem missing).
pub(super) fn check_packs(repo: &gix::Repository, sink: &dyn Sink) {
    open_packs(
        repo.objects.store_ref().path(),
        repo.object_hash(),
        sink,
        &mut Vec::new(),
    );
}

/// The packs of one objects directory, newest first as git reads them; one that does not open is
/// recorded: gitoxide would leave it out without a word, and its objects would just seem missing.
fn open_packs(objects: &Path, hash: gix::hash::Kind, sink: &dyn Sink, bad: &mut Vec<String>) -> Vec<Pack> {
    let Ok(entries) = std::fs::read_dir(objects.join("pack")) else {
        return Vec::new();
    };
    let mut idx: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .map(|p| {
            (
                std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
                p,
            )
        })
        .collect();
    idx.sort_by(|a, b| b.cmp(a));
    let mut packs = Vec::new();
    for (_, idx) in idx {
        let path = idx.with_extension("pack");
        let name = format!(
            "objects/pack/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let opened = pack::index::File::at(&idx, hash)
            .map_err(|e| format!("unreadable pack index: {e}"))
            .and_then(|index| {
                let data = pack::data::File::at(&path, hash).map_err(|e| format!("unreadable pack: {e}"))?;
                if data.num_objects() != index.num_objects() {
                    return Err(format!(
                        "pack holds {} objects, its index {}: they do not belong together",
                        data.num_objects(),
                        index.num_objects()
                    ));
                }
                Ok(Pack {
                    index,
                    data,
                    name: name.clone(),
                })
            });
        match opened {
            Ok(p) => packs.push(p),
            Err(problem) => {
                bad.push(format!("({name}): {problem}"));
                sink.skip(
                    format!("({name})"),
                    format!("{problem}; the objects in it were not read"),
                );
            }
        }
    }
    packs
}

#[derive(Default)]
struct State {
    hits: Vec<ObjectId>,
    tree_hits: Vec<ObjectId>,
    message_hits: Vec<ObjectId>,
    too_big: Vec<(ObjectId, u64)>,
    commits: Vec<(ObjectId, Option<ObjectId>)>,
    headers: Vec<(ObjectId, CommitHeader)>,
    blobs: Vec<ObjectId>,
    gitlinks: Vec<(ObjectId, Vec<BString>)>,
    objects: u64,
}

/// What one worker gathers, handed to the shared state when it is dropped: a lock per object
/// would make the workers queue for it.
struct Local<'a> {
    state: &'a Mutex<State>,
    progress: &'a Progress<'a>,
    blobs: Vec<ObjectId>,
    commits: Vec<(ObjectId, Option<ObjectId>)>,
    headers: Vec<(ObjectId, CommitHeader)>,
    /// A tree's entry names, one a line: reused from tree to tree.
    names: Vec<u8>,
    read: u64,
}

impl Clone for Local<'_> {
    fn clone(&self) -> Self {
        Local {
            state: self.state,
            progress: self.progress,
            blobs: Vec::new(),
            commits: Vec::new(),
            headers: Vec::new(),
            names: Vec::new(),
            read: 0,
        }
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        self.progress.inc_by(self.read % 256);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.objects += self.read;
        state.blobs.append(&mut self.blobs);
        state.commits.append(&mut self.commits);
        state.headers.append(&mut self.headers);
    }
}

/// Shared by every worker.
struct Scanner<'a> {
    sink: &'a dyn Sink,
    opts: &'a HistoryOptions,
    named_tags: &'a gix::hashtable::HashSet,
    hash: gix::hash::Kind,
    progress: &'a Progress<'a>,
    state: Mutex<State>,
    index: IndexBuilder,
    lfs: AtomicU64,
    /// Ids held by more than one pack whose copy was read and found to match.
    verified: Mutex<std::collections::HashSet<ObjectId>>,
}

impl Scanner<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a worker panicked mid-push; the lists are still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One pack, through its delta tree, once `vet` has read every entry's header: entries over
    /// their limit are recorded, not inflated. If the tree fails part-way (a corrupt entry), the
    /// objects it did not reach are read one by one, each failure a skip of its own.
    fn pack(&self, k: usize, packs: &[Pack], repo: &gix::Repository, pool: &rayon::ThreadPool) {
        let p = &packs[k];
        let others: Vec<&pack::index::File> = packs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, o)| &o.index)
            .collect();
        let vetted = vet::vet(&p.index, &p.data, &others, self.opts.max_file_size, pool);
        self.index.expect(vetted.tree_bytes);
        let mut lost = 0usize;
        let mut alone = Vec::new();
        for slot in &vetted.slots {
            match &slot.verdict {
                Verdict::Read => {}
                Verdict::TooBig(size) => self.too_big(slot.oid(&p.index), Kind::Blob, *size),
                Verdict::Alone => alone.push((slot.oid(&p.index).to_owned(), slot.dup)),
                Verdict::Lost(why) => {
                    lost += 1;
                    // Its skip names it; it is not also a blob missing from the store.
                    self.lock().blobs.push(slot.oid(&p.index).to_owned());
                    self.sink.skip(
                        format!("(object {})", slot.oid(&p.index)),
                        format!("in {}: {why}; not read", p.name),
                    );
                }
            }
        }
        if vetted.damaged {
            self.sink.skip(
                format!("({})", p.name),
                format!(
                    "its trailer does not match its index: the pack is truncated or altered; {lost} object(s) in it not read (each named)"
                ),
            );
        }
        let tree = pack::cache::delta::Tree::from_offsets_in_pack(
            p.data.path(),
            vetted.slots.iter().filter(|s| matches!(s.verdict, Verdict::Read)),
            &|s: &&vet::Slot| s.offset,
            &|id| Ok(p.index.lookup(id).map(|i| p.index.pack_offset_at_index(i))),
            &mut gix::progress::Discard,
            &AtomicBool::new(false),
            self.hash,
        );
        let mut local = self.local();
        // gitoxide clones the inspector for each of its threads: each gets its own `Local`.
        let inspect = move |slot: &mut &vet::Slot,
                            _: &dyn gix::progress::Progress,
                            cx: pack::cache::delta::traverse::Context<'_>| {
            slot.read();
            if let Some(kind) = cx.entry.header.as_kind() {
                self.read_copy(
                    &mut local,
                    slot.oid(&p.index),
                    slot.dup,
                    kind,
                    cx.decompressed,
                    &p.name,
                );
            }
            Ok(())
        };
        let outcome = tree.and_then(|tree| {
            tree.traverse(
                |range, data: &pack::data::File| data.entry_slice(range),
                &p.data,
                p.data.pack_end() as u64,
                inspect,
                pack::cache::delta::traverse::Options {
                    object_progress: Box::new(gix::progress::Discard),
                    size_progress: &mut gix::progress::Discard,
                    thread_limit: Some(self.opts.workers()),
                    should_interrupt: &AtomicBool::new(false),
                    object_hash: self.hash,
                    alloc_limit_bytes: None,
                },
            )
        });
        let mut rest: Vec<(ObjectId, bool)> = alone;
        if let Err(e) = outcome {
            self.sink.skip(
                format!("({})", p.name),
                format!("cannot resolve the pack in one pass ({e}); the objects it had not reached were read one by one"),
            );
            rest.extend(
                vetted
                    .slots
                    .iter()
                    .filter(|s| matches!(s.verdict, Verdict::Read) && !s.was_read())
                    .map(|s| (s.oid(&p.index).to_owned(), s.dup)),
            );
        }
        if rest.is_empty() {
            return;
        }
        let shared = repo.clone().into_sync();
        pool.install(|| {
            rest.par_iter().for_each_init(
                || (shared.to_thread_local(), Vec::new(), self.local()),
                |(repo, buf, local), (id, dup)| match find_bounded(repo, id, self.opts.max_file_size, buf) {
                    // Checked like a copy the delta tree reads: another pack's copy of the same
                    // object, read before or after this one, is not scanned a second time.
                    Ok(Some(Bounded::Read(data))) => {
                        self.read_copy(local, id, *dup, data.kind, data.data, &p.name)
                    }
                    Ok(Some(Bounded::TooBig(kind, size))) => self.too_big(id, kind, size),
                    Ok(None) => self
                        .sink
                        .skip(format!("(object {id})"), format!("missing object in {}", p.name)),
                    Err(e) => self.sink.skip(
                        format!("(object {id})"),
                        format!("corrupt object in {}: {e}", p.name),
                    ),
                },
            );
        });
    }

    /// One pack's copy of an object. An id another pack holds too is checked against what was
    /// read: a copy that is not what its id says is still scanned (git may serve it) and said so;
    /// copies that agree are scanned once.
    fn read_copy(
        &self,
        local: &mut Local<'_>,
        oid: &gix::oid,
        dup: bool,
        kind: Kind,
        data: &[u8],
        pack: &str,
    ) {
        if dup {
            match gix::objs::compute_hash(self.hash, kind, data) {
                Ok(id) if id.as_ref() == oid => {
                    if !self.verified.lock().unwrap_or_else(|e| e.into_inner()).insert(id) {
                        return;
                    }
                }
                _ => {
                    self.sink.skip(
                        format!("(object {oid})"),
                        format!(
                            "the copy in {pack} does not hash to its id, and another pack holds the same id: the packs disagree (the copy was scanned)"
                        ),
                    );
                    self.object(local, oid, kind, data);
                    // Scanned, but not what the walk follows: kept, a forged copy of a commit read
                    // after the genuine one would give the id its own tree and parents, and a key
                    // the genuine commit introduced would be placed in no commit.
                    if local.headers.last().is_some_and(|(id, _)| id.as_ref() == oid) {
                        local.headers.pop();
                    }
                    return;
                }
            }
        }
        self.object(local, oid, kind, data);
    }

    /// An object over its limit, not inflated: a blob is recorded at its place once attributed.
    fn too_big(&self, id: &gix::oid, kind: Kind, size: u64) {
        if kind == Kind::Blob {
            // In the store, though not read: a tree naming it does not name a missing blob.
            self.lock().blobs.push(id.to_owned());
        }
        if self.opts.shard.is_some_and(|(i, n)| shard_of(id, n) != i) {
            return;
        }
        if kind == Kind::Blob {
            self.lock().too_big.push((id.to_owned(), size));
        } else {
            self.sink.skip(
                format!("(object {id})"),
                format!(
                    "a {kind} of {size} bytes, more than is read of one ({} bytes): not read",
                    size_limit(kind, self.opts.max_file_size)
                ),
            );
        }
    }

    fn local(&self) -> Local<'_> {
        Local {
            state: &self.state,
            progress: self.progress,
            blobs: Vec::new(),
            commits: Vec::new(),
            headers: Vec::new(),
            names: Vec::new(),
            read: 0,
        }
    }

    /// The names of a tree's entries, scanned as text, one per line: a key in a file's name. Each
    /// tree once, so each name once per tree that has it; placed after the scan (`(tree <id>)/name`
    /// until then) at the tree's first place.
    fn names(&self, local: &mut Local<'_>, id: &gix::oid, data: &[u8]) {
        let names = &mut local.names;
        names.clear();
        for e in gix::objs::TreeRefIter::from_bytes(data, self.hash) {
            let Ok(e) = e else { break };
            // A newline in a name would make it two; it cannot be part of a key, nor a space.
            names.extend(e.filename.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
            names.push(b'\n');
        }
        let opts = self.opts;
        self.sink.names(names, &|i| {
            let mut path = pending_tree_path(&opts.prefix, id).into_bytes();
            path.push(b'/');
            // Asked only for a name that holds a key: parsing the tree again costs nothing then.
            let entry = gix::objs::TreeRefIter::from_bytes(data, self.hash)
                .map_while(Result::ok)
                .nth(i);
            path.extend_from_slice(entry.map(|e| e.filename.as_ref()).unwrap_or_default());
            self.lock().tree_hits.push(id.to_owned());
            Origin {
                repository: opts.repository.clone(),
                pending: true,
                ..Origin::from_bytes(&path)
            }
        });
    }

    fn object(&self, local: &mut Local<'_>, id: &gix::oid, kind: Kind, data: &[u8]) {
        local.read += 1;
        if local.read.is_multiple_of(256) {
            self.progress.inc_by(256);
        }
        let opts = self.opts;
        if kind == Kind::Blob {
            local.blobs.push(id.to_owned());
        }
        match kind {
            // Submodules are looked for in every shard: each job notes them.
            Kind::Tree => {
                let edges = if self.index.given_up() {
                    TreeEdges::gitlinks(data, self.hash)
                } else {
                    let edges = TreeEdges::read(data, self.hash);
                    self.index.add(id, &edges);
                    edges
                };
                if !edges.gitlinks.is_empty() {
                    self.lock().gitlinks.push((id.to_owned(), edges.gitlinks));
                }
                if opts.shard.is_none_or(|(i, n)| shard_of(id, n) == i) {
                    self.names(local, id, data);
                }
            }
            // Every shard places what it finds in commits no ref reaches: each needs them all.
            Kind::Commit if opts.shard.is_some_and(|(i, n)| shard_of(id, n) != i) => {
                local.commits.push((id.to_owned(), header_id(data, b"tree ")));
                local.headers.push((id.to_owned(), parse_commit(data, self.hash)));
            }
            _ if opts.shard.is_some_and(|(i, n)| shard_of(id, n) != i) => {}
            Kind::Blob => {
                if data.len() as u64 > opts.max_file_size {
                    self.lock().too_big.push((id.to_owned(), data.len() as u64));
                    return;
                }
                if data.starts_with(b"version https://git-lfs.github.com/spec/v1") {
                    self.lfs.fetch_add(1, Ordering::Relaxed);
                }
                self.sink.scan_lazy(data, || {
                    self.lock().hits.push(id.to_owned());
                    Origin {
                        path: pending_path(&opts.prefix, id),
                        repository: opts.repository.clone(),
                        blob: Some(id.to_string()),
                        pending: true,
                        ..Origin::default()
                    }
                });
            }
            Kind::Commit => {
                local.commits.push((id.to_owned(), header_id(data, b"tree ")));
                local.headers.push((id.to_owned(), parse_commit(data, self.hash)));
                let commit = gix::objs::CommitRef::from_bytes(data, self.hash).ok();
                scan_text(self.sink, data, |part| {
                    self.lock().message_hits.push(id.to_owned());
                    Origin {
                        path: format!("{}(commit {part})", opts.prefix),
                        repository: opts.repository.clone(),
                        commit: Some(commit_info(id, commit.as_ref())),
                        pending: true,
                        ..Origin::default()
                    }
                });
            }
            // Tags the refs reach are read through them, under the ref's name.
            Kind::Tag if self.named_tags.contains(id) => {}
            Kind::Tag => scan_text(self.sink, data, |part| Origin {
                path: format!("{}(tag {part} {id})", opts.prefix),
                repository: opts.repository.clone(),
                reachable: Some(false),
                ..Origin::default()
            }),
        }
    }
}

/// Author and date of a commit from its decoded form; empty where it does not decode.
pub(super) fn commit_info(id: &gix::oid, commit: Option<&gix::objs::CommitRef<'_>>) -> CommitInfo {
    let mut info = CommitInfo {
        commit: id.to_string(),
        author_name: String::new(),
        author_email: String::new(),
        date: String::new(),
    };
    if let Some(a) = commit.and_then(|c| c.author().ok()) {
        info.author_name = a.name.to_str_lossy().trim().to_string();
        info.author_email = a.email.to_str_lossy().trim().to_string();
        info.date = a
            .time()
            .ok()
            .and_then(|t| t.format(gix::date::time::format::ISO8601_STRICT).ok())
            .unwrap_or_default();
    }
    info
}
