//! SQLite databases and their `-wal` files: every b-tree leaf and index page's records, each
//! TEXT and BLOB column apart (<https://www.sqlite.org/fileformat2.html>).

use std::collections::{HashMap, HashSet};

use super::{Out, push_line};

/// Cells with a rowid (tables) and index keys, on leaf and interior pages.
const TABLE_LEAF: u8 = 0x0D;
const INDEX_LEAF: u8 = 0x0A;
const INDEX_INTERIOR: u8 = 0x02;

/// A b-tree page's bytes, wherever they are kept (the database, or a WAL frame).
struct Pages<'d> {
    data: &'d [u8],
    size: usize,
    usable: usize,
    /// UTF-16 text (little-endian if true); `None` for UTF-8.
    utf16: Option<bool>,
    /// WAL: page number → offset of its latest frame's page. Database: pages in file order.
    frames: Option<HashMap<u32, usize>>,
    /// Overflow pages already read: each is read once, however many cells point at it.
    seen: HashSet<u32>,
}

impl Pages<'_> {
    /// Offset of page `n` (1-based) and its bytes.
    fn page(&self, n: u32) -> Option<(usize, &[u8])> {
        let at = match &self.frames {
            Some(f) => *f.get(&n)?,
            None => (n as usize).checked_sub(1)?.checked_mul(self.size)?,
        };
        Some((at, self.data.get(at..at.checked_add(self.size)?)?))
    }
}

/// Page size, usable size and text encoding from a database header (page 1).
fn header(h: &[u8]) -> Result<(usize, usize, Option<bool>), String> {
    let (Some(size), Some(&reserved), Some(enc)) = (h.get(16..18), h.get(20), h.get(56..60)) else {
        return Err("SQLite header cut short".into());
    };
    let size = match u16::from_be_bytes([size[0], size[1]]) {
        1 => 65536,
        n => usize::from(n),
    };
    if !(512..=65536).contains(&size) || !size.is_power_of_two() {
        return Err(format!("SQLite page size {size} is not valid"));
    }
    let usable = size - usize::from(reserved);
    if usable < 480 {
        return Err(format!("SQLite usable page size {usable} is below 480"));
    }
    let utf16 = match u32::from_be_bytes([enc[0], enc[1], enc[2], enc[3]]) {
        2 => Some(true),
        3 => Some(false),
        _ => None,
    };
    Ok((size, usable, utf16))
}

pub(super) fn db(data: &[u8], out: &mut Out) {
    let (size, usable, utf16) = match header(data) {
        Ok(h) => h,
        Err(why) => return out.skip_here(format!("{why}: records not read; scanned as raw bytes")),
    };
    let mut pages = Pages {
        data,
        size,
        usable,
        utf16,
        frames: None,
        seen: HashSet::new(),
    };
    let count = data.len() / size;
    if !data.len().is_multiple_of(size) {
        out.skip_here(format!(
            "SQLite file is not a whole number of {size}-byte pages: the last {} bytes scanned as raw bytes",
            data.len() % size
        ));
    }
    for i in 0..count {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if !records(&mut pages, n, i * size, &format!("sqlite:page {n}"), out) {
            return;
        }
    }
}

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

