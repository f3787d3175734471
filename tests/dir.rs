//! `sgscan dir` end to end: the built binary on temporary trees, its exit codes and every report
//! format parsed back.
//!
//! No key literal appears in this file: every key is generated at run time (`util::KeyGen`), and
//! diagnostics scrub anything shaped like a key before printing it.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::Value;

use crate::util::{
    self, KeyGen, Run, find, findings, fp, run, scrub, sgscan, skipped, str_at, u64_at, write,
};

/// `sgscan dir ARGS…` in `cwd`.
fn dir_scan(cwd: &Path, args: &[&str]) -> Run {
    run(sgscan(cwd).arg("dir").args(args))
}

/// `sgscan dir --format json ARGS…` in `cwd`, parsed.
fn dir_json(cwd: &Path, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = dir_scan(cwd, &all);
    let doc = run.json();
    (run, doc)
}

fn percent(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// `SG.` + the first four characters of the key id + `…`.
fn redacted(id: &str) -> String {
    format!("SG.{}…", &id[..4])
}

/// One reported location, with the fingerprint of its key (never the key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Loc {
    fingerprint: String,
    path: String,
    line: u64,
    column: u64,
    encoding: String,
}

fn loc(key: &str, path: &str, line: u64, column: u64, encoding: &str) -> Loc {
    Loc {
        fingerprint: fp(key),
        path: path.to_string(),
        line,
        column,
        encoding: encoding.to_string(),
    }
}

/// Every location of every finding of a JSON report, sorted.
fn locations(doc: &Value) -> Vec<Loc> {
    let mut out = Vec::new();
    for f in findings(doc) {
        let fp = str_at(f, "fingerprint");
        for l in f["locations"].as_array().expect("`locations` is an array") {
            out.push(Loc {
                fingerprint: fp.to_string(),
                path: str_at(l, "path").to_string(),
                line: u64_at(l, "line"),
                column: u64_at(l, "column"),
                encoding: str_at(l, "encoding").to_string(),
            });
        }
    }
    out.sort();
    out
}

/// The report's locations are exactly `expected` (as a multiset).
fn assert_locations(doc: &Value, mut expected: Vec<Loc>) {
    expected.sort();
    let actual = locations(doc);
    let missing: Vec<&Loc> = expected.iter().filter(|l| !actual.contains(l)).collect();
    let unexpected: Vec<&Loc> = actual.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && actual.len() == expected.len(),
        "locations differ ({} reported, {} expected)\nmissing: {missing:#?}\nunexpected: \
         {unexpected:#?}\nall reported: {actual:#?}",
        actual.len(),
        expected.len()
    );
}

// Boundaries

sgtest!(key_followed_by_delimiter_or_end_is_found, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(101);
    // (file, text before the key, text after it): the key is on line 1.
    let cases: &[(&str, &str, &str)] = &[
        ("amp.txt", "https://api.invalid/send?key=", "&to=ops\n"),
        ("paren.py", "client = SendGridAPIClient(", ")\n"),
        ("comma.py", "keys = [", ", other]\n"),
        ("gt.html", "<key value=", ">\n"),
        ("lt.xml", "<apiKey>", "</apiKey>\n"),
        ("dquote.json", "{\"k\": \"", "\"}\n"),
        ("squote.yml", "sendgrid_key: '", "'\n"),
        ("semicolon.sh", "export SG_KEY=", ";\n"),
        ("percent.txt", "progress ", "% done\n"),
        ("backslash.txt", "path\\", "\\x\n"),
        ("space.txt", "key ", " trailing\n"),
        ("tab.tsv", "key\t", "\tnext\n"),
        ("newline.env", "SENDGRID_API_KEY=", "\nNEXT=1\n"),
        ("crlf.env", "SENDGRID_API_KEY=", "\r\nNEXT=1\r\n"),
        ("eof.env", "SENDGRID_API_KEY=", ""),
        ("bare.txt", "", ""),
        ("sentence.md", "The key is ", ".\n"),
        ("sentence-eof.md", "The key is ", "."),
        ("sentence-mid.md", "The key is ", ". Rotate it.\n"),
        ("ellipsis.md", "Key: ", "...\n"),
    ];
    let mut expected = Vec::new();
    for (file, before, after) in cases {
        let key = g.key();
        write(root, file, format!("{before}{key}{after}"));
        expected.push(loc(&key, file, 1, before.chars().count() as u64 + 1, "plain"));
    }
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, expected);
    assert_eq!(u64_at(&doc["summary"], "keys"), cases.len() as u64);
});

sgtest!(key_glued_to_a_longer_token_is_not_found, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(102);
    let mut files: Vec<(&str, String)> = Vec::new();
    let (key, id, secret) = g.parts();
    files.push(("secret-44.txt", format!("k = SG.{id}.{}\n", g.token(44))));
    files.push(("secret-43-plus-one.txt", format!("k = {key}{}\n", g.token(1))));
    files.push(("id-21.txt", format!("k = SG.{}.{}\n", g.token(21), g.token(43))));
    files.push(("id-23.txt", format!("k = SG.{}.{}\n", g.token(23), g.token(43))));
    files.push(("id-21-real-secret.txt", format!("k = SG.{}.{secret}\n", &id[1..])));
    files.push(("id-23-real-secret.txt", format!("k = SG.x{id}.{secret}\n")));
    for (name, c) in [
        ("before-letter.txt", 'x'),
        ("before-digit.txt", '7'),
        ("before-dash.txt", '-'),
        ("before-underscore.txt", '_'),
    ] {
        files.push((name, format!("k = {c}{}\n", g.key())));
    }
    for (name, c) in [
        ("after-letter.txt", 'x'),
        ("after-digit.txt", '7'),
        ("after-dash.txt", '-'),
        ("after-underscore.txt", '_'),
    ] {
        files.push((name, format!("k = {}{c}\n", g.key())));
    }
    files.push(("dot-run-before.txt", format!("k = {}.{}\n", g.token(8), g.key())));
    files.push(("dot-run-after.txt", format!("k = {}.{}\n", g.key(), g.token(10))));
    files.push(("dot-one-after.txt", format!("k = {}.x\n", g.key())));
    files.push(("dot-one-before.txt", format!("k = x.{}\n", g.key())));
    files.push(("sg-twice.txt", format!("k = SG.{}\n", g.key())));
    // Truncated keys at the very end of a file (windows must not run past the end).
    files.push(("trunc-prefix.txt", "k = SG.".to_string()));
    files.push(("trunc-id.txt", format!("k = SG.{id}")));
    files.push(("trunc-id-dot.txt", format!("k = SG.{id}.")));
    files.push(("trunc-secret.txt", format!("k = SG.{id}.{}", &secret[..42])));
    for (name, text) in &files {
        write(root, name, text);
    }
    let (run, doc) = dir_json(root, &[]);
    let reported: Vec<String> = locations(&doc).into_iter().map(|l| l.path).collect();
    assert!(reported.is_empty(), "reported in {reported:?}\n{run}");
    assert_eq!(run.code, 0, "{run}");
    // Every file was scanned (not skipped): the absence of findings means something.
    assert_eq!(u64_at(&doc["summary"], "blobs_scanned"), files.len() as u64);
    assert!(skipped(&doc).is_empty(), "{run}");

    // Control: the same key, bounded, is found.
    write(root, "control.txt", format!("k = {key}\n"));
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&key, "control.txt", 1, 5, "plain")]);
});

// Lines and columns

