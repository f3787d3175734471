//! Sources of bytes. Each source walks its own kind of storage and hands every blob, with its
//! provenance, to a [`Sink`]; none of them knows what is being detected, or what happens next.

pub mod archive;
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
    /// A commit or tag message: scanned, but counted apart from blobs.
    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin);
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
