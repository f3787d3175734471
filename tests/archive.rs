//! Archives, compressed files and `sgscan stdin`, end to end: the built binary on archives built
//! here with the crates (no binary fixture is committed), its reports parsed back.
//!
//! No key literal appears in this file: every key is generated at run time (`util::KeyGen`).

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::places;
use crate::util::{KeyGen, Run, assert_run_leaks_nothing, env_line, fp, run, sgscan, skipped, write};

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

/// `skips` (from `skipped`) holds one for `path` whose reason says `why`.
fn has_skip(skips: &[(String, String)], path: &str, why: &str) -> bool {
    skips.iter().any(|(p, r)| p == path && r.contains(why))
}

// ---------------------------------------------------------------------------------------------
// Issue 21: memory follows the bytes read, and an archive hides nothing
// ---------------------------------------------------------------------------------------------

/// A zip of stored members built byte by byte, so it can say what a writer would refuse:
/// `locals` are the local entries in file order, `dir` the central directory's entries, each a
/// name and the local entry it points at (several may point at one; a local entry may be left
/// out of the directory).
fn stored_zip(locals: &[(&str, &[u8])], dir: &[(String, usize)], comment: &[u8]) -> Vec<u8> {
    let crc = |data: &[u8]| {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    };
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for (name, data) in locals {
        offsets.push(out.len() as u32);
        out.extend_from_slice(b"PK\x03\x04");
        for v in [20u16, 0, 0, 0, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc(data), data.len() as u32, data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [name.len() as u16, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
    }
    let cd_start = out.len() as u32;
    for (name, local) in dir {
        let data = locals[*local].1;
        out.extend_from_slice(b"PK\x01\x02");
        for v in [20u16, 20, 0, 0, 0, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc(data), data.len() as u32, data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [name.len() as u16, 0, 0, 0, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&offsets[*local].to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(b"PK\x05\x06");
    for v in [0u16, 0, dir.len() as u16, dir.len() as u16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [cd_len, cd_start] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment);
    out
}

/// A tar of entries of any type: (type flag, name, link name, data).
fn typed_tar(entries: &[(u8, &str, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name, link, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_path(name).unwrap();
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A pax extended header record: `<len> key=value\n`, its length counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

fn skip_reasons(doc: &Value) -> Vec<(String, String)> {
    skipped(doc)
}

#[test]
fn archive_tar_extension_header_past_the_cap_is_a_skip_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7121).key();
    // A GNU long name of 2 MiB, then an ordinary member: the name is not held, the member is read.
    let name = vec![b'n'; 2 << 20];
    let tar = typed_tar(&[
        (b'L', "././@LongLink", "", &name),
        (b'0', "app.env", "", &prop(&key)),
    ]);
    write(tmp.path(), "long.tar.gz", gz(&tar));
    // The name is a run of one byte: let the ratio guard pass it.
    let run = sg(
        tmp.path(),
        &["dir", ".", "-f", "json", "--max-ratio", "100000"],
        None,
    );
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["long.tar.gz!app.env"], "{run}");
    let skips = skip_reasons(&doc);
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0].0, "long.tar.gz");
    assert!(
        skips[0]
            .1
            .contains("extension header (type L) of 2097152 bytes, above the 1048576-byte cap"),
        "{skips:?}"
    );
    assert_run_leaks_nothing(&run, &[&key]);
}

#[test]
fn archive_zip_entries_overlapping_one_member_are_refused_once() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7122).key();
    let mut data = prop(&key);
    data.resize(16 * 1024, b'.');
    // 2,000 directory entries, one local entry: read once, not 2,000 times.
    let dir: Vec<(String, usize)> = (0..2000).map(|i| (format!("m{i:04}.env"), 0)).collect();
    write(
        tmp.path(),
        "overlap.zip",
        stored_zip(&[("a.env", &data)], &dir, b""),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["overlap.zip!m0000.env"], "{run}");
    assert_eq!(
        skip_reasons(&doc),
        vec![(
            "overlap.zip".to_string(),
            "1999 zip entries overlap the bytes of another (the first: m0001.env): not read; scanned as raw bytes"
                .to_string()
        )]
    );
    // The member once, and the file's own bytes once: nowhere near 2,000 × 16 KiB.
    let scanned = doc["summary"]["bytes_scanned"].as_u64().unwrap();
    assert!(scanned < 256 * 1024, "{scanned} bytes scanned:\n{run}");
}

#[test]
fn archive_zip_stored_members_count_against_the_total() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7123);
    let keys: Vec<String> = (0..4).map(|_| g.key()).collect();
    let datas: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            let mut d = prop(k);
            d.resize(2048, b'.');
            d
        })
        .collect();
    let names = ["a.env", "b.env", "c.env", "d.env"];
    let locals: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&datas)
        .map(|(n, d)| (*n, d.as_slice()))
        .collect();
    let dir: Vec<(String, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i))
        .collect();
    write(tmp.path(), "stored.zip", stored_zip(&locals, &dir, b""));
    let run = sg(
        tmp.path(),
        &["dir", ".", "-f", "json", "--max-archive-size", "5K"],
        None,
    );
    let doc = run.json();
    let skips = skip_reasons(&doc);
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0].0, "stored.zip");
    assert!(skips[0].1.contains("--max-archive-size"), "{skips:?}");
    assert!(places(&doc, &keys[3]).is_empty(), "{run}");
}

