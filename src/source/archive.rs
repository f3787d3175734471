//! Archives and compressed streams as a transform between any source and the collector: a [`Sink`]
//! that opens what it is given (zip family, tar, gzip, bzip2, xz, zstd, nested up to a depth) and
//! hands each member on as a blob of its own, with the member path in its [`Origin`].
//!
//! Kinds are told by their magic bytes, never by name: a `.jar` renamed `.bin` or a layer tar named
//! by its digest is opened all the same. Nothing is extracted to disk. Compressed streams and tars
//! are read as streams; a zip needs its central directory, so a zip nested in a stream is read into
//! memory first (bounded like any member).
//!
//! Every inflation is bounded, since an archive is hostile input: a member stops at
//! [`Limits::max_member`], one outer blob at [`Limits::max_total`] inflated bytes and
//! [`Limits::max_members`] members, and a stream or member whose output outgrows its input by more
//! than [`Limits::max_ratio`] is stopped (a bomb inflates 1000:1; text seldom passes 20:1). What is
//! stopped is recorded as a skip with its reason; what was read before the stop is still scanned.
//! Stored zip members are charged to the total like inflated ones, and zip entries whose bytes
//! overlap are refused, so a directory of many entries naming one member cannot multiply it.
//!
//! An archive hides nothing: the raw bytes of a container that no member accounts for (headers,
//! names, link targets, comments, a script before a zip, text between or after entries, entries
//! missing from an index, blocks that are not headers) are scanned at the container's own place
//! ([`Raw`]). Member data read whole is left out of that scan, so a key in a stored member is one
//! location, not two; a member cut short stays in it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Cursor, Read};

use crate::model::{Origin, Skip};
use crate::source::{Attribute, Sink, formats};

mod gitobj;
mod office;

/// Defaults, documented in the README and the flags' help.
pub const DEFAULT_DEPTH: u32 = 4;
pub const DEFAULT_MAX_MEMBER: u64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_TOTAL: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_MAX_RATIO: u64 = 200;
pub const DEFAULT_MAX_MEMBERS: u64 = 100_000;

/// The ratio guard waits for this much output: a tiny file of one repeated byte has a huge ratio
/// and is harmless.
const RATIO_FLOOR: u64 = 1024 * 1024;

/// Decoder memory caps, so a stream cannot ask for a window of gigabytes before the first byte.
const XZ_MEM_LIMIT_KB: u32 = 256 * 1024;
const ZSTD_MAX_WINDOW: u64 = 128 * 1024 * 1024;
/// A 7z's dictionaries, PPMd models and header buffers, each; as for xz.
const SEVENZ_MEM_LIMIT_KB: usize = 256 * 1024;
/// The least a 7z's decoded header may take, in KiB (see `Job::sevenz`).
const SEVENZ_HEADER_MIN_KB: u64 = 2 * 1024;

/// How far archives are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Containers opened one inside another (a `.tar.gz` is two); 0 opens none.
    pub depth: u32,
    /// Inflated bytes of one member (or of one compressed stream's content).
    pub max_member: u64,
    /// Inflated bytes out of one outer blob, all members and layers together.
    pub max_total: u64,
    /// Output bytes per input byte allowed of one stream or member, past the first MiB.
    pub max_ratio: u64,
    /// Members read out of one outer blob, all layers together.
    pub max_members: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            depth: DEFAULT_DEPTH,
            max_member: DEFAULT_MAX_MEMBER,
            max_total: DEFAULT_MAX_TOTAL,
            max_ratio: DEFAULT_MAX_RATIO,
            max_members: DEFAULT_MAX_MEMBERS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    SevenZ,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Tar => "tar",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Zstd => "zstd",
            Kind::SevenZ => "7z",
        }
    }
}

/// The kind of container `data` starts with. `whole` says `data` is the complete blob, so a zip
/// may also be told by its end record (a self-extracting or "fully executable" jar starts with a
/// script, not with a member).
fn sniff(data: &[u8], whole: bool) -> Option<Kind> {
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    if data.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Some(Kind::Gzip);
    }
    if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Some(Kind::Xz);
    }
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Kind::Zstd);
    }
    if data.starts_with(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
        return Some(Kind::SevenZ);
    }
    if data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || data[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        return Some(Kind::Bzip2);
    }
    if is_tar(data) {
        return Some(Kind::Tar);
    }
    // An end-of-central-directory record with no comment closes the blob.
    if whole && data.len() >= 22 && data[data.len() - 22..].starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    None
}

/// A tar header: the ustar magic, or (old v7 tars have none) a valid header checksum.
fn is_tar(data: &[u8]) -> bool {
    let Some(h) = data.get(..512) else {
        return false;
    };
    &h[257..262] == b"ustar" || (h[0] != 0 && checksum_ok(h))
}

/// An octal field: leading spaces, digits, then a NUL or space (or the field's end). `None` for
/// anything else, so a block of text is not taken for a header.
fn octal(field: &[u8]) -> Option<u64> {
    let digits = field.iter().skip_while(|b| **b == b' ');
    let mut value: u64 = 0;
    let mut ended = false;
    for b in digits {
        match b {
            b'0'..=b'7' if !ended => value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?,
            b'0'..=b'7' => return None,
            0 | b' ' => ended = true,
            _ => return None,
        }
    }
    Some(value)
}

