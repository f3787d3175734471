//! `sgscan pre-receive`: a server's pre-receive hook. Scans what the push brings for every ref line
//! and rejects the whole push on a key; git shows what it writes on stderr to the pusher as
//! `remote:` lines, so that is short, escaped and redacted. Exit 0 accepts, 1 rejects, 2 is an
//! error, which git takes for a rejection too: fail closed.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::args::{CommonArgs, FailOn, OnTimeout, PreReceiveArgs};
use super::scan::{Settings, fail_code};
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, error_text, is_object_id};
use crate::key::redact_text;
use crate::model::{Finding, Outcome, Target};
use crate::pipeline::{Scan, Unattended};
use crate::revoke::AuditLog;
use crate::source::git::{self, Incoming, RefUpdate};
use crate::text::{Safe, count};

/// Ref lines a push may have (a mirror push of every tag of a big project is in the thousands).
const MAX_LINES: usize = 100_000;
/// `<old> <new> <ref>`: two SHA-256 ids and a ref name git allows.
const MAX_LINE: u64 = 4096;
/// Push options read (git's own limit is 100 by default: `receive.maxPushOptions`... none; we stop here).
const MAX_OPTIONS: usize = 1000;
const ALLOW_OPTION: &str = "sgscan.allow=";

pub fn run(args: PreReceiveArgs) -> Result<i32> {
    let started = Instant::now();
    match hook(args, started) {
        Ok(code) => Ok(code),
        Err(e) => {
            say(&format!(
                "push rejected: the push could not be scanned ({}). Nothing was accepted; \
                 the server's administrator can see why in the hook's setup.",
                error_text(&e)
            ));
            Ok(EXIT_ERROR)
        }
    }
}

/// What the hook needs once the scanning flags are handed on.
struct Hook {
    budget: std::time::Duration,
    on_timeout: OnTimeout,
    audit_log: PathBuf,
}