sgtest!(lines_and_columns_count_code_points, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(201);
    let mut expected = Vec::new();

    let k = g.key();
    write(root, "crlf.txt", format!("first\r\nsecond\r\n  {k}\r\nlast\r\n"));
    expected.push(loc(&k, "crlf.txt", 3, 3, "plain"));

    let k = g.key();
    write(root, "bom.txt", format!("\u{FEFF}{k}\n"));
    expected.push(loc(&k, "bom.txt", 1, 1, "plain"));

    let k = g.key();
    write(root, "bom-prefix.txt", format!("\u{FEFF}é={k}\n"));
    expected.push(loc(&k, "bom-prefix.txt", 1, 3, "plain"));

    // Only a *leading* BOM is not counted; U+FEFF elsewhere is an ordinary code point.
    let k = g.key();
    write(root, "bom-inner.txt", format!("\u{FEFF}x\n\u{FEFF}{k}\n"));
    expected.push(loc(&k, "bom-inner.txt", 2, 2, "plain"));

    // ff fe 80: three invalid bytes; e2 82: a truncated sequence (two invalid bytes).
    let k = g.key();
    let mut bytes = b"ok\n\xff\xfe\x80x\xe2\x82=".to_vec();
    bytes.extend_from_slice(k.as_bytes());
    bytes.extend_from_slice(b"\xff\n");
    write(root, "invalid-utf8.txt", bytes);
    expected.push(loc(&k, "invalid-utf8.txt", 2, 8, "plain"));

    let k = g.key();
    write(
        root,
        "long-line.txt",
        format!("first\n{}{k} tail\n", "a ".repeat(100_000)),
    );
    expected.push(loc(&k, "long-line.txt", 2, 200_001, "plain"));

    let k = g.key();
    write(root, "multibyte.txt", format!("日本語\né日本🔑 = \"{k}\"\n"));
    expected.push(loc(&k, "multibyte.txt", 2, 9, "plain"));

    let k = g.key();
    write(root, "line-1000.txt", format!("{}{k}", "x\n".repeat(999)));
    expected.push(loc(&k, "line-1000.txt", 1000, 1, "plain"));

    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, expected);
});

// Binary files and the size limit

sgtest!(key_inside_binary_file_is_found, |dir, cmd| {
    let root = dir.root();
    let key = KeyGen::new(301).key();
    // A fake SQLite page: header, NULs, a few non-UTF-8 bytes, the key as a NUL-delimited cell.
    let mut data = b"SQLite format 3\0".to_vec();
    data.extend_from_slice(&[0x10, 0x00, 0x01, 0x01, 0x00, 0x40, 0x20, 0x20]);
    data.extend_from_slice(&[0u8; 76]);
    data.extend_from_slice(&[0xff, 0xd8, 0x00, 0x00]);
    let column = data.len() as u64 + 1; // every byte before the key counts one column
    data.extend_from_slice(key.as_bytes());
    data.extend_from_slice(&[0x00, 0x00, 0xfe, 0x03, 0x00]);
    write(root, "app.sqlite3", &data);
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&key, "app.sqlite3", 1, column, "plain")]);
});

sgtest!(files_over_max_file_size_are_skipped_and_recorded, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(302);
    let (big, exact, over, small) = (g.key(), g.key(), g.key(), g.key());
    let padded = |key: &str, len: usize| {
        let mut s = format!("{key}\n");
        s.push_str(&"p".repeat(len - s.len() - 1));
        s.push('\n');
        assert_eq!(s.len(), len);
        s
    };
    write(root, "big.log", padded(&big, 2000));
    write(root, "exact.txt", padded(&exact, 1024));
    write(root, "over.txt", padded(&over, 1025));
    write(root, "small.env", format!("SENDGRID_API_KEY={small}\n"));
    let (run, doc) = dir_json(root, &["--max-file-size", "1K"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&exact, "exact.txt", 1, 1, "plain"),
            loc(&small, "small.env", 1, 18, "plain"),
        ],
    );
    let skips = skipped(&doc);
    let paths: Vec<&str> = skips.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["big.log", "over.txt"], "{run}");
    for (path, reason) in &skips {
        assert!(reason.contains("max-file-size"), "{path}: {reason}");
    }
    assert_eq!(u64_at(&doc["summary"], "skipped"), 2);
    assert_eq!(u64_at(&doc["summary"], "blobs_scanned"), 2);

    // The default limit (64M) scans all four.
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(u64_at(&doc["summary"], "keys"), 4, "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");
});

// Encoded keys

sgtest!(encoded_keys_are_found_with_their_encoding, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(401);
    let mut expected = Vec::new();

    let (k, id, _) = g.parts();
    write(
        root,
        "k8s/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mail\ntype: Opaque\ndata:\n  SENDGRID_API_KEY: {}\n",
            STANDARD.encode(&k)
        ),
    );
    expected.push(loc(&k, "k8s/secret.yaml", 7, 21, "base64"));
    let k8s_id = id;

    // A whole env file as one base64 value: the key starts at byte 17 of the decoded text, i.e. in
    // the 6th quantum (characters 20..24) of the encoding.
    let k = g.key();
    write(
        root,
        "k8s/env-secret.yaml",
        format!(
            "kind: Secret\ndata:\n  app.env: {}\n",
            STANDARD.encode(format!("SENDGRID_API_KEY={k}\nOTHER=1\n"))
        ),
    );
    expected.push(loc(&k, "k8s/env-secret.yaml", 3, 12 + 20, "base64"));

    // The key at byte 1 of its quantum ("KEY=" is 4 bytes): the 2nd quantum, characters 4..8.
    let k = g.key();
    write(
        root,
        "shift1.txt",
        format!("v={}\n", STANDARD.encode(format!("KEY={k}"))),
    );
    expected.push(loc(&k, "shift1.txt", 1, 3 + 4, "base64"));

    // A key is ASCII from [A-Za-z0-9._-], so its own standard and URL-safe encodings are the same
    // text (no sextet reaches 62 or 63): a bare encoded key is reported as `base64`.
    let k = g.key();
    assert!(URL_SAFE.encode(&k) == STANDARD.encode(&k), "alphabets differ");
    write(root, "url-bare.txt", format!("secret={}\n", URL_SAFE.encode(&k)));
    expected.push(loc(&k, "url-bare.txt", 1, 8, "base64"));

    // URL-safe base64 of a payload whose bytes right after the key ("\n~~" → "Cn5-") use the URL-safe
    // alphabet: that is `base64url`.
    let k = g.key();
    let token = URL_SAFE.encode(format!("{k}\n~~~ end\n"));
    assert_eq!(
        &token[92..96],
        "Cn5-",
        "the test payload lost its URL-safe character"
    );
    write(root, "url.txt", format!("token: {token}\n"));
    expected.push(loc(&k, "url.txt", 1, 8, "base64url"));

    let k = g.key();
    write(
        root,
        "curl.sh",
        format!("#!/bin/sh\ncurl -d 'k={}'\n", percent(&k, true)),
    );
    expected.push(loc(&k, "curl.sh", 2, 12, "percent"));

    let k = g.key();
    write(
        root,
        "query.txt",
        format!("https://api.invalid/v3?key={}&to=ops\n", percent(&k, false)),
    );
    expected.push(loc(&k, "query.txt", 1, 28, "percent"));

    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, expected);
    // The decoded key is what is identified: its key id, not the encoded text.
    let f = findings(&doc)
        .iter()
        .find(|f| f["locations"][0]["path"] == "k8s/secret.yaml")
        .expect("finding for k8s/secret.yaml");
    assert_eq!(f["key_id"], k8s_id.as_str());
    assert_eq!(f["redacted"], redacted(&k8s_id).as_str());
});

// The walk

sgtest!(ignore_files_hidden_files_and_dot_git, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(501);
    let keys: Vec<String> = (0..8).map(|_| g.key()).collect();
    write(root, ".gitignore", "secrets/\n*.local\n");
    write(root, ".ignore", "vendor/\n");
    write(root, ".git/info/exclude", "excluded.txt\n");
    write(root, "secrets/prod.env", format!("K={}\n", keys[0]));
    write(root, "app.local", format!("K={}\n", keys[1]));
    write(root, "vendor/lib.js", format!("K={}\n", keys[2]));
    write(root, "excluded.txt", format!("K={}\n", keys[3]));
    // Hidden files are scanned.
    write(root, ".env", format!("K={}\n", keys[4]));
    write(root, "config/.hidden/.env.production", format!("K={}\n", keys[5]));
    // Nothing under a .git directory is ever scanned.
    write(root, ".git/config", format!("K={}\n", keys[6]));
    write(root, ".git/objects/ab/cdef0123", format!("K={}\n", keys[6]));
    write(root, "sub/.git/HEAD", format!("K={}\n", keys[7]));
    write(root, "src/main.rs", "fn main() {}\n");

    let visible = vec![
        loc(&keys[4], ".env", 1, 3, "plain"),
        loc(&keys[5], "config/.hidden/.env.production", 1, 3, "plain"),
    ];
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, visible.clone());

    let mut all = visible;
    all.extend([
        loc(&keys[0], "secrets/prod.env", 1, 3, "plain"),
        loc(&keys[1], "app.local", 1, 3, "plain"),
        loc(&keys[2], "vendor/lib.js", 1, 3, "plain"),
        loc(&keys[3], "excluded.txt", 1, 3, "plain"),
    ]);
    let (run, doc) = dir_json(root, &["--no-ignore"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, all);
});

