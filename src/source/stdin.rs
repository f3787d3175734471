//! Standard input as one blob (`kubectl logs … | sgscan stdin`): read once, bounded, and handed to
//! the sink like a file, so archives and every decoder apply to it as well.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{IGNORE_FILE, Sink, Source};
use crate::model::Origin;

/// The name shown for standard input unless `--name` says otherwise.
pub const DEFAULT_NAME: &str = "(stdin)";

pub struct Stdin {
    /// The path reports show.
    pub name: String,
    /// Bytes read at most; the rest is left unread and recorded as a skip.
    pub max_size: u64,
}

impl Stdin {
    /// Reads `input` as the stream; a source of its own so tests need no process.
    pub fn scan_reader(&self, input: impl Read, sink: &dyn Sink) -> anyhow::Result<()> {
        let mut data = Vec::new();
        input
            .take(self.max_size.saturating_add(1))
            .read_to_end(&mut data)
            .context("cannot read standard input")?;
        if data.len() as u64 > self.max_size {
            // A log piped in is worth scanning as far as the bound, not dropping whole.
            data.truncate(self.max_size as usize);
            sink.skip(
                self.name.clone(),
                format!(
                    "larger than --max-file-size ({} bytes): only the first {} bytes scanned",
                    self.max_size, self.max_size
                ),
            );
        }
        sink.scan(&data, &Origin::file(self.name.clone()));
        Ok(())
    }
}

impl Source for Stdin {
    fn scan(&self, sink: &dyn Sink) -> anyhow::Result<()> {
        self.scan_reader(std::io::stdin().lock(), sink)
    }

    /// The current directory's, as for `sgscan dir`.
    fn ignore_files(&self) -> Vec<PathBuf> {
        vec![PathBuf::from(IGNORE_FILE)]
    }
}
