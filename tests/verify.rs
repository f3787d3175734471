//! `sgscan dir --verify` end to end: the built binary against a fake SendGrid API
//! (`util::mock`), one mock per test (tests run in parallel threads).
//!
//! No key literal appears in this file: every key is generated at run time (`util::KeyGen`), and
//! diagnostics scrub anything shaped like a key before printing it. Every test also checks that no
//! key (nor its secret half) reached standard output, standard error or the files sgscan wrote.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::mock::{self, Behavior, Hostile, MockSendGrid};
use crate::util::{
    KeyGen, Run, Tree, assert_no_key, assert_run_leaks_nothing, finding, fp, id, run, scrub, sgscan,
    verification,
};

/// `sgscan dir SCAN --verify --api-url URL -f FORMAT EXTRA…`
fn verify_fmt(tree: &Tree, api_url: &str, format: &str, extra: &[&str]) -> Run {
    run(sgscan(tree.root())
        .arg("dir")
        .arg(tree.scan_dir())
        .args(["--verify", "--api-url", api_url, "-f", format])
        .args(extra))
}

/// `sgscan dir SCAN --verify --api-url URL -f json EXTRA…`, which must exit 1 (findings).
fn verify_json(tree: &Tree, api_url: &str, extra: &[&str]) -> (Run, Value) {
    let r = verify_fmt(tree, api_url, "json", extra);
    assert_eq!(r.code, 1, "expected exit 1 (findings):\n{r}");
    let doc = r.json();
    (r, doc)
}

fn status(doc: &Value, key: &str) -> String {
    verification(doc, key)["status"]
        .as_str()
        .expect("`verification.status` is a string")
        .to_string()
}

/// A JSON array of strings; an absent field is an empty list.
fn strs(v: &Value) -> Vec<String> {
    if v.is_null() {
        return Vec::new();
    }
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn reason(v: &Value) -> String {
    v["reason"]
        .as_str()
        .expect("`verification.reason` is a string")
        .to_string()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// The GET /v3/scopes requests the mock saw for `key`.
fn scope_requests(mock: &MockSendGrid, key: &str) -> Vec<mock::Request> {
    mock.requests_for(key)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v3/scopes"))
        .collect()
}

// Statuses

#[test]
fn statuses_follow_what_sendgrid_says() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_01);
    let live = g.key();
    let invalid = g.key();
    let credits = g.key();
    let forbidden_json = g.key();
    let forbidden_html = g.key();
    let portal = g.key();
    let unregistered = g.key();
    mock.set(&live, Behavior::live(&["mail.send", "stats.read"]));
    mock.set(&invalid, Behavior::Invalid);
    mock.set(&credits, Behavior::LiveNoCredits);
    mock.set(&forbidden_json, Behavior::Forbidden403Json);
    mock.set(&forbidden_html, Behavior::Forbidden403Html);
    mock.set(&portal, Behavior::Html200);
    let tree = Tree::new();
    let all = [
        &live,
        &invalid,
        &credits,
        &forbidden_json,
        &forbidden_html,
        &portal,
        &unregistered,
    ];
    for (i, k) in all.iter().enumerate() {
        tree.put_key(&format!("svc{i}/.env"), k);
    }

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &all);
    assert_eq!(doc["summary"]["keys"], 7, "{r}");

    let v = verification(&doc, &live);
    assert_eq!(v["status"], "live", "{v}");
    assert_eq!(strs(&v["scopes"]), s(&["mail.send", "stats.read"]), "{v}");
    assert_eq!(v["http_status"], 200, "{v}");
    assert_eq!(v["attempts"], 1, "{v}");
    assert_eq!(v["cached"], false, "{v}");
    assert!(v["checked_at"].as_str().is_some_and(|t| !t.is_empty()), "{v}");

    let v = verification(&doc, &invalid);
    assert_eq!(v["status"], "invalid", "{v}");
    assert_eq!(v["http_status"], 401, "{v}");
    assert!(reason(v).contains("invalid, expired, or revoked"), "{v}");
    assert!(v["scopes"].is_null() && v["privilege"].is_null(), "{v}");

    let v = verification(&doc, &credits);
    assert_eq!(
        v["status"], "live",
        "401 'Maximum credits exceeded' is a live key: {v}"
    );
    assert_eq!(v["http_status"], 401, "{v}");
    assert!(reason(v).contains(mock::NO_CREDITS_MESSAGE), "{v}");
    assert!(v["scopes"].is_null(), "{v}");

    let v = verification(&doc, &forbidden_json);
    assert_eq!(v["status"], "live", "403 with SendGrid's JSON is a live key: {v}");
    assert_eq!(v["http_status"], 403, "{v}");
    assert!(
        v["scopes"].is_null(),
        "no scopes were listed, none may be reported: {v}"
    );
    assert!(v["privilege"].is_null(), "{v}");

    for (what, key, code) in [
        ("403 with an HTML body", &forbidden_html, 403),
        ("200 with an HTML body", &portal, 200),
    ] {
        let v = verification(&doc, key);
        assert_eq!(v["status"], "unknown", "{what} says nothing about the key: {v}");
        assert_eq!(v["http_status"], code, "{v}");
        assert!(v["scopes"].is_null() && v["privilege"].is_null(), "{v}");
    }

    let v = verification(&doc, &unregistered);
    assert_eq!(v["status"], "invalid", "{v}");

    for k in all {
        assert_eq!(
            scope_requests(&mock, k).len(),
            1,
            "one GET /v3/scopes per key (key id {})",
            id(k)
        );
    }
    assert_eq!(mock.requests().len(), 7, "no other request was made");
    let ua = mock.requests()[0].user_agent.clone().unwrap_or_default();
    assert!(ua.starts_with("sgscan/"), "user agent {ua:?}");
}

