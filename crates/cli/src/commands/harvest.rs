//! `harvest arxiv|hf-daily`: fetch new papers from a source now.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use paperscout_app::{HarvestSpec, HarvestStatus};

use crate::args::{Global, HarvestArgs};
use crate::output::print_json_line;

#[derive(Args, Debug)]
pub struct HarvestCmd {
    #[command(subcommand)]
    source: HarvestSource,
    #[command(flatten)]
    settings: HarvestArgs,
}

#[derive(Subcommand, Debug)]
enum HarvestSource {
    /// arXiv records of a set through OAI-PMH, incrementally: from where the last harvest of
    /// the set ended (else yesterday), resuming an interrupted harvest after its last page
    Arxiv {
        /// The set: cs, math, physics, physics:hep-th, q-bio, q-fin, stat, eess, econ
        #[arg(long, default_value = "cs")]
        set: String,
        /// Records changed on or after this day (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        from: Option<chrono::NaiveDate>,
        /// … and on or before this day
        #[arg(long, value_name = "DATE")]
        until: Option<chrono::NaiveDate>,
        /// Do not encode now; papers are encoded on first semantic search or `reindex`
        #[arg(long)]
        no_encode: bool,
        #[arg(long)]
        json: bool,
    },
    /// Hugging Face's daily papers (their upvotes become initial trending votes)
    HfDaily {
        /// The day's list (YYYY-MM-DD) [default: the latest]
        #[arg(long, value_name = "DATE")]
        date: Option<chrono::NaiveDate>,
        #[arg(long)]
        no_encode: bool,
        #[arg(long)]
        json: bool,
    },
}

impl HarvestCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let config = g
            .read_config_file()?
            .harvest_config(&self.settings.overrides(Vec::new(), Vec::new()))?;
        let (spec, encode, json) = match self.source {
            HarvestSource::Arxiv {
                set,
                from,
                until,
                no_encode,
                json,
            } => {
                paperscout_app::harvest::validate_set(&set)?;
                if let (Some(f), Some(u)) = (from, until) {
                    if f > u {
                        return Err(paperscout_app::Error::Invalid(format!(
                            "--from {f} is after --until {u}"
                        ))
                        .into());
                    }
                }
                (HarvestSpec::Arxiv { set, from, until }, !no_encode, json)
            }
            HarvestSource::HfDaily {
                date,
                no_encode,
                json,
            } => (HarvestSpec::HfDaily { date }, !no_encode, json),
        };
        let engine = g.engine()?;
        let r =
            paperscout_app::harvest::harvest(&engine, &config, &spec, encode, chrono::Utc::now())?;
        if json {
            print_json_line(&r)?;
        } else {
            println!(
                "{}: {} — {} pages, {} records: {} added, {} updated, {} bad records skipped, {} requests retried",
                r.harvest, r.status, r.pages, r.records, r.added, r.updated, r.skipped, r.retries
            );
            if let Some(m) = &r.message {
                println!("  {m}");
            }
        }
        if r.status == HarvestStatus::Failed {
            bail!(
                "the harvest of {} failed (its papers so far are kept; the next run resumes)",
                r.harvest
            );
        }
        Ok(())
    }
}