pub(super) fn wal(data: &[u8], out: &mut Out) {
    let size = u32::from_be_bytes([data[8], data[9], data[10], data[11]]) as usize;
    if !(512..=65536).contains(&size) || !size.is_power_of_two() {
        return out.skip_here(format!(
            "SQLite WAL page size {size} is not valid: frames not read; scanned as raw bytes"
        ));
    }
    let stride = FRAME_HEADER + size;
    let frames = (data.len() - WAL_HEADER) / stride;
    // The latest frame of each page is the page as it is now; older frames are read too (as
    // deleted rows are), but overflow chains follow the latest.
    let mut latest = HashMap::new();
    for f in 0..frames {
        let at = WAL_HEADER + f * stride;
        let n = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        latest.insert(n, at + FRAME_HEADER);
    }
    // Page 1 carries the database header, if the WAL holds it.
    let (usable, utf16) = latest
        .get(&1)
        .and_then(|&at| header(&data[at..at + size]).ok())
        .filter(|(s, _, _)| *s == size)
        .map_or((size, None), |(_, u, e)| (u, e));
    let mut pages = Pages {
        data,
        size,
        usable,
        utf16,
        frames: Some(latest),
        seen: HashSet::new(),
    };
    for f in 0..frames {
        let at = WAL_HEADER + f * stride;
        let n = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        if !records(
            &mut pages,
            n,
            at + FRAME_HEADER,
            &format!("wal:frame {}", f + 1),
            out,
        ) {
            return;
        }
    }
}

/// A SQLite varint at `pos`: its value and the offset after it.
fn varint(b: &[u8], pos: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let c = *b.get(pos + i)?;
        if i == 8 {
            return Some((v << 8 | u64::from(c), pos + 9));
        }
        v = v << 7 | u64::from(c & 0x7f);
        if c & 0x80 == 0 {
            return Some((v, pos + i + 1));
        }
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?])))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Bytes of a payload of `p` bytes kept on the b-tree page itself.
fn local_size(p: u64, usable: usize, table: bool) -> usize {
    let u = usable as u64;
    let x = if table { u - 35 } else { (u - 12) * 64 / 255 - 23 };
    if p <= x {
        return p as usize;
    }
    let m = (u - 12) * 32 / 255 - 23;
    let k = m + (p - m) % (u - 4);
    (if k <= x { k } else { m }) as usize
}

/// The strings of the records on the page at `at` (page number `n`), scanned at `label`; false
/// once the budget is spent.
fn records(pages: &mut Pages, n: u32, at: usize, label: &str, out: &mut Out) -> bool {
    let Some(page) = pages.data.get(at..at + pages.size) else {
        return true;
    };
    let head = if n == 1 { 100 } else { 0 };
    let Some(&kind) = page.get(head) else {
        return true;
    };
    let header_len = match kind {
        TABLE_LEAF | INDEX_LEAF => 8,
        INDEX_INTERIOR => 12,
        _ => return true,
    };
    let usable = pages.usable.min(page.len());
    let cells = u16_at(page, head + 3).unwrap_or(0);
    let mut text = Vec::new();
    // Reused from cell to cell.
    let (mut spans, mut spilled, mut read) = (Vec::new(), Vec::new(), Vec::new());
    // Cells in the order they lie on the page, each read only past the one before: a hostile
    // page of pointers at one big cell (or into it) yields each byte once, not once a pointer.
    let mut pointers: Vec<usize> = (0..cells)
        .map_while(|c| u16_at(page, head + header_len + 2 * c))
        .collect();
    pointers.sort_unstable();
    let mut covered = 0;
    for ptr in pointers {
        if ptr < covered {
            continue;
        }
        let mut pos = ptr;
        if kind == INDEX_INTERIOR {
            pos += 4;
        }
        let Some((size, p)) = varint(&page[..usable], pos) else {
            continue;
        };
        pos = p;
        if kind == TABLE_LEAF {
            match varint(&page[..usable], pos) {
                Some((_, p)) => pos = p,
                None => continue,
            }
        }
        let local = local_size(size, pages.usable, kind == TABLE_LEAF);
        let Some(on_page) = page[..usable].get(pos..pos + local) else {
            continue;
        };
        covered = pos + local;
        // Where each piece of the payload lies in the file: (payload offset, file offset).
        spans.clear();
        spans.push((0, at + pos));
        let payload: &[u8] = if (local as u64) < size {
            let next = u32_at(&page[..usable], pos + local).unwrap_or(0);
            spilled.clear();
            spilled.extend_from_slice(on_page);
            overflow(pages, next, size, &mut spilled, &mut spans);
            &spilled
        } else {
            on_page
        };
        read.clear();
        values(payload, pages.utf16, &mut text, &mut read);
        // The values handed on are left out of the raw scan; a record's header and numbers stay.
        for &(s, e) in &read {
            hide_payload(&spans, payload.len(), s, e, out);
        }
    }
    out.emit(label, &text)
}

