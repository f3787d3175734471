//! Keys inside compiled and serialized files: strings written right after their length (`.pyc`,
//! Java classes in nested archives, dex in an APK, pickle, msgpack, protobuf, Redis RDB, Java
//! serialization), and UTF-16 strings inside binaries (a .NET `#US` heap, a registry hive). Each
//! fixture is written at run time by the tool that really writes it where one runs offline (Python,
//! the JDK), by hand per the format's spec otherwise; the near misses beside them stay silent.
//!
//! No key literal appears in this file: keys are generated at run time.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::archive::zip;
use crate::util::{KeyGen, Tree, find, finding, findings, scan, scrub, str_at};

/// `sgscan dir .` on `dir`, as JSON.
fn report(dir: &Tree) -> Value {
    let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{run}");
    run.json()
}

/// The paths (`path` or `path!member`) where `key` was found.
fn paths(doc: &Value, key: &str) -> Vec<String> {
    finding(doc, key)["locations"]
        .as_array()
        .expect("`locations` is an array")
        .iter()
        .map(|l| match l["member"].as_str() {
            Some(m) => format!("{}!{m}", str_at(l, "path")),
            None => str_at(l, "path").to_string(),
        })
        .collect()
}

fn assert_silent(doc: &Value, key: &str, what: &str) {
    assert!(
        find(doc, key).is_none(),
        "{what} was reported: {}",
        scrub(&doc.to_string())
    );
}

/// The key with its secret's last character not canonical base64url of 32 bytes (its spare bits
/// set): the shape of a hand-made string, not of a key SendGrid issued.
fn not_canonical(key: &str) -> String {
    let mut k = key.to_string();
    k.pop();
    k.push('B');
    k
}

/// A near miss: the key with one more secret character.
fn long_secret(g: &mut KeyGen, key: &str) -> String {
    format!("{key}{}", g.token(1))
}

/// Runs `cmd`; `None` when the program is not installed (the test then says so and passes).
fn output(cmd: &mut Command) -> Option<Vec<u8>> {
    match cmd.output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(out.stdout)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: {cmd:?} is not installed");
            None
        }
        Err(e) => panic!("{cmd:?}: {e}"),
    }
}

fn python(dir: &Path, script: &str, args: &[&str]) -> Option<Vec<u8>> {
    output(
        Command::new("python3")
            .current_dir(dir)
            .arg("-c")
            .arg(script)
            .args(args),
    )
}

// ---------------------------------------------------------------------------------------------
// Length-prefixed strings
// ---------------------------------------------------------------------------------------------

#[test]
fn python_bytecode_and_pickles_hold_keys_after_their_length() {
    let mut g = KeyGen::new(2401);
    let (k1, k2, k3) = (g.key(), g.key(), g.key());
    let base = g.key();
    let near = long_secret(&mut g, &base);
    let dir = Tree::new();
    // A module whose constants are the key (69 bytes: `E`), a key and a newline (70: `F`) and a
    // near miss, compiled by py_compile; pickles of each protocol from 2 (4-byte length, then a
    // BINPUT `q` glued on the right) to 5 (one-byte length); a `bytes` value too.
    let script = r#"
import pickle, py_compile, sys
k1, k2, k3, near = sys.argv[1:5]
with open("settings.py", "w") as f:
    f.write(f"KEY = {k1!r}\nLINE = {(k2 + chr(10))!r}\nNEAR = {near!r}\n")
py_compile.compile("settings.py", cfile="settings.cpython.pyc", doraise=True)
for p in range(2, 6):
    with open(f"cache{p}.pickle", "wb") as f:
        pickle.dump({"sendgrid": k3, "near": near, "raw": k3.encode()}, f, protocol=p)
"#;
    if python(dir.root(), script, &[&k1, &k2, &k3, &near]).is_none() {
        return;
    }
    // Only the compiled forms are scanned.
    std::fs::remove_file(dir.root().join("settings.py")).unwrap();
    let doc = report(&dir);
    assert_eq!(paths(&doc, &k1), vec!["settings.cpython.pyc"]);
    assert_eq!(paths(&doc, &k2), vec!["settings.cpython.pyc"]);
    let mut p3 = paths(&doc, &k3);
    p3.sort();
    p3.dedup();
    assert_eq!(
        p3,
        vec!["cache2.pickle", "cache3.pickle", "cache4.pickle", "cache5.pickle"]
    );
    assert_silent(&doc, &near, "a 44-character secret");
    assert_silent(&doc, &near[..69], "the first 69 characters of a near miss");
    assert_eq!(findings(&doc).len(), 3, "{}", scrub(&doc.to_string()));
}

