//! Repositories to sweep, as a forge lists them: GitHub's, GitLab's and Gitea's REST APIs. This is where
//! sweeping an organisation starts; what comes out is a list of [`Listed`] repositories (clone URL,
//! what they are, why one is left out), and the [`Remote`]s the sweep clones.
//!
//! The token goes to the API's origin only: no redirects are followed, and a page link to any
//! other origin is refused. Every answer is read under a cap and must be in the forge's shape; a
//! page that is not is an error naming the request, never an empty list.

pub mod gitea;
pub mod github;
pub mod gitlab;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use crate::http;
use crate::source::git::public_url;
use crate::source::git::remote::{HttpAuth, Remote};
use crate::text::Safe;

/// A forge token: from the environment or a file, never an argument; never printed.
#[derive(Clone)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// The token in `file` if one is named, else in the environment variable `var` (unset or
    /// blank: none, and the forge is asked anonymously).
    pub fn load(var: &str, file: Option<&Path>) -> Result<Option<Token>> {
        if let Some(path) = file {
            let text = crate::file::read_credential(path, crate::file::SMALL)
                .with_context(|| format!("cannot read token file {}", path.display()))?;
            let token = text.trim();
            if token.is_empty() {
                bail!("token file {} is empty", path.display());
            }
            return Token::new(token, &format!("token file {}", path.display())).map(Some);
        }
        match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Token::new(t.trim(), var).map(Some),
            _ => Ok(None),
        }
    }

    fn new(token: &str, from: &str) -> Result<Token> {
        // It goes into a header: a line break would split it, and anything else non-printable
        // is not a token.
        if token.chars().any(|c| c.is_control() || c == ' ') {
            bail!("the token from {from} holds spaces or control characters");
        }
        Ok(Token(token.to_string()))
    }
}

/// How a forge wants its API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>` (GitHub).
    Bearer,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
}

/// A forge's REST API: its base URL, the token, and the rules of reading it.
pub struct Client {
    /// "GitHub", "GitLab": how messages name it.
    pub forge: &'static str,
    http: reqwest::blocking::Client,
    base: Url,
    token: Option<Token>,
    scheme: Scheme,
    opts: ClientOptions,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// All the waiting rate limits may impose on one run; an ask past it ends the run with an error.
    pub max_wait: Duration,
    /// Retries after a 5xx, a timeout or a connection failure.
    pub retries: u32,
    /// Pages read from one listing at most (each of up to 100 repositories).
    pub max_pages: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(15 * 60),
            retries: 3,
            max_pages: 10_000,
        }
    }
}

/// One page of an answer: its JSON and the URL of the next page, if any.
struct Page<T> {
    value: T,
    next: Option<Url>,
}

/// The longest answer shown in an error, in characters.
const MESSAGE_CHARS: usize = 200;

impl Client {
    pub fn new(
        forge: &'static str,
        api_url: &str,
        token: Option<Token>,
        scheme: Scheme,
        opts: ClientOptions,
    ) -> Result<Client> {
        let mut base = http::check_base_url(api_url)?;
        if base.query().is_some() || base.fragment().is_some() || base.cannot_be_a_base() {
            bail!("{forge} API URL '{api_url}' must be a plain base URL (no query or fragment)");
        }
        if !base.username().is_empty() || base.password().is_some() {
            bail!("{forge} API URL must not hold credentials: give the token by environment or --token-file");
        }
        // Segments are appended to it: no empty one after a trailing slash.
        if let Ok(mut segs) = base.path_segments_mut() {
            segs.pop_if_empty();
        }
        let http = http::client(&base, opts.timeout)?;
        Ok(Client {
            forge,
            http,
            base,
            token,
            scheme,
            opts,
        })
    }

