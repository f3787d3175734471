//! Reading commit and tag objects leniently: an object that does not decode still gives what its
//! header lines and message say.

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::prelude::FindExt;

use crate::model::Origin;
use crate::source::Sink;

/// The id on the first header line starting with `field` (`b"tree "`, `b"object "`), read without
/// decoding the rest of the object.
pub(super) fn header_id(data: &[u8], field: &[u8]) -> Option<ObjectId> {
    header_lines(data)
        .find_map(|l| l.strip_prefix(field))
        .and_then(|hex| ObjectId::from_hex(hex.trim_ascii_end()).ok())
}

/// Header lines of a commit or tag: up to the first empty line.
fn header_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n').take_while(|l| !l.is_empty())
}

/// The header lines of a commit or tag (through the newline that ends the last one) and its
/// message, what follows the empty line after them: together, every byte but that empty line.
/// Read raw, so that a commit or tag that does not decode is split the same way.
pub(super) fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.find(b"\n\n") {
        Some(i) => (&data[..=i], &data[i + 2..]),
        None => (data, &[]),
    }
}

/// Scans the whole text of a commit or tag, each byte once: its message (counted as one message,
/// lines within the message) and its header lines, where a key can sit in an author's name, an
/// extra header or a signature (lines within the object, which starts with them). `origin` is
/// given the part a match is in, `"message"` or `"header"`.
pub(super) fn scan_text(sink: &dyn Sink, data: &[u8], origin: impl Fn(&str) -> Origin) {
    let (header, message) = split(data);
    sink.scan_message(message, || origin("message"));
    sink.scan_header(header, || origin("header"));
}

/// What the walk needs of a commit.
pub(super) struct CommitHeader {
    pub(super) tree: Option<ObjectId>,
    pub(super) parents: Vec<ObjectId>,
    /// Committer time, seconds; `None` if unreadable.
    pub(super) time: Option<i64>,
    /// Why the commit does not decode cleanly, if it does not.
    pub(super) problem: Option<String>,
    /// Its parent ids could not all be read: history behind it is unknown from here.
    pub(super) parents_lost: bool,
}

/// Reads a commit's tree, parents and time. A commit that does not decode (a bad date, a missing
/// author, garbage in its header) is read leniently, line by line, as far as it goes.
pub(super) fn read_commit(
    repo: &gix::Repository,
    id: &gix::oid,
    buf: &mut Vec<u8>,
) -> Result<CommitHeader, String> {
    let data = repo.objects.find(id, buf).map_err(|e| e.to_string())?;
    if data.kind != gix::object::Kind::Commit {
        return Err(format!("is a {}, not a commit", data.kind));
    }
    Ok(parse_commit(data.data, repo.object_hash()))
}