fn hook(args: PreReceiveArgs, started: Instant) -> Result<i32> {
    let h = Hook {
        budget: args.time_budget,
        on_timeout: args.on_timeout,
        audit_log: args.audit_log.clone(),
    };
    let common = args.common()?;
    let updates = read_updates(&mut std::io::stdin().lock())?;
    if updates.iter().all(RefUpdate::is_deletion) {
        return Ok(EXIT_CLEAN);
    }
    // A ref's name is shown to every clone as it is: a key in it leaks as surely as one in a file.
    if let Some(u) = updates
        .iter()
        .find(|u| !u.is_deletion() && matches!(redact_text(&u.name), Cow::Owned(_)))
    {
        say(&format!(
            "push rejected: the ref name {} holds a SendGrid API key. Push under another name, and rotate the key.",
            u.name
        ));
        return Ok(EXIT_FINDINGS);
    }
    let repo = PathBuf::from(".");
    let mut repository = super::scan::repository(&repo);
    repository.ranges = updates
        .iter()
        .filter(|u| !u.is_deletion())
        .map(|u| redact_text(&format!("{}..{} {}", u.old, u.new, u.name)).into_owned())
        .collect();
    let target = Target {
        repositories: vec![repository],
        ..Target::new("pre-receive")
    };
    let allow = push_options(&|name| std::env::var(name).ok());
    // The allow list and config of the default branch (HEAD's branch), as reviewed there: one the
    // push brings takes effect once it is in.
    let top = git::open_repo(&repo)
        .ok()
        .map(|r| r.workdir().unwrap_or_else(|| r.path()).to_path_buf());
    let settings = Settings::load_range(&common, &repo, "HEAD..HEAD", (None, None), top)?;
    let fail_on = settings.fail_on;
    let history = settings.hook_history(&common);
    let mut scan = Scan::new(common.scan_options(settings.config.as_ref(), settings.ignores)?)?;
    let push = Arc::new(Incoming::new(repo, updates, history));
    // The scan runs on a thread of its own so that the budget holds whatever it meets; when the
    // budget runs out the process exits, which ends it.
    let (tx, rx) = std::sync::mpsc::channel();
    let source = push.clone();
    std::thread::Builder::new()
        .name("pre-receive scan".into())
        .spawn(move || {
            let ran = scan.run(&*source, &Unattended);
            let _ = tx.send(ran);
        })
        .context("cannot start the scan thread")?;
    let left = h.budget.saturating_sub(started.elapsed());
    let ran = match rx.recv_timeout(left) {
        Ok(ran) => ran?,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            push.remove_scratch();
            return Ok(timed_out(&h));
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => bail!("the scan thread failed"),
    };
    let mut outcome = ran.outcome;
    let brought: BTreeMap<String, String> =
        std::mem::take(&mut *push.brought.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect();
    let pushed: Vec<&str> = push
        .updates
        .iter()
        .filter(|u| !u.is_deletion())
        .map(|u| u.name.as_str())
        .collect();
    let ref_of = |f: &Finding| -> String {
        for l in &f.locations {
            if let Some(r) = l.origin.commit.as_ref().and_then(|c| brought.get(&c.commit)) {
                return r.clone();
            }
            if let Some(r) = pushed.iter().find(|r| l.origin.path.contains(&format!(" {r})"))) {
                return r.to_string();
            }
        }
        match &pushed[..] {
            [one] => one.to_string(),
            _ => "one of the pushed refs".to_string(),
        }
    };
    let bypassed = bypass(&mut outcome, &allow, &h.audit_log, &ref_of);
    if let Some(file) = &common.output.output {
        write_report(&outcome, &common, file, target);
    }
    for w in &ran.warnings {
        say(&redact_text(w));
    }
    list_allowed(&outcome);
    for fp in allow.iter().filter(|fp| !bypassed.contains(*fp)) {
        say(&format!(
            "push option sgscan.allow={fp} matches no key this push brings: it let nothing through"
        ));
    }
    if !outcome.skipped.is_empty() {
        say(&format!(
            "{} could not be read and were not scanned (first: {}: {})",
            count(outcome.skipped.len() as u64, "object", "objects"),
            outcome.skipped[0].path,
            outcome.skipped[0].reason
        ));
    }
    let mut code = fail_code(&outcome, fail_on);
    if code == EXIT_FINDINGS {
        reject(&outcome, &ref_of);
    } else if !outcome.skipped.is_empty() && fail_on != FailOn::None {
        // What was not read may hold a key (a pusher can make a blob too big to read): the push
        // was not scanned in full, which `--on-timeout` decides as it does a scan cut short.
        code = incomplete(&h);
    }
    if let Some(e) = &ran.revoke_error {
        say(&format!("revocation failed: {}", error_text(e)));
    }
    if std::env::var_os("SGSCAN_HOOK_TIMING").is_some() {
        say(&format!(
            "hook time {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
    Ok(code)
}

/// One line to the pusher (git prefixes it with `remote:`): escaped, key-shaped text redacted.
fn say(text: &str) {
    eprintln!("sgscan: {}", Safe(&redact_text(text)));
}

/// The ref lines, each checked: a line that is not `<old> <new> <ref>` means the hook is not
/// being run by git as a pre-receive hook, and nothing is accepted on a guess.
fn read_updates(input: &mut dyn BufRead) -> Result<Vec<RefUpdate>> {
    let mut updates = Vec::new();
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        let read = input
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .context("cannot read the ref lines on standard input")?;
        if read == 0 {
            break;
        }
        if n > MAX_LINES {
            bail!("more than {MAX_LINES} ref lines on standard input");
        }
        if line.len() as u64 > MAX_LINE {
            bail!("ref line {n} is longer than {MAX_LINE} bytes");
        }
        let text = std::str::from_utf8(&line)
            .ok()
            .map(|t| t.strip_suffix('\n').unwrap_or(t));
        let update = text.and_then(|t| {
            let mut parts = t.splitn(3, ' ');
            let (old, new, name) = (parts.next()?, parts.next()?, parts.next()?);
            let name_ok = !name.is_empty() && !name.chars().any(|c| c.is_control() || c == ' ');
            (is_object_id(old) && is_object_id(new) && old.len() == new.len() && name_ok).then(|| RefUpdate {
                old: old.to_string(),
                new: new.to_string(),
                name: name.to_string(),
            })
        });
        match update {
            Some(u) => updates.push(u),
            None => bail!(
                "ref line {n} on standard input is not `<old id> <new id> <ref name>`: \
                 is this running as git's pre-receive hook?"
            ),
        }
    }
    Ok(updates)
}

/// The fingerprints the pusher asked to let through (`git push -o sgscan.allow=FP`), read from
/// `GIT_PUSH_OPTION_COUNT` and `GIT_PUSH_OPTION_<n>` (through `env`).
fn push_options(env: &dyn Fn(&str) -> Option<String>) -> BTreeSet<String> {
    let n: usize = env("GIT_PUSH_OPTION_COUNT")
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let mut allow = BTreeSet::new();
    for i in 0..n.min(MAX_OPTIONS) {
        let Some(value) = env(&format!("GIT_PUSH_OPTION_{i}")) else {
            continue;
        };
        let Some(fp) = value.strip_prefix(ALLOW_OPTION) else {
            continue;
        };
        let fp = fp.trim().to_ascii_lowercase();
        if fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            allow.insert(fp);
        } else {
            say(&format!(
                "push option {ALLOW_OPTION}{} is not a 64-hex fingerprint: it lets nothing through",
                value
                    .get(ALLOW_OPTION.len()..)
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect::<String>()
            ));
        }
    }
    allow
}

/// Who pushed, as the git host tells the hook; else the account the hook runs as.
fn pusher(env: &dyn Fn(&str) -> Option<String>) -> String {
    for (var, what) in [
        ("GL_USERNAME", "GitLab user"),
        ("GITEA_PUSHER_NAME", "Gitea user"),
        ("REMOTE_USER", "HTTP user"),
        ("GIT_PUSHER", "pusher"),
        ("USER", "OS user"),
        ("LOGNAME", "OS user"),
    ] {
        if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
            return format!("{what} {}", v.chars().take(256).collect::<String>());
        }
    }
    format!("OS uid {}", rustix::process::getuid().as_raw())
}

/// Takes the findings whose fingerprint the pusher let through out of `outcome.findings`, each
/// once its audit line is on disk (a bypass that cannot be logged is refused). Returns the
/// fingerprints used.
fn bypass(
    outcome: &mut Outcome,
    allow: &BTreeSet<String>,
    log_path: &Path,
    ref_of: &dyn Fn(&Finding) -> String,
) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    if allow.is_empty() || !outcome.findings.iter().any(|f| allow.contains(&f.fingerprint)) {
        return used;
    }
    let mut log = match AuditLog::open(log_path) {
        Ok(log) => log,
        Err(e) => {
            say(&format!(
                "the audit log cannot be opened ({}): no sgscan.allow bypass is honoured",
                error_text(&e)
            ));
            return used;
        }
    };
    let who = pusher(&|name| std::env::var(name).ok());
    let mut kept = Vec::new();
    for f in std::mem::take(&mut outcome.findings) {
        if !allow.contains(&f.fingerprint) {
            kept.push(f);
            continue;
        }
        let git_ref = ref_of(&f);
        let entry = json!({
            "event": "push-bypass",
            "timestamp": crate::verify::now_rfc3339(),
            "fingerprint": f.fingerprint,
            "key_id": f.key_id,
            "ref": git_ref,
            "commits": f.locations.iter().filter_map(|l| l.origin.commit.as_ref().map(|c| c.commit.clone())).collect::<BTreeSet<_>>(),
            "pusher": who,
        });
        match log.record(entry) {
            Ok(()) => {
                say(&format!(
                    "let through by push option: key {} (key id {}) on {git_ref}, for {who}; logged",
                    f.redacted,
                    f.key_id.as_deref().unwrap_or("unknown")
                ));
                used.insert(f.fingerprint.clone());
            }
            Err(e) => {
                say(&format!(
                    "cannot log the bypass of {} ({}): not let through",
                    f.redacted,
                    error_text(&e)
                ));
                kept.push(f);
            }
        }
    }
    outcome.findings = kept;
    used
}

