//! A key's public faces: its fingerprint (for baselines and cross-referencing) and its redacted
//! form (for people). Nothing here ever returns the secret.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::model::Origin;

/// SHA-256 of the key, lower-case hex: stable across runs and machines, safe to store in baselines.
pub fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The first characters of a key and an ellipsis, e.g. `SG.abcd…`: enough to recognise it, far too
/// little to use it.
pub fn redact(key: &str) -> String {
    let keep = if key.starts_with("SG.") {
        7
    } else {
        (key.len() / 5).min(6)
    };
    let cut = key.char_indices().nth(keep).map_or(key.len(), |(i, _)| i);
    format!("{}…", &key[..cut])
}

/// Length of a whole key: `SG.`, the id, `.`, the secret.
const KEY_LEN: usize = 3 + KEY_ID_LEN + 1 + SECRET_LEN;
const SECRET_LEN: usize = 43;

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether `b` starts with a whole key (`SG.` + 22 + `.` + 43 key characters).
fn key_at(b: &[u8]) -> bool {
    b.len() >= KEY_LEN
        && b.starts_with(b"SG.")
        && b[3..3 + KEY_ID_LEN].iter().all(|c| is_key_char(*c))
        && b[3 + KEY_ID_LEN] == b'.'
        && b[3 + KEY_ID_LEN + 1..KEY_LEN].iter().all(|c| is_key_char(*c))
}

/// `text` with every key-shaped run (`SG.` + 22 + `.` + 43 key characters) in its redacted form:
/// the one redaction of text that comes from outside (paths, member names, skip reasons, notes,
/// error chains, merged reports) before it is stored or printed. No boundary is asked for, so a
/// key glued to other characters is redacted too. Linear: each `SG.` is checked over at most a
/// key's length, and the `SG.`s found do not overlap. Borrowed when there is nothing to redact.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    match redact_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // A key is ASCII, and its redacted form is UTF-8: cutting one out leaves UTF-8.
        Cow::Owned(b) => Cow::Owned(
            String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// [`redact_text`] for bytes that may not be UTF-8 (a file name).
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    match redact_plain(bytes) {
        Cow::Borrowed(b) => redact_base64(b),
        Cow::Owned(o) => Cow::Owned(redact_base64(&o).into_owned()),
    }
}

/// Base64 of a whole key, the shortest run that can hold one.
const B64_KEY_LEN: usize = KEY_LEN * 4 / 3;

fn is_b64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// The spans of the base64 text `run` (either alphabet, any of its four alignments) that
/// encode a whole key, in order, merged where they overlap.
fn base64_keys(run: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    for skip in 0..4.min(run.len()) {
        out.clear();
        for q in run[skip..].chunks_exact(4) {
            let v = q
                .iter()
                .fold(0u32, |v, &c| v << 6 | u32::from(crate::text::base64_sextet(c)));
            out.extend_from_slice(&v.to_be_bytes()[1..]);
        }
        for at in memchr::memmem::find_iter(&out, b"SG.").filter(|&at| key_at(&out[at..])) {
            let end = skip + (at + KEY_LEN).div_ceil(3) * 4;
            spans.push((skip + at / 3 * 4, end.min(run.len())));
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// `bytes` with the base64 text of every key (a file named as the base64 of a key is a finding,
/// and its path is shown) made `(base64 of a key)`. Linear: each run is decoded four times.
fn redact_base64(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !is_b64_char(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64_char(bytes[i]) {
            i += 1;
        }
        if i - start < B64_KEY_LEN {
            continue;
        }
        for (s, e) in base64_keys(&bytes[start..i]) {
            let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            out.extend_from_slice(&bytes[copied..start + s]);
            out.extend_from_slice(b"(base64 of a key)");
            copied = start + e;
        }
    }
    completed(bytes, out, copied)
}

/// `bytes` as rewritten: `out` holds the rewritten text up to `copied` (none: nothing was
/// rewritten), the rest follows as it is.
fn completed(bytes: &[u8], out: Option<Vec<u8>>, copied: usize) -> Cow<'_, [u8]> {
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut out) => {
            out.extend_from_slice(&bytes[copied..]);
            Cow::Owned(out)
        }
    }
}

