//! Mail: an `.eml` message or an mbox of them. Each MIME part sent quoted-printable or base64 is
//! decoded by its `Content-Transfer-Encoding` (RFC 2045): quoted-printable writes `=` as `=3D`,
//! which glues to a key, and breaks lines at 76 columns with a soft `=` line break, which cuts one.

use base64::Engine;

use super::Out;

/// Multipart nesting followed; deeper parts are scanned raw.
const MAX_NESTING: u32 = 16;
/// How far into a file its header block is looked for.
const HEADER_SNIFF: usize = 64 * 1024;

/// An mbox (`From ` line first), or a message whose header block names MIME. Lines are read
/// only until one that is not a header, so ordinary text costs a line.
pub(super) fn is_mail(data: &[u8]) -> bool {
    if data.starts_with(b"From ") {
        return true;
    }
    let head = &data[..data.len().min(HEADER_SNIFF)];
    let mut mime = false;
    for (i, line) in head.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return mime;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if i == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return false;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        mime |= name.eq_ignore_ascii_case(b"MIME-Version")
            || name.eq_ignore_ascii_case(b"Content-Transfer-Encoding");
    }
    mime
}

/// The header block and the offset of the body: up to the first empty line.
fn split_head(data: &[u8]) -> Option<(&[u8], usize)> {
    let mut at = 0;
    while at < data.len() {
        let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
        let line = &data[at..end];
        if line.is_empty() || line == b"\r" {
            return Some((&data[..at.saturating_sub(1)], (end + 1).min(data.len())));
        }
        at = end + 1;
    }
    // Headers only, no body.
    Some((data, data.len()))
}

pub(super) fn messages(data: &[u8], out: &mut Out) {
    let mut parts = 0u64;
    if data.starts_with(b"From ") {
        // An mbox: messages start at `From ` lines (a body line starting so is written `>From `).
        let mut starts = vec![0];
        starts.extend(memchr::memmem::find_iter(data, b"\nFrom ").map(|i| i + 1));
        starts.push(data.len());
        for w in starts.windows(2) {
            let msg = &data[w[0]..w[1]];
            let Some(nl) = memchr::memchr(b'\n', msg) else {
                continue;
            };
            if !entity(data, w[0] + nl + 1, w[1], 0, &mut parts, out) {
                return;
            }
        }
    } else {
        entity(data, 0, data.len(), 0, &mut parts, out);
    }
}

/// The header named `name` (unfolded), if any.
fn header(headers: &[u8], name: &[u8]) -> Option<String> {
    let mut found: Option<Vec<u8>> = None;
    for line in headers.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(v) = found.as_mut() {
                v.extend_from_slice(line);
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some(colon) = memchr::memchr(b':', line)
            && line[..colon].eq_ignore_ascii_case(name)
        {
            found = Some(line[colon + 1..].to_vec());
        }
    }
    found.map(|v| String::from_utf8_lossy(&v).trim().to_string())
}

/// A parameter of a header value (`boundary="…"`).
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// One MIME entity in `data[start..end]`: its parts if multipart, its body decoded if encoded;
/// false once the budget is spent.
fn entity(data: &[u8], start: usize, end: usize, depth: u32, parts: &mut u64, out: &mut Out) -> bool {
    let Some((headers, body)) = split_head(&data[start..end]) else {
        return true;
    };
    let body = start + body;
    let kind = header(headers, b"Content-Type").unwrap_or_default();
    let lower = kind.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let Some(boundary) = param(&kind, "boundary").filter(|b| !b.is_empty()) else {
            return true;
        };
        if depth >= MAX_NESTING {
            out.skip_here(format!(
                "MIME parts nested deeper than {MAX_NESTING}: scanned as raw bytes"
            ));
            return true;
        }
        let delimiter = format!("--{boundary}");
        let mut at: Option<usize> = None;
        for i in memchr::memmem::find_iter(&data[body..end], delimiter.as_bytes()) {
            let i = body + i;
            if i > 0 && data[i - 1] != b'\n' {
                continue;
            }
            if let Some(s) = at {
                // The line break before the delimiter belongs to it.
                let e = i - 1 - usize::from(i >= 2 && data[i - 2] == b'\r');
                if !entity(data, s, e.max(s), depth + 1, parts, out) {
                    return false;
                }
            }
            let after = i + delimiter.len();
            if data[after..end].starts_with(b"--") {
                return true;
            }
            at = memchr::memchr(b'\n', &data[after..end]).map(|n| after + n + 1);
            if at.is_none() {
                return true;
            }
        }
        return true;
    }
    if lower.starts_with("message/rfc822") && depth < MAX_NESTING {
        return entity(data, body, end, depth + 1, parts, out);
    }
    // Every leaf part is numbered, decoded or not, so the number is its place in the file.
    *parts += 1;
    let cte = header(headers, b"Content-Transfer-Encoding").unwrap_or_default();
    let raw = &data[body..end];
    let decoded = match cte.to_ascii_lowercase().as_str() {
        "quoted-printable" => quoted_printable(raw),
        "base64" => match base64_body(raw) {
            Some(d) => d,
            None => {
                out.skip_at(
                    &format!("mime:part {parts}"),
                    "base64 part is not valid base64: scanned as raw bytes".into(),
                );
                return true;
            }
        },
        _ => return true,
    };
    out.hide(body, end);
    out.emit(&format!("mime:part {parts}"), &decoded)
}

/// Quoted-printable decoding: `=XX` is the byte, `=` at a line's end (trailing blanks allowed)
/// joins the next line; anything else is kept as it is.
pub(super) fn quoted_printable(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'=' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|b| hex(*b)),
                s.get(i + 2).and_then(|b| hex(*b)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            let blanks = s[i + 1..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            let j = i + 1 + blanks;
            match &s[j..] {
                [b'\n', ..] => {
                    i = j + 1;
                    continue;
                }
                [b'\r', b'\n', ..] => {
                    i = j + 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// A base64 body, line breaks and blanks ignored; `None` if anything else is in it.
fn base64_body(s: &[u8]) -> Option<Vec<u8>> {
    let text: Vec<u8> = s.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_decodes_escapes_and_soft_breaks() {
        assert_eq!(quoted_printable(b"K=3DSG.ab=\r\ncd=\n"), b"K=SG.abcd");
        assert_eq!(quoted_printable(b"a= \nb = c =zz ="), b"ab = c =zz =");
    }

    #[test]
    fn mail_is_told_by_its_headers() {
        assert!(is_mail(b"From: a@b\nMIME-Version: 1.0\n\nbody"));
        assert!(!is_mail(b"From: a@b\nSubject: hi\n\nbody"));
        assert!(!is_mail(b"key: value\nnot a header line\n\nMIME-Version: 1.0"));
    }
}
