//! GitHub (and GitHub Enterprise Server): the repositories of organisations and users, and single
//! repositories, through the REST API.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{Client, ClientOptions, Described, Include, Listed, Scheme, Token, add};

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Who git says it is when it clones with a token as the password.
const CLONE_USER: &str = "x-access-token";

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Org(String),
    User(String),
    /// `OWNER/NAME`.
    Repo(String, String),
}

impl Target {
    /// `OWNER/NAME`, both parts non-empty.
    pub fn repo(spec: &str) -> Result<Target> {
        match spec.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(Target::Repo(o.to_string(), n.to_string()))
            }
            _ => bail!("--repo wants OWNER/NAME, not '{spec}'"),
        }
    }
}

/// A repository as GitHub's REST API describes it; the members sgscan needs must be there.
#[derive(Debug, Deserialize)]
struct Repo {
    full_name: String,
    clone_url: String,
    fork: bool,
    archived: bool,
    has_wiki: bool,
    #[serde(default)]
    disabled: bool,
}

pub fn client(api_url: &str, token: Option<Token>, opts: ClientOptions) -> Result<Client> {
    Client::new("GitHub", api_url, token, Scheme::Bearer, opts)
}

/// Every repository of `targets`, once each, in the order listed.
pub fn list(client: &Client, targets: &[Target], include: Include) -> Result<Vec<Listed>> {
    const PAGE: [(&str, &str); 2] = [("type", "all"), ("per_page", "100")];
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut waited = Duration::ZERO;
    let what = "a list of GitHub repositories";
    for target in targets {
        let repos: Vec<Repo> = match target {
            Target::Org(org) => {
                client.list(client.endpoint(&["orgs", org, "repos"], &PAGE), what, &mut waited)?
            }
            Target::User(user) => client.list(
                client.endpoint(&["users", user, "repos"], &PAGE),
                what,
                &mut waited,
            )?,
            Target::Repo(owner, name) => vec![client.one(
                client.endpoint(&["repos", owner, name], &[]),
                "a GitHub repository",
                &mut waited,
            )?],
        };
        for r in &repos {
            let described = Described {
                name: &r.full_name,
                clone_url: &r.clone_url,
                fork: r.fork,
                archived: r.archived,
                has_wiki: r.has_wiki,
                no_repository: r.disabled.then(|| "disabled by GitHub".to_string()),
            };
            add(&mut out, &mut seen, client, CLONE_USER, include, described);
        }
    }
    Ok(out)
}
