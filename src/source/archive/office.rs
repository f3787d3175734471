//! Office documents (OOXML: docx, xlsx, pptx; ODF: odt, ods, odp) write a paragraph's text in
//! pieces: Word splits it into runs (`<w:r>`) after a spell check or an edit session, so a key
//! pasted into a document may sit in the XML as `SG.ab</w:t></w:r><w:proofErr …/><w:r …><w:t>cd…`,
//! which no scan of the member's bytes sees whole.
//!
//! This reads the paragraphs of the members that hold a document's text with a linear tag scan
//! (no DOM; the output is never longer than the input) and gives back, one line per paragraph,
//! the tokens that a piece boundary cuts: where the text on both sides of a boundary is made of
//! key characters. Only those, so a key already whole in one piece (found by the member's own
//! scan) is not reported a second time; a line's number is its paragraph's.

/// How a member's XML marks paragraphs and their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// OOXML: paragraphs `w:p`, `a:p` (and a shared string `si`); text only inside `w:t`, `a:t`, `t`.
    Ooxml,
    /// ODF: paragraphs and headings `text:p`, `text:h`; all their text, inner tags dropped.
    Odf,
}

/// The dialect of a member that holds a document's text, told by its path inside the document.
pub(super) fn dialect(name: &str) -> Option<Dialect> {
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".xml"))
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    };
    match name {
        "word/document.xml"
        | "word/footnotes.xml"
        | "word/endnotes.xml"
        | "word/comments.xml"
        | "xl/sharedStrings.xml" => Some(Dialect::Ooxml),
        "content.xml" | "styles.xml" => Some(Dialect::Odf),
        _ if numbered("word/header")
            || numbered("word/footer")
            || numbered("ppt/slides/slide")
            || numbered("ppt/notesSlides/notesSlide") =>
        {
            Some(Dialect::Ooxml)
        }
        _ => None,
    }
}

/// Characters of a key (and of what glues to one): a token is a run of them.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// One line per paragraph holding the tokens cut by a piece boundary, space-separated; `None`
/// when no paragraph has one (the common case: nothing more to scan).
pub(super) fn cut_tokens(xml: &[u8], dialect: Dialect) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut any = false;
    let mut para = Paragraph::default();
    let mut in_para = false;
    // Inside a text element (OOXML only; ODF counts all text in a paragraph).
    let mut in_text = false;
    let mut at = 0;
    while at < xml.len() {
        let Some(lt) = memchr::memchr(b'<', &xml[at..]).map(|i| at + i) else {
            break;
        };
        if in_para && (in_text || dialect == Dialect::Odf) {
            para.text(&xml[at..lt]);
        }
        let Some((tag, end)) = Tag::read(xml, lt) else {
            break;
        };
        at = end;
        let local = tag.name.rsplit(|b| *b == b':').next().unwrap_or(tag.name);
        let is_para = match dialect {
            Dialect::Ooxml => local == b"p" || local == b"si",
            Dialect::Odf => tag.name == b"text:p" || tag.name == b"text:h",
        };
        if is_para {
            // A paragraph nested in another (a text box, a note) ends the outer one's line.
            if in_para {
                any |= para.finish(&mut out);
            }
            in_para = !tag.closing && !tag.empty;
            in_text = false;
            continue;
        }
        if !in_para {
            continue;
        }
        let space = match dialect {
            Dialect::Ooxml => matches!(local, b"tab" | b"br" | b"cr"),
            Dialect::Odf => matches!(tag.name, b"text:s" | b"text:tab" | b"text:line-break"),
        };
        if space {
            para.text(b" ");
        } else if dialect == Dialect::Ooxml && local == b"t" {
            in_text = !tag.closing && !tag.empty;
        }
        para.boundary();
    }
    if in_para {
        any |= para.finish(&mut out);
    }
    any.then_some(out)
}

/// The text of the paragraph being read, and where its pieces meet.
#[derive(Default)]
struct Paragraph {
    text: Vec<u8>,
    /// Offsets in `text` where one piece ends and the next begins, both sides key characters.
    cuts: Vec<usize>,
    /// A boundary was passed since the last text.
    pending: bool,
}

impl Paragraph {
    fn text(&mut self, raw: &[u8]) {
        let before = self.text.len();
        unescape(raw, &mut self.text);
        if self.text.len() == before {
            return;
        }
        if self.pending && before > 0 && is_token(self.text[before - 1]) && is_token(self.text[before]) {
            self.cuts.push(before);
        }
        self.pending = false;
    }

    fn boundary(&mut self) {
        self.pending = true;
    }

    /// Writes the paragraph's line (its cut tokens) and starts the next; whether it had any.
    fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        let had = !self.cuts.is_empty();
        // Tokens already written reach up to here: a token with several cuts is written once.
        let mut done = 0;
        for &cut in &self.cuts {
            if cut < done {
                continue;
            }
            let start = self.text[..cut]
                .iter()
                .rposition(|b| !is_token(*b))
                .map_or(0, |i| i + 1);
            let end = self.text[cut..]
                .iter()
                .position(|b| !is_token(*b))
                .map_or(self.text.len(), |i| cut + i);
            if done > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(&self.text[start..end]);
            done = end;
        }
        out.push(b'\n');
        self.text.clear();
        self.cuts.clear();
        self.pending = false;
        had
    }
}

