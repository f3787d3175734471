//! Command-line interface: parses arguments, runs a scan, writes the report, returns the exit code
//! (0 clean, 1 findings, 2 error).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::allow::{Allowlist, IGNORE_FILE};
use crate::detect::Detector;
use crate::findings::{Collector, Outcome};
use crate::report::{self, Format};
use crate::revoke::{self, AdminKey, RevokeOptions};
use crate::rules;
use crate::sendgrid::{Api, ApiOptions};
use crate::source::{Source as _, git, staged, worktree};
use crate::text::Safe;
use crate::verify::{self, Cache, Policy};
use std::time::Duration;

pub const EXIT_CLEAN: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

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
    /// Write .git/hooks/pre-commit that runs `sgscan staged`.
    InstallHook(InstallHookArgs),
    /// Revoke a key by its id with an admin key (SGSCAN_ADMIN_KEY or --admin-key-file).
    Revoke(RevokeIdArgs),
    /// Merge JSON/JSONL reports (e.g. of `git --shard` jobs) into one, by fingerprint.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Reports written with `--format jsonl` (or json).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Load rules from DIR (for SARIF rule metadata) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub patterns: Option<PathBuf>,
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
    /// SendGrid API base URL (EU accounts: https://api.eu.sendgrid.com). https only; http only for loopback.
    #[arg(long, env = "SGSCAN_API_URL", value_name = "URL", default_value = crate::sendgrid::DEFAULT_API_URL)]
    pub api_url: String,
    /// Timeout of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub verify_timeout: u64,
    /// Time allowed per request, retries included, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub verify_deadline: u64,
    /// Log each API request (key id and fingerprint only) to stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct GitArgs {
    /// The repository (a work tree or a bare repository).
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Only the blobs introduced by the commits in BASE..HEAD (a push). A BASE of all zeros (a new
    /// branch) means the commits no other ref has.
    #[arg(long, value_name = "BASE..HEAD")]
    pub range: Option<String>,
    /// With --range, scan what the clone has if BASE is missing (shallow checkout) instead of failing.
    #[arg(long)]
    pub shallow_ok: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Scan only shard I of N (0-based; objects split by id), for spreading one repository over N
    /// jobs. Merge the shards' JSONL reports with `sgscan merge`.
    #[arg(long, value_name = "I/N", value_parser = git::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Also sweep the history of each submodule that has a local clone (paths are reported under
    /// the submodule's path).
    #[arg(long)]
    pub submodules: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct StagedArgs {
    /// The repository.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct InstallHookArgs {
    /// The repository.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Replace an existing pre-commit hook.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// Files or directories to scan.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also scan files excluded by .gitignore, .ignore and git's exclude files.
    #[arg(long)]
    pub no_ignore: bool,
    /// Follow symbolic links (loops are detected and reported as skipped).
    #[arg(long, short = 'L')]
    pub follow: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options every scanning command shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print full keys in human, JSON and JSONL reports (never in SARIF). Off by default.
    #[arg(long)]
    pub show_secrets: bool,
    /// Load detection rules from the *.toml files in DIR instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub patterns: Option<PathBuf>,
    /// Skip files larger than this (bytes, or with a K/M/G suffix).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Worker threads (0: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
    /// A previous JSON or JSONL report: its findings are not reported again.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub revoke: RevokeArgs,
}

/// Revoking live keys.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Revoke each key verified live in this run (implies --verify). Asks first on a terminal.
    #[arg(long, conflicts_with = "no_network")]
    pub revoke: bool,
    /// Revoke without asking (for CI).
    #[arg(long, requires = "revoke")]
    pub yes: bool,
    /// Show what would be revoked; send nothing.
    #[arg(long, requires = "revoke")]
    pub dry_run: bool,
    /// File holding an admin key (api_keys.read + api_keys.delete) to revoke with. Also read from
    /// the SGSCAN_ADMIN_KEY environment variable. Never given on the command line.
    #[arg(long, value_name = "FILE", requires = "revoke")]
    pub admin_key_file: Option<PathBuf>,
    /// Append an `attempt` line before each DELETE and a `result` line after it to FILE (JSON lines).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "sgscan-audit.jsonl",
        requires = "revoke"
    )]
    pub audit_log: PathBuf,
    /// How long to wait for a revocation to take effect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, requires = "revoke")]
    pub revoke_wait: u64,
}

