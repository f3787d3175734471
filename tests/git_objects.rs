//! Git objects read by what their headers say, and packs that lie: a blob over `--max-file-size`
//! is never inflated (memory follows bytes read, not sizes declared), a truncated pack names what
//! it lost, and two packs that disagree about an id hide nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::util::git::Repo;
use crate::util::{KeyGen, Run, env_line, fps, run_peak_rss, set, sgscan_process};
use serde_json::Value;

/// The most a run over a huge blob may keep resident (KiB): far below the blobs (300 MiB, 8 GiB).
const SMALL_RSS_KIB: u64 = 100 << 10;

/// `sgscan -q -f json ARGS` from `cwd`, with its peak RSS in KiB.
fn measured(cwd: &Path, args: &[&str]) -> (Run, u64) {
    let mut cmd = sgscan_process(cwd);
    cmd.env("NO_COLOR", "1").args(args);
    run_peak_rss(&mut cmd)
}

/// The skips whose path or reason holds `text`.
fn skips_with<'a>(doc: &'a Value, text: &str) -> Vec<&'a Value> {
    doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["path"].as_str().unwrap().contains(text) || s["reason"].as_str().unwrap().contains(text)
        })
        .collect()
}

/// A sparse file of `size` zero bytes at `repo/rel`.
fn sparse(repo: &Repo, rel: &str, size: u64) {
    std::fs::File::create(repo.path.join(rel))
        .unwrap()
        .set_len(size)
        .unwrap();
}

const BIG: u64 = 300 << 20;

sgtest!(git_blob_over_the_limit_is_never_inflated, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(2101).key();
    repo.write("a.env", &env_line(&key));
    sparse(&repo, "zeros.bin", BIG);
    // Above the threshold git streams the file straight into a pack: the pack-order engine's case.
    repo.git(&["-c", "core.bigFileThreshold=1m", "add", "-A"]);
    repo.git(&["commit", "-q", "-m", "big"]);
    let blob = repo.rev("HEAD:zeros.bin");

    let (run, rss) = measured(
        dir.root(),
        &["git", "-q", "-f", "json", "--max-file-size", "1M", "r"],
    );
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let skips = skips_with(&doc, &blob);
    assert_eq!(skips.len(), 1, "one skip for the blob: {doc:#}");
    let skip = skips[0];
    assert_eq!(
        skip["path"],
        "zeros.bin@".to_string() + &repo.head()[..12],
        "{skip}"
    );
    assert!(
        skip["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("of {BIG} bytes")),
        "{skip}"
    );
    assert!(rss < SMALL_RSS_KIB, "peak RSS {rss} KiB for a {BIG}-byte blob");
});

sgtest!(staged_blob_over_the_limit_is_never_inflated, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(2102).key();
    repo.write("README", "hello\n");
    repo.commit("first");
    repo.write("a.env", &env_line(&key));
    sparse(&repo, "zeros.bin", BIG);
    // Below git's big-file threshold: a loose object, whose header is inflated alone.
    repo.git(&["add", "-A"]);
    let blob = repo.rev(":zeros.bin");

    let (run, rss) = measured(
        dir.root(),
        &["staged", "-f", "json", "--max-file-size", "1M", "r"],
    );
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let reason = skips_with(&doc, "zeros.bin")[0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(&blob) && reason.contains(&format!("of {BIG} bytes")),
        "{reason}"
    );
    assert!(
        rss < SMALL_RSS_KIB,
        "staged: peak RSS {rss} KiB for a {BIG}-byte blob"
    );

    // The full sweep reads the same loose object (staged, so in no commit) by its header too.
    let (run, rss) = measured(
        dir.root(),
        &["git", "-q", "-f", "json", "--max-file-size", "1M", "r"],
    );
    let doc = run.json();
    assert!(!skips_with(&doc, &blob).is_empty(), "{doc:#}");
    assert!(
        rss < SMALL_RSS_KIB,
        "git: peak RSS {rss} KiB for a loose {BIG}-byte blob"
    );
});

/// One pack entry: type (1 commit, 2 tree, 3 blob, 7 delta on an id), declared size, the bytes
/// deflated (for a delta, the base's 20-byte id first, stored as it is).
struct Entry<'a> {
    id: &'a str,
    kind: u8,
    declared: u64,
    content: &'a [u8],
}

