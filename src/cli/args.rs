//! Every flag, declared once with its help. Clap types stay in `cli/`: each command turns its
//! arguments into the library's option structs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use toml::Spanned;

use crate::allow::Ignores;
use crate::config::{self, Config, parse_size};
use crate::pipeline::{RevokeSettings, RotateSettings, ScanOptions, VerifySettings};
use crate::report;
use crate::rotate::Handover;
use crate::sendgrid::{ApiOptions, DEFAULT_API_URL};
use crate::source::{archive, forge, git, stdin};

const OUTPUT: &str = "Output";
const SCAN: &str = "Scanning";
const VERIFY: &str = "Verification (--verify)";
const REVOKE: &str = "Revocation (--revoke)";
const ROTATE: &str = "Rotation (--revoke --rotate)";
const API: &str = "SendGrid API";
const ARCHIVE: &str = "Archives and compressed files";

#[derive(Debug, Parser)]
#[command(
    name = "sgscan",
    version,
    about = "Find leaked SendGrid API keys in files and git history"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files on disk (default: the current directory), respecting .gitignore.
    Dir(DirArgs),
    /// Scan a repository's whole history (every blob of every ref), or a commit range for CI.
    Git(GitArgs),
    /// Scan what is staged for the next commit (for pre-commit hooks).
    Staged(StagedArgs),
    /// Write .git/hooks/pre-commit that runs `sgscan staged` (with --pre-push: .git/hooks/pre-push
    /// that runs `sgscan pre-push`).
    InstallHook(InstallHookArgs),
    /// As git's pre-push hook: scan the commits being pushed that the remote does not have yet;
    /// exit 1 blocks the push.
    PrePush(PrePushArgs),
    /// Revoke a key by its id with an admin key (SGSCAN_ADMIN_KEY or --admin-key-file).
    Revoke(RevokeIdArgs),
    /// Merge JSON/JSONL reports (e.g. of `git --shard` jobs) into one, by fingerprint.
    Merge(MergeArgs),
    /// In CI (GitHub Actions, GitLab CI): scan what the push or pull request brings, picked from
    /// the CI's event data; the whole history where there is none.
    #[command(after_help = ci_after_help())]
    Ci(CiArgs),
    /// Scan standard input as one stream (`kubectl logs … | sgscan stdin`).
    Stdin(StdinArgs),
    /// List every key of the account with its scopes and privilege; flag leaked and over-privileged keys.
    Audit(AuditArgs),
    /// Replace keys: create a key with the same (or fewer) scopes, hand it over, then revoke the old one.
    Rotate(RotateArgs),
    /// Add fingerprints (as the human report prints them) to .sgscanignore, so later scans allow them.
    Ignore(IgnoreArgs),
    /// Print the shell completion script for SHELL (`sgscan completions bash > /etc/bash_completion.d/sgscan`).
    Completions(CompletionsArgs),
    /// Print the man page in roff (`sgscan man > sgscan.1`).
    Man,
    /// Print the JSON Schema (draft 2020-12) of the JSON report, or of a JSONL report's lines.
    Schema(SchemaArgs),
    /// Run as a server's pre-receive hook: reject a push that brings a SendGrid API key
    /// (`sgscan install-hook --server` installs it).
    PreReceive(PreReceiveArgs),
    /// Sweep the repositories of GitHub organisations and users (token: GITHUB_TOKEN or --token-file).
    Github(GithubArgs),
    /// Sweep the projects of GitLab groups and users (token: GITLAB_TOKEN or --token-file).
    Gitlab(GitlabArgs),
    /// Sweep the repositories of Gitea or Forgejo organisations and users (token: GITEA_TOKEN or
    /// --token-file).
    Gitea(GiteaArgs),
}