/// Checking keys against the SendGrid API.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check each distinct key against the SendGrid API: live, invalid or unknown; scopes; privilege.
    #[arg(long)]
    pub verify: bool,
    /// Make no network request at all (with --verify: only --cache results are used).
    #[arg(long)]
    pub no_network: bool,
    /// SendGrid API base URL (EU accounts: https://api.eu.sendgrid.com). https only; http only for loopback.
    #[arg(long, env = "SGSCAN_API_URL", value_name = "URL", default_value = crate::sendgrid::DEFAULT_API_URL)]
    pub api_url: String,
    /// TOML file `allowed_scopes = [...]`: flag live keys holding scopes beyond it.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Keep verification results across runs in FILE (fingerprint → status; never the key).
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// How long a cached result stands, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub cache_hours: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub verify_concurrency: usize,
    /// Timeout of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub verify_timeout: u64,
    /// Time allowed per key, retries included, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub verify_deadline: u64,
    /// Log each API request (key id and fingerprint only) to stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
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

/// Runs the program on the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { EXIT_CLEAN };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sgscan: error: {}", Safe(&format!("{e:#}")));
            EXIT_ERROR
        }
    }
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Dir(args) => run_dir(args),
        Command::Git(args) => run_git(args),
        Command::Staged(args) => run_staged(args),
        Command::InstallHook(args) => install_hook(args),
        Command::Revoke(args) => run_revoke_id(args),
        Command::Merge(args) => run_merge(args),
    }
}

fn load_detector(common: &CommonArgs) -> Result<Detector> {
    let rules = match &common.patterns {
        Some(dir) => rules::load_dir(dir)?,
        None => rules::embedded()?,
    };
    Detector::new(rules).context("cannot build the keyword prefilter")
}

fn run_dir(args: DirArgs) -> Result<i32> {
    let started = Instant::now();
    let detector = load_detector(&args.common)?;
    let collector = Collector::new(&detector);
    let opts = worktree::WalkOptions {
        threads: args.common.threads,
        no_ignore: args.no_ignore,
        follow: args.follow,
        max_file_size: args.common.max_file_size,
    };
    let post = Post::prepare(&args.common)?;
    let source = worktree::Worktree {
        roots: args.paths.clone(),
        opts,
    };
    source.scan(&collector)?;
    let outcome = collector.finish();
    let ignore_files = source.ignore_files();
    post.conclude(outcome, &ignore_files, &args.common, &detector, started)
        .map(|(_, code)| code)
}

fn run_git(args: GitArgs) -> Result<i32> {
    let started = Instant::now();
    let detector = load_detector(&args.common)?;
    let collector = Collector::new(&detector);
    let source = git::History {
        repo: args.repo.clone(),
        opts: git::HistoryOptions {
            threads: args.common.threads,
            max_file_size: args.common.max_file_size,
            range: args.range.clone(),
            shallow_ok: args.shallow_ok,
            progress: !args.quiet,
            shard: args.shard,
            submodules: args.submodules,
            prefix: String::new(),
        },
    };
    let post = Post::prepare(&args.common)?;
    source.scan(&collector)?;
    let outcome = collector.finish();
    let ignore_files = source.ignore_files();
    post.conclude(outcome, &ignore_files, &args.common, &detector, started)
        .map(|(_, code)| code)
}