sgtest!(several_paths_and_single_files, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(502);
    let (k1, k2, k3) = (g.key(), g.key(), g.key());
    write(root, "a/x.txt", format!("{k1}\n"));
    write(root, "b/y.txt", format!("{k2}\n"));
    write(root, "c/z.txt", format!("{k3}\n"));
    write(root, "c/other.txt", format!("{k1}\n"));

    let (run, doc) = dir_json(root, &["a", "b"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&k1, "a/x.txt", 1, 1, "plain"),
            loc(&k2, "b/y.txt", 1, 1, "plain"),
        ],
    );

    let (run, doc) = dir_json(root, &["c/z.txt"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&k3, "c/z.txt", 1, 1, "plain")]);
    assert_eq!(u64_at(&doc["summary"], "blobs_scanned"), 1);

    // A file and a directory together, one thread, "./" stripped from paths.
    let (run, doc) = dir_json(root, &["-j", "1", "./a", "c/z.txt"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&k1, "a/x.txt", 1, 1, "plain"),
            loc(&k3, "c/z.txt", 1, 1, "plain"),
        ],
    );

    // Default path is the current directory.
    let (run, doc) = dir_json(&root.join("b"), &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&k2, "y.txt", 1, 1, "plain")]);
});

sgtest!(overlapping_paths_do_not_duplicate_locations, |dir, cmd| {
    let root = dir.root();
    let key = KeyGen::new(503).key();
    write(root, "a/x.txt", format!("{key}\n"));
    let (run, doc) = dir_json(root, &[".", "a", "a/x.txt"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&key, "a/x.txt", 1, 1, "plain")]);
    assert_eq!(u64_at(&doc["summary"], "locations"), 1);
});

sgtest!(file_named_dash_is_scanned, |dir, cmd| {
    let root = dir.root();
    let key = KeyGen::new(504).key();
    write(root, "-", format!("{key}\n"));
    let (run, doc) = dir_json(root, &["-"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&key, "-", 1, 1, "plain")]);
});

// Bad inputs

#[cfg(unix)]
sgtest!(symlink_loop_with_follow_is_skipped_not_fatal, |dir, cmd| {
    use std::os::unix::fs::symlink;
    let root = dir.root();
    let key = KeyGen::new(601).key();
    write(root, "key.txt", format!("{key}\n"));
    write(root, "a/readme.txt", "nothing here\n");
    symlink("..", root.join("a/up")).unwrap();
    for flag in ["--follow", "-L"] {
        let (run, doc) = dir_json(root, &[flag]);
        assert_eq!(run.code, 1, "{flag}: {run}");
        assert!(!run.stderr.contains("panicked"), "{flag}: {run}");
        assert_locations(&doc, vec![loc(&key, "key.txt", 1, 1, "plain")]);
        let skips = skipped(&doc);
        assert!(
            skips
                .iter()
                .any(|(p, r)| p == "a/up" && r.to_lowercase().contains("loop")),
            "{flag}: no loop recorded for a/up: {skips:?}"
        );
    }
});

#[cfg(unix)]
sgtest!(dangling_symlink_with_follow_is_skipped_not_fatal, |dir, cmd| {
    use std::os::unix::fs::symlink;
    let root = dir.root();
    let key = KeyGen::new(602).key();
    write(root, "key.txt", format!("{key}\n"));
    symlink("missing-target", root.join("dangling")).unwrap();
    let (run, doc) = dir_json(root, &["--follow"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_locations(&doc, vec![loc(&key, "key.txt", 1, 1, "plain")]);
    let skips = skipped(&doc);
    assert!(
        skips.iter().any(|(p, r)| p == "dangling" && !r.is_empty()),
        "dangling link not recorded: {skips:?}"
    );
});

#[cfg(unix)]
sgtest!(symlinks_are_not_followed_by_default, |dir, cmd| {
    use std::os::unix::fs::symlink;
    let root = dir.root();
    let mut g = KeyGen::new(603);
    let (k1, k2) = (g.key(), g.key());
    write(root, "key.txt", format!("{k1}\n"));
    write(root, "sub/s.txt", format!("{k2}\n"));
    symlink("key.txt", root.join("link.txt")).unwrap();
    symlink("sub", root.join("linkdir")).unwrap();
    symlink("missing-target", root.join("dangling")).unwrap();

    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&k1, "key.txt", 1, 1, "plain"),
            loc(&k2, "sub/s.txt", 1, 1, "plain"),
        ],
    );
    let skips = skipped(&doc);
    let paths: Vec<&str> = skips.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["dangling", "link.txt", "linkdir"], "{skips:?}");
    for (path, reason) in &skips {
        assert!(reason.contains("not followed"), "{path}: {reason}");
    }

    // With --follow the links are scanned as what they point to.
    let (run, doc) = dir_json(root, &["--follow"]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&k1, "key.txt", 1, 1, "plain"),
            loc(&k1, "link.txt", 1, 1, "plain"),
            loc(&k2, "sub/s.txt", 1, 1, "plain"),
            loc(&k2, "linkdir/s.txt", 1, 1, "plain"),
        ],
    );
    let paths: Vec<String> = skipped(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["dangling"]);
});

#[cfg(unix)]
sgtest!(fifo_is_skipped_without_blocking, |dir, cmd| {
    let root = dir.root();
    let key = KeyGen::new(604).key();
    write(root, "key.txt", format!("{key}\n"));
    util::mkfifo(&root.join("pipe"));
    let run = util::run(
        cmd.args(["dir", "--format", "json"])
            .timeout(Duration::from_secs(30)),
    );
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_locations(&doc, vec![loc(&key, "key.txt", 1, 1, "plain")]);
    assert_eq!(
        skipped(&doc),
        [("pipe".to_string(), "a FIFO, not a regular file".to_string())]
    );
});

sgtest!(nonexistent_root_is_a_one_line_error, |dir, cmd| {
    let root = dir.root();
    write(root, "a.txt", "hello\n");
    for args in [&["does-not-exist"][..], &[".", "does-not-exist"][..]] {
        let run = dir_scan(root, args);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert_eq!(run.stdout, "", "{args:?}: nothing is scanned or reported");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {run}");
        assert!(lines[0].contains("does-not-exist"), "{args:?}: {run}");
    }
});

