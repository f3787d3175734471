//! Encoded forms of keys: base64 (standard and URL-safe, e.g. a Kubernetes Secret's `data:`) and
//! percent-encoding. The detector searches for the encodings of each rule keyword and decodes only the
//! text around hits, each byte once however many hits share it, so the cost stays proportional to
//! the data around hits, not to hits times window size.

use crate::model::Encoding;

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 characters of `kw` that do not depend on its neighbours, for each of the three byte
/// alignments and both alphabets: `(needle, skip, shift)` where `skip` is the index of the needle's
/// first character in the quantum where the keyword starts and `shift` the keyword's byte offset in it.
pub fn base64_needles(kw: &[u8]) -> Vec<(Vec<u8>, usize, usize)> {
    let mut out = Vec::new();
    for shift in 0..3 {
        let bit_start = 8 * shift;
        let bit_end = 8 * (shift + kw.len());
        let mut bits: Vec<u8> = vec![0; shift];
        bits.extend_from_slice(kw);
        let first = bit_start.div_ceil(6);
        let last = bit_end / 6; // exclusive: characters fully inside the keyword's bits
        if last <= first || last - first < 3 {
            continue;
        }
        for alphabet in [B64_STD, B64_URL] {
            let needle: Vec<u8> = (first..last)
                .map(|i| alphabet[sextet(&bits, i) as usize])
                .collect();
            if !out.iter().any(|(n, _, _)| *n == needle) {
                out.push((needle, first, shift));
            }
        }
    }
    out
}

/// The base64 text of the keyword at each byte alignment and in both alphabets, as it appears inside
/// other base64 text (a Secret whose value is a base64 `.env`): the keyword's stable characters,
/// and where there are fewer than four, the character it shares with the byte after it, for each
/// byte `next` allows (the rule's token characters; for `SG.`, six or two variants). Four
/// characters make needles of the outer encoding ([`base64_needles`]) rare enough in base64 text.
pub fn nested_inner_texts(kw: &[u8], next: &[bool; 256]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for shift in 0..3usize {
        let first = (8 * shift).div_ceil(6);
        let stable_end = 8 * (shift + kw.len()) / 6;
        let end = stable_end.max(first + 4);
        if end * 6 > 8 * (shift + kw.len() + 1) {
            continue;
        }
        for alphabet in [B64_STD, B64_URL] {
            for c in (0..=255u8).filter(|c| next[*c as usize]) {
                let mut bits = vec![0; shift];
                bits.extend_from_slice(kw);
                bits.push(c);
                let text: Vec<u8> = (first..end)
                    .map(|i| alphabet[sextet(&bits, i) as usize])
                    .collect();
                if !out.contains(&text) {
                    out.push(text);
                }
            }
        }
    }
    out
}

/// Lenient base64 decoding of `text` (either alphabet), which must be base64 characters only: a
/// final partial quantum of 2 or 3 characters gives 1 or 2 bytes, its spare bits ignored.
pub fn base64_lenient(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut v = [0u8; 4];
        for (d, c) in v.iter_mut().zip(chunk) {
            *d = crate::text::base64_sextet(*c);
        }
        let word = (v[0] as u32) << 18 | (v[1] as u32) << 12 | (v[2] as u32) << 6 | v[3] as u32;
        let bytes = [(word >> 16) as u8, (word >> 8) as u8, word as u8];
        if chunk.len() >= 2 {
            out.extend_from_slice(&bytes[..chunk.len() - 1]);
        }
    }
    out
}

fn sextet(bytes: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, off) = (bit / 8, bit % 8);
    let hi = bytes.get(byte).copied().unwrap_or(0) as u16;
    let lo = bytes.get(byte + 1).copied().unwrap_or(0) as u16;
    (((hi << 8 | lo) >> (10 - off)) & 0x3F) as u8
}

/// `%XX` forms of the keyword. Upper- and lower-case hex differ only in letters, so one needle, their
/// common prefix, finds both (`%53%47%2` for `SG.`); the window decoder reads the rest.
pub fn percent_needles(kw: &[u8]) -> Vec<Vec<u8>> {
    let upper: Vec<u8> = kw.iter().flat_map(|b| format!("%{b:02X}").into_bytes()).collect();
    let lower: Vec<u8> = kw.iter().flat_map(|b| format!("%{b:02x}").into_bytes()).collect();
    let common = upper.iter().zip(&lower).take_while(|(a, b)| a == b).count();
    let mut out = if common == upper.len() {
        vec![upper]
    } else if common >= 6 {
        vec![upper[..common].to_vec()]
    } else {
        vec![upper, lower]
    };
    // Only the punctuation escaped (`token=SG%2E…%2E…`): the keyword up to its first punctuation
    // character and the case-free half of that character's escape.
    if let Some((prefix, c)) = punctuation_split(kw) {
        out.push([prefix, format!("%{:X}", c >> 4).as_bytes()].concat());
    }
    out
}

