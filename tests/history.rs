//! Integration tests of the full history sweep (`sgscan git` without `--range`): the object store is
//! read in pack order, objects no ref reaches included, and blobs are placed through the tree index
//! or, past its cap, a tree walk. Each builds real repositories with the `git` CLI.

use std::collections::BTreeSet;
use std::path::Path;

use crate::git::{scan_git, skip_of};
use crate::util::git::Repo;
use crate::util::{KeyGen, Run, env_line, finding, fps, run, scan, set, sgscan, skipped, summary};
use serde_json::Value;

/// The placement of every location of a report: (fingerprint, path, commit, line, blob,
/// reachable, in_head, refs), `-` where a field is absent.
type Placed = (String, String, String, u64, String, String, String, String);

fn placed(doc: &Value) -> BTreeSet<Placed> {
    let field = |l: &Value, k: &str| match &l[k] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = BTreeSet::new();
    for f in doc["findings"].as_array().expect("`findings` is an array") {
        for l in f["locations"].as_array().expect("`locations` is an array") {
            out.insert((
                field(f, "fingerprint"),
                field(l, "path"),
                field(l, "commit"),
                l["line"].as_u64().unwrap_or(0),
                field(l, "blob"),
                field(l, "reachable"),
                field(l, "in_head"),
                field(l, "refs"),
            ));
        }
    }
    out
}

/// `sgscan git -q -f json REPO` with `SGSCAN_TREE_INDEX_MAX_EDGES=1`: no tree index is kept, so
/// blobs are placed by the tree walk fallback.
fn scan_git_without_index(cwd: &Path, repo: &Path) -> Run {
    let repo = repo.to_str().unwrap();
    run(sgscan(cwd)
        .env("NO_COLOR", "1")
        .env("SGSCAN_TREE_INDEX_MAX_EDGES", "1")
        .args(["git", "-q", "-f", "json", repo]))
}

