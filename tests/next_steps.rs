//! The human report's next steps per key (by verification status, revocation, git position), the
//! full fingerprint it tells people to copy and `sgscan ignore` that takes it, the `allowed` count
//! of inline allows, and counted nouns in singular and plural.

use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{KeyGen, Tree, assert_run_leaks_nothing, env_line, fp, id, key_block, scan, summary};

const KEYS_PAGE: &str = "https://app.sendgrid.com/settings/api_keys";

/// The fingerprint on the block's `sgscan ignore` line, as a user would copy it.
fn copied_fingerprint(block: &str) -> String {
    let line = block
        .lines()
        .find(|l| l.contains("sgscan ignore "))
        .unwrap_or_else(|| panic!("no `sgscan ignore` line in:\n{block}"));
    let after = line.split("sgscan ignore ").nth(1).unwrap_or_default();
    after.trim_end_matches('`').trim().to_string()
}

#[test]
fn each_verification_status_gets_its_own_next_step() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x6e_01);
    let (admin, invalid, unknown) = (g.key(), g.key(), g.key());
    mock.set(
        &admin,
        Behavior::live(&["mail.send", "api_keys.create", "api_keys.delete"]),
    );
    mock.set(&invalid, Behavior::Invalid);
    mock.set(&unknown, Behavior::Html200);
    let tree = Tree::new();
    tree.put_key("a/.env", &admin);
    tree.put_key("b/.env", &invalid);
    tree.put_key("c/.env", &unknown);

    let scan_dir = tree.scan_dir();
    let r = scan(
        tree.root(),
        &[
            "dir",
            scan_dir.to_str().unwrap(),
            "--verify",
            "--api-url",
            &mock.url(),
        ],
    );
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&admin, &invalid, &unknown]);

    let live = key_block(&r, &admin);
    let expected_revoke = format!(
        "    revoke it: `sgscan revoke --key-id {}` (with an admin key in SGSCAN_ADMIN_KEY or --admin-key-file), or rerun with --verify --revoke",
        id(&admin)
    );
    assert!(live.contains(&format!("  next:\n{expected_revoke}\n")), "{live}");
    assert!(
        live.contains("    rotate: create a replacement with only the scopes it needs, deploy it, then revoke this one (--revoke --rotate does all three)\n"),
        "{live}"
    );
    assert!(
        live.contains(&format!("    API-keys page: {KEYS_PAGE}\n")),
        "{live}"
    );
    assert!(
        live.contains("    full access: it can create keys and users"),
        "{live}"
    );
    assert!(
        !live.contains("filter-repo"),
        "a file on disk has no history: {live}"
    );

    let dead = key_block(&r, &invalid);
    assert!(
        dead.contains("  next:\n    already dead: remove it from the code (and from history if you like); nothing to revoke\n"),
        "{dead}"
    );
    assert!(!dead.contains("sgscan revoke"), "{dead}");

    let unsure = key_block(&r, &unknown);
    assert!(unsure.contains("  next:\n    could not verify: "), "{unsure}");
    assert!(
        unsure.contains(&format!("; check it on the API-keys page ({KEYS_PAGE})")),
        "{unsure}"
    );

    for (b, key) in [(live, &admin), (dead, &invalid), (unsure, &unknown)] {
        assert_eq!(
            copied_fingerprint(b),
            fp(key),
            "the ignore line carries the full fingerprint: {b}"
        );
    }
}