/// `sgscan ignore`: appends to the ignore file.
#[derive(Debug, Args)]
pub struct IgnoreArgs {
    /// Full fingerprints: 64 hex digits, as on the report's `sgscan ignore` line (or the JSON
    /// report's `fingerprint`).
    #[arg(required = true, value_name = "FINGERPRINT")]
    pub fingerprints: Vec<String>,
    /// Why these are not leaks (a fixture, a revoked test key), kept as the line's comment.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The ignore file to append to (default: .sgscanignore at the top of the repository the
    /// current directory is in, else in the current directory).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// `sgscan audit`: the account as the admin key sees it.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// File holding an admin key (api_keys.read) to list the account with. Also read from the
    /// SGSCAN_ADMIN_KEY environment variable. Never given on the command line.
    #[arg(long, value_name = "FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// TOML file `allowed_scopes = [...]`: flag keys holding scopes beyond it.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// sgscan JSON/JSONL reports: account keys whose id they found are marked leaked.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub report: Vec<PathBuf>,
    /// sgscan's rotation audit log (`sgscan rotate --audit-log`): rotation dates, the only key ages there are.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `sgscan rotate`: replacement first, revocation last.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The id of a key to replace (the 22-character middle segment, as reports give it); repeat for more.
    #[arg(long, value_name = "ID", required = true, allow_hyphen_values = true)]
    pub key_id: Vec<String>,
    /// Give the replacement only the old key's scopes this policy allows (least privilege).
    #[arg(long, value_name = "FILE", conflicts_with = "scopes")]
    pub policy: Option<PathBuf>,
    /// Give the replacement exactly these scopes (each must be one the old key holds).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Write the new key to FILE (created with mode 0600; an existing FILE is refused before anything is sent).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "new_key_command",
        conflicts_with = "new_key_command"
    )]
    pub new_key_file: Option<PathBuf>,
    /// Run `sh -c CMD` with the new key on its standard input (e.g. `gh secret set SENDGRID_API_KEY`); a
    /// non-zero exit is a failed hand-over, and the new key is deleted again.
    #[arg(long, value_name = "CMD")]
    pub new_key_command: Option<String>,
    /// How long the --new-key-command may run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub new_key_command_timeout: u64,
    /// Rotate without asking (for CI).
    #[arg(long)]
    pub yes: bool,
    /// Look the keys up and show the plan; create and revoke nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// File holding an admin key (api_keys.read, .create, .delete) to rotate with. Also read from
    /// the SGSCAN_ADMIN_KEY environment variable. Never given on the command line.
    #[arg(long, value_name = "FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// Append an attempt and a result line for each step to FILE (JSON lines).
    #[arg(long, value_name = "FILE", default_value = "sgscan-audit.jsonl")]
    pub audit_log: PathBuf,
    /// How long to wait for the new key to work and the old one to be gone, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub revoke_wait: u64,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
    Jsonl,
    Sarif,
    /// One self-contained page (no scripts, no external assets); keys always redacted.
    Html,
}

impl From<FormatArg> for report::Format {
    fn from(f: FormatArg) -> report::Format {
        match f {
            FormatArg::Human => report::Format::Human,
            FormatArg::Json => report::Format::Json,
            FormatArg::Jsonl => report::Format::Jsonl,
            FormatArg::Sarif => report::Format::Sarif,
            FormatArg::Html => report::Format::Html,
        }
    }
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Any,
    Live,
    None,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// Files or directories to scan.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also scan files excluded by .gitignore, .ignore and git's exclude files.
    #[arg(long, help_heading = SCAN)]
    pub no_ignore: bool,
    /// Follow symbolic links (loops are detected and reported as skipped).
    #[arg(long, short = 'L', help_heading = SCAN)]
    pub follow: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct GitArgs {
    /// The repositories: work trees, bare repositories, or URLs (`https://`, `ssh://`,
    /// `git@host:path`, `file://`; `http://` to loopback only) cloned as bare mirrors with every
    /// ref; default `.`. Several make one report: each finding names its repository, and each
    /// distinct key is verified once. Credentials come from git's credential helpers or the
    /// environment; a password in a URL is moved out of git's arguments and never shown.
    #[arg(value_name = "REPO")]
    pub repos: Vec<PathBuf>,
    /// Also sweep the repositories listed in FILE, one path or URL per line (`#` comments): an
    /// organisation's mirror directory in one run.
    #[arg(long, value_name = "FILE", help_heading = SCAN)]
    pub repos_file: Option<PathBuf>,
    /// Only the blobs introduced by the commits in BASE..HEAD (a push). A BASE of all zeros (a new
    /// branch or tag) means the commits none of the remote's other branches has.
    #[arg(long, value_name = "BASE..HEAD", help_heading = SCAN)]
    pub range: Option<String>,
    /// With --range, scan what the clone has if BASE is missing (shallow checkout) instead of failing.
    #[arg(long, requires = "range", help_heading = SCAN)]
    pub shallow_ok: bool,
    /// With a zero BASE: the branch that was pushed, left out of the remote's branches whose
    /// commits are known (default: the branch the HEAD side names, or the one checked out at it);
    /// `refs/tags/NAME` for a pushed tag.
    #[arg(long, value_name = "NAME", requires = "range", help_heading = SCAN)]
    pub branch: Option<String>,
    /// The remote's default branch, from `sgscan ci`'s event data (not a flag).
    #[arg(skip)]
    pub default_branch: Option<String>,
    /// Scan only shard I of N (0-based): for one repository its objects split by id, for several
    /// the repositories split by a hash of their names, for spreading a sweep over N jobs. Merge
    /// the shards' JSONL reports with `sgscan merge`.
    #[arg(long, value_name = "I/N", value_parser = git::parse_shard, help_heading = SCAN)]
    pub shard: Option<(u64, u64)>,
    /// Also sweep the history of each submodule that has a local clone (paths are reported under
    /// the submodule's path).
    #[arg(long, help_heading = SCAN)]
    pub submodules: bool,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The variables `sgscan ci` reads, each with what it takes from it (its help and the man page).
pub const CI_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "GITHUB_EVENT_NAME",
        "GitHub Actions: the event (push, pull_request, pull_request_target, merge_group); its payload names the range",
    ),
    (
        "GITHUB_EVENT_PATH",
        "GitHub Actions: the event's payload (JSON: before, after, forced and the default branch of a push; base and head of a pull request or merge queue group)",
    ),
    ("GITHUB_REF", "GitHub Actions: the branch or tag pushed"),
    (
        "GITHUB_ACTIONS",
        "true: findings are also written as workflow annotations in the job's log",
    ),
    (
        "GITHUB_STEP_SUMMARY",
        "GitHub Actions: the file a Markdown summary is appended to",
    ),
    (
        "CI_PIPELINE_SOURCE",
        "GitLab CI: push or merge_request_event (others: the whole history)",
    ),
    (
        "CI_COMMIT_SHA",
        "GitLab CI: the commit the pipeline runs for (the range's head)",
    ),
    (
        "CI_COMMIT_BEFORE_SHA",
        "GitLab CI push: the branch's previous commit (the range's base; zeros for a new branch)",
    ),
    (
        "CI_COMMIT_BRANCH, CI_COMMIT_TAG, CI_COMMIT_REF_NAME",
        "GitLab CI push: the branch or tag pushed",
    ),
    (
        "CI_DEFAULT_BRANCH",
        "GitLab CI: the default branch, for a new branch's range",
    ),
    (
        "CI_MERGE_REQUEST_DIFF_BASE_SHA",
        "GitLab CI merge request: the range's base",
    ),
    (
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, CI_MERGE_REQUEST_IID",
        "GitLab CI merge request: its branch and number, as said on stderr",
    ),
];