/// The checksum of a header block, as unsigned bytes and as signed ones (old tars summed signed).
fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = octal(&h[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// The size field: octal, or GNU's base-256 for sizes past 8 GiB (a negative one is refused).
fn tar_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 == 0 {
        return octal(field);
    }
    if field[0] == 0xff {
        return None;
    }
    let mut value = u64::from(field[0] & 0x7f);
    for b in &field[1..] {
        value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
    }
    Some(value)
}

/// The zeros after an entry's data up to the next block. A declared size may be anything up to
/// `u64::MAX` (base-256, a pax record): computed without rounding up, which would overflow.
fn tar_padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

/// The text of a NUL-padded field.
fn nul_trimmed(field: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, field).unwrap_or(field.len());
    &field[..end]
}

/// The parts of one tar header block this reader uses.
struct TarHeader {
    kind: u8,
    size: u64,
    name: Vec<u8>,
    /// A GNU sparse header followed by more blocks of its map.
    sparse_more: bool,
}

impl TarHeader {
    /// `None` unless the block is a header: a valid checksum and a readable size.
    fn parse(b: &[u8; 512]) -> Option<TarHeader> {
        if !checksum_ok(b) {
            return None;
        }
        let size = tar_size(&b[124..136])?;
        let name = nul_trimmed(&b[..100]);
        // POSIX ustar splits a long path into a prefix; GNU tars use that field for times.
        let prefix = nul_trimmed(&b[345..500]);
        let name = if &b[257..263] == b"ustar\0" && !prefix.is_empty() {
            [prefix, b"/", name].concat()
        } else {
            name.to_vec()
        };
        Some(TarHeader {
            kind: b[156],
            size,
            name,
            sparse_more: b[156] == b'S' && b[482] != 0,
        })
    }
}

/// Extension headers: data that describes the next entry rather than being one.
fn is_extension(kind: u8) -> bool {
    matches!(kind, b'L' | b'K' | b'x' | b'g' | b'X')
}

/// Entries whose data, if any, is not a file's content (links, devices, directories, a GNU
/// directory dump or volume label): scanned raw, not as members. Every other type, `7`
/// (contiguous) and unknown ones included, is a file, as GNU tar extracts it.
fn is_not_file(kind: u8) -> bool {
    matches!(kind, b'1'..=b'6' | b'D' | b'V' | b'N')
}

/// The `path` and `size` records of a pax extended header; other records only matter to the raw
/// scan. Malformed records end the parse.
fn pax_records(data: &[u8], name: &mut Option<Vec<u8>>, size: &mut Option<u64>) {
    let mut rest = data;
    while let Some(space) = memchr::memchr(b' ', rest) {
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            return;
        };
        let Some(record) = rest.get(space + 1..len) else {
            return;
        };
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = memchr::memchr(b'=', record) {
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => *name = Some(value.to_vec()),
                b"size" => {
                    *size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                }
                _ => {}
            }
        }
        rest = &rest[len..];
    }
}

/// Fills `buf` from `r` unless the input ends first; the count read.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The transform: wraps the sink that gets the members.
pub struct Unpack<'s> {
    inner: &'s dyn Sink,
    limits: Limits,
}

impl<'s> Unpack<'s> {
    pub fn new(inner: &'s dyn Sink, limits: Limits) -> Unpack<'s> {
        Unpack { inner, limits }
    }
}

impl Sink for Unpack<'_> {
    fn blob(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        let kind = sniff(data, true);
        if self.limits.depth == 0 || (kind.is_none() && !formats::recognised(data)) {
            return self.inner.blob(data, origin);
        }
        let job = Job {
            sink: self.inner,
            limits: self.limits,
            origin,
            inflated: Cell::new(0),
            members: Cell::new(0),
            stopped: Cell::new(false),
            git_seen: RefCell::default(),
        };
        match kind {
            Some(kind) => job.container(kind, data, "", 1),
            None => job.leaf(data, ""),
        }
    }

    fn window(&self, data: &[u8], owned: usize, origin: &dyn Fn() -> Origin) {
        self.inner.window(data, owned, origin);
    }

    fn message(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.inner.message(data, origin);
    }

    fn header(&self, data: &[u8], origin: &dyn Fn() -> Origin) {
        self.inner.header(data, origin);
    }

    fn skipped(&self, skip: Skip) {
        self.inner.skipped(skip);
    }

    fn noted(&self, note: String) {
        self.inner.noted(note);
    }

    fn attribute(&self, places: &dyn Attribute) {
        self.inner.attribute(places);
    }

    fn pending_blobs(&self) -> Vec<String> {
        self.inner.pending_blobs()
    }

    fn keys_found(&self) -> u64 {
        self.inner.keys_found()
    }
}

/// One outer blob being opened: its budget is shared by every layer inside it.
struct Job<'a> {
    sink: &'a dyn Sink,
    limits: Limits,
    origin: &'a dyn Fn() -> Origin,
    inflated: Cell<u64>,
    members: Cell<u64>,
    /// The whole blob was given up (total size, member count): nothing more is read.
    stopped: Cell<bool>,
    /// Ids of the git objects scanned (a `.git` inside the archive): each once.
    git_seen: RefCell<HashSet<String>>,
}