#[test]
fn archive_raw_bytes_outside_members_are_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7124);
    let keys: Vec<String> = (0..9).map(|_| g.key()).collect();
    let inner = zip(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")]);
    // An executable jar: a shell script, then the zip.
    let mut jar = format!(
        "#!/bin/sh\nexport SENDGRID_API_KEY={}\nexec java -jar \"$0\"\n",
        keys[0]
    )
    .into_bytes();
    jar.extend_from_slice(&inner);
    write(tmp.path(), "app.jar", &jar);
    // A zip comment.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.set_comment(format!("key {}", keys[1])).unwrap();
    w.start_file("a.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"nothing\n").unwrap();
    write(tmp.path(), "comment.zip", w.finish().unwrap().into_inner());
    // A stored local entry the central directory leaves out.
    let orphan = prop(&keys[2]);
    write(
        tmp.path(),
        "orphan.zip",
        stored_zip(
            &[("a.txt", b"nothing\n"), ("hidden.env", &orphan)],
            &[("a.txt".into(), 0)],
            b"",
        ),
    );
    // Text after the end records.
    let mut trailing = inner.clone();
    trailing.extend_from_slice(format!("\nSENDGRID_API_KEY={}\n", keys[3]).as_bytes());
    write(tmp.path(), "trailing.zip", &trailing);
    // gzip's file name and comment fields.
    let named = |name: &str, comment: &str| {
        let mut e = flate2::GzBuilder::new()
            .filename(name)
            .comment(comment)
            .write(Vec::new(), flate2::Compression::fast());
        e.write_all(b"nothing here\n").unwrap();
        e.finish().unwrap()
    };
    write(tmp.path(), "name.gz", named(&format!("{} copy", keys[4]), "x"));
    write(
        tmp.path(),
        "comment.gz",
        named("x.txt", &format!("key {}", keys[5])),
    );
    // A tar symlink's target, a pax comment, text between tar entries.
    write(
        tmp.path(),
        "link.tar",
        typed_tar(&[(b'2', "conf", &keys[6], b""), (b'0', "a.txt", "", b"nothing\n")]),
    );
    let pax = pax_record("comment", &keys[7]);
    write(
        tmp.path(),
        "pax.tar.gz",
        gz(&typed_tar(&[
            (b'x', "PaxHeaders/a.txt", "", &pax),
            (b'0', "a.txt", "", b"nothing\n"),
        ])),
    );
    let mut between = tar(&[("a.txt", b"nothing\n")]);
    // The padding of the first member's last block holds text.
    let note = format!("KEY={}", keys[8]);
    between[512 + 8..512 + 8 + note.len()].copy_from_slice(note.as_bytes());
    write(tmp.path(), "between.tar", &between);

    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let want = [
        "app.jar",
        "comment.zip",
        "orphan.zip",
        "trailing.zip",
        "name.gz",
        "comment.gz",
        "link.tar",
        "pax.tar.gz",
        "between.tar",
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(places(&doc, &keys[i]), vec![w.to_string()], "key #{i}:\n{run}");
    }
    assert!(skipped(&doc).is_empty(), "{run}");
    // The script's key is on its own line of the jar.
    let jar = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp(&keys[0]).as_str())
        .unwrap();
    assert_eq!(jar["locations"][0]["line"], 2, "{run}");
    let all: Vec<&String> = keys.iter().collect();
    assert_run_leaks_nothing(&run, &all);
}

#[test]
fn archive_stored_member_is_one_location_not_two() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7125);
    let (k1, k2) = (g.key(), g.key());
    write(tmp.path(), "plain.tar", tar(&[("app.env", &prop(&k1))]));
    write(
        tmp.path(),
        "stored.zip",
        stored_zip(&[("app.env", &prop(&k2))], &[("app.env".into(), 0)], b""),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    let doc = run.json();
    assert_eq!(places(&doc, &k1), vec!["plain.tar!app.env"], "{run}");
    assert_eq!(places(&doc, &k2), vec!["stored.zip!app.env"], "{run}");
}

