//! Keys in shipped artefacts whose strings are stored in pieces: SQLite databases and `-wal`
//! files, LevelDB tables, PDF content streams, quoted-printable and base64 mail. Each file is
//! written by the library that really writes it where one runs offline (Python's `sqlite3` and
//! `email`), or built here per the format's spec; keys are generated at run time.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::places;
use crate::util::{KeyGen, Run, assert_run_leaks_nothing, scan, skipped, write};

/// Runs a Python script with the keys in `KEY0`, `KEY1`… and the directory to write in `OUT`.
fn python(dir: &Path, script: &str, keys: &[&str]) {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).env("OUT", dir);
    for (i, k) in keys.iter().enumerate() {
        cmd.env(format!("KEY{i}"), k);
    }
    let out = cmd.output().expect("python3 runs (the CI installs it)");
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_scan(dir: &Path, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["dir", ".", "-f", "json"];
    args.extend_from_slice(extra);
    let run = scan(dir, &args);
    let doc = run.json();
    (run, doc)
}

fn assert_found(run: &Run, doc: &Value, key: &str, place: &str) {
    let at = places(doc, key);
    assert!(
        at.iter().any(|p| p.starts_with(place)),
        "key not found at {place} (found at {at:?}):\n{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

const SQLITE: &str = r##"
import os, sqlite3
db = sqlite3.connect(os.path.join(os.environ["OUT"], "settings.db"))
db.execute("CREATE TABLE settings(name TEXT, value TEXT)")
db.execute("INSERT INTO settings VALUES ('SENDGRID_API_KEY', ?)", (os.environ["KEY0"],))
# An INTEGER after the key: 16706 is stored as the two bytes "AB", glued to the key's end.
db.execute("CREATE TABLE tokens(token TEXT, uses INTEGER, note TEXT)")
db.execute("INSERT INTO tokens VALUES (?, 16706, 'x')", (os.environ["KEY1"],))
# A value that spills onto an overflow page: the overflow pages are full, so with 4062 bytes
# after it the key straddles the end of the cell's local part (4096-byte pages).
db.execute("CREATE TABLE blobs(body TEXT)")
db.execute("INSERT INTO blobs VALUES (?)", ("#" * 1000 + " SENDGRID_API_KEY=" + os.environ["KEY2"] + " " + "#" * 4061,))
# A 44-character secret stays a near miss, in a column of its own too.
db.execute("INSERT INTO settings VALUES ('SENDGRID_NEAR', ?)", (os.environ["KEY3"],))
db.commit()
db.close()
"##;

#[test]
fn sqlite_columns_are_scanned_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(2401);
    let keys: Vec<String> = (0..3).map(|_| g.key()).collect();
    let near = format!("{}x", g.key());
    python(t, SQLITE, &[&keys[0], &keys[1], &keys[2], &near]);
    let (run, doc) = json_scan(t, &[]);
    assert_eq!(run.code, 1, "{run}");
    for k in &keys {
        assert_found(&run, &doc, k, "settings.db!sqlite:page ");
        // Once: the value's raw bytes are left out of the raw scan.
        assert_eq!(places(&doc, k).len(), 1, "{run}");
    }
    assert!(
        places(&doc, &near[..near.len() - 1]).is_empty(),
        "near miss reported:\n{run}"
    );
    assert_eq!(doc["findings"].as_array().unwrap().len(), 3, "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");
    let all: Vec<&String> = keys.iter().collect();
    assert_run_leaks_nothing(&run, &all);
}

const WAL: &str = r##"
import os, shutil, sqlite3
path = os.path.join(os.environ["OUT"], "live.db")
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("CREATE TABLE kv(k TEXT, v TEXT)")
db.execute("INSERT INTO kv VALUES ('SENDGRID_API_KEY', ?)", (os.environ["KEY0"],))
db.commit()
# Copied while the connection is open: the rows are only in the WAL.
os.makedirs(os.path.join(os.environ["OUT"], "copy"))
shutil.copy(path + "-wal", os.path.join(os.environ["OUT"], "copy", "live.db-wal"))
db.close()
"##;

#[test]
fn sqlite_wal_frames_are_read_as_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(2402).key();
    python(tmp.path(), WAL, &[&key]);
    let copy = tmp.path().join("copy");
    let (run, doc) = json_scan(&copy, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_found(&run, &doc, &key, "live.db-wal!wal:frame ");
    assert_run_leaks_nothing(&run, &[&key]);
}

#[test]
fn sqlite_hostile_header_is_a_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(2403).key();
    let mut db = b"SQLite format 3\0".to_vec();
    db.extend_from_slice(&[0x01, 0x2c]); // page size 300: not a power of two
    db.resize(100, 0);
    db.extend_from_slice(format!("\nSENDGRID_API_KEY={key}\n").as_bytes());
    write(tmp.path(), "bad.db", &db);
    let (run, doc) = json_scan(tmp.path(), &[]);
    assert_eq!(run.code, 1, "{run}");
    // The raw bytes are still scanned.
    assert_eq!(places(&doc, &key), vec!["bad.db".to_string()], "{run}");
    assert!(
        skipped(&doc)
            .iter()
            .any(|(p, r)| p == "bad.db" && r.contains("page size 300")),
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// Mail
// ---------------------------------------------------------------------------------------------

const MAIL: &str = r##"
import os, mailbox
from email.message import EmailMessage
out = os.environ["OUT"]
m = EmailMessage()
m["From"] = "dev@example.com"
m["To"] = "ops@example.com"
m["Subject"] = "prod settings"
# One long line: quoted-printable wraps it at 76 columns, inside the key.
m.set_content("Here you go: " + "x" * 40 + " SENDGRID_API_KEY=" + os.environ["KEY0"] + " thanks\n", cte="quoted-printable")
with open(os.path.join(out, "settings.eml"), "wb") as f:
    f.write(bytes(m))
box = mailbox.mbox(os.path.join(out, "archive.mbox"))
a = EmailMessage()
a["From"] = "a@example.com"
a["Subject"] = "hello"
a.set_content("nothing here\n")
box.add(a)
b = EmailMessage()
b["From"] = "b@example.com"
b["Subject"] = "key"
b.set_content("KEY=" + os.environ["KEY1"] + "\n", cte="quoted-printable")
b.add_attachment(("SENDGRID_API_KEY=" + os.environ["KEY2"] + "\n").encode(), maintype="application", subtype="octet-stream", filename="env")
box.add(b)
box.flush()
box.close()
"##;

#[test]
fn mail_parts_are_decoded_by_their_transfer_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(2404);
    let keys: Vec<String> = (0..3).map(|_| g.key()).collect();
    python(t, MAIL, &[&keys[0], &keys[1], &keys[2]]);
    let eml = std::fs::read_to_string(t.join("settings.eml")).unwrap();
    assert!(!eml.contains(&keys[0]), "the fixture must wrap the key:\n{eml}");
    let (run, doc) = json_scan(t, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(places(&doc, &keys[0]), vec!["settings.eml!mime:part 1"], "{run}");
    assert_eq!(places(&doc, &keys[1]), vec!["archive.mbox!mime:part 2"], "{run}");
    // The attachment is base64: found once, at its part (not again in the raw bytes).
    assert_eq!(places(&doc, &keys[2]), vec!["archive.mbox!mime:part 3"], "{run}");
    let all: Vec<&String> = keys.iter().collect();
    assert_run_leaks_nothing(&run, &all);
}

// ---------------------------------------------------------------------------------------------
// LevelDB
// ---------------------------------------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A block of `entries` (no prefix sharing, one restart point).
fn ldb_block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in entries {
        let mut key = k.clone();
        key.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // sequence and type
        varint(&mut b, 0);
        varint(&mut b, key.len() as u64);
        varint(&mut b, v.len() as u64);
        b.extend_from_slice(&key);
        b.extend_from_slice(v);
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b
}

/// A LevelDB table: one Snappy data block, an empty metaindex, an index naming the block, the
/// footer (<https://github.com/google/leveldb/blob/main/doc/table_format.md>).
fn ldb(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let data = snap::raw::Encoder::new()
        .compress_vec(&ldb_block(entries))
        .unwrap();
    ldb_of(&data, 1)
}

/// A table around one data block given as stored, of compression type `kind`.
fn ldb_of(data: &[u8], kind: u8) -> Vec<u8> {
    let mut file = Vec::new();
    let put = |file: &mut Vec<u8>, block: &[u8], kind: u8| -> (u64, u64) {
        let at = file.len() as u64;
        file.extend_from_slice(block);
        file.push(kind);
        file.extend_from_slice(&[0; 4]); // CRC, not checked
        (at, block.len() as u64)
    };
    let data = put(&mut file, data, kind);
    let meta = put(&mut file, &ldb_block(&[]), 0);
    let mut handle = Vec::new();
    varint(&mut handle, data.0);
    varint(&mut handle, data.1);
    let index = put(&mut file, &ldb_block(&[(b"z".to_vec(), handle)]), 0);
    let mut footer = Vec::new();
    for v in [meta.0, meta.1, index.0, index.1] {
        varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    file.extend_from_slice(&footer);
    file
}

#[test]
fn leveldb_snappy_blocks_are_decoded_and_each_entry_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(2405);
    let keys: Vec<String> = (0..2).map(|_| g.key()).collect();
    // Chrome local storage: `_origin\0\1name` → `\1` + Latin-1 text; the second value shares a
    // long prefix with the first, so Snappy writes it as a back-reference.
    let value = |k: &str| [&b"\x01{\"sendgrid\":{\"apiKey\":\""[..], k.as_bytes(), b"\"}}"].concat();
    let entries = vec![
        (b"_https://app.example\x00\x01settings".to_vec(), value(&keys[0])),
        (b"_https://app.example\x00\x01settings2".to_vec(), value(&keys[1])),
    ];
    write(tmp.path(), "Local Storage/leveldb/000005.ldb", ldb(&entries));
    let (run, doc) = json_scan(tmp.path(), &[]);
    assert_eq!(run.code, 1, "{run}");
    for k in &keys {
        assert_eq!(
            places(&doc, k),
            vec!["Local Storage/leveldb/000005.ldb!leveldb:block 1"],
            "{run}"
        );
    }
    assert!(skipped(&doc).is_empty(), "{run}");
}

#[test]
fn leveldb_block_declaring_too_much_is_a_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(2406).key();
    // A Snappy block that declares 4 GiB and holds one literal: the key.
    let mut block = Vec::new();
    varint(&mut block, u64::from(u32::MAX));
    let text = format!("\n{key}\n");
    block.push(((text.len() - 1) as u8) << 2);
    block.extend_from_slice(text.as_bytes());
    write(tmp.path(), "000007.ldb", ldb_of(&block, 1));
    let (run, doc) = json_scan(tmp.path(), &[]);
    assert_eq!(run.code, 1, "{run}");
    // Not decoded, so the raw bytes are scanned: the literal is found there.
    assert_eq!(places(&doc, &key), vec!["000007.ldb"], "{run}");
    assert!(
        skipped(&doc)
            .iter()
            .any(|(p, r)| p == "000007.ldb!leveldb:block 1" && r.contains("declares")),
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------------

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(4) {
        let mut b = [0u8; 4];
        b[..chunk.len()].copy_from_slice(chunk);
        let mut v = u32::from_be_bytes(b);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = (v % 85) as u8 + b'!';
            v /= 85;
        }
        out.extend_from_slice(&digits[..chunk.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// A one-page PDF whose content stream is `body` under `filter`, with its xref table.
fn pdf(filter: &str, body: &[u8]) -> Vec<u8> {
    let mut f = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let mut obj = |f: &mut Vec<u8>, text: &[u8]| {
        offsets.push(f.len());
        f.extend_from_slice(text);
    };
    obj(&mut f, b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    obj(
        &mut f,
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
    );
    obj(
        &mut f,
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n",
    );
    let mut stream = format!("4 0 obj\n<< /Length {} /Filter {filter} >>\nstream\n", body.len()).into_bytes();
    stream.extend_from_slice(body);
    stream.extend_from_slice(b"\nendstream\nendobj\n");
    obj(&mut f, &stream);
    let xref = f.len();
    f.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
    for o in &offsets {
        f.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    f.extend_from_slice(format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    f
}

#[test]
fn pdf_streams_are_inflated_and_text_strings_read() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(2407);
    let keys: Vec<String> = (0..2).map(|_| g.key()).collect();
    // A page of text around the key, so Deflate codes it (a short stream may be stored as is).
    let filler = "BT /F1 12 Tf 72 712 Td (Quarterly figures, unaudited) Tj ET\n".repeat(40);
    let content = format!("{filler}BT (SENDGRID_API_KEY=) Tj ({}) Tj ET\n{filler}", keys[0]);
    let flate = zlib(content.as_bytes());
    assert!(!flate.windows(3).any(|w| w == b"SG."), "the key must be coded");
    write(t, "flate.pdf", pdf("/FlateDecode", &flate));
    // ASCII85 over Flate, the key split across a TJ array by kerning, an escaped parenthesis
    // before it.
    let (a, b) = keys[1].split_at(30);
    let content = format!("{filler}BT /F1 12 Tf 72 712 Td [(key \\(prod\\): ) -400 ({a}) 12 ({b})] TJ ET\n");
    write(
        t,
        "a85.pdf",
        pdf(
            "[/ASCII85Decode /FlateDecode]",
            &ascii85(&zlib(content.as_bytes())),
        ),
    );
    let (run, doc) = json_scan(t, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(places(&doc, &keys[0]), vec!["flate.pdf!pdf:stream 1"], "{run}");
    assert_eq!(places(&doc, &keys[1]), vec!["a85.pdf!pdf:stream 1"], "{run}");
    assert!(skipped(&doc).is_empty(), "{run}");
}

#[test]
fn pdf_flate_bomb_is_bounded_and_what_inflated_is_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let key = KeyGen::new(2408).key();
    let mut content = format!("BT ({key}) Tj ET\n").into_bytes();
    content.resize(8 * 1024 * 1024, b' ');
    write(tmp.path(), "bomb.pdf", pdf("/FlateDecode", &zlib(&content)));
    let (run, doc) = json_scan(tmp.path(), &["--max-ratio", "50"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(places(&doc, &key), vec!["bomb.pdf!pdf:stream 1"], "{run}");
    assert!(
        skipped(&doc)
            .iter()
            .any(|(p, r)| p == "bomb.pdf!pdf:stream 1" && r.contains("--max-ratio")),
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// Negatives
// ---------------------------------------------------------------------------------------------

#[test]
fn artefacts_keep_near_misses_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut g = KeyGen::new(2409);
    let (_, id, secret) = g.parts();
    // A 44-character secret, a 21-character id, a key glued to a word: in every format.
    let misses = [
        format!("SG.{id}.{secret}x"),
        format!("SG.{}.{secret}", &id[1..]),
        format!("token{}", g.key()),
    ];
    for (i, m) in misses.iter().enumerate() {
        write(
            t,
            &format!("p{i}.pdf"),
            pdf("/FlateDecode", &zlib(format!("BT ({m}) Tj ET").as_bytes())),
        );
        write(
            t,
            &format!("l{i}.ldb"),
            ldb(&[(b"k".to_vec(), format!("\x01{m}").into_bytes())]),
        );
        let mail =
            format!("From: a@b\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\nK=3D{m}\n");
        write(t, &format!("m{i}.eml"), mail);
    }
    let (run, doc) = json_scan(t, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(doc["findings"].as_array().unwrap().is_empty(), "{run}");
}

#[test]
fn pdfs_in_a_zip_are_charged_to_the_archive_total() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = KeyGen::new(2410);
    let keys: Vec<String> = (0..3).map(|_| g.key()).collect();
    let pdfs: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            let mut content = format!("BT ({k}) Tj ET\n").into_bytes();
            content.resize(2 * 1024 * 1024, b' ');
            pdf("/FlateDecode", &zlib(&content))
        })
        .collect();
    let members: Vec<(String, &[u8])> = pdfs
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("doc{i}.pdf"), p.as_slice()))
        .collect();
    let members: Vec<(&str, &[u8])> = members.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    write(tmp.path(), "docs.zip", crate::archive::zip(&members));
    let (run, doc) = json_scan(tmp.path(), &["--max-archive-size", "3M"]);
    assert_eq!(run.code, 1, "{run}");
    // The first PDF decodes whole; the budget left after it cuts the second.
    assert_eq!(
        places(&doc, &keys[0]),
        vec!["docs.zip!doc0.pdf!pdf:stream 1"],
        "{run}"
    );
    assert!(
        skipped(&doc)
            .iter()
            .any(|(_, r)| r.contains("--max-archive-size")),
        "{run}"
    );
}
