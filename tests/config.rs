//! `.sgscan.toml` end to end: found at the scanned root or given with `--config`, flags over it,
//! its errors, path ignores (there and in `.sgscanignore`), and what a found file may not do.
//! Keys are generated at run time; no key literal is written here.

use std::path::Path;

use serde_json::Value;

use crate::archive::zip;
use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{
    KeyGen, Run, Tree, assert_run_leaks_nothing, env_line, find, finding, fps, scan, set, summary,
    verification, write,
};

/// `sgscan dir -f json EXTRA…` in `cwd`.
fn dir_json(cwd: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["dir", "-f", "json"];
    args.extend_from_slice(extra);
    scan(cwd, &args)
}

/// The paths of the finding's listed locations.
fn paths(doc: &Value, key: &str) -> Vec<String> {
    finding(doc, key)["locations"]
        .as_array()
        .expect("`locations` is an array")
        .iter()
        .map(|l| l["path"].as_str().expect("a location has a path").to_string())
        .collect()
}

// Precedence

sgtest!(config_fail_on_from_the_file_and_the_flag_over_it, |dir, cmd| {
    let key = KeyGen::new(0xc0_01).key();
    dir.write("app.env", env_line(&key));
    dir.write(".sgscan.toml", "[scan]\nfail_on = \"none\"\n");

    let r = dir_json(dir.root(), &[]);
    r.expect_code(0);
    assert_eq!(fps(&r.json()), set(&[&key]), "the key is still reported:\n{r}");
    dir_json(dir.root(), &["--fail-on", "any"]).expect_code(1);
    assert_run_leaks_nothing(&r, &[&key]);
});

sgtest!(
    config_given_file_replaces_the_found_one_and_no_config_skips_it,
    |dir, cmd| {
        let key = KeyGen::new(0xc0_02).key();
        let root = dir.scan_dir();
        dir.put("app.env", &env_line(&key));
        dir.put(".sgscan.toml", "[scan]\nfail_on = \"none\"\n");
        let scanned = root.to_str().unwrap();

        // Found at the scanned root (the first PATH), whatever the current directory.
        dir_json(dir.root(), &[scanned]).expect_code(0);
        dir_json(dir.root(), &[scanned, "--no-config"]).expect_code(1);

        // A given file is read instead of the found one, not as well.
        let given = dir.outside("team.toml");
        std::fs::write(&given, "[scan]\nmax_file_size = \"1M\"\n").unwrap();
        dir_json(dir.root(), &[scanned, "--config", given.to_str().unwrap()]).expect_code(1);
        std::fs::write(&given, "[scan]\nfail_on = \"none\"\nmax_file_size = \"10\"\n").unwrap();
        let r = dir_json(dir.root(), &[scanned, "--config", given.to_str().unwrap()]);
        r.expect_code(0);
        // Its max_file_size applied: the key's file is skipped, not scanned.
        assert!(find(&r.json(), &key).is_none(), "{r}");

        let r = dir_json(dir.root(), &[scanned, "--config", "missing.toml"]);
        r.expect_code(2);
        assert!(r.stderr.contains("missing.toml"), "{r}");
        let r = dir_json(dir.root(), &[scanned, "--config", "x.toml", "--no-config"]);
        r.expect_code(2);
    }
);

// Errors