fn run_staged(args: StagedArgs) -> Result<i32> {
    let started = Instant::now();
    let detector = load_detector(&args.common)?;
    let collector = Collector::new(&detector);
    let source = staged::Staged {
        repo: args.repo.clone(),
        max_file_size: args.common.max_file_size,
        threads: args.common.threads,
    };
    let post = Post::prepare(&args.common)?;
    source.scan(&collector)?;
    let outcome = collector.finish();
    let ignore_files = source.ignore_files();
    let (outcome, code) = post.conclude(outcome, &ignore_files, &args.common, &detector, started)?;
    if code == EXIT_FINDINGS {
        eprintln!(
            "sgscan: commit blocked: {} staged key(s). Remove each key from the file and `git add` it again \
             (or `git restore --staged FILE`), load it from the environment or a secret store instead, and revoke it \
             if it was ever pushed. A false positive? Put `sgscan:allow` on that line, or its fingerprint in {IGNORE_FILE}.",
            outcome.findings.len()
        );
    }
    Ok(code)
}

fn install_hook(args: InstallHookArgs) -> Result<i32> {
    let hook = crate::hook::install(&args.repo, args.force)?;
    eprintln!("sgscan: installed {}", Safe(&hook.display().to_string()));
    Ok(EXIT_CLEAN)
}

/// What follows a scan (allow lists, verification, the report), set up before the scan so that a bad
/// flag or file fails fast instead of after minutes of scanning.
struct Post {
    verify: bool,
    api: Option<Api>,
    policy: Option<Policy>,
    cache: Option<Cache>,
    admin: Option<AdminKey>,
}

fn api_from(v: &VerifyArgs) -> Result<Api> {
    api_with(&v.api_url, v.verify_timeout, v.verify_deadline, v.verbose)
}

fn api_with(url: &str, timeout_secs: u64, deadline_secs: u64, verbose: bool) -> Result<Api> {
    Api::new(ApiOptions {
        base_url: url.to_string(),
        timeout: Duration::from_secs(timeout_secs.max(1)),
        deadline: Duration::from_secs(deadline_secs.max(1)),
        verbose,
        ..ApiOptions::default()
    })
}

impl Post {
    fn prepare(common: &CommonArgs) -> Result<Post> {
        let (v, r) = (&common.verify, &common.revoke);
        let verify = v.verify || r.revoke;
        if !verify {
            return Ok(Post {
                verify,
                api: None,
                policy: None,
                cache: None,
                admin: None,
            });
        }
        if r.revoke && v.no_network {
            anyhow::bail!("--revoke needs the network: it cannot be combined with --no-network");
        }
        let api = if v.no_network { None } else { Some(api_from(v)?) };
        let policy = v.policy.as_deref().map(Policy::load).transpose()?;
        let cache = v
            .cache
            .as_deref()
            .map(|p| Cache::load(p, Duration::from_secs(v.cache_hours.saturating_mul(3600))))
            .transpose()?;
        let admin = if r.revoke {
            AdminKey::load(r.admin_key_file.as_deref())?
        } else {
            None
        };
        Ok(Post {
            verify,
            api,
            policy,
            cache,
            admin,
        })
    }

