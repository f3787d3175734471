//! `sgscan github` and `sgscan gitlab`: enumerating a forge's repositories over its REST API, on a
//! fake forge ([`FakeForge`]) on 127.0.0.1. What is listed (`--list`), with which markers; where the
//! token goes (the API's origin only) and where it never shows (any output).

use serde_json::json;

use crate::util::forge::{FakeForge, epoch_in, github_repo, gitlab_project};
use crate::util::githttp::{GitHttp, planted};
use crate::util::mock::Response;
use crate::util::mock::fingerprint;
use crate::util::{KeyGen, Run, Tree, fps, run, sgscan};

/// A token made at run time, long and unlike anything else in the output.
fn token(forge: &str) -> String {
    format!("{forge}_tok{}x{}", std::process::id(), "Q7w".repeat(8))
}

/// `sgscan ARGS` with `var=token` in the environment.
fn forge_run(tree: &Tree, var: &str, token: &str, args: &[&str]) -> Run {
    run(sgscan(tree.root())
        .env("NO_COLOR", "1")
        .env(var, token)
        .args(args))
}

fn assert_token_hidden(r: &Run, token: &str) {
    assert!(
        !r.stdout.contains(token) && !r.stderr.contains(token),
        "the token shows in the output:\n{r}"
    );
}

/// Every request the forge saw carried `authorization` (and there were `count` of them, if given).
fn assert_every_request_carries(api: &FakeForge, count: Option<usize>, authorization: &str) {
    let seen = api.seen();
    if let Some(n) = count {
        assert_eq!(seen.len(), n, "{seen:?}");
    }
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(authorization)),
        "{seen:?}"
    );
}

/// The `--list` line of `url`, if any.
fn line<'a>(r: &'a Run, url: &str) -> Option<&'a str> {
    r.stdout.lines().find(|l| l.split(' ').next() == Some(url))
}

/// An organisation of four repositories on two pages (a plain one, a fork, an archived one, one
/// with a wiki), and one more asked for with --repo.
fn github_org(api: &FakeForge, git: &str) {
    let page2 = format!("{}/orgs/acme/repos?type=all&per_page=100&page=2", api.url());
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!([
            github_repo(git, "acme/app", false, false, false),
            github_repo(git, "acme/forked", true, false, false),
        ]),
        Some(&page2),
    );
    api.page(
        "/orgs/acme/repos?type=all&per_page=100&page=2",
        json!([
            github_repo(git, "acme/old", false, true, false),
            github_repo(git, "acme/docs", false, false, true),
        ]),
        None,
    );
    api.page(
        "/repos/someone/tool",
        github_repo(git, "someone/tool", false, false, true),
        None,
    );
}

