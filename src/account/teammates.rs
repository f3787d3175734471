//! Teammates (`/v3/teammates`, each one's details and restricted subuser access) and pending
//! invites: admins beyond the owner, people who can manage keys or teammates, 2FA exemptions.

use super::{
    Caller, Finding, Section, Severity, bad_segment, date, field, full_page, now_secs, over_page, practice,
    result_objects, segment, strings,
};

const SCOPE: &str = "teammates.read";
const LIST: &str = "/v3/teammates?limit=500&offset=0";
const LIST_LIMIT: usize = 500;
const ACCESS_LIMIT: usize = 100;
const PENDING: &str = "/v3/teammates/pending";
const PAGE: &str = "Settings > Teammates";

pub(super) fn audit(caller: &Caller) -> Section {
    let mut section = Section::default();
    let v = match caller.read("teammates", SCOPE, LIST) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    let listed = result_objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| {
                let username = o.get("username")?.as_str()?.to_string();
                let user_type = field(o, "user_type", |t| t.as_str().map(str::to_string))?;
                Some((username, user_type))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(listed) = listed else {
        return Section::skipped(caller.not_shape(
            "teammates",
            LIST,
            "{\"result\": [{\"username\": string, \"user_type\"?, \"is_admin\"?}]}",
        ));
    };
    if let Some(nc) = over_page(caller, "teammates", LIST, listed.len(), LIST_LIMIT) {
        return Section::skipped(nc);
    }
    // An account has one owner, and owners are passed over: a list of several would pass them all.
    let owners = listed
        .iter()
        .filter(|(_, t)| t.as_deref() == Some("owner"))
        .count();
    if owners > 1 {
        return Section::skipped(caller.not_shape("teammates", LIST, &format!("one owner, not {owners}")));
    }
    section.assessed = true;
    section
        .not_checked
        .extend(full_page(caller, "teammates", LIST, listed.len(), LIST_LIMIT));
    for (username, user_type) in listed {
        if user_type.as_deref() == Some("owner") {
            continue;
        }
        teammate(caller, &username, &mut section);
    }
    pending(caller, &mut section);
    section
}

/// One teammate's details: role, scopes, and the subusers it may administer.
fn teammate(caller: &Caller, username: &str, section: &mut Section) {
    let what = format!("teammate {username}");
    let Some(seg) = segment(username) else {
        return section.not_checked.push(bad_segment(caller, &what, username));
    };
    let path = format!("/v3/teammates/{seg}");
    let v = match caller.read(&what, SCOPE, &path) {
        Ok(v) => v,
        Err(nc) => return section.not_checked.push(nc),
    };
    let parsed = v.as_object().and_then(|o| {
        Some((
            field(o, "user_type", |t| t.as_str().map(str::to_string))?,
            field(o, "is_admin", |b| b.as_bool())?,
            strings(o, "scopes")?,
        ))
    });
    let Some((user_type, is_admin, scopes)) = parsed else {
        return section.not_checked.push(caller.not_shape(
            &what,
            &path,
            "{\"username\", \"scopes\"?: [string], \"user_type\"?, \"is_admin\"?: bool}",
        ));
    };
    if user_type.as_deref() == Some("owner") {
        return;
    }
    let edit = format!("{PAGE} > {username} > Edit permissions (or PATCH /v3/teammates/{username})");
    let mut add = |check, severity, practice, detail: String, next_step: String| {
        section.findings.push(Finding {
            check,
            subject: format!("teammate {username}"),
            severity,
            practice,
            detail,
            next_step,
        })
    };
    let admin = is_admin == Some(true) || user_type.as_deref() == Some("admin");
    if admin {
        add(
            "teammate-admin",
            Severity::High,
            practice::ROLES,
            "an administrator besides the owner: can create keys, invite people and change every setting"
                .into(),
            format!("Make it a restricted teammate with the scopes its role needs: {edit}"),
        );
    } else {
        let managing: Vec<&String> = scopes
            .iter()
            .filter(|s| s.starts_with("api_keys.") || s.starts_with("teammates."))
            .collect();
        let writes = managing.iter().any(|s| !s.ends_with(".read"));
        if !managing.is_empty() {
            add(
                "teammate-manages-access",
                if writes { Severity::High } else { Severity::Medium },
                practice::ROLES,
                format!(
                    "holds key- or teammate-management scopes: {}",
                    managing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
                format!("Leave key and teammate management to the owner or one admin: {edit}"),
            );
        }
    }
    if scopes.iter().any(|s| s == "2fa_exempt") {
        add(
            "teammate-2fa-exempt",
            Severity::Medium,
            practice::MFA,
            "exempt from two-factor authentication (2fa_exempt)".into(),
            format!("Require two-factor authentication for every teammate: {edit}"),
        );
    }
    subuser_access(caller, username, &seg, section);
}

/// Restricted subuser access that grants admin on a subuser.
fn subuser_access(caller: &Caller, username: &str, seg: &str, section: &mut Section) {
    let what = format!("teammate {username}: subuser access");
    let path = format!("/v3/teammates/{seg}/subuser_access?limit={ACCESS_LIMIT}");
    let v = match caller.read(&what, SCOPE, &path) {
        Ok(v) => v,
        Err(nc) => return section.not_checked.push(nc),
    };
    let parsed = v.as_object().and_then(|o| {
        field(o, "subuser_access", |a| {
            a.as_array()?
                .iter()
                .map(|e| {
                    let e = e.as_object()?;
                    Some((
                        field(e, "username", |u| u.as_str().map(str::to_string))?,
                        field(e, "permission_type", |p| p.as_str().map(str::to_string))?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
        })
    });
    let Some(entries) = parsed else {
        return section.not_checked.push(caller.not_shape(
            &what,
            &path,
            "{\"has_restricted_subuser_access\"?: bool, \"subuser_access\"?: [{\"username\"?, \"permission_type\"?}]}",
        ));
    };
    let entries = entries.unwrap_or_default();
    if let Some(nc) = over_page(caller, &what, &path, entries.len(), ACCESS_LIMIT) {
        return section.not_checked.push(nc);
    }
    section
        .not_checked
        .extend(full_page(caller, &what, &path, entries.len(), ACCESS_LIMIT));
    for (sub, permission) in entries {
        if permission.as_deref() == Some("admin") {
            section.findings.push(Finding {
                check: "teammate-subuser-admin",
                subject: format!("teammate {username}"),
                severity: Severity::Medium,
                practice: practice::ROLES,
                detail: format!(
                    "administers subuser {} through restricted subuser access",
                    sub.as_deref().unwrap_or("(unnamed)")
                ),
                next_step: format!(
                    "Give it restricted permissions on that subuser: {PAGE} > {username} > Subuser access"
                ),
            });
        }
    }
}

/// Pending invites: with admin rights, or past their 7-day life and still listed.
fn pending(caller: &Caller, section: &mut Section) {
    let v = match caller.read("pending invites", SCOPE, PENDING) {
        Ok(v) => v,
        Err(nc) => return section.not_checked.push(nc),
    };
    let parsed = result_objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| {
                Some((
                    field(o, "email", |e| e.as_str().map(str::to_string))?,
                    field(o, "is_admin", |b| b.as_bool())?,
                    field(o, "expiration_date", |d| d.as_i64())?,
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(invites) = parsed else {
        return section.not_checked.push(caller.not_shape(
            "pending invites",
            PENDING,
            "{\"result\": [{\"email\"?, \"scopes\"?, \"is_admin\"?: bool, \"token\"?, \"expiration_date\"?: int}]}",
        ));
    };
    let now = now_secs();
    // The invite's token is not shown: whoever holds it can accept the invite.
    let delete = format!("{PAGE} > Pending invites > delete (or DELETE /v3/teammates/pending/{{token}})");
    for (email, is_admin, expires) in invites {
        let who = email.unwrap_or_else(|| "(no email)".into());
        if is_admin == Some(true) {
            section.findings.push(Finding {
                check: "invite-admin",
                subject: format!("invite {who}"),
                severity: Severity::High,
                practice: practice::ROLES,
                detail: "a pending invite with administrator rights".into(),
                next_step: format!("Withdraw it and invite with the scopes the role needs: {delete}"),
            });
        }
        if let Some(t) = expires.filter(|t| *t < now) {
            section.findings.push(Finding {
                check: "invite-expired",
                subject: format!("invite {who}"),
                severity: Severity::Low,
                practice: practice::ROLES,
                detail: format!(
                    "an invite past its 7-day life (expired {}) is still listed",
                    date(t)
                ),
                next_step: format!("Delete it: {delete}"),
            });
        }
    }
}
