//! A fake forge REST API (GitHub's or GitLab's shapes) on the tests' loopback [`Server`]: answers
//! are scripted per request target (path and query); the requests are recorded with the
//! credential headers they carried, so tests can check where the token went.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::mock::{Response, Server};

/// One request the fake forge received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
    pub private_token: Option<String>,
}

#[derive(Default)]
struct State {
    /// By request target: answers served in order, the last one again and again.
    routes: HashMap<String, VecDeque<Response>>,
    seen: Vec<Seen>,
}

pub struct FakeForge {
    state: Arc<Mutex<State>>,
    server: Server,
}

impl FakeForge {
    pub fn start() -> FakeForge {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start(move |req| {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.seen.push(Seen {
                    target: req.path.clone(),
                    authorization: req.header("authorization").map(str::to_string),
                    private_token: req.header("private-token").map(str::to_string),
                });
                match st.routes.get_mut(&req.path) {
                    Some(q) if q.len() > 1 => q.pop_front().expect("a scripted answer"),
                    Some(q) => q.front().expect("a scripted answer").clone(),
                    None => Response::json(404, json!({"message": "Not Found"})),
                }
            })
        };
        FakeForge { state, server }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Answers `target` (path and query) with `answers`, in order; the last one stays.
    pub fn route(&self, target: &str, answers: Vec<Response>) {
        assert!(!answers.is_empty());
        self.lock().routes.insert(target.to_string(), answers.into());
    }

    /// Answers `target` with 200 and this JSON, and a `Link: <next>; rel="next"` if `next` is given.
    pub fn page(&self, target: &str, body: Value, next: Option<&str>) {
        let mut r = Response::json(200, body);
        if let Some(next) = next {
            r = r.header("Link", format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\""));
        }
        self.route(target, vec![r]);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// How many requests had this target.
    pub fn count(&self, target: &str) -> usize {
        self.seen().iter().filter(|s| s.target == target).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Epoch seconds `secs` from now (an `X-RateLimit-Reset`).
pub fn epoch_in(secs: u64) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + secs)
        .unwrap_or(0)
}

/// A repository as GitHub's REST API lists it, cloned from `git_base/owner/name.git`.
pub fn github_repo(git_base: &str, full_name: &str, fork: bool, archived: bool, has_wiki: bool) -> Value {
    json!({
        "id": 1,
        "full_name": full_name,
        "private": false,
        "html_url": format!("{git_base}/{full_name}"),
        "clone_url": format!("{git_base}/{full_name}.git"),
        "fork": fork,
        "archived": archived,
        "disabled": false,
        "has_wiki": has_wiki,
        "default_branch": "main",
    })
}

/// A project as GitLab's REST API lists it, cloned from `git_base/path.git`.
pub fn gitlab_project(git_base: &str, path: &str, fork: bool, archived: bool, wiki: bool) -> Value {
    let mut p = json!({
        "id": 7,
        "path_with_namespace": path,
        "http_url_to_repo": format!("{git_base}/{path}.git"),
        "ssh_url_to_repo": format!("git@example.invalid:{path}.git"),
        "archived": archived,
        "empty_repo": false,
        "repository_access_level": "enabled",
        "wiki_enabled": wiki,
    });
    if fork {
        p["forked_from_project"] = json!({"id": 1, "path_with_namespace": "upstream/x"});
    }
    p
}