/// `javac` and `java`, or `None` (the test then says so and passes).
fn javac(dir: &Path, sources: &[(&str, String)]) -> Option<()> {
    for (name, src) in sources {
        std::fs::write(dir.join(name), src).unwrap();
    }
    let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
    output(
        Command::new("javac")
            .current_dir(dir)
            .args(["-d", "."])
            .args(&names),
    )
    .map(|_| ())
}

#[test]
fn java_class_in_a_jar_in_a_war_in_an_ear_and_java_serialization() {
    let mut g = KeyGen::new(2402);
    let (k1, k2, k3) = (g.key(), g.key(), g.key());
    let base = g.key();
    let near = long_secret(&mut g, &base);
    let work = Tree::new();
    let class = format!(
        "package com.example;\npublic class Mail {{\n    public static final String KEY = \"{k1}\";\n    \
         public static final String LINE = \"{k2}\\n\";\n    public static final String NEAR = \"{near}\";\n}}\n"
    );
    let ser = "import java.io.*;\npublic class Ser {\n    public static void main(String[] a) throws Exception {\n        \
               try (ObjectOutputStream o = new ObjectOutputStream(new FileOutputStream(a[0]))) {\n            \
               o.writeObject(a[1]);\n            o.writeObject(new java.util.ArrayList<>(java.util.List.of(a[2], a[1])));\n        \
               }\n    }\n}\n"
        .to_string();
    if javac(work.root(), &[("Mail.java", class), ("Ser.java", ser)]).is_none() {
        return;
    }
    let dir = Tree::new();
    let ser_out = dir.root().join("session.ser");
    let ran = output(
        Command::new("java")
            .current_dir(work.root())
            .args(["-cp", "."])
            .arg("Ser")
            .arg(&ser_out)
            .args([&k3, &near]),
    );
    if ran.is_none() {
        return;
    }
    let bytes = std::fs::read(work.root().join("com/example/Mail.class")).unwrap();
    let jar = zip(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
        ("com/example/Mail.class", &bytes),
    ]);
    let war = zip(&[("WEB-INF/lib/mail.jar", &jar)]);
    let ear = zip(&[("app.war", &war)]);
    dir.write("dist/app.ear", ear);
    let doc = report(&dir);
    let member = "dist/app.ear!app.war!WEB-INF/lib/mail.jar!com/example/Mail.class";
    assert_eq!(paths(&doc, &k1), vec![member]);
    assert_eq!(paths(&doc, &k2), vec![member]);
    assert_eq!(paths(&doc, &k3), vec!["session.ser"]);
    assert_silent(&doc, &near, "a 44-character secret");
    assert_silent(&doc, &near[..69], "the first 69 characters of a near miss");
    assert_eq!(findings(&doc).len(), 3, "{}", scrub(&doc.to_string()));
}

/// A ULEB128 (dex), as the lengths these tests write are below 128: one byte.
fn short_len(s: &str) -> u8 {
    u8::try_from(s.len())
        .ok()
        .filter(|n| *n < 0x80)
        .expect("a short string")
}

/// A minimal `classes.dex`: the header magic, then a string data section per the dex format
/// (each string: ULEB128 length in UTF-16 units, MUTF-8 bytes, NUL), strings back to back.
fn dex(strings: &[&str]) -> Vec<u8> {
    let mut out = b"dex\n035\0".to_vec();
    out.extend_from_slice(&[0u8; 0x68]);
    for s in strings {
        out.push(short_len(s));
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out
}

#[test]
fn dex_string_data_in_an_apk_and_an_aab() {
    let mut g = KeyGen::new(2403);
    let (k1, k2) = (g.key(), g.key());
    let base = g.key();
    let near = long_secret(&mut g, &base);
    let dir = Tree::new();
    let apk = zip(&[
        ("AndroidManifest.xml", b"\x03\x00\x08\x00"),
        (
            "classes.dex",
            &dex(&["Landroid/app/Activity;", &k1, &near, "onCreate"]),
        ),
    ]);
    let aab = zip(&[("base/dex/classes.dex", &dex(&[&near, &k2, "send"]))]);
    dir.write("app-release.apk", apk);
    dir.write("app-release.aab", aab);
    let doc = report(&dir);
    assert_eq!(paths(&doc, &k1), vec!["app-release.apk!classes.dex"]);
    assert_eq!(paths(&doc, &k2), vec!["app-release.aab!base/dex/classes.dex"]);
    assert_silent(&doc, &near, "a 44-character secret");
    assert_eq!(findings(&doc).len(), 2, "{}", scrub(&doc.to_string()));
}

/// Redis RDB string length: 6 bits, or 14 bits in two bytes (`01` + the high 6 bits, then the low
/// 8), which for 69 is `@E`.
fn rdb_len(n: usize) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else {
        vec![0x40 | (n >> 8) as u8, n as u8]
    }
}

