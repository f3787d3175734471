//! LevelDB table files (`.ldb`, `.sst`): Chrome, Edge, Electron, Slack and VS Code keep local
//! storage and IndexedDB in them. Data blocks are Snappy-compressed, so a key shows in the raw
//! bytes only by luck (a second one in a block is a back-reference); each block is decoded and
//! every entry's key and value scanned apart
//! (<https://github.com/google/leveldb/blob/main/doc/table_format.md>).

use super::{Out, push_line};

/// The table magic number, little-endian, at the end of the footer.
pub(super) const MAGIC: [u8; 8] = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
const FOOTER: usize = 48;
const NONE: u8 = 0;
const SNAPPY: u8 = 1;

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let c = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(c & 0x7f) << shift;
        if c & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A block handle: offset and size.
fn handle(b: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let offset = usize::try_from(varint(b, pos)?).ok()?;
    let size = usize::try_from(varint(b, pos)?).ok()?;
    Some((offset, size))
}

pub(super) fn table(data: &[u8], out: &mut Out) {
    let footer = &data[data.len() - FOOTER..];
    let mut pos = 0;
    let index = handle(footer, &mut pos).and_then(|_| handle(footer, &mut pos));
    let Some(index) = index else {
        return out.skip_here("LevelDB footer is not valid: blocks not read; scanned as raw bytes".into());
    };
    let Some(index) = block(data, index, "leveldb:index", out) else {
        return;
    };
    // Each index entry's value is the handle of a data block; blocks are read in file order once.
    let mut handles = Vec::new();
    entries(&index, |_, value| {
        let mut p = 0;
        if let Some(h) = handle(value, &mut p) {
            handles.push(h);
        }
    });
    handles.sort_unstable();
    handles.dedup();
    let mut done = 0usize;
    for (n, h) in handles.into_iter().enumerate() {
        if h.0 < done {
            // Overlaps a block already read: a hostile index naming one block many times.
            continue;
        }
        done = h.0.saturating_add(h.1);
        let label = format!("leveldb:block {}", n + 1);
        let Some(content) = block(data, h, &label, out) else {
            continue;
        };
        let text = block_text(&content, usize::try_from(out.left).unwrap_or(usize::MAX));
        if !out.emit(&label, &text) {
            return;
        }
        out.hide(h.0, h.0 + h.1);
    }
}

/// A block's entries, one string a line, and what is not an entry as it is (the raw block is
/// left out). Each key is written whole though stored as a suffix of the one before, so a block
/// of keys growing a byte an entry would write its square: past `cap` bytes nothing more is
/// added, and the caller's budget check fails.
fn block_text(content: &[u8], cap: usize) -> Vec<u8> {
    let mut text = Vec::new();
    let stop = entries(content, |key, value| {
        if text.len() <= cap {
            push_line(&mut text, key);
            push_line(&mut text, &string_value(value));
        }
    });
    push_line(&mut text, &content[stop..]);
    text
}

/// A block's content, decompressed; `None` (with a skip where it is not plain trouble) if it
/// cannot be had.
fn block(data: &[u8], (offset, size): (usize, usize), label: &str, out: &mut Out) -> Option<Vec<u8>> {
    let end = offset.checked_add(size)?;
    let Some(raw) = data.get(offset..end) else {
        out.skip_at(
            label,
            format!(
                "LevelDB block at {offset} of {size} bytes lies past the file's end; scanned as raw bytes"
            ),
        );
        return None;
    };
    match data.get(end) {
        Some(&NONE) => Some(raw.to_vec()),
        Some(&SNAPPY) => {
            let len = match snap::raw::decompress_len(raw) {
                Ok(n) => n,
                Err(e) => {
                    out.skip_at(
                        label,
                        format!("cannot read Snappy block: {e}; scanned as raw bytes"),
                    );
                    return None;
                }
            };
            // Snappy states the length up front: checked against the budget before allocating,
            // and against the ratio Snappy can reach at all (a copy of 64 bytes takes 3).
            if len > size.saturating_mul(32).saturating_add(64) {
                out.skip_at(
                    label,
                    format!(
                        "Snappy block declares {len} bytes out of {size}: not decoded; scanned as raw bytes"
                    ),
                );
                return None;
            }
            if !out.charge(len as u64) {
                return None;
            }
            match snap::raw::Decoder::new().decompress_vec(raw) {
                Ok(v) => Some(v),
                Err(e) => {
                    out.skip_at(
                        label,
                        format!("cannot read Snappy block: {e}; scanned as raw bytes"),
                    );
                    None
                }
            }
        }
        Some(&t) => {
            out.skip_at(
                label,
                format!("LevelDB block compression type {t} is not read; scanned as raw bytes"),
            );
            None
        }
        None => {
            out.skip_at(
                label,
                "LevelDB block trailer missing; scanned as raw bytes".into(),
            );
            None
        }
    }
}