/// One tag (or comment, declaration, processing instruction) starting at `lt`.
struct Tag<'x> {
    name: &'x [u8],
    closing: bool,
    empty: bool,
}

impl<'x> Tag<'x> {
    /// The tag at `lt` and the offset past it; `None` if the input ends inside it. Quoted
    /// attribute values may hold `>`.
    fn read(xml: &'x [u8], lt: usize) -> Option<(Tag<'x>, usize)> {
        let rest = &xml[lt..];
        let skip_to = |end: &[u8]| {
            memchr::memmem::find(rest, end).map(|i| {
                let name: &[u8] = &[];
                (
                    Tag {
                        name,
                        closing: false,
                        empty: true,
                    },
                    lt + i + end.len(),
                )
            })
        };
        if rest.starts_with(b"<!--") {
            return skip_to(b"-->");
        }
        if rest.starts_with(b"<![CDATA[") {
            // Text, but no document writer puts a paragraph's text there: passed over.
            return skip_to(b"]]>");
        }
        if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            return skip_to(b">");
        }
        let mut quote = None;
        let mut i = 1;
        let gt = loop {
            let b = *rest.get(i)?;
            match (quote, b) {
                (None, b'"' | b'\'') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None, b'>') => break i,
                _ => {}
            }
            i += 1;
        };
        let inner = &rest[1..gt];
        let closing = inner.first() == Some(&b'/');
        let empty = inner.last() == Some(&b'/');
        let body = if closing { &inner[1..] } else { inner };
        let name_end = body
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(body.len());
        Some((
            Tag {
                name: &body[..name_end],
                closing,
                empty,
            },
            lt + gt + 1,
        ))
    }
}

/// XML text with its entity and character references decoded (ASCII ones; others are kept as
/// written, which cannot join a key).
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(amp) = memchr::memchr(b'&', rest) {
        out.extend_from_slice(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.iter().take(12).position(|b| *b == b';');
        let decoded = semi.and_then(|s| {
            let entity = &rest[1..s];
            let byte = match entity {
                b"amp" => Some(b'&'),
                b"lt" => Some(b'<'),
                b"gt" => Some(b'>'),
                b"quot" => Some(b'"'),
                b"apos" => Some(b'\''),
                _ => entity.strip_prefix(b"#").and_then(|n| {
                    let n = std::str::from_utf8(n).ok()?;
                    let v = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    u8::try_from(v).ok().filter(u8::is_ascii)
                }),
            };
            byte.map(|b| (b, s + 1))
        });
        match decoded {
            Some((b, len)) => {
                out.push(b);
                rest = &rest[len..];
            }
            None => {
                out.push(b'&');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(xml: &str, d: Dialect) -> Option<String> {
        cut_tokens(xml.as_bytes(), d).map(|o| String::from_utf8(o).unwrap())
    }

    #[test]
    fn joins_runs_and_only_cut_tokens() {
        let xml = r#"<w:body><w:p w:rsidR="00A1"><w:r><w:t>key: ab</w:t></w:r><w:proofErr w:type="spellStart"/><w:r w:rsidRPr="1"><w:t xml:space="preserve">cd</w:t></w:r><w:r><w:t>ef gh</w:t></w:r></w:p><w:p><w:r><w:t>whole</w:t></w:r></w:p></w:body>"#;
        assert_eq!(lines(xml, Dialect::Ooxml).as_deref(), Some("abcdef\n\n"));
        let plain = r#"<w:p><w:r><w:t>one </w:t></w:r><w:r><w:t>two</w:t></w:r></w:p>"#;
        assert_eq!(lines(plain, Dialect::Ooxml), None);
        // Text outside w:t (field codes, attributes) is not joined.
        let instr = r#"<w:p><w:r><w:t>ab</w:t></w:r><w:r><w:instrText>cd</w:instrText></w:r></w:p>"#;
        assert_eq!(lines(instr, Dialect::Ooxml), None);
    }

    #[test]
    fn odf_spans_and_spaces() {
        let xml = r#"<office:text><text:p text:style-name="P1">k=ab<text:span text:style-name="T1">cd</text:span>ef<text:s/>gh</text:p></office:text>"#;
        assert_eq!(lines(xml, Dialect::Odf).as_deref(), Some("abcdef\n"));
    }

    #[test]
    fn entities_and_quoted_gt() {
        let xml = r#"<si><r><t a=">">x&amp;a</t></r><r><t>&#98;c</t></r></si>"#;
        assert_eq!(lines(xml, Dialect::Ooxml).as_deref(), Some("abc\n"));
    }

    #[test]
    fn members() {
        assert_eq!(dialect("word/header2.xml"), Some(Dialect::Ooxml));
        assert_eq!(dialect("ppt/slides/slide12.xml"), Some(Dialect::Ooxml));
        assert_eq!(dialect("ppt/slides/_rels/slide1.xml.rels"), None);
        assert_eq!(dialect("content.xml"), Some(Dialect::Odf));
        assert_eq!(dialect("word/styles.xml"), None);
    }
}