fn pack_count(repo: &Repo) -> usize {
    std::fs::read_dir(repo.path.join(".git/objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Loose objects, as `git count-objects` counts them.
fn loose_count(repo: &Repo) -> u64 {
    let out = repo.git(&["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .and_then(|n| n.parse().ok())
        .expect("`count-objects -v` has a count")
}

/// Whether anything (ref or reflog) still reaches `commit`.
fn reached(repo: &Repo, commit: &str) -> bool {
    repo.git(&["rev-list", "--all", "--reflog"])
        .lines()
        .any(|c| c == commit)
}

/// A key committed at `config/mail.env`, then amended away, reflogs expired: the commit and blob
/// stay loose and no ref reaches them. Returns the amended-away commit and the key's blob.
fn amended_repo(path: &Path, key: &str) -> (Repo, String, String) {
    let repo = Repo::init(path);
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("config/mail.env", &env_line(key));
    let gone = repo.commit("add mail config");
    let blob = repo.rev("HEAD:config/mail.env");
    std::fs::remove_file(repo.path.join("config/mail.env")).unwrap();
    repo.write("config/mail.env.example", "SENDGRID_API_KEY=\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--amend", "-m", "add mail config example"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    assert!(
        !reached(&repo, &gone),
        "the amended-away commit must be unreachable"
    );
    assert_eq!(repo.git(&["cat-file", "-t", &gone]), "commit");
    (repo, gone, blob)
}

/// A key stashed, then the stash dropped: the stash commit stays loose, unreachable. Returns it and
/// the key's blob.
fn dropped_stash_repo(path: &Path, key: &str) -> (Repo, String, String) {
    let repo = Repo::init(path);
    repo.write("app.env", "SENDGRID_API_KEY=\n");
    repo.commit("init");
    repo.write("app.env", &env_line(key));
    repo.git(&["stash", "-q"]);
    let stash = repo.rev("refs/stash");
    let blob = repo.rev("refs/stash:app.env");
    repo.git(&["stash", "drop", "-q"]);
    assert!(!reached(&repo, &stash), "the dropped stash must be unreachable");
    assert_eq!(repo.git(&["cat-file", "-t", &stash]), "commit");
    (repo, stash, blob)
}

// Objects no ref reaches

sgtest!(history_amended_away_key_is_found_unreachable, |dir, cmd| {
    let key = KeyGen::new(1501).key();
    let (repo, gone, blob) = amended_repo(&dir.root().join("r"), &key);
    assert_eq!(pack_count(&repo), 0, "no gc: the object must stay loose");

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let f = finding(&doc, &key);
    assert_eq!(f["location_count"], 1);
    let loc = &f["locations"][0];
    assert_eq!(loc["path"], "config/mail.env");
    assert_eq!(loc["commit"], gone.as_str());
    assert_eq!(loc["blob"], blob.as_str());
    assert_eq!(loc["reachable"], false);
    assert_eq!(loc["in_head"], false);
    assert!(loc["refs"].as_array().is_none_or(Vec::is_empty), "{loc}");
});

sgtest!(history_dropped_stash_key_is_found_unreachable, |dir, cmd| {
    let key = KeyGen::new(1502).key();
    let (repo, stash, blob) = dropped_stash_repo(&dir.root().join("r"), &key);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let loc = &finding(&doc, &key)["locations"][0];
    assert_eq!(loc["path"], "app.env");
    assert_eq!(loc["commit"], stash.as_str());
    assert_eq!(loc["blob"], blob.as_str());
    assert_eq!(loc["reachable"], false);
    assert_eq!(loc["in_head"], false);
});

// Where the objects are: loose, packed, several packs, the same object twice

/// Keys in a subdirectory, deeper still, and one deleted later: four commits on main.
fn plain_history(repo: &Repo, keys: &[String]) {
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("a/one.env", &env_line(&keys[0]));
    repo.commit("one");
    repo.write("b/c/two.env", &env_line(&keys[1]));
    repo.commit("two");
    std::fs::remove_file(repo.path.join("a/one.env")).unwrap();
    repo.write("three.env", &env_line(&keys[2]));
    repo.commit("three");
}

sgtest!(
    history_loose_only_and_packed_only_give_the_same_findings,
    |dir, cmd| {
        let mut keygen = KeyGen::new(1503);
        let keys: Vec<String> = (0..3).map(|_| keygen.key()).collect();
        let repo = Repo::init(&dir.root().join("r"));
        plain_history(&repo, &keys);
        assert_eq!(pack_count(&repo), 0);
        assert!(loose_count(&repo) > 0);

        let loose = scan_git(dir.root(), &repo.path, &[]);
        loose.expect_code(1);
        let loose = loose.json();
        let all: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(fps(&loose), set(&all));

        repo.git(&["gc", "-q"]);
        assert_eq!(loose_count(&repo), 0, "after gc every object is in a pack");
        assert!(pack_count(&repo) > 0);
        let packed = scan_git(dir.root(), &repo.path, &[]);
        packed.expect_code(1);
        let packed = packed.json();
        assert_eq!(placed(&packed), placed(&loose));
        assert_eq!(
            summary(&packed, "blobs_scanned"),
            summary(&loose, "blobs_scanned")
        );
    }
);

/// A key in a pack, renamed in a second pack, a second key in that second pack, a third loose:
/// returns the keys' (path, introducing commit).
fn layered_repo(path: &Path, keys: &[String]) -> (Repo, Vec<(String, String)>) {
    let repo = Repo::init(path);
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("a/one.env", &env_line(&keys[0]));
    let one = repo.commit("one");
    repo.git(&["repack", "-d", "-q"]);
    repo.write("b/two.env", &env_line(&keys[1]));
    let two = repo.commit("two");
    // A rename later must not move where the key was first.
    repo.git(&["mv", "a/one.env", "a/renamed.env"]);
    repo.commit("rename");
    repo.git(&["repack", "-d", "-q"]);
    repo.write("c/three.env", &env_line(&keys[2]));
    let three = repo.commit("three");
    assert_eq!(pack_count(&repo), 2);
    assert!(loose_count(&repo) > 0);
    let expected = vec![
        ("a/one.env".to_string(), one),
        ("b/two.env".to_string(), two),
        ("c/three.env".to_string(), three),
    ];
    (repo, expected)
}

sgtest!(
    history_several_packs_and_loose_objects_find_each_key_once,
    |dir, cmd| {
        let mut keygen = KeyGen::new(1504);
        let keys: Vec<String> = (0..3).map(|_| keygen.key()).collect();
        let (repo, expected) = layered_repo(&dir.root().join("r"), &keys);

        let check = |doc: &Value| {
            assert_eq!(summary(doc, "keys"), 3);
            assert_eq!(summary(doc, "locations"), 3);
            assert_eq!(summary(doc, "blobs_scanned"), repo.distinct_blobs());
            for (key, (path, commit)) in keys.iter().zip(&expected) {
                let f = finding(doc, key);
                assert_eq!(f["location_count"], 1, "{path}");
                assert_eq!(f["locations"][0]["path"], path.as_str());
                assert_eq!(f["locations"][0]["commit"], commit.as_str(), "{path}");
                assert_eq!(f["locations"][0]["reachable"], true, "{path}");
            }
        };
        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let layered = run.json();
        check(&layered);

        // `repack -a` without `-d` keeps the old packs and the loose objects: every object is now in
        // the new pack and in an old pack or loose. Each is still scanned once.
        repo.git(&["repack", "-a", "-q"]);
        assert_eq!(pack_count(&repo), 3);
        assert!(loose_count(&repo) > 0);
        let run = scan_git(dir.root(), &repo.path, &[]);
        run.expect_code(1);
        let twice = run.json();
        check(&twice);
        assert_eq!(placed(&twice), placed(&layered));
    }
);

// HEAD and refs

sgtest!(history_in_head_and_the_refs_that_reach_a_key, |dir, cmd| {
    let mut keygen = KeyGen::new(1505);
    let (live, old) = (keygen.key(), keygen.key());
    let repo = Repo::init(&dir.root().join("r"));
    head_and_branches(&repo, &live, &old);

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    let live_loc = &finding(&doc, &live)["locations"][0];
    assert_eq!(live_loc["path"], "config/live.env");
    assert_eq!(live_loc["in_head"], true);
    assert_eq!(live_loc["reachable"], true);
    let old_loc = &finding(&doc, &old)["locations"][0];
    assert_eq!(old_loc["path"], "old.env");
    assert_eq!(old_loc["in_head"], false);
    assert_eq!(old_loc["reachable"], true);
    // HEAD's branch first, though "feature" sorts before "main".
    assert_eq!(
        old_loc["refs"],
        serde_json::json!(["refs/heads/main", "refs/heads/feature"])
    );

    let human = scan(dir.root(), &["git", repo.path.to_str().unwrap()]);
    human.expect_code(1);
    let block = |key: &str| -> String {
        let id = crate::util::id(key);
        let text = &human.stdout;
        let start = text
            .find(&format!("key id {id}"))
            .unwrap_or_else(|| panic!("no finding for key id {id}:\n{human}"));
        let end = text[start + 1..]
            .find("SendGrid API key")
            .map_or(text.len(), |e| start + 1 + e);
        text[start..end].to_string()
    };
    let live_block = block(&live);
    assert!(
        live_block.contains("still in HEAD's tree at config/live.env: remove it in a new commit"),
        "{live_block}"
    );
    assert!(!live_block.contains("only in history"), "{live_block}");
    let old_block = block(&old);
    assert!(
        old_block.contains("still on refs/heads/feature (at old.env): remove it there in a new commit too"),
        "gone from HEAD, still at feature's tip (issue #22): {old_block}"
    );
    assert!(!old_block.contains("only in history"), "{old_block}");
    assert!(!old_block.contains("still in HEAD"), "{old_block}");
    assert!(
        old_block.contains("reachable from: refs/heads/main, refs/heads/feature"),
        "{old_block}"
    );
});

/// `live` stays in HEAD; `old` is deleted on main after `feature` branched off, and `feature` moves
/// on by a commit of its own.
fn head_and_branches(repo: &Repo, live: &str, old: &str) {
    repo.write("README.md", "# app\n");
    repo.commit("init");
    repo.write("config/live.env", &env_line(live));
    repo.write("old.env", &env_line(old));
    repo.commit("mail");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.txt", "wip\n");
    repo.commit("feature work");
    repo.git(&["checkout", "-q", "main"]);
    std::fs::remove_file(repo.path.join("old.env")).unwrap();
    repo.commit("drop the old key");
}

// The tree walk fallback places what the index places

/// Renames, a merge, a key a merge resolution brings, a file edited across many commits, a key in
/// a subdirectory, one blob at two paths, and an amended-away commit.
fn busy_repo(repo: &Repo, keygen: &mut KeyGen) {
    repo.write("README.md", "# app\n");
    repo.write("mail.env", "SENDGRID_API_KEY=\n");
    repo.commit("init");
    let edited = keygen.key();
    for i in 0..12 {
        repo.write("app.env", &format!("{}VERSION={i}\n", env_line(&edited)));
        repo.commit(&format!("release {i}"));
    }
    let twice = env_line(&keygen.key());
    repo.write("one/a.env", &twice);
    repo.write("two/a.env", &twice);
    repo.write("deep/er/still/x.env", &env_line(&keygen.key()));
    repo.commit("copies");
    repo.git(&["mv", "one", "uno"]);
    repo.commit("rename a directory");

    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("side/s.env", &env_line(&keygen.key()));
    repo.write("mail.env", "SENDGRID_API_KEY=side\n");
    repo.commit("side key");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("mail.env", "SENDGRID_API_KEY=main\n");
    repo.commit("main mail");
    // Conflicting edits of mail.env: the resolution brings a key neither side had.
    let out = repo.run(&[], &["merge", "-q", "--no-edit", "side"]);
    assert!(!out.status.success(), "the merge must conflict");
    repo.write("mail.env", &env_line(&keygen.key()));
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    repo.git(&["mv", "side/s.env", "s.env"]);
    repo.commit("rename after the merge");

    repo.write("tmp.env", &env_line(&keygen.key()));
    repo.commit("oops");
    std::fs::remove_file(repo.path.join("tmp.env")).unwrap();
    repo.write("tmp.txt", "nothing\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--amend", "-m", "no oops"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
}

sgtest!(history_tree_walk_fallback_places_as_the_index_does, |dir, cmd| {
    let mut keygen = KeyGen::new(1506);
    let repos = dir.root().join("repos");
    let busy = Repo::init(&repos.join("busy"));
    busy_repo(&busy, &mut keygen);
    let mut all = vec![busy.path.clone()];
    all.push(amended_repo(&repos.join("amended"), &keygen.key()).0.path);
    all.push(dropped_stash_repo(&repos.join("stash"), &keygen.key()).0.path);
    let keys: Vec<String> = (0..3).map(|_| keygen.key()).collect();
    all.push(layered_repo(&repos.join("layered"), &keys).0.path);
    let heads = Repo::init(&repos.join("heads"));
    head_and_branches(&heads, &keygen.key(), &keygen.key());
    all.push(heads.path.clone());

    for path in &all {
        let with_index = scan_git(dir.root(), path, &[]);
        with_index.expect_code(1);
        let with_index = with_index.json();
        let walked = scan_git_without_index(dir.root(), path);
        walked.expect_code(1);
        let walked = walked.json();
        assert!(!placed(&with_index).is_empty());
        assert_eq!(
            placed(&walked),
            placed(&with_index),
            "{}: the fallback placed differently",
            path.display()
        );
    }
    // The busy repository's edited file: one location per release, the last one in HEAD.
    let doc = scan_git(dir.root(), &busy.path, &[]).json();
    let app: Vec<Placed> = placed(&doc).into_iter().filter(|p| p.1 == "app.env").collect();
    assert_eq!(app.len(), 12);
    assert_eq!(app.iter().filter(|p| p.6 == "true").count(), 1);
    // One blob at two paths: one location, at the first path in tree order.
    assert!(placed(&doc).iter().any(|p| p.1 == "one/a.env"));
    assert!(
        !placed(&doc)
            .iter()
            .any(|p| p.1 == "two/a.env" || p.1.starts_with("uno/"))
    );
    assert!(placed(&doc).iter().any(|p| p.1 == "mail.env" && p.6 == "true"));
    assert!(placed(&doc).iter().any(|p| p.1 == "side/s.env" && p.6 == "true"));
});

// Damage

sgtest!(history_corrupt_object_mid_pack_costs_only_itself, |dir, cmd| {
    let mut keygen = KeyGen::new(1507);
    let keys: Vec<String> = (0..3).map(|_| keygen.key()).collect();
    let repo = Repo::init(&dir.root().join("r"));
    for (i, key) in keys.iter().enumerate() {
        repo.write(&format!("k{i}.env"), &env_line(key));
        repo.commit(&format!("key {i}"));
    }
    repo.git(&["gc", "-q"]);
    assert_eq!(loose_count(&repo), 0);
    let blob = repo.rev("HEAD:k1.env");
    let pack_dir = repo.path.join(".git/objects/pack");
    let pack = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("a pack after gc");
    let listing = repo.git(&["verify-pack", "-v", pack.with_extension("idx").to_str().unwrap()]);
    // "<id> <type> <size> <size in pack> <offset> [<depth> <base>]"
    let entry: Vec<&str> = listing
        .lines()
        .find(|l| l.starts_with(&blob))
        .expect("the blob is in the pack")
        .split_whitespace()
        .collect();
    assert_eq!(entry.len(), 5, "the blob must be stored whole, not as a delta");
    assert!(
        !listing.contains(&format!(" {blob}")),
        "nothing may be a delta on the blob"
    );
    let (in_pack, offset): (usize, usize) = (entry[3].parse().unwrap(), entry[4].parse().unwrap());

    let mut bytes = std::fs::read(&pack).unwrap();
    // Past the entry's type-and-size header and the zlib header, the deflate data becomes 0xFF:
    // an invalid block type, so inflating it must fail.
    let mut start = offset;
    while bytes[start] & 0x80 != 0 {
        start += 1;
    }
    start += 1 + 2;
    assert!(start < offset + in_pack);
    bytes[start..offset + in_pack].fill(0xFF);
    let mut perm = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&pack, perm).unwrap();
    std::fs::write(&pack, bytes).unwrap();
    assert!(!repo.run(&[], &["cat-file", "-p", &blob]).status.success());

    let run = scan_git(dir.root(), &repo.path, &[]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&keys[0], &keys[2]]));
    assert_eq!(finding(&doc, &keys[2])["locations"][0]["path"], "k2.env");
    let reason = skip_of(&doc, &blob)["reason"].as_str().unwrap().to_string();
    let pack_name = pack.file_name().unwrap().to_str().unwrap();
    assert!(
        reason.contains(pack_name),
        "{reason}; skipped: {:?}",
        skipped(&doc)
    );
});

// Shards

sgtest!(history_shards_together_find_what_the_sweep_finds, |dir, cmd| {
    let mut keygen = KeyGen::new(1508);
    let lost = keygen.key();
    let (repo, gone, blob) = amended_repo(&dir.root().join("r"), &lost);
    for i in 0..8 {
        repo.write(&format!("d{}/f{i}.env", i % 3), &env_line(&keygen.key()));
        repo.commit(&format!("commit {i}"));
    }
    let whole = scan_git(dir.root(), &repo.path, &[]);
    whole.expect_code(1);
    let whole = whole.json();
    assert_eq!(summary(&whole, "keys"), 9);
    assert_eq!(finding(&whole, &lost)["locations"][0]["commit"], gone.as_str());

    // The ids are fixed (seeded keys, fixed dates): the amended-away commit and its blob fall in
    // different shards, so the shard that finds the key must still know the commit to place it.
    // Of 2 shards an object's is the parity of its id's 8th byte.
    let shard = |id: &str| u8::from_str_radix(&id[15..16], 16).unwrap() % 2;
    assert_ne!(shard(&gone), shard(&blob));
    let mut reports = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = dir.root().join(format!("shard-{}.jsonl", &shard[..1]));
        let run = scan(
            dir.root(),
            &[
                "git",
                "-q",
                repo.path.to_str().unwrap(),
                "--shard",
                shard,
                "-f",
                "jsonl",
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert!(run.code == 0 || run.code == 1, "shard {shard}:\n{run}");
        reports.push(out.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge", "-f", "json"];
    args.extend(reports.iter().map(String::as_str));
    let merged = scan(dir.root(), &args);
    merged.expect_code(1);
    let merged = merged.json();
    assert_eq!(fps(&merged), fps(&whole));
    assert_eq!(placed(&merged), placed(&whole));
    assert_eq!(finding(&merged, &lost)["locations"][0]["reachable"], false);
});

// Commits whose date cannot be read

/// A commit of `tree` (and `parent`) whose author and committer dates are garbage.
fn dateless_commit(repo: &Repo, tree: &str, parent: Option<&str>) -> String {
    let parent = parent.map(|p| format!("parent {p}\n")).unwrap_or_default();
    let text = format!(
        "tree {tree}\n{parent}author A <a@a.test> notadate +0000\ncommitter C <c@c.test> notadate +0000\n\nno date\n"
    );
    repo.literal("commit", text.as_bytes())
}

sgtest!(
    history_commit_without_a_date_introduces_nothing_older,
    |dir, cmd| {
        let mut keygen = KeyGen::new(2105);
        let (key, lost_key) = (keygen.key(), keygen.key());
        let repo = Repo::init(&dir.root().join("r"));
        repo.write("README.md", "# app\n");
        repo.commit("init");
        repo.write("mail.env", &env_line(&key));
        let added = repo.commit("add mail");
        // A branch whose tip has no readable date, on top of the commit that added the key.
        let tree = repo.rev("HEAD^{tree}");
        let tip = dateless_commit(&repo, &tree, Some(&added));
        repo.git(&["update-ref", "refs/heads/side", &tip]);
        // Two commits no ref reaches with the same tree: one dated, one not.
        repo.write("lost.env", &env_line(&lost_key));
        repo.git(&["add", "lost.env"]);
        let lost_tree = repo.git(&["write-tree"]);
        repo.git(&["reset", "-q"]);
        std::fs::remove_file(repo.path.join("lost.env")).unwrap();
        let undated = dateless_commit(&repo, &lost_tree, None);
        let dated = repo.git(&["commit-tree", &lost_tree, "-m", "dated"]);

        let check = |run: Run, what: &str| {
            run.expect_code(1);
            let doc = run.json();
            assert_eq!(fps(&doc), set(&[&key, &lost_key]), "{what}");
            let loc = &finding(&doc, &key)["locations"][0];
            assert_eq!(loc["path"], "mail.env", "{what}");
            assert_eq!(loc["commit"], added.as_str(), "{what}: not the dateless {tip}");
            let loc = &finding(&doc, &lost_key)["locations"][0];
            assert_eq!(
                loc["commit"],
                dated.as_str(),
                "{what}: not the dateless {undated}"
            );
            assert_eq!(loc["reachable"], false, "{what}");
        };
        check(scan_git(dir.root(), &repo.path, &[]), "index");
        check(scan_git_without_index(dir.root(), &repo.path), "tree walk");
    }
);

// Worker counts

sgtest!(
    history_one_worker_every_core_and_more_workers_than_cores_agree,
    |dir, cmd| {
        let mut keygen = KeyGen::new(1510);
        let repo = Repo::init(&dir.root().join("r"));
        busy_repo(&repo, &mut keygen);
        // Packed, then packed again without deleting the first packs: every object in two packs.
        repo.git(&["gc", "-q"]);
        let in_both = keygen.key();
        repo.write("both.env", &env_line(&in_both));
        let both = repo.commit("in two packs");
        repo.git(&["repack", "-q"]);
        repo.git(&["repack", "-q", "-a"]);
        assert!(pack_count(&repo) >= 2);
        // Loose on top: a commit, a tag, a stash, a key in a message, a commit without a date.
        let loose = keygen.key();
        repo.write("deep/er/loose.env", &env_line(&loose));
        let loose_commit = repo.commit("loose");
        let message = keygen.key();
        repo.write("m.txt", "m\n");
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", &format!("token {message}")]);
        let tagged = keygen.key();
        repo.git(&["checkout", "-q", "--detach"]);
        repo.write("tagged.env", &env_line(&tagged));
        repo.commit("only a tag reaches this");
        repo.git(&["tag", "-a", "-m", "t", "v9"]);
        repo.git(&["checkout", "-q", "main"]);
        let stashed = keygen.key();
        repo.write("app.env", &env_line(&stashed));
        repo.git(&["stash", "-q"]);
        let undated = keygen.key();
        repo.write("undated.env", &env_line(&undated));
        repo.git(&["add", "-A"]);
        let tree = repo.git(&["write-tree"]);
        let head = repo.head();
        let dateless = dateless_commit(&repo, &tree, Some(&head));
        repo.git(&["update-ref", "refs/heads/dateless", &dateless]);
        repo.git(&["reset", "-q", "--hard"]);
        assert!(loose_count(&repo) > 0);

        let runs: Vec<Value> = ["1", "0", "64"]
            .iter()
            .map(|j| {
                let run = scan_git(dir.root(), &repo.path, &["-j", j]);
                run.expect_code(1);
                run.json()
            })
            .collect();
        let doc = &runs[0];
        for key in [&in_both, &loose, &message, &tagged, &stashed, &undated] {
            assert!(fps(doc).contains(&crate::util::fp(key)), "{doc:#}");
        }
        let at = |key: &str| finding(doc, key)["locations"][0]["commit"].clone();
        assert_eq!(at(&in_both), both.as_str());
        assert_eq!(at(&loose), loose_commit.as_str());
        assert_eq!(at(&undated), dateless.as_str());
        let mut skips = skipped(doc);
        skips.sort();
        for (j, other) in ["0", "64"].iter().zip(&runs[1..]) {
            assert_eq!(placed(other), placed(doc), "-j {j} placed otherwise than -j 1");
            let mut theirs = skipped(other);
            theirs.sort();
            assert_eq!(theirs, skips, "-j {j} skipped otherwise than -j 1");
        }
    }
);

// Replace refs

sgtest!(
    history_replace_ref_does_not_move_where_a_key_was_introduced,
    |dir, cmd| {
        let mut keygen = KeyGen::new(1511);
        let (k1, k2) = (keygen.key(), keygen.key());
        let repo = Repo::init(&dir.root().join("r"));
        repo.write("a.env", &env_line(&k1));
        let c1 = repo.commit("first key");
        repo.write("b.env", &env_line(&k2));
        let c2 = repo.commit("second key");
        repo.write("c.txt", "c\n");
        repo.commit("later");
        // A replacement that says the second commit brought nothing: git log would show it so.
        let tree = repo.rev(&format!("{c1}^{{tree}}"));
        let fake = repo.git(&["commit-tree", &tree, "-p", &c1, "-m", "second key"]);
        repo.git(&["replace", &c2, &fake]);
        assert_eq!(
            repo.rev(&format!("{c2}^{{tree}}")),
            tree,
            "git follows the replacement"
        );
        for packed in [false, true] {
            if packed {
                repo.git(&["gc", "-q"]);
            }
            let run = scan_git(dir.root(), &repo.path, &[]);
            run.expect_code(1);
            let doc = run.json();
            let at = &finding(&doc, &k2)["locations"][0];
            assert_eq!(at["commit"], c2.as_str(), "packed: {packed}: {doc:#}");
            assert_eq!(at["path"], "b.env");
        }
    }
);

sgtest!(
    history_commits_in_an_alternate_store_place_their_keys,
    |dir, cmd| {
        let mut keygen = KeyGen::new(1512);
        let (old, new) = (keygen.key(), keygen.key());
        let origin = Repo::init(&dir.root().join("origin"));
        origin.write("README.md", "# app\n");
        origin.commit("init");
        origin.write("old.env", &env_line(&old));
        let old_commit = origin.commit("old key");
        origin.git(&["gc", "-q"]);
        // A clone that borrows every object of the origin (objects/info/alternates).
        let clone = dir.root().join("clone");
        crate::util::git::git_command(dir.root())
            .args(["clone", "-q", "--shared", "origin", "clone"])
            .status()
            .unwrap();
        let clone = Repo::open(&clone);
        // The clone's clock starts where the origin's did: move it past the origin's commits.
        for _ in 0..8 {
            clone.git(&["status", "-s"]);
        }
        assert!(clone.path.join(".git/objects/info/alternates").exists());
        clone.write("new.env", &env_line(&new));
        let new_commit = clone.commit("new key");
        assert_eq!(
            loose_count(&clone),
            3,
            "only the clone's own commit, tree and blob"
        );

        for jobs in ["1", "0"] {
            let run = scan_git(dir.root(), &clone.path, &["-j", jobs]);
            run.expect_code(1);
            let doc = run.json();
            assert_eq!(fps(&doc), set(&[&old, &new]), "{doc:#}");
            assert_eq!(finding(&doc, &old)["locations"][0]["commit"], old_commit.as_str());
            assert_eq!(finding(&doc, &new)["locations"][0]["commit"], new_commit.as_str());
            assert_eq!(finding(&doc, &old)["locations"][0]["reachable"], true);
        }
    }
);
