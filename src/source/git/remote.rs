//! A repository that lives elsewhere, as the forge enumerations hand it to the sweep.
//! (The shape agreed with the remote-cloning side; the lead reconciles both copies.)

use std::fmt;

/// A repository to sweep that lives elsewhere. `url` never holds credentials (it is what reports show).
#[derive(Debug, Clone)]
// Read by the sweep of remotes, which the forge commands call once it is wired.
#[allow(dead_code)]
pub struct Remote {
    pub url: String,
    /// How git authenticates to it over HTTP(S), if at all (from GITHUB_TOKEN/GITLAB_TOKEN/--token-file).
    pub auth: Option<HttpAuth>,
}

/// Sent as an `Authorization: Basic` header via git's `http.<url>.extraHeader`, passed to git through
/// the environment (GIT_CONFIG_COUNT/GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n), never its argv.
#[derive(Clone)]
// Read by the sweep of remotes, which the forge commands call once it is wired.
#[allow(dead_code)]
pub struct HttpAuth {
    pub user: String,
    pub secret: String,
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuth")
            .field("user", &self.user)
            .field("secret", &"…")
            .finish()
    }
}
