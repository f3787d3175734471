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
