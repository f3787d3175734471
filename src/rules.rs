//! Detection rules as data: the TOML files under `patterns/`, embedded at build time, or a directory
//! given with `--patterns`. See README.md, "Pattern files", for the format.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The rule files compiled into the binary.
pub const EMBEDDED: &[(&str, &str)] = &[("sendgrid.toml", include_str!("../patterns/sendgrid.toml"))];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// One rule as written in a pattern file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub help_uri: Option<String>,
    pub keywords: Vec<String>,
    pub regex: String,
    #[serde(default = "default_token_chars")]
    pub token_chars: String,
    #[serde(default)]
    pub entropy_group: Option<String>,
    #[serde(default)]
    pub min_entropy: f64,
    #[serde(default)]
    pub placeholder_words: Vec<String>,
    #[serde(default)]
    pub ignore_fingerprints: Vec<String>,
    #[serde(default)]
    pub examples: Examples,
    /// Matches are SendGrid API keys: `--verify` may send them to SendGrid. Off for custom rules,
    /// whose secrets must not go to a third party.
    #[serde(default)]
    pub sendgrid_key: bool,
}

fn default_token_chars() -> String {
    "A-Za-z0-9_-".to_string()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default)]
    pub positive: Vec<String>,
    #[serde(default)]
    pub negative: Vec<String>,
}

/// A rule ready to run: the spec plus what is derived from it once.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub regex: regex::bytes::Regex,
    /// Longest possible match, so a window around a keyword hit is sure to hold the whole match.
    pub max_len: usize,
    pub token: [bool; 256],
    pub entropy_group: Option<usize>,
    pub id_group: Option<usize>,
    pub placeholder_words: Vec<String>,
    pub ignore_fingerprints: HashSet<String>,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    fn compile(spec: RuleSpec, origin: &str) -> Result<Rule> {
        let ctx = || format!("{origin}: rule '{}'", spec.id);
        if spec.id.trim().is_empty() {
            bail!("{origin}: a rule has an empty id");
        }
        if spec.keywords.is_empty() || spec.keywords.iter().any(|k| k.is_empty()) {
            bail!("{}: needs at least one non-empty keyword", ctx());
        }
        let regex =
            regex::bytes::Regex::new(&spec.regex).with_context(|| format!("{}: invalid regex", ctx()))?;
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&spec.regex)
            .with_context(|| format!("{}: invalid regex", ctx()))?;
        let Some(max_len) = hir.properties().maximum_len() else {
            bail!("{}: the regex must have a bounded length (no `*` or `+`)", ctx());
        };
        let token = parse_char_class(&spec.token_chars).with_context(ctx)?;
        let group = |name: &str| regex.capture_names().position(|n| n == Some(name));
        let entropy_group = match &spec.entropy_group {
            Some(g) => Some(group(g).with_context(|| {
                format!("{}: entropy_group '{g}' is not a named group of the regex", ctx())
            })?),
            None => None,
        };
        let id_group = group("id");
        if !(0.0..=8.0).contains(&spec.min_entropy) {
            bail!(
                "{}: min_entropy must be between 0 and 8 bits per character",
                ctx()
            );
        }
        for fp in &spec.ignore_fingerprints {
            if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{}: ignore_fingerprints entry '{fp}' is not a SHA-256 hex digest",
                    ctx()
                );
            }
        }
        let placeholder_words = spec
            .placeholder_words
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let ignore_fingerprints = spec
            .ignore_fingerprints
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .collect();
        Ok(Rule {
            regex,
            max_len,
            token,
            entropy_group,
            id_group,
            placeholder_words,
            ignore_fingerprints,
            spec,
        })
    }
}

