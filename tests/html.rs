//! `--format html`: the page parsed back (scraper) for its summary figures, the order of its key
//! rows, its timeline; that it is self-contained (CSP meta, no script, no external reference); that
//! hostile names inject nothing; that no key reaches it, even with `--show-secrets`.

use scraper::{ElementRef, Html, Selector};

use crate::util::git::Repo;
use crate::util::mock::{Behavior, MockSendGrid};
use crate::util::{KeyGen, Run, Tree, assert_no_key, env_line, id, run, scan, sgscan};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"))
}

/// Standard output as an HTML page, after checking that it holds none of `keys`.
fn page(r: &Run, keys: &[&String]) -> Html {
    assert_no_key(&r.stdout, "the HTML report", keys);
    assert!(
        r.stdout.starts_with("<!DOCTYPE html>") && r.stdout.trim_end().ends_with("</html>"),
        "not one HTML page:\n{r}"
    );
    let doc = Html::parse_document(&r.stdout);
    assert_self_contained(&doc);
    doc
}

fn text(e: ElementRef) -> String {
    e.text().collect()
}

/// The number in the summary's `data-figure="NAME"` element.
fn figure(doc: &Html, name: &str) -> u64 {
    let found: Vec<ElementRef> = doc
        .select(&sel(&format!("#summary [data-figure=\"{name}\"]")))
        .collect();
    assert_eq!(found.len(), 1, "one summary figure {name}");
    let t = text(found[0]);
    let n: u64 = t
        .trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("figure {name} is not a number: {t:?}"));
    assert_eq!(
        found[0].value().attr("data-value"),
        Some(n.to_string().as_str()),
        "figure {name}: the number as shown and as data"
    );
    n
}

/// The key ids of the table's rows, top to bottom.
fn row_ids(doc: &Html) -> Vec<String> {
    doc.select(&sel("table#keys > tbody > tr"))
        .map(|tr| tr.value().attr("data-key-id").unwrap_or_default().to_string())
        .collect()
}

/// The row of the key with this id.
fn row<'a>(doc: &'a Html, key: &str) -> ElementRef<'a> {
    let key_id = id(key);
    doc.select(&sel("table#keys > tbody > tr"))
        .find(|tr| tr.value().attr("data-key-id") == Some(key_id.as_str()))
        .unwrap_or_else(|| panic!("no row for key id {key_id}"))
}

/// The text of the row's cell (or part of a cell) of this class.
fn cell(row: ElementRef, class: &str) -> String {
    let c = row
        .select(&sel(&format!(".{class}")))
        .next()
        .unwrap_or_else(|| panic!("no {class} cell"));
    text(c)
}

/// Opens offline under the strict CSP: the policy in a meta element, no script, nothing that
/// loads (or links to) anything outside the page, no CSS that fetches.
fn assert_self_contained(doc: &Html) {
    let metas: Vec<String> = doc
        .select(&sel("head > meta[http-equiv=\"Content-Security-Policy\"]"))
        .map(|m| m.value().attr("content").unwrap_or_default().to_string())
        .collect();
    assert_eq!(metas, [CSP], "the CSP meta");
    for tag in [
        "script", "link", "img", "iframe", "object", "embed", "base", "form", "image", "use",
    ] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "a <{tag}> element");
    }
    for e in doc.select(&sel("*")) {
        for (name, value) in e.value().attrs() {
            let v = value.trim().to_ascii_lowercase();
            assert!(
                !name.starts_with("on"),
                "event handler attribute {name} on <{}>",
                e.value().name()
            );
            assert!(
                !v.contains("http://") && !v.contains("https://") && !v.starts_with("//"),
                "external reference in {name}={value:?}"
            );
            if matches!(
                name,
                "src" | "href" | "xlink:href" | "srcset" | "action" | "data" | "poster"
            ) {
                assert!(v.starts_with('#'), "{name}={value:?} loads something");
            }
            if name == "style" {
                assert!(!v.contains("url(") && !v.contains("@import"), "style={value:?}");
            }
        }
    }
    for style in doc.select(&sel("style")) {
        let css = text(style).to_ascii_lowercase();
        assert!(
            !css.contains("url(") && !css.contains("@import") && !css.contains("http"),
            "CSS that fetches: {css}"
        );
    }
}

