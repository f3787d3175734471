//! `sgscan github`: the repositories of GitHub organisations, users and single repositories.

use anyhow::Result;

use super::args::GithubArgs;
use crate::source::forge::{Token, github};

pub fn run(args: GithubArgs) -> Result<i32> {
    let token = Token::load("GITHUB_TOKEN", args.forge.token_file.as_deref())?;
    let client = github::client(&args.api_url, token, args.forge.client_options())?;
    let mut targets: Vec<github::Target> = Vec::new();
    targets.extend(args.org.iter().map(|o| github::Target::Org(o.clone())));
    targets.extend(args.user.iter().map(|u| github::Target::User(u.clone())));
    for r in &args.repo {
        targets.push(github::Target::repo(r)?);
    }
    let listed = github::list(&client, &targets, args.forge.include())?;
    super::forge::finish(&listed, args.forge, "GitHub")
}