/// Why a read stopped early, kept apart from I/O errors so the skip names the limit.
#[derive(Debug)]
struct LimitHit(String);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitHit {}

fn limit_reason(e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<LimitHit>())
        .map(|h| h.0.clone())
}

/// Counts the compressed bytes a decoder takes in.
struct CountIn<'c, R> {
    inner: R,
    n: &'c Cell<u64>,
}

impl<R: Read> Read for CountIn<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.set(self.n.get() + n as u64);
        Ok(n)
    }
}

/// A zip held in memory, counting the bytes its members' decoders pull, so the ratio guard
/// follows what was read rather than what a header declares.
struct CountSeek<'d, 'c> {
    inner: Cursor<&'d [u8]>,
    n: &'c Cell<u64>,
}

impl Read for CountSeek<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.set(self.n.get() + n as u64);
        Ok(n)
    }
}

impl io::Seek for CountSeek<'_, '_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The output side of an inflation: charges the blob's total and applies the ratio guard.
struct Meter<'j, 'a, R> {
    inner: R,
    job: &'j Job<'a>,
    /// Compressed bytes consumed so far.
    input: &'j Cell<u64>,
    out: u64,
}

impl<R: Read> Read for Meter<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let total = self.job.inflated.get() + n as u64;
        self.job.inflated.set(total);
        let limits = &self.job.limits;
        if total > limits.max_total {
            let why = format!(
                "stopped after {} inflated bytes (--max-archive-size): the rest of the archive was not scanned",
                limits.max_total
            );
            self.job.stop(why.clone());
            return Err(io::Error::other(LimitHit(why)));
        }
        if self.out > RATIO_FLOOR && self.out / self.input.get().max(1) > limits.max_ratio {
            return Err(io::Error::other(LimitHit(format!(
                "compression ratio above {}:1 (--max-ratio), a likely bomb: stopped after {} inflated bytes",
                limits.max_ratio, self.out
            ))));
        }
        Ok(n)
    }
}

/// What a bounded read produced.
struct Bounded {
    data: Vec<u8>,
    /// Why it stopped short of the end, if it did.
    cut: Option<String>,
    /// How the read ended.
    end: End,
    /// There was more than `max_member` to read: the rest was left unread.
    more: bool,
}

/// How reading a stream ended, which says what of its raw bytes is left to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// At the end of the input.
    Clean,
    /// At a limit: the rest was not read, on purpose.
    Cut,
    /// At bytes that could not be decoded.
    Broken,
}

/// Memory for raw bytes gathered before they are scanned; a run longer than this is scanned in
/// windows that overlap by [`RAW_KEEP`], so a key across a window's edge is still whole in one.
const RAW_CHUNK: usize = 1024 * 1024;
const RAW_KEEP: usize = 4096;

/// Bytes of a member's data at each of its edges that join the raw scan of what surrounds it,
/// so a key split across the edge (a member that declares less than the bytes there) is found:
/// one fewer than a key's length, so no key inside the member is seen twice.
const SEAM: usize = 68;

/// GNU long names and pax records are applied only up to this size: a name of a MiB is already
/// absurd, and a bigger one would be held whole.
const MAX_EXTENSION: u64 = 1024 * 1024;

/// The raw bytes of a container that no member accounts for: headers and names, comments, the
/// script before a self-extracting zip, text between entries or after the end, entries missing
/// from an index, whatever could not be parsed. They are scanned at the container's own place
/// (no member), so an archive hides nothing. Member data that was read whole is left out, since
/// it is scanned as the member: a key in a stored member is reported once, at the member.
struct Raw<'j, 'a> {
    job: &'j Job<'a>,
    member: &'j str,
    buf: Vec<u8>,
}

impl<'j, 'a> Raw<'j, 'a> {
    fn new(job: &'j Job<'a>, member: &'j str) -> Raw<'j, 'a> {
        Raw {
            job,
            member,
            buf: Vec::new(),
        }
    }

    /// Bytes that follow the last ones given.
    fn more(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = (RAW_CHUNK - self.buf.len().min(RAW_CHUNK))
                .min(bytes.len())
                .max(1);
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() >= RAW_CHUNK {
                self.flush(true);
            }
        }
    }

    /// The edges of member data scanned on its own ([`SEAM`] bytes of `head`, the start of what
    /// was read, and of `tail`, all of it when the end was read too), with a gap between.
    fn seams(&mut self, head: &[u8], tail: Option<&[u8]>) {
        self.more(&head[..head.len().min(SEAM)]);
        if head.len() > SEAM || tail.is_none() {
            self.gap();
            if let Some(t) = tail.filter(|t| t.len() > SEAM) {
                self.more(&t[t.len() - SEAM..]);
            }
        }
    }

    /// What comes next is not adjacent to what came before (member data lies between): a line
    /// break keeps the two from reading as one token.
    fn gap(&mut self) {
        if self.buf.last().is_some_and(|b| *b != b'\n') {
            self.more(b"\n");
        }
    }

    /// Scans the window; with `keep`, its last [`RAW_KEEP`] bytes start the next one, and a match
    /// that starts in them is left to it (one location, however the windows fall).
    fn flush(&mut self, keep: bool) {
        let owned = if keep {
            self.buf.len().saturating_sub(RAW_KEEP)
        } else {
            self.buf.len()
        };
        if owned > 0 {
            self.job.window(&self.buf, owned, self.member);
        }
        self.buf.drain(..owned);
    }

    fn finish(mut self) {
        self.flush(false);
    }
}