#[test]
fn summary_figures_and_rows_live_and_most_privileged_first_without_keys_even_with_show_secrets() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x47_01);
    let (full, elevated, send_only, invalid, unknown) = (g.key(), g.key(), g.key(), g.key(), g.key());
    mock.set(&full, Behavior::live(&["mail.send", "api_keys.create"]));
    mock.set(
        &elevated,
        Behavior::live(&["mail.send", "templates.read", "stats.read"]),
    );
    mock.set(&send_only, Behavior::live(&["mail.send"]));
    mock.set(&invalid, Behavior::Invalid);
    mock.set(&unknown, Behavior::Html200);
    let tree = Tree::new();
    // Paths in the reverse of the expected order, so that walk order cannot pass for ranking; the
    // second copy of the send-only key makes locations differ from keys.
    tree.put_key("a_invalid/.env", &invalid);
    tree.put_key("b_unknown/.env", &unknown);
    tree.put_key("c_send/.env", &send_only);
    tree.put_key("c_send/copy.env", &send_only);
    tree.put_key("d_elevated/.env", &elevated);
    tree.put_key("e_full/.env", &full);
    let policy = tree.outside("policy.toml");
    std::fs::write(&policy, "allowed_scopes = [\"mail.send\"]\n").unwrap();
    let scan_dir = tree.scan_dir();
    let r = scan(
        tree.root(),
        &[
            "dir",
            scan_dir.to_str().unwrap(),
            "--verify",
            "--api-url",
            &mock.url(),
            "--policy",
            policy.to_str().unwrap(),
            "--show-secrets",
            "-f",
            "html",
        ],
    );
    r.expect_code(1);
    let all = [&full, &elevated, &send_only, &invalid, &unknown];
    assert_no_key(&r.stderr, "stderr", &all);
    let doc = page(&r, &all);

    let figures = [
        ("keys", 5),
        ("locations", 6),
        ("live", 3),
        ("invalid", 1),
        ("unknown", 1),
        ("unverified", 0),
        ("full-access", 1),
        ("elevated", 1),
        ("send-only", 1),
        ("revoked", 0),
        ("rotated", 0),
        ("skipped", 0),
    ];
    for (name, n) in figures {
        assert_eq!(figure(&doc, name), n, "figure {name}");
    }
    assert!(figure(&doc, "blobs") >= 6 && figure(&doc, "bytes") > 0);
    assert_eq!(
        doc.select(&sel("time[datetime]")).count(),
        2,
        "when the report was made, in the header and the summary"
    );

    assert_eq!(
        row_ids(&doc),
        [&full, &elevated, &send_only, &unknown, &invalid].map(|k| id(k)),
        "live by privilege, then unknown, then invalid"
    );
    let r_full = row(&doc, &full);
    assert_eq!(r_full.value().attr("data-status"), Some("live"));
    assert_eq!(cell(r_full, "level"), "full-access");
    assert_eq!(cell(r_full, "above"), "api_keys.create");
    assert_eq!(cell(r_full, "policy"), "api_keys.create");
    assert_eq!(cell(r_full, "id"), id(&full));
    let next = cell(r_full, "next");
    assert!(
        next.starts_with(&format!("revoke it: sgscan revoke --key-id {}", id(&full))),
        "the human report's next step: {next}"
    );
    // Markdown's backticks are code, not literal backticks.
    let command: Vec<String> = r_full.select(&sel("td.next p code")).map(text).collect();
    assert_eq!(command, [format!("sgscan revoke --key-id {}", id(&full))]);
    assert!(!next.contains('`'), "{next}");
    assert!(next.contains("full access: it can create keys"), "{next}");
    let r_elevated = row(&doc, &elevated);
    assert_eq!(cell(r_elevated, "level"), "elevated");
    assert_eq!(cell(r_elevated, "policy"), "templates.read, stats.read");
    let r_send = row(&doc, &send_only);
    assert_eq!(
        r_send.select(&sel(".above")).count(),
        0,
        "nothing above send-only"
    );
    assert_eq!(
        r_send.select(&sel("td.locations ul.open > li")).count(),
        2,
        "both locations, open"
    );
    assert_eq!(r_send.select(&sel("td.locations details")).count(), 0);
    assert!(cell(row(&doc, &invalid), "next").starts_with("already dead"));
    assert_eq!(row(&doc, &unknown).value().attr("data-status"), Some("unknown"));
    // A work-tree scan has no commits: no timeline, no git position.
    assert_eq!(doc.select(&sel("svg")).count(), 0);
    assert_eq!(cell(r_full, "git"), "—");
}

