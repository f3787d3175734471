//! `sgscan git REPO… / --repos-file`: several histories in one run, one report, one verification
//! per distinct key, each location naming its repository.

use serde_json::Value;

use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{KeyGen, env_line, fps, has_note, notes, scan, set, summary};

/// The repositories of a key's locations, sorted.
fn repositories(doc: &Value, key_fp: &str) -> Vec<String> {
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == key_fp)
        .expect("the finding");
    let mut repos: Vec<String> = finding["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["repository"].as_str().expect("a repository").to_string())
        .collect();
    repos.sort();
    repos
}

sgtest!(
    repos_share_a_key_verified_once_with_locations_in_both,
    |dir, cmd| {
        let mut keys = KeyGen::new(90);
        let (shared, only_b) = (keys.key(), keys.key());
        let a = Repo::init(&dir.root().join("a"));
        a.write("config/app.env", &env_line(&shared));
        a.commit("a: key");
        let b = Repo::init(&dir.root().join("b"));
        b.write("deploy.env", &env_line(&shared));
        b.commit("b: same key");
        b.write("other.env", &env_line(&only_b));
        b.commit("b: its own key");
        let mock = MockSendGrid::start();
        mock.set(&shared, Behavior::live(&["mail.send"]));
        mock.set(&only_b, Behavior::Invalid);
        std::fs::write(dir.root().join("list"), "# mirrors\nb\n\n").unwrap();

        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                "-f",
                "json",
                "a",
                "--repos-file",
                "list",
                "--verify",
                "--api-url",
                &mock.url(),
            ],
        );
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&shared, &only_b]));
        let fp = crate::util::mock::fingerprint(&shared);
        assert_eq!(repositories(&doc, &fp), ["a", "b"]);
        assert_eq!(
            mock.requests_for(&shared).len(),
            1,
            "one verification for the key of both"
        );
        assert_eq!(mock.requests_for(&only_b).len(), 1);
        let paths: Vec<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["locations"].as_array().unwrap())
            .map(|l| l["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"config/app.env") && paths.contains(&"deploy.env"),
            "{paths:?}"
        );

        // The human report names the repository of each location.
        let human = scan(dir.root(), &["git", "-q", "a", "b"]);
        human.expect_code(1);
        assert!(human.stdout.contains("[a] config/app.env"), "{}", human.stdout);
        assert!(human.stdout.contains("[b] deploy.env"), "{}", human.stdout);
    }
);