fn ci_after_help() -> String {
    let mut help = String::from("Environment (read to pick the range; none set: the whole history):\n");
    for (names, what) in CI_ENVIRONMENT {
        help.push_str(&format!("  {names}\n      {what}\n"));
    }
    help
}

/// Sweeping many repositories, URLs among them.
#[derive(Debug, Args, Default, Clone)]
pub struct SweepArgs {
    /// Keep the mirrors of URLs in DIR; the next run fetches into them instead of cloning again
    /// (default: a temporary directory, each mirror removed once swept).
    #[arg(long, value_name = "DIR", help_heading = SCAN)]
    pub clone_dir: Option<PathBuf>,
    /// Remember in FILE the ref tips swept per repository (and the findings, never the keys):
    /// a re-run sweeps only what the refs reach that was not swept before, and reports what it
    /// brings. The file is replaced only after a successful sweep.
    #[arg(long, value_name = "FILE", help_heading = SCAN)]
    pub state: Option<PathBuf>,
    /// With --state, also report the findings past runs kept in the state file (unverified: it
    /// keeps no key), so the report is the whole of what the repositories hold.
    #[arg(long, requires = "state", help_heading = SCAN)]
    pub all_findings: bool,
    /// Allow plain `http://` and `git://` URLs to hosts other than loopback: everything, a token
    /// included, crosses the network in the clear.
    #[arg(long, help_heading = SCAN)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Args)]
pub struct CiArgs {
    /// The repository (the CI checkout).
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// In a shallow clone where what the range needs cannot be fetched from `origin`, scan what
    /// is there instead of failing (commits at the shallow boundary count their whole tree as new).
    #[arg(long, help_heading = SCAN)]
    pub shallow_ok: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct StagedArgs {
    /// The repository.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Only these files (what the pre-commit framework passes): the staged content of each that is
    /// staged, the work-tree content of the others (`pre-commit run --all-files`).
    #[arg(long, num_args = 1.., value_name = "FILE", help_heading = SCAN)]
    pub files: Option<Vec<PathBuf>>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct StdinArgs {
    /// The path reports show for standard input.
    #[arg(long, value_name = "NAME", default_value = stdin::DEFAULT_NAME)]
    pub name: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct InstallHookArgs {
    /// The repository.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Replace an existing hook.
    #[arg(long)]
    pub force: bool,
    /// Write the pre-push hook (`sgscan pre-push`: keys in commits about to be pushed) instead of
    /// the pre-commit one.
    #[arg(long)]
    pub pre_push: bool,
    /// Write hooks/pre-receive into a bare repository (a server's): it runs `sgscan pre-receive`.
    #[arg(long)]
    pub server: bool,
}

/// `sgscan pre-push`: git runs it with the remote's name and URL, and the refs being pushed on
/// standard input.
#[derive(Debug, Args)]
pub struct PrePushArgs {
    /// The remote's name (its remote-tracking branches say what it has already).
    #[arg(value_name = "REMOTE")]
    pub remote: Option<String>,
    /// The remote's URL (named in the message only).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// The repository [default: the one the current directory is in, as for a hook].
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

const FORGE: &str = "Forge";

/// `sgscan github`: what to enumerate.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["org", "user", "repo"])))]
pub struct GithubArgs {
    /// An organisation whose repositories to sweep (repeat for more).
    #[arg(long, value_name = "ORG")]
    pub org: Vec<String>,
    /// A user whose repositories to sweep (repeat for more).
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,
    /// One repository, OWNER/NAME (repeat for more).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Vec<String>,
    /// The REST API, for GitHub Enterprise Server: https://HOST/api/v3. (`--api-url` is SendGrid's,
    /// for verifying what the sweep finds.)
    #[arg(long = "github-api-url", id = "forge_api_url", value_name = "URL", default_value = forge::github::DEFAULT_API_URL, help_heading = FORGE)]
    pub api_url: String,
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// `sgscan gitlab`: what to enumerate.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["group", "user"])))]
pub struct GitlabArgs {
    /// A group (numeric id or full path, e.g. acme/platform) whose projects to sweep (repeat for more).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// Take the projects of the groups' subgroups too.
    #[arg(long)]
    pub include_subgroups: bool,
    /// A user whose projects to sweep (repeat for more).
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,
    /// The REST API, for self-managed GitLab: https://HOST/api/v4. (`--api-url` is SendGrid's, for
    /// verifying what the sweep finds.)
    #[arg(long = "gitlab-api-url", id = "forge_api_url", value_name = "URL", default_value = forge::gitlab::DEFAULT_API_URL, help_heading = FORGE)]
    pub api_url: String,
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// `sgscan gitea`: what to enumerate.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["org", "user"])))]
pub struct GiteaArgs {
    /// An organisation whose repositories to sweep (repeat for more).
    #[arg(long, value_name = "ORG")]
    pub org: Vec<String>,
    /// A user whose repositories to sweep (repeat for more).
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,
    /// The REST API: https://HOST/api/v1 (Codeberg: https://codeberg.org/api/v1). (`--api-url` is
    /// SendGrid's, for verifying what the sweep finds.)
    #[arg(long = "gitea-api-url", id = "forge_api_url", value_name = "URL", required = true, help_heading = FORGE)]
    pub api_url: String,
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// What every forge command shares.
#[derive(Debug, Args)]
pub struct ForgeArgs {
    /// File holding the API token (also read from GITHUB_TOKEN / GITLAB_TOKEN / GITEA_TOKEN). Never
    /// given on the command line. It also authenticates the clones.
    #[arg(long, value_name = "FILE", help_heading = FORGE)]
    pub token_file: Option<PathBuf>,
    /// Sweep forks too.
    #[arg(long, help_heading = FORGE)]
    pub include_forks: bool,
    /// Sweep archived repositories too.
    #[arg(long, help_heading = FORGE)]
    pub include_archived: bool,
    /// Sweep the wikis' repositories too (where the wiki is enabled).
    #[arg(long, help_heading = FORGE)]
    pub include_wikis: bool,
    /// Print the repositories it would sweep, one per line with [fork], [archived], [wiki] and
    /// [skipped: why] markers, and exit (a dry run).
    #[arg(long, help_heading = FORGE)]
    pub list: bool,
    /// The longest all rate-limit waits of the run may take together, in seconds; a longer ask
    /// ends the run with an error.
    #[arg(long, value_name = "SECS", default_value_t = 900, help_heading = FORGE)]
    pub max_rate_limit_wait: u64,
    /// Shard I of N of the repositories listed (a stable hash of each URL), for a matrix of jobs;
    /// `sgscan merge` joins their JSONL reports.
    #[arg(long, value_name = "I/N", value_parser = git::parse_shard, help_heading = SCAN)]
    pub shard: Option<(u64, u64)>,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl ForgeArgs {
    /// `sgscan git`'s flags for sweeping what the forge listed.
    pub fn git_args(self) -> GitArgs {
        GitArgs {
            repos: Vec::new(),
            repos_file: None,
            range: None,
            shallow_ok: false,
            branch: None,
            default_branch: None,
            shard: self.shard,
            submodules: false,
            sweep: self.sweep,
            common: self.common,
        }
    }

    pub fn include(&self) -> forge::Include {
        forge::Include {
            forks: self.include_forks,
            archived: self.include_archived,
            wikis: self.include_wikis,
        }
    }

    pub fn client_options(&self) -> forge::ClientOptions {
        forge::ClientOptions {
            max_wait: Duration::from_secs(self.max_rate_limit_wait),
            ..forge::ClientOptions::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Reports written with `--format jsonl` (or json).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Load rules from DIR (for SARIF rule metadata) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub patterns: Option<PathBuf>,
}

/// Where and how the report is written.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "human", help_heading = OUTPUT)]
    pub format: FormatArg,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE", help_heading = OUTPUT)]
    pub output: Option<PathBuf>,
    /// SARIF: the category of this analysis (`automationDetails.id`), to upload several sgscan runs
    /// of one commit side by side.
    #[arg(long, value_name = "NAME", help_heading = OUTPUT)]
    pub sarif_category: Option<String>,
}

/// `sgscan revoke` takes only what revoking by id uses: no scan, verification or cache flags that
/// it would accept and ignore.
#[derive(Debug, Args)]
pub struct RevokeIdArgs {
    /// The key id: the 22-character middle segment, as reports give it.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub key_id: String,
    /// Revoke without asking (for CI).
    #[arg(long)]
    pub yes: bool,
    /// Look the id up and show what would be revoked; send no DELETE.
    #[arg(long)]
    pub dry_run: bool,
    /// File holding an admin key (api_keys.read + api_keys.delete) to revoke with. Also read from
    /// the SGSCAN_ADMIN_KEY environment variable. Never given on the command line.
    #[arg(long, value_name = "FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// Append the attempt and its result to FILE (JSON lines).
    #[arg(long, value_name = "FILE", default_value = "sgscan-audit.jsonl")]
    pub audit_log: PathBuf,
    /// How long to wait for the id to disappear from the account, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub revoke_wait: u64,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Options every scanning command shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print full keys in human, JSON and JSONL reports (never in SARIF). Off by default.
    #[arg(long, help_heading = OUTPUT)]
    pub show_secrets: bool,
    /// No progress bar, and no next steps under each key in the human report.
    #[arg(long, short = 'q', help_heading = OUTPUT)]
    pub quiet: bool,
    #[command(flatten)]
    pub work: WorkArgs,
    /// A previous JSON or JSONL report: its findings are not reported again.
    #[arg(long, value_name = "FILE", help_heading = SCAN)]
    pub baseline: Option<PathBuf>,
    /// Which findings make the exit code 1: any, only keys verified live (needs --verify), none
    /// [default: any].
    #[arg(long, value_enum, help_heading = OUTPUT)]
    pub fail_on: Option<FailOn>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub revoke: RevokeArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The rules a scan runs and the work it may do: every scanning command's, the pre-receive hook's
/// too.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// Load detection rules from the *.toml files in DIR instead of the built-in ones.
    #[arg(long, value_name = "DIR", help_heading = SCAN)]
    pub patterns: Option<PathBuf>,
    /// Skip files larger than this (bytes, or with a K/M/G suffix) [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = SCAN)]
    pub max_file_size: Option<u64>,
    /// Worker threads (0: one per core). At most 4 per core (16 at least, 256 at most): more is
    /// capped, with a note.
    #[arg(long, short = 'j', default_value_t = 0, help_heading = SCAN)]
    pub threads: usize,
}

/// What the scanned files may change of a scan (config, allow lists), and how far archives are
/// opened: every scanning command's, the pre-receive hook's too.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Read settings from FILE (trusted whole, [api] included) instead of the .sgscan.toml found at
    /// the scanned root or repository top. Flags override it.
    #[arg(long, value_name = "FILE", help_heading = SCAN)]
    pub config: Option<PathBuf>,
    /// Let no file from the scanned tree change the result: no .sgscan.toml, no .sgscanignore, no
    /// `sgscan:allow` marker.
    #[arg(long, conflicts_with = "config", help_heading = SCAN)]
    pub no_config: bool,
    /// `sgscan:allow` markers allow nothing: every exception goes through a reviewed ignore file.
    #[arg(long, help_heading = SCAN)]
    pub no_inline_allow: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// How far archives and compressed files are opened: every inflation is bounded.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    // No clap defaults here: a flag not given leaves the config file's value (or the default) in place.
    /// Open archives and compressed files nested up to N deep (a .tar.gz is 2); 0 opens none [default: 4].
    #[arg(long, value_name = "N", help_heading = ARCHIVE)]
    pub max_archive_depth: Option<u32>,
    /// Stop reading an archive member past this many inflated bytes (K/M/G suffix) [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = ARCHIVE)]
    pub max_member_size: Option<u64>,
    /// Stop opening one file's archives past this many inflated bytes, all members together [default: 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = ARCHIVE)]
    pub max_archive_size: Option<u64>,
    /// Stop a member or stream that inflates more than N:1 (after its first MiB): a likely bomb [default: 200].
    #[arg(long, value_name = "N", help_heading = ARCHIVE)]
    pub max_ratio: Option<u64>,
    /// Stop opening one file's archives past N members, all layers together [default: 100000].
    #[arg(long, value_name = "N", help_heading = ARCHIVE)]
    pub max_members: Option<u64>,
}

impl ArchiveArgs {
    /// The flags over the config's `[archive]` over the defaults.
    pub fn limits(&self, file: Option<&config::ArchiveSection>) -> archive::Limits {
        let d = archive::Limits::default();
        let size = |v: &Option<Spanned<config::Size>>| v.as_ref().map(|v| v.get_ref().0);
        let num = |v: &Option<Spanned<u64>>| v.as_ref().map(|v| *v.get_ref());
        archive::Limits {
            depth: (self.max_archive_depth)
                .or_else(|| file.and_then(|a| a.max_depth.as_ref().map(|v| *v.get_ref())))
                .unwrap_or(d.depth),
            max_member: (self.max_member_size)
                .or_else(|| file.and_then(|a| size(&a.max_member_size)))
                .unwrap_or(d.max_member),
            max_total: (self.max_archive_size)
                .or_else(|| file.and_then(|a| size(&a.max_size)))
                .unwrap_or(d.max_total),
            max_ratio: (self.max_ratio)
                .or_else(|| file.and_then(|a| num(&a.max_ratio)))
                .unwrap_or(d.max_ratio),
            max_members: (self.max_members)
                .or_else(|| file.and_then(|a| num(&a.max_members)))
                .unwrap_or(d.max_members),
        }
    }
}

/// Revoking live keys.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Revoke each key verified live in this run (implies --verify). Asks first on a terminal.
    #[arg(long, conflicts_with = "no_network", help_heading = REVOKE)]
    pub revoke: bool,
    /// Revoke without asking (for CI).
    #[arg(long, requires = "revoke", help_heading = REVOKE)]
    pub yes: bool,
    /// Show what would be revoked; send nothing.
    #[arg(long, requires = "revoke", help_heading = REVOKE)]
    pub dry_run: bool,
    /// File holding an admin key (api_keys.read + api_keys.delete) to revoke with. Also read from
    /// the SGSCAN_ADMIN_KEY environment variable. Never given on the command line.
    #[arg(long, value_name = "FILE", requires = "revoke", help_heading = REVOKE)]
    pub admin_key_file: Option<PathBuf>,
    /// Append an `attempt` line before each DELETE and a `result` line after it to FILE (JSON lines).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "sgscan-audit.jsonl",
        requires = "revoke",
        help_heading = REVOKE
    )]
    pub audit_log: PathBuf,
    /// How long to wait for a revocation to take effect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, requires = "revoke", help_heading = REVOKE)]
    pub revoke_wait: u64,
    /// Rotate each live key instead of only revoking it, as `sgscan rotate` does: create a
    /// replacement, hand it over, then revoke the old key. Needs an admin key.
    #[arg(long, requires = "revoke", requires = "new_key", help_heading = ROTATE)]
    pub rotate: bool,
    #[command(flatten)]
    pub new_key: NewKeyArgs,
    /// How long the --new-key-command may run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, requires = "rotate", help_heading = ROTATE)]
    pub new_key_command_timeout: u64,
    /// Give each replacement exactly these scopes (each must be one its old key holds); default:
    /// the old key's, or with --policy those of them the policy allows.
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        requires = "rotate",
        conflicts_with = "policy",
        help_heading = ROTATE
    )]
    pub scopes: Vec<String>,
}

/// Where `--rotate` puts each new key: one of the two.
#[derive(Debug, Args)]
#[group(id = "new_key", multiple = false)]
pub struct NewKeyArgs {
    /// Write the new key to FILE (mode 0600; one live key only; an existing FILE is refused before the scan).
    #[arg(long, value_name = "FILE", requires = "rotate", help_heading = ROTATE)]
    pub new_key_file: Option<PathBuf>,
    /// Run `sh -c CMD` with each new key on its standard input; a non-zero exit is a failed
    /// hand-over, and that new key is deleted again.
    #[arg(long, value_name = "CMD", requires = "rotate", help_heading = ROTATE)]
    pub new_key_command: Option<String>,
}

/// Checking keys against the SendGrid API.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check each distinct key against the SendGrid API: live, invalid or unknown; scopes; privilege.
    #[arg(long, help_heading = VERIFY)]
    pub verify: bool,
    /// Make no network request at all (with --verify: only --cache results are used).
    #[arg(long, help_heading = VERIFY)]
    pub no_network: bool,
    /// TOML file `allowed_scopes = [...]`: flag live keys holding scopes beyond it.
    #[arg(long, value_name = "FILE", help_heading = VERIFY)]
    pub policy: Option<PathBuf>,
    /// Keep verification results across runs in FILE (fingerprint → status; never the key).
    #[arg(long, value_name = "FILE", help_heading = VERIFY)]
    pub cache: Option<PathBuf>,
    /// How long a cached result stands, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 24, help_heading = VERIFY)]
    pub cache_hours: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, help_heading = VERIFY)]
    pub verify_concurrency: usize,
}

/// How sgscan talks to SendGrid (verification and revocation alike).
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// SendGrid API base URL (EU accounts: https://api.eu.sendgrid.com). https only; http only for
    /// loopback [default: https://api.sendgrid.com].
    #[arg(long, env = "SGSCAN_API_URL", value_name = "URL", help_heading = API)]
    pub api_url: Option<String>,
    /// Timeout of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10, help_heading = API)]
    pub verify_timeout: u64,
    /// Time allowed per key, retries included, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, help_heading = API)]
    pub verify_deadline: u64,
    /// Log each API request (key id and fingerprint only) to stderr.
    #[arg(long, short = 'v', help_heading = API)]
    pub verbose: bool,
}

