//! Repositories that live elsewhere: each URL cloned as a bare mirror by the `git` binary (which
//! brings ssh, credential helpers and proxies), every ref included (a forge's `refs/pull/*` too),
//! into a kept directory that the next run fetches into, or a temporary one removed when the sweep
//! is done with it.
//!
//! What git is told is kept out of its argv: a password or token reaches it only through the
//! environment (`GIT_CONFIG_*` → `http.<url>.extraHeader`), so no `ps` shows it, and what git says
//! back has it taken out before anyone sees it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::key::redact_text;
use crate::text::escape;

/// A repository to sweep that lives elsewhere. `url` never holds credentials (it is what reports show).
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    /// How git authenticates to it over HTTP(S), if at all (from GITHUB_TOKEN/GITLAB_TOKEN/--token-file).
    pub auth: Option<HttpAuth>,
}

/// Sent as an `Authorization: Basic` header via git's `http.<url>.extraHeader`, passed to git through
/// the environment (GIT_CONFIG_COUNT/GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n), never its argv.
#[derive(Clone)]
pub struct HttpAuth {
    pub user: String,
    pub secret: String,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth")
            .field("user", &self.user)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// What `sgscan git` was given: a local repository or one to fetch.
#[derive(Debug, Clone)]
pub enum Target {
    Path(PathBuf),
    Remote(Remote),
}

impl Target {
    /// What reports call it: the path as given, or the URL without credentials.
    pub fn name(&self) -> String {
        match self {
            Target::Path(p) => p.display().to_string(),
            Target::Remote(r) => r.url.clone(),
        }
    }
}

/// Which of `n` shards a repository belongs to: the first 8 bytes of the SHA-256 of its name,
/// modulo `n`. Stable across runs and machines, so each job of a matrix takes the same share.
pub fn repo_shard(name: &str, n: u64) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % n.max(1)
}

/// Reads a command-line or `--repos-file` entry: a URL (`https://`, `http://`, `ssh://`, `git://`,
/// `file://`, or scp-like `user@host:path`) or else a path. A password in the URL is moved out of
/// it into [`HttpAuth`]. Plain `http://` (and `git://`) send everything in the clear, a token
/// included: only to a loopback host unless `allow_insecure`.
pub fn parse_target(s: &str, allow_insecure: bool) -> Result<Target> {
    let lower = s.to_ascii_lowercase();
    let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
    if !schemes.iter().any(|p| lower.starts_with(p)) {
        if is_scp_like(s) {
            return Ok(Target::Remote(Remote {
                url: s.to_string(),
                auth: None,
            }));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            bail!(
                "{}: the {} transport is not supported (https, http to loopback, ssh, git, file)",
                escape(&super::repo::public_url(s)),
                escape(scheme)
            );
        }
        return Ok(Target::Path(PathBuf::from(s)));
    }
    let mut url = url::Url::parse(s)
        .map_err(|e| anyhow::anyhow!("{}: not a valid URL: {e}", escape(&super::repo::public_url(s))))?;
    let scheme = url.scheme().to_string();
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if matches!(scheme.as_str(), "http" | "git") && !loopback && !allow_insecure {
        bail!(
            "{}: plain {scheme}:// sends the repository and any token in the clear; use https:// \
             (or pass --allow-insecure-http if this network is yours)",
            escape(&super::repo::public_url(s))
        );
    }
    let mut auth = None;
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    };
    if matches!(scheme.as_str(), "http" | "https") {
        // A user name alone is often a token (`https://TOKEN@host/…`): it leaves the URL as a
        // password does, and git learns it from the environment (an empty secret: the user name
        // for its credential helpers).
        if !url.username().is_empty() || url.password().is_some() {
            auth = Some(HttpAuth {
                user: decode(url.username()),
                secret: decode(url.password().unwrap_or("")),
            });
            let _ = url.set_username("");
        }
    }
    // ssh and git take no password from a URL: it is dropped, never shown.
    let _ = url.set_password(None);
    Ok(Target::Remote(Remote {
        url: url.to_string(),
        auth,
    }))
}