sgtest!(repos_one_unreadable_is_recorded_the_others_swept, |dir, cmd| {
    let key = KeyGen::new(91).key();
    let a = Repo::init(&dir.root().join("a"));
    a.write("a.env", &env_line(&key));
    a.commit("key");
    std::fs::create_dir_all(dir.root().join("not-a-repo")).unwrap();

    let run = scan(dir.root(), &["git", "-q", "-f", "json", "a", "not-a-repo"]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    assert_eq!(summary(&doc, "skipped"), 1);
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a git repository")
    );
    assert!(has_note(&doc, "1 of 2 repositories"), "{:?}", notes(&doc));

    // None readable: an error, not an empty report.
    let run = scan(dir.root(), &["git", "-q", "-f", "json", "not-a-repo", "missing"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("none of the 2 repositories"),
        "{}",
        run.stderr
    );

    // A range is about one repository.
    let run = scan(dir.root(), &["git", "a", "a", "--range", "HEAD~1..HEAD"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--range takes one repository"),
        "{}",
        run.stderr
    );
});

sgtest!(repos_shards_split_every_repository, |dir, cmd| {
    let mut keys = KeyGen::new(92);
    let all: Vec<String> = (0..8).map(|_| keys.key()).collect();
    for (r, chunk) in all.chunks(4).enumerate() {
        let repo = Repo::init(&dir.root().join(format!("r{r}")));
        for (i, k) in chunk.iter().enumerate() {
            repo.write(&format!("f{i}.env"), &env_line(k));
            repo.commit("key");
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for shard in ["0/2", "1/2"] {
        let run = scan(
            dir.root(),
            &["git", "-q", "-f", "json", "r0", "r1", "--shard", shard],
        );
        let doc = run.json();
        for fp in fps(&doc) {
            assert!(found.insert(fp), "a key in two shards");
        }
    }
    let want: Vec<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(found, set(&want));
});

sgtest!(
    reports_name_each_repository_without_credentials_and_merge_keeps_them,
    |dir, cmd| {
        let mut keys = KeyGen::new(93);
        let key = keys.key();
        let a = Repo::init(&dir.root().join("a"));
        a.git(&[
            "remote",
            "add",
            "origin",
            "https://ci:hunter2@git.example.com/acme/a.git",
        ]);
        a.write("readme", "a\n");
        a.commit("a: start");
        a.write("app.env", &env_line(&key));
        let head_a = a.commit("a: key");
        let b = Repo::init(&dir.root().join("b"));
        b.git(&[
            "remote",
            "add",
            "upstream",
            "deploy:s3cret@git.example.com:acme/b.git",
        ]);
        b.write("readme", "b\n");
        b.commit("b: start");
        b.write("readme", "nothing here\n");
        let head_b = b.commit("b: no key");
        std::fs::write(dir.root().join("list"), "a\nb\n").unwrap();
        let top = |r: &Repo| {
            std::fs::canonicalize(&r.path)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };

        let run = scan(dir.root(), &["git", "-q", "-f", "json", "--repos-file", "list"]);
        run.expect_code(1);
        let doc = run.json();
        assert!(
            doc["generated_at"].as_str().is_some_and(|t| t.len() >= 20),
            "{doc}"
        );
        let target = &doc["target"];
        assert_eq!(target["mode"], "git");
        let repos = target["repositories"].as_array().expect("repositories");
        assert_eq!(repos.len(), 2, "{target}");
        assert_eq!(repos[0]["path"], top(&a).as_str());
        assert_eq!(repos[0]["remote_url"], "https://git.example.com/acme/a.git");
        assert_eq!(repos[0]["head"], head_a.as_str());
        assert!(repos[0]["branch"].is_string(), "{target}");
        assert_eq!(repos[1]["path"], top(&b).as_str());
        assert_eq!(repos[1]["remote_url"], "git.example.com:acme/b.git");
        assert_eq!(repos[1]["head"], head_b.as_str());
        for format in ["json", "jsonl", "sarif", "html", "human"] {
            let r = scan(dir.root(), &["git", "-q", "-f", format, "a", "b"]);
            r.expect_code(1);
            assert!(
                !r.stdout.contains("hunter2") && !r.stdout.contains("s3cret"),
                "--format {format} shows a remote's credentials:\n{r}"
            );
        }

        // SARIF: each repository by its remote URL (else its path), with revision and branch.
        let sarif = scan(dir.root(), &["git", "-q", "-f", "sarif", "a", "b"]).json();
        let vcp = sarif["runs"][0]["versionControlProvenance"]
            .as_array()
            .expect("versionControlProvenance");
        assert_eq!(vcp.len(), 2, "{vcp:?}");
        assert_eq!(vcp[0]["repositoryUri"], "https://git.example.com/acme/a.git");
        assert_eq!(vcp[0]["revisionId"], head_a.as_str());
        assert_eq!(vcp[0]["branch"], repos[0]["branch"]);
        let uri = vcp[1]["repositoryUri"].as_str().unwrap();
        assert!(uri.starts_with("file:///") && uri.ends_with("/b/"), "{uri}");

        // Each run's JSONL report says what it scanned; their merge says both.
        for name in ["a", "b"] {
            let out = format!("{name}.jsonl");
            let r = scan(
                dir.root(),
                &[
                    "git",
                    "-q",
                    "-f",
                    "jsonl",
                    "-o",
                    &out,
                    "--range",
                    "HEAD~1..HEAD",
                    name,
                ],
            );
            assert!(r.code == 0 || r.code == 1, "{r}");
        }
        let lines = scan(dir.root(), &["git", "-q", "-f", "jsonl", "a"]).lines();
        let last = lines.last().expect("a summary line");
        assert_eq!(last["type"], "summary");
        assert_eq!(last["target"]["repositories"][0]["head"], head_a.as_str());
        let merged = scan(dir.root(), &["merge", "a.jsonl", "b.jsonl", "-f", "json"]);
        merged.expect_code(1);
        let merged = merged.json();
        let repos = merged["target"]["repositories"]
            .as_array()
            .expect("merged repositories");
        let heads: Vec<&str> = repos.iter().map(|r| r["head"].as_str().unwrap()).collect();
        assert_eq!(heads, [head_a.as_str(), head_b.as_str()], "{merged}");
        assert_eq!(merged["target"]["mode"], "git");
        assert_eq!(repos[0]["ranges"], serde_json::json!(["HEAD~1..HEAD"]));
    }
);

sgtest!(
    remote_urls_in_every_form_git_takes_lose_their_credentials_in_every_report,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        repo.write("readme", "nothing here\n");
        repo.commit("start");
        let key = KeyGen::new(2501).key();
        let secret = key.rsplit('.').next().unwrap().to_string();
        let encoded = key.replace('.', "%2E");
        // (remote URL, the host or path a report still names, what must not appear)
        let cases = [
            (
                "https://u:tok1@h.example:99999/r.git",
                "h.example:99999/r.git",
                "tok1",
            ),
            ("https://u:tok2@[zz]/r", "[zz]/r", "tok2"),
            ("https://u:tok3@exa mple.com/r", "mple.com/r", "tok3"),
            ("gcrypt::https://u:tok4@h.example/r", "h.example/r", "tok4"),
            ("tok5@host:repo@x", "host:repo", "tok5"),
            ("file:///srv/r.git?access_token=tok6", "/srv/r.git", "tok6"),
            (
                "https://h.example/r?access_token=tok7#frag",
                "h.example/r",
                "tok7",
            ),
            ("ssh://u:tok8@[::1]:22/r", "[::1]:22/r", "tok8"),
        ];
        let hosted = format!("https://{key}.example.com/r");
        let in_path = format!("https://h.example/{encoded}");
        let keyed = [
            (hosted.as_str(), "example.com/r"),
            (in_path.as_str(), "h.example/"),
        ];
        let all = cases
            .iter()
            .map(|(u, shown, hidden)| (*u, *shown, *hidden))
            .chain(keyed.iter().map(|(u, shown)| (*u, *shown, secret.as_str())));
        for (url, shown, hidden) in all {
            repo.git(&["config", "remote.origin.url", url]);
            for format in ["json", "jsonl", "sarif", "html"] {
                let r = scan(dir.root(), &["dir", "-q", "-f", format, "r"]);
                r.expect_code(0);
                let lower = hidden.to_lowercase();
                assert!(
                    !r.stdout.contains(hidden) && !r.stdout.contains(&lower),
                    "--format {format} shows a credential of the remote at {shown}:\n{}",
                    r.stdout.replace(hidden, "<HIDDEN>").replace(&lower, "<hidden>")
                );
                assert!(
                    format == "sarif" || r.stdout.contains(shown),
                    "--format {format} lost the remote's host ({shown})"
                );
            }
        }
    }
);

sgtest!(
    a_merged_hostile_target_is_bounded_redacted_and_stripped_of_credentials,
    |dir, cmd| {
        let key = KeyGen::new(2502).key();
        std::fs::write(dir.root().join("readme"), "nothing here\n").unwrap();
        let base = scan(dir.root(), &["dir", "-q", "-f", "json", "readme"]);
        base.expect_code(0);
        let base = base.json();
        // Two reports of 3,000 repositories and roots each, half of them the same, a key in a
        // root and a token in every remote URL; the second also as JSONL summary lines.
        let report = |from: usize| {
            let mut d = base.clone();
            let repos: Vec<Value> = (from..from + 3000)
                .map(|i| {
                    serde_json::json!({
                        "path": format!("/srv/r{i}"),
                        "remote_url": format!("https://u:Zq9tok{i}@h.example/r{i}.git"),
                    })
                })
                .collect();
            let mut roots: Vec<Value> = (from..from + 3000).map(|i| format!("root{i}").into()).collect();
            roots.push(format!("in/{key}").into());
            d["target"]["repositories"] = repos.into();
            d["target"]["roots"] = roots.into();
            d
        };
        std::fs::write(dir.root().join("a.json"), report(0).to_string()).unwrap();
        std::fs::write(dir.root().join("b.json"), report(1500).to_string()).unwrap();
        let merged = scan(dir.root(), &["merge", "a.json", "b.json", "-f", "json"]);
        merged.expect_code(0);
        assert!(
            !merged.stdout.contains("Zq9tok"),
            "a remote's token survives the merge"
        );
        crate::util::assert_no_key(&merged.stdout, "the merged report", &[&key]);
        let doc = merged.json();
        let target = &doc["target"];
        assert_eq!(
            target["repositories"][0]["remote_url"],
            "https://h.example/r0.git"
        );
        let (repos, roots) = (
            target["repositories"].as_array().unwrap().len(),
            target["roots"].as_array().unwrap().len(),
        );
        assert!(
            repos <= 1000 && roots <= 1000,
            "{repos} repositories, {roots} roots kept"
        );
        assert!(
            has_note(&doc, "3500 more repositories") && has_note(&doc, "3501 more roots"),
            "what is not listed is said: {:?}",
            notes(&doc)
        );
        for format in ["html", "sarif", "jsonl"] {
            let r = scan(dir.root(), &["merge", "a.json", "b.json", "-f", format]);
            r.expect_code(0);
            assert!(
                !r.stdout.contains("Zq9tok"),
                "--format {format}: a token survives"
            );
            crate::util::assert_no_key(&r.stdout, format, &[&key]);
        }
    }
);