/// Writes a pack and its version-2 index by hand into `repo`'s object store, for what git would
/// never write: ids that do not match their content, sizes that lie. Returns the `.idx` path.
fn write_pack(repo: &Repo, name: &str, entries: &[Entry]) -> PathBuf {
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend((entries.len() as u32).to_be_bytes());
    let mut objects = Vec::new();
    for e in entries {
        objects.push((hex::decode(e.id).unwrap(), pack.len() as u32));
        let mut size = e.declared;
        let mut byte = (e.kind << 4) | (size & 0xf) as u8;
        size >>= 4;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        let content = match e.kind {
            7 => {
                pack.extend(&e.content[..20]);
                &e.content[20..]
            }
            _ => e.content,
        };
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(content).unwrap();
        pack.extend(z.finish().unwrap());
    }
    // No checksum is verified on a read; the index names the same trailer, as git's does.
    let trailer = [0x5a; 20];
    pack.extend(trailer);
    objects.sort();
    let mut idx = vec![0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2];
    for b in 0..=255u8 {
        let n = objects.iter().filter(|(id, _)| id[0] <= b).count() as u32;
        idx.extend(n.to_be_bytes());
    }
    for (id, _) in &objects {
        idx.extend(id);
    }
    for _ in &objects {
        idx.extend([0u8; 4]);
    }
    for (_, offset) in &objects {
        idx.extend(offset.to_be_bytes());
    }
    idx.extend(trailer);
    idx.extend([0x33; 20]);
    let dir = repo.path.join(".git/objects/pack");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("pack-{name}.pack")), pack).unwrap();
    let path = dir.join(format!("pack-{name}.idx"));
    std::fs::write(&path, idx).unwrap();
    path
}

sgtest!(git_pack_entry_declaring_8_gib_costs_nothing, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(2103).key();
    repo.write("a.env", &env_line(&key));
    repo.commit("key");
    let id = "ab".repeat(20);
    write_pack(
        &repo,
        &"11".repeat(20),
        &[Entry {
            id: &id,
            kind: 3,
            declared: 8 << 30,
            content: b"tiny",
        }],
    );

    // Over the limit: a skip with the size it declares, nothing inflated.
    let (run, rss) = measured(dir.root(), &["git", "-q", "-f", "json", "r"]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(fps(&doc), set(&[&key]));
    let reason = skips_with(&doc, &id)[0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains(&format!("of {} bytes", 8u64 << 30)), "{reason}");
    assert!(rss < SMALL_RSS_KIB, "peak RSS {rss} KiB for a 100-byte pack");

    // Under a limit that would allow it: the entry's few bytes cannot hold what it declares.
    let (run, rss) = measured(
        dir.root(),
        &["git", "-q", "-f", "json", "--max-file-size", "100G", "r"],
    );
    run.expect_code(1);
    let doc = run.json();
    let reason = skips_with(&doc, &id)[0]["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("more than its") && reason.contains("compressed bytes"),
        "{reason}"
    );
    assert!(rss < SMALL_RSS_KIB, "peak RSS {rss} KiB for a 100-byte pack");
});

sgtest!(git_truncated_pack_names_the_objects_it_lost, |dir, cmd| {
    let repo = Repo::init(&dir.root().join("r"));
    let key = KeyGen::new(2104).key();
    repo.write("a.env", &env_line(&key));
    for i in 0..5 {
        repo.write(&format!("f{i}.txt"), &format!("file {i}\n").repeat(50));
    }
    repo.commit("files");
    repo.git(&["gc", "-q"]);
    let dir_pack = repo.path.join(".git/objects/pack");
    let idx = std::fs::read_dir(&dir_pack)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    // The entry at the highest offset is the one a cut loses.
    let listing = crate::util::git::git_command(&repo.path)
        .arg("show-index")
        .stdin(std::fs::File::open(&idx).unwrap())
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let last = listing
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            (
                f.next().unwrap().parse::<u64>().unwrap(),
                f.next().unwrap().to_string(),
            )
        })
        .max()
        .unwrap()
        .1;
    let pack = idx.with_extension("pack");
    let mut perm = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&pack, perm).unwrap();
    let len = std::fs::metadata(&pack).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_len(len - 30)
        .unwrap();

    let (run, _) = measured(dir.root(), &["git", "-q", "-f", "json", "r"]);
    let doc = run.json();
    let pack_name = pack.file_name().unwrap().to_str().unwrap();
    let lost = skips_with(&doc, &last);
    assert!(!lost.is_empty(), "no skip for the cut object {last}: {doc:#}");
    assert!(lost[0]["reason"].as_str().unwrap().contains(pack_name), "{doc:#}");
    assert!(
        lost[0]["reason"].as_str().unwrap().contains("truncated"),
        "{doc:#}"
    );
});