sgtest!(bad_arguments_exit_2, |dir, cmd| {
    let root = dir.root();
    let cases: &[&[&str]] = &[
        &["dir", "--frobnicate"],
        &["dir", "--format", "xml"],
        &["dir", "--max-file-size", "10Q"],
        &["dir", "--threads", "many"],
        &["frobnicate"],
        &[],
    ];
    for args in cases {
        let run = util::run(sgscan(root).args(*args));
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(!run.stderr.trim().is_empty(), "{args:?}: {run}");
        assert_eq!(run.stdout, "", "{args:?}: {run}");
    }
    let run = util::run(sgscan(root).args(["dir", "--frobnicate"]));
    assert!(run.stderr.contains("--frobnicate"), "{run}");
    // Help and version are not errors.
    for args in [&["--version"][..], &["dir", "--help"][..]] {
        let run = util::run(sgscan(root).args(args));
        assert_eq!(run.code, 0, "{args:?}: {run}");
        assert!(!run.stdout.is_empty(), "{args:?}: {run}");
    }
    // An --output file that cannot be created is an error naming it.
    let run = dir_scan(root, &["--output", "no-such-dir/report.json"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("no-such-dir/report.json"), "{run}");
});

const ACME_RULE: &str = r#"
[[rule]]
id = "acme-token"
name = "Acme test token"
description = "A made-up token format used only by the sgscan test suite."
keywords = ["acme_"]
regex = 'acme_(?P<id>[a-z0-9]{8})_(?P<secret>[A-Za-z0-9]{24})'
entropy_group = "secret"
min_entropy = 3.0
placeholder_words = ["example"]
"#;

sgtest!(malformed_pattern_files_exit_2_naming_the_file, |dir, cmd| {
    let root = dir.root();
    write(root, "tree/a.txt", "hello\n");
    let cases: &[(&str, &str)] = &[
        ("syntax", "[[rule]\nid = 'x'\n"),
        (
            "unknown-field",
            "[[rule]]\nid='x'\nname='x'\ndescription='x'\nkeywords=['x']\nregex='x'\ncolour='red'\n",
        ),
        (
            "unbounded",
            "[[rule]]\nid='x'\nname='x'\ndescription='x'\nkeywords=['x']\nregex='x[a-z]+'\n",
        ),
        (
            "bad-regex",
            "[[rule]]\nid='x'\nname='x'\ndescription='x'\nkeywords=['x']\nregex='x[a-z'\n",
        ),
    ];
    for (name, text) in cases {
        let pats = root.join(format!("pats-{name}"));
        write(&pats, "good.toml", ACME_RULE);
        write(&pats, "zz-bad.toml", text);
        let run = dir_scan(&root.join("tree"), &["--patterns", pats.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{name}: {run}");
        assert!(run.stderr.contains("zz-bad.toml"), "{name}: {run}");
        assert_eq!(run.stdout, "", "{name}: {run}");
    }
    // A directory with no pattern files, and one that does not exist.
    std::fs::create_dir_all(root.join("empty")).unwrap();
    for pats in ["empty", "missing"] {
        let path = root.join(pats);
        let run = dir_scan(&root.join("tree"), &["--patterns", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{pats}: {run}");
        assert!(run.stderr.contains(pats), "{pats}: {run}");
    }
});

sgtest!(custom_pattern_directory_replaces_builtin_rules, |dir, cmd| {
    let root = dir.root();
    let pats = root.join("pats");
    write(&pats, "acme.toml", ACME_RULE);
    let mut rng = fastrand::Rng::with_seed(604);
    const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let id: String = (0..8)
        .map(|_| LOWER_DIGITS[rng.usize(..LOWER_DIGITS.len())] as char)
        .collect();
    let secret: String = (0..24).map(|_| rng.alphanumeric()).collect();
    let token = format!("acme_{id}_{secret}");
    let sg = KeyGen::new(605).key();
    let tree = root.join("tree");
    write(&tree, "app.cfg", format!("[acme]\ntoken={token}\nsg={sg}\n"));
    write(&tree, "other.env", format!("SENDGRID_API_KEY={sg}\n"));
    let pats_arg = pats.to_str().unwrap();

    let (run, doc) = dir_json(&tree, &["--patterns", pats_arg]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&token, "app.cfg", 2, 7, "plain")]);
    let f = &findings(&doc)[0];
    assert_eq!(f["rule_id"], "acme-token");
    assert_eq!(f["rule_name"], "Acme test token");
    assert_eq!(f["key_id"], id.as_str());
    assert_eq!(f["redacted"], format!("{}…", &token[..6]).as_str());
    assert!(!run.all().contains(&token), "token leaked: {run}");

    let run = dir_scan(&tree, &["--patterns", pats_arg, "--format", "sarif"]);
    assert_eq!(run.code, 1, "{run}");
    let sarif = run.json();
    let rule_ids: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| str_at(r, "id"))
        .collect();
    assert_eq!(rule_ids, ["acme-token"]);

    // Without --patterns, the built-in SendGrid rule finds the key and not the token.
    let (run, doc) = dir_json(&tree, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&sg, "app.cfg", 3, 4, "plain"),
            loc(&sg, "other.env", 1, 18, "plain"),
        ],
    );
});

// One finding per key

sgtest!(same_key_in_several_files_is_one_finding, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(701);
    let (key, id, _) = g.parts();
    write(root, "a.txt", format!("{key}\n"));
    write(root, "b/c.txt", format!("x\n  {key}\n"));
    write(root, "d.env", format!("K={key}"));

    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    let fs = findings(&doc);
    assert_eq!(fs.len(), 1, "{run}");
    let f = &fs[0];
    assert_eq!(u64_at(f, "location_count"), 3);
    // Locations in a stable order: by path, line, column.
    let locs: Vec<(&str, u64, u64)> = f["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (str_at(l, "path"), u64_at(l, "line"), u64_at(l, "column")))
        .collect();
    assert_eq!(locs, [("a.txt", 1, 1), ("b/c.txt", 2, 3), ("d.env", 1, 3)]);
    assert_eq!(f["fingerprint"], fp(&key).as_str());
    assert_eq!(f["rule_id"], "sendgrid-api-key");
    assert_eq!(f["key_id"], id.as_str());
    assert_eq!(f["redacted"], redacted(&id).as_str());
    assert_eq!(u64_at(&doc["summary"], "keys"), 1);
    assert_eq!(u64_at(&doc["summary"], "locations"), 3);

    // A second key is a second finding.
    let other = g.key();
    write(root, "e.txt", format!("{other}\n"));
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(findings(&doc).len(), 2, "{run}");
    let fps: BTreeSet<&str> = findings(&doc).iter().map(|f| str_at(f, "fingerprint")).collect();
    let (fp1, fp2) = (fp(&key), fp(&other));
    let want: BTreeSet<&str> = [fp1.as_str(), fp2.as_str()].into();
    assert_eq!(fps, want);
    assert_eq!(u64_at(&doc["summary"], "keys"), 2);
    assert_eq!(u64_at(&doc["summary"], "locations"), 4);
    assert_eq!(u64_at(find(&doc, &other).unwrap(), "location_count"), 1);
});

sgtest!(same_key_twice_on_a_line_is_two_locations, |dir, cmd| {
    let root = dir.root();
    let key = KeyGen::new(702).key();
    write(root, "twice.txt", format!("{key} {key},{key}\n"));
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(
        &doc,
        vec![
            loc(&key, "twice.txt", 1, 1, "plain"),
            loc(&key, "twice.txt", 1, 71, "plain"),
            loc(&key, "twice.txt", 1, 141, "plain"),
        ],
    );
    assert_eq!(u64_at(&findings(&doc)[0], "location_count"), 3);
});

