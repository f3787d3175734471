//! `.sgscan.toml`: what a team would otherwise repeat on every command line (the scope policy,
//! ignores, limits, `fail_on`, the API URL), as plain types. The CLI finds or is given the file and
//! merges its flags over it; flags win.
//!
//! A file found in the scanned tree was written by whoever wrote the tree, so it may only narrow
//! what is reported (ignores, a policy, `fail_on` are the repository owner's call, as
//! `.sgscanignore` is). It may not widen what is sent or read: an `[api]` section would send every
//! key found to a server of the file's choosing, and limits above the defaults would let a planted
//! archive bomb run the scan out of memory. Both are refused from a found file, honored from
//! `--config FILE`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use toml::Spanned;

use crate::allow;
use crate::sendgrid;
use crate::source::{self, archive};

pub const CONFIG_FILE: &str = ".sgscan.toml";

/// Where a config came from, which decides what it may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `--config FILE`: the user's own choice, honored whole.
    Given,
    /// Found at the scanned root: data from outside, see the module documentation.
    Found,
}

/// A loaded config file: the model, and enough of the text to say where a setting was written.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub trust: Trust,
    pub file: File,
    text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub policy: Option<PolicySection>,
    #[serde(default)]
    pub ignore: IgnoreSection,
    #[serde(default)]
    pub scan: ScanSection,
    #[serde(default)]
    pub archive: ArchiveSection,
    #[serde(default)]
    pub api: Option<Spanned<ApiSection>>,
}

/// What `--policy FILE` holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub allowed_scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreSection {
    /// Gitignore-style globs, relative to the scanned root.
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub fingerprints: Vec<Spanned<IgnoredKey>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoredKey {
    pub fingerprint: String,
    /// Why it is allowed: for the people reading the file; sgscan only checks it is a string.
    #[serde(default)]
    #[allow(dead_code)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    #[serde(default)]
    pub max_file_size: Option<Spanned<Size>>,
    #[serde(default)]
    pub fail_on: Option<Spanned<FailOn>>,
    /// `false`: `sgscan:allow` markers allow nothing, so every exception goes through a reviewed
    /// ignore file. Only ever read from the range's base side (or a given file) in CI.
    #[serde(default)]
    pub inline_allow: Option<bool>,
}

/// The `--max-archive-depth`, `--max-member-size`, `--max-archive-size`, `--max-ratio` and
/// `--max-members` flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    #[serde(default)]
    pub max_depth: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_member_size: Option<Spanned<Size>>,
    #[serde(default)]
    pub max_size: Option<Spanned<Size>>,
    #[serde(default)]
    pub max_ratio: Option<Spanned<u64>>,
    #[serde(default)]
    pub max_members: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    pub url: Spanned<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Any,
    Live,
    None,
}

/// A byte count: an integer, or a string with a K/M/G suffix as the flags take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Int(n)) => Ok(Size(n)),
            Ok(Raw::Text(s)) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(
                "expected a size: a number of bytes, or a string such as \"512K\" or \"64M\"",
            )),
        }
    }
}

/// `1048576`, `512K`, `64M`, `1G`: what the size flags and the config file take.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix '{c}' (use K, M or G)")),
            };
            (&s[..i], mult)
        }
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size such as 1048576, 512K or 64M"))?;
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
}

impl Config {
    /// `CONFIG_FILE` in `root`, if there is one.
    pub fn find(root: &Path) -> Result<Option<Config>> {
        // `./.sgscan.toml` in every message would only be noise.
        let path = match root == Path::new(".") {
            true => PathBuf::from(CONFIG_FILE),
            false => root.join(CONFIG_FILE),
        };
        // One that is there but is no regular file is an error, not a config left out in silence.
        if !path.exists() {
            return Ok(None);
        }
        Config::load(&path, Trust::Found).map(Some)
    }

