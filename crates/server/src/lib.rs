//! paperscout's web site and JSON API, on axum. This is the only crate that knows HTTP: it
//! turns requests into [`Engine`] calls (on the blocking pool: search runs the encoder and
//! SQLite) and renders what they return as JSON or server-side HTML.
//!
//! Security: every page is rendered with maud, which escapes all interpolated text; forms carry
//! a CSRF token bound to the visitor's signed cookie; votes and reads are rate-limited per IP;
//! searches that need the encoder pass a cost-aware gate; request bodies are capped;
//! connections have deadlines and caps (`conn.rs`); a panic in a handler becomes a JSON 500,
//! never a dropped connection; no request does an ingest's work (the upkeep thread does).

mod api;
mod assets;
mod conn;
mod digest;
mod error;
mod harvest;
mod limit;
mod metrics;
pub mod secret;
mod voter;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::Key;
use paperscout_app::{DigestConfig, Digests, Engine, HarvestPlan};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub use api::ApiDoc;
pub use conn::ConnectionLimits;
pub use error::ApiError;
pub use limit::EncoderLimits;

/// The largest request body accepted (forms and JSON are tiny).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
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

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    engine: Arc<Engine>,
    cookie_key: Key,
    csrf_key: Vec<u8>,
    metrics: metrics::Metrics,
    reads: Option<limit::Limiter>,
    votes: Option<limit::Limiter>,
    subscribes: Option<limit::Limiter>,
    secure_cookies: bool,
    digests: Arc<Digests>,
    /// Wakes the mail scheduler (a subscription request queued a confirmation).
    mail_wakeup: Arc<tokio::sync::Notify>,
    harvest: Option<Arc<HarvestPlan>>,
    encoder_gate: Arc<limit::EncoderGate>,
    connections: ConnectionLimits,
    metrics_elsewhere: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>, options: &Options) -> Result<AppState, String> {
        let keys = secret::derive(&options.secret)?;
        let digests = Digests::new(engine.clone(), options.digest.clone(), &options.secret)
            .map_err(|e| e.to_string())?;
        engine
            .store()
            .set_busy_timeout(options.write_wait)
            .map_err(|e| e.to_string())?;
        Ok(AppState(Arc::new(Inner {
            engine,
            digests: Arc::new(digests),
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
            harvest: options.harvest.clone().map(Arc::new),
            subscribes: limit::hourly_limiter(options.subscribes_per_hour),
            cookie_key: Key::from(&keys.cookie),
            csrf_key: keys.csrf.to_vec(),
            metrics: metrics::Metrics::new(),
            reads: limit::limiter(options.reads_per_minute),
            votes: limit::limiter(options.votes_per_minute),
            secure_cookies: options.secure_cookies,
            encoder_gate: limit::EncoderGate::new(options.encoder),
            connections: options.connections,
            metrics_elsewhere: options.metrics_elsewhere,
        })))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    pub fn digests(&self) -> &Arc<Digests> {
        &self.0.digests
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.0.cookie_key.clone()
    }
}

/// Every route of the site and the API.
pub fn router(state: AppState) -> Router {
    let site = Router::new()
        .route("/", get(web::home))
        .route("/new", get(web::newest))
        .route("/search", get(web::search))
        .route("/papers/{id}", get(web::paper))
        .route("/papers/{id}/upvote", post(web::upvote))
        .route("/papers/{id}/unvote", post(web::unvote))
        .route(
            "/subscribe",
            get(digest::subscribe_form).post(digest::subscribe),
        )
        .route(
            "/subscribe/confirm",
            get(digest::confirm_page).post(digest::confirm),
        )
        .route(
            "/subscription",
            get(digest::manage_page).post(digest::manage),
        )
        .route("/subscription/preview", get(digest::preview))
        .route(
            "/unsubscribe",
            get(digest::unsubscribe_page).post(digest::unsubscribe),
        )
        .route("/api/subscriptions", post(digest::api_subscribe))
        .route("/api/harvests", get(harvest::api_harvests))
        .route("/sources", get(harvest::page))
        .route("/static/{file}", get(assets::serve))
        .route("/api/search", get(api::search))
        .route("/api/papers", get(api::papers))
        .route("/api/papers/{id}", get(api::paper))
        .route("/api/papers/{id}/similar", get(api::similar))
        .route(
            "/api/papers/{id}/upvote",
            post(api::upvote).delete(api::unvote),
        )
        .route("/api/trending", get(api::trending))
        .route("/api/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz));
    let site = if state.0.metrics_elsewhere {
        site
    } else {
        site.route("/metrics", get(metrics::render))
    };
    site.fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::reads,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            voter::cookies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Inside the headers below, outside what answers with bare statuses (body limit,
        // timeout, method routing): every error has the route's body and the security headers.
        .layer(axum::middleware::from_fn(error::dress_bare_errors))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own (an address only the scraper reaches), when
/// [`Options::metrics_elsewhere`] keeps it off the site.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
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
    let upkeep = spawn_upkeep(state.engine().clone())?;
    digest::spawn_scheduler(&state);
    harvest::spawn_scheduler(&state);
    let limits = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limit::forget_idle(&limits);
        }
    });
    let connections = state.0.connections;
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
    let limits = state.0.connections;
    conn::serve(listener, metrics_router(state), limits, shutdown).await
}

/// How often the upkeep thread looks for work when there was none.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the thread that does the engine's background work (see [`serve`]) until
/// [`Engine::stop`]. Requests from then on never wait for it.
fn spawn_upkeep(engine: Arc<Engine>) -> std::io::Result<std::thread::JoinHandle<()>> {
    engine.set_background(true);
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("paperscout-upkeep".into())
        .spawn(move || {
            let _span = span.enter();
            let mut failing = false;
            while !engine.is_stopping() {
                match engine.upkeep() {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(papers = n, "encoded papers that lacked embeddings"),
                    Err(e) if e.kind() == paperscout_app::ErrorKind::Busy => {}
                    Err(e) => {
                        if !failing {
                            tracing::error!(
                                error = %error::chain(&e),
                                "background upkeep failed (semantic and hybrid search may be unavailable); retrying every minute"
                            );
                        }
                        failing = true;
                        sleep_unless_stopping(&engine, Duration::from_secs(60));
                        continue;
                    }
                }
                failing = false;
                sleep_unless_stopping(&engine, UPKEEP_INTERVAL);
            }
        })
}

fn sleep_unless_stopping(engine: &Engine, total: Duration) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < total && !engine.is_stopping() {
        std::thread::sleep(step);
        slept += step;
    }
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