/// Keys an allow list (the default branch's .sgscanignore, `sgscan:allow` markers) let through:
/// listed, as every allowed key is.
fn list_allowed(outcome: &Outcome) {
    for a in &outcome.allowed {
        let Some(l) = a.locations.first() else { continue };
        say(&format!(
            "allowed: {} at {}:{} (by {})",
            a.redacted,
            l.location.origin.path,
            l.location.line,
            l.allowed_by.describe()
        ));
    }
}

/// The rejection: each key, where the push has it, and what to do.
fn reject(outcome: &Outcome, ref_of: &dyn Fn(&Finding) -> String) {
    say(&format!(
        "push rejected: it brings {}",
        count(
            outcome.findings.len() as u64,
            "SendGrid API key",
            "SendGrid API keys"
        )
    ));
    const SHOWN: usize = 5;
    for f in &outcome.findings {
        say(&format!(
            "  {} (key id {}) on {}",
            f.redacted,
            f.key_id.as_deref().unwrap_or("unknown"),
            ref_of(f)
        ));
        for l in f.locations.iter().take(SHOWN) {
            let commit = l
                .origin
                .commit
                .as_ref()
                .map(|c| format!("commit {} ", c.commit.get(..12).unwrap_or(&c.commit)))
                .unwrap_or_default();
            let member = l
                .origin
                .member
                .as_ref()
                .map(|m| format!("!{m}"))
                .unwrap_or_default();
            say(&format!("    {commit}{}{member}:{}", l.origin.path, l.line));
        }
        if f.location_count > SHOWN as u64 {
            say(&format!("    and {} more", f.location_count - SHOWN as u64));
        }
        say(&format!("    fingerprint {}", f.fingerprint));
    }
    say(
        "Take the key out of these commits, then push again: `git commit --amend` if it is in the last one, \
         `git rebase -i` for an older one (a key in a file's history stays there until the commit is rewritten).",
    );
    say(
        "Rotate the key: it has left your machine. Create a replacement, deploy it, then revoke this one \
         (`sgscan revoke --key-id ID`).",
    );
    say(
        "A false positive? Push with `git push -o sgscan.allow=FINGERPRINT` (the server must have \
         `receive.advertisePushOptions` on); every bypass is logged with your name.",
    );
}

