//! What the forge commands (`github`, `gitlab`, `gitea`) do with the repositories they listed:
//! print them (`--list`), or sweep them as `sgscan git` sweeps URLs.

use std::io::Write;

use anyhow::{Context as _, Result};

use super::EXIT_CLEAN;
use super::args::ForgeArgs;
use crate::source::forge::Listed;
use crate::source::git::remote::Remote;
use crate::text::count;

pub fn finish(listed: &[Listed], args: ForgeArgs, forge: &str) -> Result<i32> {
    if args.list {
        return print(listed);
    }
    let remotes: Vec<Remote> = listed.iter().filter_map(Listed::remote).collect();
    let left_out = listed.len() - remotes.len();
    if remotes.is_empty() {
        eprintln!("sgscan: {forge} listed no repository to sweep ({left_out} left out: --list shows why)");
        return Ok(EXIT_CLEAN);
    }
    // Said first in the report, so a reader knows what the organisation held besides what was swept.
    let why = format!(
        "{forge}: {} listed, {} swept, {left_out} left out (forks, archived, wikis or no repository: --list shows which and why)",
        count(listed.len() as u64, "repository", "repositories"),
        remotes.len()
    );
    super::scan::sweep(args.git_args(), remotes, "git", Some(why))
}

/// `--list`: one line per repository, exit 0.
fn print(listed: &[Listed]) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    let written = listed
        .iter()
        .try_for_each(|l| writeln!(out, "{}", l.line()))
        .and_then(|_| out.flush());
    match written {
        // `| head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(EXIT_CLEAN),
        r => r.map(|_| EXIT_CLEAN).context("cannot write to standard output"),
    }
}
