//! PDF: the bodies of `stream … endstream`, decoded by their `/Filter` (FlateDecode, ASCII85,
//! ASCIIHex, or a bare zlib stream), then their `( … )` literal strings unescaped and the strings
//! of a `[…] TJ` array joined, as a reader shows the text.

use super::Out;

/// How far before a `stream` keyword its dictionary is looked for.
const DICT_SPAN: usize = 4096;
/// Filters applied to one stream at most (a chain longer than this is not a real file).
const MAX_FILTERS: usize = 8;

pub(super) fn document(data: &[u8], out: &mut Out) {
    let mut n = 0u64;
    let mut at = 0;
    let mut prev_end = 0;
    let ends = memchr::memmem::Finder::new(b"endstream");
    while let Some(i) = memchr::memmem::find(&data[at..], b"stream") {
        let kw = at + i;
        at = kw + 6;
        // `endstream` contains `stream`; the keyword starts a stream only after `>>` and blanks.
        if kw >= 3 && &data[kw - 3..kw] == b"end" {
            continue;
        }
        let start = match &data[at..] {
            [b'\r', b'\n', ..] => at + 2,
            [b'\n', ..] | [b'\r', ..] => at + 1,
            _ => continue,
        };
        let Some(len) = ends.find(&data[start..]) else {
            break;
        };
        let mut end = start + len;
        at = end + 9;
        let prev = std::mem::replace(&mut prev_end, at);
        if data[..end].ends_with(b"\r\n") {
            end -= 2;
        } else if data[..end].ends_with(b"\n") || data[..end].ends_with(b"\r") {
            end -= 1;
        }
        let end = end.max(start);
        n += 1;
        // Looked for back to the previous stream's end at most, so no byte is looked at twice.
        let dict = &data[kw.saturating_sub(DICT_SPAN).max(prev)..kw];
        let dict = match memchr::memmem::rfind(dict, b"obj") {
            Some(o) => &dict[o..],
            None => dict,
        };
        let label = format!("pdf:stream {n}");
        let skips = out.skips;
        let Some(decoded) = decode(&data[start..end], dict, &label, out) else {
            continue;
        };
        let text = strings(&decoded);
        if !out.emit(&label, &text) {
            return;
        }
        // A stream that decoded only in part keeps its raw bytes in the raw scan.
        if out.skips == skips {
            out.hide(start, end);
        }
    }
}

