//! One scan, stage by stage: a [`Source`] feeds the detector through the collector, then allow
//! lists drop known findings, then `--verify` asks SendGrid, then `--revoke` (or, with `--rotate`,
//! a rotation) acts on what this run proved live. Everything a stage needs (rules, policy, cache, admin key) is loaded in
//! [`Scan::new`], so a bad flag or file fails before minutes of scanning, not after.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::allow::{Allowlist, Ignores};
use crate::detect::Detector;
use crate::findings::Collector;
use crate::key::KeyId;
use crate::model::{Finding, Outcome, Rotated};
use crate::revoke::{self, AdminKey, Confirm, RevokeOptions};
use crate::rotate::{self, Handover, RotateOptions, RotateStatus, Rotation, ScopeChoice};
use crate::rules::{self, Rule};
use crate::sendgrid::{Api, ApiOptions};
use crate::source::Routed;
use crate::source::Source;
use crate::source::archive::{self, Unpack};
use crate::verify::{self, Cache, Policy};

/// What `--verify` needs.
#[derive(Debug, Clone, Default)]
pub struct VerifySettings {
    pub api: ApiOptions,
    /// Send nothing: only cached results are used.
    pub no_network: bool,
    /// A TOML file `allowed_scopes = [...]`.
    pub policy: Option<PathBuf>,
    /// The allowed scopes given inline (a config file's `[policy]`), when `policy` names no file.
    pub allowed_scopes: Option<Vec<String>>,
    pub cache: Option<PathBuf>,
    pub cache_max_age: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// What `--revoke` needs (it also verifies).
#[derive(Debug, Clone, Default)]
pub struct RevokeSettings {
    pub admin_key_file: Option<PathBuf>,
    pub dry_run: bool,
    /// How long to poll for a revocation to take effect.
    pub wait: Duration,
    pub audit_log: PathBuf,
    /// Replace each live key (`sgscan rotate`'s way) instead of only revoking it.
    pub rotate: Option<RotateSettings>,
}

/// What `--revoke --rotate` needs beyond `--revoke`.
#[derive(Debug, Clone)]
pub struct RotateSettings {
    pub handover: Handover,
    /// Exactly these scopes for each replacement (each one its old key holds). Empty: the old key's,
    /// or with `--verify`'s policy those of them it allows.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Rule files to use instead of the built-in ones.
    pub patterns: Option<PathBuf>,
    /// A previous report whose findings are not reported again.
    pub baseline: Option<PathBuf>,
    pub verify: Option<VerifySettings>,
    pub revoke: Option<RevokeSettings>,
    /// How far archives and compressed files are opened.
    pub archive: archive::Limits,
    /// Ignores beyond the sources' `.sgscanignore` files (a config file's), and how paths are read.
    pub ignores: Ignores,
}

/// A scan set up and ready to run on a source.
pub struct Scan {
    detector: Detector,
    baseline: Option<PathBuf>,
    verifier: Option<Verifier>,
    revoker: Option<Revoker>,
    archive: archive::Limits,
    ignores: Ignores,
}

struct Verifier {
    api: Option<Api>,
    policy: Option<Policy>,
    cache: Option<Cache>,
    concurrency: usize,
}

struct Revoker {
    admin: Option<AdminKey>,
    settings: RevokeSettings,
}

/// What a run produced. The outcome is complete even when `revoke_error` is set: the error is about
/// the revocation only, and the report must still be written.
pub struct Ran {
    pub outcome: Outcome,
    pub revoke_error: Option<anyhow::Error>,
    /// Things to tell the user on the side (a cache that could not be saved), one line each.
    pub warnings: Vec<String>,
}

/// For runs with nobody to ask: any revocation is refused before anything is sent.
pub struct Unattended;

impl Confirm for Unattended {
    fn show(&self, _plan: &[revoke::Planned], _dry_run: bool) {}