    /// Reads and checks the file: every error names it, with the line and column where it can.
    pub fn load(path: &Path, trust: Trust) -> Result<Config> {
        let text = crate::file::read_to_string(path, crate::file::SMALL)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Config::parse(text, path, trust)
    }

    /// A file read from a commit (a range's base side), named `name` in messages: checked as a
    /// found file is.
    pub fn from_commit(text: String, name: &str) -> Result<Config> {
        Config::parse(text, Path::new(name), Trust::Found)
    }

    fn parse(text: String, path: &Path, trust: Trust) -> Result<Config> {
        let file: File = match toml::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                let at = match e.span() {
                    Some(span) => position(&text, path, span),
                    None => path.display().to_string(),
                };
                bail!("{at}: {}", e.message().trim_end());
            }
        };
        let config = Config {
            path: path.to_path_buf(),
            trust,
            file,
            text,
        };
        config.check()?;
        Ok(config)
    }

    /// `FILE:LINE:COLUMN` of a span of the file.
    pub fn at(&self, span: Range<usize>) -> String {
        position(&self.text, &self.path, span)
    }

    fn check(&self) -> Result<()> {
        let f = &self.file;
        for k in &f.ignore.fingerprints {
            let fp = k.get_ref().fingerprint.trim();
            if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{}: not a SHA-256 fingerprint (64 hex digits): '{fp}'",
                    self.at(k.span())
                );
            }
        }
        for glob in &f.ignore.paths {
            allow::check_glob(glob.get_ref())
                .with_context(|| format!("{}: bad path glob", self.at(glob.span())))?;
        }
        if let Some(api) = &f.api {
            let url = &api.get_ref().url;
            if self.trust == Trust::Found {
                bail!(
                    "{}: refusing [api] from a config found in the scanned tree: it would choose the server every key found is sent to. \
                     Pass the file with --config to trust it, or use --api-url / SGSCAN_API_URL",
                    self.at(api.span())
                );
            }
            sendgrid::check_base_url(url.get_ref()).with_context(|| self.at(url.span()))?;
        }
        if self.trust == Trust::Found {
            self.check_no_wider_limits()?;
        }
        Ok(())
    }

    /// A found file may tighten the limits, never loosen them: what it could make sgscan read is
    /// bounded by the defaults, as for a tree without a config.
    fn check_no_wider_limits(&self) -> Result<()> {
        let (s, a) = (&self.file.scan, &self.file.archive);
        let defaults = archive::Limits::default();
        /// A limit's name, the value the file set and where, and its default.
        type Limit<'a> = (&'a str, Option<(u64, Range<usize>)>, u64);
        let limits: [Limit; 6] = [
            (
                "scan.max_file_size",
                s.max_file_size.as_ref().map(|v| (v.get_ref().0, v.span())),
                source::DEFAULT_MAX_FILE_SIZE,
            ),
            (
                "archive.max_depth",
                a.max_depth.as_ref().map(|v| (u64::from(*v.get_ref()), v.span())),
                u64::from(defaults.depth),
            ),
            (
                "archive.max_member_size",
                a.max_member_size.as_ref().map(|v| (v.get_ref().0, v.span())),
                defaults.max_member,
            ),
            (
                "archive.max_size",
                a.max_size.as_ref().map(|v| (v.get_ref().0, v.span())),
                defaults.max_total,
            ),
            (
                "archive.max_ratio",
                a.max_ratio.as_ref().map(|v| (*v.get_ref(), v.span())),
                defaults.max_ratio,
            ),
            (
                "archive.max_members",
                a.max_members.as_ref().map(|v| (*v.get_ref(), v.span())),
                defaults.max_members,
            ),
        ];
        for (name, value, default) in limits {
            if let Some((value, span)) = value
                && value > default
            {
                bail!(
                    "{}: refusing {name} = {value} (above the default {default}) from a config found in the scanned tree: \
                     a found file may only lower limits. Pass the file with --config to trust it, or use the flag",
                    self.at(span)
                );
            }
        }
        Ok(())
    }

    /// The `[ignore]` section as the allow list takes it; globs are relative to `root`.
    pub fn ignores(&self, root: &Path) -> allow::Ignores {
        let ignore = &self.file.ignore;
        allow::Ignores {
            base: None,
            fingerprints: ignore
                .fingerprints
                .iter()
                .map(|k| {
                    (
                        k.get_ref().fingerprint.trim().to_ascii_lowercase(),
                        self.at(k.span()),
                    )
                })
                .collect(),
            root: root.to_path_buf(),
            globs: ignore
                .paths
                .iter()
                .map(|g| (g.get_ref().clone(), self.at(g.span())))
                .collect(),
            ..allow::Ignores::default()
        }
    }
}

