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
    /// Decoded bytes out of one file, all its strings together (`--max-member-size`, or what is
    /// left of `--max-archive-size` if less).
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
    // A PDF may have up to 1 KiB of junk before its header (readers accept it); the version
    // after it tells the header from text that names it.
    let head = &data[..data.len().min(1024)];
    if memchr::memmem::find_iter(head, b"%PDF-")
        .any(|i| head.get(i + 5).is_some_and(u8::is_ascii_digit) && head.get(i + 6) == Some(&b'.'))
    {
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
/// decoded blanked out, at `member`; the count of decoded bytes. `None` (nothing called) when it
/// is none of them.
pub fn open(
    data: &[u8],
    member: &str,
    bounds: Bounds,
    leaf: &dyn Fn(&[u8], &str),
    skip: &dyn Fn(&str, String),
) -> Option<u64> {
    let format = sniff(data)?;
    let mut out = Out {
        member,
        leaf,
        skip,
        left: bounds.max_member,
        max_member: bounds.max_member,
        max_ratio: bounds.max_ratio,
        hidden: Vec::new(),
        full: false,
        skips: 0,
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
    Some(bounds.max_member - out.left)
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
    /// Skips recorded so far: a reader keeps in the raw scan what it could not decode whole.
    skips: u64,
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
                "decoded strings past {} bytes (--max-member-size, or what was left of --max-archive-size): the rest not decoded; raw bytes scanned",
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

    fn skip_here(&mut self, reason: String) {
        self.skips += 1;
        (self.skip)(self.member, reason);
    }

    fn skip_at(&mut self, label: &str, reason: String) {
        self.skips += 1;
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
                    "inflated past the {} decoded bytes left of --max-member-size (or --max-archive-size): only the first {} scanned",
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
        assert_eq!(sniff(b"if data.starts_with(b\"%PDF-\")"), None);
        assert_eq!(sniff(b"plain text"), None);
        let mut wal = vec![0u8; 32];
        wal[..4].copy_from_slice(&[0x37, 0x7f, 0x06, 0x82]);
        assert_eq!(sniff(&wal), Some(Format::Wal));
    }

    /// A 2-page database of 512-byte pages: page 1 a table leaf of one record, page 2 a table
    /// leaf whose one cell overflows onto page 2 itself (a loop).
    fn tiny_db() -> Vec<u8> {
        let mut db = vec![0u8; 1024];
        db[..16].copy_from_slice(b"SQLite format 3\0");
        db[16..18].copy_from_slice(&512u16.to_be_bytes());
        db[56..60].copy_from_slice(&1u32.to_be_bytes());
        let record = [3u8, 23, 1, b'n', b'a', b'm', b'e', b'!', 7];
        let cell: Vec<u8> = [&[record.len() as u8, 1][..], &record].concat();
        let at = 512 - cell.len();
        db[at..512].copy_from_slice(&cell);
        db[100] = 0x0D;
        db[103..105].copy_from_slice(&1u16.to_be_bytes());
        db[108..110].copy_from_slice(&(at as u16).to_be_bytes());
        // Page 2: one cell declaring 2000 bytes, its overflow page itself.
        let p = 512;
        db[p] = 0x0D;
        db[p + 3..p + 5].copy_from_slice(&1u16.to_be_bytes());
        db[p + 8..p + 10].copy_from_slice(&16u16.to_be_bytes());
        db[p + 16..p + 19].copy_from_slice(&[0x8f, 0x50, 2]);
        db[p + 19..p + 21].copy_from_slice(&[0x02, 0x81]);
        db[1020..1024].copy_from_slice(&2u32.to_be_bytes());
        db
    }

    #[test]
    fn hostile_bytes_are_read_without_panic_and_bounded() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Filter [/ASCII85Decode /FlateDecode] >>\nstream\nGapQh0E=F,0U\\H3T~>\nendstream\n2 0 obj <</Filter/FlateDecode>>\nstream\nx\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15\nendstream\n(a\\(b) Tj [(c) -300 (d)] TJ".to_vec();
        let mail = b"From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Transfer-Encoding: quoted-printable\n\nK=3Dv=\nw\n--X\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--X--\n".to_vec();
        let mut ldb = vec![0u8; 64];
        ldb[..3].copy_from_slice(&[5, 0, 1]);
        ldb.extend_from_slice(&MAGIC_FOR_TEST);
        let mut wal = vec![0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18, 0, 0, 2, 0];
        wal.resize(32, 0);
        wal.extend_from_slice(&[0, 0, 0, 1]);
        wal.resize(32 + 24, 0);
        wal.extend_from_slice(&tiny_db()[..512]);
        let seen = std::cell::RefCell::new(Vec::new());
        let leaf = |b: &[u8], m: &str| seen.borrow_mut().push((m.to_string(), b.to_vec()));
        let big = Bounds {
            max_member: 1 << 20,
            max_ratio: 100,
        };
        assert!(open(&tiny_db(), "", big, &leaf, &|_, _| {}).is_some());
        assert_eq!(
            seen.borrow()[0],
            ("sqlite:page 1".to_string(), b"name!\n".to_vec())
        );
        // 150 cell pointers at one cell: its value is read once.
        let mut db = tiny_db();
        let ptr = [db[108], db[109]];
        db[103..105].copy_from_slice(&150u16.to_be_bytes());
        for c in 0..150 {
            db[108 + 2 * c..110 + 2 * c].copy_from_slice(&ptr);
        }
        seen.borrow_mut().clear();
        open(&db, "", big, &leaf, &|_, _| {});
        assert_eq!(seen.borrow()[0].1, b"name!\n");
        let mut rng = fastrand::Rng::with_seed(24);
        let bounds = Bounds {
            max_member: 4096,
            max_ratio: 10,
        };
        for base in [tiny_db(), wal, pdf, mail, ldb] {
            for round in 0..3000 {
                let mut d = base.clone();
                if round > 0 {
                    for _ in 0..rng.usize(1..8) {
                        let i = rng.usize(..d.len());
                        d[i] = rng.u8(..);
                    }
                    if rng.bool() {
                        // Keep the magic at the end of a LevelDB table.
                        let cut = rng.usize(d.len() / 2..=d.len());
                        d.truncate(cut);
                    }
                }
                let out = std::cell::Cell::new(0u64);
                let leaf = |b: &[u8], _: &str| out.set(out.get() + b.len() as u64);
                open(&d, "", bounds, &leaf, &|_, _| {});
                // The raw bytes once, and decoded strings within the budget.
                assert!(out.get() <= d.len() as u64 + 4096, "{} > {}", out.get(), d.len());
            }
        }
    }

    const MAGIC_FOR_TEST: [u8; 8] = leveldb::MAGIC;

    #[test]
    fn blanking_keeps_lines() {
        let mut hidden = vec![(1, 5)];
        assert_eq!(&*blanked(b"ab\ncdef", &mut hidden), b"a \n  ef");
    }
}
