//! One scan, stage by stage: a [`Source`] feeds the detector through the collector, then allow
//! lists drop known findings, then `--verify` asks SendGrid, then `--revoke` acts on what this run
//! proved live. Everything a stage needs (rules, policy, cache, admin key) is loaded in
//! [`Scan::new`], so a bad flag or file fails before minutes of scanning, not after.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::allow::Allowlist;
use crate::detect::Detector;
use crate::findings::Collector;
use crate::model::Outcome;
use crate::revoke::{self, AdminKey, Confirm, RevokeOptions};
use crate::rules::{self, Rule};
use crate::sendgrid::{Api, ApiOptions};
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
}

/// A scan set up and ready to run on a source.
pub struct Scan {
    detector: Detector,
    baseline: Option<PathBuf>,
    verifier: Option<Verifier>,
    revoker: Option<Revoker>,
    archive: archive::Limits,
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
                    policy: v.policy.as_deref().map(Policy::load).transpose()?,
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
                Ok(Revoker {
                    admin: AdminKey::load(settings.admin_key_file.as_deref())?,
                    settings,
                })
            })
            .transpose()?;
        Ok(Scan {
            detector,
            baseline: opts.baseline,
            verifier,
            revoker,
            archive: opts.archive,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        self.detector.rules()
    }

    /// detect → allow → verify → revoke. An error means the source could not be read at all, or an
    /// allow list is malformed; revocation problems come back in [`Ran::revoke_error`].
    pub fn run(&mut self, source: &dyn Source, confirm: &dyn Confirm) -> Result<Ran> {
        let collector = Collector::new(&self.detector);
        // Every source gets archives opened for free: the transform sits between it and the collector.
        source.scan(&Unpack::new(&collector, self.archive))?;
        let mut outcome = collector.finish();
        Allowlist::load(&source.ignore_files(), self.baseline.as_deref())?.apply(&mut outcome);
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
                ran.revoke_error = revoke::revoke_all(&mut ran.outcome.findings, &opts).err();
                if let Some(cache) = v.cache.as_mut() {
                    for f in ran.outcome.findings.iter().filter(|f| f.revocation.is_some()) {
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
            "note: {unverified} finding(s) not verified: their rule does not declare sendgrid_key = true"
        ));
    }
}