/// `user@host:path` (git's scp-like syntax), told from a path: a user, a host, then a colon before
/// any slash.
fn is_scp_like(s: &str) -> bool {
    let Some((before, _)) = s.split_once(':') else {
        return false;
    };
    let Some((user, host)) = before.split_once('@') else {
        return false;
    };
    // A leading `-` would read as an option to ssh.
    let ok = |t: &str, extra: &[char]| {
        !t.starts_with('-')
            && !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
    };
    ok(user, &[]) && ok(host, &['[', ']'])
}

/// Where the mirrors go: a directory kept between runs (fetched into, not cloned again), or a
/// temporary one removed when dropped, each clone in it removed once swept.
pub struct Clones {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Git's stderr kept for a skip's reason: its last lines say why.
const STDERR_KEPT: u64 = 64 << 10;

impl Clones {
    /// `dir`: `--clone-dir`, created if absent; none: a temporary directory.
    pub fn new(dir: Option<&Path>) -> Result<Clones> {
        match dir {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create --clone-dir {}", d.display()))?;
                Ok(Clones {
                    dir: d.to_path_buf(),
                    _temp: None,
                })
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("sgscan-clones-")
                    .tempdir()
                    .context("cannot create a temporary directory for the clones")?;
                Ok(Clones {
                    dir: t.path().to_path_buf(),
                    _temp: Some(t),
                })
            }
        }
    }

    pub fn temporary(&self) -> bool {
        self._temp.is_some()
    }

    /// The directory of `url`'s mirror: a readable name from the URL's last segments and a hash of
    /// the whole URL, so two URLs never share one and a run finds the last run's.
    pub fn path_of(&self, url: &str) -> PathBuf {
        let tail: String = url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit(['/', ':'])
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let tail = tail.trim_start_matches('.');
        let hash = hex::encode(&Sha256::digest(url.as_bytes())[..8]);
        self.dir.join(format!("{tail}-{hash}.git"))
    }

