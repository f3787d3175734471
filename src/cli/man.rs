//! `sgscan man`: one man page (roff) on standard output, for `sgscan man > sgscan.1`. clap_mangen
//! writes a page per command; a single page with every subcommand's synopsis and options is what
//! `man sgscan` readers expect, so each subcommand's sections are appended as sub-sections.

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use clap_mangen::Man;

use super::args::Cli;

pub fn run() -> Result<i32> {
    let page = render().context("cannot render the man page")?;
    super::print(&page)
}

fn render() -> std::io::Result<String> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        out.extend_from_slice(format!(".SH \"SGSCAN {}\"\n", sub.get_name().to_uppercase()).as_bytes());
        let man = Man::new(sub.clone());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)?;
        man.render_description_section(&mut part)?;
        man.render_options_section(&mut part)?;
        out.extend_from_slice(demote(&String::from_utf8_lossy(&part)).as_bytes());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A rendered fragment as part of a subcommand's section: its section headings become
/// sub-section headings, and the preamble every fragment repeats (the apostrophe string) goes.
fn demote(fragment: &str) -> String {
    let mut text = String::new();
    for line in fragment.lines() {
        if line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq") {
            continue;
        }
        match line.strip_prefix(".SH ") {
            Some(heading) => text.push_str(&format!(".SS {heading}\n")),
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}
