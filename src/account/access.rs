//! IP Access Management: the allow list (`/v3/access_settings/whitelist`) and recent denied
//! attempts (`/v3/access_settings/activity`). The list applies to the whole account, UI and API.

use std::net::IpAddr;

use super::{Caller, Finding, NotChecked, Section, Severity, date, field, practice, result_objects};

const LIST: &str = "/v3/access_settings/whitelist";
const ACTIVITY: &str = "/v3/access_settings/activity?limit=20";
const PAGE: &str = "Settings > IP Access Management";

pub(super) fn audit(caller: &Caller) -> Section {
    let mut section = allow_list(caller);
    let activity = denied(caller);
    section.merge(activity);
    section
}

/// `a.b.c.d`, `a.b.c.d/n` or the IPv6 forms: the address and its prefix length.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, p)) => (
            ip.trim().parse::<IpAddr>().ok()?,
            Some(p.trim().parse::<u8>().ok()?),
        ),
        None => (s.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

fn allow_list(caller: &Caller) -> Section {
    let mut section = Section::default();
    let v = match caller.read("ip access: allow list", "access_settings.whitelist.read", LIST) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    let parsed = result_objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| field(o, "ip", |i| i.as_str().map(str::to_string)))
            .collect::<Option<Vec<_>>>()
    });
    let Some(entries) = parsed else {
        return Section::skipped(caller.not_shape(
            "ip access: allow list",
            LIST,
            "{\"result\": [{\"id\"?, \"ip\"?: string, \"created_at\"?, \"updated_at\"?}]}",
        ));
    };
    section.assessed = true;
    if entries.is_empty() {
        section.findings.push(Finding {
            check: "ip-allow-list-empty",
            subject: "account".into(),
            severity: Severity::Medium,
            practice: practice::IP_RESTRICTION,
            detail: "no IP allow list: any address can use every key of the account and sign in to it".into(),
            next_step: format!(
                "Add the addresses of your senders and offices ({PAGE} > Add IP, or POST /v3/access_settings/whitelist); add your own address first, or you lock yourself out"
            ),
        });
    }
    for ip in entries {
        let Some(ip) = ip else {
            // An entry without an address says nothing of the list's breadth: a list of only
            // such entries must not pass as a narrow one.
            section.not_checked.push(NotChecked {
                section: "ip access: allow list".into(),
                reason: "an entry without an address (\"ip\" absent or null): its breadth is unknown".into(),
                needs_scope: None,
            });
            continue;
        };
        let Some((addr, prefix)) = parse_cidr(&ip) else {
            section.not_checked.push(NotChecked {
                section: "ip access: allow list".into(),
                reason: format!("entry '{ip}' is not an IP address or CIDR range: its breadth is unknown"),
                needs_scope: None,
            });
            continue;
        };
        let broad = match addr {
            IpAddr::V4(_) => prefix <= 8,
            // `::ffff:a.b.c.d/n` is the IPv4 range /(n-96): `::ffff:0.0.0.0/96` is all of IPv4.
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => prefix <= 96 + 8,
            IpAddr::V6(_) => prefix <= 32,
        };
        if broad {
            section.findings.push(Finding {
                check: "ip-range-broad",
                subject: ip.clone(),
                severity: Severity::High,
                practice: practice::IP_RESTRICTION,
                detail: format!(
                    "the allow list holds /{prefix}: {} addresses may use the account's keys",
                    if prefix == 0 { "all".to_string() } else { "millions of".to_string() }
                ),
                next_step: format!("Replace it with the narrow ranges you send from: {PAGE} (or DELETE /v3/access_settings/whitelist/{{rule_id}})"),
            });
        }
    }
    section
}

/// Denied attempts in the recent activity: someone tried a key or a login from outside the list.
fn denied(caller: &Caller) -> Section {
    let mut section = Section::default();
    let v = match caller.read("ip access: activity", "access_settings.activity.read", ACTIVITY) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    let parsed = result_objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| {
                Some((
                    o.get("allowed")?.as_bool()?,
                    o.get("ip")?.as_str()?.to_string(),
                    o.get("auth_method")?.as_str()?.to_string(),
                    o.get("location")?.as_str()?.to_string(),
                    o.get("last_at")?.as_i64()?,
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(attempts) = parsed else {
        return Section::skipped(caller.not_shape(
            "ip access: activity",
            ACTIVITY,
            "{\"result\": [{\"allowed\": bool, \"auth_method\": string, \"first_at\": int, \"ip\": string, \"last_at\": int, \"location\": string}]}",
        ));
    };
    section.assessed = true;
    for (allowed, ip, method, location, last_at) in attempts {
        if allowed {
            continue;
        }
        section.findings.push(Finding {
            check: "ip-denied-attempt",
            subject: ip,
            severity: Severity::Medium,
            practice: practice::MONITORING,
            detail: format!(
                "denied {method} attempt from {location}, last at {}: someone holds credentials and tried them from outside the allow list",
                date(last_at)
            ),
            next_step: format!(
                "Find which credential it was ({PAGE} > Recent access attempts); if it was not yours, rotate the keys that may have leaked and reset the password"
            ),
        });
    }
    section
}