sgtest!(
    config_unknown_keys_and_bad_values_name_the_file_line_and_column,
    |dir, cmd| {
        let key = KeyGen::new(0xc0_03).key();
        dir.write("app.env", env_line(&key));
        let cases: &[(&str, &str)] = &[
            (
                "[scan]\nfail_on = \"any\"\ncolour = true\n",
                ".sgscan.toml:3:1: unknown field `colour`",
            ),
            (
                "[scna]\nfail_on = \"any\"\n",
                ".sgscan.toml:1:2: unknown field `scna`",
            ),
            ("[scan]\nfail_on = \"sometimes\"\n", ".sgscan.toml:2:11:"),
            ("[scan]\nmax_file_size = \"5X\"\n", ".sgscan.toml:2:17:"),
            ("[archive]\nmax_ratio = -1\n", ".sgscan.toml:2:13:"),
            (
                "[ignore]\npaths = [\"ok/**\", \"[z-a]\"]\n",
                ".sgscan.toml:2:19: bad path glob",
            ),
            (
                "[ignore]\nfingerprints = [{ fingerprint = \"0123abcd\", reason = \"short\" }]\n",
                ".sgscan.toml:2:17: not a SHA-256 fingerprint",
            ),
            ("[policy]\nallowed_scopes = \"mail.send\"\n", ".sgscan.toml:2:18:"),
            // Valid in itself, but not without --verify: said with where it was set.
            (
                "[scan]\nfail_on = \"live\"\n",
                ".sgscan.toml:2:11: fail_on = \"live\" needs --verify",
            ),
        ];
        for (text, expected) in cases {
            dir.write(".sgscan.toml", text);
            let r = dir_json(dir.root(), &[]);
            r.expect_code(2);
            assert!(
                r.stderr.contains(expected),
                "for {text:?} stderr should hold {expected:?}:\n{r}"
            );
            assert!(r.stdout.is_empty(), "no report for a bad config:\n{r}");
        }
    }
);

// Path ignores

sgtest!(
    config_path_globs_in_the_file_and_in_sgscanignore_dir,
    |dir, cmd| {
        let mut g = KeyGen::new(0xc0_04);
        let (fixture, snapshot, real) = (g.key(), g.key(), g.key());
        let root = dir.scan_dir();
        dir.put("fixtures/deep/a.env", &env_line(&fixture));
        dir.put("src/ui.snap", &env_line(&snapshot));
        dir.put("fixtures/b.env", &env_line(&real));
        dir.put("src/app.env", &env_line(&real));
        // A path the glob names, outside the root it is relative to: not ignored.
        dir.write("fixtures/outside.env", env_line(&fixture));
        dir.put(".sgscan.toml", "[ignore]\npaths = [\"fixtures/**\"]\n");
        dir.put(".sgscanignore", "# snapshots hold fake keys\n*.snap\n");

        // Scanned by absolute path from the directory above: globs are relative to the scanned root.
        let r = dir_json(dir.root(), &[root.to_str().unwrap()]);
        r.expect_code(1);
        let doc = r.json();
        assert_eq!(fps(&doc), set(&[&real]), "{r}");
        let shown = paths(&doc, &real);
        assert_eq!(shown.len(), 1, "the ignored location is dropped: {shown:?}");
        assert!(shown[0].ends_with("scan/src/app.env"), "{shown:?}");
        assert_eq!(finding(&doc, &real)["location_count"], 1, "{r}");
        assert_eq!(summary(&doc, "allowed"), 2, "{r}");

        // Scanned from inside, by a relative path.
        let r = dir_json(&root, &["."]);
        assert_eq!(fps(&r.json()), set(&[&real]), "{r}");

        // The whole tree, with that file given: its globs are relative to what is scanned now.
        let given = root.join(".sgscan.toml");
        let r = dir_json(dir.root(), &[".", "--config", given.to_str().unwrap()]);
        let doc = r.json();
        assert_eq!(fps(&doc), set(&[&fixture, &snapshot, &real]), "{r}");
        assert_eq!(paths(&doc, &fixture), ["scan/fixtures/deep/a.env"], "{r}");
        assert_eq!(paths(&doc, &real).len(), 2, "{r}");
        assert_run_leaks_nothing(&r, &[&fixture, &snapshot, &real]);
    }
);