#[test]
fn an_unverified_key_is_told_to_verify_and_quiet_leaves_the_steps_out() {
    let tree = Tree::new();
    let repo = Repo::init(&tree.root().join("r"));
    let key = KeyGen::new(0x6e_02).key();
    repo.write("app/.env", &env_line(&key));
    repo.commit("add mail settings");

    let r = scan(tree.root(), &["git", "r"]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&key]);
    let b = key_block(&r, &key);
    assert!(
        b.contains("  next:\n    not verified: run with --verify to learn whether it is live"),
        "{b}"
    );
    assert!(
        b.contains("    purging history (git filter-repo, BFG) does not replace rotation: the key was exposed once pushed\n"),
        "a key from history: {b}"
    );

    let quiet = scan(tree.root(), &["git", "r", "--quiet"]);
    quiet.expect_code(1);
    assert!(
        !quiet.stdout.contains("next:") && !quiet.stdout.contains("sgscan ignore"),
        "{quiet}"
    );
    assert!(quiet.stdout.contains(&format!("key id {}", id(&key))), "{quiet}");
}

#[test]
fn a_key_revoked_in_this_run_is_told_what_is_left() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x6e_03).key();
    mock.set(&key, Behavior::live(&["mail.send", "api_keys.delete"]));
    let tree = Tree::new();
    tree.put_key("app/.env", &key);
    let scan_dir = tree.scan_dir();
    let audit = tree.outside("audit.jsonl");
    let r = scan(
        tree.root(),
        &[
            "dir",
            scan_dir.to_str().unwrap(),
            "--revoke",
            "--yes",
            "--revoke-wait",
            "5",
            "--audit-log",
            audit.to_str().unwrap(),
            "--api-url",
            &mock.url(),
        ],
    );
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&key]);
    assert!(mock.is_revoked(&key));
    let b = key_block(&r, &key);
    assert!(
        b.contains("  next:\n    revoked in this run: remove it from the code;"),
        "{b}"
    );
    assert!(
        !b.contains("sgscan revoke --key-id"),
        "nothing left to revoke: {b}"
    );
    assert!(r.stderr.contains("sgscan: 1 live key to revoke:"), "{r}");
}

#[test]
fn the_fingerprint_the_report_shows_goes_through_sgscan_ignore() {
    let tree = Tree::new();
    let key = KeyGen::new(0x6e_04).key();
    tree.put_key("fixtures/.env", &key);
    let scan_dir = tree.scan_dir();
    let dir = scan_dir.to_str().unwrap();

    let first = scan(tree.root(), &["dir", dir]);
    first.expect_code(1);
    let copied = copied_fingerprint(key_block(&first, &key));
    assert_eq!(copied.len(), 64, "{first}");

    // The 16 digits of the header line are refused, saying where the whole one is.
    let prefix = scan(tree.root(), &["ignore", &copied[..16]]);
    prefix.expect_code(2);
    assert!(
        prefix.stderr.contains("16 of a fingerprint's 64 hex digits"),
        "{prefix}"
    );
    assert!(
        !tree.outside(".sgscanignore").exists(),
        "nothing written after a refusal"
    );

    let missing = scan(tree.root(), &["ignore", "not-a-fingerprint"]);
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("is not a fingerprint (64 hex digits"),
        "{missing}"
    );

    let added = scan(tree.root(), &["ignore", &copied, "--reason", "test fixture"]);
    added.expect_code(0);
    assert!(added.stderr.contains("added 1 fingerprint to"), "{added}");
    let text = std::fs::read_to_string(tree.outside(".sgscanignore")).expect("the ignore file");
    assert!(
        text.starts_with(&format!("{copied}  # test fixture (added ")),
        "{text}"
    );
    // A second time it is there already and the file stays as it was.
    scan(tree.root(), &["ignore", &copied]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(tree.outside(".sgscanignore")).unwrap(),
        text
    );

    let again = scan(tree.root(), &["dir", dir]);
    again.expect_code(0);
    assert!(
        again.stdout.contains("0 keys in 0 locations;") && again.stdout.contains("; 1 allowed"),
        "{again}"
    );
    let json = scan(tree.root(), &["dir", dir, "-f", "json"]);
    assert_eq!(summary(&json.expect_code(0).json(), "allowed"), 1, "{json}");
}

