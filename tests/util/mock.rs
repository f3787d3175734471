//! A fake SendGrid v3 API for the integration tests, on the tests' one small HTTP/1.1 server
//! ([`Server`], on `127.0.0.1:0`: a thread per connection, one request per connection, every
//! response with `Content-Length` and `Connection: close`), which the fake forges use too.
//!
//! Behaviour is scripted per bearer key ([`MockSendGrid::set`]); every key set is also registered
//! in the mock's "account" (default account `"default"`, see [`MockSendGrid::set_account`]), which
//! the key-management endpoints work on:
//!
//! | request | answer |
//! |---|---|
//! | `GET /v3/scopes` | 200 `{"scopes":[...]}` (the caller's scopes) |
//! | `GET /v3/api_keys` | needs `api_keys.read` (else 403): 200 `{"result":[{"name","api_key_id"}]}` |
//! | `GET /v3/api_keys/{id}` | needs `api_keys.read` (else 403): 200 `{"api_key_id","name","scopes"}`, 404 if the id is not a live key of the caller's account |
//! | `DELETE /v3/api_keys/{id}` | needs `api_keys.delete` (else 403): 204 and the key is revoked, 404 if unknown (or already revoked) |
//! | `POST /v3/api_keys` | needs `api_keys.create` (else 403); body `{"name", "scopes"}`: 201 `{"api_key","api_key_id","name","scopes"}`, a new live key of the caller's account; 403 when the account holds [`MockSendGrid::set_key_limit`] keys (default 100) or a scope the caller lacks is asked for; 400 without a name |
//! | `PUT /v3/api_keys/{id}` | needs `api_keys.update` (else 403); body `{"name", "scopes"}`: 200 with the key's new name, id and scopes; 404 if unknown |
//! | `GET /v3/user/profile` | needs `user.profile.read` (else 403): 200 (company `sgscan tests`) |
//! | `GET /v3/user/username` | needs `user.username.read` (else 403): 200 `{"username": "<account>-owner"}` |
//! | `GET` account posture (`/v3/teammates…`, `/v3/subusers`, `/v3/access_settings/…`, `/v3/user/webhooks/event/settings/…`, `/v3/user/settings/enforced_tls`, `/v3/sso/…`, `/v3/user/account`) | needs the endpoint's read scope (else 403): what [`MockSendGrid::set_posture`] / [`MockSendGrid::add_teammate`] set, else an empty account in SendGrid's shapes |
//! | anything else | 404 SendGrid JSON error |
//!
//! `on-behalf-of: <username>`: the call acts for that subuser (its keys and posture are the account
//! named by the username) if the caller's account lists it in `/v3/subusers`; else 403.
//!
//! Before the endpoint runs, the caller's [`Behavior`] applies to **every** request it makes
//! (a rate-limited key is rate limited on every endpoint; an `Invalid` key gets 401 everywhere).
//! No `Authorization` header → 401 `authorization required`; an unknown bearer or a revoked key →
//! 401 with [`INVALID_MESSAGE`].
//! [`MockSendGrid::script_deletes`] scripts the next `DELETE`s (a 429, a 404, a hang, a deletion
//! that answers 500 or nothing) before the endpoint runs.
//!
//! Hostile-server mode ([`MockSendGrid::hostile`]): for one key, one method and a path prefix, the
//! mock answers like something that is not SendGrid, or like a broken or malicious server — see
//! [`Hostile`]. It applies before authentication and behaviour, as a gateway in front of the API would.
//! [`Hostile::Created`] and [`Hostile::ReplayCreated`] answer a create with a key and id of their
//! choosing; [`MockSendGrid::set_created_behavior`] scripts the keys a create makes.
//!
//! The mock never stores a key in its request log: requests are recorded with the SHA-256
//! fingerprint of the bearer token (the same fingerprint sgscan reports).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// SendGrid's 401 message for a dead key.
pub const INVALID_MESSAGE: &str = "The provided authorization grant is invalid, expired, or revoked";
/// A 401 message SendGrid returns to live keys.
pub const NO_CREDITS_MESSAGE: &str = "Maximum credits exceeded";
/// The 403 message for a valid key that lacks a scope.
pub const FORBIDDEN_MESSAGE: &str = "access forbidden";
/// The HTML a proxy or firewall answers with.
pub const PROXY_HTML: &str = "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>Request blocked by the corporate proxy.</p></body></html>";