/// [`read_commit`] of a commit's bytes already read (the store sweep hands them to the walk).
pub(super) fn parse_commit(data: &[u8], hash: gix::hash::Kind) -> CommitHeader {
    match gix::objs::CommitRef::from_bytes(data, hash) {
        Ok(c) => {
            let author = c.author().map_err(|e| format!("bad author line: {e}"));
            let committer = c.committer().map_err(|e| format!("bad committer line: {e}"));
            let time = committer
                .as_ref()
                .ok()
                .and_then(|s| s.time().ok())
                .map(|t| t.seconds);
            let problem = match (&author, &committer) {
                (Err(e), _) | (_, Err(e)) => Some(e.clone()),
                (Ok(a), Ok(c)) => a
                    .time()
                    .err()
                    .map(|e| format!("bad author date: {e}"))
                    .or_else(|| c.time().err().map(|e| format!("bad committer date: {e}"))),
            };
            CommitHeader {
                tree: Some(c.tree()),
                parents: c.parents().collect(),
                time,
                problem,
                parents_lost: false,
            }
        }
        Err(e) => {
            let mut head = CommitHeader {
                tree: None,
                parents: Vec::new(),
                time: None,
                problem: None,
                parents_lost: false,
            };
            let (mut author, mut committer) = (false, false);
            for line in header_lines(data) {
                if let Some(hex) = line.strip_prefix(b"tree ") {
                    head.tree = head
                        .tree
                        .or_else(|| ObjectId::from_hex(hex.trim_ascii_end()).ok());
                } else if let Some(hex) = line.strip_prefix(b"parent ") {
                    match ObjectId::from_hex(hex.trim_ascii_end()) {
                        Ok(p) => head.parents.push(p),
                        Err(_) => head.parents_lost = true,
                    }
                } else if line.starts_with(b"author ") {
                    author = true;
                } else if let Some(sig) = line.strip_prefix(b"committer ") {
                    committer = true;
                    // `Name <email> SECONDS ZONE`
                    head.time = sig
                        .rsplit(|&b| b == b' ')
                        .nth(1)
                        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
                }
            }
            // gitoxide's own error says only that parsing failed: say what is wrong where it is clear.
            head.problem = Some(match (head.tree.is_some(), author, committer) {
                (false, _, _) => format!("{e} (no readable tree line)"),
                (_, false, _) => format!("{e} (no author line)"),
                (_, _, false) => format!("{e} (no committer line)"),
                _ => format!("{e} (a bad author or committer line)"),
            });
            // Without even a tree line the header is unreadable: a parent list found in it, or
            // none, cannot be trusted to be complete.
            if head.tree.is_none() && head.parents.is_empty() {
                head.parents_lost = true;
            }
            head
        }
    }
}

/// `prefix/name`, a path in a tree (`name` alone at the top).
pub(super) fn join(prefix: &BString, name: &BStr) -> BString {
    let mut p = prefix.clone();
    if !p.is_empty() {
        p.push_byte(b'/');
    }
    p.push_str(name);
    p
}

/// An abbreviated id, for the places that skips name.
pub(super) fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

/// Trees, commits and tags are read up to this size even under a smaller `--max-file-size`: the
/// history cannot be followed without them, and git itself never writes one this big.
const META_LIMIT: u64 = 64 << 20;

/// The most bytes an object of `kind` is inflated to: `--max-file-size` for a blob.
pub(super) fn size_limit(kind: gix::objs::Kind, max_file_size: u64) -> u64 {
    match kind {
        gix::objs::Kind::Blob => max_file_size,
        _ => max_file_size.max(META_LIMIT),
    }
}

/// An object read by id only if its header allows it.
pub(crate) enum Bounded<'a> {
    Read(gix::objs::Data<'a>),
    /// Over its limit (`size_limit`): kind and declared size, and nothing inflated.
    TooBig(gix::objs::Kind, u64),
}

/// Reads object `id` into `buf` only once its header (a pack entry's, a delta's result size, a
/// loose object's first inflated bytes) shows it within `size_limit`: gitoxide sizes its buffer from
/// that header, so an object declaring gigabytes costs gigabytes before anything is checked.
/// `Ok(None)`: no such object.
pub(crate) fn find_bounded<'a>(
    repo: &gix::Repository,
    id: &gix::oid,
    max_file_size: u64,
    buf: &'a mut Vec<u8>,
) -> Result<Option<Bounded<'a>>, String> {
    use gix::objs::{Find as _, FindHeader as _};
    let Some(header) = repo.objects.try_header(id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let (kind, size) = (header.kind, header.size);
    if size > size_limit(kind, max_file_size) {
        return Ok(Some(Bounded::TooBig(kind, size)));
    }
    match repo.objects.try_find(id, buf) {
        Ok(Some(data)) => Ok(Some(Bounded::Read(data))),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The reason recorded for a blob over `--max-file-size`.
pub(crate) fn too_big_reason(id: &gix::oid, size: u64, max_file_size: u64) -> String {
    format!("blob {id} of {size} bytes, larger than --max-file-size ({max_file_size} bytes): not read")
}