#[test]
fn fingerprint_is_sha256_hex() {
    // The helper itself, against the FIPS 180-2 test vector.
    assert_eq!(
        fp("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut g = KeyGen::new(703);
    let keys: Vec<String> = (0..3).map(|_| g.key()).collect();
    for (i, k) in keys.iter().enumerate() {
        write(root, &format!("f{i}.txt"), format!("{k}\n"));
    }
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    for k in &keys {
        let f = find(&doc, k).expect("a finding whose fingerprint is the key's SHA-256");
        let fp = str_at(f, "fingerprint");
        assert_eq!(fp.len(), 64);
        assert!(fp.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }
    assert_eq!(findings(&doc).len(), 3);
}

// Report formats, parsed back

sgtest!(json_report_has_documented_fields, |dir, cmd| {
    let root = dir.root();
    let (key, id, _) = KeyGen::new(801).parts();
    let app = format!("import os\n\nKEY = \"{key}\"\n");
    let readme = "# nothing to see\n";
    write(root, "src/app.py", &app);
    write(root, "README.md", readme);
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(doc["tool"]["name"], "sgscan");
    assert_eq!(doc["tool"]["version"], env!("CARGO_PKG_VERSION"));
    let s = &doc["summary"];
    assert_eq!(u64_at(s, "keys"), 1);
    assert_eq!(u64_at(s, "locations"), 1);
    assert_eq!(u64_at(s, "blobs_scanned"), 2);
    assert_eq!(u64_at(s, "bytes_scanned"), (app.len() + readme.len()) as u64);
    assert_eq!(u64_at(s, "skipped"), 0);
    u64_at(s, "elapsed_ms");
    assert_eq!(doc["skipped"], serde_json::json!([]));
    let f = &findings(&doc)[0];
    assert_eq!(f["rule_id"], "sendgrid-api-key");
    assert_eq!(f["rule_name"], "SendGrid API key");
    assert_eq!(f["fingerprint"], fp(&key).as_str());
    assert_eq!(f["key_id"], id.as_str());
    assert_eq!(f["redacted"], redacted(&id).as_str());
    assert_eq!(u64_at(f, "location_count"), 1);
    assert!(f.get("secret").is_none(), "secret field without --show-secrets");
    let l = &f["locations"][0];
    assert_eq!(
        (
            str_at(l, "path"),
            u64_at(l, "line"),
            u64_at(l, "column"),
            str_at(l, "encoding")
        ),
        ("src/app.py", 3, 8, "plain")
    );
});

sgtest!(jsonl_report_lines_all_parse, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(802);
    let (k1, k2) = (g.key(), g.key());
    write(root, "a.txt", format!("{k1}\n"));
    write(root, "b/b.txt", format!("x\n  {k1}\n"));
    write(root, "c.env", format!("K={k2}\n"));
    write(root, "huge.bin", vec![b'z'; 4096]);
    let run = dir_scan(root, &["--format", "jsonl", "--max-file-size", "2K"]);
    assert_eq!(run.code, 1, "{run}");
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line is not JSON ({e}): {}", scrub(l))))
        .collect();
    assert_eq!(lines.len(), 5, "3 locations, 1 skip, 1 summary: {run}");
    let types: Vec<&str> = lines.iter().map(|l| str_at(l, "type")).collect();
    assert_eq!(types, ["finding", "finding", "finding", "skipped", "summary"]);
    let mut got: Vec<(String, String, u64, u64, String)> = lines[..3]
        .iter()
        .map(|l| {
            assert!(l.get("locations").is_none(), "finding line has locations: {l}");
            assert!(l.get("secret").is_none(), "finding line has the secret");
            assert_eq!(l["rule_id"], "sendgrid-api-key");
            assert!(str_at(l, "redacted").starts_with("SG."));
            u64_at(l, "location_count");
            (
                str_at(l, "fingerprint").to_string(),
                str_at(l, "path").to_string(),
                u64_at(l, "line"),
                u64_at(l, "column"),
                str_at(l, "encoding").to_string(),
            )
        })
        .collect();
    got.sort();
    let plain = "plain".to_string();
    let mut want = vec![
        (fp(&k1), "a.txt".to_string(), 1, 1, plain.clone()),
        (fp(&k1), "b/b.txt".to_string(), 2, 3, plain.clone()),
        (fp(&k2), "c.env".to_string(), 1, 3, plain),
    ];
    want.sort();
    assert_eq!(got, want);
    for l in &lines[..3] {
        let expect = if l["fingerprint"] == fp(&k1).as_str() {
            2
        } else {
            1
        };
        assert_eq!(u64_at(l, "location_count"), expect);
    }
    assert_eq!(lines[3]["path"], "huge.bin");
    assert!(str_at(&lines[3], "reason").contains("max-file-size"));
    let summary = &lines[4];
    assert_eq!(summary["tool"]["name"], "sgscan");
    assert_eq!(u64_at(summary, "keys"), 2);
    assert_eq!(u64_at(summary, "locations"), 3);
    assert_eq!(u64_at(summary, "skipped"), 1);
    assert_eq!(u64_at(summary, "blobs_scanned"), 3);
});

sgtest!(sarif_report_is_valid_for_code_scanning, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(803);
    let (k1, id1, _) = g.parts();
    let k2 = g.key();
    write(root, "my dir/a b.txt", format!("first\nkey {k1}\n"));
    write(root, "x#y.txt", format!("{k1}\n"));
    write(root, "sub/z.env", format!("SENDGRID_API_KEY={k2}\n"));
    write(root, "huge.bin", vec![b'z'; 4096]);
    let run = dir_scan(root, &["--format", "sarif", "--max-file-size", "2K"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(doc["version"], "2.1.0");
    assert!(str_at(&doc, "$schema").contains("sarif"), "{run}");
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    let driver = &r["tool"]["driver"];
    assert_eq!(driver["name"], "sgscan");
    let rules = driver["rules"].as_array().expect("driver.rules");
    assert!(!rules.is_empty());
    let mut rule_ids = Vec::new();
    for rule in rules {
        let id = str_at(rule, "id");
        assert!(!id.is_empty());
        assert!(!str_at(&rule["shortDescription"], "text").is_empty());
        let sev: f64 = str_at(&rule["properties"], "security-severity")
            .parse()
            .expect("security-severity is a number in a string");
        assert!((0.0..=10.0).contains(&sev));
        rule_ids.push(id);
    }
    assert!(rule_ids.contains(&"sendgrid-api-key"));

    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "one result per location");
    let mut places = Vec::new();
    for res in results {
        let rule_id = str_at(res, "ruleId");
        assert!(rule_ids.contains(&rule_id), "unknown ruleId {rule_id}");
        if let Some(i) = res.get("ruleIndex") {
            let i = i.as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[i]["id"], rule_id);
        }
        assert!(
            ["error", "warning", "note", "none"].contains(&str_at(res, "level")),
            "{}",
            scrub(&res.to_string())
        );
        let text = str_at(&res["message"], "text");
        assert!(!text.is_empty());
        assert!(text.contains("SG.") && text.contains('…'), "{}", scrub(text));
        let pl = &res["locations"][0]["physicalLocation"];
        let uri = str_at(&pl["artifactLocation"], "uri");
        assert!(
            !uri.starts_with('/') && !uri.starts_with("./") && !uri.contains("://"),
            "uri must be relative: {uri}"
        );
        assert_eq!(pl["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let line = u64_at(&pl["region"], "startLine");
        let col = u64_at(&pl["region"], "startColumn");
        assert!(line >= 1 && col >= 1);
        let pf = res["partialFingerprints"]
            .as_object()
            .expect("partialFingerprints");
        assert!(!pf.is_empty());
        let fp = pf["sgscan/key/v1"].as_str().expect("sgscan/key/v1");
        places.push((uri.to_string(), line, col, fp.to_string()));
    }
    places.sort();
    let mut want = vec![
        ("my%20dir/a%20b.txt".to_string(), 2, 5, fp(&k1)),
        ("x%23y.txt".to_string(), 1, 1, fp(&k1)),
        ("sub/z.env".to_string(), 1, 18, fp(&k2)),
    ];
    want.sort();
    assert_eq!(places, want);
    assert!(run.stdout.contains(&redacted(&id1)));
    assert_eq!(r["columnKind"], "unicodeCodePoints");
    let notes = r["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .expect("toolExecutionNotifications");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(str_at(&notes[0]["message"], "text").contains("huge.bin"));
});

sgtest!(human_report_shows_redacted_key_and_locations, |dir, cmd| {
    let root = dir.root();
    let (key, id, _) = KeyGen::new(804).parts();
    write(root, "a.txt", format!("{key}\n"));
    write(root, "sub/b.txt", format!("x\nkey {key}\n"));
    let run = dir_scan(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains(&redacted(&id)), "{run}");
    assert!(run.stdout.contains("a.txt:1:1"), "{run}");
    assert!(run.stdout.contains("sub/b.txt:2:5"), "{run}");
    assert!(run.stdout.contains("1 key in 2 locations"), "{run}");
    assert!(!run.all().contains(&key), "key leaked: {run}");

    let clean = tempfile::tempdir().unwrap();
    write(clean.path(), "a.txt", "nothing\n");
    let run = dir_scan(clean.path(), &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("0 keys in 0 locations"), "{run}");
});

sgtest!(output_file_receives_the_report, |dir, cmd| {
    let tree = dir.root().join("tree");
    let (key, id, _) = KeyGen::new(805).parts();
    write(&tree, "a.txt", format!("{key}\n"));
    let report = dir.root().join("report.json");
    let run = dir_scan(&tree, &["--format", "json", "--output", report.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(!text.contains(&key), "key leaked into the report file");
    let doc: Value = serde_json::from_str(&text).expect("report file is JSON");
    assert_locations(&doc, vec![loc(&key, "a.txt", 1, 1, "plain")]);

    // Human report to a file, colours forced: the file still has no escapes.
    let human = dir.root().join("report.txt");
    let run =
        util::run(
            sgscan(&tree)
                .env("CLICOLOR_FORCE", "1")
                .args(["dir", "-o", human.to_str().unwrap()]),
        );
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    let text = std::fs::read(&human).unwrap();
    assert!(!text.contains(&0x1b), "ANSI escape in --output file");
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains(&redacted(&id)) && text.contains("a.txt:1:1"));
});

// Secrets stay out of reports

sgtest!(full_keys_only_with_show_secrets_and_never_in_sarif, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(901);
    let (k1, id1, s1) = g.parts();
    let (k2, id2, s2) = g.parts();
    write(root, "plain.env", format!("SENDGRID_API_KEY={k1}\n"));
    write(
        root,
        "secret.yaml",
        format!("data:\n  KEY: {}\n", STANDARD.encode(&k2)),
    );
    for format in ["human", "json", "jsonl", "sarif"] {
        let run = dir_scan(root, &["--format", format]);
        assert_eq!(run.code, 1, "{format}: {run}");
        let all = run.all();
        for (i, secret) in [&k1, &k2, &s1, &s2].iter().enumerate() {
            assert!(
                !all.contains(secret.as_str()),
                "{format}: secret #{i} printed without --show-secrets"
            );
        }
        for id in [&id1, &id2] {
            assert!(
                run.stdout.contains(&redacted(id)),
                "{format}: redacted form missing: {run}"
            );
        }

        let run = dir_scan(root, &["--format", format, "--show-secrets"]);
        assert_eq!(run.code, 1, "{format}: {run}");
        let all = run.all();
        if format == "sarif" {
            for (i, secret) in [&k1, &k2, &s1, &s2].iter().enumerate() {
                assert!(
                    !all.contains(secret.as_str()),
                    "sarif: secret #{i} printed with --show-secrets"
                );
            }
        } else {
            for (i, key) in [&k1, &k2].iter().enumerate() {
                assert!(
                    run.stdout.contains(key.as_str()),
                    "{format}: key #{i} missing with --show-secrets"
                );
            }
        }
    }
    let (_, doc) = dir_json(root, &["--show-secrets"]);
    for key in [&k1, &k2] {
        let f = find(&doc, key).expect("finding");
        assert!(f["secret"] == key.as_str(), "`secret` is not the full key");
    }
});

// Exit codes and colour

sgtest!(exit_codes, |dir, cmd| {
    let root = dir.root();
    // Empty tree.
    let run = dir_scan(root, &[]);
    assert_eq!(run.code, 0, "{run}");
    // Clean tree.
    write(root, "a.txt", "SENDGRID_API_KEY is read from the environment\n");
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(u64_at(&doc["summary"], "keys"), 0);
    assert_eq!(u64_at(&doc["summary"], "blobs_scanned"), 1);
    // Findings.
    write(root, "b.txt", KeyGen::new(1001).key());
    assert_eq!(dir_scan(root, &[]).code, 1);
    // Error.
    assert_eq!(dir_scan(root, &["missing-path"]).code, 2);
});

sgtest!(no_ansi_escapes_unless_forced_on_a_pipe, |dir, cmd| {
    let root = dir.root();
    write(root, "a.txt", format!("{}\n", KeyGen::new(1002).key()));
    write(root, "huge.bin", vec![b'z'; 4096]);
    let args = ["dir", "--max-file-size", "2K"];

    let run = util::run(sgscan(root).args(args));
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.has_ansi(), "escape bytes on a pipe: {run}");

    let run = util::run(sgscan(root).env("NO_COLOR", "1").args(args));
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.has_ansi(), "escape bytes with NO_COLOR: {run}");

    let run = util::run(
        sgscan(root)
            .env("NO_COLOR", "1")
            .env("CLICOLOR_FORCE", "1")
            .args(args),
    );
    assert!(!run.has_ansi(), "NO_COLOR must win: {run}");

    // Control: the check can fail (the human report is coloured when forced).
    let run = util::run(sgscan(root).env("CLICOLOR_FORCE", "1").args(args));
    assert!(run.has_ansi(), "CLICOLOR_FORCE gave no colour: {run}");

    // Errors too.
    let run = util::run(sgscan(root).env("NO_COLOR", "1").args(["dir", "--bogus"]));
    assert_eq!(run.code, 2);
    assert!(!run.has_ansi(), "escape bytes in an error: {run}");
});

// Placeholders

sgtest!(placeholders_and_low_entropy_secrets_are_not_keys, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(1101);
    let (key, id, secret) = g.parts();
    let mut rng = fastrand::Rng::with_seed(1101);
    let eight_letters: String = (0..43).map(|_| b"abcdefgh"[rng.usize(..8)] as char).collect();
    // (file, text, whether the text has the shape the rule regex matches): the shaped ones are
    // rejected by the placeholder and entropy filters, not by the regex.
    let files: Vec<(&str, String, bool)> = vec![
        (
            "all-x.txt",
            format!("SG.{}.{}\n", "x".repeat(22), "x".repeat(43)),
            true,
        ),
        (
            "all-x-upper.txt",
            format!("SG.{}.{}\n", "X".repeat(22), "X".repeat(43)),
            true,
        ),
        ("x-id.txt", format!("SG.{}.{secret}\n", "x".repeat(22)), true),
        (
            "repeated-secret.txt",
            format!("SG.{id}.{}\n", "Q".repeat(43)),
            true,
        ),
        (
            "your-id.env",
            format!("SENDGRID_API_KEY=SG.YOUR_KEY_{}.{secret}\n", g.token(13)),
            true,
        ),
        (
            "your-secret.env",
            format!("SENDGRID_API_KEY=SG.{id}.YOUR-SENDGRID-SECRET-{}\n", g.token(22)),
            true,
        ),
        (
            "example.md",
            format!("key: SG.{id}.EXAMPLE{}\n", g.token(36)),
            true,
        ),
        (
            "redacted.log",
            format!("key=SG.{id}.REDACTED{}\n", g.token(35)),
            true,
        ),
        ("abc.txt", format!("SG.{id}.{}a\n", "abc".repeat(14)), true),
        ("low-entropy.txt", format!("SG.{id}.{eight_letters}\n"), true),
        (
            "doc.md",
            "Set SENDGRID_API_KEY=SG.<your key here>\n".to_string(),
            false,
        ),
        ("stars.txt", "SENDGRID_API_KEY=SG.****\n".to_string(), false),
        ("your-key.txt", "SENDGRID_API_KEY=YOUR_KEY\n".to_string(), false),
    ];
    let shape = regex::Regex::new(r"(^|[^A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\n").unwrap();
    for (name, text, shaped) in &files {
        assert_eq!(shape.is_match(text), *shaped, "test case {name} is malformed");
        write(root, name, text);
    }
    let (run, doc) = dir_json(root, &[]);
    let reported: Vec<String> = locations(&doc).into_iter().map(|l| l.path).collect();
    assert!(reported.is_empty(), "reported in {reported:?}\n{run}");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(u64_at(&doc["summary"], "blobs_scanned"), files.len() as u64);

    // Control: the id and secret used above make a key that is found.
    write(root, "real.txt", format!("{key}\n"));
    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, vec![loc(&key, "real.txt", 1, 1, "plain")]);
});

