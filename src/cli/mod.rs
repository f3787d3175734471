//! The command line: parses arguments, hands each subcommand to its file, writes the report and
//! returns the exit code (0 clean, 1 findings, 2 error). Everything else lives in the library.

mod args;
mod audit;
mod ci;
mod completions;
mod forge;
mod gitea;
mod github;
mod gitlab;
mod hook;
mod ignore;
mod man;
mod merge;
mod prepush;
mod prereceive;
mod revoke;
mod rotate;
mod scan;
mod schema;
mod stdin;

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use clap::Parser;

use crate::model::Outcome;
use crate::report::{self, Format};
use crate::text::Safe;
use args::{Cli, Command};

pub const EXIT_CLEAN: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// Runs the program on the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { EXIT_CLEAN };
        }
    };
    let result = match cli.command {
        Command::Dir(args) => scan::dir(args),
        Command::Git(args) => scan::git(args, "git", None),
        Command::Staged(args) => scan::staged(args),
        Command::InstallHook(args) => hook::run(args),
        Command::PrePush(args) => prepush::run(args),
        Command::Revoke(args) => revoke::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Ci(args) => ci::run(args),
        Command::Stdin(args) => stdin::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Rotate(args) => rotate::run(args),
        Command::Ignore(args) => ignore::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man => man::run(),
        Command::Schema(args) => schema::run(args),
        Command::PreReceive(args) => prereceive::run(args),
        Command::Github(args) => github::run(args),
        Command::Gitlab(args) => gitlab::run(args),
        Command::Gitea(args) => gitea::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            error(&e);
            EXIT_ERROR
        }
    }
}

/// One line on stderr, escaped and redacted: errors quote paths, file contents (a parser's
/// message) and API text.
fn error(e: &anyhow::Error) {
    eprintln!("sgscan: error: {}", Safe(&error_text(e)));
}

/// An error chain as one line of text, with key-shaped text redacted.
/// A full object id as git's hooks give it: SHA-1 or SHA-256, in hex.
fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn error_text(e: &anyhow::Error) -> String {
    crate::key::redact_text(&format!("{e:#}")).into_owned()
}

fn exit_code(outcome: &Outcome) -> i32 {
    if outcome.findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }
}

/// Writes the report to `output` or standard output.
fn write_report(
    outcome: &Outcome,
    format: Format,
    output: Option<&Path>,
    ctx: &report::Context,
) -> Result<()> {
    match output {
        Some(path) => {
            let file = create_report(path, ctx.show_secrets)
                .with_context(|| format!("cannot create {}", path.display()))?;
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

/// The report file, truncated. With `--show-secrets` it holds whole keys: readable by its owner
/// only, whether it is made now or was there before (`file::create` narrows an existing one).
fn create_report(path: &Path, show_secrets: bool) -> std::io::Result<std::fs::File> {
    crate::file::create(path, crate::file::Write::Truncate, show_secrets)
}

/// Writes generated text (completions, man page, schema) to standard output; exit 0.
fn print(text: &str) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        // `sgscan man | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(EXIT_CLEAN),
        r => r.map(|_| EXIT_CLEAN).context("cannot write to standard output"),
    }
}
