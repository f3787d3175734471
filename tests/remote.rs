//! `sgscan git URL…`: repositories cloned over smart HTTP (and `file://`) as bare mirrors with every
//! ref, into a kept `--clone-dir` or a temporary one; credentials never shown; `--state` re-runs
//! that sweep only what moved; `--shard` over repositories.

use std::path::Path;

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::githttp::{GitHttp, planted};
use crate::util::{KeyGen, env_line, fps, scan, set, skipped, u64_at};

fn repositories(doc: &Value) -> Vec<String> {
    let mut r: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["locations"].as_array().unwrap())
        .map(|l| l["repository"].as_str().unwrap_or("").to_string())
        .collect();
    r.sort();
    r.dedup();
    r
}

sgtest!(
    remote_http_keys_in_every_ref_found_and_the_token_nowhere,
    |dir, cmd| {
        let mut keys = KeyGen::new(260);
        let served = dir.root().join("srv");
        let (_, k) = planted(&served, "app", &mut keys, 3);
        let secret = keys.token(30);
        let server = GitHttp::with_auth(&served, "bot", &secret);
        let good = server.url_with("bot", &secret, "app.git");
        let missing = server.url_with("bot", &secret, "nope.git");
        // Refused at once: nothing listens on port 1.
        let dead = "http://127.0.0.1:1/gone.git";
        std::fs::write(
            dir.root().join("list"),
            format!("{missing}\n# and one that is not there\n{dead}\n"),
        )
        .unwrap();

        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                "-f",
                "json",
                &good,
                "--repos-file",
                "list",
                "-o",
                "report.json",
            ],
        );
        run.expect_code(1);
        let report = std::fs::read_to_string(dir.root().join("report.json")).unwrap();
        let doc: Value = serde_json::from_str(&report).unwrap();
        assert_eq!(fps(&doc), set(&[&k.old, &k.branch, &k.pull]));
        let clean = server.url("app.git");
        assert_eq!(repositories(&doc), vec![clean.clone()]);
        let skips = skipped(&doc);
        assert_eq!(skips.len(), 2, "{skips:?}");
        assert!(
            skips
                .iter()
                .any(|(p, r)| p.contains("nope.git") && r.contains("git clone")),
            "{skips:?}"
        );
        assert!(skips.iter().any(|(p, _)| p.contains("gone.git")), "{skips:?}");
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("report", &report),
        ] {
            assert!(!text.contains(&secret), "the secret is in {what}");
            assert!(!text.contains("bot:"), "the user:secret form is in {what}");
        }
        // The server was asked with the secret, so the clone did authenticate.
        assert!(server.requests().iter().any(|r| r.contains("/app.git/info/refs")));

        // Without it, the server says 401: a skip (git cannot prompt), and the run an error, as
        // nothing could be swept.
        let run = scan(dir.root(), &["git", "-q", "-f", "json", &clean]);
        run.expect_code(2);
        assert!(
            run.stderr.contains("none of the 1 repositories") || run.stderr.contains("could not"),
            "{}",
            run.stderr
        );
    }
);

sgtest!(
    remote_plain_http_elsewhere_is_refused_and_file_urls_work,
    |dir, cmd| {
        let run = scan(
            dir.root(),
            &["git", "-q", "http://someone:pw7xq@example.com/org/app.git"],
        );
        run.expect_code(2);
        assert!(run.stderr.contains("in the clear"), "{}", run.stderr);
        assert!(!run.all().contains("pw7xq"), "{}", run.all());

        let mut keys = KeyGen::new(261);
        let (_, k) = planted(dir.root(), "app", &mut keys, 1);
        let url = format!("file://{}", dir.root().join("app.git").display());
        // The temporary mirror is gone when the run ends, as is the one of a clone that failed.
        let tmp = dir.root().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let gone = format!("file://{}", dir.root().join("gone.git").display());
        let run = crate::util::run(
            cmd.env("NO_COLOR", "1")
                .env("TMPDIR", &tmp)
                .args(["git", "-q", "-f", "json", &url, &gone]),
        );
        run.expect_code(1);
        assert_eq!(fps(&run.json()), set(&[&k.old, &k.branch, &k.pull]));
        assert_eq!(skipped(&run.json()).len(), 1);
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "a clone left in TMPDIR"
        );
    }
);

