//! The data model: what a scan produces, as plain data. Every later stage fills or reads these
//! types; this module imports nothing of ours, so any stage can use it without pulling in another.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the matched key was written in the scanned bytes. Serialized as a string (`plain`,
/// `base64`, `unicode-escape`, `base64>percent`, …): JSON consumers read it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    Plain,
    Base64,
    Base64url,
    Percent,
    /// `\uXXXX` / `\xXX` escapes (JSON, JavaScript, Python) inside the key.
    UnicodeEscape,
    /// HTML numeric or named character references (`&#46;`, `&period;`) inside the key.
    HtmlEntity,
    /// One encoding inside another, outer first: `base64>base64` is base64 of base64 text.
    Nested(Layer, Layer),
}

/// One step of a [`Encoding::Nested`] chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Base64,
    Base64url,
    Percent,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Base64 => "base64",
            Layer::Base64url => "base64url",
            Layer::Percent => "percent",
        }
    }

    pub fn of(e: Encoding) -> Option<Layer> {
        match e {
            Encoding::Base64 => Some(Layer::Base64),
            Encoding::Base64url => Some(Layer::Base64url),
            Encoding::Percent => Some(Layer::Percent),
            _ => None,
        }
    }
}

const LAYERS: [Layer; 3] = [Layer::Base64, Layer::Base64url, Layer::Percent];

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Plain => "plain",
            Encoding::Base64 => "base64",
            Encoding::Base64url => "base64url",
            Encoding::Percent => "percent",
            Encoding::UnicodeEscape => "unicode-escape",
            Encoding::HtmlEntity => "html-entity",
            // A `&'static str` for every chain keeps `as_str` allocation-free for the reports.
            Encoding::Nested(outer, inner) => match (outer, inner) {
                (Layer::Base64, Layer::Base64) => "base64>base64",
                (Layer::Base64, Layer::Base64url) => "base64>base64url",
                (Layer::Base64, Layer::Percent) => "base64>percent",
                (Layer::Base64url, Layer::Base64) => "base64url>base64",
                (Layer::Base64url, Layer::Base64url) => "base64url>base64url",
                (Layer::Base64url, Layer::Percent) => "base64url>percent",
                (Layer::Percent, Layer::Base64) => "percent>base64",
                (Layer::Percent, Layer::Base64url) => "percent>base64url",
                (Layer::Percent, Layer::Percent) => "percent>percent",
            },
        }
    }

    pub fn parse(s: &str) -> Option<Encoding> {
        Encoding::all().find(|e| e.as_str() == s)
    }

    /// Every encoding, chains included: what `parse` accepts and the report schema lists.
    pub fn all() -> impl Iterator<Item = Encoding> {
        let simple = [
            Encoding::Plain,
            Encoding::Base64,
            Encoding::Base64url,
            Encoding::Percent,
            Encoding::UnicodeEscape,
            Encoding::HtmlEntity,
        ];
        let nested = LAYERS
            .iter()
            .flat_map(|o| LAYERS.iter().map(|i| Encoding::Nested(*o, *i)));
        simple.into_iter().chain(nested)
    }
}

impl Serialize for Encoding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Serialized by hand, so its schema is by hand too: one of the names `as_str` gives.
impl JsonSchema for Encoding {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Encoding".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Encoding::all().map(Encoding::as_str).collect();
        schemars::json_schema!({
            "description": "How the key was written: `plain`, an encoding, or a chain of two, outer first (`base64>percent`).",
            "type": "string",
            "enum": names,
        })
    }
}

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Encoding, D::Error> {
        let s = String::deserialize(d)?;
        Encoding::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown encoding '{s}'")))
    }
}

/// How much a match looks like a key SendGrid issued, never a reason to drop it: real keys are
/// canonical base64url of 16 and 32 random bytes, so the spare bits of the id's last character and
/// of the secret's last character are zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    /// Not canonical (a hand-made or truncated-and-padded string), read only after removing
    /// invisible characters from inside it, or from a report that predates the field.
    #[default]
    Medium,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
        }
    }
}