#[test]
fn archive_zip_entries_of_one_name_are_all_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7126);
    let (k1, k2) = (g.key(), g.key());
    let (d1, d2) = (prop(&k1), prop(&k2));
    write(
        tmp.path(),
        "dup.zip",
        stored_zip(
            &[("app.env", &d1), ("app.env", &d2)],
            &[("app.env".into(), 0), ("app.env".into(), 1)],
            b"",
        ),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &k1), vec!["dup.zip!app.env"], "{run}");
    assert_eq!(places(&doc, &k2), vec!["dup.zip!app.env"], "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");
}

#[test]
fn archive_small_stream_with_padding_or_a_cut_trailer_is_still_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7127);
    let keys: Vec<String> = (0..3).map(|_| g.key()).collect();
    let mut padded = gz(&prop(&keys[0]));
    padded.resize(padded.len() + 100, 0);
    write(tmp.path(), "padded.gz", &padded);
    let mut cut = gz(&prop(&keys[1]));
    cut.truncate(cut.len() - 4);
    write(tmp.path(), "cut.gz", &cut);
    let mut cut_bz = bz2(&prop(&keys[2]));
    cut_bz.truncate(cut_bz.len() - 4);
    write(tmp.path(), "cut.bz2", &cut_bz);
    for f in [&padded, &cut, &cut_bz] {
        assert!(f.len() < 512);
    }
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    for (i, w) in ["padded.gz", "cut.gz", "cut.bz2"].iter().enumerate() {
        assert_eq!(places(&doc, &keys[i]), vec![w.to_string()], "key #{i}:\n{run}");
    }
    // Zero padding is harmless (gzip ignores it); a cut trailer is said.
    let paths: Vec<String> = skipped(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["cut.bz2".to_string(), "cut.gz".to_string()], "{run}");
}

#[test]
fn archive_tar_contiguous_and_unknown_entry_types_are_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7128);
    let (k1, k2) = (g.key(), g.key());
    write(
        tmp.path(),
        "types.tar",
        typed_tar(&[(b'7', "c.env", "", &prop(&k1)), (b'Q', "q.env", "", &prop(&k2))]),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &k1), vec!["types.tar!c.env"], "{run}");
    assert_eq!(places(&doc, &k2), vec!["types.tar!q.env"], "{run}");
}

#[test]
fn archive_tar_bad_header_is_skipped_to_the_next_valid_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7129);
    let keys: Vec<String> = (0..4).map(|_| g.key()).collect();
    let data: Vec<Vec<u8>> = keys[..3].iter().map(|k| prop(k)).collect();
    let mut t = tar(&[("a.env", &data[0]), ("b.env", &data[1]), ("c.env", &data[2])]);
    // b.env's header no longer sums to its checksum.
    t[1024 + 10] ^= 0x20;
    write(tmp.path(), "bad.tar", &t);
    // A header that understates its size: the rest of the data reads as a bad header.
    let mut long = format!("first line\n{}\n", "-".repeat(600)).into_bytes();
    long.extend_from_slice(&prop(&keys[3]));
    let mut under = typed_tar(&[(b'0', "big.env", "", &long), (b'0', "z.txt", "", b"end\n")]);
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes().copy_from_slice(&under[..512]);
    h.set_size(10);
    h.set_cksum();
    under[..512].copy_from_slice(h.as_bytes());
    write(tmp.path(), "under.tar.gz", gz(&under));

    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &keys[0]), vec!["bad.tar!a.env"], "{run}");
    // b.env's data is scanned raw; c.env is read as a member again.
    assert_eq!(places(&doc, &keys[1]), vec!["bad.tar"], "{run}");
    assert_eq!(places(&doc, &keys[2]), vec!["bad.tar!c.env"], "{run}");
    assert_eq!(places(&doc, &keys[3]), vec!["under.tar.gz"], "{run}");
    let skips = skipped(&doc);
    for path in ["bad.tar", "under.tar.gz"] {
        assert!(
            has_skip(&skips, path, "not a valid header: skipped to the next header"),
            "{path}: {skips:?}"
        );
    }
    assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
}

#[test]
fn archive_zip_member_past_the_ratio_is_read_up_to_the_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7130).key();
    bombs(tmp.path(), &prop(&key));
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &key), vec!["bomb.gz", "bomb.zip!zeros.bin"], "{run}");
    let skips = skipped(&doc);
    assert!(
        has_skip(&skips, "bomb.zip!zeros.bin", "ratio above 200:1 (--max-ratio)"),
        "{skips:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 21, second look at the input side: what a hostile archive can still do
// ---------------------------------------------------------------------------------------------

/// A one-entry tar whose header's size field is `size` as given (any bytes: base-256 too), the
/// data after it as given.
fn tar_with_size_field(name: &str, kind: u8, size: &[u8; 12], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mode(0o644);
    h.as_mut_bytes()[124..136].copy_from_slice(size);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512) + 1024, 0);
    out
}