/// A gzip file read member by member, so what lies outside the deflated data (each member's file
/// name, comment and extra field, bytes after the last member) reaches the raw scan. Reading
/// from a slice consumes exactly what each member takes.
struct GzMembers<'d, 'c> {
    current: Option<flate2::bufread::GzDecoder<&'d [u8]>>,
    total: usize,
    /// Where the current member begins.
    start: usize,
    /// Compressed bytes consumed, for the ratio guard.
    input: &'c Cell<u64>,
    outside: &'c RefCell<Vec<u8>>,
}

impl GzMembers<'_, '_> {
    /// A member's file name, comment and extra field, once its header is read.
    fn fields(dec: &flate2::bufread::GzDecoder<&[u8]>, outside: &mut Vec<u8>) {
        if let Some(h) = dec.header() {
            for field in [h.filename(), h.comment(), h.extra()].into_iter().flatten() {
                outside.extend_from_slice(field);
                outside.push(b'\n');
            }
        }
    }
}

impl Read for GzMembers<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.current.as_mut() else {
                return Ok(0);
            };
            let read = dec.read(buf);
            self.input.set((self.total - dec.get_ref().len()) as u64);
            match read {
                Ok(n) if n > 0 || buf.is_empty() => return Ok(n),
                Ok(_) => {}
                Err(e) => {
                    if dec.header().is_none() {
                        // A header cut short (a file name without its NUL) is held inside the
                        // decoder, not given back: the raw scan starts again where it began.
                        self.input.set(self.start as u64);
                    }
                    Self::fields(dec, &mut self.outside.borrow_mut());
                    return Err(e);
                }
            }
            let Some(dec) = self.current.take() else {
                return Ok(0);
            };
            let mut outside = self.outside.borrow_mut();
            Self::fields(&dec, &mut outside);
            let rest = dec.into_inner();
            if rest.starts_with(&[0x1f, 0x8b]) {
                self.start = self.total - rest.len();
                self.current = Some(flate2::bufread::GzDecoder::new(rest));
            } else if rest.iter().any(|b| *b != 0) {
                // Zero padding after the last member is common and harmless (gzip ignores it).
                outside.extend_from_slice(rest);
            }
        }
    }
}

