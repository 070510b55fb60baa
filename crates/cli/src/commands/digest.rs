//! `digest send|status`: the daily digest, for cron and for checking.

use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::serve::server_secret;
use crate::args::{Global, MailArgs};
use crate::output::print_json_line;

#[derive(Args, Debug)]
pub struct DigestCmd {
    #[command(subcommand)]
    action: DigestAction,
    #[command(flatten)]
    mail: MailArgs,
}

#[derive(Subcommand, Debug)]
enum DigestAction {
    /// Build the digests due now and send what the outbox holds (once per subscriber per
    /// local day, however often this runs)
    Send {
        /// Every active subscriber's digest for their current local day, whatever their hour
        #[arg(long)]
        now: bool,
        /// Show what would be sent; record and send nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Subscribers and the outbox at a glance
    Status {
        #[arg(long)]
        json: bool,
    },
}

impl DigestCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let config = self.mail.digest_config(g, "http://127.0.0.1:7878")?;
        let engine = Arc::new(g.engine()?);
        let secret = server_secret(&engine.config().data_dir)?;
        let digests = paperscout_app::Digests::new(engine.clone(), config, &secret)?;
        let now = chrono::Utc::now();
        match self.action {
            DigestAction::Send {
                now: force,
                dry_run: true,
            } => {
                let planned = digests.dry_run(now, force)?;
                if planned.is_empty() {
                    println!("no digest is due");
                }
                for p in planned {
                    println!(
                        "{} ({}): {}  [{} trending, {} matching, {} new papers looked at]",
                        p.email,
                        p.local_date,
                        p.subject,
                        p.digest.trending.len(),
                        p.digest.matches.len(),
                        p.digest.new_papers
                    );
                }
            }
            DigestAction::Send {
                now: force,
                dry_run: false,
            } => {
                let r = digests.run(now, force)?;
                let d = r.delivery;
                println!(
                    "{} due: {} queued, {} with nothing new (not sent); mail: {} sent, {} to retry, {} failed, {} cancelled",
                    r.due, r.queued, r.skipped_empty, d.sent, d.retrying, d.failed, d.cancelled
                );
                if d.failed > 0 || d.retrying > 0 {
                    eprintln!("some mail could not be sent; the log says why (-v)");
                }
            }
            DigestAction::Status { json } => {
                let o = engine.store().outbox_stats()?;
                let active = engine.store().active_subscribers()?.len();
                if json {
                    print_json_line(&serde_json::json!({
                        "active_subscribers": active,
                        "outbox": {"pending": o.pending, "sent": o.sent, "failed": o.failed, "skipped": o.skipped},
                        "smtp": digests.config().smtp.as_ref().map(|u| u.to_string()),
                    }))?;
                } else {
                    println!("{active} active subscribers");
                    println!(
                        "outbox: {} waiting, {} sent, {} failed, {} days with nothing new",
                        o.pending, o.sent, o.failed, o.skipped
                    );
                    match &digests.config().smtp {
                        Some(u) => println!("smtp: {u}"),
                        None => println!("smtp: not configured (PAPERSCOUT_SMTP_URL)"),
                    }
                }
            }
        }
        Ok(())
    }
}
