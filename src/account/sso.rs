//! SSO (`/v3/sso/integrations` and each integration's certificates): a certificate expired or
//! expiring within 30 days breaks sign-in, or signals an integration nobody maintains.

use super::{
    Caller, Finding, NotChecked, Section, Severity, bad_segment, date, field, now_secs, objects, practice,
    segment,
};

const SCOPE: &str = "sso.settings.read";
const LIST: &str = "/v3/sso/integrations?si=true";
const PAGE: &str = "Settings > SSO Settings";
const SOON_DAYS: i64 = 30;

pub(super) fn audit(caller: &Caller) -> Section {
    let v = match caller.read("sso", SCOPE, LIST) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    let parsed = objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| {
                Some((
                    o.get("name")?.as_str()?.to_string(),
                    o.get("enabled")?.as_bool()?,
                    field(o, "id", |i| i.as_str().map(str::to_string))?,
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(integrations) = parsed else {
        return Section::skipped(caller.not_shape(
            "sso",
            LIST,
            "[{\"name\": string, \"enabled\": bool, \"signin_url\", \"signout_url\", \"entity_id\", \"last_updated\", \"id\"?}]",
        ));
    };
    let mut section = Section {
        assessed: true,
        ..Section::default()
    };
    if integrations.is_empty() {
        section.findings.push(Finding {
            check: "sso-none",
            subject: "account".into(),
            severity: Severity::Info,
            practice: practice::SSO,
            detail: "no SSO integration: teammates sign in with SendGrid passwords, outside your identity provider's controls".into(),
            next_step: format!("Consider SSO with your identity provider: {PAGE} (Pro plans and up)"),
        });
    }
    for (name, enabled, id) in integrations {
        let Some(id) = id else {
            section.not_checked.push(NotChecked {
                section: format!("sso integration {name}"),
                reason: "the integration has no id: its certificates cannot be read".into(),
                needs_scope: None,
            });
            continue;
        };
        if enabled {
            certificates(caller, &name, &id, &mut section);
        }
    }
    section
}

fn certificates(caller: &Caller, name: &str, id: &str, section: &mut Section) {
    let what = format!("sso integration {id}: certificates");
    let Some(seg) = segment(id) else {
        return section.not_checked.push(bad_segment(caller, &what, id));
    };
    let path = format!("/v3/sso/integrations/{seg}/certificates");
    let v = match caller.read(&what, SCOPE, &path) {
        Ok(v) => v,
        Err(nc) => return section.not_checked.push(nc),
    };
    let parsed = objects(&v).and_then(|list| {
        list.into_iter()
            .map(|o| field(o, "not_after", |n| n.as_f64()))
            .collect::<Option<Vec<_>>>()
    });
    let Some(certs) = parsed else {
        return section.not_checked.push(caller.not_shape(
            &what,
            &path,
            "[{\"public_certificate\"?, \"id\"?, \"not_before\"?, \"not_after\"?: number, \"intergration_id\"?}]",
        ));
    };
    let now = now_secs();
    let next_step = format!(
        "Upload the identity provider's new certificate: {PAGE} > {name} (or POST /v3/sso/certificates)"
    );
    for not_after in certs {
        let Some(t) = not_after else {
            section.not_checked.push(NotChecked {
                section: what.clone(),
                reason: "a certificate without not_after: its expiry is unknown".into(),
                needs_scope: None,
            });
            continue;
        };
        // Seconds as SendGrid gives them; fractions do not matter at the scale of days.
        let t = t as i64;
        let (check, severity, detail) = if t < now {
            (
                "sso-cert-expired",
                Severity::High,
                format!("integration '{name}': a certificate expired on {}", date(t)),
            )
        } else if t - now < SOON_DAYS * 86_400 {
            (
                "sso-cert-expiring",
                Severity::Medium,
                format!(
                    "integration '{name}': a certificate expires on {}, within {SOON_DAYS} days",
                    date(t)
                ),
            )
        } else {
            continue;
        };
        section.findings.push(Finding {
            check,
            subject: format!("sso integration {id}"),
            severity,
            practice: practice::SSO,
            detail,
            next_step: next_step.clone(),
        });
    }
}
