//! Opening a repository, and what is said about it before anything is read: a shallow or partial
//! clone, pack files that cannot be opened.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::source::{IGNORE_FILE, Sink};

/// Opens the repository at or above `path`; bare repositories work too.
pub fn open_repo(path: &Path) -> Result<gix::Repository> {
    if let Err(e) = std::fs::metadata(path) {
        bail!("cannot read {}: {e}", path.display());
    }
    if let Err(e) = refuse_special_files(path) {
        bail!("cannot read the repository at {}: {e}", path.display());
    }
    let mut repo =
        gix::discover(path).map_err(|e| anyhow!("{} is not a git repository ({e})", path.display()))?;
    // Trees are read once each, blobs once each: a small cache serves delta bases.
    repo.object_cache_size_if_unset(16 << 20);
    Ok(repo)
}

/// Files gitoxide opens on its own in a git directory, as it finds the repository or reads its refs.
const GIT_FILES: &[&str] = &[
    "HEAD",
    "config",
    "commondir",
    "gitdir",
    "packed-refs",
    "shallow",
    "index",
];

/// Directories whose every file gitoxide may open (a loose ref or object is a file each).
const GIT_TREES: &[&str] = &["refs", "objects"];

/// How many alternates deep gitoxide follows, as git does.
const ALTERNATES_DEPTH: usize = 5;

/// An error naming the first file gitoxide would open in the repository at or above `path` that
/// is there but no regular file: opening a FIFO waits for a writer, a device may never end, and
/// gitoxide opens them as files (`objects/info/alternates` as a FIFO stopped a scan forever).
/// Checked before gitoxide opens anything; found as gitoxide finds a repository, upwards.
pub(super) fn refuse_special_files(path: &Path) -> std::io::Result<()> {
    let Ok(abs) = path.canonicalize() else {
        return Ok(());
    };
    for dir in abs.ancestors() {
        let dot_git = dir.join(".git");
        let git_dir = match std::fs::metadata(&dot_git) {
            Ok(m) if m.is_dir() => dot_git,
            // `gitdir: X`, as a worktree or a submodule has.
            Ok(_) => {
                let text = crate::file::read_to_string(&dot_git, crate::file::SMALL)
                    .map_err(|e| named(&dot_git, e))?;
                match text.lines().next().and_then(|l| l.strip_prefix("gitdir: ")) {
                    Some(p) => dir.join(p.trim_end()),
                    None => return Ok(()),
                }
            }
            // A bare repository: gitoxide reads its `HEAD` to tell.
            Err(_) if dir.join("HEAD").exists() && dir.join("objects").is_dir() => dir.to_path_buf(),
            Err(_) => continue,
        };
        check_git_dir(&git_dir)?;
        let commondir = git_dir.join("commondir");
        if commondir.is_file()
            && let Ok(text) = crate::file::read_to_string(&commondir, crate::file::SMALL)
            && let Some(line) = text.lines().next()
        {
            check_git_dir(&git_dir.join(line.trim_end()))?;
        }
        return Ok(());
    }
    Ok(())
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{} is {e}", path.display()))
}

/// [`GIT_FILES`] and [`GIT_TREES`] of one git directory, and the object directories its
/// alternates name.
fn check_git_dir(git_dir: &Path) -> std::io::Result<()> {
    for name in GIT_FILES {
        let p = git_dir.join(name);
        crate::file::regular_or_absent(&p).map_err(|e| named(&p, e))?;
    }
    for name in GIT_TREES {
        check_tree(&git_dir.join(name))?;
    }
    let mut objects = vec![(git_dir.join("objects"), 0)];
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, depth)) = objects.pop() {
        let alternates = dir.join("info").join("alternates");
        if depth > ALTERNATES_DEPTH || !seen.insert(dir.canonicalize().unwrap_or(dir.clone())) {
            continue;
        }
        if depth > 0 {
            check_tree(&dir)?;
        }
        let text = match crate::file::read_to_string(&alternates, crate::file::SMALL) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(named(&alternates, e)),
            Err(_) => continue,
        };
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            objects.push((dir.join(line), depth + 1));
        }
    }
    Ok(())
}

