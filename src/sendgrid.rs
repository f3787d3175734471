//! The SendGrid v3 API client: the one place that talks to SendGrid (over `http`). HTTPS with
//! certificate validation (plain http only for loopback, for tests), no redirects (a bearer token
//! must never follow one), bounded concurrency and a client-side rate limit, retries with backoff
//! on 429/5xx/timeouts (a DELETE only on SendGrid's own 429 or a connection that never opened).
//! Every answer has the credential and anything key-shaped redacted before anyone reads it.
//! It returns what the API said; [`crate::verify`] and [`crate::revoke`] decide what it means.
//! Keys are never logged: request logs show the key id and fingerprint only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode, Url};

pub use crate::http::check_base_url;
use crate::http::{BodyError, MAX_TIMEOUT, describe, is_tls_error, read_capped, unix_now};

pub const DEFAULT_API_URL: &str = "https://api.sendgrid.com";

#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub base_url: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Time allowed for one call, retries included.
    pub deadline: Duration,
    pub max_retries: u32,
    /// Minimum spacing between requests, all threads together.
    pub min_interval: Duration,
    /// Base of the exponential backoff after a 5xx or a timeout.
    pub backoff: Duration,
    /// Log each request (key id and fingerprint only) to stderr.
    pub verbose: bool,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            base_url: DEFAULT_API_URL.to_string(),
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            max_retries: 4,
            min_interval: Duration::from_millis(50),
            backoff: Duration::from_millis(500),
            verbose: false,
        }
    }
}

/// A credential with what may be shown of it.
pub struct Credential<'a> {
    pub key: &'a str,
    /// How logs name it: `key id … (fingerprint …)`.
    pub label: String,
}

/// The API's answer to one call, after retries.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An HTTP response: status, body, and SendGrid's error message if the body is its exact error
    /// shape (`None` for any other body).
    Http {
        status: u16,
        body: String,
        message: Option<String>,
        attempts: u32,
    },
    /// No usable answer: connection failure, timeout, TLS failure, or retries exhausted on 429/5xx.
    /// `unprocessed`: the last request is known not to have been acted on (it never left, or
    /// SendGrid answered its own 429); otherwise it may have been, e.g. after a timeout.
    Fault {
        reason: String,
        attempts: u32,
        unprocessed: bool,
    },
}

pub struct Api {
    client: Client,
    base: Url,
    opts: ApiOptions,
    next_slot: Mutex<Instant>,
}

/// The longest wait a 429 may impose before a retry; a longer ask is capped here, and a wait that
/// would end past the per-key deadline gives up instead.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// What a 429 asks for, read from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryWait {
    /// What the server asked for, in seconds from now (may be absurd).
    pub asked_secs: u64,
    /// What sgscan would wait: the ask, capped at [`MAX_RETRY_WAIT`].
    pub wait: Duration,
    pub header: &'static str,
}

/// How long a 429 asks us to wait: `Retry-After` (seconds), else `X-RateLimit-Reset` (epoch
/// seconds). Values that do not parse are ignored; values that do are capped.
pub fn retry_wait(retry_after: Option<&str>, reset: Option<&str>, now: u64) -> Option<RetryWait> {
    let parse = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
    let (asked_secs, header) = match parse(retry_after) {
        Some(secs) => (secs, "Retry-After"),
        None => (parse(reset)?.saturating_sub(now).max(1), "X-RateLimit-Reset"),
    };
    Some(RetryWait {
        asked_secs,
        wait: Duration::from_secs(asked_secs).min(MAX_RETRY_WAIT),
        header,
    })
}

/// A SendGrid key anywhere in a text (the detection rule's shape, without its context checks).
fn key_shape() -> &'static regex::Regex {
    static SHAPE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    SHAPE.get_or_init(|| {
        regex::Regex::new(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")
            .unwrap_or_else(|e| unreachable!("the key-shape regex is valid: {e}"))
    })
}

/// What the server says, with the credential sent and anything shaped like a key replaced by its
/// redacted form: a hostile or buggy server echoing the bearer token must not get it into the
/// report, the cache, the audit log or the terminal. A JSON body is first re-serialised, so that
/// a key spelled with `\u` escapes is caught too (re-serialising changes no value any reader
/// sees; duplicate members collapse exactly as they would when read).
pub fn redact_answer(text: &str, credential: &str) -> String {
    let canonical = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => serde_json::to_string(&v).unwrap_or_else(|_| text.to_string()),
        Err(_) => text.to_string(),
    };
    redact_text(&canonical, credential)
}

