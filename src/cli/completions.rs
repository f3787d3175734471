//! `sgscan completions SHELL`: the shell's completion script on standard output.

use anyhow::Result;
use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};

pub fn run(args: CompletionsArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sgscan", &mut out);
    super::print(&String::from_utf8_lossy(&out))
}
