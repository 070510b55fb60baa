//! Harvesting: keeping a corpus current from arXiv (OAI-PMH `ListRecords`, a set such as `cs`,
//! incrementally from the last harvest) and from Hugging Face's daily papers.
//!
//! Every page is written in one transaction together with the state that follows it (the next
//! resumption token), so an interrupted harvest resumes after the last whole page and never
//! ingests half of one. Each run is recorded with what it added and, when nothing came, why:
//! the source's answer (no records match), the weekend (arXiv announces nothing on Saturdays and
//! Sundays), or the error that stopped it.

mod http;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use paperscout_ingest::{oai, Format, RecordError};
use paperscout_model::Paper;
use paperscout_store::{HarvestRun, HarvestStatus, PageCounts};
use serde::{Deserialize, Serialize};

use crate::{Engine, Error, IngestOptions, Result};

pub use http::FetchError;

pub const DEFAULT_OAI_URL: &str = "https://export.arxiv.org/oai2";
pub const DEFAULT_HF_URL: &str = "https://huggingface.co/api/daily_papers";

/// How to reach the sources and how politely.
#[derive(Debug, Clone)]
pub struct HarvestConfig {
    pub oai_url: String,
    pub hf_url: String,
    pub user_agent: String,
    /// Between two requests to a source (arXiv asks for 3 s).
    pub delay: Duration,
    /// Per request (connect, send, read).
    pub timeout: Duration,
    /// Retries of one request before the run gives up.
    pub max_retries: u32,
    /// The first backoff; doubled at each retry.
    pub backoff: Duration,
    /// The longest wait between retries, `Retry-After` included.
    pub max_wait: Duration,
}

impl Default for HarvestConfig {
    fn default() -> Self {
        HarvestConfig {
            oai_url: DEFAULT_OAI_URL.into(),
            hf_url: DEFAULT_HF_URL.into(),
            user_agent: format!(
                "paperscout/{} (self-hosted paper discovery; +https://github.com/paperscout/paperscout)",
                env!("CARGO_PKG_VERSION")
            ),
            delay: Duration::from_secs(3),
            timeout: Duration::from_secs(60),
            max_retries: 5,
            backoff: Duration::from_secs(2),
            max_wait: Duration::from_secs(300),
        }
    }
}

/// What to harvest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarvestSpec {
    /// arXiv records of `set` (`cs`, `physics:hep-th`, `math`…) changed on or after `from`
    /// (default: where the last harvest of the set ended, else yesterday) and up to `until`.
    Arxiv {
        set: String,
        from: Option<NaiveDate>,
        until: Option<NaiveDate>,
    },
    /// Hugging Face's daily papers of `date` (default: the latest day listed).
    HfDaily { date: Option<NaiveDate> },
}

impl HarvestSpec {
    /// The harvest's name in runs, state and status: `arxiv:cs`, `hf-daily`.
    pub fn name(&self) -> String {
        match self {
            HarvestSpec::Arxiv { set, .. } => format!("arxiv:{set}"),
            HarvestSpec::HfDaily { .. } => "hf-daily".into(),
        }
    }

    /// Parses a harvest name as the config file and `serve --harvest` write them.
    pub fn parse(name: &str) -> Result<HarvestSpec> {
        let name = name.trim();
        if name == "hf-daily" {
            return Ok(HarvestSpec::HfDaily { date: None });
        }
        if let Some(set) = name.strip_prefix("arxiv:") {
            validate_set(set)?;
            return Ok(HarvestSpec::Arxiv {
                set: set.to_string(),
                from: None,
                until: None,
            });
        }
        Err(Error::Invalid(format!(
            "unknown harvest `{name}`: expected `arxiv:SET` (e.g. arxiv:cs) or `hf-daily`"
        )))
    }
}

