//! `sgscan dir`, `sgscan git` and `sgscan staged`: a source, the pipeline, the report (also used by
//! `ci` and `stdin`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::args::{CommonArgs, DirArgs, FailOn, GitArgs, StagedArgs};
use super::revoke::TerminalConfirm;
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, error, error_text, write_report};
use crate::allow::{IgnoreText, Ignores};
use crate::config::{self, Config, Trust};
use crate::key::redact_text;
use crate::model::{Finding, Outcome, Repository, Status, Target};
use crate::pipeline::Scan;
use crate::report::{self, state};
use crate::source::{IGNORE_FILE, Source, git, staged, worktree};
use crate::text::{Safe, count};

pub fn dir(args: DirArgs) -> Result<i32> {
    // Walked paths are relative to the current directory (or absolute): no base to give.
    let root = args.paths.first().filter(|p| p.is_dir());
    let settings = Settings::load(&args.common, root.map(PathBuf::as_path), None)?;
    let source = worktree::Worktree {
        roots: args.paths.clone(),
        opts: worktree::WalkOptions {
            threads: args.common.threads(),
            no_ignore: args.no_ignore,
            follow: args.follow,
            max_file_size: settings.max_file_size,
        },
    };
    // SARIF paths go relative to the repository the user stands in, which is what the checkout
    // (and so GitHub) sees; outside any repository, to the current directory.
    let paths = std::env::current_dir().ok().map(|base| {
        let root = git::open_repo(&base)
            .ok()
            .and_then(|r| r.workdir().map(|w| w.to_path_buf()))
            .and_then(|w| std::fs::canonicalize(w).ok())
            .unwrap_or_else(|| base.clone());
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        report::Paths { base, root }
    });
    let mut target = Target::new("dir");
    target.roots = args
        .paths
        .iter()
        .map(|p| redact_text(&p.to_string_lossy()).into_owned())
        .collect();
    for r in args.paths.iter().filter_map(|p| git::describe(p)) {
        if !target.repositories.contains(&r) {
            target.repositories.push(r);
        }
    }
    let run = Run {
        mode: "dir",
        paths,
        why: None,
        quiet: args.common.quiet,
        target,
        finish: None,
    };
    run.go(&source, &args.common, settings).map(|(_, code)| code)
}

/// `mode` names the analysis in SARIF (`git` or `ci`); `why` (from `ci`: the range it chose and why)
/// leads the report's notes.
pub fn git(args: GitArgs, mode: &'static str, why: Option<String>) -> Result<i32> {
    sweep(args, Vec::new(), mode, why)
}