sgtest!(remote_clone_dir_is_fetched_into_not_cloned_again, |dir, cmd| {
    let mut keys = KeyGen::new(262);
    let served = dir.root().join("srv");
    let (work, k) = planted(&served, "app", &mut keys, 1);
    let server = GitHttp::start(&served);
    let url = server.url("app.git");
    let run = scan(
        dir.root(),
        &["git", "-q", "-f", "json", &url, "--clone-dir", "mirrors"],
    );
    run.expect_code(1);
    let mirrors: Vec<_> = std::fs::read_dir(dir.root().join("mirrors"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(mirrors.len(), 1);
    let mirror = mirrors[0].path();
    assert!(mirror.join("refs").is_dir() || mirror.join("packed-refs").is_file());
    // Survives only if the mirror is fetched into, not removed and cloned again.
    std::fs::write(mirror.join("sgscan-test-marker"), "").unwrap();

    let new = keys.key();
    work.write("later.env", &env_line(&new));
    work.commit("later");
    work.git(&["push", "-q", served.join("app.git").to_str().unwrap(), "main"]);
    let run = scan(
        dir.root(),
        &["git", "-q", "-f", "json", &url, "--clone-dir", "mirrors"],
    );
    run.expect_code(1);
    assert_eq!(fps(&run.json()), set(&[&k.old, &k.branch, &k.pull, &new]));
    assert!(
        mirror.join("sgscan-test-marker").is_file(),
        "the mirror was cloned again"
    );
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.contains("info/refs"))
            .count()
            >= 2
    );
});

sgtest!(remote_state_rerun_reports_only_what_moved, |dir, cmd| {
    let mut keys = KeyGen::new(263);
    let served = dir.root().join("srv");
    let (work, k) = planted(&served, "app", &mut keys, 40);
    let server = GitHttp::start(&served);
    let url = server.url("app.git");
    let state = dir.root().join("state.json");
    let args = |extra: &[&str]| {
        let mut a = vec!["git", "-q", "-f", "json", &url, "--state", "state.json"];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let sweep = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        scan(dir.root(), &a)
    };
    let first = sweep(&[]);
    first.expect_code(1);
    let first = first.json();
    assert_eq!(fps(&first), set(&[&k.old, &k.branch, &k.pull]));
    let kept = std::fs::read_to_string(&state).unwrap();
    for key in [&k.old, &k.branch, &k.pull] {
        assert!(!kept.contains(key.as_str()), "a key in the state file");
    }

    // Nothing moved: nothing to report, nothing read.
    let same = sweep(&[]);
    same.expect_code(0);
    assert_eq!(u64_at(&same.json()["summary"], "blobs_scanned"), 0);

    let new = keys.key();
    work.write("later.env", &env_line(&new));
    work.commit("later");
    work.git(&["push", "-q", served.join("app.git").to_str().unwrap(), "main"]);
    let second = sweep(&[]);
    second.expect_code(1);
    let second = second.json();
    assert_eq!(fps(&second), set(&[&new]));
    let (before, after) = (
        u64_at(&first["summary"], "blobs_scanned"),
        u64_at(&second["summary"], "blobs_scanned"),
    );
    assert!(before >= 40 && after <= 2, "blobs scanned: {before} then {after}");

    // The whole picture: the kept findings with the new.
    let all = sweep(&["--all-findings"]);
    all.expect_code(1);
    assert_eq!(fps(&all.json()), set(&[&k.old, &k.branch, &k.pull, &new]));

    // A local path keeps its state too.
    let local = work.path.to_str().unwrap().to_string();
    let run = scan(
        dir.root(),
        &["git", "-q", "-f", "json", &local, "--state", "local.json"],
    );
    run.expect_code(1);
    let run = scan(
        dir.root(),
        &["git", "-q", "-f", "json", &local, "--state", "local.json"],
    );
    run.expect_code(0);
    assert_eq!(u64_at(&run.json()["summary"], "blobs_scanned"), 0);
});

sgtest!(remote_shards_by_repository_merged_equal_the_whole, |dir, cmd| {
    let mut keys = KeyGen::new(264);
    let mut names = Vec::new();
    for r in 0..6 {
        let repo = Repo::init(&dir.root().join(format!("r{r}")));
        repo.write("a.env", &env_line(&keys.key()));
        repo.commit("key");
        names.push(format!("r{r}"));
    }
    // One key in two repositories: merged, one finding with both locations.
    let shared = keys.key();
    for r in ["r0", "r3"] {
        let repo = Repo::open(&dir.root().join(r));
        repo.write("shared.env", &env_line(&shared));
        repo.commit("shared");
    }
    let mut whole = vec!["git", "-q", "-f", "json"];
    whole.extend(names.iter().map(String::as_str));
    let run = scan(dir.root(), &whole);
    run.expect_code(1);
    let whole_doc = run.json();

    let mut outs = Vec::new();
    for i in 0..3 {
        let (shard, out) = (format!("{i}/3"), format!("shard{i}.json"));
        let mut a = whole.clone();
        a.extend(["--shard", &shard, "-o", &out]);
        let run = scan(dir.root(), &a);
        assert!(run.code == 0 || run.code == 1, "{run}");
        outs.push(out);
    }
    let mut merge = vec!["merge", "-f", "json"];
    merge.extend(outs.iter().map(String::as_str));
    let merged = scan(dir.root(), &merge).json();
    assert_eq!(fps(&merged), fps(&whole_doc));
    let places = |doc: &Value| {
        let mut p: Vec<(String, String, String)> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| {
                f["locations"].as_array().unwrap().iter().map(move |l| {
                    (
                        f["fingerprint"].as_str().unwrap().to_string(),
                        l["repository"].as_str().unwrap().to_string(),
                        l["path"].as_str().unwrap().to_string(),
                    )
                })
            })
            .collect();
        p.sort();
        p
    };
    assert_eq!(places(&merged), places(&whole_doc));
    assert_eq!(places(&whole_doc).len(), 8);
});