// Adversarial inputs: output stays exact on blobs built to multiply the work per hit

/// The report's locations are exactly `expected`; for reports too large for `assert_locations`.
fn assert_same_locations(doc: &Value, mut expected: Vec<Loc>) {
    expected.sort();
    let actual = locations(doc);
    let first_difference = actual.iter().zip(&expected).position(|(a, e)| a != e);
    assert!(
        actual.len() == expected.len() && first_difference.is_none(),
        "{} locations reported, {} expected; first difference at {first_difference:?}: reported \
         {:?}, expected {:?}",
        actual.len(),
        expected.len(),
        first_difference.map(|i| &actual[i]),
        first_difference.map(|i| &expected[i])
    );
}

sgtest!(
    twenty_thousand_keys_on_one_line_are_all_found_with_their_columns,
    |dir, cmd| {
        let root = dir.root();
        let mut g = KeyGen::new(1201);
        let mut text = String::new();
        let mut expected = Vec::new();
        // Line 1: about 2 MiB, 20,000 keys, with multi-byte characters between them so that columns
        // (code points) and byte offsets differ more and more along the line.
        let mut column = 1;
        for i in 0..20_000 {
            let k = g.key();
            let sep = format!("é{} k{i}=\"", "€".repeat(i % 3));
            column += sep.chars().count() as u64;
            expected.push(loc(&k, "long.txt", 1, column, "plain"));
            text.push_str(&sep);
            text.push_str(&k);
            let pad = format!("\" {};", " ".repeat(20));
            column += (k.len() + pad.chars().count()) as u64;
            text.push_str(&pad);
        }
        assert!(text.len() > 2 << 20, "the long line is {} bytes", text.len());
        text.push('\n');
        // Line 2: the marker allows only this line's key.
        let allowed = g.key();
        text.push_str(&format!("x = \"{allowed}\"  # sgscan:allow\n"));
        // Line 3: found, whatever the lines around it say.
        let k = g.key();
        text.push_str(&format!("y = \"{k}\"\n"));
        expected.push(loc(&k, "long.txt", 3, 6, "plain"));
        // Line 4: 100 keys and, after all of them, the marker: none is reported.
        let mut allowed_line = String::new();
        let mut allowed_keys = vec![allowed];
        for _ in 0..100 {
            let k = g.key();
            allowed_line.push_str(&format!("{k}, "));
            allowed_keys.push(k);
        }
        text.push_str(&format!("{allowed_line}// sgscan:allow\n"));
        write(root, "long.txt", &text);

        let (run, doc) = dir_json(root, &[]);
        assert_eq!(run.code, 1, "{run}");
        // Spot checks first, for a readable failure: the first, a middle and the last key of line 1.
        let all = locations(&doc);
        for e in [
            &expected[0],
            &expected[9_999],
            &expected[19_999],
            &expected[20_000],
        ] {
            assert!(all.contains(e), "missing {e:?}");
        }
        for k in &allowed_keys {
            assert!(find(&doc, k).is_none(), "an allowed key was reported");
        }
        assert_same_locations(&doc, expected);
    }
);