    /// `base/seg/seg?query`, each segment percent-encoded as one (a GitLab group path `a/b`
    /// becomes `a%2Fb`).
    pub fn endpoint(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Every item of a paginated listing: arrays of `T`, page after page.
    pub fn list<T: DeserializeOwned>(&self, first: Url, what: &str, waited: &mut Duration) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut url = Some(first);
        while let Some(u) = url.take() {
            if !seen.insert(u.to_string()) {
                bail!(
                    "{}: the next-page link loops back to a page already read",
                    self.shown(&u)
                );
            }
            if seen.len() > self.opts.max_pages {
                bail!(
                    "{}: more than {} pages; giving up",
                    self.shown(&u),
                    self.opts.max_pages
                );
            }
            let page: Page<Vec<T>> = self.get(&u, what, waited)?;
            // An empty page ends the listing whatever it links to: a server cannot keep us
            // paging through nothing.
            if page.value.is_empty() {
                break;
            }
            items.extend(page.value);
            url = page.next;
        }
        Ok(items)
    }

    /// One object.
    pub fn one<T: DeserializeOwned>(&self, url: Url, what: &str, waited: &mut Duration) -> Result<T> {
        Ok(self.get(&url, what, waited)?.value)
    }

    /// A URL as errors show it: `GET <url>` (it never holds the token, which goes in a header).
    fn shown(&self, url: &Url) -> String {
        format!("{} API GET {url}", self.forge)
    }

    /// Text from the server or the HTTP stack, with the token taken out should it be echoed.
    fn scrub(&self, text: &str) -> String {
        match &self.token {
            Some(t) if text.contains(&t.0) => text.replace(&t.0, "…"),
            _ => text.to_string(),
        }
    }

