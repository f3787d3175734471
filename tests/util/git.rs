//! Repositories built with the real `git` CLI, isolated from the user's and the system's
//! configuration, with a fixed identity and a clock that moves on a minute per call.

use std::cell::Cell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use super::run::GIT_LOCAL_ENV;

pub const AUTHOR_NAME: &str = "Ada Lovelace";
pub const AUTHOR_EMAIL: &str = "ada@lovelace.test";
pub const COMMITTER_NAME: &str = "Carl Committer";
pub const COMMITTER_EMAIL: &str = "carl@committer.test";
/// 2023-11-14T22:13:20Z; every git call moves the clock on by a minute.
pub const T0: i64 = 1_700_000_000;
/// A `git` command isolated from the user's and the system's configuration, with a fixed identity.
pub fn git_command(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new("git");
    c.current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "gc.auto=0",
            "-c",
            "core.autocrlf=false",
            "-c",
            "advice.detachedHead=false",
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_NAME", COMMITTER_NAME)
        .env("GIT_COMMITTER_EMAIL", COMMITTER_EMAIL)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    for v in GIT_LOCAL_ENV {
        c.env_remove(v);
    }
    c
}

pub fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "`git {what}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository (work tree or bare) built with the git CLI.
pub struct Repo {
    pub path: PathBuf,
    tick: Cell<i64>,
}

impl Repo {
    /// `git init` at `path` (created if needed).
    pub fn init(path: &Path) -> Repo {
        std::fs::create_dir_all(path).unwrap();
        let repo = Repo::open(path);
        repo.git(&["init", "-q"]);
        repo
    }

    /// A repository that already exists (a clone).
    pub fn open(path: &Path) -> Repo {
        Repo {
            path: path.to_path_buf(),
            tick: Cell::new(0),
        }
    }

    /// Runs git here with deterministic dates; returns the raw output.
    pub fn run(&self, envs: &[(&str, &str)], args: &[&str]) -> Output {
        let t = self.tick.get();
        self.tick.set(t + 1);
        let date = format!("{} +0000", T0 + 60 * t);
        let mut c = git_command(&self.path);
        c.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs git here and asserts it succeeded; returns trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        check(self.run(&[], args), &args.join(" "))
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// `git add -A` and commit; returns the new commit's full id.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn rev(&self, spec: &str) -> String {
        self.git(&["rev-parse", spec])
    }

    /// Writes `content` as an object of `kind` without git's checks (`hash-object --literally`),
    /// for objects git would refuse to make; returns its id.
    pub fn literal(&self, kind: &str, content: &[u8]) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        let path = file.path().to_str().unwrap();
        self.git(&["hash-object", "-t", kind, "--literally", "-w", path])
    }

    /// Distinct blobs reachable from every ref and HEAD, as git itself counts them.
    pub fn distinct_blobs(&self) -> u64 {
        let objects = self.git(&["rev-list", "--objects", "--all"]);
        // "<id> <path>" lines: cat-file wants the ids alone.
        let ids: String = objects
            .lines()
            .map(|l| format!("{}\n", l.split(' ').next().unwrap()))
            .collect();
        let mut child = git_command(&self.path)
            .args(["cat-file", "--batch-check=%(objecttype)"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(ids.as_bytes()).unwrap();
        let types = check(child.wait_with_output().unwrap(), "cat-file --batch-check");
        types.lines().filter(|t| *t == "blob").count() as u64
    }
}