/// Where bytes came from. Sources fill what they know; git history adds the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
pub struct Origin {
    /// The repository swept, as given on the command line, when a run sweeps more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The path as UTF-8; invalid sequences become U+FFFD, and then `path_bytes` has the original.
    pub path: String,
    /// Hex of the path's bytes, present only when they are not valid UTF-8 (a name git or the file
    /// system allows), so a report still leads back to the exact file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    /// Inside an archive or a compressed file at `path`: the member's path, nested archives joined
    /// by `!` (`lib/inner.jar!META-INF/app.properties`). Reports show `path!member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub commit: Option<CommitInfo>,
    /// The git blob the bytes were read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// False for an object no ref reaches (an amended or rebased commit, a dropped stash not yet
    /// pruned): it is in the object store, and in every clone made before it was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// Whether this blob is still in the tree HEAD names: the key is in the code today, not only
    /// in its history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_head: Option<bool>,
    /// A few refs (HEAD's branch first) from which the commit is reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// The refs (branches, tags, remote-tracking branches) whose tip's tree still has this blob at
    /// this path: the key is in the code on each of them today, whatever HEAD holds. `HEAD` comes
    /// first when HEAD's tree has it there, and stands for the branch HEAD is on (not listed
    /// again). Empty: no ref's tip has it there (only in history).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present_in: Vec<String>,
    /// Provenance still to come: a source that reads blobs before it knows where they are (git
    /// history in pack order) hands them on as pending and attributes them once it knows.
    #[serde(skip)]
    pub pending: bool,
}

impl Origin {
    pub fn file(path: impl Into<String>) -> Origin {
        Origin {
            path: path.into(),
            ..Origin::default()
        }
    }

    /// A path given as raw bytes (git paths, Unix file names), kept losslessly.
    pub fn from_bytes(path: &[u8]) -> Origin {
        match std::str::from_utf8(path) {
            Ok(s) => Origin::file(s),
            Err(_) => Origin {
                path: String::from_utf8_lossy(path).into_owned(),
                path_bytes: Some(hex::encode(path)),
                ..Origin::default()
            },
        }
    }
}

/// The commit that introduced a blob at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommitInfo {
    pub commit: String,
    pub author_name: String,
    pub author_email: String,
    /// RFC 3339.
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Location {
    #[serde(flatten)]
    pub origin: Origin,
    /// 1-based. 0: the key is in the path itself (the name of a file, a directory or a tree
    /// entry), not in what it holds; the path shows it redacted.
    pub line: u64,
    /// 1-based, in characters; with line 0, in the name that holds the key.
    pub column: u64,
    pub encoding: Encoding,
    /// What was done to the bytes here to read the key (invisible characters removed from inside
    /// it); absent when they hold it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub fingerprint: String,
    pub key_id: Option<String>,
    pub redacted: String,
    #[serde(default)]
    pub confidence: Confidence,
    /// The full key. Serialized only when the user asked for it (`--show-secrets`): reports copy it
    /// explicitly, so a plain `serde_json::to_string(&finding)` never leaks it.
    #[serde(skip)]
    pub key: String,
    /// How many locations were seen in all; `locations` keeps at most [`MAX_LOCATIONS`].
    pub location_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// Set by `--verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Set by `--revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// Set by `--revoke --rotate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotated>,
}

/// What `--verify` learnt of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Live,
    Invalid,
    Unknown,
}

/// Least-privilege assessment of a live key, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    /// Can manage API keys, users, teammates, subusers or credentials: could mint a new key and
    /// survive the revocation of this one.
    FullAccess,
    /// Beyond sending: reads or changes data or settings.
    Elevated,
    /// Sending only.
    SendOnly,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::FullAccess => "full-access",
            Privilege::Elevated => "elevated",
            Privilege::SendOnly => "send-only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    pub status: Status,
    /// The API's message, or what went wrong.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The scopes the key holds, when the API listed them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privilege: Option<Privilege>,
    /// The scopes that put the key above send-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub above_send_only: Vec<String>,
    /// Scopes beyond `--policy`'s allowed list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_violations: Vec<String>,
    /// RFC 3339, UTC.
    pub checked_at: String,
    #[serde(default)]
    pub attempts: u32,
    /// Taken from `--cache` rather than asked now.
    #[serde(default)]
    pub cached: bool,
    /// Whose account a live key belongs to: its username, else its company (when the key may read
    /// them); never more personal data than that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// What `--revoke` did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeStatus {
    /// The key no longer authenticates.
    Revoked,
    /// The DELETE was accepted but the key still authenticated when we stopped polling.
    RevokePending,
    RevokeFailed,
    /// `--dry-run`: what would be sent.
    Planned,
}