#[test]
fn github_lists_an_organisation_over_two_pages_and_each_flag_takes_its_kind() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    github_org(&api, git);
    let tok = token("ghp");
    let args = [
        "github",
        "--org",
        "acme",
        "--repo",
        "someone/tool",
        "--github-api-url",
        &api.url(),
        "--list",
    ];
    let plain = forge_run(&tree, "GITHUB_TOKEN", &tok, &args);
    plain.expect_code(0);
    assert_token_hidden(&plain, &tok);
    let app = format!("{git}/acme/app.git");
    let forked = format!("{git}/acme/forked.git");
    let old = format!("{git}/acme/old.git");
    let docs = format!("{git}/acme/docs.git");
    let docs_wiki = format!("{git}/acme/docs.wiki.git");
    let tool_wiki = format!("{git}/someone/tool.wiki.git");
    assert_eq!(line(&plain, &app), Some(app.as_str()), "{plain}");
    assert_eq!(line(&plain, &docs), Some(docs.as_str()), "{plain}");
    let fork_line = line(&plain, &forked).unwrap_or_else(|| panic!("no fork line:\n{plain}"));
    assert!(
        fork_line.contains("[fork] [skipped: fork (--include-forks"),
        "{fork_line}"
    );
    let old_line = line(&plain, &old).unwrap_or_else(|| panic!("no archived line:\n{plain}"));
    assert!(
        old_line.contains("[archived] [skipped: archived (--include-archived"),
        "{old_line}"
    );
    assert!(
        line(&plain, &docs_wiki).is_none() && line(&plain, &tool_wiki).is_none(),
        "{plain}"
    );
    assert_eq!(plain.stdout.lines().count(), 5, "{plain}");

    let mut all = args.to_vec();
    all.extend(["--include-forks", "--include-archived", "--include-wikis"]);
    let every = forge_run(&tree, "GITHUB_TOKEN", &tok, &all);
    every.expect_code(0);
    assert_token_hidden(&every, &tok);
    assert_eq!(
        line(&every, &forked),
        Some(format!("{forked} [fork]").as_str()),
        "{every}"
    );
    assert_eq!(
        line(&every, &old),
        Some(format!("{old} [archived]").as_str()),
        "{every}"
    );
    assert_eq!(
        line(&every, &docs_wiki),
        Some(format!("{docs_wiki} [wiki]").as_str()),
        "{every}"
    );
    assert_eq!(
        line(&every, &tool_wiki),
        Some(format!("{tool_wiki} [wiki]").as_str()),
        "{every}"
    );
    assert!(
        line(&every, &format!("{git}/acme/app.wiki.git")).is_none(),
        "{every}"
    );
    assert!(!every.stdout.contains("skipped"), "{every}");

    // Every request carried the token, to the API and nowhere else.
    assert_every_request_carries(&api, Some(6), &format!("Bearer {tok}"));
}

#[test]
fn github_sweeps_what_it_lists_cloning_with_the_token_from_a_file_and_names_each_repository() {
    let tree = Tree::new();
    let mut keys = KeyGen::new(281);
    let served = tree.root().join("srv");
    let (_, app) = planted(&served.join("acme"), "app", &mut keys, 1);
    let (_, fork) = planted(&served.join("acme"), "forked", &mut keys, 1);
    let tok = token("ghf");
    tree.write("token", format!("{tok}\n"));
    // Clones get in only with the token, as GitHub's clone user: finding the keys proves it went.
    let git = GitHttp::with_auth(&served, "x-access-token", &tok);
    let base = git.url("");
    let base = base.trim_end_matches('/');
    let api = FakeForge::start();
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!([
            github_repo(base, "acme/app", false, false, false),
            github_repo(base, "acme/forked", true, false, false),
        ]),
        None,
    );
    let r = run(sgscan(tree.root()).env("NO_COLOR", "1").args([
        "github",
        "--org",
        "acme",
        "--github-api-url",
        &api.url(),
        "--token-file",
        "token",
        "-f",
        "json",
        "-o",
        "report.json",
    ]));
    r.expect_code(1);
    assert_token_hidden(&r, &tok);
    let text = std::fs::read_to_string(tree.root().join("report.json")).unwrap();
    assert!(!text.contains(&tok), "the token is in the report");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let found = fps(&doc);
    let url = git.url("acme/app.git");
    for k in [&app.old, &app.branch, &app.pull] {
        let f = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fingerprint"] == fingerprint(k))
            .unwrap_or_else(|| panic!("a key of acme/app not found: {found:?}"));
        assert_eq!(f["locations"][0]["repository"], url.as_str(), "{f}");
    }
    // The fork is left out without --include-forks, and the report says the organisation held more.
    assert!(!found.contains(&fingerprint(&fork.old)), "{found:?}");
    assert!(
        text.contains("2 repositories listed, 1 swept, 1 left out"),
        "{text}"
    );
    // The token went to the API as a bearer and to git as Basic auth, never in a URL.
    assert!(git.requests().iter().all(|l| !l.contains(&tok)));
    assert_every_request_carries(&api, None, &format!("Bearer {tok}"));
}