#[test]
fn archive_tar_sizes_near_u64_max_are_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7140);
    let keys = [g.key(), g.key(), g.key()];
    // GNU base-256: 2^64 - 1 bytes, of a file and of a long-name header.
    let mut max = [0xffu8; 12];
    max[..4].copy_from_slice(&[0x80, 0, 0, 0]);
    write(
        tmp.path(),
        "file.tar",
        tar_with_size_field("a.env", b'0', &max, &prop(&keys[0])),
    );
    write(
        tmp.path(),
        "ext.tar",
        tar_with_size_field("././@LongLink", b'L', &max, &prop(&keys[1])),
    );
    // A pax size record of 2^64 - 1 for the next entry.
    let mut pax = typed_tar(&[(b'x', "pax", "", &pax_record("size", &u64::MAX.to_string()))]);
    pax.truncate(pax.len() - 1024);
    pax.extend(typed_tar(&[(b'0', "b.env", "", &prop(&keys[2]))]));
    write(tmp.path(), "pax.tar", pax);
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &keys[0]), vec!["file.tar!a.env"], "{run}");
    assert_eq!(places(&doc, &keys[1]), vec!["ext.tar"], "{run}");
    assert_eq!(places(&doc, &keys[2]), vec!["pax.tar!b.env"], "{run}");
    let skips = skipped(&doc);
    for path in ["file.tar!a.env", "pax.tar!b.env"] {
        assert!(has_skip(&skips, path, "tar cut short"), "{path}: {skips:?}");
    }
    assert!(
        has_skip(&skips, "ext.tar", "above the 1048576-byte cap"),
        "{skips:?}"
    );
    assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
}

#[test]
fn archive_gzip_header_cut_inside_a_name_or_comment_is_scanned_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7141);
    let keys = [g.key(), g.key()];
    // FNAME, then FCOMMENT, with no NUL to end it: the decoder holds the field and gives up.
    let head = |flag: u8, text: &str| {
        let mut h = vec![0x1f, 0x8b, 0x08, flag, 0, 0, 0, 0, 0, 3];
        h.extend_from_slice(text.as_bytes());
        h
    };
    write(tmp.path(), "name.gz", head(0x08, &format!("app {}", keys[0])));
    // A whole member first: the broken second one is scanned from its own start.
    let mut two = gz(b"hello\n");
    two.extend(head(0x10, &format!("note {}", keys[1])));
    write(tmp.path(), "second.gz", two);
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &keys[0]), vec!["name.gz"], "{run}");
    assert_eq!(places(&doc, &keys[1]), vec!["second.gz"], "{run}");
    let skips = skipped(&doc);
    for path in ["name.gz", "second.gz"] {
        assert!(
            has_skip(&skips, path, "cannot read gzip stream"),
            "{path}: {skips:?}"
        );
    }
    assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
}

#[test]
fn archive_zip_entry_named_like_a_directory_with_content_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7142).key();
    // Deflated, so the raw scan cannot see the key: only reading the entry finds it.
    write(
        tmp.path(),
        "dir.zip",
        zip(&[("conf/", &prop(&key)), ("empty/", b"")]),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(places(&run.json(), &key), vec!["dir.zip!conf/"], "{run}");
    assert_run_leaks_nothing(&run, &[&key]);
}

#[test]
fn archive_raw_bytes_scanned_in_windows_count_each_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7143);
    // Raw bytes are scanned in 1 MiB windows that overlap by 4 KiB: keys every 97 bytes around the
    // first window's end, in blocks that are no tar header (scanned raw after the one that is).
    let mut body = vec![b'.'; 3 << 20];
    let mut keys = Vec::new();
    let mut at = (1 << 20) - 6000;
    while at < (1 << 20) + 300 {
        let key = g.key();
        body[at + 1..at + 1 + key.len()].copy_from_slice(key.as_bytes());
        body[at] = b' ';
        body[at + 1 + key.len()] = b' ';
        keys.push(key);
        at += 97;
    }
    write(
        tmp.path(),
        "raw.tar",
        tar_with_size_field("empty", b'0', b"00000000000\0", &body),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    for key in &keys {
        assert_eq!(places(&doc, key), vec!["raw.tar"], "{key:.8}");
    }
    let counts: Vec<u64> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["location_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![1; keys.len()]);
    assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
}

#[test]
fn archive_key_split_across_a_members_edge_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7144);
    let keys = [g.key(), g.key()];
    // A stored zip member that declares 50 bytes where its data runs on: the key starts in the
    // member and ends in the bytes after it, which no entry claims.
    let data = prop(&keys[0]);
    let mut z = stored_zip(&[("a.env", &data)], &[("a.env".to_string(), 0)], b"");
    let mut crc = flate2::Crc::new();
    crc.update(&data[..50]);
    let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    for at in [14, cd + 16] {
        z[at..at + 4].copy_from_slice(&crc.sum().to_le_bytes());
        z[at + 4..at + 8].copy_from_slice(&50u32.to_le_bytes());
        z[at + 8..at + 12].copy_from_slice(&50u32.to_le_bytes());
    }
    write(tmp.path(), "split.zip", z);
    // A tar member of 50 bytes whose padding holds the rest of the key.
    let data = prop(&keys[1]);
    let mut t = typed_tar(&[(b'0', "b.env", "", &data[..50])]);
    t[512 + 50..512 + data.len()].copy_from_slice(&data[50..]);
    write(tmp.path(), "split.tar", t);
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &keys[0]), vec!["split.zip"], "{run}");
    assert_eq!(places(&doc, &keys[1]), vec!["split.tar"], "{run}");
    assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
}

