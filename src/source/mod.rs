//! Sources of bytes. Each source walks its own kind of storage and hands every blob, with its
//! provenance, to a [`Sink`]; none of them knows what is being detected, or what happens next.

pub mod archive;
pub mod forge;
pub mod formats;
pub mod git;
pub mod staged;
pub mod stdin;
pub mod worktree;

use std::path::PathBuf;

use crate::model::{Origin, Skip};

/// The allow-list file read at the top of what is scanned: one fingerprint per line.
pub const IGNORE_FILE: &str = ".sgscanignore";

/// Files larger than this are skipped unless `--max-file-size` says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Where a source puts what it reads. Called from many threads at once.
pub trait Sink: Sync {
    /// A blob (a file, a git blob), counted in the summary; `origin` is built only if the blob
    /// holds something, since provenance can be costly (a commit to read).
    fn blob(&self, data: &[u8], origin: &dyn Fn() -> Origin);
    /// One window of a longer run of bytes scanned in overlapping windows: a match starting at or
    /// past `owned` is left to the next window, which starts there (so a key in the overlap is
    /// one location, not two). The default scans it as a blob.
    fn window(&self, data: &[u8], owned: usize, origin: &dyn Fn() -> Origin) {
        let _ = owned;
        self.blob(data, origin);
    }
    /// A commit or tag message: scanned, but counted apart from blobs.
    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin);
    /// Names (paths, tree entries) scanned as text, one per line of `names`: a key in one is a
    /// finding at line 0 of the origin `origin(i)` gives for the name on line `i` (0-based), since
    /// a key in a file's name leaks as surely as one in its contents. Names are not blobs: not
    /// counted. A sink that only transforms blobs (the archive unpacker) has none to see: the
    /// pipeline hands names past it with [`Routed`], and the default drops nothing it could get.
    fn names(&self, names: &[u8], origin: &dyn Fn(usize) -> Origin) {
        let _ = (names, origin);
    }
    /// The header lines of a commit or tag (author, committer, tagger, extra headers, signatures)
    /// whose message is handed on too: scanned, not counted again.
    fn header(&self, data: &[u8], origin: &dyn Fn() -> Origin);
    /// Something that could not be read, and why.
    fn skipped(&self, skip: Skip);
    /// A remark about the scan as a whole (a shallow clone, submodules not followed).
    fn noted(&self, note: String);
    /// Provenance for what was handed on as pending ([`Origin::pending`]): called once, after the
    /// source has read everything, by a source that reads blobs before it knows where they are.
    fn attribute(&self, places: &dyn Attribute);
    /// The blobs (ids) of the pending origins recorded so far: those a finding needs placed, as
    /// opposed to those whose origin was only asked for a skip's path.
    fn pending_blobs(&self) -> Vec<String>;
    /// Distinct keys found so far, for a progress line.
    fn keys_found(&self) -> u64 {
        0
    }
}

/// A sink whose names go to one sink and everything else to another: names are not blobs, so
/// they bypass what unpacks blobs (archives) and go straight to the collector.
pub struct Routed<'a> {
    pub names: &'a dyn Sink,
    pub rest: &'a dyn Sink,
}

impl Sink for Routed<'_> {
    fn blob(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.rest.blob(data, origin);
    }

    fn window(&self, data: &[u8], owned: usize, origin: &dyn Fn() -> Origin) {
        self.rest.window(data, owned, origin);
    }

    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.rest.message(data, origin);
    }

    fn header(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.rest.header(data, origin);
    }

    fn names(&self, names: &[u8], origin: &dyn Fn(usize) -> Origin) {
        self.names.names(names, origin);
    }

    fn skipped(&self, skip: Skip) {
        self.rest.skipped(skip);
    }

    fn noted(&self, note: String) {
        self.rest.noted(note);
    }

    fn attribute(&self, places: &dyn Attribute) {
        self.rest.attribute(places);
    }

    fn pending_blobs(&self) -> Vec<String> {
        self.rest.pending_blobs()
    }

    fn keys_found(&self) -> u64 {
        self.names.keys_found()
    }
}

/// Where pending blobs were, once a source knows.
pub trait Attribute {
    /// The whole origin for a pending one (its `member` is kept by the caller); `None` leaves it.
    fn origin(&self, pending: &Origin) -> Option<Origin>;
    /// A recorded skip's path that names a pending blob (`(blob <id>)…`), rewritten to its place.
    fn skip_path(&self, path: &str) -> Option<String>;
}

/// The forms sources call.
impl dyn Sink + '_ {
    pub fn scan(&self, data: &[u8], origin: &Origin) {
        self.blob(data, &|| origin.clone());
    }

    pub fn scan_lazy(&self, data: &[u8], origin: impl Fn() -> Origin) {
        self.blob(data, &origin);
    }

    pub fn scan_message(&self, data: &[u8], origin: impl Fn() -> Origin) {
        self.message(data, &origin);
    }

    /// One name, e.g. a file's path: see [`Sink::names`].
    pub fn scan_name(&self, name: &[u8], origin: impl Fn() -> Origin) {
        if name.contains(&b'\n') {
            // A newline would make it two names; it cannot be inside a key, nor can a space.
            let one: Vec<u8> = name.iter().map(|&b| if b == b'\n' { b' ' } else { b }).collect();
            self.names(&one, &|_| origin());
        } else {
            self.names(name, &|_| origin());
        }
    }

    pub fn scan_header(&self, data: &[u8], origin: impl Fn() -> Origin) {
        self.header(data, &origin);
    }

    pub fn skip(&self, path: impl Into<String>, reason: impl Into<String>) {
        self.skipped(Skip {
            path: path.into(),
            reason: reason.into(),
        });
    }

    pub fn note(&self, note: impl Into<String>) {
        self.noted(note.into());
    }
}

/// A kind of storage to scan: the work tree, the index, the history.
pub trait Source {
    /// Reads everything and hands it to `sink`. An error means the source as a whole could not be
    /// read (not a repository, an unreadable root); what fails inside is a skip.
    fn scan(&self, sink: &dyn Sink) -> anyhow::Result<()>;
    /// The `.sgscanignore` files that apply to what this source reads.
    fn ignore_files(&self) -> Vec<PathBuf>;
}
