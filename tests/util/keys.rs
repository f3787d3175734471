//! Keys for the tests, generated at run time from a seeded generator: no key literal may be
//! committed (it would trip GitHub push protection and SendGrid's own leak scanner).

use std::sync::OnceLock;

use base64::Engine;

/// The embedded rules' placeholder words (lower case), read from the rule itself so that a word
/// added there cannot make a generated key silently count as a placeholder.
fn placeholder_words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let rules = sgscan::embedded_rules().expect("the embedded rules load");
        let words: Vec<String> = rules
            .iter()
            .flat_map(|r| r.placeholder_words.iter().cloned())
            .collect();
        assert!(!words.is_empty(), "the embedded rules name no placeholder words");
        words
    })
}

/// A deterministic generator of well-formed keys: both segments are canonical base64url of random
/// bytes (16 and 32), as SendGrid's own are.
pub struct KeyGen(fastrand::Rng);

impl KeyGen {
    pub fn new(seed: u64) -> KeyGen {
        KeyGen(fastrand::Rng::with_seed(seed))
    }

    fn b64(&mut self, n: usize) -> String {
        let bytes: Vec<u8> = (0..n).map(|_| self.0.u8(..)).collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// (key, id, secret)
    pub fn parts(&mut self) -> (String, String, String) {
        loop {
            let id = self.b64(16);
            let secret = self.b64(32);
            let key = ["SG", &id, &secret].join(".");
            // Vanishingly rare, but a random key may hold a placeholder word; the tests want real keys.
            let lower = key.to_ascii_lowercase();
            if !placeholder_words().iter().any(|w| lower.contains(w.as_str())) {
                return (key, id, secret);
            }
        }
    }

    pub fn key(&mut self) -> String {
        self.parts().0
    }

    /// `n` random characters of the key alphabet.
    pub fn token(&mut self, n: usize) -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n).map(|_| ALPHA[self.0.usize(..64)] as char).collect()
    }
}

/// Expands a pattern-file example template (see patterns/sendgrid.toml for the placeholders).
/// Returns the text and the key it was built around.
pub fn expand(template: &str, keys: &mut KeyGen) -> (String, String) {
    let (key, id, secret) = keys.parts();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed {{ in template") + start;
        let name = &rest[start + 2..end];
        let value = match name {
            "key" => key.clone(),
            "id" => id.clone(),
            "secret" => secret.clone(),
            "key_base64" => base64::engine::general_purpose::STANDARD.encode(&key),
            "key_base64url" => base64::engine::general_purpose::URL_SAFE.encode(&key),
            "key_percent" => key.bytes().map(|b| format!("%{b:02X}")).collect(),
            "key_base64_wrapped" => {
                let env = format!("APP=mailer\nREGION=eu-west-1\nSENDGRID_API_KEY={key}\n");
                let flat = base64::engine::general_purpose::STANDARD.encode(env);
                let lines: Vec<&str> = flat
                    .as_bytes()
                    .chunks(76)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                lines.join("\n")
            }
            other => {
                let parts: Vec<&str> = other.split(':').collect();
                match parts.as_slice() {
                    ["rand", n] => keys.token(n.parse().expect("rand:N")),
                    ["char", c, n] => c.repeat(n.parse().expect("char:C:N")),
                    _ => panic!("unknown template placeholder {{{{{other}}}}}"),
                }
            }
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    (out, key)
}
