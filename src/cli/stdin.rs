//! `sgscan stdin`: standard input as one stream, through the same pipeline and reports.

use anyhow::Result;

use super::args::StdinArgs;
use super::scan;
use crate::source::stdin::Stdin;

pub fn run(args: StdinArgs) -> Result<i32> {
    let source = Stdin {
        name: args.name.clone(),
        max_size: args.common.max_file_size,
    };
    let run = scan::Run {
        mode: "stdin",
        paths: None,
        why: None,
        quiet: false,
    };
    run.go(&source, &args.common).map(|(_, code)| code)
}