sgtest!(
    git_two_packs_that_disagree_about_an_id_hide_nothing,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let key = KeyGen::new(2105).key();
        repo.write("note.txt", "harmless\n");
        repo.commit("note");
        repo.git(&["gc", "-q"]);
        let id = repo.rev("HEAD:note.txt");
        // Another pack with the same id and other bytes, older than git's: the copy read first is
        // the genuine one, and a reader that trusts the first copy never sees this one.
        let content = env_line(&key);
        let idx = write_pack(
            &repo,
            &"22".repeat(20),
            &[Entry {
                id: &id,
                kind: 3,
                declared: content.len() as u64,
                content: content.as_bytes(),
            }],
        );
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&idx)
            .unwrap()
            .set_modified(old)
            .unwrap();

        let (run, _) = measured(dir.root(), &["git", "-q", "-f", "json", "r"]);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&key]), "{doc:#}");
        let reason = skips_with(&doc, &id)[0]["reason"].as_str().unwrap().to_string();
        assert!(
            reason.contains("does not hash to its id") && reason.contains("22222222"),
            "{reason}"
        );
    }
);

sgtest!(
    git_forged_copy_of_a_commit_does_not_move_where_a_key_was_introduced,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keygen = KeyGen::new(2106);
        let (k1, k2) = (keygen.key(), keygen.key());
        repo.write("a.env", &env_line(&k1));
        let c1 = repo.commit("first key");
        repo.write("b.env", &env_line(&k2));
        let c2 = repo.commit("second key");
        repo.git(&["gc", "-q"]);
        // A second copy of the tip under its id, claiming the first commit's tree: the key of
        // `b.env` would be in no walked tree. In an older pack, it is read after git's own.
        let forged = format!(
            "tree {}\nparent {c1}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nsecond key\n",
            repo.rev(&format!("{c1}^{{tree}}"))
        );
        let idx = write_pack(
            &repo,
            &"33".repeat(20),
            &[Entry {
                id: &c2,
                kind: 1,
                declared: forged.len() as u64,
                content: forged.as_bytes(),
            }],
        );
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&idx)
            .unwrap()
            .set_modified(old)
            .unwrap();

        for jobs in ["1", "0"] {
            let (run, _) = measured(dir.root(), &["git", "-q", "-f", "json", "-j", jobs, "r"]);
            run.expect_code(1);
            let doc = run.json();
            assert_eq!(fps(&doc), set(&[&k1, &k2]), "{doc:#}");
            let at = &crate::util::finding(&doc, &k2)["locations"][0];
            assert_eq!(at["commit"], c2.as_str(), "-j {jobs}: {doc:#}");
            assert_eq!(at["path"], "b.env", "-j {jobs}: {doc:#}");
            assert!(!skips_with(&doc, "does not hash to its id").is_empty(), "{doc:#}");
        }
    }
);