sgtest!(
    runs_of_keyword_encodings_report_only_the_real_key_at_its_place,
    |dir, cmd| {
        let root = dir.root();
        let mut g = KeyGen::new(1202);
        let mut expected = Vec::new();
        // 2^20 bytes of `SG.` at least, in each form, with a key at the end in the same form. `=`
        // bounds the key in the decoded text; a space in plain text.
        let n = (1 << 20) / 3;
        let sg = "SG.".repeat(n);

        let k = g.key();
        write(root, "plain.txt", format!("{sg} {k}\n"));
        expected.push(loc(&k, "plain.txt", 1, 3 * n as u64 + 2, "plain"));

        for shift in 0..3 {
            let k = g.key();
            let raw = format!("{}{sg}={k}", "x".repeat(shift));
            let encoded = STANDARD.encode(&raw);
            let name = format!("base64-{shift}.txt");
            write(root, &name, format!("{encoded}\n"));
            // The key's quantum: the one holding its first byte.
            let quantum = (shift + 3 * n + 1) / 3;
            expected.push(loc(&k, &name, 1, 4 * quantum as u64 + 1, "base64"));
        }
        assert!(
            std::fs::read_to_string(root.join("base64-0.txt"))
                .unwrap()
                .starts_with("U0cuU0cu")
        );

        let k = g.key();
        write(
            root,
            "percent.txt",
            format!("q={}\n", percent(&format!("{sg}={k}"), true)),
        );
        expected.push(loc(&k, "percent.txt", 1, 3 + 3 * (3 * n as u64 + 1), "percent"));

        // An encoded run ending a line must not lend the next line's key to that line, where the
        // next line's marker would not be seen.
        let k = g.key();
        write(
            root,
            "allowed-after-run.txt",
            format!("{}\n{k}  # sgscan:allow\n", "%53%47%2E".repeat(1000)),
        );
        // A marker far away on another line allows nothing.
        let k = g.key();
        write(
            root,
            "marker-elsewhere.txt",
            format!("# sgscan:allow\n{}\n{sg}\nkey = {k}\n", "U0cu".repeat(1000)),
        );
        expected.push(loc(&k, "marker-elsewhere.txt", 4, 7, "plain"));

        let (run, doc) = dir_json(root, &["--max-file-size", "16M"]);
        assert_eq!(run.code, 1, "{run}");
        assert_locations(&doc, expected);
    }
);

sgtest!(base64_value_does_not_run_into_neighbouring_lines, |dir, cmd| {
    let root = dir.root();
    let mut g = KeyGen::new(1203);
    // Neighbouring words that are base64 characters too, and decode to token characters right
    // against the key (so taking them for a continuation of the value hides the key).
    let decoded = |s: &str| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s)
            .unwrap()
    };
    assert!(decoded("emai")[0].is_ascii_alphanumeric());
    assert!(decoded("data")[2].is_ascii_alphanumeric());
    let mut expected = Vec::new();

    let k = g.key();
    let value = STANDARD.encode(&k);
    assert_eq!(value.len() % 4, 0, "the value must end on a quantum");
    write(
        root,
        "next-line.yaml",
        format!("data:\n  SENDGRID_API_KEY: {value}\nemail: ops\n"),
    );
    expected.push(loc(&k, "next-line.yaml", 2, 21, "base64"));

    let k = g.key();
    write(
        root,
        "previous-line.yaml",
        format!("kind: data\n{}\n", STANDARD.encode(&k)),
    );
    expected.push(loc(&k, "previous-line.yaml", 2, 1, "base64"));

    // A wrapped value still runs across its line breaks, even into a last line that other text
    // follows.
    let k = g.key();
    let lines: Vec<String> = STANDARD
        .encode(format!("K={k}\n"))
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the key must span the line break");
    write(
        root,
        "wrapped.xml",
        format!("<data>\n{}\n{}</data>\n", lines[0], lines[1]),
    );
    expected.push(loc(&k, "wrapped.xml", 2, 1, "base64"));

    let (run, doc) = dir_json(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_locations(&doc, expected);
});

/// `sgscan dir ARGS…` in `cwd` with a short timeout: a run that waits on a FIFO fails the test.
#[cfg(unix)]
fn dir_quick(cwd: &Path, args: &[&str]) -> Run {
    run(sgscan(cwd).arg("dir").args(args).timeout(Duration::from_secs(30)))
}

// The walker opens ignore files itself: a FIFO `.gitignore`, a `.ignore` linked to a FIFO and a
// FIFO `.git/info/exclude` are never opened, the directories they are in are scanned without
// ignore rules (a note says so), and the keys beside them are found.
#[cfg(unix)]
sgtest!(
    fifo_ignore_files_are_not_opened_and_their_directories_are_scanned,
    |dir, cmd| {
        let root = dir.root();
        let mut keys = KeyGen::new(2101);
        let (a, b, c) = (keys.key(), keys.key(), keys.key());
        write(root, "fifo-gitignore/key.txt", format!("{a}\n"));
        util::mkfifo(&root.join("fifo-gitignore/.gitignore"));
        write(root, "linked/deep/key.txt", format!("{b}\n"));
        util::mkfifo(&root.join("elsewhere/fifo"));
        std::os::unix::fs::symlink("../../elsewhere/fifo", root.join("linked/deep/.ignore")).unwrap();
        write(root, "checkout/key.txt", format!("{c}\n"));
        util::mkfifo(&root.join("checkout/.git/info/exclude"));
        let run = dir_quick(root, &["--format", "json", "."]);
        assert_eq!(run.code, 1, "{run}");
        let doc = run.json();
        assert_locations(
            &doc,
            vec![
                loc(&a, "fifo-gitignore/key.txt", 1, 1, "plain"),
                loc(&b, "linked/deep/key.txt", 1, 1, "plain"),
                loc(&c, "checkout/key.txt", 1, 1, "plain"),
            ],
        );
        for (file, under) in [
            ("fifo-gitignore/.gitignore", "fifo-gitignore"),
            ("linked/deep/.ignore", "linked/deep"),
            ("checkout/.git/info/exclude", "checkout"),
        ] {
            let note = format!(
                "{file} is a FIFO, not a regular file: its ignore rules were not read, and everything under {under} was scanned without ignore rules"
            );
            assert!(util::has_note(&doc, &note), "{note}\n{run}");
        }
        let skips = skipped(&doc);
        assert!(
            skips.contains(&(
                "fifo-gitignore/.gitignore".to_string(),
                "a FIFO, not a regular file".to_string()
            )),
            "{skips:?}"
        );
        // The same directory given as the root: its own ignore file is checked before the walk.
        let run = dir_quick(root, &["--format", "json", "fifo-gitignore"]);
        assert_eq!(run.code, 1, "{run}");
        assert_locations(
            &run.json(),
            vec![loc(&a, "fifo-gitignore/key.txt", 1, 1, "plain")],
        );
    }
);