/// Each entry of a block, its key rebuilt from the shared prefix, and its value; where the
/// entries stopped (the restart array, or the first entry that does not fit).
fn entries(block: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> usize {
    let Some(tail) = block.len().checked_sub(4) else {
        return 0;
    };
    let restarts =
        u32::from_le_bytes([block[tail], block[tail + 1], block[tail + 2], block[tail + 3]]) as usize;
    let Some(limit) = restarts.checked_mul(4).and_then(|r| tail.checked_sub(r)) else {
        return 0;
    };
    let body = &block[..limit];
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let start = pos;
        let (Some(shared), Some(own), Some(vlen)) = (
            varint(body, &mut pos),
            varint(body, &mut pos),
            varint(body, &mut pos),
        ) else {
            return start;
        };
        let (Ok(shared), Ok(own), Ok(vlen)) = (
            usize::try_from(shared),
            usize::try_from(own),
            usize::try_from(vlen),
        ) else {
            return start;
        };
        if shared > key.len() {
            return start;
        }
        let Some(delta) = pos.checked_add(own).and_then(|e| body.get(pos..e)) else {
            return start;
        };
        pos += own;
        let Some(value) = pos.checked_add(vlen).and_then(|e| body.get(pos..e)) else {
            return start;
        };
        pos += vlen;
        key.truncate(shared);
        key.extend_from_slice(delta);
        // The last 8 bytes of a table key are its sequence number and type.
        let user = &key[..key.len().saturating_sub(8)];
        f(user, value);
    }
    pos
}

/// A value as Chrome's local storage writes strings: a `0` byte then UTF-16LE, or a `1` byte
/// then Latin-1; anything else as it is.
fn string_value(v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match v {
        [0, rest @ ..] if rest.len() % 2 == 0 && !rest.is_empty() => {
            let units = rest.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
            let s: String = char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect();
            std::borrow::Cow::Owned(s.into_bytes())
        }
        [1, rest @ ..] => std::borrow::Cow::Borrowed(rest),
        _ => std::borrow::Cow::Borrowed(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keys_are_bounded_by_the_budget() {
        // 3000 entries, each key one byte longer than the one before: 4.5 MB written whole.
        let mut b = Vec::new();
        for i in 0..3000u32 {
            let mut v = i;
            while v >= 0x80 {
                b.push((v as u8) | 0x80);
                v >>= 7;
            }
            b.extend_from_slice(&[v as u8, 1, 0, b'a']);
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        let text = block_text(&b, 64 * 1024);
        assert!(text.len() < 64 * 1024 + 2 * b.len(), "{}", text.len());
    }

    #[test]
    fn block_entries_share_prefixes() {
        let mut b = Vec::new();
        // "apple" + 8-byte tag → "v1"; then shared 3 "ly" + tag → "v2".
        b.extend_from_slice(&[0, 13, 2]);
        b.extend_from_slice(b"apple\0\0\0\0\0\0\0\0v1");
        b.extend_from_slice(&[3, 10, 2]);
        b.extend_from_slice(b"ly\0\0\0\0\0\0\0\0v2");
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        let mut got = Vec::new();
        let end = entries(&b, |k, v| got.push((k.to_vec(), v.to_vec())));
        assert_eq!(end, b.len() - 8);
        assert_eq!(
            got,
            vec![
                (b"apple".to_vec(), b"v1".to_vec()),
                (b"apply".to_vec(), b"v2".to_vec())
            ]
        );
    }
}
