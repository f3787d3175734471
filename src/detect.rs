//! The detector: finds rule matches in a byte slice, whatever source it came from.
//!
//! One Aho-Corasick pass over the bytes looks for every rule keyword and for the base64 and percent
//! encodings of those keywords; the rule regex runs only in the windows around hits, once over
//! overlapping ones. Matching is on bytes, so invalid UTF-8, binary data and very long lines cost
//! nothing special, and no input (a blob of repeated keywords, a line of thousands of keys) makes
//! the work grow faster than the input.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::decode;
use crate::model::{Confidence, Encoding, Layer};
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
    pub confidence: Confidence,
    /// What was done to the bytes to read the key, when that is worth telling (invisible
    /// characters removed from inside it).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum HitKind {
    Plain,
    /// Stable characters of a base64 encoding of a keyword; `skip` is how many characters of the
    /// keyword's first base64 quantum precede them, `shift` how many bytes precede the keyword in it.
    Base64 {
        skip: usize,
        shift: usize,
        kw: usize,
    },
    Percent {
        kw: usize,
    },
    /// The keyword with its punctuation written as a text escape (`SG\u002e`, `SG&#46;`).
    Escape {
        kw: usize,
    },
    /// Stable characters of base64 of the keyword's base64 or percent-encoding: the quantum where
    /// they start is `skip` characters before.
    Nested {
        skip: usize,
    },
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
            for (k, kw) in rule.spec.keywords.iter().enumerate() {
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
                            kind: HitKind::Base64 { skip, shift, kw: k },
                        },
                    );
                }
                for pat in decode::percent_needles(kw) {
                    push(
                        pat,
                        Needle {
                            rule: i,
                            kind: HitKind::Percent { kw: k },
                        },
                    );
                }
                for pat in decode::escape_needles(kw) {
                    push(
                        pat,
                        Needle {
                            rule: i,
                            kind: HitKind::Escape { kw: k },
                        },
                    );
                }
                let inner = decode::nested_inner_texts(kw, &rule.token)
                    .into_iter()
                    .chain(decode::percent_needles(kw));
                for text in inner {
                    for (pat, skip, _) in decode::base64_needles(&text) {
                        push(
                            pat,
                            Needle {
                                rule: i,
                                kind: HitKind::Nested { skip },
                            },
                        );
                    }
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

    /// Every match in `data`, with line and column.
    ///
    /// UTF-16 text (by BOM, or by the NUL bytes of mostly-ASCII text) is searched in its decoded
    /// form, where lines, columns and offsets refer to its characters; its raw bytes are searched
    /// too, since a binary file can look like UTF-16 and still hold an ASCII key.
    pub fn scan(&self, data: &[u8]) -> Vec<Match> {
        self.scan_with_allowed(data).0
    }

    /// [`Detector::scan`], and apart from them the matches dropped for [`ALLOW_MARKER`] on their
    /// line: the report counts allowed keys, so they must not vanish without a trace.
    pub fn scan_with_allowed(&self, data: &[u8]) -> (Vec<Match>, Vec<Match>) {
        let text = decode::utf16_text(data);
        // UTF-16 text is searched whole; only in other binary blobs are its strings looked for.
        let (mut out, mut allowed) = self.scan_bytes(data, text.is_none());
        if let Some(text) = text {
            let (more, more_allowed) = self.scan_bytes(&text, false);
            out.extend(more);
            allowed.extend(more_allowed);
        }
        (out, allowed)
    }

    /// Every match in `data`, in offset order, with line and column.
    ///
    /// Linear in `data` whatever it holds: keyword hits whose windows overlap are matched by one
    /// regex pass over the union of their windows, encoded text is decoded once per run however
    /// many hits it holds, and lines and columns come from one forward pass.
    fn scan_bytes(&self, data: &[u8], utf16_strings: bool) -> (Vec<Match>, Vec<Match>) {
        let sniff = sniff(data);
        let mut raw = self.find(data, true, sniff);
        if sniff != Sniff::Text && utf16_strings {
            raw.extend(self.find_utf16(data));
            raw.sort_by_key(|m| (m.offset, m.encoding));
            raw.dedup_by(|a, b| a.offset == b.offset && a.key == b.key && a.rule == b.rule);
        }
        let allowed = locate_and_allow(data, &mut raw);
        (raw, allowed)
    }

    /// The matches in the UTF-16 strings of a binary blob ([`decode::utf16_runs`]), placed at the
    /// blob offset of their first character's low byte.
    ///
    /// ASCII UTF-16 reads as text in both byte orders, one byte apart, and the neighbours of a key
    /// only in its own: a match both readings see must pass in both (`x` before a key in one is an
    /// unrelated character in the other), one only a reading sees passes in that one.
    fn find_utf16(&self, data: &[u8]) -> Vec<Match> {
        let max_len = self.rules.iter().map(|r| r.max_len).max().unwrap_or(0);
        // The match, and the two characters after it that the boundary check reads.
        let span = 2 * (max_len + 2);
        let (mut le, mut be) = (Vec::new(), Vec::new());
        decode::utf16_runs(data, span, |little, text, pos| {
            for mut m in self.find(text, false, Sniff::Text) {
                let Some(&at) = pos.get(m.offset) else {
                    continue;
                };
                m.offset = at;
                if little { le.push(m) } else { be.push(m) }
            }
        });
        be.sort_by_key(|m| m.offset);
        let seen_in = |reading: &[Match], m: &Match| {
            let from = reading.partition_point(|o| o.offset < m.offset);
            reading[from..]
                .iter()
                .take_while(|o| o.offset == m.offset)
                .any(|o| o.key == m.key && o.rule == m.rule)
        };
        let at = |i: Option<usize>, needle: &[u8]| i.is_some_and(|i| data[i..].starts_with(needle));
        let mut out: Vec<Match> = Vec::with_capacity(le.len() + be.len());
        for m in &le {
            if !at(m.offset.checked_sub(1), decode::UTF16BE_SG) || seen_in(&be, m) {
                out.push(m.clone());
            }
        }
        for m in be {
            if !at(Some(m.offset), decode::UTF16LE_SG) {
                out.push(m);
            }
        }
        out
    }

    /// The matches in `data` by offset, without line and column; with `nested`, also those of
    /// base64 or percent-encoding inside base64 (the decoded outer text is searched with `nested`
    /// off, so the depth stays 2).
    fn find(&self, data: &[u8], nested: bool, binary: Sniff) -> Vec<Match> {
        let mut raw: Vec<Match> = Vec::new();
        let mut state = ScanState::new(self.rules.len(), binary);
        for hit in self.prefilter.find_iter(data) {
            let needle = self.needles[hit.pattern().as_usize()];
            match needle.kind {
                HitKind::Plain => self.plain_hit(needle.rule, data, hit.start(), &mut state, &mut raw),
                HitKind::Base64 { skip, shift, kw } => self.base64_hit(
                    needle.rule,
                    kw,
                    data,
                    hit.start(),
                    skip,
                    shift,
                    &mut state,
                    &mut raw,
                ),
                HitKind::Percent { kw } => {
                    self.percent_hit(needle.rule, kw, data, hit.start(), false, &mut state, &mut raw)
                }
                HitKind::Escape { kw } => {
                    self.percent_hit(needle.rule, kw, data, hit.start(), true, &mut state, &mut raw)
                }
                HitKind::Nested { skip } if nested => {
                    self.nested_hit(needle.rule, data, hit.start(), skip, &mut state, &mut raw)
                }
                HitKind::Nested { .. } => {}
            }
        }
        self.finish(data, state, &mut raw);
        raw.sort_by_key(|m| (m.offset, m.encoding));
        raw.dedup_by(|a, b| a.offset == b.offset && a.key == b.key && a.rule == b.rule);
        raw
    }

    /// A hit of base64 of the keyword's base64 (or percent) form: decodes the outer base64 text
    /// around it, from three quanta before (the inner quantum and the one before it) to
    /// [`NESTED_SPAN`] characters on or the end of the text, and searches that for encoded matches.
    /// A later hit in the same phase (blob offset modulo 4) that such a window already covered is
    /// skipped, so each byte is decoded at most once per phase.
    fn nested_hit(
        &self,
        r: usize,
        data: &[u8],
        hit: usize,
        skip: usize,
        state: &mut ScanState,
        out: &mut Vec<Match>,
    ) {
        let Some(quantum) = hit.checked_sub(skip) else {
            return;
        };
        if !data[quantum..hit].iter().all(|b| decode::is_b64(*b)) {
            return;
        }
        // Outer characters the inner window needs past the quantum: the inner base64 of one match
        // and the byte after it, from up to three characters before the inner keyword, and the
        // quantum before; each rounded up to whole quanta.
        let inner = 4 * (self.rules[r].max_len + 4).div_ceil(3) + 4;
        let need = 4 * (inner + 3).div_ceil(3) + 4;
        let slot = &mut state.nested[r][quantum % 4];
        if let Some(w) = slot
            && quantum >= w.start
            && (quantum >= w.start + NESTED_BEFORE || w.at_text_start)
            && (quantum + need <= w.end || w.at_text_end)
            && quantum <= w.end
        {
            return;
        }
        let back = data[..quantum]
            .iter()
            .rev()
            .take(NESTED_BEFORE)
            .take_while(|b| decode::is_b64(**b))
            .count();
        let start = quantum - back / 4 * 4;
        let span = need.max(NESTED_SPAN);
        let fwd = data[quantum..]
            .iter()
            .take(span)
            .take_while(|b| decode::is_b64(**b))
            .count();
        let end = quantum + fwd;
        *slot = Some(NestedWindow {
            start,
            end,
            at_text_start: back < NESTED_BEFORE,
            at_text_end: fwd < span,
        });
        let text = &data[start..end];
        let outer = match (
            text.iter().any(|b| matches!(b, b'-' | b'_')),
            text.iter().any(|b| matches!(b, b'+' | b'/')),
        ) {
            (true, true) => return,
            (true, false) => Layer::Base64url,
            _ => Layer::Base64,
        };
        let decoded = decode::base64_lenient(text);
        for mut m in self.find(&decoded, false, Sniff::Text) {
            if m.rule != r {
                continue;
            }
            let Some(inner) = Layer::of(m.encoding) else {
                continue;
            };
            m.encoding = Encoding::Nested(outer, inner);
            m.offset = start + m.offset / 3 * 4;
            out.push(m);
        }
    }

    fn plain_hit(&self, r: usize, data: &[u8], hit: usize, state: &mut ScanState, out: &mut Vec<Match>) {
        let rule = &self.rules[r];
        let cluster = &mut state.plain[r];
        let (lo, hi) = (hit.saturating_sub(rule.max_len), hit + rule.max_len);
        if !cluster.fits(lo) {
            self.match_cluster(r, data, state.binary, cluster, out, |m, _| Some(m));
        }
        cluster.push(hit, lo, hi);
        if hit >= state.invisible[r] {
            self.invisible_hit(r, data, hit, &mut state.invisible[r], out);
        }
    }

    /// A key with invisible format characters pasted inside (`SG.ab\u{200B}cd…`): the text from
    /// the hit on, without them, is matched like the blob, and a match that had one removed from
    /// inside it is reported with medium confidence and a note. Runs only when such a character
    /// follows the hit closely; reads up to [`INVISIBLE_SPAN`] bytes once, and later hits whose key
    /// would lie within what it read (`covered`) are not looked at again.
    fn invisible_hit(&self, r: usize, data: &[u8], hit: usize, covered: &mut usize, out: &mut Vec<Match>) {
        let rule = &self.rules[r];
        let near = &data[hit..data.len().min(hit + rule.max_len + INVISIBLE_SLACK)];
        let invisible_near = memchr::memchr3_iter(0xC2, 0xE2, 0xEF, near)
            .any(|i| decode::invisible_at(data, hit + i).is_some());
        if !invisible_near {
            return;
        }
        // The bytes before the hit are kept as they are, for the left boundary check.
        let before = hit.saturating_sub(INVISIBLE_BEFORE);
        let s = decode::strip_invisible(data, hit, INVISIBLE_SPAN, 2 * INVISIBLE_SPAN);
        let text = [&data[before..hit], &s.text[..]].concat();
        let pos: Vec<usize> = (before..hit).chain(s.pos.iter().copied()).collect();
        let shift = hit - before;
        let at_end = s.end >= data.len();
        // A key starting this far into the text ends, with the two bytes its right boundary
        // check reads, within it.
        let complete = if at_end {
            text.len()
        } else {
            text.len().saturating_sub(rule.max_len + 2)
        };
        *covered = pos.get(complete).copied().unwrap_or(s.end).max(hit + 1);
        let mut cluster = Cluster::default();
        for kw in &rule.spec.keywords {
            for p in memchr::memmem::find_iter(&text[shift..], kw.as_bytes()) {
                cluster.push(shift + p, 0, text.len());
            }
        }
        let removed = &s.removed;
        self.match_cluster(r, &text, Sniff::Text, &mut cluster, out, |mut m, _| {
            let start = m.offset.checked_sub(shift)?;
            let end = start + m.key.len();
            if m.offset >= complete {
                return None;
            }
            // Characters removed strictly inside the match: one before it or after it was no part
            // of it, and the match without it is found as it is.
            let lo = removed.partition_point(|(q, _)| *q <= start);
            let hi = removed.partition_point(|(q, _)| *q < end);
            let inside = removed.get(lo..hi).filter(|r| !r.is_empty())?;
            let mut counts = [0usize; decode::INVISIBLE.len()];
            for (_, k) in inside {
                counts[*k] += 1;
            }
            let what: Vec<String> = counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{} x{n}", decode::INVISIBLE[k].1))
                .collect();
            m.offset = pos[m.offset];
            m.confidence = Confidence::Medium;
            m.note = Some(format!(
                "invisible characters removed from inside the key: {}",
                what.join(", ")
            ));
            Some(m)
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn base64_hit(
        &self,
        r: usize,
        kw: usize,
        data: &[u8],
        hit: usize,
        skip: usize,
        shift: usize,
        state: &mut ScanState,
        out: &mut Vec<Match>,
    ) {
        let rule = &self.rules[r];
        let max_len = rule.max_len;
        let Some(quantum) = hit.checked_sub(skip) else {
            return;
        };
        if !data[quantum..hit].iter().all(|b| decode::is_b64(*b)) {
            return;
        }
        let runs = &mut state.base64[r];
        let mut found = None;
        for (i, st) in runs.iter_mut().enumerate() {
            if st.run.quanta.first().is_none_or(|q| quantum < *q) {
                continue;
            }
            if quantum >= st.run.end() && quantum - st.run.end() <= B64_GAP {
                st.run.extend_past(data, quantum);
            }
            if let Some(qi) = st.run.quantum_index(quantum) {
                found = Some((i, qi));
                break;
            }
        }
        let (i, qi) = match found {
            Some(f) => f,
            None => {
                // Runs that no later hit can fall in (hits come in offset order, their quanta at
                // most 3 characters before them) are matched and dropped; the others are phases of
                // the same text, of which there are four.
                let mut j = 0;
                while j < runs.len() {
                    let st = &runs[j];
                    let dead = if st.run.done() {
                        st.run.end() <= quantum
                    } else {
                        st.run.end() + B64_GAP < quantum
                    };
                    if dead || runs.len() >= MAX_B64_RUNS {
                        let mut st = runs.swap_remove(j);
                        self.flush_base64(r, data, &mut st, out);
                    } else {
                        j += 1;
                    }
                }
                let run = decode::Base64Run::start(data, quantum);
                let qi = run.quanta.len();
                runs.push(Base64State {
                    run,
                    cluster: Cluster::default(),
                });
                (runs.len() - 1, qi)
            }
        };
        let st = &mut runs[i];
        st.run.extend_to(data, qi + (shift + max_len + 2).div_ceil(3));
        let kw = rule.spec.keywords[kw].as_bytes();
        let mut p = 3 * qi + shift;
        if st.run.bytes.get(p..p + kw.len()) != Some(kw) {
            return;
        }
        if !st.cluster.fits(p.saturating_sub(max_len)) {
            self.flush_base64(r, data, st, out);
            if st.run.quanta.len() > DRAIN_AT {
                let k = p.saturating_sub(max_len + 8) / 3;
                st.run.drain(k);
                st.cluster.shift(3 * k);
                p -= 3 * k;
            }
        }
        st.cluster.push(p, p.saturating_sub(max_len), p + max_len);
    }

    fn flush_base64(&self, r: usize, data: &[u8], st: &mut Base64State, out: &mut Vec<Match>) {
        let max_len = self.rules[r].max_len;
        let quanta = &st.run.quanta;
        self.match_cluster(
            r,
            &st.run.bytes,
            Sniff::Text,
            &mut st.cluster,
            out,
            |mut m, hit| {
                let quantum = quanta[hit / 3];
                m.encoding = decode::base64_alphabet(data, quantum, hit % 3, max_len)?;
                m.offset = quantum;
                Some(m)
            },
        );
    }

    /// A `%XX` hit, or with `escapes` a text-escape hit: the same decode-once run, with its own
    /// decoder.
    #[allow(clippy::too_many_arguments)]
    fn percent_hit(
        &self,
        r: usize,
        kw: usize,
        data: &[u8],
        hit: usize,
        escapes: bool,
        state: &mut ScanState,
        out: &mut Vec<Match>,
    ) {
        let rule = &self.rules[r];
        let max_len = rule.max_len;
        let (start, slot, reach) = if escapes {
            let start = decode::escape_window_start(data, hit);
            (start, &mut state.escape[r], decode::ESCAPE_MAX)
        } else {
            (decode::percent_window_start(data, hit), &mut state.percent[r], 3)
        };
        // A hit that does not touch the decoded text starts a new run.
        if let Some(mut st) = slot.take_if(|st| start > st.run.end()) {
            self.flush_percent(r, data, &mut st, out);
        }
        let st = slot.get_or_insert_with(|| PercentState {
            run: if escapes {
                decode::PercentRun::escapes(start)
            } else {
                decode::PercentRun::start(start)
            },
            escapes,
            cluster: Cluster::default(),
        });
        st.run.extend_to(data, hit + reach * (max_len + 2));
        let Some(mut p) = st.run.index_of(hit) else {
            return;
        };
        // Hits that decode to no keyword (`SG&#…` not closed, `%53%47%2F`) drain the run too, so a
        // blob of them keeps it short.
        if st.run.bytes.len() > DRAIN_AT && st.cluster.hits.is_empty() {
            let k = p.saturating_sub(max_len + 8);
            st.run.drain(k);
            st.cluster.shift(k);
            p -= k;
        }
        let kw = rule.spec.keywords[kw].as_bytes();
        if st.run.bytes.get(p..p + kw.len()) != Some(kw) {
            return;
        }
        if !st.cluster.fits(p.saturating_sub(max_len)) {
            self.flush_percent(r, data, st, out);
            if st.run.bytes.len() > DRAIN_AT {
                let k = p.saturating_sub(max_len + 8);
                st.run.drain(k);
                st.cluster.shift(k);
                p -= k;
            }
        }
        st.cluster.push(p, p.saturating_sub(max_len), p + max_len);
    }

    fn flush_percent(&self, r: usize, data: &[u8], st: &mut PercentState, out: &mut Vec<Match>) {
        let pos = &st.run.pos;
        let escapes = st.escapes;
        self.match_cluster(r, &st.run.bytes, Sniff::Text, &mut st.cluster, out, |mut m, _| {
            let start = m.offset;
            m.offset = pos[start];
            m.encoding = if escapes {
                // The match's own text says which escapes wrote it; one with none is a plain key
                // next to an escaped one, found by the plain pass.
                let last = pos.get(start + m.key.len().checked_sub(1)?)?;
                let text = &data[m.offset..=*last];
                if memchr::memchr(b'\\', text).is_some() {
                    Encoding::UnicodeEscape
                } else if memchr::memchr(b'&', text).is_some() {
                    Encoding::HtmlEntity
                } else {
                    return None;
                }
            } else {
                Encoding::Percent
            };
            Some(m)
        });
    }

    fn finish(&self, data: &[u8], mut state: ScanState, out: &mut Vec<Match>) {
        for r in 0..self.rules.len() {
            self.match_cluster(r, data, state.binary, &mut state.plain[r], out, |m, _| Some(m));
            for st in &mut state.base64[r] {
                self.flush_base64(r, data, st, out);
            }
            if let Some(st) = &mut state.percent[r] {
                self.flush_percent(r, data, st, out);
            }
            if let Some(st) = &mut state.escape[r] {
                self.flush_percent(r, data, st, out);
            }
        }
    }

    /// Runs the rule's regex once over the union of the cluster's hit windows in `buf` and keeps the
    /// matches that cover a hit and pass the rule's filters; `adjust` gets each with the first hit it
    /// covers and may place it in the blob or drop it. Empties the cluster.
    fn match_cluster(
        &self,
        rule_idx: usize,
        buf: &[u8],
        binary: Sniff,
        cluster: &mut Cluster,
        out: &mut Vec<Match>,
        mut adjust: impl FnMut(Match, usize) -> Option<Match>,
    ) {
        let Some(&last) = cluster.hits.last() else {
            return;
        };
        let rule = &self.rules[rule_idx];
        // Base64 hits of different alignments can arrive a quantum out of order; a sorted vector
        // sorts in one pass.
        cluster.hits.sort_unstable();
        let ws = cluster.lo.min(buf.len());
        let we = cluster.hi.min(buf.len());
        let window = &buf[ws..we];
        let hits = &cluster.hits;
        let mut h = 0;
        // Most hits are near misses: the match-only search (a lazy DFA) rejects them cheaply; the
        // slower capture search runs only for matches that survive the boundary check.
        for m in rule.regex.find_iter(window) {
            let (start, end) = (ws + m.start(), ws + m.end());
            while h < hits.len() && hits[h] < start {
                h += 1;
            }
            if h == hits.len() || hits[h] >= end {
                continue;
            }
            let bound = bounded(rule, buf, start, end, binary);
            if bound == Bound::Glued {
                continue;
            }
            // The previous cluster, cut only for its length, already matched what covers its
            // last hit.
            if cluster.prev_last.is_some_and(|p| start <= p) {
                continue;
            }
            let Some(caps) = rule.regex.captures_at(window, m.start()) else {
                continue;
            };
            if is_placeholder(rule, &caps) {
                continue;
            }
            let confidence = confidence(rule, &caps);
            if bound == Bound::LengthPrefixed && confidence != Confidence::High {
                continue;
            }
            // The regex only matches bytes of the rule's token alphabet, which is ASCII.
            let Ok(key) = std::str::from_utf8(&buf[start..end]) else {
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
                && rule.ignore_fingerprints.contains(&crate::key::fingerprint(key))
            {
                continue;
            }
            let key_id = rule
                .id_group
                .and_then(|g| caps.get(g))
                .and_then(|s| std::str::from_utf8(s.as_bytes()).ok())
                .map(str::to_string);
            let m = Match {
                rule: rule_idx,
                key: key.to_string(),
                key_id,
                offset: start,
                line: 0,
                column: 0,
                encoding: Encoding::Plain,
                confidence,
                note: None,
            };
            if let Some(m) = adjust(m, hits[h]) {
                out.push(m);
            }
        }
        cluster.prev_last = Some(last);
        cluster.hits.clear();
    }
}

/// Bytes after a keyword hit in which an invisible character sends it to
/// [`Detector::invisible_hit`], past the rule's longest match.
const INVISIBLE_SLACK: usize = 11;
/// Bytes kept before the hit in the stripped text: the boundary check reads at most this far back.
const INVISIBLE_BEFORE: usize = 16;
/// Bytes of text (invisible characters removed) read from a hit that has one near it.
const INVISIBLE_SPAN: usize = 4096;

/// Longest stretch of merged windows matched in one regex pass: bounds the hits kept in memory.
const CLUSTER_SPAN: usize = 1 << 16;
/// Decoded bytes (or quanta) a run keeps before forgetting what no later hit can reach.
const DRAIN_AT: usize = 1 << 16;
/// How far past its end a base64 run is decoded to see whether a later hit is in its phase.
const B64_GAP: usize = 256;
/// A run of base64 text has four phases; a hit in none of the live runs starts another.
const MAX_B64_RUNS: usize = 4;
/// Outer base64 characters decoded before a nested hit's quantum: the inner quantum the keyword
/// starts in, and the one before it for the boundary check.
const NESTED_BEFORE: usize = 12;
/// Outer base64 characters a nested window decodes past its hit (at least), so the hits of one
/// long value share a window.
const NESTED_SPAN: usize = 4096;

/// The outer text decoded for a nested hit, in blob offsets.
#[derive(Clone, Copy)]
struct NestedWindow {
    start: usize,
    end: usize,
    /// The base64 text starts at `start` (fewer than [`NESTED_BEFORE`] characters before the hit).
    at_text_start: bool,
    /// The base64 text ends at `end`.
    at_text_end: bool,
}

/// Keyword hits whose match windows overlap, in the coordinates of the buffer they are in.
#[derive(Default)]
struct Cluster {
    lo: usize,
    hi: usize,
    hits: Vec<usize>,
    /// The last hit of the previous cluster of the same buffer.
    prev_last: Option<usize>,
}

impl Cluster {
    /// Whether a hit whose window starts at `lo` joins this cluster (else the cluster is matched
    /// first).
    fn fits(&self, lo: usize) -> bool {
        self.hits.is_empty() || (lo < self.hi && self.hi - self.lo < CLUSTER_SPAN)
    }

    fn push(&mut self, hit: usize, lo: usize, hi: usize) {
        if self.hits.is_empty() {
            (self.lo, self.hi) = (lo, hi);
        } else {
            (self.lo, self.hi) = (self.lo.min(lo), self.hi.max(hi));
        }
        self.hits.push(hit);
    }

    /// The buffer lost its first `k` bytes.
    fn shift(&mut self, k: usize) {
        self.prev_last = self.prev_last.and_then(|p| p.checked_sub(k));
    }
}

struct Base64State {
    run: decode::Base64Run,
    cluster: Cluster,
}

struct PercentState {
    run: decode::PercentRun,
    escapes: bool,
    cluster: Cluster,
}

/// Per rule: the pending plain cluster, the live base64 runs, the percent run and the text-escape
/// run.
struct ScanState {
    plain: Vec<Cluster>,
    base64: Vec<Vec<Base64State>>,
    percent: Vec<Option<PercentState>>,
    escape: Vec<Option<PercentState>>,
    /// The last nested window per phase (blob offset modulo 4).
    nested: Vec<[Option<NestedWindow>; 4]>,
    /// Whether the blob is binary ([`sniff`]): a key may follow its own length prefix.
    binary: Sniff,
    /// Per rule: hits before this offset were read by an earlier [`Detector::invisible_hit`].
    invisible: Vec<usize>,
}

impl ScanState {
    fn new(rules: usize, binary: Sniff) -> ScanState {
        ScanState {
            binary,
            invisible: vec![0; rules],
            plain: (0..rules).map(|_| Cluster::default()).collect(),
            base64: (0..rules).map(|_| Vec::new()).collect(),
            percent: (0..rules).map(|_| None).collect(),
            escape: (0..rules).map(|_| None).collect(),
            nested: (0..rules).map(|_| [None; 4]).collect(),
        }
    }
}

/// Whether a match stands alone in its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Alone,
    Glued,
    /// Glued, but in a binary blob and right after its own length (see [`length_prefixed`]): a
    /// key if it has SendGrid's canonical form.
    LengthPrefixed,
}

/// A match is a key only if it is not part of a longer token: no token character directly before or
/// after it, and no `.`+token run glued to either side (`x.SG.…`, `SG.….x`). In a binary blob a
/// match right after its own length prefix is a string of a compiled or serialized file, whatever
/// follows it.
fn bounded(rule: &Rule, data: &[u8], start: usize, end: usize, binary: Sniff) -> Bound {
    if standalone(rule, data, start, end) {
        Bound::Alone
    } else if binary != Sniff::Text && rule.spec.sendgrid_key && length_prefixed(data, start, end, binary) {
        Bound::LengthPrefixed
    } else {
        Bound::Glued
    }
}

/// Most length-prefixed strings: these formats write the length right before the bytes, and 69 is
/// `E`, a token character. The length is one byte (`.pyc` marshal, dex and protobuf varints,
/// msgpack str8, pickle SHORT_BINUNICODE) or the last byte of a big-endian one (Java class constant
/// pool and serialization u2, Redis RDB's 14-bit `@E`), or a little-endian u16 to u64 (pickle
/// BINUNICODE, BSON, bincode) whose high zero bytes come between it and the string. A string that
/// holds the key and a line ending (or, as BSON counts, its NUL) counts that too. The next field
/// comes right after the string, so the byte after the match says nothing.
///
/// A blob binary only by its encoding (Latin-1 or cp1252 text is not UTF-8) may be text: there
/// the length byte must follow a byte no text has (a msgpack `str8` type, `0xd9`), so `"E` + key
/// in a legacy-encoded source file stays a near miss.
fn length_prefixed(data: &[u8], start: usize, end: usize, binary: Sniff) -> bool {
    let n = end - start;
    let tail = match data.get(end..) {
        Some([b'\r', b'\n', ..]) => 2,
        Some([b'\n' | 0, ..]) => 1,
        _ => 0,
    };
    let zeros = data[..start]
        .iter()
        .rev()
        .take(7)
        .take_while(|b| **b == 0)
        .count();
    let Some(&len) = start.checked_sub(zeros + 1).map(|i| &data[i]) else {
        return false;
    };
    if binary == Sniff::Encoding {
        let type_byte = start.checked_sub(zeros + 2).map(|i| data[i]);
        if !type_byte.is_some_and(|b| b >= 0x80 || (b < 0x20 && !b.is_ascii_whitespace())) {
            return false;
        }
    }
    let len = usize::from(len);
    len == n || len == n + tail
}

/// Bytes looked at to tell a binary blob.
const BINARY_SNIFF: usize = 1024;

/// What the first [`BINARY_SNIFF`] bytes of a blob say of it: it is binary when they hold a NUL or
/// another C0 control text does not use (tab, line feed, vertical tab, form feed, carriage return
/// and escape it does: a one-field protobuf, `0a 45` + key + `10 01`, is all ASCII but its tags),
/// or are not UTF-8 (a character cut by the end of the sample does not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniff {
    Text,
    /// Not UTF-8, but no NUL or control byte that text does not hold: maybe text in a legacy
    /// encoding.
    Encoding,
    /// A NUL or a control byte text does not hold.
    Bytes,
}

/// A C0 control that text does not hold.
fn control(b: u8) -> bool {
    b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b)
}

pub(crate) fn sniff(data: &[u8]) -> Sniff {
    let head = &data[..data.len().min(BINARY_SNIFF)];
    if head.iter().any(|&b| control(b)) {
        return Sniff::Bytes;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Sniff::Text,
        // `error_len` is `None` for a sequence the end of the input cuts short.
        // Controls are ruled out above: what is left may be text in a legacy encoding.
        Err(e) if e.error_len().is_some() || head.len() == data.len() => Sniff::Encoding,
        Err(_) => Sniff::Text,
    }
}

/// A match with no token character, nor `.`+token run, glued to either side.
fn standalone(rule: &Rule, data: &[u8], start: usize, end: usize) -> bool {
    let tok = |i: usize| rule.token[data[i] as usize];
    let glued_before = start > 0
        && ((tok(start - 1)
            && !after_escaped_delimiter(rule, data, start)
            && !after_text_escape(rule, data, start))
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

/// `"…\nSG.…"`, `key\u003dSG.…`: the token character before the match ends a backslash escape
/// (JSON, JavaScript, Python) of a character outside the token alphabet, so in the text the escape
/// stands for, the match stands alone.
fn after_text_escape(rule: &Rule, data: &[u8], start: usize) -> bool {
    match decode::escape_ending_at(data, start) {
        Some((code, s)) => data[s] == b'\\' && u8::try_from(code).map_or(true, |c| !rule.token[c as usize]),
        None => false,
    }
}

/// SendGrid issues keys as canonical base64url of 16 and 32 random bytes: the id's last character
/// carries 4 spare zero bits and the secret's last 2. Other rules have no such form to check.
fn confidence(rule: &Rule, caps: &regex::bytes::Captures<'_>) -> Confidence {
    if !rule.spec.sendgrid_key {
        return Confidence::High;
    }
    let last = |g: &str| caps.name(g).and_then(|m| m.as_bytes().last().copied());
    match (last("id"), last("secret")) {
        (Some(i), Some(s)) if b"AQgw".contains(&i) && b"AEIMQUYcgkosw048".contains(&s) => Confidence::High,
        _ => Confidence::Medium,
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

/// Fills in line and column for matches sorted by offset and drops those on a line holding
/// [`ALLOW_MARKER`], in one forward pass: a long line with many matches is walked once, not once per
/// match. Returns the dropped matches.
fn locate_and_allow(data: &[u8], matches: &mut Vec<Match>) -> Vec<Match> {
    let mut dropped = Vec::new();
    let mut cursor = LineCursor::new(data);
    // (line start, whether that line holds the marker) of the last line looked at.
    let mut line_allowed: Option<(usize, bool)> = None;
    matches.retain_mut(|m| {
        let Some((line, column, line_start)) = cursor.locate(m.offset) else {
            let (line, column) = locate_naive(data, m.offset);
            (m.line, m.column) = (line, column);
            let allowed = allowed_naive(data, m.offset);
            if allowed {
                dropped.push(m.clone());
            }
            return !allowed;
        };
        (m.line, m.column) = (line, column);
        let allowed = match line_allowed {
            Some((start, allowed)) if start == line_start => allowed,
            _ => {
                let off = m.offset.min(data.len());
                let end = memchr::memchr(b'\n', &data[off..]).map_or(data.len(), |i| off + i);
                let allowed = memchr::memmem::find(&data[line_start..end], ALLOW_MARKER).is_some();
                line_allowed = Some((line_start, allowed));
                allowed
            }
        };
        if allowed {
            dropped.push(m.clone());
        }
        !allowed
    });
    dropped
}

/// Code points in `bytes`, an invalid byte counting as one.
fn code_points(bytes: &[u8]) -> u64 {
    bytes
        .utf8_chunks()
        .map(|c| (c.valid().chars().count() + c.invalid().len()) as u64)
        .sum()
}

/// Line and column of increasing offsets, by a cursor that only moves forward. Counting code points
/// in pieces gives the same total as counting the whole line prefix as long as each piece starts at
/// a byte that is not a UTF-8 continuation byte: no character, valid or not, spans such a boundary.
struct LineCursor<'a> {
    data: &'a [u8],
    line: u64,
    line_start: usize,
    pos: usize,
    /// Column of `pos`.
    column: u64,
}

impl<'a> LineCursor<'a> {
    fn new(data: &'a [u8]) -> LineCursor<'a> {
        // A leading BOM takes no column.
        let pos = if data.starts_with(BOM) { BOM.len() } else { 0 };
        LineCursor {
            data,
            line: 1,
            line_start: 0,
            pos,
            column: 1,
        }
    }

    /// (line, column, line start) of `offset`; `None` for an offset behind the cursor.
    fn locate(&mut self, offset: usize) -> Option<(u64, u64, usize)> {
        let off = offset.min(self.data.len());
        if off < self.pos {
            return None;
        }
        let seg = &self.data[self.pos..off];
        if let Some(last) = memchr::memrchr(b'\n', seg) {
            self.line += memchr::memchr_iter(b'\n', seg).count() as u64;
            self.line_start = self.pos + last + 1;
            self.pos = self.line_start;
            self.column = 1;
        }
        let mut cut = off;
        while cut > self.pos && cut < self.data.len() && is_continuation(self.data[cut]) {
            cut -= 1;
        }
        self.column += code_points(&self.data[self.pos..cut]);
        self.pos = cut;
        let column = self.column + code_points(&self.data[cut..off]);
        Some((self.line, column, self.line_start))
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Line and column of one offset, counted from the start of the blob.
fn locate_naive(data: &[u8], offset: usize) -> (u64, u64) {
    let off = offset.min(data.len());
    let line = 1 + memchr::memchr_iter(b'\n', &data[..off]).count() as u64;
    let line_start = memchr::memrchr(b'\n', &data[..off]).map_or(0, |i| i + 1);
    let prefix = &data[line_start..off];
    let prefix = if line_start == 0 {
        prefix.strip_prefix(BOM).unwrap_or(prefix)
    } else {
        prefix
    };
    (line, 1 + code_points(prefix))
}

fn allowed_naive(data: &[u8], offset: usize) -> bool {
    let offset = offset.min(data.len());
    let start = memchr::memrchr(b'\n', &data[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &data[offset..]).map_or(data.len(), |i| offset + i);
    memchr::memmem::find(&data[start..end], ALLOW_MARKER).is_some()
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

    /// Random bytes rich in what line and column counting cares about.
    fn tricky_bytes(rng: &mut fastrand::Rng, n: usize) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"\n",
            b"\r\n",
            b"a",
            b"SG.",
            "é".as_bytes(),
            "€".as_bytes(),
            "😀".as_bytes(),
            b"\xEF\xBB\xBF",
            b"\xFF",
            b"\x80",
            b"\xE2\x82",
            b"\xF0\x9F",
            b"\x00",
            ALLOW_MARKER,
        ];
        let mut out = Vec::new();
        if rng.bool() {
            out.extend_from_slice(BOM);
        }
        while out.len() < n {
            out.extend_from_slice(PIECES[rng.usize(..PIECES.len())]);
        }
        out
    }

    #[test]
    fn line_cursor_agrees_with_counting_from_the_start() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let len = rng.usize(0..300);
            let data = tricky_bytes(&mut rng, len);
            let mut offsets: Vec<usize> = (0..rng.usize(0..20)).map(|_| rng.usize(..=data.len())).collect();
            offsets.sort_unstable();
            let mut cursor = LineCursor::new(&data);
            for &off in &offsets {
                let expected = locate_naive(&data, off);
                let got = match cursor.locate(off) {
                    Some((line, column, line_start)) => {
                        let naive_start = memchr::memrchr(b'\n', &data[..off]).map_or(0, |i| i + 1);
                        assert_eq!(line_start, naive_start, "line start of {off} in {data:?}");
                        (line, column)
                    }
                    None => {
                        // Only an offset inside a leading BOM is behind the cursor.
                        assert!(data.starts_with(BOM) && off < BOM.len(), "{off} in {data:?}");
                        expected
                    }
                };
                assert_eq!(got, expected, "offset {off} in {data:?}");
            }
        }
    }

    #[test]
    fn inline_allow_in_one_pass_agrees_with_per_match_lookup() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..2000 {
            let len = rng.usize(0..400);
            let data = tricky_bytes(&mut rng, len);
            let mut offsets: Vec<usize> = (0..rng.usize(0..30)).map(|_| rng.usize(..=data.len())).collect();
            offsets.sort_unstable();
            let mut matches: Vec<Match> = offsets
                .iter()
                .map(|&offset| Match {
                    rule: 0,
                    key: String::new(),
                    key_id: None,
                    offset,
                    line: 0,
                    column: 0,
                    encoding: Encoding::Plain,
                    confidence: Confidence::High,
                    note: None,
                })
                .collect();
            let dropped = locate_and_allow(&data, &mut matches);
            let dropped: Vec<usize> = dropped.iter().map(|m| m.offset).collect();
            let dropped_naive: Vec<usize> = offsets
                .iter()
                .copied()
                .filter(|&off| allowed_naive(&data, off))
                .collect();
            assert_eq!(dropped, dropped_naive, "dropped in {data:?}");
            let got: Vec<(usize, u64, u64)> = matches.iter().map(|m| (m.offset, m.line, m.column)).collect();
            let expected: Vec<(usize, u64, u64)> = offsets
                .iter()
                .filter(|&&off| !allowed_naive(&data, off))
                .map(|&off| {
                    let (line, column) = locate_naive(&data, off);
                    (off, line, column)
                })
                .collect();
            assert_eq!(got, expected, "in {data:?}");
        }
    }

    #[test]
    fn keys_among_runs_of_hits_are_found_once_across_cluster_cuts() {
        use base64::Engine;
        let d = detector();
        let k = key();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s).into_bytes();
        let pct = |s: &[u8]| -> Vec<u8> { s.iter().flat_map(|b| format!("%{b:02X}").into_bytes()).collect() };
        // Long enough that clusters are cut and decoded runs drained several times.
        let n = 3 * CLUSTER_SPAN / 4 + 7;
        let cases: Vec<(Vec<u8>, Encoding)> = vec![
            (
                [b"SG.".repeat(n), b" ".to_vec(), k.clone().into_bytes()].concat(),
                Encoding::Plain,
            ),
            (
                b64(&[b"SG.".repeat(n), b"=".to_vec(), k.clone().into_bytes()].concat()),
                Encoding::Base64,
            ),
            (
                pct(&[b"SG.".repeat(n), b"=".to_vec(), k.clone().into_bytes()].concat()),
                Encoding::Percent,
            ),
        ];
        for (unit, encoding) in cases {
            let data = [unit.clone(), b"\n".to_vec(), unit.clone(), b"\n".to_vec(), unit].concat();
            let m = d.scan(&data);
            let got: Vec<(u64, &str, Encoding)> =
                m.iter().map(|m| (m.line, m.key.as_str(), m.encoding)).collect();
            let expected: Vec<(u64, &str, Encoding)> = (1..=3).map(|l| (l, k.as_str(), encoding)).collect();
            assert_eq!(got, expected, "{encoding:?}");
        }
    }

    #[test]
    fn base64_and_percent_inside_base64_are_found_at_every_alignment() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let d = detector();
        let k = key();
        let pct: String = k.bytes().map(|b| format!("%{b:02X}")).collect();
        let b64 = |s: &[u8]| STANDARD.encode(s);
        for outer_pad in 0..3 {
            for inner_pad in 0..3 {
                let env = format!("{}SENDGRID_API_KEY={k}\n", "#".repeat(inner_pad));
                let inner_b64 = format!("{}{}", "x".repeat(outer_pad), b64(env.as_bytes()));
                let inner_pct = format!("{}key={pct}&", "x".repeat(outer_pad + inner_pad));
                let cases = [
                    (b64(inner_b64.as_bytes()), "base64>base64"),
                    (URL_SAFE.encode(inner_b64.as_bytes()), "base64url>base64"),
                    (b64(inner_pct.as_bytes()), "base64>percent"),
                ];
                for (text, encoding) in cases {
                    let data = format!("apiVersion: v1\ndata:\n  env: {text}\n");
                    let found = d.scan(data.as_bytes());
                    let got: Vec<(&str, &str, u64)> = found
                        .iter()
                        .map(|m| (m.key.as_str(), m.encoding.as_str(), m.line))
                        .collect();
                    // A URL-safe outer text without `-` or `_` is also valid standard base64.
                    let encoding = if text.contains(['-', '_']) {
                        encoding.to_string()
                    } else {
                        encoding.replace("base64url>", "base64>")
                    };
                    assert_eq!(
                        got,
                        vec![(k.as_str(), encoding.as_str(), 3)],
                        "{outer_pad} {inner_pad} {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn binary_is_a_nul_or_invalid_utf8_in_the_first_kib() {
        let is_binary = |data: &[u8]| sniff(data) != Sniff::Text;
        assert!(!is_binary(b"plain text\n"));
        assert!(is_binary(b"text\0"));
        assert!(is_binary(b"\x80\x02pickle"));
        // A character the end of the sample cuts is still text; one the end of the blob cuts is not.
        let cut = [vec![b'a'; BINARY_SNIFF - 1], "é".as_bytes().to_vec()].concat();
        assert!(!is_binary(&cut));
        assert!(is_binary(&cut[..BINARY_SNIFF]));
        // Past the sample, anything goes.
        assert!(!is_binary(&[vec![b'a'; BINARY_SNIFF], vec![0]].concat()));
    }

    #[test]
    fn length_prefixes_in_the_encodings_formats_use() {
        let k = key();
        let at = |before: &[u8], after: &[u8]| {
            let data = [before, k.as_bytes(), after].concat();
            length_prefixed(&data, before.len(), before.len() + k.len(), Sniff::Bytes)
        };
        for before in [
            &b"E"[..],
            b"\x00E",
            b"@E",
            b"\x8cE",
            b"t\x00E",
            b"XE\x00\x00\x00",
            b"E\0\0\0\0\0\0\0",
        ] {
            assert!(at(before, b"zq"), "{before:?}");
        }
        assert!(at(b"F", b"\n"));
        assert!(at(b"G", b"\r\n"));
        assert!(at(b"F", b"\0"));
        for (before, after) in [
            (&b"F"[..], &b"x"[..]),
            (b"D", b""),
            (b"", b""),
            (b"E\0\0\0\0\0\0\0\0", b""),
        ] {
            assert!(!at(before, after), "{before:?} {after:?}");
        }
        // Binary only by its encoding: the length must follow a byte text does not hold.
        let enc = |before: &[u8]| {
            let data = [before, k.as_bytes()].concat();
            length_prefixed(&data, before.len(), data.len(), Sniff::Encoding)
        };
        assert!(enc(b"\xd9E"));
        assert!(!enc(b"\"E"));
        assert!(!enc(b"E"));
    }

    #[test]
    fn legacy_encoded_text_is_binary_only_by_its_encoding() {
        assert_eq!(sniff(b"// caf\xe9\nvar a;\n"), Sniff::Encoding);
        assert_eq!(sniff(b"\x81\xa3key\xd9E"), Sniff::Encoding);
        assert_eq!(sniff(b"\xac\xed\x00\x05"), Sniff::Bytes);
        assert_eq!(sniff(b"\x80\x02\x8c\x03"), Sniff::Bytes);
        assert_eq!(sniff(b"form\x0cfeed\ttab\x1b[1m ok"), Sniff::Text);
        // A control text does not hold makes even UTF-8 bytes: a one-field protobuf is ASCII.
        assert_eq!(sniff(b"\x0aEkey\x10\x01"), Sniff::Bytes);
    }

    #[test]
    fn entropy() {
        assert!(shannon_entropy(b"aaaa") < 0.01);
        assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-9);
    }
}
