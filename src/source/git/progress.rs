//! The progress bar of a sweep: on stderr, only when it is a terminal and `--progress` allows.

use std::io::IsTerminal;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::source::Sink;

/// The bar, and the sink whose count of keys found it shows.
pub(super) struct Progress<'a>(ProgressBar, &'a dyn Sink);

impl<'a> Progress<'a> {
    /// A bar over `total` objects: label, count, rate, time left and keys found.
    pub(super) fn objects(enabled: bool, total: u64, sink: &'a dyn Sink) -> Progress<'a> {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden(), sink);
        }
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        pb.set_style(style(
            "scanning objects {bar:30} {human_pos}/{human_len} ({rate}, ETA {eta}) · {msg}",
        ));
        pb.set_message(keys(0));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(pb, sink)
    }

    /// A spinner while the total is not known yet (a range being walked).
    pub(super) fn blobs(enabled: bool, sink: &'a dyn Sink) -> Progress<'a> {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden(), sink);
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(style(
            "scanning blobs {spinner} {human_pos} ({rate}) · {msg}, reading history…",
        ));
        pb.set_message(keys(0));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(pb, sink)
    }

    /// The walk is over: the total is known.
    pub(super) fn set_total(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_style(style(
            "scanning blobs {bar:30} {human_pos}/{human_len} ({rate}, ETA {eta}) · {msg}",
        ));
    }

    pub(super) fn inc(&self) {
        self.0.inc(1);
        // Read now and then: the count is an atomic, the message a string to build.
        if self.0.position().is_multiple_of(64) {
            self.keys();
        }
    }

    pub(super) fn inc_by(&self, n: u64) {
        self.0.inc(n);
        self.keys();
    }

    fn keys(&self) {
        if !self.0.is_hidden() {
            self.0.set_message(keys(self.1.keys_found()));
        }
    }

    pub(super) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// `1,234 keys found`.
fn keys(n: u64) -> String {
    let noun = if n == 1 { "key" } else { "keys" };
    format!("{} {noun} found", HumanCount(n))
}

/// indicatif's own `{per_sec}` shows four decimals: the rate is drawn here as a whole number, with
/// thousands separators as the counts have.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", HumanCount(state.per_sec().max(0.0).round() as u64));
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(super::keys(1), "1 key found");
        assert_eq!(super::keys(12_345), "12,345 keys found");
    }
}
