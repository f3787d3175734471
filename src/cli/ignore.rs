//! `sgscan ignore FINGERPRINT…`: appends to `.sgscanignore`, where every scan of the repository
//! reads it.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::EXIT_CLEAN;
use super::args::IgnoreArgs;
use crate::allow;
use crate::source::{IGNORE_FILE, git};
use crate::text::{Safe, count};
use crate::verify;

/// `.sgscanignore` at the top of the work tree of the repository the current directory is in (the
/// one `sgscan git` and `sgscan staged` read), else in the current directory.
fn default_file() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot find the current directory")?;
    let top = git::open_repo(&cwd)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.to_path_buf()));
    Ok(top.unwrap_or(cwd).join(IGNORE_FILE))
}

pub fn run(args: IgnoreArgs) -> Result<i32> {
    // Every argument is checked before anything is written: a typo leaves the file as it was.
    let mut fingerprints = args
        .fingerprints
        .iter()
        .map(|f| allow::full_fingerprint(f))
        .collect::<Result<Vec<String>>>()?;
    let mut seen = std::collections::HashSet::new();
    fingerprints.retain(|f| seen.insert(f.clone()));
    let file = match args.file {
        Some(f) => f,
        None => default_file()?,
    };
    let date: String = verify::now_rfc3339().chars().take(10).collect();
    let added = allow::append_ignores(&file, &fingerprints, args.reason.as_deref(), &date)?;
    let shown = file.display().to_string();
    let already = fingerprints.len() - added.len();
    if added.is_empty() {
        eprintln!("sgscan: {} lists every fingerprint given already", Safe(&shown));
    } else if already > 0 {
        eprintln!(
            "sgscan: added {} to {} ({} already there)",
            count(added.len() as u64, "fingerprint", "fingerprints"),
            Safe(&shown),
            already
        );
    } else {
        eprintln!(
            "sgscan: added {} to {}",
            count(added.len() as u64, "fingerprint", "fingerprints"),
            Safe(&shown)
        );
    }
    Ok(EXIT_CLEAN)
}
