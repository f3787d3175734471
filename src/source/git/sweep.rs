//! Scanning what a range's plan hands on: a pool of workers reads each blob and gives it to the
//! sink, while the walk goes on; then the commit and tag messages.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::prelude::FindExt;

use super::HistoryOptions;
use super::objects::{Bounded, find_bounded, scan_text, short, too_big_reason};
use super::plan::{BlobJob, Plan, plan_blob, plan_commits, plan_tree, ref_names};
use super::presence::Presence;
use super::progress::Progress;
use super::shard::shard_of;
use super::store;
use super::walk::{Walked, walk};
use crate::model::{CommitInfo, Origin};
use crate::source::Sink;

/// What is left once every planned blob is scanned.
pub(super) struct Swept {
    /// The commits planned from, oldest first.
    pub(super) commits: Vec<ObjectId>,
    /// Paths of the submodules (gitlinks) seen.
    pub(super) submodules: BTreeSet<String>,
    /// Git LFS pointer files among the blobs scanned.
    pub(super) lfs: u64,
}

/// Runs `enumerate` (reading commits and trees, on this thread) and scans each batch of blobs it
/// plans on a pool of `opts.threads` workers, so that the two overlap.
pub(super) fn scan_planned(
    repo: &gix::Repository,
    opts: &HistoryOptions,
    sink: &dyn Sink,
    enumerate: impl FnOnce(&mut Plan) -> Result<Vec<ObjectId>>,
) -> Result<Swept> {
    let progress = Progress::blobs(opts.progress, sink);
    let lfs = AtomicU64::new(0);
    let shared = repo.clone().into_sync();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .context("cannot start worker threads")?;
    // Repository handles are reused across batches: each carries a delta-base cache that later
    // blobs of the same files hit.
    let handles: std::sync::Mutex<Vec<(gix::Repository, Vec<u8>)>> = Default::default();
    let workers = pool.current_num_threads();
    // Loaded by the first blob that holds something.
    let presence = std::sync::OnceLock::new();
    let (commits, submodules) = pool.in_place_scope(|scope| -> Result<_> {
        let (handles, presence) = (&handles, &presence);
        let mut send = |batch: Vec<BlobJob>, last: bool| {
            // While the walk goes on it keeps one core busy, so a batch is one task; the last batch
            // is split across all workers. Contiguous runs of the path-sorted batch keep a file's
            // versions together.
            let chunk = if last {
                batch.len().div_ceil(workers).max(1)
            } else {
                batch.len().max(1)
            };
            let batch = std::sync::Arc::new(batch);
            for start in (0..batch.len()).step_by(chunk) {
                let (batch, shared, lfs, progress) = (batch.clone(), &shared, &lfs, &progress);
                scope.spawn(move |_| {
                    let taken = handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let (repo, mut buf) = taken.unwrap_or_else(|| (shared.to_thread_local(), Vec::new()));
                    for job in &batch[start..batch.len().min(start + chunk)] {
                        scan_blob(&repo, job, opts, &mut buf, sink, lfs, presence);
                        progress.inc();
                    }
                    handles
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((repo, buf));
                });
            }
        };
        let mut plan = Plan::new(opts.shard, &mut send);
        let commits = enumerate(&mut plan)?;
        plan.flush(true);
        progress.set_total(plan.planned);
        Ok((commits, std::mem::take(&mut plan.submodules)))
    })?;
    progress.finish();
    Ok(Swept {
        commits,
        submodules,
        lfs: lfs.into_inner(),
    })
}

/// What a push brings, planned and scanned: the commits `tips` reach and `hidden` do not, each of
/// their blobs and messages naming the tips that reach it, and `objects`, the trees and blobs a
/// ref names outside any commit. `walked` sees the walk before anything is planned. Each hook
/// decides what to hide and how a pushed ref becomes a tip; this is the rest.
pub(super) fn scan_brought(
    repo: &gix::Repository,
    tips: &[(ObjectId, String)],
    hidden: &[ObjectId],
    objects: &[(ObjectId, gix::objs::Kind, String)],
    opts: &HistoryOptions,
    sink: &dyn Sink,
    walked: impl FnOnce(&[Walked]),
) -> Result<Swept> {
    let commits = walk(repo, tips, hidden, sink);
    walked(&commits);
    let names: Vec<String> = tips.iter().map(|(_, n)| n.clone()).collect();
    let swept = scan_planned(repo, opts, sink, |plan| {
        plan_commits(repo, &commits, &names, sink, plan);
        for (id, kind, name) in objects {
            match kind {
                gix::objs::Kind::Tree => plan_tree(repo, *id, name, sink, plan),
                _ => plan_blob(*id, name, plan),
            }
        }
        Ok(commits.iter().map(|c| c.id).collect())
    })?;
    for c in &commits {
        scan_message(repo, c.id, opts, &ref_names(c.refs, &names), sink);
    }
    Ok(swept)
}

