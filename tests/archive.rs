//! Archives, compressed files and `sgscan stdin`, end to end: the built binary on archives built
//! here with the crates (no binary fixture is committed), its reports parsed back.
//!
//! No key literal appears in this file: every key is generated at run time (`util::KeyGen`).

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::{KeyGen, Run, assert_run_leaks_nothing, fp, run, sgscan, skipped, write};

// ---------------------------------------------------------------------------------------------
// Building archives
// ---------------------------------------------------------------------------------------------

fn prop(key: &str) -> Vec<u8> {
    format!("# mail\nspring.sendgrid.api-key={key}\n").into_bytes()
}

/// A zip (jar, whl…) of deflated members.
pub(crate) fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(crate) fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// `sgscan ARGS` in `cwd` with colour off, `stdin` on its standard input.
fn sg(cwd: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let mut cmd = sgscan(cwd);
    cmd.env("NO_COLOR", "1").args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    run(&mut cmd)
}

/// `path!member` of every location of `key`'s finding (`path` alone outside an archive).
fn places(doc: &Value, key: &str) -> Vec<String> {
    let fp = fp(key);
    doc["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["fingerprint"] == fp.as_str())
        .flat_map(|f| f["locations"].as_array().cloned().unwrap_or_default())
        .map(|l| match l["member"].as_str() {
            Some(m) => format!("{}!{m}", l["path"].as_str().unwrap()),
            None => l["path"].as_str().unwrap().to_string(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Every kind
// ---------------------------------------------------------------------------------------------

#[test]
fn archive_every_kind_is_opened_and_names_its_member() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(7101);
    let keys: Vec<String> = (0..11).map(|_| g.key()).collect();
    let k = |i: usize| prop(&keys[i]);
    let props = "BOOT-INF/classes/application.properties";
    write(
        t,
        "dist/app.jar",
        zip(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            (props, &k(0)),
        ]),
    );
    write(t, "pkg-1.0-py3-none-any.whl", zip(&[("pkg/settings.py", &k(1))]));
    write(t, "site.tar.gz", gz(&tar(&[("etc/app.env", &k(2))])));
    write(t, "logs/app.log.gz", gz(&k(3)));
    write(t, "dump.sql.bz2", bz2(&k(4)));
    write(t, "conf.tar.xz", xz(&tar(&[("conf/prod.env", &k(5))])));
    write(t, "notes.txt.zst", zst(&k(6)));
    // `docker save`: layer tars inside the image tar, one of them gzipped (OCI layout).
    let image = tar(&[
        ("manifest.json", b"[]"),
        ("3f2a/layer.tar", &tar(&[("app/.env", &k(7))])),
        ("blobs/sha256/9c1d", &gz(&tar(&[("srv/config.yml", &k(8))]))),
    ]);
    write(t, "image.tar", &image);
    write(
        t,
        "bundle.tgz",
        gz(&tar(&[("lib/inner.zip", &zip(&[("secrets.txt", &k(9))]))])),
    );
    // Told by its bytes, not its name.
    write(t, "blob.bin", zip(&[("x.properties", &k(10))]));

    let run = sg(t, &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let want = [
        format!("dist/app.jar!{props}"),
        "pkg-1.0-py3-none-any.whl!pkg/settings.py".into(),
        "site.tar.gz!etc/app.env".into(),
        "logs/app.log.gz".into(),
        "dump.sql.bz2".into(),
        "conf.tar.xz!conf/prod.env".into(),
        "notes.txt.zst".into(),
        "image.tar!3f2a/layer.tar!app/.env".into(),
        "image.tar!blobs/sha256/9c1d!srv/config.yml".into(),
        "bundle.tgz!lib/inner.zip!secrets.txt".into(),
        "blob.bin!x.properties".into(),
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(places(&doc, &keys[i]), vec![w.clone()], "key #{i}:\n{run}");
    }
    // The line is the member's own: line 2 of the properties file.
    let jar = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp(&keys[0]).as_str())
        .unwrap();
    assert_eq!(jar["locations"][0]["line"], 2, "{run}");
    assert_eq!(jar["locations"][0]["path"], "dist/app.jar", "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");

    let human = sg(t, &["dir", "."], None);
    assert!(
        human.stdout.contains(&format!("dist/app.jar!{props}:2:")),
        "{human}"
    );
    let all: Vec<&String> = keys.iter().collect();
    for r in [&run, &human] {
        assert_run_leaks_nothing(r, &all);
    }
}

#[test]
fn archive_sarif_points_at_the_outer_file_and_names_the_member() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7102).key();
    write(
        tmp.path(),
        "dist/app.jar",
        zip(&[("conf/app.properties", &prop(&key))]),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "sarif"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let result = &doc["runs"][0]["results"][0];
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "dist/app.jar", "{run}");
    assert!(
        loc.get("region").is_none(),
        "a member's line is not the jar's:\n{run}"
    );
    assert_eq!(result["properties"]["member"], "conf/app.properties", "{run}");
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("conf/app.properties, line 2"),
        "{run}"
    );
}

