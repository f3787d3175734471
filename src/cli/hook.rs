//! `sgscan install-hook`: a plain git pre-commit hook that runs `sgscan staged`, (`--pre-push`) a
//! pre-push hook that runs `sgscan pre-push`, or (`--server`) a server's pre-receive hook that runs
//! `sgscan pre-receive`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::EXIT_CLEAN;
use super::args::InstallHookArgs;
use crate::source::git;
use crate::text::Safe;

/// A hook `install-hook` writes: its file name, the sgscan command it runs, what it blocks.
struct Hook {
    name: &'static str,
    /// The `install-hook` flag that writes it.
    flag: &'static str,
    command: &'static str,
    blocks: &'static str,
    /// A server's hook: goes into a bare repository, and only there.
    server: bool,
}

const PRE_COMMIT: Hook = Hook {
    name: "pre-commit",
    flag: "",
    command: "staged",
    blocks: "commits that stage a SendGrid API key",
    server: false,
};

/// git gives the hook the remote's name and URL as arguments and the refs on standard input: both
/// passed on.
const PRE_PUSH: Hook = Hook {
    name: "pre-push",
    flag: " --pre-push",
    command: "pre-push \"$@\"",
    blocks: "pushes of commits that hold a SendGrid API key",
    server: false,
};

/// git gives the hook the pushed refs on standard input, and the push options in its environment.
const PRE_RECEIVE: Hook = Hook {
    name: "pre-receive",
    flag: " --server",
    command: "pre-receive",
    blocks: "pushes that bring a SendGrid API key",
    server: true,
};

/// Writes the hook where git will run it; returns its path. Refuses to replace an existing hook
/// unless `force`.
fn install(repo_path: &Path, force: bool, kind: &Hook) -> Result<PathBuf> {
    // The hook runs `sgscan staged`, which refuses a repository whose refs it cannot read (and so
    // would block every commit): refused here instead.
    let repo = git::open_repo_with_refs(repo_path)?;
    match (repo.is_bare(), kind.server) {
        (true, false) => bail!(
            "{} is a bare repository: it has no commits made in it to guard (a server's: --server)",
            repo_path.display()
        ),
        (false, true) => bail!(
            "{} is not a bare repository: `--server` guards what is pushed to a server's repository \
             (for commits made here, leave out --server)",
            repo_path.display()
        ),
        _ => {}
    }
    // Where git runs hooks from: core.hooksPath (relative to the work tree), else the common
    // directory's hooks/ (shared by every linked worktree).
    let hooks = match repo.config_snapshot().trusted_path("core.hooksPath") {
        Ok(Some(p)) => repo.workdir().map(|w| w.join(&p)).unwrap_or(p),
        _ => repo.common_dir().join("hooks"),
    };
    let hook = hooks.join(kind.name);
    // A link counts as a hook there, even one that leads nowhere.
    if std::fs::symlink_metadata(&hook).is_ok() && !force {
        bail!(
            "{} already exists: add `sgscan {}` to it yourself, or pass --force to replace it",
            hook.display(),
            kind.command
        );
    }
    // The binary that installed the hook runs it (same version); `sgscan` on PATH if it moved.
    let exe = std::env::current_exe().context("cannot find the sgscan executable's path")?;
    let script = format!(
        "#!/bin/sh\n# Installed by `sgscan install-hook{}`: blocks {}.\n\
         SGSCAN='{}'\n[ -x \"$SGSCAN\" ] || SGSCAN=sgscan\nexec \"$SGSCAN\" {}\n",
        kind.flag,
        kind.blocks,
        exe.display().to_string().replace('\'', "'\\''"),
        kind.command
    );
    std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {}", hooks.display()))?;
    // Never through a link planted where the hook goes (a cloned `.githooks/pre-push -> ~/.profile`).
    let written = crate::file::create(&hook, crate::file::Write::Truncate, false).and_then(|mut f| {
        f.write_all(script.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        }
        f.flush()
    });
    written.with_context(|| format!("cannot write {}", hook.display()))?;
    Ok(hook)
}

pub fn run(args: InstallHookArgs) -> Result<i32> {
    let kind = match (args.server, args.pre_push) {
        (true, true) => bail!("--server and --pre-push write different hooks: pass one"),
        (true, false) => &PRE_RECEIVE,
        (false, true) => &PRE_PUSH,
        (false, false) => &PRE_COMMIT,
    };
    let hook = install(&args.repo, args.force, kind)?;
    eprintln!("sgscan: installed {}", Safe(&hook.display().to_string()));
    Ok(EXIT_CLEAN)
}