/// The keyword's letters and digits before its first other character, and that character: the
/// part of a keyword that text escapes leave alone, and the one they replace (`SG` and `.`).
fn punctuation_split(kw: &[u8]) -> Option<(&[u8], u8)> {
    let i = kw.iter().position(|b| !b.is_ascii_alphanumeric())?;
    (i > 0 && kw[i].is_ascii()).then(|| (&kw[..i], kw[i]))
}

/// HTML named character references the decoder knows: those of the ASCII punctuation that keys,
/// URLs and assignments use (`&period;` is how some HTML escapers write a dot), and the usual ones.
const ENTITIES: &[(&[u8], u8)] = &[
    (b"period", b'.'),
    (b"lowbar", b'_'),
    (b"UnderBar", b'_'),
    (b"amp", b'&'),
    (b"quot", b'"'),
    (b"apos", b'\''),
    (b"lt", b'<'),
    (b"gt", b'>'),
    (b"equals", b'='),
    (b"colon", b':'),
    (b"semi", b';'),
    (b"comma", b','),
    (b"sol", b'/'),
    (b"num", b'#'),
    (b"plus", b'+'),
    (b"percnt", b'%'),
    (b"quest", b'?'),
    (b"excl", b'!'),
    (b"commat", b'@'),
    (b"Tab", b'\t'),
    (b"NewLine", b'\n'),
    (b"nbsp", 0xA0),
];

/// Forms of the keyword whose first punctuation character is a text escape: `SG\u002e`, `SG\x2e`,
/// `SG&#46;` / `SG&#x2E;`, `SG&period;`. The needles stop where hex case would differ, so one covers
/// both cases; the window decoder reads the rest.
pub fn escape_needles(kw: &[u8]) -> Vec<Vec<u8>> {
    let Some((prefix, c)) = punctuation_split(kw) else {
        return Vec::new();
    };
    let hi = format!("{:X}", c >> 4);
    let mut out = vec![
        [prefix, b"\\u00", hi.as_bytes()].concat(),
        [prefix, b"\\x", hi.as_bytes()].concat(),
        [prefix, b"&#"].concat(),
    ];
    for (name, _) in ENTITIES.iter().filter(|(_, v)| *v == c) {
        out.push([prefix, b"&", name, b";"].concat());
    }
    out
}

/// Longest text escape the decoder reads (`&#x0010FFFF;`, `&NewLine;`): bounds every look-back.
pub const ESCAPE_MAX: usize = 12;

/// The text escape that starts at `i` — a backslash escape (`\n`, `\\`, `\uXXXX`, `\xXX`) or an HTML
/// character reference (`&#46;`, `&#x2E;`, `&period;`) — as (code point, length). Whether the
/// backslash is itself escaped is the caller's concern.
pub fn escape_at(data: &[u8], i: usize) -> Option<(u32, usize)> {
    let rest = &data[i..data.len().min(i + ESCAPE_MAX)];
    let hex = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, b| {
            Some(acc.checked_mul(16)? + (*b as char).to_digit(16)?)
        })
    };
    match rest {
        [b'\\', b'u', h @ ..] if h.len() >= 4 && h[..4].iter().all(u8::is_ascii_hexdigit) => {
            Some((hex(&h[..4])?, 6))
        }
        [b'\\', b'x', h @ ..] if h.len() >= 2 && h[..2].iter().all(u8::is_ascii_hexdigit) => {
            Some((hex(&h[..2])?, 4))
        }
        [b'\\', c, ..] => {
            let code = match c {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'0' => 0,
                b'b' => 8,
                b'f' => 12,
                b'v' => 11,
                b'\\' | b'"' | b'\'' | b'/' => *c,
                _ => return None,
            };
            Some((code as u32, 2))
        }
        [b'&', b'#', body @ ..] => {
            let end = memchr::memchr(b';', body)?;
            let digits = &body[..end];
            let code = match digits {
                [b'x' | b'X', h @ ..] if !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit) => hex(h)?,
                d if !d.is_empty() && d.iter().all(u8::is_ascii_digit) => {
                    std::str::from_utf8(d).ok()?.parse().ok()?
                }
                _ => return None,
            };
            Some((code, end + 3))
        }
        [b'&', body @ ..] => {
            let end = memchr::memchr(b';', body)?;
            let (_, v) = ENTITIES.iter().find(|(n, _)| *n == &body[..end])?;
            Some((*v as u32, end + 2))
        }
        _ => None,
    }
}

/// Whether the backslash at `i` starts an escape: an even number of backslashes precede it (a
/// longer run than any text holds counts as even).
fn backslash_starts_escape(data: &[u8], i: usize) -> bool {
    let run = data[..i]
        .iter()
        .rev()
        .take(64)
        .take_while(|b| **b == b'\\')
        .count();
    run % 2 == 0
}