    fn headers(&self) -> Result<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("application/json"));
        if self.forge == "GitHub" {
            h.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
        }
        if let Some(t) = &self.token {
            let (name, value) = match self.scheme {
                Scheme::Bearer => ("authorization", format!("Bearer {}", t.0)),
                Scheme::PrivateToken => ("private-token", t.0.clone()),
                Scheme::Token => ("authorization", format!("token {}", t.0)),
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| anyhow::anyhow!("the token cannot be sent in an HTTP header"))?;
            value.set_sensitive(true);
            h.insert(name, value);
        }
        Ok(h)
    }

    /// One GET, retried after 5xx and timeouts, waiting out rate limits within the budget
    /// (`waited` is what this run has waited so far).
    fn get<T: DeserializeOwned>(&self, url: &Url, what: &str, waited: &mut Duration) -> Result<Page<T>> {
        let shown = self.shown(url);
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let deadline = started.checked_add(self.opts.timeout).unwrap_or(started);
            let sent = self.http.get(url.clone()).headers(self.headers()?).send();
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let reason = self.scrub(&http::describe(&e));
                    if http::is_tls_error(&e) || failures >= self.opts.retries {
                        bail!("{shown}: {reason}");
                    }
                    failures += 1;
                    std::thread::sleep(backoff(failures));
                    continue;
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = match http::read_capped(resp, deadline) {
                Ok(b) => b,
                Err(e) if e == http::BodyError::Timeout && failures < self.opts.retries => {
                    failures += 1;
                    std::thread::sleep(backoff(failures));
                    continue;
                }
                Err(e) => bail!("{shown}: HTTP {}, then {}", status.as_u16(), e.reason()),
            };
            if let Some((wait, why)) = rate_limited(status.as_u16(), &headers, http::unix_now()) {
                let total = waited.saturating_add(wait);
                if total > self.opts.max_wait {
                    bail!(
                        "{shown}: {} rate limit ({why}) asks to wait {} s, past the {} s this run may wait in all; try again later",
                        self.forge,
                        wait.as_secs(),
                        self.opts.max_wait.as_secs()
                    );
                }
                eprintln!(
                    "sgscan: {} rate limit ({why}): waiting {} s before GET {}",
                    self.forge,
                    wait.as_secs(),
                    Safe(url.as_str())
                );
                std::thread::sleep(wait);
                *waited = total;
                continue;
            }
            if status.is_server_error() && failures < self.opts.retries {
                failures += 1;
                std::thread::sleep(backoff(failures));
                continue;
            }
            if !status.is_success() {
                bail!(
                    "{shown}: HTTP {}{}",
                    status.as_u16(),
                    self.scrub(&server_message(&body))
                );
            }
            let value = serde_json::from_str::<T>(&body).map_err(|e| {
                anyhow::anyhow!(
                    "{shown}: HTTP {} but the answer is not {what}: {}",
                    status.as_u16(),
                    self.scrub(&clip(&e.to_string()))
                )
            })?;
            let next = self.next_page(url, &headers)?;
            return Ok(Page { value, next });
        }
    }

    /// The next page: `Link: <…>; rel="next"` (GitHub, GitLab, Gitea), else GitLab's
    /// `X-Next-Page`. Only on the API's own origin: the token goes nowhere else.
    fn next_page(&self, url: &Url, headers: &HeaderMap) -> Result<Option<Url>> {
        let shown = self.shown(url);
        let mut next = None;
        for value in headers.get_all("link") {
            let text = value
                .to_str()
                .map_err(|_| anyhow::anyhow!("{shown}: a Link header that is not text"))?;
            if let Some(target) = link_next(text) {
                let joined = url
                    .join(target)
                    .map_err(|e| anyhow::anyhow!("{shown}: bad next-page link: {e}"))?;
                next = Some(joined);
                break;
            }
        }
        if next.is_none()
            && let Some(page) = headers.get("x-next-page")
        {
            let page = page.to_str().unwrap_or("").trim();
            if !page.is_empty() {
                let n: u64 = page.parse().map_err(|_| {
                    anyhow::anyhow!("{shown}: X-Next-Page '{}' is not a page number", Safe(page))
                })?;
                let mut u = url.clone();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                u.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("page", &n.to_string());
                next = Some(u);
            }
        }
        match next {
            Some(n) if n.origin() != self.base.origin() => bail!(
                "{shown}: refusing the next-page link to {}, not the API's origin {} (the token is sent there only)",
                n.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            ),
            other => Ok(other),
        }
    }

    /// The git URL a repository is cloned from, checked: http(s) as the API is (plain http only to
    /// loopback), no credentials in it, and on the forge's host (`api.` taken off: GitHub's API is
    /// on api.github.com, its repositories on github.com), since the token goes with the clone.
    /// `Err` is why it is left out.
    pub fn clone_url(&self, raw: &str) -> Result<Url, String> {
        let url = http::check_base_url(raw).map_err(|e| {
            let why = format!("{e:#}").replace(raw, &public_url(raw));
            format!("unusable clone URL: {why}")
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("clone URL holds credentials".to_string());
        }
        let host = |u: &Url| u.host_str().unwrap_or("").to_ascii_lowercase();
        let api = host(&self.base);
        let forge_host = api.strip_prefix("api.").unwrap_or(&api);
        let h = host(&url);
        if h != api && h != forge_host {
            return Err(format!(
                "clone URL on host {h}, not the forge's {forge_host} (the token is not sent there)"
            ));
        }
        // Another port of the forge's host is another server, maybe not the forge's. Loopback is
        // exempt: a forge and its git server on one machine (and the tests' fakes) listen apart.
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback
            && (url.scheme() != self.base.scheme()
                || url.port_or_known_default() != self.base.port_or_known_default())
        {
            return Err(format!(
                "clone URL on {}, not the forge API's {} (the token is not sent there)",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            ));
        }
        Ok(url)
    }

    /// How git authenticates to this forge's clone URLs with the token: `user` is what the forge
    /// takes with a token as password.
    pub fn clone_auth(&self, user: &str) -> Option<HttpAuth> {
        self.token.as_ref().map(|t| HttpAuth {
            user: user.to_string(),
            secret: t.0.clone(),
        })
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500).saturating_mul(1u32 << failures.min(6))
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288: `<uri>; rel="next", …`;
/// `rel` may list several space-separated types).
fn link_next(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        // A link's parameters end at the comma before the next link.
        let params_end = after.find([',', '<']).unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim());
        }
        rest = &after[params_end..];
    }
}

