//! Enforced TLS (`/v3/user/settings/enforced_tls`): whether mail to recipients must go over TLS.

use super::{Caller, Finding, Section, Severity, field, practice};

const PATH: &str = "/v3/user/settings/enforced_tls";

pub(super) fn audit(caller: &Caller) -> Section {
    let v = match caller.read("enforced tls", "user.settings.enforced_tls.read", PATH) {
        Ok(v) => v,
        Err(nc) => return Section::skipped(nc),
    };
    // `require_tls` is what the section is about: an answer without it says nothing.
    let parsed = v.as_object().and_then(|o| {
        Some((
            o.get("require_tls")?.as_bool()?,
            field(o, "require_valid_cert", |b| b.as_bool())?,
        ))
    });
    let Some((require_tls, valid_cert)) = parsed else {
        return Section::skipped(caller.not_shape(
            "enforced tls",
            PATH,
            "{\"require_tls\": bool, \"require_valid_cert\"?: bool, \"version\"?}",
        ));
    };
    let mut section = Section {
        assessed: true,
        ..Section::default()
    };
    let next_step = "Settings > Mail Settings > Enforced TLS (or PATCH /v3/user/settings/enforced_tls {\"require_tls\": true, \"require_valid_cert\": true}); mail to servers without TLS then bounces".to_string();
    if !require_tls {
        section.findings.push(Finding {
            check: "enforced-tls-off",
            subject: "account".into(),
            severity: Severity::Info,
            practice: practice::TLS,
            detail: "enforced TLS is off: mail to a recipient server without TLS is sent in clear text"
                .into(),
            next_step,
        });
    } else if valid_cert != Some(true) {
        section.findings.push(Finding {
            check: "enforced-tls-any-cert",
            subject: "account".into(),
            severity: Severity::Info,
            practice: practice::TLS,
            detail: "TLS is required but the recipient server's certificate is not checked".into(),
            next_step,
        });
    }
    section
}
