//! `sgscan stdin`: standard input as one stream, through the same pipeline and reports.

use std::path::Path;

use anyhow::Result;

use super::args::StdinArgs;
use super::scan;
use crate::model::Target;
use crate::source::stdin::Stdin;

pub fn run(args: StdinArgs) -> Result<i32> {
    // No scanned root: the config is the current directory's, as `.sgscanignore` is.
    let settings = scan::Settings::load(&args.common, Some(Path::new(".")), None)?;
    let source = Stdin {
        name: args.name.clone(),
        max_size: settings.max_file_size,
    };
    let run = scan::Run {
        mode: "stdin",
        paths: None,
        why: None,
        quiet: args.common.quiet,
        target: Target {
            roots: vec![crate::key::redact_text(&args.name).into_owned()],
            ..Target::new("stdin")
        },
        finish: None,
    };
    run.go(&source, &args.common, settings).map(|(_, code)| code)
}