/// Whether an answer is a rate limit, and how long it asks to wait:
/// a secondary limit (403/429 with `Retry-After`), a primary one (`X-RateLimit-Remaining: 0`, or
/// GitLab's `RateLimit-Remaining: 0`, with a reset time in epoch seconds), or a bare 429 (a
/// minute, as GitHub documents). A 403 without these is a refusal, not a limit.
fn rate_limited(status: u16, headers: &HeaderMap, now: u64) -> Option<(Duration, String)> {
    if status != 403 && status != 429 {
        return None;
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(secs) = get("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some((Duration::from_secs(secs.max(1)), "Retry-After".to_string()));
    }
    for (remaining, reset) in [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
    ] {
        if get(remaining) == Some("0")
            && let Some(at) = get(reset).and_then(|v| v.parse::<u64>().ok())
        {
            // A second past the reset: the window must be over when we ask again.
            let secs = at.saturating_sub(now).saturating_add(1);
            return Some((Duration::from_secs(secs), format!("{reset} reached")));
        }
    }
    (status == 429).then(|| (Duration::from_secs(60), "HTTP 429".to_string()))
}

/// `: <message>` from a JSON error body (`{"message": …}` on both forges, `{"error": …}` on some
/// GitLab answers), clipped; empty when there is none.
fn server_message(body: &str) -> String {
    let v: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    let msg = ["message", "error"].iter().find_map(|k| match v.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    });
    msg.map(|m| format!(": {}", clip(&m))).unwrap_or_default()
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A repository a forge listed: what it is, and why it is left out, if it is.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The clone URL, without credentials (the API's `clone_url` / `http_url_to_repo`).
    pub url: String,
    pub fork: bool,
    pub archived: bool,
    /// A wiki's repository (`<repo>.wiki.git`).
    pub wiki: bool,
    /// Why it is not swept (a fork without --include-forks, a project without a repository).
    pub skipped: Option<String>,
    pub auth: Option<HttpAuth>,
}

impl Listed {
    /// The repository to sweep, unless it is left out.
    pub fn remote(&self) -> Option<Remote> {
        self.skipped.is_none().then(|| Remote {
            url: self.url.clone(),
            auth: self.auth.clone(),
        })
    }

    /// One line of `--list`: the URL, then `[fork]`, `[archived]`, `[wiki]`, `[skipped: why]`.
    pub fn line(&self) -> String {
        let mut line = Safe(&self.url).to_string();
        for (on, marker) in [
            (self.fork, "fork"),
            (self.archived, "archived"),
            (self.wiki, "wiki"),
        ] {
            if on {
                line.push_str(&format!(" [{marker}]"));
            }
        }
        if let Some(why) = &self.skipped {
            line.push_str(&format!(" [skipped: {}]", Safe(why)));
        }
        line
    }
}

/// What to take besides a forge's ordinary repositories.
#[derive(Debug, Clone, Copy, Default)]
pub struct Include {
    pub forks: bool,
    pub archived: bool,
    pub wikis: bool,
}

/// One repository as a forge describes it, in the terms every forge shares.
struct Described<'a> {
    name: &'a str,
    clone_url: &'a str,
    fork: bool,
    archived: bool,
    has_wiki: bool,
    /// Why the forge has nothing to clone (GitLab's empty or disabled repositories).
    no_repository: Option<String>,
}