#[test]
fn msgpack_protobuf_and_redis_dump_hand_built_per_spec() {
    let mut g = KeyGen::new(2404);
    let (k1, k2, k3) = (g.key(), g.key(), g.key());
    let base = g.key();
    let near = long_secret(&mut g, &base);
    let dir = Tree::new();
    // msgpack: {"id": 300, "key": str8 key, "near": str8 near}: fixmap, fixstr, uint16, str8.
    let mut mp = vec![0x83, 0xa2];
    mp.extend_from_slice(b"id");
    mp.extend_from_slice(&[0xcd, 0x01, 0x2c, 0xa3]);
    mp.extend_from_slice(b"key");
    mp.extend_from_slice(&[0xd9, short_len(&k1)]);
    mp.extend_from_slice(k1.as_bytes());
    mp.extend_from_slice(&[0xa4]);
    mp.extend_from_slice(b"near");
    mp.extend_from_slice(&[0xd9, short_len(&near)]);
    mp.extend_from_slice(near.as_bytes());
    dir.write("cache.msgpack", mp);
    // protobuf: field 1 varint 150, field 2 string key, field 3 string near, field 4 varint 1.
    let mut pb = vec![0x08, 0x96, 0x01, 0x12, short_len(&k2)];
    pb.extend_from_slice(k2.as_bytes());
    pb.extend_from_slice(&[0x1a, short_len(&near)]);
    pb.extend_from_slice(near.as_bytes());
    pb.extend_from_slice(&[0x20, 0x01]);
    dir.write("config.pb", pb);
    // A one-field protobuf: all ASCII but its tags (`0a 45` + key + `10 01`), no NUL.
    let k4 = g.key();
    let mut one = vec![0x0a, short_len(&k4)];
    one.extend_from_slice(k4.as_bytes());
    one.extend_from_slice(&[0x10, 0x01]);
    dir.write("one.pb", one);
    // Text with a tab and an escape (a terminal log) is still text: `E` + key there is a near miss.
    let k5 = g.key();
    dir.write("term.log", format!("\x1b[1m\tE{k5}\n"));
    // RDB 9: header, an aux field, SELECTDB 0, RESIZEDB, two string entries, EOF and a checksum.
    let mut rdb = b"REDIS0009".to_vec();
    rdb.push(0xfa);
    for s in ["redis-ver", "7.0.0"] {
        rdb.extend(rdb_len(s.len()));
        rdb.extend_from_slice(s.as_bytes());
    }
    rdb.extend_from_slice(&[0xfe, 0x00, 0xfb, 0x02, 0x00]);
    for (name, value) in [("sendgrid:key", &k3), ("sendgrid:near", &near)] {
        rdb.push(0x00);
        rdb.extend(rdb_len(name.len()));
        rdb.extend_from_slice(name.as_bytes());
        rdb.extend(rdb_len(value.len()));
        rdb.extend_from_slice(value.as_bytes());
    }
    rdb.push(0xff);
    rdb.extend_from_slice(&[0; 8]);
    dir.write("dump.rdb", rdb);
    let doc = report(&dir);
    assert_eq!(paths(&doc, &k1), vec!["cache.msgpack"]);
    assert_eq!(paths(&doc, &k2), vec!["config.pb"]);
    assert_eq!(paths(&doc, &k3), vec!["dump.rdb"]);
    assert_eq!(paths(&doc, &k4), vec!["one.pb"]);
    assert_silent(&doc, &k5, "E + key in text with a tab and an escape");
    assert_silent(&doc, &near, "a 44-character secret");
    assert_eq!(findings(&doc).len(), 4, "{}", scrub(&doc.to_string()));
}