// Privilege, ordering, policy

/// Send-only, elevated and full-access keys, scripted in `mock` and written to `tree`.
struct PrivilegeKeys {
    send_only: String,
    elevated: String,
    full: String,
}

fn privilege_fixture(mock: &MockSendGrid, tree: &Tree, seed: u64) -> PrivilegeKeys {
    let mut g = KeyGen::new(seed);
    let k = PrivilegeKeys {
        send_only: g.key(),
        elevated: g.key(),
        full: g.key(),
    };
    mock.set(&k.send_only, Behavior::live(&["mail.send"]));
    mock.set(
        &k.elevated,
        Behavior::live(&["mail.send", "templates.read", "stats.read"]),
    );
    mock.set(&k.full, Behavior::live(&["mail.send", "api_keys.create"]));
    // Names in the reverse of the expected report order, so walk order cannot pass for ranking.
    tree.put_key("a_send_only.env", &k.send_only);
    tree.put_key("b_elevated.env", &k.elevated);
    tree.put_key("c_full.env", &k.full);
    k
}

#[test]
fn privilege_levels_in_json() {
    let mock = MockSendGrid::start();
    let tree = Tree::new();
    let k = privilege_fixture(&mock, &tree, 0x5e_02);
    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&k.send_only, &k.elevated, &k.full]);

    let v = verification(&doc, &k.send_only);
    assert_eq!(
        (v["status"].as_str(), v["privilege"].as_str()),
        (Some("live"), Some("send-only")),
        "{v}"
    );
    assert!(strs(&v["above_send_only"]).is_empty(), "{v}");

    let v = verification(&doc, &k.elevated);
    assert_eq!(v["privilege"], "elevated", "{v}");
    assert_eq!(
        strs(&v["above_send_only"]),
        s(&["templates.read", "stats.read"]),
        "{v}"
    );
    assert_eq!(
        strs(&v["scopes"]),
        s(&["mail.send", "templates.read", "stats.read"])
    );

    let v = verification(&doc, &k.full);
    assert_eq!(v["privilege"], "full-access", "{v}");
    assert_eq!(strs(&v["above_send_only"]), s(&["api_keys.create"]), "{v}");
    assert!(
        v["policy_violations"].is_null(),
        "no --policy, no violations: {v}"
    );
}