/// Not a test: the server `benches/org.sh` sweeps, serving `$SGSCAN_BENCH_ROOT/NAME.git` as
/// `NAME-1.git`, `NAME-2.git`, … until killed. Prints its URL first.
#[test]
#[ignore = "run by benches/org.sh"]
fn githttp_serve_for_bench() {
    let Some(root) = std::env::var_os("SGSCAN_BENCH_ROOT") else {
        return;
    };
    let server = GitHttp::aliased(Path::new(&root));
    println!("serving {}", server.url(""));
    loop {
        std::thread::park();
    }
}

sgtest!(
    remote_a_redirect_to_another_server_gets_no_credential,
    |dir, cmd| {
        let mut keys = KeyGen::new(263);
        let served = dir.root().join("srv");
        planted(&served, "app", &mut keys, 1);
        let secret = keys.token(30);
        // The other server takes anyone: only what it was sent tells whether the secret went along.
        let elsewhere = GitHttp::start(&served);
        let first = GitHttp::redirecting(&elsewhere.url(""));
        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                "-f",
                "json",
                &first.url_with("bot", &secret, "app.git"),
            ],
        );
        assert!(
            first.requests().iter().any(|r| r.contains("/app.git/info/refs")),
            "{run}"
        );
        assert_eq!(elsewhere.authorized(), Vec::<String>::new(), "{run}");
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "{run}"
        );
    }
);

sgtest!(
    remote_a_user_name_in_the_url_is_no_more_shown_than_a_password,
    |dir, cmd| {
        // `https://TOKEN@host/…` is how many pass a token: the user name alone must not reach a
        // report, an error, git's argv or the mirror's config either.
        let mut keys = KeyGen::new(264);
        let served = dir.root().join("srv");
        let (_, k) = planted(&served, "app", &mut keys, 1);
        let secret = keys.token(30);
        let server = GitHttp::start(&served);
        let url = server
            .url("app.git")
            .replace("http://", &format!("http://{secret}@"));
        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                "-f",
                "json",
                &url,
                "--clone-dir",
                "mirrors",
                "-o",
                "report.json",
            ],
        );
        run.expect_code(1);
        let report = std::fs::read_to_string(dir.root().join("report.json")).unwrap();
        assert_eq!(
            fps(&serde_json::from_str(&report).unwrap()),
            set(&[&k.old, &k.branch, &k.pull])
        );
        assert!(!report.contains(&secret), "{report}");
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "{run}"
        );
        for entry in std::fs::read_dir(dir.root().join("mirrors")).unwrap() {
            let path = entry.unwrap().path();
            assert!(!path.to_string_lossy().contains(&secret));
            let config = std::fs::read_to_string(path.join("config")).unwrap_or_default();
            assert!(!config.contains(&secret), "{config}");
        }
    }
);

sgtest!(
    remote_a_kept_mirror_with_config_a_clone_never_writes_is_not_fetched_into,
    |dir, cmd| {
        // A --clone-dir restored from a shared cache is only as trusted as whoever wrote the
        // cache: a mirror's own config could send the credential through a proxy of theirs.
        let mut keys = KeyGen::new(265);
        let served = dir.root().join("srv");
        planted(&served, "app", &mut keys, 1);
        let secret = keys.token(30);
        let server = GitHttp::with_auth(&served, "bot", &secret);
        let proxy = GitHttp::start(&served);
        let url = server.url_with("bot", &secret, "app.git");
        let args = ["git", "-q", "-f", "json", &url, "--clone-dir", "mirrors"];
        scan(dir.root(), &args).expect_code(1);
        let mirror = std::fs::read_dir(dir.root().join("mirrors"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "git"))
            .unwrap();
        let config = mirror.join("config");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!("[http]\n\tproxy = {}\n", proxy.url("")));
        std::fs::write(&config, text).unwrap();

        let run = scan(dir.root(), &args);
        assert_eq!(proxy.authorized(), Vec::<String>::new(), "{run}");
        run.expect_code(2);
        assert!(run.stderr.contains("http.proxy"), "{run}");
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "{run}"
        );

        // A mirror that is a link to a repository elsewhere is not fetched into through it.
        #[cfg(unix)]
        {
            let elsewhere = dir.root().join("elsewhere.git");
            std::fs::rename(&mirror, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &mirror).unwrap();
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, text.replace("proxy", "x-proxy")).unwrap();
            let run = scan(dir.root(), &args);
            run.expect_code(2);
            assert!(run.stderr.contains("not a directory"), "{run}");
        }
    }
);