/// `sgscan git` over the repositories named (paths and URLs) and `remotes` (a forge's, found by
/// `sgscan github`/`gitlab`): one report, one verification per key.
pub fn sweep(
    args: GitArgs,
    remotes: Vec<git::Remote>,
    mode: &'static str,
    why: Option<String>,
) -> Result<i32> {
    let named = match remotes.is_empty() {
        true => repo_list(&args.repos, args.repos_file.as_deref())?,
        false => repo_list_or_none(&args.repos, args.repos_file.as_deref())?,
    };
    let mut targets = Vec::new();
    for r in named {
        // `ci` is about the checkout it stands in; a URL-looking path there is still a path.
        match (r.to_str(), mode) {
            (Some(s), "git") => targets.push(git::parse_target(s, args.sweep.allow_insecure_http)?),
            _ => targets.push(git::Target::Path(r)),
        }
    }
    targets.extend(remotes.into_iter().map(git::Target::Remote));
    let remote = targets.iter().any(|t| matches!(t, git::Target::Remote(_)));
    if args.range.is_some() {
        // The state file is a whole sweep's: a range is somebody else's account of what is new.
        if args.sweep.state.is_some() {
            bail!("--state takes whole sweeps, not --range");
        }
        match &targets[..] {
            [git::Target::Path(_)] => {}
            [git::Target::Remote(_)] => bail!("--range takes a local repository, not a URL"),
            _ => bail!("--range takes one repository, not {}", targets.len()),
        }
    }
    let several = targets.len() > 1;
    let mut notes = Vec::new();
    let mut shard = args.shard;
    // Several repositories are split whole: each job clones only its own.
    if let (true, Some((i, n))) = (several, args.shard) {
        let all = targets.len();
        targets.retain(|t| git::repo_shard(&t.name(), n) == i);
        notes.push(format!(
            "shard {i}/{n}: {} of the {all} repositories (split by repository)",
            targets.len()
        ));
        shard = None;
    }
    let first_path = targets.iter().find_map(|t| match t {
        git::Target::Path(p) => Some(p.clone()),
        git::Target::Remote(_) => None,
    });
    let top = first_path.as_deref().and_then(repo_top);
    let mut settings = match (&args.range, &first_path) {
        (Some(range), Some(repo)) => Settings::load_range(
            &args.common,
            repo,
            range,
            (args.branch.as_deref(), args.default_branch.as_deref()),
            top,
        )?,
        _ => Settings::load(&args.common, top.as_deref(), top.clone())?,
    };
    settings.notes.extend(notes);
    let mut state = match &args.sweep.state {
        Some(file) => Some(state::State::load(file)?),
        None => None,
    };
    let names: Vec<String> = targets.iter().map(git::Target::name).collect();
    let source = git::Histories {
        named: several || remote || state.is_some(),
        clone_dir: args.sweep.clone_dir.clone(),
        known: state.as_ref().map(state::State::tips),
        swept: Default::default(),
        targets,
        opts: git::HistoryOptions {
            threads: args.common.threads(),
            max_file_size: settings.max_file_size,
            range: args.range.clone(),
            shallow_ok: args.shallow_ok,
            branch: args.branch.clone(),
            default_branch: args.default_branch.clone(),
            ci: mode == "ci",
            progress: !args.common.quiet,
            shard,
            submodules: args.submodules,
            prefix: String::new(),
            repository: None,
        },
    };
    let mut target = Target::new(mode);
    target.repositories = source
        .targets
        .iter()
        .map(|t| match t {
            git::Target::Path(p) => repository(p),
            // Not cloned yet: the URL (credentials taken out already) is all there is to say.
            git::Target::Remote(r) => Repository {
                path: r.url.clone(),
                remote_url: Some(r.url.clone()),
                ..Default::default()
            },
        })
        .collect();
    if let (Some(range), Some(first)) = (&args.range, target.repositories.first_mut()) {
        first.ranges.push(redact_text(range).into_owned());
    }
    // Saved only once the report is written: a state that says "swept" for findings no report
    // holds would keep them out of every later run.
    let mut recorded = None;
    let mut finish = |outcome: &mut Outcome| -> Result<()> {
        let Some(mut state) = state.take() else {
            return Ok(());
        };
        let swept = std::mem::take(&mut *source.swept.lock().unwrap_or_else(|e| e.into_inner()));
        state.record(swept, outcome);
        if args.sweep.all_findings {
            let kept = state.report_kept(&names, outcome);
            if kept > 0 {
                outcome.notes.push(format!(
                    "{} from past sweeps (--state) reported again, unverified: the state file keeps no key",
                    count(kept as u64, "finding", "findings")
                ));
            }
        }
        recorded = Some(state);
        Ok(())
    };
    let run = Run {
        mode,
        paths: None,
        why,
        quiet: args.common.quiet,
        target,
        finish: Some(&mut finish),
    };
    let (_, code) = run.go(&source, &args.common, settings)?;
    if let (Some(state), Some(file)) = (recorded, &args.sweep.state) {
        state.save(file)?;
    }
    Ok(code)
}