/// What the mock does with the requests authenticated by one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// A live key holding these scopes.
    Live { scopes: Vec<String> },
    /// 401 [`INVALID_MESSAGE`]: a dead key (also not listed in the account).
    Invalid,
    /// 401 [`NO_CREDITS_MESSAGE`]: a live key that is out of credits.
    LiveNoCredits,
    /// 403 with SendGrid's JSON error body ([`FORBIDDEN_MESSAGE`]).
    Forbidden403Json,
    /// 403 with an HTML body ([`PROXY_HTML`]): not SendGrid speaking.
    Forbidden403Html,
    /// 429 with `Retry-After: retry_after_secs` for the first `times` requests, then live.
    RateLimited { times: u32, retry_after_secs: u64 },
    /// 500 for the first `times` requests, then live.
    ServerError { times: u32 },
    /// Sleeps `secs` before answering as a live key.
    Hang { secs: u64 },
    /// 302 to `location` (a path on the mock, or any URL).
    Redirect { location: String },
    /// 200 with an HTML page (a captive portal), not SendGrid's JSON.
    Html200,
}

impl Behavior {
    pub fn live(scopes: &[&str]) -> Behavior {
        Behavior::Live {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A hostile or broken answer ([`MockSendGrid::hostile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// This status, content type, body and extra headers. A custom `X-RateLimit-Reset` replaces the
    /// mock's own rate-limit headers.
    Raw {
        status: u16,
        content_type: &'static str,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// 200 with a valid scope list (`scopes`), sent one byte every `every`.
    Trickle { scopes: Vec<String>, every: Duration },
    /// This status and JSON body, with every `{bearer}` in it replaced by the bearer token the
    /// request carried: a server echoing the key it was sent.
    Echo { status: u16, body: String },
    /// 201 `{"api_key", "api_key_id", "name", "scopes"}` in SendGrid's shape, with the name the
    /// request asked for and these values (`scopes: None`: the scopes asked for). Nothing is
    /// created: a server that answers with a key and an id of its choosing (the old key's, the
    /// admin key's).
    Created {
        api_key: String,
        api_key_id: String,
        scopes: Option<Vec<String>>,
    },
    /// [`Hostile::Created`] with the key (and id) the mock created `n`-th (0-based) through
    /// `POST /v3/api_keys`: a create answered with a key handed out before.
    ReplayCreated(usize),
}

impl Hostile {
    fn json(status: u16, body: &str) -> Hostile {
        Hostile::Raw {
            status,
            content_type: "application/json",
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    /// 403 `{"message":"Forbidden"}`: an API gateway.
    pub fn gateway_403() -> Hostile {
        Hostile::json(403, r#"{"message":"Forbidden"}"#)
    }

    /// 403 `{}`: a proxy.
    pub fn empty_403() -> Hostile {
        Hostile::json(403, "{}")
    }

    /// 403 with [`PROXY_HTML`].
    pub fn html_403() -> Hostile {
        Hostile::Raw {
            status: 403,
            content_type: "text/html",
            body: PROXY_HTML.to_string(),
            headers: Vec::new(),
        }
    }

    /// 401 in SendGrid's shape with a message that contains a live-key message but is not one.
    pub fn similar_live_401() -> Hostile {
        Hostile::json(
            401,
            &serde_json::json!({"errors": [{"field": null, "message": format!("{NO_CREDITS_MESSAGE} on the gateway: not authorized")}]})
                .to_string(),
        )
    }

    /// 401 with the live-key message exactly, in a shape that is not SendGrid's (an `errors` entry
    /// that is not an object).
    pub fn odd_shape_401() -> Hostile {
        Hostile::json(
            401,
            &serde_json::json!({"errors": [{"message": NO_CREDITS_MESSAGE}, "gateway"]}).to_string(),
        )
    }

    /// 401 in SendGrid's shape with a message that resembles the dead-key message but is not it.
    pub fn similar_dead_401() -> Hostile {
        Hostile::json(
            401,
            r#"{"errors":[{"field":null,"message":"The gateway session is invalid, expired, or revoked"}]}"#,
        )
    }

    /// 200 with this JSON body (e.g. without `scopes`, or without the key's `api_key_id`).
    pub fn json_200(body: &str) -> Hostile {
        Hostile::json(200, body)
    }

    /// 200 with a valid scope list padded past `bytes` bytes.
    pub fn huge_scopes_200(scopes: &[&str], bytes: usize) -> Hostile {
        let mut all: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        all.push("x".repeat(bytes));
        Hostile::json(200, &serde_json::json!({ "scopes": all }).to_string())
    }

    /// 429 with `Retry-After: 18446744073709551615` (u64::MAX seconds).
    pub fn retry_after_max() -> Hostile {
        Hostile::Raw {
            status: 429,
            content_type: "application/json",
            body: r#"{"errors":[{"field":null,"message":"too many requests"}]}"#.to_string(),
            headers: vec![("Retry-After".into(), u64::MAX.to_string())],
        }
    }

    /// 429 without `Retry-After` and with `X-RateLimit-Reset: 18446744073709551615`.
    pub fn reset_max() -> Hostile {
        Hostile::Raw {
            status: 429,
            content_type: "application/json",
            body: r#"{"errors":[{"field":null,"message":"too many requests"}]}"#.to_string(),
            headers: vec![("X-RateLimit-Reset".into(), u64::MAX.to_string())],
        }
    }

    fn response(&self, bearer: &str) -> Response {
        match self {
            Hostile::Echo { status, body } => {
                Hostile::json(*status, &body.replace("{bearer}", bearer)).response(bearer)
            }
            Hostile::Raw {
                status,
                content_type,
                body,
                headers,
            } => Response {
                status: *status,
                content_type,
                body: body.clone(),
                headers: headers.clone(),
                trickle: None,
            },
            Hostile::Trickle { scopes, every } => Response {
                trickle: Some(*every),
                ..Response::json(200, serde_json::json!({ "scopes": scopes }))
            },
            // Answered in `decide`, which has the request and the created keys.
            Hostile::Created { .. } | Hostile::ReplayCreated(_) => {
                Response::error(500, "mock: create answer without its request")
            }
        }
    }

    /// The 201 of a [`Hostile::Created`] or [`Hostile::ReplayCreated`] for this request `body`.
    fn create_answer(&self, st: &State, body: &str) -> Option<Response> {
        let (api_key, api_key_id, scopes) = match self {
            Hostile::Created {
                api_key,
                api_key_id,
                scopes,
            } => (api_key.clone(), api_key_id.clone(), scopes.clone()),
            Hostile::ReplayCreated(n) => {
                let key = st.created.get(*n)?;
                (key.clone(), key_id(key), None)
            }
            _ => return None,
        };
        let (name, asked) = name_and_scopes(body).unwrap_or_default();
        let scopes = scopes.or(asked).unwrap_or_default();
        Some(Response::json(
            201,
            serde_json::json!({"api_key": api_key, "api_key_id": api_key_id, "name": name, "scopes": scopes}),
        ))
    }
}

struct HostileRule {
    fingerprint: String,
    method: String,
    path_prefix: String,
    answer: Hostile,
    /// The rule applies once this many DELETE requests have arrived.
    after_deletes: usize,
}

/// A scripted answer to one `DELETE /v3/api_keys/{id}` (see [`MockSendGrid::script_deletes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStep {
    /// The endpoint as usual.
    Pass,
    /// This status with SendGrid's JSON error body (429 also with `Retry-After: 1`); nothing is
    /// revoked.
    Status(u16),
    /// Sleeps `secs` (lock released), then the endpoint as usual.
    Hang { secs: u64 },
    /// The endpoint as usual (the key is revoked), but the answer is this status with SendGrid's
    /// JSON error body: a DELETE that took effect and failed to say so.
    DeletedThen(u16),
    /// The endpoint as usual (the key is revoked), then `secs` of silence before its answer.
    DeletedThenHang { secs: u64 },
}

/// One request the mock received. Never holds the key.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// SHA-256 (lower-case hex) of the bearer token, if there was one.
    pub fingerprint: Option<String>,
    /// When the request (its head) had been read.
    pub at: Instant,
    /// The status answered; 0 while the answer is pending (e.g. during a `Hang`).
    pub status: u16,
    pub user_agent: Option<String>,
    /// The request body (never holds a key: sgscan sends none).
    pub body: String,
    /// The `on-behalf-of` header (a subuser's username), if any.
    pub on_behalf_of: Option<String>,
}

/// SHA-256 of a key, lower-case hex: what sgscan reports as the fingerprint.
pub fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key id (the middle segment) of an `SG.<id>.<secret>` key; otherwise a stand-in derived from
/// the fingerprint.
pub fn key_id(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["SG", id, _] => id.to_string(),
        _ => fingerprint(key)[..22].to_string(),
    }
}

struct KeyEntry {
    id: String,
    name: String,
    account: String,
    scopes: Vec<String>,
    behavior: Behavior,
    /// Failures (429/500) served so far under the current behaviour.
    served: u32,
    revoked: bool,
    /// After revocation, requests still accepted (SendGrid's "small propagation delay").
    grace: u32,
}

#[derive(Default)]
struct State {
    /// By fingerprint of the key.
    keys: HashMap<String, KeyEntry>,
    requests: Vec<Request>,
    revoke_propagation: u32,
    /// Scripted answers to the next `DELETE /v3/api_keys/{id}` requests, any id, in arrival order.
    delete_script: VecDeque<DeleteStep>,
    hostile: Vec<HostileRule>,
    /// Keys created through `POST /v3/api_keys`, in order.
    created: Vec<String>,
    /// How many keys an account may hold (`None`: 100).
    key_limit: Option<usize>,
    /// The behaviour of keys `POST /v3/api_keys` creates (`None`: live with their scopes).
    created_behavior: Option<Behavior>,
    /// The account-posture answers, by (account, path without query): see [`MockSendGrid::set_posture`].
    posture: HashMap<(String, String), serde_json::Value>,
}

/// An answer of the loopback [`Server`].
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// Send the body one byte per this interval (a slow-trickle server).
    pub trickle: Option<Duration>,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string(),
            headers: Vec::new(),
            trickle: None,
        }
    }

