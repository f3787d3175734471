//! `sgscan dir`, `sgscan git` and `sgscan staged`: a source, the pipeline, the report.

use std::time::Instant;

use anyhow::Result;

use super::args::{CommonArgs, DirArgs, GitArgs, StagedArgs};
use super::revoke::TerminalConfirm;
use super::{EXIT_ERROR, EXIT_FINDINGS, error, exit_code, write_report};
use crate::model::Outcome;
use crate::pipeline::Scan;
use crate::report;
use crate::source::{IGNORE_FILE, Source, git, staged, worktree};
use crate::text::Safe;

pub fn dir(args: DirArgs) -> Result<i32> {
    let source = worktree::Worktree {
        roots: args.paths.clone(),
        opts: worktree::WalkOptions {
            threads: args.common.threads,
            no_ignore: args.no_ignore,
            follow: args.follow,
            max_file_size: args.common.max_file_size,
        },
    };
    run(&source, &args.common).map(|(_, code)| code)
}

pub fn git(args: GitArgs) -> Result<i32> {
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
    run(&source, &args.common).map(|(_, code)| code)
}

pub fn staged(args: StagedArgs) -> Result<i32> {
    let source = staged::Staged {
        repo: args.repo.clone(),
        max_file_size: args.common.max_file_size,
        threads: args.common.threads,
    };
    let (outcome, code) = run(&source, &args.common)?;
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

/// Sets the scan up (failing fast on a bad flag or file), runs it, writes the report.
pub(super) fn run(source: &dyn Source, common: &CommonArgs) -> Result<(Outcome, i32)> {
    let started = Instant::now();
    let mut scan = Scan::new(common.scan_options())?;
    let confirm = TerminalConfirm {
        yes: common.revoke.yes,
    };
    let ran = scan.run(source, &confirm)?;
    for w in &ran.warnings {
        eprintln!("sgscan: {}", Safe(w));
    }
    let ctx = report::Context {
        rules: scan.rules(),
        show_secrets: common.show_secrets,
        elapsed: started.elapsed(),
    };
    write_report(
        &ran.outcome,
        common.output.format.into(),
        common.output.output.as_deref(),
        &ctx,
    )?;
    let code = match &ran.revoke_error {
        // The report above is complete; the error is about the revocation only.
        Some(e) => {
            error(e);
            EXIT_ERROR
        }
        None => exit_code(&ran.outcome),
    };
    Ok((ran.outcome, code))
}