impl RevokeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeStatus::Revoked => "revoked",
            RevokeStatus::RevokePending => "revoke-pending",
            RevokeStatus::RevokeFailed => "revoke-failed",
            RevokeStatus::Planned => "planned",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Revocation {
    pub status: RevokeStatus,
    pub reason: String,
    /// `self` or `admin:<fingerprint prefix>`.
    pub by: String,
    /// What a person must do when sgscan could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_step: Option<String>,
}

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RotateStatus {
    Rotated,
    /// `--dry-run`: what would be done.
    Planned,
    /// Nothing was created.
    Refused,
    /// The new key was created, the hand-over failed, and the new key was deleted again.
    RolledBack,
    Failed,
}

impl RotateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RotateStatus::Rotated => "rotated",
            RotateStatus::Planned => "planned",
            RotateStatus::Refused => "refused",
            RotateStatus::RolledBack => "rolled-back",
            RotateStatus::Failed => "failed",
        }
    }

    /// Refused, rolled back or failed: the leaked key was not replaced.
    pub fn incomplete(self) -> bool {
        matches!(
            self,
            RotateStatus::Refused | RotateStatus::RolledBack | RotateStatus::Failed
        )
    }
}

/// What `--revoke --rotate` did for a leaked key. The replacement appears by id and redacted form
/// only: a report is shared, and the new key must not leak where the old one did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Rotated {
    pub status: RotateStatus,
    /// The step it ended at: lookup, scopes, create, hand-over, verify-new, revoke, done.
    pub step: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_id: Option<String>,
    /// `SG.xxxx…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_redacted: Option<String>,
    /// What a person must do when sgscan could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_step: Option<String>,
}

/// What kind of allow list let a key through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AllowKind {
    /// `sgscan:allow` on the key's line.
    Inline,
    /// An entry of a `.sgscanignore` file.
    IgnoreFile,
    /// The `[ignore]` section of a config file.
    Config,
    /// A `--baseline` report.
    Baseline,
}

impl AllowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowKind::Inline => "inline",
            AllowKind::IgnoreFile => "ignore-file",
            AllowKind::Config => "config",
            AllowKind::Baseline => "baseline",
        }
    }
}

/// What allowed a key at one place: the marker's or the entry's file and line, or the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AllowedBy {
    pub kind: AllowKind,
    /// The file holding the marker or the entry, or the baseline report.
    pub file: String,
    /// Its line (none for a baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The commit the file was read from (the base of a `--range`), when not from disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl AllowedBy {
    /// `FILE:LINE`, `FILE@COMMIT:LINE` or `FILE`, for a person.
    pub fn describe(&self) -> String {
        let file = match &self.commit {
            Some(c) => format!("{}@{}", self.file, c.get(..12).unwrap_or(c)),
            None => self.file.clone(),
        };
        let at = match self.line {
            Some(l) => format!("{file}:{l}"),
            None => file,
        };
        match self.kind {
            AllowKind::Inline => format!("sgscan:allow at {at}"),
            AllowKind::IgnoreFile => format!("ignore entry {at}"),
            AllowKind::Config => format!("config [ignore] {at}"),
            AllowKind::Baseline => format!("baseline {at}"),
        }
    }
}

/// A place an allowed key was seen, and what allowed it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AllowedLocation {
    #[serde(flatten)]
    pub location: Location,
    pub allowed_by: AllowedBy,
}

/// A key found and not reported because an allow list let it through: listed, never dropped in
/// silence, so a reviewer sees what a change allowed. Redacted only: no report carries the key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Allowed {
    pub rule_id: String,
    pub rule_name: String,
    pub fingerprint: String,
    pub key_id: Option<String>,
    pub redacted: String,
    /// How many locations were seen in all; `locations` keeps at most [`MAX_LOCATIONS`].
    pub location_count: u64,
    pub locations: Vec<AllowedLocation>,
}

