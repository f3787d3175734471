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
    fn key_ids_are_exactly_22_key_characters() {
        let id = "aB3_-".repeat(4) + "xy";
        assert_eq!(KeyId::parse(&id).map(|k| k.to_string()), Some(id.clone()));
        assert!(KeyId::parse(&id[..21]).is_none());
        assert!(KeyId::parse(&format!("{id}x")).is_none());
        assert!(KeyId::parse(&("../".repeat(7) + "a")).is_none());
        assert!(KeyId::parse(&"é".repeat(11)).is_none());
    }
}