/// The block of human output about the key with this id: from its header to the blank line.
fn human_block<'a>(out: &'a str, id: &str) -> (usize, &'a str) {
    let start = out
        .find(&format!("key id {id}"))
        .unwrap_or_else(|| panic!("key id {id} is not in the human output:\n{}", scrub(out)));
    let start = out[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = out[start..].find("\n\n").map_or(out.len(), |i| start + i);
    (start, &out[start..end])
}

#[test]
fn human_output_lists_live_keys_first_highest_privilege_first() {
    let mock = MockSendGrid::start();
    let tree = Tree::new();
    let k = privilege_fixture(&mock, &tree, 0x5e_03);
    let mut g = KeyGen::new(0x5e_33);
    let (credits, unknown, invalid) = (g.key(), g.key(), g.key());
    mock.set(&credits, Behavior::LiveNoCredits);
    mock.set(&unknown, Behavior::Forbidden403Html);
    mock.set(&invalid, Behavior::Invalid);
    tree.put_key("0_invalid.env", &invalid);
    tree.put_key("1_unknown.env", &unknown);
    tree.put_key("2_credits.env", &credits);

    let r = verify_fmt(&tree, &mock.url(), "human", &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_run_leaks_nothing(
        &r,
        &[&k.send_only, &k.elevated, &k.full, &credits, &unknown, &invalid],
    );
    let expected = [
        (&k.full, "LIVE (full-access)"),
        (&k.elevated, "LIVE (elevated)"),
        (&k.send_only, "LIVE (send-only)"),
        (&credits, "LIVE (privilege unknown)"),
        (&unknown, "unknown:"),
        (&invalid, "invalid:"),
    ];
    let mut last = None;
    for (key, label) in expected {
        let id = id(key);
        let (pos, block) = human_block(&r.stdout, &id);
        assert!(
            block.contains(label),
            "key id {id} should show {label:?}:\n{}",
            scrub(block)
        );
        if let Some((prev_pos, prev_label)) = last {
            assert!(
                pos > prev_pos,
                "{label:?} is listed before {prev_label:?}:\n{}",
                scrub(&r.stdout)
            );
        }
        last = Some((pos, label));
    }
    let (_, block) = human_block(&r.stdout, &id(&k.elevated));
    assert!(
        block.contains("above send-only: templates.read, stats.read"),
        "{}",
        scrub(block)
    );
}

#[test]
fn policy_lists_scopes_beyond_the_allowed_ones() {
    let mock = MockSendGrid::start();
    let tree = Tree::new();
    let k = privilege_fixture(&mock, &tree, 0x5e_04);
    let policy = tree.outside("policy.toml");
    std::fs::write(&policy, "allowed_scopes = [\"mail.send\"]\n").unwrap();
    let policy_arg = policy.to_str().unwrap();

    let (r, doc) = verify_json(&tree, &mock.url(), &["--policy", policy_arg]);
    assert_run_leaks_nothing(&r, &[&k.send_only, &k.elevated, &k.full]);
    assert_eq!(
        strs(&verification(&doc, &k.elevated)["policy_violations"]),
        s(&["templates.read", "stats.read"])
    );
    assert_eq!(
        strs(&verification(&doc, &k.full)["policy_violations"]),
        s(&["api_keys.create"])
    );
    assert!(
        strs(&verification(&doc, &k.send_only)["policy_violations"]).is_empty(),
        "a send-only key is within the policy"
    );

    let r = verify_fmt(&tree, &mock.url(), "human", &["--policy", policy_arg]);
    assert_eq!(r.code, 1, "{r}");
    let (_, block) = human_block(&r.stdout, &id(&k.elevated));
    assert!(
        block.contains("beyond policy: templates.read, stats.read"),
        "{}",
        scrub(block)
    );

    // A malformed policy is an error before any request.
    let before = mock.requests().len();
    let bad = tree.outside("bad-policy.toml");
    std::fs::write(&bad, "allowed = \"mail.send\"\n").unwrap();
    let r = verify_fmt(&tree, &mock.url(), "json", &["--policy", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("bad-policy.toml"), "{r}");
    assert_eq!(mock.requests().len(), before, "no request with a bad policy");
}

// Retries, timeouts, redirects

#[test]
fn rate_limit_429_waits_for_retry_after_then_succeeds() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_05).key();
    mock.set(
        &key,
        Behavior::RateLimited {
            times: 2,
            retry_after_secs: 1,
        },
    );
    mock.set_scopes(&key, &["mail.send"]);
    let tree = Tree::new();
    tree.put_key("config/.env", &key);

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&key]);
    let v = verification(&doc, &key);
    assert_eq!(v["status"], "live", "{v}");
    assert_eq!(v["attempts"], 3, "{v}");
    assert_eq!(strs(&v["scopes"]), s(&["mail.send"]), "{v}");

    let reqs = scope_requests(&mock, &key);
    let codes: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(codes, vec![429, 429, 200], "exactly 3 GET /v3/scopes");
    for w in reqs.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "a retry came {gap:?} after a 429 with Retry-After: 1"
        );
    }
}

#[test]
fn server_error_500_is_retried_then_succeeds() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_06).key();
    mock.set(&key, Behavior::ServerError { times: 1 });
    mock.set_scopes(&key, &["mail.send", "mail.batch.read"]);
    let tree = Tree::new();
    tree.put_key("app.yaml", &key);

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&key]);
    let v = verification(&doc, &key);
    assert_eq!(v["status"], "live", "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    assert_eq!(v["privilege"], "send-only", "{v}");
    let codes: Vec<u16> = scope_requests(&mock, &key).iter().map(|r| r.status).collect();
    assert_eq!(codes, vec![500, 200]);
}

#[test]
fn a_hanging_server_times_out_as_unknown_never_invalid() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_07).key();
    // Far longer than the deadline, so that the bound below tells waiting from not waiting even on a
    // loaded machine.
    mock.set(&key, Behavior::Hang { secs: 40 });
    let tree = Tree::new();
    tree.put_key(".env", &key);

    let (r, doc) = verify_json(
        &tree,
        &mock.url(),
        &["--verify-timeout", "1", "--verify-deadline", "3"],
    );
    assert_run_leaks_nothing(&r, &[&key]);
    let v = verification(&doc, &key);
    assert_eq!(v["status"], "unknown", "{v}");
    assert!(reason(v).contains("timed out"), "{v}");
    assert!(v["http_status"].is_null(), "no answer arrived: {v}");
    assert!(
        r.elapsed < Duration::from_secs(25),
        "sgscan waited for the hanging server ({:?}) despite --verify-timeout 1 --verify-deadline 3",
        r.elapsed
    );
    let n = scope_requests(&mock, &key).len();
    assert!((1..=3).contains(&n), "{n} requests within a 3 s deadline");
}

#[test]
fn redirects_are_not_followed_with_the_key() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_08).key();
    mock.set(
        &key,
        Behavior::Redirect {
            location: format!("{}/v3/elsewhere", mock.url()),
        },
    );
    let tree = Tree::new();
    tree.put_key(".env", &key);

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&key]);
    let v = verification(&doc, &key);
    assert_eq!(v["status"], "unknown", "{v}");
    assert_eq!(mock.count("GET", "/v3/elsewhere"), 0, "the redirect was followed");
    assert_eq!(mock.requests_for(&key).len(), 1);
}

// Request economy: one request per distinct key, none without the network, cache