fn redact_plain(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in memchr::memmem::find_iter(bytes, b"SG.") {
        // Inside a key already redacted: `SG.` cannot occur in one, but a later find may start there.
        if at < copied || !key_at(&bytes[at..]) {
            continue;
        }
        let key = &bytes[at..at + KEY_LEN];
        let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
        out.extend_from_slice(&bytes[copied..at]);
        // Key characters are ASCII: the slice is UTF-8.
        out.extend_from_slice(redact(std::str::from_utf8(key).unwrap_or_default()).as_bytes());
        copied = at + KEY_LEN;
    }
    completed(bytes, out, copied)
}

/// [`redact_text`] in place, allocating only when there is a key to cut out.
pub fn redact_in_place(text: &mut String) {
    if let Cow::Owned(r) = redact_text(text) {
        *text = r;
    }
}

/// Every text of an origin that came from outside (paths, member names, refs, author) through
/// [`redact_text`]. `path_bytes` too: its hex is the key as surely as the text is, so a name with a
/// key keeps its exact bytes but for the key.
pub fn redact_origin(o: &mut Origin) {
    redact_in_place(&mut o.path);
    if let Some(r) = o.repository.as_mut() {
        redact_in_place(r);
    }
    if let Some(m) = o.member.as_mut() {
        redact_in_place(m);
    }
    if let Some(hexed) = o.path_bytes.as_mut()
        && let Ok(raw) = hex::decode(hexed.as_bytes())
        && let Cow::Owned(r) = redact_bytes(&raw)
    {
        *hexed = hex::encode(r);
    }
    if let Some(c) = o.commit.as_mut() {
        redact_in_place(&mut c.author_name);
        redact_in_place(&mut c.author_email);
    }
    o.refs.iter_mut().for_each(redact_in_place);
    o.present_in.iter_mut().for_each(redact_in_place);
}

/// A key's id: the 22-character middle segment of `SG.<id>.<secret>`. It names the key in the API
/// (`/v3/api_keys/{id}`) and cannot authenticate, so it is safe to print, log and put in a URL —
/// once it is known to be exactly 22 characters of the key alphabet, which this type guarantees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

/// Length of a key id.
pub const KEY_ID_LEN: usize = 22;

impl KeyId {
    /// `None` unless `s` is 22 characters of `[A-Za-z0-9_-]` (so it cannot carry a path, a query
    /// or a pasted secret into a request).
    pub fn parse(s: &str) -> Option<KeyId> {
        let ok = s.len() == KEY_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| KeyId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_prefix_only() {
        let key = format!("SG.{}.{}", "a1".repeat(11), "b2".repeat(21) + "c");
        assert_eq!(redact(&key), "SG.a1a1…");
        assert_eq!(fingerprint("abc").len(), 64);
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_shaped_text_is_redacted_wherever_it_is() {
        let key = format!("SG.{}.{}", "a1".repeat(11), "b2".repeat(21) + "c");
        assert!(matches!(redact_text("no key here, SG. alone"), Cow::Borrowed(_)));
        // Glued to key characters on both sides, twice in a row, next to multi-byte text.
        let text = format!("é{key}x {key}{key}-tail\n{}", &key[..60]);
        assert_eq!(
            redact_text(&text),
            "éSG.a1a1…x SG.a1a1…SG.a1a1…-tail\n".to_string() + &key[..60]
        );
        let mut bytes = b"\xff/".to_vec();
        bytes.extend_from_slice(key.as_bytes());
        assert_eq!(&redact_bytes(&bytes)[..], b"\xff/SG.a1a1\xe2\x80\xa6");
        // `SG.` over and over costs one look each: linear.
        let many = "SG.".repeat(100_000);
        assert!(matches!(redact_text(&many), Cow::Borrowed(_)));
    }

    #[test]
    fn key_ids_are_exactly_22_key_characters() {
        let id = "aB3_-".repeat(4) + "xy";
        assert_eq!(KeyId::parse(&id).map(|k| k.to_string()), Some(id.clone()));
        assert!(KeyId::parse(&id[..21]).is_none());
        assert!(KeyId::parse(&format!("{id}x")).is_none());
        assert!(KeyId::parse(&("../".repeat(7) + "a")).is_none());
        assert!(KeyId::parse(&"é".repeat(11)).is_none());
    }
}