impl Allowed {
    /// `f`, every listed location allowed by `by(location)`.
    pub fn of(f: Finding, mut by: impl FnMut(&Location) -> AllowedBy) -> Allowed {
        Allowed {
            rule_id: f.rule_id,
            rule_name: f.rule_name,
            fingerprint: f.fingerprint,
            key_id: f.key_id,
            redacted: f.redacted,
            location_count: f.location_count,
            locations: f
                .locations
                .into_iter()
                .map(|l| AllowedLocation {
                    allowed_by: by(&l),
                    location: l,
                })
                .collect(),
        }
    }
}

/// What a run scanned, as its report says: the report's `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
pub struct Target {
    /// The command that scanned: `dir`, `git`, `ci`, `staged`, `stdin`, `pre-push`, `pre-receive`;
    /// `merge` for reports of different commands merged into one.
    pub mode: String,
    /// What `dir` was given to walk, or the name `stdin` gave its input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<String>,
    /// The repositories scanned (for `dir`, the ones holding its roots), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Repository>,
}

/// One repository a run scanned, as it stood when the run began.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, JsonSchema)]
pub struct Repository {
    /// Its top: the work tree, or the git directory of a bare repository.
    pub path: String,
    /// The URL of its `origin` remote (else of its only remote), without user name, password,
    /// query or fragment: a URL may carry a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_url: Option<String>,
    /// The branch HEAD is on (none when HEAD is detached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit HEAD names (none in a repository without commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The commits scanned, when not the whole history: `BASE..HEAD` of `--range` (and `ci`), or
    /// each ref a hook was given, as `OLD..NEW REF`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<String>,
}

impl Target {
    pub fn new(mode: &str) -> Target {
        Target {
            mode: mode.to_string(),
            ..Target::default()
        }
    }
}

/// Locations kept per key, so a key committed in 100k places does not grow memory without bound.
pub const MAX_LOCATIONS: usize = 1000;

/// Something the scan could not look at, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Skip {
    pub path: String,
    pub reason: String,
}

/// Counters for the summary line and the JSON `summary` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub blobs_scanned: u64,
    pub bytes_scanned: u64,
    /// Commit messages scanned (git history), counted apart from blobs.
    pub commits_scanned: u64,
    /// Findings dropped by `.sgscanignore` or `--baseline`, and keys found only on lines marked
    /// `sgscan:allow`.
    pub allowed: u64,
}

/// Everything a scan produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub stats: Stats,
    pub skipped: Vec<Skip>,
    /// Keys allow lists let through (`stats.allowed` counts them), by first location.
    #[serde(default)]
    pub allowed: Vec<Allowed>,
    /// Things the user should know about the scan as a whole (a shallow clone, submodules not
    /// followed, LFS pointers), one line each.
    pub notes: Vec<String>,
}

/// Where a location is, as reports order them.
fn place(l: &Location) -> (&str, Option<&str>, u64, u64, Encoding) {
    (
        &l.origin.path,
        l.origin.member.as_deref(),
        l.line,
        l.column,
        l.encoding,
    )
}

impl Outcome {
    pub fn location_count(&self) -> u64 {
        self.findings
            .iter()
            .fold(0u64, |n, f| n.saturating_add(f.location_count))
    }

    /// The one report order, for a single run and for merged reports alike: each finding's
    /// locations by place, findings by their first location, then by fingerprint; skips by path.
    pub fn sort(&mut self) {
        for f in &mut self.findings {
            f.locations.sort_by(|a, b| place(a).cmp(&place(b)));
        }
        self.findings.sort_by(|a, b| {
            let ka = a.locations.first().map(place);
            let kb = b.locations.first().map(place);
            ka.cmp(&kb).then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        self.skipped
            .sort_by(|a, b| (&a.path, &a.reason).cmp(&(&b.path, &b.reason)));
        self.sort_allowed();
    }

    /// The allowed keys in the order of [`Outcome::sort`].
    pub fn sort_allowed(&mut self) {
        for a in &mut self.allowed {
            a.locations
                .sort_by(|x, y| place(&x.location).cmp(&place(&y.location)));
        }
        self.allowed.sort_by(|a, b| {
            let ka = a.locations.first().map(|l| place(&l.location));
            let kb = b.locations.first().map(|l| place(&l.location));
            ka.cmp(&kb).then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
    }
}
