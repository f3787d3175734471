//! Files that keep their strings in pieces the raw bytes do not show whole: SQLite records (a
//! column's bytes run straight into the next one's), LevelDB tables (Snappy blocks), PDF content
//! streams (deflated, ASCII85, `(…)` strings with escapes) and mail (quoted-printable and base64
//! MIME parts). The archive unpacker hands every leaf here; a file told by its magic bytes has its
//! strings decoded, and each group of them (a page, a block, a stream, a part) is scanned as a blob
//! of its own at `file!kind:place`, one string per line, so no string glues to its neighbour.
//!
//! The raw bytes are still scanned, as for any file (deleted rows, free pages, whatever is not
//! parsed), except the ones whose strings were handed on decoded: those are blanked out of the raw
//! scan (line breaks kept), so a key is one location, not two.
//!
//! Everything is hostile input: every offset is checked, every loop is over bytes that are there
//! (a page, a block, an overflow page, is read once), and the decoded output of one file is
//! bounded by `--max-member-size` and, for inflations, `--max-ratio`. What cannot be read is a
//! skip with its reason; what was read before stays scanned.

mod leveldb;
mod mail;
mod pdf;
mod sqlite;

/// The archive limits that apply to decoding (passed as numbers: this module sits beside the
/// unpacker, which calls it).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Decoded bytes out of one file, all its strings together.
    pub max_member: u64,
    /// Output bytes per input byte of one inflation, past [`RATIO_FLOOR`].
    pub max_ratio: u64,
}

/// The ratio guard waits for this much output, as the unpacker's does.
const RATIO_FLOOR: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Sqlite,
    Wal,
    LevelDb,
    Pdf,
    Mail,
}

fn sniff(data: &[u8]) -> Option<Format> {
    if data.starts_with(b"SQLite format 3\0") {
        return Some(Format::Sqlite);
    }
    if data.len() >= 32 && matches!(data[..4], [0x37, 0x7f, 0x06, 0x82 | 0x83]) {
        return Some(Format::Wal);
    }
    if data.len() >= 48 && data.ends_with(&leveldb::MAGIC) {
        return Some(Format::LevelDb);
    }
    // A PDF may have up to 1 KiB of junk before its header (readers accept it).
    if memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_some() {
        return Some(Format::Pdf);
    }
    if mail::is_mail(data) {
        return Some(Format::Mail);
    }
    None
}

/// Whether `data` is one of the formats read here.
pub fn recognised(data: &[u8]) -> bool {
    sniff(data).is_some()
}

/// Decodes the strings of `data` (at `member`, `""` for the outer blob) when it is one of the
/// formats, handing each group to `leaf` at `member!label` and then the raw bytes, what was
/// decoded blanked out, at `member`. False (nothing called) when it is none of them.
pub fn open(
    data: &[u8],
    member: &str,
    bounds: Bounds,
    leaf: &dyn Fn(&[u8], &str),
    skip: &dyn Fn(&str, String),
) -> bool {
    let Some(format) = sniff(data) else {
        return false;
    };
    let mut out = Out {
        member,
        leaf,
        skip,
        left: bounds.max_member,
        max_member: bounds.max_member,
        max_ratio: bounds.max_ratio,
        hidden: Vec::new(),
        full: false,
    };
    match format {
        Format::Sqlite => sqlite::db(data, &mut out),
        Format::Wal => sqlite::wal(data, &mut out),
        Format::LevelDb => leveldb::table(data, &mut out),
        Format::Pdf => pdf::document(data, &mut out),
        Format::Mail => mail::messages(data, &mut out),
    }
    let raw = blanked(data, &mut out.hidden);
    leaf(&raw, member);
    true
}

/// `data` with the `hidden` ranges blanked to spaces, line breaks kept so lines stay where they
/// were.
fn blanked<'d>(data: &'d [u8], hidden: &mut [(usize, usize)]) -> std::borrow::Cow<'d, [u8]> {
    if hidden.is_empty() {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut raw = data.to_vec();
    for &(s, e) in hidden.iter() {
        if let Some(r) = raw.get_mut(s..e.min(data.len())) {
            for b in r.iter_mut().filter(|b| **b != b'\n') {
                *b = b' ';
            }
        }
    }
    std::borrow::Cow::Owned(raw)
}

