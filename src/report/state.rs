//! `--state FILE`: what past sweeps covered, per repository: the ref tips swept and the findings
//! they brought. A re-run sweeps only what moved since; with `--all-findings` the kept findings are
//! reported again, so the report stays whole. The file holds fingerprints, redacted forms and
//! locations, never a key (`Finding::key` is never serialized).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::file;
use crate::model::{Finding, Outcome};
use crate::source::git::Tip;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// By repository, as reports name it (a path as given, or a URL without credentials).
    pub repositories: BTreeMap<String, Swept>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Swept {
    pub tips: Vec<Tip>,
    /// What the sweeps of this repository found so far, each with its locations in it only.
    #[serde(default)]
    pub findings: Vec<Finding>,
}

impl State {
    /// The file, or an empty state if there is none yet.
    pub fn load(path: &Path) -> Result<State> {
        if !path.exists() {
            return Ok(State {
                version: VERSION,
                ..State::default()
            });
        }
        let text = file::read_to_string(path, file::REPORT)
            .with_context(|| format!("cannot read --state {}", path.display()))?;
        let state: State = serde_json::from_str(&text)
            .with_context(|| format!("--state {} is not a state file sgscan wrote", path.display()))?;
        if state.version != VERSION {
            bail!(
                "--state {} is of version {}, this sgscan reads {VERSION}",
                path.display(),
                state.version
            );
        }
        Ok(state)
    }

    /// The tips swept before, per repository.
    pub fn tips(&self) -> BTreeMap<String, Vec<Tip>> {
        self.repositories
            .iter()
            .map(|(name, s)| (name.clone(), s.tips.clone()))
            .collect()
    }

    /// Records the repositories whose sweep succeeded: their tips now, and the findings of this
    /// run located in them added to those kept.
    pub fn record(&mut self, swept: BTreeMap<String, Vec<Tip>>, outcome: &Outcome) {
        for (name, tips) in swept {
            let entry = self.repositories.entry(name.clone()).or_default();
            entry.tips = tips;
            for f in &outcome.findings {
                let here: Vec<_> = f
                    .locations
                    .iter()
                    .filter(|l| l.origin.repository.as_deref() == Some(name.as_str()))
                    .cloned()
                    .collect();
                if here.is_empty() {
                    continue;
                }
                let kept = Finding {
                    location_count: here.len() as u64,
                    locations: here,
                    verification: None,
                    revocation: None,
                    rotation: None,
                    ..f.clone()
                };
                merge_into(&mut entry.findings, kept);
            }
        }
    }

    /// Adds the kept findings of `repositories` to `outcome` (`--all-findings`); how many were
    /// not in it.
    pub fn report_kept(&self, repositories: &[String], outcome: &mut Outcome) -> usize {
        let before = outcome.findings.len();
        for name in repositories {
            for f in self
                .repositories
                .get(name)
                .map(|s| s.findings.as_slice())
                .unwrap_or_default()
            {
                merge_into(&mut outcome.findings, f.clone());
            }
        }
        outcome.findings.len() - before
    }

    /// Written beside and renamed over the file: a run cut short leaves the last complete state.
    /// Never written through a link (`file::create`); the rename replaces a link, not what it
    /// names.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        let temp: PathBuf = path.with_file_name(name);
        let written = (|| -> Result<()> {
            let out = file::create(&temp, file::Write::Truncate, true)?;
            let mut out = std::io::BufWriter::new(out);
            serde_json::to_writer(&mut out, self)?;
            out.write_all(b"\n")?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&temp, path)?;
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.with_context(|| format!("cannot write --state {}", path.display()))
    }
}

/// `f` added to `findings`: its locations joined to those of the finding of the same key.
fn merge_into(findings: &mut Vec<Finding>, f: Finding) {
    match findings.iter_mut().find(|g| g.fingerprint == f.fingerprint) {
        Some(g) => {
            for l in f.locations {
                if !g.locations.contains(&l) {
                    g.locations.push(l);
                    g.location_count += 1;
                }
            }
        }
        None => findings.push(f),
    }
}