#[test]
fn hostile_file_and_author_names_inject_no_element_or_attribute() {
    let tmp = Tree::new();
    let repo = Repo::init(&tmp.root().join("repo"));
    let mut g = KeyGen::new(0x47_02);
    let (k1, k2) = (g.key(), g.key());
    let tag_name = "<img src=x onerror=alert(1)>.env";
    let attr_name = "q\" onmouseover=\"alert(2)' x='.env";
    repo.write(tag_name, &env_line(&k1));
    repo.write(attr_name, &env_line(&k2));
    repo.git(&["add", "-A"]);
    // git drops `<` and `>` from names: quotes and ampersands are what an author can inject.
    let author = "Eve \"x\" onclick='alert(3)' &amp; Co";
    let out = repo.run(&[("GIT_AUTHOR_NAME", author)], &["commit", "-q", "-m", "add"]);
    assert!(out.status.success(), "commit: {out:?}");

    let r = scan(tmp.root(), &["git", "repo", "-f", "html"]);
    r.expect_code(1);
    let doc = page(&r, &[&k1, &k2]);
    assert_eq!(row_ids(&doc).len(), 2);
    // The names arrive as text, exactly.
    let paths: Vec<String> = doc
        .select(&sel("td.locations li > code:first-child"))
        .map(text)
        .collect();
    assert!(paths.contains(&tag_name.to_string()), "{paths:?}");
    assert!(paths.contains(&attr_name.to_string()), "{paths:?}");
    assert!(
        cell(row(&doc, &k1), "next").contains(&format!("still in HEAD's tree at {tag_name}")),
        "next steps escaped too"
    );
    let first = cell(row(&doc, &k1), "first");
    assert!(first.contains(author), "{first}");
    assert!(
        !r.stdout.contains("<img") && !r.stdout.contains("<script") && !r.stdout.contains("\" onmouseover"),
        "raw markup from the scan"
    );
}

/// The repository's clock at day `d` after 2023-11-14 (the harness's T0), for both git dates.
fn on_day(d: i64) -> String {
    format!("{} +0000", crate::util::git::T0 + d * 86_400)
}

#[test]
fn git_sweep_timeline_has_one_row_per_key_from_introduction_to_removal_or_present() {
    let tmp = Tree::new();
    let repo = Repo::init(&tmp.root().join("repo"));
    let mut g = KeyGen::new(0x47_03);
    let (gone, kept) = (g.key(), g.key());
    let commit = |day: i64, msg: &str| {
        let date = on_day(day);
        repo.git(&["add", "-A"]);
        let out = repo.run(
            &[("GIT_AUTHOR_DATE", &date), ("GIT_COMMITTER_DATE", &date)],
            &["commit", "-q", "-m", msg],
        );
        assert!(out.status.success(), "commit: {out:?}");
    };
    repo.write("config/.env", &env_line(&gone));
    commit(0, "add the key");
    // The same key again, in other bytes (another blob): its newest commit ends its window.
    repo.write("deploy/env.sh", &format!("export {}", env_line(&gone)));
    repo.write("app/.env", &env_line(&kept));
    commit(17, "deploy script, app key");
    std::fs::remove_file(repo.path.join("config/.env")).unwrap();
    std::fs::remove_file(repo.path.join("deploy/env.sh")).unwrap();
    commit(57, "remove the old key");

    let r = scan(tmp.root(), &["git", "repo", "-f", "html"]);
    r.expect_code(1);
    let doc = page(&r, &[&gone, &kept]);
    assert_eq!(figure(&doc, "keys"), 2);
    assert_eq!(figure(&doc, "commits"), 3);

    let rows: Vec<ElementRef> = doc.select(&sel("svg#timeline > g.row")).collect();
    assert_eq!(rows.len(), 2, "one timeline row per key");
    let row_of = |key: &str| {
        let key_id = id(key);
        rows.iter()
            .find(|g| g.value().attr("data-key-id") == Some(key_id.as_str()))
            .map(|g| text(*g))
            .unwrap_or_else(|| panic!("no timeline row for key id {key_id}"))
    };
    let gone_row = row_of(&gone);
    assert!(
        gone_row.contains("2023-11-14 → removed after 2023-12-01"),
        "{gone_row}"
    );
    let kept_row = row_of(&kept);
    assert!(kept_row.contains("2023-12-01 → still present"), "{kept_row}");
    assert_eq!(
        doc.select(&sel("svg#timeline rect.bar")).count(),
        2,
        "a bar per key"
    );

    let t_gone = row(&doc, &gone);
    assert_eq!(cell(t_gone, "git"), "only in history");
    assert!(cell(t_gone, "first").contains("2023-11-14"));
    assert_eq!(t_gone.select(&sel("td.locations li")).count(), 2);
    let t_kept = row(&doc, &kept);
    assert_eq!(cell(t_kept, "git"), "still in HEAD");
    assert!(cell(t_kept, "first").contains("2023-12-01"));
}

