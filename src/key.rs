//! A key's public faces: its fingerprint (for baselines and cross-referencing) and its redacted
//! form (for people). Nothing here ever returns the secret.

use sha2::{Digest, Sha256};

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
}