/// Every file under `top` (links followed, directories behind links not entered): one that is no
/// regular file is an error. File types come from the directory listing, so this costs one read
/// per directory.
fn check_tree(top: &Path) -> std::io::Result<()> {
    let mut dirs = vec![top.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(mut ft) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if ft.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => continue,
                    Ok(m) => ft = m.file_type(),
                    Err(_) => continue,
                }
            }
            if ft.is_dir() {
                dirs.push(path);
            } else if !ft.is_file() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is {}, not a regular file",
                        path.display(),
                        crate::file::kind(ft)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// [`open_repo`] for what reads refs (history, a range, the staged index against HEAD). gitoxide
/// reads only the files ref store: in a reftable repository it finds no ref and no HEAD, and a
/// sweep would call every key unreachable. Refused in one line instead.
pub fn open_repo_with_refs(path: &Path) -> Result<gix::Repository> {
    let repo = open_repo(path)?;
    let storage = repo
        .config_snapshot()
        .string("extensions.refStorage")
        .map(|v| v.to_string());
    match storage.as_deref() {
        None | Some("files") => Ok(repo),
        Some("reftable") => bail!("reftable refs are not supported: {}", path.display()),
        Some(other) => bail!("ref storage '{other}' is not supported: {}", path.display()),
    }
}

/// Delta bases kept per handle, as git's `core.deltaBaseCacheLimit` (96 MiB there): a walk reads
/// the versions of a tree one after the other, each a delta on the last.
const DELTA_CACHE: usize = 64 << 20;

/// `repo` with a memory-capped delta-base cache instead of gitoxide's 64-entry default, whose
/// linear lookups cost more than they save on a long walk.
pub(super) fn with_delta_cache(mut repo: gix::Repository) -> gix::Repository {
    repo.objects
        .set_pack_cache(|| Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(DELTA_CACHE)));
    repo
}

/// `.sgscanignore` at the top of the repository's work tree (if it has one), then in the current
/// directory.
pub(crate) fn repo_ignore_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(IGNORE_FILE)];
    if let Some(top) = open_repo(path)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.join(IGNORE_FILE)))
    {
        files.insert(0, top);
    }
    files
}

/// A shallow clone lacks history by design: said once, not as a skip per missing parent.
pub(super) fn note_shallow(repo: &gix::Repository, sink: &dyn Sink) {
    if repo.is_shallow().unwrap_or(false) {
        sink.note("shallow clone: history before the shallow boundary is not in this repository and was not scanned");
    }
}

/// A partial clone (`--filter=blob:none`) lacks blobs by design: say so instead of a skip per blob.
pub(super) fn note_partial_clone(repo: &gix::Repository, sink: &dyn Sink) -> bool {
    let config = repo.config_snapshot();
    let partial = config.string("extensions.partialClone").is_some()
        || config
            .sections_by_name("remote")
            .into_iter()
            .flatten()
            .any(|s| s.value("promisor").is_some_and(|v| v.as_slice() == b"true"));
    if partial {
        sink.note("partial clone: blobs that were never fetched are not in this repository and were not scanned (fetch them, or scan a full clone)");
    }
    partial
}

/// The repository at or above `path` as a report names it: its top, remote URL (credentials
/// removed), branch and HEAD commit. None where there is no repository: the scan says why.
pub fn describe(path: &Path) -> Option<crate::model::Repository> {
    // A file given to `dir` is in the repository of its directory.
    let dir = match path.is_file() {
        true => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
        false => path,
    };
    let repo = open_repo(dir).ok()?;
    let top = repo.workdir().unwrap_or_else(|| repo.path());
    // gitoxide gives the current directory as an empty path.
    let top = match top.as_os_str().is_empty() {
        true => Path::new("."),
        false => top,
    };
    let top = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_path_buf());
    let config = repo.config_snapshot();
    let remotes: Vec<String> = config
        .sections_by_name("remote")
        .into_iter()
        .flatten()
        .filter_map(|s| s.header().subsection_name().map(|n| n.to_string()))
        .collect();
    let name = match remotes.iter().any(|r| r == "origin") {
        true => Some("origin"),
        false if remotes.len() == 1 => remotes.first().map(String::as_str),
        false => None,
    };
    let remote_url = name
        .and_then(|n| config.string(format!("remote.{n}.url").as_str()))
        .map(|u| public_url(&u.to_string()));
    let branch = repo.head_name().ok().flatten().map(|n| n.shorten().to_string());
    let head = repo.head_id().ok().map(|id| id.to_string());
    Some(crate::model::Repository {
        path: crate::key::redact_text(&top.to_string_lossy()).into_owned(),
        remote_url,
        branch: branch.map(|b| crate::key::redact_text(&b).into_owned()),
        head,
        ranges: Vec::new(),
    })
}

