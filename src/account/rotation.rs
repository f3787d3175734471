//! Rotation dates from sgscan's own audit log (`sgscan rotate --audit-log`): the API gives keys no
//! creation date, so the log is the only place a key's age can come from.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::{AccountKey, Finding, Section, Severity, now_secs, practice};

/// Keys older than this are due for rotation.
const ROTATE_AFTER_DAYS: i64 = 90;

/// New key id → when a rotation created it (RFC 3339, as logged). A line that is not JSON or not a
/// created-key line is passed over: the log also holds attempts, hand-overs and revocations.
pub(super) fn read_log(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = crate::file::read_to_string(path, crate::file::REPORT)
        .with_context(|| format!("cannot read audit log {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let created = v["event"] == "result" && v["result"] == "created";
        if let (true, Some(id), Some(at)) = (created, v["new_key_id"].as_str(), v["timestamp"].as_str()) {
            // The latest line wins: the log is appended in time order.
            out.insert(id.to_string(), at.to_string());
        }
    }
    Ok(out)
}

/// Marks the keys a rotation created and flags those past [`ROTATE_AFTER_DAYS`].
pub(super) fn apply(keys: &mut [AccountKey], log: &BTreeMap<String, String>) -> Section {
    let mut section = Section::default();
    let now = now_secs();
    let mut unknown = 0usize;
    for k in keys.iter_mut() {
        let Some(at) = log.get(&k.api_key_id) else {
            unknown += 1;
            continue;
        };
        k.rotated_in = Some(at.clone());
        section.assessed = true;
        let Ok(t) = gix::date::parse(at, None) else {
            continue;
        };
        // The log is a file anyone may have written: its seconds can be i64::MIN.
        let days = now.saturating_sub(t.seconds) / 86_400;
        if days > ROTATE_AFTER_DAYS {
            section.findings.push(Finding {
                check: "key-rotation-due",
                subject: format!("key {}", k.api_key_id),
                severity: Severity::Low,
                practice: practice::ROTATION,
                detail: format!(
                    "'{}' was created by a rotation on {at}, {days} days ago (more than {ROTATE_AFTER_DAYS})",
                    k.name
                ),
                next_step: format!(
                    "Rotate it: sgscan rotate --key-id {} --audit-log LOG",
                    k.api_key_id
                ),
            });
        }
    }
    if unknown > 0 {
        section.findings.push(Finding {
            check: "key-rotation-unknown",
            subject: "account".into(),
            severity: Severity::Info,
            practice: practice::ROTATION,
            detail: format!(
                "{} no rotation in the audit log: their age cannot be known (the API gives none)",
                crate::text::count(unknown as u64, "key has", "keys have")
            ),
            next_step:
                "Rotate them with sgscan rotate --audit-log LOG, so that the next audit knows their age"
                    .into(),
        });
    }
    section
}