pub fn staged(args: StagedArgs) -> Result<i32> {
    let top = repo_top(&args.repo);
    let settings = Settings::load(&args.common, top.as_deref(), top.clone())?;
    let source = staged::Staged {
        repo: args.repo.clone(),
        max_file_size: settings.max_file_size,
        threads: args.common.threads(),
        files: args.files.clone(),
        committed: Default::default(),
    };
    let run = Run {
        mode: "staged",
        paths: None,
        why: None,
        quiet: args.common.quiet,
        target: Target {
            repositories: vec![repository(&args.repo)],
            ..Target::new("staged")
        },
        finish: None,
    };
    let (outcome, code) = run.go(&source, &args.common, settings)?;
    if code == EXIT_FINDINGS {
        let committed: HashSet<String> =
            std::mem::take(&mut *source.committed.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        // A key only in files committed already (`pre-commit run --all-files` / `--files` passes
        // them): no commit is being made, and unstaging would not take the key out of history.
        let (old, new): (Vec<&Finding>, Vec<&Finding>) = outcome.findings.iter().partition(|f| {
            !f.locations.is_empty() && f.locations.iter().all(|l| committed.contains(&l.origin.path))
        });
        let allow = format!(
            "A false positive? Put `sgscan:allow` on that line, or run the `sgscan ignore FINGERPRINT` \
             shown for it above (it adds the key to {IGNORE_FILE} at the top of the repository: commit that file too)."
        );
        if !old.is_empty() {
            let mut files: Vec<&str> = Vec::new();
            for l in old.iter().flat_map(|f| f.locations.iter()) {
                if !files.contains(&l.origin.path.as_str()) {
                    files.push(&l.origin.path);
                }
            }
            eprintln!(
                "sgscan: {} committed already: {} holds a key in the repository's history, not only in a change \
                 being committed. Rotate it: create a replacement with only the scopes it needs, deploy it, then revoke \
                 this one (`sgscan dir FILE --verify --revoke --rotate` does all three; `sgscan revoke --key-id ID` \
                 revokes only); then remove it from the file in a new commit and load it from the environment or a secret \
                 store instead. `sgscan git` lists every commit that has it. {allow}",
                count(old.len() as u64, "key in a file", "keys in files"),
                Safe(&files.join(", "))
            );
        }
        if !new.is_empty() {
            eprintln!(
                "sgscan: commit blocked: {}. Remove each key from the file and `git add` it again \
                 (or `git restore --staged FILE`), load it from the environment or a secret store instead, and revoke it \
                 if it was ever pushed. {allow}",
                count(new.len() as u64, "staged key", "staged keys")
            );
        }
    }
    Ok(code)
}

/// The top of the repository at or above `repo`: its work tree, or the git dir of a bare one. None if
/// there is no repository there (the source says so when it runs).
/// The repositories named and those in `--repos-file`; `.` if none.
fn repo_list(named: &[PathBuf], file: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut repos = repo_list_or_none(named, file)?;
    if repos.is_empty() {
        repos.push(PathBuf::from("."));
    }
    Ok(repos)
}

/// The repositories named and those in `--repos-file`, if any.
fn repo_list_or_none(named: &[PathBuf], file: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut repos = named.to_vec();
    if let Some(file) = file {
        let text = crate::file::read_to_string(file, crate::file::SMALL)
            .with_context(|| format!("cannot read --repos-file {}", file.display()))?;
        repos.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(PathBuf::from),
        );
        if repos.is_empty() {
            bail!("--repos-file {} lists no repository", file.display());
        }
    }
    Ok(repos)
}

/// The repository at `path` as reports name it; only the path as given where there is none (the
/// scan then fails saying why).
pub(super) fn repository(path: &Path) -> Repository {
    git::describe(path).unwrap_or_else(|| Repository {
        path: redact_text(&path.to_string_lossy()).into_owned(),
        ..Repository::default()
    })
}

pub(super) fn repo_top(repo: &Path) -> Option<PathBuf> {
    let repo = git::open_repo(repo).ok()?;
    let top = repo.workdir().unwrap_or_else(|| repo.path());
    Some(top.to_path_buf())
}

/// The flags merged over the config file (`--config FILE`, or the one found at the scanned root):
/// what is needed before the pipeline (the source's size limit) and what it runs with.
pub(super) struct Settings {
    pub(super) config: Option<Config>,
    pub(super) max_file_size: u64,
    pub(super) fail_on: FailOn,
    pub(super) ignores: Ignores,
    /// What the report should say about where the settings came from.
    notes: Vec<String>,
}

