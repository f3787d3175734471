//! The detector: finds rule matches in a byte slice, whatever source it came from.
//!
//! One Aho-Corasick pass over the bytes looks for every rule keyword and for the base64 and percent
//! encodings of those keywords; the rule regex runs only in a small window around a hit. Matching is on
//! bytes, so invalid UTF-8, binary data and very long lines cost nothing special.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::decode;
pub use crate::model::Encoding;
use crate::rules::Rule;

/// One match in one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index into the detector's rules.
    pub rule: usize,
    /// The matched secret, decoded.
    pub key: String,
    /// The rule's `id` group (for SendGrid, the key id), if the rule has one.
    pub key_id: Option<String>,
    /// Byte offset in the blob of the match (of its encoded text, for encoded matches).
    pub offset: usize,
    /// 1-based line number.
    pub line: u64,
    /// 1-based column, counted in Unicode code points (an invalid byte counts as one; a leading BOM
    /// does not count), as editors and SARIF's `unicodeCodePoints` count.
    pub column: u64,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy)]
enum HitKind {
    Plain,
    /// Stable characters of a base64 encoding of a keyword; `skip` is how many characters of the
    /// keyword's first base64 quantum precede them, `shift` how many bytes precede the keyword in it.
    Base64 {
        skip: usize,
        shift: usize,
    },
    Percent,
}

#[derive(Debug, Clone, Copy)]
struct Needle {
    rule: usize,
    kind: HitKind,
}

pub struct Detector {
    rules: Vec<Rule>,
    prefilter: AhoCorasick,
    needles: Vec<Needle>,
}

