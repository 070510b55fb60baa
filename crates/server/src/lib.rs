//! paperscout's web site and JSON API, on axum. This is the only crate that knows HTTP: it
//! turns requests into [`Engine`](paperscout_app::Engine) calls (on the blocking pool: search runs the encoder and
//! SQLite) and renders what they return as JSON or server-side HTML.
//!
//! Security: every page is rendered with maud, which escapes all interpolated text; forms carry
//! a CSRF token bound to the visitor's signed cookie; votes and reads are rate-limited per IP;
//! searches that need the encoder pass a cost-aware gate; request bodies are capped;
//! connections have deadlines and caps (`conn.rs`); a panic in a handler becomes a JSON 500,
//! never a dropped connection; no request does an ingest's work (the upkeep thread does).

//!
//! Modules, from the bottom up (each may import only those above it; ARCHITECTURE.md has the
//! table): `error`, `respond`, `extract`; the layers `limit`, `voter`, `account` (who is
//! signed in), `metrics`, `conn`; `state`; `cards` (how papers look in lists) and `atom` (feeds), shared by the routes; the `routes` (one file
//! per part of the site, none importing another); and
//! `background`, the work beside the requests.

mod account;
mod atom;
mod background;
mod cards;
mod conn;
mod error;
mod extract;
mod limit;
mod metrics;
mod respond;
mod routes;
pub mod secret;
mod state;
mod voter;

use std::time::Duration;

use paperscout_app::{DigestConfig, HarvestPlan};

pub use conn::ConnectionLimits;
pub use error::{ApiError, ApiErrorKind};
pub use limit::EncoderLimits;
pub use routes::{metrics_router, router, ApiDoc};
pub use state::AppState;

/// The largest request body accepted (forms and JSON are tiny).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The largest library import (a BibTeX file; ~2,000 entries).
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
/// Requests taking longer than this get a 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Secret for signing cookies and CSRF tokens (at least 32 bytes; see [`secret`]).
    pub secret: Vec<u8>,
    /// Page and API requests per minute per IP (0: no limit).
    pub reads_per_minute: u32,
    /// Upvotes and unvotes per minute per IP (0: no limit).
    pub votes_per_minute: u32,
    /// Mark cookies `Secure` (when the site is served over HTTPS by a proxy).
    pub secure_cookies: bool,
    /// Subscription requests per hour per IP (0: no limit); each may send a mail.
    pub subscribes_per_hour: u32,
    /// The daily digest: mail server, sender, links.
    pub digest: DigestConfig,
    /// Scheduled harvests (none: the corpus changes only by `ingest` and `harvest`).
    pub harvest: Option<HarvestPlan>,
    /// What searches may ask of the encoder.
    pub encoder: EncoderLimits,
    /// Deadlines and caps on connections.
    pub connections: ConnectionLimits,
    /// Serve `/metrics` only on a listener of its own (see [`serve_metrics`]), not on the site.
    pub metrics_elsewhere: bool,
    /// How long a write (a vote) waits for another process's write before answering 503.
    pub write_wait: Duration,
}

impl Options {
    pub fn new(secret: Vec<u8>) -> Options {
        Options {
            secret,
            reads_per_minute: 600,
            votes_per_minute: 30,
            secure_cookies: false,
            subscribes_per_hour: 10,
            digest: DigestConfig::default(),
            harvest: None,
            encoder: EncoderLimits::default(),
            connections: ConnectionLimits::default(),
            metrics_elsewhere: false,
            write_wait: Duration::from_secs(3),
        }
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (for at most
/// [`ConnectionLimits::drain_timeout`]) and stops background work at its next step.
///
/// Background work runs on threads of its own, never in a request: the upkeep thread catches
/// the indexes up with other processes' writes, loads the model and the vector index, and
/// encodes papers that lack embeddings (searches meanwhile use what is ready); the digest and
/// harvest schedulers run when configured.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = background::spawn_upkeep(state.engine().clone())?;
    background::spawn_schedulers(&state);
    let connections = state.connections();
    let engine = state.engine().clone();
    let served = conn::serve(listener, router(state), connections, shutdown).await;
    engine.stop();
    // Encoding stops after its current step (~2 s); a model still loading is not waited for.
    let joined = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || upkeep.join()),
    )
    .await;
    if joined.is_err() {
        tracing::warn!("background work did not stop within 5 s; exiting without it");
    }
    served
}

/// Serves [`metrics_router`] on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.connections();
    conn::serve(listener, metrics_router(state), limits, shutdown).await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