#[test]
fn key_in_base64_in_a_name_is_redacted_in_every_path_shown() {
    use base64::Engine;
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(7145);
    let keys = [g.key(), g.key()];
    let std = base64::engine::general_purpose::STANDARD.encode(&keys[0]);
    let url = base64::engine::general_purpose::URL_SAFE.encode(&keys[1]);
    // As a member's name (the standard alphabet's `/` reads as directories) and as a file's.
    write(tmp.path(), "names.zip", zip(&[(&format!("cfg/{std}"), b"x")]));
    write(tmp.path(), &format!("b64_{url}"), "x");
    for format in ["json", "human"] {
        let run = sg(tmp.path(), &["dir", ".", "-f", format], None);
        assert_eq!(run.code, 1, "{run}");
        for encoded in [&std, &url] {
            assert!(!run.stdout.contains(&encoded[..60]), "{format}: {run}");
        }
        assert_run_leaks_nothing(&run, &keys.iter().collect::<Vec<_>>());
    }
    let doc = sg(tmp.path(), &["dir", ".", "-f", "json"], None).json();
    assert_eq!(places(&doc, &keys[1]), vec!["b64_(base64 of a key)"]);
}

// ---------------------------------------------------------------------------------------------
// 7z, `.git` inside archives, Office documents (#24)
// ---------------------------------------------------------------------------------------------

/// A 7z built with sevenz-rust2's writer (LZMA2): each member a block of its own, or all of them
/// in one solid block.
fn sevenz(members: &[(&str, &[u8])], solid: bool) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
    if solid {
        let entries = members
            .iter()
            .map(|(n, _)| sevenz_rust2::ArchiveEntry::new_file(n))
            .collect();
        let readers = members
            .iter()
            .map(|(_, d)| sevenz_rust2::SourceReader::new(*d))
            .collect();
        w.push_archive_entries(entries, readers).unwrap();
    } else {
        for (name, data) in members {
            w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(name), Some(*data))
                .unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn archive_7z_is_opened_with_its_members_nested_and_solid() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(7241);
    let keys: Vec<String> = (0..5).map(|_| g.key()).collect();
    let k = |i: usize| prop(&keys[i]);
    write(
        t,
        "backup.7z",
        sevenz(
            &[
                ("etc/app.env", &k(0)),
                ("site.tar.gz", &gz(&tar(&[("srv/config.yml", &k(1))]))),
            ],
            false,
        ),
    );
    write(
        t,
        "solid.bin",
        sevenz(
            &[("a.txt", b"nothing here\n"), ("b/c.env", &k(2)), ("d.env", &k(3))],
            true,
        ),
    );
    write(
        t,
        "dist.zip",
        zip(&[("inner.7z", &sevenz(&[("x.env", &k(4))], false))]),
    );
    let run = sg(t, &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let want = [
        "backup.7z!etc/app.env",
        "backup.7z!site.tar.gz!srv/config.yml",
        "solid.bin!b/c.env",
        "solid.bin!d.env",
        "dist.zip!inner.7z!x.env",
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(places(&doc, &keys[i]), vec![w.to_string()], "key #{i}:\n{run}");
    }
    assert!(skipped(&doc).is_empty(), "{run}");
    let all: Vec<&String> = keys.iter().collect();
    assert_run_leaks_nothing(&run, &all);
}

/// sevenz-rust2 holds ~100 bytes per entry a header declares, and a compressed header declares
/// hundreds of thousands in a few kilobytes: the decoded header is held to 64 times the file
/// (2 MiB at least), so such a 7z is a skip and is scanned raw, not opened into gigabytes.
#[test]
fn archive_7z_header_declaring_far_more_than_the_file_holds_is_a_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = sevenz_rust2::ArchiveWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
    for _ in 0..300_000 {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file("x"), None::<&[u8]>)
            .unwrap();
    }
    let data = w.finish().unwrap().into_inner();
    assert!(
        data.len() < 96 << 10,
        "the header compresses: {} bytes",
        data.len()
    );
    write(tmp.path(), "entries.7z", &data);
    let doc = crate::util::scan(tmp.path(), &["dir", ".", "-f", "json"]).json();
    let skips = skipped(&doc);
    assert!(
        skips
            .iter()
            .any(|(p, r)| p == "entries.7z" && r.starts_with("cannot open 7z") && r.contains("max_kb: 2048")),
        "{skips:?}"
    );
}