#[test]
fn github_rate_limits_are_waited_out_with_the_wait_shown() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    // Primary: the quota is spent until the reset a second from now.
    api.route(
        "/orgs/acme/repos?type=all&per_page=100",
        vec![
            Response::json(403, json!({"message": "API rate limit exceeded"}))
                .header("X-RateLimit-Remaining", 0)
                .header("X-RateLimit-Reset", epoch_in(1)),
            Response::json(200, json!([github_repo(git, "acme/app", false, false, false)])),
        ],
    );
    // Secondary: 429 with Retry-After.
    api.route(
        "/users/bob/repos?type=all&per_page=100",
        vec![
            Response::json(
                429,
                json!({"message": "You have exceeded a secondary rate limit"}),
            )
            .header("Retry-After", 1),
            Response::json(200, json!([github_repo(git, "bob/dots", false, false, false)])),
        ],
    );
    let tok = token("ghr");
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[
            "github",
            "--org",
            "acme",
            "--user",
            "bob",
            "--github-api-url",
            &api.url(),
            "--list",
        ],
    );
    r.expect_code(0);
    assert_token_hidden(&r, &tok);
    assert!(line(&r, &format!("{git}/acme/app.git")).is_some(), "{r}");
    assert!(line(&r, &format!("{git}/bob/dots.git")).is_some(), "{r}");
    assert!(
        r.stderr
            .contains("GitHub rate limit (x-ratelimit-reset reached): waiting"),
        "{r}"
    );
    assert!(
        r.stderr.contains("GitHub rate limit (Retry-After): waiting 1 s"),
        "{r}"
    );
    assert_eq!(api.count("/orgs/acme/repos?type=all&per_page=100"), 2);
    assert_eq!(api.count("/users/bob/repos?type=all&per_page=100"), 2);
}

#[test]
fn a_rate_limit_past_the_bound_is_a_clear_error_not_a_wait() {
    let tree = Tree::new();
    let api = FakeForge::start();
    api.route(
        "/orgs/acme/repos?type=all&per_page=100",
        vec![Response::json(429, json!({"message": "slow down"})).header("Retry-After", 3600)],
    );
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &token("ghb"),
        &[
            "github",
            "--org",
            "acme",
            "--github-api-url",
            &api.url(),
            "--list",
            "--max-rate-limit-wait",
            "60",
        ],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("asks to wait 3600 s, past the 60 s") && r.stderr.contains("/orgs/acme/repos"),
        "{r}"
    );
    assert_eq!(api.count("/orgs/acme/repos?type=all&per_page=100"), 1);
}

#[test]
fn a_next_link_to_another_origin_is_refused_and_gets_no_token() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let elsewhere = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    let stolen = format!("{}/collect?page=2", elsewhere.url());
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!([github_repo(git, "acme/app", false, false, false)]),
        Some(&stolen),
    );
    let tok = token("gho");
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[
            "github",
            "--org",
            "acme",
            "--github-api-url",
            &api.url(),
            "--list",
        ],
    );
    r.expect_code(2);
    assert_token_hidden(&r, &tok);
    assert!(r.stderr.contains("refusing the next-page link"), "{r}");
    assert!(
        r.stdout.is_empty(),
        "a partial list must not pass for the whole:\n{r}"
    );
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

#[test]
fn answers_not_in_the_forges_shape_are_errors_naming_the_request() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let tok = token("ghs");
    // A 200 that is not a list of repositories (a portal, a proxy) is not an empty organisation.
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!({"message": "ok"}),
        None,
    );
    // A repository without its clone URL.
    api.page(
        "/users/bob/repos?type=all&per_page=100",
        json!([{"full_name": "bob/x", "fork": false, "archived": false, "has_wiki": false}]),
        None,
    );
    // An error whose message echoes the token.
    api.route(
        "/orgs/echo/repos?type=all&per_page=100",
        vec![Response::json(
            401,
            json!({"message": format!("Bad credentials: {tok}")}),
        )],
    );
    let base = ["--github-api-url", &api.url(), "--list"];
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[&["github", "--org", "acme"][..], &base].concat(),
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("GitHub API GET")
            && r.stderr.contains("/orgs/acme/repos?type=all&per_page=100")
            && r.stderr
                .contains("HTTP 200 but the answer is not a list of GitHub repositories"),
        "{r}"
    );
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[&["github", "--user", "bob"][..], &base].concat(),
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("/users/bob/repos") && r.stderr.contains("clone_url"),
        "{r}"
    );
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[&["github", "--org", "echo"][..], &base].concat(),
    );
    r.expect_code(2);
    assert!(r.stderr.contains("HTTP 401: Bad credentials"), "{r}");
    assert_token_hidden(&r, &tok);
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[&["github", "--org", "nobody"][..], &base].concat(),
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("/orgs/nobody/repos") && r.stderr.contains("HTTP 404: Not Found"),
        "{r}"
    );
}