    /// Clones `remote` as a bare mirror, or fetches every ref into the mirror a past run left.
    pub fn fetch(&self, remote: &Remote) -> Result<PathBuf> {
        let path = self.path_of(&remote.url);
        if path.join("HEAD").is_file() {
            check_kept(&path)?;
            let mut cmd = git_command(remote);
            cmd.arg("--git-dir")
                .arg(&path)
                .args(["fetch", "--prune", "--quiet", "--no-write-fetch-head", "--"])
                .arg(&remote.url)
                .arg("+refs/*:refs/*");
            run_git(cmd, remote, "fetch")?;
            return Ok(path);
        }
        // Cloned beside and renamed: a clone cut short leaves no directory the next run would
        // take for a mirror.
        let partial = path.with_extension("partial");
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("cannot remove the unfinished clone {}", partial.display()))?;
        }
        let mut cmd = git_command(remote);
        cmd.args(["clone", "--mirror", "--quiet", "--"])
            .arg(&remote.url)
            .arg(&partial);
        if let Err(e) = run_git(cmd, remote, "clone") {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot move the clone into {}", path.display()))?;
        Ok(path)
    }

    /// Done with a mirror: a temporary one is removed, so disk holds at most the one being swept
    /// and the one cloned ahead.
    pub fn done(&self, path: &Path) {
        if self.temporary() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// What `git clone --mirror` writes in a mirror's config (on any platform, any object format).
const CLONE_CONFIG: [&str; 12] = [
    "core.repositoryformatversion",
    "core.filemode",
    "core.bare",
    "core.ignorecase",
    "core.precomposeunicode",
    "core.symlinks",
    "core.logallrefupdates",
    "extensions.objectformat",
    "extensions.refstorage",
    "remote.origin.url",
    "remote.origin.fetch",
    "remote.origin.mirror",
];

/// A mirror a past run left is fetched into only if it is one: a directory, not a link to
/// another, whose config holds only what a clone writes. A --clone-dir restored from a shared
/// cache is as trusted as whoever wrote the cache, and a config of theirs (`http.proxy` with
/// `http.sslVerify=false`, `credential.helper`, `url.*.insteadOf`) would hand them the token or
/// run their command.
fn check_kept(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read the kept mirror {}", path.display()))?;
    if !meta.is_dir() {
        bail!(
            "the kept mirror {} is not a directory (a link?); remove it to clone again",
            path.display()
        );
    }
    // Read by git as a plain file: `--file` follows no include, runs nothing.
    let out = Command::new("git")
        .args(["config", "--no-includes", "--name-only", "--list", "--file"])
        .arg(path.join("config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("cannot run git (is it installed and on PATH?)")?;
    if !out.status.success() {
        bail!(
            "the kept mirror {} has a config git cannot read; remove it to clone again",
            path.display()
        );
    }
    let names = String::from_utf8_lossy(&out.stdout);
    let odd: Vec<&str> = names
        .lines()
        .filter(|n| !CLONE_CONFIG.iter().any(|k| k.eq_ignore_ascii_case(n)))
        .collect();
    if !odd.is_empty() {
        bail!(
            "the kept mirror {} has config a clone never writes ({}); not fetched into: remove it to clone again",
            path.display(),
            escape(&odd.join(", "))
        );
    }
    Ok(())
}

/// A `git` command that can neither prompt, nor run a hook, nor use a transport other than those
/// named (`ext::` runs a command), nor stall forever on a dead HTTP connection; credentials of
/// `remote` are in its environment, never its arguments.
pub fn git_command(remote: &Remote) -> Command {
    let mut cmd = Command::new("git");
    // Set in a hook's environment, these would point the clone at another repository.
    for v in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_QUARANTINE_PATH",
    ] {
        cmd.env_remove(v);
    }
    cmd.stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "https:http:ssh:git:file")
        // ssh asks on the terminal for a password or an unknown host key, whatever git says.
        .env("GCM_INTERACTIVE", "never");
    if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
        cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    let mut config: Vec<(String, String)> = vec![
        // A mirror in --clone-dir is the user's; a hook planted there must not run on fetch.
        ("core.hooksPath".into(), null_device().into()),
        ("http.lowSpeedLimit".into(), "1000".into()),
        ("http.lowSpeedTime".into(), "60".into()),
    ];
    if let Some(auth) = &remote.auth
        && let Some(scope) = header_scope(&remote.url)
    {
        if auth.secret.is_empty() {
            config.push((format!("credential.{scope}.username"), auth.user.clone()));
        } else {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.user, auth.secret));
            config.push((
                format!("http.{scope}.extraHeader"),
                format!("Authorization: Basic {basic}"),
            ));
        }
        // After a redirect git sends its later requests, extra header included, to the server
        // the redirect named, whatever the header's URL scope says: with a credential, no
        // redirect is followed.
        config.push(("http.followRedirects".into(), "false".into()));
    }
    // Appended to what the caller's environment sets already.
    let first: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    for (i, (k, v)) in config.iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{}", first + i), k)
            .env(format!("GIT_CONFIG_VALUE_{}", first + i), v);
    }
    cmd.env("GIT_CONFIG_COUNT", (first + config.len()).to_string());
    cmd
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}

/// `scheme://host[:port]/`: the header goes to that server only, not to one a redirect names.
fn header_scope(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}/", u.scheme()),
        None => format!("{}://{host}/", u.scheme()),
    })
}

/// Runs git; on failure the error holds the end of what it said, credentials and keys taken out,
/// escaped.
fn run_git(mut cmd: Command, remote: &Remote, what: &str) -> Result<()> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("cannot run git (is it installed and on PATH?)")?;
    let mut said = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = (&mut err).take(STDERR_KEPT).read_to_end(&mut said);
        // Drained, so git never blocks on a full pipe.
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    }
    let status = child.wait().context("git did not finish")?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&said);
    let text = cleaned(&text, remote);
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(4)..].join(" / ");
    let tail: String = tail.chars().take(600).collect();
    bail!(
        "git {what} of {} failed ({status}): {}",
        remote.url,
        escape(&tail)
    )
}

/// A user name without a password this long may be a token and is taken out of what git says; a
/// shorter one (`git`, `alice`) is a name, and taking it out would garble the message.
const TOKEN_LIKE: usize = 12;