impl<'a> Job<'a> {
    /// Gives the whole blob up, reported once at the outer path.
    fn stop(&self, why: String) {
        if !self.stopped.replace(true) {
            self.skip("", why);
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// `outer!member`, as reports show it.
    fn shown(&self, member: &str) -> String {
        let origin = (self.origin)();
        if member.is_empty() {
            origin.path
        } else {
            format!("{}!{member}", origin.path)
        }
    }

    fn skip(&self, member: &str, reason: String) {
        self.sink.skipped(Skip {
            path: self.shown(member),
            reason,
        });
    }

    /// The bytes of a member, or of a stream's content, as a leaf or as another container.
    fn bytes(&self, data: &[u8], member: &str, depth: u32) {
        if depth <= self.limits.depth && self.git_member(data, member, depth) {
            return;
        }
        match sniff(data, true) {
            Some(kind) if depth <= self.limits.depth => self.container(kind, data, member, depth),
            Some(kind) => {
                self.skip(
                    member,
                    format!(
                        "{} nested deeper than --max-archive-depth {}: not opened",
                        kind.name(),
                        self.limits.depth
                    ),
                );
                self.leaf(data, member);
            }
            None => {
                self.leaf(data, member);
                self.office(data, member);
            }
        }
    }

    /// A window of raw bytes at `member`'s place: see [`Sink::window`].
    fn window(&self, data: &[u8], owned: usize, member: &str) {
        if member.is_empty() {
            self.sink.window(data, owned, self.origin);
        } else {
            self.sink.window(data, owned, &|| {
                let mut o = (self.origin)();
                o.member = Some(member.to_string());
                o
            });
        }
    }

    fn leaf(&self, data: &[u8], member: &str) {
        // Databases, LevelDB tables, PDFs and mail: their strings decoded, each group a member,
        // charged to the blob's total like inflated members.
        let left = self.limits.max_total.saturating_sub(self.inflated.get());
        let bounds = formats::Bounds {
            max_member: self.limits.max_member.min(left),
            max_ratio: self.limits.max_ratio,
        };
        let plain = |d: &[u8], m: &str| self.plain(d, m);
        match formats::open(data, member, bounds, &plain, &|m, why| self.skip(m, why)) {
            Some(decoded) => self.inflated.set(self.inflated.get() + decoded),
            None => self.plain(data, member),
        }
    }

    fn plain(&self, data: &[u8], member: &str) {
        if member.is_empty() {
            self.sink.blob(data, self.origin);
        } else {
            self.sink.blob(data, &|| {
                let mut o = (self.origin)();
                o.member = Some(member.to_string());
                o
            });
        }
    }

    /// Opens a container held in memory; `depth` is its own depth (the outermost is 1).
    fn container(&self, kind: Kind, data: &[u8], member: &str, depth: u32) {
        if self.is_stopped() {
            return;
        }
        match kind {
            Kind::Zip => self.zip(data, member, depth),
            Kind::SevenZ => self.sevenz(data, member, depth),
            Kind::Tar => {
                self.tar(&mut Cursor::new(data), member, depth);
            }
            _ => self.compressed(kind, data, member, depth),
        }
    }

    /// A compressed stream held in memory: its content, then what of its raw bytes the decoder
    /// does not account for (gzip's header fields, bytes after the stream's end, or all of them
    /// when the stream breaks, since then nobody can tell). The compressed data of a stream read
    /// to its end is not scanned raw: a key shows there only in a stored block, and it is then
    /// found in the content.
    fn compressed(&self, kind: Kind, data: &[u8], member: &str, depth: u32) {
        let input = Cell::new(0);
        let outside = RefCell::new(Vec::new());
        let decoded: Box<dyn Read + '_> = if kind == Kind::Gzip {
            Box::new(GzMembers {
                current: Some(flate2::bufread::GzDecoder::new(data)),
                total: data.len(),
                start: 0,
                input: &input,
                outside: &outside,
            })
        } else {
            match decoder(
                kind,
                CountIn {
                    inner: data,
                    n: &input,
                },
            ) {
                Ok(d) => d,
                Err(e) => {
                    self.skip(
                        member,
                        format!("cannot open {}: {e}; scanned as raw bytes", kind.name()),
                    );
                    return self.leaf(data, member);
                }
            }
        };
        let end = self.stream(kind, decoded, &input, member, depth);
        let consumed = usize::try_from(input.get()).unwrap_or(usize::MAX);
        let rest = data.get(consumed..).unwrap_or_default();
        let mut raw = Raw::new(self, member);
        raw.more(&outside.borrow());
        raw.gap();
        match (end, kind) {
            // gzip is read from the slice itself, so where it stopped is exact: a member that
            // inflated (and was scanned) is not scanned again raw.
            (End::Broken, Kind::Gzip) => raw.more(rest),
            // Bytes after the last gzip member are already among those outside.
            (End::Clean, Kind::Gzip) => {}
            (End::Clean, _) => raw.more(rest),
            // The other decoders read ahead of what they decode: the whole stream is scanned.
            (End::Broken, _) => raw.more(data),
            (End::Cut, _) => {}
        }
        raw.finish();
    }

    /// A compressed stream's content: a tar is read entry by entry as it inflates; anything else
    /// is read (bounded) into memory and looked at again.
    fn stream(
        &self,
        kind: Kind,
        decoder: Box<dyn Read + '_>,
        input: &Cell<u64>,
        member: &str,
        depth: u32,
    ) -> End {
        let mut meter = Meter {
            inner: decoder,
            job: self,
            input,
            out: 0,
        };
        let mut head = Vec::with_capacity(512);
        if let Err(e) = (&mut meter).take(512).read_to_end(&mut head) {
            // A small stream with a cut trailer: what inflated before the error is still scanned.
            let end = self.failed(member, kind, &e);
            self.bytes(&head, member, depth + 1);
            return end;
        }
        if is_tar(&head) && depth < self.limits.depth {
            return self.tar(&mut Cursor::new(head).chain(meter), member, depth + 1);
        }
        let got = self.bounded(&mut Cursor::new(head).chain(meter), kind);
        if let Some(why) = got.cut {
            self.skip(member, why);
        }
        self.bytes(&got.data, member, depth + 1);
        got.end
    }

    fn describe(&self, kind: Kind, e: &io::Error) -> String {
        limit_reason(e).unwrap_or_else(|| format!("cannot read {} stream: {e}", kind.name()))
    }

    /// Records a read error (the blob-wide stop is reported once, not at each read it cut) and
    /// says how the read ended.
    fn failed(&self, member: &str, kind: Kind, e: &io::Error) -> End {
        if self.is_stopped() {
            return End::Cut;
        }
        self.skip(member, self.describe(kind, e));
        if limit_reason(e).is_some() {
            End::Cut
        } else {
            End::Broken
        }
    }

    /// Reads at most `max_member` bytes; says why it stopped short if it did.
    fn bounded(&self, r: &mut dyn Read, kind: Kind) -> Bounded {
        let max = self.limits.max_member;
        let mut data = Vec::new();
        let res = r.take(max.saturating_add(1)).read_to_end(&mut data);
        let (cut, end) = match res {
            // The blob-wide stop is reported once, not at each member it cut.
            Err(_) if self.is_stopped() => (None, End::Cut),
            Err(e) if limit_reason(&e).is_some() => (Some(self.describe(kind, &e)), End::Cut),
            Err(e) => (Some(self.describe(kind, &e)), End::Broken),
            Ok(_) if data.len() as u64 > max => {
                data.truncate(max as usize);
                let why = format!(
                    "member larger than {max} inflated bytes (--max-member-size): only the first {max} scanned"
                );
                return Bounded {
                    data,
                    cut: Some(why),
                    end: End::Cut,
                    more: true,
                };
            }
            Ok(_) => (None, End::Clean),
        };
        Bounded {
            data,
            cut,
            end,
            more: false,
        }
    }

    /// Counts a member against the blob's limit; false once it is reached.
    fn admit(&self) -> bool {
        if self.is_stopped() {
            return false;
        }
        let n = self.members.get() + 1;
        self.members.set(n);
        if n > self.limits.max_members {
            self.stop(format!(
                "more than {} members (--max-members): the rest of the archive was not scanned",
                self.limits.max_members
            ));
            return false;
        }
        true
    }

    fn join(member: &str, name: &str) -> String {
        if member.is_empty() {
            name.to_string()
        } else {
            format!("{member}!{name}")
        }
    }

    /// A tar, read block by block; what is not a member's data goes to the raw scan.
    fn tar(&self, r: &mut dyn Read, member: &str, depth: u32) -> End {
        let mut raw = Raw::new(self, member);
        let end = self.tar_entries(r, member, depth, &mut raw);
        raw.finish();
        end
    }

    /// Header by header, as GNU tar reads: a block that is not a valid header is skipped (and
    /// scanned raw) until the next one that is; zero blocks are passed over, so concatenated tars
    /// are read whole; extension headers are applied only up to [`MAX_EXTENSION`]. Every read is
    /// bounded by the bytes actually there, whatever a header declares.
    fn tar_entries(&self, r: &mut dyn Read, member: &str, depth: u32, raw: &mut Raw<'_, '_>) -> End {
        let mut offset: u64 = 0;
        // Two zero blocks end the archive; what follows is scanned raw without complaint.
        let (mut zeros, mut ended) = (0u32, false);
        // Where the unparseable run being skipped began.
        let mut bad: Option<u64> = None;
        // What extension headers said of the next entry.
        let (mut long_name, mut pax_size): (Option<Vec<u8>>, Option<u64>) = (None, None);
        let mut block = [0u8; 512];
        let fail = |e: &io::Error| self.failed(member, Kind::Tar, e);
        loop {
            if self.is_stopped() {
                return End::Cut;
            }
            let n = match fill(r, &mut block) {
                Ok(n) => n,
                Err(e) => return fail(&e),
            };
            if n < 512 {
                raw.more(&block[..n]);
                if let Some(start) = bad.filter(|_| !ended) {
                    self.skip(
                        member,
                        format!(
                            "tar bytes {start}..{} are not a valid header; scanned as raw bytes",
                            offset + n as u64
                        ),
                    );
                } else if n > 0 && !ended {
                    self.skip(
                        member,
                        format!(
                            "tar cut short: the last {n} bytes are not a whole block; scanned as raw bytes"
                        ),
                    );
                }
                return End::Clean;
            }
            let at = offset;
            offset += 512;
            if block.iter().all(|b| *b == 0) {
                zeros += 1;
                ended |= zeros >= 2;
                continue;
            }
            zeros = 0;
            let Some(h) = TarHeader::parse(&block) else {
                bad.get_or_insert(at);
                raw.more(&block);
                continue;
            };
            if let Some(start) = bad.take()
                && !ended
            {
                self.skip(
                    member,
                    format!("tar bytes {start}..{at} are not a valid header: skipped to the next header; scanned as raw bytes"),
                );
            }
            // A header's text fields, each apart: they abut one another and the numeric fields (a
            // link target directly follows the type flag), which would glue a key to its neighbours.
            for field in [0..100, 157..257, 265..297, 297..329, 345..512] {
                raw.gap();
                raw.more(&block[field]);
            }
            let padding = tar_padding(h.size);
            if is_extension(h.kind) {
                let size = h.size;
                if size > MAX_EXTENSION {
                    self.skip(
                        member,
                        format!(
                            "tar extension header (type {}) of {size} bytes, above the {MAX_EXTENSION}-byte cap: not applied; scanned as raw bytes",
                            char::from(h.kind)
                        ),
                    );
                    match self.tar_raw(r, size.saturating_add(padding), raw) {
                        Ok(n) => offset += n,
                        Err(e) => return fail(&e),
                    }
                    continue;
                }
                let mut data = Vec::new();
                match r.take(size.saturating_add(padding)).read_to_end(&mut data) {
                    Ok(n) => offset += n as u64,
                    Err(e) => return fail(&e),
                }
                raw.more(&data);
                if (data.len() as u64) < size {
                    self.skip(
                        member,
                        "tar cut short in an extension header; scanned as raw bytes".to_string(),
                    );
                    return End::Clean;
                }
                let data = data.get(..size as usize).unwrap_or(&data);
                match h.kind {
                    b'L' => long_name = Some(nul_trimmed(data).to_vec()),
                    b'x' | b'X' => pax_records(data, &mut long_name, &mut pax_size),
                    _ => {}
                }
                continue;
            }
            let size = pax_size.take().unwrap_or(h.size);
            let padding = tar_padding(size);
            let name = long_name.take().unwrap_or(h.name);
            let mut sparse_more = h.sparse_more;
            while sparse_more {
                // GNU sparse maps go on in blocks of their own before the data.
                match fill(r, &mut block) {
                    Ok(512) => {}
                    Ok(n) => {
                        raw.more(&block[..n]);
                        return End::Clean;
                    }
                    Err(e) => return fail(&e),
                }
                offset += 512;
                raw.more(&block);
                sparse_more = block[504] != 0;
            }
            if is_not_file(h.kind) {
                match self.tar_raw(r, size.saturating_add(padding), raw) {
                    Ok(n) => offset += n,
                    Err(e) => return fail(&e),
                }
                continue;
            }
            if !self.admit() {
                return End::Cut;
            }
            let path = Self::join(member, &String::from_utf8_lossy(&name));
            let mut data = r.take(size);
            let got = self.bounded(&mut data, Kind::Tar);
            let mut end = got.end;
            if let Some(why) = got.cut {
                self.skip(&path, why);
            }
            if got.more {
                // Past --max-member-size the rest is passed over, unscanned.
                match io::copy(&mut data, &mut io::sink()) {
                    Ok(_) => end = End::Clean,
                    Err(e) => end = fail(&e),
                }
            }
            let short = data.limit();
            self.bytes(&got.data, &path, depth + 1);
            let tail = (!got.more).then_some(got.data.as_slice());
            raw.seams(&got.data, tail);
            if end != End::Clean {
                return end;
            }
            offset += size - short;
            if short > 0 {
                self.skip(
                    &path,
                    format!("tar cut short: the member declares {size} bytes, {short} of them missing"),
                );
                return End::Clean;
            }
            // Padding is normally zeros; anything else in it is text between entries.
            match self.tar_raw(r, padding, raw) {
                Ok(n) => offset += n,
                Err(e) => return fail(&e),
            }
        }
    }

    /// Passes `n` bytes of a tar to the raw scan as they are read; the count there was.
    fn tar_raw(&self, r: &mut dyn Read, n: u64, raw: &mut Raw<'_, '_>) -> io::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = fill(r, &mut buf[..want])?;
            raw.more(&buf[..got]);
            left -= got as u64;
            if got < want {
                break;
            }
        }
        Ok(n - left)
    }

    /// A zip, entry by entry as its central directory lists them (two entries of one name are
    /// both read). An entry whose bytes overlap an earlier one's is refused: a directory of many
    /// entries pointing at one member would otherwise read it again for each. Every member, a
    /// stored one too, is charged to the blob's total.
    fn zip(&self, data: &[u8], member: &str, depth: u32) {
        let mut archive =
            match zip::unstable::read::ZipIterable::try_new(Cursor::new(data), Default::default()) {
                Ok(a) => a,
                Err(e) => {
                    self.skip(member, format!("cannot open zip: {e}; scanned as raw bytes"));
                    return self.leaf(data, member);
                }
            };
        let files = match archive.files() {
            Ok(f) => f,
            Err(e) => {
                self.skip(member, format!("cannot open zip: {e}; scanned as raw bytes"));
                return self.leaf(data, member);
            }
        };
        let pulled = Cell::new(0);
        let mut body = CountSeek {
            inner: Cursor::new(data),
            n: &pulled,
        };
        // Start → end of the bytes of each entry read: they never overlap one another.
        let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
        // Member data scanned whole, left out of the raw scan.
        let mut scanned: Vec<(u64, u64)> = Vec::new();
        let (mut overlapping, mut first_overlap) = (0u64, None::<String>);
        for (i, entry) in files.enumerate() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.skip(
                        member,
                        format!(
                            "cannot read zip central directory entry #{}: {e}; the rest scanned as raw bytes",
                            i + 1
                        ),
                    );
                    break;
                }
            };
            let name = match entry.name() {
                Ok(n) => n.into_owned(),
                Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
            };
            // A directory has no content; an entry named like one that declares some is read,
            // since its name is all that makes it a directory.
            if entry.is_dir() && entry.compressed_size() == 0 && entry.size() == 0 {
                continue;
            }
            if !self.admit() {
                break;
            }
            let path = Self::join(member, &name);
            let mut file = match entry.with_reader(&mut body, zip::read::ZipReadOptions::new()) {
                Ok(f) => f,
                Err(e) => {
                    self.skip(
                        &path,
                        format!("cannot read zip member: {e}; scanned as raw bytes"),
                    );
                    continue;
                }
            };
            let start = file.header_start();
            let data_start = file.data_start().unwrap_or(start);
            let end = data_start.saturating_add(file.compressed_size());
            let before = taken.range(..end).next_back().map(|(_, e)| *e);
            if before.is_some_and(|e| e > start) {
                overlapping += 1;
                first_overlap.get_or_insert(path);
                continue;
            }
            taken.insert(start, end);
            // Stored or not, a member is metered: charged to the total, and stopped at the ratio
            // of what it inflated to what its decoder read (read up to there, not refused on what
            // its header declares).
            pulled.set(0);
            let mut meter = Meter {
                inner: &mut file,
                job: self,
                input: &pulled,
                out: 0,
            };
            let got = self.bounded(&mut meter, Kind::Zip);
            if let Some(why) = got.cut {
                self.skip(&path, why);
            } else {
                scanned.push((data_start, end));
            }
            drop(file);
            self.bytes(&got.data, &path, depth + 1);
            if self.is_stopped() {
                break;
            }
        }
        if let Some(first) = first_overlap {
            self.skip(
                member,
                format!(
                    "{overlapping} zip entries overlap the bytes of another (the first: {first}): not read; scanned as raw bytes"
                ),
            );
        }
        if self.is_stopped() {
            return;
        }
        scanned.sort_unstable();
        let mut raw = Raw::new(self, member);
        let mut at = 0usize;
        for (s, e) in scanned {
            let (s, e) = (s as usize, (e as usize).min(data.len()));
            if let Some(between) = data.get(at..s) {
                raw.more(between);
            }
            match data.get(s.max(at)..e) {
                Some(member) => raw.seams(member, Some(member)),
                None => raw.gap(),
            }
            at = at.max(e);
        }
        raw.more(data.get(at..).unwrap_or_default());
        raw.finish();
    }
}

