//! `stats`: papers per source and each source's last harvest.

use anyhow::Result;
use clap::Args;

use crate::args::Global;
use crate::output::print_json_line;

#[derive(Args, Debug)]
pub struct StatsCmd {
    #[arg(long)]
    json: bool,
}

/// A Unix time as RFC 3339 (empty if out of range).
fn when(t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

impl StatsCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let engine = g.engine()?;
        let counts = engine.store().count_by_source()?;
        let total: usize = counts.iter().map(|c| c.1).sum();
        let runs = paperscout_app::harvest::last_runs(&engine)?;
        if self.json {
            let by_source: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(s, n)| (s.clone(), (*n).into()))
                .collect();
            let harvests: Vec<serde_json::Value> = runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "harvest": r.harvest, "status": r.status.as_str(),
                        "started_at": when(r.started_at), "finished_at": r.finished_at.map(when),
                        "pages": r.pages, "records": r.records, "added": r.added,
                        "updated": r.updated, "message": r.message,
                    })
                })
                .collect();
            print_json_line(
                &serde_json::json!({ "papers": total, "by_source": by_source, "harvests": harvests, "data_dir": engine.config().data_dir, "store": engine.store().location() }),
            )?;
        } else {
            println!("{total} papers in {}", engine.store().location());
            for (source, n) in counts {
                println!("  {source:<16} {n}");
            }
            if runs.is_empty() {
                println!("no harvest has run (paperscout harvest arxiv|hf-daily)");
            }
            for r in runs {
                println!(
                    "last harvest of {}: {} at {}, {} added, {} updated{}",
                    r.harvest,
                    r.status.as_str(),
                    when(r.started_at),
                    r.added,
                    r.updated,
                    r.message.map(|m| format!(" ({m})")).unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}
