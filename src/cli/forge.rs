//! What the forge commands (`github`, `gitlab`) do with the repositories they listed.

use std::io::Write;

use anyhow::{Context as _, Result, bail};

use super::EXIT_CLEAN;
use super::args::ForgeArgs;
use crate::source::forge::Listed;
use crate::source::git::remote::Remote;

/// `--list`: one line per repository, exit 0. Without it the sweep is not wired yet.
pub fn finish(listed: &[Listed], args: &ForgeArgs) -> Result<i32> {
    if !args.list {
        let remotes: Vec<Remote> = listed.iter().filter_map(Listed::remote).collect();
        bail!(
            "sweeping a forge's repositories is not wired yet ({} to sweep): use --list to see them",
            remotes.len()
        );
    }
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