/// Appends `repo` (and its wiki) to `out`, once per URL, marked with why it is left out.
fn add(
    out: &mut Vec<Listed>,
    seen: &mut HashSet<String>,
    client: &Client,
    user: &str,
    include: Include,
    repo: Described,
) {
    let checked = client.clone_url(repo.clone_url);
    // What the forge says is shown (in --list, in a skip): never with credentials it put in a
    // URL, nor with the token should it echo it anywhere.
    let url = match &checked {
        Ok(u) => u.to_string(),
        Err(_) => client.scrub(&public_url(repo.clone_url)),
    };
    let mut skipped = match checked {
        Err(why) => Some(client.scrub(&format!("{}: {why}", repo.name))),
        Ok(_) => repo.no_repository.as_deref().map(|why| client.scrub(why)),
    };
    if skipped.is_none() && repo.fork && !include.forks {
        skipped = Some("fork (--include-forks takes it)".to_string());
    }
    if skipped.is_none() && repo.archived && !include.archived {
        skipped = Some("archived (--include-archived takes it)".to_string());
    }
    let wiki = include.wikis && repo.has_wiki && repo.no_repository.is_none();
    let entry = |url: String, wiki: bool| Listed {
        url,
        fork: repo.fork,
        archived: repo.archived,
        wiki,
        skipped: skipped.clone(),
        auth: client.clone_auth(user),
    };
    if seen.insert(url.clone()) {
        out.push(entry(url.clone(), false));
    }
    if wiki {
        let wiki_url = format!("{}.wiki.git", url.strip_suffix(".git").unwrap_or(&url));
        if seen.insert(wiki_url.clone()) {
            out.push(entry(wiki_url, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let h = r#"<https://api.github.com/orgs/a/repos?page=2>; rel="next", <https://api.github.com/orgs/a/repos?page=9>; rel="last""#;
        assert_eq!(link_next(h), Some("https://api.github.com/orgs/a/repos?page=2"));
        let h = r#"<https://x/p?page=1>; rel="prev", <https://x/p?page=3>; rel="next""#;
        assert_eq!(link_next(h), Some("https://x/p?page=3"));
        assert_eq!(link_next(r#"<https://x/a>; rel="first last""#), None);
        assert_eq!(
            link_next(r#"<https://x/a>; title="next"; rel=next"#),
            Some("https://x/a")
        );
        for junk in [
            "",
            "<",
            ">",
            "<<>>",
            "rel=next",
            "<a; rel=next",
            "<a>;;;",
            "\u{1F600}<>",
        ] {
            let _ = link_next(junk);
        }
    }

    #[test]
    fn rate_limits() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        let wait = |s, m: &HeaderMap| rate_limited(s, m, 1000).map(|(d, _)| d.as_secs());
        assert_eq!(wait(403, &h(&[("retry-after", "2")])), Some(2));
        assert_eq!(wait(429, &h(&[("retry-after", "0")])), Some(1));
        assert_eq!(
            wait(
                403,
                &h(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1002")])
            ),
            Some(3)
        );
        assert_eq!(
            wait(429, &h(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "1")])),
            Some(1)
        );
        assert_eq!(wait(403, &h(&[("x-ratelimit-remaining", "5")])), None);
        assert_eq!(wait(403, &h(&[])), None);
        assert_eq!(wait(429, &h(&[])), Some(60));
        assert_eq!(wait(200, &h(&[("retry-after", "2")])), None);
        assert_eq!(
            wait(
                403,
                &h(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "18446744073709551615")
                ])
            ),
            Some(u64::MAX - 999)
        );
    }

    #[test]
    fn clone_urls_only_on_the_forges_host_and_port() {
        let client = Client::new(
            "GitHub",
            "https://api.forge.example",
            Some(Token("t0ken".into())),
            Scheme::Bearer,
            ClientOptions::default(),
        )
        .unwrap();
        assert!(client.clone_url("https://forge.example/a/b.git").is_ok());
        assert!(client.clone_url("https://forge.example:443/a/b.git").is_ok());
        assert!(client.clone_url("https://api.forge.example/a/b.git").is_ok());
        for off in [
            "https://forge.example:8443/a/b.git",
            "https://other.example/a/b.git",
            "https://forge.example.other.example/a/b.git",
        ] {
            assert!(client.clone_url(off).is_err(), "{off}");
        }
    }

    #[test]
    fn messages_are_clipped() {
        assert_eq!(server_message(r#"{"message":"Not Found"}"#), ": Not Found");
        assert_eq!(server_message("<html>"), "");
        assert_eq!(
            server_message(&format!(r#"{{"error":"{}"}}"#, "x".repeat(500)))
                .chars()
                .count(),
            2 + MESSAGE_CHARS + 1
        );
    }
}
