//! `worker`: encode papers from the shared queue, beside any number of `serve` replicas and
//! other workers on one PostgreSQL database. It keeps no index and serves nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use paperscout_app::{error_chain, Engine, ErrorKind, NoProgress};

use crate::args::Global;

/// How long an idle worker waits for a write before looking at the queue again (a NOTIFY
/// from another process's write wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct WorkerCmd {
    /// Exit once every paper has its embedding, instead of waiting for new papers
    #[arg(long)]
    once: bool,
}

impl WorkerCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let mut config = g.engine_config(None, true)?;
        // A worker searches nothing: the lexical index is the replicas' business.
        config.sync_index_on_open = false;
        let engine = Arc::new(Engine::open(config, Arc::new(NoProgress))?);
        if !engine.store().is_shared() {
            tracing::info!(
                "working on a SQLite store: the encoding queue is shared with processes on this machine only"
            );
        }
        stop_on_signal(engine.clone());
        let started = Instant::now();
        let mut encoded = 0usize;
        let mut failing = false;
        while !engine.is_stopping() {
            match engine.encode_queue() {
                Ok(n) => {
                    failing = false;
                    if n > 0 {
                        encoded += n;
                        tracing::info!(papers = n, total = encoded, "encoded");
                    }
                }
                Err(e) if e.kind() == ErrorKind::Busy => {}
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %error_chain(&e), "encoding failed; retrying");
                    }
                    failing = true;
                }
            }
            if self.once && !engine.is_stopping() && engine.queue_depth().ok().flatten() == Some(0)
            {
                break;
            }
            if engine.is_stopping() {
                break;
            }
            engine.wait_for_change(if self.once {
                Duration::from_millis(500)
            } else {
                IDLE_WAIT
            });
        }
        let q = engine.queue_stats();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "encoded {encoded} papers in {secs:.1} s ({:.1} papers/s); {} claims, {} taken over from encoders that died",
            encoded as f64 / secs.max(1e-9),
            q.claims,
            q.taken_over
        );
        Ok(())
    }
}

/// Stops `engine` on SIGTERM or Ctrl-C: the encoding in progress commits its step and the
/// loop ends (what was claimed and not encoded is taken over when its lease expires).
fn stop_on_signal(engine: Arc<Engine>) {
    let spawned = std::thread::Builder::new()
        .name("paperscout-signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "no signal handling: cannot start a runtime");
                    return;
                }
            };
            runtime.block_on(paperscout_server::shutdown_signal());
            tracing::info!("stopping after the current step");
            engine.stop();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no signal handling");
    }
}
