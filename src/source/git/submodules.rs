//! Following submodules: each is a repository of its own, swept in turn with `--submodules`.

use std::collections::BTreeSet;

use anyhow::Result;

use super::{HistoryOptions, scan_repo};
use crate::source::Sink;

/// How deep `--submodules` follows submodules of submodules.
const MAX_SUBMODULE_DEPTH: usize = 8;

/// Submodules are separate repositories: noted, or with `--submodules` swept in turn when a local
/// clone exists (under the superproject's `.git/modules/`, or checked out in the work tree).
pub(super) fn follow(
    repo: &gix::Repository,
    paths: &BTreeSet<String>,
    opts: &HistoryOptions,
    sink: &dyn Sink,
) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let depth = opts.prefix.matches('/').count();
    if !opts.submodules || depth >= MAX_SUBMODULE_DEPTH {
        let list: Vec<&str> = paths.iter().map(String::as_str).take(10).collect();
        let more = paths.len().saturating_sub(list.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        sink.note(format!(
            "submodules are not followed (--submodules follows those cloned locally): {}{}{more}",
            opts.prefix,
            list.join(&format!(", {}", opts.prefix))
        ));
        return Ok(());
    }
    for path in paths {
        let shown = format!("{}{path}", opts.prefix);
        // Paths come from tree entries, which anyone can craft: `..` or an absolute path would
        // make the joins below point outside the repository (at the directory's own repository).
        if !is_plain_relative(path) {
            sink.note(format!(
                "submodule path '{shown}' is not a plain relative path inside the repository: refused, not followed"
            ));
            continue;
        }
        let candidates = [
            Some(repo.common_dir().join("modules").join(path)),
            repo.workdir().map(|w| w.join(path)),
        ];
        // Checked before gitoxide opens one: a FIFO in it would stop the scan forever.
        if let Some(e) = candidates
            .iter()
            .flatten()
            .find_map(|c| super::repo::refuse_special_files(c).err())
        {
            sink.skip(shown, format!("submodule not scanned: {e}"));
            continue;
        }
        let found = candidates.into_iter().flatten().find(|c| gix::open(c).is_ok());
        let Some(dir) = found else {
            sink.note(format!(
                "submodule {shown} has no local clone (git submodule update --init): not scanned"
            ));
            continue;
        };
        let sub = HistoryOptions {
            prefix: format!("{shown}/"),
            range: None,
            ..opts.clone()
        };
        if let Err(e) = scan_repo(&dir, &sub, sink) {
            sink.skip(shown, format!("submodule not scanned: {e:#}"));
        }
    }
    Ok(())
}

/// `a/b/c`: no empty, `.`, `..` or `.git` component, not absolute.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git") && !c.contains('\\')
        })
}