/// Parses a character class body such as `A-Za-z0-9_-` (ranges and single ASCII characters; a `-`
/// first or last is literal).
fn parse_char_class(s: &str) -> Result<[bool; 256]> {
    let bytes = s.as_bytes();
    if !s.is_ascii() || bytes.is_empty() {
        bail!("token_chars must be a non-empty ASCII character class such as 'A-Za-z0-9_-'");
    }
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        if i + 2 < bytes.len() && bytes[i + 1] == b'-' {
            let (lo, hi) = (bytes[i], bytes[i + 2]);
            if lo > hi {
                bail!("token_chars: range '{}-{}' is reversed", lo as char, hi as char);
            }
            for b in lo..=hi {
                set[b as usize] = true;
            }
            i += 3;
        } else {
            set[bytes[i] as usize] = true;
            i += 1;
        }
    }
    Ok(set)
}

/// Parses one pattern file's text; `origin` names it in errors.
pub fn parse_rule_file(text: &str, origin: &str) -> Result<Vec<RuleSpec>> {
    let file: RuleFile = toml::from_str(text).with_context(|| format!("{origin}: malformed pattern file"))?;
    if file.rule.is_empty() {
        bail!("{origin}: no [[rule]] in pattern file");
    }
    Ok(file.rule)
}

/// The embedded rules.
pub fn embedded() -> Result<Vec<Rule>> {
    let mut specs = Vec::new();
    for (name, text) in EMBEDDED {
        specs.extend(
            parse_rule_file(text, &format!("embedded patterns/{name}"))?
                .into_iter()
                .map(|s| (s, *name)),
        );
    }
    compile_all(specs.into_iter().map(|(s, n)| (s, n.to_string())).collect())
}

/// Every `*.toml` file in `dir`, in name order, replacing the embedded rules.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read pattern directory {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read pattern directory {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!("no *.toml pattern files in {}", dir.display());
    }
    let mut specs = Vec::new();
    for path in paths {
        let origin = path.display().to_string();
        let text = crate::file::read_to_string(&path, crate::file::SMALL)
            .with_context(|| format!("cannot read pattern file {origin}"))?;
        specs.extend(
            parse_rule_file(&text, &origin)?
                .into_iter()
                .map(|s| (s, origin.clone())),
        );
    }
    compile_all(specs)
}

fn compile_all(specs: Vec<(RuleSpec, String)>) -> Result<Vec<Rule>> {
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for (spec, origin) in specs {
        if !seen.insert(spec.id.clone()) {
            bail!("{origin}: rule id '{}' is defined twice", spec.id);
        }
        rules.push(Rule::compile(spec, &origin)?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_compile() {
        let rules = embedded().unwrap();
        assert_eq!(rules[0].id(), "sendgrid-api-key");
        assert_eq!(rules[0].max_len, 69);
        assert!(rules[0].entropy_group.is_some());
        assert!(rules[0].id_group.is_some());
    }

    #[test]
    fn char_class() {
        let set = parse_char_class("A-Za-z0-9_-").unwrap();
        for b in b"azAZ09_-" {
            assert!(set[*b as usize]);
        }
        for b in b".&)=/+ " {
            assert!(!set[*b as usize]);
        }
        assert!(parse_char_class("z-a").is_err());
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let err = parse_rule_file("[[rule]]\nid = 1", "x.toml").unwrap_err();
        assert!(format!("{err:#}").contains("x.toml: malformed pattern file"));
        let spec = RuleSpec {
            id: "r".into(),
            name: "n".into(),
            description: "d".into(),
            help_uri: None,
            keywords: vec!["a".into()],
            regex: "a+".into(),
            token_chars: default_token_chars(),
            entropy_group: None,
            min_entropy: 0.0,
            placeholder_words: vec![],
            ignore_fingerprints: vec![],
            examples: Examples::default(),
            sendgrid_key: false,
        };
        let err = Rule::compile(spec, "x.toml").unwrap_err();
        assert!(format!("{err:#}").contains("bounded length"));
    }

    #[test]
    fn only_rules_that_say_so_are_sendgrid_keys() {
        assert!(embedded().unwrap().iter().all(|r| r.spec.sendgrid_key));
        let custom = "[[rule]]\nid = \"c\"\nname = \"n\"\ndescription = \"d\"\nkeywords = [\"k\"]\nregex = 'k[0-9]{4}'\n";
        assert!(!parse_rule_file(custom, "c.toml").unwrap()[0].sendgrid_key);
    }
}