sgtest!(
    remote_state_is_not_saved_when_the_report_could_not_be_written,
    |dir, cmd| {
        let mut keys = KeyGen::new(266);
        let served = dir.root().join("srv");
        let (_, k) = planted(&served, "app", &mut keys, 1);
        let url = format!("file://{}", served.join("app.git").display());
        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                &url,
                "--state",
                "state.json",
                "-o",
                "no/such/dir/report.json",
            ],
        );
        run.expect_code(2);
        // Nobody saw those findings: the next run must still bring them.
        let run = scan(
            dir.root(),
            &["git", "-q", "-f", "json", &url, "--state", "state.json"],
        );
        run.expect_code(1);
        assert_eq!(fps(&run.json()), set(&[&k.old, &k.branch, &k.pull]));
        assert!(dir.root().join("state.json").is_file());
    }
);

sgtest!(
    remote_state_after_a_force_push_sweeps_the_rewritten_commits,
    |dir, cmd| {
        let mut keys = KeyGen::new(267);
        let served = dir.root().join("srv");
        let (work, _) = planted(&served, "app", &mut keys, 1);
        let url = format!("file://{}", served.join("app.git").display());
        let args = [
            "git",
            "-q",
            "-f",
            "json",
            &url,
            "--state",
            "state.json",
            "--clone-dir",
            "mirrors",
        ];
        scan(dir.root(), &args).expect_code(1);
        // main rewritten: its last commit replaced by one that brings a key, the old one still
        // in the kept mirror (fetch does not collect it).
        let new = keys.key();
        work.git(&["reset", "-q", "--hard", "HEAD~1"]);
        work.write("rewritten.env", &env_line(&new));
        work.commit("rewritten");
        work.git(&[
            "push",
            "-q",
            "--force",
            served.join("app.git").to_str().unwrap(),
            "main",
        ]);
        let run = scan(dir.root(), &args);
        run.expect_code(1);
        assert_eq!(fps(&run.json()), set(&[&new]));
        // Moved back to where it was: nothing new, nothing reported.
        work.git(&["reset", "-q", "--hard", "HEAD~1"]);
        work.git(&[
            "push",
            "-q",
            "--force",
            served.join("app.git").to_str().unwrap(),
            "main",
        ]);
        let run = scan(dir.root(), &args);
        run.expect_code(0);
    }
);

sgtest!(
    remote_the_secret_is_in_no_argv_of_any_git_sgscan_runs,
    |dir, cmd| {
        let mut keys = KeyGen::new(268);
        let served = dir.root().join("srv");
        planted(&served, "app", &mut keys, 1);
        let secret = keys.token(30);
        let server = GitHttp::with_auth(&served, "bot", &secret);
        // A `git` first on PATH that writes down its arguments, then runs the real one.
        let real = String::from_utf8(
            std::process::Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let bin = dir.root().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = dir.root().join("argv.log");
        let script = bin.join("git");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.trim()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let url = server.url_with("bot", &secret, "app.git");
        for _ in 0..2 {
            let run = crate::util::run(crate::util::sgscan(dir.root()).env("PATH", &path).args([
                "git",
                "-q",
                &url,
                "--clone-dir",
                "mirrors",
            ]));
            run.expect_code(1);
        }
        let argv = std::fs::read_to_string(&log).unwrap();
        assert!(argv.contains("clone") && argv.contains("fetch"), "{argv}");
        assert!(!argv.contains(&secret) && !argv.contains("bot"), "{argv}");
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("bot:{secret}"),
        );
        assert!(!argv.contains(&basic), "{argv}");
    }
);

sgtest!(
    remote_urls_that_smuggle_an_option_or_a_command_run_nothing,
    |dir, cmd| {
        let marker = dir.root().join("pwned");
        let m = marker.display().to_string();
        for hostile in [
            format!("ssh://-oProxyCommand=touch%20{m}/x.git"),
            format!("git@-oProxyCommand=touch {m}:x.git"),
            format!("ext::sh -c touch% {m}"),
            format!("--upload-pack=touch {m}"),
            format!("ssh://git@127.0.0.1:1/--upload-pack=touch%20{m}"),
        ] {
            let run = scan(dir.root(), &["git", "-q", "-f", "json", &hostile]);
            run.expect_code(2);
            assert!(!marker.exists(), "{hostile} ran a command:\n{run}");
        }
    }
);