impl Settings {
    /// `root`: where a config is looked for, and what its path globs are relative to (none: no
    /// config is looked for, globs are relative to the current directory). `base`: what relative
    /// paths in findings are relative to (none: the current directory).
    pub(super) fn load(common: &CommonArgs, root: Option<&Path>, base: Option<PathBuf>) -> Result<Settings> {
        let config = match (&common.trust.config, common.trust.no_config, root) {
            (Some(file), _, _) => Some(Config::load(file, Trust::Given)?),
            (None, false, Some(root)) => Config::find(root)?,
            _ => None,
        };
        Settings::with(common, config, root.unwrap_or(Path::new("")), base)
    }

    /// What a hook's history scan runs with: the pushed refs' history, nothing else of `git`'s.
    pub(super) fn hook_history(&self, common: &CommonArgs) -> git::HistoryOptions {
        git::HistoryOptions {
            threads: common.threads(),
            max_file_size: self.max_file_size,
            ..Default::default()
        }
    }

    /// For `git --range` (and `ci`): the allow list and config of the range's base commit, read
    /// from git objects. What the range itself writes in them takes effect once merged: judged by
    /// its own rules, a change could allow its own key. The work tree (the head side, in CI) is
    /// not read; the report says when the range changes either file.
    pub(super) fn load_range(
        common: &CommonArgs,
        repo: &Path,
        range: &str,
        branch: (Option<&str>, Option<&str>),
        top: Option<PathBuf>,
    ) -> Result<Settings> {
        let mut notes = Vec::new();
        let side = match common.trust.no_config {
            true => git::BaseSide::default(),
            false => git::range_base(repo, range, branch, &[IGNORE_FILE, config::CONFIG_FILE])
                .unwrap_or_else(|e| {
                    // The scan itself fails on a range it cannot read, and says why; this says
                    // only that nothing of the tree's was honoured.
                    notes.push(format!(
                        "the range's base side could not be read ({e:#}): no {IGNORE_FILE} or {} was honoured",
                        config::CONFIG_FILE
                    ));
                    git::BaseSide::default()
                }),
        };
        let short = |c: &str| c.get(..12).unwrap_or(c).to_string();
        let text = |name: &str| side.files.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
        let config = match &common.trust.config {
            Some(file) => Some(Config::load(file, Trust::Given)?),
            None => match (text(config::CONFIG_FILE), &side.commit) {
                (Some(t), Some(c)) => {
                    Some(Config::from_commit(t, config::CONFIG_FILE).with_context(|| {
                        format!("{} of the range's base commit {}", config::CONFIG_FILE, short(c))
                    })?)
                }
                _ => None,
            },
        };
        let from_base = common.trust.config.is_none() && config.is_some();
        let root = top.clone().unwrap_or_default();
        let mut settings = Settings::with(common, config, &root, top)?;
        if from_base {
            settings.ignores.commit = side.commit.clone();
        }
        settings.ignores.no_source_files = true;
        if let Some(t) = text(IGNORE_FILE) {
            settings.ignores.files.push(IgnoreText {
                text: t,
                file: IGNORE_FILE.to_string(),
                commit: side.commit.clone(),
                root,
            });
        }
        for name in &side.changed {
            let used = match &side.commit {
                Some(c) if side.files.iter().any(|(n, _)| n == name) => {
                    format!("this scan used the base commit {}'s", short(c))
                }
                Some(c) => format!("the base commit {} has none, so none was used", short(c)),
                None => "the range has no base commit here, so none was used".to_string(),
            };
            let given = match (name == config::CONFIG_FILE, &common.trust.config) {
                (true, Some(f)) => format!(" (and --config {} replaced it)", f.display()),
                _ => String::new(),
            };
            notes.push(format!(
                "the range changes {name}: what it writes there takes effect once merged; {used}{given}"
            ));
        }
        settings.notes.extend(notes);
        Ok(settings)
    }