sgtest!(
    git_delta_that_copies_past_its_base_costs_only_itself,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keygen = KeyGen::new(2107);
        let (k1, k2) = (keygen.key(), keygen.key());
        repo.write("README.md", "# app\n");
        repo.commit("init");
        let (base, delta) = ("a1".repeat(20), "b2".repeat(20));
        let base_text = env_line(&k1);
        let after_text = env_line(&k2);
        // Its true id: the copy in a second pack below agrees with this one.
        repo.write("after.txt", &after_text);
        let after = repo.git(&["hash-object", "after.txt"]);
        std::fs::remove_file(repo.path.join("after.txt")).unwrap();
        // Base size, result size 10, then "copy 10 bytes from offset 1000": past the base's end.
        let mut instructions = hex::decode(&base).unwrap();
        instructions.extend([base_text.len() as u8, 10, 0x93, 0xe8, 0x03, 0x0a]);
        // Many entries after it, so that workers are still busy with them when the delta fails.
        let filler: Vec<(String, String)> = (0..200)
            .map(|i| (format!("{:040x}", 0xd000 + i), format!("filler {i}\n")))
            .collect();
        let mut entries = vec![
            Entry {
                id: &base,
                kind: 3,
                declared: base_text.len() as u64,
                content: base_text.as_bytes(),
            },
            Entry {
                id: &delta,
                kind: 7,
                declared: 6,
                content: &instructions,
            },
            Entry {
                id: &after,
                kind: 3,
                declared: after_text.len() as u64,
                content: after_text.as_bytes(),
            },
        ];
        entries.extend(filler.iter().map(|(id, text)| Entry {
            id,
            kind: 3,
            declared: text.len() as u64,
            content: text.as_bytes(),
        }));
        write_pack(&repo, &"44".repeat(20), &entries);
        // The entry after the delta again, in an older pack (read after this one): one object.
        let copy = write_pack(&repo, &"45".repeat(20), &entries[2..3]);
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(old)
            .unwrap();

        let mut counted = Vec::new();
        for jobs in ["1", "0", "8"] {
            let (run, _) = measured(dir.root(), &["git", "-q", "-f", "json", "-j", jobs, "r"]);
            run.expect_code(1);
            let doc = run.json();
            assert_eq!(fps(&doc), set(&[&k1, &k2]), "-j {jobs}: {doc:#}");
            assert!(!skips_with(&doc, &delta).is_empty(), "-j {jobs}: {doc:#}");
            for key in [&k1, &k2] {
                assert_eq!(crate::util::finding(&doc, key)["location_count"], 1, "{doc:#}");
            }
            counted.push(doc["summary"]["blobs_scanned"].clone());
            // Nothing else in the pack is lost: no other entry is named in a skip.
            for id in [&base, &after].into_iter().chain(filler.iter().map(|(id, _)| id)) {
                assert!(skips_with(&doc, id).is_empty(), "-j {jobs}: {id}: {doc:#}");
            }
        }
        // README, the base, the entry after the delta (once, though in two packs), the filler.
        assert_eq!(counted, vec![Value::from(203); 3]);
    }
);

sgtest!(
    git_pack_and_index_that_both_declare_four_billion_objects_cost_nothing,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let key = KeyGen::new(2108).key();
        repo.write("a.env", &env_line(&key));
        repo.commit("key");
        let text = b"small\n";
        let idx = write_pack(
            &repo,
            &"55".repeat(20),
            &[Entry {
                id: &"e5".repeat(20),
                kind: 3,
                declared: text.len() as u64,
                content: text,
            }],
        );
        // The index's last fan-out entry and the pack's header agree on u32::MAX objects; the
        // vetting would hold 16 bytes and a slot for each, were the count believed.
        let mut bytes = std::fs::read(&idx).unwrap();
        bytes[8 + 255 * 4..8 + 256 * 4].copy_from_slice(&u32::MAX.to_be_bytes());
        std::fs::write(&idx, bytes).unwrap();
        let pack = idx.with_extension("pack");
        let mut bytes = std::fs::read(&pack).unwrap();
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        std::fs::write(&pack, bytes).unwrap();

        let (run, rss) = measured(dir.root(), &["git", "-q", "-f", "json", "r"]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(fps(&doc), set(&[&key]), "{doc:#}");
        assert!(!skips_with(&doc, "pack-5555").is_empty(), "{doc:#}");
        assert!(
            rss < SMALL_RSS_KIB,
            "peak RSS {rss} KiB for a lying 1-object pack"
        );
    }
);