/// The filter names of a stream dictionary, in the order they apply.
fn filters(dict: &[u8]) -> Vec<Vec<u8>> {
    let Some(f) = memchr::memmem::find(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = &dict[f + 7..];
    let rest = rest.trim_ascii_start();
    // One name, or an array of names.
    let span = if rest.starts_with(b"[") {
        &rest[1..memchr::memchr(b']', rest).unwrap_or(rest.len())]
    } else {
        let e = rest[1.min(rest.len())..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>' | b'['))
            .map_or(rest.len(), |p| p + 1);
        &rest[..e]
    };
    span.split(|b| *b == b'/')
        .map(|s| s.trim_ascii().to_vec())
        .filter(|s| !s.is_empty())
        .take(MAX_FILTERS)
        .collect()
}

fn is_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

/// A stream's content through its filters; `None` when there is nothing to add to the raw scan
/// (an image, an unknown filter, a stream that does not decode).
fn decode(body: &[u8], dict: &[u8], label: &str, out: &mut Out) -> Option<Vec<u8>> {
    let mut names = filters(dict);
    if names.is_empty() && is_zlib(body) {
        names.push(b"FlateDecode".to_vec());
    }
    let mut data = body.to_vec();
    for name in names {
        data = match name.as_slice() {
            b"FlateDecode" | b"Fl" => {
                let input = data.len();
                let mut z = flate2::read::ZlibDecoder::new(data.as_slice());
                let inflated = out.inflate(label, &mut z, input);
                if inflated.is_empty() {
                    return None;
                }
                inflated
            }
            b"ASCII85Decode" | b"A85" => ascii85(&data)?,
            b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data),
            // Images and fonts: no text to add.
            _ => return None,
        };
    }
    Some(data)
}

/// ASCII85 (`<~ … ~>` optional, `z` for four zeros, blanks ignored); `None` on a character
/// outside it.
fn ascii85(s: &[u8]) -> Option<Vec<u8>> {
    let s = s.trim_ascii();
    let s = s.strip_prefix(b"<~").unwrap_or(s);
    let s = match memchr::memmem::find(s, b"~>") {
        Some(e) => &s[..e],
        None => s,
    };
    let mut out = Vec::with_capacity(s.len() / 5 * 4 + 4);
    let mut group = [0u32; 5];
    let mut k = 0;
    for &c in s {
        match c {
            b'!'..=b'u' => {
                group[k] = u32::from(c - b'!');
                k += 1;
                if k == 5 {
                    let v = group.iter().fold(0u64, |a, d| a * 85 + u64::from(*d));
                    out.extend_from_slice(&(v as u32).to_be_bytes());
                    k = 0;
                }
            }
            b'z' if k == 0 => out.extend_from_slice(&[0; 4]),
            c if c.is_ascii_whitespace() => {}
            _ => return None,
        }
    }
    if k > 1 {
        for d in group.iter_mut().skip(k) {
            *d = 84;
        }
        let v = group.iter().fold(0u64, |a, d| a * 85 + u64::from(*d));
        out.extend_from_slice(&(v as u32).to_be_bytes()[..k - 1]);
    }
    Some(out)
}

fn ascii_hex(s: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = s
        .iter()
        .take_while(|b| **b != b'>')
        .filter_map(|b| (*b as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// Content with every literal string unescaped in place, and the strings of a `[…] TJ` array
/// joined (a kerning of a fifth of an em or more to the right is a word space, as text
/// extractors read it).
fn strings(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    let mut in_array = false;
    // The next `]` and whether `TJ` follows it, found once for every `[` before it.
    let mut close: Option<(usize, bool)> = None;
    while i < content.len() {
        match content[i] {
            b'[' if !in_array => {
                // No `]` left is remembered too, or each `[` would search to the end again.
                if close.is_none_or(|(c, _)| c < i) {
                    close = Some(
                        memchr::memchr(b']', &content[i..]).map_or((usize::MAX, false), |c| {
                            let after = content[i + c + 1..].trim_ascii_start();
                            (i + c, after.starts_with(b"TJ"))
                        }),
                    );
                }
                in_array = close.is_some_and(|(_, tj)| tj);
                out.push(b'[');
                i += 1;
            }
            b'(' => {
                let (s, next) = literal(content, i + 1);
                if !in_array {
                    out.push(b'(');
                }
                out.extend_from_slice(&s);
                if !in_array {
                    out.push(b')');
                }
                i = next;
            }
            b']' => {
                in_array = false;
                out.push(b']');
                i += 1;
            }
            c if in_array && (c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'+')) => {
                let len = content[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'+'))
                    .count();
                let n: f64 = std::str::from_utf8(&content[i..i + len])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0.0);
                if n <= -200.0 {
                    out.push(b' ');
                }
                i += len;
            }
            c if in_array && c.is_ascii_whitespace() => i += 1,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A literal string's bytes from just past its `(`, and the index past its `)`: nested
/// parentheses kept, escapes undone (`\n`, `\(`, `\ddd`, a backslash before a line break joins).
fn literal(s: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 0u32;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'\\' => {
                let Some(&e) = s.get(i) else {
                    break;
                };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match s.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v as u8);
                    }
                    b'\r' => {
                        if s.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' if depth == 0 => return (out, i),
            b')' => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_strings_unescaped_and_arrays_joined() {
        assert_eq!(strings(b"(a\\)b\\050c\\\nd) Tj"), b"(a)b(cd) Tj");
        assert_eq!(strings(b"[(SG.ab) 12 (cd) -300 (next)] TJ"), b"[SG.abcd next] TJ");
    }

    #[test]
    fn unclosed_arrays_are_read_once() {
        // Each `[` searched to the end for its `]` was quadratic: minutes for this in a debug
        // build, milliseconds now.
        let content = vec![b'['; 4 << 20];
        assert_eq!(strings(&content), content);
    }

    #[test]
    fn ascii85_decodes() {
        assert_eq!(ascii85(b"<~87cURD]i,\"Ebo80~>").unwrap(), b"Hello World!");
        assert_eq!(ascii85(b"z~>").unwrap(), [0; 4]);
        assert!(ascii85(b"{bad").is_none());
    }

    #[test]
    fn filters_in_order() {
        assert_eq!(
            filters(b"<< /Length 9 /Filter [/ASCII85Decode /FlateDecode] >>"),
            vec![b"ASCII85Decode".to_vec(), b"FlateDecode".to_vec()]
        );
        assert_eq!(
            filters(b"<</Filter/FlateDecode/Length 9>>"),
            vec![b"FlateDecode".to_vec()]
        );
    }
}
