//! sgscan: find leaked SendGrid API keys in working trees and git history.
//!
//! Data flow, one module per stage: [`source`] (bytes with provenance: work tree, git history,
//! staged index) → [`detect`] (rules from [`rules`], encodings from [`decode`]) → [`findings`] (one
//! entry per key, many locations; [`allow`] drops known ones) → [`verify`] and [`revoke`] (through
//! [`sendgrid`], the only HTTP client) → [`report`] (human, JSON, JSONL, SARIF; [`merge`] combines
//! reports). [`hook`] installs the pre-commit hook; [`cli`] wires it all for the binary.

pub mod allow;
pub mod cli;
pub mod decode;
pub mod detect;
pub mod findings;
pub mod key;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod revoke;
pub mod rules;
pub mod sendgrid;
pub mod source;
pub mod text;
pub mod verify;
