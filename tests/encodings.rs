//! Keys written through text escapes, in UTF-16 text, and the confidence of what is found: each
//! case drives the binary on a scratch tree and reads the JSON report.
//!
//! No key literal appears in this file: keys are generated at run time.

use serde_json::Value;

use crate::util::{KeyGen, finding, findings, scan, scrub, str_at, u64_at};

/// (line, column, encoding) of every location of `key`'s finding in `path`.
fn places(doc: &Value, key: &str, path: &str) -> Vec<(u64, u64, String)> {
    finding(doc, key)["locations"]
        .as_array()
        .expect("`locations` is an array")
        .iter()
        .filter(|l| l["path"] == path)
        .map(|l| {
            (
                u64_at(l, "line"),
                u64_at(l, "column"),
                str_at(l, "encoding").to_string(),
            )
        })
        .collect()
}

/// Writes each `(file, contents)` with its key at line 1, column `prefix.len() + 1` and checks that
/// the JSON report has exactly those keys there, with `encoding`.
fn assert_found_at_line_1(cases: &[(&str, String, String, usize)], encoding: &str) {
    let dir = crate::util::Tree::new();
    for (file, contents, _, _) in cases {
        dir.write(file, contents);
    }
    let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    for (file, contents, key, column) in cases {
        assert_eq!(
            places(&doc, key, file),
            vec![(1, *column as u64, encoding.to_string())],
            "{file}: {}",
            scrub(contents)
        );
    }
    assert_eq!(findings(&doc).len(), cases.len(), "{}", scrub(&doc.to_string()));
}

// Text escapes around the key

