//! `sgscan gitlab`: the projects of GitLab groups and users.

use anyhow::Result;

use super::args::GitlabArgs;
use crate::source::forge::{Token, gitlab};

pub fn run(args: GitlabArgs) -> Result<i32> {
    let token = Token::load("GITLAB_TOKEN", args.forge.token_file.as_deref())?;
    let client = gitlab::client(&args.api_url, token, args.forge.client_options())?;
    let mut targets: Vec<gitlab::Target> = Vec::new();
    targets.extend(args.group.iter().map(|g| gitlab::Target::Group(g.clone())));
    targets.extend(args.user.iter().map(|u| gitlab::Target::User(u.clone())));
    let listed = gitlab::list(&client, &targets, args.include_subgroups, args.forge.include())?;
    super::forge::finish(&listed, args.forge, "GitLab")
}