    fn conclude(
        mut self,
        mut outcome: Outcome,
        ignore_files: &[PathBuf],
        common: &CommonArgs,
        detector: &Detector,
        started: Instant,
    ) -> Result<(Outcome, i32)> {
        Allowlist::load(ignore_files, common.baseline.as_deref())?.apply(&mut outcome);
        let mut revoke_error = None;
        if self.verify {
            let sendgrid_rules: Vec<String> = detector
                .rules()
                .iter()
                .filter(|r| r.spec.sendgrid_key)
                .map(|r| r.id().to_string())
                .collect();
            verify::verify_all(
                &mut outcome.findings,
                verify::VerifyOptions {
                    api: self.api.as_ref(),
                    concurrency: common.verify.verify_concurrency,
                    policy: self.policy.as_ref(),
                    cache: self.cache.as_mut(),
                    // A revocation acts only on what this run saw live.
                    fresh: common.revoke.revoke,
                    sendgrid_rules: &sendgrid_rules,
                },
            );
            if let (true, Some(api)) = (common.revoke.revoke, self.api.as_ref()) {
                let r = &common.revoke;
                let opts = RevokeOptions {
                    api,
                    admin: self.admin.as_ref(),
                    yes: r.yes,
                    dry_run: r.dry_run,
                    wait: Duration::from_secs(r.revoke_wait),
                    audit: &r.audit_log,
                };
                revoke_error = revoke::revoke_all(&mut outcome.findings, &opts).err();
                if let Some(cache) = self.cache.as_mut() {
                    for f in outcome.findings.iter().filter(|f| f.revocation.is_some()) {
                        cache.forget(&f.fingerprint);
                    }
                }
            }
            if let Some(cache) = &self.cache {
                // The findings are worth more than the cache: report them even if it cannot be saved.
                if let Err(e) = cache.save() {
                    eprintln!("sgscan: warning: {}", Safe(&format!("{e:#}")));
                }
            }
        }
        let code = emit(&outcome, common, detector, started)?;
        if let Some(e) = revoke_error {
            // The report above is complete; the error is about the revocation only.
            eprintln!("sgscan: error: {}", Safe(&format!("{e:#}")));
            return Ok((outcome, EXIT_ERROR));
        }
        Ok((outcome, code))
    }
}

fn run_merge(args: MergeArgs) -> Result<i32> {
    let started = Instant::now();
    let mut merger = crate::report::merge::Merger::default();
    for r in &args.reports {
        merger.add_file(r)?;
    }
    let outcome = merger.finish();
    let rules = match &args.patterns {
        Some(dir) => rules::load_dir(dir)?,
        None => rules::embedded()?,
    };
    let ctx = report::Context {
        rules: &rules,
        show_secrets: false,
        elapsed: started.elapsed(),
    };
    write_report(&outcome, args.format, args.output.as_deref(), &ctx)?;
    Ok(if outcome.findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn run_revoke_id(args: RevokeIdArgs) -> Result<i32> {
    let r = &args;
    let api = api_with(&r.api_url, r.verify_timeout, r.verify_deadline, r.verbose)?;
    let admin = AdminKey::load(r.admin_key_file.as_deref())?;
    let opts = RevokeOptions {
        api: &api,
        admin: admin.as_ref(),
        yes: r.yes,
        dry_run: r.dry_run,
        wait: Duration::from_secs(r.revoke_wait),
        audit: &r.audit_log,
    };
    let (result, audit_error) = revoke::revoke_by_id(&args.key_id, &opts)?;
    println!(
        "{}: {} ({})",
        Safe(&args.key_id),
        result.status.as_str(),
        Safe(&result.reason)
    );
    if let Some(step) = &result.manual_step {
        println!("  {}", Safe(step));
    }
    if let Some(why) = audit_error {
        eprintln!("sgscan: error: audit log unwritable: {}", Safe(&why));
        return Ok(EXIT_ERROR);
    }
    Ok(match result.status {
        revoke::RevokeStatus::RevokeFailed => EXIT_ERROR,
        _ => EXIT_CLEAN,
    })
}

fn emit(outcome: &Outcome, common: &CommonArgs, detector: &Detector, started: Instant) -> Result<i32> {
    let ctx = report::Context {
        rules: detector.rules(),
        show_secrets: common.show_secrets,
        elapsed: started.elapsed(),
    };
    write_report(outcome, common.format, common.output.as_deref(), &ctx)?;
    Ok(if outcome.findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn write_report(
    outcome: &Outcome,
    format: Format,
    output: Option<&std::path::Path>,
    ctx: &report::Context,
) -> Result<()> {
    match output {
        Some(path) => {
            let file =
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(anstream::StripStream::new(file));
            report::write(&mut out, format, outcome, ctx)
                .and_then(|_| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = anstream::stdout().lock();
            match report::write(&mut out, format, outcome, ctx).and_then(|_| out.flush()) {
                // The reader went away (`| head`): nothing left to tell it; the exit code still speaks.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write the report to standard output"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("5X").is_err());
        assert!(parse_size("M").is_err());
    }
}