#[test]
fn merge_of_a_verified_and_an_unverified_report_renders_one_page_in_rank_order() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x47_04);
    let (live, invalid, unverified) = (g.key(), g.key(), g.key());
    mock.set(&live, Behavior::live(&["mail.send"]));
    mock.set(&invalid, Behavior::Invalid);
    let one = Tree::new();
    // The unverified key's path sorts first, the invalid one's before the live one's.
    one.put_key("b/.env", &invalid);
    one.put_key("c/.env", &live);
    let two = Tree::new();
    two.put_key("a/.env", &unverified);
    let r1 = one.outside("one.json");
    let r2 = one.outside("two.jsonl");
    // The JSON report carries the secrets: the page made from it still must not.
    let made = scan(
        one.root(),
        &[
            "dir",
            one.scan_dir().to_str().unwrap(),
            "--verify",
            "--api-url",
            &mock.url(),
            "--show-secrets",
            "-f",
            "json",
            "-o",
            r1.to_str().unwrap(),
        ],
    );
    made.expect_code(1);
    let made = scan(
        two.root(),
        &[
            "dir",
            two.scan_dir().to_str().unwrap(),
            "-f",
            "jsonl",
            "-o",
            r2.to_str().unwrap(),
        ],
    );
    made.expect_code(1);

    let r = scan(
        one.root(),
        &["merge", r1.to_str().unwrap(), r2.to_str().unwrap(), "-f", "html"],
    );
    r.expect_code(1);
    let doc = page(&r, &[&live, &invalid, &unverified]);
    for (name, n) in [
        ("keys", 3),
        ("locations", 3),
        ("live", 1),
        ("invalid", 1),
        ("unverified", 1),
        ("send-only", 1),
    ] {
        assert_eq!(figure(&doc, name), n, "figure {name}");
    }
    assert_eq!(
        row_ids(&doc),
        [&live, &unverified, &invalid].map(|k| id(k)),
        "live, then not verified, then invalid"
    );
    assert!(cell(row(&doc, &unverified), "next").starts_with("not verified: run with --verify"));
}

#[test]
fn stdin_and_a_clean_scan_write_html_too() {
    let tree = Tree::new();
    let key = KeyGen::new(0x47_05).key();
    let r = run(sgscan(tree.root())
        .args(["stdin", "--name", "pasted.env", "-f", "html"])
        .write_stdin(env_line(&key)));
    r.expect_code(1);
    let doc = page(&r, &[&key]);
    assert_eq!(row_ids(&doc), [id(&key)]);
    assert_eq!(
        text(
            doc.select(&sel("td.locations li > code"))
                .next()
                .expect("a location")
        ),
        "pasted.env"
    );

    tree.put("readme.txt", "nothing here\n");
    let r = scan(
        tree.root(),
        &["dir", tree.scan_dir().to_str().unwrap(), "-f", "html"],
    );
    r.expect_code(0);
    let doc = page(&r, &[]);
    assert_eq!(figure(&doc, "keys"), 0);
    assert_eq!(row_ids(&doc).len(), 0);
    assert!(text(doc.select(&sel("p.clean")).next().expect("says it is clean")).contains("No keys"));
}

#[test]
fn revoked_in_this_run_is_counted_and_shown_with_its_next_step() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x47_06);
    let (revocable, stuck) = (g.key(), g.key());
    // A key holding api_keys.delete revokes itself; a send-only one cannot, without an admin key.
    mock.set(
        &revocable,
        Behavior::live(&["mail.send", "api_keys.read", "api_keys.delete"]),
    );
    mock.set(&stuck, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    tree.put_key("a/.env", &revocable);
    tree.put_key("b/.env", &stuck);
    let audit = tree.outside("audit.jsonl");
    let r = scan(
        tree.root(),
        &[
            "dir",
            tree.scan_dir().to_str().unwrap(),
            "--revoke",
            "--yes",
            "--api-url",
            &mock.url(),
            "--audit-log",
            audit.to_str().unwrap(),
            "--revoke-wait",
            "5",
            "-f",
            "html",
        ],
    );
    assert!(mock.is_revoked(&revocable), "{r}");
    let doc = page(&r, &[&revocable, &stuck]);
    assert_eq!(figure(&doc, "revoked"), 1);
    assert_eq!(
        figure(&doc, "live"),
        2,
        "live when verified, before the revocation"
    );
    let row = row(&doc, &revocable);
    let status = cell(row, "status");
    assert!(status.contains("revoked (by self)"), "{status}");
    assert!(
        cell(row, "next").starts_with("revoked in this run: remove it from the code"),
        "{}",
        cell(row, "next")
    );
}

