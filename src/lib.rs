//! sgscan: find leaked SendGrid API keys in working trees and git history, check which are live,
//! and revoke them.
//!
//! The modules are the pipeline, bottom first: `model` (plain data), `file` (opening only regular
//! files by name) and `key` (fingerprint,
//! redaction, key id) → `rules`, `decode` and `detect` (finding keys in bytes) → `source` (bytes with
//! provenance: the work tree, the git history, the staged index) → `findings` (the collector: one
//! finding per key, many locations) → `allow` (allow lists) → `sendgrid` (the SendGrid client, over
//! `http`, which the forge listings in `source::forge` share),
//! `verify` and `revoke` → `pipeline` (a [`Scan`] wires the stages) → `report` (human, JSON, JSONL,
//! SARIF; merging) → `cli`. No module uses one above it (`tests/architecture.rs` checks).
//!
//! ```no_run
//! use sgscan::{Scan, ScanOptions, Unattended, Worktree, WalkOptions};
//!
//! let mut scan = Scan::new(ScanOptions::default())?;
//! let source = Worktree { roots: vec![".".into()], opts: WalkOptions::default() };
//! let ran = scan.run(&source, &Unattended)?;
//! for f in &ran.outcome.findings {
//!     println!("{} {}", f.redacted, f.fingerprint);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

pub(crate) mod account;
pub(crate) mod allow;
pub mod cli;
pub(crate) mod config;
pub(crate) mod decode;
pub(crate) mod detect;
pub(crate) mod file;
pub(crate) mod findings;
pub(crate) mod http;
pub(crate) mod key;
pub(crate) mod model;
pub(crate) mod pipeline;
pub(crate) mod report;
pub(crate) mod revoke;
pub(crate) mod rotate;
pub(crate) mod rules;
pub(crate) mod sendgrid;
pub(crate) mod source;
pub(crate) mod text;
pub(crate) mod verify;

pub use allow::Ignores;
pub use detect::{Detector, Match};
pub use model::{
    CommitInfo, Confidence, Encoding, Finding, Layer, Location, Origin, Outcome, Privilege, Revocation,
    RevokeStatus, Skip, Stats, Status, Verification,
};
pub use pipeline::{Ran, RevokeSettings, Scan, ScanOptions, Unattended, VerifySettings};
pub use report::{Context as ReportContext, Format, write as write_report};
pub use revoke::{Confirm, Planned};
pub use rules::{Rule, embedded as embedded_rules, load_dir as load_rules};
pub use sendgrid::ApiOptions;
pub use source::git::{Histories, History, HistoryOptions};
pub use source::staged::Staged;
pub use source::worktree::{WalkOptions, Worktree};
pub use source::{Sink, Source};

// Rotation from a scan (`--revoke --rotate`).
pub use model::{RotateStatus, Rotated};
pub use pipeline::RotateSettings;
pub use rotate::Handover;