#[test]
fn archive_7z_bomb_and_depth_and_corruption_are_skips_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(7242);
    let (before, after, cut) = (g.key(), g.key(), g.key());
    let zeros = vec![0u8; 8 << 20];
    // A bomb member in a block of its own, keys in the blocks around it.
    write(
        t,
        "bomb.7z",
        sevenz(
            &[
                ("a.env", &prop(&before)),
                ("zeros.bin", &zeros),
                ("z.env", &prop(&after)),
            ],
            false,
        ),
    );
    let mut broken = sevenz(&[("c.env", &prop(&cut))], false);
    broken.truncate(broken.len() / 2);
    write(t, "broken.7z", &broken);
    let run = sg(t, &["dir", ".", "-f", "json", "--max-ratio", "50"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(places(&doc, &before), vec!["bomb.7z!a.env"], "{run}");
    assert_eq!(places(&doc, &after), vec!["bomb.7z!z.env"], "{run}");
    let skips = skipped(&doc);
    assert!(
        skips
            .iter()
            .any(|(p, r)| p == "bomb.7z!zeros.bin" && r.contains("ratio above 50:1")),
        "{skips:?}"
    );
    assert!(skips.iter().any(|(p, _)| p == "broken.7z"), "{skips:?}");
    let scanned = doc["summary"]["bytes_scanned"].as_u64().unwrap();
    assert!(scanned < 4 << 20, "{scanned} bytes scanned:\n{run}");

    // In a solid block, the entries after the cut are named in one skip, not dropped in silence.
    let solid = tempfile::tempdir().unwrap();
    write(
        solid.path(),
        "solid.7z",
        sevenz(
            &[
                ("a.env", &prop(&before)),
                ("zeros.bin", &zeros),
                ("z.env", &prop(&after)),
            ],
            true,
        ),
    );
    let run = sg(
        solid.path(),
        &["dir", ".", "-f", "json", "--max-member-size", "1M"],
        None,
    );
    let doc = run.json();
    assert_eq!(places(&doc, &before), vec!["solid.7z!a.env"], "{run}");
    let skips = skipped(&doc);
    assert!(
        skips
            .iter()
            .any(|(p, r)| p == "solid.7z" && r.contains("1 7z entries not read") && r.contains("zeros.bin")),
        "{skips:?}"
    );

    // Past the depth limit a 7z is not opened, and says so.
    let deep = tempfile::tempdir().unwrap();
    write(
        deep.path(),
        "d.zip",
        zip(&[("in.7z", &sevenz(&[("x.env", &prop(&cut))], false))]),
    );
    let run = sg(
        deep.path(),
        &["dir", ".", "-f", "json", "--max-archive-depth", "1"],
        None,
    );
    let skips = skipped(&run.json());
    assert!(
        skips
            .iter()
            .any(|(p, r)| p == "d.zip!in.7z" && r.contains("7z nested deeper")),
        "{skips:?}"
    );
}

/// Word's XML for one paragraph whose text is `pieces`, each in a run of its own, with the
/// spell-check marks and revision ids Word leaves between them.
fn word_paragraph(pieces: &[&str]) -> String {
    let mut p = String::from(r#"<w:p w:rsidR="00B2" w:rsidRDefault="00B2">"#);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            p.push_str(r#"<w:proofErr w:type="spellEnd"/>"#);
        }
        p.push_str(&format!(
            r#"<w:r w:rsidRPr="00C{i}"><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve">{piece}</w:t></w:r>"#
        ));
    }
    p.push_str("</w:p>");
    p
}

fn docx(paragraphs: &[String]) -> Vec<u8> {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{}<w:sectPr/></w:body></w:document>"#,
        paragraphs.concat()
    );
    zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", body.as_bytes()),
        (
            "word/header1.xml",
            format!("<w:hdr>{}</w:hdr>", word_paragraph(&["Confidential"])).as_bytes(),
        ),
    ])
}