/// Whether `e` is inside a `<details>` that is not open: hidden until clicked, and in a printout.
fn folded(e: ElementRef) -> bool {
    e.ancestors()
        .filter_map(ElementRef::wrap)
        .any(|a| a.value().name() == "details" && a.value().attr("open").is_none())
}

#[test]
fn header_names_the_repository_and_commit_and_the_first_locations_are_open() {
    let mock = MockSendGrid::start();
    let tmp = Tree::new();
    let repo = Repo::init(&tmp.root().join("shop"));
    repo.git(&["checkout", "-q", "-b", "release/<b>&"]);
    repo.git(&[
        "remote",
        "add",
        "origin",
        "https://deploy:hunter2@git.example.com/acme/shop.git?token=zzz",
    ]);
    let mut g = KeyGen::new(0x47_09);
    let (spread, dead) = (g.key(), g.key());
    mock.set(&spread, Behavior::live(&["mail.send", "user.username.read"]));
    mock.set(&dead, Behavior::Invalid);
    for i in 0..5 {
        // Different blobs: git stores one blob once, at whichever path.
        repo.write(&format!("conf/{i}.env"), &format!("# {i}\n{}", env_line(&spread)));
    }
    repo.write("old.env", &env_line(&dead));
    let head = repo.commit("add settings");

    let r = scan(
        tmp.root(),
        &["git", "shop", "--verify", "--api-url", &mock.url(), "-f", "html"],
    );
    r.expect_code(1);
    let doc = page(&r, &[&spread, &dead]);

    // The header: mode, repository (path, remote without its credentials), branch, commit.
    let header: Vec<ElementRef> = doc.select(&sel("header #target")).collect();
    assert_eq!(header.len(), 1, "a target block in the header:\n{}", r.stdout);
    let said = text(header[0]);
    let top = std::fs::canonicalize(&repo.path).unwrap();
    assert!(said.contains(top.to_str().unwrap()), "{said}");
    assert!(said.contains("https://git.example.com/acme/shop.git"), "{said}");
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("zzz"),
        "credentials shown"
    );
    assert!(said.contains("release/<b>&"), "the branch, as text: {said}");
    assert!(said.contains(&head[..12]), "{said}");
    let repos: Vec<ElementRef> = doc.select(&sel("#target dd.repository")).collect();
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].value().attr("data-head"), Some(head.as_str()));
    assert_eq!(
        doc.select(&sel("#target [data-target=mode]"))
            .map(text)
            .collect::<Vec<_>>(),
        ["git"]
    );
    let title: String = doc.select(&sel("h1")).map(text).collect();
    assert_eq!(title, "sgscan report: git scan of shop");

    // Locations: the first three open, the other two folded under "2 more locations".
    let r_spread = row(&doc, &spread);
    let items: Vec<ElementRef> = r_spread.select(&sel("td.locations li")).collect();
    assert_eq!(items.len(), 5);
    let open: Vec<String> = items
        .iter()
        .filter(|li| !folded(**li))
        .map(|li| text(*li))
        .collect();
    assert_eq!(open.len(), 3, "{open:?}");
    assert!(open[0].starts_with("conf/0.env:2:"), "{open:?}");
    let more: Vec<String> = r_spread
        .select(&sel("td.locations details > summary"))
        .map(text)
        .collect();
    assert_eq!(more, ["2 more locations"]);
    let r_dead = row(&doc, &dead);
    assert!(r_dead.select(&sel("td.locations li")).all(|li| !folded(li)));

    // The account, as the terminal report names it; a dead key's status in a few words.
    assert_eq!(cell(r_spread, "account"), "account default-owner");
    let status = cell(r_dead, "status");
    assert!(
        status.starts_with("invalid") && status.contains("does not authenticate"),
        "{status}"
    );
    assert!(
        !status.contains("authorization grant"),
        "SendGrid's sentence, shown whole: {status}"
    );

    // Key ids and scope names are never split mid-word.
    let style: String = doc.select(&sel("style")).map(text).collect();
    assert!(!style.contains("break-all"), "{style}");
}
