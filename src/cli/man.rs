//! `sgscan man`: one man page (roff) on standard output, for `sgscan man > sgscan.1`. clap_mangen
//! writes a page per command; a single page with every subcommand's synopsis and options is what
//! `man sgscan` readers expect, so each subcommand's sections are appended as sub-sections.
//!
//! Only this page ships, so the command list points at its own sections, not at `sgscan-dir(1)`
//! pages (clap_mangen's list would name pages nobody installed; shipping 18 pages instead would be
//! 18 files for a packager to keep in step with one that already holds them all).

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use super::args::{CI_ENVIRONMENT, Cli};

pub fn run() -> Result<i32> {
    let page = render().context("cannot render the man page")?;
    super::print(&page)
}

fn render() -> std::io::Result<String> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = Man::new(cmd.clone());
    let mut top = Vec::new();
    man.render_title(&mut top)?;
    man.render_name_section(&mut top)?;
    man.render_synopsis_section(&mut top)?;
    man.render_description_section(&mut top)?;
    man.render_options_section(&mut top)?;
    let mut page = String::from(PREAMBLE);
    page.push_str(&fragment(&top, false));

    let subs: Vec<_> = cmd.get_subcommands().filter(|s| s.get_name() != "help").collect();
    let mut list = Roff::new();
    list.control("SH", ["COMMANDS"]);
    list.text([roman(
        "Each command's synopsis and options are in its section of this page, SGSCAN <COMMAND>, below.",
    )]);
    for sub in &subs {
        list.control("TP", []);
        list.text([bold(format!("sgscan {}", sub.get_name()))]);
        list.text([roman(sub.get_about().map(|a| a.to_string()).unwrap_or_default())]);
    }
    page.push_str(&roff(&list));

    for sub in &subs {
        page.push_str(&format!(".SH \"{}\"\n", heading(sub.get_name())));
        let man = Man::new((*sub).clone());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)?;
        man.render_description_section(&mut part)?;
        man.render_options_section(&mut part)?;
        page.push_str(&fragment(&part, true));
    }
    page.push_str(&roff(&closing()));
    let mut version = Vec::new();
    man.render_version_section(&mut version)?;
    page.push_str(&fragment(&version, false));
    Ok(page)
}

fn heading(sub: &str) -> String {
    format!("SGSCAN {}", sub.to_uppercase())
}

/// What every roff fragment starts with (the apostrophe string): once, at the top of the page.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

fn roff(doc: &Roff) -> String {
    fragment(doc.render().as_bytes(), false)
}

