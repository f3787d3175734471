//! The SendGrid v3 API client: the one place that talks HTTP. HTTPS with certificate validation
//! (plain http only for loopback, for tests), no redirects (a bearer token must never follow one),
//! bounded concurrency and a client-side rate limit, retries with backoff on 429/5xx/timeouts.
//! It returns what the API said; [`crate::verify`] and [`crate::revoke`] decide what it means.
//! Keys are never logged: request logs show the key id and fingerprint only.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode, Url};

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
    /// An HTTP response: status, body, and whether the body is SendGrid's JSON.
    Http {
        status: u16,
        body: String,
        message: Option<String>,
        sendgrid_json: bool,
        attempts: u32,
    },
    /// No usable answer: connection failure, timeout, TLS failure, or retries exhausted on 429/5xx.
    Fault { reason: String, attempts: u32 },
}

pub struct Api {
    client: Client,
    base: Url,
    opts: ApiOptions,
    next_slot: Mutex<Instant>,
}

/// Checks the API base URL: https, or http to a loopback address only.
pub fn check_base_url(url: &str) -> Result<Url> {
    let parsed = Url::parse(url).map_err(|e| anyhow::anyhow!("invalid API URL '{url}': {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback {
                bail!(
                    "refusing plain-http API URL '{url}': keys would cross the network in clear text (http is accepted only for loopback addresses)"
                );
            }
        }
        other => bail!("unsupported API URL scheme '{other}' in '{url}' (use https)"),
    }
    if parsed.host().is_none() {
        bail!("API URL '{url}' has no host");
    }
    Ok(parsed)
}

impl Api {
    pub fn new(opts: ApiOptions) -> Result<Api> {
        let base = check_base_url(&opts.base_url)?;
        let client = Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sgscan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
        Ok(Api {
            client,
            base,
            opts,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    pub fn get(&self, cred: &Credential, path: &str) -> Answer {
        self.call(Method::GET, cred, path)
    }

    pub fn delete(&self, cred: &Credential, path: &str) -> Answer {
        self.call(Method::DELETE, cred, path)
    }

    /// Waits for this thread's turn under the client-side rate limit.
    fn pace(&self) {
        let wait = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.opts.min_interval;
            slot - now
        };
        std::thread::sleep(wait);
    }

    fn call(&self, method: Method, cred: &Credential, path: &str) -> Answer {
        let started = Instant::now();
        let url = match self.base.join(path) {
            Ok(u) => u,
            Err(e) => {
                return Answer::Fault {
                    reason: format!("bad request path {path}: {e}"),
                    attempts: 0,
                };
            }
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.pace();
            let result = self
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(cred.key)
                .send();
            let (retry_after, fault) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let wait = retry_wait(&resp);
                    let body = resp.text().unwrap_or_default();
                    self.log(&method, path, cred, &format!("{}", status.as_u16()), attempt);
                    let (message, sendgrid_json) = sendgrid_error(&body);
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable {
                        return Answer::Http {
                            status: status.as_u16(),
                            body,
                            message,
                            sendgrid_json,
                            attempts: attempt,
                        };
                    }
                    let what = if status == StatusCode::TOO_MANY_REQUESTS {
                        "rate limited (429)".to_string()
                    } else {
                        format!("server error ({})", status.as_u16())
                    };
                    (
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            wait
                        } else {
                            None
                        },
                        what,
                    )
                }
                Err(e) => {
                    let what = describe(&e);
                    self.log(&method, path, cred, &what, attempt);
                    if is_tls_error(&e) {
                        // A certificate that does not validate will not validate on a retry.
                        return Answer::Fault {
                            reason: what,
                            attempts: attempt,
                        };
                    }
                    (None, what)
                }
            };
            if attempt > self.opts.max_retries {
                return Answer::Fault {
                    reason: format!("{fault}, after {attempt} attempts"),
                    attempts: attempt,
                };
            }
            let backoff =
                retry_after.unwrap_or_else(|| jittered(self.opts.backoff * 2u32.saturating_pow(attempt - 1)));
            if started.elapsed() + backoff > self.opts.deadline {
                return Answer::Fault {
                    reason: format!(
                        "{fault}; gave up after {attempt} attempts (deadline {}s)",
                        self.opts.deadline.as_secs()
                    ),
                    attempts: attempt,
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

/// How long a 429 asks us to wait: `Retry-After` (seconds), else `X-RateLimit-Reset` (epoch seconds).
fn retry_wait(resp: &reqwest::blocking::Response) -> Option<Duration> {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_string)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// Up to +50% random jitter, so parallel retries do not march in step.
fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(fastrand::f64() * 0.5)
}

/// SendGrid's error body is `{"errors":[{"field":…,"message":"…"}]}`; anything else (an HTML page
/// from a proxy) is not SendGrid speaking.
pub fn sendgrid_error(body: &str) -> (Option<String>, bool) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, false);
    };
    let Some(errors) = v.get("errors").and_then(|e| e.as_array()) else {
        return (None, v.is_object());
    };
    let messages: Vec<&str> = errors
        .iter()
        .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
        .collect();
    if messages.is_empty() {
        return (None, false);
    }
    (Some(messages.join("; ")), true)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    if e.is_connect() {
        format!("connection failed: {msg}")
    } else {
        msg
    }
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    let text = describe(e).to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "invalidcertificate",
        "unknownissuer",
    ]
    .iter()
    .any(|w| text.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (m, sg) = sendgrid_error(r#"{"errors":[{"field":null,"message":"access forbidden"}]}"#);
        assert_eq!((m.as_deref(), sg), (Some("access forbidden"), true));
        assert_eq!(sendgrid_error("<html>Forbidden</html>"), (None, false));
    }
}