#[test]
fn the_pre_commit_advice_unblocks_the_commit() {
    let tree = Tree::new();
    let repo = Repo::init(&tree.root().join("r"));
    let key = KeyGen::new(0x6e_05).key();
    repo.write("test/fixture.env", &env_line(&key));
    repo.write("test/sub/README", "fixtures\n");
    repo.git(&["add", "-A"]);

    let blocked = scan(&repo.path, &["staged"]);
    blocked.expect_code(1);
    assert!(
        blocked.stderr.contains("sgscan: commit blocked: 1 staged key."),
        "{blocked}"
    );
    assert!(
        blocked
            .stderr
            .contains("run the `sgscan ignore FINGERPRINT` shown for it above"),
        "{blocked}"
    );
    let copied = copied_fingerprint(key_block(&blocked, &key));

    // Run from a subdirectory, as a user in their editor's directory would: the file goes to the
    // repository's top, where the hook's scan reads it.
    scan(&repo.path.join("test/sub"), &["ignore", &copied]).expect_code(0);
    assert!(repo.path.join(".sgscanignore").is_file());
    repo.git(&["add", ".sgscanignore"]);
    let passes = scan(&repo.path, &["staged"]);
    passes.expect_code(0);
    assert!(passes.stdout.contains("; 1 allowed"), "{passes}");
    assert_run_leaks_nothing(&passes, &[&key]);
}

#[test]
fn inline_allows_count_once_per_key_and_not_when_the_key_leaks_elsewhere() {
    let tree = Tree::new();
    let mut g = KeyGen::new(0x6e_06);
    let (allowed, both, plain) = (g.key(), g.key(), g.key());
    tree.put(
        "a.env",
        &format!("KEY={allowed}  # sgscan:allow\nOTHER={allowed} # sgscan:allow\n"),
    );
    tree.put("b.env", &format!("KEY={both}  # sgscan:allow\n"));
    tree.put("c.env", &format!("KEY={both}\nKEY2={plain}\n"));
    let scan_dir = tree.scan_dir();
    let dir = scan_dir.to_str().unwrap();

    let r = scan(tree.root(), &["dir", dir]);
    r.expect_code(1);
    assert_run_leaks_nothing(&r, &[&allowed, &both, &plain]);
    assert!(r.stdout.contains("2 keys in 2 locations; scanned 3 blobs"), "{r}");
    assert!(
        r.stdout.contains("; 1 allowed\n"),
        "only the key found nowhere else: {r}"
    );

    let json = scan(tree.root(), &["dir", dir, "-f", "json"]);
    assert_eq!(summary(&json.expect_code(1).json(), "allowed"), 1, "{json}");

    // In history: the same allowed key in two blobs of two commits is one allowed key.
    let repo = Repo::init(&tree.root().join("r"));
    repo.write("x.env", &format!("KEY={allowed} # sgscan:allow\n"));
    repo.commit("one");
    repo.write("x.env", &format!("# moved\nKEY={allowed} # sgscan:allow\n"));
    repo.commit("two");
    let git = scan(tree.root(), &["git", "r"]);
    git.expect_code(0);
    assert!(
        git.stdout.contains("0 keys in 0 locations; scanned 2 blobs") && git.stdout.contains("; 1 allowed"),
        "{git}"
    );
}

#[test]
fn counts_are_singular_for_one() {
    let tree = Tree::new();
    let key = KeyGen::new(0x6e_07).key();
    tree.put_key("one/.env", &key);
    let scan_dir = tree.scan_dir();
    let one = scan(tree.root(), &["dir", scan_dir.to_str().unwrap()]);
    one.expect_code(1);
    assert!(
        one.stdout.contains("1 key in 1 location; scanned 1 blob ("),
        "{one}"
    );
    let all = one.all();
    assert!(
        !all.contains("(s)") && !all.contains(" 1 blobs") && !all.contains(" 1 keys"),
        "{one}"
    );
}
