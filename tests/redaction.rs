//! No full key outside `--show-secrets`, whatever text carries it: a parser's error quoting file
//! contents, a file's own name, a key pasted where a fingerprint belongs, a hand-made report given
//! to `merge`; and a report written with `--show-secrets` is readable by its owner only.
//!
//! No key literal appears in this file: every key is generated at run time (`util::KeyGen`).

use std::path::Path;

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::{
    KeyGen, Run, Tree, assert_run_leaks_nothing, findings, fp, path_lines, run, scan, sgscan, skipped,
};

const FORMATS: &[&str] = &["human", "json", "jsonl", "sarif", "html"];

/// `SG.` and the first four characters of the id, then `…`: how reports show a key.
fn redacted(key: &str) -> String {
    format!("{}…", &key[..7])
}

/// `sgscan ARGS… -f FORMAT` in `cwd` for every format; each run's streams hold no key.
fn every_format(cwd: &Path, args: &[&str], keys: &[&String]) {
    for format in FORMATS {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", format]);
        let run = scan(cwd, &all);
        assert!(run.code == 0 || run.code == 1, "{format}: {run}");
        assert_run_leaks_nothing(&run, keys);
    }
}

/// `sgscan dir . --revoke --yes` in `cwd`, its audit log at `log`, against a mock SendGrid where
/// `key` is live with `scopes`.
fn revoke_logging_to(
    cwd: &Path,
    key: &str,
    scopes: &[&str],
    log: &str,
) -> (crate::util::mock::MockSendGrid, Run) {
    let mock = crate::util::mock::MockSendGrid::start();
    mock.set(key, crate::util::mock::Behavior::live(scopes));
    let r = run(sgscan(cwd).args([
        "dir",
        ".",
        "--revoke",
        "--yes",
        "--api-url",
        &mock.url(),
        "--audit-log",
        log,
    ]));
    (mock, r)
}

/// A ustar archive whose one header says its member is empty, followed by a block of text that
/// holds `key`: the tar crate read that block as the next header, and its error quoted the block
/// into a skip reason while the key went unreported.
fn understated_tar(key: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path("a.txt").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    let mut block = format!("api_key={key}\n").into_bytes();
    block.resize(512, b'x');
    out.extend(block);
    out.extend([0u8; 1024]);
    out
}

#[test]
fn a_tar_error_quoting_a_key_is_redacted_in_dir_stdin_and_git() {
    let mut keys = KeyGen::new(2101);
    let key = keys.key();
    let tree = Tree::new();
    tree.write("dist/bundle.tar", understated_tar(&key));
    every_format(tree.root(), &["dir", "."], &[&key]);
    // The block that is no header is passed over, and its bytes are still scanned.
    let doc = scan(tree.root(), &["dir", ".", "-f", "json"]).json();
    assert!(
        findings(&doc).iter().any(|f| f["fingerprint"] == fp(&key)),
        "the key in the unparsed block is reported"
    );

    // stdin: the same bytes piped in.
    for format in FORMATS {
        let run = run(sgscan(tree.root())
            .env("NO_COLOR", "1")
            .args(["stdin", "-f", format])
            .write_stdin(understated_tar(&key)));
        assert_run_leaks_nothing(&run, &[&key]);
    }

    // git: the archive committed.
    let repo = Repo::init(&tree.root().join("repo"));
    std::fs::write(repo.path.join("bundle.tar"), understated_tar(&key)).unwrap();
    repo.commit("add bundle");
    every_format(&repo.path, &["git", "."], &[&key]);
    let doc = scan(&repo.path, &["git", ".", "-f", "json"]).json();
    assert!(findings(&doc).iter().any(|f| f["fingerprint"] == fp(&key)));
}