fn scan_blob(
    repo: &gix::Repository,
    job: &BlobJob,
    opts: &HistoryOptions,
    buf: &mut Vec<u8>,
    sink: &dyn Sink,
    lfs: &AtomicU64,
    presence: &std::sync::OnceLock<Presence>,
) {
    let (max, prefix) = (opts.max_file_size, opts.prefix.as_str());
    let where_ = || match job.commit {
        Some(commit) => format!("{prefix}{}@{}", job.path, short(&commit)),
        None => format!("{prefix}{}", job.path),
    };
    // The path's own name, whatever becomes of the blob: a key in it leaks with the checkout.
    sink.scan_name(&job.path, || {
        let mut path = prefix.as_bytes().to_vec();
        path.extend_from_slice(&job.path);
        Origin {
            commit: job.commit.map(|c| commit_info(repo, c)),
            refs: job.refs.clone(),
            repository: opts.repository.clone(),
            ..Origin::from_bytes(&path)
        }
    });
    let blob = match find_bounded(repo, &job.id, max, buf) {
        Ok(Some(Bounded::Read(data))) if data.kind == gix::objs::Kind::Blob => data.data,
        Ok(Some(Bounded::Read(data))) => {
            sink.skip(
                where_(),
                format!("object {} is a {}, not a blob", job.id, data.kind),
            );
            return;
        }
        Ok(Some(Bounded::TooBig(_, size))) => {
            sink.skip(where_(), too_big_reason(&job.id, size, max));
            return;
        }
        Ok(None) => {
            sink.skip(where_(), format!("missing blob {}", job.id));
            return;
        }
        Err(e) => {
            sink.skip(where_(), format!("corrupt blob {}: {e}", job.id));
            return;
        }
    };
    if blob.starts_with(b"version https://git-lfs.github.com/spec/v1") {
        lfs.fetch_add(1, Ordering::Relaxed);
    }
    sink.scan_lazy(blob, || {
        let mut path = prefix.as_bytes().to_vec();
        path.extend_from_slice(&job.path);
        let presence = presence.get_or_init(|| Presence::load(repo, sink));
        Origin {
            commit: job.commit.map(|c| commit_info(repo, c)),
            in_head: Some(presence.in_head(repo, &job.id)),
            present_in: presence.refs_with(repo, &job.path, &job.id),
            refs: job.refs.clone(),
            repository: opts.repository.clone(),
            ..Origin::from_bytes(&path)
        }
    });
}

/// A commit's message and header lines; `refs`: the pushed refs that bring it (`sgscan pre-push`).
pub(super) fn scan_message(
    repo: &gix::Repository,
    commit: ObjectId,
    opts: &HistoryOptions,
    refs: &[String],
    sink: &dyn Sink,
) {
    let mut buf = Vec::new();
    if let Ok(data) = repo.objects.find(&commit, &mut buf) {
        scan_text(sink, data.data, |part| Origin {
            path: format!("{}(commit {part})", opts.prefix),
            repository: opts.repository.clone(),
            commit: Some(commit_info(repo, commit)),
            refs: refs.to_vec(),
            ..Origin::default()
        });
    }
}

/// The annotated tags the refs reach (`Tips::tags`), each once, under the first ref that reaches
/// it: message and header lines.
pub(super) fn scan_tag_messages(
    repo: &gix::Repository,
    tags: &[(ObjectId, String)],
    opts: &HistoryOptions,
    sink: &dyn Sink,
) {
    let shard = opts.shard;
    let mut buf = Vec::new();
    let mut seen = gix::hashtable::HashSet::default();
    for (id, name) in tags {
        if !seen.insert(*id) || shard.is_some_and(|(i, n)| shard_of(id, n) != i) {
            continue;
        }
        if let Ok(data) = repo.objects.find(id, &mut buf) {
            scan_text(sink, data.data, |part| Origin {
                path: format!("{}(tag {part} {name})", opts.prefix),
                repository: opts.repository.clone(),
                ..Origin::default()
            });
        }
    }
}

/// Author and date of a commit, read only when a finding needs them.
pub(super) fn commit_info(repo: &gix::Repository, commit: ObjectId) -> CommitInfo {
    let mut buf = Vec::new();
    let decoded = repo.objects.find_commit(&commit, &mut buf).ok();
    store::commit_info(&commit, decoded.as_ref())
}