sgtest!(
    config_path_globs_match_git_paths_and_archive_outer_paths,
    |dir, cmd| {
        let mut g = KeyGen::new(0xc0_05);
        let (fixture, legacy, zipped, real) = (g.key(), g.key(), g.key(), g.key());
        let repo = Repo::init(&dir.root().join("repo"));
        repo.write("fixtures/a.env", &env_line(&fixture));
        repo.write("old/legacy.env", &env_line(&legacy));
        repo.write("src/app.env", &env_line(&real));
        write(
            &repo.path,
            "vendor/bundle.zip",
            zip(&[("conf/app.env", env_line(&zipped).as_bytes())]),
        );
        repo.commit("add");
        // Gone from the tree, still in history: matched by the path in the commit.
        repo.git(&["rm", "-q", "-r", "fixtures", "old"]);
        repo.write(
            ".sgscan.toml",
            "[ignore]\npaths = [\"fixtures/\", \"vendor/*.zip\"]\n",
        );
        repo.write(".sgscanignore", "/old/*.env\n");
        repo.commit("drop fixtures");

        // From outside the repository: globs are relative to its top, as the commit's paths are.
        let r = scan(
            dir.root(),
            &["git", "-q", "-f", "json", repo.path.to_str().unwrap()],
        );
        r.expect_code(1);
        let doc = r.json();
        assert_eq!(fps(&doc), set(&[&real]), "{r}");
        assert_eq!(summary(&doc, "allowed"), 3, "{r}");
        assert_run_leaks_nothing(&r, &[&fixture, &legacy, &zipped, &real]);

        let r = scan(
            dir.root(),
            &[
                "git",
                "-q",
                "-f",
                "json",
                "--no-config",
                repo.path.to_str().unwrap(),
            ],
        );
        // Nothing from the tree: not the config, not `.sgscanignore` either (issue #22).
        assert_eq!(fps(&r.json()), set(&[&fixture, &legacy, &zipped, &real]), "{r}");
    }
);

// What a found file may not do

#[test]
fn config_api_url_only_from_a_given_file() {
    let mock = MockSendGrid::start();
    let tree = Tree::new();
    let key = KeyGen::new(0xc0_06).key();
    mock.set(&key, Behavior::live(&["mail.send"]));
    tree.put("app.env", &env_line(&key));
    let api = format!("[api]\nurl = \"{}\"\n", mock.url());
    tree.put(".sgscan.toml", &api);
    let root = tree.scan_dir();

    // Found in the tree: refused, before anything is sent anywhere.
    let r = scan(
        tree.root(),
        &["dir", "-f", "json", "--verify", root.to_str().unwrap()],
    );
    r.expect_code(2);
    assert!(r.stderr.contains(".sgscan.toml:1:1: refusing [api]"), "{r}");
    assert!(
        r.stderr.contains("--config"),
        "the error says how to trust it:\n{r}"
    );
    assert!(mock.requests().is_empty(), "nothing sent");

    // The same file given: honored.
    let given = tree.outside("team.toml");
    std::fs::write(&given, &api).unwrap();
    let r = scan(
        tree.root(),
        &[
            "dir",
            "-f",
            "json",
            "--verify",
            "--config",
            given.to_str().unwrap(),
            root.to_str().unwrap(),
        ],
    );
    r.expect_code(1);
    assert_eq!(verification(&r.json(), &key)["status"], "live", "{r}");
    assert!(!mock.requests().is_empty(), "the key went to the configured API");
    assert_run_leaks_nothing(&r, &[&key]);
}

sgtest!(config_found_file_may_lower_limits_never_raise_them, |dir, cmd| {
    let key = KeyGen::new(0xc0_07).key();
    dir.write("app.env", env_line(&key));
    dir.write(".sgscan.toml", "[archive]\nmax_ratio = 10\nmax_members = 5\n");
    dir_json(dir.root(), &[]).expect_code(1);
    for text in [
        "[archive]\nmax_ratio = 100000\n",
        "[archive]\nmax_size = \"100G\"\n",
        "[scan]\nmax_file_size = \"1G\"\n",
    ] {
        dir.write(".sgscan.toml", text);
        let r = dir_json(dir.root(), &[]);
        r.expect_code(2);
        assert!(
            r.stderr.contains(".sgscan.toml:2:") && r.stderr.contains("refusing"),
            "{r}"
        );
        let r = dir_json(dir.root(), &["--config", ".sgscan.toml"]);
        r.expect_code(1);
    }
});