#[test]
fn the_same_key_in_three_files_is_verified_once() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_09).key();
    mock.set(&key, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    tree.put_key("a/.env", &key);
    tree.put("b/settings.json", &format!("{{\"sendgrid\": \"{key}\"}}\n"));
    tree.put("c/deploy.yaml", &format!("env:\n  SENDGRID: '{key}'\n"));

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&key]);
    assert_eq!(finding(&doc, &key)["location_count"], 3, "{r}");
    assert_eq!(status(&doc, &key), "live");
    assert_eq!(mock.count("GET", "/v3/scopes"), 1, "one request per key");
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn two_distinct_keys_make_two_requests() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_0a);
    let (a, b) = (g.key(), g.key());
    mock.set(&a, Behavior::live(&["mail.send"]));
    mock.set(&b, Behavior::Invalid);
    let tree = Tree::new();
    tree.put_key("one/.env", &a);
    tree.put_key("two/.env", &a);
    tree.put_key("three/.env", &b);

    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&a, &b]);
    assert_eq!(
        (status(&doc, &a), status(&doc, &b)),
        ("live".to_string(), "invalid".to_string())
    );
    assert_eq!(mock.count("GET", "/v3/scopes"), 2);
    assert_eq!(scope_requests(&mock, &a).len(), 1);
    assert_eq!(scope_requests(&mock, &b).len(), 1);
}

#[test]
fn no_network_makes_no_request() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_0b);
    let (a, b) = (g.key(), g.key());
    mock.set(&a, Behavior::live(&["mail.send"]));
    mock.set(&b, Behavior::Invalid);
    let tree = Tree::new();
    tree.put_key(".env", &a);
    tree.put_key("old/.env", &b);

    let (r, doc) = verify_json(&tree, &mock.url(), &["--no-network"]);
    assert_run_leaks_nothing(&r, &[&a, &b]);
    assert!(
        mock.requests().is_empty(),
        "{} requests reached the mock with --no-network",
        mock.requests().len()
    );
    for k in [&a, &b] {
        let v = verification(&doc, k);
        assert_eq!(v["status"], "unknown", "{v}");
        assert!(reason(v).contains("no-network"), "{v}");
        assert_eq!(v["attempts"], 0, "{v}");
    }
}

#[test]
fn cache_answers_the_second_run_and_holds_no_key() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_0c);
    let (live, unknown) = (g.key(), g.key());
    mock.set(&live, Behavior::live(&["mail.send", "stats.read"]));
    mock.set(&unknown, Behavior::Forbidden403Html);
    let tree = Tree::new();
    tree.put_key(".env", &live);
    tree.put_key("proxy/.env", &unknown);
    let cache = tree.outside("verify-cache.json");
    let cache_arg = cache.to_str().unwrap();

    let (r, doc) = verify_json(&tree, &mock.url(), &["--cache", cache_arg]);
    assert_run_leaks_nothing(&r, &[&live, &unknown]);
    assert_eq!(scope_requests(&mock, &live).len(), 1);
    let v = verification(&doc, &live);
    assert_eq!(
        (v["status"].as_str(), v["cached"].as_bool()),
        (Some("live"), Some(false)),
        "{v}"
    );

    let text = std::fs::read_to_string(&cache).expect("the cache file was written");
    assert_no_key(&text, "the cache file", &[&live, &unknown]);
    assert!(
        text.contains(&fp(&live)),
        "the cache is keyed by fingerprint:\n{}",
        scrub(&text)
    );
    assert!(!text.contains(&fp(&unknown)), "an unknown result is not cached");

    let (r, doc) = verify_json(&tree, &mock.url(), &["--cache", cache_arg]);
    assert_run_leaks_nothing(&r, &[&live, &unknown]);
    assert_eq!(
        scope_requests(&mock, &live).len(),
        1,
        "the second run asked again for a cached key"
    );
    let v = verification(&doc, &live);
    assert_eq!(v["status"], "live", "{v}");
    assert_eq!(v["cached"], true, "{v}");
    assert_eq!(strs(&v["scopes"]), s(&["mail.send", "stats.read"]), "{v}");
    assert_eq!(v["privilege"], "elevated", "{v}");
    assert_eq!(
        scope_requests(&mock, &unknown).len(),
        2,
        "an unknown key is asked again"
    );

    // --no-network with a cache: the cached result, no request at all.
    let before = mock.requests().len();
    let (r, doc) = verify_json(&tree, &mock.url(), &["--cache", cache_arg, "--no-network"]);
    assert_run_leaks_nothing(&r, &[&live, &unknown]);
    assert_eq!(mock.requests().len(), before);
    assert_eq!(verification(&doc, &live)["cached"], true);
    assert_eq!(status(&doc, &unknown), "unknown");

    let text = std::fs::read_to_string(&cache).unwrap();
    assert_no_key(&text, "the cache file after three runs", &[&live, &unknown]);
}

// API URL: plain http, environment, TLS