#[test]
fn office_key_split_into_runs_is_found_once_and_near_misses_stay_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(7243);
    let (word, sheet, odf, whole) = (g.key(), g.key(), g.key(), g.key());
    // Three runs: `SG.` + part of the id, the rest of the id and part of the secret, the rest.
    let w3 = [&word[..7], &word[7..40], &word[40..]];
    // A near miss cut the same way: a 44-character secret.
    let long = format!("{}x", g.key());
    let l3 = [&long[..7], &long[7..40], &long[40..]];
    write(
        t,
        "notes.docx",
        docx(&[
            word_paragraph(&["SendGrid key: ", w3[0], w3[1], w3[2], " (prod)"]),
            word_paragraph(&["old: ", l3[0], l3[1], l3[2]]),
            word_paragraph(&["spare: ", &whole, " ", "end"]),
        ]),
    );
    let shared = format!(
        r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2"><si><t>name</t></si><si><r><t>{}</t></r><r><rPr><b/></rPr><t>{}</t></r></si></sst>"#,
        &sheet[..30],
        &sheet[30..]
    );
    write(
        t,
        "keys.xlsx",
        zip(&[
            ("xl/workbook.xml", b"<workbook/>"),
            ("xl/sharedStrings.xml", shared.as_bytes()),
        ]),
    );
    let content = format!(
        r#"<office:document-content><office:body><office:text><text:h>Mail</text:h><text:p text:style-name="P1">SENDGRID_API_KEY={}<text:span text:style-name="T1">{}</text:span>{}</text:p></office:text></office:body></office:document-content>"#,
        &odf[..20],
        &odf[20..50],
        &odf[50..]
    );
    write(
        t,
        "memo.odt",
        zip(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", content.as_bytes()),
        ]),
    );
    let run = sg(t, &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(
        places(&doc, &word),
        vec!["notes.docx!word/document.xml (paragraph text)"],
        "{run}"
    );
    assert_eq!(
        places(&doc, &sheet),
        vec!["keys.xlsx!xl/sharedStrings.xml (paragraph text)"],
        "{run}"
    );
    assert_eq!(
        places(&doc, &odf),
        vec!["memo.odt!content.xml (paragraph text)"],
        "{run}"
    );
    // A key whole in one run is the member's own finding, not a second location.
    assert_eq!(
        places(&doc, &whole),
        vec!["notes.docx!word/document.xml"],
        "{run}"
    );
    // The line is the paragraph's.
    let f = crate::util::finding(&doc, &word);
    assert_eq!(f["locations"][0]["line"], 1, "{run}");
    assert_eq!(doc["findings"].as_array().unwrap().len(), 4, "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");
    assert_run_leaks_nothing(&run, &[&word, &sheet, &odf, &whole, &long]);
}

/// `tar -cf` of `dir`'s `name` (the real tool, so the `.git` inside is laid out as a backup or a
/// `COPY . .` layer has it).
fn tar_dir(dir: &Path, name: &str) -> Vec<u8> {
    let out = std::process::Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), "-cf", "-", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A config of many lines, the key on one of them: two versions of it delta well in a pack.
fn long_config(key: &str) -> String {
    let mut s = String::new();
    for i in 0..80 {
        s.push_str(&format!("setting.number.{i} = value-{}\n", i * 7));
        if i == 40 {
            s.push_str(&format!("sendgrid.api_key = {key}\n"));
        }
    }
    s
}