/// Hides payload bytes `s..e`, wherever their pieces lie in the file.
fn hide_payload(spans: &[(usize, usize)], len: usize, s: usize, e: usize, out: &mut Out) {
    for (i, &(from, file)) in spans.iter().enumerate() {
        let to = spans.get(i + 1).map_or(len, |n| n.0);
        let (a, b) = (s.max(from), e.min(to));
        if a < b {
            out.hide(file + (a - from), file + (b - from));
        }
    }
}

/// Follows an overflow chain from page `next`, appending its content until `size` bytes are
/// held; a page already read ends it (a loop, or two cells claiming one chain).
fn overflow(
    pages: &mut Pages,
    mut next: u32,
    size: u64,
    payload: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) {
    while next != 0 && (payload.len() as u64) < size {
        if !pages.seen.insert(next) {
            return;
        }
        let Some((at, page)) = pages.page(next) else {
            return;
        };
        let usable = pages.usable.min(page.len());
        let want = usize::try_from(size - payload.len() as u64).unwrap_or(usize::MAX);
        let take = (usable - 4).min(want);
        spans.push((payload.len(), at + 4));
        payload.extend_from_slice(&page[4..4 + take]);
        next = u32_at(page, 0).unwrap_or(0);
    }
}

/// The TEXT and BLOB values of a record, one a line, and their ranges in it; false if the
/// record header is not one (the values before the fault are kept).
fn values(record: &[u8], utf16: Option<bool>, text: &mut Vec<u8>, read: &mut Vec<(usize, usize)>) -> bool {
    let Some((header_len, mut pos)) = varint(record, 0) else {
        return false;
    };
    let Ok(header_len) = usize::try_from(header_len) else {
        return false;
    };
    if header_len > record.len() || header_len < pos {
        return false;
    }
    let mut body = header_len;
    while pos < header_len {
        let Some((serial, p)) = varint(record, pos) else {
            return false;
        };
        pos = p;
        let len = match serial {
            0 | 8 | 9 => 0,
            1..=4 => serial as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return false,
            n => usize::try_from((n - 12) / 2).unwrap_or(usize::MAX),
        };
        let end = body.saturating_add(len).min(record.len());
        let value = &record[body.min(end)..end];
        if serial >= 12 {
            read.push((body.min(end), end));
        }
        if serial >= 13 && serial % 2 == 1 {
            match utf16 {
                Some(le) => {
                    let units = value.chunks_exact(2).map(|c| {
                        let pair = [c[0], c[1]];
                        if le {
                            u16::from_le_bytes(pair)
                        } else {
                            u16::from_be_bytes(pair)
                        }
                    });
                    let s: String = char::decode_utf16(units)
                        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                        .collect();
                    push_line(text, s.as_bytes());
                }
                None => push_line(text, value),
            }
        } else if serial >= 12 {
            push_line(text, value);
        }
        body = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x45], 0), Some((0x45, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
    }

    #[test]
    fn record_columns_split() {
        // Header: 3 bytes (len, text of 3, int8); body "abc", 7.
        let rec = [3u8, 19, 1, b'a', b'b', b'c', 7];
        let mut text = Vec::new();
        let mut read = Vec::new();
        assert!(values(&rec, None, &mut text, &mut read));
        assert_eq!(read, vec![(3, 6)]);
        assert_eq!(text, b"abc\n");
        // A header longer than the record is no record.
        assert!(!values(&[50, 19], None, &mut Vec::new(), &mut Vec::new()));
    }
}