impl Detector {
    pub fn new(rules: Vec<Rule>) -> anyhow::Result<Detector> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut needles = Vec::new();
        let mut push = |pat: Vec<u8>, needle: Needle| {
            if !patterns.contains(&pat) {
                patterns.push(pat);
                needles.push(needle);
            }
        };
        for (i, rule) in rules.iter().enumerate() {
            for kw in &rule.spec.keywords {
                let kw = kw.as_bytes();
                push(
                    kw.to_vec(),
                    Needle {
                        rule: i,
                        kind: HitKind::Plain,
                    },
                );
                for (pat, skip, shift) in decode::base64_needles(kw) {
                    push(
                        pat,
                        Needle {
                            rule: i,
                            kind: HitKind::Base64 { skip, shift },
                        },
                    );
                }
                for pat in decode::percent_needles(kw) {
                    push(
                        pat,
                        Needle {
                            rule: i,
                            kind: HitKind::Percent,
                        },
                    );
                }
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)?;
        Ok(Detector {
            rules,
            prefilter,
            needles,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every match in `data`, in offset order, with line and column.
    pub fn scan(&self, data: &[u8]) -> Vec<Match> {
        let mut raw: Vec<Match> = Vec::new();
        for hit in self.prefilter.find_iter(data) {
            let needle = self.needles[hit.pattern().as_usize()];
            let rule = &self.rules[needle.rule];
            match needle.kind {
                HitKind::Plain => {
                    // A hit inside a match already found adds nothing.
                    if raw.last().is_some_and(|m| {
                        m.encoding == Encoding::Plain && hit.start() < m.offset + m.key.len()
                    }) {
                        continue;
                    }
                    self.match_window(needle.rule, rule, data, hit.start(), &mut raw, |m| m);
                }
                HitKind::Base64 { skip, shift } => {
                    if let Some(dec) = decode::base64_window(data, hit.start(), skip, shift, rule.max_len) {
                        self.match_decoded(needle.rule, rule, &dec, &mut raw);
                    }
                }
                HitKind::Percent => {
                    if let Some(dec) = decode::percent_window(data, hit.start(), rule.max_len) {
                        self.match_decoded(needle.rule, rule, &dec, &mut raw);
                    }
                }
            }
        }
        raw.sort_by_key(|m| (m.offset, m.encoding));
        raw.dedup_by(|a, b| a.offset == b.offset && a.key == b.key && a.rule == b.rule);
        locate(data, &mut raw);
        raw.retain(|m| !allowed_inline(data, m.offset));
        raw
    }

    fn match_decoded(&self, rule_idx: usize, rule: &Rule, dec: &decode::Decoded, out: &mut Vec<Match>) {
        for kw in &rule.spec.keywords {
            for hit in memchr::memmem::find_iter(&dec.bytes, kw.as_bytes()) {
                self.match_window(rule_idx, rule, &dec.bytes, hit, out, |mut m| {
                    m.offset = dec.origin;
                    m.encoding = dec.encoding;
                    m
                });
            }
        }
    }

    /// Runs the rule's regex in the window around a keyword hit at `hit` and keeps the matches that
    /// cover the hit and pass the rule's filters.
    fn match_window(
        &self,
        rule_idx: usize,
        rule: &Rule,
        data: &[u8],
        hit: usize,
        out: &mut Vec<Match>,
        adjust: impl Fn(Match) -> Match,
    ) {
        let ws = hit.saturating_sub(rule.max_len);
        let we = data.len().min(hit + rule.max_len);
        let window = &data[ws..we];
        // Most hits are near misses: the match-only search (a lazy DFA) rejects them cheaply; the
        // slower capture search runs only for matches that survive the boundary check.
        for m in rule.regex.find_iter(window) {
            let (start, end) = (ws + m.start(), ws + m.end());
            if start > hit || end <= hit || !bounded(rule, data, start, end) {
                continue;
            }
            let Some(caps) = rule.regex.captures_at(window, m.start()) else {
                continue;
            };
            if is_placeholder(rule, &caps) {
                continue;
            }
            // The regex only matches bytes of the rule's token alphabet, which is ASCII.
            let Ok(key) = std::str::from_utf8(&data[start..end]) else {
                continue;
            };
            let low_entropy = rule
                .entropy_group
                .and_then(|g| caps.get(g))
                .is_some_and(|s| shannon_entropy(s.as_bytes()) < rule.spec.min_entropy);
            if low_entropy {
                continue;
            }
            if !rule.ignore_fingerprints.is_empty()
                && rule
                    .ignore_fingerprints
                    .contains(&crate::findings::fingerprint(key))
            {
                continue;
            }
            let key_id = rule
                .id_group
                .and_then(|g| caps.get(g))
                .and_then(|s| std::str::from_utf8(s.as_bytes()).ok())
                .map(str::to_string);
            out.push(adjust(Match {
                rule: rule_idx,
                key: key.to_string(),
                key_id,
                offset: start,
                line: 0,
                column: 0,
                encoding: Encoding::Plain,
            }));
        }
    }
}

/// A match is a key only if it is not part of a longer token: no token character directly before or
/// after it, and no `.`+token run glued to either side (`x.SG.…`, `SG.….x`).
fn bounded(rule: &Rule, data: &[u8], start: usize, end: usize) -> bool {
    let tok = |i: usize| rule.token[data[i] as usize];
    let glued_before = start > 0
        && ((tok(start - 1) && !after_escaped_delimiter(rule, data, start))
            || (data[start - 1] == b'.' && start > 1 && tok(start - 2)));
    let glued_after =
        end < data.len() && (tok(end) || (data[end] == b'.' && end + 1 < data.len() && tok(end + 1)));
    !glued_before && !glued_after
}

/// `…key%3DSG.…`: the token character before the match ends a `%XX` escape of a delimiter (here
/// `=`), so in the decoded text the match stands alone.
fn after_escaped_delimiter(rule: &Rule, data: &[u8], start: usize) -> bool {
    if start < 3 || data[start - 3] != b'%' {
        return false;
    }
    let hex = |b: u8| (b as char).to_digit(16);
    match (hex(data[start - 2]), hex(data[start - 1])) {
        (Some(hi), Some(lo)) => !rule.token[(hi * 16 + lo) as usize],
        _ => false,
    }
}

fn is_placeholder(rule: &Rule, caps: &regex::bytes::Captures<'_>) -> bool {
    let repeated = caps.iter().skip(1).flatten().any(|g| {
        let b = g.as_bytes();
        b.len() > 1 && b.iter().all(|c| *c == b[0])
    });
    if repeated {
        return true;
    }
    let Some(whole) = caps.get(0) else {
        return false;
    };
    let lower = whole.as_bytes().to_ascii_lowercase();
    rule.placeholder_words
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The marker that, anywhere on a match's line, says "this is not a leak".
pub const ALLOW_MARKER: &[u8] = b"sgscan:allow";

fn allowed_inline(data: &[u8], offset: usize) -> bool {
    let start = memchr::memrchr(b'\n', &data[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &data[offset..]).map_or(data.len(), |i| offset + i);
    memchr::memmem::find(&data[start..end], ALLOW_MARKER).is_some()
}

/// Fills in line and column for matches sorted by offset, in one forward pass.
fn locate(data: &[u8], matches: &mut [Match]) {
    let mut line = 1u64;
    let mut pos = 0usize;
    for m in matches.iter_mut() {
        let off = m.offset.min(data.len());
        if off >= pos {
            line += memchr::memchr_iter(b'\n', &data[pos..off]).count() as u64;
            pos = off;
        }
        let line_start = memchr::memrchr(b'\n', &data[..off]).map_or(0, |i| i + 1);
        let prefix = &data[line_start..off];
        let prefix = if line_start == 0 {
            prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix)
        } else {
            prefix
        };
        let column = 1 + prefix
            .utf8_chunks()
            .map(|c| (c.valid().chars().count() + c.invalid().len()) as u64)
            .sum::<u64>();
        m.line = line;
        m.column = column;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        Detector::new(crate::rules::embedded().unwrap()).unwrap()
    }

    // Built at run time: a key literal must never appear in the repository.
    fn key() -> String {
        let id: String = "Ab3dE5gH9jK1mN0pQ7sT2v".to_string();
        let secret: String = "Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa0Sd9Fg-Hj_Kl8Lz7X".to_string();
        format!("SG.{id}.{secret}")
    }

    #[test]
    fn finds_key_with_line_and_column() {
        let k = key();
        let data = format!("\u{FEFF}é line one\r\nx=\"{k}\"\r\n");
        let m = detector().scan(data.as_bytes());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].key, k);
        assert_eq!((m[0].line, m[0].column), (2, 4));
        assert_eq!(m[0].key_id.as_deref(), Some("Ab3dE5gH9jK1mN0pQ7sT2v"));
    }

    #[test]
    fn invalid_utf8_and_binary_around_key() {
        let k = key();
        let mut data = vec![0xFFu8, 0xFE, 0x00, b'\n', 0x80, 0x81];
        data.push(b' ');
        data.extend_from_slice(k.as_bytes());
        data.push(0);
        let m = detector().scan(&data);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].line, m[0].column), (2, 4));
    }

    #[test]
    fn entropy() {
        assert!(shannon_entropy(b"aaaa") < 0.01);
        assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-9);
    }
}
