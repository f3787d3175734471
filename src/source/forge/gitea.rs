//! Gitea and Forgejo (Codeberg): the repositories of organisations and users, through the REST
//! API v1. The same shape as GitHub's, with its own paging (`limit`, `page`, `Link` headers).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::{Client, ClientOptions, Described, Include, Listed, Scheme, Token, add};

/// Who git says it is when it clones with a token as the password (Gitea takes any name).
const CLONE_USER: &str = "oauth2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Org(String),
    User(String),
}

/// A repository as Gitea's REST API describes it.
#[derive(Debug, Deserialize)]
struct Repo {
    full_name: String,
    clone_url: String,
    fork: bool,
    archived: bool,
    has_wiki: bool,
    #[serde(default)]
    empty: bool,
}

pub fn client(api_url: &str, token: Option<Token>, opts: ClientOptions) -> Result<Client> {
    Client::new("Gitea", api_url, token, Scheme::Token, opts)
}

/// Every repository of `targets`, once each, in the order listed.
pub fn list(client: &Client, targets: &[Target], include: Include) -> Result<Vec<Listed>> {
    const PAGE: [(&str, &str); 2] = [("limit", "50"), ("page", "1")];
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut waited = Duration::ZERO;
    let what = "a list of Gitea repositories";
    for target in targets {
        let url = match target {
            Target::Org(org) => client.endpoint(&["orgs", org, "repos"], &PAGE),
            Target::User(user) => client.endpoint(&["users", user, "repos"], &PAGE),
        };
        let repos: Vec<Repo> = client.list(url, what, &mut waited)?;
        for r in &repos {
            let described = Described {
                name: &r.full_name,
                clone_url: &r.clone_url,
                fork: r.fork,
                archived: r.archived,
                has_wiki: r.has_wiki,
                no_repository: r.empty.then(|| "no repository (empty)".to_string()),
            };
            add(&mut out, &mut seen, client, CLONE_USER, include, described);
        }
    }
    Ok(out)
}
