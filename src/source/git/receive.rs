//! What a push brings, as a pre-receive hook sees it: the objects git holds in quarantine until
//! the hook accepts them, reached from the new tips of the pushed refs and not from any ref the
//! server has (its refs are not updated before the hook says yes). Cost follows the push: the walk
//! stops where the server's history starts, and only the blobs the new commits introduce are read.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use gix::ObjectId;

use super::plan::{is_zero, ref_names};
use super::{HistoryOptions, Quiet, open_repo_with_refs, refs, sweep};
use crate::source::{Sink, Source};

/// One `<old> <new> <ref>` line of a pre-receive hook's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    /// The push deletes the ref: it brings nothing.
    pub fn is_deletion(&self) -> bool {
        is_zero(&self.new)
    }
}

/// The pushed refs of one push into the repository at `repo`.
pub struct Incoming {
    pub repo: PathBuf,
    pub updates: Vec<RefUpdate>,
    pub opts: HistoryOptions,
    /// Filled by the scan: for each commit the push brings (full id), the first pushed ref that
    /// reaches it, so that each finding can name its ref.
    pub brought: Mutex<Vec<(String, String)>>,
    /// The scratch object directory that joins the quarantine to the repository's store; removed
    /// when the scan ends, or by [`Incoming::remove_scratch`] when the hook gives up waiting.
    scratch: Mutex<Scratch>,
}

/// The scratch directory, made and removed under one lock: once removed (the hook gave up
/// waiting), a scan still running makes no new one, which nothing would remove.
#[derive(Default)]
struct Scratch {
    dir: Option<PathBuf>,
    closed: bool,
}

impl Incoming {
    pub fn new(repo: PathBuf, updates: Vec<RefUpdate>, opts: HistoryOptions) -> Incoming {
        Incoming {
            repo,
            updates,
            opts,
            brought: Mutex::new(Vec::new()),
            scratch: Mutex::new(Scratch::default()),
        }
    }