/// The text escape that ends just before `end`, as (code point, start).
pub fn escape_ending_at(data: &[u8], end: usize) -> Option<(u32, usize)> {
    let lo = end.saturating_sub(ESCAPE_MAX);
    let starts = data[lo..end].iter().enumerate();
    let mut starts = starts
        .filter(|(_, b)| matches!(b, b'\\' | b'&'))
        .map(|(i, _)| lo + i);
    starts.find_map(|s| {
        let (code, len) = escape_at(data, s)?;
        let starts = data[s] != b'\\' || backslash_starts_escape(data, s);
        (s + len == end && starts).then_some((code, s))
    })
}

/// Where the detector starts decoding for an escape needle hit: two characters (escaped or not)
/// before it, for the boundary check, starting at the start of an escape so decoding is in step.
pub fn escape_window_start(data: &[u8], hit: usize) -> usize {
    let mut start = hit;
    for _ in 0..2 {
        start = match escape_ending_at(data, start) {
            Some((_, s)) => s,
            None => start.saturating_sub(1),
        };
    }
    start
}

pub fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

fn is_line_break(b: u8) -> bool {
    matches!(b, b'\n' | b'\r')
}

/// Line breaks inside base64 text (MIME and the `base64` command wrap at 76 columns, PEM at 64) are
/// skipped, not taken as its end, but only where the value plausibly goes on: the line being left
/// is a line of wrapped base64 ([`full_line_before`]), or the next line is base64 throughout. The next line of a YAML file or of source code is not the value's
/// continuation, and decoding into it would glue garbage to a key. For the line break at `i`, the
/// first of its characters: where decoding goes on.
fn wrapped_forward(data: &[u8], i: usize) -> Option<usize> {
    let start = i + data[i..].iter().take_while(|b| is_line_break(**b)).count();
    let line = &data[start..];
    let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = line.iter().take_while(|b| is_b64(**b)).count();
    let padding = &line[text..];
    let next_is_base64 = text > 0 && padding.len() <= 2 && padding.iter().all(|b| *b == b'=');
    (next_is_base64 || full_line_before(data, i)).then_some(start)
}

/// The same going backwards from the line break whose last character is at `i`: the index just
/// past the last character of the line before, when that line is a full line of base64.
fn wrapped_backward(data: &[u8], i: usize) -> Option<usize> {
    let end = i + 1 - data[..=i].iter().rev().take_while(|b| is_line_break(**b)).count();
    full_line_before(data, end).then_some(end)
}

/// Shortest line taken for a line of wrapped base64 (PEM wraps at 64, MIME at 76).
const WRAP_MIN: usize = 60;
/// Longest stretch looked at to decide that (bounds the work per line break).
const WRAP_SCAN: usize = 4096;
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// PEM and `openssl base64` wrap at 64 characters, MIME and the `base64` command at 76.
const WRAP_WIDTHS: [usize; 2] = [64, 76];

/// Whether the line that ends at `end` is a line of wrapped base64: base64 throughout and at least
/// [`WRAP_MIN`] long, or ending in base64 text of a usual wrapping width.
fn full_line_before(data: &[u8], end: usize) -> bool {
    let seg = &data[end.saturating_sub(WRAP_SCAN)..end];
    let text = seg.iter().rev().take_while(|b| is_b64(**b)).count();
    let rest = &seg[..seg.len() - text];
    let whole = rest.is_empty()
        || rest.ends_with(b"\n")
        || rest.ends_with(b"\r")
        || (rest == BOM && end == seg.len());
    // A value can also start mid-line (`<data>AAAA…`, `KEY: AAAA…`): then its first line is as
    // long as the wrapping width. A one-line value of exactly that length is too short to hold a
    // key, so taking the next line for its continuation hides none.
    (whole && text >= WRAP_MIN) || WRAP_WIDTHS.contains(&text)
}

