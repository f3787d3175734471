//! Subusers (`GET /v3/subusers`), and each one's keys read with `on-behalf-of: <username>` and
//! judged as the parent's are.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AccountKey, Caller, Section, field, full_page, keys, objects, over_page};
use crate::verify::Policy;

const PATH: &str = "/v3/subusers?limit=500&offset=0&include_region=true";
const LIMIT: usize = 500;

/// One subuser as the audit reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Subuser {
    pub username: String,
    pub id: i64,
    pub disabled: bool,
    /// `global` or `eu` (absent when SendGrid did not say).
    pub region: Option<String>,
    /// `None` when its keys could not be read (see `not_checked`).
    pub keys: Option<Vec<AccountKey>>,
}

pub(super) fn audit(
    caller: &Caller,
    policy: Option<&Policy>,
    leaked: &BTreeMap<String, Vec<String>>,
) -> (Vec<Subuser>, Section) {
    let v = match caller.read("subusers", "subusers.read", PATH) {
        Ok(v) => v,
        Err(nc) => return (Vec::new(), Section::skipped(nc)),
    };
    let expected =
        "[{\"disabled\": bool, \"id\": number, \"username\": string, \"email\": string, \"region\"?}]";
    let parsed = objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| {
                Some((
                    o.get("username")?.as_str()?.to_string(),
                    o.get("id")?.as_i64()?,
                    o.get("disabled")?.as_bool()?,
                    field(o, "region", |r| r.as_str().map(str::to_string))?,
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(parsed) = parsed else {
        return (
            Vec::new(),
            Section::skipped(caller.not_shape("subusers", PATH, expected)),
        );
    };
    if let Some(nc) = over_page(caller, "subusers", PATH, parsed.len(), LIMIT) {
        return (Vec::new(), Section::skipped(nc));
    }
    let mut section = Section {
        assessed: true,
        ..Section::default()
    };
    section
        .not_checked
        .extend(full_page(caller, "subusers", PATH, parsed.len(), LIMIT));
    let mut subs = Vec::new();
    for (username, id, disabled, region) in parsed {
        let keys = if disabled {
            // A disabled subuser's keys do not authenticate; the parent re-enabling it is a
            // change a later audit sees.
            None
        } else {
            let as_sub = Caller {
                api: caller.api,
                admin: caller.admin,
                on_behalf_of: Some(&username),
            };
            let (k, mut s) = keys::audit_keys(&as_sub, policy, leaked, Some(&username));
            if region.as_deref() == Some("eu") {
                for nc in &mut s.not_checked {
                    nc.reason.push_str(
                        " (an EU subuser: its data may only be readable at https://api.eu.sendgrid.com; rerun with --api-url https://api.eu.sendgrid.com)",
                    );
                }
            }
            section.merge(s);
            k
        };
        subs.push(Subuser {
            username,
            id,
            disabled,
            region,
            keys,
        });
    }
    (subs, section)
}