    /// Removes the scratch directory, if any (the scan may still be reading through it: call this
    /// only when the scan's result no longer matters).
    pub fn remove_scratch(&self) {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        scratch.closed = true;
        if let Some(dir) = scratch.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Source for Incoming {
    fn scan(&self, sink: &dyn Sink) -> Result<()> {
        let result = scan_push(self, sink);
        self.remove_scratch();
        result
    }

    /// The hook's allow list is read from the default branch, by the command: never from a file
    /// on disk, which a hook's current directory (the repository) does not have.
    fn ignore_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

fn scan_push(push: &Incoming, sink: &dyn Sink) -> Result<()> {
    let repo = open_repo_with_refs(&push.repo)?;
    let repo = match quarantine() {
        Some(dir) => with_quarantine(repo, &dir, &push.scratch)?,
        None => repo,
    };
    // The server's refs as they are before the push: what they reach, the server had — and showed.
    // A ref hidden from fetches (`transfer.hideRefs`/`receive.hideRefs`: GitLab's keep-around and
    // merge-request refs) keeps commits no clone can get: a branch pushed at one publishes them.
    let hide = hidden_ref_patterns(&repo);
    let existing = refs::ref_tips_except(&repo, &Quiet, &|name, _| ref_hidden(name, &hide))?;
    let hidden: Vec<ObjectId> = existing.commits.iter().map(|(id, _)| *id).collect();
    let mut tips: Vec<(ObjectId, String)> = Vec::new();
    let mut tags: Vec<(ObjectId, String)> = Vec::new();
    let mut objects: Vec<(ObjectId, gix::objs::Kind, String)> = Vec::new();
    let mut buf = Vec::new();
    // A mirror push of every tag into a server with as many: a set, not a scan per tag.
    let old_tags: gix::hashtable::HashSet = existing.tags.iter().map(|(t, _)| *t).collect();
    for u in push.updates.iter().filter(|u| !u.is_deletion()) {
        let id = ObjectId::from_hex(u.new.as_bytes())
            .with_context(|| format!("{}: '{}' is not an object id", u.name, u.new))?;
        // Through every tag of a chain: each has its own message.
        let mut peeled = refs::Tips::default();
        let Some((target, kind)) = refs::peel(&repo, id, &u.name, sink, &mut buf, &mut peeled) else {
            bail!(
                "{}: cannot read what the push names ({})",
                u.name,
                peeled.first_error.as_deref().unwrap_or("unreadable")
            );
        };
        tags.extend(peeled.tags.into_iter().filter(|(t, _)| !old_tags.contains(t)));
        match kind {
            gix::objs::Kind::Commit => tips.push((target, u.name.clone())),
            kind => objects.push((target, kind, u.name.clone())),
        }
    }
    sweep::scan_tag_messages(&repo, &tags, &push.opts, sink);
    let swept = sweep::scan_brought(&repo, &tips, &hidden, &objects, &push.opts, sink, |walked| {
        let names: Vec<String> = tips.iter().map(|(_, n)| n.clone()).collect();
        let mut brought = push.brought.lock().unwrap_or_else(|e| e.into_inner());
        for w in walked {
            let name = ref_names(w.refs, &names).into_iter().next();
            let name = name.unwrap_or_else(|| "one of the pushed refs".to_string());
            brought.push((w.id.to_string(), name));
        }
    })?;
    if !swept.submodules.is_empty() {
        sink.note(format!(
            "the push brings {} submodule commit(s) (gitlinks), whose content is in other repositories: not scanned",
            swept.submodules.len()
        ));
    }
    Ok(())
}

/// The quarantine directory git puts a push's objects in while its pre-receive hook runs.
fn quarantine() -> Option<PathBuf> {
    ["GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY"]
        .iter()
        .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
        .map(PathBuf::from)
}

/// `repo` reading the quarantined objects too. Git tells a hook where they are in the environment,
/// which gitoxide does not read; so a scratch object directory whose only content is an alternates
/// file naming the quarantine and the repository's own store stands in for the store.
fn with_quarantine(
    mut repo: gix::Repository,
    quarantine: &Path,
    scratch: &Mutex<Scratch>,
) -> Result<gix::Repository> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let quarantine = cwd.join(quarantine);
    let main = cwd.join(repo.common_dir()).join("objects");
    if !quarantine.is_dir() {
        bail!(
            "the push's quarantine directory {} is not a directory",
            quarantine.display()
        );
    }
    let mut alternates = String::new();
    for dir in [&quarantine, &main] {
        let text = dir
            .to_str()
            .filter(|t| !t.contains(['\n', '\r']) && !t.starts_with(['"', '#']))
            .with_context(|| format!("cannot name {} in an alternates file", dir.display()))?;
        alternates.push_str(text);
        alternates.push('\n');
    }
    let objects = {
        let mut scratch = scratch.lock().unwrap_or_else(|e| e.into_inner());
        if scratch.closed {
            bail!("the hook stopped waiting for the scan");
        }
        let dir = make_scratch()?;
        scratch.dir = Some(dir.clone());
        let objects = dir.join("objects");
        std::fs::create_dir_all(objects.join("info"))
            .and_then(|_| std::fs::write(objects.join("info").join("alternates"), alternates))
            .with_context(|| format!("cannot write the scratch object directory {}", objects.display()))?;
        objects
    };
    let handle = gix::odb::at_opts(
        objects.clone(),
        repo.object_hash(),
        std::iter::empty(),
        gix::odb::store::init::Options {
            current_dir: Some(cwd),
            ..Default::default()
        },
    )
    .with_context(|| format!("cannot open the object store through {}", objects.display()))?;
    repo.objects = gix::odb::memory::Proxy::from(handle);
    repo.object_cache_size_if_unset(16 << 20);
    Ok(repo)
}

/// A new private directory under the system's temporary directory.
fn make_scratch() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!("sgscan-push-{}-{nanos:x}-{attempt}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // `create`, not `create_all`: fails if anything (a planted link) is there already.
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no attempt made"), anyhow::Error::from))
        .with_context(|| format!("cannot create a scratch directory in {}", base.display()))
}

/// The values of `transfer.hideRefs` and `receive.hideRefs`, in the order git applies them.
fn hidden_ref_patterns(repo: &gix::Repository) -> Vec<String> {
    let config = repo.config_snapshot();
    ["transfer.hideRefs", "receive.hideRefs"]
        .iter()
        .flat_map(|key| config.strings(*key).unwrap_or_default())
        .map(|v| v.to_string())
        .collect()
}

/// Whether git hides `name` under `patterns`: the last pattern that names it, or a namespace above
/// it, decides; `!` unhides; `^` (a full name, as in a namespaced server) is matched the same way.
fn ref_hidden(name: &str, patterns: &[String]) -> bool {
    let mut hidden = false;
    for p in patterns {
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        let p = p.strip_prefix('^').unwrap_or(p).trim_end_matches('/');
        if !p.is_empty() && (name == p || name.strip_prefix(p).is_some_and(|r| r.starts_with('/'))) {
            hidden = !negated;
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::ref_hidden;

    #[test]
    fn hidden_refs_as_git_reads_them() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let keep = p(&["refs/keep-around", "refs/merge-requests/"]);
        assert!(ref_hidden("refs/keep-around/abc", &keep));
        assert!(ref_hidden("refs/merge-requests/1/head", &keep));
        assert!(!ref_hidden("refs/keep-around-not/abc", &keep));
        assert!(!ref_hidden("refs/heads/main", &keep));
        let unhide = p(&["refs/keep-around", "!refs/keep-around/visible"]);
        assert!(!ref_hidden("refs/keep-around/visible", &unhide));
        assert!(ref_hidden("refs/keep-around/other", &unhide));
    }
}