/// An OAI-PMH set spec: `cs`, `math`, `physics:hep-th`, `q-bio`, `stat`, `econ`, `eess`.
pub fn validate_set(set: &str) -> Result<()> {
    let ok = !set.is_empty()
        && set.len() <= 64
        && set
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{set}` is not an arXiv set (cs, math, physics:hep-th, q-bio, stat, …)"
        )))
    }
}

/// What a harvest did.
#[derive(Debug, Clone, Serialize)]
pub struct HarvestReport {
    pub harvest: String,
    pub status: HarvestStatus,
    pub pages: u64,
    pub records: u64,
    pub added: u64,
    pub updated: u64,
    /// Bad records skipped (the rest of their page was ingested).
    pub skipped: u64,
    /// Retried requests.
    pub retries: u32,
    /// Why nothing came, or what stopped the run.
    pub message: Option<String>,
}

/// The resume state of an arXiv harvest, saved after each page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct ArxivState {
    /// The `from` of the run in progress (or of the last one).
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
    /// The token of the next page, while a run is unfinished.
    token: Option<String>,
    /// Where the next run starts: the day the last complete run reached.
    next_from: Option<NaiveDate>,
}

/// Runs one harvest now. An `Err` is a failure before the run could start (another run of the
/// same harvest going on, a store error); a source that fails is a report with status `failed`.
pub fn harvest(
    engine: &Engine,
    config: &HarvestConfig,
    spec: &HarvestSpec,
    encode: bool,
    now: DateTime<Utc>,
) -> Result<HarvestReport> {
    let name = spec.name();
    let store = engine.store();
    let Some(run) = store.start_harvest(&name, now.timestamp())? else {
        return Err(Error::Invalid(format!(
            "a harvest of {name} is already running (see `paperscout stats`)"
        )));
    };
    let mut job = Job {
        engine,
        fetcher: http::Fetcher::new(config),
        config,
        name: name.clone(),
        run,
        report: HarvestReport {
            harvest: name,
            status: HarvestStatus::Running,
            pages: 0,
            records: 0,
            added: 0,
            updated: 0,
            skipped: 0,
            retries: 0,
            message: None,
        },
        encode,
    };
    let outcome = match spec {
        HarvestSpec::Arxiv { set, from, until } => job.arxiv(set, *from, *until, now),
        HarvestSpec::HfDaily { date } => job.hf_daily(*date, now),
    };
    job.report.retries = job.fetcher.retries;
    let (status, message) = match outcome {
        Ok(Outcome::Papers) => (HarvestStatus::Ok, None),
        Ok(Outcome::Nothing(why)) => (HarvestStatus::Empty, Some(why)),
        Err(e) => (HarvestStatus::Failed, Some(e.to_string())),
    };
    store.finish_harvest(run, status, message.as_deref(), Utc::now().timestamp())?;
    let mut report = job.report;
    report.status = status;
    report.message = message;
    match status {
        HarvestStatus::Failed => {
            tracing::warn!(harvest = %report.harvest, message = ?report.message, "harvest failed")
        }
        _ => {
            tracing::info!(harvest = %report.harvest, added = report.added, updated = report.updated, status = %report.status, "harvested")
        }
    }
    Ok(report)
}

/// The latest run of every harvest.
pub fn last_runs(engine: &Engine) -> Result<Vec<HarvestRun>> {
    Ok(engine.store().last_harvests()?)
}

enum Outcome {
    Papers,
    Nothing(String),
}

struct Job<'a> {
    engine: &'a Engine,
    fetcher: http::Fetcher,
    config: &'a HarvestConfig,
    name: String,
    run: i64,
    report: HarvestReport,
    encode: bool,
}

impl Job<'_> {
    /// Writes one page's papers and the state that follows it in one transaction.
    fn commit_page(
        &mut self,
        records: Vec<std::result::Result<Paper, RecordError>>,
        state: &str,
    ) -> Result<()> {
        let mut skipped = 0u64;
        let mut count = 0u64;
        let name = self.name.clone();
        let run = self.run;
        let ((), written) = self.engine.store().write(|w| {
            for record in records {
                count += 1;
                match record {
                    Ok(paper) => w.put(paper)?,
                    Err(e) => {
                        skipped += 1;
                        tracing::warn!(harvest = %name, "skipped a bad record: {e}");
                    }
                }
            }
            let so_far = w.report();
            w.set_harvest_state(
                &name,
                state,
                run,
                PageCounts {
                    records: count,
                    added: so_far.added as u64,
                    updated: so_far.updated as u64,
                },
            )?;
            Ok::<_, Error>(())
        })?;
        self.report.pages += 1;
        self.report.records += count;
        self.report.added += written.added as u64;
        self.report.updated += written.updated as u64;
        self.report.skipped += skipped;
        // Indexes follow each page, so a long harvest is searchable as it goes.
        self.engine.index_new(IngestOptions {
            skip_bad: true,
            encode: self.encode,
            ..Default::default()
        })?;
        Ok(())
    }

    fn arxiv(
        &mut self,
        set: &str,
        from: Option<NaiveDate>,
        until: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        validate_set(set)?;
        let today = now.date_naive();
        let saved: ArxivState = match self.engine.store().harvest_state(&self.name)? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => ArxivState::default(),
        };
        // Resume an unfinished run when asked for the same window (or for none in particular).
        let resuming = saved.token.is_some()
            && (from.is_none() || from == saved.from)
            && (until.is_none() || until == saved.until);
        let mut state = if resuming {
            saved.clone()
        } else {
            ArxivState {
                from: from.or(saved.next_from).or(today.pred_opt()),
                until,
                token: None,
                next_from: saved.next_from,
            }
        };
        if resuming {
            tracing::info!(harvest = %self.name, "resuming an interrupted harvest");
        }
        let oai_url = self.config.oai_url.clone();
        let mut restarted = false;
        loop {
            let from_text = state.from.map(|d| d.to_string());
            let until_text = state.until.map(|d| d.to_string());
            let mut query: Vec<(&str, &str)> = vec![("verb", "ListRecords")];
            match &state.token {
                Some(token) => query.push(("resumptionToken", token)),
                None => {
                    query.push(("metadataPrefix", "arXivRaw"));
                    query.push(("set", set));
                    if let Some(f) = &from_text {
                        query.push(("from", f));
                    }
                    if let Some(u) = &until_text {
                        query.push(("until", u));
                    }
                }
            }
            let answer = self
                .fetcher
                .get(&oai_url, &query, |body| {
                    oai::parse_page(&http::redact(&oai_url), body).map_err(|e| e.to_string())
                })
                .map_err(|e| Error::Unavailable(e.0))?;
            match answer {
                oai::OaiAnswer::Page(page) => {
                    let next = page.resumption.map(|r| r.token);
                    let done = next.is_none();
                    state.token = next;
                    if done {
                        state.next_from = Some(state.until.unwrap_or(today));
                    }
                    let json = serde_json::to_string(&state).expect("state serialises");
                    self.commit_page(page.records, &json)?;
                    if done {
                        break;
                    }
                }
                oai::OaiAnswer::Error(e) if e.code == "noRecordsMatch" => {
                    state.token = None;
                    state.next_from = Some(state.until.unwrap_or(today));
                    let json = serde_json::to_string(&state).expect("state serialises");
                    self.engine.store().set_harvest_state(
                        &self.name,
                        &json,
                        Utc::now().timestamp(),
                    )?;
                    break;
                }
                // A token expires (arXiv keeps them for a while): start the window again; pages
                // already written merge as unchanged.
                oai::OaiAnswer::Error(e) if e.code == "badResumptionToken" && !restarted => {
                    tracing::warn!(harvest = %self.name, "the resumption token expired; restarting from {:?}", state.from);
                    state.token = None;
                    restarted = true;
                }
                oai::OaiAnswer::Error(e) => {
                    return Err(Error::Unavailable(format!(
                        "arXiv's OAI-PMH interface answered {}: {}",
                        e.code, e.message
                    )))
                }
            }
        }
        if self.report.records > 0 {
            return Ok(Outcome::Papers);
        }
        let since = state.from.unwrap_or(today);
        Ok(Outcome::Nothing(why_no_arxiv_records(
            set,
            since,
            state.until.unwrap_or(today),
        )))
    }

    fn hf_daily(&mut self, date: Option<NaiveDate>, now: DateTime<Utc>) -> Result<Outcome> {
        let url = self.config.hf_url.clone();
        let date_text = date.map(|d| d.to_string());
        let query: Vec<(&str, &str)> = match &date_text {
            Some(d) => vec![("date", d)],
            None => Vec::new(),
        };
        let records = self
            .fetcher
            .get(&url, &query, |body| {
                paperscout_ingest::parse_document(Format::HfDaily, &http::redact(&url), body)
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| Error::Unavailable(e.0))?;
        if records.is_empty() {
            let day = date.unwrap_or(now.date_naive());
            let mut why = format!("Hugging Face lists no daily papers for {day}");
            if is_weekend(day) {
                why.push_str(" (a weekend: few papers are submitted then)");
            }
            return Ok(Outcome::Nothing(why));
        }
        self.commit_page(records, &format!("{{\"last\":\"{}\"}}", now.to_rfc3339()))?;
        Ok(Outcome::Papers)
    }
}

/// What `serve` harvests, when, and how.
#[derive(Debug, Clone)]
pub struct HarvestPlan {
    pub config: HarvestConfig,
    pub schedule: HarvestSchedule,
}

/// When `serve` harvests: these harvests, every day at these times (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestSchedule {
    pub harvests: Vec<HarvestSpec>,
    pub at: Vec<NaiveTime>,
}

/// arXiv announces at 20:00 US Eastern (00:00 or 01:00 UTC); Hugging Face lists papers through
/// the day.
pub const DEFAULT_HARVEST_TIMES: [&str; 2] = ["01:30", "13:30"];

impl HarvestSchedule {
    /// The harvests whose latest scheduled time (at or before `now`) came after their last run
    /// started, or that never ran.
    pub fn due(&self, last: &[HarvestRun], now: DateTime<Utc>) -> Vec<HarvestSpec> {
        let Some(slot) = self.latest_slot(now) else {
            return Vec::new();
        };
        self.harvests
            .iter()
            .filter(|spec| {
                let name = spec.name();
                last.iter()
                    .find(|r| r.harvest == name)
                    .is_none_or(|r| r.started_at < slot.timestamp())
            })
            .cloned()
            .collect()
    }

    /// The latest scheduled time at or before `now`.
    fn latest_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.date_naive();
        [today, today.pred_opt()?]
            .into_iter()
            .flat_map(|day| self.at.iter().map(move |t| day.and_time(*t).and_utc()))
            .filter(|slot| *slot <= now)
            .max()
    }

    /// The next scheduled time after `now`.
    pub fn next_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.date_naive();
        [today, today.succ_opt()?]
            .into_iter()
            .flat_map(|day| self.at.iter().map(move |t| day.and_time(*t).and_utc()))
            .filter(|slot| *slot > now)
            .min()
    }
}

/// `06:00` → a time of day.
pub fn parse_time(s: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        Error::Invalid(format!(
            "`{s}` is not a time of day as HH:MM (UTC), e.g. 06:00"
        ))
    })
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Why an arXiv harvest of `set` over `from..=until` found nothing.
fn why_no_arxiv_records(set: &str, from: NaiveDate, until: NaiveDate) -> String {
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= until).collect();
    if !days.is_empty() && days.iter().all(|d| is_weekend(*d)) {
        return format!(
            "no new records in arXiv {set} since {from}: a weekend, and arXiv announces nothing on Saturdays and Sundays"
        );
    }
    format!("no new records in arXiv {set} since {from}: no announcements yet (arXiv announces around 20:00 ET, Sunday to Thursday; holidays skip)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn specs_parse_by_name() {
        assert_eq!(
            HarvestSpec::parse("arxiv:physics:hep-th").unwrap().name(),
            "arxiv:physics:hep-th"
        );
        assert_eq!(HarvestSpec::parse("hf-daily").unwrap().name(), "hf-daily");
        for bad in ["arxiv:", "arxiv:c s", "rss", "arxiv:cs&verb=Identify"] {
            assert!(HarvestSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schedule_runs_each_harvest_once_per_slot() {
        let schedule = HarvestSchedule {
            harvests: vec![
                HarvestSpec::parse("arxiv:cs").unwrap(),
                HarvestSpec::parse("hf-daily").unwrap(),
            ],
            at: vec![parse_time("01:30").unwrap(), parse_time("13:30").unwrap()],
        };
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap();
        let run = |name: &str, started: DateTime<Utc>| HarvestRun {
            id: 1,
            harvest: name.into(),
            started_at: started.timestamp(),
            finished_at: None,
            status: HarvestStatus::Ok,
            pages: 0,
            records: 0,
            added: 0,
            updated: 0,
            message: None,
        };
        // Never ran: due at once.
        assert_eq!(schedule.due(&[], at(0, 10)).len(), 2);
        // Ran at 01:31: nothing due until 13:30.
        let last = [run("arxiv:cs", at(1, 31)), run("hf-daily", at(1, 31))];
        assert!(schedule.due(&last, at(13, 29)).is_empty());
        assert_eq!(schedule.due(&last, at(13, 30)).len(), 2);
        assert_eq!(
            schedule.next_run(at(13, 30)),
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 1, 30, 0).unwrap())
        );
        assert!(parse_time("25:00").is_err());
    }

    #[test]
    fn empty_weekends_are_explained() {
        let sat = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let sun = sat.succ_opt().unwrap();
        assert!(why_no_arxiv_records("cs", sat, sun).contains("weekend"));
        assert!(!why_no_arxiv_records("cs", sun, sun.succ_opt().unwrap()).contains("weekend"));
    }
}