    fn with(
        common: &CommonArgs,
        config: Option<Config>,
        root: &Path,
        base: Option<PathBuf>,
    ) -> Result<Settings> {
        let file = config.as_ref().map(|c| &c.file.scan);
        let max_file_size = common
            .work
            .max_file_size
            .or_else(|| file.and_then(|s| s.max_file_size.as_ref()).map(|v| v.get_ref().0))
            .unwrap_or(crate::source::DEFAULT_MAX_FILE_SIZE);
        let fail_on = common
            .fail_on
            .or_else(|| {
                file.and_then(|s| s.fail_on.as_ref()).map(|v| match v.get_ref() {
                    config::FailOn::Any => FailOn::Any,
                    config::FailOn::Live => FailOn::Live,
                    config::FailOn::None => FailOn::None,
                })
            })
            .unwrap_or(FailOn::Any);
        let mut ignores = match &config {
            Some(c) => c.ignores(root),
            None => Ignores::default(),
        };
        ignores.base = base;
        // No file from the scanned tree changes the result, markers included.
        ignores.no_source_files = common.trust.no_config;
        let markers_off = config
            .as_ref()
            .and_then(|c| c.file.scan.inline_allow)
            .is_some_and(|on| !on);
        ignores.no_inline = common.trust.no_config || common.trust.no_inline_allow || markers_off;
        Ok(Settings {
            config,
            max_file_size,
            fail_on,
            ignores,
            notes: Vec::new(),
        })
    }

    /// Where `fail_on` was set, if the config file set it and no flag overrode it.
    fn fail_on_from_file(&self, common: &CommonArgs) -> Option<String> {
        let c = self.config.as_ref()?;
        let v = c.file.scan.fail_on.as_ref()?;
        common.fail_on.is_none().then(|| c.at(v.span()))
    }
}

/// How one command runs the pipeline: its SARIF mode, how its paths map to the repository's top,
/// and a note to lead the report with.
/// What [`Run::go`] does with the outcome before reporting it.
pub(super) type Finish<'f> = &'f mut dyn FnMut(&mut Outcome) -> Result<()>;

pub(super) struct Run<'f> {
    pub(super) mode: &'static str,
    pub(super) paths: Option<report::Paths>,
    pub(super) why: Option<String>,
    /// `--quiet`: no next steps in the human report.
    pub(super) quiet: bool,
    /// What is scanned, for the report to say.
    pub(super) target: Target,
    /// Run on the outcome before it is reported (`--state`: record it, report kept findings). Its
    /// error fails the run once the report is written.
    pub(super) finish: Option<Finish<'f>>,
}

impl Run<'_> {
    /// Sets the scan up (failing fast on a bad flag or file), runs it, writes the report. A scan that
    /// fails once started still writes its report file saying so (CI uploads it whatever the exit
    /// code), then fails.
    pub(super) fn go(
        self,
        source: &dyn Source,
        common: &CommonArgs,
        settings: Settings,
    ) -> Result<(Outcome, i32)> {
        let Run {
            mode,
            paths,
            why,
            quiet,
            target,
            finish,
        } = self;
        let started = Instant::now();
        let verifies = common.verify.verify || common.revoke.revoke;
        let mut ctx = report::Context {
            show_secrets: common.show_secrets,
            quiet,
            mode,
            category: common.output.sarif_category.clone(),
            paths,
            target: Some(target),
            ..Default::default()
        };
        if settings.fail_on == FailOn::Live && !verifies {
            match settings.fail_on_from_file(common) {
                Some(at) => {
                    bail!("{at}: fail_on = \"live\" needs --verify: without it no key is known to be live")
                }
                None => bail!("--fail-on live needs --verify: without it no key is known to be live"),
            }
        }
        // A bad flag or file fails here, before anything is written: there was no scan to report.
        let fail_on = settings.fail_on;
        let settings_notes = settings.notes;
        let mut scan = Scan::new(common.scan_options(settings.config.as_ref(), settings.ignores)?)?;
        let confirm = TerminalConfirm {
            yes: common.revoke.yes,
        };
        let mut ran = match scan.run(source, &confirm) {
            Ok(r) => r,
            Err(e) => {
                write_failed(&e, common, ctx, why);
                return Err(e);
            }
        };
        // Names a branch or a range from the CI event: text from outside, like any note.
        for (i, n) in why.into_iter().chain(settings_notes).enumerate() {
            ran.outcome.notes.insert(i, redact_text(&n).into_owned());
        }
        ran.outcome.notes.extend(common.threads_note());
        let finished = match finish {
            Some(f) => f(&mut ran.outcome),
            None => Ok(()),
        };
        for w in &ran.warnings {
            eprintln!("sgscan: {}", Safe(&redact_text(w)));
        }
        ctx.rules = scan.rules();
        ctx.elapsed = started.elapsed();
        write_report(
            &ran.outcome,
            common.output.format.into(),
            common.output.output.as_deref(),
            &ctx,
        )?;
        finished?;
        if mode == "ci" && std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            github_log(&ran.outcome, common.output.output.is_some());
        }
        let code = match &ran.revoke_error {
            // The report above is complete; the error is about the revocation only.
            Some(e) => {
                error(e);
                EXIT_ERROR
            }
            None => fail_code(&ran.outcome, fail_on),
        };
        Ok((ran.outcome, code))
    }
}