#[test]
fn key_right_after_a_text_escape_is_found() {
    let mut g = KeyGen::new(1201);
    // (file, text before the key, text after it)
    let shapes: &[(&str, &str, &str)] = &[
        ("newline.json", r#"{"out": "sending\n"#, r#"\n"}"#),
        ("crlf.tfstate", r#"{"value": "A=1\r\n"#, r#"\r\n"}"#),
        ("tab.log", r#"{"msg": "key:\t"#, r#"\t"}"#),
        ("nul.js", r#"s = "\0"#, r#"";"#),
        ("backslash.json", r#"{"path": "C:\\keys\\"#, r#""}"#),
        ("gson.json", r#"{"env": "SENDGRID_API_KEY\u003d"#, r#""}"#),
        ("hex.py", r#"s = "key\x3d"#, r#"""#),
        ("entity.html", r#"<pre>key=&quot;"#, r#"&quot;</pre>"#),
    ];
    let cases: Vec<(&str, String, String, usize)> = shapes
        .iter()
        .map(|(file, before, after)| {
            let key = g.key();
            (
                *file,
                format!("{before}{key}{after}\n"),
                key,
                before.chars().count() + 1,
            )
        })
        .collect();
    assert_found_at_line_1(&cases, "plain");
}

sgtest!(
    a_letter_after_an_escaped_backslash_or_an_escaped_key_character_still_glues,
    |dir, cmd| {
        let mut g = KeyGen::new(1202);
        // `\\n` is a backslash and then the letter n; `\u0041` is the letter A: in the text they stand
        // for, the match is part of a longer token.
        dir.write("a.json", format!("{{\"a\": \"x\\\\n{}\"}}\n", g.key()));
        dir.write("b.json", format!("{{\"b\": \"\\u0041{}\"}}\n", g.key()));
        dir.write("c.py", format!("s = '\\x41{}'\n", g.key()));
        let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
        assert_eq!(run.code, 0, "{run}");
        assert!(findings(&run.json()).is_empty(), "{run}");
    }
);

#[test]
fn dots_written_as_text_escapes_are_decoded() {
    let mut g = KeyGen::new(1203);
    // (file, text before the key, the key as written with `{id}` and `{secret}`, text after it,
    // encoding)
    type Shape = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );
    let shapes: &[Shape] = &[
        (
            "u.json",
            r#"{"k": ""#,
            r"SG\u002e{id}\u002E{secret}",
            r#""}"#,
            "unicode-escape",
        ),
        ("x.py", "k = '", r"SG\x2e{id}\x2E{secret}", "'", "unicode-escape"),
        (
            "dec.html",
            "<input value=\"",
            "SG&#46;{id}&#046;{secret}",
            "\">",
            "html-entity",
        ),
        (
            "hex.html",
            "<td>",
            "SG&#x2E;{id}&#x2e;{secret}",
            "</td>",
            "html-entity",
        ),
        (
            "named.html",
            "<td>",
            "SG&period;{id}&period;{secret}",
            "</td>",
            "html-entity",
        ),
        (
            "dots.url",
            "https://example.net/cb?token=",
            "SG%2E{id}%2e{secret}",
            "&to=ops",
            "percent",
        ),
    ];
    for (file, before, written, after, encoding) in shapes {
        let (key, id, secret) = g.parts();
        let text = written.replace("{id}", &id).replace("{secret}", &secret);
        let case = vec![(
            *file,
            format!("{before}{text}{after}\n"),
            key,
            before.chars().count() + 1,
        )];
        assert_found_at_line_1(&case, encoding);
    }
}

// UTF-16

fn utf16(text: &str, little: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    for u in units {
        out.extend_from_slice(&if little { u.to_le_bytes() } else { u.to_be_bytes() });
    }
    out
}

sgtest!(
    utf16_text_is_searched_with_lines_and_columns_in_characters,
    |dir, cmd| {
        let mut g = KeyGen::new(1204);
        let mut expected = Vec::new();
        for (file, little, bom) in [
            ("le-bom.reg", true, true),
            ("be-bom.txt", false, true),
            ("le.ps1", true, false),
            ("be.cfg", false, false),
        ] {
            let (first, second) = (g.key(), g.key());
            // A character outside the BMP (a surrogate pair) counts as one column.
            let text =
                format!("k={first}\r\n[HKEY_CURRENT_USER\\Software\\Mailer]\r\n\"Émoji😀\"=\"{second}\"\r\n");
            dir.write(file, utf16(&text, little, bom));
            expected.push((file, first, 1, 3));
            expected.push((file, second, 3, 11));
        }
        let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
        assert_eq!(run.code, 1, "{run}");
        let doc = run.json();
        for (file, key, line, column) in &expected {
            assert_eq!(
                places(&doc, key, file),
                vec![(*line, *column, "plain".to_string())],
                "{file}"
            );
        }
        assert_eq!(findings(&doc).len(), expected.len());
    }
);

sgtest!(utf16_blob_in_git_history_is_searched_as_text, |dir, cmd| {
    let repo = crate::util::git::Repo::init(&dir.root().join("repo"));
    let key = KeyGen::new(1208).key();
    let path = repo.path.join("settings.reg");
    let text = format!("Windows Registry Editor Version 5.00\r\n\r\n\"ApiKey\"=\"{key}\"\r\n");
    std::fs::write(&path, utf16(&text, true, true)).unwrap();
    let commit = repo.commit("settings");
    std::fs::remove_file(&path).unwrap();
    repo.commit("drop the settings");
    let run = scan(&repo.path, &["git", ".", "--format", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let l = &finding(&doc, &key)["locations"][0];
    assert_eq!(
        (
            str_at(l, "path"),
            u64_at(l, "line"),
            u64_at(l, "column"),
            str_at(l, "commit")
        ),
        ("settings.reg", 3, 11, commit.as_str())
    );
});

sgtest!(
    binary_data_with_nul_bytes_is_still_searched_as_bytes,
    |dir, cmd| {
        // Little-endian 16-bit numbers look like UTF-16 text by their NUL bytes; an ASCII key among
        // them is still found.
        let key = KeyGen::new(1205).key();
        let mut data: Vec<u8> = (0..2000u16).flat_map(|n| (n % 90 + 32).to_le_bytes()).collect();
        data.extend_from_slice(format!("\n{key}\n").as_bytes());
        dir.write("table.bin", data);
        let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(
            places(&run.json(), &key, "table.bin"),
            vec![(2, 1, "plain".to_string())]
        );
    }
);

// Confidence

/// `key` with the last character of its id and of its secret set to `id_last` and `secret_last`.
fn with_last_chars(key: &str, id_last: char, secret_last: char) -> String {
    let (id, secret) = (&key[3..25], &key[26..]);
    format!("SG.{}{id_last}.{}{secret_last}", &id[..21], &secret[..42])
}

sgtest!(
    confidence_is_high_for_canonical_keys_and_medium_otherwise,
    |dir, cmd| {
        let mut g = KeyGen::new(1206);
        let canonical = g.key();
        // Each segment alone breaks canonical base64url: id's 22nd character outside `AQgw`, or the
        // secret's 43rd outside `AEIMQUYcgkosw048`.
        let bad_id = with_last_chars(&g.key(), 'B', 'A');
        let bad_secret = with_last_chars(&g.key(), 'Q', 'z');
        let normalised = with_last_chars(&g.key(), 'w', '8');
        let keys = [&canonical, &bad_id, &bad_secret, &normalised];
        for (i, k) in keys.iter().enumerate() {
            dir.write(&format!("k{i}.env"), format!("SENDGRID_API_KEY={k}\n"));
        }
        let doc = scan(dir.root(), &["dir", ".", "--format", "json"]).json();
        let confidence = |k: &str| str_at(finding(&doc, k), "confidence").to_string();
        assert_eq!(
            keys.map(|k| confidence(k)),
            ["high", "medium", "medium", "high"],
            "{}",
            scrub(&doc.to_string())
        );

        let sarif: Value = serde_json::from_slice(&scan(dir.root(), &["dir", ".", "--format", "sarif"]).out)
            .expect("SARIF is JSON");
        let results = sarif["runs"][0]["results"].as_array().expect("SARIF results");
        let mut by_confidence: Vec<&str> = results
            .iter()
            .map(|r| str_at(&r["properties"], "confidence"))
            .collect();
        by_confidence.sort_unstable();
        assert_eq!(by_confidence, ["high", "high", "medium", "medium"]);

        let human = scan(dir.root(), &["dir", "."]);
        assert_eq!(human.code, 1);
        assert_eq!(
            human.stdout.matches("confidence medium").count(),
            2,
            "{}",
            scrub(&human.stdout)
        );
        assert_eq!(
            human.stdout.matches("confidence high").count(),
            2,
            "{}",
            scrub(&human.stdout)
        );
    }
);

// Nested encodings

sgtest!(
    base64_of_base64_and_of_percent_is_found_with_the_chain,
    |dir, cmd| {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let mut g = KeyGen::new(1207);
        let mut expected = Vec::new();
        // (file, inner text around the key's encoding, outer encoder, chain)
        type Encode = fn(&[u8]) -> String;
        let cases: [(&str, &str, Encode, &str); 3] = [
            (
                "secret.yaml",
                "APP=mailer\nSENDGRID_API_KEY={inner}\nREGION=eu\n",
                |b| STANDARD.encode(b),
                "base64>base64",
            ),
            (
                "url.yaml",
                "{inner}???",
                |b| URL_SAFE_NO_PAD.encode(b),
                "base64url>base64",
            ),
            (
                "pct.yaml",
                "next=/send?key={inner}&to=ops",
                |b| STANDARD.encode(b),
                "base64>percent",
            ),
        ];
        let prefix = "  env: ";
        for (file, around, outer, chain) in cases {
            let key = g.key();
            // The key's own encoding: an `.env` in base64, or the key %XX-encoded.
            let (encoded, at) = if chain.ends_with("percent") {
                (key.bytes().map(|b| format!("%{b:02X}")).collect::<String>(), 0)
            } else {
                let env = format!("{}\nSENDGRID_API_KEY={key}\n", g.token(7));
                let at = env.find("SG.").expect("the keyword");
                // Reported at the base64 quantum the keyword starts in.
                (STANDARD.encode(&env), 4 * (at / 3))
            };
            let inner = around.replace("{inner}", &encoded);
            let inner_offset = inner.find(&encoded).expect("the encoded key") + at;
            let value = outer(inner.as_bytes());
            assert_eq!(
                value.contains(['-', '_']),
                chain.starts_with("base64url"),
                "{chain}: {value}"
            );
            dir.write(file, format!("kind: Secret\ndata:\n{prefix}{value}\n"));
            // Reported at the outer quantum that holds the first character of the inner place.
            let column = prefix.len() + 1 + 4 * (inner_offset / 3);
            expected.push((file, key, column, chain));
        }
        let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
        assert_eq!(run.code, 1, "{run}");
        let doc = run.json();
        for (file, key, column, chain) in &expected {
            assert_eq!(
                places(&doc, key, file),
                vec![(3, *column as u64, chain.to_string())],
                "{file}"
            );
        }
        assert_eq!(findings(&doc).len(), expected.len());
    }
);

// Invisible characters inside a key

sgtest!(
    invisible_characters_inside_a_key_are_removed_with_medium_confidence_and_a_note,
    |dir, cmd| {
        let mut g = KeyGen::new(2410);
        // Inserts `chars` into the key at the given character offsets (after `SG.`).
        let spoil = |key: &str, at: &[(usize, &str)]| {
            let mut out = key.to_string();
            for (i, c) in at.iter().rev() {
                out.insert_str(*i, c);
            }
            out
        };
        let (zwsp, shy, marks, after) = (g.key(), g.key(), g.key(), g.key());
        dir.write(
            "zwsp.env",
            format!("SENDGRID_API_KEY={}\n", spoil(&zwsp, &[(13, "\u{200B}")])),
        );
        dir.write(
            "shy.md",
            format!("Key: `{}`\n", spoil(&shy, &[(30, "\u{AD}"), (50, "\u{AD}")])),
        );
        dir.write(
            "marks.json",
            format!(
                "{{\"k\": \"{}\"}}\n",
                spoil(
                    &marks,
                    &[(3, "\u{200F}"), (26, "\u{FEFF}"), (40, "\u{2060}\u{200D}")]
                )
            ),
        );
        // A character after the key is no part of it: the key is found as it is.
        dir.write("after.txt", format!("{after}\u{200B}\n"));
        // The same key, spoilt, elsewhere: its finding stays as sure as its form.
        dir.write("again.txt", format!("{}\n", spoil(&after, &[(9, "\u{200C}")])));
        // Near misses stay silent with an invisible character in them.
        let base = g.key();
        let long = format!("{base}{}", g.token(1));
        dir.write("long.env", format!("K={}\n", spoil(&long, &[(20, "\u{200B}")])));
        let glued = g.key();
        dir.write(
            "glued.env",
            format!("K=x{}\n", spoil(&glued, &[(20, "\u{200B}")])),
        );
        let placeholder = format!("SG.{}.{}", "x".repeat(22), &g.key()[26..]);
        dir.write(
            "placeholder.env",
            format!("K={}\n", spoil(&placeholder, &[(8, "\u{200B}")])),
        );

        let run = scan(dir.root(), &["dir", ".", "--format", "json"]);
        assert_eq!(run.code, 1, "{run}");
        let doc = run.json();
        let note = |k: &str, file: &str| -> (String, String, u64, u64) {
            let f = finding(&doc, k);
            let loc = f["locations"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["path"] == file))
                .unwrap_or_else(|| panic!("no location in {file}"));
            (
                str_at(f, "confidence").to_string(),
                loc["note"].as_str().unwrap_or("").to_string(),
                u64_at(loc, "line"),
                u64_at(loc, "column"),
            )
        };
        let (conf, text, line, column) = note(&zwsp, "zwsp.env");
        assert_eq!((conf.as_str(), line, column), ("medium", 1, 18));
        assert_eq!(
            text,
            "invisible characters removed from inside the key: U+200B ZERO WIDTH SPACE x1"
        );
        let (conf, text, ..) = note(&shy, "shy.md");
        assert_eq!(conf, "medium");
        assert!(text.ends_with("U+00AD SOFT HYPHEN x2"), "{text}");
        let (conf, text, ..) = note(&marks, "marks.json");
        assert_eq!(conf, "medium");
        for name in ["U+200D", "U+200F", "U+2060", "U+FEFF"] {
            assert!(text.contains(name), "{name} in {text}");
        }
        let (conf, text, ..) = note(&after, "after.txt");
        assert_eq!((conf.as_str(), text.as_str()), ("high", ""));
        let (conf, text, ..) = note(&after, "again.txt");
        assert_eq!(conf, "high");
        assert!(text.ends_with("U+200C ZERO WIDTH NON-JOINER x1"), "{text}");
        for (k, what) in [
            (&long, "a 44-character secret"),
            (&base, "its first 69 characters"),
            (&glued, "a glued key"),
            (&placeholder, "a placeholder"),
        ] {
            assert!(
                crate::util::find(&doc, k).is_none(),
                "{what} with an invisible character was reported: {}",
                scrub(&doc.to_string())
            );
        }
        assert_eq!(findings(&doc).len(), 4, "{}", scrub(&doc.to_string()));

        // The human report says what was removed.
        let human = scan(dir.root(), &["dir", "."]);
        assert_eq!(human.code, 1, "{human}");
        assert!(
            human
                .stdout
                .contains("(invisible characters removed from inside the key: U+200B ZERO WIDTH SPACE x1)"),
            "{human}"
        );
    }
);
