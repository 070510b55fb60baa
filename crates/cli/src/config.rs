//! The config file (TOML): settings an operator keeps rather than types, mostly for mail.
//! Precedence: command-line flag, then environment variable, then this file, then defaults.
//!
//! ```toml
//! [store]
//! url = "postgres://paperscout:secret@db.example.org/paperscout"   # shared database (else SQLite)
//!
//! [site]
//! base_url = "https://papers.example.org"   # for links in mail
//!
//! [smtp]
//! url = "smtp://user:pass@mail.example.org:587?tls=required"
//! from = "paperscout <digest@example.org>"
//! connections = 4        # SMTP connections used at once when sending
//!
//! [digest]
//! send_empty = false      # on a day with nothing new, send a one-line mail (true) or nothing
//! trending = 5            # trending papers per digest
//! max_matches = 10        # matching new papers per digest, at most
//! min_similarity = 0.40   # least cosine similarity for a paper to match an interest
//!
//! [harvest]
//! sources = ["arxiv:cs", "hf-daily"]   # what `serve` harvests (arxiv:SET or hf-daily)
//! at = ["01:30", "13:30"]              # when, every day (UTC)
//! delay_seconds = 3                    # between two requests to a source
//! user_agent = "paperscout (mailto:you@example.org)"
//! oai_url = "https://export.arxiv.org/oai2"
//! hf_url = "https://huggingface.co/api/daily_papers"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use paperscout_app::digest::DigestConfig;
use paperscout_app::harvest::{parse_time, DEFAULT_HARVEST_TIMES};
use paperscout_app::{HarvestConfig, HarvestPlan, HarvestSchedule, HarvestSpec, SmtpUrl};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub site: Site,
    #[serde(default)]
    pub smtp: Smtp,
    #[serde(default)]
    pub digest: Digest,
    #[serde(default)]
    pub harvest: Harvest,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Harvest {
    pub sources: Option<Vec<String>>,
    pub at: Option<Vec<String>>,
    pub delay_seconds: Option<f64>,
    pub user_agent: Option<String>,
    pub oai_url: Option<String>,
    pub hf_url: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// A PostgreSQL URL (see `--database`).
    pub url: Option<String>,
}

impl std::fmt::Debug for StoreSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("StoreSection")
            .field("url", &self.url.as_deref().map(paperscout_app::redact_url))
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub base_url: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub url: Option<String>,
    pub from: Option<String>,
    pub connections: Option<usize>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Smtp")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("from", &self.from)
            .field("connections", &self.connections)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub send_empty: Option<bool>,
    pub trending: Option<usize>,
    pub max_matches: Option<usize>,
    pub min_similarity: Option<f32>,
}

/// The config file to read: the one named (which must exist), else the default location if
/// there is one there.
pub fn locate(named: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = named {
        return Some(p.to_path_buf());
    }
    let default = directories::ProjectDirs::from("", "", "paperscout")?
        .config_dir()
        .join("config.toml");
    default.exists().then_some(default)
}