/// A remote URL fit for a report or a terminal: no user name or password (`https://TOKEN@host/…`
/// is how many CI systems clone), no query or fragment (`?private_token=…`), key-shaped text
/// redacted. The scp-like form (`user@host:path`) loses its user too.
pub fn public_url(url: &str) -> String {
    // Parsing lowercases a host and keeps a path's `%2E`: a key spelled in either would pass the
    // redaction as parsed, so it is judged as given and as decoded.
    let decoded = percent_encoding::percent_decode_str(url).decode_utf8_lossy();
    if crate::key::redact_text(url) != url || crate::key::redact_text(&decoded) != decoded {
        let stripped = strip_credentials(url);
        let decoded = percent_encoding::percent_decode_str(&stripped).decode_utf8_lossy();
        return crate::key::redact_text(&decoded).into_owned();
    }
    let cleaned = match url::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        // What git takes that a URL parser does not (a port out of range, a bad IPv6 host,
        // `transport::address`, `user@host:path`).
        _ => strip_credentials(url),
    };
    crate::key::redact_text(&cleaned).into_owned()
}

/// [`public_url`] without a URL parser: after a `://`, the authority loses all up to its last
/// `@`, and the query and fragment go; without one (`user@host:path`), all up to the last `@`
/// before the host's `:` goes. It errs towards cutting too much: a local path keeps its text
/// unless it looks like that.
fn strip_credentials(url: &str) -> String {
    if let Some(i) = url.find("://") {
        let (scheme, rest) = url.split_at(i + 3);
        let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        let rest = &rest[rest[..end].rfind('@').map_or(0, |at| at + 1)..];
        let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
        return format!("{scheme}{rest}");
    }
    let head = &url[..url.find('/').unwrap_or(url.len())];
    match head.rfind(':').and_then(|colon| head[..colon].rfind('@')) {
        Some(at) => url[at + 1..].to_string(),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn remote_urls_lose_their_credentials() {
        let cases = [
            (
                "https://user:secret@example.com/o/r.git",
                "https://example.com/o/r.git",
            ),
            ("https://ghp_token123@github.com/o/r", "https://github.com/o/r"),
            (
                "https://example.com/o/r.git?private_token=abc#x",
                "https://example.com/o/r.git",
            ),
            (
                "ssh://git@example.com:2222/o/r.git",
                "ssh://example.com:2222/o/r.git",
            ),
            ("git@github.com:o/r.git", "github.com:o/r.git"),
            ("tok:en@github.com:o/r.git", "github.com:o/r.git"),
            ("/srv/git/r.git", "/srv/git/r.git"),
            // Forms a URL parser refuses, or parses without a host.
            ("https://u:tok@h.example:99999/r", "https://h.example:99999/r"),
            ("https://u:tok@[zz]/r", "https://[zz]/r"),
            ("https://u:tok@exa mple.com/r", "https://exa mple.com/r"),
            ("https://u:tok@h\\@x/r?t=1", "https://h/@x/r"),
            (
                "gcrypt::https://u:tok@h.example/r#f",
                "gcrypt::https://h.example/r",
            ),
            ("file:///srv/r.git?token=tok", "file:///srv/r.git"),
            ("tok@host:repo@x", "host:repo@x"),
            ("./a@b/c:d", "./a@b/c:d"),
            ("../r", "../r"),
        ];
        for (url, public) in cases {
            assert_eq!(public_url(url), public, "{url}");
        }
    }
}