#[test]
fn archive_allow_list_applies_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7103);
    let (allowed, reported) = (g.key(), g.key());
    let member = format!("a={allowed}\nb={reported}\n");
    write(
        tmp.path(),
        "app.jar",
        zip(&[("app.properties", member.as_bytes())]),
    );
    write(
        tmp.path(),
        ".sgscanignore",
        format!("{}\n", fp(&allowed)).as_bytes(),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert!(places(&doc, &allowed).is_empty(), "{run}");
    assert_eq!(places(&doc, &reported), vec!["app.jar!app.properties"], "{run}");
    assert_eq!(doc["summary"]["allowed"], 1, "{run}");
}

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/// 64 MiB of zeros after `head`, as a deflated zip member and as a gzip stream: each inflates
/// about 1000:1.
fn bombs(dir: &Path, head: &[u8]) {
    let mut zeros = head.to_vec();
    zeros.resize(64 << 20, 0);
    write(dir, "bomb.zip", zip(&[("zeros.bin", &zeros)]));
    write(dir, "bomb.gz", gz(&zeros));
}

#[test]
fn archive_bomb_is_stopped_with_its_reason_and_the_rest_is_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7104).key();
    bombs(tmp.path(), b"");
    write(tmp.path(), "src/app.env", prop(&key));
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["src/app.env"], "{run}");
    let skips = skipped(&doc);
    for path in ["bomb.zip!zeros.bin", "bomb.gz"] {
        assert!(
            skips
                .iter()
                .any(|(p, r)| p == path && r.contains("ratio above 200:1 (--max-ratio)")),
            "{path} not stopped by the ratio guard: {skips:?}\n{run}"
        );
    }
    // Far less than the 128 MiB the bombs hold was inflated and scanned.
    let scanned = doc["summary"]["bytes_scanned"].as_u64().unwrap();
    assert!(scanned < 32 << 20, "{scanned} bytes scanned:\n{run}");
}

#[test]
fn archive_member_size_limit_keeps_the_prefix_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7105).key();
    bombs(tmp.path(), &prop(&key));
    let run = sg(
        tmp.path(),
        &[
            "dir",
            ".",
            "-f",
            "json",
            "--max-ratio",
            "100000",
            "--max-member-size",
            "1M",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["bomb.gz", "bomb.zip!zeros.bin"], "{run}");
    let skips = skipped(&doc);
    assert_eq!(skips.len(), 2, "{skips:?}");
    assert!(
        skips.iter().all(|(_, r)| r.contains("--max-member-size")),
        "{skips:?}"
    );
}

#[test]
fn archive_total_size_and_member_count_limits_stop_the_archive_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7106);
    let keys: Vec<String> = (0..5).map(|_| g.key()).collect();
    let names: Vec<String> = (0..5).map(|i| format!("m{i}.env")).collect();
    let members: Vec<(&str, Vec<u8>)> = names
        .iter()
        .zip(&keys)
        .map(|(n, k)| (n.as_str(), prop(k)))
        .collect();
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    write(tmp.path(), "many.tar.gz", gz(&tar(&refs)));

    let run = sg(
        tmp.path(),
        &["dir", ".", "-f", "json", "--max-members", "2"],
        None,
    );
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let found: Vec<usize> = (0..5).filter(|i| !places(&doc, &keys[*i]).is_empty()).collect();
    assert_eq!(found, vec![0, 1], "{run}");
    assert_eq!(
        skipped(&doc),
        vec![(
            "many.tar.gz".to_string(),
            "more than 2 members (--max-members): the rest of the archive was not scanned".to_string()
        )]
    );

    // The tar stream is 5 × 512-byte headers and blocks plus the end: 2K stops it in the third.
    let run = sg(
        tmp.path(),
        &["dir", ".", "-f", "json", "--max-archive-size", "2K"],
        None,
    );
    let doc = run.json();
    let found: Vec<usize> = (0..5).filter(|i| !places(&doc, &keys[*i]).is_empty()).collect();
    assert!(found.len() < 5 && found.starts_with(&[0]), "{found:?}\n{run}");
    let skips = skipped(&doc);
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0].0, "many.tar.gz");
    assert!(skips[0].1.contains("--max-archive-size"), "{skips:?}");
}

#[test]
fn archive_nesting_is_opened_to_the_depth_limit_and_no_further() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7107).key();
    // gzip → tar → zip → member: three containers.
    write(
        tmp.path(),
        "deep.tgz",
        gz(&tar(&[("in.zip", &zip(&[("k.env", &prop(&key))]))])),
    );
    let at = |depth: &str| {
        sg(
            tmp.path(),
            &["dir", ".", "-f", "json", "--max-archive-depth", depth],
            None,
        )
    };

    for depth in ["3", "4"] {
        let run = at(depth);
        assert_eq!(run.code, 1, "depth {depth}: {run}");
        assert_eq!(places(&run.json(), &key), vec!["deep.tgz!in.zip!k.env"], "{run}");
    }
    // Past the limit the zip's raw bytes are still scanned (a stored key may show there), but
    // its members are not.
    let run = at("2");
    assert!(
        !places(&run.json(), &key).contains(&"deep.tgz!in.zip!k.env".to_string()),
        "{run}"
    );
    assert_eq!(
        skipped(&run.json()),
        vec![(
            "deep.tgz!in.zip".to_string(),
            "zip nested deeper than --max-archive-depth 2: not opened".to_string()
        )]
    );
    let run = at("0");
    assert_eq!(run.code, 0, "{run}");
    assert!(skipped(&run.json()).is_empty(), "{run}");
}

