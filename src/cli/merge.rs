//! `sgscan merge`: reports of several runs (shards) into one.

use std::time::Instant;

use anyhow::Result;

use super::args::MergeArgs;
use super::{exit_code, write_report};
use crate::pipeline;
use crate::report::{self, merge::Merger};

pub fn run(args: MergeArgs) -> Result<i32> {
    let started = Instant::now();
    let mut merger = Merger::default();
    for r in &args.reports {
        merger.add_file(r)?;
    }
    let (outcome, target) = merger.finish();
    // The rules give SARIF its rule metadata.
    let detector = pipeline::detector(args.patterns.as_deref())?;
    let ctx = report::Context {
        rules: detector.rules(),
        show_secrets: false,
        elapsed: started.elapsed(),
        mode: "merge",
        target,
        category: args.output.sarif_category.clone(),
        ..Default::default()
    };
    write_report(
        &outcome,
        args.output.format.into(),
        args.output.output.as_deref(),
        &ctx,
    )?;
    Ok(exit_code(&outcome))
}
