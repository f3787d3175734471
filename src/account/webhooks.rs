//! Event webhooks (`/v3/user/webhooks/event/settings/all`): each enabled one should be signed
//! (`public_key` present) and reach an https URL; unsigned and without OAuth, anyone who learns
//! the URL can post forged events to it.

use super::{Caller, Finding, NotChecked, Section, Severity, field, practice};

const PATH: &str = "/v3/user/webhooks/event/settings/all";
const PAGE: &str = "Settings > Mail Settings > Event Webhooks";

pub(super) fn audit(caller: &Caller) -> Section {
    let v = match caller.read("event webhooks", "user.webhooks.event.settings.read", PATH) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    let text = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
        field(o, k, |x| x.as_str().map(str::to_string))
    };
    let parsed = v.as_object().and_then(|top| {
        top.get("webhooks")?
            .as_array()?
            .iter()
            .map(|w| {
                let w = w.as_object()?;
                Some((
                    field(w, "enabled", |b| b.as_bool())?,
                    text(w, "url")?,
                    text(w, "id")?,
                    text(w, "public_key")?,
                    text(w, "oauth_client_id")?,
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    let Some(hooks) = parsed else {
        return Section::skipped(caller.not_shape(
            "event webhooks",
            PATH,
            "{\"max_allowed\"?, \"webhooks\": [{\"enabled\"?, \"url\"?, \"id\"?, \"public_key\"?, \"oauth_client_id\"?, …}]}",
        ));
    };
    let mut section = Section {
        assessed: true,
        ..Section::default()
    };
    for (enabled, url, id, public_key, oauth) in hooks {
        let subject = format!("webhook {}", id.as_deref().unwrap_or("(no id)"));
        match enabled {
            Some(true) => {}
            Some(false) => continue,
            // Skipping it would pass a webhook that may well be posting events.
            None => {
                section.not_checked.push(NotChecked {
                    section: format!("event webhooks: {subject}"),
                    reason: format!(
                        "GET {PATH}: the webhook's \"enabled\" is absent or null: whether it posts events is unknown"
                    ),
                    needs_scope: None,
                });
                continue;
            }
        }
        let url = url.unwrap_or_default();
        let edit = format!(
            "{PAGE} > {} (or PATCH /v3/user/webhooks/event/settings/{})",
            if url.is_empty() {
                "the webhook"
            } else {
                url.as_str()
            },
            id.as_deref().unwrap_or("{id}")
        );
        let mut add = |check, severity, detail: String, next_step: String| {
            section.findings.push(Finding {
                check,
                subject: subject.clone(),
                severity,
                practice: practice::WEBHOOKS,
                detail,
                next_step,
            })
        };
        let signed = public_key.as_deref().is_some_and(|k| !k.is_empty());
        let has_oauth = oauth.as_deref().is_some_and(|c| !c.is_empty());
        // Bytes, not a str slice: the URL is the server's, and byte 7 may fall inside a character.
        if url
            .as_bytes()
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"http://"))
        {
            add(
                "webhook-plain-http",
                Severity::High,
                format!(
                    "posts events to a plain http:// URL ({url}): recipients' addresses cross the network in clear text"
                ),
                format!("Use an https:// URL: {edit}"),
            );
        }
        if !signed && !has_oauth {
            add(
                "webhook-unauthenticated",
                Severity::High,
                "neither signed nor OAuth-protected: anyone who learns the URL can post forged events to it"
                    .into(),
                format!(
                    "Turn on signature verification and check the signature in the receiver: {edit} > Signature verification (PATCH /v3/user/webhooks/event/settings/signed/{{id}})"
                ),
            );
        } else if !signed {
            add(
                "webhook-unsigned",
                Severity::Medium,
                "not signed (OAuth only): the receiver cannot tell SendGrid's events from forged ones by their content".into(),
                format!("Turn on signature verification: {edit} > Signature verification"),
            );
        }
    }
    section
}
