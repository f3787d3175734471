//! `sgscan gitea`: the repositories of Gitea or Forgejo organisations and users.

use anyhow::Result;

use super::args::GiteaArgs;
use crate::source::forge::{Token, gitea};

pub fn run(args: GiteaArgs) -> Result<i32> {
    let token = Token::load("GITEA_TOKEN", args.forge.token_file.as_deref())?;
    let client = gitea::client(&args.api_url, token, args.forge.client_options())?;
    let mut targets: Vec<gitea::Target> = Vec::new();
    targets.extend(args.org.iter().map(|o| gitea::Target::Org(o.clone())));
    targets.extend(args.user.iter().map(|u| gitea::Target::User(u.clone())));
    let listed = gitea::list(&client, &targets, args.forge.include())?;
    super::forge::finish(&listed, args.forge, "Gitea")
}
