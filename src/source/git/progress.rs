//! The progress bar of a sweep: on stderr, only when it is a terminal and `--progress` allows.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

pub(super) struct Progress(ProgressBar);

impl Progress {
    /// A bar over `total` objects: label, count, whole-number rate and time left.
    pub(super) fn objects(enabled: bool, total: u64) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        pb.set_style(style(
            "scanning objects {bar:30} {human_pos}/{human_len} ({rate}, ETA {eta})",
        ));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(pb)
    }

    /// A spinner while the total is not known yet (a range being walked).
    pub(super) fn blobs(enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(style(
            "scanning blobs {spinner} {human_pos} ({rate}), reading history…",
        ));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(pb)
    }

    /// The walk is over: the total is known.
    pub(super) fn set_total(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_style(style(
            "scanning blobs {bar:30} {human_pos}/{human_len} ({rate}, ETA {eta})",
        ));
    }

    pub(super) fn inc(&self) {
        self.0.inc(1);
    }

    pub(super) fn inc_by(&self, n: u64) {
        self.0.inc(n);
    }

    pub(super) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// indicatif's own `{per_sec}` shows four decimals: the rate is drawn here as a whole number.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        })
}