/// What git said, with every form of the remote's secret and any key taken out.
pub fn cleaned(text: &str, remote: &Remote) -> String {
    let mut text = redact_text(text).into_owned();
    if let Some(auth) = &remote.auth
        && auth.user.len() >= TOKEN_LIKE
        && auth.secret.is_empty()
    {
        let encoded =
            percent_encoding::utf8_percent_encode(&auth.user, percent_encoding::NON_ALPHANUMERIC).to_string();
        for secret in [auth.user.as_str(), encoded.as_str()] {
            text = text.replace(secret, "***");
        }
    }
    if let Some(auth) = &remote.auth
        && !auth.secret.is_empty()
    {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.user, auth.secret));
        let encoded = percent_encoding::utf8_percent_encode(&auth.secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        for secret in [basic.as_str(), auth.secret.as_str(), encoded.as_str()] {
            text = text.replace(secret, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(s: &str) -> Remote {
        match parse_target(s, false).unwrap() {
            Target::Remote(r) => r,
            Target::Path(p) => panic!("a path: {}", p.display()),
        }
    }

    #[test]
    fn a_password_leaves_the_url_and_the_argv() {
        let r = remote("https://someone:s3cr%40t@example.com/org/repo.git");
        assert_eq!(r.url, "https://example.com/org/repo.git");
        let auth = r.auth.clone().unwrap();
        assert_eq!((auth.user.as_str(), auth.secret.as_str()), ("someone", "s3cr@t"));
        assert!(!format!("{r:?}").contains("s3cr"));
        let clones = Clones::new(None).unwrap();
        let mut cmd = git_command(&r);
        cmd.args(["clone", "--mirror", "--"])
            .arg(&r.url)
            .arg(clones.path_of(&r.url));
        let argv: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let basic = base64::engine::general_purpose::STANDARD.encode("someone:s3cr@t");
        for a in &argv {
            assert!(
                !a.contains("s3cr") && !a.contains(&basic) && !a.contains("someone"),
                "{argv:?}"
            );
        }
        let header = cmd
            .get_envs()
            .filter_map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .any(|v| v == format!("Authorization: Basic {basic}"));
        assert!(header, "the header is in the environment");
        let said = format!("fatal: auth failed for https://someone:s3cr%40t@example.com ({basic})");
        let shown = cleaned(&said, &r);
        assert!(!shown.contains("s3cr") && !shown.contains(&basic), "{shown}");
    }

    #[test]
    fn targets_are_told_apart() {
        assert!(matches!(
            parse_target("git@github.com:org/repo.git", false),
            Ok(Target::Remote(_))
        ));
        assert!(matches!(parse_target("some/dir", false), Ok(Target::Path(_))));
        assert!(matches!(parse_target("C:/dir", false), Ok(Target::Path(_))));
        assert!(matches!(
            parse_target("file:///srv/repo.git", false),
            Ok(Target::Remote(_))
        ));
        assert!(matches!(
            parse_target("http://127.0.0.1:8080/r.git", false),
            Ok(Target::Remote(_))
        ));
        assert!(matches!(
            parse_target("http://[::1]:8080/r.git", false),
            Ok(Target::Remote(_))
        ));
        let e = parse_target("http://user:pw7xq@example.com/r.git", false).unwrap_err();
        assert!(!format!("{e:#}").contains("pw7xq"), "{e:#}");
        assert!(parse_target("http://example.com/r.git", true).is_ok());
        let e = parse_target("ext::sh -c touch% /tmp/x", false);
        assert!(matches!(e, Ok(Target::Path(_))), "ext:: is never a URL");
        assert!(parse_target("ftp://example.com/r.git", false).is_err());
    }

    #[test]
    fn mirror_names_are_stable_and_distinct() {
        let c = Clones::new(None).unwrap();
        let a = c.path_of("https://example.com/org/repo.git");
        assert_eq!(a, c.path_of("https://example.com/org/repo.git"));
        assert_ne!(a, c.path_of("https://example.com/other/repo.git"));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("org-repo-") && name.ends_with(".git"), "{name}");
        let odd = c.path_of("https://example.com/../..");
        assert_eq!(odd.parent(), Some(c.dir.as_path()));
    }
}