impl Job<'_> {
    /// The member of an Office document that holds its text: the tokens its pieces (Word's runs,
    /// a spreadsheet's rich-text runs, ODF's spans) cut, at `member (paragraph text)`, line N for
    /// paragraph N. Not counted as a blob: its bytes were, as the member.
    fn office(&self, data: &[u8], member: &str) {
        let name = member.rsplit('!').next().unwrap_or(member);
        let Some(text) = office::dialect(name).and_then(|d| office::cut_tokens(data, d)) else {
            return;
        };
        let shown = format!("{member} (paragraph text)");
        self.sink.header(&text, &|| {
            let mut o = (self.origin)();
            o.member = Some(shown.clone());
            o
        });
    }

    /// A 7z, block by block, each block's entries in order. The ratio guard follows a block
    /// (output so far over bytes its decoder pulled), since a solid block's decoder reads ahead of
    /// the member it is in. A member cut short (a limit, a decode error) abandons the rest of its
    /// block rather than decoding it to the end unmetered; the entries so left unread are one skip.
    /// Entry names go to the raw scan, as a zip's do; a 7z that breaks is scanned raw whole.
    fn sevenz(&self, data: &[u8], member: &str, depth: u32) {
        let pulled = Cell::new(0);
        let mut source = CountSeek {
            inner: Cursor::new(data),
            n: &pulled,
        };
        let password = sevenz_rust2::Password::empty();
        // The crate holds ~100 bytes per entry the header declares, and one header byte can
        // declare an entry: a 3 KB file with a compressed header took 1.9 GB. The decoded header
        // is held to 64 times the file (real headers compress ~10-20:1), 2 MiB at least (7-Zip
        // compresses headers with a 1 MiB dictionary).
        let header_kb =
            (data.len() as u64 / 16).clamp(SEVENZ_HEADER_MIN_KB, SEVENZ_MEM_LIMIT_KB as u64) as usize;
        let archive = match sevenz_rust2::Archive::read_with_memory_limit(&mut source, &password, header_kb) {
            Ok(a) => a,
            Err(e) => {
                self.skip(member, format!("cannot open 7z: {e}; scanned as raw bytes"));
                return self.leaf(data, member);
            }
        };
        let mut raw = Raw::new(self, member);
        for f in &archive.files {
            raw.gap();
            raw.more(f.name().as_bytes());
        }
        let mut broken = false;
        for block in 0..archive.blocks.len() {
            if self.is_stopped() {
                return;
            }
            // Scanning already runs a worker per core: one thread per decoder.
            let decoder = sevenz_rust2::BlockDecoder::new_with_memory_limit(
                1,
                SEVENZ_MEM_LIMIT_KB,
                block,
                &archive,
                &password,
                &mut source,
            );
            let entries = decoder.entries().iter().filter(|e| e.has_stream()).count();
            pulled.set(0);
            let (mut out, mut read, mut cut) = (0u64, 0usize, None::<String>);
            let result = decoder.for_each_entries(&mut |entry, r| {
                if !entry.has_stream() {
                    return Ok(true);
                }
                read += 1;
                if !self.admit() {
                    return Ok(false);
                }
                let path = Self::join(member, entry.name());
                let mut meter = Meter {
                    inner: r,
                    job: self,
                    input: &pulled,
                    out,
                };
                let got = self.bounded(&mut meter, Kind::SevenZ);
                out = meter.out;
                let more = got.cut.is_none();
                if let Some(why) = got.cut {
                    self.skip(&path, why);
                    cut = Some(path.clone());
                }
                self.bytes(&got.data, &path, depth + 1);
                Ok(more && !self.is_stopped())
            });
            if self.is_stopped() {
                return;
            }
            match (result, cut) {
                (Err(e), _) => {
                    broken = true;
                    self.skip(
                        member,
                        format!(
                            "cannot read 7z block #{}: {e}; the archive scanned as raw bytes",
                            block + 1
                        ),
                    );
                }
                (Ok(_), Some(first)) if read < entries => self.skip(
                    member,
                    format!(
                        "{} 7z entries not read: they follow {first}, cut short, in its solid block",
                        entries - read
                    ),
                ),
                _ => {}
            }
        }
        if broken {
            raw.gap();
            raw.more(data);
        }
        raw.finish();
    }
}

fn decoder<'r, R: Read + 'r>(kind: Kind, r: R) -> io::Result<Box<dyn Read + 'r>> {
    Ok(match kind {
        Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Kind::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(r, true, XZ_MEM_LIMIT_KB)),
        Kind::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(r, ZSTD_MAX_WINDOW)
                .map_err(io::Error::other)?,
        ),
        Kind::Zip | Kind::Tar | Kind::SevenZ => return Err(io::Error::other("not a compressed stream")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic() {
        assert_eq!(sniff(b"PK\x03\x04rest", true), Some(Kind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08, 0], true), Some(Kind::Gzip));
        assert_eq!(sniff(b"plain text", true), None);
        assert_eq!(sniff(b"BZh9 not really", true), None);
        let mut tar = vec![0u8; 1024];
        tar[..4].copy_from_slice(b"name");
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar, true), Some(Kind::Tar));
    }
}