#[test]
fn clone_urls_off_the_forge_or_in_clear_text_are_left_out() {
    let tree = Tree::new();
    let api = FakeForge::start();
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!([
            github_repo("https://evil.example", "acme/a", false, false, false),
            github_repo("http://127.0.0.1:9/git", "acme/b", false, false, false),
            github_repo("ext::sh -c touch% /tmp/pwned", "acme/c", false, false, false),
        ]),
        None,
    );
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &token("ghx"),
        &[
            "github",
            "--org",
            "acme",
            "--github-api-url",
            &api.url(),
            "--list",
        ],
    );
    r.expect_code(0);
    let a = line(&r, "https://evil.example/acme/a.git").unwrap_or_else(|| panic!("{r}"));
    assert!(
        a.contains("[skipped: acme/a: clone URL on host evil.example"),
        "{a}"
    );
    assert!(
        line(&r, "http://127.0.0.1:9/git/acme/b.git").is_some_and(|l| !l.contains("skipped")),
        "{r}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("[skipped: acme/c: unusable clone URL")),
        "{r}"
    );
    // A plain-http API off loopback would carry the token in clear text.
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &token("ghx"),
        &[
            "github",
            "--org",
            "acme",
            "--github-api-url",
            "http://example.com/api/v3",
            "--list",
        ],
    );
    r.expect_code(2);
    assert!(r.stderr.contains("refusing plain-http API URL"), "{r}");
}