#[test]
fn archive_corrupt_is_a_skip_and_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7108).key();
    let mut cut = gz(&tar(&[("a.env", &prop(&key)), ("b.bin", &vec![7u8; 100_000])]));
    cut.truncate(cut.len() - 40);
    write(tmp.path(), "cut.tar.gz", &cut);
    let mut broken = zip(&[("a.env", &prop(&key))]);
    broken.truncate(30);
    write(tmp.path(), "broken.zip", &broken);
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["cut.tar.gz!a.env"], "{run}");
    let paths: Vec<String> = skipped(&doc).into_iter().map(|(p, _)| p).collect();
    assert!(paths.iter().any(|p| p == "broken.zip"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("cut.tar.gz")), "{paths:?}");
}

// ---------------------------------------------------------------------------------------------
// git and the index
// ---------------------------------------------------------------------------------------------

#[test]
fn archive_committed_then_deleted_is_found_in_its_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(&tmp.path().join("repo"));
    let key = KeyGen::new(7109).key();
    write(
        &repo.path,
        "dist/app.jar",
        zip(&[("BOOT-INF/classes/application.properties", &prop(&key))]),
    );
    let added = repo.commit("add the jar");
    repo.git(&["rm", "-q", "dist/app.jar"]);
    repo.commit("drop the jar");

    let run = sg(tmp.path(), &["git", "-q", "-f", "json", "repo"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(
        places(&doc, &key),
        vec!["dist/app.jar!BOOT-INF/classes/application.properties"],
        "{run}"
    );
    assert_eq!(
        doc["findings"][0]["locations"][0]["commit"],
        added.as_str(),
        "{run}"
    );
}

#[test]
fn archive_staged_is_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7110).key();
    let repo = Repo::init(tmp.path());
    write(
        tmp.path(),
        "build/app.war",
        zip(&[("WEB-INF/web.env", &prop(&key))]),
    );
    repo.git(&["add", "."]);
    let run = sg(tmp.path(), &["staged", "-f", "json", "."], None);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        places(&run.json(), &key),
        vec!["build/app.war!WEB-INF/web.env"],
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// stdin
// ---------------------------------------------------------------------------------------------

#[test]
fn stdin_plain_and_archived_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7111);
    let (k1, k2) = (g.key(), g.key());
    let log = format!("2026-01-01 boot\nusing {k1}\n").into_bytes();

    let run = sg(tmp.path(), &["stdin", "-f", "json"], Some(log.clone()));
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(places(&run.json(), &k1), vec!["(stdin)"], "{run}");
    assert_eq!(run.json()["findings"][0]["locations"][0]["line"], 2, "{run}");

    let upload = gz(&tar(&[("app/.env", &prop(&k2))]));
    let named = |format: &str| {
        sg(
            tmp.path(),
            &["stdin", "--name", "upload.tgz", "-f", format],
            Some(upload.clone()),
        )
    };
    let json = named("json");
    assert_eq!(json.code, 1, "{json}");
    assert_eq!(places(&json.json(), &k2), vec!["upload.tgz!app/.env"], "{json}");

    let jsonl = named("jsonl");
    assert_eq!(jsonl.code, 1, "{jsonl}");
    let lines: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["path"] == "upload.tgz" && l["member"] == "app/.env"),
        "{jsonl}"
    );

    let sarif = named("sarif");
    assert_eq!(sarif.code, 1, "{sarif}");
    let doc = sarif.json();
    assert_eq!(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "upload.tgz",
        "{sarif}"
    );

    let human = named("human");
    assert_eq!(human.code, 1, "{human}");
    assert!(human.stdout.contains("upload.tgz!app/.env:2:"), "{human}");
    for r in [&run, &json, &jsonl, &sarif, &human] {
        assert_run_leaks_nothing(r, &[&k1, &k2]);
    }

    let clean = sg(tmp.path(), &["stdin"], Some(b"nothing here\n".to_vec()));
    assert_eq!(clean.code, 0, "{clean}");
}

#[test]
fn stdin_larger_than_the_bound_is_scanned_up_to_it_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7112);
    let (early, late) = (g.key(), g.key());
    let mut input = format!("{early}\n").into_bytes();
    input.resize(8192, b'.');
    input.extend_from_slice(format!("\n{late}\n").as_bytes());
    let run = sg(
        tmp.path(),
        &["stdin", "-f", "json", "--max-file-size", "4K"],
        Some(input),
    );
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &early), vec!["(stdin)"], "{run}");
    assert!(places(&doc, &late).is_empty(), "{run}");
    let skips = skipped(&doc);
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0].0, "(stdin)");
    assert!(skips[0].1.contains("--max-file-size"), "{skips:?}");
}