/// The `n` base64 characters before `at` (fewer if the text starts sooner), nearest first, with
/// their offsets.
fn chars_before(data: &[u8], at: usize, out: &mut [(usize, u8); 4]) -> usize {
    let mut n = 0;
    let mut back = at;
    while n < 4 && back > 0 {
        let b = data[back - 1];
        if is_line_break(b) {
            match wrapped_backward(data, back - 1) {
                Some(end) => back = end,
                None => break,
            }
        } else if is_b64(b) {
            back -= 1;
            out[n] = (back, b);
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Characters of the base64 window the detector examines for a keyword in the quantum at `quantum`
/// (with the keyword `shift` bytes into it): the quantum before (for the boundary check), then
/// enough quanta for one byte past the longest possible match.
fn window_chars(data: &[u8], quantum: usize, shift: usize, max_len: usize, mut f: impl FnMut(u8)) {
    let mut before = [(0, 0); 4];
    if chars_before(data, quantum, &mut before) == 4 {
        before.iter().for_each(|(_, b)| f(*b));
    }
    let want = (shift + max_len + 2).div_ceil(3) * 4;
    let mut j = quantum;
    let mut n = 0;
    while n < want && j < data.len() {
        let b = data[j];
        if is_line_break(b) {
            match wrapped_forward(data, j) {
                Some(next) => j = next,
                None => break,
            }
        } else if is_b64(b) {
            f(b);
            n += 1;
            j += 1;
        } else {
            break;
        }
    }
}

/// How the window of a keyword at `quantum`/`shift` is encoded: `base64url` if it holds `-` or `_`,
/// `base64` otherwise, and `None` if it mixes both alphabets (no decoder accepts that text).
pub fn base64_alphabet(data: &[u8], quantum: usize, shift: usize, max_len: usize) -> Option<Encoding> {
    let (mut url, mut std) = (false, false);
    window_chars(data, quantum, shift, max_len, |b| {
        url |= matches!(b, b'-' | b'_');
        std |= matches!(b, b'+' | b'/');
    });
    match (url, std) {
        (true, true) => None,
        (true, false) => Some(Encoding::Base64url),
        _ => Some(Encoding::Base64),
    }
}

/// One run of base64 text in one phase, decoded once from the first keyword hit in it (and the
/// quantum before that) and extended only as far as later hits of the same phase need, so a blob
/// of repeated encoded keywords is decoded once, not once per hit.
pub struct Base64Run {
    pub bytes: Vec<u8>,
    /// Blob offset of the first character of each decoded quantum (`bytes[3 * i..3 * i + 3]`).
    pub quanta: Vec<usize>,
    /// Blob offset where decoding stopped.
    end: usize,
    /// A byte outside the alphabet (or the end of the blob) ended the run.
    done: bool,
    /// The quantum of the last hit looked up.
    last: usize,
}

impl Base64Run {
    /// A run whose next quantum starts at `quantum`, holding the quantum before it when four base64
    /// characters precede it.
    pub fn start(data: &[u8], quantum: usize) -> Base64Run {
        let mut run = Base64Run {
            bytes: Vec::with_capacity(128),
            quanta: Vec::with_capacity(32),
            end: quantum,
            done: false,
            last: 0,
        };
        let mut before = [(0, 0); 4];
        if chars_before(data, quantum, &mut before) == 4 {
            let chars = [before[3].1, before[2].1, before[1].1, before[0].1];
            run.push(chars, 4, before[3].0);
        }
        run
    }

    pub fn end(&self) -> usize {
        self.end
    }

    pub fn done(&self) -> bool {
        self.done
    }

    fn push(&mut self, chars: [u8; 4], n: usize, at: usize) {
        let v = chars.map(crate::text::base64_sextet);
        let word = (v[0] as u32) << 18 | (v[1] as u32) << 12 | (v[2] as u32) << 6 | v[3] as u32;
        let bytes = [(word >> 16) as u8, (word >> 8) as u8, word as u8];
        // A final partial quantum of 2 or 3 characters carries 1 or 2 bytes; its spare bits are
        // ignored, as lenient decoders do.
        self.bytes.extend_from_slice(&bytes[..n - 1]);
        self.quanta.push(at);
    }

    /// Decodes until `n` quanta are held or the run ends.
    pub fn extend_to(&mut self, data: &[u8], n: usize) {
        let mut i = self.end;
        while self.quanta.len() < n && !self.done {
            let mut chars = [b'A'; 4];
            let mut k = 0;
            let mut first = i;
            let mut j = i;
            while k < 4 && j < data.len() {
                let b = data[j];
                if is_line_break(b) {
                    match wrapped_forward(data, j) {
                        Some(next) => j = next,
                        None => break,
                    }
                } else if is_b64(b) {
                    if k == 0 {
                        first = j;
                    }
                    chars[k] = b;
                    k += 1;
                    j += 1;
                } else {
                    break;
                }
            }
            if k == 4 {
                self.push(chars, 4, first);
                i = j;
            } else {
                if k >= 2 {
                    self.push(chars, k, first);
                }
                self.done = true;
            }
        }
        self.end = i;
    }

    /// Decodes until the quantum that starts at `pos` or later is held, or the run ends.
    pub fn extend_past(&mut self, data: &[u8], pos: usize) {
        while !self.done && self.end <= pos {
            self.extend_to(data, self.quanta.len() + 1);
        }
    }

    /// Index of the quantum that starts at blob offset `at`.
    pub fn quantum_index(&mut self, at: usize) -> Option<usize> {
        // Hits mostly come one quantum after another.
        let near = self.last..self.quanta.len().min(self.last + 3);
        let found = match self.quanta[near.clone()].iter().position(|q| *q == at) {
            Some(i) => Some(near.start + i),
            None => self.quanta.binary_search(&at).ok(),
        };
        if let Some(i) = found {
            self.last = i;
        }
        found
    }

    /// Forgets the first `k` quanta (memory stays bounded on a long run).
    pub fn drain(&mut self, k: usize) {
        let k = k.min(self.quanta.len().saturating_sub(1));
        self.last = self.last.saturating_sub(k);
        self.quanta.drain(..k);
        self.bytes.drain(..3 * k);
    }
}

/// Where the detector starts decoding for a percent needle hit: up to two encoded bytes (or two
/// plain ones) before it, for the boundary check.
pub fn percent_window_start(data: &[u8], hit: usize) -> usize {
    let is_hex = |b: u8| b.is_ascii_hexdigit();
    let mut start = hit;
    for _ in 0..2 {
        if start >= 3 && data[start - 3] == b'%' && is_hex(data[start - 2]) && is_hex(data[start - 1]) {
            start -= 3;
        } else {
            break;
        }
    }
    if start == hit {
        start = hit.saturating_sub(2);
    }
    start
}

/// Percent-decoded text from some offset on, extended as later hits need, so every byte of a blob
/// of repeated `%XX` keywords is decoded once. Decoding from any earlier offset reaches a hit's `%`
/// in step, since a `%` cannot be the hex digit of an escape before it.
///
/// With `escapes`, the run decodes text escapes ([`escape_at`]) instead of `%XX`; decoding from an
/// escape's start stays in step the same way, since an escape is consumed whole (`\\` included).
pub struct PercentRun {
    pub bytes: Vec<u8>,
    /// Blob offset of each decoded byte (of its `%` when escaped).
    pub pos: Vec<usize>,
    end: usize,
    escapes: bool,
}

impl PercentRun {
    pub fn start(at: usize) -> PercentRun {
        PercentRun {
            bytes: Vec::with_capacity(256),
            pos: Vec::with_capacity(256),
            end: at,
            escapes: false,
        }
    }

    /// A run that decodes text escapes.
    pub fn escapes(at: usize) -> PercentRun {
        PercentRun {
            escapes: true,
            ..PercentRun::start(at)
        }
    }

    pub fn end(&self) -> usize {
        self.end
    }

    /// Decodes up to blob offset `target` (or just past it, so as not to split an escape).
    pub fn extend_to(&mut self, data: &[u8], target: usize) {
        let target = target.min(data.len());
        let hex = |b: u8| (b as char).to_digit(16);
        let mut i = self.end;
        if self.escapes {
            while i < target {
                self.pos.push(i);
                let escape = matches!(data[i], b'\\' | b'&')
                    .then(|| escape_at(data, i))
                    .flatten();
                match escape {
                    Some((code, len)) => {
                        // Only ASCII matters to the rules' token alphabets; any other character
                        // is one byte that belongs to none.
                        self.bytes
                            .push(u8::try_from(code).ok().filter(u8::is_ascii).unwrap_or(0x80));
                        i += len;
                    }
                    None => {
                        self.bytes.push(data[i]);
                        i += 1;
                    }
                }
            }
            self.end = self.end.max(i);
            return;
        }
        while i < target {
            let escaped = if data[i] == b'%' && i + 2 < data.len() {
                hex(data[i + 1]).zip(hex(data[i + 2]))
            } else {
                None
            };
            self.pos.push(i);
            match escaped {
                Some((hi, lo)) => {
                    self.bytes.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                None => {
                    self.bytes.push(data[i]);
                    i += 1;
                }
            }
        }
        self.end = self.end.max(i);
    }

    /// Index of the decoded byte that starts at blob offset `at`.
    pub fn index_of(&self, at: usize) -> Option<usize> {
        self.pos.binary_search(&at).ok()
    }

    /// Forgets the first `k` decoded bytes.
    pub fn drain(&mut self, k: usize) {
        let k = k.min(self.bytes.len());
        self.bytes.drain(..k);
        self.pos.drain(..k);
    }
}

/// Bytes looked at to tell UTF-16 text by its NUL bytes.
const UTF16_SNIFF: usize = 4096;

/// `data` as UTF-8 when it is UTF-16 text (regedit exports, PowerShell output, Windows
/// configuration): by its byte order mark, or, without one, when the high byte of at least 3 in 4
/// code units in the first [`UTF16_SNIFF`] bytes is NUL and the low byte of at most 1 in 10 is
/// (mostly-ASCII text). Unpaired surrogates become U+FFFD; a BOM is kept, so columns skip it as in UTF-8 text.
pub fn utf16_text(data: &[u8]) -> Option<Vec<u8>> {
    let little = if data.starts_with(b"\xFF\xFE") {
        true
    } else if data.starts_with(b"\xFE\xFF") {
        false
    } else {
        // Cheap gate first: text in UTF-16 has a NUL among its first characters.
        memchr::memchr(0, &data[..data.len().min(64)])?;
        let sample = &data[..data.len().min(UTF16_SNIFF) & !1];
        let units = sample.len() / 2;
        if units < 4 {
            return None;
        }
        let zeros = |parity: usize| sample.iter().skip(parity).step_by(2).filter(|b| **b == 0).count();
        let (even, odd) = (zeros(0), zeros(1));
        let mostly = |n: usize| n * 4 >= units * 3;
        let few = |n: usize| n * 10 <= units;
        if mostly(odd) && few(even) {
            true
        } else if mostly(even) && few(odd) {
            false
        } else {
            return None;
        }
    };
    let units = data.chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    let mut buf = [0u8; 4];
    for c in char::decode_utf16(units) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Some(out)
}

/// Stretches of UTF-16 text inside a binary blob (a .NET `#US` heap, a registry hive's values):
/// around each `SG.` written in UTF-16 (either byte order), from the code unit before it to `span`
/// bytes after it, windows of one byte order and alignment that touch merged into one. Each is
/// decoded to UTF-8 and handed to `f` with its byte order and, for each byte of it, the blob
/// offset of the low byte of its code unit: ASCII text in one byte order is also ASCII text in the
/// other, one byte on, and both readings then place a match at the same offset. Every blob byte is
/// decoded at most once per byte order and alignment.
pub fn utf16_runs(data: &[u8], span: usize, mut f: impl FnMut(bool, &[u8], &[usize])) {
    // One pass for both byte orders: `\0G\0.` is in both spellings of `SG.`.
    const CORE: &[u8] = b"\0G\0.";
    // The pending window per byte order (little-endian first) and alignment (offset modulo 2).
    let mut runs: [[Option<(usize, usize)>; 2]; 2] = [[None, None], [None, None]];
    for core in memchr::memmem::find_iter(data, CORE) {
        let le = core.checked_sub(1).filter(|&h| data[h..].starts_with(UTF16LE_SG));
        let be = core.checked_sub(2).filter(|&h| data[h..].starts_with(UTF16BE_SG));
        for (order, hit) in [(0, le), (1, be)] {
            let Some(hit) = hit else {
                continue;
            };
            let start = hit.checked_sub(2).unwrap_or(hit);
            let end = start + (data.len().min(hit + span) - start) / 2 * 2;
            let slot = &mut runs[order][hit % 2];
            match slot {
                Some((_, e)) if start <= *e => *e = (*e).max(end),
                _ => {
                    if let Some((s, e)) = slot.replace((start, end)) {
                        decode_utf16_run(&data[s..e], s, order == 0, &mut f);
                    }
                }
            }
        }
    }
    for (order, slots) in runs.into_iter().enumerate() {
        for (s, e) in slots.into_iter().flatten() {
            decode_utf16_run(&data[s..e], s, order == 0, &mut f);
        }
    }
}

/// `SG.` in UTF-16LE and UTF-16BE.
pub const UTF16LE_SG: &[u8] = b"S\0G\0.\0";
pub const UTF16BE_SG: &[u8] = b"\0S\0G\0.";

fn decode_utf16_run(bytes: &[u8], base: usize, little: bool, f: &mut impl FnMut(bool, &[u8], &[usize])) {
    let units = bytes.chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    let mut text = Vec::with_capacity(bytes.len() / 2 + 8);
    let mut pos = Vec::with_capacity(bytes.len() / 2 + 8);
    let mut at = if little { base } else { base + 1 };
    let mut buf = [0u8; 4];
    for c in char::decode_utf16(units) {
        let (c, n) = match c {
            Ok(c) => (c, c.len_utf16()),
            Err(_) => (char::REPLACEMENT_CHARACTER, 1),
        };
        let utf8 = c.encode_utf8(&mut buf).as_bytes();
        text.extend_from_slice(utf8);
        pos.extend(std::iter::repeat_n(at, utf8.len()));
        at += 2 * n;
    }
    f(little, &text, &pos);
}

/// Unicode format characters that do not show, as UTF-8: soft hyphen, zero-width space,
/// non-joiner and joiner, left-to-right and right-to-left marks, word joiner, zero-width no-break
/// space (BOM). Pasted into a key they break it for the application, not for whoever removes them.
pub const INVISIBLE: &[(&[u8], &str)] = &[
    (b"\xC2\xAD", "U+00AD SOFT HYPHEN"),
    (b"\xE2\x80\x8B", "U+200B ZERO WIDTH SPACE"),
    (b"\xE2\x80\x8C", "U+200C ZERO WIDTH NON-JOINER"),
    (b"\xE2\x80\x8D", "U+200D ZERO WIDTH JOINER"),
    (b"\xE2\x80\x8E", "U+200E LEFT-TO-RIGHT MARK"),
    (b"\xE2\x80\x8F", "U+200F RIGHT-TO-LEFT MARK"),
    (b"\xE2\x81\xA0", "U+2060 WORD JOINER"),
    (b"\xEF\xBB\xBF", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
];

/// The index in [`INVISIBLE`] of the character at `data[i..]`, if it is one.
pub fn invisible_at(data: &[u8], i: usize) -> Option<usize> {
    let rest = &data[i..];
    if !matches!(rest.first(), Some(0xC2 | 0xE2 | 0xEF)) {
        return None;
    }
    INVISIBLE.iter().position(|(seq, _)| rest.starts_with(seq))
}

/// `data[from..]` without [`INVISIBLE`] characters, up to `out_len` bytes out or `in_len` bytes in:
/// the text, the blob offset of each of its bytes, and (text index, [`INVISIBLE`] index) of each
/// character removed, the index being that of the byte that followed it.
pub struct Stripped {
    pub text: Vec<u8>,
    pub pos: Vec<usize>,
    pub removed: Vec<(usize, usize)>,
    /// Blob offset where reading stopped.
    pub end: usize,
}

pub fn strip_invisible(data: &[u8], from: usize, out_len: usize, in_len: usize) -> Stripped {
    let stop = data.len().min(from.saturating_add(in_len));
    let mut s = Stripped {
        text: Vec::with_capacity(out_len.min(stop - from)),
        pos: Vec::with_capacity(out_len.min(stop - from)),
        removed: Vec::new(),
        end: from,
    };
    let mut i = from;
    while i < stop && s.text.len() < out_len {
        if let Some(k) = invisible_at(data, i) {
            s.removed.push((s.text.len(), k));
            i += INVISIBLE[k].0.len();
        } else {
            s.text.push(data[i]);
            s.pos.push(i);
            i += 1;
        }
    }
    s.end = i.min(data.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as STD;

    #[test]
    fn needles_for_sg() {
        let n = base64_needles(b"SG.");
        let pats: Vec<&[u8]> = n.iter().map(|(p, _, _)| p.as_slice()).collect();
        // "SG." at offsets 0, 1 and 2 of a quantum.
        assert!(pats.contains(&&b"U0cu"[..]));
        for shift in 0..3 {
            let mut text = vec![b'x'; shift];
            text.extend_from_slice(b"SG.abcdef");
            let enc = STD.encode(&text);
            let (pat, skip, _) = n.iter().find(|(_, _, s)| *s == shift).unwrap();
            assert_eq!(
                &enc.as_bytes()[*skip..*skip + pat.len()],
                pat.as_slice(),
                "shift {shift}"
            );
        }
    }

    #[test]
    fn percent() {
        assert_eq!(
            percent_needles(b"SG."),
            vec![b"%53%47%2".to_vec(), b"SG%2".to_vec()]
        );
        assert_eq!(percent_needles(b"ab"), vec![b"%61%62".to_vec()]);
        assert_eq!(percent_needles(b"Z"), vec![b"%5A".to_vec(), b"%5a".to_vec()]);
    }

    #[test]
    fn base64_run_decodes_like_a_base64_decoder() {
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..500 {
            let raw: Vec<u8> = (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect();
            let mut text = Vec::new();
            for (i, c) in STD.encode(&raw).trim_end_matches('=').bytes().enumerate() {
                if i > 0 && i % 76 == 0 {
                    text.extend_from_slice(if rng.bool() { b"\n" } else { b"\r\n" });
                }
                text.push(c);
            }
            text.extend_from_slice(b"\n# end");
            let mut run = Base64Run::start(&text, 0);
            // Extended in random steps, as hits would.
            while !run.done() {
                let n = run.quanta.len() + rng.usize(1..9);
                run.extend_to(&text, n);
            }
            let chars: Vec<u8> = text.iter().copied().filter(|b| is_b64(*b)).collect();
            let chars = &chars[..chars.len() - 3];
            let mut chars = chars.to_vec();
            if chars.len() % 4 == 1 {
                chars.pop();
            }
            assert_eq!(run.bytes, lenient.decode(&chars).unwrap(), "{raw:?}");
            assert_eq!(run.quanta.len(), chars.len().div_ceil(4));
        }
    }

    #[test]
    fn utf16_runs_read_both_byte_orders_and_each_byte_once_per_reading() {
        let le: Vec<u8> = "xSG.ab".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "ySG.cd".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let data = [b"\xff\x01".to_vec(), le, vec![0xff; 300], be].concat();
        let mut seen = Vec::new();
        utf16_runs(&data, 8, |little, text, pos| {
            seen.push((little, text.to_vec(), pos[0]))
        });
        seen.sort_by_key(|(little, _, at)| (*little, *at));
        // The unit before `SG.`, `SG.`, and what the span reaches, placed at its low byte. ASCII in
        // one byte order is ASCII in the other one byte on; only its neighbours read differently
        // (`0178` is `x` in little-endian, U+0178 in big-endian).
        let be_at = 2 + 12 + 300 + 1;
        assert_eq!(
            seen,
            vec![
                (false, "\u{178}SG.a".as_bytes().to_vec(), 2),
                (false, b"ySG.c".to_vec(), be_at),
                (true, b"xSG.a".to_vec(), 2),
                (true, b"ySG.c".to_vec(), be_at),
            ]
        );
        // A blob of nothing but hits: one window per reading, each byte decoded once in it.
        let data = b"S\0G\0.\0".repeat(10_000);
        let mut decoded = 0;
        utf16_runs(&data, 142, |_, text, _| decoded += text.len());
        assert!(decoded <= data.len(), "{decoded}");
    }

    #[test]
    fn stripping_invisible_characters_says_where_and_which() {
        let data = "SG.a\u{200B}b\u{AD}\u{AD}c\u{FEFF}".as_bytes();
        let s = strip_invisible(data, 0, 100, 100);
        assert_eq!(s.text, b"SG.abc");
        assert_eq!(s.removed, vec![(4, 1), (5, 0), (5, 0), (6, 7)]);
        assert_eq!(s.end, data.len());
        assert_eq!(s.pos, vec![0, 1, 2, 3, 7, 12]);
    }

    #[test]
    fn utf16_is_told_by_bom_or_nul_pattern() {
        let enc = |s: &str, le: bool| -> Vec<u8> {
            s.encode_utf16()
                .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
                .collect()
        };
        let text = "a=1\r\nÉté 😀 b=2\n";
        for le in [true, false] {
            let mut bom = enc("\u{FEFF}", le);
            bom.extend(enc(text, le));
            assert_eq!(utf16_text(&bom).unwrap(), format!("\u{FEFF}{text}").into_bytes());
            let mut odd = enc(text, le);
            odd.push(b'x');
            assert_eq!(utf16_text(&odd).unwrap(), text.as_bytes());
        }
        let mut rng = fastrand::Rng::with_seed(9);
        let random: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
        assert!(utf16_text(&random).is_none());
        assert!(utf16_text(b"plain ASCII text\0 with a NUL").is_none());
        assert!(utf16_text(&[0; 64]).is_none());
    }

    #[test]
    fn escapes_end_where_an_unescaped_backslash_starts_them() {
        let at =
            |s: &[u8]| escape_ending_at(s, s.len()).map(|(c, start)| (char::from_u32(c).unwrap(), start));
        assert_eq!(at(b"x\\n"), Some(('\n', 1)));
        assert_eq!(at(b"x\\\\n"), None);
        assert_eq!(at(b"x\\\\\\n"), Some(('\n', 3)));
        assert_eq!(at(b"k\\u003d"), Some(('=', 1)));
        assert_eq!(at(b"k\\x3D"), Some(('=', 1)));
        assert_eq!(at(b"&#46;"), Some(('.', 0)));
        assert_eq!(at(b"&#X2e;"), Some(('.', 0)));
        assert_eq!(at(b"&period;"), Some(('.', 0)));
        assert_eq!(at(b"&bogus;"), None);
        assert_eq!(at(b"&#99999999999;"), None);
        assert_eq!(escape_window_start(b"ab\\u0041SG", 8), 1);
        assert_eq!(escape_window_start(b"x&#46;SG", 6), 0);
        assert_eq!(escape_window_start(b"abcSG", 3), 1);
    }

    #[test]
    fn percent_run_decodes_like_percent_decode() {
        let mut rng = fastrand::Rng::with_seed(5);
        const PIECES: &[&[u8]] = &[b"%53", b"%2e", b"%4", b"%", b"%%41", b"a", b"%zz", b"%3D", b"."];
        for _ in 0..500 {
            let mut text = Vec::new();
            for _ in 0..rng.usize(0..60) {
                text.extend_from_slice(PIECES[rng.usize(..PIECES.len())]);
            }
            let mut run = PercentRun::start(0);
            while run.end() < text.len() {
                let target = run.end() + rng.usize(1..7);
                run.extend_to(&text, target);
            }
            let expected: Vec<u8> = percent_encoding::percent_decode(&text).collect();
            assert_eq!(run.bytes, expected, "{:?}", String::from_utf8_lossy(&text));
            for (i, &p) in run.pos.iter().enumerate() {
                assert_eq!(run.index_of(p), Some(i));
            }
        }
    }
}