// Policy

#[test]
fn config_policy_flags_scopes_beyond_the_allowed_ones() {
    let mock = MockSendGrid::start();
    let tree = Tree::new();
    let key = KeyGen::new(0xc0_08).key();
    mock.set(&key, Behavior::live(&["mail.send", "templates.read"]));
    tree.put("app.env", &env_line(&key));
    tree.put(".sgscan.toml", "[policy]\nallowed_scopes = [\"mail.send\"]\n");
    let root = tree.scan_dir();
    let url = mock.url();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "dir",
            "-f",
            "json",
            "--verify",
            "--api-url",
            &url,
            root.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let r = scan(tree.root(), &args);
        r.expect_code(1);
        assert_run_leaks_nothing(&r, &[&key]);
        r.json()
    };

    let doc = verify(&[]);
    assert_eq!(
        verification(&doc, &key)["policy_violations"],
        serde_json::json!(["templates.read"]),
        "{doc}"
    );
    // --policy FILE wins over the file's [policy].
    let wide = tree.outside("policy.toml");
    std::fs::write(&wide, "allowed_scopes = [\"mail.send\", \"templates.*\"]\n").unwrap();
    let doc = verify(&["--policy", wide.to_str().unwrap()]);
    let v = &verification(&doc, &key)["policy_violations"];
    assert!(v.is_null() || *v == serde_json::json!([]), "{doc}");
}

// `--no-config`: no file from the scanned tree changes the result (issue #22)

sgtest!(config_no_config_drops_ignore_files_and_markers_too, |dir, cmd| {
    let mut keys = KeyGen::new(0xc0_22);
    let (listed, marked) = (keys.key(), keys.key());
    dir.write("a.env", env_line(&listed));
    dir.write("b.sh", format!("KEY={marked}  # sgscan:allow\n"));
    dir.write(".sgscanignore", format!("{}\n", crate::util::fp(&listed)));

    // By default both are allowed, and listed with what allowed them.
    let r = dir_json(dir.root(), &[]);
    r.expect_code(0);
    let doc = r.json();
    assert_eq!(summary(&doc, "allowed"), 2, "{r}");
    let by: Vec<(String, String)> = doc["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let b = &a["locations"][0]["allowed_by"];
            (
                b["kind"].as_str().unwrap().into(),
                b["file"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("ignore-file".to_string(), ".sgscanignore".to_string()),
            ("inline".to_string(), "b.sh".to_string())
        ],
        "{r}"
    );

    // JSONL: an `allowed` line each (checked against `sgscan schema jsonl`), merged back whole.
    let r = scan(dir.root(), &["dir", "-f", "jsonl", "-o", "out.jsonl"]);
    r.expect_code(0);
    let text = std::fs::read_to_string(dir.root().join("out.jsonl")).unwrap();
    let lines = crate::util::jsonl(&text, "out.jsonl");
    assert_eq!(
        lines.iter().filter(|l| l["type"] == "allowed").count(),
        2,
        "{text}"
    );
    let merged = scan(dir.root(), &["merge", "-f", "json", "out.jsonl"]);
    assert_eq!(
        merged.json()["allowed"].as_array().map(Vec::len),
        Some(2),
        "{merged}"
    );

    let r = dir_json(dir.root(), &["--no-config"]);
    r.expect_code(1);
    assert_eq!(fps(&r.json()), set(&[&listed, &marked]), "{r}");
    assert_eq!(summary(&r.json(), "allowed"), 0, "{r}");
    // `--no-inline-allow` turns only the markers off.
    let r = dir_json(dir.root(), &["--no-inline-allow"]);
    r.expect_code(1);
    assert_eq!(fps(&r.json()), set(&[&marked]), "{r}");
    assert_run_leaks_nothing(&r, &[&listed, &marked]);
});