/// A parser's error quotes what it failed on: a `.sgscan.toml` whose unknown key is a key ends
/// the run with that error, redacted.
#[test]
fn an_error_quoting_a_key_is_redacted() {
    let key = KeyGen::new(2108).key();
    let tree = Tree::new();
    tree.write(".sgscan.toml", format!("\"{key}\" = 1\n"));
    let r = run(sgscan(tree.root()).args(["dir", "."]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains(&redacted(&key)),
        "the error quotes the line, redacted: {r}"
    );
    assert_run_leaks_nothing(&r, &[&key]);
}

#[test]
fn a_key_in_a_file_name_is_found_at_line_0_and_redacted_in_every_path() {
    let mut keys = KeyGen::new(2102);
    let (in_file, in_dir, in_link) = (keys.key(), keys.key(), keys.key());
    let tree = Tree::new();
    tree.write(&format!("conf/{in_file}.env"), "# nothing here\n");
    tree.write(&format!("{in_dir}/notes.txt"), "hello\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("conf", tree.root().join(format!("link={in_link}"))).unwrap();
    let all = [&in_file, &in_dir, &in_link];
    every_format(tree.root(), &["dir", "."], &all);

    let doc = scan(tree.root(), &["dir", ".", "-f", "json"]).json();
    assert_eq!(
        path_lines(&doc, &in_file),
        vec![(format!("conf/{}.env", redacted(&in_file)), 0)]
    );
    // A directory's name once, at the directory, not again for each file below it.
    assert_eq!(path_lines(&doc, &in_dir), vec![(redacted(&in_dir), 0)]);
    #[cfg(unix)]
    {
        assert_eq!(
            path_lines(&doc, &in_link),
            vec![(format!("link={}", redacted(&in_link)), 0)]
        );
        let skips = skipped(&doc);
        assert!(
            skips
                .iter()
                .any(|(p, _)| *p == format!("link={}", redacted(&in_link))),
            "the link's skip shows its path redacted: {skips:?}"
        );
    }
    let human = scan(tree.root(), &["dir", "."]);
    assert!(human.stdout.contains("(in its name)"), "{human}");
    let sarif: Value = serde_json::from_str(&scan(tree.root(), &["dir", ".", "-f", "sarif"]).stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), all.len());
    for r in results {
        assert!(
            r["locations"][0]["physicalLocation"].get("region").is_none(),
            "no region (SARIF lines start at 1): {r}"
        );
    }
}

#[test]
fn a_key_in_a_file_name_in_git_history_is_placed_at_its_commit_and_path() {
    let mut keys = KeyGen::new(2103);
    let (key, later) = (keys.key(), keys.key());
    let tree = Tree::new();
    let repo = Repo::init(&tree.root().join("repo"));
    // The same (empty) content at a plain name first: the key's place comes from the name's tree,
    // not from the blob's first place.
    repo.write("empty.txt", "");
    repo.commit("first");
    repo.write(&format!("config/{key}.json"), "");
    let second = repo.commit("second");
    repo.write(&format!("{later}/x.txt"), "x\n");
    repo.commit("third");
    every_format(&repo.path, &["git", "."], &[&key, &later]);

    let doc = scan(&repo.path, &["git", ".", "-f", "json"]).json();
    assert_eq!(
        path_lines(&doc, &key),
        vec![(format!("config/{}.json", redacted(&key)), 0)]
    );
    let f = findings(&doc)
        .iter()
        .find(|f| f["fingerprint"] == fp(&key))
        .unwrap();
    assert_eq!(f["locations"][0]["commit"], second.as_str());
    assert_eq!(f["locations"][0]["in_head"], true);
    assert_eq!(path_lines(&doc, &later), vec![(redacted(&later), 0)]);

    // A range reads the paths of the blobs its commits bring.
    let doc = scan(
        &repo.path,
        &["git", ".", "--range", "HEAD~2..HEAD~1", "-f", "json"],
    )
    .json();
    assert_eq!(
        path_lines(&doc, &key),
        vec![(format!("config/{}.json", redacted(&key)), 0)]
    );
    let run = scan(&repo.path, &["git", ".", "--range", "HEAD~2..HEAD", "-f", "json"]);
    assert_run_leaks_nothing(&run, &[&key, &later]);
}

#[test]
fn ignore_given_a_key_says_so_without_echoing_it() {
    let mut keys = KeyGen::new(2104);
    let key = keys.key();
    let tree = Tree::new();
    let run = scan(tree.root(), &["ignore", &key, "--file", "ignore-list"]);
    run.expect_code(2);
    assert_run_leaks_nothing(&run, &[&key]);
    assert!(run.stderr.contains("holds a key"), "{run}");
    assert!(!tree.root().join("ignore-list").exists());
}

#[test]
fn merge_redacts_key_text_in_every_field_of_a_hostile_report() {
    let mut keys = KeyGen::new(2105);
    let (key, planted) = (keys.key(), keys.key());
    let tree = Tree::new();
    tree.write("scan/.env", format!("SENDGRID_API_KEY={key}\n"));
    let mut doc = scan(tree.root(), &["dir", "scan", "-f", "json"]).json();
    let f = &mut doc["findings"][0];
    f["redacted"] = Value::from(planted.clone());
    f["rule_name"] = Value::from(format!("x{planted}y"));
    f["locations"][0]["path"] = Value::from(format!("src/{planted}.txt"));
    f["locations"][0]["member"] = Value::from(planted.clone());
    doc["skipped"] = serde_json::json!([{ "path": planted, "reason": format!("see {planted}") }]);
    doc["notes"] = serde_json::json!([planted]);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    // One copy behind a JSON escape, which text matching would miss.
    let escaped = text.replacen(&format!("\"see {}", &planted[..3]), "\"see \\u0053G.", 1);
    assert_ne!(escaped, text);
    tree.write("hostile.json", escaped);
    for format in FORMATS {
        let run = scan(tree.root(), &["merge", "hostile.json", "-f", format]);
        run.expect_code(1);
        assert_run_leaks_nothing(&run, &[&key, &planted]);
    }
}

#[cfg(unix)]
#[test]
fn a_report_with_secrets_is_written_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut keys = KeyGen::new(2106);
    let key = keys.key();
    let tree = Tree::new();
    tree.put_key(".env", &key);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let fresh = tree.root().join("fresh.json");
    let args = |out: &Path| {
        vec![
            "dir".to_string(),
            "scan".into(),
            "--show-secrets".into(),
            "-f".into(),
            "json".into(),
            "--output".into(),
            out.display().to_string(),
        ]
    };
    let run_to = |out: &Path| -> Run {
        let run = run(sgscan(tree.root()).args(args(out)));
        run.expect_code(1);
        run
    };
    run_to(&fresh);
    assert_eq!(mode(&fresh), 0o600);
    assert!(std::fs::read_to_string(&fresh).unwrap().contains(&key));
    // A file there already, readable by all: narrowed before the keys go in.
    let existing = tree.root().join("existing.json");
    std::fs::write(&existing, "old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    run_to(&existing);
    assert_eq!(mode(&existing), 0o600);
}

/// A pull request can commit `sgscan.sarif -> ~/.bashrc`; CI then runs `sgscan ci --output
/// sgscan.sarif` in the checkout. Neither a report nor the audit log is written through a link
/// to a file; a link to a device (`/dev/stdout`) still works.
#[test]
fn reports_and_logs_are_never_written_through_a_planted_link() {
    let key = KeyGen::new(2107).key();
    let tree = Tree::new();
    tree.put_key("app.env", &key);
    let victim = tree.outside("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    let scan_dir = tree.scan_dir();
    std::os::unix::fs::symlink(&victim, scan_dir.join("report.json")).unwrap();
    std::os::unix::fs::symlink(&victim, scan_dir.join("audit.log")).unwrap();

    let r = run(sgscan(&scan_dir).args(["dir", ".", "-f", "json", "--output", "report.json"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("not written through"), "{r}");
    let (mock, r) = revoke_logging_to(&scan_dir, &key, &["mail.send"], "audit.log");
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("not written through"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0, "no DELETE without an audit line");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");

    std::os::unix::fs::symlink("/dev/null", scan_dir.join("null.json")).unwrap();
    let r = run(sgscan(&scan_dir).args(["dir", ".", "-f", "json", "--output", "null.json"]));
    assert_eq!(r.code, 1, "{r}");
}

/// O_NOFOLLOW covers the last component only: a tree with `out -> <elsewhere>` and a CI step
/// writing `--output out/report.json` would put the report (or grow an audit log) where the link
/// points, replacing a file of that name there. A relative path through a link is refused, and
/// so is a file with a second name (a hard link), which no flag tells from the file itself.
#[cfg(unix)]
#[test]
fn reports_and_logs_are_never_written_through_a_linked_directory_or_a_hard_link() {
    let key = KeyGen::new(2108).key();
    let tree = Tree::new();
    tree.put_key("app.env", &key);
    let elsewhere = tree.outside("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("report.json"), "keep\n").unwrap();
    let scan_dir = tree.scan_dir();
    std::os::unix::fs::symlink(&elsewhere, scan_dir.join("out")).unwrap();

    let r = run(sgscan(&scan_dir).args(["dir", ".", "-f", "json", "--output", "out/report.json"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("not written through"), "{r}");
    // It could revoke itself: only the audit log stands in the way.
    let (mock, r) = revoke_logging_to(
        &scan_dir,
        &key,
        &["mail.send", "api_keys.delete"],
        "out/audit.log",
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("not written through"), "{r}");
    assert_eq!(mock.count("DELETE", "/"), 0, "no DELETE without an audit line");
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("report.json")).unwrap(),
        "keep\n"
    );
    assert!(!elsewhere.join("audit.log").exists());

    let victim = tree.outside("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    std::fs::hard_link(&victim, scan_dir.join("hard.json")).unwrap();
    let r = run(sgscan(&scan_dir).args(["dir", ".", "-f", "json", "--output", "hard.json"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("hard link"), "{r}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
}

/// The audit log names keys and who ran what: one there already, readable by all, is narrowed
/// to its owner before the first line. A `--show-secrets` report whose file another user owns is
/// refused (as root, a chmod would not stop its owner from reading the keys).
#[cfg(unix)]
#[test]
fn an_existing_private_file_is_narrowed_or_refused() {
    use std::os::unix::fs::PermissionsExt;
    let key = KeyGen::new(2109).key();
    let tree = Tree::new();
    tree.put_key("app.env", &key);
    let scan_dir = tree.scan_dir();
    let log = scan_dir.join("audit.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    // It could revoke itself: only the audit log stands in the way.
    let (mock, r) = revoke_logging_to(&scan_dir, &key, &["mail.send", "api_keys.delete"], "audit.log");
    assert_eq!(mock.count("DELETE", "/"), 1, "{r}");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{r}");

    // Only root can give a file away; elsewhere there is nothing to test.
    let theirs = scan_dir.join("theirs.json");
    std::fs::write(&theirs, "").unwrap();
    let given = std::process::Command::new("chown")
        .args(["65534"])
        .arg(&theirs)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if given {
        let r = run(sgscan(&scan_dir).args([
            "dir",
            "app.env",
            "--show-secrets",
            "-f",
            "json",
            "--output",
            "theirs.json",
        ]));
        assert_eq!(r.code, 2, "{r}");
        assert!(r.stderr.contains("owned by another user"), "{r}");
        assert!(!std::fs::read_to_string(&theirs).unwrap().contains(&key));
    }
}

/// Counts in a report given to `merge` are the input's to choose: two at u64::MAX add up without
/// a panic (an overflow in a debug build, a wrap to a small count in a release one).
#[test]
fn merge_of_hostile_counts_saturates() {
    let key = KeyGen::new(2110).key();
    let tree = Tree::new();
    tree.write("scan/.env", format!("SENDGRID_API_KEY={key}\n"));
    let mut doc = scan(tree.root(), &["dir", "scan", "-f", "json"]).json();
    doc["findings"][0]["location_count"] = Value::from(u64::MAX);
    for field in ["blobs_scanned", "bytes_scanned", "commits_scanned", "allowed"] {
        if doc["summary"].get(field).is_some() {
            doc["summary"][field] = Value::from(u64::MAX);
        }
    }
    let text = serde_json::to_string(&doc).unwrap();
    tree.write("a.json", &text);
    tree.write("b.json", &text);
    for format in FORMATS {
        let run = scan(tree.root(), &["merge", "a.json", "b.json", "-f", format]);
        run.expect_code(1);
    }
    let merged = scan(tree.root(), &["merge", "a.json", "b.json", "-f", "json"]).json();
    assert_eq!(merged["findings"][0]["location_count"], u64::MAX);
}
