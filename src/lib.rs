//! sgscan: find leaked SendGrid API keys in working trees and git history.
//!
//! Data flow, one module per stage: [`source`] (bytes with provenance) → [`detect`] (rules from
//! [`rules`], encodings from [`decode`]) → [`findings`] (one entry per key, many locations) →
//! [`report`] (human, JSON, JSONL, SARIF). [`cli`] wires them for the binary.

pub mod allow;
pub mod cli;
pub mod decode;
pub mod detect;
pub mod findings;
pub mod hook;
pub mod merge;
pub mod report;
pub mod revoke;
pub mod rules;
pub mod sendgrid;
pub mod source;
pub mod verify;
