//! `serve`: the web site and JSON API, with the scheduled harvests and the daily digest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::args::{Global, HarvestArgs, MailArgs};
use crate::serve_limits::{RateLimits, ServeLimits};

/// After the server stops, how long background work may take to reach its next step.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct ServeCmd {
    /// Address to listen on
    #[arg(
        long,
        env = "PAPERSCOUT_ADDR",
        default_value = "127.0.0.1:7878",
        value_name = "HOST:PORT"
    )]
    addr: SocketAddr,
    #[command(flatten)]
    rates: RateLimits,
    /// Mark cookies Secure (set this when a proxy serves the site over HTTPS)
    #[arg(long, env = "PAPERSCOUT_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new())]
    secure_cookies: bool,
    /// Harvest these on a schedule: arxiv:SET (arxiv:cs, arxiv:physics:hep-th…) or
    /// hf-daily; repeat or separate with commas (config: harvest.sources)
    #[arg(
        long,
        env = "PAPERSCOUT_HARVEST",
        value_delimiter = ',',
        value_name = "SOURCE"
    )]
    harvest: Vec<String>,
    /// When to harvest, every day, as HH:MM in UTC [default: 01:30,13:30] (config:
    /// harvest.at)
    #[arg(
        long,
        env = "PAPERSCOUT_HARVEST_AT",
        value_delimiter = ',',
        value_name = "HH:MM"
    )]
    harvest_at: Vec<String>,
    #[command(flatten)]
    limits: ServeLimits,
    #[command(flatten)]
    mail: MailArgs,
    #[command(flatten)]
    sources: HarvestArgs,
}

impl ServeCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let plan = g
            .read_config_file()?
            .harvest_plan(&self.sources.overrides(self.harvest, self.harvest_at))?;
        let addr = self.addr;
        let digest = self.mail.digest_config(g, &format!("http://{addr}"))?;
        let engine = Arc::new(g.engine()?);
        let mut options =
            paperscout_server::Options::new(server_secret(&engine.config().data_dir)?);
        self.rates.apply(&mut options);
        options.secure_cookies = self.secure_cookies;
        self.limits.apply(&mut options);
        match &digest.smtp {
            Some(url) => {
                tracing::info!(smtp = %url, base_url = %digest.base_url, "daily digest on")
            }
            None => {
                tracing::info!("no SMTP server configured (PAPERSCOUT_SMTP_URL): daily digest off")
            }
        }
        options.digest = digest;
        options.harvest = plan;
        let papers = engine.store().count()?;
        let state =
            paperscout_server::AppState::new(engine, &options).map_err(anyhow::Error::msg)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let metrics_addr = self.limits.metrics_addr;
        let result = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (is another server running there? pick another with --addr)"))?;
            if let Some(maddr) = metrics_addr {
                let metrics = tokio::net::TcpListener::bind(maddr)
                    .await
                    .with_context(|| format!("cannot listen on {maddr} for /metrics (--metrics-addr)"))?;
                tracing::info!("serving /metrics at http://{}/metrics only", metrics.local_addr()?);
                let state = state.clone();
                tokio::spawn(async move {
                    let forever = std::future::pending::<()>();
                    if let Err(e) = paperscout_server::serve_metrics(state, metrics, forever).await
                    {
                        tracing::error!(error = %e, "the /metrics listener failed");
                    }
                });
            }
            let local = listener.local_addr()?;
            // One line, whatever the log level (the log's own lines follow it).
            eprintln!("paperscout: serving {papers} papers at http://{local}/ (Ctrl-C stops)");
            paperscout_server::serve(state, listener, paperscout_server::shutdown_signal())
                .await?;
            Ok(())
        });
        // Work still on the blocking pool (a digest run, say) gets a moment to finish; the
        // process exits regardless, and every write it did not commit rolls back.
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        result
    }
}

/// The server's signing secret: PAPERSCOUT_SECRET (any string of 32+ bytes), else the one kept
/// in the data dir.
pub fn server_secret(data_dir: &std::path::Path) -> Result<Vec<u8>> {
    match std::env::var("PAPERSCOUT_SECRET") {
        Ok(s) if s.len() >= paperscout_server::secret::MIN_SECRET_BYTES => Ok(s.into_bytes()),
        Ok(_) => bail!(
            "PAPERSCOUT_SECRET must be at least {} bytes long",
            paperscout_server::secret::MIN_SECRET_BYTES
        ),
        Err(_) => {
            let path = data_dir.join("secret");
            paperscout_server::secret::load_or_create(&path).with_context(|| {
                format!("cannot read or create the server secret {}", path.display())
            })
        }
    }
}