/// `FILE:LINE:COLUMN` (1-based, columns in characters) of the start of `span` in `text`.
fn position(text: &str, path: &Path, span: Range<usize>) -> String {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("{}:{line}:{column}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, trust: Trust) -> Result<Config> {
        Config::parse(text.to_string(), Path::new("c.toml"), trust)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("5X").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn a_full_file() {
        let fp = "ab".repeat(32);
        let c = parse(
            &format!(
                "[policy]\nallowed_scopes = [\"mail.send\"]\n[ignore]\npaths = [\"fixtures/**\"]\n\
                 fingerprints = [{{ fingerprint = \"{fp}\", reason = \"fixture\" }}]\n\
                 [scan]\nmax_file_size = \"1M\"\nfail_on = \"live\"\n\
                 [archive]\nmax_depth = 1\nmax_member_size = 1024\nmax_size = \"2M\"\nmax_ratio = 10\nmax_members = 5\n\
                 [api]\nurl = \"https://api.eu.sendgrid.com\"\n"
            ),
            Trust::Given,
        )
        .unwrap();
        let f = &c.file;
        assert_eq!(f.scan.max_file_size.as_ref().unwrap().get_ref().0, 1 << 20);
        assert_eq!(*f.scan.fail_on.as_ref().unwrap().get_ref(), FailOn::Live);
        assert_eq!(f.archive.max_size.as_ref().unwrap().get_ref().0, 2 << 20);
        assert_eq!(c.ignores(Path::new("/r")).fingerprints[0].0, fp);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = parse("[scan]\n  bogus = 1\n", Trust::Given).unwrap_err();
        assert!(
            e.to_string().starts_with("c.toml:2:3: unknown field `bogus`"),
            "{e}"
        );
        let e = parse("[scan]\nfail_on = \"sometimes\"\n", Trust::Given).unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:11:"), "{e}");
        let e = parse("[scan]\nmax_file_size = \"5X\"\n", Trust::Given).unwrap_err();
        assert!(
            e.to_string().contains("c.toml:2:17") && e.to_string().contains("suffix"),
            "{e}"
        );
        let e = parse(
            "[ignore]\nfingerprints = [{ fingerprint = \"abc\" }]\n",
            Trust::Given,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:"), "{e}");
        let e = parse("[api]\nurl = \"http://example.com\"\n", Trust::Given).unwrap_err();
        assert!(format!("{e:#}").starts_with("c.toml:2:7"), "{e:#}");
    }

    #[test]
    fn a_found_file_may_not_widen() {
        let api = "[api]\nurl = \"https://api.eu.sendgrid.com\"\n";
        assert!(parse(api, Trust::Given).is_ok());
        let e = parse(api, Trust::Found).unwrap_err();
        assert!(e.to_string().contains("refusing [api]"), "{e}");
        assert!(parse("[archive]\nmax_ratio = 10\n", Trust::Found).is_ok());
        let e = parse("[archive]\nmax_ratio = 100000\n", Trust::Found).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.toml:2:13: refusing archive.max_ratio"),
            "{e}"
        );
        assert!(parse("[scan]\nmax_file_size = \"1G\"\n", Trust::Found).is_err());
        assert!(parse("[scan]\nmax_file_size = \"1G\"\n", Trust::Given).is_ok());
    }
}