#[test]
fn plain_http_to_a_non_loopback_host_is_refused_before_scanning() {
    let tree = Tree::new();
    let key = KeyGen::new(0x5e_0d).key();
    tree.put_key(".env", &key);
    let report = tree.outside("report.json");

    let r = verify_fmt(
        &tree,
        "http://10.1.2.3",
        "json",
        &["-o", report.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("http://10.1.2.3") && r.stderr.contains("plain-http"),
        "the error names the URL and the reason:\n{r}"
    );
    assert!(r.stdout.is_empty(), "no report:\n{r}");
    assert!(!report.exists(), "no report file was written");
    assert!(
        r.elapsed < Duration::from_secs(20),
        "it failed without trying the network ({:?})",
        r.elapsed
    );
    assert_run_leaks_nothing(&r, &[&key]);

    // The URL is checked before the walk: with a missing root, the URL is what is reported.
    let r = run(sgscan(tree.root()).arg("dir").arg(tree.outside("missing")).args([
        "--verify",
        "--api-url",
        "http://10.1.2.3",
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("http://10.1.2.3") && !r.stderr.contains("missing"),
        "the API URL must be refused before the paths are walked:\n{r}"
    );
}

#[test]
fn sgscan_api_url_environment_variable_works_like_the_flag() {
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_0e).key();
    mock.set(&key, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    tree.put_key(".env", &key);

    let r = run(sgscan(tree.root())
        .env("SGSCAN_API_URL", mock.url())
        .arg("dir")
        .arg(tree.scan_dir())
        .args(["--verify", "-f", "json"]));
    assert_eq!(r.code, 1, "{r}");
    assert_run_leaks_nothing(&r, &[&key]);
    assert_eq!(status(&r.json(), &key), "live");
    assert_eq!(scope_requests(&mock, &key).len(), 1);

    let r = run(sgscan(tree.root())
        .env("SGSCAN_API_URL", "http://10.1.2.3")
        .arg("dir")
        .arg(tree.scan_dir())
        .args(["--verify", "-f", "json"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("http://10.1.2.3"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");

    // The flag wins over the environment.
    let r = run(sgscan(tree.root())
        .env("SGSCAN_API_URL", "http://10.1.2.3")
        .arg("dir")
        .arg(tree.scan_dir())
        .args(["--verify", "-f", "json", "--api-url", &mock.url()]));
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(status(&r.json(), &key), "live");
    assert_eq!(scope_requests(&mock, &key).len(), 2);
}

/// Kills and reaps a child process when dropped.
struct ChildGuard {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    match std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the `openssl` CLI is not on PATH: this test needs it to make a self-signed certificate \
             and serve it with `openssl s_server` (install it, e.g. `apt-get install openssl`)"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 (so the name matches: the only fault is
/// that nothing vouches for it), in two flavours.
#[derive(Debug, Clone, Copy)]
enum SelfSigned {
    /// What `openssl req -x509` makes by default: a CA certificate (`CA:TRUE`) serving as the leaf.
    OpensslDefault,
    /// A proper end-entity certificate (`CA:FALSE`, serverAuth) that signed itself.
    Leaf,
}

/// The configuration of [`SelfSigned::Leaf`] (portable to OpenSSL 1.1 and 3).
const LEAF_CNF: &str = "[req]\ndistinguished_name = dn\nx509_extensions = leaf\nprompt = no\n\
[dn]\nCN = localhost\n\
[leaf]\nbasicConstraints = critical,CA:FALSE\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n\
keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n";

/// `openssl s_server` with a fresh self-signed certificate, on a free port.
fn self_signed_tls_server(dir: &Path, flavour: SelfSigned) -> (ChildGuard, u16) {
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "key.pem", "-out",
        "cert.pem",
    ];
    match flavour {
        SelfSigned::OpensslDefault => args.extend([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]),
        SelfSigned::Leaf => {
            std::fs::write(dir.join("leaf.cnf"), LEAF_CNF).unwrap();
            args.extend(["-config", "leaf.cnf"]);
        }
    }
    let out = openssl(dir, &args);
    assert!(
        out.status.success(),
        "openssl req ({flavour:?}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("s_server.log")).unwrap();
    let mut child = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(["s_server", "-accept", &port.to_string()])
        .args(["-cert", "cert.pem", "-key", "key.pem", "-www"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `openssl s_server` (is openssl on PATH?): {e}"));
    let stdin = child.stdin.take();
    let mut guard = ChildGuard { child, _stdin: stdin };
    let started = Instant::now();
    loop {
        if let Ok(Some(st)) = guard.child.try_wait() {
            panic!(
                "openssl s_server exited ({st}): {}",
                std::fs::read_to_string(dir.join("s_server.log")).unwrap_or_default()
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "openssl s_server did not listen on port {port} within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, port)
}

#[test]
fn a_self_signed_tls_certificate_is_refused() {
    for (i, flavour) in [SelfSigned::OpensslDefault, SelfSigned::Leaf]
        .into_iter()
        .enumerate()
    {
        let tree = Tree::new();
        let tls_dir = tree.outside("tls");
        std::fs::create_dir(&tls_dir).unwrap();
        let (_server, port) = self_signed_tls_server(&tls_dir, flavour);
        let key = KeyGen::new(0x5e_0f + i as u64).key();
        tree.put_key(".env", &key);

        let url = format!("https://127.0.0.1:{port}");
        let (r, doc) = verify_json(&tree, &url, &["--verify-timeout", "5", "--verify-deadline", "20"]);
        assert_run_leaks_nothing(&r, &[&key]);
        let v = verification(&doc, &key);
        assert_eq!(v["status"], "unknown", "{flavour:?}: {v}");
        assert!(
            reason(v).to_ascii_lowercase().contains("certificate"),
            "{flavour:?}: the reason names the certificate: {v}"
        );
        assert!(
            v["http_status"].is_null(),
            "{flavour:?}: no HTTP exchange happened: {v}"
        );
        assert_eq!(
            v["attempts"], 1,
            "{flavour:?}: a bad certificate is not retried: {v}"
        );
    }
}

// No key anywhere; SARIF levels

#[test]
fn no_key_in_any_output_log_report_or_cache() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_10);
    let (full, invalid, limited, proxy) = (g.key(), g.key(), g.key(), g.key());
    mock.set(&full, Behavior::live(&["mail.send", "api_keys.create"]));
    mock.set(&invalid, Behavior::Invalid);
    mock.set(
        &limited,
        Behavior::RateLimited {
            times: 1,
            retry_after_secs: 0,
        },
    );
    mock.set(&proxy, Behavior::Forbidden403Html);
    let keys = [&full, &invalid, &limited, &proxy];
    let tree = Tree::new();
    for (i, k) in keys.iter().enumerate() {
        tree.put_key(&format!("k{i}/.env"), k);
    }
    let policy = tree.outside("policy.toml");
    std::fs::write(&policy, "allowed_scopes = [\"mail.send\"]\n").unwrap();

    for format in ["human", "json", "jsonl", "sarif"] {
        let report = tree.outside(&format!("report.{format}"));
        let cache = tree.outside(&format!("cache-{format}.json"));
        let args = [
            "-v",
            "--policy",
            policy.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ];
        // To standard output, then to a file.
        let r = verify_fmt(&tree, &mock.url(), format, &args);
        assert_eq!(r.code, 1, "{r}");
        assert_run_leaks_nothing(&r, &keys);
        for k in keys {
            let id = id(k);
            let fp = fp(k);
            let line = r
                .stderr
                .lines()
                .find(|l| l.contains("/v3/scopes") && l.contains(&id))
                .unwrap_or_else(|| panic!("-v logged no request for key id {id}:\n{r}"));
            assert!(
                line.contains(&fp[..16]),
                "the log names the key's fingerprint: {line}"
            );
        }
        let r = verify_fmt(
            &tree,
            &mock.url(),
            format,
            &[&args[..], &["-o", report.to_str().unwrap()]].concat(),
        );
        assert_eq!(r.code, 1, "{r}");
        assert_run_leaks_nothing(&r, &keys);
        let text = std::fs::read_to_string(&report).expect("the report file was written");
        assert_no_key(&text, &format!("the {format} report file"), &keys);
        let text = std::fs::read_to_string(&cache).expect("the cache file was written");
        assert_no_key(&text, "the cache file", &keys);
    }
}

#[test]
fn sarif_level_follows_the_verification_status() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_11);
    let (live, unknown, invalid) = (g.key(), g.key(), g.key());
    mock.set(&live, Behavior::live(&["mail.send"]));
    mock.set(&unknown, Behavior::Forbidden403Html);
    mock.set(&invalid, Behavior::Invalid);
    let tree = Tree::new();
    tree.put_key("a/.env", &live);
    tree.put_key("b/.env", &unknown);
    tree.put_key("c/.env", &invalid);
    tree.put_key("d/.env", &invalid);

    let r = verify_fmt(&tree, &mock.url(), "sarif", &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_run_leaks_nothing(&r, &[&live, &unknown, &invalid]);
    let doc = r.json();
    let results = doc["runs"][0]["results"]
        .as_array()
        .expect("runs[0].results is an array");
    assert_eq!(results.len(), 4, "one result per location");
    for (key, level, st, n) in [
        (&live, "error", "live", 1),
        (&unknown, "warning", "unknown", 1),
        (&invalid, "note", "invalid", 2),
    ] {
        let fp = fp(key);
        let mine: Vec<&Value> = results
            .iter()
            .filter(|r| r["partialFingerprints"]["sgscan/key/v1"] == fp.as_str())
            .collect();
        assert_eq!(mine.len(), n, "results for the {st} key");
        for res in mine {
            assert_eq!(res["level"], level, "{st} key: {res}");
            assert_eq!(res["properties"]["status"], st, "{res}");
        }
    }
}

// The mock's key-management API (what the revocation suite builds on)

#[test]
fn mock_key_management_api_and_revocation() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_12);
    let (admin, victim, reader, stranger, unknown) = (g.key(), g.key(), g.key(), g.key(), g.key());
    mock.set(
        &admin,
        Behavior::live(&["mail.send", "api_keys.read", "api_keys.delete"]),
    );
    mock.set(&victim, Behavior::live(&["mail.send"]));
    mock.set_name(&victim, "website contact form");
    mock.set(&reader, Behavior::live(&["api_keys.read"]));
    mock.set(&stranger, Behavior::live(&["mail.send"]));
    mock.set_account(&stranger, "other");
    let id = |k: &str| id(k);
    let path = |k: &str| format!("/v3/api_keys/{}", id(k));

    let (code, body) = mock.send("GET", &path(&victim), Some(&admin));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["api_key_id"], id(&victim).as_str());
    assert_eq!(v["name"], "website contact form");
    assert_eq!(strs(&v["scopes"]), s(&["mail.send"]));
    assert_eq!(mock.send("GET", &path(&stranger), Some(&admin)).0, 404);
    assert_eq!(mock.send("GET", &path(&unknown), Some(&admin)).0, 404);
    assert_eq!(mock.send("GET", &path(&admin), Some(&victim)).0, 403);
    let (code, body) = mock.send("GET", "/v3/api_keys", Some(&admin));
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["result"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "admin, victim and reader are in the default account"
    );

    // Without api_keys.delete: 403, nothing revoked.
    let (code, body) = mock.send("DELETE", &path(&victim), Some(&reader));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains(mock::FORBIDDEN_MESSAGE));
    assert!(!mock.is_revoked(&victim));
    assert_eq!(mock.send("DELETE", &path(&unknown), Some(&admin)).0, 404);
    assert_eq!(mock.send("DELETE", &path(&stranger), Some(&admin)).0, 404);

    // One request of propagation delay, then the revoked key is dead.
    mock.set_revoke_propagation(1);
    let (code, body) = mock.send("DELETE", &path(&victim), Some(&admin));
    assert_eq!((code, body.as_str()), (204, ""));
    assert!(mock.is_revoked(&victim));
    assert_eq!(mock.send("GET", "/v3/scopes", Some(&victim)).0, 200);
    let (code, body) = mock.send("GET", "/v3/scopes", Some(&victim));
    assert_eq!(code, 401);
    assert!(body.contains(mock::INVALID_MESSAGE), "{body}");
    assert_eq!(mock.send("GET", &path(&victim), Some(&admin)).0, 404);
    assert_eq!(mock.send("DELETE", &path(&victim), Some(&admin)).0, 404);

    // Unknown or missing credentials.
    let (code, body) = mock.send("GET", "/v3/scopes", Some(&unknown));
    assert_eq!(code, 401);
    assert!(body.contains(mock::INVALID_MESSAGE));
    assert_eq!(mock.send("GET", "/v3/scopes", None).0, 401);
    assert_eq!(mock.send("GET", "/v3/nope", Some(&admin)).0, 404);

    // The log holds fingerprints, never keys.
    let log = format!("{:?}", mock.requests());
    assert_no_key(
        &log,
        "the mock's request log",
        &[&admin, &victim, &reader, &unknown],
    );
    assert_eq!(mock.count("DELETE", "/v3/api_keys/"), 5);
    assert_eq!(mock.count_for(&admin, "DELETE", "/v3/api_keys/"), 4);

    // sgscan sees the revoked key as invalid, the admin key as full-access.
    let tree = Tree::new();
    tree.put_key("a/.env", &victim);
    tree.put_key("b/.env", &admin);
    let (r, doc) = verify_json(&tree, &mock.url(), &[]);
    assert_run_leaks_nothing(&r, &[&victim, &admin]);
    assert_eq!(status(&doc, &victim), "invalid");
    assert_eq!(verification(&doc, &admin)["privilege"], "full-access");
}

#[test]
fn a_custom_rules_findings_are_not_sent_with_verify() {
    // Only rules that declare `sendgrid_key = true` (the built-in one does) have their findings
    // sent to SendGrid: a custom rule's token must never reach a third party.
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x7f20);
    let sg_key = g.key();
    let token = format!("acme_{}", g.token(32));
    mock.set(&sg_key, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    tree.put_key("app/.env", &sg_key);
    tree.put("app/acme.env", &format!("ACME_TOKEN={token}\n"));
    let patterns = tree.outside("patterns");
    std::fs::create_dir(&patterns).unwrap();
    std::fs::write(
        patterns.join("sendgrid.toml"),
        include_str!("../patterns/sendgrid.toml"),
    )
    .unwrap();
    std::fs::write(
        patterns.join("acme.toml"),
        "[[rule]]\nid = \"acme-token\"\nname = \"Acme token\"\ndescription = \"An Acme API token.\"\n\
         keywords = [\"acme_\"]\nregex = 'acme_[A-Za-z0-9_-]{32}'\n",
    )
    .unwrap();

    let (r, doc) = verify_json(&tree, &mock.url(), &["--patterns", patterns.to_str().unwrap()]);
    assert_run_leaks_nothing(&r, &[&sg_key]);
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token), "{r}");
    assert_eq!(
        mock.requests_for(&token).len(),
        0,
        "the custom rule's finding was sent to SendGrid"
    );
    assert_eq!(mock.count_for(&sg_key, "GET", "/v3/scopes"), 1);
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(status(&doc, &sg_key), "live");
    let custom = finding(&doc, &token);
    assert_eq!(custom["rule_id"], "acme-token");
    assert_eq!(custom["verification"]["status"], "unknown", "{custom}");
    assert!(
        custom["verification"]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("sendgrid_key")),
        "{custom}"
    );
    assert!(r.stderr.contains("not verified"), "{r}");
}

// A hostile server: what it says never carries a key out, and plain http bypasses proxies

#[test]
fn a_server_echoing_keys_gets_none_into_the_report_cache_or_terminal() {
    let mock = MockSendGrid::start();
    let mut g = KeyGen::new(0x5e_40);
    let (in_scopes, in_message, escaped, secret_only, other_shape) =
        (g.key(), g.key(), g.key(), g.key(), g.key());
    // Someone else's key, never sent by sgscan: echoed all the same.
    let stranger = g.key();
    let all = [&in_scopes, &in_message, &escaped, &secret_only, &other_shape];
    for k in all {
        mock.set(k, Behavior::live(&["mail.send"]));
    }
    let error =
        |message: &str| serde_json::json!({"errors": [{"field": null, "message": message}]}).to_string();
    let echo = |key: &str, status: u16, body: String| {
        mock.hostile(key, "GET", "/v3/scopes", Hostile::Echo { status, body });
    };
    echo(
        &in_scopes,
        200,
        r#"{"scopes":["mail.send","\u001b]0;PWNED\u0007{bearer}"]}"#.into(),
    );
    echo(&in_message, 403, error("access forbidden for {bearer}"));
    // The key with its first letter as a JSON escape: only a reader of the JSON sees the key.
    let spelled = format!("\\u0053{}", &escaped[1..]);
    echo(
        &escaped,
        403,
        format!(r#"{{"errors":[{{"field":null,"message":"access forbidden for {spelled}"}}]}}"#),
    );
    let secret = secret_only.rsplit('.').next().unwrap().to_string();
    echo(&secret_only, 403, error(&format!("bad secret {secret}")));
    echo(
        &other_shape,
        401,
        error(&format!("grant {stranger} is not yours")),
    );
    let tree = Tree::new();
    for (i, k) in all.iter().enumerate() {
        tree.put_key(&format!("k{i}/.env"), k);
    }
    let mut keys: Vec<&String> = all.to_vec();
    keys.push(&stranger);
    let cache = tree.outside("cache.json");
    let cache_arg = cache.to_str().unwrap();

    for format in ["human", "jsonl", "sarif"] {
        let r = verify_fmt(&tree, &mock.url(), format, &["-v", "--cache", cache_arg]);
        assert_eq!(r.code, 1, "{r}");
        assert_run_leaks_nothing(&r, &keys);
    }
    let (r, doc) = verify_json(&tree, &mock.url(), &["--cache", cache_arg]);
    assert_run_leaks_nothing(&r, &keys);
    assert_no_key(&doc.to_string(), "the JSON report", &keys);
    let text = std::fs::read_to_string(&cache).expect("the cache file was written");
    assert_no_key(&text, "the cache file", &keys);

    // A scope list holding something that is not a scope name is not SendGrid's answer.
    let v = verification(&doc, &in_scopes);
    assert_eq!(v["status"], "unknown", "{}", scrub(&v.to_string()));
    assert!(reason(v).contains("not SendGrid scope names"), "{v}");
    assert!(
        v["scopes"].is_null() && strs(&v["above_send_only"]).is_empty(),
        "{v}"
    );
    // Messages keep their sense, with the key in its redacted form.
    for k in [&in_message, &escaped] {
        let v = verification(&doc, k);
        assert_eq!(v["status"], "live", "{}", scrub(&v.to_string()));
        assert!(
            reason(v).ends_with(&format!("access forbidden for {}…", &k[..7])),
            "{v}"
        );
    }
    assert_eq!(
        reason(verification(&doc, &secret_only)),
        "valid key without permission to list its scopes, or blocked by IP access management: bad secret …"
    );
    let v = verification(&doc, &other_shape);
    assert!(
        reason(v).contains(&format!("grant {}… is not yours", &stranger[..7])),
        "{v}"
    );
}

/// A listener standing for a proxy from the environment: it accepts nothing itself, so any
/// connection sgscan makes to it waits in its backlog, to be counted afterwards.
fn proxy_listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

#[test]
fn proxy_variables_never_see_a_plain_http_api_url() {
    // Over plain http a proxy would read the bearer key in clear text.
    let mock = MockSendGrid::start();
    let key = KeyGen::new(0x5e_41).key();
    mock.set(&key, Behavior::live(&["mail.send"]));
    let tree = Tree::new();
    tree.put_key(".env", &key);
    let (proxy, proxy_url) = proxy_listener();

    let mut cmd = sgscan(tree.root());
    for var in ["NO_PROXY", "no_proxy"] {
        cmd.env_remove(var);
    }
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
    ] {
        cmd.env(var, &proxy_url);
    }
    let r = run(cmd
        .arg("dir")
        .arg(tree.scan_dir())
        .args(["--verify", "--api-url", &mock.url(), "-f", "json"])
        .args(["--verify-timeout", "2", "--verify-deadline", "3"]));
    assert_eq!(r.code, 1, "{r}");
    assert_run_leaks_nothing(&r, &[&key]);
    let mut reached = 0;
    while proxy.accept().is_ok() {
        reached += 1;
    }
    assert_eq!(reached, 0, "the proxy got {reached} connection(s)");
    assert_eq!(scope_requests(&mock, &key).len(), 1);
    assert_eq!(status(&r.json(), &key), "live");
}