    pub fn error(status: u16, message: &str) -> Response {
        Response::json(
            status,
            serde_json::json!({"errors": [{"field": null, "message": message}]}),
        )
    }

    pub fn html(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/html",
            body: body.to_string(),
            headers: Vec::new(),
            trickle: None,
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "text/plain",
            body: String::new(),
            headers: Vec::new(),
            trickle: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// What to do with a request, decided under the lock.
enum Decision {
    Respond(Response),
    /// Sleep (lock released), then serve the endpoint as a live key.
    SleepThen(Duration),
    /// Sleep (lock released), then send this.
    SleepThenRespond(Duration, Response),
}

/// A request as the loopback [`Server`] read it: header names lower-cased.
pub struct Incoming {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A small HTTP/1.1 server on `127.0.0.1:0`: a thread per connection, one request per connection,
/// every response with `Content-Length` and `Connection: close`. `handler` answers each request
/// (it may sleep: the connection waits, the others do not). Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Incoming) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the server binds 127.0.0.1:0");
        let addr = listener.local_addr().expect("the server has an address");
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let acceptor = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let handler = Arc::clone(&handler);
                    thread::spawn(move || serve(stream, &*handler));
                }
            })
        };
        Server {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// The fake SendGrid API. Stops when dropped.
pub struct MockSendGrid {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Server,
}

impl MockSendGrid {
    /// Starts the server on `127.0.0.1:0`.
    pub fn start() -> MockSendGrid {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start(move |req| answer(req, &state))
        };
        MockSendGrid {
            addr: server.addr(),
            state,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts `key`'s behaviour, registering it in the account if new (name `key-<first 6 of id>`,
    /// scopes `["mail.send"]`). `Live { scopes }` also sets the key's scopes, which every behaviour
    /// that ends up answering as a live key (RateLimited, ServerError, Hang) uses. Resets the count
    /// of failures served; leaves a revocation in place.
    pub fn set(&self, key: &str, behavior: Behavior) {
        let mut st = self.lock();
        let entry = st.keys.entry(fingerprint(key)).or_insert_with(|| {
            let id = key_id(key);
            KeyEntry {
                name: format!("key-{}", &id[..6.min(id.len())]),
                id,
                account: "default".into(),
                scopes: vec!["mail.send".into()],
                behavior: Behavior::Invalid,
                served: 0,
                revoked: false,
                grace: 0,
            }
        });
        if let Behavior::Live { scopes } = &behavior {
            entry.scopes = scopes.clone();
        }
        entry.behavior = behavior;
        entry.served = 0;
    }

    /// Scripts several keys the same way.
    pub fn set_all<'a>(&self, keys: impl IntoIterator<Item = &'a String>, behavior: Behavior) {
        for k in keys {
            self.set(k, behavior.clone());
        }
    }

    /// Sets the scopes of a key already `set` (e.g. for `RateLimited`, which then answers live).
    pub fn set_scopes(&self, key: &str, scopes: &[&str]) {
        let mut st = self.lock();
        let e = st
            .keys
            .get_mut(&fingerprint(key))
            .expect("set_scopes: call set(key, …) first");
        e.scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Sets the name `GET /v3/api_keys/{id}` reports for a key already `set`.
    pub fn set_name(&self, key: &str, name: &str) {
        let mut st = self.lock();
        st.keys
            .get_mut(&fingerprint(key))
            .expect("set_name: call set(key, …) first")
            .name = name.to_string();
    }

    /// Moves a key already `set` to another account: the key-management endpoints only see the keys
    /// of the caller's account (another account's id → 404).
    pub fn set_account(&self, key: &str, account: &str) {
        let mut st = self.lock();
        st.keys
            .get_mut(&fingerprint(key))
            .expect("set_account: call set(key, …) first")
            .account = account.to_string();
    }

    /// After a `DELETE`, the revoked key keeps authenticating for this many more requests
    /// (SendGrid's propagation delay) before it gets 401. Default 0.
    pub fn set_revoke_propagation(&self, requests: u32) {
        self.lock().revoke_propagation = requests;
    }

    /// Scripts the next `DELETE /v3/api_keys/{id}` requests (any id, in arrival order) that pass
    /// authentication and the caller's behaviour: each consumes one step; once the script is used
    /// up, DELETEs are served as usual. E.g. `[Status(429)]`: one 429, then the real endpoint.
    pub fn script_deletes(&self, steps: &[DeleteStep]) {
        self.lock().delete_script.extend(steps.iter().cloned());
    }

    /// Hostile-server mode: `method` requests authenticated by `key` whose path starts with
    /// `path_prefix` get `answer` (before authentication, behaviour or the DELETE script). The
    /// latest matching rule wins.
    pub fn hostile(&self, key: &str, method: &str, path_prefix: &str, answer: Hostile) {
        self.hostile_after_deletes(0, key, method, path_prefix, answer);
    }

    /// [`MockSendGrid::hostile`], armed only once `deletes` DELETE requests have arrived (e.g. 1: a
    /// gateway that answers the re-checks after a revocation).
    pub fn hostile_after_deletes(
        &self,
        deletes: usize,
        key: &str,
        method: &str,
        path_prefix: &str,
        answer: Hostile,
    ) {
        self.lock().hostile.push(HostileRule {
            fingerprint: fingerprint(key),
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            answer,
            after_deletes: deletes,
        });
    }

    /// Keys created through `POST /v3/api_keys`, in order (for asserting they appear nowhere).
    pub fn created(&self) -> Vec<String> {
        self.lock().created.clone()
    }

    /// How many keys an account may hold before `POST /v3/api_keys` answers 403 (SendGrid: 100).
    pub fn set_key_limit(&self, limit: usize) {
        self.lock().key_limit = Some(limit);
    }

    /// The behaviour of the keys `POST /v3/api_keys` creates from now on (e.g. `Invalid`: a new
    /// key that never authenticates). Default: live with the scopes it was created with.
    pub fn set_created_behavior(&self, behavior: Behavior) {
        self.lock().created_behavior = Some(behavior);
    }

    /// The answer of an account-posture endpoint (`/v3/teammates…`, `/v3/subusers`,
    /// `/v3/access_settings/…`, `/v3/user/webhooks/event/settings/…`, `/v3/user/settings/enforced_tls`,
    /// `/v3/sso/…`, `/v3/user/account`) for `account` (a subuser is an account named by its
    /// username), path without query. Unset: an account with nothing set up, in SendGrid's shapes.
    /// Each endpoint needs its read scope (else 403); only GET answers.
    pub fn set_posture(&self, account: &str, path: &str, body: serde_json::Value) {
        self.lock()
            .posture
            .insert((account.to_string(), path.to_string()), body);
    }

    /// A teammate of `account`: listed by `GET /v3/teammates` (without scopes, as SendGrid lists
    /// them) and detailed by `GET /v3/teammates/{username}`.
    pub fn add_teammate(&self, account: &str, username: &str, user_type: &str, scopes: &[&str]) {
        let mut st = self.lock();
        let detail = serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "first_name": username,
            "last_name": "Test",
            "user_type": user_type,
            "is_admin": user_type != "teammate",
            "scopes": scopes,
            "phone": "", "website": "", "address": "", "address2": "", "city": "", "state": "",
            "zip": "", "country": "",
        });
        let list = st
            .posture
            .entry((account.to_string(), "/v3/teammates".to_string()))
            .or_insert_with(|| serde_json::json!({ "result": [] }));
        if let Some(r) = list["result"].as_array_mut() {
            r.push(serde_json::json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "first_name": username,
                "last_name": "Test",
                "user_type": user_type,
                "is_admin": user_type != "teammate",
            }));
        }
        st.posture
            .insert((account.to_string(), format!("/v3/teammates/{username}")), detail);
    }

    /// Panics unless every request so far was a GET: the audit must never change the account.
    pub fn assert_only_reads(&self) {
        let writes: Vec<String> = self
            .lock()
            .requests
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            writes.is_empty(),
            "the audit sent requests that change the account: {writes:?}"
        );
    }

    /// Whether the key was revoked by a `DELETE /v3/api_keys/{id}`.
    pub fn is_revoked(&self, key: &str) -> bool {
        self.lock().keys.get(&fingerprint(key)).is_some_and(|e| e.revoked)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Requests with this method whose path starts with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Requests authenticated (or attempted) with `key`.
    pub fn requests_for(&self, key: &str) -> Vec<Request> {
        let fp = fingerprint(key);
        self.lock()
            .requests
            .iter()
            .filter(|r| r.fingerprint.as_deref() == Some(fp.as_str()))
            .cloned()
            .collect()
    }

    /// Requests with `key`, this method and a path starting with `path_prefix`.
    pub fn count_for(&self, key: &str, method: &str, path_prefix: &str) -> usize {
        self.requests_for(key)
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Sends one request to the mock (recorded like any other) and returns (status, body): for tests
    /// of the mock itself, or to set up state through the API.
    pub fn send(&self, method: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).expect("connect to the mock");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let auth = bearer
            .map(|b| format!("Authorization: Bearer {b}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            self.addr
        )
        .expect("write to the mock");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read the mock's answer");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("malformed answer from the mock: {text}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// Reads one request from the connection, answers it with `handler`, closes.
fn serve(stream: TcpStream, handler: &(dyn Fn(&Incoming) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // A connection opened and closed (e.g. the acceptor's wake-up).
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    if let Some(len) = len {
        let _ = (&mut reader).take(len).read_to_end(&mut body);
    }
    let req = Incoming {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let response = handler(&req);
    let _ = write_response(&stream, response);
    let _ = stream.shutdown(Shutdown::Write);
}

/// The SendGrid mock's answer to one request, recorded in its log.
fn answer(req: &Incoming, state: &Mutex<State>) -> Response {
    let (method, path, body) = (&req.method, &req.path, &req.body);
    let obo = req.header("on-behalf-of").map(str::to_string);
    let bearer = req.header("authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });

    let index;
    let decision;
    {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        index = st.requests.len();
        st.requests.push(Request {
            method: method.clone(),
            path: path.clone(),
            fingerprint: bearer.as_deref().map(fingerprint),
            at: Instant::now(),
            status: 0,
            user_agent: req.header("user-agent").map(str::to_string),
            body: body.clone(),
            on_behalf_of: obo.clone(),
        });
        decision = decide(&mut st, method, path, bearer.as_deref(), body, obo.as_deref());
    }
    let response = match decision {
        Decision::Respond(r) => r,
        Decision::SleepThenRespond(d, r) => {
            thread::sleep(d);
            r
        }
        Decision::SleepThen(d) => {
            thread::sleep(d);
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            match bearer.as_deref().map(fingerprint) {
                Some(fp) => endpoint(&mut st, &fp, method, path, body, obo.as_deref()),
                None => Response::error(401, "authorization required"),
            }
        }
    };
    state.lock().unwrap_or_else(|e| e.into_inner()).requests[index].status = response.status;
    with_rate_limit_headers(response)
}

/// SendGrid's rate-limit headers on every answer, unless the answer brings its own reset.
fn with_rate_limit_headers(mut r: Response) -> Response {
    let own_reset = r
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("x-ratelimit-reset"));
    if !own_reset {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() + 60)
            .unwrap_or(0);
        let remaining = if r.status == 429 { 0 } else { 599 };
        r.headers.splice(
            0..0,
            [
                ("X-RateLimit-Limit".to_string(), "600".to_string()),
                ("X-RateLimit-Remaining".to_string(), remaining.to_string()),
                ("X-RateLimit-Reset".to_string(), reset.to_string()),
            ],
        );
    }
    r
}

fn write_response(mut stream: &TcpStream, r: Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason_phrase(r.status),
        r.content_type,
        r.body.len(),
    );
    for (n, v) in &r.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    match r.trickle {
        None => stream.write_all(r.body.as_bytes())?,
        Some(every) => {
            for b in r.body.as_bytes() {
                stream.write_all(std::slice::from_ref(b))?;
                stream.flush()?;
                thread::sleep(every);
            }
        }
    }
    stream.flush()
}

/// Authentication and the caller's scripted behaviour; then the endpoint.
fn decide(
    st: &mut State,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
    obo: Option<&str>,
) -> Decision {
    let Some(bearer) = bearer else {
        return Decision::Respond(Response::error(401, "authorization required"));
    };
    let fp = fingerprint(bearer);
    let deletes = st
        .requests
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case("DELETE"))
        .count();
    if let Some(rule) = st.hostile.iter().rev().find(|r| {
        r.fingerprint == fp
            && r.method.eq_ignore_ascii_case(method)
            && path.starts_with(&r.path_prefix)
            && deletes >= r.after_deletes
    }) {
        let answer = rule
            .answer
            .create_answer(st, body)
            .unwrap_or_else(|| rule.answer.response(bearer));
        return Decision::Respond(answer);
    }
    let Some(entry) = st.keys.get_mut(&fp) else {
        return Decision::Respond(Response::error(401, INVALID_MESSAGE));
    };
    if entry.revoked {
        if entry.grace == 0 {
            return Decision::Respond(Response::error(401, INVALID_MESSAGE));
        }
        entry.grace -= 1;
    }
    let r = match entry.behavior.clone() {
        Behavior::Live { .. } => None,
        Behavior::Invalid => Some(Response::error(401, INVALID_MESSAGE)),
        Behavior::LiveNoCredits => Some(Response::error(401, NO_CREDITS_MESSAGE)),
        Behavior::Forbidden403Json => Some(Response::error(403, FORBIDDEN_MESSAGE)),
        Behavior::Forbidden403Html => Some(Response::html(403, PROXY_HTML)),
        Behavior::Html200 => Some(Response::html(
            200,
            "<html><body>Please log in to the guest network.</body></html>",
        )),
        Behavior::Redirect { location } => Some(Response::empty(302).header("Location", location)),
        Behavior::RateLimited {
            times,
            retry_after_secs,
        } if entry.served < times => {
            entry.served += 1;
            Some(Response::error(429, "too many requests").header("Retry-After", retry_after_secs))
        }
        Behavior::ServerError { times } if entry.served < times => {
            entry.served += 1;
            Some(Response::error(500, "internal server error"))
        }
        Behavior::RateLimited { .. } | Behavior::ServerError { .. } => None,
        Behavior::Hang { secs } => return Decision::SleepThen(Duration::from_secs(secs)),
    };
    if r.is_none() && method == "DELETE" && path.starts_with("/v3/api_keys/") {
        match st.delete_script.pop_front() {
            None | Some(DeleteStep::Pass) => {}
            Some(DeleteStep::Hang { secs }) => return Decision::SleepThen(Duration::from_secs(secs)),
            Some(DeleteStep::DeletedThen(status)) => {
                endpoint(st, &fp, method, path, body, obo);
                return Decision::Respond(Response::error(status, "internal server error"));
            }
            Some(DeleteStep::DeletedThenHang { secs }) => {
                let r = endpoint(st, &fp, method, path, body, obo);
                return Decision::SleepThenRespond(Duration::from_secs(secs), r);
            }
            Some(DeleteStep::Status(status)) => {
                let message = match status {
                    429 => "too many requests",
                    404 => "unable to find API Key",
                    403 => FORBIDDEN_MESSAGE,
                    s if s >= 500 => "internal server error",
                    _ => "scripted error",
                };
                let mut resp = Response::error(status, message);
                if status == 429 {
                    resp = resp.header("Retry-After", 1);
                }
                return Decision::Respond(resp);
            }
        }
    }
    Decision::Respond(match r {
        Some(r) => r,
        None => endpoint(st, &fp, method, path, body, obo),
    })
}

/// The API proper, for a caller (by fingerprint) already authenticated as a live key.
fn endpoint(
    st: &mut State,
    caller_fp: &str,
    method: &str,
    path: &str,
    body: &str,
    obo: Option<&str>,
) -> Response {
    let Some(caller) = st.keys.get(caller_fp) else {
        return Response::error(401, INVALID_MESSAGE);
    };
    let has = |scope: &str| caller.scopes.iter().any(|s| s == scope);
    let path_only = path.split('?').next().unwrap_or(path);
    let account = match obo {
        None => caller.account.clone(),
        // A parent account's call made for one of its subusers (those its `/v3/subusers` lists).
        Some(user) => {
            let listed = st
                .posture
                .get(&(caller.account.clone(), "/v3/subusers".to_string()))
                .and_then(|v| v.as_array())
                .is_some_and(|subs| subs.iter().any(|s| s["username"] == user));
            if !listed {
                return Response::error(403, FORBIDDEN_MESSAGE);
            }
            user.to_string()
        }
    };
    if method == "GET"
        && let Some(scope) = posture_scope(path_only)
    {
        if !has(scope) {
            return Response::error(403, FORBIDDEN_MESSAGE);
        }
        return match st.posture.get(&(account, path_only.to_string())) {
            Some(v) => Response::json(200, v.clone()),
            None => default_posture(path_only),
        };
    }
    let in_account =
        |e: &KeyEntry| e.account == account && !e.revoked && !matches!(e.behavior, Behavior::Invalid);
    match (method, path_only) {
        ("GET", "/v3/scopes") => Response::json(200, serde_json::json!({ "scopes": caller.scopes })),
        ("GET", "/v3/user/username") if has("user.username.read") => Response::json(
            200,
            serde_json::json!({"username": format!("{account}-owner"), "user_id": 1}),
        ),
        ("GET", "/v3/user/profile") if has("user.profile.read") => Response::json(
            200,
            serde_json::json!({"first_name": "Test", "last_name": "Account", "company": "sgscan tests"}),
        ),
        ("GET", "/v3/api_keys") if has("api_keys.read") => {
            let mut result: Vec<(String, String)> = st
                .keys
                .values()
                .filter(|e| in_account(e))
                .map(|e| (e.name.clone(), e.id.clone()))
                .collect();
            result.sort();
            let result: Vec<serde_json::Value> = result
                .into_iter()
                .map(|(name, id)| serde_json::json!({"name": name, "api_key_id": id}))
                .collect();
            Response::json(200, serde_json::json!({ "result": result }))
        }
        ("GET", p) if p.starts_with("/v3/api_keys/") => {
            if !has("api_keys.read") {
                return Response::error(403, FORBIDDEN_MESSAGE);
            }
            let id = &p["/v3/api_keys/".len()..];
            match st.keys.values().find(|e| e.id == id && in_account(e)) {
                Some(e) => Response::json(
                    200,
                    serde_json::json!({"api_key_id": e.id, "name": e.name, "scopes": e.scopes}),
                ),
                None => Response::error(404, "unable to find API Key"),
            }
        }
        ("POST", "/v3/api_keys") => {
            if !has("api_keys.create") {
                return Response::error(403, FORBIDDEN_MESSAGE);
            }
            let Some((name, scopes)) = name_and_scopes(body) else {
                return Response::error(400, "name is required");
            };
            // A create without scopes is full access: the caller's own scopes, at most.
            let scopes = scopes.unwrap_or_else(|| caller.scopes.clone());
            if scopes.iter().any(|s| !caller.scopes.contains(s)) {
                return Response::error(403, "cannot grant scopes the calling key does not have");
            }
            let held = st.keys.values().filter(|e| in_account(e)).count();
            if held >= st.key_limit.unwrap_or(100) {
                return Response::error(
                    403,
                    "You have reached the maximum number of API keys for your account",
                );
            }
            let (key, id, _) =
                super::KeyGen::new(0x5e9d_0000 + st.created.len() as u64 + st.requests.len() as u64).parts();
            st.keys.insert(
                fingerprint(&key),
                KeyEntry {
                    id: id.clone(),
                    name: name.clone(),
                    account,
                    scopes: scopes.clone(),
                    behavior: st.created_behavior.clone().unwrap_or(Behavior::Live {
                        scopes: scopes.clone(),
                    }),
                    served: 0,
                    revoked: false,
                    grace: 0,
                },
            );
            st.created.push(key.clone());
            Response::json(
                201,
                serde_json::json!({"api_key": key, "api_key_id": id, "name": name, "scopes": scopes}),
            )
        }
        ("PUT", p) if p.starts_with("/v3/api_keys/") => {
            if !has("api_keys.update") {
                return Response::error(403, FORBIDDEN_MESSAGE);
            }
            let Some((name, Some(scopes))) = name_and_scopes(body) else {
                return Response::error(400, "name and scopes are required");
            };
            let id = p["/v3/api_keys/".len()..].to_string();
            match st.keys.values_mut().find(|e| e.id == id && in_account(e)) {
                Some(e) => {
                    e.name = name;
                    e.scopes = scopes;
                    if let Behavior::Live { scopes } = &mut e.behavior {
                        scopes.clone_from(&e.scopes);
                    }
                    Response::json(
                        200,
                        serde_json::json!({"api_key_id": e.id, "name": e.name, "scopes": e.scopes}),
                    )
                }
                None => Response::error(404, "unable to find API Key"),
            }
        }
        ("DELETE", p) if p.starts_with("/v3/api_keys/") => {
            if !has("api_keys.delete") {
                return Response::error(403, FORBIDDEN_MESSAGE);
            }
            let id = p["/v3/api_keys/".len()..].to_string();
            let grace = st.revoke_propagation;
            match st.keys.values_mut().find(|e| e.id == id && in_account(e)) {
                Some(e) => {
                    e.revoked = true;
                    e.grace = grace;
                    Response::empty(204)
                }
                None => Response::error(404, "unable to find API Key"),
            }
        }
        ("GET", "/v3/user/profile") | ("GET", "/v3/user/username") | ("GET", "/v3/api_keys") => {
            Response::error(403, FORBIDDEN_MESSAGE)
        }
        _ => Response::error(404, "resource not found"),
    }
}

/// The read scope each account-posture endpoint needs (SendGrid's permission names; `.read` for GET).
fn posture_scope(path: &str) -> Option<&'static str> {
    Some(match path {
        p if p.starts_with("/v3/teammates") => "teammates.read",
        "/v3/subusers" => "subusers.read",
        "/v3/access_settings/whitelist" => "access_settings.whitelist.read",
        "/v3/access_settings/activity" => "access_settings.activity.read",
        p if p.starts_with("/v3/user/webhooks/event/settings") => "user.webhooks.event.settings.read",
        "/v3/user/settings/enforced_tls" => "user.settings.enforced_tls.read",
        p if p.starts_with("/v3/sso/") => "sso.settings.read",
        "/v3/user/account" => "user.account.read",
        _ => return None,
    })
}

/// An account with nothing set up, in SendGrid's shapes; a teammate or integration not set → 404.
fn default_posture(path: &str) -> Response {
    let ok = |v| Response::json(200, v);
    match path {
        "/v3/teammates"
        | "/v3/teammates/pending"
        | "/v3/access_settings/whitelist"
        | "/v3/access_settings/activity" => ok(serde_json::json!({ "result": [] })),
        p if p.starts_with("/v3/teammates/") && p.ends_with("/subuser_access") => ok(
            serde_json::json!({"has_restricted_subuser_access": false, "subuser_access": [], "_metadata": {"next_params": {}}}),
        ),
        "/v3/subusers" | "/v3/sso/integrations" => ok(serde_json::json!([])),
        p if p.starts_with("/v3/sso/integrations/") && p.ends_with("/certificates") => {
            ok(serde_json::json!([]))
        }
        "/v3/user/webhooks/event/settings/all" => ok(serde_json::json!({"max_allowed": 5, "webhooks": []})),
        "/v3/user/settings/enforced_tls" => {
            ok(serde_json::json!({"require_tls": false, "require_valid_cert": false, "version": 1.1}))
        }
        "/v3/user/account" => ok(serde_json::json!({"type": "paid", "reputation": 100})),
        _ => Response::error(404, "resource not found"),
    }
}

/// `{"name": string, "scopes"?: [string]}`; `None` without a name.
fn name_and_scopes(body: &str) -> Option<(String, Option<Vec<String>>)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let scopes = match v.get("scopes") {
        None => None,
        Some(s) => Some(
            s.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
        ),
    };
    Some((name, scopes))
}