#[test]
fn gitlab_lists_groups_and_users_skipping_projects_without_a_repository() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    let first = "/api/v4/groups/acme%2Fplatform/projects?include_subgroups=true&per_page=100";
    let mut empty = gitlab_project(git, "acme/platform/empty", false, false, false);
    empty["empty_repo"] = json!(true);
    let mut issues_only = gitlab_project(git, "acme/platform/tracker", false, false, true);
    issues_only["repository_access_level"] = json!("disabled");
    // GitLab's second page by X-Next-Page alone (no Link header).
    api.route(
        first,
        vec![
            Response::json(
                200,
                json!([
                    gitlab_project(git, "acme/platform/api", false, false, true),
                    gitlab_project(git, "acme/platform/fork", true, false, false),
                    empty,
                ]),
            )
            .header("X-Next-Page", 2),
        ],
    );
    api.route(
        &format!("{first}&page=2"),
        vec![
            Response::json(
                200,
                json!([
                    gitlab_project(git, "acme/platform/legacy", false, true, false),
                    issues_only
                ]),
            )
            .header("X-Next-Page", ""),
        ],
    );
    api.page(
        "/api/v4/users/carol/projects?per_page=100",
        json!([gitlab_project(git, "carol/notes", false, false, false)]),
        None,
    );
    let tok = token("glpat");
    let api_url = format!("{}/api/v4", api.url());
    let args = [
        "gitlab",
        "--group",
        "acme/platform",
        "--include-subgroups",
        "--user",
        "carol",
        "--gitlab-api-url",
        &api_url,
        "--list",
    ];
    let plain = forge_run(&tree, "GITLAB_TOKEN", &tok, &args);
    plain.expect_code(0);
    assert_token_hidden(&plain, &tok);
    let url = |p: &str| format!("{git}/{p}.git");
    assert_eq!(
        line(&plain, &url("acme/platform/api")),
        Some(url("acme/platform/api").as_str()),
        "{plain}"
    );
    assert_eq!(
        line(&plain, &url("carol/notes")),
        Some(url("carol/notes").as_str()),
        "{plain}"
    );
    assert!(
        line(&plain, &url("acme/platform/fork")).is_some_and(|l| l.contains("[fork] [skipped: fork")),
        "{plain}"
    );
    assert!(
        line(&plain, &url("acme/platform/legacy"))
            .is_some_and(|l| l.contains("[archived] [skipped: archived")),
        "{plain}"
    );
    assert!(
        line(&plain, &url("acme/platform/empty"))
            .is_some_and(|l| l.contains("[skipped: no repository (empty project)]")),
        "{plain}"
    );
    assert!(
        line(&plain, &url("acme/platform/tracker"))
            .is_some_and(|l| l.contains("[skipped: no repository (the repository feature is disabled)]")),
        "{plain}"
    );
    assert_eq!(plain.stdout.lines().count(), 6, "{plain}");

    let mut all = args.to_vec();
    all.extend(["--include-forks", "--include-archived", "--include-wikis"]);
    let every = forge_run(&tree, "GITLAB_TOKEN", &tok, &all);
    every.expect_code(0);
    assert_eq!(
        line(&every, &url("acme/platform/fork")),
        Some(format!("{} [fork]", url("acme/platform/fork")).as_str())
    );
    assert_eq!(
        line(&every, &url("acme/platform/legacy")),
        Some(format!("{} [archived]", url("acme/platform/legacy")).as_str())
    );
    let wiki = url("acme/platform/api.wiki");
    assert_eq!(
        line(&every, &wiki),
        Some(format!("{wiki} [wiki]").as_str()),
        "{every}"
    );
    // A project without a repository has no wiki to sweep either, and stays skipped.
    assert!(
        line(&every, &url("acme/platform/tracker.wiki")).is_none(),
        "{every}"
    );
    assert!(
        line(&every, &url("acme/platform/empty")).is_some_and(|l| l.contains("skipped")),
        "{every}"
    );

    let seen = api.seen();
    assert!(
        seen.iter()
            .all(|s| s.private_token.as_deref() == Some(tok.as_str()) && s.authorization.is_none()),
        "{seen:?}"
    );
    assert_eq!(api.count(&format!("{first}&page=2")), 2);
}

#[test]
fn gitlab_without_subgroups_asks_for_the_group_alone_and_reads_link_pages() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    let first = "/api/v4/groups/42/projects?include_subgroups=false&per_page=100";
    let second = format!(
        "{}/api/v4/groups/42/projects?include_subgroups=false&per_page=100&page=2",
        api.url()
    );
    api.page(
        first,
        json!([gitlab_project(git, "acme/one", false, false, false)]),
        Some(&second),
    );
    api.page(
        "/api/v4/groups/42/projects?include_subgroups=false&per_page=100&page=2",
        json!([gitlab_project(git, "acme/two", false, false, false)]),
        None,
    );
    let r = forge_run(
        &tree,
        "GITLAB_TOKEN",
        &token("glpat"),
        &[
            "gitlab",
            "--group",
            "42",
            "--gitlab-api-url",
            &format!("{}/api/v4/", api.url()),
            "--list",
        ],
    );
    r.expect_code(0);
    assert!(line(&r, &format!("{git}/acme/one.git")).is_some(), "{r}");
    assert!(line(&r, &format!("{git}/acme/two.git")).is_some(), "{r}");
    // Projects in GitLab's shape without `archived` are not taken for live ones.
    api.page(
        first,
        json!([{"path_with_namespace": "acme/x", "http_url_to_repo": format!("{git}/acme/x.git")}]),
        None,
    );
    let r = forge_run(
        &tree,
        "GITLAB_TOKEN",
        &token("glpat"),
        &[
            "gitlab",
            "--group",
            "42",
            "--gitlab-api-url",
            &format!("{}/api/v4", api.url()),
            "--list",
        ],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("not a list of GitLab projects") && r.stderr.contains("archived"),
        "{r}"
    );
}

