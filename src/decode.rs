//! Encoded forms of keys: base64 (standard and URL-safe, e.g. a Kubernetes Secret's `data:`) and
//! percent-encoding. The detector searches for the encodings of each rule keyword and decodes only a
//! small window around a hit, so the cost stays proportional to the hits, not to the data.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::detect::Encoding;

/// Bytes decoded from a window of the blob, and where that window starts.
pub struct Decoded {
    pub bytes: Vec<u8>,
    pub origin: usize,
    pub encoding: Encoding,
}

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
    if common == upper.len() {
        vec![upper]
    } else if common >= 6 {
        vec![upper[..common].to_vec()]
    } else {
        vec![upper, lower]
    }
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decodes the base64 window around a needle hit at `hit`: from one quantum before the keyword's
/// quantum (for the boundary check) to one byte past the longest possible match.
pub fn base64_window(data: &[u8], hit: usize, skip: usize, shift: usize, max_len: usize) -> Option<Decoded> {
    let quantum = hit.checked_sub(skip)?;
    if !data[quantum..hit].iter().all(|b| is_b64(*b)) {
        return None;
    }
    // The quantum before, for the boundary check; line breaks inside the base64 text (MIME and the
    // `base64` command wrap at 76 columns, a multiple of 4) are skipped, not treated as its end.
    let mut chunk: Vec<u8> = Vec::with_capacity(128);
    let mut back = quantum;
    let mut before = Vec::with_capacity(4);
    while before.len() < 4 && back > 0 {
        back -= 1;
        match data[back] {
            b'\n' | b'\r' => continue,
            b if is_b64(b) => before.push(b),
            _ => break,
        }
    }
    if before.len() == 4 {
        chunk.extend(before.iter().rev());
    }
    let want = (shift + max_len + 2).div_ceil(3) * 4 + chunk.len();
    for &b in &data[quantum..] {
        if chunk.len() >= want {
            break;
        }
        match b {
            b'\n' | b'\r' => continue,
            b if is_b64(b) => chunk.push(b),
            _ => break,
        }
    }
    if chunk.len() % 4 == 1 {
        chunk.pop();
    }
    let url = chunk.iter().any(|b| matches!(b, b'-' | b'_'));
    let bytes = if url {
        URL.decode(&chunk)
    } else {
        STD.decode(&chunk)
    }
    .ok()?;
    let encoding = if url {
        Encoding::Base64url
    } else {
        Encoding::Base64
    };
    Some(Decoded {
        bytes,
        origin: quantum,
        encoding,
    })
}

/// Decodes the percent-encoded window starting at a needle hit, with up to two encoded bytes (or
/// two plain ones) before it for the boundary check.
pub fn percent_window(data: &[u8], hit: usize, max_len: usize) -> Option<Decoded> {
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
    let end = data.len().min(hit + 3 * (max_len + 2));
    let bytes: Vec<u8> = percent_encoding::percent_decode(&data[start..end]).collect();
    Some(Decoded {
        bytes,
        origin: hit,
        encoding: Encoding::Percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(percent_needles(b"SG."), vec![b"%53%47%2".to_vec()]);
        assert_eq!(percent_needles(b"ab"), vec![b"%61%62".to_vec()]);
        assert_eq!(percent_needles(b"Z"), vec![b"%5A".to_vec(), b"%5a".to_vec()]);
    }
}