/// A rendered fragment without its preamble; `demote`: as part of a subcommand's section, its
/// section headings become sub-section headings.
fn fragment(rendered: &[u8], demote: bool) -> String {
    let mut text = String::new();
    for line in String::from_utf8_lossy(rendered).lines() {
        if line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq") {
            continue;
        }
        match line.strip_prefix(".SH ").filter(|_| demote) {
            Some(heading) => text.push_str(&format!(".SS {heading}\n")),
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// A tagged paragraph per entry: the tag in bold, then its text.
fn entries(doc: &mut Roff, items: &[(&str, &str)]) {
    for (tag, text) in items {
        doc.control("TP", []);
        doc.text([bold(*tag)]);
        doc.text([roman(*text)]);
    }
}

/// EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES.
fn closing() -> Roff {
    let mut doc = Roff::new();
    doc.control("SH", ["EXIT STATUS"]);
    doc.text([roman(
        "The scans (dir, git, staged, ci, stdin, pre-push) and merge:",
    )]);
    entries(&mut doc, SCAN_EXIT);
    doc.control("PP", []);
    doc.text([roman("sgscan pre-receive: 0 accepts the push, 1 rejects it (a key in what it brings), 2 is an error, and the push is rejected too.")]);
    doc.control("PP", []);
    doc.text([roman("sgscan audit: 1 when a finding of severity high or above exists (a leaked key still in the account, a key that can manage keys or teammates, a policy violation…); 2 on an error, when nothing could be assessed, or when not every key of the account could be listed and read, so a scheduled audit never passes on keys it did not read; else 0. A section the audit key cannot read is not_checked, never a pass.")]);
    doc.control("PP", []);
    doc.text([roman("sgscan revoke: 0 unless the revocation failed or its audit line could not be written (2). sgscan rotate: 0 when every rotation completed, 2 when one was refused, rolled back or failed. ignore, install-hook, completions, man and schema: 0, or 2 on an error.")]);

    doc.control("SH", ["ENVIRONMENT"]);
    entries(&mut doc, ENVIRONMENT);
    doc.control("SS", ["CI (sgscan ci)"]);
    entries(&mut doc, CI_ENVIRONMENT);
    doc.control("SS", ["Git hooks"]);
    entries(&mut doc, HOOK_ENVIRONMENT);

    doc.control("SH", ["FILES"]);
    entries(&mut doc, FILES);

    doc.control("SH", ["EXAMPLES"]);
    for (what, command) in EXAMPLES {
        doc.control("TP", []);
        doc.text([roman(*what)]);
        doc.text([bold(*command)]);
    }
    doc
}

const SCAN_EXIT: &[(&str, &str)] = &[
    (
        "0",
        "No findings (or none that --fail-on counts: --fail-on live counts only keys --verify found live, --fail-on none none).",
    ),
    (
        "1",
        "Findings: a key the allow lists do not allow. As a hook, 1 blocks the commit or push.",
    ),
    (
        "2",
        "An error: a bad flag, pattern or configuration file, an unreadable root path, not a git repository, a range that cannot be scanned, a revocation refused for want of confirmation, a --rotate that did not complete. With --output, the report is still written once the scan started, with the error as a note.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SGSCAN_ADMIN_KEY",
        "The SendGrid admin key that --revoke, --rotate, revoke, rotate and audit use (or --admin-key-file FILE). Never an argument, never printed; removed from the environment of --new-key-command.",
    ),
    (
        "SGSCAN_API_URL",
        "The SendGrid API's base URL (--api-url; default https://api.sendgrid.com). https only; plain http only to a loopback address.",
    ),
    (
        "NO_COLOR",
        "When set, the human output is plain even on a terminal.",
    ),
    (
        "HTTPS_PROXY, ALL_PROXY, NO_PROXY",
        "Proxy for the requests to SendGrid, for https URLs only.",
    ),
    (
        "SGSCAN_TIMINGS",
        "When set, sgscan git prints the time of each stage of the history sweep on standard error.",
    ),
    (
        "SGSCAN_TREE_INDEX_MAX_EDGES",
        "The cap (in edges, default 12582912) of the tree index sgscan git builds to place blobs by path; above it the index is given up and blobs are placed by walking trees. For tests and measurements.",
    ),
    (
        "SGSCAN_HOOK_TIMING",
        "When set, sgscan pre-receive prints how long the hook took.",
    ),
    (
        "GITHUB_TOKEN, GITLAB_TOKEN, GITEA_TOKEN",
        "The forge token of sgscan github, gitlab and gitea (or --token-file FILE): sent to the forge's API origin only, and to git as an Authorization header for the clones. Never an argument, never printed.",
    ),
    (
        "GIT_CONFIG_COUNT",
        "sgscan git URL: git configuration given through the environment is kept; sgscan adds its own entries (an Authorization header for a URL's password or a forge token) after it.",
    ),
    (
        "GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_COMMON_DIR, GIT_NAMESPACE, GIT_QUARANTINE_PATH",
        "sgscan git URL: removed from the environment of the git that clones and fetches, so a hook's environment cannot point a clone at another repository.",
    ),
    (
        "GIT_SSH, GIT_SSH_COMMAND",
        "sgscan git URL: when neither is set, ssh runs in batch mode (a missing key is a skip, not a prompt); when one is, it is used as set.",
    ),
];

const HOOK_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "PRE_COMMIT_FROM_REF, PRE_COMMIT_TO_REF, PRE_COMMIT_LOCAL_BRANCH, PRE_COMMIT_REMOTE_BRANCH, PRE_COMMIT_REMOTE_NAME, PRE_COMMIT_REMOTE_URL",
        "sgscan pre-push: the push as the pre-commit framework describes it, read when no refs come on standard input (and the remote when no argument names it).",
    ),
    (
        "GIT_QUARANTINE_PATH, GIT_OBJECT_DIRECTORY",
        "sgscan pre-receive: where git holds the pushed objects while the hook runs.",
    ),
    (
        "GIT_PUSH_OPTION_COUNT, GIT_PUSH_OPTION_<n>",
        "sgscan pre-receive: the push options; sgscan.allow=FINGERPRINT lets that key through, logged to the audit log.",
    ),
    (
        "GL_USERNAME, GITEA_PUSHER_NAME, REMOTE_USER, GIT_PUSHER, USER, LOGNAME",
        "sgscan pre-receive: who pushed, for the audit log (the first set; else the OS user id).",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        ".sgscanignore",
        "Allowed keys (64-hex-digit fingerprints) and gitignore-style path globs, one a line; # starts a comment. Read at the scanned root or repository top and in the current directory; for git --range, ci and pre-push from the base commit; for pre-receive from the default branch. sgscan ignore appends to it.",
    ),
    (
        ".sgscan.toml",
        "Settings a team would repeat on every command line ([scan], [ignore], [archive], [policy]), read from the scanned root (dir: the first PATH; git, staged, ci: the repository's top), or --config FILE instead. --no-config reads neither file nor sgscan:allow markers from the scanned tree.",
    ),
    (
        "sgscan-audit.jsonl",
        "The audit log (--audit-log FILE): JSON lines, mode 0600, appended and fsynced. --revoke and rotate write an attempt line before each request and a result line after it (in the current directory by default); pre-receive writes each sgscan.allow bypass before accepting the push (in the repository's directory by default).",
    ),
    (
        "--cache FILE",
        "Verification results across runs (fingerprint, status, time checked; never a key).",
    ),
];

const EXAMPLES: &[(&str, &str)] = &[
    ("Scan the current directory:", "sgscan dir ."),
    (
        "Scan a repository's whole history, JSON report:",
        "sgscan git path/to/repo -f json -o sgscan.json",
    ),
    (
        "Scan what a push brings, in CI:",
        "sgscan ci --format sarif --output sgscan.sarif",
    ),
    (
        "Check which found keys are live, fail only on those:",
        "sgscan git . --verify --fail-on live",
    ),
    ("Block commits that stage a key:", "sgscan install-hook"),
    (
        "Revoke the live keys found, after a confirmation (the admin key in SGSCAN_ADMIN_KEY, or --admin-key-file):",
        "sgscan dir . --verify --revoke",
    ),
    (
        "Audit the account against a leak report:",
        "sgscan audit --report sgscan.json --policy policy.toml",
    ),
    (
        "Allow a false positive:",
        "sgscan ignore FINGERPRINT --reason \"test fixture\"",
    ),
    (
        "Install this page:",
        "sgscan man > ~/.local/share/man/man1/sgscan.1",
    ),
];
