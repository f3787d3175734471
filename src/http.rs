//! What every HTTP client of sgscan shares (the SendGrid API, the forges' REST APIs): the rules
//! on base URLs (https, or plain http to loopback only), one way to build a client (no redirects,
//! no proxy for plain http, timeouts), bounded body reads, and error text without credentials.

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};
use reqwest::Url;
use reqwest::blocking::Client;

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
                    "refusing plain-http API URL '{url}': credentials would cross the network in clear text (http is accepted only for loopback addresses)"
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

/// Bodies longer than this are not read: no answer sgscan asks for (a SendGrid call, a forge's page
/// of 100 repositories) comes near it, and a
/// hostile server must not be able to fill memory (or the report) with one.
pub const MAX_BODY: u64 = 1 << 20;

/// Timeouts and deadlines from the command line (u64 seconds) are clamped so that no Instant
/// arithmetic, ours or the HTTP stack's, can overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Why a response body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    Oversized,
    Timeout,
    Io(String),
}

impl BodyError {
    pub fn reason(&self) -> String {
        match self {
            BodyError::Oversized => format!("oversized answer (more than {MAX_BODY} bytes)"),
            BodyError::Timeout => "timeout: the answer did not arrive in time".to_string(),
            BodyError::Io(e) => format!("cannot read the answer: {e}"),
        }
    }
}

/// Reads at most [`MAX_BODY`] bytes (one more tells an oversized body apart), giving up at
/// `deadline` so that a server trickling bytes cannot hold a request open past it.
pub fn read_capped(reader: impl Read, deadline: Instant) -> Result<String, BodyError> {
    let mut limited = reader.take(MAX_BODY + 1);
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() > deadline {
            return Err(BodyError::Timeout);
        }
        match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let text = error_chain(&e);
                let timed_out = matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) || text.to_ascii_lowercase().contains("timed out");
                return Err(if timed_out {
                    BodyError::Timeout
                } else {
                    BodyError::Io(text)
                });
            }
        }
        if body.len() as u64 > MAX_BODY {
            return Err(BodyError::Oversized);
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let msg = error_chain(e);
    if e.is_connect() {
        format!("connection failed: {msg}")
    } else {
        msg
    }
}

pub fn is_tls_error(e: &reqwest::Error) -> bool {
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

/// A blocking client for `base` (checked with [`check_base_url`]): no redirects (a credential must
/// never follow one to where it was not sent), `timeout` per request and per connection.
pub fn client(base: &Url, timeout: Duration) -> Result<Client> {
    let timeout = timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT);
    let mut builder = Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sgscan/", env!("CARGO_PKG_VERSION")));
    if base.scheme() == "http" {
        // Plain http is for loopback only; an HTTP(S)_PROXY/ALL_PROXY from the environment
        // would receive the credential in clear text. Over https a proxy only relays TLS.
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))
}