/// [`redact_answer`] for text that is not a body (error messages, reasons).
pub fn redact_text(text: &str, credential: &str) -> String {
    let mut out = text.to_string();
    if !credential.is_empty() && out.contains(credential) {
        out = out.replace(credential, &crate::key::redact(credential));
    }
    // The secret alone is as good as the key.
    if let Some(secret) = credential.strip_prefix("SG.").and_then(|r| r.split('.').nth(1))
        && secret.len() >= 16
        && out.contains(secret)
    {
        out = out.replace(secret, "…");
    }
    key_shape()
        .replace_all(&out, |c: &regex::Captures| crate::key::redact(&c[0]))
        .into_owned()
}

/// Which failures a call may resend after.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// A read: any 429, 5xx, timeout or connection failure (a read has no effect to repeat).
    Reads,
    /// A DELETE: only what is known not to have been acted on, SendGrid's own 429 and a
    /// connection that never opened. After a timeout or a 5xx the first DELETE may have taken
    /// effect, and a second would answer 404 and be misread.
    Unprocessed,
}

impl Api {
    pub fn new(mut opts: ApiOptions) -> Result<Api> {
        let base = check_base_url(&opts.base_url)?;
        opts.timeout = opts.timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT);
        opts.deadline = opts.deadline.min(MAX_TIMEOUT);
        let client = crate::http::client(&base, opts.timeout)?;
        Ok(Api {
            client,
            base,
            opts,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    pub fn get(&self, cred: &Credential, path: &str) -> Answer {
        self.call(
            Method::GET,
            cred,
            Target {
                path,
                on_behalf_of: None,
            },
            None,
            Resend::Reads,
            &mut || Ok(()),
            &mut |_, _| {},
        )
    }

    /// A GET made for a subuser of the credential's account (`on-behalf-of: <username>`). The
    /// username comes from the API: one that cannot be a header value (CR, LF or another control
    /// character, which would split the request) is refused here, before anything is sent.
    pub fn get_on_behalf_of(&self, cred: &Credential, path: &str, subuser: &str) -> Answer {
        let Ok(value) = reqwest::header::HeaderValue::from_str(subuser) else {
            return Answer::Fault {
                reason: format!(
                    "subuser name {} cannot be sent as an on-behalf-of header (control characters or non-ASCII)",
                    crate::text::escape(subuser)
                ),
                attempts: 0,
                unprocessed: true,
            };
        };
        self.call(
            Method::GET,
            cred,
            Target {
                path,
                on_behalf_of: Some(value),
            },
            None,
            Resend::Reads,
            &mut || Ok(()),
            &mut |_, _| {},
        )
    }

    /// `POST /v3/api_keys`: creates a key. Sent once unless SendGrid's own 429 or a connection that
    /// never opened says it was not acted on (a second create would mint a second key). The answer
    /// is redacted like any other, so the new key's value is handed out only here, taken from a
    /// 201's `api_key` member before redaction; it lives in a [`NewKey`] that wipes itself.
    pub fn create_key(&self, cred: &Credential, body: &serde_json::Value) -> (Answer, Option<NewKey>) {
        let mut new_key = None;
        let answer = self.call(
            Method::POST,
            cred,
            Target {
                path: "/v3/api_keys",
                on_behalf_of: None,
            },
            Some(body),
            Resend::Unprocessed,
            &mut || Ok(()),
            &mut |status, raw| {
                if status == 201 {
                    new_key = NewKey::from_create_answer(raw);
                }
            },
        );
        if !matches!(answer, Answer::Http { status: 201, .. }) {
            new_key = None;
        }
        (answer, new_key)
    }

    /// A DELETE, resent only when the previous one is known not to have been acted on.
    /// `before_resend` runs before each resend (not before the first send); if it fails, nothing
    /// more is sent and its reason is returned as an unprocessed fault.
    pub fn delete(
        &self,
        cred: &Credential,
        path: &str,
        before_resend: &mut dyn FnMut() -> Result<(), String>,
    ) -> Answer {
        self.call(
            Method::DELETE,
            cred,
            Target {
                path,
                on_behalf_of: None,
            },
            None,
            Resend::Unprocessed,
            before_resend,
            &mut |_, _| {},
        )
    }

    /// Waits for this thread's turn under the client-side rate limit.
    fn pace(&self) {
        let wait = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot.checked_add(self.opts.min_interval).unwrap_or(slot);
            slot.saturating_duration_since(now)
        };
        std::thread::sleep(wait);
    }

    /// One request, its body read under the cap and before `deadline`.
    fn attempt(
        &self,
        req: &Request,
        cred: &Credential,
        deadline: Instant,
        raw: &mut dyn FnMut(u16, &str),
    ) -> Attempt {
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .bearer_auth(cred.key)
            .timeout(timeout);
        if let Some(body) = req.body {
            builder = builder.json(body);
        }
        if let Some(v) = &req.on_behalf_of {
            builder = builder.header("on-behalf-of", v.clone());
        }
        let resp = match builder.send() {
            Ok(resp) => resp,
            Err(e) => {
                return Attempt::Failed {
                    reason: redact_text(&describe(&e), cred.key),
                    retry: !is_tls_error(&e),
                    unsent: e.is_connect(),
                };
            }
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let wait = retry_wait(
            header("retry-after").as_deref(),
            header("x-ratelimit-reset").as_deref(),
            unix_now(),
        );
        match read_capped(resp, deadline) {
            Ok(body) => {
                raw(status.as_u16(), &body);
                Attempt::Answered {
                    status,
                    body: redact_answer(&body, cred.key),
                    wait,
                }
            }
            Err(e) => Attempt::Failed {
                reason: redact_text(
                    &format!("HTTP {}, then {}", status.as_u16(), e.reason()),
                    cred.key,
                ),
                // A body too big now is too big on a retry; a slow one may come faster.
                retry: e == BodyError::Timeout,
                unsent: false,
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        method: Method,
        cred: &Credential,
        target: Target,
        body: Option<&serde_json::Value>,
        resend: Resend,
        before_resend: &mut dyn FnMut() -> Result<(), String>,
        raw: &mut dyn FnMut(u16, &str),
    ) -> Answer {
        let started = Instant::now();
        let path = target.path;
        let url = match self.base.join(path) {
            Ok(u) => u,
            Err(e) => {
                return Answer::Fault {
                    reason: format!("bad request path {path}: {e}"),
                    attempts: 0,
                    unprocessed: true,
                };
            }
        };
        let call_deadline = started.checked_add(self.opts.deadline).unwrap_or(started);
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            if attempt > 1
                && let Err(why) = before_resend()
            {
                return Answer::Fault {
                    reason: format!("not resent: {why}"),
                    attempts: attempt - 1,
                    unprocessed: true,
                };
            }
            self.pace();
            let sent = Instant::now();
            let request_deadline = sent
                .checked_add(self.opts.timeout)
                .unwrap_or(sent)
                .min(call_deadline);
            let req = Request {
                method: method.clone(),
                url: url.clone(),
                body,
                on_behalf_of: target.on_behalf_of.clone(),
            };
            let (retry_after, fault) = match self.attempt(&req, cred, request_deadline, raw) {
                Attempt::Answered { status, body, wait } => {
                    self.log(&method, path, cred, &format!("{}", status.as_u16()), attempt);
                    let retryable = match resend {
                        Resend::Reads => status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
                        // Only SendGrid's own 429 says the request was not processed.
                        Resend::Unprocessed => {
                            status == StatusCode::TOO_MANY_REQUESTS && sendgrid_error(&body).is_some()
                        }
                    };
                    if !retryable {
                        let message = sendgrid_error(&body).map(|m| m.join("; "));
                        return Answer::Http {
                            status: status.as_u16(),
                            message,
                            body,
                            attempts: attempt,
                        };
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        (wait, "rate limited (429)".to_string())
                    } else {
                        (None, format!("server error ({})", status.as_u16()))
                    }
                }
                Attempt::Failed {
                    reason,
                    retry,
                    unsent,
                } => {
                    self.log(&method, path, cred, &reason, attempt);
                    if !retry || (resend == Resend::Unprocessed && !unsent) {
                        return Answer::Fault {
                            reason,
                            attempts: attempt,
                            unprocessed: unsent,
                        };
                    }
                    (None, reason)
                }
            };
            // Whatever is retried here was not acted on (see `Resend`), for a DELETE at least.
            let unprocessed = resend == Resend::Unprocessed;
            if attempt > self.opts.max_retries {
                return Answer::Fault {
                    reason: format!("{fault}, after {attempt} attempts"),
                    attempts: attempt,
                    unprocessed,
                };
            }
            let backoff = match retry_after {
                Some(w) => w.wait,
                None => jittered(
                    self.opts
                        .backoff
                        .saturating_mul(2u32.saturating_pow(attempt - 1))
                        .min(MAX_RETRY_WAIT),
                ),
            };
            if started.elapsed().saturating_add(backoff) > self.opts.deadline {
                let reason = match retry_after {
                    Some(w) => format!(
                        "{fault}: the API asked to wait {}s ({}), past the per-key deadline of {}s; gave up after {attempt} attempts",
                        w.asked_secs,
                        w.header,
                        self.opts.deadline.as_secs()
                    ),
                    None => format!(
                        "{fault}; gave up after {attempt} attempts (deadline {}s)",
                        self.opts.deadline.as_secs()
                    ),
                };
                return Answer::Fault {
                    reason,
                    attempts: attempt,
                    unprocessed,
                };
            }
            std::thread::sleep(backoff);
        }
    }

    fn log(&self, method: &Method, path: &str, cred: &Credential, outcome: &str, attempt: u32) {
        if self.opts.verbose {
            eprintln!(
                "sgscan: {method} {path} as {} → {outcome} (attempt {attempt})",
                cred.label
            );
        }
    }
}

struct Request<'a> {
    method: Method,
    url: Url,
    body: Option<&'a serde_json::Value>,
    on_behalf_of: Option<reqwest::header::HeaderValue>,
}

/// Where a call goes: the path, and the subuser it acts for.
struct Target<'a> {
    path: &'a str,
    on_behalf_of: Option<reqwest::header::HeaderValue>,
}

/// A freshly created key's value: only for the hand-over. Never `Debug`, `Display` or `Clone`;
/// its bytes are overwritten when it is dropped.
pub struct NewKey(Vec<u8>);

impl NewKey {
    /// The `api_key` of a create answer, if it is a whole key of SendGrid's shape and nothing else.
    fn from_create_answer(raw: &str) -> Option<NewKey> {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        let key = v.as_object()?.get("api_key")?.as_str()?;
        let m = key_shape().find(key)?;
        (m.start() == 0 && m.end() == key.len()).then(|| NewKey(key.as_bytes().to_vec()))
    }

    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Drop for NewKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

enum Attempt {
    Answered {
        status: StatusCode,
        body: String,
        wait: Option<RetryWait>,
    },
    Failed {
        reason: String,
        retry: bool,
        /// The connection never opened: nothing of the request left.
        unsent: bool,
    },
}

/// Up to +50% random jitter, so parallel retries do not march in step.
fn jittered(d: Duration) -> Duration {
    let half = u64::try_from(d.as_millis() / 2).unwrap_or(u64::MAX);
    d.saturating_add(Duration::from_millis(fastrand::u64(0..=half)))
}

/// The messages of SendGrid's error body, which has exactly one shape:
/// `{"errors":[{"message": <string>, "field": <string|null>, ...}, ...]}`, a non-empty array.
/// Anything else — `{"message":"Forbidden"}` from an API gateway, `{}` or HTML from a proxy, a
/// message that is not a string — is not SendGrid speaking, and gives `None`.
pub fn sendgrid_error(body: &str) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let top = v.as_object()?;
    if top.len() != 1 {
        return None;
    }
    let errors = top.get("errors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    errors
        .iter()
        .map(|e| {
            let e = e.as_object()?;
            match e.get("field") {
                None | Some(serde_json::Value::Null) | Some(serde_json::Value::String(_)) => {}
                Some(_) => return None,
            }
            e.get("message")?.as_str().map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::MAX_BODY;

    #[test]
    fn base_url_rules() {
        assert!(check_base_url("https://api.sendgrid.com").is_ok());
        assert!(check_base_url("https://api.eu.sendgrid.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://[::1]:8080").is_ok());
        assert!(check_base_url("http://localhost:1").is_ok());
        assert!(check_base_url("http://api.sendgrid.com").is_err());
        assert!(check_base_url("http://10.0.0.1").is_err());
        assert!(check_base_url("ftp://127.0.0.1").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn error_bodies() {
        let ok = |b: &str| sendgrid_error(b);
        assert_eq!(
            ok(r#"{"errors":[{"field":null,"message":"access forbidden"}]}"#),
            Some(vec!["access forbidden".to_string()])
        );
        assert_eq!(
            ok(r#"{"errors":[{"message":"a","field":"x","help":1},{"message":"b"}]}"#),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        for not_sendgrid in [
            "<html>Forbidden</html>",
            "",
            "{}",
            r#"{"message":"Forbidden"}"#,
            r#"{"errors":[]}"#,
            r#"{"errors":{}}"#,
            r#"{"errors":[{}]}"#,
            r#"{"errors":[{"message":7}]}"#,
            r#"{"errors":[{"message":"a"},"b"]}"#,
            r#"{"errors":[{"message":"a","field":5}]}"#,
            r#"{"errors":[{"message":"a"}],"message":"Forbidden"}"#,
            r#"[{"message":"a"}]"#,
        ] {
            assert_eq!(ok(not_sendgrid), None, "{not_sendgrid}");
        }
    }

    #[test]
    fn answers_lose_every_key_they_carry() {
        let id = "aB3_-".repeat(4) + "xy";
        let cred = format!("SG.{id}.{}", "s3Cr-_".repeat(7) + "t");
        let stranger = format!("SG.{}.{}", "Zz".repeat(11), "q".repeat(43));
        let secret = cred.rsplit('.').next().unwrap();
        for body in [
            format!(r#"{{"scopes":["mail.send","{cred}"]}}"#),
            format!(r#"{{"errors":[{{"message":"\u0053{}"}}]}}"#, &cred[1..]),
            format!(r#"{{"errors":[{{"message":"\u0053{}"}}]}}"#, &stranger[1..]),
            format!("<html>{stranger} and {secret}</html>"),
        ] {
            let out = redact_answer(&body, &cred);
            for leak in [cred.as_str(), stranger.as_str(), secret] {
                assert!(!out.contains(leak), "{out}");
                assert!(!out.contains(&leak[1..]), "{out}");
            }
        }
        assert_eq!(
            redact_answer(&format!("x {cred} y"), &cred),
            format!("x {} y", crate::key::redact(&cred))
        );
        assert_eq!(
            redact_answer(r#"{"scopes": ["mail.send"]}"#, &cred),
            r#"{"scopes":["mail.send"]}"#
        );
    }

    #[test]
    fn retry_waits_are_capped_and_never_overflow() {
        let w = retry_wait(Some("18446744073709551615"), None, 1_700_000_000).unwrap();
        assert_eq!((w.asked_secs, w.wait), (u64::MAX, MAX_RETRY_WAIT));
        let w = retry_wait(None, Some("18446744073709551615"), 1_700_000_000).unwrap();
        assert_eq!(w.wait, MAX_RETRY_WAIT);
        assert_eq!(w.header, "X-RateLimit-Reset");
        assert_eq!(
            retry_wait(Some("2"), Some("1"), 0).map(|w| w.wait),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_wait(None, Some("10"), 100).map(|w| w.wait),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_wait(Some("-1"), Some("soon"), 5), None);
        assert_eq!(jittered(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn bodies_are_read_up_to_the_cap() {
        let far = Instant::now() + Duration::from_secs(60);
        let cap = usize::try_from(MAX_BODY).unwrap();
        assert_eq!(read_capped(&b"{}"[..], far).as_deref(), Ok("{}"));
        assert_eq!(read_capped(&vec![b'a'; cap][..], far).map(|b| b.len()), Ok(cap));
        assert_eq!(
            read_capped(&vec![b'a'; cap + 1][..], far),
            Err(BodyError::Oversized)
        );
        // An endless body stops at the cap, it is not read to the end.
        assert_eq!(read_capped(std::io::repeat(b'x'), far), Err(BodyError::Oversized));
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(read_capped(std::io::repeat(b'x'), past), Err(BodyError::Timeout));
    }

    /// Random header values and bodies: nothing panics, and only SendGrid's exact error shape is
    /// read as SendGrid's.
    #[test]
    fn fuzz_headers_and_bodies() {
        let mut rng = fastrand::Rng::with_seed(0x5e9d);
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"errors\"",
            "\"message\"",
            "\"field\"",
            "null",
            "7",
            "\"Forbidden\"",
            "\"x\"",
            "{\"errors\":[",
            "{\"message\":\"a\"}",
            "]}",
            "-",
            "1e999",
            "18446744073709551615",
            "99999999999999999999",
            " ",
            "\u{0}",
            "\u{1F600}",
        ];
        for _ in 0..20_000 {
            let n = rng.usize(0..12);
            let body: String = (0..n).map(|_| pieces[rng.usize(..pieces.len())]).collect();
            let strict = sendgrid_error(&body);
            if let Some(messages) = &strict {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let errors = v["errors"].as_array().unwrap();
                assert!(!errors.is_empty() && v.as_object().unwrap().len() == 1, "{body}");
                assert_eq!(errors.len(), messages.len(), "{body}");
            }
            let header: String = (0..rng.usize(0..4))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let now = rng.u64(..);
            if let Some(w) = retry_wait(Some(&header), Some(&body), now) {
                assert!(w.wait <= MAX_RETRY_WAIT);
            }
            let _ = read_capped(body.as_bytes(), Instant::now() + Duration::from_secs(5));
        }
    }
}
