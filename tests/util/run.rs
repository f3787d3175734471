//! Running the binary and checking that no key leaks from it: shared by the verify and revoke
//! suites.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::mock;

/// One run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }
}

/// Prints a run with every key-shaped string scrubbed, so a failing test does not print keys.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.elapsed,
            cut(&scrub(&self.stdout)),
            cut(&scrub(&self.stderr))
        )
    }
}

pub fn cut(s: &str) -> String {
    if s.len() <= 6000 {
        return s.to_string();
    }
    let mut end = 6000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

pub fn key_shape() -> regex::Regex {
    regex::Regex::new(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}").unwrap()
}

/// Replaces anything shaped like a SendGrid key with a marker.
pub fn scrub(s: &str) -> String {
    key_shape().replace_all(s, "SG.<scrubbed>").into_owned()
}

/// Asserts that `text` holds none of `keys`, none of their secrets, nothing shaped like a key.
pub fn assert_no_key(text: &str, what: &str, keys: &[&String]) {
    for (i, key) in keys.iter().enumerate() {
        let secret = key.rsplit('.').next().unwrap();
        assert!(
            !text.contains(key.as_str()),
            "{what} contains key #{i} (id {})",
            mock::key_id(key)
        );
        assert!(
            !text.contains(secret),
            "{what} contains the secret of key #{i} (id {})",
            mock::key_id(key)
        );
    }
    assert!(
        !key_shape().is_match(text),
        "{what} contains something shaped like a key:\n{}",
        cut(&scrub(text))
    );
}
