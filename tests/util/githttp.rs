//! A smart-HTTP git server on 127.0.0.1: `git http-backend` run as a CGI program behind a small
//! HTTP/1.1 server (a thread per connection, `Connection: close`), serving the bare repositories
//! under a root, optionally only to a client that sends one Basic-auth user and secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::git::Repo;
use super::run::GIT_LOCAL_ENV;
use super::{KeyGen, env_line};

pub struct GitHttp {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    root: PathBuf,
    /// `Authorization` header value a request must carry, if any.
    auth: Option<String>,
    /// Every name of the form `NAME-N.git` is served from `NAME.git` (one mirror under many names).
    aliases: bool,
    /// Every request is answered `301 Moved` to this base URL with the same path and query.
    redirect: Mutex<Option<String>>,
    /// Request lines seen (`GET /org/app.git/info/refs?service=git-upload-pack`).
    log: Mutex<Vec<String>>,
    /// Request lines that carried an `Authorization` header.
    authorized: Mutex<Vec<String>>,
}

impl GitHttp {
    /// Serves the repositories under `root` to anyone.
    pub fn start(root: &Path) -> GitHttp {
        GitHttp::serve(root, None, false)
    }

    /// Serves them only to a client that authenticates as `user` with `secret`.
    pub fn with_auth(root: &Path, user: &str, secret: &str) -> GitHttp {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        GitHttp::serve(root, Some(format!("Basic {basic}")), false)
    }

    /// Serves `root/NAME.git` as `NAME-1.git`, `NAME-2.git`, …: the benchmark's many repositories.
    pub fn aliased(root: &Path) -> GitHttp {
        GitHttp::serve(root, None, true)
    }

    /// Serves nothing: sends every request to `base` (another server's `url("")`) by a 301.
    pub fn redirecting(base: &str) -> GitHttp {
        let s = GitHttp::serve(Path::new("/nonexistent"), None, false);
        *s.shared.redirect.lock().unwrap() = Some(base.trim_end_matches('/').to_string());
        s
    }

    fn serve(root: &Path, auth: Option<String>, aliases: bool) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            auth,
            aliases,
            redirect: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            authorized: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &s);
                });
            }
        });
        GitHttp { port, shared }
    }

    /// `http://127.0.0.1:PORT/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The same with `user:secret@` in it.
    pub fn url_with(&self, user: &str, secret: &str, name: &str) -> String {
        format!("http://{user}:{secret}@127.0.0.1:{}/{name}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The requests that carried an `Authorization` header.
    pub fn authorized(&self) -> Vec<String> {
        self.shared.authorized.lock().unwrap().clone()
    }
}

fn handle(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let request = line.trim_end().to_string();
    let mut parts = request.split(' ');
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    s.log.lock().unwrap().push(request.clone());
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if header("authorization").is_some() {
        s.authorized.lock().unwrap().push(request.clone());
    }
    if let Some(base) = s.redirect.lock().unwrap().clone() {
        return out.write_all(
            format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {base}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
    }
    if let Some(want) = &s.auth
        && header("authorization").as_deref() != Some(want.as_str())
    {
        return out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                line.clear();
                reader.read_line(&mut line)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = match s.aliases {
        true => unalias(path),
        false => path.to_string(),
    };
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for v in GIT_LOCAL_ENV {
        cgi.env_remove(v);
    }
    if let Some(t) = header("content-type") {
        cgi.env("CONTENT_TYPE", t);
    }
    if let Some(p) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", p);
    }
    if let Some(e) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", e);
    }
    if s.auth.is_some() {
        cgi.env("REMOTE_USER", "tester");
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut cgi_out = BufReader::new(child.stdout.take().unwrap());
    let mut status = "200 OK".to_string();
    let mut response_headers = String::new();
    loop {
        line.clear();
        if cgi_out.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        match line.trim_end().split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            _ => response_headers.push_str(&format!("{}\r\n", line.trim_end())),
        }
    }
    out.write_all(format!("HTTP/1.1 {status}\r\n{response_headers}Connection: close\r\n\r\n").as_bytes())?;
    std::io::copy(&mut cgi_out, &mut out)?;
    let _ = feeder.join();
    let _ = child.wait();
    out.flush()
}

/// `/NAME-N.git/rest` → `/NAME.git/rest`.
fn unalias(path: &str) -> String {
    let Some(at) = path.find(".git") else {
        return path.to_string();
    };
    let (repo, rest) = path.split_at(at);
    match repo.rsplit_once('-') {
        Some((name, n)) if n.chars().all(|c| c.is_ascii_digit()) => format!("{name}{rest}"),
        _ => path.to_string(),
    }
}

/// Planted keys: in history only (deleted since), on a branch that is not the default, and in a
/// pull-request ref no branch has.
pub struct Planted {
    pub old: String,
    pub branch: String,
    pub pull: String,
}

/// `root/NAME.git`, a bare repository with the three planted keys and `files` files of noise.
pub fn planted(root: &Path, name: &str, keys: &mut KeyGen, files: usize) -> (Repo, Planted) {
    let keys = Planted {
        old: keys.key(),
        branch: keys.key(),
        pull: keys.key(),
    };
    let work = Repo::init(&root.join(format!("{name}-work")));
    for i in 0..files {
        work.write(&format!("src/f{i}.txt"), &format!("nothing here {i}\n"));
    }
    work.write("config/app.env", &env_line(&keys.old));
    work.commit("add config");
    work.git(&["rm", "-q", "config/app.env"]);
    work.commit("drop config");
    work.git(&["checkout", "-q", "-b", "feature"]);
    work.write("feature.env", &env_line(&keys.branch));
    work.commit("feature");
    work.git(&["checkout", "-q", "-b", "pr", "main"]);
    work.write("pr.env", &env_line(&keys.pull));
    work.commit("pull request");
    work.git(&["checkout", "-q", "main"]);
    let bare = root.join(format!("{name}.git"));
    work.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let bare = Repo::open(&bare);
    // A forge's pull-request ref: in the server's repository, under no branch.
    work.git(&["push", "-q", bare.path.to_str().unwrap(), "pr:refs/pull/1/head"]);
    bare.git(&["branch", "-D", "pr"]);
    (work, keys)
}