#[test]
fn git_directory_in_a_tarball_or_layer_is_read_loose_and_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let scan = tmp.path().join("scan");
    std::fs::create_dir_all(&scan).unwrap();
    let mut g = KeyGen::new(7244);
    let (old, loose) = (g.key(), g.key());
    let repo = Repo::init(&src.join("app"));
    // The key is committed, then replaced: only an older blob holds it (in a pack, a delta
    // against the newer version, which git keeps whole).
    repo.write("config.properties", &long_config(&old));
    repo.commit("config");
    let old_blob = repo.rev("HEAD:config.properties");
    repo.write("config.properties", &long_config("<set in the vault>"));
    repo.commit("use the vault");
    repo.git(&["gc", "-q"]);
    let pack = repo.git(&["count-objects", "-v"]);
    assert!(pack.contains("packs: 1"), "{pack}");
    // A second key, committed after the gc: a loose object; then deleted from the work tree.
    repo.write("mail.env", &env_line(&loose));
    repo.commit("mail");
    let loose_blob = repo.rev("HEAD:mail.env");
    std::fs::remove_file(repo.path.join("mail.env")).unwrap();
    let app = tar_dir(&src, "app");
    write(&scan, "backup.tar", &app);
    // `docker save`: the same tree as a layer inside an image tar, gzipped.
    write(
        &scan,
        "image.tar",
        tar(&[("manifest.json", b"[]"), ("9c1d/layer.tar.gz", &gz(&app))]),
    );
    let run = sg(&scan, &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(
        places(&doc, &old),
        vec![
            format!("backup.tar!app/.git (blob {old_blob})"),
            format!("image.tar!9c1d/layer.tar.gz!app/.git (blob {old_blob})"),
        ],
        "{run}"
    );
    assert_eq!(
        places(&doc, &loose),
        vec![
            format!("backup.tar!app/.git (blob {loose_blob})"),
            format!("image.tar!9c1d/layer.tar.gz!app/.git (blob {loose_blob})"),
        ],
        "{run}"
    );
    assert!(skipped(&doc).is_empty(), "{run}");
    assert_run_leaks_nothing(&run, &[&old, &loose]);
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A git pack's type-and-size header for an entry of `kind` and `size` bytes.
fn pack_entry_header(kind: u8, mut size: usize) -> Vec<u8> {
    let mut h = vec![kind << 4 | (size & 15) as u8];
    size >>= 4;
    while size > 0 {
        *h.last_mut().unwrap() |= 0x80;
        h.push((size & 0x7f) as u8);
        size >>= 7;
    }
    h
}

#[test]
fn git_pack_deltas_are_held_to_the_ratio_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7246).key();
    // A 64 KiB blob holding a key, then deltas on it of 2 MiB each: 32 copy instructions of
    // 64 KiB (4 bytes of delta a MiB), 20 MiB out of a pack of a few KiB.
    let mut base = prop(&key);
    base.resize(65536, b'.');
    let mut pack = b"PACK\0\0\0\x02".to_vec();
    pack.extend_from_slice(&11u32.to_be_bytes());
    pack.extend_from_slice(&pack_entry_header(3, base.len()));
    pack.extend_from_slice(&zlib(&base));
    let dst = 2usize << 20;
    let mut delta = vec![0x80, 0x80, 0x04, 0x80, 0x80, 0x80, 0x01];
    delta.extend(std::iter::repeat_n(0x80u8, dst / 65536));
    for _ in 0..10 {
        let at = pack.len();
        pack.extend_from_slice(&pack_entry_header(6, delta.len()));
        // OFS_DELTA back to the blob at offset 12.
        let back = at - 12;
        let mut ofs = vec![(back & 0x7f) as u8];
        let mut o = back >> 7;
        while o > 0 {
            o -= 1;
            ofs.insert(0, 0x80 | (o & 0x7f) as u8);
            o >>= 7;
        }
        pack.extend_from_slice(&ofs);
        pack.extend_from_slice(&zlib(&delta));
    }
    pack.extend_from_slice(&[0; 20]);
    write(
        tmp.path(),
        "r.tar",
        tar(&[("r/.git/objects/pack/pack-0a1b.pack", &pack)]),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    // The key read before the stop stays found.
    assert!(!places(&doc, &key).is_empty(), "{run}");
    let skips = skipped(&doc);
    assert!(
        skips
            .iter()
            .any(|(_, r)| r.contains("git pack deltas made more than 200:1")),
        "{skips:?}"
    );
}

#[test]
fn git_objects_in_an_archive_that_are_broken_or_unresolvable_are_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(7245).key();
    let id = "0123456789abcdef0123456789abcdef01234567";
    // A "loose object" that is not zlib: scanned as it is, with a skip.
    let garbage = prop(&key);
    // A pack of one REF delta whose base is not in it; then a blob that is.
    let mut pack = b"PACK\0\0\0\x02\0\0\0\x02".to_vec();
    let delta = [3u8, 3, 0x90, 3];
    pack.push(0x70 | delta.len() as u8);
    pack.extend_from_slice(&[0xab; 20]);
    pack.extend_from_slice(&zlib(&delta));
    let blob = prop(&key);
    pack.push(0x80 | 0x30 | (blob.len() & 15) as u8);
    pack.push((blob.len() >> 4) as u8);
    pack.extend_from_slice(&zlib(&blob));
    pack.extend_from_slice(&[0; 20]);
    write(
        tmp.path(),
        "r.tar",
        tar(&[
            (&format!("r/.git/objects/{}/{}", &id[..2], &id[2..]), &garbage),
            ("r/.git/objects/pack/pack-0a1b.pack", &pack),
        ]),
    );
    let run = sg(tmp.path(), &["dir", ".", "-f", "json"], None);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let places = places(&doc, &key);
    assert_eq!(places.len(), 2, "{run}");
    assert!(
        places.contains(&format!("r.tar!r/.git/objects/{}/{}", &id[..2], &id[2..])),
        "{run}"
    );
    assert!(
        places.iter().any(|p| p.starts_with("r.tar!r/.git (blob ")),
        "{run}"
    );
    let skips = skipped(&doc);
    assert!(
        skips.iter().any(|(_, r)| r.contains("does not inflate")),
        "{skips:?}"
    );
    assert!(
        skips
            .iter()
            .any(|(_, r)| r.contains("1 git pack deltas not resolved")),
        "{skips:?}"
    );
}