/// The budget ran out: say so and give the verdict `--on-timeout` chose.
fn timed_out(h: &Hook) -> i32 {
    let budget = format!("{:?}", h.budget);
    match h.on_timeout {
        OnTimeout::Reject => {
            say(&format!(
                "push rejected: the scan did not finish within its time budget of {budget} \
                 (--on-timeout reject). Push fewer commits at a time, or ask the administrator to raise --time-budget."
            ));
            EXIT_FINDINGS
        }
        OnTimeout::Accept => {
            say(&format!(
                "push accepted without a complete scan: it did not finish within its time budget of {budget} \
                 (--on-timeout accept). Run `sgscan git` on the repository to check it."
            ));
            EXIT_CLEAN
        }
    }
}

/// Objects of the push were not scanned (the reasons are said already): `--on-timeout` decides.
fn incomplete(h: &Hook) -> i32 {
    match h.on_timeout {
        OnTimeout::Reject => {
            say(
                "push rejected: it was not scanned in full (--on-timeout reject). The administrator can raise \
                 --max-file-size, or let such pushes through with --on-timeout accept.",
            );
            EXIT_FINDINGS
        }
        OnTimeout::Accept => {
            say("push accepted without a complete scan (--on-timeout accept).");
            EXIT_CLEAN
        }
    }
}

/// `--output FILE`: the full report for the server's administrator (never to the pusher).
fn write_report(outcome: &Outcome, common: &CommonArgs, file: &Path, target: Target) {
    let ctx = crate::report::Context {
        show_secrets: common.show_secrets,
        quiet: true,
        mode: "pre-receive",
        target: Some(target),
        ..Default::default()
    };
    if let Err(e) = super::write_report(outcome, common.output.format.into(), Some(file), &ctx) {
        say(&format!("cannot write the report: {}", error_text(&e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_lines_are_checked() {
        let a = "a".repeat(40);
        let z = "0".repeat(40);
        let input = format!("{z} {a} refs/heads/main\n{a} {z} refs/tags/v1\n");
        let u = read_updates(&mut input.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert!(u[1].is_deletion());
        for bad in [
            format!("{a} {a}\n"),
            format!("{a} xyz refs/heads/x\n"),
            format!("{a} {a} refs/heads/a\u{1b}b\n"),
            format!("{a} {} refs/heads/x\n", "b".repeat(64)),
            format!("{a} {a} refs/{}\n", "x".repeat(5000)),
        ] {
            assert!(read_updates(&mut bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn push_options_take_fingerprints_only() {
        let fp = "ab".repeat(32);
        let vars = [
            ("GIT_PUSH_OPTION_COUNT", "3".to_string()),
            ("GIT_PUSH_OPTION_0", format!("sgscan.allow={fp}")),
            ("GIT_PUSH_OPTION_1", "sgscan.allow=abc".to_string()),
            ("GIT_PUSH_OPTION_2", "ci.skip".to_string()),
        ];
        let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        assert_eq!(push_options(&env), BTreeSet::from([fp]));
    }
}
