//! `bench digest`: building and sending the digests of many subscribers, against a real SMTP
//! server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use paperscout_app::eval::load_queries;
use paperscout_app::{peak_rss_mb, Engine, Format, Input};
use serde::Serialize;

use crate::args::{Global, MailArgs};
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct BenchDigestCmd {
    /// The corpus the digests pick from (BEIR folder); its queries become interests
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// How many of the corpus's papers count as new today
    #[arg(long, default_value_t = 500)]
    new: usize,
    /// Scratch data dir for the corpus [default: as for `eval`]; copied, never changed
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    mail: MailArgs,
}

#[derive(Serialize)]
struct DigestBench {
    subscribers: usize,
    new_papers: usize,
    distinct_interests: usize,
    queued: usize,
    sent: usize,
    build_s: f64,
    deliver_s: f64,
    total_s: f64,
    mails_per_s: f64,
    rss_before_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
}

/// Where the benchmark's subscribers live.
const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "America/Los_Angeles",
];

impl BenchDigestCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let (subscribers, new) = (self.subscribers, self.new);
        let config = self.mail.digest_config(g, "https://papers.example.org")?;
        if config.smtp.is_none() {
            bail!("bench digest sends real mail: give --smtp-url (e.g. the `mailsink` server)");
        }
        let corpus = Input::resolve(&self.beir, Some(Format::Beir))?;
        let source_dir = scratch_engine(g, corpus, self.scratch_dir, true)?
            .config()
            .data_dir
            .clone();
        // Work on a copy: subscribers and the outbox start empty on every run.
        let work = tempfile::tempdir()?;
        copy_dir(&source_dir, work.path())?;
        let engine = Arc::new(Engine::open(
            g.engine_config(Some(work.path().to_path_buf()), false)?,
            Arc::new(Bars::new()),
        )?);
        engine.ensure_embeddings()?;
        let digests = paperscout_app::Digests::new(engine.clone(), config, &[7u8; 64])?;
        let now = chrono::Utc::now();
        let max_key = engine.store().max_paper_key()?;
        let since = (max_key - new as i64).max(0);
        // Interests: the dataset's queries short enough to be one (as a subscriber would type
        // them).
        let mut pool: Vec<String> = load_queries(&self.beir.join("queries.jsonl"))?
            .into_values()
            .filter(|q| q.chars().count() <= 100 && !q.contains(','))
            .collect();
        pool.sort();
        pool.truncate(1000);
        if pool.is_empty() {
            bail!("no queries to use as interests");
        }
        // Some trending: votes on a few of today's papers.
        for (i, key) in (since + 1..=max_key).step_by(25).take(20).enumerate() {
            if let Some(p) = engine.store().get_by_key(key)? {
                for v in 0..=(i % 4) {
                    engine.upvote(&p.paper.id, &format!("voter-{v}"), now)?;
                }
            }
        }
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut used = std::collections::HashSet::new();
        for i in 0..subscribers {
            let topics: Vec<&str> = (0..=(next() % 3))
                .map(|_| pool[(next() % pool.len() as u64) as usize].as_str())
                .collect();
            for t in &topics {
                used.insert(t.to_lowercase());
            }
            digests.import(
                &paperscout_app::SubscriptionRequest {
                    email: format!("reader{i}@example.org"),
                    interests: topics.join(", "),
                    categories: Vec::new(),
                    hour: Some((next() % 24) as u8),
                    timezone: Some(ZONES[i % ZONES.len()].to_string()),
                },
                since,
                now,
            )?;
        }
        let rss_before = paperscout_app::rss_mb();
        // Reset the peak so it measures the run alone (Linux: clear_refs 5 resets VmHWM).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let started = Instant::now();
        let report = digests.run(now, true)?;
        let total = started.elapsed().as_secs_f64();
        let r = DigestBench {
            subscribers,
            new_papers: new,
            distinct_interests: used.len(),
            queued: report.queued,
            sent: report.delivery.sent,
            build_s: report.build_s,
            deliver_s: report.deliver_s,
            total_s: total,
            mails_per_s: report.delivery.sent as f64 / total,
            rss_before_mb: rss_before,
            peak_rss_mb: peak_rss_mb(),
        };
        if self.json {
            print_json_line(&r)?;
        } else {
            println!(
                "{} subscribers ({} distinct interests, {} new papers): {} digests queued, {} sent\n\
                 build {:.1} s + send {:.1} s = {:.1} s, {:.0} mails/s; RSS {:.0} MiB before, peak {:.0} MiB during the run",
                r.subscribers, r.distinct_interests, r.new_papers, r.queued, r.sent,
                r.build_s, r.deliver_s, r.total_s, r.mails_per_s,
                r.rss_before_mb.unwrap_or(f64::NAN), r.peak_rss_mb.unwrap_or(f64::NAN)
            );
        }
        if report.delivery.failed > 0 || report.delivery.retrying > 0 {
            bail!(
                "{} mails failed and {} wait to retry",
                report.delivery.failed,
                report.delivery.retrying
            );
        }
        Ok(())
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