/// Without a token nothing is sent in its place; a 404 (an unknown organisation) is an error.
#[test]
fn without_a_token_the_forge_is_asked_anonymously() {
    let api = FakeForge::start();
    let tree = Tree::new();
    let r = run(sgscan(tree.root()).args([
        "github",
        "--org",
        "none",
        "--github-api-url",
        &api.url(),
        "--list",
    ]));
    r.expect_code(2);
    assert_eq!(api.count("/orgs/none/repos?type=all&per_page=100"), 1);
    assert!(api.seen()[0].authorization.is_none(), "no token, no header");
}

#[test]
fn gitea_lists_organisations_by_link_pages_with_its_token_header() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let git = "http://127.0.0.1:9/git";
    let repo = |name: &str, fork: bool, wiki: bool, empty: bool| {
        let mut r = github_repo(git, name, fork, false, wiki);
        r["empty"] = json!(empty);
        r
    };
    let second = format!("{}/api/v1/orgs/acme/repos?limit=50&page=2", api.url());
    api.page(
        "/api/v1/orgs/acme/repos?limit=50&page=1",
        json!([
            repo("acme/a", false, true, false),
            repo("acme/fork", true, false, false)
        ]),
        Some(&second),
    );
    api.page(
        "/api/v1/orgs/acme/repos?limit=50&page=2",
        json!([repo("acme/empty", false, false, true)]),
        None,
    );
    let tok = token("gitea");
    let r = forge_run(
        &tree,
        "GITEA_TOKEN",
        &tok,
        &[
            "gitea",
            "--org",
            "acme",
            "--gitea-api-url",
            &format!("{}/api/v1", api.url()),
            "--include-wikis",
            "--list",
        ],
    );
    r.expect_code(0);
    assert_token_hidden(&r, &tok);
    assert_eq!(
        line(&r, &format!("{git}/acme/a.git")),
        Some(format!("{git}/acme/a.git").as_str()),
        "{r}"
    );
    assert!(
        line(&r, &format!("{git}/acme/a.wiki.git")).is_some_and(|l| l.ends_with("[wiki]")),
        "{r}"
    );
    assert!(
        line(&r, &format!("{git}/acme/fork.git")).is_some_and(|l| l.contains("[fork] [skipped")),
        "{r}"
    );
    assert!(
        line(&r, &format!("{git}/acme/empty.git"))
            .is_some_and(|l| l.contains("[skipped: no repository (empty)]")),
        "{r}"
    );
    assert_every_request_carries(&api, Some(2), &format!("token {tok}"));
}

#[test]
fn a_token_the_forge_echoes_back_in_a_clone_url_or_a_name_is_not_shown() {
    let tree = Tree::new();
    let api = FakeForge::start();
    let tok = token("ghe");
    let mut named = github_repo("http://127.0.0.1:9/git", "acme/b", false, false, false);
    named["full_name"] = json!(format!("acme/{tok}"));
    named["clone_url"] = json!(format!("https://evil.example/{tok}.git"));
    api.page(
        "/orgs/acme/repos?type=all&per_page=100",
        json!([
            github_repo(
                &format!("http://x-access-token:{tok}@127.0.0.1:9/git"),
                "acme/a",
                false,
                false,
                false
            ),
            github_repo(
                &format!("https://{tok}@evil.example"),
                "acme/c",
                false,
                false,
                false
            ),
            named,
        ]),
        None,
    );
    let r = forge_run(
        &tree,
        "GITHUB_TOKEN",
        &tok,
        &[
            "github",
            "--org",
            "acme",
            "--github-api-url",
            &api.url(),
            "--list",
        ],
    );
    r.expect_code(0);
    assert_token_hidden(&r, &tok);
    assert!(
        line(&r, "http://127.0.0.1:9/git/acme/a.git")
            .is_some_and(|l| l.contains("[skipped: acme/a: clone URL holds credentials")),
        "{r}"
    );
    assert_eq!(
        r.stdout.lines().filter(|l| l.contains("[skipped:")).count(),
        3,
        "{r}"
    );
}