#[test]
fn a_glued_length_byte_is_accepted_only_in_binary_files_and_for_canonical_keys() {
    let mut g = KeyGen::new(2405);
    let dir = Tree::new();
    let binary = |body: &[u8]| [b"\x00\x01bin\xff".as_slice(), body, b"\x00".as_slice()].concat();
    let text = |body: &[u8]| [b"value: ".as_slice(), body, b"\n".as_slice()].concat();
    // Found: the key after its length, in a binary file.
    let found = g.key();
    dir.write("found.bin", binary(&[b"E", found.as_bytes(), b"zq"].concat()));
    // Silent: in a text file; after another letter; not canonical; a string of 70 that is no key
    // and a newline; a length one off.
    let in_text = g.key();
    dir.write("config.txt", text(&[b"E", in_text.as_bytes()].concat()));
    let glued = g.key();
    dir.write("glued.bin", binary(&[b"x", glued.as_bytes()].concat()));
    let odd = not_canonical(&g.key());
    dir.write("odd.bin", binary(&[b"E", odd.as_bytes()].concat()));
    let seventy = g.key();
    dir.write("seventy.bin", binary(&[b"F", seventy.as_bytes(), b"x"].concat()));
    let off = g.key();
    dir.write("off.bin", binary(&[b"D", off.as_bytes()].concat()));
    // A source file in Latin-1 (`é` is one byte, not UTF-8) is not UTF-8 but is text.
    let latin1 = g.key();
    dir.write(
        "latin1.js",
        [b"// caf\xe9\nvar a = \"E".as_slice(), latin1.as_bytes(), b"\";\n"].concat(),
    );
    let doc = report(&dir);
    assert_eq!(paths(&doc, &found), vec!["found.bin"]);
    assert_eq!(str_at(finding(&doc, &found), "confidence"), "high");
    for (key, what) in [
        (&in_text, "a key glued to `E` in a text file"),
        (&glued, "a key glued to `x` in a binary file"),
        (&odd, "a non-canonical key after `E`"),
        (&seventy, "a key and another character after `F`"),
        (&off, "a key after `D`"),
        (&latin1, "a key glued to `E` in a Latin-1 text file"),
    ] {
        assert_silent(&doc, key, what);
    }
    assert_eq!(findings(&doc).len(), 1, "{}", scrub(&doc.to_string()));
}

// ---------------------------------------------------------------------------------------------
// UTF-16 strings inside binaries
// ---------------------------------------------------------------------------------------------

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// A .NET `#US` heap blob: compressed length of the UTF-16 bytes and the trailing flag byte, the
/// UTF-16LE string, the flag.
fn us_blob(s: &str) -> Vec<u8> {
    let body = utf16le(s);
    let n = body.len() + 1;
    let mut out = if n < 0x80 {
        vec![n as u8]
    } else {
        vec![0x80 | (n >> 8) as u8, n as u8]
    };
    out.extend(body);
    out.push(0);
    out
}

#[test]
fn utf16_strings_inside_a_dotnet_assembly_and_a_registry_hive() {
    let mut g = KeyGen::new(2406);
    let (k1, k2, k3) = (g.key(), g.key(), g.key());
    let base = g.key();
    let near = long_secret(&mut g, &base);
    let glued = g.key();
    let dir = Tree::new();
    // A PE image with metadata streams; its #US heap holds the strings of the code.
    let mut pe = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    pe.extend_from_slice(&[0u8; 120]);
    pe.extend_from_slice(b"PE\0\0BSJB\x01\x00\x01\x00#~\0\0#Strings\0\0#US\0");
    pe.push(0);
    for s in ["Sending mail", &k1, &near, &format!("x{glued}"), "Done"] {
        pe.extend(us_blob(s));
    }
    pe.extend_from_slice(&[0u8; 64]);
    dir.write("bin/Mailer.dll", pe);
    // A registry hive: a REG_SZ value's data cell (negative size, UTF-16LE, NUL).
    let mut hive = b"regf".to_vec();
    hive.extend_from_slice(&[0u8; 4092]);
    hive.extend_from_slice(b"hbin");
    hive.extend_from_slice(&[0u8; 28]);
    let data = [utf16le(&k2), vec![0, 0]].concat();
    hive.extend_from_slice(&(-((data.len() + 4) as i32)).to_le_bytes());
    hive.extend(data);
    hive.extend_from_slice(&[0u8; 32]);
    dir.write("NTUSER.DAT", hive);
    // Big-endian UTF-16 in a binary blob.
    // (Not UTF-16 text as a whole: a header of other bytes comes first.)
    let header: Vec<u8> = (1..=255u8).collect();
    let be = [
        header,
        b"\x00\x00\xca\xfe".to_vec(),
        utf16be(&k3),
        vec![0, 0, 0xff],
    ]
    .concat();
    dir.write("strings.be.bin", be);
    let doc = report(&dir);
    assert_eq!(paths(&doc, &k1), vec!["bin/Mailer.dll"]);
    assert_eq!(paths(&doc, &k2), vec!["NTUSER.DAT"]);
    assert_eq!(paths(&doc, &k3), vec!["strings.be.bin"]);
    assert_silent(&doc, &near, "a 44-character secret in UTF-16");
    assert_silent(
        &doc,
        &near[..69],
        "the first 69 characters of a near miss in UTF-16",
    );
    assert_silent(&doc, &glued, "a key glued to a letter in UTF-16");
    assert_eq!(findings(&doc).len(), 3, "{}", scrub(&doc.to_string()));
}
