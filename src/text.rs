//! Text that came from outside (file names, git metadata, API answers) made safe for a terminal.
//!
//! A file name or a commit author is chosen by whoever wrote the repository; a server's answer by
//! whoever answered. Printed raw, an `ESC` sequence in one can retitle the window, clear the screen or
//! hide lines, and a newline or carriage return can forge a report line when the output is piped.
//! Human output therefore shows every control character (C0, DEL, C1) and the Unicode line and
//! bidirectional-override separators as a visible escape (`\x1b`, `\n`, `\u{202e}`), and a literal
//! backslash as `\\`, so the shown text maps back to exactly one original. JSON and SARIF keep the
//! exact value (JSON-escaped by serde).

use std::borrow::Cow;
use std::fmt;

/// True for characters that must not reach a terminal as they are.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Line/paragraph separators and bidi controls reorder or split what the reader sees
        // (the "Trojan Source" characters).
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character shown as an escape; borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Bytes that may not be UTF-8, shown losslessly: valid UTF-8 is escaped as by [`escape`], and each
/// byte of an invalid sequence is shown as `\xNN` (unambiguous, since a literal backslash is `\\`).
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Display adapter: `format!("{}", Safe(&name))` writes the escaped form.
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// `n` and the noun in the number it takes: `count(1, "blob", "blobs")` is "1 blob". Messages never
/// hedge with "key(s)".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A base64 character's six bits, both alphabets in one table (`+`/`-` are 62, `/`/`_` 63): which
/// alphabet a run used is decided apart, so one decoded run serves either. Anything else is 63:
/// callers check the alphabet first.
pub fn base64_sextet(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(count(0u64, "key", "keys"), "0 keys");
        assert_eq!(count(1u32, "key", "keys"), "1 key");
        assert_eq!(count(2u64, "blob", "blobs"), "2 blobs");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("src/main.rs: Zoë"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_are_visible() {
        assert_eq!(escape("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(escape("x\ny\rz\t"), "x\\ny\\rz\\t");
        assert_eq!(escape("\u{9b}2J"), "\\x9b2J");
        assert_eq!(escape("\x7f"), "\\x7f");
        assert_eq!(escape("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(escape("a\\x1b"), "a\\\\x1b");
    }

    #[test]
    fn escaped_text_has_no_control_characters() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let s: String = (0..rng.usize(0..40))
                .map(|_| char::from_u32(rng.u32(0..0x3000)).unwrap_or('?'))
                .collect();
            let e = escape(&s);
            assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_lossless() {
        assert_eq!(escape_bytes(b"ok\xff\xfe.txt"), "ok\\xff\\xfe.txt");
        assert_eq!(escape_bytes("é\n".as_bytes()), "é\\n");
    }
}