// A root that is a FIFO or a device is an error, as an unreadable root is: one line, exit 2,
// nothing waited on.
#[cfg(unix)]
sgtest!(fifo_or_device_root_is_a_one_line_error, |dir, cmd| {
    let root = dir.root();
    write(root, "a.txt", "hello\n");
    util::mkfifo(&root.join("pipe"));
    for (args, says) in [
        (&["pipe"][..], "cannot read pipe: a FIFO, not a regular file"),
        (
            &["a.txt", "pipe"][..],
            "cannot read pipe: a FIFO, not a regular file",
        ),
        (
            &["/dev/zero"][..],
            "cannot read /dev/zero: a character device, not a regular file",
        ),
    ] {
        let run = dir_quick(root, args);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert_eq!(run.stdout, "", "{args:?}: {run}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {run}");
        assert!(lines[0].contains(says), "{args:?}: {run}");
    }
});

// Files sgscan reads by name (`.sgscanignore`, `.sgscan.toml`, `--baseline`, pattern files,
// `--repos-file`, reports to merge) that are FIFOs: each a one-line error naming the file, exit
// 2, never a wait.
#[cfg(unix)]
sgtest!(fifo_config_and_input_files_are_refused, |dir, cmd| {
    let root = dir.root();
    write(root, "a.txt", "hello\n");
    util::mkfifo(&dir.outside("fifo"));
    util::mkfifo(&dir.outside("patterns/sendgrid.toml"));
    let fifo = dir.outside("fifo").display().to_string();
    let patterns = dir.outside("patterns").display().to_string();
    let scan_dir = dir.scan_dir();
    util::mkfifo(&scan_dir.join(".sgscanignore"));
    let scan_path = scan_dir.display().to_string();
    let config_dir = dir.outside("configured");
    util::mkfifo(&config_dir.join(".sgscan.toml"));
    let config_path = config_dir.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["dir", "a.txt", "--baseline", &fifo], "baseline"),
        (vec!["dir", "a.txt", "--patterns", &patterns], "sendgrid.toml"),
        (vec!["git", "--repos-file", &fifo], "--repos-file"),
        (vec!["merge", &fifo], "report"),
        (vec!["dir", &scan_path], ".sgscanignore"),
        (vec!["dir", &config_path], ".sgscan.toml"),
    ];
    for (args, names) in cases {
        let run = util::run(sgscan(root).args(&args).timeout(Duration::from_secs(30)));
        assert_eq!(run.code, 2, "{args:?}: {run}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {run}");
        assert!(
            lines[0].contains(names) && lines[0].contains("a FIFO, not a regular file"),
            "{args:?}: {run}"
        );
    }
});

// `-j 5000` is accepted, capped, and said.
sgtest!(threads_beyond_the_cap_are_capped_with_a_note, |dir, cmd| {
    let root = dir.root();
    write(root, "a.txt", "hello\n");
    let (run, doc) = dir_json(root, &["-j", "5000", "a.txt"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(util::has_note(&doc, "--threads 5000 capped at"), "{run}");
    let run = dir_scan(root, &["--threads", "5000", "a.txt"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("--threads 5000 capped at"), "{run}");
    let help = util::run(sgscan(root).args(["dir", "--help"]));
    assert!(help.stdout.contains("more is capped"), "{help}");
});

// Tracked files that an ignore rule matches (issue #22)

/// Git applies `.gitignore` to untracked files only: a `.env` committed before it was listed there
/// is in every clone, so `dir` scans it (with a note), while an untracked ignored file stays out.
#[test]
fn dir_scans_tracked_files_that_gitignore_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = KeyGen::new(0x22_03);
    let (committed, untracked) = (keys.key(), keys.key());
    let repo = crate::util::git::Repo::init(&tmp.path().join("r"));
    repo.write("conf/.env", &util::env_line(&committed));
    repo.write("README", "app\n");
    repo.commit("config");
    repo.write(".gitignore", ".env\nbuild/\n");
    repo.write("build/out.env", &util::env_line(&untracked));
    repo.commit("ignore local files");
    assert!(repo.git(&["ls-files", "build"]).is_empty(), "build/ is untracked");

    // In the work tree, from outside it, and from a subdirectory given as the root.
    for (cwd, root, shown) in [
        (repo.path.clone(), ".", "conf/.env"),
        (tmp.path().to_path_buf(), "r", "r/conf/.env"),
        (repo.path.clone(), "conf", "conf/.env"),
    ] {
        let (r, doc) = dir_json(&cwd, &[root]);
        assert_eq!(r.code, 1, "{r}");
        let f = find(&doc, &committed).unwrap_or_else(|| panic!("tracked .env not scanned:\n{r}"));
        assert_eq!(f["locations"][0]["path"], shown, "{r}");
        assert!(find(&doc, &untracked).is_none(), "{r}");
        assert!(
            util::has_note(&doc, "1 file tracked by git but matching an ignore rule"),
            "{r}"
        );
        util::assert_run_leaks_nothing(&r, &[&committed, &untracked]);
    }
    // --no-ignore scans both, with no note to make.
    let (r, doc) = dir_json(&repo.path, &["--no-ignore"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(find(&doc, &committed).is_some() && find(&doc, &untracked).is_some());
    assert!(!util::has_note(&doc, "tracked by git"), "{r}");
}

sgtest!(quiet_is_one_flag_on_every_scanning_command, |dir, cmd| {
    let key = KeyGen::new(0x51).key();
    let repo = crate::util::git::Repo::init(&dir.root().join("repo"));
    repo.write("a.env", &util::env_line(&key));
    repo.commit("key");
    repo.write("b.env", &util::env_line(&key));
    repo.git(&["add", "b.env"]);
    let commands: [&[&str]; 5] = [
        &["dir", "repo"],
        &["git", "repo"],
        &["staged", "repo"],
        &["ci", "repo"],
        &["stdin"],
    ];
    for args in commands {
        let with = |quiet: bool| {
            let mut c = sgscan(dir.root());
            c.env("NO_COLOR", "1")
                .env_remove("GITHUB_EVENT_NAME")
                .env_remove("CI_PIPELINE_SOURCE");
            c.args(args);
            if quiet {
                c.arg("--quiet");
            }
            if args[0] == "stdin" {
                c.write_stdin(util::env_line(&key));
            }
            run(&mut c)
        };
        let (loud, quiet) = (with(false), with(true));
        loud.expect_code(1);
        quiet.expect_code(1);
        assert!(loud.stdout.contains("  next:"), "{args:?} without -q:\n{loud}");
        assert!(
            !quiet.stdout.contains("next:"),
            "{args:?} -q keeps the next steps:\n{quiet}"
        );
        assert!(quiet.stdout.contains("1 key in"), "{args:?} -q:\n{quiet}");
    }
    // The short form too, wherever the flag is.
    let short = util::scan(dir.root(), &["dir", "-q", "repo"]);
    short.expect_code(1);
    assert!(!short.stdout.contains("next:"), "{short}");
});