impl ApiArgs {
    pub fn options(&self) -> ApiOptions {
        self.options_over(None)
    }

    /// With `file_url` (a config's `[api] url`) under the flag and the environment.
    pub fn options_over(&self, file_url: Option<&str>) -> ApiOptions {
        ApiOptions {
            base_url: self
                .api_url
                .as_deref()
                .or(file_url)
                .unwrap_or(DEFAULT_API_URL)
                .to_string(),
            timeout: Duration::from_secs(self.verify_timeout.max(1)),
            deadline: Duration::from_secs(self.verify_deadline.max(1)),
            verbose: self.verbose,
            ..ApiOptions::default()
        }
    }
}

/// The most worker threads a scan starts: 4 per core, which keeps slow disks busy, within
/// [16, 256]. Idle workers look for work at each other, at a cost that grows with the square of
/// their number: `-j 5000` spent over a minute on a one-file tree, `-j 256` half a second on 2
/// cores, `-j 128` 30 ms; each costs a stack and a repository handle too.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.saturating_mul(4).clamp(16, 256)
}

impl CommonArgs {
    /// `--threads`, capped at [`max_threads`].
    pub fn threads(&self) -> usize {
        self.work.threads.min(max_threads())
    }

    /// What is said when `--threads` was capped.
    pub fn threads_note(&self) -> Option<String> {
        let max = max_threads();
        (self.work.threads > max).then(|| {
            format!(
                "--threads {} capped at {max} worker threads (4 per core, 16 at least, 256 at most)",
                self.work.threads
            )
        })
    }

