//! GitLab (gitlab.com and self-managed): the projects of groups (with their subgroups if asked)
//! and users, through the REST API v4.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Client, ClientOptions, Described, Include, Listed, Scheme, Token, add};

pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";
/// Who git says it is when it clones with a token as the password.
const CLONE_USER: &str = "oauth2";

/// What to list: a group by id or full path (`acme/platform`), or a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Group(String),
    User(String),
}

/// A project as GitLab's REST API describes it. Its name, clone URL and `archived` must be there;
/// the rest is missing from some views of a project (a guest's lacks the access levels).
#[derive(Debug, Deserialize)]
struct Project {
    path_with_namespace: String,
    http_url_to_repo: String,
    archived: bool,
    #[serde(default)]
    forked_from_project: Option<IgnoredAny>,
    #[serde(default)]
    empty_repo: bool,
    #[serde(default)]
    repository_access_level: Option<String>,
    #[serde(default)]
    wiki_enabled: bool,
}

pub fn client(api_url: &str, token: Option<Token>, opts: ClientOptions) -> Result<Client> {
    Client::new("GitLab", api_url, token, Scheme::PrivateToken, opts)
}

/// Every project of `targets`, once each, in the order listed. Projects with no repository
/// (empty, or the repository feature disabled) are listed as skipped, with why.
pub fn list(client: &Client, targets: &[Target], subgroups: bool, include: Include) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut waited = Duration::ZERO;
    let what = "a list of GitLab projects";
    let subgroups = if subgroups { "true" } else { "false" };
    for target in targets {
        let url = match target {
            Target::Group(g) => client.endpoint(
                &["groups", g, "projects"],
                &[("include_subgroups", subgroups), ("per_page", "100")],
            ),
            Target::User(u) => client.endpoint(&["users", u, "projects"], &[("per_page", "100")]),
        };
        let projects: Vec<Project> = client.list(url, what, &mut waited)?;
        for p in &projects {
            let no_repository = if p.repository_access_level.as_deref() == Some("disabled") {
                Some("no repository (the repository feature is disabled)".to_string())
            } else if p.empty_repo {
                Some("no repository (empty project)".to_string())
            } else {
                None
            };
            let described = Described {
                name: &p.path_with_namespace,
                clone_url: &p.http_url_to_repo,
                fork: p.forked_from_project.is_some(),
                archived: p.archived,
                has_wiki: p.wiki_enabled,
                no_repository,
            };
            add(&mut out, &mut seen, client, CLONE_USER, include, described);
        }
    }
    Ok(out)
}