pub fn load(path: Option<&Path>) -> Result<File> {
    let Some(path) = path else {
        return Ok(File::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    // toml's message names the line and column and shows the offending text.
    toml::from_str(&text).map_err(|e| invalid(format!("config file {}: {e}", path.display())))
}

/// A mistake in the settings: exit code 2, like other bad input.
fn invalid(message: String) -> anyhow::Error {
    paperscout_app::Error::Invalid(message).into()
}

/// Settings given as flags or environment variables, which win over the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub base_url: Option<String>,
}

impl File {
    /// The digest settings; `default_base` when no base URL is given anywhere.
    pub fn digest(&self, o: &Overrides, default_base: &str) -> Result<DigestConfig> {
        let mut c = DigestConfig {
            base_url: o
                .base_url
                .clone()
                .or_else(|| self.site.base_url.clone())
                .unwrap_or_else(|| default_base.to_string()),
            ..DigestConfig::default()
        };
        if let Some(from) = o.smtp_from.clone().or_else(|| self.smtp.from.clone()) {
            c.from = from;
        }
        if let Some(url) = o.smtp_url.clone().or_else(|| self.smtp.url.clone()) {
            if !url.trim().is_empty() {
                c.smtp = Some(SmtpUrl::new(&url).context("smtp.url / PAPERSCOUT_SMTP_URL")?);
            }
        }
        if let Some(n) = self.smtp.connections {
            if !(1..=32).contains(&n) {
                return Err(invalid(format!("smtp.connections is {n}; use 1 to 32")));
            }
            c.smtp_connections = n;
        }
        let d = &self.digest;
        if let Some(v) = d.send_empty {
            c.send_empty = v;
        }
        if let Some(v) = d.trending {
            if v > 50 {
                return Err(invalid(format!(
                    "digest.trending is {v}; at most 50 papers"
                )));
            }
            c.trending = v;
        }
        if let Some(v) = d.max_matches {
            if v > 100 {
                return Err(invalid(format!(
                    "digest.max_matches is {v}; at most 100 papers"
                )));
            }
            c.max_matches = v;
        }
        if let Some(v) = d.min_similarity {
            if !(-1.0..=1.0).contains(&v) {
                return Err(invalid(format!(
                    "digest.min_similarity is {v}; a cosine similarity is between -1 and 1"
                )));
            }
            c.min_similarity = v;
        }
        Ok(c)
    }
}

/// Harvest settings given as flags or environment variables.
#[derive(Debug, Default)]
pub struct HarvestOverrides {
    pub sources: Vec<String>,
    pub at: Vec<String>,
    pub delay_seconds: Option<f64>,
    pub oai_url: Option<String>,
    pub hf_url: Option<String>,
}

impl File {
    /// How to reach the sources.
    pub fn harvest_config(&self, o: &HarvestOverrides) -> Result<HarvestConfig> {
        let h = &self.harvest;
        let mut c = HarvestConfig::default();
        if let Some(delay) = o.delay_seconds.or(h.delay_seconds) {
            if !(0.0..=3600.0).contains(&delay) {
                return Err(invalid(format!(
                    "harvest.delay_seconds is {delay}; use 0 to 3600"
                )));
            }
            c.delay = std::time::Duration::from_secs_f64(delay);
        }
        if let Some(ua) = &h.user_agent {
            if ua.trim().is_empty() || ua.chars().any(char::is_control) {
                return Err(invalid(
                    "harvest.user_agent must be one non-empty line".into(),
                ));
            }
            c.user_agent = ua.trim().to_string();
        }
        for (value, field, slot) in [
            (
                o.oai_url.clone().or_else(|| h.oai_url.clone()),
                "harvest.oai_url",
                &mut c.oai_url,
            ),
            (
                o.hf_url.clone().or_else(|| h.hf_url.clone()),
                "harvest.hf_url",
                &mut c.hf_url,
            ),
        ] {
            if let Some(url) = value {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid(format!("{field} `{url}` is not an http(s) URL")));
                }
                *slot = url;
            }
        }
        Ok(c)
    }

    /// What `serve` harvests and when; `None` when no source is named anywhere.
    pub fn harvest_plan(&self, o: &HarvestOverrides) -> Result<Option<HarvestPlan>> {
        let sources = if o.sources.is_empty() {
            self.harvest.sources.clone().unwrap_or_default()
        } else {
            o.sources.clone()
        };
        if sources.is_empty() {
            return Ok(None);
        }
        let harvests = sources
            .iter()
            .map(|s| HarvestSpec::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("harvest.sources / --harvest: {e}")))?;
        let times: Vec<String> = if !o.at.is_empty() {
            o.at.clone()
        } else {
            self.harvest.at.clone().unwrap_or_else(|| {
                DEFAULT_HARVEST_TIMES
                    .iter()
                    .map(|t| t.to_string())
                    .collect()
            })
        };
        let at = times
            .iter()
            .map(|t| parse_time(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("harvest.at / --harvest-at: {e}")))?;
        if at.is_empty() {
            return Err(invalid("harvest.at names no time of day".into()));
        }
        Ok(Some(HarvestPlan {
            config: self.harvest_config(o)?,
            schedule: HarvestSchedule { harvests, at },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[smtp]\nurl = \"smtp://127.0.0.1:25\"\nfrm = \"x\"\n").unwrap();
        let e = format!("{:#}", load(Some(&p)).unwrap_err());
        assert!(
            e.contains("c.toml") && e.contains("line 3") && e.contains("frm"),
            "{e}"
        );
        std::fs::write(&p, "[digest]\nsend_empty = \"yes\"\n").unwrap();
        let e = format!("{:#}", load(Some(&p)).unwrap_err());
        assert!(e.contains("line 2") && e.contains("send_empty"), "{e}");
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let file: File = toml::from_str(
            "[site]\nbase_url = \"https://file.example.org\"\n[smtp]\nurl = \"smtp://u:secret@mail.example.org:587\"\nfrom = \"a <a@example.org>\"\n[digest]\nsend_empty = true\nmin_similarity = 0.5\n",
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("secret"));
        let c = file
            .digest(&Overrides::default(), "http://127.0.0.1:7878")
            .unwrap();
        assert_eq!(c.base_url, "https://file.example.org");
        assert!(c.send_empty);
        assert_eq!(c.min_similarity, 0.5);
        assert_eq!(
            c.smtp.as_ref().unwrap().to_string(),
            "smtp://u:***@mail.example.org:587"
        );
        let o = Overrides {
            base_url: Some("https://env.example.org".into()),
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            smtp_from: None,
        };
        let c = file.digest(&o, "http://127.0.0.1:7878").unwrap();
        assert_eq!(c.base_url, "https://env.example.org");
        assert_eq!(c.smtp.unwrap().expose(), "smtp://127.0.0.1:2525");
        assert_eq!(c.from, "a <a@example.org>");
        let bad: File = toml::from_str("[digest]\nmin_similarity = 3.0\n").unwrap();
        assert!(bad.digest(&Overrides::default(), "http://x").is_err());
    }

    #[test]
    fn harvest_settings() {
        let file: File = toml::from_str(
            "[harvest]\nsources = [\"arxiv:cs\", \"hf-daily\"]\nat = [\"06:00\"]\ndelay_seconds = 5\n",
        )
        .unwrap();
        let plan = file
            .harvest_plan(&HarvestOverrides::default())
            .unwrap()
            .unwrap();
        assert_eq!(plan.schedule.harvests.len(), 2);
        assert_eq!(plan.schedule.at.len(), 1);
        assert_eq!(plan.config.delay, std::time::Duration::from_secs(5));
        // Flags win: one source, the default times.
        let o = HarvestOverrides {
            sources: vec!["arxiv:math".into()],
            ..HarvestOverrides::default()
        };
        let plan = File::default().harvest_plan(&o).unwrap().unwrap();
        assert_eq!(plan.schedule.harvests[0].name(), "arxiv:math");
        assert_eq!(plan.schedule.at.len(), 2);
        assert!(File::default()
            .harvest_plan(&HarvestOverrides::default())
            .unwrap()
            .is_none());
        for bad in [
            "[harvest]\nsources = [\"rss\"]\n",
            "[harvest]\nsources = [\"hf-daily\"]\nat = [\"6pm\"]\n",
            "[harvest]\nsources = [\"hf-daily\"]\noai_url = \"ftp://x\"\n",
        ] {
            let f: File = toml::from_str(bad).unwrap();
            assert!(
                f.harvest_plan(&HarvestOverrides::default()).is_err(),
                "{bad}"
            );
        }
    }
}