    /// The library's options for what follows a scan: the flags over `config` (if any) over the
    /// defaults. `ignores` carries the config's ignores and how finding paths are read.
    pub fn scan_options(&self, config: Option<&Config>, ignores: Ignores) -> anyhow::Result<ScanOptions> {
        let file = config.map(|c| &c.file);
        let (v, r) = (&self.verify, &self.revoke);
        let rotate = match (r.rotate, &r.new_key.new_key_file, &r.new_key.new_key_command) {
            (false, _, _) => None,
            (true, Some(file), _) => Some(Handover::File(file.clone())),
            (true, None, Some(cmd)) => Some(Handover::Command {
                cmd: cmd.clone(),
                timeout: Duration::from_secs(r.new_key_command_timeout.max(1)),
            }),
            (true, None, None) => {
                anyhow::bail!("say where each new key goes: --new-key-file FILE or --new-key-command CMD")
            }
        }
        .map(|handover| RotateSettings {
            handover,
            scopes: r.scopes.iter().map(|s| s.trim().to_string()).collect(),
        });
        Ok(ScanOptions {
            patterns: self.work.patterns.clone(),
            baseline: self.baseline.clone(),
            verify: (v.verify || r.revoke).then(|| VerifySettings {
                api: self.api.options_over(
                    file.and_then(|f| f.api.as_ref())
                        .map(|a| a.get_ref().url.get_ref().as_str()),
                ),
                no_network: v.no_network,
                policy: v.policy.clone(),
                allowed_scopes: file
                    .and_then(|f| f.policy.as_ref())
                    .map(|p| p.allowed_scopes.clone()),
                cache: v.cache.clone(),
                cache_max_age: Duration::from_secs(v.cache_hours.saturating_mul(3600)),
                concurrency: v.verify_concurrency,
            }),
            revoke: r.revoke.then(|| RevokeSettings {
                admin_key_file: r.admin_key_file.clone(),
                dry_run: r.dry_run,
                wait: Duration::from_secs(r.revoke_wait),
                audit_log: r.audit_log.clone(),
                rotate,
            }),
            archive: self.trust.archive.limits(file.map(|f| &f.archive)),
            ignores,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// `sgscan completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// `sgscan schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The report format: `json` (one document) or `jsonl` (each line).
    #[arg(value_enum, default_value = "json")]
    pub format: SchemaFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    Json,
    Jsonl,
}

// `sgscan pre-receive`: kept together.

/// `sgscan pre-receive`: a server-side hook; reads `<old> <new> <ref>` lines on standard input.
/// The shared flags' help says where a hook reads what.
#[derive(Debug, Args)]
#[command(mut_args(hook_help))]
pub struct PreReceiveArgs {
    /// How long the hook may take in all (`500ms`, `4s`, `1m`); git hosts kill slow hooks (GitHub
    /// Enterprise Server after 5 s).
    #[arg(long, value_name = "DURATION", default_value = "4s", value_parser = parse_duration)]
    pub time_budget: Duration,
    /// What to do with a push whose scan did not finish within --time-budget.
    #[arg(long, value_enum, default_value = "reject")]
    pub on_timeout: OnTimeout,
    /// Append a line for each key let through with `git push -o sgscan.allow=FINGERPRINT` to FILE
    /// (JSON lines, mode 0600). A bypass that cannot be logged is refused.
    #[arg(long, value_name = "FILE", default_value = "sgscan-audit.jsonl")]
    pub audit_log: PathBuf,
    /// Write the full report to FILE, for the server's administrator (the pusher sees only a
    /// short summary).
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// `--verify` (off by default: a hook should not depend on the network) runs within the budget.
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl PreReceiveArgs {
    /// The scanning flags as every scanning command has them: no revocation from a hook.
    pub fn common(self) -> anyhow::Result<CommonArgs> {
        use clap::FromArgMatches;
        // RevokeArgs' defaults, as clap gives them (its flags name some of VerifyArgs').
        let command = RevokeArgs::augment_args(VerifyArgs::augment_args(clap::Command::new("pre-receive")));
        let revoke = RevokeArgs::from_arg_matches(&command.try_get_matches_from(["pre-receive"])?)?;
        Ok(CommonArgs {
            output: self.output,
            show_secrets: false,
            // A hook's report is for the administrator: no progress, no steps for the pusher.
            quiet: true,
            work: self.work,
            baseline: None,
            fail_on: None,
            // Every line scanned is one the push brings: a `sgscan:allow` on it is the pusher's own
            // say-so, a bypass with no audit line. `-o sgscan.allow=` is the logged way.
            trust: TrustArgs {
                no_inline_allow: true,
                ..self.trust
            },
            verify: self.verify,
            revoke,
            api: self.api,
        })
    }
}

/// The shared flags' help, as it reads for a hook.
fn hook_help(arg: clap::Arg) -> clap::Arg {
    let help = match arg.get_id().as_str() {
        "threads" => "Worker threads (0: one per core)",
        "config" => "Read settings from FILE instead of the .sgscan.toml on the repository's default branch",
        "no_config" => "Let no file of the repository change the result: no .sgscan.toml, no .sgscanignore",
        // Always on in the hook: every marker it could see is one the push itself brings.
        "no_inline_allow" => return arg.hide(true),
        _ => return arg,
    };
    arg.help(help)
}

/// `--on-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnTimeout {
    Reject,
    Accept,
}

/// `250ms`, `4s`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 500ms, 4s, 1m)"))?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("'{text}': the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is out of range"))
}
