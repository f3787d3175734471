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

use std::cell::Cell;
use std::io::{self, Cursor, Read};

use crate::model::{Origin, Skip};
use crate::source::{Attribute, Sink};

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
    if &h[257..262] == b"ustar" {
        return true;
    }
    if h[0] == 0 {
        return false;
    }
    let field = &h[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Some(stored) = std::str::from_utf8(&digits)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 8).ok())
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
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
        match sniff(data, true) {
            Some(kind) if self.limits.depth > 0 => {
                let job = Job {
                    sink: self.inner,
                    limits: self.limits,
                    origin,
                    inflated: Cell::new(0),
                    members: Cell::new(0),
                    stopped: Cell::new(false),
                };
                job.container(kind, data, "", 1);
            }
            _ => self.inner.blob(data, origin),
        }
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
            None => self.leaf(data, member),
        }
    }

    fn leaf(&self, data: &[u8], member: &str) {
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
            Kind::Tar => self.tar(&mut Cursor::new(data), member, depth),
            _ => {
                let input = Cell::new(0);
                match decoder(
                    kind,
                    CountIn {
                        inner: data,
                        n: &input,
                    },
                ) {
                    Ok(d) => self.stream(kind, d, &input, member, depth),
                    Err(e) => {
                        self.skip(
                            member,
                            format!("cannot open {}: {e}; scanned as raw bytes", kind.name()),
                        );
                        self.leaf(data, member);
                    }
                }
            }
        }
    }

    /// A compressed stream's content: a tar is read entry by entry as it inflates; anything else
    /// is read (bounded) into memory and looked at again.
    fn stream(&self, kind: Kind, decoder: Box<dyn Read + '_>, input: &Cell<u64>, member: &str, depth: u32) {
        let mut meter = Meter {
            inner: decoder,
            job: self,
            input,
            out: 0,
        };
        let mut head = Vec::with_capacity(512);
        if let Err(e) = (&mut meter).take(512).read_to_end(&mut head) {
            self.skip(member, self.describe(kind, &e));
            return;
        }
        if is_tar(&head) && depth < self.limits.depth {
            self.tar(&mut Cursor::new(head).chain(meter), member, depth + 1);
            return;
        }
        let got = self.bounded(&mut Cursor::new(head).chain(meter), kind);
        if let Some(why) = got.cut {
            self.skip(member, why);
        }
        self.bytes(&got.data, member, depth + 1);
    }

    fn describe(&self, kind: Kind, e: &io::Error) -> String {
        limit_reason(e).unwrap_or_else(|| format!("cannot read {} stream: {e}", kind.name()))
    }

    /// Reads at most `max_member` bytes; says why it stopped short if it did.
    fn bounded(&self, r: &mut dyn Read, kind: Kind) -> Bounded {
        let max = self.limits.max_member;
        let mut data = Vec::new();
        let res = r.take(max.saturating_add(1)).read_to_end(&mut data);
        let cut = match res {
            // The blob-wide stop is reported once, not at each member it cut.
            Err(_) if self.is_stopped() => None,
            Err(e) => Some(self.describe(kind, &e)),
            Ok(_) if data.len() as u64 > max => {
                data.truncate(max as usize);
                Some(format!(
                    "member larger than {max} inflated bytes (--max-member-size): only the first {max} scanned"
                ))
            }
            Ok(_) => None,
        };
        Bounded { data, cut }
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

    fn tar(&self, r: &mut dyn Read, member: &str, depth: u32) {
        let mut archive = tar::Archive::new(r);
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => return self.skip(member, format!("cannot read tar: {e}")),
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if !self.is_stopped() {
                        let why = limit_reason(&e).unwrap_or_else(|| format!("cannot read tar: {e}"));
                        self.skip(member, why);
                    }
                    return;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            if !self.admit() {
                break;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = Self::join(member, &name);
            let got = self.bounded(&mut entry, Kind::Tar);
            if let Some(why) = got.cut {
                self.skip(&path, why);
            }
            self.bytes(&got.data, &path, depth + 1);
            if self.is_stopped() {
                break;
            }
        }
    }

    fn zip(&self, data: &[u8], member: &str, depth: u32) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                self.skip(member, format!("cannot open zip: {e}; scanned as raw bytes"));
                return self.leaf(data, member);
            }
        };
        for i in 0..archive.len() {
            let name = archive
                .name_for_index(i)
                .and_then(Result::ok)
                .map(|n| n.into_owned())
                .unwrap_or_else(|| format!("#{i}"));
            let mut file = match archive.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    self.skip(&Self::join(member, &name), format!("cannot read zip member: {e}"));
                    continue;
                }
            };
            if file.is_dir() {
                continue;
            }
            if !self.admit() {
                break;
            }
            let path = Self::join(member, &name);
            let (size, packed) = (file.size(), file.compressed_size().max(1));
            if size > RATIO_FLOOR && size / packed > self.limits.max_ratio {
                // The header declares a bomb: believed without inflating a byte.
                self.skip(
                    &path,
                    format!(
                        "declares {size} bytes in {packed}: compression ratio above {}:1 (--max-ratio), a likely bomb: not scanned",
                        self.limits.max_ratio
                    ),
                );
                continue;
            }
            // A stored member is not an inflation; a compressed one is metered like a stream.
            let input = Cell::new(file.compressed_size());
            let got = if file.compression() == zip::CompressionMethod::Stored {
                self.bounded(&mut file, Kind::Zip)
            } else {
                let mut meter = Meter {
                    inner: &mut file,
                    job: self,
                    input: &input,
                    out: 0,
                };
                self.bounded(&mut meter, Kind::Zip)
            };
            if let Some(why) = got.cut {
                self.skip(&path, why);
            }
            drop(file);
            self.bytes(&got.data, &path, depth + 1);
            if self.is_stopped() {
                break;
            }
        }
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
        Kind::Zip | Kind::Tar => return Err(io::Error::other("not a compressed stream")),
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