/// Where a format reader puts what it decodes.
struct Out<'a> {
    member: &'a str,
    leaf: &'a dyn Fn(&[u8], &str),
    skip: &'a dyn Fn(&str, String),
    /// Decoded bytes still allowed.
    left: u64,
    max_member: u64,
    max_ratio: u64,
    /// Raw ranges whose strings were handed on decoded.
    hidden: Vec<(usize, usize)>,
    /// The budget ran out (reported once).
    full: bool,
}

impl Out<'_> {
    fn place(&self, label: &str) -> String {
        if self.member.is_empty() {
            label.to_string()
        } else {
            format!("{}!{label}", self.member)
        }
    }

    /// Scans `bytes` at `label`; false once the budget is spent (the rest is not decoded).
    fn emit(&mut self, label: &str, bytes: &[u8]) -> bool {
        if !self.charge(bytes.len() as u64) {
            return false;
        }
        if !bytes.is_empty() {
            (self.leaf)(bytes, &self.place(label));
        }
        true
    }

    /// Counts `n` decoded bytes against the budget; false (and one skip) once it is spent.
    fn charge(&mut self, n: u64) -> bool {
        if self.full {
            return false;
        }
        if n > self.left {
            self.full = true;
            self.skip_here(format!(
                "decoded strings past {} bytes (--max-member-size): the rest not decoded; raw bytes scanned",
                self.max_member
            ));
            return false;
        }
        self.left -= n;
        true
    }

    /// Keeps `range` of the raw bytes out of the raw scan: its strings were handed on.
    fn hide(&mut self, start: usize, end: usize) {
        if start < end {
            self.hidden.push((start, end));
        }
    }

    fn skip_here(&self, reason: String) {
        (self.skip)(self.member, reason);
    }

    fn skip_at(&self, label: &str, reason: String) {
        (self.skip)(&self.place(label), reason);
    }

    /// Reads an inflation into memory, bounded by the budget and the ratio guard against the
    /// `input` bytes it consumed; what was read before a stop is kept, and the stop is a skip.
    fn inflate(&mut self, label: &str, r: &mut dyn std::io::Read, input: usize) -> Vec<u8> {
        use std::io::Read;
        let mut data = Vec::new();
        let cap = self.left.saturating_add(1);
        let mut chunk = [0u8; 64 * 1024];
        let mut r = r.take(cap);
        loop {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.skip_at(
                        label,
                        format!("cannot inflate: {e}; what inflated before is scanned"),
                    );
                    break;
                }
            }
            let out = data.len() as u64;
            if out > RATIO_FLOOR && out / (input as u64).max(1) > self.max_ratio {
                self.skip_at(
                    label,
                    format!(
                        "compression ratio above {}:1 (--max-ratio), a likely bomb: stopped after {out} inflated bytes",
                        self.max_ratio
                    ),
                );
                break;
            }
        }
        if data.len() as u64 > self.left {
            data.truncate(usize::try_from(self.left).unwrap_or(usize::MAX));
            self.skip_at(
                label,
                format!(
                    "inflated past the {} decoded bytes left of --max-member-size: only the first {} scanned",
                    self.left,
                    data.len()
                ),
            );
        }
        data
    }
}

/// Joins strings one a line, so none glues to the next: a line break is no key character.
fn push_line(text: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() {
        text.extend_from_slice(s);
        text.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic() {
        assert_eq!(sniff(b"SQLite format 3\0rest"), Some(Format::Sqlite));
        assert_eq!(sniff(b"%PDF-1.4\n"), Some(Format::Pdf));
        assert_eq!(sniff(b"plain text"), None);
        let mut wal = vec![0u8; 32];
        wal[..4].copy_from_slice(&[0x37, 0x7f, 0x06, 0x82]);
        assert_eq!(sniff(&wal), Some(Format::Wal));
    }

    #[test]
    fn blanking_keeps_lines() {
        let mut hidden = vec![(1, 5)];
        assert_eq!(&*blanked(b"ab\ncdef", &mut hidden), b"a \n  ef");
    }
}
