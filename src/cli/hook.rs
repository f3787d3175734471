//! `sgscan install-hook`: a plain git pre-commit hook that runs `sgscan staged`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::EXIT_CLEAN;
use super::args::InstallHookArgs;
use crate::source::git;
use crate::text::Safe;

/// Writes the pre-commit hook where git will run it; returns its path. Refuses to replace an
/// existing hook unless `force`.
fn install(repo_path: &Path, force: bool) -> Result<PathBuf> {
    // The hook runs `sgscan staged`, which refuses a repository whose refs it cannot read (and so
    // would block every commit): refused here instead.
    let repo = git::open_repo_with_refs(repo_path)?;
    if repo.is_bare() {
        bail!(
            "{} is a bare repository: it has no commits made in it to guard",
            repo_path.display()
        );
    }
    // Where git runs hooks from: core.hooksPath (relative to the work tree), else the common
    // directory's hooks/ (shared by every linked worktree).
    let hooks = match repo.config_snapshot().trusted_path("core.hooksPath") {
        Ok(Some(p)) => repo.workdir().map(|w| w.join(&p)).unwrap_or(p),
        _ => repo.common_dir().join("hooks"),
    };
    let hook = hooks.join("pre-commit");
    if hook.exists() && !force {
        bail!(
            "{} already exists: add `sgscan staged` to it yourself, or pass --force to replace it",
            hook.display()
        );
    }
    // The binary that installed the hook runs it (same version); `sgscan` on PATH if it moved.
    let exe = std::env::current_exe().context("cannot find the sgscan executable's path")?;
    let script = format!(
        "#!/bin/sh\n# Installed by `sgscan install-hook`: blocks commits that stage a SendGrid API key.\n\
         SGSCAN='{}'\n[ -x \"$SGSCAN\" ] || SGSCAN=sgscan\nexec \"$SGSCAN\" staged\n",
        exe.display().to_string().replace('\'', "'\\''")
    );
    std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {}", hooks.display()))?;
    std::fs::write(&hook, script).with_context(|| format!("cannot write {}", hook.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", hook.display()))?;
    }
    Ok(hook)
}

/// Writes hooks/pre-receive into a bare repository (a server's); returns its path.
fn install_server(repo_path: &Path, force: bool) -> Result<PathBuf> {
    let repo = git::open_repo(repo_path)?;
    if !repo.is_bare() {
        bail!(
            "{} is not a bare repository: `--server` guards what is pushed to a server's repository \
             (for commits made here, leave out --server)",
            repo_path.display()
        );
    }
    let hooks = repo.common_dir().join("hooks");
    let hook = hooks.join("pre-receive");
    if (hook.exists() || hook.is_symlink()) && !force {
        bail!(
            "{} already exists: add `sgscan pre-receive` to it yourself (it reads the same ref lines on \
             standard input), or pass --force to replace it",
            hook.display()
        );
    }
    let exe = std::env::current_exe().context("cannot find the sgscan executable's path")?;
    let script = format!(
        "#!/bin/sh\n# Installed by `sgscan install-hook --server`: rejects pushes that bring a SendGrid API key.\n\
         SGSCAN='{}'\n[ -x \"$SGSCAN\" ] || SGSCAN=sgscan\nexec \"$SGSCAN\" pre-receive\n",
        exe.display().to_string().replace('\'', "'\\''")
    );
    std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {}", hooks.display()))?;
    // Replaced, never written through: a link planted at hooks/pre-receive is not followed.
    if force && hook.is_symlink() {
        std::fs::remove_file(&hook).with_context(|| format!("cannot replace {}", hook.display()))?;
    }
    let mut file = crate::file::create(&hook, crate::file::Write::Truncate, false)
        .with_context(|| format!("cannot write {}", hook.display()))?;
    std::io::Write::write_all(&mut file, script.as_bytes())
        .with_context(|| format!("cannot write {}", hook.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", hook.display()))?;
    }
    Ok(hook)
}

pub fn run(args: InstallHookArgs) -> Result<i32> {
    let hook = match args.server {
        true => install_server(&args.repo, args.force)?,
        false => install(&args.repo, args.force)?,
    };
    eprintln!("sgscan: installed {}", Safe(&hook.display().to_string()));
    Ok(EXIT_CLEAN)
}