/// On GitHub Actions, `sgscan ci` also tells the job's log: an annotation per location (on standard
/// output when the report goes to a file, as the runner reads commands there; else on standard
/// error, so a report on standard output stays whole) and a table appended to
/// `$GITHUB_STEP_SUMMARY`. Neither can change the result: a failure is only said.
fn github_log(outcome: &Outcome, report_in_file: bool) {
    let written = if report_in_file {
        let mut out = std::io::stdout().lock();
        report::github::annotations(&mut out, outcome).and_then(|_| std::io::Write::flush(&mut out))
    } else {
        let mut out = std::io::stderr().lock();
        report::github::annotations(&mut out, outcome)
    };
    if let Err(e) = written {
        eprintln!("sgscan: cannot write the GitHub annotations: {e}");
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let path = PathBuf::from(path);
    // Appended, as every step adds its own part; never through a link planted where it goes.
    let written = crate::file::create(&path, crate::file::Write::Append, false).and_then(|file| {
        let mut out = std::io::BufWriter::new(file);
        report::github::summary(&mut out, outcome).and_then(|_| std::io::Write::flush(&mut out))
    });
    if let Err(e) = written {
        eprintln!(
            "sgscan: cannot write the job summary {}: {e}",
            Safe(&path.display().to_string())
        );
    }
}

/// The report file of a scan that failed: no findings, the error as a note (SARIF: a failed
/// invocation), so that a CI step uploading it still has one. Standard output stays empty: the
/// error line on stderr says it all there.
fn write_failed(e: &anyhow::Error, common: &CommonArgs, mut ctx: report::Context, why: Option<String>) {
    let format: report::Format = common.output.format.into();
    if common.output.output.is_none() {
        return;
    }
    let message = error_text(e);
    let outcome = Outcome {
        findings: Vec::new(),
        stats: Default::default(),
        skipped: Vec::new(),
        allowed: Vec::new(),
        notes: why
            .into_iter()
            .map(|w| redact_text(&w).into_owned())
            .chain((format != report::Format::Sarif).then(|| format!("error: the scan failed: {message}")))
            .collect(),
    };
    ctx.error = Some(message);
    if let Err(w) = write_report(&outcome, format, common.output.output.as_deref(), &ctx) {
        error(&w);
    }
}

/// The exit code `--fail-on` gives the findings.
pub(super) fn fail_code(outcome: &Outcome, fail_on: FailOn) -> i32 {
    let fails = match fail_on {
        FailOn::Any => !outcome.findings.is_empty(),
        FailOn::Live => outcome
            .findings
            .iter()
            .any(|f| f.verification.as_ref().is_some_and(|v| v.status == Status::Live)),
        FailOn::None => false,
    };
    if fails { EXIT_FINDINGS } else { EXIT_CLEAN }
}