    fn confirm(&self, _question: &str) -> Result<bool> {
        bail!("refusing to revoke: nobody to confirm it")
    }
}

/// Loads the built-in rules, or those of `patterns`, into a detector.
pub fn detector(patterns: Option<&std::path::Path>) -> Result<Detector> {
    let rules = match patterns {
        Some(dir) => rules::load_dir(dir)?,
        None => rules::embedded()?,
    };
    Detector::new(rules).context("cannot build the keyword prefilter")
}

impl Scan {
    pub fn new(opts: ScanOptions) -> Result<Scan> {
        let detector = detector(opts.patterns.as_deref())?;
        let verify = match (opts.verify, &opts.revoke) {
            (Some(v), _) => Some(v),
            (None, Some(_)) => Some(VerifySettings::default()),
            (None, None) => None,
        };
        if let (Some(v), Some(_)) = (&verify, &opts.revoke)
            && v.no_network
        {
            bail!("--revoke needs the network: it cannot be combined with --no-network");
        }
        let verifier = verify
            .map(|v| -> Result<Verifier> {
                Ok(Verifier {
                    api: if v.no_network {
                        None
                    } else {
                        Some(Api::new(v.api)?)
                    },
                    policy: match (v.policy.as_deref(), v.allowed_scopes) {
                        (Some(file), _) => Some(Policy::load(file)?),
                        (None, Some(allowed_scopes)) => Some(Policy { allowed_scopes }),
                        (None, None) => None,
                    },
                    cache: v
                        .cache
                        .as_deref()
                        .map(|p| Cache::load(p, v.cache_max_age))
                        .transpose()?,
                    concurrency: v.concurrency.max(1),
                })
            })
            .transpose()?;
        let revoker = opts
            .revoke
            .map(|settings| -> Result<Revoker> {
                let admin = AdminKey::load(settings.admin_key_file.as_deref())?;
                if let Some(r) = &settings.rotate {
                    // Refused now rather than after minutes of scanning, and before any request.
                    if admin.is_none() {
                        bail!(
                            "--rotate needs an admin key holding api_keys.read, api_keys.create and api_keys.delete: set SGSCAN_ADMIN_KEY or pass --admin-key-file (nothing scanned, nothing sent)"
                        );
                    }
                    rotate::check_handover(&r.handover)?;
                }
                Ok(Revoker { admin, settings })
            })
            .transpose()?;
        Ok(Scan {
            detector,
            baseline: opts.baseline,
            verifier,
            revoker,
            archive: opts.archive,
            ignores: opts.ignores,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        self.detector.rules()
    }

    /// detect → allow → verify → revoke (or rotate). An error means the source could not be read at all, or an
    /// allow list is malformed; revocation problems come back in [`Ran::revoke_error`].
    pub fn run(&mut self, source: &dyn Source, confirm: &dyn Confirm) -> Result<Ran> {
        let collector = match self.ignores.no_inline {
            true => Collector::new(&self.detector).without_inline_allow(),
            false => Collector::new(&self.detector),
        };
        // Every source gets archives opened for free: the transform sits between it and the collector.
        let unpack = Unpack::new(&collector, self.archive);
        source.scan(&Routed {
            names: &collector,
            rest: &unpack,
        })?;
        let mut outcome = collector.finish();
        let files = match self.ignores.no_source_files {
            true => Vec::new(),
            false => source.ignore_files(),
        };
        let mut allow = Allowlist::load(&files, self.baseline.as_deref())?;
        allow.add_ignores(&self.ignores)?;
        allow.apply(&mut outcome);
        let mut ran = Ran {
            outcome,
            revoke_error: None,
            warnings: Vec::new(),
        };
        if let Some(v) = self.verifier.as_mut() {
            verify_stage(v, &self.detector, self.revoker.is_some(), &mut ran);
            if let (Some(r), Some(api)) = (&self.revoker, v.api.as_ref()) {
                let opts = RevokeOptions {
                    api,
                    admin: r.admin.as_ref(),
                    confirm,
                    dry_run: r.settings.dry_run,
                    wait: r.settings.wait,
                    audit: &r.settings.audit_log,
                };
                ran.revoke_error = match (&r.settings.rotate, r.admin.as_ref()) {
                    (Some(rot), Some(admin)) => {
                        rotate_stage(&mut ran.outcome.findings, &opts, admin, rot, v.policy.as_ref()).err()
                    }
                    // Never a plain revocation in place of a rotation: mail would stop with no
                    // replacement. `Scan::new` already refuses this, before the scan.
                    (Some(_), None) => Some(anyhow::anyhow!(
                        "--rotate needs an admin key (SGSCAN_ADMIN_KEY or --admin-key-file): nothing was sent"
                    )),
                    (None, _) => revoke::revoke_all(&mut ran.outcome.findings, &opts).err(),
                };
                if let Some(cache) = v.cache.as_mut() {
                    for f in ran
                        .outcome
                        .findings
                        .iter()
                        .filter(|f| f.revocation.is_some() || f.rotation.is_some())
                    {
                        cache.forget(&f.fingerprint);
                    }
                }
            }
            if let Some(cache) = &v.cache
                && let Err(e) = cache.save()
            {
                // The findings are worth more than the cache: they are reported all the same.
                ran.warnings.push(format!("warning: {e:#}"));
            }
        }
        Ok(ran)
    }
}

fn verify_stage(v: &mut Verifier, detector: &Detector, revoking: bool, ran: &mut Ran) {
    let sendgrid_rules: Vec<String> = detector
        .rules()
        .iter()
        .filter(|r| r.spec.sendgrid_key)
        .map(|r| r.id().to_string())
        .collect();
    let unverified = verify::verify_all(
        &mut ran.outcome.findings,
        verify::VerifyOptions {
            api: v.api.as_ref(),
            concurrency: v.concurrency,
            policy: v.policy.as_ref(),
            cache: v.cache.as_mut(),
            // A revocation acts only on what this run saw live.
            fresh: revoking,
            sendgrid_rules: &sendgrid_rules,
        },
    );
    if unverified > 0 {
        ran.warnings.push(format!(
            "note: {} not verified: their rule does not declare sendgrid_key = true",
            crate::text::count(unverified as u64, "finding", "findings")
        ));
    }
}

/// `--revoke --rotate`: each key this run proved live is rotated by [`rotate::rotate_all`], as
/// `sgscan rotate --key-id` would, and the outcome lands on its finding. An error when nothing was
/// sent (no confirmation, a hand-over that cannot take the keys) or any rotation did not complete.
fn rotate_stage(
    findings: &mut [Finding],
    revoke: &RevokeOptions,
    admin: &AdminKey,
    settings: &RotateSettings,
    policy: Option<&verify::Policy>,
) -> Result<()> {
    let live: Vec<usize> = (0..findings.len())
        .filter(|&i| {
            findings[i]
                .verification
                .as_ref()
                .is_some_and(|v| v.status == verify::Status::Live && !v.cached)
        })
        .collect();
    if live.is_empty() {
        return Ok(());
    }
    let refuse = |f: &mut Finding, why: &str| {
        f.rotation = Some(Rotated {
            status: RotateStatus::Refused,
            step: "lookup".into(),
            reason: why.to_string(),
            new_key_id: None,
            new_key_redacted: None,
            manual_step: None,
        });
    };
    let mut ids: Vec<String> = Vec::new();
    for &i in &live {
        match findings[i].key_id.as_deref().and_then(KeyId::parse) {
            Some(id) => ids.push(id.as_str().to_string()),
            // A custom rule's match without a SendGrid key id cannot be looked up in the account.
            None => refuse(
                &mut findings[i],
                "no SendGrid key id to look the key up by: nothing sent",
            ),
        }
    }
    let preflight = if matches!(settings.handover, Handover::File(_)) && ids.len() > 1 {
        Err(anyhow::anyhow!(
            "--new-key-file takes one key, and this scan found {} live keys: nothing rotated (use --new-key-command, or `sgscan rotate --key-id` one at a time)",
            ids.len()
        ))
    } else {
        rotate::preflight(&ids, &settings.handover)
    };
    let valid = match preflight {
        Ok(v) => v,
        Err(e) => {
            let why = format!("{e:#}");
            for &i in &live {
                if findings[i].rotation.is_none() {
                    refuse(&mut findings[i], &why);
                }
            }
            return Err(e);
        }
    };
    let scopes = match (settings.scopes.is_empty(), policy) {
        (false, _) => ScopeChoice::Explicit(settings.scopes.clone()),
        (true, Some(p)) => ScopeChoice::Policy(p.clone()),
        (true, None) => ScopeChoice::Same,
    };
    let opts = RotateOptions {
        api: revoke.api,
        admin,
        confirm: revoke.confirm,
        dry_run: revoke.dry_run,
        wait: revoke.wait,
        audit: revoke.audit,
        scopes,
        handover: settings.handover.clone(),
    };
    let results = if valid.is_empty() {
        Vec::new()
    } else {
        rotate::rotate_all(&valid, &opts)?
    };
    for r in results {
        if let Some(f) = findings
            .iter_mut()
            .find(|f| f.key_id.as_deref() == Some(r.old_key_id.as_str()))
        {
            f.rotation = Some(rotated(&r));
            // The old key's revocation is the rotation's last step: reported where `--revoke` puts it.
            f.revocation = r.revocation;
        }
    }
    let incomplete = findings
        .iter()
        .filter(|f| f.rotation.as_ref().is_some_and(|r| r.status.incomplete()))
        .count();
    if incomplete > 0 {
        bail!(
            "{incomplete} of {} not rotated (refused, rolled back or failed): see each finding's rotation",
            crate::text::count(live.len() as u64, "live key", "live keys")
        );
    }
    Ok(())
}

/// A rotation as a finding records it: the replacement by id and redacted form, never the key.
fn rotated(r: &Rotation) -> Rotated {
    Rotated {
        status: r.status,
        step: r.step.to_string(),
        reason: r.reason.clone(),
        new_key_id: r.new_key_id.clone(),
        new_key_redacted: r.new_key_redacted.clone(),
        manual_step: r.manual_step.clone(),
    }
}
