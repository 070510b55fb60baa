//! `migrate --to postgres://…`: copy this data dir's SQLite store into an empty PostgreSQL
//! database, to run several replicas on it.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use paperscout_app::store::Store;
use paperscout_app::DatabaseUrl;

use crate::args::Global;

#[derive(Args, Debug)]
pub struct MigrateCmd {
    /// The empty PostgreSQL database to copy into (postgres://user:pass@host/db)
    #[arg(long, value_name = "URL")]
    to: String,
}

impl MigrateCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let target: DatabaseUrl = self
            .to
            .parse()
            .map_err(|e| paperscout_app::Error::Invalid(format!("--to: {e}")))?;
        if g.database.is_some() {
            return Err(paperscout_app::Error::Invalid(
                "migrate copies from the SQLite store of --data-dir; leave out --database".into(),
            )
            .into());
        }
        let data_dir = g.engine_config(None, false)?.data_dir;
        let path = data_dir.join("papers.sqlite");
        if !path.exists() {
            return Err(paperscout_app::Error::Invalid(format!(
                "no store at {} to copy (is --data-dir right?)",
                path.display()
            ))
            .into());
        }
        let source = Store::open(&path).map_err(paperscout_app::Error::from)?;
        eprintln!("copying {} into {target} …", path.display());
        let report = source
            .copy_to(&target, Duration::from_secs(10), |table, n| {
                tracing::info!(table, rows = n, "copying");
            })
            .map_err(paperscout_app::Error::from)
            .context("nothing was copied")?;
        println!("copied {report}");
        println!(
            "run the replicas with --database (or PAPERSCOUT_DATABASE_URL); each keeps its indexes \
             in its own --data-dir (this one's are valid for the copy)"
        );
        Ok(())
    }
}