sgtest!(
    git_tree_declaring_more_than_it_holds_changes_no_placement,
    |dir, cmd| {
        let repo = Repo::init(&dir.root().join("r"));
        let mut keygen = KeyGen::new(2109);
        let keys: Vec<String> = (0..3).map(|_| keygen.key()).collect();
        repo.write("README.md", "# app\n");
        repo.commit("init");
        for (i, key) in keys.iter().enumerate() {
            repo.write(&format!("d{i}/k.env"), &env_line(key));
            repo.commit(&format!("key {i}"));
        }
        std::fs::remove_file(repo.path.join("d1/k.env")).unwrap();
        repo.commit("drop one");
        repo.git(&["gc", "-q"]);
        let sweep = || {
            let run = crate::util::run(
                crate::util::sgscan(dir.root())
                    .env("NO_COLOR", "1")
                    .env("SGSCAN_TREE_INDEX_MAX_EDGES", "100")
                    .args(["git", "-q", "-f", "json", "r"]),
            );
            run.expect_code(1);
            run.json()
        };
        let honest = sweep();
        // A tree that declares 20,000 bytes and holds 8: its declared bytes alone say the tree
        // index would pass its cap of 100 entries, so it is given up before any tree is read.
        let id = "f7".repeat(20);
        write_pack(
            &repo,
            &"66".repeat(20),
            &[Entry {
                id: &id,
                kind: 2,
                declared: 20_000,
                content: b"100644 x",
            }],
        );
        let lied = sweep();
        assert_eq!(fps(&lied), fps(&honest));
        let locations = |doc: &Value| -> Vec<String> {
            let mut all: Vec<String> = doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["locations"].as_array().unwrap().iter().map(|l| l.to_string()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(locations(&lied), locations(&honest), "{lied:#}");
        assert!(!skips_with(&lied, &id).is_empty(), "{lied:#}");
    }
);

sgtest!(
    git_index_that_lies_about_offsets_costs_only_its_entries,
    |dir, cmd| {
        let mut keygen = KeyGen::new(2110);
        let (k1, k2) = (keygen.key(), keygen.key());
        let (a, b, c) = ("01".repeat(20), "02".repeat(20), "03".repeat(20));
        let (ta, tb, tc) = (env_line(&k1), "middle\n".to_string(), env_line(&k2));
        let blob = |id: &'static str, text: &'static str| Entry {
            id,
            kind: 3,
            declared: text.len() as u64,
            content: text.as_bytes(),
        };
        let (a, b, c): (&'static str, &'static str, &'static str) = (a.leak(), b.leak(), c.leak());
        let (ta, tb, tc): (&'static str, &'static str, &'static str) = (ta.leak(), tb.leak(), tc.leak());
        // The middle entry's offset: the first's (two ids at one place), inside the first entry,
        // past the pack's end.
        for (n, lie) in [(0u8, None), (1, Some(1u32)), (2, Some(1 << 20))].into_iter() {
            let repo = Repo::init(&dir.root().join(format!("r{n}")));
            repo.write("README.md", "# app\n");
            repo.commit("init");
            let idx = write_pack(&repo, &"77".repeat(20), &[blob(a, ta), blob(b, tb), blob(c, tc)]);
            let mut bytes = std::fs::read(&idx).unwrap();
            let offsets = 8 + 1024 + 3 * 20 + 3 * 4;
            let first = u32::from_be_bytes(bytes[offsets..offsets + 4].try_into().unwrap());
            let middle = lie.map_or(first, |l| first + l);
            bytes[offsets + 4..offsets + 8].copy_from_slice(&middle.to_be_bytes());
            std::fs::write(&idx, bytes).unwrap();

            for jobs in ["1", "0"] {
                let path = format!("r{n}");
                let (run, _) = measured(dir.root(), &["git", "-q", "-f", "json", "-j", jobs, &path]);
                run.expect_code(1);
                let doc = run.json();
                assert_eq!(fps(&doc), set(&[&k1, &k2]), "lie {n}, -j {jobs}: {doc:#}");
                // Two ids at one place: the one read first keeps the bytes, the other is skipped.
                let lost = if n == 0 { a } else { b };
                assert!(!skips_with(&doc, lost).is_empty(), "lie {n}, -j {jobs}: {doc:#}");
                if n == 0 {
                    let reason = skips_with(&doc, a)[0]["reason"].as_str().unwrap().to_string();
                    assert!(reason.contains("place of another entry"), "{reason}");
                }
            }
        }
    }
);
